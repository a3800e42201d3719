/*
 * gemm_simt.cu: the prefill matmul on CUDA cores for F32 weights (they occur in tests and converted checkpoints,
 * not in the shipped bf16/fp8 models, so this path favours exactness over speed), and for every weight dtype when
 * the environment sets N4J_CUDA_NO_MMA=1 (a debugging switch: the exact fp32 result to compare the tensor-core
 * kernels with).
 *
 * Classic shared-memory tiling: block tile 64 (rows) x 64 (features) x 16 (K), 256 threads in a 16 x 16 grid, each
 * thread accumulating a 4 x 4 sub-tile whose rows/columns are strided by 16 (conflict-free shared loads). Both
 * operands are stored k-major in shared memory. fp32 FMA throughout; the epilogue applies the scale, adds y when
 * accumulating and rounds once. Any shape and alignment (element loads with bounds checks).
 */
#include "common.cuh"
#include "matmul.cuh"

namespace n4j {
namespace cuda {

namespace {

constexpr int TM = 64;
constexpr int TN = 64;
constexpr int TK = 16;

template <typename XT>
__global__ void __launch_bounds__(256) gemm_simt_kernel(matmul_args a) {
    __shared__ float as[TK][TM + 4];
    __shared__ float bs[TK][TN + 4];
    const int tx = threadIdx.x & 15;
    const int ty = threadIdx.x >> 4;
    const int m0 = blockIdx.y * TM;
    const int n0 = blockIdx.x * TN;
    const XT* x = static_cast<const XT*>(a.x);
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < a.k; k0 += TK) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int e = threadIdx.x + 256 * i;
            const int r = e / TK;
            const int kk = e % TK;
            const int gk = k0 + kk;
            const int gm = m0 + r;
            const int gn = n0 + r;
            as[kk][r] = (gm < a.rows && gk < a.k) ? to_f32(x[static_cast<int64_t>(gm) * a.ld_x + gk]) : 0.0f;
            bs[kk][r] = (gn < a.n && gk < a.k) ? weight_raw(a.w, a.w_dtype, static_cast<int64_t>(gn) * a.k + gk) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TK; ++kk) {
            float av[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) av[i] = as[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }
    XT* y = static_cast<XT*>(a.y);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int row = m0 + ty + 16 * i;
        if (row >= a.rows) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int col = n0 + tx + 16 * j;
            if (col >= a.n) continue;
            XT* p = y + static_cast<int64_t>(row) * a.ld_y + col;
            matmul_store(a, p, acc[i][j] * a.scale);
        }
    }
}

}  // namespace

void gemm_simt_launch(context* ctx, const matmul_args& a) {
    const dim3 grid(static_cast<unsigned>(ceil_div(a.n, TN)), static_cast<unsigned>(ceil_div(a.rows, TM)));
    if (ctx->act_bf16()) {
        gemm_simt_kernel<bf16><<<grid, 256, 0, ctx->stream>>>(a);
    } else {
        gemm_simt_kernel<float><<<grid, 256, 0, ctx->stream>>>(a);
    }
}

}  // namespace cuda
}  // namespace n4j
