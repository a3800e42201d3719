/*
 * matmul.cu: n4j_matmul, y[r, o] (+)= sum_i x[r, i] * W[o, i] * W.scale, fp32 accumulation.
 *
 * Chooses the kernel from the row count and the weight dtype (kernels and their numerics: matmul.cuh and the
 * files it lists):
 *   rows <= 8                   -> GEMV (decode; memory-bound weight streaming)
 *   rows > 8, F32 weights       -> CUDA-core GEMM (exact fp32; also every dtype with N4J_CUDA_NO_MMA=1)
 *   Q8 / Q4 / Q6 weights        -> gemv_quant.cu (dequantizing GEMV up to 64 rows and in decode steps, else
 *                                  dequantized into scratch, then the GEMMs below)
 *   rows 9..64, BF16/F8 weights -> skinny tensor-core GEMM (gemm_skinny.cuh: batched decode of 9-64 sessions, short
 *                                  prefill chunks; every activation dtype and epilogue; split-K with a deterministic
 *                                  reduction in scratch when N alone does not fill the SMs)
 *   rows > 64, BF16/F8 weights  -> tensor-core GEMM (F32 activations use the hi/lo bf16 split, see gemm_mma.cuh),
 *                                  or cuBLASLt for BF16 x BF16 where the library was loaded (gemm_cublaslt.cu,
 *                                  N4J_CUDA_GEMM; not for the relu^2 epilogue: cuBLASLt has no squared ReLU).
 * Why the skinny kernel and not cuBLASLt for 9..64 rows: at these sizes the matmul is a weight stream (W read once
 * is the floor), which the skinny kernel is built for on every weight/activation/epilogue combination, while
 * cuBLASLt would cover only BF16 x BF16 without relu^2; inside a captured decode step it needs no plan-cache lookup
 * or library workspace, and its result depends only on the shape (fixed split-K order), so a session's numbers do
 * not change with the heuristic's pick for each batch size. So N4J_CUDA_GEMM=auto uses cuBLASLt for rows > 64 only;
 * N4J_CUDA_GEMM=cublaslt (forced) keeps it for every BF16 x BF16 GEMM it supports from 9 rows on, which is the knob
 * to compare the two on a GPU (cuda_op_bench's SKINNY lines under both settings).
 * Every kernel ends in matmul_store (matmul.cuh): store, accumulate, relu^2, or the add into the residual stream
 * (N4J_MATMUL_ADD_TO_RESIDUAL; not through cuBLASLt, whose epilogues have no residual add into F32).
 *
 * FP8 semantics (backend.cu reads N4J_FLAG_FP8_W8A8 and N4J_CUDA_FP8 into ctx->fp8_w8a8):
 *   weight-only (default)  W.input_scale is ignored: e4m3 weights are dequantized inside the GEMV / GEMM and the
 *                          activations keep their precision (what the CPU backend does, and what the FP8 golden
 *                          models' outputs are computed with).
 *   w8a8                   F8 weights with input_scale > 0 quantize the activations to e4m3 with it (matmul.cuh,
 *                          w8a8_quantize) in every kernel that uses the weight: rows > 8 through matmul_w8a8
 *                          (gemm_mma_w8a8.cu: quantize kernel, then cuBLASLt FP8 or the own e4m3 mma GEMM), rows <= 8
 *                          through the same GEMV template quantizing x as it loads it, so prefill and step-by-step
 *                          decode compute the same products. input_scale 0 (absent) stays weight-only.
 */
#include <math.h>

#include "matmul.cuh"

namespace n4j {
namespace cuda {

int32_t op_matmul(void* vctx, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight, void* y,
                  int64_t ld_y, int32_t epilogue) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_matmul";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    matmul_args a;
    a.x = x;
    a.ld_x = ld_x;
    a.rows = rows;
    a.w = weight->data;
    a.w_dtype = weight->dtype;
    a.n = weight->rows;
    a.k = weight->cols;
    a.scale = weight->scale;
    a.y = y;
    a.ld_y = ld_y;
    a.accumulate = epilogue == N4J_MATMUL_ACCUMULATE ? 1 : 0;
    a.relu2 = epilogue == N4J_MATMUL_RELU_SQUARED ? 1 : 0;
    a.in_scale = 0.0f;
    a.residual = epilogue != N4J_MATMUL_ADD_TO_RESIDUAL ? 0 : ctx->f32_residual() ? 2 : 1;

    if (a.w_dtype == N4J_DTYPE_Q8 || a.w_dtype == N4J_DTYPE_Q4 || a.w_dtype == N4J_DTYPE_Q6) {
        return matmul_quant(ctx, a, where);
    }
    if (a.w_dtype != N4J_DTYPE_F32 && a.w_dtype != N4J_DTYPE_BF16 && a.w_dtype != N4J_DTYPE_F8_E4M3) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "weight dtype %d (F32, BF16, F8_E4M3, Q8, Q4 or Q6 expected)",
                         a.w_dtype);
    }
    if (a.w_dtype == N4J_DTYPE_F8_E4M3 && ctx->fp8_w8a8 && weight->input_scale != 0.0f) {
        if (!(weight->input_scale > 0.0f) || !isfinite(weight->input_scale)) {
            return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where,
                             "weight input_scale %g: W8A8 (N4J_FLAG_FP8_W8A8) needs a positive finite activation "
                             "scale (or 0: weight-only)", static_cast<double>(weight->input_scale));
        }
        a.in_scale = weight->input_scale;
        if (rows > 8) return matmul_w8a8(ctx, a, where);
    }
    if (rows <= 8) {
        if (a.w_dtype == N4J_DTYPE_F32) {
            gemv_f32_launch(ctx, a);
        } else if (a.w_dtype == N4J_DTYPE_BF16) {
            gemv_bf16_launch(ctx, a);
        } else {
            gemv_f8_launch(ctx, a);
        }
        return ctx->check_launch(where);
    }
    if (a.w_dtype == N4J_DTYPE_F32 || ctx->no_mma) {
        gemm_simt_launch(ctx, a);
        return ctx->check_launch(where);
    }
    if (!a.residual && cublaslt_supports(ctx, a) && (rows > kSkinnyMaxRows || cublaslt_forced(ctx))) {
        bool done = false;
        rc = cublaslt_matmul(ctx, a, &done);
        if (rc != N4J_OK) return rc;
        if (done) return ctx->check_launch(where);
    }
    if (rows <= kSkinnyMaxRows) {
        rc = a.w_dtype == N4J_DTYPE_BF16 ? gemm_skinny_bf16_launch(ctx, a) : gemm_skinny_f8_launch(ctx, a);
    } else {
        rc = a.w_dtype == N4J_DTYPE_BF16 ? gemm_mma_bf16_launch(ctx, a) : gemm_mma_f8_launch(ctx, a);
    }
    if (rc != N4J_OK) return rc;
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
