/*
 * runtime_test.cpp: the emulated CUDA runtime (runtime.h / runtime.cpp) on its own, against what the CUDA Runtime
 * API reference says the real one does (CTest: cuda_emu_runtime_test). The emulated plug-in's host side relies on
 * each of these behaviours; cuda_backend_test_emulated then runs the whole plug-in on top.
 *
 *   memory     cudaMalloc: 256-byte aligned, poisoned (0xFF), counted by cudaMemGetInfo; 1 PiB and device 1 fail
 *              with cudaErrorMemoryAllocation / cudaErrorInvalidDevice; double free and frees of host pointers fail
 *              with cudaErrorInvalidValue; a copy naming freed memory too (use after free)
 *   streams    work is queued and runs in order only when the host waits: an async copy into pinned memory is not
 *              there before cudaStreamSynchronize; a pinned source is read when the copy runs, a pageable one at the
 *              call; cudaFreeAsync releases in stream order
 *   events     cudaEventQuery is cudaErrorNotReady until the stream has run up to the event; elapsed time needs
 *              timing events
 *   launches   2048 threads per block: cudaErrorInvalidConfiguration; 100 KiB of dynamic shared memory without the
 *              attribute: cudaErrorInvalidValue, with it: runs; errors are not sticky (cudaGetLastError clears)
 *   graphs     stream capture records launches (parameters frozen at the launch) and copies (a pinned source read at
 *              replay) without running them; cudaGraphLaunch replays them in order; synchronization, synchronous
 *              allocation and copies, pageable async copies and bad launches during a capture fail with the real
 *              codes and invalidate it (cudaStreamEndCapture: cudaErrorStreamCaptureInvalidated, no graph); a captured
 *              event cannot be waited for (cudaErrorCapturedEvent)
 *   traps      (child processes) a kernel reading freed device memory, and one writing past an allocation's end,
 *              stop with cudaErrorIllegalAddress and a description of the allocation; a SIGSEGV another thread takes
 *              while a kernel runs (inside a JVM: an armed safepoint poll, an implicit null check) goes on to the
 *              handler installed before the emulator's instead of stopping the process as a kernel's fault
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "emu.h"

namespace {

int g_failures = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            ++g_failures;                                                               \
        }                                                                               \
    } while (0)

void fill_kernel(float* p, int n, float v) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) p[i] = v;
}

void read_kernel(const float* p, float* out) {
    if (threadIdx.x == 0) out[0] = p[0];
}

void smem_kernel(float* out) {
    float* big = static_cast<float*>(emu::dynamic_shared());  // extern __shared__ (not rewritten here)
    big[threadIdx.x] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) out[0] = big[31];
}

#define LAUNCH(grid, block, smem, stream, kernel, ...) \
    ::emu::launcher(grid, block, smem, stream).at(#kernel, __FILE__, __LINE__).run(kernel, __VA_ARGS__)

void test_memory() {
    float* d = nullptr;
    size_t free0 = 0, total = 0;
    CHECK(cudaMemGetInfo(&free0, &total) == cudaSuccess && total == (size_t(80) << 30));
    CHECK(cudaMalloc(&d, 1000) == cudaSuccess);
    CHECK(reinterpret_cast<uintptr_t>(d) % 256 == 0);
    size_t free1 = 0;
    cudaMemGetInfo(&free1, &total);
    CHECK(free0 - free1 == 1024);
    unsigned char host[1000];
    CHECK(cudaMemcpy(host, d, 1000, cudaMemcpyDeviceToHost) == cudaSuccess);
    bool poisoned = true;
    for (unsigned char b : host) poisoned = poisoned && b == 0xFF;
    CHECK(poisoned);
    void* huge = nullptr;
    CHECK(cudaMalloc(&huge, size_t(1) << 50) == cudaErrorMemoryAllocation);
    CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
    CHECK(cudaGetLastError() == cudaSuccess);  // not sticky
    CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
    CHECK(cudaSetDevice(0) == cudaSuccess);
    CHECK(cudaFree(host) == cudaErrorInvalidValue);  // not device memory
    CHECK(cudaMemcpy(host, host, 16, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);  // kind does not match
    CHECK(cudaFree(d) == cudaSuccess);
    CHECK(cudaFree(d) == cudaErrorInvalidValue);  // double free
    CHECK(cudaMemcpy(host, d, 16, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);  // use after free
    cudaGetLastError();
}

void test_streams_and_events() {
    cudaStream_t s = nullptr;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    float* d = nullptr;
    float* pinned = nullptr;
    CHECK(cudaMalloc(&d, 64 * sizeof(float)) == cudaSuccess);
    CHECK(cudaHostAlloc(&pinned, 64 * sizeof(float), cudaHostAllocDefault) == cudaSuccess);
    for (int i = 0; i < 64; ++i) pinned[i] = -1.0f;
    LAUNCH(dim3(2), dim3(32), 0, s, fill_kernel, d, 64, 3.0f);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaMemcpyAsync(pinned, d, 64 * sizeof(float), cudaMemcpyDeviceToHost, s) == cudaSuccess);
    cudaEvent_t done = nullptr, start = nullptr;
    CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming) == cudaSuccess);
    CHECK(cudaEventCreate(&start) == cudaSuccess);
    CHECK(cudaEventRecord(done, s) == cudaSuccess);
    CHECK(cudaEventQuery(done) == cudaErrorNotReady);
    CHECK(cudaStreamQuery(s) == cudaErrorNotReady);
    CHECK(pinned[0] == -1.0f);  // nothing ran yet: the host must wait
    CHECK(cudaEventSynchronize(done) == cudaSuccess);
    CHECK(cudaEventQuery(done) == cudaSuccess);
    CHECK(pinned[0] == 3.0f && pinned[63] == 3.0f);
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, done) == cudaErrorInvalidResourceHandle);  // not recorded / no timing
    cudaGetLastError();

    // A pinned source is read when the copy runs (rewriting it before that changes what arrives); a pageable one
    // at the call.
    for (int i = 0; i < 64; ++i) pinned[i] = 5.0f;
    float pageable[64];
    for (float& v : pageable) v = 7.0f;
    CHECK(cudaMemcpyAsync(d, pinned, 32 * sizeof(float), cudaMemcpyHostToDevice, s) == cudaSuccess);
    CHECK(cudaMemcpyAsync(d + 32, pageable, 32 * sizeof(float), cudaMemcpyHostToDevice, s) == cudaSuccess);
    pinned[0] = 6.0f;
    pageable[32 - 32] = 8.0f;
    float back[64];
    CHECK(cudaMemcpyAsync(back, d, sizeof(back), cudaMemcpyDeviceToHost, s) == cudaSuccess);  // pageable: waits
    CHECK(back[0] == 6.0f && back[1] == 5.0f && back[32] == 7.0f);

    // Stream-ordered free: queued behind the launch that still uses the buffer.
    float* scratch = nullptr;
    CHECK(cudaMallocAsync(&scratch, 256, s) == cudaSuccess);
    LAUNCH(dim3(1), dim3(32), 0, s, fill_kernel, scratch, 32, 1.0f);
    CHECK(cudaFreeAsync(scratch, s) == cudaSuccess);
    CHECK(cudaFreeAsync(scratch, s) == cudaErrorInvalidValue);  // already freed (pending)
    cudaGetLastError();
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);

    CHECK(cudaEventDestroy(done) == cudaSuccess);
    CHECK(cudaEventDestroy(start) == cudaSuccess);
    CHECK(cudaFreeHost(pinned) == cudaSuccess);
    CHECK(cudaFree(d) == cudaSuccess);
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaErrorInvalidResourceHandle);
    cudaGetLastError();
}

void test_launch_errors() {
    float* d = nullptr;
    CHECK(cudaMalloc(&d, 4096) == cudaSuccess);
    LAUNCH(dim3(1), dim3(2048), 0, nullptr, fill_kernel, d, 1, 1.0f);
    CHECK(cudaPeekAtLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);
    LAUNCH(dim3(1, 70000), dim3(32), 0, nullptr, fill_kernel, d, 1, 1.0f);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    LAUNCH(dim3(1), dim3(32), 100 * 1024, nullptr, smem_kernel, d);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    CHECK(cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024) == cudaErrorInvalidValue);
    cudaGetLastError();
    CHECK(cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024) == cudaSuccess);
    LAUNCH(dim3(1), dim3(32), 100 * 1024, nullptr, smem_kernel, d);
    CHECK(cudaGetLastError() == cudaSuccess);
    float v = 0;
    CHECK(cudaMemcpy(&v, d, 4, cudaMemcpyDeviceToHost) == cudaSuccess && v == 1.0f);
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess);
    CHECK(prop.multiProcessorCount == 132 && prop.sharedMemPerBlock == 48 * 1024 &&
          prop.sharedMemPerBlockOptin == 227 * 1024 && prop.maxThreadsPerBlock == 1024 && prop.regsPerBlock == 65536 &&
          prop.major == 9 && prop.minor == 0);
    cudaFree(d);
}

void test_capture() {
    cudaStream_t s = nullptr;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    float* d = nullptr;
    float* pinned = nullptr;
    float* src = nullptr;
    CHECK(cudaMalloc(&d, 64 * sizeof(float)) == cudaSuccess);
    CHECK(cudaHostAlloc(&pinned, 64 * sizeof(float), cudaHostAllocDefault) == cudaSuccess);
    CHECK(cudaHostAlloc(&src, 64 * sizeof(float), cudaHostAllocDefault) == cudaSuccess);
    for (int i = 0; i < 64; ++i) pinned[i] = -1.0f;
    src[0] = 10.0f;

    cudaStreamCaptureStatus status = cudaStreamCaptureStatusActive;
    CHECK(cudaStreamIsCapturing(s, &status) == cudaSuccess && status == cudaStreamCaptureStatusNone);
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaStreamIsCapturing(s, &status) == cudaSuccess && status == cudaStreamCaptureStatusActive);
    float value = 2.0f;
    LAUNCH(dim3(2), dim3(32), 0, s, fill_kernel, d, 64, value);  // value is frozen here
    value = 9.0f;
    CHECK(cudaMemcpyAsync(d + 1, src, sizeof(float), cudaMemcpyHostToDevice, s) == cudaSuccess);
    CHECK(cudaMemcpyAsync(pinned, d, 64 * sizeof(float), cudaMemcpyDeviceToHost, s) == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);
    cudaGraph_t graph = nullptr;
    CHECK(cudaStreamEndCapture(s, &graph) == cudaSuccess && graph != nullptr);
    size_t nodes = 0;
    CHECK(cudaGraphGetNodes(graph, nullptr, &nodes) == cudaSuccess && nodes == 3);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(pinned[0] == -1.0f);  // captured, not run
    cudaGraphExec_t exec = nullptr;
    CHECK(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess && exec != nullptr);
    CHECK(cudaGraphDestroy(graph) == cudaSuccess);  // the executable graph stands on its own
    CHECK(cudaGraphDestroy(graph) == cudaErrorInvalidValue);
    cudaGetLastError();
    CHECK(cudaGraphLaunch(exec, s) == cudaSuccess);
    CHECK(pinned[0] == -1.0f);  // queued: runs when the host waits
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(pinned[0] == 2.0f && pinned[1] == 10.0f && pinned[63] == 2.0f);
    // Replay: the kernel's parameters are those of the capture; the pinned source is read when the node runs.
    for (int i = 0; i < 64; ++i) pinned[i] = -1.0f;
    src[0] = 11.0f;
    CHECK(cudaGraphLaunch(exec, s) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(pinned[0] == 2.0f && pinned[1] == 11.0f);
    CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);
    CHECK(cudaGraphLaunch(exec, s) == cudaErrorInvalidValue);
    cudaGetLastError();

    // What the real runtime refuses inside a capture: the capture is invalidated and yields no graph.
    struct refused {
        const char* what;
        cudaError_t expect;
    };
    for (int c = 0; c < 7; ++c) {
        CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
        LAUNCH(dim3(1), dim3(32), 0, s, fill_kernel, d, 32, 1.0f);
        cudaError_t got = cudaSuccess, expect = cudaSuccess;
        float pageable[4] = {0, 0, 0, 0};
        void* extra = nullptr;
        switch (c) {
            case 0: got = cudaStreamSynchronize(s); expect = cudaErrorStreamCaptureUnsupported; break;
            case 1: got = cudaMalloc(&extra, 256); expect = cudaErrorStreamCaptureUnsupported; break;
            case 2: got = cudaMemcpyAsync(d, pageable, sizeof(pageable), cudaMemcpyHostToDevice, s);
                    expect = cudaErrorStreamCaptureUnsupported; break;
            case 3: got = cudaMemcpyAsync(pageable, d, sizeof(pageable), cudaMemcpyDeviceToHost, s);
                    expect = cudaErrorStreamCaptureUnsupported; break;
            case 4: got = cudaDeviceSynchronize(); expect = cudaErrorStreamCaptureUnsupported; break;
            case 5: got = cudaStreamQuery(s); expect = cudaErrorStreamCaptureUnsupported; break;
            case 6: LAUNCH(dim3(1), dim3(2048), 0, s, fill_kernel, d, 1, 1.0f);
                    got = cudaGetLastError(); expect = cudaErrorInvalidConfiguration; break;
        }
        if (got != expect) fprintf(stderr, "capture refusal %d: got %d, expected %d\n", c, got, expect);
        CHECK(got == expect);
        CHECK(extra == nullptr);
        CHECK(cudaStreamIsCapturing(s, &status) == cudaSuccess && status == cudaStreamCaptureStatusInvalidated);
        graph = reinterpret_cast<cudaGraph_t>(&c);
        CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated && graph == nullptr);
        CHECK(cudaStreamIsCapturing(s, &status) == cudaSuccess && status == cudaStreamCaptureStatusNone);
        cudaGetLastError();
    }
    // Thread-local mode: the capturing thread's own unsafe calls are refused too.
    {
        CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
        void* extra = nullptr;
        CHECK(cudaMalloc(&extra, 256) == cudaErrorStreamCaptureUnsupported && extra == nullptr);
        CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated && graph == nullptr);
        cudaGetLastError();
    }
    // A captured event cannot be waited for; the capture itself stays valid.
    cudaEvent_t ev = nullptr;
    CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) == cudaSuccess);
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaEventRecord(ev, s) == cudaSuccess);
    CHECK(cudaEventQuery(ev) == cudaErrorCapturedEvent);
    CHECK(cudaEventSynchronize(ev) == cudaErrorCapturedEvent);
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaErrorIllegalState);  // already capturing
    CHECK(cudaStreamEndCapture(s, &graph) == cudaSuccess && graph != nullptr);
    CHECK(cudaGraphGetNodes(graph, nullptr, &nodes) == cudaSuccess && nodes == 0);
    CHECK(cudaGraphDestroy(graph) == cudaSuccess);
    CHECK(cudaEventRecord(ev, s) == cudaSuccess);  // recorded outside a capture: waitable again
    CHECK(cudaEventSynchronize(ev) == cudaSuccess);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorIllegalState);                       // not capturing
    CHECK(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal) == cudaErrorStreamCaptureUnsupported);
    cudaGetLastError();
    CHECK(cudaEventDestroy(ev) == cudaSuccess);
    CHECK(cudaFreeHost(src) == cudaSuccess);
    CHECK(cudaFreeHost(pinned) == cudaSuccess);
    CHECK(cudaFree(d) == cudaSuccess);
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
}

/* Runs fn in a child process; true when it died (SIGABRT) with `expect` on stderr. */
bool dies_with(void (*fn)(), const char* expect) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return false;
    fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    std::string err;
    char buf[512];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) err.append(buf, static_cast<size_t>(n));
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const bool ok = WIFSIGNALED(status) && err.find(expect) != std::string::npos;
    if (!ok) fprintf(stderr, "child (expected \"%s\") said:\n%s\n", expect, err.c_str());
    return ok;
}

void read_after_free() {
    float* d = nullptr;
    float* out = nullptr;
    cudaMalloc(&d, 256);
    cudaMalloc(&out, 256);
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaFreeAsync(d, s);
    LAUNCH(dim3(1), dim3(32), 0, s, read_kernel, d, out);  // stream order: runs after the free
    cudaStreamSynchronize(s);
}

void write_out_of_bounds() {
    float* d = nullptr;
    cudaMalloc(&d, 4096);
    LAUNCH(dim3(2), dim3(1024), 0, nullptr, fill_kernel, d, 2048, 1.0f);  // 8 KiB into a 4 KiB buffer
    cudaDeviceSynchronize();
}

/* ---- a foreign thread's SIGSEGV during a launch (run first, in a child, before any emulator call) ---- */

char* g_foreign_page = nullptr;
std::atomic<int> g_foreign_handled{0};
volatile int g_foreign_go = 0;

/* The handler before the emulator's, as the JVM's is: it owns faults on its page and resolves them. */
void foreign_handler(int, siginfo_t* info, void*) {
    char* a = static_cast<char*>(info->si_addr);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (a >= g_foreign_page && a < g_foreign_page + page) {
        mprotect(g_foreign_page, page, PROT_READ | PROT_WRITE);
        g_foreign_handled.fetch_add(1);
        return;
    }
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
}

void spin_kernel(volatile int* go) {
    if (threadIdx.x == 0) {
        while (*go == 0) {
        }
    }
}

/* In a fresh child: a kernel spins until another thread has touched a protected page (its fault resolved by the
 * earlier handler); exit status 0 when that handler saw the fault once and the kernel finished. */
int foreign_fault_child() {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = foreign_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, nullptr);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* m = mmap(nullptr, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 4;
    g_foreign_page = static_cast<char*>(m);
    std::thread other([] {
        usleep(20000);
        g_foreign_page[0] = 1;  // faults: the handler above unprotects the page
        g_foreign_go = 1;
    });
    LAUNCH(dim3(1), dim3(32), 0, nullptr, spin_kernel, &g_foreign_go);
    const cudaError_t e = cudaDeviceSynchronize();
    other.join();
    return e == cudaSuccess && g_foreign_handled.load() == 1 ? 0 : 3;
}

bool foreign_fault_passes_on(pid_t child) {
    int status = 0;
    waitpid(child, &status, 0);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) fprintf(stderr, "foreign fault child: status %d\n", status);
    return ok;
}

}  // namespace

int main() {
    fflush(nullptr);
    const pid_t foreign = fork();  // before this process makes any emulator call (its SIGSEGV handler comes later)
    if (foreign == 0) _exit(foreign_fault_child());
    CHECK(foreign > 0 && foreign_fault_passes_on(foreign));
    test_memory();
    test_streams_and_events();
    test_launch_errors();
    test_capture();
    CHECK(dies_with(read_after_free, "already freed (use after free)"));
    CHECK(dies_with(write_out_of_bounds, "(out of bounds)"));
    printf("cuda_emu_runtime_test: %s\n", g_failures == 0 ? "all passed" : "FAILED");
    return g_failures == 0 ? 0 : 1;
}
