/*
 * matmul.cuh: n4j_matmul on the CUDA backend and the kernels it chooses between (see matmul.cu).
 *
 *   gemv_*.cu      rows <= 8 (decode): weight-streaming GEMV, one template per weight dtype
 *   gemm_skinny_*.cu  rows 9..64, BF16/F8 weights: weight-streaming tensor-core GEMM for batched decode (W as the
 *                  mma A operand, the rows as the narrow n dimension; split-K across blocks, deterministic)
 *   gemm_mma_*.cu  rows > 64, BF16/F8 weights: tensor-core GEMM (mma.sync m16n8k16 bf16, fp32 accumulators)
 *   gemm_simt.cu   rows > 8, F32 weights: fp32 CUDA-core GEMM
 *   gemv_quant.cu  Q8 / Q4 weights: dequantizing GEMV (rows <= kQuantGemvMaxRows, decode steps), else dequantized
 *                  once per call into scratch and the GEMM
 *   gemm_cublaslt.cu  rows > 8, BF16 x BF16 and W8A8 e4m3 x e4m3: cuBLASLt, loaded at run time where it exists
 *                  (N4J_CUDA_GEMM)
 *   gemm_mma_w8a8.cu  rows > 8, F8 weights in W8A8 mode (N4J_CUDA_FP8=w8a8): activation quantizer and e4m3 mma GEMM
 */
#ifndef N4J_CUDA_MATMUL_CUH
#define N4J_CUDA_MATMUL_CUH

#include <stdint.h>

#include "common.cuh"
#include "context.cuh"
#include "nemotron4j.h"

namespace n4j {
namespace cuda {

/* y[r, o] (+)= scale * sum_i x[r, i] * W[o, i] for r < rows, o < n, i < k. */
struct matmul_args {
    const void* x;
    int64_t ld_x;
    int rows;
    const void* w;
    int w_dtype;
    int n;  // output features (W.rows)
    int k;  // input features (W.cols)
    float scale;
    void* y;
    int64_t ld_y;
    int accumulate;  // N4J_MATMUL_ACCUMULATE: y += v
    int relu2;       // N4J_MATMUL_RELU_SQUARED: y = max(v, 0)^2
    float in_scale;  // W8A8 (F8 weights, N4J_CUDA_FP8=w8a8): the static activation scale; 0: weight-only
    int residual;    // N4J_MATMUL_ADD_TO_RESIDUAL: 1 y (activation type) += round(v), 2 the same into an F32 y
};

/* W8A8 activation quantization (gemm_mma_w8a8.cu, gemv.cuh, the cuBLASLt FP8 path): x_q = satfinite_e4m3(x * r)
 * with r = 1 / input_scale rounded once to fp32 (a multiply, as FP8 quantizers do, rather than a division), and the
 * real value x_q * input_scale. The product of one row of x_q with one row of W (e4m3 codes) is accumulated in fp32
 * and scaled by W.scale * input_scale. */
__device__ __forceinline__ float w8a8_quantize(float x, float inv_scale) {
    return e4m3_to_f32(f32_to_e4m3_satfinite(x * inv_scale));
}

/*
 * The epilogue of every matmul kernel: v (the scaled dot product) stored, added to y, squared-ReLU'd, or rounded to
 * the activation type and added into the residual stream (N4J_MATMUL_ADD_TO_RESIDUAL: the GEMV's store and the
 * residual add of n4j_add in one, with the rounding points of the two: the layer output rounded to XT, the sum
 * formed in fp32 and rounded to y's type). p indexes y as XT; with an F32 residual (a.residual == 2) the same
 * element offset indexes y as float.
 */
template <typename XT>
__device__ __forceinline__ void matmul_store(const matmul_args& a, XT* p, float v) {
    if (a.residual) {
        const float out = to_f32(from_f32<XT>(v));  // the layer output as the unfused path stores it
        if (a.residual == 2) {
            float* q = static_cast<float*>(a.y) + (p - static_cast<XT*>(a.y));
            *q = *q + out;
            return;
        }
        v = to_f32(*p) + out;
    } else if (a.accumulate) {
        v += to_f32(*p);
    } else if (a.relu2) {
        v = fmaxf(v, 0.0f);  // NaN -> 0, as the CPU
        v *= v;
    }
    *p = from_f32<XT>(v);
}

int32_t op_matmul(void* ctx, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight, void* y,
                  int64_t ld_y, int32_t epilogue);

/* Launchers (enqueue only; the caller checks the launch). */
void gemv_f32_launch(context* ctx, const matmul_args& a);
void gemv_bf16_launch(context* ctx, const matmul_args& a);
void gemv_f8_launch(context* ctx, const matmul_args& a);
/* Block-quantized weights (N4J_DTYPE_Q8 / N4J_DTYPE_Q4 / N4J_DTYPE_Q6): launches and checks (gemv_quant.cu). */
constexpr int kQuantGemvMaxRows = 64;
int32_t matmul_quant(context* ctx, const matmul_args& a, const char* where);
/* The skinny GEMM (gemm_skinny.cuh) serves rows kSkinnyMinRows..kSkinnyMaxRows. Its grid: tiles_n blocks of 128
 * features x `splits` K ranges of k_split elements (a multiple of 128); splits > 1 needs scratch_bytes of fp32
 * partial sums. Split-K when the feature tiles alone give fewer than 2 blocks per SM: splits = ceil(2 SMs / tiles_n),
 * at most the K chunks, 16, and (so the partials stay small next to the weight stream) W bytes / (4 x partial
 * bytes). A pure function of the shape and the SM count: the same in an eager step, its capture and its replays. */
constexpr int kSkinnyMinRows = 9;
constexpr int kSkinnyMaxRows = 64;
struct skinny_plan {
    int tiles_n;
    int splits;
    int k_split;
    size_t scratch_bytes;
};
static inline skinny_plan skinny_plan_for(int sm_count, int rows, int n, int k, int w_bytes) {
    const int feats = 128, kc = 128, max_splits = 16;
    skinny_plan p;
    p.tiles_n = (n + feats - 1) / feats;
    const int chunks = (k + kc - 1) / kc;
    const int target = 2 * (sm_count > 0 ? sm_count : 1);
    int splits = 1;
    if (p.tiles_n < target) {
        splits = (target + p.tiles_n - 1) / p.tiles_n;
        if (splits > max_splits) splits = max_splits;
        // partial bytes (splits * rows * n * 4) at most a quarter of the weight bytes (n * k * w_bytes)
        const int64_t budget = static_cast<int64_t>(k) * w_bytes / (16 * static_cast<int64_t>(rows));
        if (splits > budget) splits = budget > 1 ? static_cast<int>(budget) : 1;
        if (splits > chunks) splits = chunks;
    }
    const int per = (chunks + splits - 1) / splits;  // chunks per split; no split left empty
    p.splits = (chunks + per - 1) / per;
    p.k_split = per * kc;
    p.scratch_bytes = p.splits > 1 ? static_cast<size_t>(p.splits) * rows * n * sizeof(float) : 0;
    return p;
}
int32_t gemm_skinny_bf16_launch(context* ctx, const matmul_args& a);
int32_t gemm_skinny_f8_launch(context* ctx, const matmul_args& a);
int32_t gemm_mma_bf16_launch(context* ctx, const matmul_args& a);
int32_t gemm_mma_f8_launch(context* ctx, const matmul_args& a);
/* W8A8 prefill (a.in_scale > 0, rows > 8; gemm_mma_w8a8.cu): quantizes x into scratch, then cuBLASLt's FP8 GEMM
 * where it runs this GEMM, else the own e4m3 mma.sync GEMM (sm_89+). Launches and checks. */
constexpr int kW8A8RowAlign = 16;  // the quantized x rows' stride: K rounded up to 16 bytes, zero-padded
/* What fills x_q (and the scale pair) in matmul_w8a8: quantize_e4m3_launch when null; n4j_rmsnorm_matmul passes its
 * fused RMSNorm + quantize kernel (rmsnorm_matmul.cu), which writes the same bytes. */
struct w8a8_quantizer {
    void (*launch)(context* ctx, const matmul_args& a, uint8_t* x_q, int64_t ld_q, float* scales, const void* user);
    const void* user;
};
int32_t matmul_w8a8(context* ctx, const matmul_args& a, const char* where, const w8a8_quantizer* quantizer = nullptr);
/* The two pieces on their own (no checks; x_q [rows][ld_q] bytes, scales: 2 floats {W.scale, input_scale} written
 * by the quantize kernel for cuBLASLt's scale pointers, may be null). */
void quantize_e4m3_launch(context* ctx, const matmul_args& a, uint8_t* x_q, int64_t ld_q, float* scales);
int32_t gemm_w8a8_launch(context* ctx, const matmul_args& a, const uint8_t* x_q, int64_t ld_q);
void gemm_simt_launch(context* ctx, const matmul_args& a);

/* cuBLASLt (gemm_cublaslt.cu): the library and handle per backend (N4J_CUDA_GEMM, read at creation), whether a
 * GEMM is one cuBLASLt runs, and the GEMM itself: *done false (and N4J_OK) when the heuristic has no algorithm for
 * this shape in auto mode, so the caller runs its own kernel. */
int32_t cublaslt_init(context* ctx);
void cublaslt_release(context* ctx);
bool cublaslt_supports(const context* ctx, const matmul_args& a);
/* N4J_CUDA_GEMM=cublaslt (not auto): cuBLASLt also serves the 9..64-row GEMMs it supports (matmul.cu). */
bool cublaslt_forced(const context* ctx);
int32_t cublaslt_matmul(context* ctx, const matmul_args& a, bool* done);
/* The FP8 GEMM (W8A8): e4m3 x_q [rows][ld_q] (quantized by the caller, in 256-byte aligned scratch) times e4m3 W,
 * with cuBLASLt's A/B scale pointers at `scales` (device: {W.scale, input_scale}). cublaslt_supports_fp8: the
 * epilogue and shape; cublaslt_fp8_prepare: makes (once) the plan, *usable false when auto mode has no algorithm,
 * else the workspace it needs; cublaslt_matmul_fp8: the GEMM, the same *done contract as cublaslt_matmul. */
bool cublaslt_supports_fp8(const context* ctx, const matmul_args& a);
int32_t cublaslt_fp8_prepare(context* ctx, const matmul_args& a, int64_t ld_q, const float* scales, bool* usable,
                             size_t* workspace);
int32_t cublaslt_matmul_fp8(context* ctx, const matmul_args& a, const uint8_t* x_q, int64_t ld_q, const float* scales,
                            void* workspace, bool* done);

}  // namespace cuda
}  // namespace n4j

#endif
