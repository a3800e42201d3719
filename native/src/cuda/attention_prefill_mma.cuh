/*
 * attention_prefill_mma.cuh: causal GQA flash attention over a paged KV cache on tensor cores (FlashAttention-2
 * style), for BF16 activations. Instantiated per padded head dim D (64, 128: any 32 < head_dim <= D; the padding
 * columns are zero in Q and K and ignored in the output) in attention_prefill_mma_hd*.cu.
 *
 * One 128-thread block per (64 query tokens, query head); warp w owns query rows 16w..16w+15. Q is loaded once
 * (bf16) and kept in registers as mma A fragments. For each tile of 64 keys (positions up to the block's last
 * query position), K and V are copied from the cache blocks into shared memory as bf16 (converted from F32 caches),
 * rows padded to D + 8 so ldmatrix phases are conflict-free. Then per warp:
 *   S = Q K^T        mma.m16n8k16 (K tile via ldmatrix, "col" B operand), fp32 accumulators
 *   causal mask, online softmax in the exp2 domain (row max over the 4 lanes sharing a row), O *= exp2(m_old-m_new)
 *   P (fp32 accumulators) is repacked in registers into bf16 A fragments (the C layout of two n8 tiles is the A
 *   layout of one k16 slice) and O += P V with V via ldmatrix.trans.
 * The row sums are reduced across the 4 lanes once at the end; O / l is written in the activation dtype.
 * Numerics: Q, K, V and P rounded to bf16 (as any bf16 tensor-core attention), scores, softmax and accumulation
 * in fp32 -> relative error ~1e-3, inside the bf16 activation tolerance.
 * Work: 4 * 16 * 64 * D MACs per warp per tile on tensor cores; expected >150 TFLOP/s on H100 for long prompts.
 */
#ifndef N4J_CUDA_ATTENTION_PREFILL_MMA_CUH
#define N4J_CUDA_ATTENTION_PREFILL_MMA_CUH

#include "attention.cuh"

namespace n4j {
namespace cuda {
namespace mma_attn {

constexpr int BQ = 64;
constexpr int BKV = 64;
constexpr int THREADS = 128;

template <int D>
__host__ __device__ constexpr int row_stride() {
    return D + 8;  // bf16 elements
}

/* Copies BKV cache rows (nullptr = zeros) into dst[BKV][D + 8] as bf16. */
template <int D, typename KVT>
__device__ __forceinline__ void load_tile_bf16(bf16* dst, const KVT* const* rows, int head_dim, int vec) {
    constexpr int DS = row_stride<D>();
    constexpr int C8 = D / 8;
    for (int e = threadIdx.x; e < BKV * C8; e += THREADS) {
        const int j = e / C8;
        const int d = (e % C8) * 8;
        const KVT* row = rows[j];
        uint4 v = make_uint4(0, 0, 0, 0);
        if (row != nullptr && d < head_dim) {
            if (vec) {  // head_dim % 8 == 0 and 16-byte aligned rows
                if (sizeof(KVT) == 2) {
                    v = *reinterpret_cast<const uint4*>(row + d);
                } else {
                    const float4 a = *reinterpret_cast<const float4*>(row + d);
                    const float4 b = *reinterpret_cast<const float4*>(row + d + 4);
                    v = make_uint4(pack_bf16x2(a.x, a.y), pack_bf16x2(a.z, a.w), pack_bf16x2(b.x, b.y),
                                   pack_bf16x2(b.z, b.w));
                }
            } else {
                float f[8];
#pragma unroll
                for (int k = 0; k < 8; ++k) f[k] = d + k < head_dim ? to_f32(row[d + k]) : 0.0f;
                v = make_uint4(pack_bf16x2(f[0], f[1]), pack_bf16x2(f[2], f[3]), pack_bf16x2(f[4], f[5]),
                               pack_bf16x2(f[6], f[7]));
            }
        }
        *reinterpret_cast<uint4*>(dst + j * DS + d) = v;
    }
}

template <int D, typename KVT>
__global__ void __launch_bounds__(THREADS) attn_prefill_mma_kernel(attn_prefill_args a) {
    constexpr int DS = row_stride<D>();
    constexpr int KD = D / 16;  // k16 slices of the head dim
    __shared__ __align__(16) bf16 ks[BKV * DS];
    __shared__ __align__(16) bf16 vs[BKV * DS];  // also stages Q (BQ == BKV) before the key loop
    __shared__ const KVT* krows[BKV];
    __shared__ const KVT* vrows[BKV];

    const int h = blockIdx.y;
    const int kvh = h / (a.heads / a.kv_heads);
    const int i0 = blockIdx.x * BQ;
    const kv_seq seq = a.seqs[0];
    const int len = seq.length;
    const int hd = a.head_dim;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;

    // Q tile -> shared (bf16) -> A fragments.
    for (int e = threadIdx.x; e < BQ * D; e += THREADS) {
        const int r = e / D;
        const int d = e % D;
        const int t = i0 + r;
        float v = 0.0f;
        if (t < a.tokens && d < hd) v = load_act(a.q, a.act_bf16, t * a.ld_q + static_cast<int64_t>(h) * hd + d);
        vs[r * DS + d] = __float2bfloat16_rn(v);
    }
    __syncthreads();
    uint32_t qf[KD][4];
#pragma unroll
    for (int kd = 0; kd < KD; ++kd) {
        ldmatrix_x4(qf[kd], vs + (warp * 16 + (lane & 15)) * DS + kd * 16 + (lane >> 4) * 8);
    }

    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[n][e] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
    const int row0 = warp * 16 + (lane >> 2);  // this thread's rows: row0, row0 + 8
    const int qpos0 = len + i0 + row0;
    const int q_last = min(i0 + BQ, a.tokens) - 1;
    const int kv_end = len + q_last + 1;

    for (int k0 = 0; k0 < kv_end; k0 += BKV) {
        __syncthreads();  // previous tile (or the Q staging) fully consumed
        if (threadIdx.x < BKV) {
            const int pos = k0 + threadIdx.x;
            krows[threadIdx.x] = pos < kv_end ? kv_row<KVT>(seq, a.tables, 0, pos, a.kv_heads, kvh, hd) : nullptr;
        } else if (threadIdx.x < 2 * BKV) {
            const int pos = k0 + threadIdx.x - BKV;
            vrows[threadIdx.x - BKV] =
                pos < kv_end ? kv_row<KVT>(seq, a.tables, 1, pos, a.kv_heads, kvh, hd) : nullptr;
        }
        __syncthreads();
        load_tile_bf16<D, KVT>(ks, krows, hd, a.kv_vec);
        load_tile_bf16<D, KVT>(vs, vrows, hd, a.kv_vec);
        __syncthreads();

        // S = Q K^T for this warp's 16 rows x 64 keys.
        float s[8][4];
#pragma unroll
        for (int n = 0; n < 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[n][e] = 0.0f;
#pragma unroll
        for (int kd = 0; kd < KD; ++kd) {
#pragma unroll
            for (int nj = 0; nj < 4; ++nj) {
                uint32_t b[4];
                ldmatrix_x4(b, ks + (nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * DS + kd * 16 + ((lane >> 3) & 1) * 8);
                mma_bf16_16816(s[2 * nj], qf[kd], b[0], b[1]);
                mma_bf16_16816(s[2 * nj + 1], qf[kd], b[2], b[3]);
            }
        }

        // Mask, online softmax (exp2 domain).
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int kpos = k0 + n * 8 + (lane & 3) * 2 + (e & 1);
                const int qpos = qpos0 + (e >> 1) * 8;
                float v = s[n][e] * a.scale_log2;
                if (kpos > qpos || kpos >= kv_end) v = -INFINITY;
                s[n][e] = v;
                mx[e >> 1] = fmaxf(mx[e >> 1], v);
            }
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float m_new = fmaxf(m[r], mx[r]);
            alpha[r] = m_new == -INFINITY ? 1.0f : exp2f(m[r] - m_new);
            m[r] = m_new;
        }
        float sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int n = 0; n < 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int r = e >> 1;
                const float p = m[r] == -INFINITY ? 0.0f : exp2f(s[n][e] - m[r]);
                s[n][e] = p;
                sum[r] += p;
            }
#pragma unroll
        for (int r = 0; r < 2; ++r) l[r] = l[r] * alpha[r] + sum[r];
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            o[n][0] *= alpha[0];
            o[n][1] *= alpha[0];
            o[n][2] *= alpha[1];
            o[n][3] *= alpha[1];
        }

        // O += P V: P's accumulators become bf16 A fragments, 16 keys at a time.
#pragma unroll
        for (int kk = 0; kk < BKV / 16; ++kk) {
            uint32_t pa[4];
            pa[0] = pack_bf16x2(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = pack_bf16x2(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dn = 0; dn < D / 16; ++dn) {
                uint32_t b[4];
                ldmatrix_x4_trans(b, vs + (kk * 16 + (lane & 15)) * DS + dn * 16 + (lane >> 4) * 8);
                mma_bf16_16816(o[2 * dn], pa, b[0], b[1]);
                mma_bf16_16816(o[2 * dn + 1], pa, b[2], b[3]);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int t = i0 + row0 + r * 8;
        if (t >= a.tokens) continue;
        const float inv = 1.0f / l[r];
        const int64_t base = t * a.ld_out + static_cast<int64_t>(h) * hd;
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            const int d = n * 8 + (lane & 3) * 2;
            if (d < hd) store_act(a.out, a.act_bf16, base + d, o[n][r * 2] * inv);
            if (d + 1 < hd) store_act(a.out, a.act_bf16, base + d + 1, o[n][r * 2 + 1] * inv);
        }
    }
}

template <int D, typename KVT>
int32_t launch_typed(context* ctx, const attn_prefill_args& a) {
    const dim3 grid(static_cast<unsigned>(ceil_div(a.tokens, BQ)), static_cast<unsigned>(a.heads));
    attn_prefill_mma_kernel<D, KVT><<<grid, THREADS, 0, ctx->stream>>>(a);
    return N4J_OK;
}

template <int D>
int32_t launch(context* ctx, const attn_prefill_args& a, int kv_dtype) {
    if (kv_dtype == N4J_DTYPE_BF16) return launch_typed<D, bf16>(ctx, a);
    return launch_typed<D, float>(ctx, a);
}

}  // namespace mma_attn
}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_ATTENTION_PREFILL_MMA_CUH */
