/*
 * cublaslt_glue_test.cpp: the CUDA plug-in's cuBLASLt glue (native/src/cuda/gemm_cublaslt.cu), through the public
 * C ABI, against the CPU reference backend.
 *
 * CTest runs it on the emulated plug-in (N4J_CUDA_LIBRARY=libnemotron4j_cuda_emu.so) with the stand-in
 * (N4J_CUBLASLT_LIBRARY=libcublasLt_standin.so, native/tests/cuda_emu/cublaslt_standin.cpp); on a GPU it runs the
 * same way against the real libcublasLt (the stand-in's counters are then not available and those checks are
 * skipped, said so in the output).
 *
 *   (default)  BF16 activations x BF16 weights with N4J_CUDA_GEMM=cublaslt and =own: odd M/N/K, leading dimensions
 *              beyond the width, operands at odd element offsets (2-byte aligned), store and accumulate epilogues,
 *              a K large enough for the stand-in's split-K algorithm (workspace), a weight scale; each result against
 *              the CPU reference (F32, reference kernels) and the two GEMM paths against each other; the bytes around
 *              y (before its offset, the padding of each row) untouched. The heuristic is called once per shape (a
 *              second run of the same shape calls cublasLtMatmul only), relu^2, FP8 weights and F32 activations stay
 *              on the own kernels, auto sends 9..64 rows to the skinny GEMM (65 to cuBLASLt), and destroying the backend
 *              destroys every descriptor it made. N4J_CUDA_GEMM=bogus is refused.
 *              W8A8 (N4J_CUDA_FP8=w8a8, ModelOpt FP8 weights with an input_scale): the FP8 GEMM through cuBLASLt
 *              (e4m3 x e4m3, A/B scale pointers) and through the own e4m3 kernel, BF16 and F32 activations, against a
 *              CPU W8A8 emulation (x quantized to e4m3 with n4j_convert, then the CPU matmul of those exact values
 *              with the weight scale times input_scale): odd M/N, K multiples of 16 (cuBLASLt's FP8 rule), split-K,
 *              y at odd offsets, store and accumulate; the plan cached per shape; K % 16 != 0 and relu^2 stay on
 *              the own kernel (no cublasLtMatmul call).
 *   --absent   in a process whose N4J_CUBLASLT_LIBRARY cannot be loaded: N4J_CUDA_GEMM=cublaslt fails backend
 *              creation with the reason, auto (the default) and own create a backend that runs its own kernels.
 * Exit code 0 when everything passed, 1 otherwise.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "nemotron4j.h"

namespace {

int g_checks = 0;
int g_failures = 0;

void fail_line(const char* format, ...) __attribute__((format(printf, 1, 2)));
void fail_line(const char* format, ...) {
    ++g_failures;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "FAIL ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
}

#define EXPECT_OK(call)                                                                                          \
    do {                                                                                                         \
        ++g_checks;                                                                                              \
        const int32_t _rc = (call);                                                                              \
        if (_rc != N4J_OK) fail_line("%s:%d: %s returned %d: %s", __FILE__, __LINE__, #call, _rc, n4j_last_error()); \
    } while (0)

#define EXPECT(cond, ...)                  \
    do {                                   \
        ++g_checks;                        \
        if (!(cond)) fail_line(__VA_ARGS__); \
    } while (0)

uint64_t g_seed = 0x1234567;
float uniform() {
    g_seed ^= g_seed >> 12;
    g_seed ^= g_seed << 25;
    g_seed ^= g_seed >> 27;
    return static_cast<float>(((g_seed * 0x2545F4914F6CDD1Dull) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

n4j_backend* make_backend(int kind, int act, int flags, const char* gemm_mode, std::string* why) {
    if (gemm_mode != nullptr) {
        setenv("N4J_CUDA_GEMM", gemm_mode, 1);
    } else {
        unsetenv("N4J_CUDA_GEMM");
    }
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = kind;
    o.threads = kind == N4J_BACKEND_CPU ? 2 : 0;
    o.flags = flags;
    o.activation_dtype = act;
    n4j_backend* b = nullptr;
    const int32_t rc = n4j_backend_create(&o, &b);
    unsetenv("N4J_CUDA_GEMM");
    if (rc != N4J_OK) {
        if (why) *why = std::string(n4j_last_error()) + " (code " + std::to_string(rc) + ")";
        return nullptr;
    }
    return b;
}

std::string backend_name(n4j_backend* b) {
    n4j_backend_info info;
    EXPECT_OK(n4j_backend_get_info(b, &info));
    return info.name;
}

n4j_backend* g_cpu = nullptr;  // the oracle (F32 activations, reference kernels); its memory is host memory

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
    std::vector<uint16_t> out(v.size() + 1);
    if (!v.empty()) EXPECT_OK(n4j_convert(g_cpu, v.data(), N4J_DTYPE_F32, out.data(), N4J_DTYPE_BF16, v.size()));
    out.resize(v.size());
    return out;
}
std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
    std::vector<float> out(v.size() + 1);
    if (!v.empty()) EXPECT_OK(n4j_convert(g_cpu, v.data(), N4J_DTYPE_BF16, out.data(), N4J_DTYPE_F32, v.size()));
    out.resize(v.size());
    return out;
}
std::vector<float> round_bf16(const std::vector<float>& v) { return from_bf16(to_bf16(v)); }

/* Backend memory holding `bytes` bytes copied from src. */
void* upload(n4j_backend* b, const void* src, size_t bytes) {
    void* p = nullptr;
    EXPECT_OK(n4j_alloc(b, bytes, &p));
    if (p != nullptr) EXPECT_OK(n4j_copy(b, p, src, bytes, N4J_COPY_HOST_TO_BACKEND));
    return p;
}

/* Counters of the stand-in (heuristic calls, matmul calls, live objects); nullptr on a real libcublasLt. */
typedef void (*counters_fn)(uint64_t out[3]);
counters_fn standin_counters() {
    const char* path = getenv("N4J_CUBLASLT_LIBRARY");
    if (path == nullptr) return nullptr;
    void* h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h == nullptr) return nullptr;
    return reinterpret_cast<counters_fn>(dlsym(h, "n4j_cublaslt_standin_counters"));
}

struct gemm_case {
    int rows, k, n;
    int ld_x_pad, ld_y_pad;  // ld = width + pad
    int x_off, y_off;        // elements before the operand's first element (odd: 2-byte aligned operands)
    int epilogue;
    float scale;
};

/* Runs one case on the CPU oracle and on each GPU backend; checks results and the bytes around y. Returns the
 * outputs (rows x n) of the GPU backends in *outs. */
void run_case(const gemm_case& c, const std::vector<n4j_backend*>& gpus, std::vector<std::vector<float>>* outs,
              const char* label) {
    const int64_t ld_x = c.k + c.ld_x_pad, ld_y = c.n + c.ld_y_pad;
    const size_t x_elems = c.x_off + static_cast<size_t>(c.rows) * ld_x;
    const size_t y_elems = c.y_off + static_cast<size_t>(c.rows) * ld_y;
    std::vector<float> x(x_elems), y0(y_elems), w(static_cast<size_t>(c.n) * c.k);
    for (auto& v : x) v = uniform();
    for (auto& v : y0) v = uniform();
    for (auto& v : w) v = uniform();
    x = round_bf16(x);
    y0 = round_bf16(y0);
    const std::vector<uint16_t> w16 = to_bf16(w);

    // The oracle: F32 activations, the same bf16 weight.
    std::vector<float> y_ref = y0;
    n4j_weight wc{w16.data(), N4J_DTYPE_BF16, c.n, c.k, c.scale, 0.0f, 0};
    EXPECT_OK(n4j_matmul(g_cpu, x.data() + c.x_off, ld_x, c.rows, &wc, y_ref.data() + c.y_off, ld_y, c.epilogue));
    double ref_max = 0;
    for (int r = 0; r < c.rows; ++r) {
        for (int o = 0; o < c.n; ++o) ref_max = fmax(ref_max, fabs(y_ref[c.y_off + r * ld_y + o]));
    }

    const std::vector<uint16_t> x16 = to_bf16(x), y016 = to_bf16(y0);
    outs->clear();
    for (n4j_backend* g : gpus) {
        void* xb = upload(g, x16.data(), x16.size() * 2);
        void* yb = upload(g, y016.data(), y016.size() * 2);
        void* wb = upload(g, w16.data(), w16.size() * 2);
        n4j_weight wg{wb, N4J_DTYPE_BF16, c.n, c.k, c.scale, 0.0f, 0};
        EXPECT_OK(n4j_matmul(g, static_cast<uint16_t*>(xb) + c.x_off, ld_x, c.rows, &wg,
                             static_cast<uint16_t*>(yb) + c.y_off, ld_y, c.epilogue));
        std::vector<uint16_t> y16(y_elems);
        EXPECT_OK(n4j_copy(g, y16.data(), yb, y16.size() * 2, N4J_COPY_BACKEND_TO_HOST));
        const std::vector<float> y = from_bf16(y16);
        double worst = 0;
        int untouched_bad = 0;
        std::vector<float> out(static_cast<size_t>(c.rows) * c.n);
        for (size_t i = 0; i < y_elems; ++i) {
            const bool inside = i >= static_cast<size_t>(c.y_off) && (i - c.y_off) % ld_y < static_cast<size_t>(c.n);
            if (!inside) {
                if (y[i] != y0[i] && !(isnan(y[i]) && isnan(y0[i]))) ++untouched_bad;
                continue;
            }
            const size_t r = (i - c.y_off) / ld_y, o = (i - c.y_off) % ld_y;
            out[r * c.n + o] = y[i];
            const double d = fabs(static_cast<double>(y[i]) - y_ref[i]);
            worst = isnan(d) ? INFINITY : fmax(worst, d);
        }
        const double rel = ref_max > 0 ? worst / ref_max : worst;
        EXPECT(rel <= 2e-2, "%s on %s: max |gpu - cpu| / max |cpu| = %.3e (tolerance 2e-2)", label,
               backend_name(g).c_str(), rel);
        EXPECT(untouched_bad == 0, "%s on %s: %d elements outside y's rows x n (offset, row padding) were written",
               label, backend_name(g).c_str(), untouched_bad);
        outs->push_back(out);
        EXPECT_OK(n4j_free(g, xb));
        EXPECT_OK(n4j_free(g, yb));
        EXPECT_OK(n4j_free(g, wb));
    }
}

/* ---- W8A8 ---- */

struct fp8_case {
    int rows, k, n;
    int ld_x_pad, ld_y_pad;
    int y_off;
    int epilogue;
    float scale, input_scale;
};

double g_fp8_worst[2] = {0, 0};  // worst relative error against the CPU W8A8 emulation: BF16, F32 activations

/* One W8A8 matmul on each backend (all of one activation dtype `act`) against the CPU W8A8 emulation; outputs
 * (rows x n) in *outs. */
void run_fp8_case(const fp8_case& c, int act, const std::vector<n4j_backend*>& gpus,
                  std::vector<std::vector<float>>* outs, const char* label) {
    const int64_t ld_x = c.k + c.ld_x_pad, ld_y = c.n + c.ld_y_pad;
    const size_t x_elems = static_cast<size_t>(c.rows) * ld_x;
    const size_t y_elems = c.y_off + static_cast<size_t>(c.rows) * ld_y;
    std::vector<float> x(x_elems), y0(y_elems), w(static_cast<size_t>(c.n) * c.k);
    for (auto& v : x) v = uniform() * 1.5f;  // some |x| / input_scale past 448: saturation
    for (auto& v : y0) v = uniform();
    for (auto& v : w) v = uniform() * 448.0f;
    if (act == N4J_DTYPE_BF16) {
        x = round_bf16(x);
        y0 = round_bf16(y0);
    }
    std::vector<uint8_t> w8(w.size() + 1);
    EXPECT_OK(n4j_convert(g_cpu, w.data(), N4J_DTYPE_F32, w8.data(), N4J_DTYPE_F8_E4M3, w.size()));

    // The CPU W8A8 emulation: x_q = e4m3(x * (1 / input_scale)) as exact f32 values, times the e4m3 weight with
    // scale fp32(W.scale * input_scale).
    const float inv = 1.0f / c.input_scale;
    std::vector<float> xs(x_elems), xq(x_elems);
    for (size_t i = 0; i < x_elems; ++i) xs[i] = x[i] * inv;
    std::vector<uint8_t> q(x_elems + 1);
    EXPECT_OK(n4j_convert(g_cpu, xs.data(), N4J_DTYPE_F32, q.data(), N4J_DTYPE_F8_E4M3, x_elems));
    EXPECT_OK(n4j_convert(g_cpu, q.data(), N4J_DTYPE_F8_E4M3, xq.data(), N4J_DTYPE_F32, x_elems));
    std::vector<float> y_ref = y0;
    n4j_weight wc{w8.data(), N4J_DTYPE_F8_E4M3, c.n, c.k, c.scale * c.input_scale, 0.0f, 0};
    EXPECT_OK(n4j_matmul(g_cpu, xq.data(), ld_x, c.rows, &wc, y_ref.data() + c.y_off, ld_y, c.epilogue));
    double ref_max = 0;
    for (int r = 0; r < c.rows; ++r)
        for (int o = 0; o < c.n; ++o) ref_max = fmax(ref_max, fabs(y_ref[c.y_off + r * ld_y + o]));

    const size_t eb = act == N4J_DTYPE_BF16 ? 2 : 4;
    const std::vector<uint16_t> x16 = act == N4J_DTYPE_BF16 ? to_bf16(x) : std::vector<uint16_t>();
    const std::vector<uint16_t> y016 = act == N4J_DTYPE_BF16 ? to_bf16(y0) : std::vector<uint16_t>();
    outs->clear();
    for (n4j_backend* g : gpus) {
        void* xb = upload(g, act == N4J_DTYPE_BF16 ? static_cast<const void*>(x16.data()) : x.data(), x_elems * eb);
        void* yb = upload(g, act == N4J_DTYPE_BF16 ? static_cast<const void*>(y016.data()) : y0.data(), y_elems * eb);
        void* wb = upload(g, w8.data(), w.size());
        n4j_weight wg{wb, N4J_DTYPE_F8_E4M3, c.n, c.k, c.scale, c.input_scale, 0};
        EXPECT_OK(n4j_matmul(g, xb, ld_x, c.rows, &wg, static_cast<char*>(yb) + c.y_off * eb, ld_y, c.epilogue));
        std::vector<float> y(y_elems);
        if (act == N4J_DTYPE_BF16) {
            std::vector<uint16_t> y16(y_elems);
            EXPECT_OK(n4j_copy(g, y16.data(), yb, y_elems * 2, N4J_COPY_BACKEND_TO_HOST));
            y = from_bf16(y16);
        } else {
            EXPECT_OK(n4j_copy(g, y.data(), yb, y_elems * 4, N4J_COPY_BACKEND_TO_HOST));
        }
        double worst = 0;
        int untouched_bad = 0;
        std::vector<float> out(static_cast<size_t>(c.rows) * c.n);
        for (size_t i = 0; i < y_elems; ++i) {
            const bool inside = i >= static_cast<size_t>(c.y_off) && (i - c.y_off) % ld_y < static_cast<size_t>(c.n);
            if (!inside) {
                if (y[i] != y0[i]) ++untouched_bad;
                continue;
            }
            out[((i - c.y_off) / ld_y) * c.n + (i - c.y_off) % ld_y] = y[i];
            const double d = fabs(static_cast<double>(y[i]) - y_ref[i]);
            worst = isnan(d) ? INFINITY : fmax(worst, d);
        }
        const double rel = ref_max > 0 ? worst / ref_max : worst;
        const double tol = act == N4J_DTYPE_BF16 ? 1e-2 : 1e-4;
        double& w = g_fp8_worst[act == N4J_DTYPE_BF16 ? 0 : 1];
        w = fmax(w, rel);
        EXPECT(rel <= tol, "%s on %s: max |gpu - cpu w8a8| / max |cpu| = %.3e (tolerance %.0e)", label,
               backend_name(g).c_str(), rel, tol);
        EXPECT(untouched_bad == 0, "%s on %s: %d elements outside y's rows x n were written", label,
               backend_name(g).c_str(), untouched_bad);
        outs->push_back(out);
        EXPECT_OK(n4j_free(g, xb));
        EXPECT_OK(n4j_free(g, yb));
        EXPECT_OK(n4j_free(g, wb));
    }
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b);

void test_fp8(counters_fn counters) {
    setenv("N4J_CUDA_FP8", "w8a8", 1);
    std::string why;
    n4j_backend* lt[2] = {make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, "cublaslt", &why), nullptr};
    n4j_backend* own[2] = {make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, "own", &why), nullptr};
    lt[1] = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_F32, 0, "cublaslt", &why);
    own[1] = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_F32, 0, "own", &why);
    unsetenv("N4J_CUDA_FP8");
    if (!lt[0] || !lt[1] || !own[0] || !own[1]) {
        fail_line("N4J_CUDA_FP8=w8a8: no backend: %s", why.c_str());
        return;
    }
    EXPECT(backend_name(lt[0]).find("fp8-w8a8") != std::string::npos, "N4J_CUDA_FP8=w8a8: the name (%s) does not "
           "say fp8-w8a8", backend_name(lt[0]).c_str());
    const fp8_case cases[] = {
        // rows, k, n, ld_x pad, ld_y pad, y_off, epilogue, scale, input_scale
        {9, 32, 24, 0, 0, 0, N4J_MATMUL_STORE, 0.01f, 1.0f / 448.0f},
        {17, 80, 129, 3, 5, 1, N4J_MATMUL_STORE, 0.003f, 1.3f / 448.0f},
        {33, 144, 7, 0, 1, 1, N4J_MATMUL_ACCUMULATE, 0.02f, 0.7f / 448.0f},
        {130, 64, 72, 8, 0, 3, N4J_MATMUL_ACCUMULATE, 0.001f, 1.0f / 448.0f},
        {12, 1040, 40, 2, 0, 0, N4J_MATMUL_STORE, 0.0005f, 1.0f / 448.0f},     // k >= 1024: split-K (workspace)
        {25, 2048, 17, 0, 3, 8, N4J_MATMUL_ACCUMULATE, 0.0002f, 2.0f / 448.0f},  // split-K, accumulate
    };
    uint64_t before[3] = {0, 0, 0}, after[3] = {0, 0, 0};
    std::vector<std::vector<float>> outs;
    for (int a = 0; a < 2; ++a) {
        const int act = a == 0 ? N4J_DTYPE_BF16 : N4J_DTYPE_F32;
        for (const fp8_case& c : cases) {
            char label[200];
            snprintf(label, sizeof(label), "w8a8 %s rows=%d k=%d n=%d ld_x=+%d ld_y=+%d y+%d epilogue=%d",
                     act == N4J_DTYPE_BF16 ? "bf16" : "f32", c.rows, c.k, c.n, c.ld_x_pad, c.ld_y_pad, c.y_off,
                     c.epilogue);
            if (counters) counters(before);
            run_fp8_case(c, act, {lt[a], own[a]}, &outs, label);
            if (counters) {
                counters(after);
                EXPECT(after[0] == before[0] + 1 && after[1] == before[1] + 1,
                       "%s: %llu heuristic and %llu cublasLtMatmul calls (1 and 1 expected)", label,
                       static_cast<unsigned long long>(after[0] - before[0]),
                       static_cast<unsigned long long>(after[1] - before[1]));
            }
            if (outs.size() == 2) {
                const double d = max_rel_diff(outs[0], outs[1]);
                EXPECT(d <= 1e-2, "%s: cublaslt and own differ by %.3e (relative)", label, d);
                printf("  %-88s cublaslt vs own %.2e\n", label, d);
            }
            if (counters) counters(before);
            run_fp8_case(c, act, {lt[a]}, &outs, label);
            if (counters) {
                counters(after);
                EXPECT(after[0] == before[0] && after[1] == before[1] + 1,
                       "%s, second run: %llu heuristic and %llu cublasLtMatmul calls (0 and 1 expected)", label,
                       static_cast<unsigned long long>(after[0] - before[0]),
                       static_cast<unsigned long long>(after[1] - before[1]));
            }
        }
        // The own e4m3 kernel: K not a multiple of 16 (cuBLASLt's FP8 rule), relu^2; the GEMV (rows <= 8).
        if (counters) counters(before);
        run_fp8_case({17, 40, 24, 1, 0, 0, N4J_MATMUL_STORE, 0.01f, 1.0f / 448.0f}, act, {lt[a]}, &outs,
                     "w8a8 k=40 (own kernel)");
        run_fp8_case({20, 64, 24, 0, 2, 1, N4J_MATMUL_RELU_SQUARED, 0.01f, 1.0f / 448.0f}, act, {lt[a]}, &outs,
                     "w8a8 relu^2 (own kernel)");
        run_fp8_case({5, 64, 24, 0, 2, 1, N4J_MATMUL_ACCUMULATE, 0.01f, 1.0f / 448.0f}, act, {lt[a]}, &outs,
                     "w8a8 rows=5 (GEMV)");
        if (counters) {
            counters(after);
            EXPECT(after[1] == before[1], "w8a8 k=40 / relu^2 / GEMV: %llu cublasLtMatmul calls (0 expected)",
                   static_cast<unsigned long long>(after[1] - before[1]));
        }
    }
    printf("  w8a8 against the CPU W8A8 emulation: worst relative error %.2e (bf16 activations, tolerance 1e-2), "
           "%.2e (f32, 1e-4)\n", g_fp8_worst[0], g_fp8_worst[1]);
    for (n4j_backend* b : {lt[0], lt[1], own[0], own[1]}) EXPECT_OK(n4j_backend_destroy(b));
    setenv("N4J_CUDA_FP8", "bogus", 1);
    n4j_backend* bogus = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, nullptr, &why);
    unsetenv("N4J_CUDA_FP8");
    EXPECT(bogus == nullptr && why.find("N4J_CUDA_FP8=bogus") != std::string::npos, "N4J_CUDA_FP8=bogus: %s",
           bogus ? "a backend was created" : why.c_str());
    if (bogus) n4j_backend_destroy(bogus);
    // The backend flag N4J_FLAG_FP8_W8A8 turns W8A8 on as the variable does; N4J_CUDA_FP8, when set, overrides it;
    // the same capability checks (here: N4J_CUDA_NO_MMA=1 is refused, naming the flag).
    n4j_backend* flagged = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_F32, N4J_FLAG_FP8_W8A8, nullptr, &why);
    EXPECT(flagged != nullptr && backend_name(flagged).find(" fp8-w8a8") != std::string::npos,
           "N4J_FLAG_FP8_W8A8: %s", flagged ? backend_name(flagged).c_str() : why.c_str());
    if (flagged) n4j_backend_destroy(flagged);
    setenv("N4J_CUDA_FP8", "weight-only", 1);
    flagged = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_F32, N4J_FLAG_FP8_W8A8, nullptr, &why);
    unsetenv("N4J_CUDA_FP8");
    EXPECT(flagged != nullptr && backend_name(flagged).find("fp8-w8a8") == std::string::npos,
           "N4J_FLAG_FP8_W8A8 with N4J_CUDA_FP8=weight-only: %s", flagged ? backend_name(flagged).c_str() : why.c_str());
    if (flagged) n4j_backend_destroy(flagged);
    setenv("N4J_CUDA_NO_MMA", "1", 1);
    flagged = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_F32, N4J_FLAG_FP8_W8A8, nullptr, &why);
    unsetenv("N4J_CUDA_NO_MMA");
    EXPECT(flagged == nullptr && why.find("N4J_FLAG_FP8_W8A8") != std::string::npos &&
               why.find("N4J_CUDA_NO_MMA") != std::string::npos,
           "N4J_FLAG_FP8_W8A8 with N4J_CUDA_NO_MMA=1: %s", flagged ? "a backend was created" : why.c_str());
    if (flagged) n4j_backend_destroy(flagged);
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        worst = fmax(worst, fabs(static_cast<double>(a[i]) - b[i]));
        scale = fmax(scale, fabs(static_cast<double>(b[i])));
    }
    return scale > 0 ? worst / scale : worst;
}

int test_glue() {
    std::string why;
    n4j_backend* lt = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, "cublaslt", &why);
    if (lt == nullptr) {
        fail_line("N4J_CUDA_GEMM=cublaslt: no backend: %s", why.c_str());
        return 1;
    }
    n4j_backend* own = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, "own", &why);
    if (own == nullptr) {
        fail_line("N4J_CUDA_GEMM=own: no backend: %s", why.c_str());
        return 1;
    }
    const std::string lt_name = backend_name(lt), own_name = backend_name(own);
    printf("cublaslt_glue_test: %s | %s\n", lt_name.c_str(), own_name.c_str());
    EXPECT(lt_name.find("cublasLt") != std::string::npos, "N4J_CUDA_GEMM=cublaslt: the name does not say cublasLt");
    EXPECT(own_name.find("cublasLt") == std::string::npos, "N4J_CUDA_GEMM=own: the name says cublasLt");
    const counters_fn counters = standin_counters();
    if (counters == nullptr) printf("  (not the stand-in: heuristic and descriptor counts are not checked)\n");
    uint64_t before[3] = {0, 0, 0}, after[3] = {0, 0, 0};

    const gemm_case cases[] = {
        // rows, k, n, ld_x pad, ld_y pad, x_off, y_off, epilogue, scale
        {9, 40, 24, 0, 0, 0, 0, N4J_MATMUL_STORE, 1.0f},
        {17, 67, 129, 3, 5, 1, 0, N4J_MATMUL_STORE, 1.0f},
        {33, 136, 7, 0, 1, 0, 1, N4J_MATMUL_ACCUMULATE, 1.0f},
        {130, 64, 72, 8, 0, 4, 3, N4J_MATMUL_ACCUMULATE, 0.37f},
        {12, 1030, 40, 2, 0, 0, 0, N4J_MATMUL_STORE, 2.0f},      // k >= 1024: the stand-in's split-K (workspace)
        {25, 2048, 17, 0, 3, 8, 8, N4J_MATMUL_ACCUMULATE, 1.0f}, // split-K, accumulate, 16-byte aligned offsets
    };
    std::vector<std::vector<float>> outs;
    for (const gemm_case& c : cases) {
        char label[160];
        snprintf(label, sizeof(label), "matmul rows=%d k=%d n=%d ld_x=+%d ld_y=+%d x+%d y+%d epilogue=%d scale=%g",
                 c.rows, c.k, c.n, c.ld_x_pad, c.ld_y_pad, c.x_off, c.y_off, c.epilogue, c.scale);
        if (counters) counters(before);
        run_case(c, {lt, own}, &outs, label);
        if (counters) {
            counters(after);
            EXPECT(after[0] == before[0] + 1, "%s: %llu heuristic calls for a new shape (1 expected)", label,
                   static_cast<unsigned long long>(after[0] - before[0]));
            EXPECT(after[1] == before[1] + 1, "%s: %llu cublasLtMatmul calls (1 expected)", label,
                   static_cast<unsigned long long>(after[1] - before[1]));
        }
        if (outs.size() == 2) {
            const double d = max_rel_diff(outs[0], outs[1]);
            EXPECT(d <= 2e-2, "%s: cublaslt and own differ by %.3e (relative)", label, d);
            printf("  %-88s ok? cublaslt vs own %.2e\n", label, d);
        }
        // The same shape again (new buffers with the same alignments): no new heuristic call.
        if (counters) counters(before);
        run_case(c, {lt}, &outs, label);
        if (counters) {
            counters(after);
            EXPECT(after[0] == before[0], "%s, second run: %llu heuristic calls (the plan should be cached)", label,
                   static_cast<unsigned long long>(after[0] - before[0]));
            EXPECT(after[1] == before[1] + 1, "%s, second run: %llu cublasLtMatmul calls (1 expected)", label,
                   static_cast<unsigned long long>(after[1] - before[1]));
        }
    }

    // What stays on the own kernels: relu^2, FP8 weights, F32 activations, decode-sized row counts.
    {
        if (counters) counters(before);
        run_case({17, 40, 24, 0, 0, 0, 0, N4J_MATMUL_RELU_SQUARED, 1.0f}, {lt}, &outs, "relu^2 (own kernels)");
        run_case({8, 40, 24, 0, 0, 0, 0, N4J_MATMUL_STORE, 1.0f}, {lt}, &outs, "rows=8 (GEMV)");
        n4j_backend* lt_f32 = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_F32, 0, "cublaslt", &why);
        if (lt_f32 == nullptr) {
            fail_line("N4J_CUDA_GEMM=cublaslt, F32 activations: no backend: %s", why.c_str());
        } else {
            std::vector<float> x(17 * 32), y(17 * 16);
            for (auto& v : x) v = uniform();
            std::vector<uint8_t> w8(16 * 32);
            for (size_t i = 0; i < w8.size(); ++i) w8[i] = static_cast<uint8_t>((i * 37) & 0x77);
            void* xb = upload(lt_f32, x.data(), x.size() * 4);
            void* yb = upload(lt_f32, y.data(), y.size() * 4);
            void* wb = upload(lt_f32, w8.data(), w8.size());
            n4j_weight w{wb, N4J_DTYPE_F8_E4M3, 16, 32, 0.5f, 0.0f, 0};
            EXPECT_OK(n4j_matmul(lt_f32, xb, 32, 17, &w, yb, 16, N4J_MATMUL_STORE));
            EXPECT_OK(n4j_backend_synchronize(lt_f32));
            n4j_free(lt_f32, xb);
            n4j_free(lt_f32, yb);
            n4j_free(lt_f32, wb);
            n4j_backend_destroy(lt_f32);
        }
        if (counters) {
            counters(after);
            EXPECT(after[1] == before[1], "relu^2 / GEMV / F32 activations: %llu cublasLtMatmul calls (0 expected)",
                   static_cast<unsigned long long>(after[1] - before[1]));
        }
    }

    // N4J_CUDA_GEMM=auto: 9..64 rows take the skinny GEMM (matmul.cu), only more rows cuBLASLt.
    {
        n4j_backend* aut = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, "auto", &why);
        if (aut == nullptr) {
            fail_line("N4J_CUDA_GEMM=auto: no backend: %s", why.c_str());
        } else {
            if (counters) counters(before);
            run_case({16, 136, 40, 0, 0, 0, 0, N4J_MATMUL_STORE, 1.0f}, {aut}, &outs, "auto, rows=16 (skinny)");
            run_case({64, 1030, 24, 2, 1, 1, 0, N4J_MATMUL_ACCUMULATE, 0.5f}, {aut}, &outs, "auto, rows=64 (skinny)");
            if (counters) {
                counters(after);
                EXPECT(after[1] == before[1], "auto, rows 16 / 64: %llu cublasLtMatmul calls (0 expected)",
                       static_cast<unsigned long long>(after[1] - before[1]));
                counters(before);
            }
            run_case({65, 40, 24, 0, 0, 0, 0, N4J_MATMUL_STORE, 1.0f}, {aut}, &outs, "auto, rows=65 (cuBLASLt)");
            if (counters) {
                counters(after);
                EXPECT(after[1] == before[1] + 1, "auto, rows 65: %llu cublasLtMatmul calls (1 expected)",
                       static_cast<unsigned long long>(after[1] - before[1]));
            }
            EXPECT_OK(n4j_backend_destroy(aut));
        }
    }

    EXPECT_OK(n4j_backend_destroy(lt));
    EXPECT_OK(n4j_backend_destroy(own));
    test_fp8(counters);
    if (counters) {
        counters(after);
        EXPECT(after[2] == 0, "%llu cuBLASLt objects (handles, descriptors, layouts, preferences) still live after the "
               "backends were destroyed", static_cast<unsigned long long>(after[2]));
    }

    n4j_backend* bogus = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, "bogus", &why);
    EXPECT(bogus == nullptr && why.find("N4J_CUDA_GEMM=bogus") != std::string::npos,
           "N4J_CUDA_GEMM=bogus: %s", bogus ? "a backend was created" : why.c_str());
    if (bogus) n4j_backend_destroy(bogus);
    return 0;
}

int test_absent() {
    std::string why;
    n4j_backend* forced = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, "cublaslt", &why);
    EXPECT(forced == nullptr && why.find("could not be loaded") != std::string::npos,
           "N4J_CUDA_GEMM=cublaslt without the library: %s", forced ? "a backend was created" : why.c_str());
    if (forced) n4j_backend_destroy(forced);
    printf("cublaslt_glue_test --absent: N4J_CUDA_GEMM=cublaslt refused: %s\n", why.c_str());
    for (const char* mode : {static_cast<const char*>(nullptr), "auto", "own"}) {
        n4j_backend* b = make_backend(N4J_BACKEND_CUDA, N4J_DTYPE_BF16, 0, mode, &why);
        if (b == nullptr) {
            fail_line("N4J_CUDA_GEMM=%s without the library: no backend: %s", mode ? mode : "(unset)", why.c_str());
            continue;
        }
        const std::string name = backend_name(b);
        EXPECT(name.find("cublasLt") == std::string::npos, "N4J_CUDA_GEMM=%s without the library: name %s",
               mode ? mode : "(unset)", name.c_str());
        std::vector<std::vector<float>> outs;
        char label[96];
        snprintf(label, sizeof(label), "own kernels (N4J_CUDA_GEMM=%s, no libcublasLt)", mode ? mode : "(unset)");
        run_case({19, 72, 40, 1, 2, 1, 1, N4J_MATMUL_ACCUMULATE, 1.0f}, {b}, &outs, label);
        printf("  %s: %s\n", label, name.c_str());
        EXPECT_OK(n4j_backend_destroy(b));
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const bool absent = argc > 1 && strcmp(argv[1], "--absent") == 0;
    std::string why;
    g_cpu = make_backend(N4J_BACKEND_CPU, N4J_DTYPE_F32, N4J_FLAG_REFERENCE_KERNELS, nullptr, &why);
    if (g_cpu == nullptr) {
        fprintf(stderr, "FAIL no CPU backend: %s\n", why.c_str());
        return 1;
    }
    if (absent) {
        test_absent();
    } else {
        test_glue();
    }
    n4j_backend_destroy(g_cpu);
    printf("cublaslt_glue_test%s: %d checks, %d failed\n", absent ? " --absent" : "", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
