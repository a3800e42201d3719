/* cpu_features.cpp: see cpu_features.h. */
#include "cpu/cpu_features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

bool cpu_has_avx512_bf16() {
#if defined(N4J_EMULATE_AVX512BF16)
    return cpu_has_avx2_fma_f16c();  // a testing build: the kernels model the instruction in scalar code
#elif defined(N4J_HAVE_AVX512BF16_KERNELS) && (defined(__x86_64__) || defined(__i386__))
    // __builtin_cpu_supports reports AVX-512 features only when the OS saves the 512-bit state (XCR0).
    static const bool supported = [] {
        __builtin_cpu_init();
        return cpu_has_avx2_fma_f16c() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512vnni");
    }();
    return supported;
#else
    return false;
#endif
}

bool cpu_has_avx512_vbmi() {
#if defined(N4J_EMULATE_AVX512BF16)
    return cpu_has_avx512_bf16();  // a testing build: the VBMI kernels are emulated like the others
#elif defined(N4J_HAVE_AVX512BF16_KERNELS) && (defined(__x86_64__) || defined(__i386__))
    static const bool supported = [] {
        __builtin_cpu_init();
        return cpu_has_avx512_bf16() && __builtin_cpu_supports("avx512vbmi");
    }();
    return supported;
#else
    return false;
#endif
}

bool cpu_has_amx_bf16() {
    static const bool supported = [] {
        const char* env = getenv("N4J_CPU_AMX");
        if (env != nullptr && strcmp(env, "0") == 0) return false;
#if defined(N4J_EMULATE_AVX512BF16)
        return cpu_has_avx512_bf16();  // a testing build: the tiles are modelled in scalar code
#elif defined(N4J_HAVE_AMX_KERNELS) && defined(__x86_64__) && defined(__linux__)
        if (!cpu_has_avx512_bf16()) return false;
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
        const bool amx_bf16 = (edx >> 22) & 1u, amx_tile = (edx >> 24) & 1u;
        if (!amx_bf16 || !amx_tile) return false;
        // Linux hands out the 8 KiB tile state only on request (XFEATURE_XTILEDATA = 18); without it the first tile
        // instruction faults.
        constexpr long kArchReqXcompPerm = 0x1023;
        constexpr long kXfeatureXtiledata = 18;
        return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
        return false;
#endif
    }();
    return supported;
}

simd_level best_simd_level() {
    return cpu_has_avx512_bf16() ? SIMD_AVX512_BF16 : cpu_has_avx2_fma_f16c() ? SIMD_AVX2 : SIMD_GENERIC;
}

bool configured_simd_level(simd_level* level, char* error, int error_size) {
    const simd_level best = best_simd_level();
    *level = best;
    const char* env = getenv("N4J_CPU_SIMD");
    if (env == nullptr || env[0] == '\0') return true;
    simd_level cap;
    if (strcmp(env, "generic") == 0) {
        cap = SIMD_GENERIC;
    } else if (strcmp(env, "avx2") == 0) {
        cap = SIMD_AVX2;
    } else if (strcmp(env, "avx512bf16") == 0) {
        cap = SIMD_AVX512_BF16;
    } else {
        snprintf(error, static_cast<size_t>(error_size),
                 "environment variable N4J_CPU_SIMD=\"%.40s\" is not a SIMD level (generic, avx2 or avx512bf16)", env);
        return false;
    }
    *level = cap < best ? cap : best;
    return true;
}

bool configured_bf16_dot_by_fma(bool* by_fma, char* error, int error_size) {
    const char* env = getenv("N4J_CPU_BF16_DOT");
    if (env != nullptr && env[0] != '\0' && strcmp(env, "auto") != 0) {
        if (strcmp(env, "fma") == 0 || strcmp(env, "vdpbf16ps") == 0) {
            *by_fma = strcmp(env, "fma") == 0;
            return true;
        }
        snprintf(error, static_cast<size_t>(error_size),
                 "environment variable N4J_CPU_BF16_DOT=\"%.40s\" is not a BF16 dot-product form (vdpbf16ps, fma or "
                 "auto)",
                 env);
        return false;
    }
#if !defined(N4J_EMULATE_AVX512BF16) && defined(__x86_64__) && defined(__linux__)
    static const bool intel = [] {
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
        // "GenuineIntel": ebx "Genu", edx "ineI", ecx "ntel"
        return ebx == 0x756e6547u && edx == 0x49656e69u && ecx == 0x6c65746eu;
    }();
    *by_fma = intel && cpu_has_avx512_bf16();
#else
    *by_fma = false;
#endif
    return true;
}

const char* simd_level_name(simd_level level) {
    switch (level) {
        case SIMD_AVX512_BF16: return "avx512-bf16";
        case SIMD_AVX2: return "avx2+fma+f16c";
        default: return "generic";
    }
}

}  // namespace cpu
}  // namespace n4j
