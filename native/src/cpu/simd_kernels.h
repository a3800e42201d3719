/*
 * simd_kernels.h: kernel bodies compiled per SIMD level.
 *
 * namespace generic: compiled for the baseline ISA (in the op's own .cpp file).
 * namespace avx2:    compiled with -mavx2 -mfma -mf16c (the *_avx2.cpp files); callers check
 *                    cpu_has_avx2_fma_f16c() (context::simd == SIMD_AVX2) first.
 * The attention and SSD bodies are one source (*_fast.inc) included into both namespaces; matmul and convert
 * have hand-written AVX2 intrinsics.
 *
 * Deliberately tiny (C headers only): a translation unit compiled with -mavx2 must not instantiate inline C++
 * library code (std:: templates and the like), because the linker keeps one copy of such code for the whole
 * library and could pick the AVX2-compiled one for baseline callers; shared helpers are `static inline`.
 */
#ifndef N4J_CPU_SIMD_KERNELS_H
#define N4J_CPU_SIMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cpu {

/* Arguments of the two phases of the fast SSD scan (ssd_chunk_scan.cpp), validated and expanded. */
struct ssd_scan_args {
    const n4j_ssm_dims* dims;
    int32_t tokens;
    const float* x;
    int64_t ld_x;
    const float* B;
    int64_t ld_B;
    const float* C;
    int64_t ld_C;
    const float* dt;
    int64_t ld_dt;
    float* ssm_state;
    float* y;
    int64_t ld_y;
    const float* bias_f;  // dt_bias[h]
    const float* A_f;     // -exp(A_log[h])
    const float* D_f;     // D[h]
    float* cb;            // [groups][window chunks][cb_stride][cb_stride], lower triangle used
    float* bpack;         // [groups][window chunks][cb_stride][b_stride]: B of each chunk, contiguous rows
    int32_t cb_stride;    // min(chunk_size, tokens): no chunk is longer
    int32_t b_stride;     // state_dim rounded up to 8, plus 8 (rows never a multiple of 4 KiB apart)
};

static inline int32_t ssd_scan_b_stride(int32_t state_dim) { return ((state_dim + 7) & ~7) + 8; }

/* Floats of the per-chunk vectors at the start of ssd_scan_head_window's scratch (a multiple of 16). */
static inline size_t ssd_scan_vector_floats(int32_t L) { return (8 * static_cast<size_t>(L) + 15) & ~static_cast<size_t>(15); }

/* Per-thread scratch of ssd_scan_head_window, in floats, for chunks of at most L tokens and head_dim P. */
static inline size_t ssd_scan_head_scratch_floats(int32_t L, int32_t P) {
    return ssd_scan_vector_floats(L) + 3 * static_cast<size_t>(L) * P;
}

/* The declarations every SIMD level provides. */
#define N4J_DECLARE_SIMD_KERNELS                                                                                \
    /* attention_fast.inc: query tokens [t0, t1) x the query heads of KV head kvh, online softmax. */          \
    size_t attention_tile_scratch_bytes(int32_t rows, int32_t head_dim);                                       \
    void attention_tile(const n4j_attn_dims* dims, const n4j_kv_cache* cache, int32_t kvh, const float* q,      \
                        int64_t ld_q, float* out, int64_t ld_out, int32_t t0, int32_t t1, void* scratch);      \
    /* attention_fast.inc: one decode query, all heads, over positions [p_begin, p_end); partial softmax state. */ \
    size_t attention_decode_scratch_bytes(int32_t heads, int32_t kv_heads, int32_t head_dim);                  \
    void attention_decode_chunk(const n4j_attn_dims* dims, const n4j_kv_cache* cache, const float* q,          \
                                int64_t p_begin, int64_t p_end, float* part, void* scratch);                   \
    /* attention_fast.inc: columns [d0, d1) of head h's output (out: the head's row) from the partial states  \
     * of chunks [t0, t1) (stride part_floats). */                                                            \
    void attention_decode_merge(const float* parts, int64_t part_floats, int64_t t0, int64_t t1, int32_t h,     \
                                int32_t D, int32_t d0, int32_t d1, float* out);                                \
    /* ssd_chunk_scan_fast.inc: phase 1, rows [t0, t1) of C.B^T of one chunk of one group; phase 2, one head   \
     * over a window. */                                                                                       \
    void ssd_scan_cb_chunk(const ssd_scan_args& args, int32_t g, int32_t c0, int32_t len, int32_t t0,          \
                           int32_t t1, float* cb, float* bpack);                                               \
    void ssd_scan_head_window(const ssd_scan_args& args, int32_t h, int32_t first_chunk, int32_t n_chunks,     \
                              float* scratch);

namespace generic {
N4J_DECLARE_SIMD_KERNELS
}  // namespace generic

namespace avx512 {  // *_avx512bf16.cpp: AVX-512, present when N4J_HAVE_AVX512BF16_KERNELS
N4J_DECLARE_SIMD_KERNELS
/* attention_fast.inc, fast precision (BF16 cache, head_dim % 32 == 0): attention_decode_chunk with q . k and p . v as
 * BF16 dot products (q and the probabilities rounded to BF16), by VDPBF16PS or, fma_form (context::bf16_dot_by_fma),
 * by F32 FMAs on the widened pairs (the same bits but for the instruction's flushing of denormals). */
size_t attention_decode_bf16_scratch_bytes(int32_t heads, int32_t head_dim);
void attention_decode_chunk_bf16(const n4j_attn_dims* dims, const n4j_kv_cache* cache, const float* q, int64_t p_begin,
                                 int64_t p_end, float* part, void* scratch, bool fma_form);
}  // namespace avx512

namespace avx2 {
N4J_DECLARE_SIMD_KERNELS

/* ---- convert_avx2.cpp ---- */
void convert_f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void convert_f32_to_f16(const float* src, uint16_t* dst, int64_t n);

/* ---- matmul_avx2.cpp (see matmul.cpp for the blocking) ---- */

/*
 * Weight rows [o_begin, o_end) of y = x * W^T (* scale) for `rows` activation rows, in dot-product form: each
 * weight row is read once per group of up to 4 activation rows. For decode-sized `rows`. For BF16 weights pass
 * x_split (matmul_split_x_bf16 of x, [rows][K]) to use the shuffle-free BF16 kernel; nullptr otherwise.
 */
constexpr int32_t kDotMaxRows = 15;          // activation rows of the dot form (kMatmulPackedMinRows - 1)
constexpr int32_t kDotMaxWeightRows = 32;    // weight rows per matmul_rows_dot call (o_end - o_begin)

void matmul_rows_dot(const float* x, int64_t ld_x, const float* x_split, int32_t rows, const n4j_weight* w,
                     int32_t o_begin, int32_t o_end, float* y, int64_t ld_y, int32_t accumulate);

/* x [rows][ld_x] -> x_split [rows][K]: each full 16-block of columns reordered to even then odd columns. */
void matmul_split_x_bf16(const float* x, int64_t ld_x, int32_t rows, int64_t K, float* x_split);

/*
 * Packed-panel form (prefill). matmul_pack_x copies the activation rows [row_begin, row_end) (row_begin a multiple
 * of 6) into 6-row tiles interleaved by k (xpack: matmul_packed_x_floats(rows, K) floats for all rows, tile-major).
 * matmul_rows_packed then computes weight rows [o_begin, o_end) for `rows` activation rows whose first tile is at
 * xpack: per block of 256 in the reduction dimension the weights are converted to F32 (times scale) into `pack`
 * (matmul_packed_scratch_floats(o_end - o_begin) floats, 64-byte aligned) as 16-row panels interleaved by k, and a
 * 6x16 register-tile kernel accumulates into y.
 */
size_t matmul_packed_x_floats(int32_t rows, int64_t K);
void matmul_pack_x(const float* x, int64_t ld_x, int32_t rows, int64_t K, int32_t row_begin, int32_t row_end,
                   float* xpack);
size_t matmul_packed_scratch_floats(int32_t weight_rows);
void matmul_rows_packed(const float* xpack, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,
                        float* y, int64_t ld_y, int32_t accumulate, float* pack);
/* The packing step of matmul_rows_packed alone: the 16-row panels of weight rows [o_begin, o_end), columns
 * [k0, k0 + kc) (kc <= kPackedPanelK), times the scale, into `pack`. */
constexpr int kPackedPanelRows = 16;
constexpr int kPackedPanelK = 256;
void matmul_pack_panels(const n4j_weight* w, int32_t o_begin, int32_t o_end, int64_t k0, int kc, float* pack);

}  // namespace avx2

/*
 * ---- matmul_f32_avx512bf16.cpp: the packed F32 form with AVX-512 register tiles (exact mode's prefill) ----
 * The same activation tiles (avx2::matmul_pack_x) and weight panels (avx2::matmul_pack_panels) as
 * avx2::matmul_rows_packed, multiplied by a 6 x 32 tile of 12 zmm accumulators (two panels at a time), each output's
 * products added in the same order: the results are bitwise those of the AVX2 form, at twice its FMA width. Called
 * at SIMD_AVX512_BF16; in a build without AVX-512 code generation (N4J_EMULATE_AVX512BF16) it is the AVX2 form.
 */
namespace avx512f32 {
void matmul_rows_packed(const float* xpack, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,
                        float* y, int64_t ld_y, int32_t accumulate, float* pack);
}  // namespace avx512f32

/*
 * ---- matmul_bf16dot.inc: BF16 dot-product matmul over BF16 / F8_E4M3 weights (see that file) ----
 * avx512bf16: compiled with -mavx512f -mavx512bw -mavx512bf16 (matmul_avx512bf16.cpp), called when
 * context::simd == SIMD_AVX512_BF16. bf16dot_emu: the same body with the dot-product instruction modelled in scalar
 * code, compiled into the native tests only.
 * bf16dot_convert_x rounds activation rows [row_begin, row_end) of x to BF16 into xb (rows of bf16dot_ld(K)
 * elements, zero-padded). bf16dot_rows computes weight rows [o_begin, o_end) (any number, in blocks of
 * kBf16DotBlockRows, each prefetching the next) of y = x * W^T * scale for `rows` (at most kBf16DotMaxRows)
 * activation rows starting at xb.
 */
constexpr int32_t kBf16DotMaxRows = 64;
constexpr int32_t kBf16DotMaxWeightRows = 64;
constexpr int32_t kBf16DotBlockRows = 32;
static_assert(kBf16DotBlockRows <= kBf16DotMaxWeightRows, "bf16dot block");

/* Row stride of the converted activations: K rounded up to 32 columns. */
static inline int64_t bf16dot_ld(int64_t K) { return (K + 31) & ~int64_t(31); }

/* Columns of the reduction per piece: keeps a tile's activation rows and weight rows in L1 (a multiple of 32). */
static inline int64_t bf16dot_piece(int32_t rows) { return rows < 16 ? 2048 : 1024; }

/*
 * bf16dot_gemm (prefill): weight rows [o_begin, o_end) (at most kBf16GemmPanelRows) x `rows` activation rows (any
 * count; tasks use up to about 260), through a packed weight panel of kBf16GemmKc columns and register tiles of
 * kBf16GemmMR activation rows x kBf16GemmPanelRows weight rows; scratch holds bf16dot_gemm_scratch_bytes(rows).
 */
constexpr int32_t kBf16GemmPanelRows = 64;
constexpr int32_t kBf16GemmMR = 6;
constexpr int64_t kBf16GemmKc = 256;
/*
 * bf16dot_gemm_fma: the same sums as bf16dot_gemm, bit for bit but for the instruction's flushing of denormals, as F32
 * FMAs (context::bf16_dot_by_fma): the activations as F32 rows of bf16dot_ld(K) floats holding BF16 values
 * (bf16dot_convert_x_f32), the panel of kBf16GemmFmaKc columns widened to F32 once packed (32 KiB: L1), register tiles
 * of kBf16GemmFmaMR rows x kBf16GemmPanelRows weight rows. bf16dot_rows_fma: bf16dot_rows's sums the same way (for
 * batched decode: each activation group widened once for the tile's weight rows, each weight group once for its
 * activation rows).
 */
constexpr int32_t kBf16GemmFmaMR = 5;
constexpr int64_t kBf16GemmFmaKc = 128;
static inline size_t bf16dot_gemm_scratch_bytes(int32_t rows) {
    const size_t dot = sizeof(uint32_t) * static_cast<size_t>(kBf16GemmKc / 2 * kBf16GemmPanelRows);
    const size_t fma = sizeof(uint32_t) * static_cast<size_t>(kBf16GemmFmaKc / 2 * kBf16GemmPanelRows) * 3;
    return (dot > fma ? dot : fma) + sizeof(float) * static_cast<size_t>(rows) * kBf16GemmPanelRows;
}

#define N4J_DECLARE_BF16DOT_KERNELS                                                                             \
    void bf16dot_convert_x(const float* x, int64_t ld_x, int32_t row_begin, int32_t row_end, int64_t K,         \
                           uint16_t* xb);                                                                      \
    void bf16dot_rows(const uint16_t* xb, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,    \
                      float* y, int64_t ld_y, int32_t accumulate);                                                   \
    void bf16dot_gemm(const uint16_t* xb, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,    \
                      float* y, int64_t ld_y, int32_t accumulate, void* scratch);                                \
    void bf16dot_convert_x_f32(const float* x, int64_t ld_x, int32_t row_begin, int32_t row_end, int64_t K,     \
                               float* xf);                                                                     \
    void bf16dot_gemm_fma(const float* xf, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,   \
                          float* y, int64_t ld_y, int32_t accumulate, void* scratch);                            \
    void bf16dot_rows_fma(const uint16_t* xb, int32_t rows, const n4j_weight* w, int32_t o_begin, int32_t o_end,\
                          float* y, int64_t ld_y, int32_t accumulate);

namespace avx512bf16 {
N4J_DECLARE_BF16DOT_KERNELS
}  // namespace avx512bf16

/* The same with AVX512-VBMI too (matmul_vbmi_avx512bf16.cpp: E4M3 decoded by VPERMI2B), called when the CPU has it. */
namespace avx512bf16_vbmi {
N4J_DECLARE_BF16DOT_KERNELS
}  // namespace avx512bf16_vbmi

/* The same with the prefill panels on AMX-BF16 tiles (matmul_amx_avx512bf16.cpp), called when the CPU and OS allow. */
namespace avx512bf16_amx {
N4J_DECLARE_BF16DOT_KERNELS
}  // namespace avx512bf16_amx

namespace bf16dot_emu {
N4J_DECLARE_BF16DOT_KERNELS
}  // namespace bf16dot_emu

/* The AMX variant with the tiles modelled in scalar code (test_bf16dot). */
namespace bf16dot_amx_emu {
N4J_DECLARE_BF16DOT_KERNELS
}  // namespace bf16dot_amx_emu
}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_SIMD_KERNELS_H */
