/*
 * bench_kernels.cpp: timings of the CPU kernels on model-sized shapes (not a test; `build/native/native/tests/
 * bench_kernels [threads]`). Shapes follow bench-medium (hidden 2048, MLP 7168, 64 Mamba heads of 40, 8 groups,
 * state 128, chunk 128, 16 query / 4 KV heads of 128) and Nemotron-Nano-9B-v2 (hidden 4480, MLP 15680, 128 heads
 * of 80). Reports the median of several runs with GB/s (weights streamed) or GFLOP/s.
 */
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <functional>

#include "test_common.h"

using namespace test;

namespace {

/* Wall time by default; with N4J_BENCH_CPU_TIME=1 the calling thread's CPU time (meaningful with 1 thread on a
 * busy machine, where wall time mostly measures other processes). */
double now_seconds() {
    static const bool cpu_time = getenv("N4J_BENCH_CPU_TIME") != nullptr;
    timespec ts;
    clock_gettime(cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median_seconds(int runs, const std::function<void()>& f) {
    f();  // warm up (scratch buffers, page faults)
    std::vector<double> t;
    for (int i = 0; i < runs; ++i) {
        const double t0 = now_seconds();
        f();
        t.push_back(now_seconds() - t0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

void bench_matmul(n4j_backend* b, const char* label, int32_t dtype, int32_t rows, int32_t K, int32_t O, int runs) {
    rng r(1);
    weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, dtype == N4J_DTYPE_F8_E4M3 ? 0.5f : 1.0f);
    const std::vector<float> x = r.vec(static_cast<size_t>(rows) * K);
    std::vector<float> y(static_cast<size_t>(rows) * O);
    const double s = median_seconds(runs, [&] { n4j_matmul(b, x.data(), K, rows, &w.w, y.data(), O, 0); });
    const double bytes = static_cast<double>(w.bytes.size());
    const double flops = 2.0 * rows * static_cast<double>(K) * O;
    printf("  matmul %-28s %-5s rows=%-4d %5dx%-5d %8.3f ms  %6.1f GB/s  %7.1f GFLOP/s\n", label, dtype_label(dtype),
           rows, O, K, s * 1e3, bytes / s * 1e-9, flops / s * 1e-9);
}

void bench_scan(n4j_backend* b, const char* label, int32_t H, int32_t P, int32_t G, int32_t N, int32_t L, int32_t T) {
    rng r(2);
    n4j_ssm_dims d;
    memset(&d, 0, sizeof(d));
    d.heads = H;
    d.head_dim = P;
    d.groups = G;
    d.state_dim = N;
    d.chunk_size = L;
    const std::vector<float> x = r.vec(static_cast<size_t>(T) * H * P), B = r.vec(static_cast<size_t>(T) * G * N),
                             C = r.vec(static_cast<size_t>(T) * G * N), dt = r.vec(static_cast<size_t>(T) * H, -4, 0);
    std::vector<float> y(x.size()), state(static_cast<size_t>(H) * P * N, 0.0f);
    weight_buffer bias = make_random_weight(r, N4J_DTYPE_F32, H, 1, -1, 0), alog = make_random_weight(r, N4J_DTYPE_F32, H, 1, 0, 2),
                  Dw = make_random_weight(r, N4J_DTYPE_F32, H, 1, -1, 1);
    const double s = median_seconds(5, [&] {
        n4j_ssd_chunk_scan(b, &d, T, x.data(), H * P, B.data(), G * N, C.data(), G * N, dt.data(), H, &bias.w, &alog.w,
                           &Dw.w, state.data(), y.data(), H * P);
    });
    printf("  ssd_chunk_scan %-20s T=%-5d %8.3f ms  %8.1f us/token\n", label, T, s * 1e3, s * 1e6 / T);
    std::vector<float*> states(1, state.data());
    const double sd = median_seconds(20, [&] {
        n4j_ssm_decode(b, &d, 1, x.data(), H * P, B.data(), G * N, C.data(), G * N, dt.data(), H, &bias.w, &alog.w,
                       &Dw.w, states.data(), y.data(), H * P);
    });
    printf("  ssm_decode %-24s       %8.3f ms  %6.1f GB/s (state read+write)\n", label, sd * 1e3,
           2.0 * state.size() * 4 / sd * 1e-9);
}

void bench_attention(n4j_backend* b, const char* label, int32_t H, int32_t KVH, int32_t D, int32_t T, int32_t ctx) {
    rng r(3);
    n4j_attn_dims d;
    d.heads = H;
    d.kv_heads = KVH;
    d.head_dim = D;
    d.scale = 1.0f / sqrtf(static_cast<float>(D));
    const int32_t bt = 256;
    const int32_t n_blocks = (ctx + T + bt) / bt;
    std::vector<std::vector<uint16_t>> kb(n_blocks, std::vector<uint16_t>(static_cast<size_t>(bt) * KVH * D)),
        vb = kb;
    std::vector<void*> kp, vp;
    for (int32_t i = 0; i < n_blocks; ++i) {
        kp.push_back(kb[i].data());
        vp.push_back(vb[i].data());
    }
    n4j_kv_cache c;
    c.k_blocks = kp.data();
    c.v_blocks = vp.data();
    c.n_blocks = n_blocks;
    c.block_tokens = bt;
    c.length = ctx;
    c.dtype = N4J_DTYPE_BF16;
    const std::vector<float> q = r.vec(static_cast<size_t>(T) * H * D), kv = r.vec(static_cast<size_t>(T) * KVH * D);
    std::vector<float> out(q.size());
    const double s = median_seconds(5, [&] {
        n4j_attention_prefill(b, &d, T, q.data(), H * D, kv.data(), KVH * D, kv.data(), KVH * D, &c, out.data(), H * D);
    });
    const double flops = 4.0 * H * D * (static_cast<double>(T) * ctx + 0.5 * T * T);
    printf("  attention_prefill %-17s T=%-4d ctx=%-5d %8.3f ms  %6.1f GFLOP/s\n", label, T, ctx, s * 1e3, flops / s * 1e-9);
    c.length = ctx + T - 1;
    const double sd = median_seconds(20, [&] {
        n4j_attention_decode(b, &d, 1, q.data(), H * D, kv.data(), KVH * D, kv.data(), KVH * D, &c, out.data(), H * D);
    });
    printf("  attention_decode %-18s ctx=%-5d        %8.3f ms  %6.1f GB/s (bf16 KV)\n", label, ctx + T, sd * 1e3,
           2.0 * (ctx + T) * KVH * D * 2 / sd * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 0;
    const bool reference = argc > 2 && strcmp(argv[2], "ref") == 0;
    // The SIMD level: the best this CPU has, capped by N4J_CPU_SIMD as the library does.
    n4j::cpu::simd_level level = n4j::cpu::best_simd_level();
    char level_error[160];
    if (!n4j::cpu::configured_simd_level(&level, level_error, sizeof(level_error))) {
        fprintf(stderr, "%s\n", level_error);
        return 2;
    }
    n4j_backend* b = make_cpu_backend(threads, reference, level);
    // N4J_BENCH_BF16_MATMUL=1: the BF16 dot-product matmul (fast precision) where the CPU has it.
    if (getenv("N4J_BENCH_BF16_MATMUL") != nullptr && !reference) n4j::cpu::cpu_context_of(b)->bf16_matmul = true;
    n4j_backend_info info;
    n4j_backend_get_info(b, &info);
    printf("backend: %s\n", info.name);
    // Decode: one row, weights far larger than the caches (memory bound).
    bench_matmul(b, "9B up_proj (decode)", N4J_DTYPE_BF16, 1, 4480, 15680, 10);
    bench_matmul(b, "9B up_proj (decode)", N4J_DTYPE_F8_E4M3, 1, 4480, 15680, 10);
    bench_matmul(b, "9B up_proj (decode)", N4J_DTYPE_F32, 1, 4480, 15680, 10);
    bench_matmul(b, "9B up_proj (batch 4)", N4J_DTYPE_BF16, 4, 4480, 15680, 10);
    bench_matmul(b, "medium lm_head (decode)", N4J_DTYPE_BF16, 1, 2048, 32000, 10);
    // Prefill: many rows (compute bound).
    bench_matmul(b, "medium up_proj (prefill chunk)", N4J_DTYPE_BF16, 256, 2048, 7168, 3);
    bench_matmul(b, "medium down_proj (prefill chunk)", N4J_DTYPE_BF16, 256, 7168, 2048, 3);
    bench_matmul(b, "medium up_proj (prefill)", N4J_DTYPE_BF16, 512, 2048, 7168, 3);
    bench_matmul(b, "medium up_proj (prefill)", N4J_DTYPE_F8_E4M3, 512, 2048, 7168, 3);
    bench_matmul(b, "medium in_proj (prefill)", N4J_DTYPE_BF16, 512, 2048, 7232, 3);
    bench_scan(b, "medium", 64, 40, 8, 128, 128, 512);
    bench_scan(b, "9B", 128, 80, 8, 128, 128, 512);
    bench_attention(b, "medium", 16, 4, 128, 512, 0);
    bench_attention(b, "medium", 16, 4, 128, 1, 4095);
    n4j_backend_destroy(b);
    return 0;
}
