/*
 * cpu_features.h: which SIMD instruction sets the running CPU has, detected once with __builtin_cpu_supports.
 * Translation units named *_avx2.cpp are compiled with -mavx2 -mfma -mf16c and are only called when
 * cpu_has_avx2_fma_f16c() says so; everything else is compiled for the baseline ISA.
 */
#ifndef N4J_CPU_FEATURES_H
#define N4J_CPU_FEATURES_H

namespace n4j {
namespace cpu {

/* Instruction-set level of the fast kernels. */
enum simd_level { SIMD_GENERIC = 0, SIMD_AVX2 = 1 };

/* True when the CPU (and this build) supports AVX2, FMA and F16C. */
bool cpu_has_avx2_fma_f16c();

/* The best level this CPU supports. */
simd_level best_simd_level();

const char* simd_level_name(simd_level level);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_FEATURES_H */
