/*
 * runtime.h: the emulated CUDA runtime API of the emulated plug-in libnemotron4j_cuda_emu.so (runtime.cpp), the
 * <cuda_runtime.h> that the plug-in's host side (native/src/cuda/backend.cu, context.cu: compiled unchanged) and its
 * kernel files see. Included by emu.h when N4J_CUDA_EMU_RUNTIME is defined; cuda_emulation_test does not use it.
 *
 * What it models, after the CUDA Runtime API reference:
 *   - one device, an H100 SXM (cudaGetDeviceProperties: sm_90, 132 SMs, 48 KiB shared memory per block by default,
 *     227 KiB opt-in, 1024 threads, 64K registers, 80 GiB); cudaSetDevice of another ordinal: cudaErrorInvalidDevice.
 *   - device memory (cudaMalloc, cudaMallocAsync) apart from host memory: its own mappings, 256-byte aligned,
 *     poisoned (0xFF bytes: NaN as float) when fresh, ending next to an inaccessible guard page; freed memory is
 *     unmapped for good (its addresses are never reused), so a kernel touching it stops the process with
 *     cudaErrorIllegalAddress and a description of the allocation, and a runtime call naming it fails with
 *     cudaErrorInvalidValue ("use after free" on stderr). Allocations beyond the 80 GiB: cudaErrorMemoryAllocation.
 *   - pinned host memory (cudaHostAlloc / cudaMallocHost / cudaFreeHost), poisoned when fresh, unmapped when freed.
 *   - streams: every operation is queued on its stream and executed in order, lazily: only when the host waits
 *     (cudaStreamSynchronize, cudaEventSynchronize, cudaDeviceSynchronize, a copy into pageable host memory, cudaFree,
 *     cudaFreeHost). So a host that reads results without waiting reads stale data, and a pinned buffer rewritten
 *     before the copy out of it has run is copied with the new bytes, as a GPU's copy engine would.
 *     The legacy default stream (0) is one more queue; cudaStreamNonBlocking streams do not wait for it.
 *   - cudaMemcpyAsync: host->device from pageable memory reads the source at the call (the runtime stages it),
 *     from pinned memory when the copy runs; device->host into pageable memory waits for the stream and copies
 *     at once, into pinned memory when the copy runs. The kind must match the pointers (a device pointer given
 *     as host memory or the other way round: cudaErrorInvalidValue). cudaMemsetAsync on device or pinned memory.
 *   - cudaMallocAsync / cudaFreeAsync: stream-ordered; the memory is released when the free runs in stream order.
 *   - events: recorded at a position of a stream, complete when the stream has executed up to it (cudaEventQuery
 *     says cudaErrorNotReady until then); cudaEventElapsedTime from host clocks at execution time.
 *   - errors: each failing call returns the real runtime's code and latches it as the thread's last error
 *     (cudaGetLastError returns and clears it, cudaPeekAtLastError only returns it); launches beyond the limits:
 *     cudaErrorInvalidConfiguration, too much dynamic shared memory: cudaErrorInvalidValue (nothing runs); unknown
 *     streams and events: cudaErrorInvalidResourceHandle.
 *   - stream capture and graphs (CUDA Runtime API, "Graph Management" and "Stream Management"; CUDA Programming
 *     Guide, "CUDA Graphs: Creating a Graph Using Stream Capture"): between cudaStreamBeginCapture and
 *     cudaStreamEndCapture a stream's work is recorded, not queued: kernel launches (grid, block, shared memory and
 *     their parameters, converted and frozen at the launch as the real runtime does), async copies between device
 *     and pinned memory (the pointers frozen; the bytes are read when the node runs) and memsets. cudaGraphInstantiate
 *     makes an executable graph of the recorded nodes and cudaGraphLaunch queues them, in capture order, on a stream:
 *     a replay runs with the parameters of the capture, so a parameter that should have changed since is stale.
 *     What the real runtime refuses during a capture is refused here with its code, and the capture is invalidated
 *     (cudaStreamEndCapture then returns cudaErrorStreamCaptureInvalidated and no graph):
 *       cudaStreamSynchronize / cudaStreamQuery of the capturing stream, cudaDeviceSynchronize, the synchronous
 *       cudaMalloc / cudaFree / cudaHostAlloc / cudaFreeHost / cudaMemcpy / cudaMemset while a global-mode capture
 *       is active, or a thread-local one that the calling thread began (cudaErrorStreamCaptureUnsupported); an async copy from or to pageable host memory on the
 *       capturing stream (cudaErrorStreamCaptureUnsupported); a launch refused for its configuration (its own
 *       code); work on the legacy stream while a global-mode capture is active (cudaErrorStreamCaptureImplicit);
 *       cudaEventSynchronize / cudaEventQuery of an event last recorded in a capturing stream
 *       (cudaErrorCapturedEvent); cudaStreamBeginCapture on the legacy stream (cudaErrorStreamCaptureUnsupported),
 *       on a stream already capturing (cudaErrorIllegalState); cudaStreamEndCapture on a stream not capturing
 *       (cudaErrorIllegalState) or from another thread than the one that began a global or thread-local capture
 *       (cudaErrorStreamCaptureWrongThread).
 *     Not modelled (refused with cudaErrorNotSupported and a note): stream-ordered allocation inside a capture
 *     (graph memory nodes), cross-stream capture through events (fork/join), graph updates (cudaGraphExecUpdate),
 *     launching a graph into a capturing stream.
 * Thread safety: one lock around every call, so several host threads may use the plug-in (the kernels still run
 * one at a time, on the thread that waits).
 * Not modelled: concurrency between streams or with the host (execution is lazy, never parallel), peer access,
 * unified memory, cudaStreamWaitEvent across devices; kernels reading host memory they were not given as device
 * memory are not caught (only freed device memory and the guard pages trap).
 */
#ifndef N4J_CUDA_EMU_RUNTIME_H
#define N4J_CUDA_EMU_RUNTIME_H

#include <stddef.h>

/* Flags and attributes of the runtime API that the backend passes. */
constexpr unsigned cudaStreamDefault = 0x0;
constexpr unsigned cudaStreamNonBlocking = 0x1;
constexpr unsigned cudaHostAllocDefault = 0x0;
constexpr unsigned cudaEventDefault = 0x0;
constexpr unsigned cudaEventBlockingSync = 0x1;
constexpr unsigned cudaEventDisableTiming = 0x2;

typedef struct emu_graph* cudaGraph_t;
typedef struct emu_graph_exec* cudaGraphExec_t;
typedef struct emu_graph_node* cudaGraphNode_t;
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus {
    cudaStreamCaptureStatusNone = 0,
    cudaStreamCaptureStatusActive = 1,
    cudaStreamCaptureStatusInvalidated = 2,
};

namespace emu {
/* Latches err as the calling thread's last error and returns it. */
cudaError_t runtime_error(cudaError_t err);
/* Binds a stand-in library that the plug-in has just dlopen()ed (a stand-in of libcublasLt: standin_runtime.h) to
 * this runtime: its streams and device memory. Returns false with the reason in why (a library that is not a
 * stand-in, such as the real libcublasLt, which cannot work on emulated memory). */
bool bind_library(void* dl_handle, char* why, size_t why_bytes);
}  // namespace emu

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);

cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t err);
const char* cudaGetErrorString(cudaError_t err);

cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream);
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned flags);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
cudaError_t cudaFreeHost(void* ptr);

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);

cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
/* nodes must be nullptr here: *count receives the number of nodes (what the real call does with nodes = NULL). */
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count);

/* The C++ conveniences of cuda_runtime.h: typed pointers. */
template <typename T>
inline cudaError_t cudaMalloc(T** ptr, size_t bytes) {
    return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
template <typename T>
inline cudaError_t cudaMallocAsync(T** ptr, size_t bytes, cudaStream_t stream) {
    return cudaMallocAsync(reinterpret_cast<void**>(ptr), bytes, stream);
}
template <typename T>
inline cudaError_t cudaHostAlloc(T** ptr, size_t bytes, unsigned flags) {
    return cudaHostAlloc(reinterpret_cast<void**>(ptr), bytes, flags);
}
template <typename T>
inline cudaError_t cudaMallocHost(T** ptr, size_t bytes) {
    return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}

#endif /* N4J_CUDA_EMU_RUNTIME_H */
