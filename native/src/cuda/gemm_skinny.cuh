/*
 * gemm_skinny.cuh: the batched-decode matmul on tensor cores, y[r, :] (+)= scale * x[r, :] W^T for 9..64 rows
 * (kSkinnyMaxRows) and BF16 or F8_E4M3 weights: batched decode of 9-64 sessions and short prefill chunks.
 * Instantiated in gemm_skinny_bf16.cu and gemm_skinny_f8.cu.
 *
 * Like the GEMV, this is weight streaming: W (N x K) is read from global memory exactly once for all rows, and the
 * tensor cores do the arithmetic with the batch as the narrow dimension.
 * - mma.sync.m16n8k16 with the WEIGHTS as the A operand (16 output features x 16 k) and the activations as B
 *   (16 k x 8 rows): NT = 2, 4 or 8 n-tiles cover 16, 32 or 64 rows (rows past M are zero and never stored).
 * - A block is 256 threads = 8 warps; warp w owns the 16 features n0 + 16w .. +16, so a block covers FEATS = 128
 *   features. W goes straight from global memory into the A fragments, no shared memory: the dot product does not
 *   care in which order k is summed, so k is permuted identically on both operands such that each lane's fragment
 *   words are one 16-byte load. Lane (g = lane / 4, t = lane % 4) of a 64-k step loads
 *     BF16: W[f][k0 + 32q + 8t .. +8) for q = 0, 1 and f = g, g + 8      (mma m = 0..3 uses q = m / 2, words
 *           2(m % 2), 2(m % 2) + 1 as the k pairs {2t, 2t+1} and {2t+8, 2t+9} of its fragment)
 *     FP8:  W[f][k0 + 16t .. +16) decoded to 8 bf16 pairs (mma m uses pairs 2m, 2m + 1)
 *   i.e. a row of W is read as 128 (bf16) or 64 (fp8) contiguous bytes per 4 lanes per step, with
 *   ld.global.nc.L1::no_allocate; a block issues all its W loads of a K chunk (KC = 128) before it stages x, so
 *   32 KiB (bf16) of weights are in flight per block while x is staged.
 * - x (at most 64 rows) is staged per K chunk in shared memory, already in the permuted fragment order, as
 *   [step][n-tile][q][lane] 16-byte words: every warp then reads its B fragments with conflict-free 16-byte
 *   loads, and x is read from L2 once per block (not once per warp). The permuted slot (q, lane) of row 8j + g holds
 *   x[8j + g][k0 + off .. +8) with off = 32q + 8t (BF16 weights) or 16t + 8q (FP8 weights).
 * - Grid (tiles_n = ceil(N / 128), splits): split-K across blocks when the feature tiles alone do not fill the GPU
 *   (splits = min(ceil(2 * SMs / tiles_n), K chunks, 16), K ranges whole multiples of KC). With splits > 1 each
 *   block writes its fp32 partial sums to scratch [split][row][N] (plain stores), and gemm_skinny_reduce_kernel adds
 *   the splits in split order and applies the epilogue: no atomics, the result does not depend on timing. The
 *   scratch is the context's (planned by the eager warm-up of a decode step; nothing is allocated in a capture).
 *
 * Numerics: those of gemm_mma.cuh. W: BF16 as is; F8_E4M3 expanded to bf16 as value/256 (exact), the 256 folded into
 * the scale. x: BF16 as is; F32 split as hi = bf16(x), lo = bf16(x - hi), two mma per tile (lo first) with the same
 * W fragments (~16 significant bits of x). fp32 accumulation; the epilogue (matmul_store) scales, accumulates or
 * squares, and rounds once to the activation type; with split-K the fp32 partials are summed first, then scaled.
 * Edges: features past N are zero and masked, K past the end is zero-filled on both operands; rows of x or W that
 * are not 16-byte aligned (ld or K not a multiple of 8 (16 for fp8 W), unaligned base) take element loads.
 * Memory-bound floor: N * K * sizeof(W) bytes at copy bandwidth (x, y and the partials are < 2% of that at the 9B's
 * shapes; see cuda_op_bench).
 */
#ifndef N4J_CUDA_GEMM_SKINNY_CUH
#define N4J_CUDA_GEMM_SKINNY_CUH

#include <type_traits>

#include "common.cuh"
#include "matmul.cuh"

namespace n4j {
namespace cuda {

namespace skinny {

constexpr int THREADS = 256;
constexpr int WARPS = THREADS / 32;
constexpr int FEATS = WARPS * 16;  // output features per block
constexpr int KSTEP = 64;          // k per warp step (4 mma k16)
constexpr int KC = 128;            // k per staged chunk of x
constexpr int STEPS = KC / KSTEP;
constexpr int MAX_SPLITS = 16;

constexpr int WK_BF16 = 1;
constexpr int WK_F8 = 2;

template <typename XT>
__host__ __device__ constexpr bool split_x() {
    return std::is_same<XT, float>::value;
}

/* One lane's weights of one 64-k step: [row g, row g + 8][q] (bf16) or [row g, row g + 8] (fp8, 16 bytes each). */
template <int WK>
struct w_step {
    uint4 v[2][WK == WK_BF16 ? 2 : 1];
};

/* n elements (n <= 16) of W row f from k on, zero past K or past N: 16-byte load when allowed, else elements. */
template <int WK>
__device__ __forceinline__ uint4 load_w16(const void* w, int N, int K, int f, int k, int vec) {
    uint4 v = make_uint4(0, 0, 0, 0);
    if (f >= N || k >= K) return v;
    if (WK == WK_BF16) {
        const uint16_t* p = static_cast<const uint16_t*>(w) + static_cast<int64_t>(f) * K + k;
        if (vec && k + 8 <= K) return load_stream16(p);
        uint32_t h[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) h[e] = k + e < K ? p[e] : 0u;
        v.x = h[0] | (h[1] << 16);
        v.y = h[2] | (h[3] << 16);
        v.z = h[4] | (h[5] << 16);
        v.w = h[6] | (h[7] << 16);
    } else {
        const uint8_t* p = static_cast<const uint8_t*>(w) + static_cast<int64_t>(f) * K + k;
        if (vec && k + 16 <= K) return load_stream16(p);
        uint32_t b[16];
#pragma unroll
        for (int e = 0; e < 16; ++e) b[e] = k + e < K ? p[e] : 0u;
        v.x = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
        v.y = b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24);
        v.z = b[8] | (b[9] << 8) | (b[10] << 16) | (b[11] << 24);
        v.w = b[12] | (b[13] << 8) | (b[14] << 16) | (b[15] << 24);
    }
    return v;
}

template <int WK>
__device__ __forceinline__ void load_w_step(const matmul_args& a, int f0, int k0, int t, int vec, w_step<WK>& r) {
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
        const int f = f0 + rr * 8;
        if (WK == WK_BF16) {
            r.v[rr][0] = load_w16<WK>(a.w, a.n, a.k, f, k0 + 8 * t, vec);
            r.v[rr][1] = load_w16<WK>(a.w, a.n, a.k, f, k0 + 32 + 8 * t, vec);
        } else {
            r.v[rr][0] = load_w16<WK>(a.w, a.n, a.k, f, k0 + 16 * t, vec);
        }
    }
}

/* Four e4m3 bytes to two packed bf16x2 (value/256, exact), in element order (as gemm_mma.cuh). */
__device__ __forceinline__ void e4m3x4_to_bf16x4(uint32_t v, uint32_t& p01, uint32_t& p23) {
    __half2 even, odd;
    e4m3x4_to_half2x2(v, even, odd);
    const float2 e = __half22float2(even);
    const float2 o = __half22float2(odd);
    p01 = pack_bf16x2(e.x, o.x);
    p23 = pack_bf16x2(e.y, o.y);
}

__device__ __forceinline__ uint32_t word_of(const uint4& v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

/* Eight activations x[row][k .. k+8) (zero past K) as bf16 words: hi, and lo = bf16(x - hi) for F32. */
__device__ __forceinline__ void load_x8(const float* x, int64_t ld_x, int row, int k, int K, int vec, uint4& hi,
                                        uint4& lo) {
    float v[8];
    const float* p = x + static_cast<int64_t>(row) * ld_x + k;
    if (vec && k + 8 <= K) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(p));
        const float4 b = __ldg(reinterpret_cast<const float4*>(p + 4));
        v[0] = a.x;
        v[1] = a.y;
        v[2] = a.z;
        v[3] = a.w;
        v[4] = b.x;
        v[5] = b.y;
        v[6] = b.z;
        v[7] = b.w;
    } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = k + e < K ? p[e] : 0.0f;
    }
    uint32_t h[4], l[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const __nv_bfloat162 hv = __floats2bfloat162_rn(v[2 * e], v[2 * e + 1]);
        const float2 back = __bfloat1622float2(hv);
        h[e] = *reinterpret_cast<const uint32_t*>(&hv);
        l[e] = pack_bf16x2(v[2 * e] - back.x, v[2 * e + 1] - back.y);
    }
    hi = make_uint4(h[0], h[1], h[2], h[3]);
    lo = make_uint4(l[0], l[1], l[2], l[3]);
}

__device__ __forceinline__ void load_x8(const bf16* x, int64_t ld_x, int row, int k, int K, int vec, uint4& hi,
                                        uint4&) {
    const bf16* p = x + static_cast<int64_t>(row) * ld_x + k;
    if (vec && k + 8 <= K) {
        hi = __ldg(reinterpret_cast<const uint4*>(p));
        return;
    }
    const uint16_t* u = reinterpret_cast<const uint16_t*>(p);
    uint32_t h[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) h[e] = k + e < K ? u[e] : 0u;
    hi = make_uint4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16));
}

/*
 * Block (blockIdx.x: 128 features, blockIdx.y: one K range of k_split elements, a multiple of KC). partial == nullptr:
 * the epilogue stores into y; else the fp32 sums go to partial[(blockIdx.y * M + row) * N + f] for the reduction.
 */
template <typename XT, int WK, int NT>
__global__ void __launch_bounds__(THREADS) gemm_skinny_kernel(matmul_args a, int vec_x, int vec_w, int k_split,
                                                              float* partial) {
    constexpr bool SPLIT = split_x<XT>();
    // x chunk in fragment order: [hi / lo][step][n-tile][q][lane]
    __shared__ uint4 xs[SPLIT ? 2 : 1][STEPS][NT][2][32];

    const int M = a.rows;
    const int N = a.n;
    const int K = a.k;
    const XT* x = static_cast<const XT*>(a.x);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;
    const int t = lane & 3;
    const int f0 = blockIdx.x * FEATS + warp * 16 + g;  // this lane's features f0 and f0 + 8
    const int k_begin = blockIdx.y * k_split;
    const int k_end = min(K, k_begin + k_split);

    float acc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;

    for (int kc = k_begin; kc < k_end; kc += KC) {
        // The weights of the chunk first: they stream from DRAM while x is staged.
        w_step<WK> wr[STEPS];
#pragma unroll
        for (int s = 0; s < STEPS; ++s) load_w_step<WK>(a, f0, kc + s * KSTEP, t, vec_w, wr[s]);

        __syncthreads();  // the previous chunk's fragments are read
        constexpr int SLOTS = STEPS * NT * 2 * 32;
#pragma unroll
        for (int i = 0; i < SLOTS / THREADS; ++i) {
            const int slot = threadIdx.x + THREADS * i;  // [step][n-tile][q][lane]
            const int sl = slot & 31;
            const int q = (slot >> 5) & 1;
            const int j = (slot >> 6) % NT;
            const int s = (slot >> 6) / NT;
            const int row = j * 8 + (sl >> 2);
            const int st = sl & 3;
            const int k = kc + s * KSTEP + (WK == WK_BF16 ? 32 * q + 8 * st : 16 * st + 8 * q);
            uint4 hi = make_uint4(0, 0, 0, 0), lo = make_uint4(0, 0, 0, 0);
            if (row < M && k < K) load_x8(x, a.ld_x, row, k, K, vec_x, hi, lo);
            xs[0][s][j][q][sl] = hi;
            if (SPLIT) xs[SPLIT ? 1 : 0][s][j][q][sl] = lo;
        }
        __syncthreads();

#pragma unroll
        for (int s = 0; s < STEPS; ++s) {
            uint32_t af[4][4];  // the A fragments of the 4 mma k16 of this step
            if (WK == WK_BF16) {
#pragma unroll
                for (int m = 0; m < 4; ++m) {
                    const int q = m >> 1;
                    const int c = (m & 1) * 2;
                    af[m][0] = word_of(wr[s].v[0][q], c);
                    af[m][1] = word_of(wr[s].v[1][q], c);
                    af[m][2] = word_of(wr[s].v[0][q], c + 1);
                    af[m][3] = word_of(wr[s].v[1][q], c + 1);
                }
            } else {
                uint32_t p[2][8];
#pragma unroll
                for (int rr = 0; rr < 2; ++rr)
#pragma unroll
                    for (int w = 0; w < 4; ++w)
                        e4m3x4_to_bf16x4(word_of(wr[s].v[rr][0], w), p[rr][2 * w], p[rr][2 * w + 1]);
#pragma unroll
                for (int m = 0; m < 4; ++m) {
                    af[m][0] = p[0][2 * m];
                    af[m][1] = p[1][2 * m];
                    af[m][2] = p[0][2 * m + 1];
                    af[m][3] = p[1][2 * m + 1];
                }
            }
#pragma unroll
            for (int j = 0; j < NT; ++j) {
#pragma unroll
                for (int q = 0; q < 2; ++q) {
                    const uint4 bh = xs[0][s][j][q][lane];
                    if (SPLIT) {
                        const uint4 bl = xs[SPLIT ? 1 : 0][s][j][q][lane];
                        mma_bf16_16816(acc[j], af[2 * q], bl.x, bl.y);
                        mma_bf16_16816(acc[j], af[2 * q + 1], bl.z, bl.w);
                    }
                    mma_bf16_16816(acc[j], af[2 * q], bh.x, bh.y);
                    mma_bf16_16816(acc[j], af[2 * q + 1], bh.z, bh.w);
                }
            }
        }
    }

    // acc[j]: {y[8j + 2t][f0], y[8j + 2t + 1][f0], y[8j + 2t][f0 + 8], y[8j + 2t + 1][f0 + 8]}
    const float scale = WK == WK_F8 ? a.scale * 256.0f : a.scale;
    XT* y = static_cast<XT*>(a.y);
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int row = j * 8 + 2 * t + (e & 1);
            const int f = f0 + (e >> 1) * 8;
            if (row >= M || f >= N) continue;
            if (partial != nullptr) {
                partial[(static_cast<int64_t>(blockIdx.y) * M + row) * N + f] = acc[j][e];
            } else {
                matmul_store(a, y + static_cast<int64_t>(row) * a.ld_y + f, acc[j][e] * scale);
            }
        }
}

/* y[row][f] = epilogue(scale * sum over the splits in order of partial[split][row][f]): deterministic. */
template <typename XT>
__global__ void __launch_bounds__(256) gemm_skinny_reduce_kernel(matmul_args a, const float* partial, int splits,
                                                                 float scale) {
    const int64_t total = static_cast<int64_t>(a.rows) * a.n;
    const int64_t plane = total;
    XT* y = static_cast<XT*>(a.y);
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        float s = 0.0f;
        for (int sp = 0; sp < splits; ++sp) s += partial[sp * plane + i];
        const int row = static_cast<int>(i / a.n);
        const int f = static_cast<int>(i - static_cast<int64_t>(row) * a.n);
        matmul_store(a, y + static_cast<int64_t>(row) * a.ld_y + f, s * scale);
    }
}

template <typename XT, int WK, int NT>
void gemm_skinny_enqueue(context* ctx, const matmul_args& a, const skinny_plan& p, int vec_x, int vec_w,
                         float* partial) {
    const dim3 grid(static_cast<unsigned>(p.tiles_n), static_cast<unsigned>(p.splits));
    gemm_skinny_kernel<XT, WK, NT><<<grid, THREADS, 0, ctx->stream>>>(a, vec_x, vec_w, p.k_split, partial);
}

template <typename XT, int WK>
int32_t gemm_skinny_launch_typed(context* ctx, const matmul_args& a) {
    const skinny_plan p = skinny_plan_for(ctx->sm_count(), a.rows, a.n, a.k, WK == WK_F8 ? 1 : 2);
    const int elem_w = WK == WK_F8 ? 16 : 8;
    const int vec_w = host_aligned16(a.w) && a.k % elem_w == 0;
    const int64_t row_bytes = a.ld_x * static_cast<int64_t>(sizeof(XT));
    const int vec_x = host_aligned16(a.x) && row_bytes % 16 == 0;
    float* partial = nullptr;
    if (p.splits > 1) {
        partial = static_cast<float*>(ctx->get_scratch(p.scratch_bytes, "n4j_matmul"));
        if (partial == nullptr) return N4J_ERR_OUT_OF_MEMORY;  // reported by get_scratch
    }
    if (a.rows <= 16) {
        gemm_skinny_enqueue<XT, WK, 2>(ctx, a, p, vec_x, vec_w, partial);
    } else if (a.rows <= 32) {
        gemm_skinny_enqueue<XT, WK, 4>(ctx, a, p, vec_x, vec_w, partial);
    } else {
        gemm_skinny_enqueue<XT, WK, 8>(ctx, a, p, vec_x, vec_w, partial);
    }
    if (p.splits > 1) {
        const float scale = WK == WK_F8 ? a.scale * 256.0f : a.scale;
        const int64_t total = static_cast<int64_t>(a.rows) * a.n;
        int64_t blocks = ceil_div(total, 256);
        const int64_t cap = static_cast<int64_t>(ctx->sm_count()) * 8;
        if (blocks > cap) blocks = cap;
        gemm_skinny_reduce_kernel<XT><<<static_cast<unsigned>(blocks), 256, 0, ctx->stream>>>(a, partial, p.splits,
                                                                                             scale);
    }
    return N4J_OK;
}

template <int WK>
int32_t gemm_skinny_launch_weight(context* ctx, const matmul_args& a) {
    if (ctx->act_bf16()) return gemm_skinny_launch_typed<bf16, WK>(ctx, a);
    return gemm_skinny_launch_typed<float, WK>(ctx, a);
}

}  // namespace skinny

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_GEMM_SKINNY_CUH */
