/*
 * attention_avx512bf16.cpp: attention_fast.inc compiled for AVX-512 (namespace n4j::cpu::avx512), with the row helpers of
 * simd_vec.h 16 lanes wide (N4J_VEC_WIDE16): the F32 kernels of CPUs at the SIMD_AVX512_BF16 level, in exact and
 * fast mode. Built with the AVX-512 options of the *_avx512bf16.cpp files (with AVX2 options in an
 * N4J_EMULATE_AVX512BF16 build, where the 16-lane vectors become pairs of 8-lane ones).
 */
#define N4J_VEC_WIDE16 1
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#if defined(N4J_EMULATE_AVX512BF16)
#define N4J_BF16DOT_EMULATE 1  // bf16_dot_pairs.inc: the scalar model of VDPBF16PS
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/dtype_scalar.h"
#include "cpu/fast_math.h"
#include "cpu/kv_cache_layout.h"
#include "cpu/simd_kernels.h"
#include "cpu/simd_vec.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {
#define N4J_SIMD_NAMESPACE avx512
#include "cpu/attention_fast.inc"
#undef N4J_SIMD_NAMESPACE
}  // namespace cpu
}  // namespace n4j
