/* matmul.h: n4j_matmul on the CPU (see matmul.cpp). */
#ifndef N4J_CPU_MATMUL_H
#define N4J_CPU_MATMUL_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "cpu/matmul_quant.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

/*
 * y[r, o] = epilogue(scale * sum_i x[r, i] * W[o, i]): N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE (y += v) or
 * N4J_MATMUL_RELU_SQUARED (y = max(v, 0)^2); scalar, one output at a time (the oracle).
 */
void matmul_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                int32_t epilogue);

/*
 * W8A8 (N4J_FLAG_FP8_W8A8; F8_E4M3 weights with input_scale > 0, checked by the caller): x quantized to e4m3 values
 * (w8a8_quantize, r = 1 / input_scale), products of e4m3 values accumulated in F32, times
 * s = W.scale * input_scale, then the epilogue. matmul_w8a8_ref: scalar, in index order (the oracle);
 * matmul_w8a8_fast: the quantized rows into scratch, then matmul_fast's kernels with the weight's scale set to 1 (every
 * e4m3 x e4m3 product is exact in F32, BF16 rounding of the activations included, so they compute exactly these
 * products in another order of addition), then the scale and the epilogue. Identical for any thread count.
 */
void matmul_w8a8_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                     int32_t epilogue);
void matmul_w8a8_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                      int64_t ld_y, int32_t epilogue);

/* w8a8_quantize (dtype_scalar.h) without branches, for vector code: bit-exact to it (a NaN stays a NaN). */
float w8a8_quantize_fast(float x, float inv_scale);

/* max(v, 0)^2, the relu^2 of n4j_relu_squared and of the matmul epilogue (NaN gives 0). */
inline float relu_squared_value(float v) {
    const float r = v > 0.0f ? v : 0.0f;
    return r * r;
}

/* Multithreaded; the BF16 dot-product form for BF16 / E4M3 weights when ctx->simd == SIMD_AVX512_BF16 and
 * ctx->bf16_matmul, AVX2
 * micro-kernels from SIMD_AVX2 up, portable blocked code otherwise. */
void matmul_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                 int64_t ld_y, int32_t epilogue);

/*
 * The BF16 dot-product form (matmul_bf16dot.inc) for BF16 / F8_E4M3 weights, multithreaded, with the kernels of one
 * compilation of it (avx512bf16:: in the library, bf16dot_emu:: in the tests).
 */
typedef void (*bf16dot_convert_fn)(const float* x, int64_t ld_x, int32_t row_begin, int32_t row_end, int64_t K,
                                   uint16_t* xb);
typedef void (*bf16dot_rows_fn)(const uint16_t* xb, int32_t rows, const n4j_weight* w, int32_t o_begin,
                                int32_t o_end, float* y, int64_t ld_y, int32_t accumulate);
typedef void (*bf16dot_gemm_fn)(const uint16_t* xb, int32_t rows, const n4j_weight* w, int32_t o_begin,
                                int32_t o_end, float* y, int64_t ld_y, int32_t accumulate, void* scratch);
typedef void (*bf16dot_convert_f32_fn)(const float* x, int64_t ld_x, int32_t row_begin, int32_t row_end, int64_t K,
                                       float* xf);
typedef void (*bf16dot_gemm_f32_fn)(const float* xf, int32_t rows, const n4j_weight* w, int32_t o_begin,
                                    int32_t o_end, float* y, int64_t ld_y, int32_t accumulate, void* scratch);
/* The kernels of one compilation of matmul_bf16dot.inc. */
struct bf16dot_kernels {
    bf16dot_convert_fn convert_x;
    bf16dot_rows_fn rows;  // streaming dot products: decode and batched decode
    bf16dot_gemm_fn gemm;  // packed panels: prefill
    // Q8 / Q4 weights (prefill only): each task's 64 weight rows dequantized to BF16 (matmul_quant.h), then `gemm`
    quant_dequant_fn dequant = nullptr;
    // prefill with context::bf16_dot_by_fma, where present: `gemm`'s sums as F32 FMAs on activations widened once
    bf16dot_convert_f32_fn convert_x_f32 = nullptr;
    bf16dot_gemm_f32_fn gemm_fma = nullptr;
    // batched decode (2 or more activation rows) with context::bf16_dot_by_fma, where present
    bf16dot_rows_fn rows_fma = nullptr;
};
void matmul_bf16dot(context* ctx, const bf16dot_kernels& k, const float* x, int64_t ld_x, int32_t rows,
                    const n4j_weight* w, float* y, int64_t ld_y, int32_t epilogue);

/* Activation rows from which the AVX2 path switches from streaming dot products to packed panels. */
constexpr int32_t kMatmulPackedMinRows = 16;

/*
 * The tasks of a decode (fewer than kMatmulPackedMinRows activation rows) by the streaming kernels that prefetch tile
 * by tile (BF16 dot products, Q8/Q4): long tasks keep each thread on one contiguous stretch of weights (each task's
 * first tile starts cold), about 4 per thread of up to 256 rows (a multiple of 16); the last stretch, 64 rows per
 * thread or more, goes in tasks of 16 rows, so the threads finish together (the tasks are handed out in order).
 * Every output row is computed the same way in any task, so results depend neither on the split nor on the thread
 * count it follows; with 64 threads the 9B's narrowest outputs (1024 rows) still make 64 tasks.
 */
struct decode_split {
    int32_t O = 0;
    int32_t big = 16;    // rows of the long tasks
    int64_t n_big = 0;   // long tasks, over [0, tail0)
    int32_t tail0 = 0;   // 16-row tasks over [tail0, O)

    decode_split(int32_t rows_out, int threads) : O(rows_out) {
        const int64_t per = (O + 4 * int64_t(threads) - 1) / (4 * int64_t(threads));
        const int64_t b = (per + 15) / 16 * 16;
        big = static_cast<int32_t>(b < 16 ? 16 : b > 256 ? 256 : b);
        const int64_t tail = 64 * int64_t(threads);
        n_big = O > tail ? (O - tail) / big : 0;
        tail0 = static_cast<int32_t>(n_big * big);
    }
    int64_t tasks() const { return n_big + (O - tail0 + 15) / 16; }
    void range(int64_t t, int32_t* o0, int32_t* o1) const {
        if (t < n_big) {
            *o0 = static_cast<int32_t>(t * big);
            *o1 = *o0 + big;
        } else {
            *o0 = tail0 + static_cast<int32_t>((t - n_big) * 16);
            *o1 = O - *o0 > 16 ? *o0 + 16 : O;
        }
    }
};

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_MATMUL_H */
