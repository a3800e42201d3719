/*
 * matmul_f32_avx512bf16.cpp: exact mode's prefill matmul (F32 activations, weights widened to F32 in packed panels)
 * with AVX-512 register tiles; see simd_kernels.h (avx512f32). Per 256-column block of the reduction the weight
 * panels are packed by avx2::matmul_pack_panels (16 weight rows per panel, one zmm per column), then 6 activation
 * rows x 32 weight rows (two panels) are accumulated in 12 zmm registers: per column 2 panel loads, 6 broadcasts and
 * 12 FMAs, the AVX2 tile's work at twice the width. Every output's products are added in column order, one FMA each,
 * and added to y after each block as in the AVX2 form, so the two are bitwise equal (test_kernels checks it).
 */
#include "cpu/simd_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace n4j {
namespace cpu {
namespace avx512f32 {

#if defined(__AVX512F__)
namespace {

constexpr int kRows = 16;               // weight rows per panel (one zmm)
constexpr int kK = avx2::kPackedPanelK;  // columns per packed block
constexpr int kTile = 6;                 // activation rows per tile (the avx2 activation packing)

/* c[i, 0..valid) (+)= sum_k xp[k * 6 + i] * panels[p][k, 0..16) for MR rows and NP (1 or 2) panels. */
template <int MR, int NP>
inline void tile(const float* xp, const float* panel0, const float* panel1, int kc, float* c, int64_t ld_c,
                 int valid, bool add_to_c) {
    __m512 acc[NP][MR];
#pragma GCC unroll 16
    for (int p = 0; p < NP; ++p)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) acc[p][i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; ++k) {
        const __m512 w0 = _mm512_load_ps(panel0 + k * kRows);
        const __m512 w1 = NP == 2 ? _mm512_load_ps(panel1 + k * kRows) : w0;
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const __m512 xb = _mm512_set1_ps(xp[k * kTile + i]);
            acc[0][i] = _mm512_fmadd_ps(xb, w0, acc[0][i]);
            if (NP == 2) acc[1][i] = _mm512_fmadd_ps(xb, w1, acc[1][i]);
        }
    }
    if (valid == NP * kRows) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            float* ci = c + i * ld_c;
#pragma GCC unroll 2
            for (int p = 0; p < NP; ++p) {
                __m512 v = acc[p][i];
                if (add_to_c) v = _mm512_add_ps(_mm512_loadu_ps(ci + p * kRows), v);
                _mm512_storeu_ps(ci + p * kRows, v);
            }
        }
        return;
    }
    alignas(64) float tmp[MR][NP * kRows];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
        for (int p = 0; p < NP; ++p) _mm512_store_ps(tmp[i] + p * kRows, acc[p][i]);
    for (int i = 0; i < MR; ++i) {
        float* ci = c + i * ld_c;
        for (int j = 0; j < valid; ++j) ci[j] = add_to_c ? ci[j] + tmp[i][j] : tmp[i][j];
    }
}

template <int NP>
inline void tile_rows(int mr, const float* xp, const float* panel0, const float* panel1, int kc, float* c,
                      int64_t ld_c, int valid, bool add_to_c) {
    switch (mr) {
        case 1: tile<1, NP>(xp, panel0, panel1, kc, c, ld_c, valid, add_to_c); break;
        case 2: tile<2, NP>(xp, panel0, panel1, kc, c, ld_c, valid, add_to_c); break;
        case 3: tile<3, NP>(xp, panel0, panel1, kc, c, ld_c, valid, add_to_c); break;
        case 4: tile<4, NP>(xp, panel0, panel1, kc, c, ld_c, valid, add_to_c); break;
        case 5: tile<5, NP>(xp, panel0, panel1, kc, c, ld_c, valid, add_to_c); break;
        default: tile<6, NP>(xp, panel0, panel1, kc, c, ld_c, valid, add_to_c); break;
    }
}

}  // namespace

void matmul_rows_packed(const float* xpack, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,
                        float* y, int64_t ld_y, int32_t accumulate, float* pack) {
    const int64_t K = w->cols;
    const int n = o_end - o_begin;
    const int panels = (n + kRows - 1) / kRows;
    const int tiles = (rows + kTile - 1) / kTile;
    for (int64_t k0 = 0; k0 < K; k0 += kK) {
        const int kc = static_cast<int>(K - k0 < kK ? K - k0 : kK);
        avx2::matmul_pack_panels(w, o_begin, o_end, k0, kc, pack);
        const bool add_to_c = k0 > 0 || accumulate != 0;
        for (int p = 0; p < panels; p += 2) {
            const int np = panels - p >= 2 ? 2 : 1;
            const int valid = n - p * kRows < np * kRows ? n - p * kRows : np * kRows;
            const float* panel0 = pack + p * kK * kRows;
            const float* panel1 = panel0 + kK * kRows;
            float* c = y + o_begin + p * kRows;
            for (int t = 0; t < tiles; ++t) {
                const int r = t * kTile;
                const float* xp = xpack + (static_cast<int64_t>(t) * K + k0) * kTile;
                const int mr = rows - r < kTile ? rows - r : kTile;
                if (np == 2) {
                    tile_rows<2>(mr, xp, panel0, panel1, kc, c + r * ld_y, ld_y, valid, add_to_c);
                } else {
                    tile_rows<1>(mr, xp, panel0, panel1, kc, c + r * ld_y, ld_y, valid, add_to_c);
                }
            }
        }
    }
}

#else

void matmul_rows_packed(const float* xpack, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,
                        float* y, int64_t ld_y, int32_t accumulate, float* pack) {
    avx2::matmul_rows_packed(xpack, rows, w, o_begin, o_end, y, ld_y, accumulate, pack);
}

#endif

}  // namespace avx512f32
}  // namespace cpu
}  // namespace n4j
