/*
 * elementwise.cpp: y = max(x, 0)^2 (the MLP's relu2; NaN gives 0) and y = a + b over n contiguous F32 elements,
 * in place allowed (same index read then written). Fast: fixed slices of 64Ki elements over the thread pool,
 * vectorized loops; bitwise identical to the reference.
 */
#include "cpu/elementwise.h"

#include "cpu/matmul.h"

namespace n4j {
namespace cpu {

namespace {
constexpr int64_t kSlice = 65536;

template <class F>
void run_slices(context* ctx, int64_t n, F&& slice) {
    const int64_t slices = (n + kSlice - 1) / kSlice;
    auto task = [&](int64_t s, int) {
        const int64_t begin = s * kSlice;
        slice(begin, begin + kSlice < n ? begin + kSlice : n);
    };
    if (slices == 1) {
        task(0, 0);
    } else {
        parallel_for(ctx->workers(), slices, task);
    }
}
}  // namespace

void relu_squared_ref(const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = relu_squared_value(x[i]);
}

void relu_squared_fast(context* ctx, const float* x, float* y, int64_t n) {
    run_slices(ctx, n, [&](int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) {
            const float r = x[i] > 0.0f ? x[i] : 0.0f;
            y[i] = r * r;
        }
    });
}

void add_ref(const float* a, const float* b, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void add_fast(context* ctx, const float* a, const float* b, float* y, int64_t n) {
    run_slices(ctx, n, [&](int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) y[i] = a[i] + b[i];
    });
}

}  // namespace cpu
}  // namespace n4j
