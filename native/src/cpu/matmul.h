/* matmul.h: n4j_matmul on the CPU (see matmul.cpp). */
#ifndef N4J_CPU_MATMUL_H
#define N4J_CPU_MATMUL_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

/*
 * y[r, o] = epilogue(scale * sum_i x[r, i] * W[o, i]): N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE (y += v) or
 * N4J_MATMUL_RELU_SQUARED (y = max(v, 0)^2); scalar, one output at a time (the oracle).
 */
void matmul_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                int32_t epilogue);

/* max(v, 0)^2, the relu^2 of n4j_relu_squared and of the matmul epilogue (NaN gives 0). */
inline float relu_squared_value(float v) {
    const float r = v > 0.0f ? v : 0.0f;
    return r * r;
}

/* Multithreaded; AVX2 micro-kernels when ctx->simd == SIMD_AVX2, portable blocked code otherwise. */
void matmul_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                 int64_t ld_y, int32_t epilogue);

/* Activation rows from which the AVX2 path switches from streaming dot products to packed panels. */
constexpr int32_t kMatmulPackedMinRows = 16;

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_MATMUL_H */
