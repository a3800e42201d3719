/*
 * cuda_op_bench.cpp: op-level benchmark of the CUDA backend on the NVIDIA-Nemotron-Nano-9B-v2 shapes.
 *
 * Talks to libnemotron4j_cuda directly (its operations table, backend_ops.h) and times with CUDA events on the
 * backend's stream (n4j_cuda_bench_timer): each measurement is the mean of `iters` back-to-back calls after two
 * warm-up calls. Random data; the numbers do not depend on the values.
 *
 *   COPY   the memory ceiling: a 1 GiB device-to-device copy, GB/s = (bytes read + bytes written) / time
 *   GEMV   decode matmul, rows 1 (and 8): weight GB/s = weight bytes / time, bf16 and fp8 weights, and that rate as
 *          a fraction of COPY
 *   SKINNY batched decode matmul, rows 16 and 64 (the skinny tensor-core GEMM, matmul.cu: rows 9..64): weight
 *          GB/s = weight bytes / time, bf16 and fp8 weights; the floor is memory-bound (W read once: weight + x + y
 *          bytes at the COPY rate; split-K partials are L2 traffic and not counted)
 *   GEMM   prefill matmul at 2048 rows: TFLOP/s = 2 * rows * in * out / time
 *   W8A8   FP8 weights with an input_scale on a backend made with N4J_CUDA_FP8=w8a8 (skipped, said so, where the
 *          device refuses it: below sm_89): GEMM at 2048 rows (activation quantize kernel + e4m3 x e4m3 GEMM; with
 *          cuBLASLt where it loads, and N4J_CUDA_GEMM=own: the own mma.sync e4m3 kernel) and the GEMV rows 1 / 8
 *          (quantizing x as it loads it). Floors: bytes = W (1 byte an element) + x read by the quantizer + x_q
 *          written and read back (1 + 1 bytes an element) + y; FLOPs against the FP8 dense peak (2x the bf16 one:
 *          H100/H200 1979 TFLOP/s).
 *   SSD    one 9B Mamba layer's chunked scan (128 heads x 80, state 128, 8 groups, chunk 128 and 256) at 8192
 *          tokens (BF16: the tensor-core kernels; the README counts the floor and the target)
 *   ATTN   prefill at 8192 tokens (40 query / 8 KV heads of 128, causal): TFLOP/s = 4 * T^2/2 * 128 * 40 / time
 *   DECODE attention of one token at 8k / 32k / 128k context: KV GB/s = bytes of K and V read / time
 *   FUSED  the decode fusions against the ops they replace, batch 1 and 8: the 9B Mamba mixer between its
 *          projections (n4j_mamba_decode vs conv1d_decode + ssm_decode + gated_rmsnorm) and the out_proj GEMV
 *          with the residual add in its epilogue (N4J_MATMUL_ADD_TO_RESIDUAL vs STORE + n4j_add; BF16 with the
 *          F32 residual stream, as the engine runs it), and the in_proj GEMV with the RMSNorm in its prologue
 *          (n4j_rmsnorm_matmul vs rmsnorm + matmul; floor: W + x + normed written + y)
 * Each line says the activation dtype of the backend (F32: what the Java side uses today; BF16).
 * Every line also gives its counted floor: the bytes one call must move (weights, activations in and out, states,
 * KV) and the FLOPs it must do, the floor time max(bytes / COPY rate, FLOPs / tensor peak) and the fraction of it
 * reached (floor / measured time). The tensor peak is the datasheet's dense rate for the card (bf16; fp8, twice
 * that, for the W8A8 e4m3 x e4m3 GEMMs only: weight-only fp8 widens the weights to bf16) where the name is known (H100/H200 989 TFLOP/s, A100
 * 312, L40S 362, L4 121, A10G 70), else --peak-tflops; without either the floor is the bytes alone.
 * Usage: cuda_op_bench [--quick] [--peak-tflops T]   (--quick: fewer iterations and no 128k case)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "backend_ops.h"
#include "nemotron4j.h"

extern "C" const n4j_backend_ops* n4j_cuda_backend_ops(void);
extern "C" float n4j_cuda_bench_timer(void* ctx, int stop);

namespace {

std::string g_last_error;
void bench_set_error(const char* message) { g_last_error = message != nullptr ? message : ""; }
const n4j_backend_host kHost = {sizeof(n4j_backend_host), N4J_BACKEND_OPS_VERSION, bench_set_error};

const n4j_backend_ops* ops = nullptr;
bool g_quick = false;

void die(const char* what, int32_t rc) {
    fprintf(stderr, "cuda_op_bench: %s failed (%d): %s\n", what, rc, g_last_error.c_str());
    exit(1);
}

#define CALL(expr)                          \
    do {                                    \
        const int32_t _rc = (expr);         \
        if (_rc != N4J_OK) die(#expr, _rc); \
    } while (0)

uint64_t g_rng = 0x1234567887654321ull;
uint32_t next_u32() {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return static_cast<uint32_t>((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* A device buffer filled with random values of a dtype (F32 / BF16 in [-a, a], F8 without NaN). */
struct dev {
    void* ctx = nullptr;
    void* p = nullptr;
    uint64_t bytes = 0;
    dev(void* c, uint64_t b) : ctx(c), bytes(b) { CALL(ops->alloc(ctx, b, &p)); }
    ~dev() {
        if (p) ops->free(ctx, p, bytes);
    }
    dev(const dev&) = delete;
    dev& operator=(const dev&) = delete;
    template <typename T>
    T* as() const {
        return static_cast<T*>(p);
    }
};

void fill_random(void* ctx, void* p, uint64_t bytes, int dtype, float amp) {
    const uint64_t chunk = 16u << 20;
    std::vector<uint8_t> host(chunk);
    for (uint64_t i = 0; i + 4 <= chunk; i += 4) {
        const float v = amp * (static_cast<float>(next_u32() >> 8) * (2.0f / 16777216.0f) - 1.0f);
        uint32_t bits;
        memcpy(&bits, &v, 4);
        if (dtype == N4J_DTYPE_F32) {
            memcpy(&host[i], &bits, 4);
        } else if (dtype == N4J_DTYPE_BF16) {
            const uint16_t a = static_cast<uint16_t>(bits >> 16);
            const uint16_t b = static_cast<uint16_t>((bits >> 16) ^ 0x0100);
            memcpy(&host[i], &a, 2);
            memcpy(&host[i + 2], &b, 2);
        } else {
            for (int k = 0; k < 4; ++k) {
                const uint32_t r = next_u32();
                host[i + k] = static_cast<uint8_t>((r & 0x80u) | ((r >> 8) % 0x60u));  // exponent <= 11: no NaN
            }
        }
    }
    for (uint64_t off = 0; off < bytes; off += chunk) {
        const uint64_t n = bytes - off < chunk ? bytes - off : chunk;
        CALL(ops->copy(ctx, static_cast<char*>(p) + off, host.data(), n, N4J_COPY_HOST_TO_BACKEND));
    }
}

int64_t dsize(int dtype) { return dtype == N4J_DTYPE_F32 ? 4 : dtype == N4J_DTYPE_BF16 ? 2 : 1; }
const char* dname(int dtype) {
    return dtype == N4J_DTYPE_F32 ? "f32" : dtype == N4J_DTYPE_BF16 ? "bf16" : dtype == N4J_DTYPE_Q8 ? "q8"
         : dtype == N4J_DTYPE_Q4 ? "q4" : dtype == N4J_DTYPE_Q6 ? "q6" : "fp8";
}

/* Bytes of a [rows, cols] weight: dense, or Q8 / Q4 / Q6 quants followed by their scales (nemotron4j.h). */
uint64_t weight_bytes(int dtype, int64_t rows, int64_t cols) {
    if (dtype == N4J_DTYPE_Q8) return static_cast<uint64_t>(rows) * (cols + cols / 32 * 2);
    if (dtype == N4J_DTYPE_Q4) return static_cast<uint64_t>(rows) * (cols / 2 + (cols + 255) / 256 * 20);
    if (dtype == N4J_DTYPE_Q6) return static_cast<uint64_t>(rows) * (cols / 4 * 3 + cols / 32 * 2);
    return static_cast<uint64_t>(rows) * cols * dsize(dtype);
}

/* Random weight bytes; Q8 / Q4 / Q6 scales set to small finite F16 values (the quants are any bytes). */
void fill_weight(void* ctx, void* p, uint64_t bytes, int dtype, int64_t rows, int64_t cols) {
    if (dtype != N4J_DTYPE_Q8 && dtype != N4J_DTYPE_Q4 && dtype != N4J_DTYPE_Q6) {
        fill_random(ctx, p, bytes, dtype, 0.05f);
        return;
    }
    const uint64_t quants = static_cast<uint64_t>(rows) * (dtype == N4J_DTYPE_Q8   ? cols
                                                           : dtype == N4J_DTYPE_Q4 ? cols / 2
                                                                                   : cols / 4 * 3);
    fill_random(ctx, p, quants, N4J_DTYPE_F8_E4M3, 1.0f);  // any bytes
    std::vector<uint8_t> scales(bytes - quants);
    for (size_t i = 0; i + 1 < scales.size(); i += 2) {
        const uint16_t h = static_cast<uint16_t>(0x2000 | (next_u32() & 0x3ff));  // about 0.008 .. 0.016
        memcpy(&scales[i], &h, 2);
    }
    CALL(ops->copy(ctx, static_cast<char*>(p) + quants, scales.data(), scales.size(), N4J_COPY_HOST_TO_BACKEND));
}

/* Mean milliseconds of one call of f over iters calls (after two warm-ups). */
template <class F>
double time_ms(void* ctx, int iters, F f) {
    f();
    f();
    CALL(ops->synchronize(ctx));
    if (n4j_cuda_bench_timer(ctx, 0) < 0) die("timer start", -1);
    for (int i = 0; i < iters; ++i) f();
    const float ms = n4j_cuda_bench_timer(ctx, 1);
    if (ms < 0) die("timer stop", -1);
    return ms / iters;
}

void* make_ctx(int act) {
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = N4J_BACKEND_CUDA;
    o.activation_dtype = act;
    void* ctx = nullptr;
    CALL(ops->create(&o, &kHost, &ctx));
    return ctx;
}

struct linear_shape {
    const char* name;
    int in, out;
};

const linear_shape kShapes[] = {
    {"in_proj", 4480, 22656}, {"out_proj", 10240, 4480}, {"up_proj", 4480, 15680},
    {"down_proj", 15680, 4480}, {"lm_head", 4480, 131072},
};

double g_copy_gbs = 0.0;    // measured device-to-device bandwidth, read + write
double g_peak_tflops = 0.0;  // dense bf16 tensor rate (datasheet or --peak-tflops); 0: unknown

/* The counted floor of a call and the fraction of it reached, appended to a line. */
void floor_note(double ms, double bytes, double flops, double peak_factor = 1.0) {
    const double t_mem = g_copy_gbs > 0 ? bytes / (g_copy_gbs * 1e9) : 0.0;
    const double t_math = g_peak_tflops > 0 ? flops / (peak_factor * g_peak_tflops * 1e12) : 0.0;
    const double floor_s = t_mem > t_math ? t_mem : t_math;
    printf("  | %8.1f MB %9.2f GFLOP  floor %8.1f us (%s)  %5.1f%% of floor\n", bytes / 1e6, flops / 1e9,
           floor_s * 1e6, t_mem >= t_math ? "memory" : "tensor", ms > 0 ? 100.0 * floor_s / (ms * 1e-3) : 0.0);
}

/* The datasheet dense bf16 tensor rate of a card from its name (0 when unknown). */
double datasheet_tflops(const char* name) {
    const struct {
        const char* key;
        double tflops;
    } cards[] = {{"H100", 989}, {"H200", 989}, {"H800", 989}, {"A100", 312}, {"L40S", 362}, {"L4", 121},
                 {"A10G", 70}};
    for (const auto& c : cards)
        if (strstr(name, c.key) != nullptr) return c.tflops;
    return 0.0;
}

void bench_copy(void* ctx) {
    const uint64_t bytes = uint64_t(1) << 30;
    dev a(ctx, bytes), b(ctx, bytes);
    const double ms = time_ms(ctx, g_quick ? 5 : 20, [&] {
        CALL(ops->copy(ctx, b.p, a.p, bytes, N4J_COPY_BACKEND_TO_BACKEND));
    });
    g_copy_gbs = 2.0 * bytes / (ms * 1e-3) / 1e9;
    printf("COPY    device to device 1 GiB                          %9.1f us  %7.0f GB/s (read + write; the floors' rate)\n",
           ms * 1e3, g_copy_gbs);
}

void bench_gemv(void* ctx, int act) {
    for (const linear_shape& s : kShapes) {
        for (int wd : {N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3, N4J_DTYPE_Q8, N4J_DTYPE_Q6, N4J_DTYPE_Q4}) {
            const uint64_t wbytes = weight_bytes(wd, s.out, s.in);
            dev w(ctx, wbytes);
            fill_weight(ctx, w.p, wbytes, wd, s.out, s.in);
            n4j_weight wt;
            memset(&wt, 0, sizeof(wt));
            wt.data = w.p;
            wt.dtype = wd;
            wt.rows = s.out;
            wt.cols = s.in;
            wt.scale = wd == N4J_DTYPE_F8_E4M3 ? 0.01f : 1.0f;
            for (int rows : {1, 8}) {
                dev x(ctx, static_cast<uint64_t>(rows) * s.in * dsize(act));
                dev y(ctx, static_cast<uint64_t>(rows) * s.out * dsize(act));
                fill_random(ctx, x.p, x.bytes, act, 1.0f);
                const double ms = time_ms(ctx, g_quick ? 10 : 50, [&] {
                    CALL(ops->matmul(ctx, x.p, s.in, rows, &wt, y.p, s.out, 0));
                });
                const double gbs = wbytes / (ms * 1e-3) / 1e9;
                printf("GEMV    %-9s %5d -> %6d  w=%-4s act=%-4s rows=%d  %9.1f us  %7.0f GB/s (weights, %.0f%% of COPY)",
                       s.name, s.in, s.out, dname(wd), dname(act), rows, ms * 1e3, gbs,
                       g_copy_gbs > 0 ? 100.0 * gbs / g_copy_gbs : 0.0);
                floor_note(ms, wbytes + static_cast<double>(x.bytes) + y.bytes, 2.0 * rows * s.in * s.out);
            }
        }
    }
}

void bench_skinny(void* ctx, int act) {
    for (const linear_shape& s : kShapes) {
        for (int wd : {N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
            const uint64_t wbytes = weight_bytes(wd, s.out, s.in);
            dev w(ctx, wbytes);
            fill_random(ctx, w.p, wbytes, wd, 0.05f);
            n4j_weight wt;
            memset(&wt, 0, sizeof(wt));
            wt.data = w.p;
            wt.dtype = wd;
            wt.rows = s.out;
            wt.cols = s.in;
            wt.scale = wd == N4J_DTYPE_F8_E4M3 ? 0.01f : 1.0f;
            for (int rows : {16, 64}) {
                dev x(ctx, static_cast<uint64_t>(rows) * s.in * dsize(act));
                dev y(ctx, static_cast<uint64_t>(rows) * s.out * dsize(act));
                fill_random(ctx, x.p, x.bytes, act, 1.0f);
                const double ms = time_ms(ctx, g_quick ? 10 : 50, [&] {
                    CALL(ops->matmul(ctx, x.p, s.in, rows, &wt, y.p, s.out, 0));
                });
                const double gbs = wbytes / (ms * 1e-3) / 1e9;
                printf("SKINNY  %-9s %5d -> %6d  w=%-4s act=%-4s rows=%d %9.1f us  %7.0f GB/s (weights, %.0f%% of COPY)",
                       s.name, s.in, s.out, dname(wd), dname(act), rows, ms * 1e3, gbs,
                       g_copy_gbs > 0 ? 100.0 * gbs / g_copy_gbs : 0.0);
                floor_note(ms, wbytes + static_cast<double>(x.bytes) + y.bytes, 2.0 * rows * s.in * s.out);
            }
        }
    }
}

void bench_gemm(void* ctx, int act) {
    const int rows = 2048;
    for (const linear_shape& s : kShapes) {
        if (strcmp(s.name, "lm_head") == 0) continue;  // prefill only needs the last row's logits
        for (int wd : {N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
            const uint64_t wbytes = static_cast<uint64_t>(s.in) * s.out * dsize(wd);
            dev w(ctx, wbytes);
            fill_random(ctx, w.p, wbytes, wd, 0.05f);
            n4j_weight wt;
            memset(&wt, 0, sizeof(wt));
            wt.data = w.p;
            wt.dtype = wd;
            wt.rows = s.out;
            wt.cols = s.in;
            wt.scale = 1.0f;
            dev x(ctx, static_cast<uint64_t>(rows) * s.in * dsize(act));
            dev y(ctx, static_cast<uint64_t>(rows) * s.out * dsize(act));
            fill_random(ctx, x.p, x.bytes, act, 1.0f);
            const double ms = time_ms(ctx, g_quick ? 3 : 10, [&] {
                CALL(ops->matmul(ctx, x.p, s.in, rows, &wt, y.p, s.out, 0));
            });
            const double flops = 2.0 * rows * s.in * s.out;
            printf("GEMM    %-9s %5d -> %6d  w=%-4s act=%-4s rows=%d  %9.1f us  %7.1f TFLOP/s", s.name, s.in, s.out,
                   dname(wd), dname(act), rows, ms * 1e3, flops / (ms * 1e-3) / 1e12);
            floor_note(ms, wbytes + static_cast<double>(x.bytes) + y.bytes, flops);
        }
    }
}

/* W8A8 (N4J_CUDA_FP8=w8a8): GEMM rows 2048 and GEMV rows 1 / 8 over FP8 weights with an input_scale. `how`
 * names the GEMM path of this backend (cuBLASLt or own). */
void bench_w8a8(void* ctx, int act, const char* how, bool gemv) {
    for (const linear_shape& s : kShapes) {
        const uint64_t wbytes = static_cast<uint64_t>(s.in) * s.out;
        dev w(ctx, wbytes);
        fill_random(ctx, w.p, wbytes, N4J_DTYPE_F8_E4M3, 0.05f);
        n4j_weight wt;
        memset(&wt, 0, sizeof(wt));
        wt.data = w.p;
        wt.dtype = N4J_DTYPE_F8_E4M3;
        wt.rows = s.out;
        wt.cols = s.in;
        wt.scale = 0.01f;
        wt.input_scale = 2.0f / 448.0f;
        for (int rows : {1, 8, 2048}) {
            if (rows == 2048 && strcmp(s.name, "lm_head") == 0) continue;
            if (rows <= 8 && !gemv) continue;
            dev x(ctx, static_cast<uint64_t>(rows) * s.in * dsize(act));
            dev y(ctx, static_cast<uint64_t>(rows) * s.out * dsize(act));
            fill_random(ctx, x.p, x.bytes, act, 1.0f);
            const double ms = time_ms(ctx, rows > 8 ? (g_quick ? 3 : 10) : (g_quick ? 10 : 50), [&] {
                CALL(ops->matmul(ctx, x.p, s.in, rows, &wt, y.p, s.out, 0));
            });
            const double flops = 2.0 * rows * s.in * s.out;
            if (rows > 8) {
                const double q_bytes = 2.0 * rows * s.in;  // x_q written by the quantizer, read by the GEMM
                printf("W8A8    %-9s %5d -> %6d  gemm %-8s act=%-4s rows=%d  %9.1f us  %7.1f TFLOP/s", s.name, s.in,
                       s.out, how, dname(act), rows, ms * 1e3, flops / (ms * 1e-3) / 1e12);
                floor_note(ms, wbytes + static_cast<double>(x.bytes) + q_bytes + y.bytes, flops, 2.0);
            } else {
                const double gbs = wbytes / (ms * 1e-3) / 1e9;
                printf("W8A8    %-9s %5d -> %6d  gemv          act=%-4s rows=%d  %9.1f us  %7.0f GB/s (weights, %.0f%% of COPY)",
                       s.name, s.in, s.out, dname(act), rows, ms * 1e3, gbs,
                       g_copy_gbs > 0 ? 100.0 * gbs / g_copy_gbs : 0.0);
                floor_note(ms, wbytes + static_cast<double>(x.bytes) + y.bytes, flops, 2.0);
            }
        }
    }
}

/* The W8A8 backends (N4J_CUDA_FP8=w8a8; the default GEMM choice, then N4J_CUDA_GEMM=own), or a line saying why
 * not. */
void bench_w8a8_all(int act) {
    bool gemv = true;  // the GEMV does not depend on the GEMM choice: measured once
    for (const char* gemm : {static_cast<const char*>(nullptr), "own"}) {
        setenv("N4J_CUDA_FP8", "w8a8", 1);
        if (gemm != nullptr) setenv("N4J_CUDA_GEMM", gemm, 1);
        n4j_backend_options o;
        memset(&o, 0, sizeof(o));
        o.kind = N4J_BACKEND_CUDA;
        o.activation_dtype = act;
        void* ctx = nullptr;
        const int32_t rc = ops->create(&o, &kHost, &ctx);
        unsetenv("N4J_CUDA_FP8");
        if (gemm != nullptr) unsetenv("N4J_CUDA_GEMM");
        if (rc != N4J_OK) {
            printf("W8A8    skipped: %s\n", g_last_error.c_str());
            return;
        }
        n4j_backend_info info;
        memset(&info, 0, sizeof(info));
        ops->get_info(ctx, &info);
        const bool lt = strstr(info.name, "cublasLt") != nullptr;
        if (gemm == nullptr && !lt) {  // no cuBLASLt: the default is the own kernel, measured next
            ops->destroy(ctx);
            continue;
        }
        bench_w8a8(ctx, act, lt ? "cublasLt" : "own", gemv);
        gemv = false;
        ops->destroy(ctx);
    }
}

void bench_ssd(void* ctx, int act, int L) {
    const int T = 8192, H = 128, P = 80, G = 8, N = 128;
    const int64_t d_inner = static_cast<int64_t>(H) * P, conv = d_inner + 2 * G * N;
    dev xbc(ctx, T * conv * dsize(act));
    dev dt(ctx, static_cast<uint64_t>(T) * H * dsize(act));
    dev y(ctx, T * d_inner * dsize(act));
    dev state(ctx, static_cast<uint64_t>(H) * P * N * 4);
    dev params(ctx, 3 * H * 4);
    fill_random(ctx, xbc.p, xbc.bytes, act, 1.0f);
    fill_random(ctx, dt.p, dt.bytes, act, 2.0f);
    std::vector<float> hp(3 * H);
    for (int h = 0; h < H; ++h) {
        hp[h] = -2.0f;                                  // dt_bias
        hp[H + h] = logf(1.0f + 15.0f * h / H);         // A_log
        hp[2 * H + h] = 1.0f;                           // D
    }
    CALL(ops->copy(ctx, params.p, hp.data(), hp.size() * 4, N4J_COPY_HOST_TO_BACKEND));
    n4j_weight dt_bias, a_log, d;
    for (n4j_weight* w : {&dt_bias, &a_log, &d}) {
        memset(w, 0, sizeof(*w));
        w->dtype = N4J_DTYPE_F32;
        w->rows = H;
        w->cols = 1;
        w->scale = 1.0f;
    }
    dt_bias.data = params.as<float>();
    a_log.data = params.as<float>() + H;
    d.data = params.as<float>() + 2 * H;
    n4j_ssm_dims dims = {H, P, G, N, L, 0};
    const char* x = static_cast<const char*>(xbc.p);
    const int64_t es = dsize(act);
    const double ms = time_ms(ctx, g_quick ? 2 : 5, [&] {
        CALL(ops->ssd_chunk_scan(ctx, &dims, T, x, conv, x + d_inner * es, conv, x + (d_inner + G * N) * es, conv,
                                 dt.p, H, &dt_bias, &a_log, &d, state.as<float>(), y.p, d_inner));
    });
    printf("SSD     9B Mamba layer  T=%d L=%d act=%-4s        %9.1f us  %7.2f M tokens/s (target >= 24)", T, L,
           dname(act), ms * 1e3, T / (ms * 1e-3) / 1e6);
    // bytes: x, B, C and dt read, y written, the state read and written; FLOPs per token: C.B^T within the chunk
    // (causal half, per group), the masked (C.B^T) x (causal half, per head), the chunk state B^T x and the
    // state's contribution C.state (per head)
    const double ssd_bytes = static_cast<double>(T) * ((conv + H + d_inner) * es) + 2.0 * H * P * N * 4;
    const double ssd_flops = static_cast<double>(T) * (static_cast<double>(G) * L * N + static_cast<double>(H) * L * P +
                                                       4.0 * H * P * N);
    floor_note(ms, ssd_bytes, ssd_flops);
    if (L != 128) return;  // the decode step below does not depend on the chunk
    const double ms1 = time_ms(ctx, g_quick ? 20 : 100, [&] {
        float* sp = state.as<float>();
        CALL(ops->ssm_decode(ctx, &dims, 1, x, conv, x + d_inner * es, conv, x + (d_inner + G * N) * es, conv, dt.p,
                             H, &dt_bias, &a_log, &d, &sp, y.p, d_inner));
    });
    printf("SSM     9B decode step  batch=1 act=%-4s            %9.1f us  %7.0f GB/s (state in+out)", dname(act),
           ms1 * 1e3, 2.0 * H * P * N * 4 / (ms1 * 1e-3) / 1e9);
    floor_note(ms1, 2.0 * H * P * N * 4 + static_cast<double>(conv + H + d_inner) * es, 6.0 * H * P * N);
}

/* A paged cache of `tokens` positions carved out of one allocation per K and V. */
struct paged_cache {
    dev k, v;
    std::vector<void*> kp, vp;
    n4j_kv_cache desc;
    paged_cache(void* ctx, int tokens, int kv_heads, int hd, int dtype, int block_tokens)
        : k(ctx, static_cast<uint64_t>((tokens + block_tokens - 1) / block_tokens) * block_tokens * kv_heads * hd * dsize(dtype)),
          v(ctx, k.bytes) {
        const int blocks = (tokens + block_tokens - 1) / block_tokens;
        const uint64_t block_bytes = static_cast<uint64_t>(block_tokens) * kv_heads * hd * dsize(dtype);
        for (int b = 0; b < blocks; ++b) {
            kp.push_back(static_cast<char*>(k.p) + b * block_bytes);
            vp.push_back(static_cast<char*>(v.p) + b * block_bytes);
        }
        desc.k_blocks = kp.data();
        desc.v_blocks = vp.data();
        desc.n_blocks = blocks;
        desc.block_tokens = block_tokens;
        desc.length = 0;
        desc.dtype = dtype;
    }
};

void bench_attention(void* ctx, int act) {
    const int H = 40, KVH = 8, HD = 128;
    const n4j_attn_dims dims = {H, KVH, HD, 1.0f / sqrtf(128.0f)};
    {
        const int T = 8192;
        paged_cache cache(ctx, T, KVH, HD, N4J_DTYPE_BF16, 256);
        dev q(ctx, static_cast<uint64_t>(T) * H * HD * dsize(act));
        dev kv(ctx, static_cast<uint64_t>(T) * KVH * HD * dsize(act));
        dev out(ctx, q.bytes);
        fill_random(ctx, q.p, q.bytes, act, 1.0f);
        fill_random(ctx, kv.p, kv.bytes, act, 1.0f);
        const double ms = time_ms(ctx, g_quick ? 2 : 5, [&] {
            CALL(ops->attention_prefill(ctx, &dims, T, q.p, H * HD, kv.p, KVH * HD, kv.p, KVH * HD, &cache.desc, out.p,
                                        H * HD));
        });
        const double flops = 4.0 * (static_cast<double>(T) * T / 2) * HD * H;
        printf("ATTN    prefill T=%d 40/8x128 kv=bf16 act=%-4s      %9.1f us  %7.1f TFLOP/s", T, dname(act), ms * 1e3,
               flops / (ms * 1e-3) / 1e12);
        floor_note(ms, 2.0 * q.bytes + 2.0 * kv.bytes + 2.0 * T * KVH * HD * 2, flops);
    }
    std::vector<int> contexts = {8192, 32768};
    if (!g_quick) contexts.push_back(131072);
    for (int kv_dtype : {N4J_DTYPE_BF16, N4J_DTYPE_F32}) {
        for (int len : contexts) {
            paged_cache cache(ctx, len + 1, KVH, HD, kv_dtype, 256);
            cache.desc.length = len;
            dev q(ctx, static_cast<uint64_t>(H) * HD * dsize(act));
            dev kv(ctx, static_cast<uint64_t>(KVH) * HD * dsize(act));
            dev out(ctx, q.bytes);
            fill_random(ctx, q.p, q.bytes, act, 1.0f);
            fill_random(ctx, kv.p, kv.bytes, act, 1.0f);
            const double ms = time_ms(ctx, g_quick ? 10 : 50, [&] {
                CALL(ops->attention_decode(ctx, &dims, 1, q.p, H * HD, kv.p, KVH * HD, kv.p, KVH * HD, &cache.desc,
                                           out.p, H * HD));
            });
            const double bytes = 2.0 * (len + 1) * KVH * HD * dsize(kv_dtype);
            printf("DECODE  attention ctx=%-6d kv=%-4s act=%-4s         %9.1f us  %7.0f GB/s (KV)", len,
                   dname(kv_dtype), dname(act), ms * 1e3, bytes / (ms * 1e-3) / 1e9);
            floor_note(ms, bytes, 4.0 * (len + 1) * H * HD);
        }
    }
}

/* The decode fusions and the unfused sequences they replace (9B shapes), each with its counted floor. */
void bench_fused(int act) {
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = N4J_BACKEND_CUDA;
    o.activation_dtype = act;
    o.flags = act == N4J_DTYPE_BF16 ? N4J_FLAG_F32_RESIDUAL : 0;
    void* ctx = nullptr;
    CALL(ops->create(&o, &kHost, &ctx));
    const int H = 128, P = 80, G = 8, N = 128, K = 4, hidden = 4480;
    const int64_t d_inner = static_cast<int64_t>(H) * P, conv = d_inner + 2 * G * N, width = d_inner + conv + H;
    const int64_t es = dsize(act), rs = act == N4J_DTYPE_BF16 ? 4 : es;  // activation, residual element sizes
    dev params(ctx, (3 * H + conv * K + conv + d_inner) * 4);
    std::vector<float> hp(3 * H + conv * K + conv + d_inner);
    for (size_t i = 0; i < hp.size(); ++i) hp[i] = 0.01f * static_cast<float>(next_u32() % 100);
    for (int h = 0; h < H; ++h) hp[h] = -2.0f;
    CALL(ops->copy(ctx, params.p, hp.data(), hp.size() * 4, N4J_COPY_HOST_TO_BACKEND));
    auto vec = [&](int64_t off, int rows, int cols) {
        n4j_weight w;
        memset(&w, 0, sizeof(w));
        w.data = params.as<float>() + off;
        w.dtype = N4J_DTYPE_F32;
        w.rows = rows;
        w.cols = cols;
        w.scale = 1.0f;
        return w;
    };
    const n4j_weight dt_bias = vec(0, H, 1), a_log = vec(H, H, 1), d = vec(2 * H, H, 1);
    const n4j_weight cw = vec(3 * H, static_cast<int>(conv), K), cb = vec(3 * H + conv * K, static_cast<int>(conv), 1);
    const n4j_weight norm = vec(3 * H + conv * K + conv, static_cast<int>(d_inner), 1);
    const uint64_t wbytes = static_cast<uint64_t>(hidden) * d_inner * 2;
    dev w(ctx, wbytes);
    fill_random(ctx, w.p, wbytes, N4J_DTYPE_BF16, 0.05f);
    n4j_weight wo;
    memset(&wo, 0, sizeof(wo));
    wo.data = w.p;
    wo.dtype = N4J_DTYPE_BF16;
    wo.rows = hidden;
    wo.cols = static_cast<int>(d_inner);
    wo.scale = 1.0f;
    const n4j_weight hnorm = vec(3 * H + conv * K + conv, hidden, 1);  // a hidden-size norm weight
    const int in_width = static_cast<int>(width);                       // in_proj: 4480 -> 22656
    const uint64_t wi_bytes = static_cast<uint64_t>(in_width) * hidden * 2;
    dev wi(ctx, wi_bytes);
    fill_random(ctx, wi.p, wi_bytes, N4J_DTYPE_BF16, 0.05f);
    n4j_weight win;
    memset(&win, 0, sizeof(win));
    win.data = wi.p;
    win.dtype = N4J_DTYPE_BF16;
    win.rows = in_width;
    win.cols = hidden;
    win.scale = 1.0f;
    for (int batch : {1, 8}) {
        dev in(ctx, batch * width * es), xbc(ctx, batch * conv * es), y(ctx, batch * d_inner * es),
            out(ctx, batch * d_inner * es), branch(ctx, static_cast<uint64_t>(batch) * hidden * es),
            resid(ctx, static_cast<uint64_t>(batch) * hidden * rs);
        fill_random(ctx, in.p, in.bytes, act, 1.0f);
        fill_random(ctx, resid.p, resid.bytes, act == N4J_DTYPE_BF16 ? N4J_DTYPE_F32 : act, 1.0f);
        std::vector<std::unique_ptr<dev>> states;
        std::vector<void*> cs;
        std::vector<float*> ss;
        for (int b = 0; b < batch; ++b) {
            states.emplace_back(new dev(ctx, conv * K * es));
            cs.push_back(states.back()->p);
            states.emplace_back(new dev(ctx, d_inner * N * 4));
            ss.push_back(states.back()->as<float>());
        }
        const char* x = static_cast<const char*>(in.p);
        const char* c = static_cast<const char*>(xbc.p);
        const int iters = g_quick ? 20 : 100;
        const n4j_ssm_dims dims = {H, P, G, N, 128, 0};
        const double unfused = time_ms(ctx, iters, [&] {
            CALL(ops->conv1d_decode(ctx, batch, x + d_inner * es, width, static_cast<int>(conv), &cw, &cb, cs.data(),
                                    N4J_ACT_SILU, xbc.p, conv));
            CALL(ops->ssm_decode(ctx, &dims, batch, c, conv,
                                 c + d_inner * es, conv, c + (d_inner + G * N) * es, conv, x + (d_inner + conv) * es,
                                 width, &dt_bias, &a_log, &d, ss.data(), y.p, d_inner));
            CALL(ops->gated_rmsnorm(ctx, y.p, d_inner, in.p, width, batch, static_cast<int>(d_inner), G, &norm, 1e-5f,
                                    out.p, d_inner));
        });
        const double fused = time_ms(ctx, iters, [&] {
            CALL(ops->mamba_decode(ctx, &dims, batch, in.p, width, &cw, &cb, &dt_bias, &a_log, &d, &norm, 1e-5f,
                                   cs.data(), ss.data(), y.p, d_inner, out.p, d_inner));
        });
        // bytes: the in_proj row (z, xBC, dt), the conv state and the SSM state in and out, y out and back, out;
        // unfused adds the conv output out and back. FLOPs: the SSM update and its dot products.
        const double state_bytes = batch * (2.0 * conv * K * es + 2.0 * d_inner * N * 4);
        const double fused_bytes = batch * static_cast<double>(width + 3 * d_inner) * es + state_bytes;
        const double unfused_bytes = fused_bytes + batch * 2.0 * conv * es;
        const double flops = batch * 6.0 * d_inner * N;
        printf("FUSED   9B Mamba mixer  batch=%d act=%-4s unfused (3 launches) %9.1f us", batch, dname(act),
               unfused * 1e3);
        floor_note(unfused, unfused_bytes, flops);
        printf("FUSED   9B Mamba mixer  batch=%d act=%-4s mamba_decode (1)     %9.1f us", batch, dname(act), fused * 1e3);
        floor_note(fused, fused_bytes, flops);
        const double store_add = time_ms(ctx, iters, [&] {
            CALL(ops->matmul(ctx, out.p, d_inner, batch, &wo, branch.p, hidden, N4J_MATMUL_STORE));
            CALL(ops->add(ctx, resid.p, branch.p, resid.p, static_cast<int64_t>(batch) * hidden));
        });
        const double into = time_ms(ctx, iters, [&] {
            CALL(ops->matmul(ctx, out.p, d_inner, batch, &wo, resid.p, hidden, N4J_MATMUL_ADD_TO_RESIDUAL));
        });
        // bytes: the weight, x, the residual in and out; unfused adds the layer output out and back
        const double gemv_bytes = wbytes + batch * (static_cast<double>(d_inner) * es + 2.0 * hidden * rs);
        printf("FUSED   out_proj + add  batch=%d act=%-4s store + add (2)      %9.1f us", batch, dname(act),
               store_add * 1e3);
        floor_note(store_add, gemv_bytes + batch * 2.0 * hidden * es, 2.0 * batch * hidden * d_inner);
        printf("FUSED   out_proj + add  batch=%d act=%-4s add_to_residual (1)  %9.1f us", batch, dname(act), into * 1e3);
        floor_note(into, gemv_bytes, 2.0 * batch * hidden * d_inner);
        // norm + in_proj: the residual stream (resid) -> normed (branch) -> the in_proj row (in)
        const double norm_mm = time_ms(ctx, iters, [&] {
            CALL(ops->rmsnorm(ctx, resid.p, hidden, batch, hidden, &hnorm, 1e-5f, branch.p, hidden));
            CALL(ops->matmul(ctx, branch.p, hidden, batch, &win, in.p, width, N4J_MATMUL_STORE));
        });
        const double norm_fused = time_ms(ctx, iters, [&] {
            CALL(ops->rmsnorm_matmul(ctx, resid.p, hidden, batch, hidden, &hnorm, 1e-5f, branch.p, hidden, &win, in.p,
                                     width, N4J_MATMUL_STORE));
        });
        // bytes: the weight, x (the residual) read, normed written, y written; unfused adds normed read back
        const double norm_bytes = wi_bytes + batch * (static_cast<double>(hidden) * (rs + es) + width * es);
        printf("FUSED   norm + in_proj  batch=%d act=%-4s rmsnorm + matmul (2) %9.1f us", batch, dname(act),
               norm_mm * 1e3);
        floor_note(norm_mm, norm_bytes + batch * static_cast<double>(hidden) * es, 2.0 * batch * hidden * width);
        printf("FUSED   norm + in_proj  batch=%d act=%-4s rmsnorm_matmul (1)   %9.1f us", batch, dname(act),
               norm_fused * 1e3);
        floor_note(norm_fused, norm_bytes, 2.0 * batch * hidden * width);
    }
    ops->destroy(ctx);
}

}  // namespace

int main(int argc, char** argv) {
    double peak_arg = 0.0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0) g_quick = true;
        if (strcmp(argv[i], "--peak-tflops") == 0 && i + 1 < argc) peak_arg = atof(argv[++i]);
    }
    ops = n4j_cuda_backend_ops();
    if (ops == nullptr || ops->struct_size != sizeof(n4j_backend_ops)) {
        fprintf(stderr, "cuda_op_bench: the plug-in's ops table does not match this build\n");
        return 1;
    }
    for (int act : {N4J_DTYPE_BF16, N4J_DTYPE_F32}) {
        void* ctx = make_ctx(act);
        if (act == N4J_DTYPE_BF16) {
            n4j_backend_info info;
            memset(&info, 0, sizeof(info));
            ops->get_info(ctx, &info);
            g_peak_tflops = peak_arg > 0 ? peak_arg : datasheet_tflops(info.name);
            printf("cuda_op_bench on %s (%.1f GiB)%s, tensor peak %.0f TFLOP/s (%s)\n", info.name,
                   info.total_memory / 1073741824.0, g_quick ? " (quick)" : "", g_peak_tflops,
                   peak_arg > 0 ? "--peak-tflops" : g_peak_tflops > 0 ? "datasheet, dense bf16" : "unknown");
            bench_copy(ctx);
        }
        bench_gemv(ctx, act);
        bench_skinny(ctx, act);
        bench_gemm(ctx, act);
        bench_w8a8_all(act);
        bench_ssd(ctx, act, 128);
        bench_ssd(ctx, act, 256);
        bench_attention(ctx, act);
        ops->destroy(ctx);
        bench_fused(act);
    }
    return 0;
}
