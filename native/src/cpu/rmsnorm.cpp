/*
 * rmsnorm.cpp: out[r, i] = x[r, i] * (1 / sqrt(mean_i(x[r, i]^2) + eps)) * weight[i].
 * The sum of squares is accumulated in F32; each row is read completely before it is written, so out == x
 * (in place) works. Reference: scalar. Fast: the weight is expanded to F32 once per call, rows are spread over the
 * thread pool in fixed blocks, the sum of squares is a vectorized reduction (differs from the reference only in
 * the order of additions).
 */
#include "cpu/rmsnorm.h"

#include <math.h>

#include "cpu/dtype_scalar.h"

namespace n4j {
namespace cpu {

void rmsnorm_ref(const float* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight, float eps,
                 float* out, int64_t ld_out) {
    for (int32_t r = 0; r < rows; ++r) {
        const float* xr = x + r * ld_x;
        float* yr = out + r * ld_out;
        float sum_sq = 0.0f;
        for (int32_t i = 0; i < dim; ++i) sum_sq += xr[i] * xr[i];
        const float inv_rms = 1.0f / sqrtf(sum_sq / static_cast<float>(dim) + eps);
        for (int32_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv_rms * weight_value(weight, i);
    }
}

void rmsnorm_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight,
                  float eps, float* out, int64_t ld_out) {
    float* w = static_cast<float*>(ctx->shared_scratch(sizeof(float) * static_cast<size_t>(dim)));
    weight_to_f32(weight, 0, dim, w);
    const int32_t rows_per_task = dim >= 4096 ? 1 : 4096 / dim;
    const int64_t tasks = (rows + rows_per_task - 1) / rows_per_task;
    auto block = [&](int64_t t, int) {
        const int32_t r0 = static_cast<int32_t>(t) * rows_per_task;
        const int32_t r1 = r0 + rows_per_task < rows ? r0 + rows_per_task : rows;
        for (int32_t r = r0; r < r1; ++r) {
            const float* xr = x + r * ld_x;
            float* yr = out + r * ld_out;
            float sum_sq = 0.0f;
#pragma omp simd reduction(+ : sum_sq)
            for (int32_t i = 0; i < dim; ++i) sum_sq += xr[i] * xr[i];
            const float inv_rms = 1.0f / sqrtf(sum_sq / static_cast<float>(dim) + eps);
#pragma omp simd
            for (int32_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv_rms * w[i];
        }
    };
    if (static_cast<int64_t>(rows) * dim < (1 << 15)) {
        for (int64_t t = 0; t < tasks; ++t) block(t, 0);
    } else {
        parallel_for(ctx->workers(), tasks, block);
    }
}

}  // namespace cpu
}  // namespace n4j
