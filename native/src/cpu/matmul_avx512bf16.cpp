/*
 * matmul_avx512bf16.cpp: the BF16 dot-product matmul (matmul_bf16dot.inc) compiled with -mavx512f -mavx512bw
 * -mavx512bf16; matmul.cpp calls it only when the CPU has AVX512-BF16 (context::simd == SIMD_AVX512_BF16).
 * With the CMake option N4J_EMULATE_AVX512BF16 (a testing build) it is compiled for the baseline ISA with the
 * instruction modelled in scalar code, and the library behaves as on an AVX512-BF16 CPU.
 */
#include "cpu/simd_kernels.h"

#if defined(N4J_EMULATE_AVX512BF16)
#define N4J_BF16DOT_EMULATE 1
#endif
#define N4J_SIMD_NAMESPACE avx512bf16
#include "cpu/matmul_bf16dot.inc"
#undef N4J_SIMD_NAMESPACE
