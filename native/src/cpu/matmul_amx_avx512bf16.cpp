/*
 * matmul_amx_avx512bf16.cpp: the BF16 dot-product matmul (matmul_bf16dot.inc) once more, with its prefill panels on
 * AMX-BF16 tiles (TDPBF16PS; -mamx-tile -mamx-bf16 besides the AVX512-BF16 flags). matmul.cpp uses its gemm only when
 * the CPU has AMX-TILE and AMX-BF16 and Linux has granted the process the tile state (cpu_has_amx_bf16()); decode
 * keeps the VDPBF16PS kernels. With N4J_EMULATE_AVX512BF16 it is compiled for the baseline ISA with the tiles and
 * instructions modelled in scalar code, like the other *_avx512bf16.cpp files.
 */
#include "cpu/simd_kernels.h"

#if defined(N4J_EMULATE_AVX512BF16)
#define N4J_BF16DOT_EMULATE 1
#endif
#define N4J_BF16DOT_AMX 1
#define N4J_SIMD_NAMESPACE avx512bf16_amx
#include "cpu/matmul_bf16dot.inc"
#undef N4J_SIMD_NAMESPACE
