/*
 * attention_kv.cu: staging of KV cache descriptors and block tables, and the K/V cache write shared by attention
 * prefill and decode (see attention.cuh for the layout).
 *
 * The write converts each new K/V element from the activation dtype to the cache dtype (BF16 rounds to nearest
 * even) and stores it at position length + token of its sequence; one thread per element, one grid row per token.
 */
#include <string.h>

#include "attention.cuh"

namespace n4j {
namespace cuda {

namespace {

__global__ void kv_write_kernel(const kv_seq* seqs, void* const* tables, int rows_per_seq, const void* k,
                                int64_t ld_k, const void* v, int64_t ld_v, int kv_heads, int head_dim, int act_bf16) {
    const int r = blockIdx.x;
    const int width = kv_heads * head_dim;
    const int e = blockIdx.y * blockDim.x + threadIdx.x;
    if (e >= width) return;
    const kv_seq s = seqs[r / rows_per_seq];
    const int pos = s.length + r % rows_per_seq;
    const int b = pos / s.block_tokens;
    if (b >= s.n_blocks) return;
    const int64_t off = static_cast<int64_t>(pos - b * s.block_tokens) * width + e;
    const float kv_k = load_act(k, act_bf16, r * ld_k + e);
    const float kv_v = load_act(v, act_bf16, r * ld_v + e);
    void* kb = tables[s.table + b];
    void* vb = tables[s.table + s.n_blocks + b];
    if (s.dtype == N4J_DTYPE_BF16) {
        static_cast<bf16*>(kb)[off] = __float2bfloat16_rn(kv_k);
        static_cast<bf16*>(vb)[off] = __float2bfloat16_rn(kv_v);
    } else {
        static_cast<float*>(kb)[off] = kv_k;
        static_cast<float*>(vb)[off] = kv_v;
    }
}

}  // namespace

int32_t stage_kv_caches(context* ctx, const n4j_kv_cache* caches, int batch, int new_tokens, int head_dim,
                        kv_staged* out, const char* where) {
    const bool step = ctx->in_step();
    const int max_context = ctx->step_max_context;
    int64_t pointers = 0;
    for (int b = 0; b < batch; ++b) {
        const n4j_kv_cache& c = caches[b];
        if (c.block_tokens <= 0) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "cache %d: block_tokens %d", b, c.block_tokens);
        if (c.dtype != N4J_DTYPE_F32 && c.dtype != N4J_DTYPE_BF16) {
            return ctx->fail(N4J_ERR_UNSUPPORTED, where, "cache %d: KV dtype %d (F32 or BF16 expected)", b, c.dtype);
        }
        if (c.n_blocks < 0 || c.length < 0) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "cache %d: negative size", b);
        if (step) {
            if (static_cast<int64_t>(c.length) + new_tokens > max_context) {
                return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where,
                                 "cache %d: %d cached + %d new tokens exceed the decode step's max_context %d", b,
                                 c.length, new_tokens, max_context);
            }
            pointers += 2 * ceil_div(static_cast<int64_t>(max_context), c.block_tokens);
            ctx->step_note(static_cast<uint64_t>(c.block_tokens) << 8 | static_cast<uint64_t>(c.dtype));
        } else {
            pointers += 2 * static_cast<int64_t>(c.n_blocks);
        }
    }
    const size_t desc_bytes = align256(static_cast<size_t>(batch) * sizeof(kv_seq));
    const size_t bytes = desc_bytes + static_cast<size_t>(pointers) * sizeof(void*);
    staged st;
    int32_t rc = ctx->stage(bytes, &st, where);
    if (rc != N4J_OK) return rc;
    kv_seq* seqs = static_cast<kv_seq*>(st.host);
    void** tables = reinterpret_cast<void**>(static_cast<char*>(st.host) + desc_bytes);
    int vec = head_dim % 8 == 0;
    out->has_f32 = 0;
    out->has_bf16 = 0;
    out->max_length = 0;
    int64_t next = 0;
    for (int b = 0; b < batch; ++b) {
        const n4j_kv_cache& c = caches[b];
        // In a step every table has the room of max_context tokens (fixed offsets); blocks beyond are not needed.
        const int room = step ? static_cast<int>(ceil_div(static_cast<int64_t>(max_context), c.block_tokens))
                              : c.n_blocks;
        const int n_blocks = c.n_blocks < room ? c.n_blocks : room;
        seqs[b].length = c.length;
        seqs[b].n_blocks = n_blocks;
        seqs[b].block_tokens = c.block_tokens;
        seqs[b].dtype = c.dtype;
        seqs[b].table = next;
        for (int i = 0; i < n_blocks; ++i) {
            tables[next + i] = c.k_blocks[i];
            tables[next + n_blocks + i] = c.v_blocks[i];
            vec = vec && host_aligned16(c.k_blocks[i]) && host_aligned16(c.v_blocks[i]);
        }
        next += 2 * static_cast<int64_t>(room);
        if (c.dtype == N4J_DTYPE_F32) out->has_f32 = 1;
        if (c.dtype == N4J_DTYPE_BF16) out->has_bf16 = 1;
        if (c.length > out->max_length) out->max_length = c.length;
    }
    if (step) {
        out->max_length = max_context - 1;
        ctx->step_note(static_cast<uint64_t>(vec) | static_cast<uint64_t>(out->has_f32) << 1 |
                       static_cast<uint64_t>(out->has_bf16) << 2);
    }
    rc = ctx->commit(bytes, where);
    if (rc != N4J_OK) return rc;
    out->seqs = static_cast<const kv_seq*>(st.device);
    out->tables = reinterpret_cast<void* const*>(static_cast<char*>(st.device) + desc_bytes);
    out->vec = vec;
    return N4J_OK;
}

void launch_kv_write(context* ctx, const kv_staged& kv, int rows, int rows_per_seq, const void* k, int64_t ld_k,
                     const void* v, int64_t ld_v, int kv_heads, int head_dim) {
    const int width = kv_heads * head_dim;
    const int threads = 128;
    const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(ceil_div(width, threads)));
    kv_write_kernel<<<grid, threads, 0, ctx->stream>>>(kv.seqs, kv.tables, rows_per_seq, k, ld_k, v, ld_v, kv_heads,
                                                       head_dim, ctx->act_bf16() ? 1 : 0);
}

}  // namespace cuda
}  // namespace n4j
