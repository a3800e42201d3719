/*
 * elementwise.cu: the two elementwise ops of the forward pass over n contiguous activations.
 *   relu_squared: y = max(x, 0)^2          add: y = a + b         (in place allowed for both)
 * Memory-bound: when every pointer is 16-byte aligned, each thread handles 16 bytes per step (4 floats or 8
 * bf16) with a grid-stride loop; the tail (and unaligned buffers) go element by element. fp32 arithmetic, one
 * rounding to bf16 for bf16 activations. Under N4J_FLAG_F32_RESIDUAL, add takes a and y as the F32 residual
 * stream and b in bf16 (residual_add_kernel).
 */
#include "common.cuh"
#include "context.cuh"
#include "elementwise.cuh"

namespace n4j {
namespace cuda {

namespace {

struct relu2_op {
    __device__ __forceinline__ float operator()(float a, float) const {
        const float r = fmaxf(a, 0.0f);
        return r * r;
    }
};

struct add_op {
    __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};

/* Elements per 16-byte vector. */
template <typename T>
struct vec_traits {
    static constexpr int n = 16 / sizeof(T);
};

template <typename T, typename Op, bool Binary>
__global__ void elementwise_kernel(const T* a, const T* b, T* y, int64_t n, int vectorized, Op op) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    constexpr int V = vec_traits<T>::n;
    int64_t done = 0;
    if (vectorized) {
        const int64_t nv = n / V;
        for (int64_t i = tid; i < nv; i += stride) {
            uint4 va = reinterpret_cast<const uint4*>(a)[i];
            uint4 vb = Binary ? reinterpret_cast<const uint4*>(b)[i] : va;
            uint4 vy;
            const T* ea = reinterpret_cast<const T*>(&va);
            const T* eb = reinterpret_cast<const T*>(&vb);
            T* ey = reinterpret_cast<T*>(&vy);
#pragma unroll
            for (int k = 0; k < V; ++k) ey[k] = from_f32<T>(op(to_f32(ea[k]), to_f32(eb[k])));
            reinterpret_cast<uint4*>(y)[i] = vy;
        }
        done = nv * V;
    }
    for (int64_t i = done + tid; i < n; i += stride) {
        y[i] = from_f32<T>(op(to_f32(a[i]), Binary ? to_f32(b[i]) : 0.0f));
    }
}

/* y = a + b with a and y F32 (the residual stream) and b bf16 (a layer's output); in place (y == a) allowed. */
__global__ void residual_add_kernel(const float* a, const bf16* b, float* y, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        y[i] = a[i] + to_f32(b[i]);
    }
}

template <typename Op, bool Binary>
int32_t launch(context* ctx, const char* where, const void* a, const void* b, void* y, int64_t n) {
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int vectorized = host_aligned16(a) && host_aligned16(y) && (!Binary || host_aligned16(b));
    const int threads = 256;
    const int64_t per_block = static_cast<int64_t>(threads) * (ctx->act_bf16() ? 8 : 4);
    int64_t blocks = ceil_div(n, per_block);
    const int64_t cap = static_cast<int64_t>(ctx->sm_count()) * 16;
    if (blocks > cap) blocks = cap;
    if (blocks < 1) blocks = 1;
    if (ctx->act_bf16()) {
        elementwise_kernel<bf16, Op, Binary><<<static_cast<unsigned>(blocks), threads, 0, ctx->stream>>>(
            static_cast<const bf16*>(a), static_cast<const bf16*>(b), static_cast<bf16*>(y), n, vectorized, Op());
    } else {
        elementwise_kernel<float, Op, Binary><<<static_cast<unsigned>(blocks), threads, 0, ctx->stream>>>(
            static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(y), n, vectorized, Op());
    }
    return ctx->check_launch(where);
}

}  // namespace

int32_t op_relu_squared(void* vctx, const void* x, void* y, int64_t n) {
    return launch<relu2_op, false>(static_cast<context*>(vctx), "n4j_relu_squared", x, nullptr, y, n);
}

int32_t op_add(void* vctx, const void* a, const void* b, void* y, int64_t n) {
    context* ctx = static_cast<context*>(vctx);
    if (!ctx->f32_residual()) return launch<add_op, true>(ctx, "n4j_add", a, b, y, n);
    const char* where = "n4j_add";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int threads = 256;
    int64_t blocks = ceil_div(n, static_cast<int64_t>(threads) * 4);
    const int64_t cap = static_cast<int64_t>(ctx->sm_count()) * 16;
    if (blocks > cap) blocks = cap;
    if (blocks < 1) blocks = 1;
    residual_add_kernel<<<static_cast<unsigned>(blocks), threads, 0, ctx->stream>>>(
        static_cast<const float*>(a), static_cast<const bf16*>(b), static_cast<float*>(y), n);
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
