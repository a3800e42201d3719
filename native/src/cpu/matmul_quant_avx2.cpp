/*
 * matmul_quant_avx2.cpp: the block-quantized matmul kernel (matmul_quant.inc) with AVX2 vpmaddubsw + vpmaddwd,
 * compiled with -mavx2 -mfma -mf16c; called only when the CPU has them (context::simd >= SIMD_AVX2).
 */
#define N4J_SIMD_NAMESPACE avx2
#include "cpu/matmul_quant.inc"
#undef N4J_SIMD_NAMESPACE
