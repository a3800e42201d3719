/*
 * gemv.cuh: the decode matmul, y[r, :] (+)= x[r, :] W^T for rows <= 8, templated on the row count (1, 2, 4, 8;
 * extra rows are masked), the weight dtype and the activation type. Instantiated in gemv_{f32,bf16,f8}.cu.
 *
 * Decode is memory-bound: W (out x in) is read once and every other cost must hide under that stream.
 * - One 256-thread block per 4 output features (NR = 4): the whole block splits the K dimension (split-K inside
 *   the block), so even a 4480-feature output gets 1120 blocks (~8 per SM on H100) and no SM idles on a tail.
 * - W is read in 16-byte vectors (8 bf16 or 16 fp8 or 4 fp32 elements) with ld.global.nc.L1::no_allocate (streamed,
 *   kept out of L1 so x stays there); two chunks per loop trip keep 8 independent 16-byte loads in flight per
 *   thread. x rows (at most 8 x 64 KiB) are re-read from L1/L2 and reused across the 4 weight rows.
 * - FP8 weights are decoded four at a time with integer ops into halves equal to value/256 (exact), the factor 256
 *   folded into the scale applied once at the end; BF16 is a shift.
 * - fp32 accumulation; the block reduction is warp shuffles then one shared-memory pass. The epilogue applies the
 *   weight scale, adds y when accumulating and rounds once to the activation type.
 * Unaligned buffers or K not a multiple of the vector width take a scalar element loop (same numerics).
 * W8A8 (a.in_scale > 0, F8 weights; matmul.cu): QX = true quantizes each x element to e4m3 as it is loaded
 * (w8a8_quantize, the prefill quantizer's function) and multiplies by in_scale in the epilogue, so decode computes
 * the products the W8A8 GEMM does; the quantization's ALU work hides under the weight stream.
 * NORM = true (n4j_rmsnorm_matmul, rmsnorm_matmul.cu, which counts the prologue's bytes): x is the RMSNorm's input and
 * the block normalizes it as it loads it (gemv_norm_args below), bit for bit what n4j_rmsnorm then this GEMV give.
 * Expected: ~85-90% of HBM bandwidth for the 9B shapes (e.g. lm_head 4480 x 131072 bf16, 1.17 GB, ~0.4 ms on H100).
 */
#ifndef N4J_CUDA_GEMV_CUH
#define N4J_CUDA_GEMV_CUH

#include "common.cuh"
#include "matmul.cuh"
#include "rmsnorm_rows.cuh"

namespace n4j {
namespace cuda {

constexpr int kGemvThreads = 256;
constexpr int kGemvOutputs = 4;  // output features per block

/* Weight kinds of the templates. */
constexpr int kWF32 = 0;
constexpr int kWBF16 = 1;
constexpr int kWF8 = 2;

template <int WK>
struct wtraits;
template <>
struct wtraits<kWF32> {
    static constexpr int bytes = 4;
    static constexpr int per16 = 4;
};
template <>
struct wtraits<kWBF16> {
    static constexpr int bytes = 2;
    static constexpr int per16 = 8;
};
template <>
struct wtraits<kWF8> {
    static constexpr int bytes = 1;
    static constexpr int per16 = 16;
};

/* Decodes elements [4q, 4q+4) of a 16-byte weight vector to floats (fp8: value/256). */
template <int WK>
__device__ __forceinline__ void decode_quad(const uint4& v, int q, float out[4]) {
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
    if (WK == kWF32) {
        out[0] = __uint_as_float(words[0]);
        out[1] = __uint_as_float(words[1]);
        out[2] = __uint_as_float(words[2]);
        out[3] = __uint_as_float(words[3]);
    } else if (WK == kWBF16) {
        const uint32_t a = words[2 * q];
        const uint32_t b = words[2 * q + 1];
        out[0] = __uint_as_float(a << 16);
        out[1] = __uint_as_float(a & 0xffff0000u);
        out[2] = __uint_as_float(b << 16);
        out[3] = __uint_as_float(b & 0xffff0000u);
    } else {
        e4m3x4_to_f32_div256(words[q], out);
    }
}

/*
 * The RMSNorm prologue of n4j_rmsnorm_matmul (NORM = true; rmsnorm_matmul.cu): the GEMV's activations are
 * normed[r, i] = round_XT((x[r, i] * inv_rms[r]) * norm_weight[i]) formed as x is loaded, x being the norm's input
 * (TI: the residual stream's type, F32 under N4J_FLAG_F32_RESIDUAL) and inv_rms[r] computed by every block first with
 * rmsnorm.cu's reduction (rmsnorm_rows.cuh: one warp per row up to kRmsWarpMaxDim elements, the whole 256-thread
 * block above), so every value is the bits n4j_rmsnorm would have stored and the dot products are the plain GEMV's.
 * Blocks b, b + grid, ... also store 256-column chunks of the normed rows (the op's second output).
 */
struct gemv_norm_args {
    const void* x;  // [rows][ld_x] of TI
    int64_t ld_x;
    weight_ref w;  // a.k elements
    float eps;
    void* normed;  // [rows][ld_normed] of XT
    int64_t ld_normed;
};

/* Four consecutive activations starting at p (16-byte aligned for float, 8-byte for bf16). */
__device__ __forceinline__ void load_x4(const float* p, float out[4]) {
    const float4 v = __ldg(reinterpret_cast<const float4*>(p));
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
}
__device__ __forceinline__ void load_x4(const bf16* p, float out[4]) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    out[0] = __uint_as_float(v.x << 16);
    out[1] = __uint_as_float(v.x & 0xffff0000u);
    out[2] = __uint_as_float(v.y << 16);
    out[3] = __uint_as_float(v.y & 0xffff0000u);
}

template <int ROWS, int WK, typename XT, bool QX, typename TI, bool NORM>
__device__ __forceinline__ void gemv_chunk(const uint4 (&wv)[kGemvOutputs], const TI* x, int64_t ld_x, int rows,
                                           int64_t k0, float inv_in, const weight_ref& nw, const float (&inv)[ROWS],
                                           bool x_vec, float (&acc)[ROWS][kGemvOutputs]) {
    constexpr int CW = wtraits<WK>::per16;
#pragma unroll
    for (int q = 0; q < CW / 4; ++q) {
        float wf[kGemvOutputs][4];
#pragma unroll
        for (int j = 0; j < kGemvOutputs; ++j) decode_quad<WK>(wv[j], q, wf[j]);
        float nq[4];  // NORM: the norm weight of these 4 columns (shared by the rows)
        if (NORM) {
#pragma unroll
            for (int e = 0; e < 4; ++e) nq[e] = nw(k0 + 4 * q + e);
        }
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
            if (r < rows) {
                float xv[4];
                const TI* xp = x + r * ld_x + k0 + 4 * q;
                if (!NORM || x_vec) {
                    load_x4(xp, xv);
                } else {  // NORM: the path follows normed's alignment (the two-op GEMV's); x may be unaligned
#pragma unroll
                    for (int e = 0; e < 4; ++e) xv[e] = to_f32(xp[e]);
                }
                if (NORM) {
#pragma unroll
                    for (int e = 0; e < 4; ++e) xv[e] = to_f32(from_f32<XT>(rms_apply(xv[e], inv[r], nq[e])));
                }
                if (QX) {
#pragma unroll
                    for (int e = 0; e < 4; ++e) xv[e] = w8a8_quantize(xv[e], inv_in);
                }
#pragma unroll
                for (int j = 0; j < kGemvOutputs; ++j) {
                    acc[r][j] = fmaf(xv[0], wf[j][0], acc[r][j]);
                    acc[r][j] = fmaf(xv[1], wf[j][1], acc[r][j]);
                    acc[r][j] = fmaf(xv[2], wf[j][2], acc[r][j]);
                    acc[r][j] = fmaf(xv[3], wf[j][3], acc[r][j]);
                }
            }
        }
    }
}

template <int ROWS, int WK, typename XT, bool QX, typename TI = XT, bool NORM = false>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(matmul_args a, int vectorized, gemv_norm_args nm) {
    // vectorized: bit 0 the 16-byte path (decided on a.x, so with NORM on normed: the loop order of the two-op
    // GEMV, which is what the bits depend on), bit 1 (NORM) x itself allows 16-byte loads.
    const bool x_vec = (vectorized & 2) != 0;
    constexpr int NR = kGemvOutputs;
    constexpr int CW = wtraits<WK>::per16;
    constexpr int WB = wtraits<WK>::bytes;
    const int o0 = blockIdx.x * NR;
    const int K = a.k;
    // The activations the dot products read: a.x, or with NORM the norm's input, normalized as it is loaded.
    const TI* x = static_cast<const TI*>(NORM ? nm.x : a.x);
    const int64_t ld_x = NORM ? nm.ld_x : a.ld_x;
    float inv[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) inv[r] = 0.0f;
    if (NORM) {
        // inv_rms of each row, by rmsnorm.cu's reduction for this dim (the bits n4j_rmsnorm computes).
        __shared__ float inv_s[ROWS];
        __shared__ float scratch[32];
        if (K <= kRmsWarpMaxDim) {
            const int warp = threadIdx.x / kWarp;  // ROWS <= 8 = the block's warps: warp r reduces row r
            if (warp < a.rows) {
                const float v = rms_inv(rms_sumsq_warp(x + warp * ld_x, K, threadIdx.x % kWarp), K, nm.eps);
                if (threadIdx.x % kWarp == 0) inv_s[warp] = v;
            }
        } else {
            for (int r = 0; r < a.rows; ++r) {
                const float v = rms_inv(rms_sumsq_block(x + r * ld_x, K, scratch), K, nm.eps);
                if (threadIdx.x == 0) inv_s[r] = v;
            }
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ROWS; ++r) inv[r] = r < a.rows ? inv_s[r] : 0.0f;
        // The op's normed output: 256-column chunks blockIdx.x, blockIdx.x + gridDim.x, ...
        XT* normed = static_cast<XT*>(nm.normed);
        for (int64_t c = static_cast<int64_t>(blockIdx.x) * kGemvThreads + threadIdx.x; c < K;
             c += static_cast<int64_t>(gridDim.x) * kGemvThreads) {
            const float wc = nm.w(c);
            for (int r = 0; r < a.rows; ++r) {
                normed[r * nm.ld_normed + c] = from_f32<XT>(rms_apply(to_f32(x[r * ld_x + c]), inv[r], wc));
            }
        }
    }
    const char* wbase = static_cast<const char*>(a.w) + static_cast<int64_t>(o0) * K * WB;
    int valid = a.n - o0;
    if (valid > NR) valid = NR;

    float acc[ROWS][NR];
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
#pragma unroll
        for (int j = 0; j < NR; ++j) acc[r][j] = 0.0f;

    float scale = QX ? a.scale * a.in_scale : a.scale;
    const float inv_in = QX ? 1.0f / a.in_scale : 0.0f;
    if (vectorized & 1) {
        if (WK == kWF8) scale *= 256.0f;
        const int nchunks = K / CW;
        int c = threadIdx.x;
        for (; c + kGemvThreads < nchunks; c += 2 * kGemvThreads) {
            uint4 w0[NR], w1[NR];
#pragma unroll
            for (int j = 0; j < NR; ++j) {
                const char* row = wbase + static_cast<int64_t>(j) * K * WB;
                w0[j] = j < valid ? load_stream16(row + static_cast<int64_t>(c) * 16) : make_uint4(0, 0, 0, 0);
                w1[j] = j < valid ? load_stream16(row + static_cast<int64_t>(c + kGemvThreads) * 16)
                                  : make_uint4(0, 0, 0, 0);
            }
            gemv_chunk<ROWS, WK, XT, QX, TI, NORM>(w0, x, ld_x, a.rows, static_cast<int64_t>(c) * CW, inv_in, nm.w,
                                                   inv, x_vec, acc);
            gemv_chunk<ROWS, WK, XT, QX, TI, NORM>(w1, x, ld_x, a.rows, static_cast<int64_t>(c + kGemvThreads) * CW,
                                                   inv_in, nm.w, inv, x_vec, acc);
        }
        if (c < nchunks) {
            uint4 w0[NR];
#pragma unroll
            for (int j = 0; j < NR; ++j) {
                const char* row = wbase + static_cast<int64_t>(j) * K * WB;
                w0[j] = j < valid ? load_stream16(row + static_cast<int64_t>(c) * 16) : make_uint4(0, 0, 0, 0);
            }
            gemv_chunk<ROWS, WK, XT, QX, TI, NORM>(w0, x, ld_x, a.rows, static_cast<int64_t>(c) * CW, inv_in, nm.w,
                                                   inv, x_vec, acc);
        }
    } else {
        for (int i = threadIdx.x; i < K; i += kGemvThreads) {
            float wf[NR];
#pragma unroll
            for (int j = 0; j < NR; ++j) {
                wf[j] = j < valid ? weight_raw(a.w, a.w_dtype, static_cast<int64_t>(o0 + j) * K + i) : 0.0f;
            }
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                if (r < a.rows) {
                    float xv = to_f32(x[r * ld_x + i]);
                    if (NORM) xv = to_f32(from_f32<XT>(rms_apply(xv, inv[r], nm.w(i))));
                    if (QX) xv = w8a8_quantize(xv, inv_in);
#pragma unroll
                    for (int j = 0; j < NR; ++j) acc[r][j] = fmaf(xv, wf[j], acc[r][j]);
                }
            }
        }
    }

    // Block reduction: warp shuffles, then the 8 warp partials through shared memory.
    __shared__ float partial[kGemvThreads / kWarp][ROWS * NR];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
#pragma unroll
        for (int j = 0; j < NR; ++j) {
            const float s = warp_sum(acc[r][j]);
            if (lane == 0) partial[warp][r * NR + j] = s;
        }
    __syncthreads();
    if (threadIdx.x < ROWS * NR) {
        const int r = threadIdx.x / NR;
        const int j = threadIdx.x % NR;
        if (r < a.rows && j < valid) {
            float s = 0.0f;
#pragma unroll
            for (int w = 0; w < kGemvThreads / kWarp; ++w) s += partial[w][threadIdx.x];
            s *= scale;
            XT* yp = static_cast<XT*>(a.y) + r * a.ld_y + o0 + j;
            matmul_store(a, yp, s);
        }
    }
}

/* Whether the 16-byte vector path applies to these buffers (x: the activations the kernel loads, of type TI). */
template <int WK, typename TI>
static inline bool gemv_vectorizable(const matmul_args& a, const void* x, int64_t ld_x) {
    const bool w_ok = host_aligned16(a.w) && (a.k % wtraits<WK>::per16) == 0;
    const int64_t x_row_bytes = ld_x * static_cast<int64_t>(sizeof(TI));
    const bool x_ok = host_aligned16(x) && (a.rows == 1 || x_row_bytes % 16 == 0);
    return w_ok && x_ok;
}

/* NORM: the fused RMSNorm prologue (nm describes it; TI its input type), else nm is unused and TI = XT. */
template <int WK, typename XT, bool QX, typename TI = XT, bool NORM = false>
static inline void gemv_launch_typed(context* ctx, const matmul_args& a, const gemv_norm_args& nm = gemv_norm_args()) {
    // The path is decided on a.x (normed with NORM, as the two-op GEMV decides it); with NORM bit 1 says whether x,
    // the norm's input that the kernel loads, allows 16-byte loads too.
    int vec = gemv_vectorizable<WK, XT>(a, a.x, a.ld_x) ? 1 : 0;
    if (NORM && vec && gemv_vectorizable<WK, TI>(a, nm.x, nm.ld_x)) vec |= 2;
    const dim3 grid(static_cast<unsigned>(ceil_div(a.n, kGemvOutputs)));
    if (a.rows <= 1) {
        gemv_kernel<1, WK, XT, QX, TI, NORM><<<grid, kGemvThreads, 0, ctx->stream>>>(a, vec, nm);
    } else if (a.rows <= 2) {
        gemv_kernel<2, WK, XT, QX, TI, NORM><<<grid, kGemvThreads, 0, ctx->stream>>>(a, vec, nm);
    } else if (a.rows <= 4) {
        gemv_kernel<4, WK, XT, QX, TI, NORM><<<grid, kGemvThreads, 0, ctx->stream>>>(a, vec, nm);
    } else {
        gemv_kernel<8, WK, XT, QX, TI, NORM><<<grid, kGemvThreads, 0, ctx->stream>>>(a, vec, nm);
    }
}

/* QX (W8A8 activation quantization) is instantiated for F8 weights only. */
template <int WK>
static inline void gemv_launch_weight(context* ctx, const matmul_args& a) {
    const bool qx = WK == kWF8 && a.in_scale > 0.0f;
    if (ctx->act_bf16()) {
        if (qx) {
            gemv_launch_typed<WK, bf16, WK == kWF8>(ctx, a);
        } else {
            gemv_launch_typed<WK, bf16, false>(ctx, a);
        }
    } else {
        if (qx) {
            gemv_launch_typed<WK, float, WK == kWF8>(ctx, a);
        } else {
            gemv_launch_typed<WK, float, false>(ctx, a);
        }
    }
}

/* The fused RMSNorm + GEMV (rmsnorm_matmul.cu): TI / XT F32 / F32, BF16 / BF16, or F32 / BF16 under
 * N4J_FLAG_F32_RESIDUAL; QX as gemv_launch_weight decides it. */
template <int WK>
static inline void gemv_norm_launch_weight(context* ctx, const matmul_args& a, const gemv_norm_args& nm) {
    const bool qx = WK == kWF8 && a.in_scale > 0.0f;
    if (ctx->f32_residual()) {
        if (qx) {
            gemv_launch_typed<WK, bf16, WK == kWF8, float, true>(ctx, a, nm);
        } else {
            gemv_launch_typed<WK, bf16, false, float, true>(ctx, a, nm);
        }
    } else if (ctx->act_bf16()) {
        if (qx) {
            gemv_launch_typed<WK, bf16, WK == kWF8, bf16, true>(ctx, a, nm);
        } else {
            gemv_launch_typed<WK, bf16, false, bf16, true>(ctx, a, nm);
        }
    } else {
        if (qx) {
            gemv_launch_typed<WK, float, WK == kWF8, float, true>(ctx, a, nm);
        } else {
            gemv_launch_typed<WK, float, false, float, true>(ctx, a, nm);
        }
    }
}

/* Launchers of the fused RMSNorm + GEMV (gemv_norm_{f32,bf16,f8}.cu; enqueue only). */
void gemv_norm_f32_launch(context* ctx, const matmul_args& a, const gemv_norm_args& nm);
void gemv_norm_bf16_launch(context* ctx, const matmul_args& a, const gemv_norm_args& nm);
void gemv_norm_f8_launch(context* ctx, const matmul_args& a, const gemv_norm_args& nm);

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_GEMV_CUH */
