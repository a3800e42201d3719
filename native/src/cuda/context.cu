/*
 * context.cu: error reporting, device scratch and the pinned staging ring of a CUDA backend (see context.cuh).
 */
#include "context.cuh"

#include <stdarg.h>
#include <stdio.h>

namespace n4j {
namespace cuda {

int32_t context::fail(int32_t code, const char* where, const char* format, ...) {
    char message[768];
    int n = snprintf(message, sizeof(message), "%s: ", where);
    if (n < 0 || n >= static_cast<int>(sizeof(message))) n = 0;
    va_list args;
    va_start(args, format);
    vsnprintf(message + n, sizeof(message) - static_cast<size_t>(n), format, args);
    va_end(args);
    if (set_error) set_error(message);
    return code;
}

int32_t context::check(cudaError_t err, const char* where) {
    if (err == cudaSuccess) return N4J_OK;
    // A failed runtime call also latches its error as the thread's "last error"; reset it so that the next
    // operation's check_launch() does not report this (non-sticky) error again.
    cudaGetLastError();
    const int32_t code = err == cudaErrorMemoryAllocation ? N4J_ERR_OUT_OF_MEMORY : N4J_ERR_BACKEND;
    return fail(code, where, "CUDA error %d (%s): %s", static_cast<int>(err), cudaGetErrorName(err),
                cudaGetErrorString(err));
}

void* context::get_scratch(size_t bytes, const char* where) {
    if (bytes == 0) bytes = 256;
    if (bytes <= scratch_bytes) return scratch;
    if (step == step_mode::capture || step == step_mode::replay) {
        // The captured kernels hold the scratch address: it cannot move inside a captured step (the eager warm-up
        // of the same step sized it).
        fail(N4J_ERR_INTERNAL, where, "device scratch would grow from %zu to %zu bytes inside a captured decode step",
             scratch_bytes, bytes);
        return nullptr;
    }
    if (graphs != nullptr) graphs_invalidate(this);  // they read the old buffer: recaptured on their next step
    size_t grown = scratch_bytes + scratch_bytes / 4;
    size_t want = bytes > grown ? bytes : grown;
    const size_t granule = static_cast<size_t>(2) << 20;
    want = (want + granule - 1) / granule * granule;
    if (scratch != nullptr) {
        cudaError_t err = cudaFreeAsync(scratch, stream);  // kernels enqueued before still see a valid buffer
        scratch = nullptr;
        scratch_bytes = 0;
        if (check(err, where) != N4J_OK) return nullptr;
    }
    void* p = nullptr;
    cudaError_t err = cudaMallocAsync(&p, want, stream);
    if (err != cudaSuccess) {
        cudaGetLastError();
        fail(N4J_ERR_OUT_OF_MEMORY, where, "cannot allocate %zu bytes of device scratch: %s", want,
             cudaGetErrorString(err));
        return nullptr;
    }
    scratch = p;
    scratch_bytes = want;
    return scratch;
}

int* context::get_counters(size_t count, const char* where) {
    if (count <= counter_count) return counters;
    if (step == step_mode::capture || step == step_mode::replay) {
        fail(N4J_ERR_INTERNAL, where, "device counters would grow from %zu to %zu inside a captured decode step",
             counter_count, count);
        return nullptr;
    }
    if (graphs != nullptr) graphs_invalidate(this);  // they hold the old address
    size_t want = 1024;
    while (want < count) want *= 2;
    if (counters != nullptr) {
        cudaError_t err = cudaFreeAsync(counters, stream);
        counters = nullptr;
        counter_count = 0;
        if (check(err, where) != N4J_OK) return nullptr;
    }
    void* p = nullptr;
    cudaError_t err = cudaMallocAsync(&p, want * sizeof(int), stream);
    if (err != cudaSuccess) {
        cudaGetLastError();
        fail(N4J_ERR_OUT_OF_MEMORY, where, "cannot allocate %zu device counters: %s", want, cudaGetErrorString(err));
        return nullptr;
    }
    if (check(cudaMemsetAsync(p, 0, want * sizeof(int), stream), where) != N4J_OK) {
        cudaFreeAsync(p, stream);
        return nullptr;
    }
    counters = static_cast<int*>(p);
    counter_count = want;
    return counters;
}

int32_t context::stage(size_t bytes, staged* out, const char* where) {
    out->host = nullptr;
    out->device = nullptr;
    if (bytes == 0) bytes = 16;
    if (step == step_mode::capture || step == step_mode::replay) return graphs_stage(this, bytes, out, where);
    if (step == step_mode::eager) step_staged += align256(bytes);
    const int index = next_slot;
    staging_slot& s = slots[index];
    if (s.pending) {
        int32_t rc = check(cudaEventSynchronize(s.done), where);
        if (rc != N4J_OK) return rc;
        s.pending = false;
    }
    if (s.capacity < bytes) {
        size_t want = 64 * 1024;
        while (want < bytes) want *= 2;
        if (s.host != nullptr) cudaFreeHost(s.host);
        if (s.device != nullptr) cudaFreeAsync(s.device, stream);  // earlier kernels may still read it
        s.host = nullptr;
        s.device = nullptr;
        s.capacity = 0;
        int32_t rc = check(cudaHostAlloc(&s.host, want, cudaHostAllocDefault), where);
        if (rc != N4J_OK) return rc;
        rc = check(cudaMallocAsync(&s.device, want, stream), where);
        if (rc != N4J_OK) {
            cudaFreeHost(s.host);
            s.host = nullptr;
            return rc;
        }
        s.capacity = want;
    }
    if (s.done == nullptr) {
        int32_t rc = check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), where);
        if (rc != N4J_OK) return rc;
    }
    open_slot = index;
    next_slot = (index + 1) % kStagingSlots;
    out->host = s.host;
    out->device = s.device;
    return N4J_OK;
}

int32_t context::commit(size_t bytes, const char* where) {
    if (step == step_mode::capture || step == step_mode::replay) return N4J_OK;  // step_end copies the arena
    if (open_slot < 0) return fail(N4J_ERR_INTERNAL, where, "staging commit without an open slot");
    return commit_to(slots[open_slot].device, bytes, where);
}

int32_t context::commit_to(void* dst, size_t bytes, const char* where) {
    if (step == step_mode::capture || step == step_mode::replay) {
        // The arena piece reaches the device with step_end's copy; the graph moves it on to dst.
        if (step == step_mode::replay || bytes == 0) return N4J_OK;
        return check(cudaMemcpyAsync(dst, step_open_device, bytes, cudaMemcpyDeviceToDevice, stream), where);
    }
    if (open_slot < 0) return fail(N4J_ERR_INTERNAL, where, "staging commit without an open slot");
    staging_slot& s = slots[open_slot];
    open_slot = -1;
    if (bytes == 0) return N4J_OK;
    int32_t rc = check(cudaMemcpyAsync(dst, s.host, bytes, cudaMemcpyHostToDevice, stream), where);
    if (rc != N4J_OK) return rc;
    rc = check(cudaEventRecord(s.done, stream), where);
    if (rc != N4J_OK) return rc;
    s.pending = true;
    return N4J_OK;
}

void context::release() {
    cudaSetDevice(device);
    graphs_release(this);  // ends a capture left open, then frees the graphs and the arena
    if (stream != nullptr) cudaStreamSynchronize(stream);
    for (staging_slot& s : slots) {
        if (s.host != nullptr) cudaFreeHost(s.host);
        if (s.device != nullptr) cudaFreeAsync(s.device, stream);
        if (s.done != nullptr) cudaEventDestroy(s.done);
        s = staging_slot();
    }
    if (timer_start != nullptr) cudaEventDestroy(timer_start);
    if (timer_stop != nullptr) cudaEventDestroy(timer_stop);
    timer_start = timer_stop = nullptr;
    if (scratch != nullptr) cudaFreeAsync(scratch, stream);
    scratch = nullptr;
    scratch_bytes = 0;
    if (counters != nullptr) cudaFreeAsync(counters, stream);
    counters = nullptr;
    counter_count = 0;
    if (d_flag != nullptr) cudaFreeAsync(d_flag, stream);
    d_flag = nullptr;
    if (h_flag != nullptr) cudaFreeHost(h_flag);
    h_flag = nullptr;
    if (stream != nullptr) {
        cudaStreamSynchronize(stream);
        cudaStreamDestroy(stream);
    }
    stream = nullptr;
    cudaGetLastError();
}

}  // namespace cuda
}  // namespace n4j
