/*
 * gemm_cublaslt.cu: optional prefill GEMM through cuBLASLt, for BF16 activations x BF16 weights only.
 *
 * Compiled in only when the build defines N4J_HAVE_CUBLASLT (CMake finds CUDA::cublasLt) and selected at run time
 * with the environment variable N4J_CUBLASLT=1 (read when a backend is created); the library never requires it.
 * Row-major y[M, N] = x[M, K] W[N, K]^T, seen column-major by cuBLASLt, is D (N x M, ld_y) = A^T B with
 * A = W as a K x N column-major matrix (ld K) and B = x as a K x M column-major matrix (ld_x). alpha = W.scale, beta = accumulate; fp32 compute (CUBLAS_COMPUTE_32F), bf16 in/out. The workspace is
 * the context's scratch (32 MiB). Without N4J_HAVE_CUBLASLT the three entry points report "not built".
 */
#include <stdlib.h>
#include <string.h>

#include "matmul.cuh"

#ifdef N4J_HAVE_CUBLASLT
#include <cublasLt.h>
#endif

namespace n4j {
namespace cuda {

#ifdef N4J_HAVE_CUBLASLT

namespace {

constexpr size_t kWorkspaceBytes = static_cast<size_t>(32) << 20;

int32_t lt_check(context* ctx, cublasStatus_t st, const char* what) {
    if (st == CUBLAS_STATUS_SUCCESS) return N4J_OK;
    return ctx->fail(N4J_ERR_BACKEND, "n4j_matmul", "cuBLASLt %s failed with status %d", what, static_cast<int>(st));
}

/* Largest power of two (at most 256) dividing the address: the heuristic assumes 256 unless told otherwise. */
uint32_t pointer_alignment(const void* p) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(p);
    uint32_t alignment = 256;
    while (alignment > 1 && (address & (alignment - 1)) != 0) alignment >>= 1;
    return alignment;
}

}  // namespace

int32_t cublaslt_init(context* ctx) {
    const char* env = getenv("N4J_CUBLASLT");
    if (env == nullptr || strcmp(env, "1") != 0) return N4J_OK;
    cublasLtHandle_t handle = nullptr;
    if (cublasLtCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
        return ctx->fail(N4J_ERR_BACKEND, "n4j_backend_create", "N4J_CUBLASLT=1 but cublasLtCreate failed");
    }
    ctx->cublaslt = handle;
    ctx->use_cublaslt = true;
    return N4J_OK;
}

void cublaslt_release(context* ctx) {
    if (ctx->cublaslt != nullptr) cublasLtDestroy(static_cast<cublasLtHandle_t>(ctx->cublaslt));
    ctx->cublaslt = nullptr;
    ctx->use_cublaslt = false;
}

int32_t cublaslt_matmul(context* ctx, const matmul_args& a) {
    cublasLtHandle_t handle = static_cast<cublasLtHandle_t>(ctx->cublaslt);
    void* workspace = ctx->get_scratch(kWorkspaceBytes, "n4j_matmul");
    if (workspace == nullptr) return N4J_ERR_OUT_OF_MEMORY;
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    int32_t rc = lt_check(ctx, cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate");
    const cublasOperation_t trans_a = CUBLAS_OP_T;
    const cublasOperation_t trans_b = CUBLAS_OP_N;
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)),
                      "set TRANSA");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)),
                      "set TRANSB");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, static_cast<uint64_t>(a.k),
                                                      static_cast<uint64_t>(a.n), a.k),
                      "layout A");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, static_cast<uint64_t>(a.k),
                                                      static_cast<uint64_t>(a.rows), a.ld_x),
                      "layout B");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, static_cast<uint64_t>(a.n),
                                                      static_cast<uint64_t>(a.rows), a.ld_y),
                      "layout C");
    }
    if (rc == N4J_OK) rc = lt_check(ctx, cublasLtMatmulPreferenceCreate(&pref), "PreferenceCreate");
    if (rc == N4J_OK) {
        const uint64_t ws = kWorkspaceBytes;
        rc = lt_check(ctx, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                                sizeof(ws)),
                      "set workspace");
    }
    // x and y are often views into larger buffers (row offsets, column slices): tell the heuristic their real
    // alignment, or it may pick a kernel that assumes 256-byte aligned operands.
    const uint32_t align_a = pointer_alignment(a.w), align_b = pointer_alignment(a.x), align_c = pointer_alignment(a.y);
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                                &align_a, sizeof(align_a)),
                      "set alignment A");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                                &align_b, sizeof(align_b)),
                      "set alignment B");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                                &align_c, sizeof(align_c)),
                      "set alignment C");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                                &align_c, sizeof(align_c)),
                      "set alignment D");
    }
    cublasLtMatmulHeuristicResult_t result;
    memset(&result, 0, sizeof(result));
    int found = 0;
    if (rc == N4J_OK) {
        rc = lt_check(ctx, cublasLtMatmulAlgoGetHeuristic(handle, op, la, lb, lc, lc, pref, 1, &result, &found),
                      "AlgoGetHeuristic");
        if (rc == N4J_OK && found == 0) {
            rc = ctx->fail(N4J_ERR_UNSUPPORTED, "n4j_matmul", "cuBLASLt found no algorithm for %d x %d x %d", a.rows,
                           a.n, a.k);
        }
    }
    if (rc == N4J_OK) {
        const float alpha = a.scale;
        const float beta = a.accumulate ? 1.0f : 0.0f;
        rc = lt_check(ctx,
                      cublasLtMatmul(handle, op, &alpha, a.w, la, a.x, lb, &beta, a.y, lc, a.y, lc, &result.algo,
                                     workspace, kWorkspaceBytes, ctx->stream),
                      "Matmul");
    }
    if (pref != nullptr) cublasLtMatmulPreferenceDestroy(pref);
    if (lc != nullptr) cublasLtMatrixLayoutDestroy(lc);
    if (lb != nullptr) cublasLtMatrixLayoutDestroy(lb);
    if (la != nullptr) cublasLtMatrixLayoutDestroy(la);
    if (op != nullptr) cublasLtMatmulDescDestroy(op);
    return rc;
}

#else  // !N4J_HAVE_CUBLASLT

int32_t cublaslt_init(context*) { return N4J_OK; }

void cublaslt_release(context*) {}

int32_t cublaslt_matmul(context* ctx, const matmul_args&) {
    return ctx->fail(N4J_ERR_UNSUPPORTED, "n4j_matmul", "this build has no cuBLASLt support");
}

#endif

}  // namespace cuda
}  // namespace n4j
