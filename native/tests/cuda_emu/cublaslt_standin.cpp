/*
 * cublaslt_standin.cpp: libcublasLt_standin.so, a stand-in for NVIDIA's libcublasLt on the CUDA emulator.
 *
 * It exports the cuBLASLt entry points that the plug-in's glue calls (gemm_cublaslt.cu; declarations in
 * native/src/cuda/cublaslt_api.h) and implements them on the CPU with the semantics of NVIDIA's cuBLAS
 * documentation ("cuBLASLt API", cublasLtMatmul()), so that the glue, where the bugs of such code live (layouts,
 * transposes, leading dimensions, scales, workspace, stream order), is tested without a GPU:
 *
 *   D = epilogue(alpha * scale_A * scale_B * op(A) op(B) + beta * C), every matrix column-major: element (i, j) of
 *   a rows x cols matrix with leading dimension ld is at i + j * ld; op(X) = X (CUBLAS_OP_N) or X^T (CUBLAS_OP_T);
 *   D is m x n, op(A) m x k, op(B) k x n; C is not read when beta == 0; C == D (in place) needs identical layouts.
 *   Products and sums in fp32 (CUBLAS_COMPUTE_32F; the scale type must be CUDA_R_32F), the result rounded to D's type
 *   (bf16: round to nearest even). alpha and beta are host pointers (CUBLASLT_POINTER_MODE_HOST), read at the call;
 *   scale_A / scale_B (CUBLASLT_MATMUL_DESC_A/B_SCALE_POINTER, FP8 only) are device pointers read when the GEMM runs.
 *
 * Types: A, B bf16 with C, D bf16 or fp32; A, B fp8 (e4m3 or e5m2, not both e5m2) with C, D bf16 or fp32, which, as
 * documented for FP8, needs the "TN" form (op(A) = A^T, op(B) = B), k and the leading dimensions of A and B multiples
 * of 16. Epilogues: DEFAULT and RELU. Anything else: CUBLAS_STATUS_NOT_SUPPORTED (heuristic: no algorithm).
 *
 * What is checked, as the real library does or stricter:
 *   - handles and descriptors: NULL, or already destroyed (the stand-in keeps a registry of live objects):
 *     CUBLAS_STATUS_INVALID_VALUE; attribute buffers of the wrong size; unknown attributes (not modelled:
 *     CUBLAS_STATUS_NOT_SUPPORTED with a note); a leading dimension below the rows: CUBLAS_STATUS_INVALID_VALUE.
 *   - cublasLtMatmulAlgoGetHeuristic: shapes that do not chain (op(A) m x k, op(B) k x n, C and D m x n):
 *     CUBLAS_STATUS_INVALID_VALUE; it returns one algorithm, which records the configuration it was chosen for, the
 *     minimum alignments of the preference (default 256 bytes) and its workspace: for k >= 1024 with a preference
 *     allowing m * n * 4 bytes, a split-K algorithm that accumulates in the workspace (so a workspace that is too
 *     small or not device memory is caught), else none.
 *   - cublasLtMatmul: the algorithm must come from the heuristic for this same configuration; each operand pointer
 *     must be aligned as the preference promised and its whole extent must be device memory (the emulated runtime
 *     says so, standin_runtime.h); the workspace must be at least the algorithm's. Failures: INVALID_VALUE (a note
 *     on stderr says why). The GEMM itself is queued on the caller's stream (stream order, graph capture: it runs
 *     when the emulated device runs that point of the stream).
 *
 * Test hook: n4j_cublaslt_standin_counters reports the heuristic and matmul calls and the live objects, so tests can
 * check that the glue calls the heuristic once per shape and destroys what it creates.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <atomic>
#include <mutex>
#include <set>

#include "cublaslt_api.h"
#include "standin_runtime.h"

#define STANDIN_EXPORT extern "C" __attribute__((visibility("default")))

struct n4j_lt_context {
    int unused = 0;
};
struct n4j_lt_matmul_desc {
    int compute = 0;
    int scale = 0;
    int32_t trans_a = N4J_CUBLAS_OP_N;
    int32_t trans_b = N4J_CUBLAS_OP_N;
    uint32_t epilogue = N4J_CUBLASLT_EPILOGUE_DEFAULT;
    const float* a_scale = nullptr;
    const float* b_scale = nullptr;
};
struct n4j_lt_layout {
    int type = 0;
    uint64_t rows = 0, cols = 0;
    int64_t ld = 0;
};
struct n4j_lt_preference {
    uint64_t max_workspace = 0;
    uint32_t align[4] = {256, 256, 256, 256};  // A, B, C, D
};

namespace {

const n4j_emu_runtime_table* g_runtime = nullptr;
std::mutex g_mutex;
std::set<const void*> g_live;  // every object created and not destroyed yet
std::atomic<uint64_t> g_heuristic_calls{0};
std::atomic<uint64_t> g_matmul_calls{0};

constexpr uint64_t kAlgoMagic = 0x4e344a4c54414c47ull;  // "N4JLTALG"
constexpr uint64_t kSplitMinK = 1024;

void note(const char* format, ...) __attribute__((format(printf, 1, 2)));
void note(const char* format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "cublasLt stand-in: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
}

void track(const void* p) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_live.insert(p);
}
bool live(const void* p) {
    if (p == nullptr) return false;
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_live.count(p) != 0;
}
bool untrack(const void* p) {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_live.erase(p) != 0;
}

size_t type_bytes(int type) {
    switch (type) {
        case N4J_CUDA_R_32F: return 4;
        case N4J_CUDA_R_16F:
        case N4J_CUDA_R_16BF: return 2;
        case N4J_CUDA_R_8F_E4M3:
        case N4J_CUDA_R_8F_E5M2: return 1;
        default: return 0;
    }
}
bool is_fp8(int type) { return type == N4J_CUDA_R_8F_E4M3 || type == N4J_CUDA_R_8F_E5M2; }

float bf16_to_f32(uint16_t v) {
    const uint32_t bits = static_cast<uint32_t>(v) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
}
/* OCP FP8 (the PTX ISA's e4m3 / e5m2): e4m3 has bias 7, no infinities, S.1111.111 is NaN; e5m2 has bias 15 and
 * IEEE infinities and NaNs. */
float e4m3_to_f32(uint8_t v) {
    const int sign = v >> 7, exp = (v >> 3) & 15, man = v & 7;
    float r;
    if (exp == 15 && man == 7) return NAN;
    if (exp == 0) {
        r = ldexpf(static_cast<float>(man), -9);  // subnormal: man/8 * 2^-6
    } else {
        r = ldexpf(1.0f + man / 8.0f, exp - 7);
    }
    return sign ? -r : r;
}
float e5m2_to_f32(uint8_t v) {
    const int sign = v >> 7, exp = (v >> 2) & 31, man = v & 3;
    float r;
    if (exp == 31) {
        r = man == 0 ? INFINITY : NAN;
    } else if (exp == 0) {
        r = ldexpf(static_cast<float>(man), -16);  // man/4 * 2^-14
    } else {
        r = ldexpf(1.0f + man / 4.0f, exp - 15);
    }
    return sign ? -r : r;
}

float load(int type, const void* base, uint64_t index) {
    switch (type) {
        case N4J_CUDA_R_32F: return static_cast<const float*>(base)[index];
        case N4J_CUDA_R_16BF: return bf16_to_f32(static_cast<const uint16_t*>(base)[index]);
        case N4J_CUDA_R_8F_E4M3: return e4m3_to_f32(static_cast<const uint8_t*>(base)[index]);
        case N4J_CUDA_R_8F_E5M2: return e5m2_to_f32(static_cast<const uint8_t*>(base)[index]);
        default: return NAN;
    }
}
void store(int type, void* base, uint64_t index, float v) {
    if (type == N4J_CUDA_R_32F) {
        static_cast<float*>(base)[index] = v;
    } else {
        static_cast<uint16_t*>(base)[index] = f32_to_bf16(v);
    }
}

/* The configuration an algorithm is chosen for (FNV-1a over the descriptor and the four layouts). */
uint64_t signature(const n4j_lt_matmul_desc* d, const n4j_lt_layout* const layouts[4]) {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    mix(static_cast<uint64_t>(d->compute));
    mix(static_cast<uint64_t>(d->scale));
    mix(static_cast<uint64_t>(d->trans_a));
    mix(static_cast<uint64_t>(d->trans_b));
    mix(d->epilogue);
    mix(d->a_scale != nullptr);
    mix(d->b_scale != nullptr);
    for (int i = 0; i < 4; ++i) {
        mix(static_cast<uint64_t>(layouts[i]->type));
        mix(layouts[i]->rows);
        mix(layouts[i]->cols);
        mix(static_cast<uint64_t>(layouts[i]->ld));
    }
    return h;
}

bool same_layout(const n4j_lt_layout* a, const n4j_lt_layout* b) {
    return a->type == b->type && a->rows == b->rows && a->cols == b->cols && a->ld == b->ld;
}

/* Checks a configuration. INVALID_VALUE for shapes that do not chain; NOT_SUPPORTED for what is not implemented.
 * m, n, k out. */
n4j_lt_status check_config(const n4j_lt_matmul_desc* d, const n4j_lt_layout* A, const n4j_lt_layout* B,
                           const n4j_lt_layout* C, const n4j_lt_layout* D, uint64_t* m, uint64_t* n, uint64_t* k) {
    const uint64_t a_rows = d->trans_a == N4J_CUBLAS_OP_N ? A->rows : A->cols;
    const uint64_t a_cols = d->trans_a == N4J_CUBLAS_OP_N ? A->cols : A->rows;
    const uint64_t b_rows = d->trans_b == N4J_CUBLAS_OP_N ? B->rows : B->cols;
    const uint64_t b_cols = d->trans_b == N4J_CUBLAS_OP_N ? B->cols : B->rows;
    *m = D->rows;
    *n = D->cols;
    *k = a_cols;
    if (a_rows != D->rows || b_cols != D->cols || a_cols != b_rows || C->rows != D->rows || C->cols != D->cols) {
        note("shapes do not chain: op(A) %llu x %llu, op(B) %llu x %llu, C %llu x %llu, D %llu x %llu",
             (unsigned long long)a_rows, (unsigned long long)a_cols, (unsigned long long)b_rows,
             (unsigned long long)b_cols, (unsigned long long)C->rows, (unsigned long long)C->cols,
             (unsigned long long)D->rows, (unsigned long long)D->cols);
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    if (d->compute != N4J_CUBLAS_COMPUTE_32F || d->scale != N4J_CUDA_R_32F) return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
    if (d->epilogue != N4J_CUBLASLT_EPILOGUE_DEFAULT && d->epilogue != N4J_CUBLASLT_EPILOGUE_RELU) {
        return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (C->type != D->type || (D->type != N4J_CUDA_R_16BF && D->type != N4J_CUDA_R_32F)) {
        return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (A->type == N4J_CUDA_R_16BF && B->type == N4J_CUDA_R_16BF) {
        if (d->a_scale != nullptr || d->b_scale != nullptr) return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
        return N4J_CUBLAS_STATUS_SUCCESS;
    }
    if (is_fp8(A->type) && is_fp8(B->type) &&
        !(A->type == N4J_CUDA_R_8F_E5M2 && B->type == N4J_CUDA_R_8F_E5M2)) {
        if (d->trans_a != N4J_CUBLAS_OP_T || d->trans_b != N4J_CUBLAS_OP_N) return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
        if (*k % 16 != 0 || A->ld % 16 != 0 || B->ld % 16 != 0) return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
        return N4J_CUBLAS_STATUS_SUCCESS;
    }
    return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
}

/* Bytes a column-major rows x cols matrix with leading dimension ld spans. */
size_t extent(const n4j_lt_layout* l) {
    if (l->rows == 0 || l->cols == 0) return 0;
    return ((l->cols - 1) * static_cast<uint64_t>(l->ld) + l->rows) * type_bytes(l->type);
}

/* One queued GEMM: everything by value (the runtime copies it; a captured one replays with the same bytes). */
struct gemm_item {
    int a_type, b_type, c_type, d_type;
    int32_t trans_a, trans_b;
    uint32_t epilogue;
    uint64_t m, n, k;
    int64_t lda, ldb, ldc, ldd;
    const void* A;
    const void* B;
    const void* C;
    void* D;
    float alpha, beta;
    const float* a_scale;
    const float* b_scale;
    float* workspace;  // split-K: m * n fp32 partial sums; nullptr: none
    uint64_t split;    // k-chunks (1: none)
};

void run_gemm(const void* raw) {
    gemm_item g;
    memcpy(&g, raw, sizeof(g));
    const float scale = g.alpha * (g.a_scale != nullptr ? *g.a_scale : 1.0f) * (g.b_scale != nullptr ? *g.b_scale : 1.0f);
    const uint64_t chunk = (g.k + g.split - 1) / g.split;
    for (uint64_t j = 0; j < g.n; ++j) {
        for (uint64_t i = 0; i < g.m; ++i) {
            float acc = 0.0f;
            for (uint64_t s = 0; s < g.split; ++s) {
                float part = 0.0f;
                const uint64_t p_end = (s + 1) * chunk < g.k ? (s + 1) * chunk : g.k;
                for (uint64_t p = s * chunk; p < p_end; ++p) {
                    const uint64_t ia = g.trans_a == N4J_CUBLAS_OP_N ? i + p * g.lda : p + i * g.lda;
                    const uint64_t ib = g.trans_b == N4J_CUBLAS_OP_N ? p + j * g.ldb : j + p * g.ldb;
                    part += load(g.a_type, g.A, ia) * load(g.b_type, g.B, ib);
                }
                if (g.workspace != nullptr) {
                    // Split-K: the partial sums live in the workspace, as a real split-K reduction's do.
                    float* w = g.workspace + i + j * g.m;
                    *w = s == 0 ? part : *w + part;
                } else {
                    acc += part;
                }
            }
            if (g.workspace != nullptr) acc = g.workspace[i + j * g.m];
            float v = scale * acc;
            if (g.beta != 0.0f) v += g.beta * load(g.c_type, g.C, i + j * g.ldc);
            if (g.epilogue == N4J_CUBLASLT_EPILOGUE_RELU) v = v > 0.0f ? v : 0.0f;
            store(g.d_type, g.D, i + j * g.ldd, v);
        }
    }
}

uint32_t address_alignment(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    uint32_t alignment = 256;
    while (alignment > 1 && (a & (alignment - 1)) != 0) alignment >>= 1;
    return alignment;
}

}  // namespace

/* ---- the test hook and the emulator binding ---- */

STANDIN_EXPORT int n4j_emu_bind_runtime(const n4j_emu_runtime_table* table) {
    if (table == nullptr || table->version != N4J_EMU_RUNTIME_TABLE_VERSION) return -1;
    g_runtime = table;
    return 0;
}

/* out[0] heuristic calls, out[1] matmul calls (both since the process started), out[2] live objects. */
STANDIN_EXPORT void n4j_cublaslt_standin_counters(uint64_t out[3]) {
    out[0] = g_heuristic_calls.load();
    out[1] = g_matmul_calls.load();
    std::lock_guard<std::mutex> lock(g_mutex);
    out[2] = g_live.size();
}

/* ---- cuBLASLt ---- */

STANDIN_EXPORT size_t cublasLtGetVersion(void) { return 130000; }

STANDIN_EXPORT n4j_lt_status cublasLtCreate(n4j_lt_handle* handle) {
    if (handle == nullptr) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    if (g_runtime == nullptr) {
        note("cublasLtCreate: not bound to the emulated CUDA runtime (no device)");
        return N4J_CUBLAS_STATUS_NOT_INITIALIZED;
    }
    *handle = new n4j_lt_context();
    track(*handle);
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtDestroy(n4j_lt_handle handle) {
    if (!untrack(handle)) return N4J_CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmulDescCreate(n4j_lt_matmul_desc_t* desc, int compute_type, int scale_type) {
    if (desc == nullptr) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    n4j_lt_matmul_desc* d = new n4j_lt_matmul_desc();
    d->compute = compute_type;
    d->scale = scale_type;
    *desc = d;
    track(d);
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmulDescDestroy(n4j_lt_matmul_desc_t desc) {
    if (!untrack(desc)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    delete desc;
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmulDescSetAttribute(n4j_lt_matmul_desc_t desc, int attr, const void* buf,
                                                            size_t bytes) {
    if (!live(desc) || buf == nullptr) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
        case N4J_CUBLASLT_MATMUL_DESC_TRANSA:
        case N4J_CUBLASLT_MATMUL_DESC_TRANSB: {
            if (bytes != sizeof(int32_t)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
            int32_t v;
            memcpy(&v, buf, sizeof(v));
            if (v != N4J_CUBLAS_OP_N && v != N4J_CUBLAS_OP_T && v != 2 /* CUBLAS_OP_C: T for real types */) {
                return N4J_CUBLAS_STATUS_INVALID_VALUE;
            }
            if (v == 2) v = N4J_CUBLAS_OP_T;
            (attr == N4J_CUBLASLT_MATMUL_DESC_TRANSA ? desc->trans_a : desc->trans_b) = v;
            return N4J_CUBLAS_STATUS_SUCCESS;
        }
        case N4J_CUBLASLT_MATMUL_DESC_EPILOGUE:
            if (bytes != sizeof(uint32_t)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
            memcpy(&desc->epilogue, buf, sizeof(uint32_t));
            return N4J_CUBLAS_STATUS_SUCCESS;
        case N4J_CUBLASLT_MATMUL_DESC_A_SCALE_POINTER:
        case N4J_CUBLASLT_MATMUL_DESC_B_SCALE_POINTER:
            if (bytes != sizeof(void*)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
            memcpy(attr == N4J_CUBLASLT_MATMUL_DESC_A_SCALE_POINTER ? &desc->a_scale : &desc->b_scale, buf,
                   sizeof(void*));
            return N4J_CUBLAS_STATUS_SUCCESS;
        default:
            note("cublasLtMatmulDescSetAttribute: attribute %d is not modelled", attr);
            return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
    }
}

STANDIN_EXPORT n4j_lt_status cublasLtMatrixLayoutCreate(n4j_lt_layout_t* layout, int type, uint64_t rows,
                                                        uint64_t cols, int64_t ld) {
    if (layout == nullptr) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    if (type_bytes(type) == 0) {
        note("cublasLtMatrixLayoutCreate: data type %d is not modelled", type);
        return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (ld < 1 || static_cast<uint64_t>(ld) < rows) {
        note("cublasLtMatrixLayoutCreate: leading dimension %lld below the %llu rows (column-major)",
             static_cast<long long>(ld), static_cast<unsigned long long>(rows));
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    n4j_lt_layout* l = new n4j_lt_layout();
    l->type = type;
    l->rows = rows;
    l->cols = cols;
    l->ld = ld;
    *layout = l;
    track(l);
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatrixLayoutDestroy(n4j_lt_layout_t layout) {
    if (!untrack(layout)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    delete layout;
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmulPreferenceCreate(n4j_lt_preference_t* pref) {
    if (pref == nullptr) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    *pref = new n4j_lt_preference();
    track(*pref);
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmulPreferenceDestroy(n4j_lt_preference_t pref) {
    if (!untrack(pref)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    delete pref;
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmulPreferenceSetAttribute(n4j_lt_preference_t pref, int attr,
                                                                  const void* buf, size_t bytes) {
    if (!live(pref) || buf == nullptr) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    if (attr == N4J_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) {
        if (bytes != sizeof(uint64_t)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&pref->max_workspace, buf, sizeof(uint64_t));
        return N4J_CUBLAS_STATUS_SUCCESS;
    }
    if (attr >= N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES && attr <= N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES) {
        if (bytes != sizeof(uint32_t)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
        memcpy(&pref->align[attr - N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES], buf, sizeof(uint32_t));
        return N4J_CUBLAS_STATUS_SUCCESS;
    }
    note("cublasLtMatmulPreferenceSetAttribute: attribute %d is not modelled", attr);
    return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmulAlgoGetHeuristic(n4j_lt_handle handle, n4j_lt_matmul_desc_t desc,
                                                            n4j_lt_layout_t a, n4j_lt_layout_t b, n4j_lt_layout_t c,
                                                            n4j_lt_layout_t d, n4j_lt_preference_t pref,
                                                            int requested, n4j_lt_heuristic_result* results,
                                                            int* returned) {
    ++g_heuristic_calls;
    if (!live(handle)) return N4J_CUBLAS_STATUS_NOT_INITIALIZED;
    if (!live(desc) || !live(a) || !live(b) || !live(c) || !live(d) || !live(pref) || requested < 1 ||
        results == nullptr || returned == nullptr) {
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    *returned = 0;
    uint64_t m, n, k;
    const n4j_lt_status st = check_config(desc, a, b, c, d, &m, &n, &k);
    if (st != N4J_CUBLAS_STATUS_SUCCESS) return st;
    // An alignment below the element size (or not a power of two) leaves no algorithm.
    const n4j_lt_layout* const layouts[4] = {a, b, c, d};
    for (int i = 0; i < 4; ++i) {
        const uint32_t al = pref->align[i];
        if (al == 0 || (al & (al - 1)) != 0 || al < type_bytes(layouts[i]->type)) return N4J_CUBLAS_STATUS_NOT_SUPPORTED;
    }
    n4j_lt_heuristic_result r;
    memset(&r, 0, sizeof(r));
    uint64_t split = 1;
    size_t workspace = 0;
    if (k >= kSplitMinK && m * n * sizeof(float) <= pref->max_workspace) {
        split = 4;
        workspace = m * n * sizeof(float);
    }
    r.algo.data[0] = kAlgoMagic;
    r.algo.data[1] = signature(desc, layouts);
    r.algo.data[2] = pref->align[0] | (static_cast<uint64_t>(pref->align[1]) << 16) |
                     (static_cast<uint64_t>(pref->align[2]) << 32) | (static_cast<uint64_t>(pref->align[3]) << 48);
    r.algo.data[3] = workspace;
    r.algo.data[4] = split;
    r.workspaceSize = workspace;
    r.state = N4J_CUBLAS_STATUS_SUCCESS;
    r.wavesCount = 1.0f;
    results[0] = r;
    *returned = 1;
    return N4J_CUBLAS_STATUS_SUCCESS;
}

STANDIN_EXPORT n4j_lt_status cublasLtMatmul(n4j_lt_handle handle, n4j_lt_matmul_desc_t desc, const void* alpha,
                                            const void* A, n4j_lt_layout_t a_layout, const void* B,
                                            n4j_lt_layout_t b_layout, const void* beta, const void* C,
                                            n4j_lt_layout_t c_layout, void* D, n4j_lt_layout_t d_layout,
                                            const n4j_lt_algo* algo, void* workspace, size_t workspace_bytes,
                                            void* stream) {
    ++g_matmul_calls;
    if (!live(handle)) return N4J_CUBLAS_STATUS_NOT_INITIALIZED;
    if (!live(desc) || !live(a_layout) || !live(b_layout) || !live(c_layout) || !live(d_layout) || alpha == nullptr ||
        beta == nullptr || A == nullptr || B == nullptr || D == nullptr || algo == nullptr) {
        note("cublasLtMatmul: a NULL or destroyed argument");
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    uint64_t m, n, k;
    const n4j_lt_status st = check_config(desc, a_layout, b_layout, c_layout, d_layout, &m, &n, &k);
    if (st != N4J_CUBLAS_STATUS_SUCCESS) return st;
    const n4j_lt_layout* const layouts[4] = {a_layout, b_layout, c_layout, d_layout};
    if (algo->data[0] != kAlgoMagic || algo->data[1] != signature(desc, layouts)) {
        note("cublasLtMatmul: the algorithm was not returned by the heuristic for this configuration");
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    float alpha_v, beta_v;
    memcpy(&alpha_v, alpha, sizeof(float));
    memcpy(&beta_v, beta, sizeof(float));
    if (beta_v != 0.0f && C == nullptr) {
        note("cublasLtMatmul: beta != 0 with C NULL");
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    if (C == D && C != nullptr && !same_layout(c_layout, d_layout)) {
        note("cublasLtMatmul: in place (C == D) with different layouts for C and D");
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    const void* const pointers[4] = {A, B, C, D};
    const char* const names[4] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; ++i) {
        if (pointers[i] == nullptr) continue;  // C when beta == 0
        const uint32_t promised = static_cast<uint32_t>((algo->data[2] >> (16 * i)) & 0xffff);
        if (address_alignment(pointers[i]) < promised) {
            note("cublasLtMatmul: %s at %p is %u-byte aligned; the algorithm was chosen for %u-byte alignment",
                 names[i], pointers[i], address_alignment(pointers[i]), promised);
            return N4J_CUBLAS_STATUS_INVALID_VALUE;
        }
        char what[64];
        snprintf(what, sizeof(what), "cublasLtMatmul (stand-in) matrix %s", names[i]);
        if (!g_runtime->is_device(pointers[i], extent(layouts[i]), what)) return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    if (desc->a_scale != nullptr && !g_runtime->is_device(desc->a_scale, sizeof(float), "cublasLtMatmul scale_A")) {
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    if (desc->b_scale != nullptr && !g_runtime->is_device(desc->b_scale, sizeof(float), "cublasLtMatmul scale_B")) {
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    const size_t need = static_cast<size_t>(algo->data[3]);
    if (workspace_bytes < need || (need > 0 && workspace == nullptr)) {
        note("cublasLtMatmul: the algorithm needs %zu bytes of workspace, %zu given", need, workspace_bytes);
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    if (need > 0 && !g_runtime->is_device(workspace, need, "cublasLtMatmul workspace")) {
        return N4J_CUBLAS_STATUS_INVALID_VALUE;
    }
    gemm_item g;
    memset(&g, 0, sizeof(g));
    g.a_type = a_layout->type;
    g.b_type = b_layout->type;
    g.c_type = c_layout->type;
    g.d_type = d_layout->type;
    g.trans_a = desc->trans_a;
    g.trans_b = desc->trans_b;
    g.epilogue = desc->epilogue;
    g.m = m;
    g.n = n;
    g.k = k;
    g.lda = a_layout->ld;
    g.ldb = b_layout->ld;
    g.ldc = c_layout->ld;
    g.ldd = d_layout->ld;
    g.A = A;
    g.B = B;
    g.C = C;
    g.D = D;
    g.alpha = alpha_v;
    g.beta = beta_v;
    g.a_scale = desc->a_scale;
    g.b_scale = desc->b_scale;
    g.workspace = need > 0 ? static_cast<float*>(workspace) : nullptr;
    g.split = need > 0 ? algo->data[4] : 1;
    if (m == 0 || n == 0) return N4J_CUBLAS_STATUS_SUCCESS;
    if (g_runtime->enqueue(stream, run_gemm, &g, sizeof(g), "cublasLtMatmul (stand-in)") != 0) {
        return N4J_CUBLAS_STATUS_EXECUTION_FAILED;
    }
    return N4J_CUBLAS_STATUS_SUCCESS;
}
