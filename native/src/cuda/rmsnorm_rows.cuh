/*
 * rmsnorm_rows.cuh: the arithmetic of n4j_rmsnorm on CUDA, shared by its own kernels (rmsnorm.cu) and by the fused
 * norm + matmul (rmsnorm_matmul.cu, the GEMV prologue of gemv.cuh), so that the fused op's inv_rms and normalized
 * elements are the same bits as the two-op sequence's:
 *   rows of dim <= kRmsWarpMaxDim: one warp per row, lane-strided fp32 sum of squares, then warp_sum;
 *   longer rows: a 256-thread block per row, thread-strided (stride blockDim.x) sum of squares, then block_sum;
 *   inv_rms = 1 / sqrtf(ss / dim + eps) (correctly rounded division and square root, as the CPU reference);
 *   out = (x * inv_rms) * weight[c], rounded once to the output type.
 * Which reduction runs depends on dim only (not on the kernel calling it): that is what makes the bits agree.
 */
#ifndef N4J_CUDA_RMSNORM_ROWS_CUH
#define N4J_CUDA_RMSNORM_ROWS_CUH

#include "common.cuh"

namespace n4j {
namespace cuda {

constexpr int kRmsWarpMaxDim = 2048;  // up to this many elements a row is reduced by one warp
constexpr int kRmsBlockThreads = 256;  // the block reduction's width (rmsnorm_block_kernel's block)

/* Sum of squares of xr[0, dim) by the 32 lanes of one warp (every lane gets the result). */
template <typename TI>
__device__ __forceinline__ float rms_sumsq_warp(const TI* xr, int dim, int lane) {
    float ss = 0.0f;
    for (int c = lane; c < dim; c += kWarp) {
        const float v = to_f32(xr[c]);
        ss += v * v;
    }
    return warp_sum(ss);
}

/* Sum of squares of xr[0, dim) by the whole block (blockDim.x == kRmsBlockThreads; every thread gets the result;
 * contains __syncthreads: call from every thread). */
template <typename TI>
__device__ __forceinline__ float rms_sumsq_block(const TI* xr, int dim, float* scratch32) {
    float ss = 0.0f;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        const float v = to_f32(xr[c]);
        ss += v * v;
    }
    return block_sum(ss, scratch32);
}

__device__ __forceinline__ float rms_inv(float ss, int dim, float eps) {
    return 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
}

/* One normalized element before its rounding to the output type. */
__device__ __forceinline__ float rms_apply(float x, float inv, float w) { return x * inv * w; }

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_RMSNORM_ROWS_CUH */
