/*
 * attention.cpp: causal GQA attention over a paged KV cache, no positional encoding.
 *
 * Query head h reads KV head h / (heads / kv_heads). The cache holds position p in block p / block_tokens at row
 * p % block_tokens, each row [kv_heads][head_dim] in F32 or BF16 (BF16 stored with round-to-nearest-even). A call
 * first writes the new tokens' K and V rows at positions [length, length + tokens), then token i attends to
 * positions [0, length + i] reading K and V back from the cache (so a prefill followed by decode sees exactly
 * the values a longer prefill would):
 *   out = sum_j softmax_j(scale * q . k_j) * v_j
 * F32 accumulation. Softmax is stabilized by subtracting the maximum score, so every exp argument is <= 0.
 *
 * Reference: per (token, head) two passes: all scores and their maximum, then exp, sum and weighted sum of V.
 * Fast: online softmax (running maximum m, running sum l, accumulator rescaled by exp(m_old - m_new) when the
 * maximum grows) over segments of up to 64 positions that never cross a cache block. A task is one KV head and a
 * tile of query tokens (all the query heads that share the KV head), so each K/V segment is converted from BF16
 * once and reused by every query row of the tile; tiles with more positions are handed out first. Decode splits
 * each sequence's positions into chunks instead (flash-decoding: 64 positions at least, 64 to 127 chunks from 4096
 * positions on, fixed by the sequence's length), one task per (sequence, chunk) computing every head over rows read in memory order, and
 * merges the chunks' partial softmax states in order. The fast body (attention_fast.inc) is compiled for the baseline ISA,
 * for AVX2+FMA (attention_avx2.cpp) and for AVX-512 (attention_avx512bf16.cpp: a 16-lane decode chunk whose segment
 * scores are one vector, and in fast precision, N4J_FLAG_BF16_MATMUL on a BF16 cache, a decode chunk of BF16 dot
 * products straight from the cache rows); the launcher picks by the CPU.
 */
#include "cpu/attention.h"

#include <math.h>

#include <vector>

#include "cpu/dtype_scalar.h"
#include "cpu/fast_math.h"
#include "cpu/kv_cache_layout.h"
#include "cpu/simd_kernels.h"
#include "cpu/simd_vec.h"

namespace n4j {
namespace cpu {

namespace {

inline void store_row(char* dst, int32_t dtype, const float* src, int32_t D) {
    if (dtype == N4J_DTYPE_BF16) {
        uint16_t* d = reinterpret_cast<uint16_t*>(dst);
        for (int32_t i = 0; i < D; ++i) d[i] = f32_to_bf16(src[i]);
    } else {
        float* d = reinterpret_cast<float*>(dst);
        for (int32_t i = 0; i < D; ++i) d[i] = src[i];
    }
}

inline void load_row(const char* src, int32_t dtype, float* dst, int32_t D) {
    if (dtype == N4J_DTYPE_BF16) {
        const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
        for (int32_t i = 0; i < D; ++i) dst[i] = bf16_to_f32(s[i]);
    } else {
        const float* s = reinterpret_cast<const float*>(src);
        for (int32_t i = 0; i < D; ++i) dst[i] = s[i];
    }
}

/* Writes K and V of `tokens` new tokens at positions [cache->length, cache->length + tokens). */
void write_cache(const n4j_attn_dims* dims, int32_t tokens, const float* k, int64_t ld_k, const float* v,
                 int64_t ld_v, const n4j_kv_cache* cache) {
    const int32_t KVH = dims->kv_heads, D = dims->head_dim;
    for (int32_t t = 0; t < tokens; ++t) {
        const int64_t pos = static_cast<int64_t>(cache->length) + t;
        for (int32_t j = 0; j < KVH; ++j) {
            store_row(kv_row(cache->k_blocks, cache, KVH, D, pos, j), cache->dtype, k + t * ld_k + j * D, D);
            store_row(kv_row(cache->v_blocks, cache, KVH, D, pos, j), cache->dtype, v + t * ld_v + j * D, D);
        }
    }
}

}  // namespace

/* ---------------------------------------------------------------- reference ---- */

void attention_prefill_ref(const n4j_attn_dims* dims, int32_t tokens, const float* q, int64_t ld_q, const float* k,
                           int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* cache, float* out,
                           int64_t ld_out) {
    const int32_t H = dims->heads, KVH = dims->kv_heads, D = dims->head_dim;
    const int32_t group = H / KVH;
    write_cache(dims, tokens, k, ld_k, v, ld_v, cache);
    const int64_t max_positions = static_cast<int64_t>(cache->length) + tokens;
    std::vector<float> scores(static_cast<size_t>(max_positions)), row(static_cast<size_t>(D)),
        acc(static_cast<size_t>(D));
    for (int32_t t = 0; t < tokens; ++t) {
        const int64_t positions = static_cast<int64_t>(cache->length) + t + 1;
        for (int32_t h = 0; h < H; ++h) {
            const int32_t kvh = h / group;
            const float* qh = q + t * ld_q + static_cast<int64_t>(h) * D;
            float max_score = -INFINITY;
            for (int64_t j = 0; j < positions; ++j) {
                load_row(kv_row(cache->k_blocks, cache, KVH, D, j, kvh), cache->dtype, row.data(), D);
                float dot = 0.0f;
                for (int32_t d = 0; d < D; ++d) dot += qh[d] * row[d];
                scores[j] = dot * dims->scale;
                if (scores[j] > max_score) max_score = scores[j];
            }
            float sum = 0.0f;
            for (int32_t d = 0; d < D; ++d) acc[d] = 0.0f;
            for (int64_t j = 0; j < positions; ++j) {
                const float p = expf(scores[j] - max_score);
                sum += p;
                load_row(kv_row(cache->v_blocks, cache, KVH, D, j, kvh), cache->dtype, row.data(), D);
                for (int32_t d = 0; d < D; ++d) acc[d] += p * row[d];
            }
            float* oh = out + t * ld_out + static_cast<int64_t>(h) * D;
            for (int32_t d = 0; d < D; ++d) oh[d] = acc[d] / sum;
        }
    }
}

void attention_decode_ref(const n4j_attn_dims* dims, int32_t batch, const float* q, int64_t ld_q, const float* k,
                          int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* caches, float* out,
                          int64_t ld_out) {
    for (int32_t b = 0; b < batch; ++b) {
        attention_prefill_ref(dims, 1, q + b * ld_q, ld_q, k + b * ld_k, ld_k, v + b * ld_v, ld_v, &caches[b],
                              out + b * ld_out, ld_out);
    }
}

/* --------------------------------------------------------------------- fast ---- */

#define N4J_SIMD_NAMESPACE generic
#include "cpu/attention_fast.inc"
#undef N4J_SIMD_NAMESPACE

namespace {

typedef void (*attention_tile_fn)(const n4j_attn_dims*, const n4j_kv_cache*, int32_t, const float*, int64_t, float*,
                                  int64_t, int32_t, int32_t, void*);

attention_tile_fn pick_tile(const context* ctx) {
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
    if (ctx->simd >= SIMD_AVX512_BF16) return avx512::attention_tile;
#endif
    return ctx->simd >= SIMD_AVX2 ? avx2::attention_tile : generic::attention_tile;
}

}  // namespace

void attention_prefill_fast(context* ctx, const n4j_attn_dims* dims, int32_t tokens, const float* q, int64_t ld_q,
                            const float* k, int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* cache,
                            float* out, int64_t ld_out) {
    const int32_t KVH = dims->kv_heads, D = dims->head_dim;
    const int32_t group = dims->heads / KVH;
    write_cache(dims, tokens, k, ld_k, v, ld_v, cache);
    const attention_tile_fn attend = pick_tile(ctx);

    int32_t tile_tokens = 64 / group;
    if (tile_tokens < 1) tile_tokens = 1;
    if (tile_tokens > tokens) tile_tokens = tokens;
    const int32_t tiles = (tokens + tile_tokens - 1) / tile_tokens;
    const int32_t rows = tile_tokens * group;
    ctx->reserve_thread_scratch(generic::attention_tile_scratch_bytes(rows, D));
    auto task = [&](int64_t i, int thread) {
        // Later tiles attend to more positions: hand them out first.
        const int32_t tile = tiles - 1 - static_cast<int32_t>(i / KVH);
        const int32_t kvh = static_cast<int32_t>(i % KVH);
        const int32_t t0 = tile * tile_tokens;
        const int32_t t1 = t0 + tile_tokens < tokens ? t0 + tile_tokens : tokens;
        attend(dims, cache, kvh, q, ld_q, out, ld_out, t0, t1, ctx->thread_scratch(thread));
    };
    const int64_t tasks = static_cast<int64_t>(tiles) * KVH;
    const int64_t work = static_cast<int64_t>(tokens) * dims->heads * D * (cache->length + tokens);
    if (work < (1 << 15)) {
        for (int64_t i = 0; i < tasks; ++i) task(i, 0);
    } else {
        parallel_for(ctx->workers(), tasks, task);
    }
}

/* Positions per decode chunk for a sequence that attends to `positions` positions: a multiple of 64, at least 64, and
 * small enough that 64 x 64 positions or more give at least 64 chunks (32-64 cores busy on one long sequence; at most
 * 127 chunks). A function of the sequence alone, so results do not depend on the thread count or on the other
 * sequences. */
static int64_t decode_chunk_positions(int64_t positions) {
    const int64_t target_chunks = 64, min_chunk = 64;
    const int64_t chunk = positions / target_chunks / min_chunk * min_chunk;
    return chunk < min_chunk ? min_chunk : chunk;
}

void attention_decode_fast(context* ctx, const n4j_attn_dims* dims, int32_t batch, const float* q, int64_t ld_q,
                           const float* k, int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* caches,
                           float* out, int64_t ld_out) {
    const int32_t H = dims->heads, D = dims->head_dim;
    const int64_t ld_part = D + 2;
    // One task's partial states, rounded up to whole cache lines so tasks on different threads never share one.
    const int64_t part_floats = (static_cast<int64_t>(H) * ld_part + 15) & ~int64_t(15);
    // Tasks: (sequence, chunk of positions); each leaves a partial softmax state per head, merged below in chunk
    // order.
    std::vector<int64_t>& first_task = ctx->decode_first_task;
    first_task.assign(static_cast<size_t>(batch) + 1, 0);
    int64_t work = 0;
    for (int32_t b = 0; b < batch; ++b) {
        write_cache(dims, 1, k + b * ld_k, ld_k, v + b * ld_v, ld_v, &caches[b]);
        const int64_t positions = static_cast<int64_t>(caches[b].length) + 1;
        const int64_t chunk = decode_chunk_positions(positions);
        first_task[static_cast<size_t>(b) + 1] = first_task[static_cast<size_t>(b)] + (positions + chunk - 1) / chunk;
        work += static_cast<int64_t>(H) * D * positions;
    }
    const int64_t tasks = first_task[static_cast<size_t>(batch)];
    float* parts = static_cast<float*>(ctx->shared_scratch(sizeof(float) * static_cast<size_t>(tasks * part_floats)));
    const bool simd = ctx->simd >= SIMD_AVX2;
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
    const bool avx512 = ctx->simd >= SIMD_AVX512_BF16;
    // fast precision on a BF16 cache: the BF16 dot-product chunk (head_dim a multiple of 32)
    const bool bf16dot = avx512 && ctx->bf16_matmul && D % 32 == 0;
    if (avx512) {
        const size_t f32 = avx512::attention_decode_scratch_bytes(H, dims->kv_heads, D);
        const size_t bf16 = bf16dot ? avx512::attention_decode_bf16_scratch_bytes(H, D) : 0;
        ctx->reserve_thread_scratch(f32 > bf16 ? f32 : bf16);
    } else {
        ctx->reserve_thread_scratch(generic::attention_decode_scratch_bytes(H, dims->kv_heads, D));
    }
#else
    const bool avx512 = false;
    ctx->reserve_thread_scratch(generic::attention_decode_scratch_bytes(H, dims->kv_heads, D));
#endif
    auto task = [&](int64_t t, int thread) {
        int32_t b = 0;
        while (first_task[static_cast<size_t>(b) + 1] <= t) ++b;
        const int64_t positions = static_cast<int64_t>(caches[b].length) + 1;
        const int64_t chunk = decode_chunk_positions(positions);
        const int64_t p0 = (t - first_task[static_cast<size_t>(b)]) * chunk;
        const int64_t p1 = p0 + chunk < positions ? p0 + chunk : positions;
        float* part = parts + t * part_floats;
        if (avx512) {
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
            if (bf16dot && caches[b].dtype == N4J_DTYPE_BF16) {
                avx512::attention_decode_chunk_bf16(dims, &caches[b], q + b * ld_q, p0, p1, part,
                                                    ctx->thread_scratch(thread), ctx->bf16_dot_by_fma);
            } else {
                avx512::attention_decode_chunk(dims, &caches[b], q + b * ld_q, p0, p1, part, ctx->thread_scratch(thread));
            }
#endif
        } else if (simd) {
            avx2::attention_decode_chunk(dims, &caches[b], q + b * ld_q, p0, p1, part, ctx->thread_scratch(thread));
        } else {
            generic::attention_decode_chunk(dims, &caches[b], q + b * ld_q, p0, p1, part, ctx->thread_scratch(thread));
        }
    };
    if (work < (1 << 15)) {
        for (int64_t t = 0; t < tasks; ++t) task(t, 0);
    } else {
        parallel_for(ctx->workers(), tasks, task);
    }
    // Merge each head's chunks (attention_decode_merge, at the chunks' SIMD width): tasks of (sequence, head, 32
    // columns).
    const int32_t col_blocks = (D + 31) / 32;
    auto merge = [&](int64_t i, int) {
        const int32_t c = static_cast<int32_t>(i % col_blocks);
        const int32_t h = static_cast<int32_t>(i / col_blocks % H), b = static_cast<int32_t>(i / col_blocks / H);
        const int64_t t0 = first_task[static_cast<size_t>(b)], t1 = first_task[static_cast<size_t>(b) + 1];
        const int32_t d0 = 32 * c, d1 = d0 + 32 < D ? d0 + 32 : D;
        float* oh = out + b * ld_out + static_cast<int64_t>(h) * D;
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
        if (avx512) {
            avx512::attention_decode_merge(parts, part_floats, t0, t1, h, D, d0, d1, oh);
            return;
        }
#endif
        if (simd) {
            avx2::attention_decode_merge(parts, part_floats, t0, t1, h, D, d0, d1, oh);
        } else {
            generic::attention_decode_merge(parts, part_floats, t0, t1, h, D, d0, d1, oh);
        }
    };
    const int64_t merges = static_cast<int64_t>(batch) * H * col_blocks;
    if (tasks * H * D < (1 << 16)) {
        for (int64_t i = 0; i < merges; ++i) merge(i, 0);
    } else {
        parallel_for(ctx->workers(), merges, merge);
    }
}

}  // namespace cpu
}  // namespace n4j
