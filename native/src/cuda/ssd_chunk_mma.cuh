/*
 * ssd_chunk_mma.cuh: the matmul-shaped kernels of the SSD scan (ssd_chunk_scan.cuh: 2. C.B, 3 + 4. the chunk states
 * and their passing, fused, 5. the chunk output) on tensor cores, mma.sync.m16n8k16 with bf16 operands and fp32
 * accumulators. Used with BF16 activations (x, B, C arrive in bf16 and y leaves in bf16) unless N4J_CUDA_NO_MMA;
 * F32 activations keep the fp32 SIMT kernels (their 1e-4 criterion). Kernel 1 (cumsum) is shared: all decay math
 * (dt', the two-float cumsum, every exp) stays fp32, and so does every state that is carried or returned.
 *
 * Operands, per kernel (the tile of each operand in shared memory, and how ldmatrix reads it):
 *   2. CB[l][s] = sum_n C[l][n] B[s][n]             A = C [l][n] (row-major, ldmatrix), B = B [s][n] (n-major,
 *      64 x 64 tiles at or below the diagonal       ldmatrix): both straight bf16 copies of the activations.
 *   3+4. state scan, sequential over the chunks:    A = w_l x[l][p] as hi + lo bf16 pair (two mma per tile), stored
 *      H += sum_l w_l x[l][p] B[l][n] after H *=   [l][p] (k-major, ldmatrix.trans), B = B [l][n] (k-major,
 *      exp(cs_last), w_l = exp(cs_last - cs_l) dt'_l  ldmatrix.trans); the fp32 carry H is the accumulator;
 *                                                   bf16(H) entering each chunk goes to memory for kernel 5.
 *   5. y[l][p] = exp(cs_l) sum_n C[l][n] Hprev[p][n]            A = C [l][n], B = bf16(Hprev) [p][n] (ldmatrix);
 *               + sum_{s<=l} M[l][s] x[s][p] + D x[l][p],       A = bf16(M) [l][s], B = x [s][p] (ldmatrix.trans);
 *      M[l][s] = CB[l][s] exp(cs_l - cs_s) dt'_s (fp32, then rounded once to bf16), 64 rows of l per block.
 * Every operand is rounded to bf16 once, right before the product; the products are exact and accumulate in fp32.
 * What feeds y (M and the Hprev copy kernel 5 reads) is rounded to bf16 once, a relative error of at most 2^-9 on
 * one term of an fp32 sum, the order of the rounding of y itself to bf16. What feeds the state keeps ~16 bits: the
 * fp32 w_l x is split as hi + lo bf16 (as gemm_mma.cuh does for F32 activations), so the state carried from chunk
 * to chunk and the final state (fp32 mma accumulators, never rounded to bf16) stay within ~1e-5 of the fp32
 * recurrence on bf16 inputs, instead of the ~2e-3 a single bf16 rounding of w x gives. CB stays fp32 in memory.
 *
 * Block: 128 threads = 4 warps. Kernel 2: each warp 16 rows x 64 columns. Kernel 3+4: each warp all 16*PJ rows of
 * p x 16 columns of n (n tiles of 64 per block). Kernel 5: each warp 16 rows of l x all 16*PJ columns of p; a warp
 * whose rows lie past the chunk or the tokens, or (phase 2) entirely before its key tile, skips its mma
 * (warp-uniform). K steps of 32 (two k16 steps per shared tile); tiles are zero-filled past the chunk, the tokens, head_dim and state_dim, so any
 * chunk length, token count, head_dim and state_dim works. head_dim comes in p tiles of 16*PJ (pick_pj_mma: PJ in
 * {2, 3, 4, 5, 8}; 80 -> 5 and 64 -> 4 with no padding, 128 -> 8; larger head dims use several p tiles). Rows of x,
 * B and C are copied 16 bytes at a time when their base is 16-byte aligned and ld and width are multiples of 8
 * (vec_x, vec_B, vec_C), element by element otherwise.
 */
#ifndef N4J_CUDA_SSD_CHUNK_MMA_CUH
#define N4J_CUDA_SSD_CHUNK_MMA_CUH

#include "ssd_chunk_scan.cuh"

namespace n4j {
namespace cuda {
namespace ssd {

constexpr int kMmaThreads = 128;  // 4 warps
constexpr int kMmaK = 32;         // k per shared tile
constexpr int kMmaKP = kMmaK + 8; // padded [m][k] row (80 bytes: the 8 row addresses of an ldmatrix phase hit distinct banks)
constexpr int kMmaCbTile = 64;
constexpr int kMmaScanN = 64;    // n columns per block of the state scan
constexpr int kMmaOutRows = 64;

/* Column groups of 16 per p tile for a head dim (the tensor-core kernels' p tile is 16 * PJ wide). */
static inline int pick_pj_mma(int head_dim) {
    if (head_dim <= 32) return 2;
    if (head_dim <= 48) return 3;
    if (head_dim <= 64) return 4;
    if (head_dim <= 80) return 5;
    return 8;
}

/* Elements k .. k+7 of a bf16 row, zero at and past kmax; one 16-byte load when vec and all 8 are inside. */
__device__ __forceinline__ uint4 ssd_load8(const bf16* row, int k, int kmax, int vec) {
    if (vec && k + 8 <= kmax) return *reinterpret_cast<const uint4*>(row + k);
    const uint16_t* u = reinterpret_cast<const uint16_t*>(row) + k;
    uint32_t h[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) h[e] = k + e < kmax ? u[e] : 0u;
    return make_uint4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16));
}

/* Two packed bf16 times w in fp32, split into hi = bf16(w v) and lo = bf16(w v - hi) (together ~16 significant
 * bits of the fp32 product). */
__device__ __forceinline__ void ssd_split2(uint32_t v, float w, uint32_t& hi, uint32_t& lo) {
    const float a = bf16_bits_to_f32(v & 0xffffu) * w;
    const float b = bf16_bits_to_f32(v >> 16) * w;
    hi = pack_bf16x2(a, b);
    lo = pack_bf16x2(a - bf16_bits_to_f32(hi & 0xffffu), b - bf16_bits_to_f32(hi >> 16));
}
__device__ __forceinline__ void ssd_split8(uint4 v, float w, uint4& hi, uint4& lo) {
    ssd_split2(v.x, w, hi.x, lo.x);
    ssd_split2(v.y, w, hi.y, lo.y);
    ssd_split2(v.z, w, hi.z, lo.z);
    ssd_split2(v.w, w, hi.w, lo.w);
}

/* ldmatrix_x4 row addresses for lane `lane`. A fragments of rows m0..m0+15, k0..k0+15:
 *   a_rowmajor: tile stored [m][k] (ldmatrix_x4);  a_kmajor: tile stored [k][m] (ldmatrix_x4_trans).
 * B fragments of two n8 tiles n0..n0+15 (registers 0, 1: tile n0; 2, 3: tile n0 + 8):
 *   b_nmajor: tile stored [n][k] (ldmatrix_x4);    b_kmajor: tile stored [k][n] (ldmatrix_x4_trans). */
__device__ __forceinline__ const bf16* a_rowmajor(const bf16* s, int ld, int m0, int k0, int lane) {
    return s + (m0 + (lane & 15)) * ld + k0 + (lane >> 4) * 8;
}
__device__ __forceinline__ const bf16* a_kmajor(const bf16* s, int ld, int m0, int k0, int lane) {
    return s + (k0 + ((lane >> 4) << 3) + (lane & 7)) * ld + m0 + ((lane >> 3) & 1) * 8;
}
__device__ __forceinline__ const bf16* b_nmajor(const bf16* s, int ld, int n0, int k0, int lane) {
    return s + (n0 + (lane & 7) + ((lane >> 4) << 3)) * ld + k0 + ((lane >> 3) & 1) * 8;
}
__device__ __forceinline__ const bf16* b_kmajor(const bf16* s, int ld, int n0, int k0, int lane) {
    return s + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n0 + (lane >> 4) * 8;
}

/* 2. CB[g][c][l][s] = C_l . B_s on 64 x 64 tiles at or below the diagonal. grid (tiles^2, chunks, groups). */
__global__ void __launch_bounds__(kMmaThreads) ssd_cb_mma_kernel(ssd_params a) {
    __shared__ __align__(16) bf16 c_s[kMmaCbTile * kMmaKP];
    __shared__ __align__(16) bf16 b_s[kMmaCbTile * kMmaKP];
    const int L = a.chunk;
    const int tiles = (L + kMmaCbTile - 1) / kMmaCbTile;
    const int lt = blockIdx.x / tiles;
    const int st = blockIdx.x % tiles;
    if (st > lt) return;  // every s > every l: never read
    const int c = blockIdx.y;
    const int g = blockIdx.z;
    const int N = a.state_dim;
    const int l0 = lt * kMmaCbTile;
    const int s0 = st * kMmaCbTile;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const bf16* C = static_cast<const bf16*>(a.C) + static_cast<int64_t>(g) * N;
    const bf16* B = static_cast<const bf16*>(a.B) + static_cast<int64_t>(g) * N;

    float acc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][e] = 0.0f;

    for (int n0 = 0; n0 < N; n0 += kMmaK) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int q = threadIdx.x + kMmaThreads * i;  // 64 rows x 4 pieces of 8
            const int r = q >> 2;
            const int kc = (q & 3) * 8;
            const int lc = l0 + r;
            const int sc = s0 + r;
            const int tl = c * L + lc;
            const int ts = c * L + sc;
            uint4 vc = make_uint4(0, 0, 0, 0), vb = make_uint4(0, 0, 0, 0);
            if (lc < L && tl < a.tokens) vc = ssd_load8(C + tl * a.ld_C + n0, kc, N - n0, a.vec_C);
            if (sc < L && ts < a.tokens) vb = ssd_load8(B + ts * a.ld_B + n0, kc, N - n0, a.vec_B);
            *reinterpret_cast<uint4*>(c_s + r * kMmaKP + kc) = vc;
            *reinterpret_cast<uint4*>(b_s + r * kMmaKP + kc) = vb;
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < kMmaK / 16; ++ks) {
            uint32_t af[4];
            ldmatrix_x4(af, a_rowmajor(c_s, kMmaKP, warp * 16, ks * 16, lane));
#pragma unroll
            for (int nj = 0; nj < 4; ++nj) {
                uint32_t bfr[4];
                ldmatrix_x4(bfr, b_nmajor(b_s, kMmaKP, nj * 16, ks * 16, lane));
                mma_bf16_16816(acc[2 * nj], af, bfr[0], bfr[1]);
                mma_bf16_16816(acc[2 * nj + 1], af, bfr[2], bfr[3]);
            }
        }
        __syncthreads();
    }
    float* out = a.cb + ((static_cast<int64_t>(g) * a.n_chunks + c) * L) * L;
#pragma unroll
    for (int ni = 0; ni < 8; ++ni)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int l = l0 + warp * 16 + (lane >> 2) + half * 8;
            if (l >= L) continue;
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int s = s0 + ni * 8 + (lane & 3) * 2 + e;
                if (s < L) out[static_cast<int64_t>(l) * L + s] = acc[ni][half * 2 + e];
            }
        }
}

/*
 * 3 + 4. The chunk states and their passing in one kernel. For one (head, p tile, n tile of 64), sequentially over
 * the chunks of the segment: write bf16(Hprev_c), the state entering chunk c, to hprev[c][h][p][n] (the only form
 * kernel 5 reads it in), then Hprev_{c+1} = exp(cs_last(c)) Hprev_c + sum_l w_l x_l[p] B_l[n]: the fp32 carry lives
 * in the mma accumulators, scaled by the chunk's decay and then accumulated into by the chunk's products. It starts
 * from a.state and ends there (fp32). The per-chunk contributions S_c never reach memory. grid (n tiles, heads * p
 * tiles); warp w owns n columns n0 + 16w .. n0 + 16w + 15 (two n8 tiles) and all PJ m16 tiles of p.
 */
template <int PJ>
__global__ void __launch_bounds__(kMmaThreads) ssd_state_scan_mma_kernel(ssd_params a) {
    constexpr int PW = 16 * PJ;
    constexpr int XLD = PW + 8;
    constexpr int BLD = kMmaScanN + 8;
    __shared__ __align__(16) bf16 xs[kMmaK * XLD];  // hi of w_l x[l][p], [l][p]
    __shared__ __align__(16) bf16 xl[kMmaK * XLD];  // lo of w_l x[l][p]
    __shared__ __align__(16) bf16 bs[kMmaK * BLD];  // B[l][n]
    const int p_tiles = (a.head_dim + PW - 1) / PW;
    const int h = blockIdx.y / p_tiles;
    const int p0 = (blockIdx.y % p_tiles) * PW;
    const int n0 = blockIdx.x * kMmaScanN;
    const int g = h / (a.heads / a.groups);
    const int L = a.chunk;
    const int P = a.head_dim;
    const int N = a.state_dim;
    const int64_t tp = static_cast<int64_t>(a.n_chunks) * L;
    const int64_t pn = static_cast<int64_t>(P) * N;
    const bf16* X = static_cast<const bf16*>(a.x) + static_cast<int64_t>(h) * P + p0;
    const bf16* B = static_cast<const bf16*>(a.B) + static_cast<int64_t>(g) * N + n0;
    float* state = a.state + h * pn;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int row = p0 + (lane >> 2);                   // + 16 mi + 8 half
    const int col = n0 + warp * 16 + (lane & 3) * 2;    // + 8 ni + e

    float acc[PJ][2][4];
#pragma unroll
    for (int mi = 0; mi < PJ; ++mi)
#pragma unroll
        for (int ni = 0; ni < 2; ++ni)
#pragma unroll
            for (int half = 0; half < 2; ++half)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int p = row + mi * 16 + half * 8;
                    const int n = col + ni * 8 + e;
                    acc[mi][ni][half * 2 + e] = p < P && n < N ? state[static_cast<int64_t>(p) * N + n] : 0.0f;
                }

    for (int c = 0; c < a.n_chunks; ++c) {
        bf16* hp = a.hprev + (static_cast<int64_t>(c) * a.heads + h) * pn;
#pragma unroll
        for (int mi = 0; mi < PJ; ++mi)
#pragma unroll
            for (int ni = 0; ni < 2; ++ni)
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int p = row + mi * 16 + half * 8;
                    const int n = col + ni * 8;  // even
                    if (p >= P || n >= N) continue;
                    const float* v = &acc[mi][ni][half * 2];
                    bf16* dst = hp + static_cast<int64_t>(p) * N + n;
                    if ((N & 1) == 0) {  // n + 1 < N too, and dst is 4-byte aligned
                        *reinterpret_cast<uint32_t*>(dst) = pack_bf16x2(v[0], v[1]);
                    } else {
                        dst[0] = __float2bfloat16_rn(v[0]);
                        if (n + 1 < N) dst[1] = __float2bfloat16_rn(v[1]);
                    }
                }
        const float* cs = a.cs + h * tp + static_cast<int64_t>(c) * L;
        const float* cs_lo = a.cs_lo + h * tp + static_cast<int64_t>(c) * L;
        const float* dtp = a.dtp + h * tp + static_cast<int64_t>(c) * L;
        const float decay = expf(cs[L - 1] + cs_lo[L - 1]);
#pragma unroll
        for (int mi = 0; mi < PJ; ++mi)
#pragma unroll
            for (int ni = 0; ni < 2; ++ni)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[mi][ni][e] *= decay;

        const int valid = min(L, a.tokens - c * L);
        for (int l0 = 0; l0 < valid; l0 += kMmaK) {
            for (int q = threadIdx.x; q < kMmaK * 2 * PJ; q += kMmaThreads) {
                const int r = q / (2 * PJ);
                const int pc = (q % (2 * PJ)) * 8;
                const int lc = l0 + r;
                uint4 hi = make_uint4(0, 0, 0, 0), lo = make_uint4(0, 0, 0, 0);
                if (lc < valid) {
                    const float w = expf(seg_sum(cs, cs_lo, L - 1, lc)) * dtp[lc];
                    ssd_split8(ssd_load8(X + (static_cast<int64_t>(c) * L + lc) * a.ld_x, pc, P - p0, a.vec_x), w, hi,
                               lo);
                }
                *reinterpret_cast<uint4*>(xs + r * XLD + pc) = hi;
                *reinterpret_cast<uint4*>(xl + r * XLD + pc) = lo;
            }
            for (int q = threadIdx.x; q < kMmaK * (kMmaScanN / 8); q += kMmaThreads) {
                const int r = q / (kMmaScanN / 8);
                const int nc = (q % (kMmaScanN / 8)) * 8;
                const int lc = l0 + r;
                uint4 v = make_uint4(0, 0, 0, 0);
                if (lc < valid) v = ssd_load8(B + (static_cast<int64_t>(c) * L + lc) * a.ld_B, nc, N - n0, a.vec_B);
                *reinterpret_cast<uint4*>(bs + r * BLD + nc) = v;
            }
            __syncthreads();
#pragma unroll
            for (int ks = 0; ks < kMmaK / 16; ++ks) {
                uint32_t bfr[4];
                ldmatrix_x4_trans(bfr, b_kmajor(bs, BLD, warp * 16, ks * 16, lane));
#pragma unroll
                for (int mi = 0; mi < PJ; ++mi) {
                    uint32_t af[4], afl[4];
                    ldmatrix_x4_trans(af, a_kmajor(xs, XLD, mi * 16, ks * 16, lane));
                    ldmatrix_x4_trans(afl, a_kmajor(xl, XLD, mi * 16, ks * 16, lane));
                    mma_bf16_16816(acc[mi][0], afl, bfr[0], bfr[1]);
                    mma_bf16_16816(acc[mi][1], afl, bfr[2], bfr[3]);
                    mma_bf16_16816(acc[mi][0], af, bfr[0], bfr[1]);
                    mma_bf16_16816(acc[mi][1], af, bfr[2], bfr[3]);
                }
            }
            __syncthreads();
        }
    }
#pragma unroll
    for (int mi = 0; mi < PJ; ++mi)
#pragma unroll
        for (int ni = 0; ni < 2; ++ni)
#pragma unroll
            for (int half = 0; half < 2; ++half)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int p = row + mi * 16 + half * 8;
                    const int n = col + ni * 8 + e;
                    if (p < P && n < N) state[static_cast<int64_t>(p) * N + n] = acc[mi][ni][half * 2 + e];
                }
}

/*
 * 5. y[l][p] = exp(cs_l) sum_n C_l[n] Hprev[p][n] + sum_{s<=l} M[l][s] x_s[p] + D x_l[p].
 * grid (l tiles of 64, chunks, heads * p tiles).
 */
template <int PJ>
__global__ void __launch_bounds__(kMmaThreads) ssd_chunk_output_mma_kernel(ssd_params a) {
    constexpr int PW = 16 * PJ;
    constexpr int XLD = PW + 8;
    __shared__ __align__(16) bf16 rows_s[kMmaOutRows * kMmaKP];  // C[l][n] (phase 1) or bf16(M)[l][s] (phase 2)
    __shared__ __align__(16) bf16 hs[PW * kMmaKP];               // Hprev[p][n] (phase 1, bf16 from kernel 3+4)
    __shared__ __align__(16) bf16 xs[kMmaK * XLD];               // x[s][p] (phase 2)
    const int p_tiles = (a.head_dim + PW - 1) / PW;
    const int h = blockIdx.z / p_tiles;
    const int p0 = (blockIdx.z % p_tiles) * PW;
    const int c = blockIdx.y;
    const int l0 = blockIdx.x * kMmaOutRows;
    const int g = h / (a.heads / a.groups);
    const int L = a.chunk;
    const int P = a.head_dim;
    const int N = a.state_dim;
    if (l0 >= L) return;
    const int64_t tp = static_cast<int64_t>(a.n_chunks) * L;
    const float* cs = a.cs + h * tp + static_cast<int64_t>(c) * L;
    const float* cs_lo = a.cs_lo + h * tp + static_cast<int64_t>(c) * L;
    const float* dtp = a.dtp + h * tp + static_cast<int64_t>(c) * L;
    const bf16* hprev = a.hprev + (static_cast<int64_t>(c) * a.heads + h) * P * N;
    const float* cb = a.cb + ((static_cast<int64_t>(g) * a.n_chunks + c) * L) * L;
    const bf16* C = static_cast<const bf16*>(a.C) + static_cast<int64_t>(g) * N;
    const bf16* X = static_cast<const bf16*>(a.x) + static_cast<int64_t>(h) * P + p0;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int w0 = l0 + warp * 16;  // this warp's first row of l
    const bool rows_live = w0 < L && c * L + w0 < a.tokens;
    const int valid = min(L, a.tokens - c * L);  // rows of this chunk that are tokens

    float acc[2 * PJ][4];
#pragma unroll
    for (int ni = 0; ni < 2 * PJ; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[ni][e] = 0.0f;

    // Phase 1: the state entering the chunk, seen through C.
    for (int k0 = 0; k0 < N; k0 += kMmaK) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int q = threadIdx.x + kMmaThreads * i;
            const int r = q >> 2;
            const int kc = (q & 3) * 8;
            const int lc = l0 + r;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (lc < valid) v = ssd_load8(C + (c * L + lc) * a.ld_C + k0, kc, N - k0, a.vec_C);
            *reinterpret_cast<uint4*>(rows_s + r * kMmaKP + kc) = v;
        }
        for (int q = threadIdx.x; q < PW * (kMmaK / 8); q += kMmaThreads) {
            const int r = q >> 2;
            const int kc = (q & 3) * 8;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (p0 + r < P) v = ssd_load8(hprev + static_cast<int64_t>(p0 + r) * N + k0, kc, N - k0, (N & 7) == 0);
            *reinterpret_cast<uint4*>(hs + r * kMmaKP + kc) = v;
        }
        __syncthreads();
        if (rows_live) {
#pragma unroll
            for (int ks = 0; ks < kMmaK / 16; ++ks) {
                uint32_t af[4];
                ldmatrix_x4(af, a_rowmajor(rows_s, kMmaKP, warp * 16, ks * 16, lane));
#pragma unroll
                for (int nj = 0; nj < PJ; ++nj) {
                    uint32_t bfr[4];
                    ldmatrix_x4(bfr, b_nmajor(hs, kMmaKP, nj * 16, ks * 16, lane));
                    mma_bf16_16816(acc[2 * nj], af, bfr[0], bfr[1]);
                    mma_bf16_16816(acc[2 * nj + 1], af, bfr[2], bfr[3]);
                }
            }
        }
        __syncthreads();
    }
    {
        const int r0 = w0 + (lane >> 2);
        const int r1 = r0 + 8;
        const float d0 = r0 < L ? expf(cs[r0] + cs_lo[r0]) : 0.0f;
        const float d1 = r1 < L ? expf(cs[r1] + cs_lo[r1]) : 0.0f;
#pragma unroll
        for (int ni = 0; ni < 2 * PJ; ++ni) {
            acc[ni][0] *= d0;
            acc[ni][1] *= d0;
            acc[ni][2] *= d1;
            acc[ni][3] *= d1;
        }
    }

    // Phase 2: the chunk's own tokens s <= l, through the masked, decayed CB.
    const int l_last = min(l0 + kMmaOutRows, valid) - 1;
    for (int s0 = 0; s0 <= l_last; s0 += kMmaK) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int q = threadIdx.x + kMmaThreads * i;
            const int r = q >> 2;
            const int sc0 = s0 + (q & 3) * 8;
            const int lc = l0 + r;
            float v[8];
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                const int sc = sc0 + e;
                v[e] = (lc < valid && sc <= lc)
                           ? cb[static_cast<int64_t>(lc) * L + sc] * expf(seg_sum(cs, cs_lo, lc, sc)) * dtp[sc]
                           : 0.0f;
            }
            *reinterpret_cast<uint4*>(rows_s + r * kMmaKP + (q & 3) * 8) = make_uint4(
                pack_bf16x2(v[0], v[1]), pack_bf16x2(v[2], v[3]), pack_bf16x2(v[4], v[5]), pack_bf16x2(v[6], v[7]));
        }
        for (int q = threadIdx.x; q < kMmaK * 2 * PJ; q += kMmaThreads) {
            const int r = q / (2 * PJ);
            const int pc = (q % (2 * PJ)) * 8;
            const int sc = s0 + r;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (sc < valid) v = ssd_load8(X + (c * L + sc) * a.ld_x, pc, P - p0, a.vec_x);
            *reinterpret_cast<uint4*>(xs + r * XLD + pc) = v;
        }
        __syncthreads();
        if (rows_live && s0 <= w0 + 15) {
#pragma unroll
            for (int ks = 0; ks < kMmaK / 16; ++ks) {
                uint32_t af[4];
                ldmatrix_x4(af, a_rowmajor(rows_s, kMmaKP, warp * 16, ks * 16, lane));
#pragma unroll
                for (int nj = 0; nj < PJ; ++nj) {
                    uint32_t bfr[4];
                    ldmatrix_x4_trans(bfr, b_kmajor(xs, XLD, nj * 16, ks * 16, lane));
                    mma_bf16_16816(acc[2 * nj], af, bfr[0], bfr[1]);
                    mma_bf16_16816(acc[2 * nj + 1], af, bfr[2], bfr[3]);
                }
            }
        }
        __syncthreads();
    }

    // y = acc + D x, two adjacent columns per 4-byte access where both buffers allow it (pair_ok).
    const float Dh = a.D(h);
    const int64_t x_col = static_cast<int64_t>(h) * P + p0;
    const bf16* xg = static_cast<const bf16*>(a.x);
    bf16* yg = static_cast<bf16*>(a.y);
    const bool pair_ok = ((a.ld_x | a.ld_y | x_col) & 1) == 0 && (reinterpret_cast<uintptr_t>(xg) & 3) == 0 &&
                         (reinterpret_cast<uintptr_t>(yg) & 3) == 0;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int lc = w0 + (lane >> 2) + half * 8;
        if (lc >= valid) continue;
        const int64_t t = static_cast<int64_t>(c) * L + lc;
        const bf16* xr = xg + t * a.ld_x + x_col;
        bf16* yr = yg + t * a.ld_y + x_col;
#pragma unroll
        for (int ni = 0; ni < 2 * PJ; ++ni) {
            const int pp = ni * 8 + (lane & 3) * 2;  // even
            const float* v = &acc[ni][half * 2];
            if (pair_ok && p0 + pp + 1 < P) {
                const uint32_t xv = *reinterpret_cast<const uint32_t*>(xr + pp);
                *reinterpret_cast<uint32_t*>(yr + pp) = pack_bf16x2(fmaf(Dh, bf16_bits_to_f32(xv & 0xffffu), v[0]),
                                                                    fmaf(Dh, bf16_bits_to_f32(xv >> 16), v[1]));
            } else {
#pragma unroll
                for (int e = 0; e < 2; ++e)
                    if (p0 + pp + e < P) yr[pp + e] = __float2bfloat16_rn(fmaf(Dh, __bfloat162float(xr[pp + e]), v[e]));
            }
        }
    }
}

template <int PJ>
void launch_state_scan_mma(const ssd_params& a, cudaStream_t stream) {
    const int p_tiles = static_cast<int>(ceil_div(a.head_dim, 16 * PJ));
    const dim3 grid(static_cast<unsigned>(ceil_div(a.state_dim, kMmaScanN)), static_cast<unsigned>(a.heads * p_tiles));
    ssd_state_scan_mma_kernel<PJ><<<grid, kMmaThreads, 0, stream>>>(a);
}

template <int PJ>
void launch_chunk_output_mma(const ssd_params& a, cudaStream_t stream) {
    const int p_tiles = static_cast<int>(ceil_div(a.head_dim, 16 * PJ));
    const dim3 grid(static_cast<unsigned>(ceil_div(a.chunk, kMmaOutRows)), static_cast<unsigned>(a.n_chunks),
                    static_cast<unsigned>(a.heads * p_tiles));
    ssd_chunk_output_mma_kernel<PJ><<<grid, kMmaThreads, 0, stream>>>(a);
}

}  // namespace ssd
}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_SSD_CHUNK_MMA_CUH */
