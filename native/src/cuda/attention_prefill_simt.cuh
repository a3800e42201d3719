/*
 * attention_prefill_simt.cuh: causal GQA flash attention over a paged KV cache in exact fp32 (CUDA cores).
 * Used for F32 activations (held to 1e-4) and for head dims the tensor-core kernel does not cover. Instantiated
 * per padded head dim DP (16, 32, 64, 128: any head_dim <= DP) in attention_prefill_simt_hd*.cu.
 *
 * One 128-thread block per (32 query tokens, query head); query token i sits at position length + i and attends
 * to keys [0, length + i] (the new tokens' K/V were written into the cache first). Key tiles of 64 go through
 * shared memory as fp32 (converted from the cache dtype): first K for the scores, then V into the same buffer.
 * Thread (ty, tx) owns query rows 4ty..4ty+3 and keys tx + 16j of a tile (float4 shared loads, conflict-free with
 * rows padded by 4 floats), then the same rows and head-dim columns tx + 16c for P.V. Online softmax in the exp2
 * domain (q pre-scaled by scale*log2 e): per row the running max m and sum l (partial per thread, reduced at the
 * end over the 16 lanes of the row), the output rescaled by exp2(m_old - m_new) when the max grows.
 * The first tile always holds key 0 <= every query position, so m is finite from then on (no inf - inf).
 */
#ifndef N4J_CUDA_ATTENTION_PREFILL_SIMT_CUH
#define N4J_CUDA_ATTENTION_PREFILL_SIMT_CUH

#include "attention.cuh"

namespace n4j {
namespace cuda {
namespace simt_attn {

constexpr int BQ = 32;
constexpr int BKV = 64;
constexpr int THREADS = 128;

template <int DP>
__host__ __device__ constexpr int row_stride() {
    return DP + 4;
}

template <int DP>
__host__ __device__ constexpr size_t smem_bytes() {
    return static_cast<size_t>((BQ + BKV) * row_stride<DP>() + BQ * (BKV + 4)) * sizeof(float) +
           BKV * sizeof(void*);
}

/* Loads BKV rows (pointers in rows[], nullptr = zeros) of head_dim values into dst[BKV][DP + 4] as fp32. */
template <int DP, typename KVT>
__device__ __forceinline__ void load_tile(float* dst, const KVT* const* rows, int head_dim, int vec) {
    constexpr int DS = row_stride<DP>();
    if (vec) {  // head_dim % 8 == 0, 16-byte aligned rows: 4 elements per load
        constexpr int Q4 = DP / 4;
        for (int e = threadIdx.x; e < BKV * Q4; e += THREADS) {
            const int j = e / Q4;
            const int d = (e % Q4) * 4;
            float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            const KVT* row = rows[j];
            if (row != nullptr && d < head_dim) {
                if (sizeof(KVT) == 4) {
                    v = *reinterpret_cast<const float4*>(row + d);
                } else {
                    const uint2 u = *reinterpret_cast<const uint2*>(row + d);
                    v = make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u),
                                    __uint_as_float(u.y << 16), __uint_as_float(u.y & 0xffff0000u));
                }
            }
            *reinterpret_cast<float4*>(dst + j * DS + d) = v;
        }
    } else {
        for (int e = threadIdx.x; e < BKV * DP; e += THREADS) {
            const int j = e / DP;
            const int d = e % DP;
            const KVT* row = rows[j];
            dst[j * DS + d] = (row != nullptr && d < head_dim) ? to_f32(row[d]) : 0.0f;
        }
    }
}

template <int DP, typename KVT>
__global__ void __launch_bounds__(THREADS) attn_prefill_simt_kernel(attn_prefill_args a) {
    constexpr int DS = row_stride<DP>();
    constexpr int PS = BKV + 4;
    constexpr int DPT = DP / 16;  // head-dim columns per thread in P.V
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float* qs = reinterpret_cast<float*>(smem_raw);  // [BQ][DS]
    float* kvs = qs + BQ * DS;                       // [BKV][DS]
    float* ps = kvs + BKV * DS;                      // [BQ][PS]
    const KVT** rows = reinterpret_cast<const KVT**>(ps + BQ * PS);

    const int h = blockIdx.y;
    const int kvh = h / (a.heads / a.kv_heads);
    const int i0 = blockIdx.x * BQ;
    const kv_seq seq = a.seqs[0];
    const int len = seq.length;
    const int hd = a.head_dim;
    const int tx = threadIdx.x & 15;
    const int ty = threadIdx.x >> 4;

    for (int e = threadIdx.x; e < BQ * DP; e += THREADS) {
        const int r = e / DP;
        const int d = e % DP;
        const int t = i0 + r;
        float v = 0.0f;
        if (t < a.tokens && d < hd) v = load_act(a.q, a.act_bf16, t * a.ld_q + static_cast<int64_t>(h) * hd + d);
        qs[r * DS + d] = v * a.scale_log2;
    }

    float m[4], l[4], o[4][DPT];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < DPT; ++c) o[i][c] = 0.0f;
    }
    const int q_last = min(i0 + BQ, a.tokens) - 1;
    const int kv_end = len + q_last + 1;  // keys [0, kv_end)

    for (int k0 = 0; k0 < kv_end; k0 += BKV) {
        __syncthreads();  // previous tile's P.V reads of kvs, ps and rows are done
        if (threadIdx.x < BKV) {
            const int pos = k0 + threadIdx.x;
            rows[threadIdx.x] = pos < kv_end ? kv_row<KVT>(seq, a.tables, 0, pos, a.kv_heads, kvh, hd) : nullptr;
        }
        __syncthreads();
        load_tile<DP, KVT>(kvs, rows, hd, a.kv_vec);
        __syncthreads();

        float s[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) s[i][j] = 0.0f;
#pragma unroll 4
        for (int d = 0; d < DP; d += 4) {
            float4 qv[4], kv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) qv[i] = *reinterpret_cast<const float4*>(qs + (ty * 4 + i) * DS + d);
#pragma unroll
            for (int j = 0; j < 4; ++j) kv[j] = *reinterpret_cast<const float4*>(kvs + (tx + 16 * j) * DS + d);
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    s[i][j] = fmaf(qv[i].x, kv[j].x, s[i][j]);
                    s[i][j] = fmaf(qv[i].y, kv[j].y, s[i][j]);
                    s[i][j] = fmaf(qv[i].z, kv[j].z, s[i][j]);
                    s[i][j] = fmaf(qv[i].w, kv[j].w, s[i][j]);
                }
        }

#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int r = ty * 4 + i;
            const int qpos = len + i0 + r;
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int kpos = k0 + tx + 16 * j;
                if (kpos > qpos || kpos >= kv_end) s[i][j] = -INFINITY;
                mx = fmaxf(mx, s[i][j]);
            }
            mx = warp_max<16>(mx);
            const float m_new = fmaxf(m[i], mx);
            const float alpha = m_new == -INFINITY ? 1.0f : exp2f(m[i] - m_new);
            float sum = 0.0f;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const float p = m_new == -INFINITY ? 0.0f : exp2f(s[i][j] - m_new);
                sum += p;
                ps[r * PS + tx + 16 * j] = p;
            }
            l[i] = l[i] * alpha + sum;
            m[i] = m_new;
#pragma unroll
            for (int c = 0; c < DPT; ++c) o[i][c] *= alpha;
        }
        __syncthreads();  // ps written; everyone is done reading K from kvs

        if (threadIdx.x < BKV) {
            const int pos = k0 + threadIdx.x;
            rows[threadIdx.x] = pos < kv_end ? kv_row<KVT>(seq, a.tables, 1, pos, a.kv_heads, kvh, hd) : nullptr;
        }
        __syncthreads();
        load_tile<DP, KVT>(kvs, rows, hd, a.kv_vec);
        __syncthreads();

#pragma unroll 2
        for (int j = 0; j < BKV; j += 4) {
            float4 pv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) pv[i] = *reinterpret_cast<const float4*>(ps + (ty * 4 + i) * PS + j);
#pragma unroll
            for (int jj = 0; jj < 4; ++jj) {
                float vv[DPT];
#pragma unroll
                for (int c = 0; c < DPT; ++c) vv[c] = kvs[(j + jj) * DS + tx + 16 * c];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const float p = jj == 0 ? pv[i].x : jj == 1 ? pv[i].y : jj == 2 ? pv[i].z : pv[i].w;
#pragma unroll
                    for (int c = 0; c < DPT; ++c) o[i][c] = fmaf(p, vv[c], o[i][c]);
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float total = warp_sum<16>(l[i]);
        const int t = i0 + ty * 4 + i;
        if (t >= a.tokens) continue;
        const float inv = 1.0f / total;
#pragma unroll
        for (int c = 0; c < DPT; ++c) {
            const int d = tx + 16 * c;
            if (d < hd) store_act(a.out, a.act_bf16, t * a.ld_out + static_cast<int64_t>(h) * hd + d, o[i][c] * inv);
        }
    }
}

template <int DP, typename KVT>
int32_t launch_typed(context* ctx, const attn_prefill_args& a) {
    const size_t smem = smem_bytes<DP>();
    if (smem > 48 * 1024) {
        cudaError_t err = cudaFuncSetAttribute(attn_prefill_simt_kernel<DP, KVT>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        if (err != cudaSuccess) return ctx->check(err, "n4j_attention_prefill");
    }
    const dim3 grid(static_cast<unsigned>(ceil_div(a.tokens, BQ)), static_cast<unsigned>(a.heads));
    attn_prefill_simt_kernel<DP, KVT><<<grid, THREADS, smem, ctx->stream>>>(a);
    return N4J_OK;
}

template <int DP>
int32_t launch(context* ctx, const attn_prefill_args& a, int kv_dtype) {
    if (kv_dtype == N4J_DTYPE_BF16) return launch_typed<DP, bf16>(ctx, a);
    return launch_typed<DP, float>(ctx, a);
}

}  // namespace simt_attn
}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_ATTENTION_PREFILL_SIMT_CUH */
