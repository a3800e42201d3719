/*
 * gemv_quant.cu: n4j_matmul over block-quantized weights (N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6; layouts in
 * nemotron4j.h) on the GPU. The weights are dequantized in registers and multiplied with the activations as they
 * are (F32 or BF16), fp32 accumulation; there is no activation quantization (the CPU's int8 activation code exists
 * for its integer dot products; a GPU streams the weights at the same speed without it). Dequantized values:
 *   Q8: w = d[b] * q                         (F16 d per block of 32, q in -127..127)
 *   Q4: w = (d * sc[j]) * q - (dmin * m[j])  (per sub-block j of 32; q in 0..15; F16 d, dmin and u8 sc, m per
 *                                             super-block of 256, the last one of a row possibly short)
 *   Q6: w = d[b] * (q - 32)                  (F16 d per block of 32, q in 0..63 from a low nibble laid out as Q4's
 *                                             and 2 high bits; units of 2 block pairs, the last one of a row possibly
 *                                             1 pair)
 *
 * Decode (rows <= 64, and every call inside a decode step): gemv_quant_kernel, one warp per output feature and up
 * to 8 activation rows per launch (more rows: one launch per 8, each re-reading the weight; 64 rows = 8 reads,
 * the batch sizes of batched decode). Lanes take the row's 32-weight blocks (Q8) or 64-weight block pairs (Q4:
 * the 32 bytes whose low and high nibbles are two sub-blocks; Q6: the same 32 nibble bytes and the pair's 16 bytes of
 * high bits) in turn, with two 16-byte weight loads each (Q6: three), so a warp streams the row at full width; the
 * activations come from L1/L2. The sums of the block are formed first and scaled once (Q4: s * sum(q x) - m *
 * sum(x); Q6: d * sum((q - 32) x), the offset taken off the integer so no sum(x) term cancels), then the warp's
 * lanes are added by shuffles.
 * Prefill (rows > 64, outside decode steps): the weight is dequantized once per call into the context's scratch, as
 * BF16 with BF16 activations (then the tensor-core GEMM) or as F32 with F32 activations (then the CUDA-core GEMM,
 * exact F32), and the usual GEMM runs on it.
 */
#include "matmul.cuh"

namespace n4j {
namespace cuda {

namespace {

constexpr int kQuantWarps = 8;  // output features per 256-thread block
constexpr int kQ4Record = 20;   // bytes per super-block record: F16 d, F16 dmin, u8 sc[8], u8 m[8]

__device__ __forceinline__ uint32_t load_u16(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
}

/* Word j (0..3) of a 16-byte vector. */
__device__ __forceinline__ uint32_t word_of(const uint4& v, int j) {
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

/* Byte e (0..15) of a 16-byte vector. */
__device__ __forceinline__ uint32_t byte_of(const uint4& v, int e) {
    return (word_of(v, e >> 2) >> (8 * (e & 3))) & 0xffu;
}

/*
 * Q6 block pair k of a row (elements 64k..64k+63: block 2k, then block 2k+1). The row is cut into units of 2 pairs
 * (96 bytes), the last unit of a row 1 pair (48 bytes) when cols / 64 is odd. In its unit, at unit start + (k % 2) *
 * 32, the pair's 32 nibble bytes (byte t: element 64k+t low, 64k+32+t high, as Q4), and after the unit's np * 32
 * nibble bytes, at unit start + np * 32 + (k % 2) * 16, its 16 bytes of high bits (byte u: bits 0-1 element 64k+u,
 * 2-3 64k+16+u, 4-5 64k+32+u, 6-7 64k+48+u). The row is cols * 3 / 4 = 48 * pairs bytes, and every offset above is
 * a multiple of 16, so with 16-byte aligned weight data (backend allocations are) the loads are 16-byte vectors.
 */
__device__ __forceinline__ int64_t q6_unit_offset(int64_t k) { return (k / 2) * 96; }
__device__ __forceinline__ int64_t q6_high_offset(int64_t k, int64_t pairs) {
    const int64_t np = pairs - 2 * (k / 2) < 2 ? pairs - 2 * (k / 2) : 2;
    return (k / 2) * 96 + np * 32 + (k % 2) * 16;
}

/* The 6-bit q of a Q6 pair, 4 to a word (one per byte, element order), from its nibble vectors n0 (bytes 0-15), n1
 * (bytes 16-31) and its high-bit vector hb: lo[w] holds elements 4w..4w+3 (block 2k), hi[w] elements 32+4w..35+4w
 * (block 2k + 1). Byte u of hb serves elements u, 16+u, 32+u and 48+u, so word j of hb is shifted to put each field
 * in bits 4-5 of its byte, beside the nibble, for four elements at a time. */
__device__ __forceinline__ void q6_values(const uint4& n0, const uint4& n1, const uint4& hb, uint32_t lo[8],
                                          uint32_t hi[8]) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const uint32_t h = word_of(hb, j);
        const uint32_t a = word_of(n0, j), b = word_of(n1, j);
        lo[j] = (a & 0x0f0f0f0fu) | ((h << 4) & 0x30303030u);             // elements 4j..: bits 0-1
        lo[4 + j] = (b & 0x0f0f0f0fu) | ((h << 2) & 0x30303030u);         // elements 16+4j..: bits 2-3
        hi[j] = ((a >> 4) & 0x0f0f0f0fu) | (h & 0x30303030u);             // elements 32+4j..: bits 4-5
        hi[4 + j] = ((b >> 4) & 0x0f0f0f0fu) | ((h >> 2) & 0x30303030u);  // elements 48+4j..: bits 6-7
    }
}

template <int ROWS, int QT, typename XT>
__global__ void __launch_bounds__(kQuantWarps * kWarp) gemv_quant_kernel(matmul_args a, int row0) {
    const int lane = threadIdx.x & 31;
    const int o = blockIdx.x * kQuantWarps + (threadIdx.x >> 5);
    if (o >= a.n) return;
    const int64_t K = a.k;
    const int rows = a.rows - row0 < ROWS ? a.rows - row0 : ROWS;
    const XT* x = static_cast<const XT*>(a.x) + static_cast<int64_t>(row0) * a.ld_x;
    const uint8_t* base = static_cast<const uint8_t*>(a.w);
    float acc[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) acc[r] = 0.0f;

    if (QT == N4J_DTYPE_Q8) {
        const uint8_t* wq = base + o * K;
        const uint8_t* wd = base + static_cast<int64_t>(a.n) * K + o * (K / 32) * 2;
        for (int64_t b = lane; b < K / 32; b += kWarp) {
            const uint4 v0 = __ldg(reinterpret_cast<const uint4*>(wq + b * 32));
            const uint4 v1 = __ldg(reinterpret_cast<const uint4*>(wq + b * 32 + 16));
            const float d = f16_bits_to_f32(load_u16(wd + 2 * b));
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                if (r < rows) {
                    const XT* xb = x + r * a.ld_x + b * 32;
                    float s = 0.0f;
#pragma unroll
                    for (int e = 0; e < 16; ++e) {
                        s = fmaf(static_cast<float>(static_cast<int8_t>(byte_of(v0, e))), to_f32(xb[e]), s);
                    }
#pragma unroll
                    for (int e = 0; e < 16; ++e) {
                        s = fmaf(static_cast<float>(static_cast<int8_t>(byte_of(v1, e))), to_f32(xb[16 + e]), s);
                    }
                    acc[r] = fmaf(d, s, acc[r]);
                }
            }
        }
    } else if (QT == N4J_DTYPE_Q6) {
        const int64_t pairs = K / 64;
        const uint8_t* wq = base + o * (K / 4 * 3);
        const uint8_t* wd = base + static_cast<int64_t>(a.n) * (K / 4 * 3) + o * (K / 32) * 2;
        for (int64_t p = lane; p < pairs; p += kWarp) {
            const uint8_t* nib = wq + q6_unit_offset(p) + (p % 2) * 32;
            const uint4 n0 = __ldg(reinterpret_cast<const uint4*>(nib));
            const uint4 n1 = __ldg(reinterpret_cast<const uint4*>(nib + 16));
            const uint4 hb = __ldg(reinterpret_cast<const uint4*>(wq + q6_high_offset(p, pairs)));
            const float d0 = f16_bits_to_f32(load_u16(wd + 4 * p));      // block 2p
            const float d1 = f16_bits_to_f32(load_u16(wd + 4 * p + 2));  // block 2p + 1
            uint32_t lo[8], hi[8];
            q6_values(n0, n1, hb, lo, hi);
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                if (r < rows) {
                    const XT* xl = x + r * a.ld_x + p * 64;  // block 2p
                    const XT* xh = xl + 32;                  // block 2p + 1
                    float sl = 0.0f, sh = 0.0f;
#pragma unroll
                    for (int e = 0; e < 32; ++e) {
                        const int shift = 8 * (e & 3);
                        const int ql = static_cast<int>((lo[e >> 2] >> shift) & 0xffu) - 32;
                        const int qh = static_cast<int>((hi[e >> 2] >> shift) & 0xffu) - 32;
                        sl = fmaf(static_cast<float>(ql), to_f32(xl[e]), sl);
                        sh = fmaf(static_cast<float>(qh), to_f32(xh[e]), sh);
                    }
                    acc[r] = fmaf(d0, sl, fmaf(d1, sh, acc[r]));
                }
            }
        }
    } else {
        const int64_t nsb = (K + 255) / 256;
        const uint8_t* wq = base + o * (K / 2);
        const uint8_t* rec = base + static_cast<int64_t>(a.n) * (K / 2) + o * nsb * kQ4Record;
        for (int64_t p = lane; p < K / 64; p += kWarp) {
            const uint4 v0 = __ldg(reinterpret_cast<const uint4*>(wq + p * 32));
            const uint4 v1 = __ldg(reinterpret_cast<const uint4*>(wq + p * 32 + 16));
            const uint8_t* rj = rec + (p / 4) * kQ4Record;
            const int j0 = static_cast<int>((2 * p) % 8);
            const float d = f16_bits_to_f32(load_u16(rj));
            const float dmin = f16_bits_to_f32(load_u16(rj + 2));
            const float s0 = d * static_cast<float>(rj[4 + j0]);
            const float s1 = d * static_cast<float>(rj[5 + j0]);
            const float m0 = dmin * static_cast<float>(rj[12 + j0]);
            const float m1 = dmin * static_cast<float>(rj[13 + j0]);
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                if (r < rows) {
                    const XT* xl = x + r * a.ld_x + p * 64;  // sub-block 2p: low nibbles
                    const XT* xh = xl + 32;                  // sub-block 2p + 1: high nibbles
                    float ql = 0.0f, qh = 0.0f, sl = 0.0f, sh = 0.0f;
#pragma unroll
                    for (int e = 0; e < 32; ++e) {
                        const uint32_t byte = byte_of(e < 16 ? v0 : v1, e & 15);
                        const float lo = to_f32(xl[e]);
                        const float hi = to_f32(xh[e]);
                        ql = fmaf(static_cast<float>(byte & 0x0fu), lo, ql);
                        qh = fmaf(static_cast<float>(byte >> 4), hi, qh);
                        sl += lo;
                        sh += hi;
                    }
                    acc[r] += (s0 * ql - m0 * sl) + (s1 * qh - m1 * sh);
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
        const float s = warp_sum(acc[r]);
        if (lane == 0 && r < rows) {
            XT* yp = static_cast<XT*>(a.y) + static_cast<int64_t>(row0 + r) * a.ld_y + o;
            matmul_store(a, yp, s * a.scale);
        }
    }
}

/* W [n, k] dequantized to OT (float or bf16), row-major with leading dimension k. */
template <int QT, typename OT>
__global__ void __launch_bounds__(256) dequantize_kernel(const uint8_t* base, int n, int64_t k, OT* out) {
    // one thread per quant byte (Q8), per nibble byte (Q4, Q6: two elements each)
    const int64_t per_row = QT == N4J_DTYPE_Q8 ? k : k / 2;
    const int64_t total = static_cast<int64_t>(n) * per_row;
    for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
         t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t o = t / per_row;
        const int64_t i = t % per_row;
        if (QT == N4J_DTYPE_Q8) {
            const float d = f16_bits_to_f32(load_u16(base + static_cast<int64_t>(n) * k + (o * (k / 32) + i / 32) * 2));
            out[o * k + i] = from_f32<OT>(d * static_cast<float>(static_cast<int8_t>(base[t])));
        } else if (QT == N4J_DTYPE_Q6) {
            const int64_t pairs = k / 64;
            const int64_t p = i / 32;  // block pair: blocks 2p (low nibbles) and 2p + 1 (high)
            const int64_t e = i % 32;
            const uint8_t* row = base + o * (k / 4 * 3);
            const uint32_t nib = row[q6_unit_offset(p) + (p % 2) * 32 + e];
            const uint32_t h = row[q6_high_offset(p, pairs) + e % 16];
            const int shift = e < 16 ? 0 : 2;  // elements 64p+u: bits 0-1, 64p+16+u: bits 2-3 (+4: the high block)
            const int ql = static_cast<int>((nib & 0x0fu) | (((h >> shift) & 3u) << 4)) - 32;
            const int qh = static_cast<int>((nib >> 4) | (((h >> (shift + 4)) & 3u) << 4)) - 32;
            const uint8_t* wd = base + static_cast<int64_t>(n) * (k / 4 * 3) + (o * (k / 32) + 2 * p) * 2;
            out[o * k + p * 64 + e] = from_f32<OT>(f16_bits_to_f32(load_u16(wd)) * static_cast<float>(ql));
            out[o * k + p * 64 + 32 + e] = from_f32<OT>(f16_bits_to_f32(load_u16(wd + 2)) * static_cast<float>(qh));
        } else {
            const int64_t nsb = (k + 255) / 256;
            const int64_t p = i / 32;  // block pair: sub-blocks 2p (low nibbles) and 2p + 1 (high)
            const int64_t e = i % 32;
            const uint8_t* rj = base + static_cast<int64_t>(n) * (k / 2) + (o * nsb + p / 4) * kQ4Record;
            const int j0 = static_cast<int>((2 * p) % 8);
            const float d = f16_bits_to_f32(load_u16(rj));
            const float dmin = f16_bits_to_f32(load_u16(rj + 2));
            const uint32_t byte = base[t];
            const float lo = (d * static_cast<float>(rj[4 + j0])) * static_cast<float>(byte & 0x0fu) -
                             dmin * static_cast<float>(rj[12 + j0]);
            const float hi = (d * static_cast<float>(rj[5 + j0])) * static_cast<float>(byte >> 4) -
                             dmin * static_cast<float>(rj[13 + j0]);
            out[o * k + p * 64 + e] = from_f32<OT>(lo);
            out[o * k + p * 64 + 32 + e] = from_f32<OT>(hi);
        }
    }
}

template <int QT, typename XT>
void gemv_quant_rows(context* ctx, const matmul_args& a) {
    const dim3 grid(static_cast<unsigned>(ceil_div(a.n, kQuantWarps)));
    for (int row0 = 0; row0 < a.rows; row0 += 8) {
        const int rows = a.rows - row0;
        if (rows <= 1) {
            gemv_quant_kernel<1, QT, XT><<<grid, kQuantWarps * kWarp, 0, ctx->stream>>>(a, row0);
        } else if (rows <= 2) {
            gemv_quant_kernel<2, QT, XT><<<grid, kQuantWarps * kWarp, 0, ctx->stream>>>(a, row0);
        } else if (rows <= 4) {
            gemv_quant_kernel<4, QT, XT><<<grid, kQuantWarps * kWarp, 0, ctx->stream>>>(a, row0);
        } else {
            gemv_quant_kernel<8, QT, XT><<<grid, kQuantWarps * kWarp, 0, ctx->stream>>>(a, row0);
        }
    }
}

template <int QT>
int32_t matmul_quant_typed(context* ctx, const matmul_args& a, const char* where) {
    if (a.rows <= kQuantGemvMaxRows || ctx->in_step()) {
        if (ctx->act_bf16()) {
            gemv_quant_rows<QT, bf16>(ctx, a);
        } else {
            gemv_quant_rows<QT, float>(ctx, a);
        }
        return ctx->check_launch(where);
    }
    const bool bf16_weights = ctx->act_bf16();
    const size_t bytes = static_cast<size_t>(a.n) * static_cast<size_t>(a.k) * (bf16_weights ? 2 : 4);
    void* w = ctx->get_scratch(bytes, where);
    if (w == nullptr) return N4J_ERR_OUT_OF_MEMORY;
    const int64_t per_row = QT == N4J_DTYPE_Q8 ? a.k : a.k / 2;
    const int64_t total = static_cast<int64_t>(a.n) * per_row;
    int64_t blocks = ceil_div(total, static_cast<int64_t>(256));
    const int64_t cap = static_cast<int64_t>(ctx->sm_count() > 0 ? ctx->sm_count() : 1) * 16;
    if (blocks > cap) blocks = cap;
    const uint8_t* base = static_cast<const uint8_t*>(a.w);
    matmul_args g = a;
    g.w = w;
    if (bf16_weights) {
        dequantize_kernel<QT, bf16><<<static_cast<unsigned>(blocks), 256, 0, ctx->stream>>>(base, a.n, a.k,
                                                                                            static_cast<bf16*>(w));
        g.w_dtype = N4J_DTYPE_BF16;
        int32_t rc = ctx->check_launch(where);
        if (rc != N4J_OK) return rc;
        if (ctx->no_mma) {
            gemm_simt_launch(ctx, g);
        } else {
            rc = gemm_mma_bf16_launch(ctx, g);
            if (rc != N4J_OK) return rc;
        }
    } else {
        dequantize_kernel<QT, float><<<static_cast<unsigned>(blocks), 256, 0, ctx->stream>>>(base, a.n, a.k,
                                                                                             static_cast<float*>(w));
        g.w_dtype = N4J_DTYPE_F32;
        int32_t rc = ctx->check_launch(where);
        if (rc != N4J_OK) return rc;
        gemm_simt_launch(ctx, g);
    }
    return ctx->check_launch(where);
}

}  // namespace

int32_t matmul_quant(context* ctx, const matmul_args& a, const char* where) {
    switch (a.w_dtype) {
        case N4J_DTYPE_Q8: return matmul_quant_typed<N4J_DTYPE_Q8>(ctx, a, where);
        case N4J_DTYPE_Q4: return matmul_quant_typed<N4J_DTYPE_Q4>(ctx, a, where);
        case N4J_DTYPE_Q6: return matmul_quant_typed<N4J_DTYPE_Q6>(ctx, a, where);
        default: return ctx->fail(N4J_ERR_INTERNAL, where, "weight dtype %d is not block-quantized", a.w_dtype);
    }
}

}  // namespace cuda
}  // namespace n4j
