/*
 * thread_pool.cpp: see thread_pool.h.
 *
 * Hand-off protocol: the caller writes the job (task_, arg_, first_task_, n_tasks_), resets done_, publishes the
 * task count in remaining_ (release) and bumps generation_. Workers waiting for a new generation spin for a while
 * (cheap wake-up for the stream of small decode kernels), then register in sleeping_workers_ and wait on the
 * condition variable; the caller notifies only when someone sleeps (both sides use sequentially consistent atomics,
 * so either the worker sees the new generation or the caller sees the sleeper).
 * Taking a task is a compare-and-swap of remaining_ from r > 0 to r - 1 (never a blind decrement: a late worker
 * must not change the count of a job it does not take part in); the task is n_tasks_ - r. Only after a successful
 * take does a thread read the job's fields: the job cannot finish before that task does, so the caller cannot be
 * writing the next job meanwhile, and whichever job the take belonged to, the fields read are that job's. Each
 * finished task increments done_ (release); the caller, after taking tasks itself, waits for done_ == n_tasks_
 * (acquire). So it waits for the tasks in progress only, never for a worker that has not woken up yet (on an
 * oversubscribed machine the OS may not run it for milliseconds), and no thread touches a job's arguments after
 * run() returns. run() splits a job of more than 2^31 tasks into several.
 */
#include "cpu/thread_pool.h"

#include <stdio.h>

#include <chrono>
#include <utility>
#include <vector>

#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define N4J_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define N4J_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define N4J_CPU_RELAX() ((void)0)
#endif

namespace n4j {
namespace cpu {

namespace {
// How long a worker spins for the next job before it goes to sleep: long enough to bridge the gaps between the
// kernels of a decode step and between steps (the caller's own work in between: serial ops, sampling, the Java
// side), which a wake-up through the futex would otherwise cost tens of microseconds each (a count of PAUSEs
// depends on the CPU: 10-150 cycles each; earlier 4000 of them put the worker to sleep ~16 times per decoded token).
constexpr int64_t kSpinNanos = 2000000;
// The caller's busy-wait for the last tasks before it starts yielding its time slice.
constexpr int64_t kCallerSpinNanos = 200000;

int64_t now_nanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

int available_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
}

int physical_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return available_cpus();
    // One worker per physical core: SMT siblings share the core's vector units, so a second thread on a sibling
    // adds contention, not FLOPs. Cores are told apart by (package id, core id) from sysfs; when a CPU's topology
    // cannot be read, each CPU counts as its own core.
    std::vector<std::pair<long, long>> seen;
    int cores = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set)) continue;
        long ids[2] = {-1, -1};
        const char* names[2] = {"physical_package_id", "core_id"};
        for (int i = 0; i < 2; ++i) {
            char path[128];
            snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/%s", cpu, names[i]);
            FILE* f = fopen(path, "r");
            if (f != nullptr) {
                if (fscanf(f, "%ld", &ids[i]) != 1) ids[i] = -1;
                fclose(f);
            }
        }
        if (ids[0] < 0 || ids[1] < 0) {
            ++cores;
            continue;
        }
        const std::pair<long, long> key(ids[0], ids[1]);
        bool known = false;
        for (const auto& k : seen) known = known || k == key;
        if (!known) {
            seen.push_back(key);
            ++cores;
        }
    }
    return cores > 0 ? cores : available_cpus();
}

thread_pool::thread_pool(int threads) : threads_(threads < 1 ? 1 : threads) {
    workers_.reserve(static_cast<size_t>(threads_ - 1));
    for (int t = 1; t < threads_; ++t) workers_.emplace_back(&thread_pool::worker_main, this, t);
}

thread_pool::~thread_pool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_.store(true);
        generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

void thread_pool::execute_tasks(int thread) {
    int64_t r = remaining_.load(std::memory_order_acquire);
    while (r > 0) {
        if (!remaining_.compare_exchange_weak(r, r - 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
            continue;  // r now holds the current count
        }
        task_(arg_, first_task_ + (n_tasks_ - r), thread);
        done_.fetch_add(1, std::memory_order_release);
        r = remaining_.load(std::memory_order_acquire);
    }
}

void thread_pool::run(int64_t n_tasks, pool_task_fn task, void* arg) {
    if (n_tasks <= 0) return;
    splits_.min_tasks = splits_.runs == 0 || n_tasks < splits_.min_tasks ? n_tasks : splits_.min_tasks;
    splits_.max_tasks = n_tasks > splits_.max_tasks ? n_tasks : splits_.max_tasks;
    splits_.last_tasks = n_tasks;
    ++splits_.runs;
    if (threads_ == 1 || n_tasks == 1) {
        for (int64_t i = 0; i < n_tasks; ++i) task(arg, i, 0);
        return;
    }
    const int64_t max_job = int64_t(1) << 31;
    for (int64_t first = 0; first < n_tasks; first += max_job) {
        run_job(first, n_tasks - first < max_job ? n_tasks - first : max_job, task, arg);
    }
}

void thread_pool::run_job(int64_t first, int64_t n_tasks, pool_task_fn task, void* arg) {
    task_ = task;
    arg_ = arg;
    first_task_ = first;
    n_tasks_ = n_tasks;
    done_.store(0, std::memory_order_relaxed);
    remaining_.store(n_tasks, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        wake_.notify_all();
    }
    execute_tasks(0);
    // Wait for the tasks other threads are still running; yield when that takes long (an oversubscribed machine
    // may have descheduled one of them mid-task).
    int64_t yield_after = 0;
    for (int spin = 0; done_.load(std::memory_order_acquire) != n_tasks; ++spin) {
        if ((spin & 63) == 63) {  // the clock every 64 spins
            if (yield_after == 0) {
                yield_after = now_nanos() + kCallerSpinNanos;
            } else if (now_nanos() > yield_after) {
                std::this_thread::yield();
                continue;
            }
        }
        N4J_CPU_RELAX();
    }
}

void thread_pool::worker_main(int thread) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t current = generation_.load(std::memory_order_acquire);
        int64_t sleep_after = 0;
        for (int spin = 0; current == seen; ++spin) {
            if ((spin & 63) == 63) {  // the clock every 64 spins
                if (sleep_after == 0) {
                    sleep_after = now_nanos() + kSpinNanos;
                } else if (now_nanos() > sleep_after) {
                    break;
                }
            }
            N4J_CPU_RELAX();
            current = generation_.load(std::memory_order_acquire);
        }
        if (current == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
            sleeping_workers_.fetch_sub(1, std::memory_order_seq_cst);
            current = generation_.load(std::memory_order_acquire);
        }
        seen = current;
        if (stop_.load()) return;
        execute_tasks(thread);
    }
}

}  // namespace cpu
}  // namespace n4j
