/*
 * cublaslt_standin_test.cpp: the stand-in libcublasLt (cublaslt_standin.cpp) on its own, against a double-precision
 * reference of the documented cublasLtMatmul semantics (CTest: cublaslt_standin_test). cublaslt_glue_test trusts the
 * stand-in as the oracle of the plug-in's glue; this test is what makes it one.
 *
 *   GEMMs      every transpose combination (N/T x N/T) with padded leading dimensions, bf16 in with bf16 and f32 out,
 *              alpha and beta (beta 0 with C full of NaN: C not read), the ReLU epilogue, in place (C == D), the
 *              split-K algorithm with its workspace, FP8 e4m3 x e4m3 and e4m3 x e5m2 in the TN form with the A/B scale
 *              pointers (device floats read when the GEMM runs)
 *   order      the GEMM runs in stream order: D is not written before the host waits; a captured GEMM runs at each
 *              graph launch
 *   refusals   FP8 not in TN form or with k % 16 != 0 (NOT_SUPPORTED), shapes that do not chain, ld below the rows,
 *              a destroyed descriptor, an attribute of the wrong size, an algorithm from another configuration, a
 *              workspace below the algorithm's, an operand in host memory, an operand less aligned than the
 *              preference promised (INVALID_VALUE)
 * Usage: cublaslt_standin_test <path of libcublasLt_standin.so>
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "cublaslt_api.h"
#include "emu.h"

namespace {

int g_failures = 0;
int g_checks = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        ++g_checks;                                                        \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
            ++g_failures;                                                  \
        }                                                                  \
    } while (0)

struct api {
    n4j_lt_create_fn create;
    n4j_lt_destroy_fn destroy;
    n4j_lt_desc_create_fn desc_create;
    n4j_lt_desc_destroy_fn desc_destroy;
    n4j_lt_desc_set_fn desc_set;
    n4j_lt_layout_create_fn layout_create;
    n4j_lt_layout_destroy_fn layout_destroy;
    n4j_lt_pref_create_fn pref_create;
    n4j_lt_pref_destroy_fn pref_destroy;
    n4j_lt_pref_set_fn pref_set;
    n4j_lt_heuristic_fn heuristic;
    n4j_lt_matmul_fn matmul;
} lt;

uint64_t g_seed = 99;
float uniform() {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((g_seed >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

uint16_t bf16_of(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    b += 0x7fffu + ((b >> 16) & 1u);
    return static_cast<uint16_t>(b >> 16);
}
float f32_of_bf16(uint16_t h) {
    const uint32_t b = static_cast<uint32_t>(h) << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}
/* e4m3 / e5m2 values from bytes, written independently of the stand-in's decoders: by enumeration of the formats'
 * definitions (sign, exponent bias 7 / 15, subnormals at exponent 0). */
double e4m3_value(uint8_t v) {
    const int e = (v >> 3) & 15, m = v & 7;
    const double mag = e == 0 ? m / 8.0 * pow(2.0, -6) : (1 + m / 8.0) * pow(2.0, e - 7);
    return (v & 0x80) ? -mag : mag;
}
double e5m2_value(uint8_t v) {
    const int e = (v >> 2) & 31, m = v & 3;
    const double mag = e == 0 ? m / 4.0 * pow(2.0, -14) : (1 + m / 4.0) * pow(2.0, e - 15);
    return (v & 0x80) ? -mag : mag;
}

/* A column-major matrix: host values (exact, as the device holds them), device bytes. */
struct matrix {
    int type;
    uint64_t rows, cols;
    int64_t ld;
    std::vector<double> value;  // ld * cols
    void* device = nullptr;
    n4j_lt_layout_t layout = nullptr;
    double at(uint64_t i, uint64_t j) const { return value[i + j * ld]; }
};

size_t bytes_of(int type) { return type == N4J_CUDA_R_32F ? 4 : type == N4J_CUDA_R_16BF ? 2 : 1; }

matrix make_matrix(int type, uint64_t rows, uint64_t cols, int64_t ld, bool nan_fill = false) {
    matrix m;
    m.type = type;
    m.rows = rows;
    m.cols = cols;
    m.ld = ld;
    const size_t n = static_cast<size_t>(ld) * cols;
    m.value.resize(n);
    std::vector<uint8_t> raw(n * bytes_of(type));
    for (size_t i = 0; i < n; ++i) {
        if (type == N4J_CUDA_R_16BF) {
            const uint16_t h = nan_fill ? 0x7fc0 : bf16_of(uniform());
            memcpy(&raw[i * 2], &h, 2);
            m.value[i] = f32_of_bf16(h);
        } else if (type == N4J_CUDA_R_32F) {
            const float f = nan_fill ? NAN : uniform();
            memcpy(&raw[i * 4], &f, 4);
            m.value[i] = f;
        } else {
            uint8_t b = static_cast<uint8_t>(g_seed >> 33);
            uniform();
            if (type == N4J_CUDA_R_8F_E4M3 && (b & 0x7f) == 0x7f) b = 0x3c;  // no NaN inputs
            if (type == N4J_CUDA_R_8F_E5M2 && ((b >> 2) & 31) >= 20) b &= 0x83;  // moderate magnitudes
            raw[i] = b;
            m.value[i] = type == N4J_CUDA_R_8F_E4M3 ? e4m3_value(b) : e5m2_value(b);
        }
    }
    cudaMalloc(&m.device, raw.size());
    cudaMemcpy(m.device, raw.data(), raw.size(), cudaMemcpyHostToDevice);
    CHECK(lt.layout_create(&m.layout, type, rows, cols, ld) == N4J_CUBLAS_STATUS_SUCCESS, "layout");
    return m;
}

std::vector<double> read_matrix(const matrix& m) {
    std::vector<uint8_t> raw(static_cast<size_t>(m.ld) * m.cols * bytes_of(m.type));
    cudaMemcpy(raw.data(), m.device, raw.size(), cudaMemcpyDeviceToHost);
    std::vector<double> out(static_cast<size_t>(m.ld) * m.cols);
    for (size_t i = 0; i < out.size(); ++i) {
        if (m.type == N4J_CUDA_R_16BF) {
            uint16_t h;
            memcpy(&h, &raw[i * 2], 2);
            out[i] = f32_of_bf16(h);
        } else {
            float f;
            memcpy(&f, &raw[i * 4], 4);
            out[i] = f;
        }
    }
    return out;
}

void free_matrix(matrix& m) {
    lt.layout_destroy(m.layout);
    cudaFree(m.device);
}

struct plan {
    n4j_lt_matmul_desc_t desc = nullptr;
    n4j_lt_heuristic_result result{};
    n4j_lt_status status = N4J_CUBLAS_STATUS_SUCCESS;
};

plan make_plan(n4j_lt_handle h, int trans_a, int trans_b, uint32_t epilogue, const matrix& A, const matrix& B,
               const matrix& C, const matrix& D, const float* a_scale, const float* b_scale, uint64_t workspace,
               uint32_t align_b = 256) {
    plan p;
    lt.desc_create(&p.desc, N4J_CUBLAS_COMPUTE_32F, N4J_CUDA_R_32F);
    const int32_t ta = trans_a, tb = trans_b;
    lt.desc_set(p.desc, N4J_CUBLASLT_MATMUL_DESC_TRANSA, &ta, 4);
    lt.desc_set(p.desc, N4J_CUBLASLT_MATMUL_DESC_TRANSB, &tb, 4);
    lt.desc_set(p.desc, N4J_CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, 4);
    if (a_scale) lt.desc_set(p.desc, N4J_CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof(a_scale));
    if (b_scale) lt.desc_set(p.desc, N4J_CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof(b_scale));
    n4j_lt_preference_t pref;
    lt.pref_create(&pref);
    lt.pref_set(pref, N4J_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, 8);
    lt.pref_set(pref, N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, 4);
    int found = 0;
    p.status = lt.heuristic(h, p.desc, A.layout, B.layout, C.layout, D.layout, pref, 1, &p.result, &found);
    if (p.status == N4J_CUBLAS_STATUS_SUCCESS && found != 1) p.status = N4J_CUBLAS_STATUS_NOT_SUPPORTED;
    lt.pref_destroy(pref);
    return p;
}

/* D = relu?(alpha * sa * sb * op(A) op(B) + beta * C), in double. */
std::vector<double> reference(int trans_a, int trans_b, bool relu, double alpha, double beta, double sa, double sb,
                              const matrix& A, const matrix& B, const std::vector<double>& C, int64_t ldc, uint64_t m,
                              uint64_t n, uint64_t k, int64_t ldd, const std::vector<double>& d_before) {
    std::vector<double> d = d_before;
    for (uint64_t j = 0; j < n; ++j) {
        for (uint64_t i = 0; i < m; ++i) {
            double acc = 0;
            for (uint64_t p = 0; p < k; ++p) {
                acc += (trans_a ? A.at(p, i) : A.at(i, p)) * (trans_b ? B.at(j, p) : B.at(p, j));
            }
            double v = alpha * sa * sb * acc + (beta != 0 ? beta * C[i + j * ldc] : 0.0);
            if (relu) v = v > 0 ? v : 0;
            d[i + j * ldd] = v;
        }
    }
    return d;
}

/* Worst |got - want| / max |want| over the m x n block, and whether everything outside it is unchanged. */
double compare(const std::vector<double>& got, const std::vector<double>& want, uint64_t m, uint64_t n, int64_t ld,
               bool* outside_ok) {
    double worst = 0, scale = 1e-30;
    *outside_ok = true;
    for (uint64_t j = 0; j < n; ++j) {
        for (int64_t i = 0; i < ld; ++i) {
            const size_t x = i + j * ld;
            if (static_cast<uint64_t>(i) < m) {
                worst = fmax(worst, fabs(got[x] - want[x]));
                scale = fmax(scale, fabs(want[x]));
                if (isnan(got[x])) worst = INFINITY;
            } else if (!(got[x] == want[x] || (isnan(got[x]) && isnan(want[x])))) {
                *outside_ok = false;
            }
        }
    }
    return worst / scale;
}

void test_gemms(n4j_lt_handle h, cudaStream_t stream) {
    struct gcase {
        int ta, tb, ab_type, b_type, d_type;
        uint64_t m, n, k;
        int pad;
        float alpha, beta;
        bool relu, in_place, scales;
        uint64_t workspace;
    };
    const gcase cases[] = {
        {0, 0, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, 13, 9, 21, 3, 1.0f, 0.0f, false, false, false, 0},
        {1, 0, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, 7, 17, 40, 0, 0.5f, 1.0f, false, true, false, 0},
        {0, 1, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, N4J_CUDA_R_32F, 24, 5, 33, 5, 2.0f, -0.5f, true, false, false, 0},
        {1, 1, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, N4J_CUDA_R_32F, 9, 11, 19, 1, 1.0f, 0.25f, false, false, false, 0},
        {1, 0, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, N4J_CUDA_R_16BF, 6, 4, 1100, 2, 1.0f, 1.0f, false, true, false, 1 << 20},
        {1, 0, N4J_CUDA_R_8F_E4M3, N4J_CUDA_R_8F_E4M3, N4J_CUDA_R_16BF, 20, 12, 48, 16, 1.0f, 0.0f, false, false, true, 0},
        {1, 0, N4J_CUDA_R_8F_E4M3, N4J_CUDA_R_8F_E5M2, N4J_CUDA_R_32F, 8, 8, 32, 0, 0.75f, 1.0f, true, false, true, 0},
    };
    float scales_host[2] = {0.125f, 3.0f};
    float* scales = nullptr;
    cudaMalloc(&scales, sizeof(scales_host));
    cudaMemcpy(scales, scales_host, sizeof(scales_host), cudaMemcpyHostToDevice);
    void* workspace = nullptr;
    cudaMalloc(&workspace, 1 << 20);
    for (const gcase& c : cases) {
        const uint64_t ar = c.ta ? c.k : c.m, ac = c.ta ? c.m : c.k;
        const uint64_t br = c.tb ? c.n : c.k, bc = c.tb ? c.k : c.n;
        matrix A = make_matrix(c.ab_type, ar, ac, ar + c.pad);
        matrix B = make_matrix(c.b_type, br, bc, br + c.pad);
        matrix D = make_matrix(c.d_type, c.m, c.n, c.m + c.pad);
        matrix C = c.in_place ? D : make_matrix(c.d_type, c.m, c.n, c.m + 1, c.beta == 0.0f);
        const std::vector<double> d_before = D.value;
        plan p = make_plan(h, c.ta, c.tb, c.relu ? N4J_CUBLASLT_EPILOGUE_RELU : N4J_CUBLASLT_EPILOGUE_DEFAULT, A, B, C,
                           D, c.scales ? scales : nullptr, c.scales ? scales + 1 : nullptr, c.workspace);
        char label[160];
        snprintf(label, sizeof(label), "m=%llu n=%llu k=%llu op(A)=%c op(B)=%c types %d x %d -> %d beta=%g relu=%d%s%s",
                 (unsigned long long)c.m, (unsigned long long)c.n, (unsigned long long)c.k, c.ta ? 'T' : 'N',
                 c.tb ? 'T' : 'N', c.ab_type, c.b_type, c.d_type, c.beta, c.relu, c.in_place ? " in place" : "",
                 p.result.workspaceSize ? " split-K" : "");
        CHECK(p.status == N4J_CUBLAS_STATUS_SUCCESS, "%s: heuristic status %d", label, p.status);
        if (c.workspace > 0) CHECK(p.result.workspaceSize > 0, "%s: no split-K algorithm", label);
        if (p.status == N4J_CUBLAS_STATUS_SUCCESS) {
            const n4j_lt_status st = lt.matmul(h, p.desc, &c.alpha, A.device, A.layout, B.device, B.layout, &c.beta,
                                               C.device, C.layout, D.device, D.layout, &p.result.algo, workspace,
                                               p.result.workspaceSize, stream);
            CHECK(st == N4J_CUBLAS_STATUS_SUCCESS, "%s: matmul status %d", label, st);
            bool outside_ok = true;
            cudaStreamSynchronize(stream);
            const std::vector<double> want =
                reference(c.ta, c.tb, c.relu, c.alpha, c.beta, c.scales ? scales_host[0] : 1.0,
                          c.scales ? scales_host[1] : 1.0, A, B, C.value, C.ld, c.m, c.n, c.k, D.ld, d_before);
            const double err = compare(read_matrix(D), want, c.m, c.n, D.ld, &outside_ok);
            const double tol = c.d_type == N4J_CUDA_R_16BF ? 8e-3 : 1e-5;
            CHECK(err <= tol, "%s: relative error %.3e (tolerance %.0e)", label, err, tol);
            CHECK(outside_ok, "%s: D written outside its m x n block (leading-dimension padding)", label);
            printf("  %-96s ok? rel err %.2e\n", label, err);
        }
        lt.desc_destroy(p.desc);
        if (!c.in_place) free_matrix(C);
        free_matrix(D);
        free_matrix(B);
        free_matrix(A);
    }
    cudaFree(scales);
    cudaFree(workspace);
}

void test_order_and_capture(n4j_lt_handle h, cudaStream_t stream) {
    matrix A = make_matrix(N4J_CUDA_R_16BF, 16, 8, 16);
    matrix B = make_matrix(N4J_CUDA_R_16BF, 16, 4, 16);
    matrix D = make_matrix(N4J_CUDA_R_32F, 8, 4, 8);
    const std::vector<double> before = read_matrix(D);
    plan p = make_plan(h, 1, 0, N4J_CUBLASLT_EPILOGUE_DEFAULT, A, B, D, D, nullptr, nullptr, 0);
    const float one = 1.0f, zero = 0.0f, two = 2.0f;
    CHECK(lt.matmul(h, p.desc, &one, A.device, A.layout, B.device, B.layout, &zero, D.device, D.layout, D.device,
                    D.layout, &p.result.algo, nullptr, 0, stream) == N4J_CUBLAS_STATUS_SUCCESS, "queued matmul");
    CHECK(read_matrix(D) == before, "D changed before the host waited for the stream");
    cudaStreamSynchronize(stream);
    const std::vector<double> once = read_matrix(D);
    CHECK(once != before, "D unchanged after the stream ran");
    // Captured: nothing runs at capture; each launch accumulates once more (beta = 1, alpha = 2 frozen at the call).
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal) == cudaSuccess, "begin capture");
    CHECK(lt.matmul(h, p.desc, &two, A.device, A.layout, B.device, B.layout, &one, D.device, D.layout, D.device,
                    D.layout, &p.result.algo, nullptr, 0, stream) == N4J_CUBLAS_STATUS_SUCCESS, "captured matmul");
    cudaGraph_t graph = nullptr;
    CHECK(cudaStreamEndCapture(stream, &graph) == cudaSuccess, "end capture");
    cudaGraphExec_t exec = nullptr;
    CHECK(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess, "instantiate");
    cudaStreamSynchronize(stream);
    CHECK(read_matrix(D) == once, "the captured matmul ran at capture");
    cudaGraphLaunch(exec, stream);
    cudaGraphLaunch(exec, stream);
    cudaStreamSynchronize(stream);
    const std::vector<double> after = read_matrix(D);
    double worst = 0;
    for (size_t i = 0; i < once.size(); ++i) worst = fmax(worst, fabs(after[i] - 5.0 * once[i]));
    CHECK(worst < 1e-4, "two graph launches of D += 2 AB: off by %.3e", worst);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    lt.desc_destroy(p.desc);
    free_matrix(D);
    free_matrix(B);
    free_matrix(A);
}

void test_refusals(n4j_lt_handle h, cudaStream_t stream) {
    const float one = 1.0f, zero = 0.0f;
    matrix A8 = make_matrix(N4J_CUDA_R_8F_E4M3, 8, 32, 16);  // op(A) = A: 8 x 32
    matrix B8 = make_matrix(N4J_CUDA_R_8F_E4M3, 32, 8, 32);
    matrix D = make_matrix(N4J_CUDA_R_16BF, 8, 8, 8);
    plan nn = make_plan(h, 0, 0, N4J_CUBLASLT_EPILOGUE_DEFAULT, A8, B8, D, D, nullptr, nullptr, 0);
    CHECK(nn.status == N4J_CUBLAS_STATUS_NOT_SUPPORTED, "FP8 in NN form: heuristic status %d", nn.status);
    lt.desc_destroy(nn.desc);
    matrix A8k = make_matrix(N4J_CUDA_R_8F_E4M3, 24, 8, 32);
    matrix B8k = make_matrix(N4J_CUDA_R_8F_E4M3, 24, 8, 32);
    plan k24 = make_plan(h, 1, 0, N4J_CUBLASLT_EPILOGUE_DEFAULT, A8k, B8k, D, D, nullptr, nullptr, 0);
    CHECK(k24.status == N4J_CUBLAS_STATUS_NOT_SUPPORTED, "FP8 with k = 24: heuristic status %d", k24.status);
    lt.desc_destroy(k24.desc);

    matrix A = make_matrix(N4J_CUDA_R_16BF, 16, 8, 16);  // op(A) = A^T: 8 x 16
    matrix B = make_matrix(N4J_CUDA_R_16BF, 12, 8, 12);  // k mismatch: 12 != 16
    plan bad = make_plan(h, 1, 0, N4J_CUBLASLT_EPILOGUE_DEFAULT, A, B, D, D, nullptr, nullptr, 0);
    CHECK(bad.status == N4J_CUBLAS_STATUS_INVALID_VALUE, "shapes that do not chain: heuristic status %d", bad.status);
    lt.desc_destroy(bad.desc);

    n4j_lt_layout_t l = nullptr;
    CHECK(lt.layout_create(&l, N4J_CUDA_R_16BF, 10, 4, 9) == N4J_CUBLAS_STATUS_INVALID_VALUE, "ld 9 < 10 rows");

    n4j_lt_matmul_desc_t d = nullptr;
    lt.desc_create(&d, N4J_CUBLAS_COMPUTE_32F, N4J_CUDA_R_32F);
    const int64_t wrong = 1;
    CHECK(lt.desc_set(d, N4J_CUBLASLT_MATMUL_DESC_TRANSA, &wrong, sizeof(wrong)) == N4J_CUBLAS_STATUS_INVALID_VALUE,
          "TRANSA given 8 bytes");
    lt.desc_destroy(d);
    const int32_t t = 1;
    CHECK(lt.desc_set(d, N4J_CUBLASLT_MATMUL_DESC_TRANSA, &t, 4) == N4J_CUBLAS_STATUS_INVALID_VALUE,
          "a destroyed descriptor");

    matrix B16 = make_matrix(N4J_CUDA_R_16BF, 16, 8, 16);
    plan good = make_plan(h, 1, 0, N4J_CUBLASLT_EPILOGUE_DEFAULT, A, B16, D, D, nullptr, nullptr, 0);
    CHECK(good.status == N4J_CUBLAS_STATUS_SUCCESS, "good plan: %d", good.status);
    matrix B16b = make_matrix(N4J_CUDA_R_16BF, 16, 8, 24);  // another configuration (ld)
    CHECK(lt.matmul(h, good.desc, &one, A.device, A.layout, B16b.device, B16b.layout, &zero, D.device, D.layout,
                    D.device, D.layout, &good.result.algo, nullptr, 0, stream) == N4J_CUBLAS_STATUS_INVALID_VALUE,
          "an algorithm chosen for another configuration");
    std::vector<uint16_t> host_b(16 * 8);
    CHECK(lt.matmul(h, good.desc, &one, A.device, A.layout, host_b.data(), B16.layout, &zero, D.device, D.layout,
                    D.device, D.layout, &good.result.algo, nullptr, 0, stream) == N4J_CUBLAS_STATUS_INVALID_VALUE,
          "B in host memory");
    CHECK(lt.matmul(h, good.desc, &one, A.device, A.layout, static_cast<char*>(B16.device) + 2, B16.layout, &zero,
                    D.device, D.layout, D.device, D.layout, &good.result.algo, nullptr, 0,
                    stream) == N4J_CUBLAS_STATUS_INVALID_VALUE,
          "B 2-byte aligned after a heuristic told 256");
    lt.desc_destroy(good.desc);

    matrix Ak = make_matrix(N4J_CUDA_R_16BF, 2048, 8, 2048);
    matrix Bk = make_matrix(N4J_CUDA_R_16BF, 2048, 8, 2048);
    plan split = make_plan(h, 1, 0, N4J_CUBLASLT_EPILOGUE_DEFAULT, Ak, Bk, D, D, nullptr, nullptr, 1 << 20);
    CHECK(split.result.workspaceSize > 0, "k = 2048 with a workspace allowed: no split-K algorithm");
    void* ws = nullptr;
    cudaMalloc(&ws, 1 << 20);
    CHECK(lt.matmul(h, split.desc, &one, Ak.device, Ak.layout, Bk.device, Bk.layout, &zero, D.device, D.layout,
                    D.device, D.layout, &split.result.algo, ws, split.result.workspaceSize - 4,
                    stream) == N4J_CUBLAS_STATUS_INVALID_VALUE,
          "a workspace 4 bytes short");
    cudaStreamSynchronize(stream);
    cudaFree(ws);
    lt.desc_destroy(split.desc);
    for (matrix* m : {&A8, &B8, &D, &A8k, &B8k, &A, &B, &B16, &B16b, &Ak, &Bk}) free_matrix(*m);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cublaslt_standin_test <path of libcublasLt_standin.so>\n");
        return 2;
    }
    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        fprintf(stderr, "FAIL cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    n4j_lt_handle before_bind = nullptr;
    auto create = reinterpret_cast<n4j_lt_create_fn>(dlsym(lib, "cublasLtCreate"));
    CHECK(create != nullptr && create(&before_bind) == N4J_CUBLAS_STATUS_NOT_INITIALIZED,
          "cublasLtCreate before the runtime is bound");
    char why[256];
    if (!emu::bind_library(lib, why, sizeof(why))) {
        fprintf(stderr, "FAIL bind_library: %s\n", why);
        return 1;
    }
#define RESOLVE(field, name) lt.field = reinterpret_cast<decltype(lt.field)>(dlsym(lib, name))
    RESOLVE(create, "cublasLtCreate");
    RESOLVE(destroy, "cublasLtDestroy");
    RESOLVE(desc_create, "cublasLtMatmulDescCreate");
    RESOLVE(desc_destroy, "cublasLtMatmulDescDestroy");
    RESOLVE(desc_set, "cublasLtMatmulDescSetAttribute");
    RESOLVE(layout_create, "cublasLtMatrixLayoutCreate");
    RESOLVE(layout_destroy, "cublasLtMatrixLayoutDestroy");
    RESOLVE(pref_create, "cublasLtMatmulPreferenceCreate");
    RESOLVE(pref_destroy, "cublasLtMatmulPreferenceDestroy");
    RESOLVE(pref_set, "cublasLtMatmulPreferenceSetAttribute");
    RESOLVE(heuristic, "cublasLtMatmulAlgoGetHeuristic");
    RESOLVE(matmul, "cublasLtMatmul");
    n4j_lt_handle h = nullptr;
    CHECK(lt.create(&h) == N4J_CUBLAS_STATUS_SUCCESS, "cublasLtCreate");
    cudaStream_t stream = nullptr;
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    printf("cublaslt_standin_test: GEMMs against the double-precision reference\n");
    test_gemms(h, stream);
    test_order_and_capture(h, stream);
    test_refusals(h, stream);
    cudaStreamDestroy(stream);
    CHECK(lt.destroy(h) == N4J_CUBLAS_STATUS_SUCCESS, "cublasLtDestroy");
    uint64_t counters[3];
    reinterpret_cast<void (*)(uint64_t*)>(dlsym(lib, "n4j_cublaslt_standin_counters"))(counters);
    CHECK(counters[2] == 0, "%llu objects still live", static_cast<unsigned long long>(counters[2]));
    printf("cublaslt_standin_test: %d checks, %d failed\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
