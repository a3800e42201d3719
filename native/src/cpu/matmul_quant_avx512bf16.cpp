/*
 * matmul_quant_avx512bf16.cpp: the block-quantized matmul kernel (matmul_quant.inc) with AVX512-VNNI vpdpbusd on
 * 256-bit vectors (-mavx512vl -mavx512vnni besides the AVX512-BF16 flags); matmul_quant.cpp calls it only when
 * context::simd == SIMD_AVX512_BF16 (whose detection requires VNNI and VL too). With the CMake option
 * N4J_EMULATE_AVX512BF16 it is compiled for AVX2 with vpdpbusd modelled in scalar code.
 */
#if defined(N4J_EMULATE_AVX512BF16)
#define N4J_QUANT_VNNI_EMULATE 1
#else
#define N4J_QUANT_VNNI 1
#endif
#define N4J_SIMD_NAMESPACE avx512bf16
#include "cpu/matmul_quant.inc"
#undef N4J_SIMD_NAMESPACE
