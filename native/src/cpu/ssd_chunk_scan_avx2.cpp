/*
 * ssd_chunk_scan_avx2.cpp: ssd_chunk_scan_fast.inc compiled with -mavx2 -mfma -mf16c (namespace n4j::cpu::avx2);
 * only called when the CPU has those extensions.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/fast_math.h"
#include "cpu/simd_kernels.h"
#include "cpu/simd_vec.h"
#include "cpu/ssm_params.h"

namespace n4j {
namespace cpu {
#define N4J_SIMD_NAMESPACE avx2
#include "cpu/ssd_chunk_scan_fast.inc"
#undef N4J_SIMD_NAMESPACE
}  // namespace cpu
}  // namespace n4j
