/*
 * emu.h: a CPU emulator of the CUDA SIMT execution model, for testing the logic of the backend's CUDA C++ kernels
 * (the .cu files of native/src/cuda) on machines without a GPU or nvcc (CTest: cuda_emulation_test, see CMakeLists.txt here).
 *
 * What it is. The kernels are compiled by the host C++ compiler as ordinary functions: rewrite_launches.cpp turns
 * every `kernel<<<grid, block, smem, stream>>>(args)` into `emu::launcher(grid, block, smem, stream).at(...).run(
 * kernel, args)`, every `__shared__` declaration into a static array registered with the emulator, and the shadow
 * headers (shadow/common.cuh, shadow/context.cuh) stand in for the backend's common.cuh and context.cuh. This header
 * is the part of <cuda_runtime.h> and of the device built-ins those files need.
 *
 * What it emulates. A launch runs its blocks one after another (in a deterministic order, forward or reversed: see
 * set_schedule), on the calling OS thread. Every CUDA thread of a block is a fiber with its own small stack (a guard
 * page below it); a fiber runs until it finishes or waits, so:
 *   - __syncthreads() is a real barrier (with __syncthreads_count/_and/_or); threads that have returned no longer
 *     count, as on sm_70+. Barrier divergence (threads of one block waiting at different __syncthreads() source
 *     lines) aborts, and so does a deadlock (every live thread waiting, e.g. a barrier some threads skip).
 *   - warp shuffles (__shfl_sync, _up, _down, _xor, with a width), __ballot_sync, __any_sync, __all_sync and
 *     __syncwarp exchange values between the 32 fibers of a warp; they must be called with the full mask by all 32
 *     lanes at the same source line (anything else aborts: a partial warp, a lane that has exited, another mask).
 *   - shared memory: each static __shared__ array is poisoned (0xFF bytes: NaN as float) when the first thread of a
 *     block reaches its declaration, and dynamic shared memory (extern __shared__) is a poisoned per-block buffer;
 *     reading shared memory before any thread of the block wrote it gives NaN. Static shared memory above 48 KiB,
 *     dynamic shared memory above 48 KiB without cudaFuncSetAttribute(MaxDynamicSharedMemorySize), or static plus
 *     dynamic above 227 KiB abort.
 *   - launch limits: block dims <= (1024, 1024, 64) and at most 1024 threads, grid x < 2^31, y and z <= 65535;
 *     a block size that is not a multiple of 32 aborts (no partial warps), as does an empty grid or block.
 *   - atomics are exact (only one fiber runs at a time); runtime calls (memcpy/memset, stream synchronize) are
 *     synchronous host operations on host memory ("device memory" is host memory).
 *   - thread interleaving: within a block, fibers are resumed in thread order (or reversed); between barriers one
 *     thread runs its whole phase before the next starts, so a missing __syncthreads() shows up as reads of values
 *     not written yet (poison or stale data).
 *
 *   - tensor cores: the shadow common.cuh's ldmatrix / mma.sync helpers run functional models written from the PTX
 *     ISA (tensor_core.h), evaluated once per warp when its 32 lanes converge (warp_collective below).
 *
 * What it cannot do. No inline PTX (any asm() in a kernel will not assemble on the host: the PTX the kernels use
 * sits in common.cuh helpers, which the shadow replaces; no kernel uses cp.async, whose model cp_async() below is
 * ready for a shadow helper); no
 * concurrency between blocks, so cross-block races and inter-block communication (spin waits on global flags,
 * cooperative groups) are not exercised and may deadlock; no timing, occupancy, register or memory-coalescing
 * behaviour; no out-of-bounds checks on global memory (build with -fsanitize=address for that: the fiber switches
 * are annotated); no warp-synchronous lockstep (code that relies on implicit warp synchrony without __syncwarp is
 * already wrong on sm_70+); floating point is the host's (no FMA contraction unless the source calls fmaf, libm
 * expf/log1pf instead of libdevice; results differ from the GPU's in the last bits); __CUDA_ARCH__ is not defined;
 * streams, events and graphs are not modelled (every operation is complete when the call returns).
 */
#ifndef N4J_CUDA_EMU_H
#define N4J_CUDA_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

/* ---- vector types of the CUDA runtime (global namespace, as in <vector_types.h>) ---- */

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};
struct __attribute__((aligned(8))) float2 {
    float x, y;
};
struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
struct __attribute__((aligned(8))) uint2 {
    unsigned x, y;
};
struct __attribute__((aligned(16))) uint4 {
    unsigned x, y, z, w;
};
struct __attribute__((aligned(8))) int2 {
    int x, y;
};

/* ---- runtime types and the few runtime calls the emulated files use ---- */

typedef struct emu_stream* cudaStream_t;
typedef struct emu_event* cudaEvent_t;
/* The codes of the real runtime (driver_types.h) that the emulator returns. */
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorNotSupported = 801,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureUnmatched = 903,
    cudaErrorStreamCaptureImplicit = 906,
    cudaErrorCapturedEvent = 907,
    cudaErrorStreamCaptureWrongThread = 908,
    cudaErrorIllegalState = 401,
};
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};
/* The members of cudaDeviceProp the backend reads (values: an H100 SXM). */
struct cudaDeviceProp {
    char name[256] = "CUDA emulator (CPU)";
    int major = 9;
    int minor = 0;
    int multiProcessorCount = 132;
    size_t sharedMemPerBlock = 48 * 1024;
    size_t sharedMemPerBlockOptin = 227 * 1024;
    size_t totalGlobalMem = size_t(80) << 30;
    int warpSize = 32;
    int maxThreadsPerBlock = 1024;
    int maxThreadsDim[3] = {1024, 1024, 64};
    int maxGridSize[3] = {2147483647, 65535, 65535};
    int regsPerBlock = 65536;
    int regsPerMultiprocessor = 65536;
    size_t sharedMemPerMultiprocessor = 228 * 1024;
    int maxThreadsPerMultiProcessor = 2048;
    int l2CacheSize = 50 * 1024 * 1024;
    int memoryBusWidth = 5120;
    int clockRate = 1980000;        // kHz
    int memoryClockRate = 2619000;  // kHz
    int concurrentKernels = 1;
    int unifiedAddressing = 1;
};

namespace emu {

/* ---- diagnostics ---- */

/* Prints "cuda-emu: <message>" with the launch, block and thread being run (if any), then aborts. */
[[noreturn]] void fatal(const char* format, ...) __attribute__((format(printf, 1, 2)));

/* ---- execution state (valid inside a kernel) ---- */

extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;

/* Source location of a barrier or warp operation, to detect divergence. */
struct site {
    const char* file;
    int line;
};

void sync_block(site s);
int sync_block_reduce(site s, int predicate, int kind);  // kind 0 count, 1 and, 2 or
void sync_warp(unsigned mask, site s);
uint64_t warp_exchange(uint64_t bits, int src_lane, unsigned mask, site s, const char* what);
unsigned warp_ballot(int predicate, unsigned mask, site s);
int lane_id();
void shared_declared(void* p, size_t bytes, const char* name);
void* dynamic_shared();
bool in_kernel();

/* A warp-collective instruction, the building block of the tensor-core models (tensor_core.h). Every lane
 * deposits `bytes` (at most kCollectiveBytes) bytes at the same source site under the same `what`; the lane that
 * completes the warp then runs compute(deposits, results, arg) once, at that instant, with all 32 deposits (lane l's
 * at deposits + l * bytes) and writes every lane's result (lane l's at results + l * result_bytes, at most
 * kCollectiveBytes); each lane gets its own. Doing the work once at convergence gives a collective memory read
 * (ldmatrix) one point in time, as on the GPU: a lane resumed later does not see stores other warps made in the
 * meantime, so a missing barrier before the instruction shows. The same checks as the shuffles: full mask, all 32
 * lanes live, one site, one operation (`what` also names the instruction's qualifiers, so lanes using different
 * qualifiers abort). */
constexpr size_t kCollectiveBytes = 64;
typedef void (*collective_fn)(const unsigned char* deposits, unsigned char* results, const void* arg);
void warp_collective(const void* mine, size_t bytes, void* my_result, size_t result_bytes, collective_fn compute,
                     const void* arg, site s, const char* what);
/* Asynchronous copies global -> shared (no kernel uses them today; a cp.async helper added to common.cuh gets its
 * shadow from these). PTX ISA, "Data Movement and Conversion Instructions": cp.async, cp.async.commit_group,
 * cp.async.wait_group / cp.async.wait_all. Modelled per thread as PTX specifies: cp.async only initiates a copy
 * (of cp_size = 4, 8 or 16 bytes; bytes past src_size are zero-filled); commit_group closes the thread's
 * uncommitted copies into a group; wait_group(n) waits until at most the n most recent groups are pending,
 * wait_all until none is (and commits first). The destination is poisoned (0xFF) when the copy is initiated and
 * written from a snapshot of the source only when a wait completes its group, so a kernel that reads the data
 * without waiting (or another thread's data without a barrier after the wait) reads poison. Copies still pending
 * when the thread exits are dropped. Checks: dst inside this block's shared memory, src outside it, both aligned to
 * cp_size. */
void cp_async(void* dst_shared, const void* src_global, int cp_size, int src_size, site s);
void cp_async_commit_group();
void cp_async_wait_group(int n);
void cp_async_wait_all();

/* True when [p, p + bytes) lies inside one __shared__ array declared in the running block or inside the block's
 * dynamic shared memory. */
bool is_shared_memory(const void* p, size_t bytes);

/* ---- launches ---- */

typedef void (*block_fn)(void* closure);
/* Runs fn(closure) as every thread of every block of the launch (the checks are in emu.cpp). */
void launch(const dim3& grid, const dim3& block, size_t smem, const void* kernel, block_fn fn, void* closure,
            const char* name, const char* file, int line);
void set_max_dynamic_smem(const void* kernel, int bytes);
/* The launch checks of the real runtime, without running anything: cudaSuccess, cudaErrorInvalidConfiguration
 * (block or grid beyond the limits, an empty one) or cudaErrorInvalidValue (more dynamic shared memory than the
 * kernel's limit); `why` (may be null) gets the reason. Blocks that are not a multiple of 32 threads abort (partial
 * warps are not emulated). */
cudaError_t check_launch_config(const dim3& grid, const dim3& block, size_t smem, const void* kernel, std::string* why);
/* The largest dynamic shared memory the kernel may launch with (48 KiB unless raised by set_max_dynamic_smem). */
size_t max_dynamic_smem_of(const void* kernel);
/* The SIGSEGV handler asks this function (when set) to explain a faulting address that is not a fiber's guard
 * page: it writes a message and returns true when the address is its own (device memory, say); false passes the
 * signal on to the handler installed before the emulator's (the JVM's, when the emulator runs inside one). */
typedef bool (*fault_describer)(const void* address, char* message, size_t message_bytes);
void set_fault_describer(fault_describer fn);
/* Name of the kernel running now (nullptr between launches), for diagnostics. */
const char* running_kernel();
#ifdef N4J_CUDA_EMU_RUNTIME
/* runtime.cpp: checks a launch as the real runtime does and enqueues it on `stream` (a failed check sets the
 * thread's last error and enqueues nothing). */
void enqueue_launch(const dim3& grid, const dim3& block, size_t smem, cudaStream_t stream, const void* kernel,
                    block_fn fn, std::shared_ptr<void> closure, const char* name, const char* file, int line);
#endif

/* Block and thread order: 0 forward (block (0,0,0) first, threads 0..n-1), 1 reversed. */
void set_schedule(int order);

/* Launch bookkeeping for the coverage table: every launch is counted under its kernel's name (the text before any
 * template argument list, namespaces dropped) together with the current tag (set_tag: the test that runs). */
void set_tag(const char* tag);
struct kernel_launches {
    long long launches;
    std::string tags;                         // distinct tags, comma separated, in order of first launch
    std::vector<const void*> instantiations;  // distinct kernel functions (template instantiations) launched
};
const std::map<std::string, kernel_launches>& launches_by_kernel();

struct stats_t {
    long long launches, blocks, threads, switches, barriers, warp_ops;
    size_t stack_bytes, stack_high_water;  // per fiber: the size and the deepest use seen
};
stats_t stats();

class launcher {
public:
    launcher(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t stream = nullptr)
        : grid_(grid), block_(block), smem_(smem), stream_(stream) {}
    launcher& at(const char* name, const char* file, int line) {
        name_ = name;
        file_ = file;
        line_ = line;
        return *this;
    }
    /* CUDA semantics: the arguments are converted to the kernel's parameter types at the launch, and every thread
     * gets its own copy of the parameters. */
    template <typename... P, typename... A>
    void run(void (*kernel)(P...), A&&... args) {
        static_assert(sizeof...(P) == sizeof...(A), "kernel launch: wrong number of arguments");
        typedef std::tuple<typename std::decay<P>::type...> params_t;
        struct closure {
            void (*kernel)(P...);
            params_t params;
            static void invoke(void* self) {
                closure* c = static_cast<closure*>(self);
                std::apply(c->kernel, c->params);
            }
        };
#ifdef N4J_CUDA_EMU_RUNTIME
        // The emulated runtime (runtime.h): the launch is checked now (a bad configuration becomes the thread's
        // last error, as cudaGetLastError reports it) and runs later, in the order of its stream.
        std::shared_ptr<closure> c(new closure{kernel, params_t(std::forward<A>(args)...)});
        enqueue_launch(grid_, block_, smem_, stream_, reinterpret_cast<const void*>(kernel), &closure::invoke,
                       std::shared_ptr<void>(c, c.get()), name_, file_, line_);
#else
        (void)stream_;  // one implicit stream: every launch completes before the call returns
        closure c{kernel, params_t(std::forward<A>(args)...)};
        launch(grid_, block_, smem_, reinterpret_cast<const void*>(kernel), &closure::invoke, &c, name_, file_,
               line_);
#endif
    }

private:
    dim3 grid_, block_;
    size_t smem_;
    cudaStream_t stream_;
    const char* name_ = "kernel";
    const char* file_ = "?";
    int line_ = 0;
};

template <typename T>
inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp shuffle of a type wider than 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    return bits;
}
template <typename T>
inline T from_bits(uint64_t bits) {
    T v;
    memcpy(&v, &bits, sizeof(T));
    return v;
}

}  // namespace emu

using emu::blockDim;
using emu::blockIdx;
using emu::gridDim;
using emu::threadIdx;
constexpr int warpSize = 32;

/* ---- CUDA C++ keywords ---- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
/* Declarations are rewritten by rewrite_launches (registered and poisoned per block); this covers the rest. */
#define __shared__ static
#define __constant__ static

#define EMU_SITE_PARAMS const char *emu_file = __builtin_FILE(), int emu_line = __builtin_LINE()
#define EMU_SITE \
    ::emu::site { emu_file, emu_line }

/* ---- barriers and warp operations ---- */

inline void __syncthreads(EMU_SITE_PARAMS) { emu::sync_block(EMU_SITE); }
inline int __syncthreads_count(int predicate, EMU_SITE_PARAMS) { return emu::sync_block_reduce(EMU_SITE, predicate, 0); }
inline int __syncthreads_and(int predicate, EMU_SITE_PARAMS) { return emu::sync_block_reduce(EMU_SITE, predicate, 1); }
inline int __syncthreads_or(int predicate, EMU_SITE_PARAMS) { return emu::sync_block_reduce(EMU_SITE, predicate, 2); }
inline void __syncwarp(unsigned mask = 0xffffffffu, EMU_SITE_PARAMS) { emu::sync_warp(mask, EMU_SITE); }
inline void __threadfence() {}
inline void __threadfence_block() {}

inline int emu_check_width(int width) {
    if (width <= 0 || width > 32 || (width & (width - 1)) != 0) emu::fatal("shuffle width %d is not a power of two <= 32", width);
    return width;
}

template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize, EMU_SITE_PARAMS) {
    const int w = emu_check_width(width);
    const int lane = emu::lane_id();
    const int src = (lane & ~(w - 1)) + (src_lane & (w - 1));
    return emu::from_bits<T>(emu::warp_exchange(emu::to_bits(var), src, mask, EMU_SITE, "__shfl_sync"));
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize, EMU_SITE_PARAMS) {
    const int w = emu_check_width(width);
    const int lane = emu::lane_id();
    const int src = lane - static_cast<int>(delta);
    const bool own = (lane & (w - 1)) < static_cast<int>(delta);
    const T got = emu::from_bits<T>(emu::warp_exchange(emu::to_bits(var), own ? lane : src, mask, EMU_SITE, "__shfl_up_sync"));
    return own ? var : got;
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize, EMU_SITE_PARAMS) {
    const int w = emu_check_width(width);
    const int lane = emu::lane_id();
    const int src = lane + static_cast<int>(delta);
    const bool own = (lane & (w - 1)) + static_cast<int>(delta) >= w;
    const T got = emu::from_bits<T>(emu::warp_exchange(emu::to_bits(var), own ? lane : src, mask, EMU_SITE, "__shfl_down_sync"));
    return own ? var : got;
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize, EMU_SITE_PARAMS) {
    const int w = emu_check_width(width);
    const int lane = emu::lane_id();
    int src = lane ^ lane_mask;
    if ((src & ~(w - 1)) > (lane & ~(w - 1))) src = lane;  // a later group: own value (CUDA semantics)
    return emu::from_bits<T>(emu::warp_exchange(emu::to_bits(var), src & 31, mask, EMU_SITE, "__shfl_xor_sync"));
}
inline unsigned __ballot_sync(unsigned mask, int predicate, EMU_SITE_PARAMS) { return emu::warp_ballot(predicate, mask, EMU_SITE); }
inline int __any_sync(unsigned mask, int predicate, EMU_SITE_PARAMS) { return emu::warp_ballot(predicate, mask, EMU_SITE) != 0; }
inline int __all_sync(unsigned mask, int predicate, EMU_SITE_PARAMS) { return emu::warp_ballot(predicate, mask, EMU_SITE) == 0xffffffffu; }

/* ---- atomics (exact: one fiber runs at a time) ---- */

template <typename T>
inline T atomicAdd(T* p, T v) {
    const T old = *p;
    *p = old + v;
    return old;
}
template <typename T>
inline T atomicExch(T* p, T v) {
    const T old = *p;
    *p = v;
    return old;
}
template <typename T>
inline T atomicMax(T* p, T v) {
    const T old = *p;
    if (v > old) *p = v;
    return old;
}
template <typename T>
inline T atomicMin(T* p, T v) {
    const T old = *p;
    if (v < old) *p = v;
    return old;
}
template <typename T>
inline T atomicCAS(T* p, T compare, T v) {
    const T old = *p;
    if (old == compare) *p = v;
    return old;
}

/* ---- intrinsics ---- */

inline float __uint_as_float(unsigned v) { return emu::from_bits<float>(v); }
inline float __int_as_float(int v) { return emu::from_bits<float>(static_cast<uint32_t>(v)); }
inline unsigned __float_as_uint(float v) { return static_cast<unsigned>(emu::to_bits(v)); }
inline int __float_as_int(float v) { return static_cast<int>(static_cast<uint32_t>(emu::to_bits(v))); }
template <typename T>
inline T __ldg(const T* p) {
    return *p;
}
template <typename T>
inline T __ldcg(const T* p) {  // ld.global.cg (L2 only): memory has no caches here
    return *p;
}
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }

/* CUDA's min/max overloads (global namespace). */
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }

/* ---- runtime API ---- */

#ifdef N4J_CUDA_EMU_RUNTIME
/* The emulated plug-in: a CUDA runtime with device memory, streams, events and the real error codes. */
#include "runtime.h"
#else
/* cuda_emulation_test: synchronous host versions ("device memory" is host memory). */

inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
    if (emu::in_kernel()) emu::fatal("cudaMemsetAsync called from a kernel");
    memset(p, value, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes); }
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t = nullptr) {
    if (emu::in_kernel()) emu::fatal("cudaMemcpyAsync called from a kernel");
    if (bytes) memmove(dst, src, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    return cudaMemcpyAsync(dst, src, bytes, kind);
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }  // a failed launch aborts instead
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaError"; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated CUDA error"; }

#endif /* N4J_CUDA_EMU_RUNTIME */

template <typename K>
inline cudaError_t cudaFuncSetAttribute(K* kernel, cudaFuncAttribute attr, int value) {
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
#ifdef N4J_CUDA_EMU_RUNTIME
        if (value < 0 || value > 227 * 1024) return emu::runtime_error(cudaErrorInvalidValue);
#endif
        emu::set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), value);
        return cudaSuccess;
    }
    return cudaErrorNotSupported;
}

#endif /* N4J_CUDA_EMU_H */
