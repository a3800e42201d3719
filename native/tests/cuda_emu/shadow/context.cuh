/*
 * shadow/context.cuh: the CUDA emulator's stand-in for native/src/cuda/context.cuh (cuda_emulation_test).
 *
 * The same struct context (members, method names and signatures) as the real backend state, with host-memory
 * implementations:
 *   - fail() formats "where: message", stores it in last_error (and forwards it to set_error when set) and returns
 *     the code; check() turns a cudaError_t into N4J_OK / N4J_ERR_*; check_launch() and bind() also verify that no
 *     kernel wrote past the end of the scratch buffer (a canary) and return N4J_OK otherwise (a failed launch has
 *     already aborted in the emulator).
 *   - get_scratch(): a grow-only host buffer, 256-byte aligned, refilled with 0xFF bytes (NaN) on every call, since
 *     its contents are undefined; a 4 KiB canary after the requested bytes.
 *   - stage() / commit() / commit_to(): a ring of kStagingSlots host slots, each with a separate "device" twin;
 *     commit copies host -> device at once (the kernels read the device twin, as on the GPU).
 *   - d_flag / h_flag (embedding's device error flag) are host ints; props are an H100's (emu.h), and tests may
 *     change props.multiProcessorCount to exercise grid-stride loops.
 * What it cannot do: stream ordering, asynchronous copies, events and allocation failures are not modelled.
 * When the real context.cuh changes, change this file the same way.
 */
#ifndef N4J_CUDA_CONTEXT_CUH
#define N4J_CUDA_CONTEXT_CUH

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "backend_ops.h"
#include "common.cuh"
#include "nemotron4j.h"

namespace n4j {
namespace cuda {

constexpr int kStagingSlots = 32;

struct staging_slot {
    void* host = nullptr;
    void* device = nullptr;
    size_t capacity = 0;
    cudaEvent_t done = nullptr;
    bool pending = false;
};

struct staged {
    void* host;
    void* device;
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
    int* counters = nullptr;
    size_t counter_count = 0;

    staging_slot slots[kStagingSlots];
    int next_slot = 0;
    int open_slot = -1;

    int* d_flag = nullptr;
    int* h_flag = nullptr;

    int64_t ssd_segment_bytes = int64_t(128) << 20;
    bool no_mma = false;
    bool use_cublaslt = false;
    bool fp8_w8a8 = false;      // env N4J_CUDA_FP8=w8a8 (sm_89+): F8 weights with an input_scale run W8A8 (matmul.cu)
    void* cublaslt = nullptr;

    cudaEvent_t timer_start = nullptr;
    cudaEvent_t timer_stop = nullptr;

    /* Decode steps (decode_graph.cu) are not part of this harness: never inside one. */
    int32_t step_max_context = 0;
    bool in_step() const { return false; }
    bool replaying() const { return false; }
    void step_note(uint64_t) {}

    /* Emulator only. */
    std::string last_error;
    size_t scratch_requested = 0;
    static constexpr size_t kCanaryBytes = 4096;

    context() {
        d_flag = static_cast<int*>(calloc(1, sizeof(int)));
        h_flag = static_cast<int*>(calloc(1, sizeof(int)));
    }
    ~context() { release(); }
    context(const context&) = delete;
    context& operator=(const context&) = delete;

    bool act_bf16() const { return act_dtype == N4J_DTYPE_BF16; }
    bool f32_residual() const { return act_bf16() && (flags & N4J_FLAG_F32_RESIDUAL) != 0; }
    int sm_count() const { return props.multiProcessorCount; }

    int32_t fail(int32_t code, const char* where, const char* format, ...) __attribute__((format(printf, 4, 5))) {
        char message[768];
        int n = snprintf(message, sizeof(message), "%s: ", where);
        if (n < 0 || n >= static_cast<int>(sizeof(message))) n = 0;
        va_list args;
        va_start(args, format);
        vsnprintf(message + n, sizeof(message) - static_cast<size_t>(n), format, args);
        va_end(args);
        last_error = message;
        if (set_error) set_error(message);
        return code;
    }

    int32_t check(cudaError_t err, const char* where) {
        if (err == cudaSuccess) return N4J_OK;
        const int32_t code = err == cudaErrorMemoryAllocation ? N4J_ERR_OUT_OF_MEMORY : N4J_ERR_BACKEND;
        return fail(code, where, "CUDA error %d (%s): %s", static_cast<int>(err), cudaGetErrorName(err),
                    cudaGetErrorString(err));
    }

    int32_t check_launch(const char* where) {
        check_canary(where);
        return check(cudaGetLastError(), where);
    }

    int32_t bind(const char* where) {
        check_canary(where);
        return check(cudaSetDevice(device), where);
    }

    void* get_scratch(size_t bytes, const char* where) {
        check_canary(where);
        if (bytes == 0) bytes = 256;
        if (bytes + kCanaryBytes > scratch_bytes) {
            free(scratch);
            scratch_bytes = (bytes + kCanaryBytes + 255) & ~static_cast<size_t>(255);
            scratch = aligned_alloc(256, scratch_bytes);
            if (scratch == nullptr) {
                scratch_bytes = 0;
                fail(N4J_ERR_OUT_OF_MEMORY, where, "cannot allocate %zu bytes of scratch", bytes);
                return nullptr;
            }
        }
        memset(scratch, 0xFF, bytes);  // contents are undefined: NaN
        memset(static_cast<char*>(scratch) + bytes, 0xA5, kCanaryBytes);
        scratch_requested = bytes;
        return scratch;
    }

    /* Zeroed ints that kernels leave zeroed (mamba_decode.cu's completion counters): calloc'ed, grow-only. The test
     * checks them zero after each launch (counters_clear). */
    int* get_counters(size_t count, const char* where) {
        if (count <= counter_count) return counters;
        free(counters);
        counters = static_cast<int*>(calloc(count, sizeof(int)));
        counter_count = counters != nullptr ? count : 0;
        if (counters == nullptr) fail(N4J_ERR_OUT_OF_MEMORY, where, "cannot allocate %zu counters", count);
        return counters;
    }
    bool counters_clear() const {
        for (size_t i = 0; i < counter_count; ++i)
            if (counters[i] != 0) return false;
        return true;
    }

    /* Aborts when a kernel wrote into the canary after the scratch bytes the last get_scratch asked for. */
    void check_canary(const char* where) const {
        if (scratch == nullptr) return;
        const unsigned char* c = static_cast<const unsigned char*>(scratch) + scratch_requested;
        for (size_t i = 0; i < kCanaryBytes; ++i) {
            if (c[i] != 0xA5) {
                emu::fatal("%s: a kernel wrote %zu bytes past the end of the %zu bytes of scratch it asked for", where,
                           i, scratch_requested);
            }
        }
    }

    int32_t stage(size_t bytes, staged* out, const char* where) {
        out->host = nullptr;
        out->device = nullptr;
        if (open_slot >= 0) return fail(N4J_ERR_INTERNAL, where, "staging slot %d is still open", open_slot);
        if (bytes == 0) bytes = 16;
        const int index = next_slot;
        staging_slot& s = slots[index];
        s.pending = false;
        if (s.capacity < bytes) {
            size_t want = 64 * 1024;
            while (want < bytes) want *= 2;
            free(s.host);
            free(s.device);
            s.host = malloc(want);
            s.device = malloc(want);
            if (s.host == nullptr || s.device == nullptr) {
                return fail(N4J_ERR_OUT_OF_MEMORY, where, "cannot allocate %zu bytes of staging", want);
            }
            s.capacity = want;
        }
        memset(s.device, 0xFF, s.capacity);  // a kernel reading a slot that was not committed sees garbage
        open_slot = index;
        next_slot = (index + 1) % kStagingSlots;
        out->host = s.host;
        out->device = s.device;
        return N4J_OK;
    }

    int32_t commit(size_t bytes, const char* where) {
        if (open_slot < 0) return fail(N4J_ERR_INTERNAL, where, "staging commit without an open slot");
        return commit_to(slots[open_slot].device, bytes, where);
    }

    int32_t commit_to(void* dst, size_t bytes, const char* where) {
        if (open_slot < 0) return fail(N4J_ERR_INTERNAL, where, "staging commit without an open slot");
        staging_slot& s = slots[open_slot];
        open_slot = -1;
        if (bytes == 0) return N4J_OK;
        if (bytes > s.capacity) return fail(N4J_ERR_INTERNAL, where, "commit of %zu bytes from a %zu-byte slot", bytes, s.capacity);
        int32_t rc = check(cudaMemcpyAsync(dst, s.host, bytes, cudaMemcpyHostToDevice, stream), where);
        if (rc != N4J_OK) return rc;
        s.pending = true;
        return N4J_OK;
    }

    void release() {
        for (staging_slot& s : slots) {
            free(s.host);
            free(s.device);
            s = staging_slot();
        }
        free(scratch);
        scratch = nullptr;
        scratch_bytes = 0;
        free(counters);
        counters = nullptr;
        counter_count = 0;
        free(d_flag);
        free(h_flag);
        d_flag = h_flag = nullptr;
    }
};

static inline size_t align256(size_t bytes) { return (bytes + 255) & ~static_cast<size_t>(255); }
template <typename T>
static inline T* carve(char** cursor, size_t count) {
    T* p = reinterpret_cast<T*>(*cursor);
    *cursor += align256(count * sizeof(T));
    return p;
}

static inline size_t max_dynamic_smem(const context* ctx) { return ctx->props.sharedMemPerBlockOptin; }

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_CONTEXT_CUH */
