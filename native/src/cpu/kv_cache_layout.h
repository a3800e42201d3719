/*
 * kv_cache_layout.h: where a position of a paged KV cache lives (see n4j_kv_cache in nemotron4j.h): block
 * pos / block_tokens, row pos % block_tokens of [block_tokens, kv_heads, head_dim] in the cache dtype.
 * `static inline`: safe to include from translation units compiled for different SIMD levels.
 */
#ifndef N4J_CPU_KV_CACHE_LAYOUT_H
#define N4J_CPU_KV_CACHE_LAYOUT_H

#include <stdint.h>

#include "cpu/dtype_scalar.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

/* Address of position `pos`, KV head `kvh` in a block table. */
static inline char* kv_row(void* const* blocks, const n4j_kv_cache* cache, int32_t kv_heads, int32_t D, int64_t pos,
                    int32_t kvh) {
    const int64_t block = pos / cache->block_tokens;
    const int64_t row = pos % cache->block_tokens;
    const int64_t element = (row * kv_heads + kvh) * D;
    return static_cast<char*>(blocks[block]) + element * dtype_size(cache->dtype);
}

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_KV_CACHE_LAYOUT_H */
