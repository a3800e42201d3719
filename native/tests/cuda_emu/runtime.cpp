/*
 * runtime.cpp: the emulated CUDA runtime of libnemotron4j_cuda_emu.so (what it models: runtime.h).
 *
 * Memory. Every device allocation is its own anonymous mapping: [slack | data | guard page], the pointer 256-byte
 * aligned and placed so that the 256-byte-rounded data ends at the guard page (a read or write past it traps).
 * Fresh memory is filled with 0xFF. Freeing maps PROT_NONE pages over the whole range (the contents are dropped,
 * the addresses stay reserved and are never handed out again), and the allocation is kept in `freed` for the
 * SIGSEGV handler (emu.cpp asks describe_fault) and for the use-after-free checks of runtime calls. Pinned host
 * memory is the same without the slack.
 *
 * Streams. A stream is a queue of tasks (kernel launches, copies, memsets, stream-ordered frees, event stamps) run
 * in order when the host waits for it (flush). `executed` counts the tasks run, `enqueued` the tasks queued; an
 * event remembers (stream, enqueued at the record) and is complete once executed has reached it.
 *
 * Capture. A capturing stream (capture != nullptr) appends each task to its graph instead of its queue; a graph is
 * the list of tasks in capture order (one stream: a chain), an executable graph a shared copy of that list, and a
 * launch queues one task that runs them all. Calls the real runtime refuses during a capture (runtime.h) return
 * its code and set capture_invalid, so cudaStreamEndCapture fails.
 *
 * One recursive lock (g_lock) around every call and every flush: kernels run on the thread that waits, one at a
 * time, as the fiber scheduler of emu.cpp requires.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "emu.h"
#include "standin_runtime.h"

struct emu_graph {
    std::vector<std::function<void()>> nodes;
    std::vector<std::string> what;  // per node: "kernel <name>", "memcpy", "memset"
};

struct emu_graph_exec {
    std::shared_ptr<const std::vector<std::function<void()>>> nodes;
};

struct emu_stream {
    unsigned flags = 0;
    std::deque<std::function<void()>> queue;
    uint64_t enqueued = 0;
    uint64_t executed = 0;
    emu_graph* capture = nullptr;  // between cudaStreamBeginCapture and cudaStreamEndCapture
    bool capture_invalid = false;
    cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal;
    std::thread::id capture_thread;
};

struct emu_event {
    unsigned flags = 0;
    emu_stream* stream = nullptr;  // where it was last recorded (nullptr: never)
    uint64_t position = 0;         // complete when stream->executed >= position
    bool stamped = false;
    bool captured = false;         // last recorded in a capturing stream (cudaErrorCapturedEvent to wait for it)
    std::chrono::steady_clock::time_point when;
};

namespace emu {
namespace {

constexpr size_t kDeviceMemory = size_t(80) << 30;
constexpr size_t kAlignment = 256;

struct allocation {
    char* map_base;
    size_t map_bytes;  // the mapping, guard page included
    char* ptr;
    size_t bytes;      // as requested
    bool device;       // false: pinned host memory
    bool free_pending = false;  // cudaFreeAsync queued, not run yet
    const char* how;   // "cudaMalloc", "cudaMallocAsync", "cudaHostAlloc"
};

std::recursive_mutex g_lock;
std::map<uintptr_t, allocation> g_live;   // by ptr
std::map<uintptr_t, allocation> g_freed;  // by ptr, never reused
size_t g_device_used = 0;
emu_stream g_legacy_stream;                // stream 0
std::set<emu_stream*> g_streams;
std::set<emu_event*> g_events;
std::set<emu_graph*> g_graphs;
std::set<emu_graph_exec*> g_execs;
thread_local cudaError_t t_last_error = cudaSuccess;
thread_local int t_device = 0;

size_t page_bytes() {
    static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return p;
}
size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

void note(const char* format, ...) __attribute__((format(printf, 1, 2)));
void note(const char* format, ...) {
    char message[768];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    fprintf(stderr, "cuda-emu runtime: %s\n", message);
}

cudaError_t fail(cudaError_t err) { return runtime_error(err); }

/* The allocation (live or freed) whose mapping holds p; nullptr if none. */
const allocation* find_in(const std::map<uintptr_t, allocation>& m, const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto inside = [a](const allocation& x) {
        const uintptr_t lo = reinterpret_cast<uintptr_t>(x.map_base);
        return a >= lo && a < lo + x.map_bytes;
    };
    auto next = m.upper_bound(a);  // first allocation whose pointer is above a: a may be in its leading slack
    if (next != m.end() && inside(next->second)) return &next->second;
    if (next != m.begin() && inside(std::prev(next)->second)) return &std::prev(next)->second;
    return nullptr;
}

bool fault_description(const void* address, char* message, size_t bytes) {
    std::unique_lock<std::recursive_mutex> lock(g_lock, std::try_to_lock);
    if (!lock.owns_lock()) return false;  // another thread runs the emulator: not a kernel of this thread
    const char* kernel = running_kernel();
    if (const allocation* a = find_in(g_freed, address)) {
        snprintf(message, bytes,
                 "cuda-emu: cudaErrorIllegalAddress: %s touched %p, inside %s memory of %zu bytes at %p that was "
                 "already freed (use after free)",
                 kernel ? kernel : "host code", address, a->how, a->bytes, static_cast<void*>(a->ptr));
        return true;
    }
    if (const allocation* a = find_in(g_live, address)) {
        snprintf(message, bytes,
                 "cuda-emu: cudaErrorIllegalAddress: %s touched %p, %s the %zu bytes of %s memory at %p "
                 "(out of bounds)",
                 kernel ? kernel : "host code", address, static_cast<const char*>(address) < a->ptr ? "before" : "after",
                 a->bytes, a->how, static_cast<void*>(a->ptr));
        return true;
    }
    return false;
}

void install_fault_description() {
    static bool done = false;
    if (!done) {
        done = true;
        set_fault_describer(fault_description);
    }
}

/* Maps [slack | data | guard]; returns the allocation or sets err. */
bool map_allocation(size_t bytes, bool device, const char* how, allocation* out) {
    const size_t page = page_bytes();
    const size_t data = round_up(bytes == 0 ? 1 : bytes, device ? kAlignment : 64);
    const size_t body = round_up(data, page);
    const size_t total = body + page;
    void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return false;
    char* base = static_cast<char*>(m);
    if (mprotect(base + body, page, PROT_NONE) != 0) {
        munmap(m, total);
        return false;
    }
    out->map_base = base;
    out->map_bytes = total;
    out->ptr = device ? base + (body - data) : base;
    out->bytes = bytes;
    out->device = device;
    out->how = how;
    memset(out->ptr, 0xFF, data);  // fresh memory is garbage: NaN as float
    return true;
}

/* Unmaps an allocation's contents for good: its addresses stay reserved (PROT_NONE) and are never reused. */
void retire(uintptr_t key) {
    auto it = g_live.find(key);
    allocation a = it->second;
    g_live.erase(it);
    if (a.device) g_device_used -= round_up(a.bytes == 0 ? 1 : a.bytes, kAlignment);
    mmap(a.map_base, a.map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    a.free_pending = false;
    g_freed[key] = a;
}

enum class memory_kind { device, pinned, pageable, freed, out_of_bounds };

/* What [p, p + bytes) is: inside one live allocation (device or pinned), freed memory, past a live allocation's
 * end, or ordinary (pageable) host memory. */
memory_kind classify(const void* p, size_t bytes, const allocation** which = nullptr) {
    if (const allocation* a = find_in(g_live, p)) {
        if (which) *which = a;
        const char* c = static_cast<const char*>(p);
        if (c < a->ptr || c + bytes > a->ptr + round_up(a->bytes == 0 ? 1 : a->bytes, a->device ? kAlignment : 64)) {
            return memory_kind::out_of_bounds;
        }
        return a->device ? memory_kind::device : memory_kind::pinned;
    }
    if (const allocation* a = find_in(g_freed, p)) {
        if (which) *which = a;
        return memory_kind::freed;
    }
    return memory_kind::pageable;
}

const char* kind_name(memory_kind k) {
    switch (k) {
        case memory_kind::device: return "device memory";
        case memory_kind::pinned: return "pinned host memory";
        case memory_kind::pageable: return "pageable host memory";
        case memory_kind::freed: return "freed memory (use after free)";
        default: return "memory past the end of an allocation";
    }
}

/* Checks that [p, p + bytes) is of the kind the call needs; reports and returns false otherwise. */
bool expect(const char* call, const char* role, const void* p, size_t bytes, bool want_device) {
    const allocation* a = nullptr;
    const memory_kind k = classify(p, bytes, &a);
    const bool ok = want_device ? k == memory_kind::device : (k == memory_kind::pinned || k == memory_kind::pageable);
    if (ok) return true;
    if (a != nullptr) {
        note("%s: the %s %p (+%zu bytes) is %s (allocation of %zu bytes at %p by %s); it must be %s", call, role, p,
             bytes, kind_name(k), a->bytes, static_cast<void*>(a->ptr), a->how, want_device ? "device memory" : "host memory");
    } else {
        note("%s: the %s %p (+%zu bytes) is %s; it must be %s", call, role, p, bytes, kind_name(k),
             want_device ? "device memory" : "host memory");
    }
    return false;
}

emu_stream* resolve(cudaStream_t s) { return s == nullptr ? &g_legacy_stream : s; }
bool valid_stream(cudaStream_t s) { return s == nullptr || g_streams.count(s) != 0; }

/* Marks s's capture invalid and returns err (latched), after saying why. */
cudaError_t invalidate_capture(emu_stream* s, cudaError_t err, const char* why) {
    note("%s during the capture of stream %p: %s; the capture is invalidated", why, static_cast<void*>(s),
         cudaGetErrorName(err));
    s->capture_invalid = true;
    return fail(err);
}

/* A call that the real runtime prohibits while a global-mode capture is active, or a thread-local one begun by the
 * calling thread ("potentially unsafe API calls": synchronous allocation, freeing, copies, device synchronization):
 * cudaErrorStreamCaptureUnsupported and every such capture invalidated; cudaSuccess when none is active. */
cudaError_t unsafe_during_capture(const char* call) {
    bool any = false;
    for (emu_stream* c : g_streams) {
        const bool prohibits = c->capture_mode == cudaStreamCaptureModeGlobal ||
                               (c->capture_mode == cudaStreamCaptureModeThreadLocal &&
                                c->capture_thread == std::this_thread::get_id());
        if (c->capture != nullptr && prohibits) {
            invalidate_capture(c, cudaErrorStreamCaptureUnsupported, call);
            any = true;
        }
    }
    return any ? fail(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

/* Queues a task, or records it when s is capturing. The legacy stream synchronizes with blocking streams, so work
 * on it while a blocking stream captures is cudaErrorStreamCaptureImplicit. */
cudaError_t enqueue(emu_stream* s, std::function<void()> task, const char* what = "task") {
    if (s == &g_legacy_stream) {
        for (emu_stream* c : g_streams) {
            if (c->capture != nullptr && c->flags == cudaStreamDefault) {
                return invalidate_capture(c, cudaErrorStreamCaptureImplicit, "work on the legacy stream");
            }
        }
    }
    if (s->capture != nullptr) {
        if (s->capture_invalid) return fail(cudaErrorStreamCaptureInvalidated);
        s->capture->nodes.push_back(std::move(task));
        s->capture->what.push_back(what);
        return cudaSuccess;
    }
    s->queue.push_back(std::move(task));
    ++s->enqueued;
    return cudaSuccess;
}

/* Runs the stream's tasks until `position` tasks have been executed. */
void flush(emu_stream* s, uint64_t position) {
    while (s->executed < position && !s->queue.empty()) {
        std::function<void()> task = std::move(s->queue.front());
        s->queue.pop_front();
        task();
        ++s->executed;
    }
}
void flush_all(emu_stream* s) { flush(s, s->enqueued); }
void flush_device() {
    flush_all(&g_legacy_stream);
    for (emu_stream* s : g_streams) flush_all(s);
}

cudaError_t check_device() { return t_device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t malloc_device(void** ptr, size_t bytes, const char* how) {
    if (ptr == nullptr) return fail(cudaErrorInvalidValue);
    *ptr = nullptr;
    const size_t rounded = round_up(bytes == 0 ? 1 : bytes, kAlignment);
    if (bytes > kDeviceMemory || g_device_used + rounded > kDeviceMemory) return fail(cudaErrorMemoryAllocation);
    allocation a;
    if (!map_allocation(bytes, true, how, &a)) return fail(cudaErrorMemoryAllocation);
    g_device_used += rounded;
    g_live[reinterpret_cast<uintptr_t>(a.ptr)] = a;
    install_fault_description();
    *ptr = a.ptr;
    return cudaSuccess;
}

/* The live allocation starting at ptr (what cudaFree accepts), or nullptr after reporting. */
allocation* allocation_at(void* ptr, bool device, const char* call) {
    auto it = g_live.find(reinterpret_cast<uintptr_t>(ptr));
    if (it != g_live.end() && it->second.device == device && !it->second.free_pending) return &it->second;
    const allocation* a = nullptr;
    const memory_kind k = classify(ptr, 1, &a);
    if (it != g_live.end() && it->second.free_pending) {
        note("%s(%p): already freed by cudaFreeAsync (double free)", call, ptr);
    } else if (k == memory_kind::freed) {
        note("%s(%p): already freed (double free)", call, ptr);
    } else {
        note("%s(%p): not the start of a live %s allocation (%s)", call, ptr, device ? "device" : "pinned host",
             kind_name(k));
    }
    return nullptr;
}

}  // namespace

cudaError_t runtime_error(cudaError_t err) {
    if (err != cudaSuccess) t_last_error = err;
    return err;
}

void enqueue_launch(const dim3& grid, const dim3& block, size_t smem, cudaStream_t stream, const void* kernel,
                    block_fn fn, std::shared_ptr<void> closure, const char* name, const char* file, int line) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (in_kernel()) fatal("kernel launch from inside a kernel (dynamic parallelism is not emulated)");
    if (t_device != 0) {
        fail(cudaErrorInvalidDevice);
        return;
    }
    if (!valid_stream(stream)) {
        note("launch of %s at %s:%d on an unknown or destroyed stream %p", name, file, line, static_cast<void*>(stream));
        fail(cudaErrorInvalidResourceHandle);
        return;
    }
    std::string why;
    const cudaError_t err = check_launch_config(grid, block, smem, kernel, &why);
    if (err != cudaSuccess) {
        note("launch of %s at %s:%d refused (%s): %s", name, file, line, cudaGetErrorName(err), why.c_str());
        emu_stream* s = resolve(stream);
        if (s->capture != nullptr) s->capture_invalid = true;  // a failed launch invalidates the capture
        fail(err);
        return;
    }
    // The closure holds the parameters as converted at the launch: a captured launch replays with them.
    enqueue(resolve(stream), [=]() { launch(grid, block, smem, kernel, fn, closure.get(), name, file, line); },
            (std::string("kernel ") + name).c_str());
}

/* ---- stand-in libraries (standin_runtime.h) ---- */

namespace {

int standin_enqueue(void* stream, void (*fn)(const void*), const void* item, size_t bytes, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (!valid_stream(s)) {
        note("%s on an unknown or destroyed stream %p", what, stream);
        return fail(cudaErrorInvalidResourceHandle);
    }
    auto copy = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(item),
                                                             static_cast<const unsigned char*>(item) + bytes);
    return enqueue(resolve(s), [fn, copy]() { fn(copy->data()); }, what);
}

int standin_is_device(const void* p, size_t bytes, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    return expect(what, "operand", p, bytes, true) ? 1 : 0;
}

const n4j_emu_runtime_table g_standin_table = {N4J_EMU_RUNTIME_TABLE_VERSION, standin_enqueue, standin_is_device};

}  // namespace

bool bind_library(void* dl_handle, char* why, size_t why_bytes) {
    auto bind = reinterpret_cast<n4j_emu_bind_runtime_fn>(dlsym(dl_handle, "n4j_emu_bind_runtime"));
    if (bind == nullptr) {
        snprintf(why, why_bytes, "it is not a stand-in for the CUDA emulator (no n4j_emu_bind_runtime): a real "
                 "library cannot work on the emulator's memory and streams");
        return false;
    }
    if (bind(&g_standin_table) != 0) {
        snprintf(why, why_bytes, "its n4j_emu_bind_runtime refused runtime table version %u",
                 N4J_EMU_RUNTIME_TABLE_VERSION);
        return false;
    }
    return true;
}

}  // namespace emu

using namespace emu;

/* ---- device ---- */

cudaError_t cudaGetDeviceCount(int* count) {
    if (count == nullptr) return fail(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    t_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
    if (device == nullptr) return fail(cudaErrorInvalidValue);
    *device = t_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    if (prop == nullptr) return fail(cudaErrorInvalidValue);
    if (device != 0) return fail(cudaErrorInvalidDevice);
    *prop = cudaDeviceProp();
    snprintf(prop->name, sizeof(prop->name), "NVIDIA H100 80GB HBM3 (CUDA emulator on the CPU)");
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    for (emu_stream* c : g_streams) {
        if (c->capture != nullptr) {
            invalidate_capture(c, cudaErrorStreamCaptureUnsupported, "cudaDeviceSynchronize");
            return fail(cudaErrorStreamCaptureUnsupported);
        }
    }
    flush_device();
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (free_bytes == nullptr || total_bytes == nullptr) return fail(cudaErrorInvalidValue);
    *free_bytes = kDeviceMemory - g_device_used;
    *total_bytes = kDeviceMemory;
    return cudaSuccess;
}

/* ---- errors ---- */

cudaError_t cudaGetLastError() {
    const cudaError_t e = t_last_error;
    t_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError() { return t_last_error; }

const char* cudaGetErrorName(cudaError_t err) {
    switch (err) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInitializationError: return "cudaErrorInitializationError";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorNotReady: return "cudaErrorNotReady";
        case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
        case cudaErrorNotSupported: return "cudaErrorNotSupported";
        case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
        case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
        case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
        case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
        case cudaErrorCapturedEvent: return "cudaErrorCapturedEvent";
        case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
        case cudaErrorIllegalState: return "cudaErrorIllegalState";
    }
    return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t err) {
    switch (err) {  // the real runtime's strings
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInitializationError: return "initialization error";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorNotReady: return "device not ready";
        case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
        case cudaErrorNotSupported: return "operation not supported";
        case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
        case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
        case cudaErrorStreamCaptureUnmatched: return "capture was not ended in the same stream as it began";
        case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
        case cudaErrorCapturedEvent: return "operation not permitted on an event last recorded in a capturing stream";
        case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
        case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    }
    return "unknown error";
}

/* ---- memory ---- */

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (check_device() != cudaSuccess) return cudaErrorInvalidDevice;
    if (unsafe_during_capture("cudaMalloc") != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
    return malloc_device(ptr, bytes, "cudaMalloc");
}

cudaError_t cudaFree(void* ptr) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (ptr == nullptr) return cudaSuccess;
    if (unsafe_during_capture("cudaFree") != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
    flush_device();  // cudaFree synchronizes the device
    if (allocation_at(ptr, true, "cudaFree") == nullptr) return fail(cudaErrorInvalidValue);
    retire(reinterpret_cast<uintptr_t>(ptr));
    return cudaSuccess;
}

cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (resolve(stream)->capture != nullptr) {
        return invalidate_capture(resolve(stream), cudaErrorNotSupported,
                                  "cudaMallocAsync (graph memory nodes are not modelled)");
    }
    return malloc_device(ptr, bytes, "cudaMallocAsync");
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (ptr == nullptr) return cudaSuccess;
    if (resolve(stream)->capture != nullptr) {
        return invalidate_capture(resolve(stream), cudaErrorNotSupported,
                                  "cudaFreeAsync (graph memory nodes are not modelled)");
    }
    allocation* a = allocation_at(ptr, true, "cudaFreeAsync");
    if (a == nullptr) return fail(cudaErrorInvalidValue);
    a->free_pending = true;
    const uintptr_t key = reinterpret_cast<uintptr_t>(ptr);
    enqueue(resolve(stream), [key]() { retire(key); });
    return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned flags) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (ptr == nullptr || flags > 0xf) return fail(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (unsafe_during_capture("cudaHostAlloc") != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
    allocation a;
    if (!map_allocation(bytes, false, "cudaHostAlloc", &a)) return fail(cudaErrorMemoryAllocation);
    g_live[reinterpret_cast<uintptr_t>(a.ptr)] = a;
    install_fault_description();
    *ptr = a.ptr;
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void* ptr) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (ptr == nullptr) return cudaSuccess;
    if (unsafe_during_capture("cudaFreeHost") != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
    flush_device();  // cudaFreeHost synchronizes the device
    if (allocation_at(ptr, false, "cudaFreeHost") == nullptr) return fail(cudaErrorInvalidValue);
    retire(reinterpret_cast<uintptr_t>(ptr));
    return cudaSuccess;
}

/* ---- copies ---- */

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (in_kernel()) fatal("cudaMemcpyAsync called from a kernel");
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (bytes == 0) return cudaSuccess;
    if (dst == nullptr || src == nullptr) return fail(cudaErrorInvalidValue);
    if (kind == cudaMemcpyDefault) {  // inferred from the pointers (unified addressing)
        const bool dst_dev = classify(dst, bytes) == memory_kind::device;
        const bool src_dev = classify(src, bytes) == memory_kind::device;
        kind = dst_dev ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                       : (src_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    }
    const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return fail(cudaErrorInvalidValue);
    if (!expect("cudaMemcpyAsync", "destination", dst, bytes, dst_device)) return fail(cudaErrorInvalidValue);
    if (!expect("cudaMemcpyAsync", "source", src, bytes, src_device)) return fail(cudaErrorInvalidValue);
    emu_stream* s = resolve(stream);
    const bool src_pinned = !src_device && classify(src, bytes) == memory_kind::pinned;
    const bool dst_pinned = !dst_device && classify(dst, bytes) == memory_kind::pinned;
    if (s->capture != nullptr && ((!src_device && !src_pinned) || (!dst_device && !dst_pinned))) {
        return invalidate_capture(s, cudaErrorStreamCaptureUnsupported,
                                  "cudaMemcpyAsync from or to pageable host memory");
    }
    if (!src_device && !src_pinned) {
        // Pageable source: the runtime stages it before returning; the copy itself stays in stream order.
        std::shared_ptr<std::string> snapshot(new std::string(static_cast<const char*>(src), bytes));
        if (dst_device) {
            enqueue(s, [dst, snapshot]() { memcpy(dst, snapshot->data(), snapshot->size()); });
        } else {
            flush_all(s);
            memcpy(dst, snapshot->data(), bytes);
        }
        return cudaSuccess;
    }
    if (!dst_device && !dst_pinned) {
        // Pageable destination: returns once the copy is complete.
        flush_all(s);
        memmove(dst, src, bytes);
        return cudaSuccess;
    }
    return enqueue(s, [dst, src, bytes]() { memmove(dst, src, bytes); }, "memcpy");
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (unsafe_during_capture("cudaMemcpy") != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
    const cudaError_t err = cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
    if (err == cudaSuccess) flush_all(&g_legacy_stream);
    return err;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (in_kernel()) fatal("cudaMemsetAsync called from a kernel");
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (bytes == 0) return cudaSuccess;
    const memory_kind k = classify(ptr, bytes);
    if (k != memory_kind::device && k != memory_kind::pinned) {
        expect("cudaMemsetAsync", "destination", ptr, bytes, true);
        return fail(cudaErrorInvalidValue);
    }
    return enqueue(resolve(stream), [ptr, value, bytes]() { memset(ptr, value, bytes); }, "memset");
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (unsafe_during_capture("cudaMemset") != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
    const cudaError_t err = cudaMemsetAsync(ptr, value, bytes, nullptr);
    if (err == cudaSuccess) flush_all(&g_legacy_stream);
    return err;
}

/* ---- streams ---- */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (stream == nullptr || flags > cudaStreamNonBlocking) return fail(cudaErrorInvalidValue);
    emu_stream* s = new emu_stream();
    s->flags = flags;
    g_streams.insert(s);
    *stream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (stream == nullptr || g_streams.count(stream) == 0) return fail(cudaErrorInvalidResourceHandle);
    flush_all(stream);  // work already queued completes
    for (emu_event* e : g_events) {
        if (e->stream == stream) e->stream = nullptr;
    }
    g_streams.erase(stream);
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (in_kernel()) fatal("cudaStreamSynchronize called from a kernel");
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (resolve(stream)->capture != nullptr) {
        return invalidate_capture(resolve(stream), cudaErrorStreamCaptureUnsupported, "cudaStreamSynchronize");
    }
    flush_all(resolve(stream));
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    emu_stream* s = resolve(stream);
    if (s->capture != nullptr) return invalidate_capture(s, cudaErrorStreamCaptureUnsupported, "cudaStreamQuery");
    return s->executed == s->enqueued ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (!valid_stream(stream) || g_events.count(event) == 0 || flags != 0) return fail(cudaErrorInvalidResourceHandle);
    if (resolve(stream)->capture != nullptr || event->captured) {
        note("cudaStreamWaitEvent with a capturing stream or a captured event: cross-stream capture is not modelled");
        if (resolve(stream)->capture != nullptr) resolve(stream)->capture_invalid = true;
        return fail(cudaErrorNotSupported);
    }
    emu_stream* other = event->stream;
    if (other == nullptr) return cudaSuccess;  // never recorded: nothing to wait for
    const uint64_t position = event->position;
    enqueue(resolve(stream), [other, position]() {
        if (g_streams.count(other) != 0 || other == &g_legacy_stream) flush(other, position);
    });
    return cudaSuccess;
}

/* ---- events ---- */

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (event == nullptr || flags > 0x7) return fail(cudaErrorInvalidValue);
    emu_event* e = new emu_event();
    e->flags = flags;
    g_events.insert(e);
    *event = e;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (g_events.count(event) == 0) return fail(cudaErrorInvalidResourceHandle);
    g_events.erase(event);
    // A stamp task still queued may refer to it: it checks g_events before touching it.
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (g_events.count(event) == 0 || !valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    emu_stream* s = resolve(stream);
    event->stamped = false;
    if (s->capture != nullptr) {
        // In a capture an event record adds no node: it marks a point of the capture for other captured streams;
        // the host cannot wait for it (cudaErrorCapturedEvent) until it is recorded again outside a capture.
        if (s->capture_invalid) return fail(cudaErrorStreamCaptureInvalidated);
        event->captured = true;
        event->stream = s;
        event->position = 0;
        return cudaSuccess;
    }
    event->captured = false;
    enqueue(s, [event]() {
        if (g_events.count(event) == 0) return;
        event->stamped = true;
        event->when = std::chrono::steady_clock::now();
    });
    event->stream = s;
    event->position = s->enqueued;
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (in_kernel()) fatal("cudaEventSynchronize called from a kernel");
    if (g_events.count(event) == 0) return fail(cudaErrorInvalidResourceHandle);
    if (event->captured) return fail(cudaErrorCapturedEvent);
    if (event->stream != nullptr) flush(event->stream, event->position);
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (g_events.count(event) == 0) return fail(cudaErrorInvalidResourceHandle);
    if (event->captured) return fail(cudaErrorCapturedEvent);
    if (event->stream == nullptr) return cudaSuccess;
    return event->stream->executed >= event->position ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (ms == nullptr) return fail(cudaErrorInvalidValue);
    if (g_events.count(start) == 0 || g_events.count(stop) == 0) return fail(cudaErrorInvalidResourceHandle);
    if ((start->flags & cudaEventDisableTiming) != 0 || (stop->flags & cudaEventDisableTiming) != 0) {
        return fail(cudaErrorInvalidResourceHandle);
    }
    if (start->stream == nullptr || stop->stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
    if (!start->stamped || !stop->stamped) return fail(cudaErrorNotReady);
    *ms = std::chrono::duration<float, std::milli>(stop->when - start->when).count();
    return cudaSuccess;
}

/* ---- stream capture and graphs ---- */

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (stream == nullptr) {
        note("cudaStreamBeginCapture on the legacy stream");
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    if (mode < cudaStreamCaptureModeGlobal || mode > cudaStreamCaptureModeRelaxed) return fail(cudaErrorInvalidValue);
    if (stream->capture != nullptr) {
        note("cudaStreamBeginCapture on stream %p, which is capturing already", static_cast<void*>(stream));
        return fail(cudaErrorIllegalState);
    }
    stream->capture = new emu_graph();
    stream->capture_invalid = false;
    stream->capture_mode = mode;
    stream->capture_thread = std::this_thread::get_id();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (graph == nullptr) return fail(cudaErrorInvalidValue);
    *graph = nullptr;
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    emu_stream* s = resolve(stream);
    if (s->capture == nullptr) {
        note("cudaStreamEndCapture on stream %p, which is not capturing", static_cast<void*>(stream));
        return fail(cudaErrorIllegalState);
    }
    if (s->capture_mode != cudaStreamCaptureModeRelaxed && s->capture_thread != std::this_thread::get_id()) {
        return fail(cudaErrorStreamCaptureWrongThread);
    }
    emu_graph* g = s->capture;
    const bool invalid = s->capture_invalid;
    s->capture = nullptr;
    s->capture_invalid = false;
    if (invalid) {
        delete g;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    g_graphs.insert(g);
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (status == nullptr) return fail(cudaErrorInvalidValue);
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    const emu_stream* s = resolve(stream);
    *status = s->capture == nullptr ? cudaStreamCaptureStatusNone
              : s->capture_invalid  ? cudaStreamCaptureStatusInvalidated
                                    : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (exec == nullptr) return fail(cudaErrorInvalidValue);
    *exec = nullptr;
    if (g_graphs.count(graph) == 0) return fail(cudaErrorInvalidValue);
    if (flags != 0) {
        note("cudaGraphInstantiate: flags %llu are not modelled", flags);
        return fail(cudaErrorNotSupported);
    }
    emu_graph_exec* e = new emu_graph_exec();
    e->nodes = std::make_shared<const std::vector<std::function<void()>>>(graph->nodes);
    g_execs.insert(e);
    *exec = e;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (g_execs.count(exec) == 0) return fail(cudaErrorInvalidValue);
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    emu_stream* s = resolve(stream);
    if (s->capture != nullptr) {
        return invalidate_capture(s, cudaErrorNotSupported, "cudaGraphLaunch into a capturing stream (not modelled)");
    }
    std::shared_ptr<const std::vector<std::function<void()>>> nodes = exec->nodes;
    return enqueue(s, [nodes]() {
        for (const std::function<void()>& node : *nodes) node();
    }, "graph");
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (g_execs.count(exec) == 0) return fail(cudaErrorInvalidValue);
    g_execs.erase(exec);
    delete exec;  // launches already queued keep their own reference to the nodes
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (g_graphs.count(graph) == 0) return fail(cudaErrorInvalidValue);
    g_graphs.erase(graph);
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (count == nullptr || g_graphs.count(graph) == 0) return fail(cudaErrorInvalidValue);
    if (nodes != nullptr) {
        note("cudaGraphGetNodes with a node array is not modelled (pass nullptr for the count)");
        return fail(cudaErrorNotSupported);
    }
    *count = graph->nodes.size();
    return cudaSuccess;
}
