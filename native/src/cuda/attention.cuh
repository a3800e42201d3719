/*
 * attention.cuh: what the attention kernels share: the device view of paged KV caches, the staging of the host
 * block tables, the K/V cache write, and the prefill kernels' arguments and launchers.
 *
 * KV cache (nemotron4j.h): block b of a sequence holds positions [b*block_tokens, (b+1)*block_tokens), each block
 * [block_tokens, kv_heads, head_dim] in F32 or BF16; k_blocks/v_blocks are host arrays of device pointers. The
 * launchers copy, per call, a kv_seq descriptor per sequence plus all its block pointers into one staging slot
 * (pinned -> device, asynchronously on the stream); kernels address position `pos` of kv head `kvh` as
 *   tables[seq.table + (V ? seq.n_blocks : 0) + pos / block_tokens] + ((pos % block_tokens) * kv_heads + kvh) * head_dim.
 * A position beyond the blocks a sequence has is never read or written (kernels check n_blocks).
 */
#ifndef N4J_CUDA_ATTENTION_CUH
#define N4J_CUDA_ATTENTION_CUH

#include "common.cuh"
#include "context.cuh"

namespace n4j {
namespace cuda {

struct kv_seq {
    int32_t length;        // tokens cached before this call
    int32_t n_blocks;
    int32_t block_tokens;
    int32_t dtype;         // N4J_DTYPE_F32 or N4J_DTYPE_BF16
    int64_t table;         // index of the first K block pointer in the pointer table
};

/* The staged descriptors of `batch` caches. */
struct kv_staged {
    const kv_seq* seqs;    // device
    void* const* tables;   // device
    int vec;               // every block pointer 16-byte aligned and head_dim % 8 == 0: vector loads allowed
    int has_f32;           // some cache holds F32
    int has_bf16;          // some cache holds BF16
    int max_length;        // largest cache.length
};

/* Stages the descriptors and block tables of `batch` caches that grow by new_tokens each. Inside a decode step
 * (ctx->in_step()) the layout depends only on the batch, the caches' block sizes and the step's max_context (each
 * sequence's table has room for the blocks of max_context tokens), max_length is max_context - 1 (attention's split
 * count), and a cache growing beyond max_context is an error. */
int32_t stage_kv_caches(context* ctx, const n4j_kv_cache* caches, int batch, int new_tokens, int head_dim,
                        kv_staged* out, const char* where);

/* Writes k/v rows into the caches: row r is token r % rows_per_seq of sequence r / rows_per_seq, at position
 * length + token. */
void launch_kv_write(context* ctx, const kv_staged& kv, int rows, int rows_per_seq, const void* k, int64_t ld_k,
                     const void* v, int64_t ld_v, int kv_heads, int head_dim);

/* Address of (pos, kvh, d=0) in a cache, or nullptr when the position has no block. */
template <typename KVT>
__device__ __forceinline__ const KVT* kv_row(const kv_seq& s, void* const* tables, int which, int pos, int kv_heads,
                                            int kvh, int head_dim) {
    const int b = pos / s.block_tokens;
    if (pos < 0 || b >= s.n_blocks) return nullptr;
    const int off = pos - b * s.block_tokens;
    const KVT* base = static_cast<const KVT*>(tables[s.table + (which ? s.n_blocks : 0) + b]);
    return base + (static_cast<int64_t>(off) * kv_heads + kvh) * head_dim;
}

/* Arguments of the prefill kernels (one sequence: kv.seqs[0]). */
struct attn_prefill_args {
    int heads, kv_heads, head_dim, tokens;
    float scale_log2;  // softmax scale * log2(e): scores are kept in the exp2 domain
    const void* q;
    int64_t ld_q;
    void* out;
    int64_t ld_out;
    int act_bf16;
    const kv_seq* seqs;
    void* const* tables;
    int kv_vec;
};

/* SIMT fp32 flash attention (attention_prefill_simt.cuh), padded head dim DP in {16, 32, 64, 128}. */
int32_t attn_prefill_simt_hd16(context* ctx, const attn_prefill_args& a, int kv_dtype);
int32_t attn_prefill_simt_hd32(context* ctx, const attn_prefill_args& a, int kv_dtype);
int32_t attn_prefill_simt_hd64(context* ctx, const attn_prefill_args& a, int kv_dtype);
int32_t attn_prefill_simt_hd128(context* ctx, const attn_prefill_args& a, int kv_dtype);
/* Tensor-core flash attention (attention_prefill_mma.cuh), padded head dim 64 or 128. */
int32_t attn_prefill_mma_hd64(context* ctx, const attn_prefill_args& a, int kv_dtype);
int32_t attn_prefill_mma_hd128(context* ctx, const attn_prefill_args& a, int kv_dtype);

int32_t op_attention_prefill(void* ctx, const n4j_attn_dims* dims, int32_t tokens, const void* q, int64_t ld_q,
                             const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* cache,
                             void* out, int64_t ld_out);
int32_t op_attention_decode(void* ctx, const n4j_attn_dims* dims, int32_t batch, const void* q, int64_t ld_q,
                            const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* caches,
                            void* out, int64_t ld_out);

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_ATTENTION_CUH */
