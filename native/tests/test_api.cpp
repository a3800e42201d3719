/*
 * test_api.cpp: the library-level contract of nemotron4j.h.
 *  - version, struct sizes and field offsets by name (what the Java bindings test compares against);
 *  - n4j_alloc: zeroed, 64-byte aligned, counted in allocated_bytes (small and mmap-sized blocks), freed on
 *    destroy; copy and fill_zero;
 *  - backend info (threads = available cores for 0, reference vs fast name);
 *  - the thread-local last error;
 *  - the shared library itself, loaded with dlopen: runs a kernel through the exported entry points;
 *  - the CUDA plug-in path with stand-in plug-ins: a current one works end to end, an old one is refused;
 *  - decode steps (n4j_step_begin / _end / _stats) on the CPU: nesting, flags, and what a step refuses.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cpu/thread_pool.h"
#include "test_common.h"

using namespace test;

namespace {

void test_version_and_layout() {
    CHECK(n4j_abi_version() == N4J_ABI_VERSION, "abi version");
    CHECK(n4j_version() != nullptr && strlen(n4j_version()) > 0, "version string");
#define EXPECT_SIZE(s) CHECK(n4j_struct_size(#s) == static_cast<int64_t>(sizeof(s)), "sizeof " #s)
#define EXPECT_OFFSET(s, f) \
    CHECK(n4j_struct_offset(#s, #f) == static_cast<int64_t>(offsetof(s, f)), "offsetof " #s "." #f)
    EXPECT_SIZE(n4j_backend_options);
    EXPECT_OFFSET(n4j_backend_options, kind);
    EXPECT_OFFSET(n4j_backend_options, device);
    EXPECT_OFFSET(n4j_backend_options, threads);
    EXPECT_OFFSET(n4j_backend_options, flags);
    EXPECT_OFFSET(n4j_backend_options, activation_dtype);
    EXPECT_OFFSET(n4j_backend_options, reserved);
    EXPECT_SIZE(n4j_backend_info);
    EXPECT_OFFSET(n4j_backend_info, kind);
    EXPECT_OFFSET(n4j_backend_info, device);
    EXPECT_OFFSET(n4j_backend_info, threads);
    EXPECT_OFFSET(n4j_backend_info, activation_dtype);
    EXPECT_OFFSET(n4j_backend_info, total_memory);
    EXPECT_OFFSET(n4j_backend_info, allocated_bytes);
    EXPECT_OFFSET(n4j_backend_info, name);
    EXPECT_SIZE(n4j_weight);
    EXPECT_OFFSET(n4j_weight, data);
    EXPECT_OFFSET(n4j_weight, dtype);
    EXPECT_OFFSET(n4j_weight, rows);
    EXPECT_OFFSET(n4j_weight, cols);
    EXPECT_OFFSET(n4j_weight, scale);
    EXPECT_OFFSET(n4j_weight, input_scale);
    EXPECT_OFFSET(n4j_weight, reserved);
    EXPECT_SIZE(n4j_ssm_dims);
    EXPECT_OFFSET(n4j_ssm_dims, heads);
    EXPECT_OFFSET(n4j_ssm_dims, head_dim);
    EXPECT_OFFSET(n4j_ssm_dims, groups);
    EXPECT_OFFSET(n4j_ssm_dims, state_dim);
    EXPECT_OFFSET(n4j_ssm_dims, chunk_size);
    EXPECT_OFFSET(n4j_ssm_dims, reserved);
    EXPECT_SIZE(n4j_attn_dims);
    EXPECT_OFFSET(n4j_attn_dims, heads);
    EXPECT_OFFSET(n4j_attn_dims, kv_heads);
    EXPECT_OFFSET(n4j_attn_dims, head_dim);
    EXPECT_OFFSET(n4j_attn_dims, scale);
    EXPECT_SIZE(n4j_kv_cache);
    EXPECT_OFFSET(n4j_kv_cache, k_blocks);
    EXPECT_OFFSET(n4j_kv_cache, v_blocks);
    EXPECT_OFFSET(n4j_kv_cache, n_blocks);
    EXPECT_OFFSET(n4j_kv_cache, block_tokens);
    EXPECT_OFFSET(n4j_kv_cache, length);
    EXPECT_OFFSET(n4j_kv_cache, dtype);
#undef EXPECT_SIZE
#undef EXPECT_OFFSET
    CHECK(n4j_struct_size("n4j_nothing") == -1 && n4j_struct_size(nullptr) == -1, "unknown struct -> -1");
    CHECK(n4j_struct_offset("n4j_weight", "nothing") == -1 && n4j_struct_offset("n4j_weight", nullptr) == -1 &&
              n4j_struct_offset("nothing", "data") == -1,
          "unknown field -> -1");
    CHECK(n4j_struct_offset("n4j_weight", "n4j_weight") == -1, "a struct name is not a field");
}

int64_t allocated(n4j_backend* b) {
    n4j_backend_info info;
    CHECK_OK(n4j_backend_get_info(b, &info));
    return info.allocated_bytes;
}

void test_memory(n4j_backend* b) {
    CHECK(allocated(b) == 0, "a new backend has nothing allocated");
    const uint64_t sizes[] = {1, 100, 4096, (uint64_t(1) << 20) + 3, uint64_t(3) << 20};
    std::vector<void*> ptrs;
    int64_t expected = 0;
    for (uint64_t size : sizes) {
        void* p = nullptr;
        CHECK_OK(n4j_alloc(b, size, &p));
        CHECK(p != nullptr && reinterpret_cast<uintptr_t>(p) % 64 == 0, "alloc %llu is 64-byte aligned",
              static_cast<unsigned long long>(size));
        bool zero = true;
        for (uint64_t i = 0; i < size; ++i) zero &= static_cast<const uint8_t*>(p)[i] == 0;
        CHECK(zero, "alloc %llu is zeroed", static_cast<unsigned long long>(size));
        memset(p, 0x5a, size);  // writable
        expected += static_cast<int64_t>(size);
        CHECK(allocated(b) == expected, "allocated_bytes counts live bytes (%lld vs %lld)",
              static_cast<long long>(allocated(b)), static_cast<long long>(expected));
        ptrs.push_back(p);
    }
    // copy and fill_zero
    float host[5] = {1, 2, 3, 4, 5}, back[5] = {0};
    CHECK_OK(n4j_copy(b, ptrs[1], host, sizeof(host), N4J_COPY_HOST_TO_BACKEND));
    CHECK_OK(n4j_copy(b, ptrs[2], ptrs[1], sizeof(host), N4J_COPY_BACKEND_TO_BACKEND));
    CHECK_OK(n4j_copy(b, back, ptrs[2], sizeof(host), N4J_COPY_BACKEND_TO_HOST));
    CHECK(memcmp(host, back, sizeof(host)) == 0, "copy round trip");
    CHECK_OK(n4j_fill_zero(b, ptrs[2], 8));
    CHECK(static_cast<const float*>(ptrs[2])[0] == 0.0f && static_cast<const float*>(ptrs[2])[2] == 3.0f,
          "fill_zero clears exactly the bytes asked");
    for (size_t i = 0; i + 1 < ptrs.size(); ++i) {
        CHECK_OK(n4j_free(b, ptrs[i]));
        expected -= static_cast<int64_t>(sizes[i]);
        CHECK(allocated(b) == expected, "free gives the bytes back");
    }
    // The last allocation stays: destroy frees it (checked by the caller: no leak, no crash).
}

void test_info() {
    n4j_backend* fast = make_cpu_backend(0, false, n4j::cpu::best_simd_level());
    n4j_backend* ref = make_cpu_backend(3, true, 0);
    n4j_backend_info info;
    CHECK_OK(n4j_backend_get_info(fast, &info));
    CHECK(info.kind == N4J_BACKEND_CPU && info.activation_dtype == N4J_DTYPE_F32, "cpu info kind/dtype");
    const int cores = n4j::cpu::physical_cores();
    CHECK(info.threads == cores, "threads = 0 means one per physical core (%d vs %d)", info.threads, cores);
    CHECK(cores >= 1 && cores <= n4j::cpu::available_cpus(), "physical cores %d within [1, %d available CPUs]", cores,
          n4j::cpu::available_cpus());
    CHECK(info.total_memory > 0, "total memory known");
    CHECK(strncmp(info.name, "cpu ", 4) == 0 && strstr(info.name, "thread") != nullptr, "name: %s", info.name);
    printf("  fast backend: %s\n", info.name);
    CHECK_OK(n4j_backend_get_info(ref, &info));
    CHECK(strstr(info.name, "reference") != nullptr && info.threads == 1, "reference name: %s", info.name);
    CHECK_OK(n4j_backend_synchronize(fast));
    n4j_backend_destroy(fast);
    n4j_backend_destroy(ref);
}

void test_last_error_is_thread_local() {
    std::string in_new_thread = "unset";
    std::thread t([&] { in_new_thread = n4j_last_error(); });
    t.join();
    CHECK(in_new_thread.empty(), "a thread without failures sees \"\" (saw \"%s\")", in_new_thread.c_str());
    n4j_matmul(nullptr, nullptr, 0, 0, nullptr, nullptr, 0, 0);
    const std::string here = n4j_last_error();
    std::string other;
    std::thread t2([&] {
        n4j_alloc(nullptr, 0, nullptr);
        other = n4j_last_error();
    });
    t2.join();
    CHECK(here.find("n4j_matmul") == 0 && other.find("n4j_alloc") == 0 && here == n4j_last_error(),
          "errors are per thread (%s / %s)", here.c_str(), other.c_str());
}

/* The real shared library through dlopen: exported entry points work (static C++ runtime inside). */
void test_shared_library() {
    void* lib = dlopen(N4J_SHARED_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    CHECK(lib != nullptr, "dlopen %s: %s", N4J_SHARED_LIBRARY, lib ? "" : dlerror());
    if (lib == nullptr) return;
    auto abi = reinterpret_cast<int32_t (*)(void)>(dlsym(lib, "n4j_abi_version"));
    auto create = reinterpret_cast<int32_t (*)(const n4j_backend_options*, n4j_backend**)>(dlsym(lib, "n4j_backend_create"));
    auto destroy = reinterpret_cast<int32_t (*)(n4j_backend*)>(dlsym(lib, "n4j_backend_destroy"));
    auto matmul = reinterpret_cast<decltype(&n4j_matmul)>(dlsym(lib, "n4j_matmul"));
    auto last_error = reinterpret_cast<const char* (*)(void)>(dlsym(lib, "n4j_last_error"));
    CHECK(abi && create && destroy && matmul && last_error, "entry points resolve");
    CHECK(dlsym(lib, "_ZN3n4j9set_errorEiPKcz") == nullptr && dlsym(lib, "_ZN3n4j3cpu10matmul_refEPKfliPK10n4j_weightPfli") == nullptr,
          "internal symbols are hidden");
    if (!(abi && create && destroy && matmul && last_error)) return;
    CHECK(abi() == N4J_ABI_VERSION, "abi version through dlopen");
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = N4J_BACKEND_CPU;
    n4j_backend* b = nullptr;
    CHECK(create(&o, &b) == N4J_OK, "create through dlopen");
    const float x[3] = {1, 2, 3}, w[6] = {1, 0, 0, 0, 1, 1};
    float y[2] = {0, 0};
    n4j_weight wt = make_weight(w, N4J_DTYPE_F32, 2, 3);
    CHECK(matmul(b, x, 3, 1, &wt, y, 2, 0) == N4J_OK && y[0] == 1.0f && y[1] == 5.0f, "matmul through dlopen");
    CHECK(matmul(b, x, 2, 1, &wt, y, 2, 0) == N4J_ERR_INVALID_ARGUMENT && strstr(last_error(), "ld_x") != nullptr,
          "errors through dlopen: %s", last_error());
    CHECK(destroy(b) == N4J_OK, "destroy through dlopen");
    // Not closed: the library may keep worker threads of other backends alive in bigger programs.
}

void test_plugin() {
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = N4J_BACKEND_CUDA;
    n4j_backend* b = nullptr;
    setenv("N4J_CUDA_LIBRARY", N4J_FAKE_PLUGIN_OLD, 1);
    CHECK(n4j_backend_create(&o, &b) == N4J_ERR_UNSUPPORTED && strstr(n4j_last_error(), "another backend interface"),
          "an old plug-in is refused: %s", n4j_last_error());
    setenv("N4J_CUDA_LIBRARY", N4J_FAKE_PLUGIN, 1);
    CHECK_OK(n4j_backend_create(&o, &b));
    unsetenv("N4J_CUDA_LIBRARY");
    if (b == nullptr) return;
    void* p = nullptr;
    CHECK_OK(n4j_alloc(b, 4096, &p));
    CHECK(allocated(b) == 4096, "plug-in allocations are counted");
    rng r(5);
    const std::vector<float> x = r.vec(3 * 40);
    weight_buffer w = make_random_weight(r, N4J_DTYPE_BF16, 7, 40, -1.0f, 1.0f);
    std::vector<float> y_plugin(3 * 7), y_cpu(3 * 7);
    CHECK_OK(n4j_matmul(b, x.data(), 40, 3, &w.w, y_plugin.data(), 7, 0));
    n4j_backend* cpu = make_cpu_backend(1, true, 0);
    CHECK_OK(n4j_matmul(cpu, x.data(), 40, 3, &w.w, y_cpu.data(), 7, 0));
    CHECK(bitwise_equal(y_plugin, y_cpu), "kernels dispatch through the plug-in's table");
    // Device memory is not host-readable: the dispatch layer leaves the id range check to the backend.
    CHECK(b->ops->memory_is_host == 0, "plug-in memory is not host memory");
    int32_t ids[2] = {0, 6};
    std::vector<float> out(2 * 40);
    CHECK_OK(n4j_embedding(b, &w.w, ids, 2, out.data(), 40));
    CHECK_OK(n4j_free(b, p));
    CHECK(allocated(b) == 0, "plug-in free");
    CHECK_OK(n4j_backend_destroy(b));
    n4j_backend_destroy(cpu);
}

}  // namespace

/* The step contract is kept by the dispatch layer on every backend, so CPU tests catch what CUDA would refuse. */
void test_steps(n4j_backend* b) {
    int64_t stats[N4J_STEP_STATS] = {-1, -1, -1, -1, -1};
    CHECK_OK(n4j_step_stats(b, stats));
    CHECK(stats[0] == 0 && stats[1] == 0 && stats[2] == 0 && stats[3] == 0 && stats[4] == 0,
          "a new backend has run no step");
    CHECK(n4j_step_end(b) == N4J_ERR_INVALID_ARGUMENT, "step_end without a step");
    CHECK(strstr(n4j_last_error(), "no decode step is open") != nullptr, "names the problem: %s", n4j_last_error());
    CHECK(n4j_step_begin(b, 1, 0, 0) == N4J_ERR_INVALID_ARGUMENT, "max_context 0 is refused");
    CHECK(n4j_step_begin(b, 1, 16, 2) == N4J_ERR_INVALID_ARGUMENT, "unknown step flags are refused");
    CHECK(strstr(n4j_last_error(), "flags") != nullptr, "names the flags: %s", n4j_last_error());
    CHECK(n4j_step_stats(b, nullptr) == N4J_ERR_INVALID_ARGUMENT, "stats into NULL");

    void* dev = nullptr;
    CHECK_OK(n4j_alloc(b, N4J_STEP_COPY_LIMIT + 64, &dev));
    std::vector<uint8_t> host(N4J_STEP_COPY_LIMIT + 64, 7);
    CHECK_OK(n4j_step_begin(b, 3, 64, 0));
    CHECK(n4j_step_begin(b, 3, 64, 0) == N4J_ERR_INVALID_ARGUMENT, "steps do not nest");
    CHECK(strstr(n4j_last_error(), "already open") != nullptr, "names the problem: %s", n4j_last_error());
    CHECK_OK(n4j_copy(b, dev, host.data(), N4J_STEP_COPY_LIMIT, N4J_COPY_HOST_TO_BACKEND));
    CHECK(n4j_copy(b, dev, host.data(), N4J_STEP_COPY_LIMIT + 1, N4J_COPY_HOST_TO_BACKEND) == N4J_ERR_INVALID_ARGUMENT,
          "a large host-to-backend copy is refused in a step");
    CHECK(n4j_copy(b, host.data(), dev, 16, N4J_COPY_BACKEND_TO_HOST) == N4J_ERR_INVALID_ARGUMENT,
          "a backend-to-host copy is refused in a step");
    CHECK(strstr(n4j_last_error(), "inside a decode step") != nullptr, "says why: %s", n4j_last_error());
    CHECK(n4j_backend_synchronize(b) == N4J_ERR_INVALID_ARGUMENT, "synchronize is refused in a step");
    void* more = nullptr;
    CHECK(n4j_alloc(b, 64, &more) == N4J_ERR_INVALID_ARGUMENT && more == nullptr, "alloc is refused in a step");
    CHECK(n4j_free(b, dev) == N4J_ERR_INVALID_ARGUMENT, "free is refused in a step");
    CHECK_OK(n4j_copy(b, static_cast<char*>(dev) + 64, dev, 64, N4J_COPY_BACKEND_TO_BACKEND));
    CHECK_OK(n4j_step_end(b));
    CHECK_OK(n4j_step_begin(b, 3, 64, N4J_STEP_EAGER));
    CHECK_OK(n4j_step_end(b));
    CHECK_OK(n4j_step_stats(b, stats));
    CHECK(stats[0] == 2 && stats[1] == 0 && stats[2] == 0, "the CPU runs its steps eagerly (%lld)",
          static_cast<long long>(stats[0]));
    // outside a step everything works again
    CHECK_OK(n4j_copy(b, host.data(), dev, 16, N4J_COPY_BACKEND_TO_HOST));
    CHECK(host[0] == 7, "the copies inside the step ran");
    CHECK_OK(n4j_backend_synchronize(b));
    CHECK_OK(n4j_free(b, dev));
    // a step left open is closed by destroy (the caller destroys b next)
    CHECK_OK(n4j_step_begin(b, 4, 64, 0));
}

/* The thread pool hands every task of every job out exactly once and run() returns only when all have finished,
 * whatever the thread count, the job sizes (0, 1, many) and the timing (tasks that sleep on the workers, jobs back to
 * back so that late workers meet the next job's counter). */
void test_thread_pool() {
    for (int threads = 1; threads <= 4; ++threads) {
        n4j::cpu::thread_pool pool(threads);
        std::vector<std::atomic<int>> hits(512);
        uint32_t seed = 12345u + static_cast<uint32_t>(threads);
        int64_t bad = 0, total = 0;
        for (int job = 0; job < 3000; ++job) {
            seed = seed * 1664525u + 1013904223u;
            const int64_t n = job % 7 == 0 ? (job % 3) : static_cast<int64_t>(seed >> 23);  // 0..511
            for (int64_t i = 0; i < n; ++i) hits[static_cast<size_t>(i)].store(0, std::memory_order_relaxed);
            const bool slow = job % 97 == 0;
            std::atomic<int64_t> ran{0};
            auto task = [&](int64_t i, int thread) {
                if (slow && thread != 0 && i % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
                hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
                ran.fetch_add(1, std::memory_order_relaxed);
                if (thread < 0 || thread >= threads) ran.fetch_add(1 << 20, std::memory_order_relaxed);
            };
            n4j::cpu::parallel_for(pool, n, task);
            // every task exactly once, all finished when run() returned, thread indices in range
            for (int64_t i = 0; i < n; ++i) bad += hits[static_cast<size_t>(i)].load(std::memory_order_relaxed) != 1;
            bad += ran.load() != n;
            total += n;
        }
        CHECK(bad == 0, "thread pool: every task once, finished before run() returns (threads=%d, %lld wrong of %lld)",
              threads, static_cast<long long>(bad), static_cast<long long>(total));
    }
}

int main() {
    test_thread_pool();
    test_last_error_is_thread_local();
    test_version_and_layout();
    for (bool reference : {true, false}) {
        n4j_backend* b = make_cpu_backend(2, reference, n4j::cpu::best_simd_level());
        test_memory(b);
        test_steps(b);
        CHECK_OK(n4j_backend_destroy(b));
    }
    test_info();
    test_shared_library();
    test_plugin();
    return finish("test_api");
}
