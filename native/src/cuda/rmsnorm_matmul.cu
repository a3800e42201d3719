/*
 * rmsnorm_matmul.cu: n4j_rmsnorm_matmul, n4j_rmsnorm (x -> normed) then n4j_matmul (normed -> y, epilogue) with the
 * same bits in normed and y, in fewer launches and memory passes where a kernel exists for the case:
 *
 *   rows <= 8, F32 / BF16 / F8 weights   one launch: the decode GEMV with the norm in its prologue (gemv.cuh, NORM;
 *   (W8A8 QX included)                   gemv_norm_{f32,bf16,f8}.cu). Each block first computes every row's inv_rms
 *                                        with rmsnorm.cu's reduction (rmsnorm_rows.cuh), then forms the normalized
 *                                        elements as it loads x for the dot products; blocks b, b + grid, ... store
 *                                        256-column chunks of `normed`. The GEMV never reads normed back.
 *   rows > 8, F8 weight in W8A8 mode     rmsnorm_quantize_kernel writes normed and the e4m3 x_q + {W.scale,
 *                                        input_scale} that the FP8 GEMM reads (matmul_w8a8 with this kernel as its
 *                                        quantizer): the separate quantize pass over normed disappears.
 *   anything else (Q8 / Q4 / Q6 weights, op_rmsnorm then op_matmul (the quantized GEMVs of gemv_quant.cu and the
 *   rows > 8 otherwise)                  GEMMs read their input many times; a prologue would redo the norm per
 *                                        tile).
 *
 * What the GEMV prologue costs, counted per block (4 output features, K = dim, R rows; x of XB bytes an element:
 * 4 for the F32 residual stream, the norm weight bf16): the weight stream is 4 K WB bytes from HBM (35,840 for the
 * 9B's K = 4480 in BF16, 17,920 in F8). The plain GEMV reads normed, R K XB bytes, from L1/L2. The fused one reads
 * x twice (the sum of squares, then the dot products: R K XB each) and the norm weight once (2 K): the first pass
 * brings x into L1 (plain loads allocate there; the weight stream is ld.global.nc.L1::no_allocate and does not
 * evict it), the second hits it, and the ~8 blocks resident on an SM share one copy: R K XB + 2 K is 26.9 KB for
 * R = 1 and 152 KB for R = 8 at K = 4480 with an F32 x, inside an H100 SM's L1 (up to 256 KB less the GEMV's 1 KB
 * of shared memory). So the extra traffic is L1 traffic (no HBM bytes beyond the first touch per SM, and L2 reads of
 * R K XB + 2 K per SM, not per block), and the extra arithmetic, R K FMAs for the sum of squares plus 2 multiplies
 * and a rounding per loaded element, runs under the weight stream. In exchange the rmsnorm kernel's launch and its
 * DRAM round trip (write normed, the GEMV blocks' first reads of it) are gone: one launch per norm of a decode step.
 * The price is registers (ptxas, sm_90a, BF16 weights): 1 row 64 (BF16 x) / 76 (F32 residual x) against the plain
 * GEMV's 62, 8 rows 128 against 100; to be weighed on a GPU (cuda_op_bench, FUSED norm + in_proj).
 */
#include <math.h>

#include "gemv.cuh"
#include "matmul.cuh"
#include "rmsnorm.cuh"
#include "rmsnorm_matmul.cuh"
#include "rmsnorm_rows.cuh"

namespace n4j {
namespace cuda {

namespace {

/* ---- rows > 8, W8A8: the norm and the activation quantizer in one pass ---- */

struct norm_quant_args {
    const void* x;  // TI [rows][ld_x]
    int64_t ld_x;
    weight_ref w;
    float eps;
    void* normed;  // XT [rows][ld_normed]
    int64_t ld_normed;
};

constexpr int kNormQuantRowsPerBlock = kRmsBlockThreads / kWarp;  // rows of dim <= kRmsWarpMaxDim: a warp each

/*
 * normed[r, c] = round_XT((x[r, c] * inv_rms[r]) * w[c]) (rmsnorm.cu's reduction for this dim, rmsnorm_rows.cuh) and
 * x_q[r, c] = satfinite_e4m3(normed[r, c] * (1 / input_scale)), zero for dim <= c < ld_q: the bytes
 * quantize_e4m3_kernel (gemm_mma_w8a8.cu) makes from normed. Block 0 also writes {W.scale, input_scale} for cuBLASLt.
 * dim <= kRmsWarpMaxDim: 8 rows per block, a warp each; else a block per row.
 */
template <typename TI, typename XT>
__global__ void __launch_bounds__(kRmsBlockThreads) rmsnorm_quantize_kernel(norm_quant_args n, int rows, int dim,
                                                                             float w_scale, float in_scale,
                                                                             uint8_t* x_q, int64_t ld_q,
                                                                             float* scales) {
    __shared__ float scratch[32];
    if (scales != nullptr && blockIdx.x == 0 && threadIdx.x == 0) {
        scales[0] = w_scale;
        scales[1] = in_scale;
    }
    const float inv_in = 1.0f / in_scale;
    const TI* x = static_cast<const TI*>(n.x);
    int64_t row;
    int first, step;
    float inv;
    if (dim <= kRmsWarpMaxDim) {
        row = static_cast<int64_t>(blockIdx.x) * kNormQuantRowsPerBlock + threadIdx.x / kWarp;
        if (row >= rows) return;  // a whole warp; no block barrier follows
        first = threadIdx.x % kWarp;
        step = kWarp;
        inv = rms_inv(rms_sumsq_warp(x + row * n.ld_x, dim, first), dim, n.eps);
    } else {
        row = blockIdx.x;
        first = threadIdx.x;
        step = blockDim.x;
        inv = rms_inv(rms_sumsq_block(x + row * n.ld_x, dim, scratch), dim, n.eps);
    }
    const TI* xr = x + row * n.ld_x;
    XT* o = static_cast<XT*>(n.normed) + row * n.ld_normed;
    uint8_t* q = x_q + row * ld_q;
    for (int64_t c0 = 4 * static_cast<int64_t>(first); c0 < ld_q; c0 += 4 * static_cast<int64_t>(step)) {
        uint32_t word = 0;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int64_t c = c0 + e;
            if (c < dim) {
                const XT v = from_f32<XT>(rms_apply(to_f32(xr[c]), inv, n.w(c)));
                o[c] = v;
                word |= f32_to_e4m3_satfinite(to_f32(v) * inv_in) << (8 * e);
            }
        }
        *reinterpret_cast<uint32_t*>(q + c0) = word;
    }
}

/* matmul_w8a8's quantizer (w8a8_quantizer): user is the norm_quant_args. */
void launch_norm_quantize(context* ctx, const matmul_args& a, uint8_t* x_q, int64_t ld_q, float* scales,
                          const void* user) {
    const norm_quant_args& n = *static_cast<const norm_quant_args*>(user);
    const unsigned blocks = static_cast<unsigned>(
        a.k <= kRmsWarpMaxDim ? ceil_div(a.rows, kNormQuantRowsPerBlock) : static_cast<int64_t>(a.rows));
    if (ctx->f32_residual()) {
        rmsnorm_quantize_kernel<float, bf16><<<blocks, kRmsBlockThreads, 0, ctx->stream>>>(
            n, a.rows, a.k, a.scale, a.in_scale, x_q, ld_q, scales);
    } else if (ctx->act_bf16()) {
        rmsnorm_quantize_kernel<bf16, bf16><<<blocks, kRmsBlockThreads, 0, ctx->stream>>>(
            n, a.rows, a.k, a.scale, a.in_scale, x_q, ld_q, scales);
    } else {
        rmsnorm_quantize_kernel<float, float><<<blocks, kRmsBlockThreads, 0, ctx->stream>>>(
            n, a.rows, a.k, a.scale, a.in_scale, x_q, ld_q, scales);
    }
}

}  // namespace

int32_t op_rmsnorm_matmul(void* vctx, const void* x, int64_t ld_x, int32_t rows, int32_t dim,
                          const n4j_weight* norm_weight, float eps, void* normed, int64_t ld_normed,
                          const n4j_weight* weight, void* y, int64_t ld_y, int32_t epilogue) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_rmsnorm_matmul";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int dtype = weight->dtype;
    const bool dense = dtype == N4J_DTYPE_F32 || dtype == N4J_DTYPE_BF16 || dtype == N4J_DTYPE_F8_E4M3;
    // W8A8 exactly when op_matmul (matmul.cu) takes it; an unusable input_scale goes through op_matmul's error.
    const float in_scale = weight->input_scale;
    const bool w8a8 = dtype == N4J_DTYPE_F8_E4M3 && ctx->fp8_w8a8 && in_scale != 0.0f;
    const bool w8a8_ok = w8a8 && in_scale > 0.0f && isfinite(in_scale);
    if (!dense || (w8a8 && !w8a8_ok) || (rows > 8 && !w8a8)) {
        rc = op_rmsnorm(vctx, x, ld_x, rows, dim, norm_weight, eps, normed, ld_normed);
        if (rc != N4J_OK) return rc;
        return op_matmul(vctx, normed, ld_normed, rows, weight, y, ld_y, epilogue);
    }
    // op_matmul's arguments for the matmul half (its x: normed).
    matmul_args a;
    a.x = normed;
    a.ld_x = ld_normed;
    a.rows = rows;
    a.w = weight->data;
    a.w_dtype = dtype;
    a.n = weight->rows;
    a.k = weight->cols;
    a.scale = weight->scale;
    a.y = y;
    a.ld_y = ld_y;
    a.accumulate = epilogue == N4J_MATMUL_ACCUMULATE ? 1 : 0;
    a.relu2 = epilogue == N4J_MATMUL_RELU_SQUARED ? 1 : 0;
    a.in_scale = w8a8 ? in_scale : 0.0f;
    a.residual = epilogue != N4J_MATMUL_ADD_TO_RESIDUAL ? 0 : ctx->f32_residual() ? 2 : 1;
    const weight_ref nw = make_weight_ref(norm_weight);
    if (rows > 8) {
        norm_quant_args n;
        n.x = x;
        n.ld_x = ld_x;
        n.w = nw;
        n.eps = eps;
        n.normed = normed;
        n.ld_normed = ld_normed;
        const w8a8_quantizer quantizer = {launch_norm_quantize, &n};
        return matmul_w8a8(ctx, a, where, &quantizer);
    }
    gemv_norm_args nm;
    nm.x = x;
    nm.ld_x = ld_x;
    nm.w = nw;
    nm.eps = eps;
    nm.normed = normed;
    nm.ld_normed = ld_normed;
    if (dtype == N4J_DTYPE_F32) {
        gemv_norm_f32_launch(ctx, a, nm);
    } else if (dtype == N4J_DTYPE_BF16) {
        gemv_norm_bf16_launch(ctx, a, nm);
    } else {
        gemv_norm_f8_launch(ctx, a, nm);
    }
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
