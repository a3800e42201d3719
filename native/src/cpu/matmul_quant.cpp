/*
 * matmul_quant.cpp: y = x * W^T over block-quantized weights (N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6; layouts in
 * nemotron4j.h),
 * x [rows, K] F32, y [rows, O] F32.
 *
 * Numerics: each row of x is quantized per block of 32 (one shared routine per variant, all giving the same
 * integers): for Q8 weights to int16, d_x = max|x| / 32767 (the int8 code llama.cpp's Q8_0 x Q8_0 uses, 127 levels,
 * was most of q8's error: 258x coarser); for Q4 and Q6 weights to int8, d_x = max|x| / 127 (the weights' own rounding
 * dominates); q_x = round-to-nearest-even(x / d_x). A block's dot product is then an exact integer sum:
 *   Q8: sum_b (d_w[b] * d_x[b]) * sum_i q_w q_x                      (|sum| <= 32 * 127 * 32767 < 2^31)
 *   Q6: sum_b (d_w[b] * d_x[b]) * sum_i (q_w - 32) q_x               (the offset inside the integer sum: no
 *                                                                     cancellation between large F32 terms)
 *   Q4: sum_j (d * sc[j] * d_x[j]) * sum_i q_w q_x  -  sum_j (dmin * m[j]) * (d_x[j] * sum_i q_x)
 * and only the scaled sums over blocks are F32. The reference adds them in block order; the SIMD kernels keep
 * 8 F32 lanes per output and add them at the end, so they differ from the reference only by the order of those F32
 * additions. The error against F32 activations is the activation rounding: at most d_x / 2 per element.
 *
 * Threads: outputs are split into fixed tiles (32 weight rows x 64 activation rows) that do not depend on the
 * thread count, and each output is computed by one task in a fixed order, so any thread count gives the same bits;
 * a row's result does not depend on which other rows are in the call either.
 * Decode is memory-bound: a task streams its 32 weight rows once, 4 at a time sharing each activation load.
 * Prefill in fast precision on AVX512-BF16 does not come here (matmul.cpp: BF16 panels + the VDPBF16PS GEMM).
 */
#include "cpu/matmul_quant.h"

#include <math.h>
#include <string.h>

#include "cpu/dtype_scalar.h"
#include "cpu/matmul.h"

namespace n4j {
namespace cpu {

void quantize_x_rows(int32_t weight_dtype, const float* x, int64_t ld_x, int32_t r0, int32_t r1, int64_t K, void* q,
                     float* d, float* s, int64_t ld_q, int64_t ld_b) {
    const int64_t nb = K / kQuantBlock;
    const int32_t M = quant_x_max(weight_dtype);
    const float fM = static_cast<float>(M);
    for (int32_t r = r0; r < r1; ++r) {
        const float* xr = x + r * ld_x;
        float* dr = d + r * ld_b;
        float* sr = s + r * ld_b;
        for (int64_t b = 0; b < nb; ++b) {
            const float* xb = xr + b * kQuantBlock;
            float amax = 0.0f;
            for (int i = 0; i < kQuantBlock; ++i) amax = fmaxf(amax, fabsf(xb[i]));
            const float db = amax / fM;
            const float inv = amax > 0.0f ? fM / amax : 0.0f;
            int32_t sum = 0;
            for (int i = 0; i < kQuantBlock; ++i) {
                const int32_t v = static_cast<int32_t>(nearbyintf(xb[i] * inv));
                const int32_t c = v > M ? M : v < -M ? -M : v;
                const int64_t at = r * ld_q + b * kQuantBlock + i;
                if (weight_dtype == N4J_DTYPE_Q8) {
                    static_cast<int16_t*>(q)[at] = static_cast<int16_t>(c);
                } else {
                    static_cast<int8_t*>(q)[at] = static_cast<int8_t>(c);
                }
                sum += c;
            }
            dr[b] = db;
            sr[b] = db * static_cast<float>(sum);
        }
        for (int64_t b = nb; b < ld_b; ++b) {
            dr[b] = 0.0f;
            sr[b] = 0.0f;
        }
    }
}

void quant_rows_ref(const quant_x* x, int32_t r0, int32_t r1, const n4j_weight* w, int32_t o0, int32_t o1, float* y,
                    int64_t ld_y, int32_t accumulate) {
    const int64_t K = w->cols;
    const int64_t O = w->rows;
    const uint8_t* base = static_cast<const uint8_t*>(w->data);
    for (int32_t r = r0; r < r1; ++r) {
        const int8_t* xq = x->q + r * x->ld_q;        // Q4, Q6
        const int16_t* xq16 = x->q16 + r * x->ld_q;   // Q8
        const float* xd = x->d + r * x->ld_b;
        const float* xs = x->s + r * x->ld_b;
        for (int32_t o = o0; o < o1; ++o) {
            float acc = 0.0f;
            if (w->dtype == N4J_DTYPE_Q8) {
                const int8_t* wq = reinterpret_cast<const int8_t*>(base) + o * K;
                const uint8_t* wd = base + O * K + o * (K / kQuantBlock) * 2;
                for (int64_t b = 0; b < K / kQuantBlock; ++b) {
                    int32_t isum = 0;
                    for (int i = 0; i < kQuantBlock; ++i) {
                        isum += int32_t(wq[b * kQuantBlock + i]) * int32_t(xq16[b * kQuantBlock + i]);
                    }
                    uint16_t h;
                    memcpy(&h, wd + 2 * b, 2);
                    acc += f16_to_f32(h) * xd[b] * static_cast<float>(isum);
                }
            } else if (w->dtype == N4J_DTYPE_Q6) {
                const uint8_t* wq = base + o * q6_row_bytes(K);
                const uint8_t* wd = base + O * q6_row_bytes(K) + o * (K / kQuantBlock) * 2;
                for (int64_t b = 0; b < K / kQuantBlock; ++b) {
                    int32_t isum = 0;
                    for (int i = 0; i < kQuantBlock; ++i) {
                        const int64_t e = b * kQuantBlock + i;
                        isum += (q6_quant(wq, K, e) - kQ6Offset) * int32_t(xq[e]);
                    }
                    uint16_t h;
                    memcpy(&h, wd + 2 * b, 2);
                    acc += f16_to_f32(h) * xd[b] * static_cast<float>(isum);
                }
            } else {
                const uint8_t* wq = base + o * (K / 2);
                const int64_t nsb = q4_super_blocks(K);
                const uint8_t* rec = base + O * (K / 2) + o * nsb * kQ4RecordBytes;
                float macc = 0.0f;
                for (int64_t j = 0; j < K / kQuantBlock; ++j) {
                    const uint8_t* rj = rec + (j / 8) * kQ4RecordBytes;
                    uint16_t hd, hm;
                    memcpy(&hd, rj, 2);
                    memcpy(&hm, rj + 2, 2);
                    const int sub = static_cast<int>(j % 8);
                    // sub-block j's nibbles: the low (j even) or high (j odd) halves of the pair's 32 bytes
                    const uint8_t* pair = wq + (j / 2) * 32;
                    int32_t isum = 0;
                    for (int i = 0; i < kQuantBlock; ++i) {
                        const int32_t qw = (j % 2 == 0) ? (pair[i] & 0x0F) : (pair[i] >> 4);
                        isum += qw * int32_t(xq[j * kQuantBlock + i]);
                    }
                    acc += f16_to_f32(hd) * static_cast<float>(rj[4 + sub]) * xd[j] * static_cast<float>(isum);
                    macc += f16_to_f32(hm) * static_cast<float>(rj[12 + sub]) * xs[j];
                }
                acc -= macc;
            }
            const float value = acc * w->scale;
            float* yo = y + r * ld_y + o;
            *yo = accumulate ? *yo + value : value;
        }
    }
}

void quant_dequant_bf16_ref(const n4j_weight* w, int32_t o0, int32_t o1, uint16_t* out) {
    const int64_t K = w->cols;
    const int64_t O = w->rows;
    const uint8_t* base = static_cast<const uint8_t*>(w->data);
    for (int32_t o = o0; o < o1; ++o) {
        uint16_t* dst = out + (o - o0) * K;
        if (w->dtype == N4J_DTYPE_Q8) {
            const int8_t* wq = reinterpret_cast<const int8_t*>(base) + o * K;
            const uint8_t* wd = base + O * K + o * (K / kQuantBlock) * 2;
            for (int64_t i = 0; i < K; ++i) {
                uint16_t h;
                memcpy(&h, wd + 2 * (i / kQuantBlock), 2);
                dst[i] = f32_to_bf16(f16_to_f32(h) * static_cast<float>(wq[i]));
            }
        } else if (w->dtype == N4J_DTYPE_Q6) {
            const uint8_t* wq = base + o * q6_row_bytes(K);
            const uint8_t* wd = base + O * q6_row_bytes(K) + o * (K / kQuantBlock) * 2;
            for (int64_t i = 0; i < K; ++i) {
                uint16_t h;
                memcpy(&h, wd + 2 * (i / kQuantBlock), 2);
                dst[i] = f32_to_bf16(f16_to_f32(h) * static_cast<float>(q6_quant(wq, K, i) - kQ6Offset));
            }
        } else {
            const uint8_t* wq = base + o * (K / 2);
            const int64_t nsb = q4_super_blocks(K);
            const uint8_t* rec = base + O * (K / 2) + o * nsb * kQ4RecordBytes;
            for (int64_t i = 0; i < K; ++i) {
                const uint8_t* rj = rec + (i / kQ4SuperBlock) * kQ4RecordBytes;
                const int sub = static_cast<int>((i % kQ4SuperBlock) / kQuantBlock);
                uint16_t hd, hm;
                memcpy(&hd, rj, 2);
                memcpy(&hm, rj + 2, 2);
                const uint8_t byte = wq[(i / 64) * 32 + (i % 32)];
                const int qv = (i % 64) < 32 ? (byte & 0x0F) : (byte >> 4);
                const float a = f16_to_f32(hd) * static_cast<float>(rj[4 + sub]);
                const float b = f16_to_f32(hm) * static_cast<float>(rj[12 + sub]);
                const float prod = a * static_cast<float>(qv);
                dst[i] = f32_to_bf16(prod - b);
            }
        }
    }
}

namespace {

constexpr int32_t kPrefillRowBlock = 64;  // activation rows per task (prefill)
constexpr int32_t kPrefillColBlock = 32;  // weight rows per task (prefill)
constexpr int64_t kSerialWork = 1 << 15;  // below this many multiply-adds, skip the thread pool

template <class F>
void run_tasks(context* ctx, int64_t n_tasks, int64_t work, F&& f) {
    if (ctx == nullptr || work < kSerialWork) {
        for (int64_t t = 0; t < n_tasks; ++t) f(t, 0);
    } else {
        parallel_for(ctx->workers(), n_tasks, f);
    }
}

/* The activation buffers of quant_x carved out of one 64-byte-aligned scratch block. */
struct quant_x_layout {
    int64_t ld_q, ld_b;
    size_t q_bytes, f_bytes;
    quant_x_layout(int32_t weight_dtype, int32_t rows, int64_t K) {
        ld_q = (K + 63) & ~int64_t(63);
        ld_b = ((K / kQuantBlock) + 7) & ~int64_t(7);
        const size_t elem = weight_dtype == N4J_DTYPE_Q8 ? sizeof(int16_t) : sizeof(int8_t);
        q_bytes = align64(static_cast<size_t>(rows) * static_cast<size_t>(ld_q) * elem);
        f_bytes = align64(sizeof(float) * static_cast<size_t>(rows) * static_cast<size_t>(ld_b));
    }
    size_t bytes() const { return q_bytes + 2 * f_bytes; }
};

void relu_squared_rows(float* y, int64_t ld_y, int32_t r0, int32_t r1, int32_t o0, int32_t o1) {
    for (int32_t r = r0; r < r1; ++r) {
        for (int32_t o = o0; o < o1; ++o) y[r * ld_y + o] = relu_squared_value(y[r * ld_y + o]);
    }
}

void matmul_quant_impl(context* ctx, quant_rows_fn kernel, quantize_x_fn quantize, const float* x, int64_t ld_x, int32_t rows,
                       const n4j_weight* w, float* y, int64_t ld_y, int32_t epilogue, void* buffer) {
    const int32_t accumulate = epilogue == N4J_MATMUL_ACCUMULATE ? 1 : 0;
    const bool relu2 = epilogue == N4J_MATMUL_RELU_SQUARED;
    const int32_t O = w->rows;
    const int64_t K = w->cols;
    const int64_t work = static_cast<int64_t>(rows) * O * K;
    const quant_x_layout lay(w->dtype, rows, K);
    void* q = buffer;
    float* d = reinterpret_cast<float*>(static_cast<char*>(buffer) + lay.q_bytes);
    float* s = reinterpret_cast<float*>(static_cast<char*>(buffer) + lay.q_bytes + lay.f_bytes);
    const int32_t quant_rows_per_task = 16;
    run_tasks(ctx, (rows + quant_rows_per_task - 1) / quant_rows_per_task, work, [&](int64_t t, int) {
        const int32_t r0 = static_cast<int32_t>(t) * quant_rows_per_task;
        const int32_t r1 = r0 + quant_rows_per_task < rows ? r0 + quant_rows_per_task : rows;
        quantize(w->dtype, x, ld_x, r0, r1, K, q, d, s, lay.ld_q, lay.ld_b);
    });
    const bool wide = w->dtype == N4J_DTYPE_Q8;
    const quant_x qx{wide ? nullptr : static_cast<const int8_t*>(q), wide ? static_cast<const int16_t*>(q) : nullptr,
                     d, s, lay.ld_q, lay.ld_b, K};
    if (rows < kMatmulPackedMinRows) {  // decode: long tasks, then short ones (decode_split)
        const decode_split split(O, ctx != nullptr ? ctx->workers().size() : 1);
        run_tasks(ctx, split.tasks(), work, [&](int64_t t, int) {
            int32_t o0, o1;
            split.range(t, &o0, &o1);
            kernel(&qx, 0, rows, w, o0, o1, y, ld_y, accumulate);
            if (relu2) relu_squared_rows(y, ld_y, 0, rows, o0, o1);
        });
        return;
    }
    const int32_t row_block = kPrefillRowBlock;
    const int32_t col_block = kPrefillColBlock;
    const int64_t col_blocks = (O + col_block - 1) / col_block;
    const int64_t row_blocks = (rows + row_block - 1) / row_block;
    run_tasks(ctx, col_blocks * row_blocks, work, [&](int64_t t, int) {
        const int32_t o0 = static_cast<int32_t>(t % col_blocks) * col_block;
        const int32_t o1 = o0 + col_block < O ? o0 + col_block : O;
        const int32_t r0 = static_cast<int32_t>(t / col_blocks) * row_block;
        const int32_t r1 = r0 + row_block < rows ? r0 + row_block : rows;
        kernel(&qx, r0, r1, w, o0, o1, y, ld_y, accumulate);
        if (relu2) relu_squared_rows(y, ld_y, r0, r1, o0, o1);
    });
}

}  // namespace

void matmul_quant_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                      int32_t epilogue) {
    const quant_x_layout lay(w->dtype, rows, w->cols);
    scratch_buffer buffer;
    buffer.reserve(lay.bytes());
    matmul_quant_impl(nullptr, quant_rows_ref, quantize_x_rows, x, ld_x, rows, w, y, ld_y, epilogue, buffer.data());
}

void matmul_quant_with(context* ctx, quant_rows_fn kernel, quantize_x_fn quantize, const float* x, int64_t ld_x,
                       int32_t rows, const n4j_weight* w, float* y, int64_t ld_y, int32_t epilogue) {
    const quant_x_layout lay(w->dtype, rows, w->cols);
    void* buffer = ctx->shared_scratch(lay.bytes());
    matmul_quant_impl(ctx, kernel, quantize, x, ld_x, rows, w, y, ld_y, epilogue, buffer);
}

void matmul_quant_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                       int64_t ld_y, int32_t epilogue) {
    quant_rows_fn kernel = quant_rows_ref;
    quantize_x_fn quantize = quantize_x_rows;
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
    if (ctx->simd >= SIMD_AVX512_BF16) {
        kernel = avx512bf16::quant_rows;
        quantize = avx512bf16::quantize_x;
    } else if (ctx->simd >= SIMD_AVX2) {
        kernel = avx2::quant_rows;
        quantize = avx2::quantize_x;
    }
#elif defined(N4J_HAVE_AVX2_KERNELS)
    if (ctx->simd >= SIMD_AVX2) {
        kernel = avx2::quant_rows;
        quantize = avx2::quantize_x;
    }
#endif
    matmul_quant_with(ctx, kernel, quantize, x, ld_x, rows, w, y, ld_y, epilogue);
}

}  // namespace cpu
}  // namespace n4j
