/*
 * attention_decode.cu: n4j_attention_decode, one new token for each of `batch` sequences, as split-K flash
 * decoding over the paged caches.
 *
 * 1. The new K/V rows are written at position length of each cache (attention_kv.cu); query b then attends to
 *    keys [0, length_b].
 * 2. Split kernel: grid (split, kv head x head group, sequence). A block takes one KV head, up to 8 of the query
 *    heads that share it (GQA: K/V are read once for the whole group) and one split of 256 keys. Tiles of 64 keys
 *    are copied into shared memory as fp32 (coalesced; 16-byte loads when aligned); scores q.k for every
 *    (key, head) pair land in shared memory (exp2 domain, q pre-scaled by scale*log2 e); the split's max m and
 *    sum l are reduced per head by one warp; P.V runs with one thread per head-dim column. The unnormalized
 *    partial output and (m, l) go to scratch.
 * 3. Reduce kernel: per (sequence, head), the splits are combined with weights exp2(m_s - M) / sum_s l_s
 *    exp2(m_s - M) and the result is written in the activation dtype.
 * All arithmetic fp32 (exact for F32 caches and activations). The kernel is templated on the cache dtype; a batch
 * mixing F32 and BF16 caches runs the split kernel once per dtype, each launch skipping the other sequences.
 * Memory traffic is the cache itself (K and V read once): 32 MiB per layer at 8k context in bf16 for the 9B, so
 * ~10 us at H100 bandwidth; splits of 256 keys give 8 x 32 = 256 blocks at 8k, 4096 at 128k.
 * head_dim up to 256.
 */
#include <math.h>

#include "attention.cuh"

namespace n4j {
namespace cuda {

namespace {

constexpr int kSplit = 256;     // keys per split
constexpr int kTile = 64;       // keys per shared tile
constexpr int kHeadsPerBlock = 8;
constexpr int kThreads = 128;
constexpr int kMaxHeadDim = 256;

struct decode_args {
    int heads, kv_heads, head_dim, head_groups, max_splits;
    float scale_log2;
    const void* q;
    int64_t ld_q;
    void* out;
    int64_t ld_out;
    int act_bf16;
    const kv_seq* seqs;
    void* const* tables;
    int kv_vec;
    float* part_o;   // [batch][heads][max_splits][head_dim]
    float* part_ml;  // [batch][heads][max_splits][2]
};

__host__ __device__ inline int padded_dim(int head_dim) { return ((head_dim + 3) / 4) * 4; }
__host__ __device__ inline int tile_stride(int head_dim) { return padded_dim(head_dim) + 4; }

static size_t split_smem_bytes(int head_dim) {
    const int ds = tile_stride(head_dim);
    return static_cast<size_t>(kHeadsPerBlock * ds + kHeadsPerBlock * kSplit + kTile * ds + 2 * kHeadsPerBlock) *
               sizeof(float) +
           kTile * sizeof(void*);
}

template <typename KVT>
__device__ __forceinline__ void load_tile(float* dst, int ds, const KVT* const* rows, int head_dim, int vec) {
    const int dp = padded_dim(head_dim);
    if (vec) {  // head_dim % 8 == 0, 16-byte aligned rows
        const int q4 = dp / 4;
        for (int e = threadIdx.x; e < kTile * q4; e += kThreads) {
            const int j = e / q4;
            const int d = (e - j * q4) * 4;
            float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            const KVT* row = rows[j];
            if (row != nullptr) {
                if (sizeof(KVT) == 4) {
                    v = *reinterpret_cast<const float4*>(row + d);
                } else {
                    const uint2 u = *reinterpret_cast<const uint2*>(row + d);
                    v = make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u),
                                    __uint_as_float(u.y << 16), __uint_as_float(u.y & 0xffff0000u));
                }
            }
            *reinterpret_cast<float4*>(dst + j * ds + d) = v;
        }
    } else {
        for (int e = threadIdx.x; e < kTile * dp; e += kThreads) {
            const int j = e / dp;
            const int d = e - j * dp;
            const KVT* row = rows[j];
            dst[j * ds + d] = (row != nullptr && d < head_dim) ? to_f32(row[d]) : 0.0f;
        }
    }
}

template <typename KVT>
__global__ void __launch_bounds__(kThreads) attn_decode_split_kernel(decode_args a, int kv_dtype) {
    const int split = blockIdx.x;
    const int kvh = blockIdx.y / a.head_groups;
    const int g0 = (blockIdx.y % a.head_groups) * kHeadsPerBlock;
    const int b = blockIdx.z;
    const kv_seq seq = a.seqs[b];
    if (seq.dtype != kv_dtype) return;
    const int n_keys = seq.length + 1;
    const int start = split * kSplit;
    if (start >= n_keys) return;
    const int end = min(start + kSplit, n_keys);
    const int group = a.heads / a.kv_heads;
    const int gn = min(kHeadsPerBlock, group - g0);
    const int hd = a.head_dim;
    const int dp = padded_dim(hd);
    const int ds = tile_stride(hd);

    extern __shared__ __align__(16) unsigned char smem_raw[];
    float* qs = reinterpret_cast<float*>(smem_raw);  // [8][ds]
    float* sc = qs + kHeadsPerBlock * ds;            // [8][kSplit]
    float* tile = sc + kHeadsPerBlock * kSplit;      // [kTile][ds]
    float* ml = tile + kTile * ds;                   // [8][2]
    const KVT** rows = reinterpret_cast<const KVT**>(ml + 2 * kHeadsPerBlock);

    for (int e = threadIdx.x; e < kHeadsPerBlock * dp; e += kThreads) {
        const int g = e / dp;
        const int d = e - g * dp;
        float v = 0.0f;
        if (g < gn && d < hd) {
            const int h = kvh * group + g0 + g;
            v = load_act(a.q, a.act_bf16, b * a.ld_q + static_cast<int64_t>(h) * hd + d) * a.scale_log2;
        }
        qs[g * ds + d] = v;
    }

    // Scores of every (head, key) of the split.
    for (int t0 = start; t0 < end; t0 += kTile) {
        __syncthreads();
        if (threadIdx.x < kTile) {
            const int pos = t0 + threadIdx.x;
            rows[threadIdx.x] = pos < end ? kv_row<KVT>(seq, a.tables, 0, pos, a.kv_heads, kvh, hd) : nullptr;
        }
        __syncthreads();
        load_tile<KVT>(tile, ds, rows, hd, a.kv_vec);
        __syncthreads();
        const int j = threadIdx.x & (kTile - 1);
        const int pos = t0 + j;
        for (int g = threadIdx.x / kTile; g < gn; g += kThreads / kTile) {
            float acc = 0.0f;
            const float* qr = qs + g * ds;
            const float* kr = tile + j * ds;
            for (int d = 0; d < dp; d += 4) {
                const float4 qv = *reinterpret_cast<const float4*>(qr + d);
                const float4 kv = *reinterpret_cast<const float4*>(kr + d);
                acc = fmaf(qv.x, kv.x, acc);
                acc = fmaf(qv.y, kv.y, acc);
                acc = fmaf(qv.z, kv.z, acc);
                acc = fmaf(qv.w, kv.w, acc);
            }
            if (pos < end) sc[g * kSplit + (pos - start)] = acc;
        }
    }
    __syncthreads();

    // Per head: max and sum over the split; scores become probabilities (unnormalized).
    const int count = end - start;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    for (int g = warp; g < gn; g += kThreads / kWarp) {
        float* row = sc + g * kSplit;
        float mx = -INFINITY;
        for (int i = lane; i < count; i += kWarp) mx = fmaxf(mx, row[i]);
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int i = lane; i < count; i += kWarp) {
            const float p = exp2f(row[i] - mx);
            row[i] = p;
            sum += p;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
            ml[2 * g] = mx;
            ml[2 * g + 1] = sum;
        }
    }

    // P.V, one thread per head-dim column (two when head_dim > 128).
    float acc[kHeadsPerBlock][2];
#pragma unroll
    for (int g = 0; g < kHeadsPerBlock; ++g) acc[g][0] = acc[g][1] = 0.0f;
    for (int t0 = start; t0 < end; t0 += kTile) {
        __syncthreads();
        if (threadIdx.x < kTile) {
            const int pos = t0 + threadIdx.x;
            rows[threadIdx.x] = pos < end ? kv_row<KVT>(seq, a.tables, 1, pos, a.kv_heads, kvh, hd) : nullptr;
        }
        __syncthreads();
        load_tile<KVT>(tile, ds, rows, hd, a.kv_vec);
        __syncthreads();
        const int n = min(kTile, end - t0);
        for (int j = 0; j < n; ++j) {
            const float* vr = tile + j * ds;
            const float v0 = threadIdx.x < dp ? vr[threadIdx.x] : 0.0f;
            const float v1 = threadIdx.x + kThreads < dp ? vr[threadIdx.x + kThreads] : 0.0f;
            const float* pcol = sc + (t0 - start) + j;
#pragma unroll
            for (int g = 0; g < kHeadsPerBlock; ++g) {
                if (g < gn) {
                    const float p = pcol[g * kSplit];
                    acc[g][0] = fmaf(p, v0, acc[g][0]);
                    acc[g][1] = fmaf(p, v1, acc[g][1]);
                }
            }
        }
    }

    const int64_t base_head = static_cast<int64_t>(b) * a.heads + kvh * group + g0;
#pragma unroll
    for (int g = 0; g < kHeadsPerBlock; ++g) {
        if (g >= gn) break;
        const int64_t slot = (base_head + g) * a.max_splits + split;
        float* po = a.part_o + slot * hd;
        if (threadIdx.x < hd) po[threadIdx.x] = acc[g][0];
        if (threadIdx.x + kThreads < hd) po[threadIdx.x + kThreads] = acc[g][1];
        if (threadIdx.x == 0) {
            a.part_ml[2 * slot] = ml[2 * g];
            a.part_ml[2 * slot + 1] = ml[2 * g + 1];
        }
    }
}

/* grid (heads, batch): combines the splits of one (sequence, head). Dynamic smem: max_splits floats. */
__global__ void __launch_bounds__(kThreads) attn_decode_reduce_kernel(decode_args a) {
    extern __shared__ float weights[];
    __shared__ float scratch[32];
    const int h = blockIdx.x;
    const int b = blockIdx.y;
    const int n_keys = a.seqs[b].length + 1;
    const int ns = (n_keys + kSplit - 1) / kSplit;
    const int64_t slot0 = (static_cast<int64_t>(b) * a.heads + h) * a.max_splits;
    float mx = -INFINITY;
    for (int s = threadIdx.x; s < ns; s += kThreads) mx = fmaxf(mx, a.part_ml[2 * (slot0 + s)]);
    mx = warp_max(mx);
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = scratch[0];
    for (int w = 1; w < kThreads / kWarp; ++w) mx = fmaxf(mx, scratch[w]);
    float total = 0.0f;
    for (int s = threadIdx.x; s < ns; s += kThreads) {
        const float w = exp2f(a.part_ml[2 * (slot0 + s)] - mx);
        weights[s] = w;
        total += w * a.part_ml[2 * (slot0 + s) + 1];
    }
    total = block_sum(total, scratch);  // its first barrier also publishes weights[]
    const float inv = 1.0f / total;
    for (int d = threadIdx.x; d < a.head_dim; d += kThreads) {
        float o = 0.0f;
        for (int s = 0; s < ns; ++s) o = fmaf(weights[s], a.part_o[(slot0 + s) * a.head_dim + d], o);
        store_act(a.out, a.act_bf16, b * a.ld_out + static_cast<int64_t>(h) * a.head_dim + d, o * inv);
    }
}

template <typename KVT>
int32_t launch_split(context* ctx, const decode_args& a, int batch, int kv_dtype) {
    const size_t smem = split_smem_bytes(a.head_dim);
    if (smem > 48 * 1024) {
        cudaError_t err = cudaFuncSetAttribute(attn_decode_split_kernel<KVT>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        if (err != cudaSuccess) return ctx->check(err, "n4j_attention_decode");
    }
    const dim3 grid(static_cast<unsigned>(a.max_splits), static_cast<unsigned>(a.kv_heads * a.head_groups),
                    static_cast<unsigned>(batch));
    attn_decode_split_kernel<KVT><<<grid, kThreads, smem, ctx->stream>>>(a, kv_dtype);
    return N4J_OK;
}

}  // namespace

int32_t op_attention_decode(void* vctx, const n4j_attn_dims* dims, int32_t batch, const void* q, int64_t ld_q,
                            const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* caches,
                            void* out, int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_attention_decode";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int hd = dims->head_dim;
    if (dims->kv_heads <= 0 || dims->heads % dims->kv_heads != 0) {
        return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "heads %d not a multiple of kv_heads %d", dims->heads,
                         dims->kv_heads);
    }
    if (hd > kMaxHeadDim) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "head_dim %d (at most %d)", hd, kMaxHeadDim);
    if (batch > 65535 || dims->heads > 65535) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "batch %d / heads %d above 65535", batch, dims->heads);
    }
    kv_staged kv;
    rc = stage_kv_caches(ctx, caches, batch, 1, hd, &kv, where);
    if (rc != N4J_OK || ctx->replaying()) return rc;  // a replayed decode step: the graph launches the kernels
    launch_kv_write(ctx, kv, batch, 1, k, ld_k, v, ld_v, dims->kv_heads, hd);
    rc = ctx->check_launch(where);
    if (rc != N4J_OK) return rc;

    decode_args a;
    a.heads = dims->heads;
    a.kv_heads = dims->kv_heads;
    a.head_dim = hd;
    const int group = dims->heads / dims->kv_heads;
    a.head_groups = (group + kHeadsPerBlock - 1) / kHeadsPerBlock;
    a.max_splits = static_cast<int>(ceil_div(static_cast<int64_t>(kv.max_length) + 1, kSplit));
    a.scale_log2 = dims->scale * 1.4426950408889634f;
    a.q = q;
    a.ld_q = ld_q;
    a.out = out;
    a.ld_out = ld_out;
    a.act_bf16 = ctx->act_bf16() ? 1 : 0;
    a.seqs = kv.seqs;
    a.tables = kv.tables;
    a.kv_vec = kv.vec;
    if (static_cast<int64_t>(a.kv_heads) * a.head_groups > 65535) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "too many kv heads x head groups");
    }
    if (static_cast<size_t>(a.max_splits) * sizeof(float) > 48 * 1024) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "context of %d tokens too long", kv.max_length);
    }
    const size_t slots = static_cast<size_t>(batch) * dims->heads * a.max_splits;
    char* cursor = static_cast<char*>(ctx->get_scratch(align256(slots * hd * sizeof(float)) +
                                                           align256(slots * 2 * sizeof(float)),
                                                       where));
    if (cursor == nullptr) return N4J_ERR_OUT_OF_MEMORY;
    a.part_o = carve<float>(&cursor, slots * hd);
    a.part_ml = carve<float>(&cursor, slots * 2);

    if (kv.has_f32) {
        rc = launch_split<float>(ctx, a, batch, N4J_DTYPE_F32);
        if (rc != N4J_OK) return rc;
    }
    if (kv.has_bf16) {
        rc = launch_split<bf16>(ctx, a, batch, N4J_DTYPE_BF16);
        if (rc != N4J_OK) return rc;
    }
    const dim3 grid(static_cast<unsigned>(dims->heads), static_cast<unsigned>(batch));
    attn_decode_reduce_kernel<<<grid, kThreads, static_cast<size_t>(a.max_splits) * sizeof(float), ctx->stream>>>(a);
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
