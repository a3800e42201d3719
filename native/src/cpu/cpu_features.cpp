/* cpu_features.cpp: see cpu_features.h. */
#include "cpu/cpu_features.h"

namespace n4j {
namespace cpu {

bool cpu_has_avx2_fma_f16c() {
#if defined(N4J_HAVE_AVX2_KERNELS) && (defined(__x86_64__) || defined(__i386__))
    static const bool supported = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }();
    return supported;
#else
    return false;
#endif
}

simd_level best_simd_level() { return cpu_has_avx2_fma_f16c() ? SIMD_AVX2 : SIMD_GENERIC; }

const char* simd_level_name(simd_level level) {
    switch (level) {
        case SIMD_AVX2: return "avx2+fma+f16c";
        default: return "generic";
    }
}

}  // namespace cpu
}  // namespace n4j
