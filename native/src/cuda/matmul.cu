/*
 * matmul.cu: n4j_matmul, y[r, o] (+)= sum_i x[r, i] * W[o, i] * W.scale, fp32 accumulation.
 *
 * Chooses the kernel from the row count and the weight dtype (kernels and their numerics: matmul.cuh and the
 * files it lists):
 *   rows <= 8                   -> GEMV (decode; memory-bound weight streaming)
 *   rows > 8, F32 weights       -> CUDA-core GEMM (exact fp32; also every dtype with N4J_CUDA_NO_MMA=1)
 *   Q8 / Q4 weights             -> gemv_quant.cu (dequantizing GEMV up to 64 rows and in decode steps, else
 *                                  dequantized into scratch, then the GEMMs below)
 *   rows > 8, BF16/F8 weights   -> tensor-core GEMM (F32 activations use the hi/lo bf16 split, see gemm_mma.cuh),
 *                                  or cuBLASLt for BF16 x BF16 where the library was loaded (gemm_cublaslt.cu,
 *                                  N4J_CUDA_GEMM; not for the relu^2 epilogue: cuBLASLt has no squared ReLU).
 * Every kernel ends in matmul_store (matmul.cuh): store, accumulate, relu^2, or the add into the residual stream
 * (N4J_MATMUL_ADD_TO_RESIDUAL; not through cuBLASLt).
 * W.input_scale is ignored (weight-only FP8 semantics, as the header specifies for this op).
 */
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
    a.residual = epilogue != N4J_MATMUL_ADD_TO_RESIDUAL ? 0 : ctx->f32_residual() ? 2 : 1;

    if (a.w_dtype == N4J_DTYPE_Q8 || a.w_dtype == N4J_DTYPE_Q4) return matmul_quant(ctx, a, where);
    if (a.w_dtype != N4J_DTYPE_F32 && a.w_dtype != N4J_DTYPE_BF16 && a.w_dtype != N4J_DTYPE_F8_E4M3) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "weight dtype %d (F32, BF16, F8_E4M3, Q8 or Q4 expected)",
                         a.w_dtype);
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
    if (!a.residual && cublaslt_supports(ctx, a)) {  // cuBLASLt's epilogues have no residual add into F32
        bool done = false;
        rc = cublaslt_matmul(ctx, a, &done);
        if (rc != N4J_OK) return rc;
        if (done) return ctx->check_launch(where);
    }
    rc = a.w_dtype == N4J_DTYPE_BF16 ? gemm_mma_bf16_launch(ctx, a) : gemm_mma_f8_launch(ctx, a);
    if (rc != N4J_OK) return rc;
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
