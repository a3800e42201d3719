/*
 * rmsnorm.cu: out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight.
 *
 * Rows of up to 2048 elements get one warp each (4 rows per 128-thread block); longer rows get a 256-thread block.
 * Pass 1 reduces sum(x^2) in fp32 (per-thread partial sums, then shuffles / shared memory); pass 2 re-reads the row
 * (an L1/L2 hit) and writes x * (1/sqrt(ms + eps)) * w. The reciprocal square root is computed with 1.0f/sqrtf
 * (correctly rounded), as the CPU reference does. In place (out == x) is safe: each element is read before written.
 * Under N4J_FLAG_F32_RESIDUAL the input is the F32 residual stream and the output BF16 (TI = float, TO = bf16).
 * The reductions and the element formula live in rmsnorm_rows.cuh, shared with the fused norm + matmul
 * (rmsnorm_matmul.cu), which must reproduce these bits.
 */
#include "common.cuh"
#include "context.cuh"
#include "rmsnorm.cuh"
#include "rmsnorm_rows.cuh"

namespace n4j {
namespace cuda {

namespace {

template <typename TI, typename TO>
__global__ void rmsnorm_warp_kernel(const TI* x, int64_t ld_x, int rows, int dim, weight_ref w, float eps, TO* out,
                                    int64_t ld_out) {
    const int row = blockIdx.x * (blockDim.x / kWarp) + threadIdx.x / kWarp;
    const int lane = threadIdx.x % kWarp;
    if (row >= rows) return;
    const TI* xr = x + row * ld_x;
    const float inv = rms_inv(rms_sumsq_warp(xr, dim, lane), dim, eps);
    TO* o = out + row * ld_out;
    for (int c = lane; c < dim; c += kWarp) o[c] = from_f32<TO>(rms_apply(to_f32(xr[c]), inv, w(c)));
}

template <typename TI, typename TO>
__global__ void rmsnorm_block_kernel(const TI* x, int64_t ld_x, int dim, weight_ref w, float eps, TO* out,
                                     int64_t ld_out) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const TI* xr = x + row * ld_x;
    const float inv = rms_inv(rms_sumsq_block(xr, dim, scratch), dim, eps);
    TO* o = out + row * ld_out;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) o[c] = from_f32<TO>(rms_apply(to_f32(xr[c]), inv, w(c)));
}

template <typename TI, typename TO>
void launch(context* ctx, const void* x, int64_t ld_x, int rows, int dim, weight_ref w, float eps, void* out,
            int64_t ld_out) {
    const TI* xt = static_cast<const TI*>(x);
    TO* ot = static_cast<TO*>(out);
    if (dim <= kRmsWarpMaxDim) {
        const int rows_per_block = 4;
        rmsnorm_warp_kernel<TI, TO><<<static_cast<unsigned>(ceil_div(rows, rows_per_block)), rows_per_block * kWarp,
                                      0, ctx->stream>>>(xt, ld_x, rows, dim, w, eps, ot, ld_out);
    } else {
        rmsnorm_block_kernel<TI, TO><<<static_cast<unsigned>(rows), kRmsBlockThreads, 0, ctx->stream>>>(
            xt, ld_x, dim, w, eps, ot, ld_out);
    }
}

}  // namespace

int32_t op_rmsnorm(void* vctx, const void* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight,
                   float eps, void* out, int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_rmsnorm";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const weight_ref w = make_weight_ref(weight);
    if (ctx->f32_residual()) {
        launch<float, bf16>(ctx, x, ld_x, rows, dim, w, eps, out, ld_out);
    } else if (ctx->act_bf16()) {
        launch<bf16, bf16>(ctx, x, ld_x, rows, dim, w, eps, out, ld_out);
    } else {
        launch<float, float>(ctx, x, ld_x, rows, dim, w, eps, out, ld_out);
    }
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
