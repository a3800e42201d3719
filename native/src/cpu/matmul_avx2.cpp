/*
 * matmul_avx2.cpp: AVX2 + FMA micro-kernels of n4j_matmul (compiled with -mavx2 -mfma -mf16c; the launcher in
 * matmul.cpp only calls them when the CPU has those extensions).
 *
 * Weight loads convert 8 or 16 elements to F32 in registers:
 *  - F32: a plain load;
 *  - BF16: zero-extend 16 -> 32 bits and shift left by 16 (exact); in the dot form with pre-split activations, one
 *    256-bit load of 16 weights gives the even ones by `<< 16` and the odd ones by `& 0xFFFF0000` (no shuffles);
 *  - F8_E4M3: the code's sign, exponent and mantissa fields are shifted into F16 positions (16-bit lanes), which
 *    is the E4M3 value / 256 as an F16 (the exponent bias is 15 instead of 7; E4M3 subnormals become F16
 *    subnormals), NaN codes 0x7F/0xFF are forced to an F16 NaN and F16C converts to F32 exactly; the factor 256 is
 *    folded into the scale (exact: a power of two). Checked against e4m3_table() by the tests.
 * The weight scale multiplies the finished dot product (dot form) or is folded into the packed panel (packed form).
 *
 * Dot form (decode): acc[i][j] += x_i[k..k+16] * w_j[k..k+16] for up to 4 activation rows i and 2-8 weight rows j
 * (8 for a single row: more independent streams of weights in flight), horizontal sums at the end, scalar tail.
 * Packed form (prefill): see matmul_rows_packed below; a 6x16 tile keeps 12 accumulators in registers and per k
 * does 2 panel loads, 6 broadcasts and 12 FMAs.
 */
#include <immintrin.h>
#include <math.h>

#include "cpu/dtype_scalar.h"
#include "cpu/simd_kernels.h"

namespace n4j {
namespace cpu {
namespace avx2 {

namespace {

/* ---- weight element loads, templated on the storage dtype ---- */

template <int32_t DT>
inline __m256 load8(const void* base, int64_t index);

template <>
inline __m256 load8<N4J_DTYPE_F32>(const void* base, int64_t index) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + index);
}

template <>
inline __m256 load8<N4J_DTYPE_BF16>(const void* base, int64_t index) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + index));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* E4M3 code -> F16 bits (the same sign/exponent/mantissa fields shifted into place; exponent bias 15 instead of 7,
 * so the F16 value is the E4M3 value / 256, subnormals included), NaN codes forced to an F16 NaN. */
inline __m128i e4m3_to_f16_bits(__m128i codes16) {
    const __m128i magnitude = _mm_and_si128(codes16, _mm_set1_epi16(0x7f));
    __m128i h = _mm_or_si128(_mm_slli_epi16(magnitude, 7),
                             _mm_slli_epi16(_mm_and_si128(codes16, _mm_set1_epi16(0x80)), 8));
    const __m128i is_nan = _mm_cmpeq_epi16(magnitude, _mm_set1_epi16(0x7f));
    return _mm_or_si128(h, _mm_and_si128(is_nan, _mm_set1_epi16(0x7e00)));
}

inline __m256i e4m3_to_f16_bits(__m256i codes16) {
    const __m256i magnitude = _mm256_and_si256(codes16, _mm256_set1_epi16(0x7f));
    __m256i h = _mm256_or_si256(_mm256_slli_epi16(magnitude, 7),
                                _mm256_slli_epi16(_mm256_and_si256(codes16, _mm256_set1_epi16(0x80)), 8));
    const __m256i is_nan = _mm256_cmpeq_epi16(magnitude, _mm256_set1_epi16(0x7f));
    return _mm256_or_si256(h, _mm256_and_si256(is_nan, _mm256_set1_epi16(0x7e00)));
}

template <>
inline __m256 load8<N4J_DTYPE_F8_E4M3>(const void* base, int64_t index) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(base) + index));
    return _mm256_cvtph_ps(e4m3_to_f16_bits(_mm_cvtepu8_epi16(bytes)));
}

/* 16 consecutive elements as two vectors. */
template <int32_t DT>
inline void load16(const void* base, int64_t index, __m256& lo, __m256& hi) {
    lo = load8<DT>(base, index);
    hi = load8<DT>(base, index + 8);
}

template <>
inline void load16<N4J_DTYPE_BF16>(const void* base, int64_t index, __m256& lo, __m256& hi) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + index));
    lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)), 16));
    hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)), 16));
}

template <>
inline void load16<N4J_DTYPE_F8_E4M3>(const void* base, int64_t index, __m256& lo, __m256& hi) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(base) + index));
    const __m256i h = e4m3_to_f16_bits(_mm256_cvtepu8_epi16(bytes));
    lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
    hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

/* What the vector loads return is the weight's raw value divided by decode_factor<DT>() (E4M3 decodes to value / 256,
 * see above); a power of two, so folding it into the scale is exact. */
template <int32_t DT>
constexpr float decode_factor() {
    return DT == N4J_DTYPE_F8_E4M3 ? 256.0f : 1.0f;
}

template <int32_t DT>
inline float load1(const void* base, int64_t index) {
    return weight_raw(base, DT, index) * (1.0f / decode_factor<DT>());
}

inline float hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    return _mm_cvtss_f32(s);
}

/* ---- dot form ---- */

template <int32_t DT>
constexpr int64_t weight_bytes() {
    return DT == N4J_DTYPE_F8_E4M3 ? 1 : DT == N4J_DTYPE_BF16 ? 2 : 4;
}

/*
 * 16 consecutive weights as two F32 vectors, paired with the activations at x + k (lo) and x + k + 8 (hi).
 * SPLIT (BF16 only): a 256-bit load of 16 BF16 weights holds the even-indexed ones in the low halves and the
 * odd-indexed ones in the high halves of its 32-bit lanes, so `<< 16` and `& 0xFFFF0000` turn it into two F32
 * vectors without any shuffle; the activations were split the same way once per call (matmul_split_x_bf16), so
 * each 16-block is [x0 x2 .. x14 | x1 x3 .. x15]. Columns past the last full 16-block stay in order.
 */
template <int32_t DT, bool SPLIT>
inline void load16_dot(const void* w, int64_t index, __m256& lo, __m256& hi) {
    if constexpr (SPLIT) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + index));
        lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int32_t>(0xFFFF0000u))));
    } else {
        load16<DT>(w, index, lo, hi);
    }
}

/*
 * MR activation rows x NW weight rows starting at weight row o, over columns [k_begin, k_end) of the reduction.
 * The MR * NW vector accumulators start at zero (first) or from acc_buf, and go back to acc_buf unless this is the
 * last piece (k_end == K), which reduces them, adds the column tails and writes y. Splitting the reduction this way
 * keeps the activations of every row in L1 however long K is, and changes no result: the same vector FMAs run in the
 * same order. acc_buf[i * acc_stride + j] belongs to (row i, weight row o + j).
 * Each weight row is converted and consumed at once (MR * NW accumulators + 2 live weight vectors; the activations
 * come from L1 as FMA memory operands), so nothing spills.
 */
template <int32_t DT, bool SPLIT, int MR, int NW>
inline void dot_tile(const float* x, int64_t ld_x, const void* w, int64_t K, int32_t o, int64_t k_begin,
                     int64_t k_end, __m256* acc_buf, int acc_stride, float* y, int64_t ld_y, float scale,
                     int32_t accumulate) {
    __m256 acc[MR][NW];
    const bool first = k_begin == 0;
    const bool last = k_end == K;
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
        for (int j = 0; j < NW; ++j) acc[i][j] = first ? _mm256_setzero_ps() : acc_buf[i * acc_stride + j];
    const int64_t wbase = static_cast<int64_t>(o) * K;
    int64_t k = k_begin;
    for (; k + 16 <= k_end; k += 16) {
#pragma GCC unroll 16
        for (int j = 0; j < NW; ++j) {
            __m256 wlo, whi;
            if constexpr (MR > 1) {
                // Several activation rows make each weight row slow to consume: fetch the next tile's rows (one
                // tile ahead) so their memory latency overlaps this tile's FMAs. A single row streams fast enough
                // for the hardware prefetcher alone.
                _mm_prefetch(reinterpret_cast<const char*>(static_cast<const uint8_t*>(w) +
                                                           (wbase + (j + NW) * K + k) * weight_bytes<DT>()),
                             _MM_HINT_T0);
            }
            load16_dot<DT, SPLIT>(w, wbase + j * K + k, wlo, whi);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) {
                acc[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i * ld_x + k), wlo, acc[i][j]);
                acc[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i * ld_x + k + 8), whi, acc[i][j]);
            }
        }
    }
    if (!last) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
            for (int j = 0; j < NW; ++j) acc_buf[i * acc_stride + j] = acc[i][j];
        return;
    }
    for (; k + 8 <= K; k += 8) {
#pragma GCC unroll 16
        for (int j = 0; j < NW; ++j) {
            const __m256 wv = load8<DT>(w, wbase + j * K + k);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) acc[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i * ld_x + k), wv, acc[i][j]);
        }
    }
    float sum[MR][NW];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
        for (int j = 0; j < NW; ++j) sum[i][j] = hsum(acc[i][j]);
    for (; k < K; ++k) {
#pragma GCC unroll 16
        for (int j = 0; j < NW; ++j) {
            const float wj = load1<DT>(w, wbase + j * K + k);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) sum[i][j] += x[i * ld_x + k] * wj;
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        float* yr = y + i * ld_y + o;
#pragma GCC unroll 16
        for (int j = 0; j < NW; ++j) {
            const float value = sum[i][j] * scale;
            yr[j] = accumulate ? yr[j] + value : value;
        }
    }
}

/* Weight rows [o_begin, o_end) for MR activation rows, columns [k_begin, k_end): NW weight rows at a time, then
 * single rows. */
template <int32_t DT, bool SPLIT, int MR, int NW>
inline void dot_rows(const float* x, int64_t ld_x, const void* w, int64_t K, int32_t o_begin, int32_t o_end,
                     int64_t k_begin, int64_t k_end, __m256* acc_buf, float* y, int64_t ld_y, float scale,
                     int32_t accumulate) {
    int32_t o = o_begin;
    for (; o + NW <= o_end; o += NW)
        dot_tile<DT, SPLIT, MR, NW>(x, ld_x, w, K, o, k_begin, k_end, acc_buf + (o - o_begin), kDotMaxWeightRows, y,
                                    ld_y, scale, accumulate);
    for (; o < o_end; ++o)
        dot_tile<DT, SPLIT, MR, 1>(x, ld_x, w, K, o, k_begin, k_end, acc_buf + (o - o_begin), kDotMaxWeightRows, y,
                                   ld_y, scale, accumulate);
}

/* Bytes of activations (all rows, one piece of the reduction) kept in L1 while a piece's weights stream past. */
constexpr int64_t kDotActivationBytes = 16384;

template <int32_t DT, bool SPLIT>
void rows_dot(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,
              float* y, int64_t ld_y, int32_t accumulate) {
    const int64_t K = w->cols;
    const float scale = w->scale * decode_factor<DT>();
    // Pieces of the reduction: a multiple of 16 columns (the SPLIT layout's block), at least 256.
    int64_t piece = (kDotActivationBytes / (static_cast<int64_t>(sizeof(float)) * rows)) & ~int64_t(15);
    if (piece < 256) piece = 256;
    alignas(32) __m256 acc_buf[kDotMaxRows * kDotMaxWeightRows];
    for (int64_t k0 = 0; k0 < K; k0 += piece) {
        const int64_t k1 = K - k0 <= piece ? K : k0 + piece;
        for (int32_t r = 0; r < rows; r += 4) {
            const float* xr = x + r * ld_x;
            float* yr = y + r * ld_y;
            __m256* acc = acc_buf + r * kDotMaxWeightRows;
            switch (rows - r >= 4 ? 4 : rows - r) {
                case 1:
                    dot_rows<DT, SPLIT, 1, 8>(xr, ld_x, w->data, K, o_begin, o_end, k0, k1, acc, yr, ld_y, scale,
                                              accumulate);
                    break;
                case 2:
                    dot_rows<DT, SPLIT, 2, 4>(xr, ld_x, w->data, K, o_begin, o_end, k0, k1, acc, yr, ld_y, scale,
                                              accumulate);
                    break;
                case 3:
                    dot_rows<DT, SPLIT, 3, 2>(xr, ld_x, w->data, K, o_begin, o_end, k0, k1, acc, yr, ld_y, scale,
                                              accumulate);
                    break;
                default:
                    dot_rows<DT, SPLIT, 4, 2>(xr, ld_x, w->data, K, o_begin, o_end, k0, k1, acc, yr, ld_y, scale,
                                              accumulate);
                    break;
            }
        }
    }
}

/* ---- packed form ---- */

constexpr int kPanelRows = 16;  // weight rows per panel (two ymm registers)
constexpr int kPanelK = 256;    // reduction block
static_assert(kPanelRows == kPackedPanelRows && kPanelK == kPackedPanelK, "the panels avx512f32 reads");

/* In-register transpose of an 8x8 block: r[i] holds row i on entry and column i on exit. */
inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]);
    __m256 t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]);
    __m256 t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]);
    __m256 t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]);
    __m256 t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44);
    __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44);
    __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44);
    __m256 u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44);
    __m256 u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/*
 * Packs weight rows [o0, o0 + n_valid) (n_valid <= 16), columns [k0, k0 + kc), times scale, into
 * panel[k * 16 + j]; rows past n_valid are zero.
 */
template <int32_t DT>
void pack_panel(const void* w, int64_t K, int32_t o0, int n_valid, int64_t k0, int kc, float scale, float* panel) {
    const bool scaled = scale != 1.0f;
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int half = 0; half < 2; ++half) {
        const int row0 = half * 8;
        int kk = 0;
        for (; kk + 8 <= kc; kk += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; ++i) {
                const int row = row0 + i;
                if (row < n_valid) {
                    r[i] = load8<DT>(w, static_cast<int64_t>(o0 + row) * K + k0 + kk);
                    if (scaled) r[i] = _mm256_mul_ps(r[i], vscale);
                } else {
                    r[i] = _mm256_setzero_ps();
                }
            }
            transpose8(r);
            for (int i = 0; i < 8; ++i) _mm256_store_ps(panel + (kk + i) * kPanelRows + row0, r[i]);
        }
        for (; kk < kc; ++kk) {
            for (int i = 0; i < 8; ++i) {
                const int row = row0 + i;
                panel[kk * kPanelRows + row0 + i] =
                    row < n_valid ? load1<DT>(w, static_cast<int64_t>(o0 + row) * K + k0 + kk) * scale : 0.0f;
            }
        }
    }
}

constexpr int kTileRows = 6;  // activation rows per register tile

/*
 * Packs activation rows [0, n) (n <= 6) of x, all K columns, into xp[k * 6 + i]; rows past n are zero. Packed, the
 * tile's broadcasts walk one contiguous buffer: read in place, six rows a multiple of 4 KiB apart (K = 2048 floats)
 * fall into the same L1 set and evict each other and the weight panel.
 */
inline void pack_rows(const float* x, int64_t ld_x, int n, int64_t K, float* xp) {
    int64_t k = 0;
    if (n == kTileRows) {
        const __m256i first6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
        for (; k + 8 <= K; k += 8) {
            // Six rows of eight columns -> eight groups of six, via a transposed 8x8 block (two rows unused).
            __m256 r[8];
            for (int i = 0; i < kTileRows; ++i) r[i] = _mm256_loadu_ps(x + i * ld_x + k);
            r[6] = _mm256_setzero_ps();
            r[7] = _mm256_setzero_ps();
            transpose8(r);
            // Each store writes 8 floats and the next one overwrites the 2 extra; the last is masked to 6.
            for (int j = 0; j < 7; ++j) _mm256_storeu_ps(xp + (k + j) * kTileRows, r[j]);
            _mm256_maskstore_ps(xp + (k + 7) * kTileRows, first6, r[7]);
        }
    }
    for (; k < K; ++k)
        for (int i = 0; i < kTileRows; ++i) xp[k * kTileRows + i] = i < n ? x[i * ld_x + k] : 0.0f;
}

/*
 * c[i, 0..n_valid) (+)= sum_k xp[k * 6 + i] * panel[k, 0..16) for MR rows. Every loop over the MR rows is unrolled so
 * the 2*MR accumulators live in registers for the whole reduction (a runtime-indexed epilogue makes GCC keep a memory
 * copy of them and store it on every k step, halving the FMA rate).
 */
template <int MR>
inline void tile_kernel(const float* xp, const float* panel, int kc, float* c, int64_t ld_c, int n_valid,
                        bool add_to_c) {
    __m256 acc0[MR];
    __m256 acc1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        acc0[i] = _mm256_setzero_ps();
        acc1[i] = _mm256_setzero_ps();
    }
    for (int k = 0; k < kc; ++k) {
        const __m256 w0 = _mm256_load_ps(panel + k * kPanelRows);
        const __m256 w1 = _mm256_load_ps(panel + k * kPanelRows + 8);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const __m256 xb = _mm256_broadcast_ss(xp + k * kTileRows + i);
            acc0[i] = _mm256_fmadd_ps(xb, w0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(xb, w1, acc1[i]);
        }
    }
    if (n_valid == kPanelRows) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            float* ci = c + i * ld_c;
            __m256 v0 = acc0[i];
            __m256 v1 = acc1[i];
            if (add_to_c) {
                v0 = _mm256_add_ps(_mm256_loadu_ps(ci), v0);
                v1 = _mm256_add_ps(_mm256_loadu_ps(ci + 8), v1);
            }
            _mm256_storeu_ps(ci, v0);
            _mm256_storeu_ps(ci + 8, v1);
        }
        return;
    }
    alignas(32) float tmp[MR][kPanelRows];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        _mm256_store_ps(tmp[i], acc0[i]);
        _mm256_store_ps(tmp[i] + 8, acc1[i]);
    }
    for (int i = 0; i < MR; ++i) {
        float* ci = c + i * ld_c;
        for (int j = 0; j < n_valid; ++j) ci[j] = add_to_c ? ci[j] + tmp[i][j] : tmp[i][j];
    }
}

/* pack: the weight panels of [o_begin, o_end), kPanelK x 16 floats each. xpack: the 6-row tiles of x (pack_rows). */
template <int32_t DT>
void rows_packed(const float* xpack, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end, float* y,
                 int64_t ld_y, int32_t accumulate, float* pack) {
    const int64_t K = w->cols;
    const int n = o_end - o_begin;
    const int panels = (n + kPanelRows - 1) / kPanelRows;
    const int tiles = (rows + kTileRows - 1) / kTileRows;
    for (int64_t k0 = 0; k0 < K; k0 += kPanelK) {
        const int kc = static_cast<int>(K - k0 < kPanelK ? K - k0 : kPanelK);
        for (int p = 0; p < panels; ++p) {
            const int valid = n - p * kPanelRows < kPanelRows ? n - p * kPanelRows : kPanelRows;
            pack_panel<DT>(w->data, K, o_begin + p * kPanelRows, valid, k0, kc, w->scale * decode_factor<DT>(),
                           pack + p * kPanelK * kPanelRows);
        }
        const bool add_to_c = k0 > 0 || accumulate != 0;
        for (int p = 0; p < panels; ++p) {
            const int valid = n - p * kPanelRows < kPanelRows ? n - p * kPanelRows : kPanelRows;
            const float* panel = pack + p * kPanelK * kPanelRows;
            float* c = y + o_begin + p * kPanelRows;
            for (int t = 0; t < tiles; ++t) {
                const int r = t * kTileRows;
                const float* xp = xpack + (static_cast<int64_t>(t) * K + k0) * kTileRows;
                float* cr = c + r * ld_y;
                switch (rows - r < kTileRows ? rows - r : kTileRows) {
                    case 1: tile_kernel<1>(xp, panel, kc, cr, ld_y, valid, add_to_c); break;
                    case 2: tile_kernel<2>(xp, panel, kc, cr, ld_y, valid, add_to_c); break;
                    case 3: tile_kernel<3>(xp, panel, kc, cr, ld_y, valid, add_to_c); break;
                    case 4: tile_kernel<4>(xp, panel, kc, cr, ld_y, valid, add_to_c); break;
                    case 5: tile_kernel<5>(xp, panel, kc, cr, ld_y, valid, add_to_c); break;
                    default: tile_kernel<6>(xp, panel, kc, cr, ld_y, valid, add_to_c); break;
                }
            }
        }
    }
}

}  // namespace

void matmul_split_x_bf16(const float* x, int64_t ld_x, int32_t rows, int64_t K, float* x_split) {
    for (int32_t r = 0; r < rows; ++r) {
        const float* src = x + r * ld_x;
        float* dst = x_split + r * K;
        int64_t k = 0;
        for (; k + 16 <= K; k += 16) {
            for (int i = 0; i < 8; ++i) {
                dst[k + i] = src[k + 2 * i];
                dst[k + 8 + i] = src[k + 2 * i + 1];
            }
        }
        for (; k < K; ++k) dst[k] = src[k];
    }
}

void matmul_rows_dot(const float* x, int64_t ld_x, const float* x_split, int32_t rows, const n4j_weight* w,
                     int32_t o_begin, int32_t o_end, float* y, int64_t ld_y, int32_t accumulate) {
    switch (w->dtype) {
        case N4J_DTYPE_BF16:
            if (x_split != nullptr) {
                rows_dot<N4J_DTYPE_BF16, true>(x_split, w->cols, rows, w, o_begin, o_end, y, ld_y, accumulate);
            } else {
                rows_dot<N4J_DTYPE_BF16, false>(x, ld_x, rows, w, o_begin, o_end, y, ld_y, accumulate);
            }
            break;
        case N4J_DTYPE_F8_E4M3:
            rows_dot<N4J_DTYPE_F8_E4M3, false>(x, ld_x, rows, w, o_begin, o_end, y, ld_y, accumulate);
            break;
        default: rows_dot<N4J_DTYPE_F32, false>(x, ld_x, rows, w, o_begin, o_end, y, ld_y, accumulate); break;
    }
}

size_t matmul_packed_scratch_floats(int32_t weight_rows) {
    return static_cast<size_t>((weight_rows + kPanelRows - 1) / kPanelRows) * kPanelK * kPanelRows;
}

size_t matmul_packed_x_floats(int32_t rows, int64_t K) {
    return static_cast<size_t>((rows + kTileRows - 1) / kTileRows) * static_cast<size_t>(K) * kTileRows;
}

void matmul_pack_x(const float* x, int64_t ld_x, int32_t rows, int64_t K, int32_t row_begin, int32_t row_end,
                   float* xpack) {
    for (int32_t r = row_begin; r < row_end; r += kTileRows) {
        const int n = rows - r < kTileRows ? rows - r : kTileRows;
        pack_rows(x + r * ld_x, ld_x, n, K, xpack + static_cast<int64_t>(r / kTileRows) * K * kTileRows);
    }
}

void matmul_pack_panels(const n4j_weight* w, int32_t o_begin, int32_t o_end, int64_t k0, int kc, float* pack) {
    const int n = o_end - o_begin;
    const int panels = (n + kPanelRows - 1) / kPanelRows;
    for (int p = 0; p < panels; ++p) {
        const int valid = n - p * kPanelRows < kPanelRows ? n - p * kPanelRows : kPanelRows;
        float* dst = pack + p * kPanelK * kPanelRows;
        const int32_t o = o_begin + p * kPanelRows;
        switch (w->dtype) {
            case N4J_DTYPE_BF16:
                pack_panel<N4J_DTYPE_BF16>(w->data, w->cols, o, valid, k0, kc, w->scale, dst);
                break;
            case N4J_DTYPE_F8_E4M3:
                pack_panel<N4J_DTYPE_F8_E4M3>(w->data, w->cols, o, valid, k0, kc,
                                              w->scale * decode_factor<N4J_DTYPE_F8_E4M3>(), dst);
                break;
            default: pack_panel<N4J_DTYPE_F32>(w->data, w->cols, o, valid, k0, kc, w->scale, dst); break;
        }
    }
}

void matmul_rows_packed(const float* xpack, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,
                        float* y, int64_t ld_y, int32_t accumulate, float* pack) {
    switch (w->dtype) {
        case N4J_DTYPE_BF16:
            rows_packed<N4J_DTYPE_BF16>(xpack, rows, w, o_begin, o_end, y, ld_y, accumulate, pack);
            break;
        case N4J_DTYPE_F8_E4M3:
            rows_packed<N4J_DTYPE_F8_E4M3>(xpack, rows, w, o_begin, o_end, y, ld_y, accumulate, pack);
            break;
        default: rows_packed<N4J_DTYPE_F32>(xpack, rows, w, o_begin, o_end, y, ld_y, accumulate, pack); break;
    }
}

}  // namespace avx2
}  // namespace cpu
}  // namespace n4j
