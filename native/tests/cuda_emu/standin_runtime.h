/*
 * standin_runtime.h: how a stand-in of an NVIDIA library (cublaslt_standin.cpp: libcublasLt_standin.so) reaches the
 * emulated CUDA runtime of the plug-in that loaded it.
 *
 * On a GPU, libcublasLt and the plug-in share the CUDA driver: a cudaStream_t and a device pointer mean the same to
 * both, and cublasLtMatmul enqueues its kernels on the caller's stream. In the emulator the "driver" is the runtime
 * inside libnemotron4j_cuda_emu.so (runtime.cpp), which exports nothing but the plug-in's entry points. So the
 * emulated plug-in, right after its dlopen of the library (gemm_cublaslt.cu, N4J_CUDA_EMU_RUNTIME builds only),
 * calls emu::bind_library (runtime.h), which looks up the stand-in's n4j_emu_bind_runtime and hands it this table.
 * A library without that symbol (the real libcublasLt) cannot work on emulated memory: binding fails with a reason.
 */
#ifndef N4J_CUDA_EMU_STANDIN_RUNTIME_H
#define N4J_CUDA_EMU_STANDIN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define N4J_EMU_RUNTIME_TABLE_VERSION 1u

typedef struct n4j_emu_runtime_table {
    uint32_t version;  // N4J_EMU_RUNTIME_TABLE_VERSION
    /* Queues fn(item) on `stream` (a cudaStream_t of the plug-in; NULL: the legacy stream) like a kernel launch:
     * `bytes` bytes at `item` are copied at the call (frozen, as kernel parameters are), the task runs in stream
     * order when the host waits, and a capturing stream records it into its graph (replays run it again with the
     * same bytes). Returns 0, or the cudaError_t of the refusal (unknown stream, invalidated capture). */
    int (*enqueue)(void* stream, void (*fn)(const void* item), const void* item, size_t bytes, const char* what);
    /* 1 when [p, p + bytes) lies inside one live device allocation, else 0 (after a note on stderr naming `what`). */
    int (*is_device)(const void* p, size_t bytes, const char* what);
} n4j_emu_runtime_table;

/* Exported by a stand-in library: keeps the table (valid for the life of the process); returns 0, or -1 when the
 * version is not one it knows. */
typedef int (*n4j_emu_bind_runtime_fn)(const n4j_emu_runtime_table* table);

#ifdef __cplusplus
}
#endif

#endif /* N4J_CUDA_EMU_STANDIN_RUNTIME_H */
