/*
 * embedding.cpp: out[i, :] = table[ids[i], :] * table.scale, the row expanded to F32 (BF16 exactly, E4M3 through
 * its table, then one F32 multiply by the scale). The ids were range-checked by the dispatch layer.
 * Reference: element by element. Fast: rows spread over the thread pool (one task per id), vectorizable row
 * conversion; bitwise identical to the reference.
 */
#include "cpu/embedding.h"

#include "cpu/dtype_scalar.h"

namespace n4j {
namespace cpu {

void embedding_ref(const n4j_weight* table, const int32_t* ids, int32_t n, float* out, int64_t ld_out) {
    const int64_t cols = table->cols;
    for (int32_t i = 0; i < n; ++i) {
        const int64_t base = static_cast<int64_t>(ids[i]) * cols;
        for (int64_t c = 0; c < cols; ++c) out[i * ld_out + c] = weight_value(table, base + c);
    }
}

void embedding_fast(context* ctx, const n4j_weight* table, const int32_t* ids, int32_t n, float* out,
                    int64_t ld_out) {
    const int64_t cols = table->cols;
    auto row = [&](int64_t i, int) {
        weight_to_f32(table, static_cast<int64_t>(ids[i]) * cols, cols, out + i * ld_out);
    };
    if (static_cast<int64_t>(n) * cols < (1 << 16)) {
        for (int64_t i = 0; i < n; ++i) row(i, 0);
    } else {
        parallel_for(ctx->workers(), n, row);
    }
}

}  // namespace cpu
}  // namespace n4j
