/*
 * attention_prefill.cu: n4j_attention_prefill. Stages the cache's block tables, writes the new tokens' K and V into
 * the cache at positions [length, length + tokens) (attention_kv.cu), then runs one flash-attention kernel over the
 * cache for every query token i (keys [0, length + i]):
 *   BF16 activations and 32 < head_dim <= 128 -> tensor cores (attention_prefill_mma.cuh, D = 64 or 128)
 *   otherwise (F32 activations: exact fp32; small head dims; N4J_CUDA_NO_MMA=1) -> CUDA cores
 *                                                          (attention_prefill_simt.cuh)
 * A cache may hold F32 or BF16; head_dim up to 128 (larger: N4J_ERR_UNSUPPORTED). cache.length is not changed.
 */
#include <math.h>

#include "attention.cuh"

namespace n4j {
namespace cuda {

int32_t op_attention_prefill(void* vctx, const n4j_attn_dims* dims, int32_t tokens, const void* q, int64_t ld_q,
                             const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* cache,
                             void* out, int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_attention_prefill";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int hd = dims->head_dim;
    if (dims->kv_heads <= 0 || dims->heads % dims->kv_heads != 0) {
        return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "heads %d not a multiple of kv_heads %d", dims->heads,
                         dims->kv_heads);
    }
    if (hd > 128) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "head_dim %d (at most 128 on CUDA)", hd);
    if (dims->heads > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "more than 65535 heads");
    kv_staged kv;
    rc = stage_kv_caches(ctx, cache, 1, tokens, hd, &kv, where);
    if (rc != N4J_OK || ctx->replaying()) return rc;  // a replayed decode step: the graph launches the kernels
    launch_kv_write(ctx, kv, tokens, tokens, k, ld_k, v, ld_v, dims->kv_heads, hd);
    rc = ctx->check_launch(where);
    if (rc != N4J_OK) return rc;

    attn_prefill_args a;
    a.heads = dims->heads;
    a.kv_heads = dims->kv_heads;
    a.head_dim = hd;
    a.tokens = tokens;
    a.scale_log2 = dims->scale * 1.4426950408889634f;
    a.q = q;
    a.ld_q = ld_q;
    a.out = out;
    a.ld_out = ld_out;
    a.act_bf16 = ctx->act_bf16() ? 1 : 0;
    a.seqs = kv.seqs;
    a.tables = kv.tables;
    a.kv_vec = kv.vec;
    const int kv_dtype = cache->dtype;

    if (ctx->act_bf16() && hd > 32 && !ctx->no_mma) {
        rc = hd <= 64 ? attn_prefill_mma_hd64(ctx, a, kv_dtype) : attn_prefill_mma_hd128(ctx, a, kv_dtype);
    } else if (hd <= 16) {
        rc = attn_prefill_simt_hd16(ctx, a, kv_dtype);
    } else if (hd <= 32) {
        rc = attn_prefill_simt_hd32(ctx, a, kv_dtype);
    } else if (hd <= 64) {
        rc = attn_prefill_simt_hd64(ctx, a, kv_dtype);
    } else {
        rc = attn_prefill_simt_hd128(ctx, a, kv_dtype);
    }
    if (rc != N4J_OK) return rc;
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
