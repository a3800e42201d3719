/*
 * matmul.cuh: n4j_matmul on the CUDA backend and the kernels it chooses between (see matmul.cu).
 *
 *   gemv_*.cu      rows <= 8 (decode): weight-streaming GEMV, one template per weight dtype
 *   gemm_mma_*.cu  rows > 8, BF16/F8 weights: tensor-core GEMM (mma.sync m16n8k16 bf16, fp32 accumulators)
 *   gemm_simt.cu   rows > 8, F32 weights: fp32 CUDA-core GEMM
 *   gemv_quant.cu  Q8 / Q4 weights: dequantizing GEMV (rows <= kQuantGemvMaxRows, decode steps), else dequantized
 *                  once per call into scratch and the GEMM
 *   gemm_cublaslt.cu  rows > 8, BF16 x BF16: cuBLASLt, loaded at run time where it exists (N4J_CUDA_GEMM)
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
    int residual;    // N4J_MATMUL_ADD_TO_RESIDUAL: 1 y (activation type) += round(v), 2 the same into an F32 y
};

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
/* Block-quantized weights (N4J_DTYPE_Q8 / N4J_DTYPE_Q4): launches and checks (gemv_quant.cu). */
constexpr int kQuantGemvMaxRows = 64;
int32_t matmul_quant(context* ctx, const matmul_args& a, const char* where);
int32_t gemm_mma_bf16_launch(context* ctx, const matmul_args& a);
int32_t gemm_mma_f8_launch(context* ctx, const matmul_args& a);
void gemm_simt_launch(context* ctx, const matmul_args& a);

/* cuBLASLt (gemm_cublaslt.cu): the library and handle per backend (N4J_CUDA_GEMM, read at creation), whether a
 * GEMM is one cuBLASLt runs, and the GEMM itself: *done false (and N4J_OK) when the heuristic has no algorithm for
 * this shape in auto mode, so the caller runs its own kernel. */
int32_t cublaslt_init(context* ctx);
void cublaslt_release(context* ctx);
bool cublaslt_supports(const context* ctx, const matmul_args& a);
int32_t cublaslt_matmul(context* ctx, const matmul_args& a, bool* done);

}  // namespace cuda
}  // namespace n4j

#endif
