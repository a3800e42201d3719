/*
 * emu.cpp: the CUDA SIMT emulator's scheduler (see emu.h for what it emulates and what it cannot).
 *
 * A launch runs its blocks one at a time. The threads of the block are fibers: on x86-64 ELF a twenty-instruction
 * stack switch (below), elsewhere (or with -DN4J_CUDA_EMU_UCONTEXT=ON) POSIX ucontext, which is slower (a signal
 * mask system call per switch). The scheduler resumes the ready fibers in thread order (or reversed); a fiber runs
 * until it finishes or waits at a barrier (__syncthreads, a warp operation). The last thread to arrive releases the
 * others and goes on. When no fiber is ready but some are
 * waiting, the block has deadlocked: the emulator prints where every waiting thread is and aborts.
 *
 * Fiber stacks: kStackBytes each, mmap'ed with a PROT_NONE guard page below (an overflow is reported by a SIGSEGV
 * handler on an alternate stack), painted once so that stats() can report the deepest use seen. The emulated
 * kernels use about 2.2 KiB (4.7 KiB under AddressSanitizer); 32 KiB leaves room for fatal(), whose fprintf to the
 * unbuffered stderr puts an 8 KiB buffer on the stack.
 * Warp collectives (shuffles, ballots, and warp_collective for the tensor-core models of tensor_core.cpp) meet at a
 * per-warp barrier; a collective's work is done by the lane that completes the warp.
 * What it cannot do (details in emu.h): run blocks concurrently (so no cross-block races), execute inline PTX (the
 * tensor-core instructions are functional models), model timing; one launch at a time, from one OS thread; not under CET shadow stacks
 * (the x86-64 switch returns to a different stack: use the ucontext build there).
 */
#include "emu.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <vector>

#if !defined(__x86_64__) || !defined(__ELF__) || defined(N4J_CUDA_EMU_UCONTEXT)
#define EMU_UCONTEXT 1
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#ifndef EMU_UCONTEXT
/* void emu_fiber_switch(void** save_sp, void* load_sp): saves the callee-saved registers (and MXCSR / x87 control
 * word) on the current stack, stores the stack pointer in *save_sp, switches to load_sp and restores from there. */
extern "C" void emu_fiber_switch(void** save_sp, void* load_sp);
asm(R"(
    .pushsection .text
    .p2align 4
    .globl emu_fiber_switch
    .hidden emu_fiber_switch
    .type emu_fiber_switch, @function
emu_fiber_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size emu_fiber_switch, .-emu_fiber_switch
    .popsection
)");
#endif

namespace emu {

uint3 threadIdx = {0, 0, 0};
uint3 blockIdx = {0, 0, 0};
dim3 blockDim;
dim3 gridDim;

namespace {

#ifdef EMU_ASAN
constexpr size_t kStackBytes = 256 * 1024;  // sanitizer frames are large
#else
constexpr size_t kStackBytes = 32 * 1024;
#endif
constexpr uint64_t kPaint = 0x5AFE5AFE5AFE5AFEull;
constexpr size_t kStaticSmemLimit = 48 * 1024;
constexpr size_t kDynamicSmemDefault = 48 * 1024;
constexpr size_t kSmemOptinLimit = 227 * 1024;

enum state_t { READY, WAIT_BLOCK, WAIT_WARP, DONE };

struct fiber {
    char* stack = nullptr;  // lowest usable byte (the guard page is just below)
#ifdef EMU_UCONTEXT
    ucontext_t uc;
#else
    void* sp = nullptr;
#endif
    uint3 tid;
    int linear = 0;
    state_t state = DONE;
    site where = {nullptr, 0};  // where it waits
#ifdef EMU_ASAN
    void* fake_stack = nullptr;
#endif
    // cp.async state of this thread: copies not yet committed, then committed groups, oldest first.
    struct async_copy {
        void* dst;
        unsigned char data[16];
        int bytes;
    };
    std::vector<async_copy> uncommitted;
    std::deque<std::vector<async_copy>> groups;
};

/* A barrier: arrivals of one generation; the site of the first arrival (divergence check); a reduction. */
struct barrier {
    int arrived = 0;
    site first = {nullptr, 0};
    int count = 0;
    int result[2] = {0, 0};
    unsigned gen = 0;
};

struct warp_state {
    int live = 0;
    barrier bar;
    unsigned mask = 0;
    const char* what = nullptr;
    uint64_t slots[2][32];  // double-buffered by generation: one barrier per exchange
    unsigned ballot[2];
    unsigned char deposits[2][32][kCollectiveBytes];  // warp_collective, double-buffered the same way
    unsigned char results[2][32][kCollectiveBytes];
};

struct shared_var {
    void* p;
    size_t bytes;
};

std::vector<fiber> g_fibers;
int g_n = 0;      // threads of the current block
int g_cur = -1;   // running fiber, -1: the scheduler
int g_live = 0;   // threads of the block that have not returned
barrier g_block_bar;
warp_state g_warps[32];
std::vector<shared_var> g_shared;  // static __shared__ arrays seen in this block
size_t g_static_smem = 0;
std::vector<char> g_dynamic_smem;
size_t g_dynamic_bytes = 0;
int g_order = 0;
#ifdef EMU_UCONTEXT
ucontext_t g_sched_uc;
#else
void* g_sched_sp = nullptr;
#endif
#ifdef EMU_ASAN
void* g_sched_fake_stack = nullptr;
const void* g_sched_bottom = nullptr;  // the scheduler's stack, as the sanitizer reported it
size_t g_sched_size = 0;
#endif
block_fn g_fn = nullptr;
void* g_closure = nullptr;
const char* g_name = nullptr;
// The OS thread running the current launch (0 between launches). Inside a JVM other threads take SIGSEGVs of their
// own all the time (armed safepoint polls, implicit null checks): only this thread's faults during a launch are a
// kernel's; everything else goes on to the JVM's handler.
volatile pid_t g_launch_tid = 0;
const char* g_file = nullptr;
int g_line = 0;
stats_t g_stats = {};

std::vector<std::pair<const void*, int>> g_smem_optin;
std::string g_tag = "untagged";
std::map<std::string, kernel_launches> g_launches;

/* "ns::kernel<A, B>" -> "kernel". */
std::string base_name(const char* name) {
    std::string n(name);
    const size_t angle = n.find('<');
    if (angle != std::string::npos) n.resize(angle);
    while (!n.empty() && n.back() == ' ') n.pop_back();
    const size_t colon = n.rfind("::");
    if (colon != std::string::npos) n = n.substr(colon + 2);
    return n;
}

/* ---- fiber stacks ---- */

size_t page_size() {
    static size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return p;
}

struct stack_region {
    char* lo;
    char* hi;
};
std::vector<stack_region> g_guards;  // guard pages, for the SIGSEGV handler

fault_describer g_fault_describer = nullptr;
struct sigaction g_previous_segv, g_previous_bus;  // the handlers before ours (the JVM's, inside a JVM)

/* Passes a signal that is not the emulator's on to the handler installed before (chaining, as libjsig does). */
void chain_signal(int sig, siginfo_t* info, void* ucontext) {
    const struct sigaction& prev = sig == SIGBUS ? g_previous_bus : g_previous_segv;
    if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
        prev.sa_sigaction(sig, info, ucontext);
        return;
    }
    if (prev.sa_handler == SIG_IGN) return;
    if (prev.sa_handler != SIG_DFL && prev.sa_handler != nullptr) {
        prev.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void on_segv(int sig, siginfo_t* info, void* ucontext) {
    const pid_t launching = g_launch_tid;
    if (launching != 0 && static_cast<pid_t>(syscall(SYS_gettid)) != launching) {
        // another thread while a kernel runs (the emulator's state belongs to the launching thread)
        chain_signal(sig, info, ucontext);
        return;
    }
    char* addr = static_cast<char*>(info->si_addr);
    const char* msg = nullptr;
    for (const stack_region& g : g_guards) {
        if (addr >= g.lo && addr < g.hi) {
            msg = "cuda-emu: fiber stack overflow (a kernel thread used more than the emulator's per-thread stack; "
                  "raise kStackBytes in emu.cpp)\n";
            break;
        }
    }
    static char described[1024];
    if (msg == nullptr && g_fault_describer != nullptr && g_fault_describer(addr, described, sizeof(described) - 2)) {
        strcat(described, "\n");
        msg = described;
    }
    if (msg == nullptr && g_cur < 0) {  // not in a kernel and not ours: the previous handler's business
        chain_signal(sig, info, ucontext);
        return;
    }
    if (msg == nullptr) msg = "cuda-emu: SIGSEGV (a bad memory access in a kernel or in the emulator)\n";
    ssize_t ignored = write(2, msg, strlen(msg));
    if (g_name != nullptr) {
        char where[512];
        snprintf(where, sizeof(where), "cuda-emu:   in %s launched at %s:%d, blockIdx (%u,%u,%u) threadIdx (%u,%u,%u)\n",
                 g_name, g_file, g_line, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
        ignored = write(2, where, strlen(where));
    }
    (void)ignored;
    signal(SIGABRT, SIG_DFL);
    abort();
}

void install_segv_handler() {
    static bool done = false;
    if (done) return;
    done = true;
    static std::vector<char> alt(64 * 1024);
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = alt.data();
    ss.ss_size = alt.size();
    stack_t old_ss;
    // Keep an alternate signal stack that is already there (a JVM thread's); otherwise add one, so that a fiber
    // stack overflow can still be reported.
    if (sigaltstack(nullptr, &old_ss) == 0 && (old_ss.ss_flags & SS_DISABLE) != 0) sigaltstack(&ss, nullptr);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous_segv);
    sigaction(SIGBUS, &sa, &g_previous_bus);
}

char* new_stack() {
    const size_t guard = page_size();
    void* m = mmap(nullptr, kStackBytes + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) fatal("cannot map a fiber stack");
    char* base = static_cast<char*>(m);
    if (mprotect(base, guard, PROT_NONE) != 0) fatal("cannot protect a fiber stack guard page");
    g_guards.push_back({base, base + guard});
    char* stack = base + guard;
    for (size_t i = 0; i < kStackBytes; i += 8) memcpy(stack + i, &kPaint, 8);
    return stack;
}

size_t stack_used(const fiber& f) {
    size_t i = 0;
    while (i < kStackBytes) {
        uint64_t v;
        memcpy(&v, f.stack + i, 8);
        if (v != kPaint) break;
        i += 8;
    }
    return kStackBytes - i;
}

/* ---- switching ---- */

void fiber_main();

#ifdef EMU_UCONTEXT
void fiber_entry_uc() { fiber_main(); }
#else
void emu_fiber_entry() { fiber_main(); }
#endif

void init_fiber(fiber& f) {
#ifdef EMU_UCONTEXT
    if (getcontext(&f.uc) != 0) fatal("getcontext failed");
    f.uc.uc_stack.ss_sp = f.stack;
    f.uc.uc_stack.ss_size = kStackBytes;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, fiber_entry_uc, 0);
#else
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack) + kStackBytes) & ~static_cast<uintptr_t>(15);
    uint64_t* p = reinterpret_cast<uint64_t*>(top);
    uint32_t csr[2];
    asm volatile("stmxcsr %0" : "=m"(csr[0]));
    asm volatile("fnstcw %0" : "=m"(csr[1]));
    *--p = 0;                                                     // fake return address of emu_fiber_entry
    *--p = reinterpret_cast<uint64_t>(&emu_fiber_entry);          // where the first switch returns to
    for (int r = 0; r < 6; ++r) *--p = 0;                         // rbp rbx r12 r13 r14 r15
    *--p = static_cast<uint64_t>(csr[0]) | (static_cast<uint64_t>(csr[1] & 0xffffu) << 32);
    f.sp = p;
#endif
}

/* Scheduler -> fiber i. */
void resume(int i) {
    fiber& f = g_fibers[i];
    g_cur = i;
    threadIdx = f.tid;
    ++g_stats.switches;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&g_sched_fake_stack, f.stack, kStackBytes);
#endif
#ifdef EMU_UCONTEXT
    if (swapcontext(&g_sched_uc, &f.uc) != 0) fatal("swapcontext failed");
#else
    emu_fiber_switch(&g_sched_sp, f.sp);
#endif
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(g_sched_fake_stack, nullptr, nullptr);
#endif
    g_cur = -1;
}

/* Fiber -> scheduler (the fiber is waiting or done). */
void yield_to_scheduler() {
    fiber& f = g_fibers[g_cur];
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(f.state == DONE ? nullptr : &f.fake_stack, g_sched_bottom, g_sched_size);
#endif
#ifdef EMU_UCONTEXT
    if (swapcontext(&f.uc, &g_sched_uc) != 0) fatal("swapcontext failed");
#else
    emu_fiber_switch(&f.sp, g_sched_sp);
#endif
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(f.fake_stack, &g_sched_bottom, &g_sched_size);
#endif
}

fiber& current(const char* what) {
    if (g_cur < 0) fatal("%s called outside a kernel", what);
    return g_fibers[g_cur];
}

bool same_site(site a, site b) { return a.line == b.line && (a.file == b.file || strcmp(a.file, b.file) == 0); }

void release(barrier& b, state_t waiting, int warp) {
    b.result[b.gen & 1] = b.count;
    b.arrived = 0;
    ++b.gen;
    const int lo = warp < 0 ? 0 : warp * 32;
    const int hi = warp < 0 ? g_n : (warp * 32 + 32 < g_n ? warp * 32 + 32 : g_n);
    for (int i = lo; i < hi; ++i) {
        if (g_fibers[i].state == waiting) g_fibers[i].state = READY;
    }
}

/* Arrival of the current fiber at b (expected: `live` threads). Returns after the barrier is complete. */
void arrive(barrier& b, int live, state_t waiting, int warp, site s, const char* what) {
    fiber& f = g_fibers[g_cur];
    if (b.arrived == 0) {
        b.first = s;
    } else if (!same_site(b.first, s)) {
        fatal("%s divergence: this thread waits at %s:%d while another thread of its %s waits at %s:%d", what, s.file,
              s.line, warp < 0 ? "block" : "warp", b.first.file, b.first.line);
    }
    if (++b.arrived == live) {
        release(b, waiting, warp);
        return;
    }
    f.state = waiting;
    f.where = s;
    yield_to_scheduler();
}

const char* state_name(state_t s) {
    switch (s) {
        case READY: return "ready";
        case WAIT_BLOCK: return "__syncthreads";
        case WAIT_WARP: return "a warp operation";
        default: return "done";
    }
}

[[noreturn]] void deadlock() {
    fprintf(stderr, "cuda-emu: deadlock in %s (launched at %s:%d), block (%u,%u,%u): %d of %d threads still live, none "
                    "can proceed\n",
            g_name, g_file, g_line, blockIdx.x, blockIdx.y, blockIdx.z, g_live, g_n);
    struct group {
        state_t state;
        site where;
        int count;
        uint3 first;
    };
    std::vector<group> groups;  // waiting threads by (what, where)
    for (int i = 0; i < g_n; ++i) {
        const fiber& f = g_fibers[i];
        if (f.state == DONE) continue;
        bool found = false;
        for (group& g : groups) {
            if (g.state == f.state && g.where.line == f.where.line && g.where.file == f.where.file) {
                ++g.count;
                found = true;
                break;
            }
        }
        if (!found) groups.push_back({f.state, f.where, 1, f.tid});
    }
    for (const group& g : groups) {
        fprintf(stderr, "  %d thread(s) from (%u,%u,%u) wait at %s (%s:%d)\n", g.count, g.first.x, g.first.y, g.first.z,
                state_name(g.state), g.where.file ? g.where.file : "?", g.where.line);
    }
    fprintf(stderr, "  (a barrier or warp operation that not every live thread of the block / warp reaches)\n");
    abort();
}

void fiber_main() {
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g_sched_bottom, &g_sched_size);
#endif
    g_fn(g_closure);
    fiber& f = g_fibers[g_cur];
    f.state = DONE;
    --g_live;
    warp_state& w = g_warps[f.linear / 32];
    --w.live;
    if (w.bar.arrived > 0) {
        fatal("thread returned while %d lane(s) of its warp wait in %s at %s:%d (a warp operation without every lane)",
              w.bar.arrived, w.what ? w.what : "a warp operation", w.bar.first.file, w.bar.first.line);
    }
    if (g_block_bar.arrived > 0 && g_block_bar.arrived == g_live) release(g_block_bar, WAIT_BLOCK, -1);
    yield_to_scheduler();
    fatal("a finished fiber was resumed");
}

void check_launch(const dim3& grid, const dim3& block, size_t smem, const void* kernel) {
    std::string why;
    if (check_launch_config(grid, block, smem, kernel, &why) != cudaSuccess) fatal("%s", why.c_str());
}

}  // namespace

void fatal(const char* format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    fprintf(stderr, "cuda-emu: %s\n", message);
    if (g_name != nullptr) {
        fprintf(stderr, "cuda-emu:   in %s launched at %s:%d, grid (%u,%u,%u) block (%u,%u,%u)", g_name, g_file, g_line,
                gridDim.x, gridDim.y, gridDim.z, blockDim.x, blockDim.y, blockDim.z);
        if (g_cur >= 0) {
            fprintf(stderr, ", blockIdx (%u,%u,%u) threadIdx (%u,%u,%u)", blockIdx.x, blockIdx.y, blockIdx.z,
                    threadIdx.x, threadIdx.y, threadIdx.z);
        }
        fprintf(stderr, "\n");
    }
    fflush(stderr);
    abort();
}

cudaError_t check_launch_config(const dim3& grid, const dim3& block, size_t smem, const void* kernel, std::string* why) {
    char message[256];
    const uint64_t n = static_cast<uint64_t>(block.x) * block.y * block.z;
    cudaError_t err = cudaSuccess;
    if (block.x == 0 || block.y == 0 || block.z == 0) {
        snprintf(message, sizeof(message), "empty block (%u,%u,%u)", block.x, block.y, block.z);
        err = cudaErrorInvalidConfiguration;
    } else if (block.x > 1024 || block.y > 1024 || block.z > 64 || n > 1024) {
        snprintf(message, sizeof(message),
                 "block (%u,%u,%u) exceeds the CUDA limits (x,y <= 1024, z <= 64, at most 1024 threads)", block.x,
                 block.y, block.z);
        err = cudaErrorInvalidConfiguration;
    } else if (grid.x == 0 || grid.y == 0 || grid.z == 0) {
        snprintf(message, sizeof(message), "empty grid (%u,%u,%u)", grid.x, grid.y, grid.z);
        err = cudaErrorInvalidConfiguration;
    } else if (grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u) {
        snprintf(message, sizeof(message), "grid (%u,%u,%u) exceeds the CUDA limits (x < 2^31, y and z <= 65535)",
                 grid.x, grid.y, grid.z);
        err = cudaErrorInvalidConfiguration;
    } else if (smem > max_dynamic_smem_of(kernel)) {
        snprintf(message, sizeof(message),
                 "%zu bytes of dynamic shared memory, above %zu without cudaFuncSetAttribute("
                 "cudaFuncAttributeMaxDynamicSharedMemorySize) for this kernel",
                 smem, max_dynamic_smem_of(kernel));
        err = cudaErrorInvalidValue;
    }
    if (err != cudaSuccess) {
        if (why != nullptr) *why = message;
        return err;
    }
    if (n % 32 != 0) {
        fatal("block of %llu threads is not a multiple of 32: partial warps are not emulated",
              static_cast<unsigned long long>(n));
    }
    return cudaSuccess;
}

size_t max_dynamic_smem_of(const void* kernel) {
    size_t limit = kDynamicSmemDefault;
    for (const auto& o : g_smem_optin) {
        if (o.first == kernel && static_cast<size_t>(o.second) > limit) limit = static_cast<size_t>(o.second);
    }
    return limit;
}

void set_fault_describer(fault_describer fn) {
    g_fault_describer = fn;
    install_segv_handler();
}

const char* running_kernel() { return g_name; }

bool in_kernel() { return g_cur >= 0; }

int lane_id() { return current("a warp operation").linear & 31; }

void sync_block(site s) {
    current("__syncthreads");
    ++g_stats.barriers;
    arrive(g_block_bar, g_live, WAIT_BLOCK, -1, s, "__syncthreads");
}

int sync_block_reduce(site s, int predicate, int kind) {
    current("__syncthreads_count/and/or");
    ++g_stats.barriers;
    barrier& b = g_block_bar;
    if (b.arrived == 0) b.count = 0;
    b.count += predicate != 0;
    const unsigned gen = b.gen;
    arrive(b, g_live, WAIT_BLOCK, -1, s, "__syncthreads_count/and/or");
    const int count = b.result[gen & 1];
    if (kind == 0) return count;
    if (kind == 1) return count == g_live;
    return count != 0;
}

namespace {
warp_state& warp_op(unsigned mask, site s, const char* what) {
    fiber& f = current(what);
    warp_state& w = g_warps[f.linear / 32];
    ++g_stats.warp_ops;
    if (mask != 0xffffffffu) fatal("%s with mask 0x%08x: only full-warp masks are emulated", what, mask);
    if (w.live != 32) {
        fatal("%s at %s:%d with %d live lanes: a warp operation needs all 32 (some lanes have returned)", what, s.file,
              s.line, w.live);
    }
    if (w.bar.arrived == 0) {
        w.what = what;
    } else if (w.what != what) {
        fatal("warp divergence: %s at %s:%d while other lanes wait in %s at %s:%d", what, s.file, s.line, w.what,
              w.bar.first.file, w.bar.first.line);
    }
    return w;
}
}  // namespace

void sync_warp(unsigned mask, site s) {
    warp_state& w = warp_op(mask, s, "__syncwarp");
    arrive(w.bar, w.live, WAIT_WARP, g_fibers[g_cur].linear / 32, s, "__syncwarp");
}

uint64_t warp_exchange(uint64_t bits, int src_lane, unsigned mask, site s, const char* what) {
    warp_state& w = warp_op(mask, s, what);
    const int lane = g_fibers[g_cur].linear & 31;
    const unsigned buf = w.bar.gen & 1;
    w.slots[buf][lane] = bits;
    arrive(w.bar, w.live, WAIT_WARP, g_fibers[g_cur].linear / 32, s, what);
    return w.slots[buf][src_lane & 31];
}

unsigned warp_ballot(int predicate, unsigned mask, site s) {
    warp_state& w = warp_op(mask, s, "__ballot_sync");
    const int lane = g_fibers[g_cur].linear & 31;
    const unsigned buf = w.bar.gen & 1;
    if (w.bar.arrived == 0) w.ballot[buf] = 0;
    if (predicate) w.ballot[buf] |= 1u << lane;
    arrive(w.bar, w.live, WAIT_WARP, g_fibers[g_cur].linear / 32, s, "__ballot_sync");
    return w.ballot[buf];
}

void warp_collective(const void* mine, size_t bytes, void* my_result, size_t result_bytes, collective_fn compute,
                     const void* arg, site s, const char* what) {
    if (bytes > kCollectiveBytes || result_bytes > kCollectiveBytes) {
        fatal("%s: %zu / %zu bytes per lane in a warp collective (at most %zu)", what, bytes, result_bytes,
              kCollectiveBytes);
    }
    warp_state& w = warp_op(0xffffffffu, s, what);
    const int lane = g_fibers[g_cur].linear & 31;
    const unsigned buf = w.bar.gen & 1;
    memcpy(w.deposits[buf][lane], mine, bytes);
    if (w.bar.arrived + 1 == w.live) {
        // This lane completes the warp (the divergence check of arrive() has passed for every earlier lane; this
        // one's site is checked first).
        if (w.bar.arrived > 0 && !same_site(w.bar.first, s)) {
            fatal("%s divergence: this thread waits at %s:%d while another thread of its warp waits at %s:%d", what,
                  s.file, s.line, w.bar.first.file, w.bar.first.line);
        }
        static unsigned char in[32 * kCollectiveBytes], out[32 * kCollectiveBytes];  // one fiber runs at a time
        for (int l = 0; l < 32; ++l) memcpy(in + l * bytes, w.deposits[buf][l], bytes);
        compute(in, out, arg);
        for (int l = 0; l < 32; ++l) memcpy(w.results[buf][l], out + l * result_bytes, result_bytes);
    }
    arrive(w.bar, w.live, WAIT_WARP, g_fibers[g_cur].linear / 32, s, what);
    memcpy(my_result, w.results[buf][lane], result_bytes);
}

bool is_shared_memory(const void* p, size_t bytes) {
    current("a shared memory check");
    const char* c = static_cast<const char*>(p);
    for (const shared_var& v : g_shared) {
        const char* lo = static_cast<const char*>(v.p);
        if (c >= lo && c + bytes <= lo + v.bytes) return true;
    }
    const char* dyn = g_dynamic_smem.data();
    return g_dynamic_bytes > 0 && c >= dyn && c + bytes <= dyn + g_dynamic_bytes;
}

void cp_async(void* dst_shared, const void* src_global, int cp_size, int src_size, site s) {
    fiber& f = current("cp.async");
    if (cp_size != 4 && cp_size != 8 && cp_size != 16) fatal("cp.async at %s:%d: cp-size %d (4, 8 or 16)", s.file, s.line, cp_size);
    if (src_size < 0 || src_size > cp_size) {
        fatal("cp.async at %s:%d: src-size %d outside [0, cp-size %d]", s.file, s.line, src_size, cp_size);
    }
    const uintptr_t mask = static_cast<uintptr_t>(cp_size - 1);
    if ((reinterpret_cast<uintptr_t>(dst_shared) & mask) != 0 || (reinterpret_cast<uintptr_t>(src_global) & mask) != 0) {
        fatal("cp.async at %s:%d: addresses %p <- %p not aligned to the cp-size %d", s.file, s.line, dst_shared,
              src_global, cp_size);
    }
    if (!is_shared_memory(dst_shared, static_cast<size_t>(cp_size))) {
        fatal("cp.async at %s:%d: destination %p is not inside this block's shared memory", s.file, s.line, dst_shared);
    }
    if (src_size > 0 && is_shared_memory(src_global, static_cast<size_t>(src_size))) {
        fatal("cp.async at %s:%d: source %p is shared memory (cp.async copies global -> shared)", s.file, s.line,
              src_global);
    }
    fiber::async_copy c;
    c.dst = dst_shared;
    c.bytes = cp_size;
    memset(c.data, 0, sizeof(c.data));
    if (src_size > 0) memcpy(c.data, src_global, static_cast<size_t>(src_size));
    memset(dst_shared, 0xFF, static_cast<size_t>(cp_size));  // undefined until a wait completes the copy
    f.uncommitted.push_back(c);
}

void cp_async_commit_group() {
    fiber& f = current("cp.async.commit_group");
    f.groups.push_back(std::move(f.uncommitted));  // an empty group when nothing is uncommitted, as in PTX
    f.uncommitted.clear();
}

void cp_async_wait_group(int n) {
    fiber& f = current("cp.async.wait_group");
    if (n < 0) fatal("cp.async.wait_group %d", n);
    while (static_cast<int>(f.groups.size()) > n) {
        for (const fiber::async_copy& c : f.groups.front()) memcpy(c.dst, c.data, static_cast<size_t>(c.bytes));
        f.groups.pop_front();
    }
}

void cp_async_wait_all() {
    cp_async_commit_group();
    cp_async_wait_group(0);
}

void set_tag(const char* tag) { g_tag = tag; }

const std::map<std::string, kernel_launches>& launches_by_kernel() { return g_launches; }

void shared_declared(void* p, size_t bytes, const char* name) {
    current("a __shared__ declaration");
    for (const shared_var& v : g_shared) {
        if (v.p == p) return;
    }
    memset(p, 0xFF, bytes);
    g_shared.push_back({p, bytes});
    g_static_smem += bytes;
    if (g_static_smem > kStaticSmemLimit) {
        fatal("%zu bytes of static __shared__ memory (with %s), above the 48 KiB limit", g_static_smem, name);
    }
    if (g_static_smem + g_dynamic_bytes > kSmemOptinLimit) {
        fatal("%zu bytes of static plus %zu of dynamic shared memory, above the 227 KiB a block may have",
              g_static_smem, g_dynamic_bytes);
    }
}

void* dynamic_shared() {
    current("extern __shared__");
    return g_dynamic_smem.data();
}

void set_max_dynamic_smem(const void* kernel, int bytes) {
    if (bytes < 0 || static_cast<size_t>(bytes) > kSmemOptinLimit) {
        fatal("cudaFuncSetAttribute(MaxDynamicSharedMemorySize, %d): above the 227 KiB opt-in limit", bytes);
    }
    for (auto& o : g_smem_optin) {
        if (o.first == kernel) {
            o.second = bytes;
            return;
        }
    }
    g_smem_optin.push_back({kernel, bytes});
}

void set_schedule(int order) { g_order = order; }

stats_t stats() {
    stats_t s = g_stats;
    s.stack_bytes = kStackBytes;
    s.stack_high_water = 0;
    for (const fiber& f : g_fibers) {
        if (f.stack == nullptr) continue;
        const size_t u = stack_used(f);
        if (u > s.stack_high_water) s.stack_high_water = u;
    }
    return s;
}

void launch(const dim3& grid, const dim3& block, size_t smem, const void* kernel, block_fn fn, void* closure,
            const char* name, const char* file, int line) {
    if (g_cur >= 0) fatal("kernel launch from inside a kernel (dynamic parallelism is not emulated)");
    g_launch_tid = static_cast<pid_t>(syscall(SYS_gettid));
    g_name = name;
    g_file = file;
    g_line = line;
    gridDim = grid;
    blockDim = block;
    check_launch(grid, block, smem, kernel);
    install_segv_handler();
    const int n = static_cast<int>(block.x * block.y * block.z);
    while (static_cast<int>(g_fibers.size()) < n) {
        g_fibers.emplace_back();
        g_fibers.back().stack = new_stack();
    }
    g_n = n;
    g_fn = fn;
    g_closure = closure;
    g_dynamic_bytes = smem;
    if (g_dynamic_smem.size() < smem) g_dynamic_smem.resize(smem);
    ++g_stats.launches;
    kernel_launches& kl = g_launches[base_name(name)];
    ++kl.launches;
    if (("," + kl.tags + ",").find("," + g_tag + ",") == std::string::npos) kl.tags += (kl.tags.empty() ? "" : ",") + g_tag;
    if (std::find(kl.instantiations.begin(), kl.instantiations.end(), kernel) == kl.instantiations.end()) {
        kl.instantiations.push_back(kernel);
    }
    const uint64_t blocks = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
    for (uint64_t bi = 0; bi < blocks; ++bi) {
        const uint64_t b = g_order == 0 ? bi : blocks - 1 - bi;
        blockIdx = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                         static_cast<unsigned>(b / (static_cast<uint64_t>(grid.x) * grid.y))};
        ++g_stats.blocks;
        g_stats.threads += n;
        g_live = n;
        g_block_bar = barrier();
        for (int w = 0; w < 32; ++w) {
            g_warps[w].live = w * 32 < n ? 32 : 0;
            g_warps[w].bar = barrier();
            g_warps[w].what = nullptr;
        }
        g_shared.clear();
        g_static_smem = 0;
        if (smem > 0) memset(g_dynamic_smem.data(), 0xFF, smem);
        for (int i = 0; i < n; ++i) {
            fiber& f = g_fibers[i];
            f.linear = i;
            f.tid = uint3{static_cast<unsigned>(i % block.x), static_cast<unsigned>((i / block.x) % block.y),
                          static_cast<unsigned>(i / (block.x * block.y))};
            f.state = READY;
            f.where = site{nullptr, 0};
            f.uncommitted.clear();
            f.groups.clear();
            init_fiber(f);
        }
        while (g_live > 0) {
            bool ran = false;
            for (int k = 0; k < n; ++k) {
                const int i = g_order == 0 ? k : n - 1 - k;
                if (g_fibers[i].state != READY) continue;
                resume(i);
                ran = true;
            }
            if (!ran) deadlock();
        }
    }
    g_name = nullptr;
    g_launch_tid = 0;
}

}  // namespace emu
