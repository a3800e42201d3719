/*
 * gemm_mma.cuh: the prefill matmul on tensor cores, y[r, :] (+)= scale * x[r, :] W^T for rows > 8 and BF16 or
 * F8_E4M3 weights. Instantiated in gemm_mma_bf16.cu and gemm_mma_f8.cu.
 *
 * Algorithm. Block tile 128 (rows of x) x 128 (output features) x 32 (K), 256 threads = 8 warps in a 2 x 4 grid,
 * each warp owning a 64 x 32 tile as 4 x 4 mma.sync.m16n8k16 bf16 tiles with fp32 accumulators. Tiles go
 * global -> registers -> shared memory (two buffers): the loads of tile k+1 are issued before the tensor-core work on
 * tile k, and stored after it, so one __syncthreads per K step suffices. Shared rows are padded to 40 bf16 (80 bytes)
 * so the ldmatrix row addresses of a phase fall in distinct banks. Blocks are rasterized in groups of 8 row tiles
 * (consecutive blocks share weight tiles and x rows in L2). BF16 activations fit in 128 registers: two blocks
 * (16 warps) per SM hide the global-load latency; the F32 split below needs ~160: one block per SM.
 *
 * Numerics.
 * - W: BF16 is used as is; F8_E4M3 is expanded to bf16 in shared memory as value/256 (exact: every e4m3 value is
 *   a bf16 value), and the factor 256 joins the per-tensor scale in the epilogue.
 * - x: BF16 activations are used as is. F32 activations are split as x = hi + lo with hi = bf16(x),
 *   lo = bf16(x - hi), and both halves are multiplied with the same W fragments (two mma per tile): the product
 *   then carries ~16 significant bits of x instead of 8 (relative error ~1e-5 rather than ~4e-3), which keeps
 *   the F32 activation mode within its 1e-4 tolerance at twice the tensor-core work (still far above CUDA cores).
 * - fp32 accumulation in the tensor cores; the epilogue multiplies by the scale, adds y when accumulating, and
 *   rounds once to the activation type.
 * Edges (rows, features, K not multiples of the tile) are zero-filled on load and masked on store; rows of x or W
 * that are not 16-byte aligned (ld or K not a multiple of 8 (16 for fp8)) fall back to element loads.
 * Expected on H100: BF16 ~300+ TFLOP/s at 2048 rows (mma.sync without wgmma reaches ~60% of the dense peak),
 * F32 activations about half of that.
 */
#ifndef N4J_CUDA_GEMM_MMA_CUH
#define N4J_CUDA_GEMM_MMA_CUH

#include <type_traits>

#include "common.cuh"
#include "matmul.cuh"

namespace n4j {
namespace cuda {

namespace gemm {

constexpr int BM = 128;
constexpr int BN = 128;
constexpr int BK = 32;
constexpr int BKP = BK + 8;  // padded shared row, bf16 elements
constexpr int THREADS = 256;
constexpr int GROUP_M = 8;
constexpr int TILE_ELEMS = BM * BKP;  // one buffer of one operand (BM == BN)

constexpr int WK_BF16 = 1;
constexpr int WK_F8 = 2;

template <typename XT>
__host__ __device__ constexpr bool split_x() {
    return std::is_same<XT, float>::value;
}

template <typename XT>
__host__ __device__ constexpr size_t smem_bytes() {
    return static_cast<size_t>(split_x<XT>() ? 6 : 4) * TILE_ELEMS * sizeof(bf16);
}

/* Registers holding one thread's share of the next A (x) tile: 2 chunks of 8 elements. */
template <typename XT>
struct a_regs;
template <>
struct a_regs<float> {
    float v[2][8];
};
template <>
struct a_regs<bf16> {
    uint4 v[2];
};

/* One thread's share of the next B (W) tile: 2 chunks of 8 bf16 or 1 chunk of 16 fp8. */
template <int WK>
struct b_regs {
    uint4 v[WK == WK_BF16 ? 2 : 1];
};

__device__ __forceinline__ void load_a(const float* x, int64_t ld_x, int M, int K, int m0, int k0, int vec,
                                       a_regs<float>& r) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int q = threadIdx.x + THREADS * i;
        const int row = q >> 2;
        const int gk = k0 + (q & 3) * 8;
        const int gm = m0 + row;
        if (gm < M) {
            const float* p = x + static_cast<int64_t>(gm) * ld_x + gk;
            if (vec && gk + 8 <= K) {
                const float4 a = __ldg(reinterpret_cast<const float4*>(p));
                const float4 b = __ldg(reinterpret_cast<const float4*>(p + 4));
                r.v[i][0] = a.x;
                r.v[i][1] = a.y;
                r.v[i][2] = a.z;
                r.v[i][3] = a.w;
                r.v[i][4] = b.x;
                r.v[i][5] = b.y;
                r.v[i][6] = b.z;
                r.v[i][7] = b.w;
            } else {
#pragma unroll
                for (int e = 0; e < 8; ++e) r.v[i][e] = gk + e < K ? p[e] : 0.0f;
            }
        } else {
#pragma unroll
            for (int e = 0; e < 8; ++e) r.v[i][e] = 0.0f;
        }
    }
}

__device__ __forceinline__ void load_a(const bf16* x, int64_t ld_x, int M, int K, int m0, int k0, int vec,
                                       a_regs<bf16>& r) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int q = threadIdx.x + THREADS * i;
        const int row = q >> 2;
        const int gk = k0 + (q & 3) * 8;
        const int gm = m0 + row;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (gm < M) {
            const bf16* p = x + static_cast<int64_t>(gm) * ld_x + gk;
            if (vec && gk + 8 <= K) {
                v = __ldg(reinterpret_cast<const uint4*>(p));
            } else {
                const uint16_t* u = reinterpret_cast<const uint16_t*>(p);
                uint32_t h[8];
#pragma unroll
                for (int e = 0; e < 8; ++e) h[e] = gk + e < K ? u[e] : 0u;
                v.x = h[0] | (h[1] << 16);
                v.y = h[2] | (h[3] << 16);
                v.z = h[4] | (h[5] << 16);
                v.w = h[6] | (h[7] << 16);
            }
        }
        r.v[i] = v;
    }
}

__device__ __forceinline__ void store_a(const a_regs<float>& r, bf16* hi, bf16* lo) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int q = threadIdx.x + THREADS * i;
        const int row = q >> 2;
        const int kc = (q & 3) * 8;
        uint32_t h[4], l[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const float a = r.v[i][2 * e];
            const float b = r.v[i][2 * e + 1];
            const __nv_bfloat162 hv = __floats2bfloat162_rn(a, b);
            const float2 back = __bfloat1622float2(hv);
            h[e] = *reinterpret_cast<const uint32_t*>(&hv);
            l[e] = pack_bf16x2(a - back.x, b - back.y);
        }
        *reinterpret_cast<uint4*>(hi + row * BKP + kc) = make_uint4(h[0], h[1], h[2], h[3]);
        *reinterpret_cast<uint4*>(lo + row * BKP + kc) = make_uint4(l[0], l[1], l[2], l[3]);
    }
}

__device__ __forceinline__ void store_a(const a_regs<bf16>& r, bf16* hi, bf16*) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int q = threadIdx.x + THREADS * i;
        const int row = q >> 2;
        const int kc = (q & 3) * 8;
        *reinterpret_cast<uint4*>(hi + row * BKP + kc) = r.v[i];
    }
}

template <int WK>
__device__ __forceinline__ void load_b(const void* w, int N, int K, int n0, int k0, int vec, b_regs<WK>& r) {
    if (WK == WK_BF16) {
        const uint16_t* wb = static_cast<const uint16_t*>(w);
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int q = threadIdx.x + THREADS * i;
            const int row = q >> 2;
            const int gk = k0 + (q & 3) * 8;
            const int gn = n0 + row;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (gn < N) {
                const uint16_t* p = wb + static_cast<int64_t>(gn) * K + gk;
                if (vec && gk + 8 <= K) {
                    v = load_stream16(p);
                } else {
                    uint32_t h[8];
#pragma unroll
                    for (int e = 0; e < 8; ++e) h[e] = gk + e < K ? p[e] : 0u;
                    v.x = h[0] | (h[1] << 16);
                    v.y = h[2] | (h[3] << 16);
                    v.z = h[4] | (h[5] << 16);
                    v.w = h[6] | (h[7] << 16);
                }
            }
            r.v[i] = v;
        }
    } else {
        const uint8_t* wb = static_cast<const uint8_t*>(w);
        const int row = threadIdx.x >> 1;
        const int gk = k0 + (threadIdx.x & 1) * 16;
        const int gn = n0 + row;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (gn < N) {
            const uint8_t* p = wb + static_cast<int64_t>(gn) * K + gk;
            if (vec && gk + 16 <= K) {
                v = load_stream16(p);
            } else {
                uint32_t b[16];
#pragma unroll
                for (int e = 0; e < 16; ++e) b[e] = gk + e < K ? p[e] : 0u;
                v.x = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
                v.y = b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24);
                v.z = b[8] | (b[9] << 8) | (b[10] << 16) | (b[11] << 24);
                v.w = b[12] | (b[13] << 8) | (b[14] << 16) | (b[15] << 24);
            }
        }
        r.v[0] = v;
    }
}

/* Four e4m3 bytes to two packed bf16x2 (value/256, exact), in element order. */
__device__ __forceinline__ void e4m3x4_to_bf16x4(uint32_t v, uint32_t& p01, uint32_t& p23) {
    __half2 even, odd;
    e4m3x4_to_half2x2(v, even, odd);
    const float2 e = __half22float2(even);
    const float2 o = __half22float2(odd);
    p01 = pack_bf16x2(e.x, o.x);
    p23 = pack_bf16x2(e.y, o.y);
}

template <int WK>
__device__ __forceinline__ void store_b(const b_regs<WK>& r, bf16* bs) {
    if (WK == WK_BF16) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int q = threadIdx.x + THREADS * i;
            const int row = q >> 2;
            const int kc = (q & 3) * 8;
            *reinterpret_cast<uint4*>(bs + row * BKP + kc) = r.v[i];
        }
    } else {
        const int row = threadIdx.x >> 1;
        const int kc = (threadIdx.x & 1) * 16;
        const uint32_t words[4] = {r.v[0].x, r.v[0].y, r.v[0].z, r.v[0].w};
        uint32_t p[8];
#pragma unroll
        for (int w = 0; w < 4; ++w) e4m3x4_to_bf16x4(words[w], p[2 * w], p[2 * w + 1]);
        *reinterpret_cast<uint4*>(bs + row * BKP + kc) = make_uint4(p[0], p[1], p[2], p[3]);
        *reinterpret_cast<uint4*>(bs + row * BKP + kc + 8) = make_uint4(p[4], p[5], p[6], p[7]);
    }
}

template <typename XT, int WK>
__global__ void __launch_bounds__(THREADS, split_x<XT>() ? 1 : 2) gemm_mma_kernel(matmul_args a, int vec_a, int vec_b, int tiles_m,
                                                               int tiles_n) {
    constexpr bool SPLIT = split_x<XT>();
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16* smem = reinterpret_cast<bf16*>(smem_raw);
    bf16* a_hi = smem;                                   // [2][BM][BKP]
    bf16* a_lo = SPLIT ? smem + 2 * TILE_ELEMS : smem;   // [2][BM][BKP] (SPLIT only)
    bf16* b_s = smem + (SPLIT ? 4 : 2) * TILE_ELEMS;     // [2][BN][BKP]

    // Grouped rasterization: GROUP_M row tiles advance together across the feature tiles.
    const int bid = blockIdx.x;
    const int per_group = GROUP_M * tiles_n;
    const int group = bid / per_group;
    const int first_m = group * GROUP_M;
    const int gm = min(tiles_m - first_m, GROUP_M);
    const int local = bid - group * per_group;
    const int tm = first_m + local % gm;
    const int tn = local / gm;
    const int m0 = tm * BM;
    const int n0 = tn * BN;

    const int M = a.rows;
    const int N = a.n;
    const int K = a.k;
    const XT* x = static_cast<const XT*>(a.x);

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int wm = warp >> 2;  // 0..1: rows wm*64
    const int wn = warp & 3;   // 0..3: cols wn*32

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    a_regs<XT> ra;
    b_regs<WK> rb;
    const int k_tiles = (K + BK - 1) / BK;

    load_a(x, a.ld_x, M, K, m0, 0, vec_a, ra);
    load_b<WK>(a.w, N, K, n0, 0, vec_b, rb);
    store_a(ra, a_hi, a_lo);
    store_b<WK>(rb, b_s);
    __syncthreads();

    for (int kt = 0; kt < k_tiles; ++kt) {
        const int cur = kt & 1;
        if (kt + 1 < k_tiles) {
            load_a(x, a.ld_x, M, K, m0, (kt + 1) * BK, vec_a, ra);
            load_b<WK>(a.w, N, K, n0, (kt + 1) * BK, vec_b, rb);
        }
        const bf16* ah = a_hi + cur * TILE_ELEMS;
        const bf16* al = a_lo + cur * TILE_ELEMS;
        const bf16* bs = b_s + cur * TILE_ELEMS;
#pragma unroll
        for (int ks = 0; ks < BK / 16; ++ks) {
            uint32_t af[4][4];
            uint32_t afl[4][4];
#pragma unroll
            for (int mi = 0; mi < 4; ++mi) {
                const int off = (wm * 64 + mi * 16 + (lane & 15)) * BKP + ks * 16 + (lane >> 4) * 8;
                ldmatrix_x4(af[mi], ah + off);
                if (SPLIT) ldmatrix_x4(afl[mi], al + off);
            }
            uint32_t bfr[2][4];
#pragma unroll
            for (int nj = 0; nj < 2; ++nj) {
                const int row = wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
                ldmatrix_x4(bfr[nj], bs + row * BKP + ks * 16 + ((lane >> 3) & 1) * 8);
            }
#pragma unroll
            for (int mi = 0; mi < 4; ++mi)
#pragma unroll
                for (int ni = 0; ni < 4; ++ni) {
                    const uint32_t b0 = bfr[ni >> 1][(ni & 1) * 2];
                    const uint32_t b1 = bfr[ni >> 1][(ni & 1) * 2 + 1];
                    if (SPLIT) mma_bf16_16816(acc[mi][ni], afl[mi], b0, b1);
                    mma_bf16_16816(acc[mi][ni], af[mi], b0, b1);
                }
        }
        if (kt + 1 < k_tiles) {
            const int nxt = cur ^ 1;
            store_a(ra, a_hi + nxt * TILE_ELEMS, a_lo + nxt * TILE_ELEMS);
            store_b<WK>(rb, b_s + nxt * TILE_ELEMS);
        }
        __syncthreads();
    }

    // Epilogue: scale, optional residual add, one rounding.
    const float scale = WK == WK_F8 ? a.scale * 256.0f : a.scale;
    XT* y = static_cast<XT*>(a.y);
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int row = m0 + wm * 64 + mi * 16 + (lane >> 2) + half * 8;
                if (row >= M) continue;
                const int col = n0 + wn * 32 + ni * 8 + (lane & 3) * 2;
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    if (col + e < N) {
                        XT* p = y + static_cast<int64_t>(row) * a.ld_y + col + e;
                        matmul_store(a, p, acc[mi][ni][half * 2 + e] * scale);
                    }
                }
            }
}

template <typename XT, int WK>
int32_t gemm_mma_launch_typed(context* ctx, const matmul_args& a) {
    const int elem_w = WK == WK_F8 ? 16 : 8;
    const int vec_b = host_aligned16(a.w) && a.k % elem_w == 0;
    const int64_t row_bytes = a.ld_x * static_cast<int64_t>(sizeof(XT));
    const int vec_a = host_aligned16(a.x) && row_bytes % 16 == 0;
    const int tiles_m = static_cast<int>(ceil_div(a.rows, BM));
    const int tiles_n = static_cast<int>(ceil_div(a.n, BN));
    const size_t smem = smem_bytes<XT>();
    cudaError_t err = cudaFuncSetAttribute(gemm_mma_kernel<XT, WK>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem));
    if (err != cudaSuccess) return ctx->check(err, "n4j_matmul");
    const int64_t blocks = static_cast<int64_t>(tiles_m) * tiles_n;
    gemm_mma_kernel<XT, WK><<<static_cast<unsigned>(blocks), THREADS, smem, ctx->stream>>>(a, vec_a, vec_b, tiles_m,
                                                                                          tiles_n);
    return N4J_OK;
}

template <int WK>
int32_t gemm_mma_launch_weight(context* ctx, const matmul_args& a) {
    if (ctx->act_bf16()) return gemm_mma_launch_typed<bf16, WK>(ctx, a);
    return gemm_mma_launch_typed<float, WK>(ctx, a);
}

}  // namespace gemm

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_GEMM_MMA_CUH */
