/*
 * context.cuh: the state of one CUDA backend (what create() returns as `ctx`), error reporting and the two kinds
 * of memory the backend owns for itself.
 *
 * - One non-blocking stream: every kernel and every copy of the backend is enqueued on it, in call order, so
 *   kernels never need more synchronization than the stream order. Host-visible results (a device-to-host copy,
 *   synchronize()) wait for the stream.
 * - Scratch: one grow-only device buffer for intermediate results of a kernel sequence (SSD chunk states, split-K
 *   partials of decode attention, ...). Stream order makes reuse across calls safe; growing frees the old buffer
 *   stream-ordered (cudaFreeAsync), so kernels still in flight keep a valid buffer.
 * - Staging: host arrays that kernels need (per-sequence state pointers, KV block tables) are copied into a ring of
 *   pinned host slots and from there, asynchronously on the stream, into the matching device slots. A slot is
 *   rewritten only after the event recorded behind its previous copy has completed, so the host never overwrites
 *   bytes the copy engine has not read yet, and the host rarely waits (the ring has kStagingSlots slots).
 *
 * - Decode steps (decode_graph.cu): between n4j_cuda_step_begin and n4j_cuda_step_end the ops of one decode step are
 *   run eagerly (warm-up, or N4J_CUDA_GRAPHS=0), captured into a CUDA graph, or only checked and staged for the
 *   replay of the graph captured for the same key. In capture and replay, stage() hands out pieces of the step's
 *   arena (one pinned host buffer, one device buffer at fixed addresses that the graph's kernels read), commit()
 *   copies nothing: step_end writes the whole arena with one async copy and launches the graph behind it.
 *
 * Errors: every entry reports "n4j_<function>: reason" through host->set_error and returns an N4J_ERR_* code.
 */
#ifndef N4J_CUDA_CONTEXT_CUH
#define N4J_CUDA_CONTEXT_CUH

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "backend_ops.h"
#include "nemotron4j.h"

namespace n4j {
namespace cuda {

constexpr int kStagingSlots = 32;

/* How the ops run inside a decode step (decode_graph.cu). */
enum class step_mode { none, eager, capture, replay };
struct decode_graphs;

struct staging_slot {
    void* host = nullptr;    // pinned
    void* device = nullptr;  // device memory of the same capacity
    size_t capacity = 0;
    cudaEvent_t done = nullptr;  // recorded after the last copy out of `host`
    bool pending = false;
};

/* A host-filled, device-visible array produced by context::stage(). */
struct staged {
    void* host;    // fill this (pinned; valid until commit)
    void* device;  // what kernels read after commit
};

struct context {
    int device = 0;
    int act_dtype = N4J_DTYPE_F32;
    int flags = 0;
    cudaStream_t stream = nullptr;
    cudaDeviceProp props{};
    void (*set_error)(const char*) = nullptr;

    void* scratch = nullptr;
    size_t scratch_bytes = 0;
    int* counters = nullptr;  // get_counters: zeroed device ints
    size_t counter_count = 0;

    staging_slot slots[kStagingSlots];
    int next_slot = 0;
    int open_slot = -1;

    int* d_flag = nullptr;  // device error flag (embedding ids)
    int* h_flag = nullptr;  // pinned mirror

    int64_t ssd_segment_bytes = int64_t(128) << 20;  // chunk-state scratch per SSD segment (env N4J_SSD_SEGMENT_BYTES)
    bool no_mma = false;       // env N4J_CUDA_NO_MMA=1: CUDA-core GEMM and attention only (debugging)
    bool use_cublaslt = false;  // cuBLASLt loaded and chosen (gemm_cublaslt.cu, N4J_CUDA_GEMM)
    bool fp8_w8a8 = false;      // N4J_FLAG_FP8_W8A8 or env N4J_CUDA_FP8=w8a8 (sm_89+): F8 weights with an input_scale run W8A8
    void* cublaslt = nullptr;   // its per-backend state: handle and plan cache (gemm_cublaslt.cu)

    cudaEvent_t timer_start = nullptr;  // n4j_cuda_bench_timer (benchmark support)
    cudaEvent_t timer_stop = nullptr;

    step_mode step = step_mode::none;  // inside n4j_cuda_step_begin / _end: how the ops run
    int32_t step_max_context = 0;      // in a step: no sequence's cache may grow beyond this many tokens
    size_t step_staged = 0;            // eager step: arena bytes a capture of it would need
    void* step_open_device = nullptr;  // capture / replay: the device side of the piece stage() handed out last
    decode_graphs* graphs = nullptr;   // the captured steps, their arena and counters (created by the first step)

    bool in_step() const { return step != step_mode::none; }
    /* Replaying a captured step: ops stage their host arrays into the arena and launch nothing. */
    bool replaying() const { return step == step_mode::replay; }
    /* Adds a launch-shaping value (a grid size, a path chosen from the data) to the signature of the op being
     * called in a step: the capture records it, a replay must see the same. */
    void step_note(uint64_t value);

    bool act_bf16() const { return act_dtype == N4J_DTYPE_BF16; }
    /* N4J_FLAG_F32_RESIDUAL with BF16 activations: embedding out, rmsnorm x, add a and y are F32. */
    bool f32_residual() const { return act_bf16() && (flags & N4J_FLAG_F32_RESIDUAL) != 0; }
    int sm_count() const { return props.multiProcessorCount; }

    /* Reports "where: message" and returns code. */
    int32_t fail(int32_t code, const char* where, const char* format, ...) __attribute__((format(printf, 4, 5)));
    /* Reports a CUDA error (code chosen from the error kind) and returns it; N4J_OK for cudaSuccess. */
    int32_t check(cudaError_t err, const char* where);
    /* After kernel launches: checks the launch error state. */
    int32_t check_launch(const char* where) { return check(cudaGetLastError(), where); }

    /* Makes this context's device current on the calling thread. */
    int32_t bind(const char* where) { return check(cudaSetDevice(device), where); }

    /* Device scratch of at least `bytes`, 256-byte aligned, contents undefined; nullptr after reporting on failure. */
    void* get_scratch(size_t bytes, const char* where);
    /* At least `count` zeroed device ints that every kernel using them leaves zeroed (completion counters of
     * mamba_decode.cu); grow-only, like the scratch (growth outside a captured step drops the graphs). nullptr after
     * reporting on failure. */
    int* get_counters(size_t count, const char* where);

    /* A staging slot of at least `bytes`; fill .host, then commit(). nullptr fields after reporting on failure. */
    int32_t stage(size_t bytes, staged* out, const char* where);
    /* Enqueues the copy of the open slot's first `bytes` to its device twin. */
    int32_t commit(size_t bytes, const char* where);
    /* Enqueues the copy of the open slot's first `bytes` to `dst` (device memory) instead. */
    int32_t commit_to(void* dst, size_t bytes, const char* where);

    void release();
};

/* decode_graph.cu: the arena piece stage() returns in capture / replay; dropping every captured graph (their kernels
 * hold the addresses of buffers that are about to change: scratch growth); freeing them all (release). */
int32_t graphs_stage(context* ctx, size_t bytes, staged* out, const char* where);
void graphs_invalidate(context* ctx);
void graphs_release(context* ctx);
/* The ops table's step entries (n4j_step_begin / n4j_step_end / n4j_step_stats of nemotron4j.h). */
int32_t graphs_step_begin(void* ctx, uint64_t key, int32_t max_context, int32_t flags);
/* Around each op called inside a step (backend.cu's table): the op's signature (its arguments but the host arrays
 * it stages); step_op_end records it (capture) or compares it with the captured one (replay). */
void step_op_begin(context* ctx, uint64_t signature);
int32_t step_op_end(context* ctx, int32_t rc, const char* where);

/* Splits `total` bytes of scratch into aligned pieces: carve(&p, n) returns p and advances it by n (256-aligned). */
static inline size_t align256(size_t bytes) { return (bytes + 255) & ~static_cast<size_t>(255); }
template <typename T>
static inline T* carve(char** cursor, size_t count) {
    T* p = reinterpret_cast<T*>(*cursor);
    *cursor += align256(count * sizeof(T));
    return p;
}

/* Largest dynamic shared memory a block may opt into on this device. */
static inline size_t max_dynamic_smem(const context* ctx) { return ctx->props.sharedMemPerBlockOptin; }

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_CONTEXT_CUH */
