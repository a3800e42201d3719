/*
 * cublaslt_api.h: the part of the cuBLASLt C API that nemotron4j calls, declared here from NVIDIA's cuBLAS
 * documentation ("Using the cuBLASLt API": data types, cublasLtMatmul() and the functions around it), so that the
 * plug-in compiles without the CUDA math libraries and loads libcublasLt at run time (gemm_cublaslt.cu: dlopen of
 * libcublasLt.so.13 / .12). The emulator's stand-in library (native/tests/cuda_emu/cublaslt_standin.cpp) implements
 * the same declarations on the CPU.
 *
 * Only what the GEMM glue uses is declared. The values are the documented enumerator values (stable across the
 * CUDA 12 and 13 releases); the handle and descriptor types are opaque pointers (the glue never looks inside them,
 * it only creates, sets attributes and destroys), cublasLtMatmulAlgo_t and cublasLtMatmulHeuristicResult_t are the
 * documented by-value structures (the algorithm is 8 x uint64_t, filled by the heuristic and passed back as is).
 * Plain C, no CUDA header needed: a stream is passed as void* (cudaStream_t is a pointer to an opaque struct).
 */
#ifndef N4J_CUBLASLT_API_H
#define N4J_CUBLASLT_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cublasStatus_t */
typedef int n4j_lt_status;
enum {
    N4J_CUBLAS_STATUS_SUCCESS = 0,
    N4J_CUBLAS_STATUS_NOT_INITIALIZED = 1,
    N4J_CUBLAS_STATUS_ALLOC_FAILED = 3,
    N4J_CUBLAS_STATUS_INVALID_VALUE = 7,
    N4J_CUBLAS_STATUS_ARCH_MISMATCH = 8,
    N4J_CUBLAS_STATUS_EXECUTION_FAILED = 13,
    N4J_CUBLAS_STATUS_INTERNAL_ERROR = 14,
    N4J_CUBLAS_STATUS_NOT_SUPPORTED = 15,
};

/* cudaDataType_t (library_types.h) */
enum {
    N4J_CUDA_R_32F = 0,
    N4J_CUDA_R_16F = 2,
    N4J_CUDA_R_16BF = 14,
    N4J_CUDA_R_8F_E4M3 = 28,
    N4J_CUDA_R_8F_E5M2 = 29,
};

/* cublasComputeType_t */
enum {
    N4J_CUBLAS_COMPUTE_32F = 68,
};

/* cublasOperation_t */
enum {
    N4J_CUBLAS_OP_N = 0,
    N4J_CUBLAS_OP_T = 1,
};

/* cublasLtMatmulDescAttributes_t (the attributes' value types: int32_t for TRANSA/TRANSB, uint32_t for EPILOGUE,
 * a device pointer to one float for A/B_SCALE_POINTER) */
enum {
    N4J_CUBLASLT_MATMUL_DESC_TRANSA = 3,
    N4J_CUBLASLT_MATMUL_DESC_TRANSB = 4,
    N4J_CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
    N4J_CUBLASLT_MATMUL_DESC_A_SCALE_POINTER = 17,
    N4J_CUBLASLT_MATMUL_DESC_B_SCALE_POINTER = 18,
};

/* cublasLtEpilogue_t */
enum {
    N4J_CUBLASLT_EPILOGUE_DEFAULT = 1,
    N4J_CUBLASLT_EPILOGUE_RELU = 2,
};

/* cublasLtMatmulPreferenceAttributes_t (uint64_t for MAX_WORKSPACE_BYTES, uint32_t for the alignments) */
enum {
    N4J_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
    N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
    N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
    N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
    N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8,
};

typedef struct n4j_lt_context* n4j_lt_handle;               /* cublasLtHandle_t */
typedef struct n4j_lt_matmul_desc* n4j_lt_matmul_desc_t;    /* cublasLtMatmulDesc_t */
typedef struct n4j_lt_layout* n4j_lt_layout_t;              /* cublasLtMatrixLayout_t */
typedef struct n4j_lt_preference* n4j_lt_preference_t;      /* cublasLtMatmulPreference_t */

/* cublasLtMatmulAlgo_t */
typedef struct {
    uint64_t data[8];
} n4j_lt_algo;

/* cublasLtMatmulHeuristicResult_t */
typedef struct {
    n4j_lt_algo algo;
    size_t workspaceSize;
    n4j_lt_status state;
    float wavesCount;
    int reserved[4];
} n4j_lt_heuristic_result;

/* The entry points, as function-pointer types (the names of the library's symbols in the comments). */
typedef n4j_lt_status (*n4j_lt_create_fn)(n4j_lt_handle* handle);                          /* cublasLtCreate */
typedef n4j_lt_status (*n4j_lt_destroy_fn)(n4j_lt_handle handle);                          /* cublasLtDestroy */
typedef size_t (*n4j_lt_get_version_fn)(void);                                             /* cublasLtGetVersion */
typedef n4j_lt_status (*n4j_lt_desc_create_fn)(n4j_lt_matmul_desc_t* desc, int compute_type,
                                               int scale_type);                            /* cublasLtMatmulDescCreate */
typedef n4j_lt_status (*n4j_lt_desc_destroy_fn)(n4j_lt_matmul_desc_t desc);                /* cublasLtMatmulDescDestroy */
typedef n4j_lt_status (*n4j_lt_desc_set_fn)(n4j_lt_matmul_desc_t desc, int attr, const void* buf,
                                            size_t bytes);                                 /* cublasLtMatmulDescSetAttribute */
typedef n4j_lt_status (*n4j_lt_layout_create_fn)(n4j_lt_layout_t* layout, int type, uint64_t rows, uint64_t cols,
                                                 int64_t ld);                              /* cublasLtMatrixLayoutCreate */
typedef n4j_lt_status (*n4j_lt_layout_destroy_fn)(n4j_lt_layout_t layout);                 /* cublasLtMatrixLayoutDestroy */
typedef n4j_lt_status (*n4j_lt_pref_create_fn)(n4j_lt_preference_t* pref);                 /* cublasLtMatmulPreferenceCreate */
typedef n4j_lt_status (*n4j_lt_pref_destroy_fn)(n4j_lt_preference_t pref);                 /* cublasLtMatmulPreferenceDestroy */
typedef n4j_lt_status (*n4j_lt_pref_set_fn)(n4j_lt_preference_t pref, int attr, const void* buf,
                                            size_t bytes);                        /* cublasLtMatmulPreferenceSetAttribute */
typedef n4j_lt_status (*n4j_lt_heuristic_fn)(n4j_lt_handle handle, n4j_lt_matmul_desc_t desc, n4j_lt_layout_t a,
                                             n4j_lt_layout_t b, n4j_lt_layout_t c, n4j_lt_layout_t d,
                                             n4j_lt_preference_t pref, int requested, n4j_lt_heuristic_result* results,
                                             int* returned);                       /* cublasLtMatmulAlgoGetHeuristic */
typedef n4j_lt_status (*n4j_lt_matmul_fn)(n4j_lt_handle handle, n4j_lt_matmul_desc_t desc, const void* alpha,
                                          const void* A, n4j_lt_layout_t a_layout, const void* B,
                                          n4j_lt_layout_t b_layout, const void* beta, const void* C,
                                          n4j_lt_layout_t c_layout, void* D, n4j_lt_layout_t d_layout,
                                          const n4j_lt_algo* algo, void* workspace, size_t workspace_bytes,
                                          void* stream);                                   /* cublasLtMatmul */

#ifdef __cplusplus
}
#endif

#endif /* N4J_CUBLASLT_API_H */
