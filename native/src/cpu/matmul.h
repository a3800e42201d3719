/* matmul.h: n4j_matmul on the CPU (see matmul.cpp). */
#ifndef N4J_CPU_MATMUL_H
#define N4J_CPU_MATMUL_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

/* y[r, o] (+)= scale * sum_i x[r, i] * W[o, i]; scalar, one output at a time (the oracle). */
void matmul_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                int32_t accumulate);

/* Multithreaded; AVX2 micro-kernels when ctx->simd == SIMD_AVX2, portable blocked code otherwise. */
void matmul_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                 int64_t ld_y, int32_t accumulate);

/* Activation rows from which the AVX2 path switches from streaming dot products to packed panels. */
constexpr int32_t kMatmulPackedMinRows = 16;

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_MATMUL_H */
