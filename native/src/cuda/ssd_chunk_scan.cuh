/*
 * ssd_chunk_scan.cuh: the Mamba-2 selective scan in its chunked "state space duality" (matmul) form.
 *
 * Recurrence (per head h, group g = h / (heads/groups), token t):
 *   dt' = softplus(dt + dt_bias),  a_t = dt'_t * A (A = -exp(A_log) < 0)
 *   state_t = exp(a_t) state_{t-1} + dt'_t x_t B_t^T        y_t = state_t C_t + D x_t
 * Split the tokens into chunks of L (= chunk_size). Inside a chunk let cs_l = a_0 + ... + a_l (inclusive cumsum,
 * always <= 0 and decreasing), and Hprev the state entering the chunk. Then for l in the chunk
 *   state_l = exp(cs_l) Hprev + sum_{s<=l} exp(cs_l - cs_s) dt'_s x_s B_s^T
 *   y_l     = exp(cs_l) (C_l . Hprev) + sum_{s<=l} (C_l . B_s) exp(cs_l - cs_s) dt'_s x_s + D x_l
 * Every exponent above is <= 0, so no term can overflow, whatever the chunk length. The cumsum is accumulated in
 * fp64 and stored as two floats (cs = hi + lo), and every exponent is formed as (hi_l - hi_s) + (lo_l - lo_s): the
 * difference of two large prefix sums (|cs| can reach 1e3 inside a chunk with strong decay) then keeps the
 * accuracy of the small segment sum it stands for, instead of an absolute error of ulp(|cs|) ~ 1e-4.
 *
 * Kernels (all fp32; parallel over heads and chunks):
 *   1. ssd_cumsum      dt'[h, t] and cs[h, t] (a warp scan per (chunk, head))
 *   2. ssd_cb          CB[g, c, l, s] = C_l . B_s for s <= l (per group, shared by its heads)
 *   3. ssd_chunk_state S_c[h] = sum_l exp(cs_last - cs_l) dt'_l x_l B_l^T: the chunk's own contribution (P x N)
 *   4. ssd_state_pass  sequential over chunks, parallel over (h, p, n): Hprev_c written over S_c in place,
 *                      Hprev_{c+1} = exp(cs_last(c)) Hprev_c + S_c; the last one is the final state
 *   5. ssd_chunk_output y = exp(cs_l) C Hprev^T  +  (CB o decay mask o dt') X  +  D x
 * Kernels 3 and 5 are shared-memory tiled SIMT matmuls templated on PJ, the number of 16-wide column groups of
 * head_dim a thread owns (head_dim <= 16*PJ per p-tile; PJ in {2, 3, 5, 8}: 20 -> 2, 40 -> 3, 80 -> 5 with no
 * padding, 128 -> 8; larger head dims use several p-tiles). Long inputs are processed in segments of whole chunks
 * (the final state of one segment is the initial state of the next) so the scratch for chunk states stays below
 * ~128 MiB (env N4J_SSD_SEGMENT_BYTES changes the budget; the tests use it to exercise several segments).
 * Work per 9B layer at 8192 tokens: ~27 GFMA (~2 ms at 25 TFLOP/s effective fp32).
 * With BF16 activations (and not N4J_CUDA_NO_MMA) kernels 2-5 are replaced by their tensor-core versions in
 * ssd_chunk_mma.cuh (2, 3+4 fused into one state scan, 5); the list above is then the F32 activation path.
 */
#ifndef N4J_CUDA_SSD_CHUNK_SCAN_CUH
#define N4J_CUDA_SSD_CHUNK_SCAN_CUH

#include "common.cuh"
#include "context.cuh"

namespace n4j {
namespace cuda {

struct ssd_params {
    int heads, head_dim, groups, state_dim;
    int chunk;       // L
    int tokens;      // tokens of this segment
    int n_chunks;    // chunks of this segment
    const void* x;   // row 0 = first token of the segment
    int64_t ld_x;
    const void* B;
    int64_t ld_B;
    const void* C;
    int64_t ld_C;
    const void* dt;
    int64_t ld_dt;
    weight_ref dt_bias, A_log, D;
    float* state;    // [heads, head_dim, state_dim], in and out
    void* y;
    int64_t ld_y;
    int act_bf16;
    // tensor-core path (ssd_chunk_mma.cuh): 16-byte loads allowed for x / B / C rows (base 16-byte aligned,
    // ld and the row's width multiples of 8 elements)
    int vec_x, vec_B, vec_C;
    // scratch
    float* dtp;      // [heads][n_chunks * L]
    float* cs;       // [heads][n_chunks * L]  high part of the cumsum
    float* cs_lo;    // [heads][n_chunks * L]  low part (cs + cs_lo is the fp64 cumsum to ~1e-14)
    float* cb;       // [groups][n_chunks][L][L]
    float* states;   // SIMT path: [n_chunks][heads][head_dim][state_dim]
    bf16* hprev;     // tensor-core path instead: [n_chunks][heads][head_dim][state_dim], the state entering each chunk
};

namespace ssd {

constexpr int kThreads = 256;
constexpr int kStateTileN = 128;  // n columns per chunk_state block
constexpr int kStepL = 32;        // tokens per shared tile in chunk_state
constexpr int kOutRows = 64;      // l rows per chunk_output block
constexpr int kStepK = 32;        // n or s per shared tile in chunk_output

/* The segment sum cs_l - cs_s from the two-float cumsum (see the top comment). */
__device__ __forceinline__ float seg_sum(const float* hi, const float* lo, int l, int s) {
    return (hi[l] - hi[s]) + (lo[l] - lo[s]);
}

/* Column groups per thread for a head dim (one p-tile covers 16 * PJ rows of p). */
static inline int pick_pj(int head_dim) {
    if (head_dim <= 32) return 2;
    if (head_dim <= 48) return 3;
    if (head_dim <= 80) return 5;
    return 8;
}

/* 3. S_c[h][p][n] = sum_l exp(cs_last - cs_l) * dt'_l * x_l[p] * B_l[n]. grid (n tiles, chunks, heads * p tiles). */
template <int PJ>
__global__ void __launch_bounds__(kThreads) ssd_chunk_state_kernel(ssd_params a) {
    constexpr int PW = 16 * PJ;
    __shared__ float xs[kStepL][PW];
    __shared__ float bs[kStepL][kStateTileN + 4];
    const int p_tiles = (a.head_dim + PW - 1) / PW;
    const int h = blockIdx.z / p_tiles;
    const int p0 = (blockIdx.z % p_tiles) * PW;
    const int c = blockIdx.y;
    const int n0 = blockIdx.x * kStateTileN;
    const int g = h / (a.heads / a.groups);
    const int L = a.chunk;
    const int P = a.head_dim;
    const int N = a.state_dim;
    const int64_t tp = static_cast<int64_t>(a.n_chunks) * L;
    const float* cs = a.cs + h * tp + static_cast<int64_t>(c) * L;
    const float* cs_lo = a.cs_lo + h * tp + static_cast<int64_t>(c) * L;
    const float* dtp = a.dtp + h * tp + static_cast<int64_t>(c) * L;
    const int tx = threadIdx.x & 15;  // n = n0 + tx + 16 i
    const int ty = threadIdx.x >> 4;  // p = p0 + ty + 16 j

    float acc[PJ][8];
#pragma unroll
    for (int j = 0; j < PJ; ++j)
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[j][i] = 0.0f;

    for (int l0 = 0; l0 < L; l0 += kStepL) {
        for (int e = threadIdx.x; e < kStepL * PW; e += kThreads) {
            const int l = e / PW;
            const int pp = e % PW;
            const int lc = l0 + l;
            const int t = c * L + lc;
            float v = 0.0f;
            if (lc < L && t < a.tokens && p0 + pp < P) {
                const float w = expf(seg_sum(cs, cs_lo, L - 1, lc)) * dtp[lc];
                v = w * load_act(a.x, a.act_bf16, t * a.ld_x + static_cast<int64_t>(h) * P + p0 + pp);
            }
            xs[l][pp] = v;
        }
        for (int e = threadIdx.x; e < kStepL * kStateTileN; e += kThreads) {
            const int l = e / kStateTileN;
            const int nn = e % kStateTileN;
            const int lc = l0 + l;
            const int t = c * L + lc;
            float v = 0.0f;
            if (lc < L && t < a.tokens && n0 + nn < N) {
                v = load_act(a.B, a.act_bf16, t * a.ld_B + static_cast<int64_t>(g) * N + n0 + nn);
            }
            bs[l][nn] = v;
        }
        __syncthreads();
#pragma unroll 4
        for (int l = 0; l < kStepL; ++l) {
            float xv[PJ], bv[8];
#pragma unroll
            for (int j = 0; j < PJ; ++j) xv[j] = xs[l][ty + 16 * j];
#pragma unroll
            for (int i = 0; i < 8; ++i) bv[i] = bs[l][tx + 16 * i];
#pragma unroll
            for (int j = 0; j < PJ; ++j)
#pragma unroll
                for (int i = 0; i < 8; ++i) acc[j][i] = fmaf(xv[j], bv[i], acc[j][i]);
        }
        __syncthreads();
    }
    float* out = a.states + (static_cast<int64_t>(c) * a.heads + h) * P * N;
#pragma unroll
    for (int j = 0; j < PJ; ++j) {
        const int p = p0 + ty + 16 * j;
        if (p >= P) continue;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int n = n0 + tx + 16 * i;
            if (n < N) out[static_cast<int64_t>(p) * N + n] = acc[j][i];
        }
    }
}

/*
 * 5. y[l][p] = exp(cs_l) sum_n C_l[n] Hprev[p][n] + sum_{s<=l} CB[l][s] exp(cs_l - cs_s) dt'_s x_s[p] + D x_l[p].
 * grid (l tiles of 64, chunks, heads * p tiles); thread (lg, pg) owns rows l0 + lg + 16 i (i < 4) and columns
 * p0 + pg + 16 j (j < PJ).
 */
template <int PJ>
__global__ void __launch_bounds__(kThreads) ssd_chunk_output_kernel(ssd_params a) {
    constexpr int PW = 16 * PJ;
    __shared__ float rows_s[kOutRows][kStepK + 1];  // C tile (phase 1) or the masked CB tile (phase 2)
    __shared__ float cols_s[kStepK][PW + 1];        // Hprev^T tile (phase 1) or x tile (phase 2); +1: transposed stores
    const int p_tiles = (a.head_dim + PW - 1) / PW;
    const int h = blockIdx.z / p_tiles;
    const int p0 = (blockIdx.z % p_tiles) * PW;
    const int c = blockIdx.y;
    const int l0 = blockIdx.x * kOutRows;
    const int g = h / (a.heads / a.groups);
    const int L = a.chunk;
    const int P = a.head_dim;
    const int N = a.state_dim;
    if (l0 >= L) return;
    const int64_t tp = static_cast<int64_t>(a.n_chunks) * L;
    const float* cs = a.cs + h * tp + static_cast<int64_t>(c) * L;
    const float* cs_lo = a.cs_lo + h * tp + static_cast<int64_t>(c) * L;
    const float* dtp = a.dtp + h * tp + static_cast<int64_t>(c) * L;
    const float* hprev = a.states + (static_cast<int64_t>(c) * a.heads + h) * P * N;
    const float* cb = a.cb + ((static_cast<int64_t>(g) * a.n_chunks + c) * L) * L;
    const int pg = threadIdx.x & 15;
    const int lg = threadIdx.x >> 4;
    const int64_t x_col = static_cast<int64_t>(h) * P + p0;

    float acc[4][PJ];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < PJ; ++j) acc[i][j] = 0.0f;

    // Phase 1: the state entering the chunk, seen through C.
    for (int k0 = 0; k0 < N; k0 += kStepK) {
        for (int e = threadIdx.x; e < kOutRows * kStepK; e += kThreads) {
            const int r = e / kStepK;
            const int kk = e % kStepK;
            const int lc = l0 + r;
            const int t = c * L + lc;
            float v = 0.0f;
            if (lc < L && t < a.tokens && k0 + kk < N) {
                v = load_act(a.C, a.act_bf16, t * a.ld_C + static_cast<int64_t>(g) * N + k0 + kk);
            }
            rows_s[r][kk] = v;
        }
        for (int e = threadIdx.x; e < kStepK * PW; e += kThreads) {
            const int pp = e / kStepK;  // n fastest: coalesced reads of Hprev rows
            const int kk = e % kStepK;
            float v = 0.0f;
            if (p0 + pp < P && k0 + kk < N) v = hprev[static_cast<int64_t>(p0 + pp) * N + k0 + kk];
            cols_s[kk][pp] = v;
        }
        __syncthreads();
#pragma unroll 4
        for (int kk = 0; kk < kStepK; ++kk) {
            float rv[4], cv[PJ];
#pragma unroll
            for (int i = 0; i < 4; ++i) rv[i] = rows_s[lg + 16 * i][kk];
#pragma unroll
            for (int j = 0; j < PJ; ++j) cv[j] = cols_s[kk][pg + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < PJ; ++j) acc[i][j] = fmaf(rv[i], cv[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int lc = l0 + lg + 16 * i;
        const float decay = lc < L ? expf(cs[lc] + cs_lo[lc]) : 0.0f;
#pragma unroll
        for (int j = 0; j < PJ; ++j) acc[i][j] *= decay;
    }

    // Phase 2: the chunk's own tokens s <= l, through the masked, decayed CB.
    const int l_last = min(l0 + kOutRows, L) - 1;
    for (int s0 = 0; s0 <= l_last; s0 += kStepK) {
        for (int e = threadIdx.x; e < kOutRows * kStepK; e += kThreads) {
            const int r = e / kStepK;
            const int ss = e % kStepK;
            const int lc = l0 + r;
            const int sc = s0 + ss;
            float v = 0.0f;
            if (lc < L && sc <= lc && c * L + sc < a.tokens) {
                v = cb[static_cast<int64_t>(lc) * L + sc] * expf(seg_sum(cs, cs_lo, lc, sc)) * dtp[sc];
            }
            rows_s[r][ss] = v;
        }
        for (int e = threadIdx.x; e < kStepK * PW; e += kThreads) {
            const int ss = e / PW;
            const int pp = e % PW;
            const int sc = s0 + ss;
            const int t = c * L + sc;
            float v = 0.0f;
            if (sc < L && t < a.tokens && p0 + pp < P) v = load_act(a.x, a.act_bf16, t * a.ld_x + x_col + pp);
            cols_s[ss][pp] = v;
        }
        __syncthreads();
#pragma unroll 4
        for (int kk = 0; kk < kStepK; ++kk) {
            float rv[4], cv[PJ];
#pragma unroll
            for (int i = 0; i < 4; ++i) rv[i] = rows_s[lg + 16 * i][kk];
#pragma unroll
            for (int j = 0; j < PJ; ++j) cv[j] = cols_s[kk][pg + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < PJ; ++j) acc[i][j] = fmaf(rv[i], cv[j], acc[i][j]);
        }
        __syncthreads();
    }

    const float Dh = a.D(h);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int lc = l0 + lg + 16 * i;
        const int t = c * L + lc;
        if (lc >= L || t >= a.tokens) continue;
#pragma unroll
        for (int j = 0; j < PJ; ++j) {
            const int pp = pg + 16 * j;
            if (p0 + pp >= P) continue;
            const float xv = load_act(a.x, a.act_bf16, t * a.ld_x + x_col + pp);
            store_act(a.y, a.act_bf16, t * a.ld_y + x_col + pp, fmaf(Dh, xv, acc[i][j]));
        }
    }
}

template <int PJ>
void launch_chunk_state(const ssd_params& a, cudaStream_t stream) {
    const int p_tiles = static_cast<int>(ceil_div(a.head_dim, 16 * PJ));
    const dim3 grid(static_cast<unsigned>(ceil_div(a.state_dim, kStateTileN)), static_cast<unsigned>(a.n_chunks),
                    static_cast<unsigned>(a.heads * p_tiles));
    ssd_chunk_state_kernel<PJ><<<grid, kThreads, 0, stream>>>(a);
}

template <int PJ>
void launch_chunk_output(const ssd_params& a, cudaStream_t stream) {
    const int p_tiles = static_cast<int>(ceil_div(a.head_dim, 16 * PJ));
    const dim3 grid(static_cast<unsigned>(ceil_div(a.chunk, kOutRows)), static_cast<unsigned>(a.n_chunks),
                    static_cast<unsigned>(a.heads * p_tiles));
    ssd_chunk_output_kernel<PJ><<<grid, kThreads, 0, stream>>>(a);
}

/* Instantiated in ssd_chunk_state.cu / ssd_chunk_output.cu. */
void chunk_state(const ssd_params& a, cudaStream_t stream);
void chunk_output(const ssd_params& a, cudaStream_t stream);

/* The tensor-core versions (BF16 activations; ssd_chunk_mma.cuh, ssd_chunk_mma.cu): kernel 2, kernels 3 and 4 in
 * one (the state scan), kernel 5. */
void cb_mma(const ssd_params& a, cudaStream_t stream);
void state_scan_mma(const ssd_params& a, cudaStream_t stream);
void chunk_output_mma(const ssd_params& a, cudaStream_t stream);

}  // namespace ssd

int32_t op_ssd_chunk_scan(void* ctx, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                          const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                          const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D, float* ssm_state,
                          void* y, int64_t ld_y);

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_SSD_CHUNK_SCAN_CUH */
