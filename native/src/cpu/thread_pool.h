/*
 * thread_pool.h: the CPU backend's persistent worker threads.
 *
 * run(n, task, arg) executes task(arg, i, thread) for every i in [0, n) and returns when all are done. The caller
 * takes part as thread 0; workers are 1..size()-1. Tasks are handed out dynamically through an atomic counter, so
 * kernels must make every task's result independent of which thread runs it (then results are bitwise identical
 * for any thread count). Workers spin briefly on a generation counter after each job (decode issues many short
 * kernels back to back) and then sleep on a condition variable. run() waits only for tasks that were taken, never
 * for a worker that took none (one the OS has not scheduled yet costs the caller nothing). A pool is driven by one
 * thread at a time.
 */
#ifndef N4J_CPU_THREAD_POOL_H
#define N4J_CPU_THREAD_POOL_H

#include <stdint.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace n4j {
namespace cpu {

typedef void (*pool_task_fn)(void* arg, int64_t task, int thread);

class thread_pool {
public:
    explicit thread_pool(int threads);
    ~thread_pool();
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    int size() const { return threads_; }
    void run(int64_t n_tasks, pool_task_fn task, void* arg);

    /* How work was split since the last reset (tests of the task split): parallel runs and their fewest and most
     * tasks. Updated by the driving thread only. */
    struct split_stats {
        int64_t runs = 0;
        int64_t min_tasks = 0;
        int64_t max_tasks = 0;
        int64_t last_tasks = 0;
    };
    const split_stats& splits() const { return splits_; }
    void reset_splits() { splits_ = split_stats(); }

private:
    void worker_main(int thread);
    void execute_tasks(int thread);
    void run_job(int64_t first, int64_t n_tasks, pool_task_fn task, void* arg);

    int threads_;
    std::vector<std::thread> workers_;
    split_stats splits_;

    // The current job: read by a worker only after it has taken one of its tasks (see thread_pool.cpp).
    pool_task_fn task_ = nullptr;
    void* arg_ = nullptr;
    int64_t first_task_ = 0;
    int64_t n_tasks_ = 0;
    alignas(64) std::atomic<int64_t> remaining_{0};  // tasks not yet taken; taken by compare-and-swap only
    alignas(64) std::atomic<int64_t> done_{0};       // tasks finished
    alignas(64) std::atomic<uint64_t> generation_{0};
    alignas(64) std::atomic<int> sleeping_workers_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
};

/* Calls f(task, thread) for task in [0, n) on the pool. */
template <class F>
inline void parallel_for(thread_pool& pool, int64_t n_tasks, F& f) {
    struct thunk {
        static void call(void* arg, int64_t task, int thread) { (*static_cast<F*>(arg))(task, thread); }
    };
    pool.run(n_tasks, &thunk::call, static_cast<void*>(&f));
}

/* Number of CPUs this process may run on (sched_getaffinity), at least 1. */
int available_cpus();

/* Physical cores among the CPUs this process may run on (SMT siblings counted once), at least 1: the default
 * worker count. */
int physical_cores();

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_THREAD_POOL_H */
