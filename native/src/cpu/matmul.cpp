/*
 * matmul.cpp: y = x * W^T (* W.scale), x [rows, K] F32, W [O, K] in F32 / BF16 / F8_E4M3, y [rows, O] F32,
 * accumulated in F32; the epilogue stores, adds into y (fused residual add) or applies relu^2 (the MLP's up
 * projection). The kernels below store or accumulate; relu^2 is applied to each task's finished output tile while it
 * is still in cache, exactly as n4j_relu_squared would apply it to the stored F32 values.
 *
 * Reference: one dot product per output, scalar, in index order, then times scale.
 *
 * Fast: the output columns (weight rows) are split into fixed blocks handed to the thread pool (the split does not
 * depend on the thread count, so results are identical for any number of threads).
 *  - AVX2, rows < 16 (decode, batched decode): dot-product form. Each task streams its block of weight rows once, converting BF16
 *    (16-bit shift; the activations are pre-split into even/odd columns so one load of 16 BF16 weights becomes two
 *    F32 vectors with a shift and a mask) or E4M3 (through F16C) to F32 in registers, and multiplies each weight
 *    row with up to four activation rows at a time. The weights are read once.
 *  - AVX2, rows >= 16 (prefill): tasks are (64 weight rows) x (up to 258 activation rows) tiles. For each
 *    256-wide block of the reduction dimension the tile's weights are converted once into four F32 panels of 16 rows
 *    interleaved by k (scale folded in) and its activations copied into 6-row tiles interleaved by k, then a 6x16
 *    register-tile FMA kernel runs over them, so every converted weight is reused by up to 258 activation rows
 *    from L1.
 *  - Portable: blocks of 8 weight rows are converted to F32 into per-thread scratch, then plain dot products that
 *    the compiler vectorizes for the baseline ISA.
 *  - AVX512-BF16 with N4J_FLAG_BF16_MATMUL or BF16 activations (BF16 and E4M3 weights, any row count): the
 *    activations are rounded to BF16 once per call (exact for BF16 activations) and BF16 dot-product instructions
 *    accumulate in F32 (matmul_bf16dot.inc); tasks are blocks of 32 weight rows (decode) or 64 x 64 output tiles
 *    (prefill). F32 weights, and F32 activations without the flag, take the AVX2 paths.
 * The AVX2 and portable results differ from the reference only by the order of F32 additions (and, for scale != 1,
 * by rounding the scale into the weights before the multiply); so do the BF16 dot-product results (on activations that
 * are BF16 values; others would be rounded to BF16).
 *
 * W8A8 (N4J_FLAG_FP8_W8A8, F8 weights with input_scale > 0; matmul_w8a8_ref / matmul_w8a8_fast at the end): the
 * activations quantized to e4m3 values (w8a8_quantize), the kernels above on them with the weight's scale set to 1
 * (e4m3 x e4m3 products are exact in F32, and e4m3 values exact in BF16, so every path computes the same products),
 * then one pass times W.scale * input_scale and the epilogue.
 */
#include "cpu/matmul.h"

#include "cpu/matmul_quant.h"

#include "cpu/cpu_features.h"
#include "cpu/simd_kernels.h"
#include "cpu/dtype_scalar.h"

#include <vector>

namespace n4j {
namespace cpu {

void matmul_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                int32_t epilogue) {
    if (is_quantized_dtype(w->dtype)) {
        matmul_quant_ref(x, ld_x, rows, w, y, ld_y, epilogue);
        return;
    }
    const bool accumulate = epilogue == N4J_MATMUL_ACCUMULATE;
    const int64_t K = w->cols;
    for (int32_t r = 0; r < rows; ++r) {
        const float* xr = x + r * ld_x;
        float* yr = y + r * ld_y;
        for (int32_t o = 0; o < w->rows; ++o) {
            float acc = 0.0f;
            for (int64_t i = 0; i < K; ++i) acc += xr[i] * weight_raw(w->data, w->dtype, o * K + i);
            const float value = acc * w->scale;
            yr[o] = accumulate ? yr[o] + value : epilogue == N4J_MATMUL_RELU_SQUARED ? relu_squared_value(value) : value;
        }
    }
}

namespace {

constexpr int32_t kDotBlock = avx2::kDotMaxWeightRows;  // weight rows per task, dot-product form
constexpr int32_t kPackedBlock = 64;       // weight rows per task, packed form
// At most this many activation rows per task, packed form (a multiple of 6): a 256-token prefill chunk is one block,
// so each weight panel is converted once per call.
constexpr int32_t kPackedRowBlock = 258;
// The same for the BF16 dot-product GEMM, whose panels are packed for up to this many rows (a 512-token chunk is one
// block; its F32 partial sums, 64 floats a row, stay in L2).
constexpr int32_t kBf16GemmRowBlock = 516;
constexpr int32_t kPackXRows = 6;          // activation rows per packing task, packed form (one 6-row tile)
constexpr int32_t kConvertRows = 4;        // activation rows per BF16 conversion task
// The task split aims at this many tasks per call (so 32-64 cores all get work on the 9B's narrowest outputs, the
// 1024-wide k/v projections); it depends on the shapes only, never on the thread count.
constexpr int64_t kTargetTasks = 64;
constexpr int32_t kMinPackedRowBlock = 24;  // a weight panel is packed once per row block: not for fewer rows
constexpr int32_t kPortableBlock = 8;      // weight rows per task, portable form
constexpr int64_t kSerialWork = 1 << 15;   // below this many multiply-adds, skip the thread pool

/* The packed form's activation rows per task: the fewest blocks of at most kPackedRowBlock rows, of equal size
 * rounded up to a multiple of 6 (depends only on rows, so the split is the same for any thread count). */
int32_t equal_row_block(int32_t rows, int32_t max_block = kPackedRowBlock) {
    const int32_t blocks = (rows + max_block - 1) / max_block;
    const int32_t per_block = (rows + blocks - 1) / blocks;
    return (per_block + 5) / 6 * 6;
}

/* Row blocks of the packed forms: equal_row_block(rows, max_block), split further (down to kMinPackedRowBlock rows)
 * until col_blocks x row blocks reaches kTargetTasks. Depends only on the shapes. */
int32_t task_row_block(int32_t rows, int64_t col_blocks, int32_t max_block) {
    const int64_t want = (kTargetTasks + col_blocks - 1) / col_blocks;
    int64_t cap = (rows + want - 1) / want;
    if (cap < kMinPackedRowBlock) cap = kMinPackedRowBlock;
    return equal_row_block(rows, cap < max_block ? static_cast<int32_t>(cap) : max_block);
}

/* Weight rows per task of the decode forms: `widest`, halved (down to 16) until O gives kTargetTasks blocks. */
int32_t decode_col_block(int32_t O, int32_t widest) {
    int32_t block = widest;
    while (block > 16 && (O + block - 1) / block < kTargetTasks) block /= 2;
    return block;
}

/* relu^2 over y[r0, r1) x [o0, o1) (a task's finished output tile). */
void relu_squared_tile(float* y, int64_t ld_y, int32_t r0, int32_t r1, int32_t o0, int32_t o1) {
    for (int32_t r = r0; r < r1; ++r) {
        float* yr = y + r * ld_y;
        for (int32_t o = o0; o < o1; ++o) yr[o] = relu_squared_value(yr[o]);
    }
}

/* Runs f(task, thread) for all tasks, on the pool or serially for tiny problems (same tasks either way). */
template <class F>
void run_tasks(context* ctx, int64_t n_tasks, int64_t work, F&& f) {
    if (work < kSerialWork) {
        for (int64_t t = 0; t < n_tasks; ++t) f(t, 0);
    } else {
        parallel_for(ctx->workers(), n_tasks, f);
    }
}

void matmul_portable_block(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, int32_t o_begin,
                           int32_t o_end, float* y, int64_t ld_y, int32_t accumulate, float* wbuf) {
    const int64_t K = w->cols;
    const int32_t n = o_end - o_begin;
    // Raw (unscaled) F32 copies of the block's weight rows; the scale multiplies the finished dot product.
    n4j_weight raw = *w;
    raw.scale = 1.0f;
    weight_to_f32(&raw, static_cast<int64_t>(o_begin) * K, static_cast<int64_t>(n) * K, wbuf);
    for (int32_t r = 0; r < rows; ++r) {
        const float* xr = x + r * ld_x;
        float* yr = y + r * ld_y;
        for (int32_t j = 0; j < n; ++j) {
            const float* wr = wbuf + j * K;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < K; ++i) acc += xr[i] * wr[i];
            const float value = acc * w->scale;
            yr[o_begin + j] = accumulate ? yr[o_begin + j] + value : value;
        }
    }
}

}  // namespace

void matmul_bf16dot(context* ctx, const bf16dot_kernels& k, const float* x, int64_t ld_x, int32_t rows,
                    const n4j_weight* w, float* y, int64_t ld_y, int32_t epilogue) {
    const int32_t accumulate = epilogue == N4J_MATMUL_ACCUMULATE ? 1 : 0;
    const bool relu2 = epilogue == N4J_MATMUL_RELU_SQUARED;
    const int32_t O = w->rows;
    const int64_t K = w->cols;
    const int64_t work = static_cast<int64_t>(rows) * O * K;
    const int64_t ld_xb = bf16dot_ld(K);
    // Prefill on a CPU whose VDPBF16PS is slower than two FMAs (context::bf16_dot_by_fma): the FMA form of the GEMM, on
    // the activations rounded to BF16 and kept as F32
    const bool fma_form = rows >= kMatmulPackedMinRows && ctx->bf16_dot_by_fma && k.gemm_fma != nullptr;
    uint16_t* xb = nullptr;
    float* xf = nullptr;
    if (fma_form) {
        xf = static_cast<float*>(ctx->shared_scratch(sizeof(float) * static_cast<size_t>(rows * ld_xb)));
    } else {
        xb = static_cast<uint16_t*>(ctx->shared_scratch(sizeof(uint16_t) * static_cast<size_t>(rows * ld_xb)));
    }
    const int64_t convert_tasks = (rows + kConvertRows - 1) / kConvertRows;
    run_tasks(ctx, convert_tasks, work, [&](int64_t t, int) {
        const int32_t r0 = static_cast<int32_t>(t) * kConvertRows;
        const int32_t r1 = r0 + kConvertRows < rows ? r0 + kConvertRows : rows;
        if (fma_form) {
            k.convert_x_f32(x, ld_x, r0, r1, K, xf);
        } else {
            k.convert_x(x, ld_x, r0, r1, K, xb);
        }
    });
    // one task's GEMM: weight rows [o0, o1) x activation rows [r0, r1)
    auto gemm = [&](int32_t r0, int32_t r1, const n4j_weight* wt, int32_t o0, int32_t o1, float* yt, void* scratch) {
        if (fma_form) {
            k.gemm_fma(xf + r0 * ld_xb, r1 - r0, wt, o0, o1, yt, ld_y, accumulate, scratch);
        } else {
            k.gemm(xb + r0 * ld_xb, r1 - r0, wt, o0, o1, yt, ld_y, accumulate, scratch);
        }
    };
    if (rows >= kMatmulPackedMinRows) {
        // Prefill: tasks of (64 weight rows) x (equal row blocks of up to kPackedRowBlock activation rows); each task
        // packs its weight panel once per block of the reduction and reuses it for all its activation rows.
        const int64_t col_blocks = (O + kBf16GemmPanelRows - 1) / kBf16GemmPanelRows;
        const int32_t row_block = task_row_block(rows, col_blocks, kBf16GemmRowBlock);
        const int64_t row_blocks = (rows + row_block - 1) / row_block;
        // Q8 / Q4 weights: the task's weight rows dequantized to BF16 behind the GEMM's scratch, once per task
        const bool quant = is_quantized_dtype(w->dtype);
        const size_t gemm_bytes = align64(bf16dot_gemm_scratch_bytes(row_block));
        const size_t dequant_bytes = quant ? sizeof(uint16_t) * static_cast<size_t>(kBf16GemmPanelRows * K) : 0;
        ctx->reserve_thread_scratch(gemm_bytes + dequant_bytes);
        run_tasks(ctx, col_blocks * row_blocks, work, [&](int64_t t, int thread) {
            const int32_t o0 = static_cast<int32_t>(t % col_blocks) * kBf16GemmPanelRows;
            const int32_t o1 = o0 + kBf16GemmPanelRows < O ? o0 + kBf16GemmPanelRows : O;
            const int32_t r0 = static_cast<int32_t>(t / col_blocks) * row_block;
            const int32_t r1 = r0 + row_block < rows ? r0 + row_block : rows;
            void* scratch = ctx->thread_scratch(thread);
            if (quant) {
                uint16_t* panel = reinterpret_cast<uint16_t*>(static_cast<char*>(scratch) + gemm_bytes);
                k.dequant(w, o0, o1, panel);
                n4j_weight wb = *w;
                wb.data = panel;
                wb.dtype = N4J_DTYPE_BF16;
                wb.rows = o1 - o0;
                gemm(r0, r1, &wb, 0, o1 - o0, y + r0 * ld_y + o0, scratch);
            } else {
                gemm(r0, r1, w, o0, o1, y + r0 * ld_y, scratch);
            }
            if (relu2) relu_squared_tile(y, ld_y, r0, r1, o0, o1);
        });
        return;
    }
    // Decode and batched decode: long tasks, then short ones (decode_split).
    const decode_split split(O, ctx->workers().size());
    // batched decode is compute-bound: the FMA form where it is faster (one row is memory-bound: the instruction)
    const bf16dot_rows_fn rows_kernel = rows >= 2 && ctx->bf16_dot_by_fma && k.rows_fma != nullptr ? k.rows_fma : k.rows;
    run_tasks(ctx, split.tasks(), work, [&](int64_t t, int) {
        int32_t o0, o1;
        split.range(t, &o0, &o1);
        rows_kernel(xb, rows, w, o0, o1, y, ld_y, accumulate);
        if (relu2) relu_squared_tile(y, ld_y, 0, rows, o0, o1);
    });
}

void matmul_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                 int64_t ld_y, int32_t epilogue) {
    if (is_quantized_dtype(w->dtype)) {
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
        // Prefill in fast precision: weight panels dequantized to BF16 and the VDPBF16PS GEMM (activations rounded
        // to BF16 as for BF16 weights); decode and exact precision keep the integer kernels.
        if (rows >= kMatmulPackedMinRows && ctx->simd >= SIMD_AVX512_BF16 && ctx->bf16_matmul) {
            static const bf16dot_kernels kernels = {avx512bf16::bf16dot_convert_x, avx512bf16::bf16dot_rows,
                                                    avx512bf16::bf16dot_gemm, avx512bf16::dequant_bf16,
                                                    avx512bf16::bf16dot_convert_x_f32, avx512bf16::bf16dot_gemm_fma,
                                                    avx512bf16::bf16dot_rows_fma};
            matmul_bf16dot(ctx, kernels, x, ld_x, rows, w, y, ld_y, epilogue);
            return;
        }
#endif
        matmul_quant_fast(ctx, x, ld_x, rows, w, y, ld_y, epilogue);
        return;
    }
    const int32_t accumulate = epilogue == N4J_MATMUL_ACCUMULATE ? 1 : 0;
    const bool relu2 = epilogue == N4J_MATMUL_RELU_SQUARED;
    const int32_t O = w->rows;
    const int64_t K = w->cols;
    const int64_t work = static_cast<int64_t>(rows) * O * K;

#if defined(N4J_HAVE_AVX512BF16_KERNELS)
    // Only when asked (N4J_FLAG_BF16_MATMUL) or with BF16 activations, which already are BF16 values (rounding them
    // changes nothing). Otherwise the AVX2 kernels keep F32 activations exact. E4M3 weights decode to BF16 by a
    // table lookup (VPERMI2W), cheaper than the AVX2 form's F16C conversions, so decode over them comes here too.
    if (ctx->simd >= SIMD_AVX512_BF16 && ctx->bf16_matmul &&
        (w->dtype == N4J_DTYPE_BF16 || w->dtype == N4J_DTYPE_F8_E4M3)) {
        static const bf16dot_kernels kernels = {avx512bf16::bf16dot_convert_x, avx512bf16::bf16dot_rows,
                                                avx512bf16::bf16dot_gemm, nullptr,
                                                avx512bf16::bf16dot_convert_x_f32, avx512bf16::bf16dot_gemm_fma,
                                                avx512bf16::bf16dot_rows_fma};
        // With AVX512-VBMI the same kernels decode E4M3 by byte-table lookups (64 weights per VPERMI2B pair).
        static const bf16dot_kernels vbmi_kernels = {avx512bf16_vbmi::bf16dot_convert_x, avx512bf16_vbmi::bf16dot_rows,
                                                     avx512bf16_vbmi::bf16dot_gemm, nullptr,
                                                     avx512bf16_vbmi::bf16dot_convert_x_f32,
                                                     avx512bf16_vbmi::bf16dot_gemm_fma,
                                                     avx512bf16_vbmi::bf16dot_rows_fma};
        static const bool vbmi = cpu_has_avx512_vbmi();
#if defined(N4J_HAVE_AMX_KERNELS)
        // With AMX-BF16 the prefill panels run on the tiles (decode keeps the VDPBF16PS kernels).
        static const bool amx = cpu_has_amx_bf16();
        static const bf16dot_kernels amx_kernels = {vbmi ? avx512bf16_vbmi::bf16dot_convert_x
                                                         : avx512bf16::bf16dot_convert_x,
                                                    vbmi ? avx512bf16_vbmi::bf16dot_rows : avx512bf16::bf16dot_rows,
                                                    avx512bf16_amx::bf16dot_gemm};
        if (amx) {
            matmul_bf16dot(ctx, amx_kernels, x, ld_x, rows, w, y, ld_y, epilogue);
            return;
        }
#endif
        matmul_bf16dot(ctx, vbmi ? vbmi_kernels : kernels, x, ld_x, rows, w, y, ld_y, epilogue);
        return;
    }
#endif
    static_assert(kMatmulPackedMinRows - 1 <= avx2::kDotMaxRows, "dot form row buffer");
    if (ctx->simd >= SIMD_AVX2 && rows < kMatmulPackedMinRows) {
        float* x_split = nullptr;
        if (w->dtype == N4J_DTYPE_BF16) {
            x_split = static_cast<float*>(ctx->shared_scratch(sizeof(float) * static_cast<size_t>(rows * K)));
            avx2::matmul_split_x_bf16(x, ld_x, rows, K, x_split);
        }
        const int32_t dot_block = decode_col_block(O, kDotBlock);
        const int64_t blocks = (O + dot_block - 1) / dot_block;
        run_tasks(ctx, blocks, work, [&](int64_t b, int) {
            const int32_t o0 = static_cast<int32_t>(b) * dot_block;
            const int32_t o1 = o0 + dot_block < O ? o0 + dot_block : O;
            avx2::matmul_rows_dot(x, ld_x, x_split, rows, w, o0, o1, y, ld_y, accumulate);
            if (relu2) relu_squared_tile(y, ld_y, 0, rows, o0, o1);
        });
        return;
    }
    if (ctx->simd >= SIMD_AVX2) {
        // Activations packed once per call (tasks of 6-row tiles), shared by every column block.
        float* xpack = static_cast<float*>(ctx->shared_scratch(sizeof(float) * avx2::matmul_packed_x_floats(rows, K)));
        const int64_t pack_tasks = (rows + kPackXRows - 1) / kPackXRows;
        run_tasks(ctx, pack_tasks, work, [&](int64_t t, int) {
            const int32_t r0 = static_cast<int32_t>(t) * kPackXRows;
            avx2::matmul_pack_x(x, ld_x, rows, K, r0, r0 + kPackXRows < rows ? r0 + kPackXRows : rows, xpack);
        });
        const int64_t col_blocks = (O + kPackedBlock - 1) / kPackedBlock;
        // Row blocks of equal size (a multiple of 6, at most kPackedRowBlock): 300 rows are two blocks of 150, not
        // 258 + 42, whose second block would convert every weight panel for a sixth of the rows.
        const int32_t row_block = task_row_block(rows, col_blocks, kPackedRowBlock);
        const int64_t row_blocks = (rows + row_block - 1) / row_block;
        ctx->reserve_thread_scratch(sizeof(float) * avx2::matmul_packed_scratch_floats(kPackedBlock));
        run_tasks(ctx, col_blocks * row_blocks, work, [&](int64_t t, int thread) {
            const int32_t o0 = static_cast<int32_t>(t % col_blocks) * kPackedBlock;
            const int32_t o1 = o0 + kPackedBlock < O ? o0 + kPackedBlock : O;
            const int32_t r0 = static_cast<int32_t>(t / col_blocks) * row_block;
            const int32_t r1 = r0 + row_block < rows ? r0 + row_block : rows;
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
            if (ctx->simd >= SIMD_AVX512_BF16) {  // the same panels with AVX-512 tiles (bitwise equal)
                avx512f32::matmul_rows_packed(xpack + static_cast<int64_t>(r0) * K, r1 - r0, w, o0, o1,
                                              y + r0 * ld_y, ld_y, accumulate,
                                              static_cast<float*>(ctx->thread_scratch(thread)));
            } else
#endif
            {
                avx2::matmul_rows_packed(xpack + static_cast<int64_t>(r0) * K, r1 - r0, w, o0, o1, y + r0 * ld_y,
                                         ld_y, accumulate, static_cast<float*>(ctx->thread_scratch(thread)));
            }
            if (relu2) relu_squared_tile(y, ld_y, r0, r1, o0, o1);
        });
        return;
    }
    const int64_t blocks = (O + kPortableBlock - 1) / kPortableBlock;
    ctx->reserve_thread_scratch(sizeof(float) * kPortableBlock * static_cast<size_t>(K));
    run_tasks(ctx, blocks, work, [&](int64_t b, int thread) {
        const int32_t o0 = static_cast<int32_t>(b) * kPortableBlock;
        const int32_t o1 = o0 + kPortableBlock < O ? o0 + kPortableBlock : O;
        matmul_portable_block(x, ld_x, rows, w, o0, o1, y, ld_y, accumulate,
                              static_cast<float*>(ctx->thread_scratch(thread)));
        if (relu2) relu_squared_tile(y, ld_y, 0, rows, o0, o1);
    });
}

float w8a8_quantize_fast(float x, float inv_scale) {
    const float v = x * inv_scale;
    const uint32_t u = f32_bits(v);
    const uint32_t sign = u & 0x80000000u;
    const uint32_t a = u & 0x7fffffffu;
    const float m = f32_from_bits(a);
    // Normal e4m3 (>= 2^-6): the F32 mantissa rounded to 3 bits, nearest even (a carry moves into the exponent).
    const float normal = f32_from_bits((a + 0x7ffffu + ((a >> 20) & 1u)) & 0xfff00000u);
    // Subnormal (< 2^-6): multiples of 2^-9, which is the F32 spacing at 2^14: adding 2^14 rounds to one (RNE).
    const float subnormal = (m + 16384.0f) - 16384.0f;
    float q = a < 0x3c800000u ? subnormal : normal;
    q = a >= 0x43e00000u ? 448.0f : q;  // satfinite (infinities included)
    q = a > 0x7f800000u ? m : q;        // NaN stays NaN
    return f32_from_bits(f32_bits(q) | sign);
}

void matmul_w8a8_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                     int32_t epilogue) {
    const bool accumulate = epilogue == N4J_MATMUL_ACCUMULATE;
    const int64_t K = w->cols;
    const float inv = 1.0f / w->input_scale;
    const float scale = w->scale * w->input_scale;
    std::vector<float> xq(static_cast<size_t>(K));
    for (int32_t r = 0; r < rows; ++r) {
        const float* xr = x + r * ld_x;
        for (int64_t i = 0; i < K; ++i) xq[static_cast<size_t>(i)] = w8a8_quantize(xr[i], inv);
        float* yr = y + r * ld_y;
        for (int32_t o = 0; o < w->rows; ++o) {
            float acc = 0.0f;
            for (int64_t i = 0; i < K; ++i) acc += xq[static_cast<size_t>(i)] * weight_raw(w->data, w->dtype, o * K + i);
            const float value = acc * scale;
            yr[o] = accumulate ? yr[o] + value : epilogue == N4J_MATMUL_RELU_SQUARED ? relu_squared_value(value) : value;
        }
    }
}

void matmul_w8a8_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                      int64_t ld_y, int32_t epilogue) {
    const int32_t O = w->rows;
    const int64_t K = w->cols;
    const int64_t work = static_cast<int64_t>(rows) * O * K;
    const float inv = 1.0f / w->input_scale;
    const float scale = w->scale * w->input_scale;
    ctx->w8a8_x_buffer.reserve(sizeof(float) * static_cast<size_t>(rows) * static_cast<size_t>(K));
    float* xq = static_cast<float*>(ctx->w8a8_x_buffer.data());
    run_tasks(ctx, (rows + kConvertRows - 1) / kConvertRows, work, [&](int64_t t, int) {
        const int32_t r0 = static_cast<int32_t>(t) * kConvertRows;
        const int32_t r1 = r0 + kConvertRows < rows ? r0 + kConvertRows : rows;
        for (int32_t r = r0; r < r1; ++r) {
            const float* xr = x + r * ld_x;
            float* qr = xq + r * K;
            for (int64_t i = 0; i < K; ++i) qr[i] = w8a8_quantize_fast(xr[i], inv);
        }
    });
    n4j_weight raw = *w;
    raw.scale = 1.0f;
    raw.input_scale = 0.0f;
    const bool accumulate = epilogue == N4J_MATMUL_ACCUMULATE;
    // The unscaled sums go to y itself, or (accumulating) to scratch, then one pass scales them into y.
    float* acc = y;
    int64_t ld_acc = ld_y;
    if (accumulate) {
        ctx->w8a8_acc_buffer.reserve(sizeof(float) * static_cast<size_t>(rows) * static_cast<size_t>(O));
        acc = static_cast<float*>(ctx->w8a8_acc_buffer.data());
        ld_acc = O;
    }
    matmul_fast(ctx, xq, K, rows, &raw, acc, ld_acc, N4J_MATMUL_STORE);
    const bool relu2 = epilogue == N4J_MATMUL_RELU_SQUARED;
    run_tasks(ctx, (rows + kConvertRows - 1) / kConvertRows, work, [&](int64_t t, int) {
        const int32_t r0 = static_cast<int32_t>(t) * kConvertRows;
        const int32_t r1 = r0 + kConvertRows < rows ? r0 + kConvertRows : rows;
        for (int32_t r = r0; r < r1; ++r) {
            const float* ar = acc + r * ld_acc;
            float* yr = y + r * ld_y;
            if (accumulate) {
                for (int32_t o = 0; o < O; ++o) yr[o] += ar[o] * scale;
            } else if (relu2) {
                for (int32_t o = 0; o < O; ++o) yr[o] = relu_squared_value(ar[o] * scale);
            } else {
                for (int32_t o = 0; o < O; ++o) yr[o] = ar[o] * scale;
            }
        }
    });
}

}  // namespace cpu
}  // namespace n4j
