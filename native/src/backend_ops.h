/*
 * backend_ops.h: the operations table a backend implements (internal; not part of the public C ABI).
 *
 * The dispatch layer (api.cpp) validates every argument once, then calls the backend through this table of plain
 * C function pointers. Backends only compute: when a table entry is called, every pointer is non-null, every size
 * positive, every ld at least the row width, every n4j_weight consistent with the other arguments, every dtype
 * one the op supports, and (for host-memory backends) embedding ids are in range. Backends whose memory the host
 * cannot read (memory_is_host = 0) get embedding ids unchecked and must not read outside the table for an
 * out-of-range id (report N4J_ERR_INVALID_ARGUMENT when they can detect it).
 *
 * The CPU backend's tables live in cpu/cpu_backend.cpp (a reference table and a fast table). A CUDA backend is a
 * separate shared library, libnemotron4j_cuda.so, loaded with dlopen() by n4j_backend_create (from the directory
 * of libnemotron4j.so, or from the path in the environment variable N4J_CUDA_LIBRARY). It must export:
 *
 *     extern "C" const n4j_backend_ops* n4j_cuda_backend_ops(void);
 *
 * returning a table that lives as long as the process, with struct_size = sizeof(n4j_backend_ops) and
 * version = N4J_BACKEND_OPS_VERSION as compiled from this header. The library is never unloaded.
 *
 * Conventions for every entry:
 *  - `ctx` is the pointer the backend's create() produced.
 *  - Return N4J_OK or an N4J_ERR_* code; on failure, report the reason through host->set_error (given to
 *    create()) before returning, as "n4j_<function>: reason" (for example a CUDA error string).
 *  - Pointer arguments called "backend memory" in nemotron4j.h point to memory of this backend; the arrays of
 *    pointers (conv_states, ssm_states, KV block tables) and the descriptor structs are host memory.
 *  - free() receives the size that alloc() was called with (the dispatch layer tracks live allocations).
 *  - No C++ exception may leave an entry (the table is a C interface between separately linked libraries).
 */
#ifndef N4J_BACKEND_OPS_H
#define N4J_BACKEND_OPS_H

#include <stdint.h>

#include "nemotron4j.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a field of n4j_backend_ops or n4j_backend_host changes. */
#define N4J_BACKEND_OPS_VERSION 5  /* 2: N4J_FLAG_F32_RESIDUAL, the matmul epilogue; 3: decode steps;
                                      4: mamba_decode; 5: rmsnorm_matmul */

/* Services of libnemotron4j offered to a backend. */
typedef struct n4j_backend_host {
    uint32_t struct_size;
    uint32_t version;
    /* Stores the calling thread's last-error message (what n4j_last_error() returns). */
    void (*set_error)(const char* message);
} n4j_backend_host;

typedef struct n4j_backend_ops {
    uint32_t struct_size; /* sizeof(n4j_backend_ops) */
    uint32_t version;     /* N4J_BACKEND_OPS_VERSION */
    /* 1 when backend memory is host memory the dispatch layer may read (CPU); 0 for device memory. */
    int32_t memory_is_host;
    int32_t reserved;

    /* ---- lifetime and memory ---- */
    int32_t (*create)(const n4j_backend_options* options, const n4j_backend_host* host, void** out_ctx);
    void (*destroy)(void* ctx);
    int32_t (*synchronize)(void* ctx);
    /* Fills everything but allocated_bytes (the dispatch layer counts those). */
    int32_t (*get_info)(void* ctx, n4j_backend_info* out_info);
    /* Zeroed, 64-byte aligned. */
    int32_t (*alloc)(void* ctx, uint64_t bytes, void** out_ptr);
    void (*free)(void* ctx, void* ptr, uint64_t bytes);
    int32_t (*copy)(void* ctx, void* dst, const void* src, uint64_t bytes, int32_t direction);
    int32_t (*fill_zero)(void* ctx, void* ptr, uint64_t bytes);
    int32_t (*convert)(void* ctx, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n);

    /* ---- kernels: same arguments and semantics as the n4j_* functions of nemotron4j.h ---- */
    int32_t (*embedding)(void* ctx, const n4j_weight* table, const int32_t* ids, int32_t n, void* out,
                         int64_t ld_out);
    int32_t (*rmsnorm)(void* ctx, const void* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight,
                       float eps, void* out, int64_t ld_out);
    int32_t (*matmul)(void* ctx, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight, void* y,
                      int64_t ld_y, int32_t epilogue);
    int32_t (*conv1d_prefill)(void* ctx, const void* x, int64_t ld_x, int32_t tokens, int32_t channels,
                              const n4j_weight* weight, const n4j_weight* bias, void* conv_state,
                              int32_t activation, void* out, int64_t ld_out);
    int32_t (*conv1d_decode)(void* ctx, int32_t batch, const void* x, int64_t ld_x, int32_t channels,
                             const n4j_weight* weight, const n4j_weight* bias, void* const* conv_states,
                             int32_t activation, void* out, int64_t ld_out);
    int32_t (*ssd_chunk_scan)(void* ctx, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                              const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt,
                              int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                              const n4j_weight* D, float* ssm_state, void* y, int64_t ld_y);
    int32_t (*ssm_scan_sequential)(void* ctx, const n4j_ssm_dims* dims, int32_t tokens, const void* x,
                                   int64_t ld_x, const void* B, int64_t ld_B, const void* C, int64_t ld_C,
                                   const void* dt, int64_t ld_dt, const n4j_weight* dt_bias,
                                   const n4j_weight* A_log, const n4j_weight* D, float* ssm_state, void* y,
                                   int64_t ld_y);
    int32_t (*ssm_decode)(void* ctx, const n4j_ssm_dims* dims, int32_t batch, const void* x, int64_t ld_x,
                          const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                          const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                          float* const* ssm_states, void* y, int64_t ld_y);
    int32_t (*gated_rmsnorm)(void* ctx, const void* y, int64_t ld_y, const void* z, int64_t ld_z, int32_t rows,
                             int32_t dim, int32_t groups, const n4j_weight* weight, float eps, void* out,
                             int64_t ld_out);
    int32_t (*attention_prefill)(void* ctx, const n4j_attn_dims* dims, int32_t tokens, const void* q,
                                 int64_t ld_q, const void* k, int64_t ld_k, const void* v, int64_t ld_v,
                                 const n4j_kv_cache* cache, void* out, int64_t ld_out);
    int32_t (*attention_decode)(void* ctx, const n4j_attn_dims* dims, int32_t batch, const void* q, int64_t ld_q,
                                const void* k, int64_t ld_k, const void* v, int64_t ld_v,
                                const n4j_kv_cache* caches, void* out, int64_t ld_out);
    int32_t (*relu_squared)(void* ctx, const void* x, void* y, int64_t n);
    int32_t (*add)(void* ctx, const void* a, const void* b, void* y, int64_t n);
    int32_t (*argmax)(void* ctx, const void* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out);

    /* ---- decode steps (n4j_step_begin / _end / _stats): NULL where every op runs as called (the CPU) ---- */
    int32_t (*step_begin)(void* ctx, uint64_t key, int32_t max_context, int32_t flags);
    int32_t (*step_end)(void* ctx);
    /* out[0..4]: steps run eagerly, graphs captured, steps replayed, graphs dropped, nodes of the last graph. */
    int32_t (*step_stats)(void* ctx, int64_t* out);

    /* ---- fused ops: NULL where the dispatch layer runs the ops they stand for (mamba_decode: host-memory backends
     * only, it needs a host buffer; rmsnorm_matmul: any backend, rmsnorm then matmul) ---- */
    int32_t (*mamba_decode)(void* ctx, const n4j_ssm_dims* dims, int32_t batch, const void* zxbcdt,
                            int64_t ld_zxbcdt, const n4j_weight* conv_weight, const n4j_weight* conv_bias,
                            const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                            const n4j_weight* norm, float eps, void* const* conv_states, float* const* ssm_states,
                            void* y, int64_t ld_y, void* out, int64_t ld_out);
    int32_t (*rmsnorm_matmul)(void* ctx, const void* x, int64_t ld_x, int32_t rows, int32_t dim,
                              const n4j_weight* norm_weight, float eps, void* normed, int64_t ld_normed,
                              const n4j_weight* weight, void* y, int64_t ld_y, int32_t epilogue);
} n4j_backend_ops;

/* The plug-in entry point's type: what dlsym("n4j_cuda_backend_ops") is cast to. */
typedef const n4j_backend_ops* (*n4j_backend_ops_entry)(void);

#ifdef __cplusplus
}
#endif

#endif /* N4J_BACKEND_OPS_H */
