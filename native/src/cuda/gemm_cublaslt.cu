/*
 * gemm_cublaslt.cu: prefill GEMMs through cuBLASLt, loaded at run time.
 *
 * The library. libcublasLt is not linked: the plug-in declares the few types and entry points it calls
 * (cublaslt_api.h, from NVIDIA's documentation) and dlopen()s the library once per process, the first time a
 * backend wants it: $N4J_CUBLASLT_LIBRARY when set (only that path), else libcublasLt.so.13, libcublasLt.so.12,
 * libcublasLt.so. So the path always compiles, and runs wherever the library exists. In the emulated plug-in
 * (N4J_CUDA_EMU_RUNTIME) the library must be the emulator's stand-in (native/tests/cuda_emu/cublaslt_standin.cpp),
 * which emu::bind_library connects to the emulated runtime's streams and memory.
 *
 * The choice, read when a backend is created (N4J_CUDA_GEMM):
 *   auto (default)  cuBLASLt when the library loads and cublasLtCreate succeeds, for the GEMMs it supports (below);
 *                   the plug-in's own kernels otherwise (no library: silently, unless N4J_CUBLASLT_LIBRARY named one
 *                   that failed to load, which is reported on stderr once)
 *   cublaslt        the same, but a library that does not load or initialize fails backend creation with the reason,
 *                   and a supported GEMM for which the heuristic finds no algorithm is an error, not a fallback
 *   own             never cuBLASLt (the library is not even loaded)
 * Supported: BF16 activations x BF16 weights (rows > 8: matmul.cu keeps the GEMVs for decode; rows 9..64 go to
 * the skinny GEMM in auto mode, to cuBLASLt only when forced), epilogue store or accumulate; and the W8A8 FP8 GEMM
 * (gemm_mma_w8a8.cu quantizes x first): e4m3 x_q x e4m3 W with F32 or BF16 output, store or accumulate, K a multiple
 * of 16 (cuBLASLt's FP8 rule: "TN" form, k and the leading dimensions of A and B multiples of 16; x_q's rows are
 * padded to 16 bytes, W's ld is K). The squared-ReLU epilogue, F32 activations with BF16 weights and weight-only FP8
 * stay on the own kernels.
 *
 * The GEMM. Row-major y[M, N] (+)= s * x[M, K] W[N, K]^T is, seen column-major (cuBLASLt's convention), the N x M
 * matrix D = alpha op(A) op(B) + beta C with A = W stored as a K x N column-major matrix (ld K) and op(A) = A^T,
 * B = x as a K x M column-major matrix (ld = ld_x), op(B) = B, C = D = y as an N x M column-major matrix (ld = ld_y);
 * alpha = W.scale, beta = 1 to accumulate else 0; compute CUBLAS_COMPUTE_32F with fp32 scale type, bf16 in and out.
 * FP8: A = W and B = x_q are CUDA_R_8F_E4M3 (B's ld = ld_q), C = D in the activation type, alpha = 1 and the scales
 * as cuBLASLt's FP8 scale pointers: A_SCALE_POINTER -> W.scale, B_SCALE_POINTER -> input_scale (device floats the
 * quantize kernel writes into scratch next to x_q), so D = W.scale * input_scale * x_q W^T (+ y).
 *
 * Plans. The matmul descriptor, the three layouts and the heuristic's algorithm depend on the shape (M, N, K, ld_x,
 * ld_y), the epilogue and the operands' alignments (the heuristic is told each pointer's real alignment: x and y are
 * often views at row or column offsets, and an algorithm chosen for 256-byte aligned operands may not run on
 * others). They are made once per such key and kept in the backend's plan cache, so a forward pass calls
 * cublasLtMatmul only; the cache is emptied when it reaches kMaxPlans. The algorithm's workspace (at most
 * kWorkspaceBytes) is the backend's scratch.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mutex>
#include <new>
#include <unordered_map>

#include "cublaslt_api.h"
#include "matmul.cuh"

namespace n4j {
namespace cuda {

namespace {

constexpr size_t kWorkspaceBytes = static_cast<size_t>(32) << 20;
constexpr size_t kMaxPlans = 4096;

/* ---- the library, loaded once per process ---- */

struct lt_library {
    bool loaded = false;
    char path[512] = {0};
    char error[1024] = {0};
    size_t version = 0;
    n4j_lt_create_fn create = nullptr;
    n4j_lt_destroy_fn destroy = nullptr;
    n4j_lt_get_version_fn get_version = nullptr;
    n4j_lt_desc_create_fn desc_create = nullptr;
    n4j_lt_desc_destroy_fn desc_destroy = nullptr;
    n4j_lt_desc_set_fn desc_set = nullptr;
    n4j_lt_layout_create_fn layout_create = nullptr;
    n4j_lt_layout_destroy_fn layout_destroy = nullptr;
    n4j_lt_pref_create_fn pref_create = nullptr;
    n4j_lt_pref_destroy_fn pref_destroy = nullptr;
    n4j_lt_pref_set_fn pref_set = nullptr;
    n4j_lt_heuristic_fn heuristic = nullptr;
    n4j_lt_matmul_fn matmul = nullptr;
};

template <typename F>
bool resolve(void* handle, const char* name, F* out, lt_library* lib) {
    *out = reinterpret_cast<F>(dlsym(handle, name));
    if (*out != nullptr) return true;
    snprintf(lib->error, sizeof(lib->error), "%s has no symbol %s", lib->path, name);
    return false;
}

void load_library(lt_library* lib) {
    const char* override_path = getenv("N4J_CUBLASLT_LIBRARY");
    const char* defaults[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
    const char* const* candidates = defaults;
    size_t count = sizeof(defaults) / sizeof(defaults[0]);
    if (override_path != nullptr && override_path[0] != '\0') {
        candidates = &override_path;
        count = 1;
    }
    void* handle = nullptr;
    size_t used = 0;
    lib->error[0] = '\0';
    for (size_t i = 0; i < count && handle == nullptr; ++i) {
        handle = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (handle != nullptr) {
            snprintf(lib->path, sizeof(lib->path), "%s", candidates[i]);
        } else if (used < sizeof(lib->error)) {
            const char* why = dlerror();
            used += snprintf(lib->error + used, sizeof(lib->error) - used, "%s%s", used == 0 ? "" : "; ",
                             why != nullptr ? why : candidates[i]);
        }
    }
    if (handle == nullptr) return;
    lib->error[0] = '\0';
    const bool ok = resolve(handle, "cublasLtCreate", &lib->create, lib) &&
                    resolve(handle, "cublasLtDestroy", &lib->destroy, lib) &&
                    resolve(handle, "cublasLtGetVersion", &lib->get_version, lib) &&
                    resolve(handle, "cublasLtMatmulDescCreate", &lib->desc_create, lib) &&
                    resolve(handle, "cublasLtMatmulDescDestroy", &lib->desc_destroy, lib) &&
                    resolve(handle, "cublasLtMatmulDescSetAttribute", &lib->desc_set, lib) &&
                    resolve(handle, "cublasLtMatrixLayoutCreate", &lib->layout_create, lib) &&
                    resolve(handle, "cublasLtMatrixLayoutDestroy", &lib->layout_destroy, lib) &&
                    resolve(handle, "cublasLtMatmulPreferenceCreate", &lib->pref_create, lib) &&
                    resolve(handle, "cublasLtMatmulPreferenceDestroy", &lib->pref_destroy, lib) &&
                    resolve(handle, "cublasLtMatmulPreferenceSetAttribute", &lib->pref_set, lib) &&
                    resolve(handle, "cublasLtMatmulAlgoGetHeuristic", &lib->heuristic, lib) &&
                    resolve(handle, "cublasLtMatmul", &lib->matmul, lib);
    if (!ok) {
        dlclose(handle);
        return;
    }
#ifdef N4J_CUDA_EMU_RUNTIME
    char why[400];  // with the path (512) it fits lib->error
    if (!emu::bind_library(handle, why, sizeof(why))) {
        snprintf(lib->error, sizeof(lib->error), "%s: %s", lib->path, why);
        dlclose(handle);
        return;
    }
#endif
    lib->version = lib->get_version();
    lib->loaded = true;
}

/* The process's library (loaded by the first backend that asks; thread-safe). */
const lt_library& library() {
    static lt_library lib;
    static std::once_flag once;
    std::call_once(once, [] {
        load_library(&lib);
        const char* override_path = getenv("N4J_CUBLASLT_LIBRARY");
        if (!lib.loaded && override_path != nullptr && override_path[0] != '\0') {
            fprintf(stderr, "nemotron4j: N4J_CUBLASLT_LIBRARY=%s could not be used (%s); GEMMs use the plug-in's "
                    "own kernels\n", override_path, lib.error);
        }
    });
    return lib;
}

const char* status_name(n4j_lt_status st) {
    switch (st) {
        case N4J_CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case N4J_CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case N4J_CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case N4J_CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case N4J_CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case N4J_CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case N4J_CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case N4J_CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        default: return "unknown cuBLAS status";
    }
}

/* ---- plans ---- */

struct plan_key {
    int rows, n, k;
    int64_t ld_x, ld_y;
    int accumulate;
    int fp8;      // 1: the W8A8 GEMM (e4m3 A and B, scale pointers), 0: BF16 x BF16
    int out_f32;  // C = D type: F32 (1) or BF16 (0)
    uint32_t align_w, align_x, align_y;
    bool operator==(const plan_key& o) const {
        return rows == o.rows && n == o.n && k == o.k && ld_x == o.ld_x && ld_y == o.ld_y &&
               accumulate == o.accumulate && fp8 == o.fp8 && out_f32 == o.out_f32 && align_w == o.align_w &&
               align_x == o.align_x && align_y == o.align_y;
    }
};

struct plan_key_hash {
    size_t operator()(const plan_key& key) const {
        uint64_t h = 1469598103934665603ull;
        auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
        mix(static_cast<uint64_t>(key.rows));
        mix(static_cast<uint64_t>(key.n));
        mix(static_cast<uint64_t>(key.k));
        mix(static_cast<uint64_t>(key.ld_x));
        mix(static_cast<uint64_t>(key.ld_y));
        mix(static_cast<uint64_t>(key.accumulate) | (static_cast<uint64_t>(key.fp8) << 1) |
            (static_cast<uint64_t>(key.out_f32) << 2));
        mix(key.align_w | (static_cast<uint64_t>(key.align_x) << 16) | (static_cast<uint64_t>(key.align_y) << 32));
        return static_cast<size_t>(h);
    }
};

struct plan {
    bool usable = false;  // false: the heuristic found no algorithm (auto mode: own kernels for this key)
    n4j_lt_matmul_desc_t desc = nullptr;
    n4j_lt_layout_t la = nullptr, lb = nullptr, lc = nullptr;
    n4j_lt_algo algo{};
    size_t workspace = 0;
};

struct lt_state {
    const lt_library* lib = nullptr;
    n4j_lt_handle handle = nullptr;
    bool forced = false;
    std::unordered_map<plan_key, plan, plan_key_hash> plans;
};

void destroy_plan(const lt_library& lib, plan* p) {
    if (p->lc != nullptr) lib.layout_destroy(p->lc);
    if (p->lb != nullptr) lib.layout_destroy(p->lb);
    if (p->la != nullptr) lib.layout_destroy(p->la);
    if (p->desc != nullptr) lib.desc_destroy(p->desc);
    *p = plan();
}

void clear_plans(lt_state* st) {
    for (auto& entry : st->plans) destroy_plan(*st->lib, &entry.second);
    st->plans.clear();
}

int32_t lt_check(context* ctx, n4j_lt_status status, const char* what) {
    if (status == N4J_CUBLAS_STATUS_SUCCESS) return N4J_OK;
    return ctx->fail(N4J_ERR_BACKEND, "n4j_matmul", "cuBLASLt %s failed: %s (%d)", what, status_name(status), status);
}

/* Largest power of two (at most 256) dividing the address: the heuristic assumes 256 unless told otherwise. */
uint32_t pointer_alignment(const void* p) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(p);
    uint32_t alignment = 256;
    while (alignment > 1 && (address & (alignment - 1)) != 0) alignment >>= 1;
    return alignment;
}

/* Makes the descriptor, layouts and algorithm of `key` (one heuristic call). N4J_OK with p->usable false when the
 * heuristic found no algorithm. FP8: `scales` (device, {W.scale, input_scale}) are set as the A/B scale pointers
 * (cublaslt_matmul_fp8 sets them again at each call: scratch may have moved). */
int32_t make_plan(context* ctx, lt_state* st, const plan_key& key, plan* p, const float* scales) {
    const lt_library& lib = *st->lib;
    int32_t rc = lt_check(ctx, lib.desc_create(&p->desc, N4J_CUBLAS_COMPUTE_32F, N4J_CUDA_R_32F), "MatmulDescCreate");
    const int32_t trans_a = N4J_CUBLAS_OP_T;
    const int32_t trans_b = N4J_CUBLAS_OP_N;
    const uint32_t epilogue = N4J_CUBLASLT_EPILOGUE_DEFAULT;
    if (rc == N4J_OK) {
        rc = lt_check(ctx, lib.desc_set(p->desc, N4J_CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)),
                      "MatmulDescSetAttribute(TRANSA)");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, lib.desc_set(p->desc, N4J_CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)),
                      "MatmulDescSetAttribute(TRANSB)");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, lib.desc_set(p->desc, N4J_CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
                      "MatmulDescSetAttribute(EPILOGUE)");
    }
    if (rc == N4J_OK && key.fp8) {
        const float* scale_a = scales;
        const float* scale_b = scales + 1;
        rc = lt_check(ctx, lib.desc_set(p->desc, N4J_CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_a, sizeof(scale_a)),
                      "MatmulDescSetAttribute(A_SCALE_POINTER)");
        if (rc == N4J_OK) {
            rc = lt_check(ctx,
                          lib.desc_set(p->desc, N4J_CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_b, sizeof(scale_b)),
                          "MatmulDescSetAttribute(B_SCALE_POINTER)");
        }
    }
    const int32_t in_type = key.fp8 ? N4J_CUDA_R_8F_E4M3 : N4J_CUDA_R_16BF;
    const int32_t out_type = key.out_f32 ? N4J_CUDA_R_32F : N4J_CUDA_R_16BF;
    if (rc == N4J_OK) {
        rc = lt_check(ctx, lib.layout_create(&p->la, in_type, static_cast<uint64_t>(key.k),
                                             static_cast<uint64_t>(key.n), key.k),
                      "MatrixLayoutCreate(A = W)");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, lib.layout_create(&p->lb, in_type, static_cast<uint64_t>(key.k),
                                             static_cast<uint64_t>(key.rows), key.ld_x),
                      key.fp8 ? "MatrixLayoutCreate(B = x_q)" : "MatrixLayoutCreate(B = x)");
    }
    if (rc == N4J_OK) {
        rc = lt_check(ctx, lib.layout_create(&p->lc, out_type, static_cast<uint64_t>(key.n),
                                             static_cast<uint64_t>(key.rows), key.ld_y),
                      "MatrixLayoutCreate(C = D = y)");
    }
    n4j_lt_preference_t pref = nullptr;
    if (rc == N4J_OK) rc = lt_check(ctx, lib.pref_create(&pref), "MatmulPreferenceCreate");
    const uint64_t max_workspace = kWorkspaceBytes;
    struct {
        int attr;
        const void* value;
        size_t bytes;
        const char* what;
    } const prefs[] = {
        {N4J_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof(max_workspace), "MAX_WORKSPACE_BYTES"},
        {N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key.align_w, sizeof(key.align_w), "MIN_ALIGNMENT_A_BYTES"},
        {N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key.align_x, sizeof(key.align_x), "MIN_ALIGNMENT_B_BYTES"},
        {N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key.align_y, sizeof(key.align_y), "MIN_ALIGNMENT_C_BYTES"},
        {N4J_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key.align_y, sizeof(key.align_y), "MIN_ALIGNMENT_D_BYTES"},
    };
    for (const auto& pr : prefs) {
        if (rc != N4J_OK) break;
        char what[96];
        snprintf(what, sizeof(what), "MatmulPreferenceSetAttribute(%s)", pr.what);
        rc = lt_check(ctx, lib.pref_set(pref, pr.attr, pr.value, pr.bytes), what);
    }
    if (rc == N4J_OK) {
        n4j_lt_heuristic_result result;
        memset(&result, 0, sizeof(result));
        int found = 0;
        const n4j_lt_status status =
            lib.heuristic(st->handle, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &result, &found);
        if (status == N4J_CUBLAS_STATUS_SUCCESS && found > 0) {
            if (result.workspaceSize > kWorkspaceBytes) {
                rc = ctx->fail(N4J_ERR_BACKEND, "n4j_matmul",
                               "cuBLASLt's heuristic returned an algorithm needing %zu bytes of workspace (at most %zu "
                               "were allowed)", result.workspaceSize, kWorkspaceBytes);
            } else {
                p->algo = result.algo;
                p->workspace = result.workspaceSize;
                p->usable = true;
            }
        } else if (status == N4J_CUBLAS_STATUS_SUCCESS || status == N4J_CUBLAS_STATUS_NOT_SUPPORTED) {
            if (st->forced) {
                rc = ctx->fail(N4J_ERR_UNSUPPORTED, "n4j_matmul",
                               "N4J_CUDA_GEMM=cublaslt but cuBLASLt has no algorithm for%s y[%d, %d] = x[%d, %d] W^T "
                               "(ld_x %lld, ld_y %lld, alignments %u/%u/%u bytes)", key.fp8 ? " the FP8" : "",
                               key.rows, key.n, key.rows, key.k,
                               static_cast<long long>(key.ld_x), static_cast<long long>(key.ld_y), key.align_w,
                               key.align_x, key.align_y);
            }
        } else {
            rc = lt_check(ctx, status, "MatmulAlgoGetHeuristic");
        }
    }
    if (pref != nullptr) lib.pref_destroy(pref);
    if (rc != N4J_OK || !p->usable) {
        const bool usable = p->usable;
        destroy_plan(lib, p);
        p->usable = usable && rc == N4J_OK;
    }
    return rc;
}

}  // namespace

int32_t cublaslt_init(context* ctx) {
    const char* where = "n4j_backend_create";
    const char* mode = getenv("N4J_CUDA_GEMM");
    bool forced = false;
    if (mode != nullptr && mode[0] != '\0' && strcmp(mode, "auto") != 0) {
        if (strcmp(mode, "own") == 0) return N4J_OK;
        if (strcmp(mode, "cublaslt") != 0) {
            return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "N4J_CUDA_GEMM=%s: expected own, cublaslt or auto",
                             mode);
        }
        forced = true;
    }
    const lt_library& lib = library();
    if (!lib.loaded) {
        if (!forced) return N4J_OK;
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "N4J_CUDA_GEMM=cublaslt but libcublasLt could not be loaded: %s",
                         lib.error);
    }
    lt_state* st = new (std::nothrow) lt_state();
    if (st == nullptr) return ctx->fail(N4J_ERR_OUT_OF_MEMORY, where, "out of host memory");
    st->lib = &lib;
    st->forced = forced;
    const n4j_lt_status status = lib.create(&st->handle);
    if (status != N4J_CUBLAS_STATUS_SUCCESS) {
        delete st;
        if (!forced) return N4J_OK;
        return ctx->fail(N4J_ERR_BACKEND, where, "N4J_CUDA_GEMM=cublaslt but cublasLtCreate (%s) failed: %s (%d)",
                         lib.path, status_name(status), status);
    }
    ctx->cublaslt = st;
    ctx->use_cublaslt = true;
    return N4J_OK;
}

bool cublaslt_forced(const context* ctx) {
    const lt_state* st = static_cast<const lt_state*>(ctx->cublaslt);
    return st != nullptr && st->forced;
}

void cublaslt_release(context* ctx) {
    lt_state* st = static_cast<lt_state*>(ctx->cublaslt);
    if (st != nullptr) {
        clear_plans(st);
        st->lib->destroy(st->handle);
        delete st;
    }
    ctx->cublaslt = nullptr;
    ctx->use_cublaslt = false;
}

bool cublaslt_supports(const context* ctx, const matmul_args& a) {
    // no squared ReLU and no residual add into an F32 stream among cuBLASLt's epilogues
    return ctx->use_cublaslt && ctx->act_bf16() && a.w_dtype == N4J_DTYPE_BF16 && !a.relu2 && !a.residual;
}

bool cublaslt_supports_fp8(const context* ctx, const matmul_args& a) {
    return ctx->use_cublaslt && a.w_dtype == N4J_DTYPE_F8_E4M3 && a.in_scale > 0.0f && !a.relu2 && !a.residual &&
           a.k % 16 == 0;
}

namespace {

/* The plan of a GEMM (made on first use); nullptr after reporting on failure. FP8: x_q's alignment is scratch's
 * (256 bytes), `scales` as make_plan. */
const plan* find_plan(context* ctx, lt_state* st, const matmul_args& a, bool fp8, int64_t ld_b, const void* b,
                      const float* scales, int32_t* rc) {
    plan_key key;
    key.rows = a.rows;
    key.n = a.n;
    key.k = a.k;
    key.ld_x = ld_b;
    key.ld_y = a.ld_y;
    key.accumulate = a.accumulate;
    key.fp8 = fp8 ? 1 : 0;
    key.out_f32 = ctx->act_bf16() ? 0 : 1;
    key.align_w = pointer_alignment(a.w);
    key.align_x = fp8 ? 256u : pointer_alignment(b);
    key.align_y = pointer_alignment(a.y);
    *rc = N4J_OK;
    auto it = st->plans.find(key);
    if (it == st->plans.end()) {
        if (st->plans.size() >= kMaxPlans) clear_plans(st);
        plan p;
        *rc = make_plan(ctx, st, key, &p, scales);
        if (*rc != N4J_OK) return nullptr;
        it = st->plans.emplace(key, p).first;
    }
    return &it->second;
}

}  // namespace

int32_t cublaslt_fp8_prepare(context* ctx, const matmul_args& a, int64_t ld_q, const float* scales, bool* usable,
                             size_t* workspace) {
    *usable = false;
    *workspace = 0;
    lt_state* st = static_cast<lt_state*>(ctx->cublaslt);
    int32_t rc;
    const plan* p = find_plan(ctx, st, a, true, ld_q, nullptr, scales, &rc);
    if (p == nullptr) return rc;
    *usable = p->usable;
    *workspace = p->workspace;
    return N4J_OK;
}

int32_t cublaslt_matmul_fp8(context* ctx, const matmul_args& a, const uint8_t* x_q, int64_t ld_q, const float* scales,
                            void* workspace, bool* done) {
    *done = false;
    lt_state* st = static_cast<lt_state*>(ctx->cublaslt);
    if (pointer_alignment(x_q) < 256) {
        return ctx->fail(N4J_ERR_INTERNAL, "n4j_matmul", "the quantized activations are not 256-byte aligned");
    }
    int32_t rc;
    const plan* p = find_plan(ctx, st, a, true, ld_q, x_q, scales, &rc);
    if (p == nullptr) return rc;
    if (!p->usable) return N4J_OK;
    const float* scale_a = scales;
    const float* scale_b = scales + 1;
    rc = lt_check(ctx, st->lib->desc_set(p->desc, N4J_CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_a, sizeof(scale_a)),
                  "MatmulDescSetAttribute(A_SCALE_POINTER)");
    if (rc == N4J_OK) {
        rc = lt_check(ctx,
                      st->lib->desc_set(p->desc, N4J_CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_b, sizeof(scale_b)),
                      "MatmulDescSetAttribute(B_SCALE_POINTER)");
    }
    if (rc != N4J_OK) return rc;
    const float alpha = 1.0f;
    const float beta = a.accumulate ? 1.0f : 0.0f;
    rc = lt_check(ctx,
                  st->lib->matmul(st->handle, p->desc, &alpha, a.w, p->la, x_q, p->lb, &beta, a.y, p->lc, a.y, p->lc,
                                  &p->algo, p->workspace > 0 ? workspace : nullptr, p->workspace, ctx->stream),
                  "Matmul");
    if (rc == N4J_OK) *done = true;
    return rc;
}

int32_t cublaslt_matmul(context* ctx, const matmul_args& a, bool* done) {
    *done = false;
    lt_state* st = static_cast<lt_state*>(ctx->cublaslt);
    int32_t rc;
    const plan* found = find_plan(ctx, st, a, false, a.ld_x, a.x, nullptr, &rc);
    if (found == nullptr) return rc;
    const plan& p = *found;
    if (!p.usable) return N4J_OK;  // auto mode, no algorithm for this key: the caller runs its own kernel
    void* workspace = nullptr;
    if (p.workspace > 0) {
        workspace = ctx->get_scratch(p.workspace, "n4j_matmul");
        if (workspace == nullptr) return N4J_ERR_OUT_OF_MEMORY;
    }
    const float alpha = a.scale;
    const float beta = a.accumulate ? 1.0f : 0.0f;
    rc = lt_check(ctx,
                                st->lib->matmul(st->handle, p.desc, &alpha, a.w, p.la, a.x, p.lb, &beta, a.y, p.lc,
                                                a.y, p.lc, &p.algo, workspace, p.workspace, ctx->stream),
                                "Matmul");
    if (rc == N4J_OK) *done = true;
    return rc;
}

}  // namespace cuda
}  // namespace n4j
