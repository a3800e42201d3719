/*
 * bench_kernels.cpp: timings of the CPU kernels on model-sized shapes (not a test; `build/native/native/tests/
 * bench_kernels [threads]`). Shapes follow bench-medium (hidden 2048, MLP 7168, 64 Mamba heads of 40, 8 groups,
 * state 128, chunk 128, 16 query / 4 KV heads of 128) and Nemotron-Nano-9B-v2 (hidden 4480, MLP 15680, 128 heads
 * of 80). Reports the median of several runs with GB/s (weights streamed) or GFLOP/s.
 *
 * The machine's ceilings come first, measured here: the instruction peaks of one thread (VDPBF16PS where the CPU
 * has AVX512-BF16, the AVX-512 and AVX2 FMA), each an in-register loop of independent accumulators (16 zmm, 12 ymm;
 * no memory operand, enough chains to cover the latency), and the read bandwidth of 1 and of `threads` threads summing a
 * 256 MiB buffer. Each matmul line then gives its fraction of the matching peak times the backend's thread count
 * (the VDPBF16PS peak for the BF16 dot-product matmul, N4J_BENCH_BF16_MATMUL=1 over BF16/FP8 weights; otherwise the
 * FMA peak of the F32 matmul kernels' width: AVX-512 at the AVX512-BF16 level, else AVX2), and decode attention its
 * fraction of the read bandwidth.
 * Peaks count 2 FLOPs per multiply-add: 64 per VDPBF16PS on a zmm (16 lanes x 2 bf16 pairs), 32 per zmm FMA, 16
 * per ymm FMA. Wall-clock figures move with the other tenants of a shared machine; the ceilings are the best of
 * several runs.
 */
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define N4J_BENCH_X86 1
#endif

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

/* ---- instruction peaks --------------------------------------------------------------------------------------- */

/* Whether this CPU really executes AVX512-BF16 (cpu_has_avx512_bf16() is also true on an emulated build, where the
 * library models the instruction in scalar code and the peak loop below would not run). */
[[maybe_unused]] bool real_avx512_bf16() {
#if defined(N4J_BENCH_X86)
    __builtin_cpu_init();
    return n4j::cpu::cpu_has_avx512_bf16() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

[[maybe_unused]] bool real_avx512f() {
#if defined(N4J_BENCH_X86)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

bool real_avx2_fma() {
#if defined(N4J_BENCH_X86)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

#define N4J_REPEAT12(S) S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
#define N4J_REPEAT16(S) S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)

#if defined(N4J_BENCH_X86)
/* `iters` x 16 independent VDPBF16PS on zmm registers; returns a sum of the accumulators so none is dead. */
__attribute__((target("avx512f,avx512bf16"), noinline)) float vdpbf16ps_loop(int64_t iters) {
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0f), _mm512_set1_ps(1.0f));
    const __m512bh c = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-9f), _mm512_set1_ps(1e-9f));
    // distinct initial values: identical chains would be merged into one by the compiler
#define N4J_DECL(i) __m512 acc##i = _mm512_set1_ps(static_cast<float>(i));
    N4J_REPEAT16(N4J_DECL)
#undef N4J_DECL
    for (int64_t n = 0; n < iters; ++n) {
#define N4J_STEP(i) acc##i = _mm512_dpbf16_ps(acc##i, a, c);
        N4J_REPEAT16(N4J_STEP)
#undef N4J_STEP
        __asm__ volatile("" ::: "memory");
    }
    __m512 s = _mm512_setzero_ps();
#define N4J_SUM(i) s = _mm512_add_ps(s, acc##i);
    N4J_REPEAT16(N4J_SUM)
#undef N4J_SUM
    return _mm512_reduce_add_ps(s);
}

/* `iters` x 16 independent FMAs on zmm registers. */
__attribute__((target("avx512f"), noinline)) float fma512_loop(int64_t iters) {
    const __m512 a = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-9f);
#define N4J_DECL(i) __m512 acc##i = _mm512_set1_ps(static_cast<float>(i));
    N4J_REPEAT16(N4J_DECL)
#undef N4J_DECL
    for (int64_t n = 0; n < iters; ++n) {
#define N4J_STEP(i) acc##i = _mm512_fmadd_ps(acc##i, a, c);
        N4J_REPEAT16(N4J_STEP)
#undef N4J_STEP
        __asm__ volatile("" ::: "memory");
    }
    __m512 s = _mm512_setzero_ps();
#define N4J_SUM(i) s = _mm512_add_ps(s, acc##i);
    N4J_REPEAT16(N4J_SUM)
#undef N4J_SUM
    return _mm512_reduce_add_ps(s);
}

/* `iters` x 12 independent FMAs on ymm registers (AVX2 has 16 of them: 12 accumulators and the 2 operands). */
__attribute__((target("avx2,fma"), noinline)) float fma256_loop(int64_t iters) {
    const __m256 a = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-9f);
#define N4J_DECL(i) __m256 acc##i = _mm256_set1_ps(static_cast<float>(i));
    N4J_REPEAT12(N4J_DECL)
#undef N4J_DECL
    for (int64_t n = 0; n < iters; ++n) {
#define N4J_STEP(i) acc##i = _mm256_fmadd_ps(acc##i, a, c);
        N4J_REPEAT12(N4J_STEP)
#undef N4J_STEP
        __asm__ volatile("" ::: "memory");
    }
    __m256 s = _mm256_setzero_ps();
#define N4J_SUM(i) s = _mm256_add_ps(s, acc##i);
    N4J_REPEAT12(N4J_SUM)
#undef N4J_SUM
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}
#endif

volatile float g_sink;

/* FLOP/s of `loop` (`per_iter` instructions of `flops_per_instr` per iteration): the best of 5 runs of ~0.1 s each, on one
 * thread, or on `threads` threads at once (their total). */
[[maybe_unused]] double peak_flops(float (*loop)(int64_t), int per_iter, double flops_per_instr, int threads) {
    const int64_t iters = 20000000;
    double best = 0;
    for (int run = 0; run < 5; ++run) {
        std::vector<std::thread> pool;
        std::atomic<float> sink{0};
        const double t0 = now_seconds();
        for (int t = 0; t < threads; ++t) pool.emplace_back([&] { sink = sink + loop(iters); });
        for (std::thread& t : pool) t.join();
        const double s = now_seconds() - t0;
        g_sink = sink;
        best = std::max(best, threads * per_iter * flops_per_instr * static_cast<double>(iters) / s);
    }
    return best;
}

/* ---- read bandwidth ------------------------------------------------------------------------------------------- */

#if defined(N4J_BENCH_X86)
__attribute__((target("avx2"), noinline)) uint64_t read_sum_avx2(const uint8_t* p, size_t bytes) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i + 128 <= bytes; i += 128) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
        s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
        s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

uint64_t read_sum(const uint8_t* p, size_t bytes) {
#if defined(N4J_BENCH_X86)
    if (real_avx2_fma()) return read_sum_avx2(p, bytes);
#endif
    const uint64_t* q = reinterpret_cast<const uint64_t*>(p);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= bytes / 8; i += 4) {
        s0 += q[i];
        s1 += q[i + 1];
        s2 += q[i + 2];
        s3 += q[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

volatile uint64_t g_read_sink;

/* Bytes/s of `threads` threads each reading (summing) its slice of a 256 MiB buffer: the best of 10 runs. */
double read_bandwidth(int threads) {
    const size_t bytes = size_t{256} << 20;
    uint8_t* buf = static_cast<uint8_t*>(aligned_alloc(64, bytes));
    memset(buf, 1, bytes);
    const size_t slice = (bytes / threads) & ~size_t{127};
    double best = 0;
    for (int run = 0; run < 10; ++run) {
        std::vector<std::thread> pool;
        std::atomic<uint64_t> sink{0};
        const double t0 = now_seconds();
        for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink += read_sum(buf + t * slice, slice); });
        for (std::thread& t : pool) t.join();
        const double s = now_seconds() - t0;
        g_read_sink = sink;
        best = std::max(best, static_cast<double>(slice) * threads / s);
    }
    free(buf);
    return best;
}

/* What the matmul and attention lines are compared with. */
struct ceilings {
    int threads = 1;
    bool bf16_matmul = false;         // N4J_BENCH_BF16_MATMUL=1 at SIMD_AVX512_BF16
    bool bf16_dot_by_fma = false;     // ... with the dot products as F32 FMAs (N4J_CPU_BF16_DOT, Intel's default)
    double vdpbf16ps = 0;             // FLOP/s of one thread; 0 where not measured
    double fma_avx2 = 0;
    double fma_avx512 = 0;            // measured where the CPU has AVX-512
    bool f32_avx512 = false;          // the exact F32 prefill runs AVX-512 tiles (SIMD_AVX512_BF16)
    double read_bytes_per_second = 0;  // `threads` threads
};

ceilings g_ceilings;

/* " 63% of vdpbf16ps peak x 2" for a matmul over `dtype` weights at `flops_per_second`, or "" with no peak. */
std::string matmul_fraction(int32_t dtype, double bytes_per_second, double flops_per_second) {
    char r[48] = "";
    if (g_ceilings.read_bytes_per_second > 0) {
        snprintf(r, sizeof(r), "  %5.1f%% of read", 100 * bytes_per_second / g_ceilings.read_bytes_per_second);
    }
    // the BF16 dot products by VDPBF16PS, or as F32 FMAs (context::bf16_dot_by_fma), held to that instruction's peak
    const bool dot = g_ceilings.bf16_matmul && !g_ceilings.bf16_dot_by_fma &&
                     (dtype == N4J_DTYPE_BF16 || dtype == N4J_DTYPE_F8_E4M3);
    const bool wide = !dot && g_ceilings.f32_avx512 && g_ceilings.fma_avx512 > 0;
    const double peak = (dot ? g_ceilings.vdpbf16ps : wide ? g_ceilings.fma_avx512 : g_ceilings.fma_avx2) *
                        g_ceilings.threads;
    // integer kernels: no float peak
    if (peak <= 0 || dtype == N4J_DTYPE_Q8 || dtype == N4J_DTYPE_Q4 || dtype == N4J_DTYPE_Q6) return r;
    char s[96];
    snprintf(s, sizeof(s), "%s  %5.1f%% of %s peak x %d", r, 100 * flops_per_second / peak,
             dot ? "vdpbf16ps" : wide ? "avx-512 fma" : "avx2 fma", g_ceilings.threads);
    return s;
}

void bench_matmul(n4j_backend* b, const char* label, int32_t dtype, int32_t rows, int32_t K, int32_t O, int runs,
                  float input_scale = 0.0f) {
    rng r(1);
    weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, dtype == N4J_DTYPE_F8_E4M3 ? 0.5f : 1.0f);
    w.w.input_scale = input_scale;
    const std::vector<float> x = r.vec(static_cast<size_t>(rows) * K);
    std::vector<float> y(static_cast<size_t>(rows) * O);
    const double s = median_seconds(runs, [&] { n4j_matmul(b, x.data(), K, rows, &w.w, y.data(), O, 0); });
    const double bytes = static_cast<double>(w.bytes.size());
    const double flops = 2.0 * rows * static_cast<double>(K) * O;
    printf("  matmul %-28s %-5s rows=%-4d %5dx%-5d %8.3f ms  %6.1f GB/s  %7.1f GFLOP/s%s\n", label,
           dtype_label(dtype), rows, O, K, s * 1e3, bytes / s * 1e-9, flops / s * 1e-9,
           matmul_fraction(dtype, bytes / s, flops / s).c_str());
}

/*
 * The matmuls of one decoded bench-medium token (one row through every Linear weight but the embedding, in model
 * order: 10 Mamba in_proj/out_proj, 10 MLP up/down, 3 attention q/k/v/o, lm_head), weights of `big` (q4: in_proj
 * and the MLP) and `small` dtypes (the rest), as q4's default policy `mixed` stores them. 0.6-1.2 GB of weights: far
 * beyond the caches, as in a real decode, where every op starts on cold weights.
 */
void bench_decode_matmuls(n4j_backend* b, const char* label, int32_t big, int32_t small) {
    struct lin {
        int32_t dtype, O, K;
    };
    std::vector<lin> seq;
    const char* pattern = "M-M-M*-M-M-M*-M-M-M*-M-";
    for (const char* c = pattern; *c; ++c) {
        if (*c == 'M') {
            seq.push_back({big, 7232, 2048});
            seq.push_back({small, 2048, 2560});
        } else if (*c == '-') {
            seq.push_back({big, 7168, 2048});
            seq.push_back({big, 2048, 7168});
        } else {
            seq.push_back({small, 2048, 2048});
            seq.push_back({small, 512, 2048});
            seq.push_back({small, 512, 2048});
            seq.push_back({small, 2048, 2048});
        }
    }
    seq.push_back({small, 32000, 2048});
    rng r(5);
    std::vector<weight_buffer> ws;
    double bytes = 0;
    for (const lin& l : seq) {
        ws.push_back(make_random_weight(r, l.dtype, l.O, l.K, -1.0f, 1.0f));
        bytes += static_cast<double>(ws.back().bytes.size());
    }
    const std::vector<float> x = r.vec(7168);
    std::vector<float> y(32000);
    const double s = median_seconds(7, [&] {
        for (const weight_buffer& w : ws) n4j_matmul(b, x.data(), w.w.cols, 1, &w.w, y.data(), w.w.rows, 0);
    });
    char frac[48] = "";
    if (g_ceilings.read_bytes_per_second > 0) {
        snprintf(frac, sizeof(frac), "  %5.1f%% of read", 100 * bytes / s / g_ceilings.read_bytes_per_second);
    }
    printf("  decode matmuls %-24s %zu calls, %6.1f MB %8.3f ms/token  %6.1f GB/s%s\n", label, seq.size(), bytes * 1e-6,
           s * 1e3, bytes / s * 1e-9, frac);
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

/* One decode step of one sequence over `positions` positions of a BF16 KV cache (the new token's K/V written at
 * position positions-1): GB/s of the K and V rows read, and their fraction of the read bandwidth. The caches are
 * replicated up to 256 MiB and cycled through, so they come from DRAM as across a model's layers. */
void bench_attention_decode(n4j_backend* b, const char* label, int32_t H, int32_t KVH, int32_t D, int32_t positions) {
    rng r(4);
    n4j_attn_dims d;
    d.heads = H;
    d.kv_heads = KVH;
    d.head_dim = D;
    d.scale = 1.0f / sqrtf(static_cast<float>(D));
    const int32_t bt = 256;
    const int32_t n_blocks = (positions + bt - 1) / bt;
    const size_t block_elems = static_cast<size_t>(bt) * KVH * D;
    const double kv_bytes = 2.0 * positions * KVH * D * 2;
    const int replicas = std::max(1, static_cast<int>(ceil(256.0 * 1048576.0 / kv_bytes)));
    std::vector<std::vector<uint16_t>> blocks;
    std::vector<std::vector<void*>> kp(replicas), vp(replicas);
    std::vector<n4j_kv_cache> caches(replicas);
    blocks.reserve(static_cast<size_t>(replicas) * n_blocks * 2);
    for (int i = 0; i < replicas; ++i) {
        for (int32_t j = 0; j < n_blocks; ++j) {
            blocks.emplace_back(block_elems);
            for (uint16_t& e : blocks.back()) e = n4j::cpu::f32_to_bf16(r.uniform(-1, 1));
            kp[i].push_back(blocks.back().data());
            blocks.emplace_back(block_elems);
            for (uint16_t& e : blocks.back()) e = n4j::cpu::f32_to_bf16(r.uniform(-1, 1));
            vp[i].push_back(blocks.back().data());
        }
        caches[i].k_blocks = kp[i].data();
        caches[i].v_blocks = vp[i].data();
        caches[i].n_blocks = n_blocks;
        caches[i].block_tokens = bt;
        caches[i].length = positions - 1;
        caches[i].dtype = N4J_DTYPE_BF16;
    }
    const std::vector<float> q = r.vec(static_cast<size_t>(H) * D), kv = r.vec(static_cast<size_t>(KVH) * D);
    std::vector<float> out(q.size());
    int next = 0;
    const double s = median_seconds(std::max(20, 2 * replicas), [&] {
        n4j_attention_decode(b, &d, 1, q.data(), H * D, kv.data(), KVH * D, kv.data(), KVH * D, &caches[next],
                             out.data(), H * D);
        next = next + 1 == replicas ? 0 : next + 1;
    });
    char frac[48] = "";
    if (g_ceilings.read_bytes_per_second > 0) {
        snprintf(frac, sizeof(frac), "  %5.1f%% of read", 100 * kv_bytes / s / g_ceilings.read_bytes_per_second);
    }
    printf("  attention_decode %-18s pos=%-6d       %8.3f ms  %6.1f GB/s (bf16 KV)%s\n", label, positions, s * 1e3,
           kv_bytes / s * 1e-9, frac);
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
    // The ceilings: instruction peaks of one thread and of all of them at once, read bandwidth.
    g_ceilings.threads = info.threads;
    g_ceilings.bf16_matmul = n4j::cpu::cpu_context_of(b)->bf16_matmul && level >= n4j::cpu::SIMD_AVX512_BF16;
    g_ceilings.f32_avx512 = level >= n4j::cpu::SIMD_AVX512_BF16;
    g_ceilings.bf16_dot_by_fma = g_ceilings.bf16_matmul && n4j::cpu::cpu_context_of(b)->bf16_dot_by_fma;
#if defined(N4J_BENCH_X86)
    struct peak_spec {
        const char* name;
        bool present;
        float (*loop)(int64_t);
        int per_iter;
        double flops_per_instr;
        double* keep;
    } peaks[] = {
        {"vdpbf16ps zmm", real_avx512_bf16(), vdpbf16ps_loop, 16, 64, &g_ceilings.vdpbf16ps},
        {"fma zmm (avx-512)", real_avx512f(), fma512_loop, 16, 32, &g_ceilings.fma_avx512},
        {"fma ymm (avx2)", real_avx2_fma(), fma256_loop, 12, 16, &g_ceilings.fma_avx2},
    };
    for (const peak_spec& p : peaks) {
        if (!p.present) {
            printf("peak %-18s  not on this CPU\n", p.name);
            continue;
        }
        const double one = peak_flops(p.loop, p.per_iter, p.flops_per_instr, 1);
        const double all = peak_flops(p.loop, p.per_iter, p.flops_per_instr, info.threads);
        printf("peak %-18s  %7.1f GFLOP/s per thread, %7.1f GFLOP/s on %d threads (x %d: %7.1f)\n", p.name,
               one * 1e-9, all * 1e-9, info.threads, info.threads, one * info.threads * 1e-9);
        if (p.keep != nullptr) *p.keep = one;
    }
#endif
    const double read1 = read_bandwidth(1);
    g_ceilings.read_bytes_per_second = read_bandwidth(info.threads);
    printf("read bandwidth (256 MiB)  %6.1f GB/s on 1 thread, %6.1f GB/s on %d threads\n", read1 * 1e-9,
           g_ceilings.read_bytes_per_second * 1e-9, info.threads);
    printf("matmul: %s; fractions of the %s peak x threads and of the %d-thread read bandwidth\n",
           !g_ceilings.bf16_matmul       ? "f32 activations (exact)"
           : g_ceilings.bf16_dot_by_fma ? "bf16 dot products as f32 fmas (fast, N4J_CPU_BF16_DOT=fma)"
                                        : "bf16 dot products (fast)",
           g_ceilings.bf16_matmul && !g_ceilings.bf16_dot_by_fma ? "vdpbf16ps (bf16/fp8 weights) or f32 fma (f32)"
           : g_ceilings.f32_avx512                               ? "avx-512 fma"
                                                                 : "avx2 fma",
           info.threads);
    // N4J_BENCH_ONLY=matmul|scan|attention runs one family of lines (the peaks and bandwidth always run).
    const char* only = getenv("N4J_BENCH_ONLY");
    auto want = [only](const char* family) { return only == nullptr || *only == 0 || strcmp(only, family) == 0; };
    if (want("matmul")) {
    // Decode: one row, weights far larger than the caches (memory bound).
    bench_matmul(b, "9B up_proj (decode)", N4J_DTYPE_BF16, 1, 4480, 15680, 10);
    bench_matmul(b, "9B up_proj (decode)", N4J_DTYPE_F8_E4M3, 1, 4480, 15680, 10);
    bench_matmul(b, "9B up_proj (decode)", N4J_DTYPE_F32, 1, 4480, 15680, 10);
    bench_matmul(b, "9B up_proj (batch 4)", N4J_DTYPE_BF16, 4, 4480, 15680, 10);
    bench_matmul(b, "medium lm_head (decode)", N4J_DTYPE_BF16, 1, 2048, 32000, 10);
    // Block-quantized weights (decode at memory speed is the goal: the "% of read" column).
    for (int32_t qt : {N4J_DTYPE_Q8, N4J_DTYPE_Q6, N4J_DTYPE_Q4}) {
        // 256 rows (0.5 MB q8) stay in cache: the kernel's compute speed, GB/s of weights it could consume
        bench_matmul(b, "256 rows in cache (decode)", qt, 1, 2048, 256, 2000);
        bench_matmul(b, "9B up_proj (decode)", qt, 1, 4480, 15680, 10);
        bench_matmul(b, "medium up_proj (decode)", qt, 1, 2048, 7168, 20);
        bench_matmul(b, "medium down_proj (decode)", qt, 1, 7168, 2048, 20);
        bench_matmul(b, "medium up_proj (prefill chunk)", qt, 256, 2048, 7168, 3);
    }
    // Prefill: many rows (compute bound).
    bench_matmul(b, "medium up_proj (prefill chunk)", N4J_DTYPE_BF16, 256, 2048, 7168, 3);
    bench_matmul(b, "medium down_proj (prefill chunk)", N4J_DTYPE_BF16, 256, 7168, 2048, 3);
    bench_matmul(b, "medium up_proj (prefill)", N4J_DTYPE_BF16, 512, 2048, 7168, 3);
    bench_matmul(b, "medium up_proj (prefill)", N4J_DTYPE_F8_E4M3, 512, 2048, 7168, 3);
    bench_matmul(b, "medium in_proj (prefill)", N4J_DTYPE_BF16, 512, 2048, 7232, 3);
    }
    // N4J_BENCH_ONLY=w8a8: FP8 weights with an input_scale, weight-only then W8A8 (N4J_FLAG_FP8_W8A8: x quantized
    // to e4m3 first, then the same kernels), alternating, each line its own median.
    if (only != nullptr && strcmp(only, "w8a8") == 0) {
        for (int rep = 0; rep < 2; ++rep) {
            for (bool on : {false, true}) {
                n4j::cpu::cpu_context_of(b)->fp8_w8a8 = on;
                const char* tag = on ? "w8a8" : "weight-only";
                char l1[64], l2[64], l3[64];
                snprintf(l1, sizeof(l1), "9B up_proj dec %s", tag);
                snprintf(l2, sizeof(l2), "med up_proj 256 %s", tag);
                snprintf(l3, sizeof(l3), "med down_proj 256 %s", tag);
                bench_matmul(b, l1, N4J_DTYPE_F8_E4M3, 1, 4480, 15680, 10, 1.0f / 448.0f);
                bench_matmul(b, l2, N4J_DTYPE_F8_E4M3, 256, 2048, 7168, 3, 1.0f / 448.0f);
                bench_matmul(b, l3, N4J_DTYPE_F8_E4M3, 256, 7168, 2048, 3, 1.0f / 448.0f);
            }
        }
        n4j::cpu::cpu_context_of(b)->fp8_w8a8 = false;
    }
    if (want("decode")) {
        bench_decode_matmuls(b, "medium bf16", N4J_DTYPE_BF16, N4J_DTYPE_BF16);
        bench_decode_matmuls(b, "medium q8 (all)", N4J_DTYPE_Q8, N4J_DTYPE_Q8);
        bench_decode_matmuls(b, "medium q4 (mixed)", N4J_DTYPE_Q4, N4J_DTYPE_Q8);
        bench_decode_matmuls(b, "medium q4 (mixed6)", N4J_DTYPE_Q4, N4J_DTYPE_Q6);
    }
    if (want("scan")) {
        bench_scan(b, "medium", 64, 40, 8, 128, 128, 512);
        bench_scan(b, "9B", 128, 80, 8, 128, 128, 512);
    }
    if (want("attention")) {
        bench_attention(b, "medium", 16, 4, 128, 512, 0);
        bench_attention(b, "medium", 16, 4, 128, 1, 4095);
        bench_attention_decode(b, "9B", 40, 8, 128, 4096);
        bench_attention_decode(b, "9B", 40, 8, 128, 32768);
    }
    n4j_backend_destroy(b);
    return 0;
}
