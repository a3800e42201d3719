/* attention.h: n4j_attention_prefill / n4j_attention_decode on the CPU (see attention.cpp). */
#ifndef N4J_CPU_ATTENTION_H
#define N4J_CPU_ATTENTION_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

void attention_prefill_ref(const n4j_attn_dims* dims, int32_t tokens, const float* q, int64_t ld_q, const float* k,
                           int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* cache, float* out,
                           int64_t ld_out);
void attention_prefill_fast(context* ctx, const n4j_attn_dims* dims, int32_t tokens, const float* q, int64_t ld_q,
                            const float* k, int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* cache,
                            float* out, int64_t ld_out);
void attention_decode_ref(const n4j_attn_dims* dims, int32_t batch, const float* q, int64_t ld_q, const float* k,
                          int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* caches, float* out,
                          int64_t ld_out);
void attention_decode_fast(context* ctx, const n4j_attn_dims* dims, int32_t batch, const float* q, int64_t ld_q,
                           const float* k, int64_t ld_k, const float* v, int64_t ld_v, const n4j_kv_cache* caches,
                           float* out, int64_t ld_out);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_ATTENTION_H */
