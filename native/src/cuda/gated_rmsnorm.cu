/*
 * gated_rmsnorm.cu: Mamba-2's gated grouped RMSNorm. g = y * silu(z); each row's `dim` elements form `groups`
 * groups of dim/groups, each normalized by its own RMS: out = g / sqrt(mean_group(g^2) + eps) * weight.
 *
 * One 128-thread block per (row, group) (9B: 8 groups of 1280). Pass 1 accumulates sum(g^2) in fp32; pass 2
 * recomputes g from y and z (cache hits) and writes the result, so nothing is staged and out may alias y.
 * silu(z) = z / (1 + exp(-z)) with expf, like the CPU reference.
 */
#include "common.cuh"
#include "context.cuh"
#include "gated_rmsnorm.cuh"

namespace n4j {
namespace cuda {

namespace {

template <typename T>
__global__ void gated_rmsnorm_kernel(const T* y, int64_t ld_y, const T* z, int64_t ld_z, int group_size,
                                     weight_ref w, float eps, T* out, int64_t ld_out) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const int c0 = blockIdx.y * group_size;
    const T* yr = y + row * ld_y + c0;
    const T* zr = z + row * ld_z + c0;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < group_size; c += blockDim.x) {
        const float g = to_f32(yr[c]) * silu(to_f32(zr[c]));
        ss += g * g;
    }
    ss = block_sum(ss, scratch);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(group_size) + eps);
    T* o = out + row * ld_out + c0;
    for (int c = threadIdx.x; c < group_size; c += blockDim.x) {
        const float g = to_f32(yr[c]) * silu(to_f32(zr[c]));
        o[c] = from_f32<T>(g * inv * w(c0 + c));
    }
}

}  // namespace

int32_t op_gated_rmsnorm(void* vctx, const void* y, int64_t ld_y, const void* z, int64_t ld_z, int32_t rows,
                         int32_t dim, int32_t groups, const n4j_weight* weight, float eps, void* out, int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_gated_rmsnorm";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    if (groups <= 0 || dim % groups != 0) {
        return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "dim %d is not a multiple of groups %d", dim, groups);
    }
    if (groups > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "more than 65535 groups");
    const weight_ref w = make_weight_ref(weight);
    const int group_size = dim / groups;
    const int threads = group_size >= 1024 ? 256 : 128;
    dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(groups));
    if (ctx->act_bf16()) {
        gated_rmsnorm_kernel<bf16><<<grid, threads, 0, ctx->stream>>>(
            static_cast<const bf16*>(y), ld_y, static_cast<const bf16*>(z), ld_z, group_size, w, eps,
            static_cast<bf16*>(out), ld_out);
    } else {
        gated_rmsnorm_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            static_cast<const float*>(y), ld_y, static_cast<const float*>(z), ld_z, group_size, w, eps,
            static_cast<float*>(out), ld_out);
    }
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
