/*
 * matmul_vbmi_avx512bf16.cpp: the BF16 dot-product matmul (matmul_bf16dot.inc) once more, with AVX512-VBMI as well
 * (-mavx512vbmi): its E4M3 weights decode 64 at a time by byte-table lookups (VPERMI2B). matmul.cpp calls it only when
 * the CPU has AVX512-BF16 and AVX512-VBMI (AMD Zen 4 and later, Intel Sapphire Rapids and later; Cooper Lake has
 * AVX512-BF16 without VBMI and runs matmul_avx512bf16.cpp). With N4J_EMULATE_AVX512BF16 it is compiled for the
 * baseline ISA like that file, and the lookups are modelled lane by lane.
 */
#include "cpu/simd_kernels.h"

#if defined(N4J_EMULATE_AVX512BF16)
#define N4J_BF16DOT_EMULATE 1
#endif
#define N4J_BF16DOT_VBMI 1
#define N4J_SIMD_NAMESPACE avx512bf16_vbmi
#include "cpu/matmul_bf16dot.inc"
#undef N4J_SIMD_NAMESPACE
