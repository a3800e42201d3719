/* matmul_quant.h: n4j_matmul over block-quantized weights (N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6) on the CPU; see
 * matmul_quant.cpp. */
#ifndef N4J_CPU_MATMUL_QUANT_H
#define N4J_CPU_MATMUL_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

constexpr int32_t kQuantBlock = 32;        // weights (and activations) per block / sub-block
constexpr int32_t kQ4SuperBlock = 256;     // weights per Q4 super-block (8 sub-blocks)
constexpr int32_t kQ4RecordBytes = 20;     // F16 d, F16 dmin, uint8 sc[8], uint8 m[8]

constexpr int32_t kQ6Unit = 128;           // weights per Q6 unit (two pairs of blocks; a row's last may hold one)
constexpr int32_t kQ6Offset = 32;          // Q6: w = d * (q - 32)

static inline bool is_quantized_dtype(int32_t dtype) {
    return dtype == N4J_DTYPE_Q8 || dtype == N4J_DTYPE_Q4 || dtype == N4J_DTYPE_Q6;
}

/* Super-blocks per Q4 row of `cols` weights (the last may be shorter). */
static inline int64_t q4_super_blocks(int64_t cols) { return (cols + kQ4SuperBlock - 1) / kQ4SuperBlock; }

/* Bytes of one Q6 row's quants (nibbles and high bits). */
static inline int64_t q6_row_bytes(int64_t cols) { return cols / 4 * 3; }

/*
 * Where pair k (blocks 2k, 2k+1) of a Q6 row lies, from the row's first quant byte: its 32 nibble bytes at
 * `*nibbles`, its 16 high-bit bytes at `*high` (nemotron4j.h: units of two pairs, nibbles first).
 */
static inline void q6_pair_offsets(int64_t cols, int64_t k, int64_t* nibbles, int64_t* high) {
    const int64_t unit = k / 2;
    const int64_t pairs_left = cols / 64 - 2 * unit;
    const int64_t np = pairs_left >= 2 ? 2 : 1;
    *nibbles = unit * 96 + (k % 2) * 32;
    *high = unit * 96 + 32 * np + (k % 2) * 16;
}

/* Q6 value q (0..63) of element i of a row whose quants start at `row`. */
static inline int32_t q6_quant(const uint8_t* row, int64_t cols, int64_t i) {
    int64_t nib, high;
    q6_pair_offsets(cols, i / 64, &nib, &high);
    const int64_t t = i % 64;
    const uint8_t byte = row[nib + t % 32];
    const int32_t low4 = t < 32 ? (byte & 0x0F) : (byte >> 4);
    const int32_t h = (row[high + t % 16] >> (2 * (t / 16))) & 3;  // t/16: element 64k+u, +16, +32, +48
    return low4 | (h << 4);
}

/* Bytes of a whole quantized weight buffer (quants then scales). */
static inline int64_t quant_weight_bytes(int32_t dtype, int64_t rows, int64_t cols) {
    if (dtype == N4J_DTYPE_Q8) return rows * cols + rows * (cols / kQuantBlock) * 2;
    if (dtype == N4J_DTYPE_Q6) return rows * q6_row_bytes(cols) + rows * (cols / kQuantBlock) * 2;
    return rows * cols / 2 + rows * q4_super_blocks(cols) * kQ4RecordBytes;
}

/*
 * Activations quantized per block of 32. For Q4 and Q6 weights: int8, d = max|x| / 127, at q + r * ld_q. For Q8 weights:
 * int16, d = max|x| / 32767, at q16 + r * ld_q (a rounding error 258 times smaller; the weights' own rounding is
 * then the whole error). Row r's block scales d at d + r * ld_b and the block sums s = d * sum(q) (Q4's minimums)
 * at s + r * ld_b. ld_b is the block count rounded up to a multiple of 8; the entries past the last block are 0, so
 * kernels may read whole groups of 8.
 */
struct quant_x {
    const int8_t* q;     // Q4 / Q6 weights: int8 activations (else null)
    const int16_t* q16;  // Q8 weights: int16 activations (else null)
    const float* d;
    const float* s;
    int64_t ld_q;  // elements
    int64_t ld_b;
    int64_t K;
};

/* The largest activation code of each format: 32767 (int16, Q8 weights) or 127 (int8, Q4 and Q6 weights). */
static inline int32_t quant_x_max(int32_t weight_dtype) { return weight_dtype == N4J_DTYPE_Q8 ? 32767 : 127; }

/*
 * Quantizes rows [r0, r1) of x into the buffers of `qx` for weights of `weight_dtype` (q: int8_t* for Q4,
 * int16_t* for Q8). Every variant gives the same integers and scales: q = round-to-nearest-even(x * (M / max|x|))
 * clamped to [-M, M], d = max|x| / M, s = d * float(sum q), M = quant_x_max(weight_dtype).
 */
typedef void (*quantize_x_fn)(int32_t weight_dtype, const float* x, int64_t ld_x, int32_t r0, int32_t r1, int64_t K,
                              void* q, float* d, float* s, int64_t ld_q, int64_t ld_b);
void quantize_x_rows(int32_t weight_dtype, const float* x, int64_t ld_x, int32_t r0, int32_t r1, int64_t K, void* q,
                     float* d, float* s, int64_t ld_q, int64_t ld_b);

/*
 * y[r, o] (= or +=) scale * sum over blocks, for r in [r0, r1), o in [o0, o1). One compilation of
 * matmul_quant.inc (avx2::, avx512bf16::) or the scalar reference (quant_rows_ref).
 */
typedef void (*quant_rows_fn)(const quant_x* x, int32_t r0, int32_t r1, const n4j_weight* w, int32_t o0,
                              int32_t o1, float* y, int64_t ld_y, int32_t accumulate);

/* The scalar reference: integer block sums in index order, then the F32 sum over blocks in block order. */
void quant_rows_ref(const quant_x* x, int32_t r0, int32_t r1, const n4j_weight* w, int32_t o0, int32_t o1, float* y,
                    int64_t ld_y, int32_t accumulate);

/* The reference matmul (single-threaded, scalar) for quantized weights: the oracle. */
void matmul_quant_ref(const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y, int64_t ld_y,
                      int32_t epilogue);

/* The multithreaded matmul with the kernel `kernel` (tests pick one); matmul_quant_fast picks by ctx->simd. */
void matmul_quant_with(context* ctx, quant_rows_fn kernel, quantize_x_fn quantize, const float* x, int64_t ld_x, int32_t rows,
                       const n4j_weight* w, float* y, int64_t ld_y, int32_t epilogue);
void matmul_quant_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, const n4j_weight* w, float* y,
                       int64_t ld_y, int32_t epilogue);

/*
 * Weight rows [o0, o1) of a quantized w (without w->scale) as BF16, row-major with stride w->cols, for the BF16
 * GEMM of prefill (fast precision): Q8 f16(d) * q, Q6 f16(d) * (q - 32), Q4 (f16(d) * sc) * q - f16(dmin) * m, each an F32 product /
 * difference (no fused multiply-add) rounded to nearest even. The scalar reference and the SIMD versions (avx2::,
 * avx512bf16::) give the same bits.
 */
void quant_dequant_bf16_ref(const n4j_weight* w, int32_t o0, int32_t o1, uint16_t* out);
typedef void (*quant_dequant_fn)(const n4j_weight* w, int32_t o0, int32_t o1, uint16_t* out);

namespace avx2 {  // matmul_quant_avx2.cpp: vpmaddubsw + vpmaddwd
void quant_rows(const quant_x* x, int32_t r0, int32_t r1, const n4j_weight* w, int32_t o0, int32_t o1, float* y,
                int64_t ld_y, int32_t accumulate);
void quantize_x(int32_t weight_dtype, const float* x, int64_t ld_x, int32_t r0, int32_t r1, int64_t K, void* q,
                float* d, float* s, int64_t ld_q, int64_t ld_b);
void dequant_bf16(const n4j_weight* w, int32_t o0, int32_t o1, uint16_t* out);
}  // namespace avx2
namespace avx512bf16 {  // matmul_quant_avx512bf16.cpp: AVX512-VNNI vpdpbusd / vpdpwssd (scalar models when emulated)
void quant_rows(const quant_x* x, int32_t r0, int32_t r1, const n4j_weight* w, int32_t o0, int32_t o1, float* y,
                int64_t ld_y, int32_t accumulate);
void quantize_x(int32_t weight_dtype, const float* x, int64_t ld_x, int32_t r0, int32_t r1, int64_t K, void* q,
                float* d, float* s, int64_t ld_q, int64_t ld_b);
void dequant_bf16(const n4j_weight* w, int32_t o0, int32_t o1, uint16_t* out);
}  // namespace avx512bf16

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_MATMUL_QUANT_H */
