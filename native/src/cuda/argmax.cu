/*
 * argmax.cu: out[r] = index of the largest of x[r, 0..cols), the first one on ties.
 *
 * One 512-thread block per row. Each thread scans a strided slice keeping (best value, smallest index); the
 * pairs are combined by warp shuffles and then across warps through shared memory with the same rule:
 * larger value wins, equal values keep the smaller index. NaN never compares greater, so NaNs are skipped; a row of
 * only NaN yields 0. Values are compared in fp32 (exact for bf16).
 */
#include <limits.h>

#include "argmax.cuh"
#include "common.cuh"
#include "context.cuh"

namespace n4j {
namespace cuda {

namespace {

__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
    if (ov > v || (ov == v && oi < i)) {
        v = ov;
        i = oi;
    }
}

template <typename T>
__global__ void argmax_kernel(const T* x, int64_t ld_x, int cols, int32_t* out) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const T* xr = x + static_cast<int64_t>(blockIdx.x) * ld_x;
    float v = -INFINITY;
    int idx = INT_MAX;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) better(v, idx, to_f32(xr[c]), c);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        better(v, idx, ov, oi);
    }
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    if (lane == 0) {
        sv[warp] = v;
        si[warp] = idx;
    }
    __syncthreads();
    if (warp == 0) {
        const int warps = blockDim.x >> 5;
        v = lane < warps ? sv[lane] : -INFINITY;
        idx = lane < warps ? si[lane] : INT_MAX;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, v, o);
            const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
            better(v, idx, ov, oi);
        }
        if (lane == 0) out[blockIdx.x] = idx == INT_MAX ? 0 : idx;
    }
}

}  // namespace

int32_t op_argmax(void* vctx, const void* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_argmax";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    if (ctx->act_bf16()) {
        argmax_kernel<bf16><<<static_cast<unsigned>(rows), 512, 0, ctx->stream>>>(static_cast<const bf16*>(x), ld_x,
                                                                                   cols, out);
    } else {
        argmax_kernel<float><<<static_cast<unsigned>(rows), 512, 0, ctx->stream>>>(static_cast<const float*>(x),
                                                                                    ld_x, cols, out);
    }
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
