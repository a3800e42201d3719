/*
 * gated_rmsnorm.cpp: Mamba-2's gated grouped RMSNorm (norm_before_gate = False):
 *   g = y * silu(z);  for each group of dim/groups elements: out = g / sqrt(mean_group(g^2) + eps) * weight.
 * silu(z) = z / (1 + exp(-z)). Sums of squares in F32. Elements are read before the same index is written, so
 * out may alias y or z exactly.
 * Reference: scalar with libm's expf, g recomputed in each pass. Fast: rows over the thread pool; g computed once
 * into per-thread scratch with a vectorizable exp; the weight expanded to F32 once per call.
 */
#include "cpu/gated_rmsnorm.h"

#include <math.h>

#include "cpu/dtype_scalar.h"
#include "cpu/fast_math.h"

namespace n4j {
namespace cpu {

void gated_rmsnorm_ref(const float* y, int64_t ld_y, const float* z, int64_t ld_z, int32_t rows, int32_t dim,
                       int32_t groups, const n4j_weight* weight, float eps, float* out, int64_t ld_out) {
    const int32_t group_size = dim / groups;
    for (int32_t r = 0; r < rows; ++r) {
        const float* yr = y + r * ld_y;
        const float* zr = z + r * ld_z;
        float* outr = out + r * ld_out;
        for (int32_t g = 0; g < groups; ++g) {
            const int32_t begin = g * group_size;
            float sum_sq = 0.0f;
            for (int32_t i = begin; i < begin + group_size; ++i) {
                const float gated = yr[i] * silu_ref(zr[i]);
                sum_sq += gated * gated;
            }
            const float inv_rms = 1.0f / sqrtf(sum_sq / static_cast<float>(group_size) + eps);
            for (int32_t i = begin; i < begin + group_size; ++i) {
                const float gated = yr[i] * silu_ref(zr[i]);
                outr[i] = gated * inv_rms * weight_value(weight, i);
            }
        }
    }
}

void gated_rmsnorm_fast(context* ctx, const float* y, int64_t ld_y, const float* z, int64_t ld_z, int32_t rows,
                        int32_t dim, int32_t groups, const n4j_weight* weight, float eps, float* out,
                        int64_t ld_out) {
    const int32_t group_size = dim / groups;
    float* w = static_cast<float*>(ctx->shared_scratch(sizeof(float) * static_cast<size_t>(dim)));
    weight_to_f32(weight, 0, dim, w);
    ctx->reserve_thread_scratch(sizeof(float) * static_cast<size_t>(dim));
    auto row = [&](int64_t r, int thread) {
        float* gated = static_cast<float*>(ctx->thread_scratch(thread));
        const float* yr = y + r * ld_y;
        const float* zr = z + r * ld_z;
        float* outr = out + r * ld_out;
#pragma omp simd
        for (int32_t i = 0; i < dim; ++i) gated[i] = yr[i] * silu_fast(zr[i]);
        for (int32_t g = 0; g < groups; ++g) {
            const float* gg = gated + g * group_size;
            float sum_sq = 0.0f;
#pragma omp simd reduction(+ : sum_sq)
            for (int32_t i = 0; i < group_size; ++i) sum_sq += gg[i] * gg[i];
            const float inv_rms = 1.0f / sqrtf(sum_sq / static_cast<float>(group_size) + eps);
            const float* wg = w + g * group_size;
            float* og = outr + g * group_size;
#pragma omp simd
            for (int32_t i = 0; i < group_size; ++i) og[i] = gg[i] * inv_rms * wg[i];
        }
    };
    if (static_cast<int64_t>(rows) * dim < (1 << 14)) {
        for (int64_t r = 0; r < rows; ++r) row(r, 0);
    } else {
        parallel_for(ctx->workers(), rows, row);
    }
}

}  // namespace cpu
}  // namespace n4j
