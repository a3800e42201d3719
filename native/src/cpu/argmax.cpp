/*
 * argmax.cpp: out[r] = the first index of the largest value of row r. NaNs are skipped; a row of NaNs gives 0.
 * Reference: one scalar pass. Fast: two vectorizable passes per row (the maximum over non-NaN values, then the
 * first index holding it), rows over the thread pool; the same answer as the reference in every case.
 */
#include "cpu/argmax.h"

#include <math.h>

namespace n4j {
namespace cpu {

void argmax_ref(const float* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out) {
    for (int32_t r = 0; r < rows; ++r) {
        const float* xr = x + r * ld_x;
        int32_t best = -1;
        for (int32_t c = 0; c < cols; ++c) {
            if (isnan(xr[c])) continue;
            if (best < 0 || xr[c] > xr[best]) best = c;
        }
        out[r] = best < 0 ? 0 : best;
    }
}

void argmax_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out) {
    auto row = [&](int64_t r, int) {
        const float* xr = x + r * ld_x;
        float max_value = -INFINITY;
#pragma omp simd reduction(max : max_value)
        for (int32_t c = 0; c < cols; ++c) max_value = xr[c] > max_value ? xr[c] : max_value;
        int32_t best = 0;
        for (int32_t c = 0; c < cols; ++c) {
            if (xr[c] == max_value) {
                best = c;
                break;
            }
        }
        out[r] = best;
    };
    if (static_cast<int64_t>(rows) * cols < (1 << 16)) {
        for (int64_t r = 0; r < rows; ++r) row(r, 0);
    } else {
        parallel_for(ctx->workers(), rows, row);
    }
}

}  // namespace cpu
}  // namespace n4j
