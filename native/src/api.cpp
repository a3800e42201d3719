/*
 * api.cpp: the n4j_* entry points of nemotron4j.h: argument validation, then dispatch to the backend's
 * operations table.
 *
 * Every argument that can be checked is checked here, once, for every backend: handles (live backends only),
 * null pointers, non-positive sizes, ld smaller than the row width, dtypes an op does not support, n4j_weight
 * shapes against the other arguments, dims (heads divisible by groups / kv_heads), KV cache capacity and block
 * pointers, embedding ids (when backend memory is host memory), reserved fields, and overlapping outputs. A
 * failure returns N4J_ERR_INVALID_ARGUMENT with a thread-local message "n4j_<function>: <argument> ..." and
 * touches nothing. C++ exceptions never leave the library: std::bad_alloc becomes N4J_ERR_OUT_OF_MEMORY, anything
 * else N4J_ERR_INTERNAL.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <new>
#include <vector>

#include "backend.h"
#include "error.h"
#include "export.h"
#include "nemotron4j.h"

#ifndef N4J_VERSION_STRING
#define N4J_VERSION_STRING "0.0.0"
#endif

namespace {

using n4j::set_error;

/* Row strides above this are certainly a bug (and would overflow byte offsets). */
constexpr int64_t kMaxLd = int64_t(1) << 40;
/* Weight dtypes every kernel accepts. */
constexpr uint32_t kWeightDtypes = (1u << N4J_DTYPE_F32) | (1u << N4J_DTYPE_BF16) | (1u << N4J_DTYPE_F8_E4M3);

int64_t element_size(int32_t dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32: return 4;
        case N4J_DTYPE_BF16: return 2;
        case N4J_DTYPE_F16: return 2;
        case N4J_DTYPE_F8_E4M3: return 1;
        case N4J_DTYPE_I32: return 4;
        default: return 0;
    }
}

const char* dtype_name(int32_t dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32: return "F32";
        case N4J_DTYPE_BF16: return "BF16";
        case N4J_DTYPE_F16: return "F16";
        case N4J_DTYPE_F8_E4M3: return "F8_E4M3";
        case N4J_DTYPE_I32: return "I32";
        case N4J_DTYPE_Q8: return "Q8";
        case N4J_DTYPE_Q4: return "Q4";
        case N4J_DTYPE_Q6: return "Q6";
        default: return "unknown";
    }
}

/* A strided matrix in memory: `rows` rows of `width` elements, `ld` elements apart. */
struct span {
    const void* p;
    int64_t rows;
    int64_t ld;
    int64_t width;
    int64_t element_size;
};

span vector_span(const void* p, int64_t n, int64_t element_size) { return span{p, 1, n, n, element_size}; }

int64_t span_bytes(const span& s) { return ((s.rows - 1) * s.ld + s.width) * s.element_size; }

/* True when the elements of a and b intersect (exact for equal ld and element size, conservative otherwise). */
bool spans_overlap(const span& a, const span& b) {
    const uintptr_t a0 = reinterpret_cast<uintptr_t>(a.p), a1 = a0 + static_cast<uintptr_t>(span_bytes(a));
    const uintptr_t b0 = reinterpret_cast<uintptr_t>(b.p), b1 = b0 + static_cast<uintptr_t>(span_bytes(b));
    if (a1 <= b0 || b1 <= a0) return false;
    if (a.ld != b.ld || a.element_size != b.element_size) return true;
    const int64_t diff = static_cast<int64_t>(b0 - a0);
    if (diff % a.element_size != 0) return true;
    const int64_t d = diff / a.element_size;  // b's first element, in elements from a's first
    const int64_t ld = a.ld;
    int64_t q = d / ld, m = d % ld;
    if (m < 0) {
        m += ld;
        q -= 1;
    }
    // b's rows start at a-row q (+ i), a-column m; a row of b may wrap into the next a-row.
    auto rows_meet = [&](int64_t first) { return first < a.rows && first + b.rows > 0; };
    const int64_t end1 = m + b.width < ld ? m + b.width : ld;
    if (m < a.width && end1 > m && rows_meet(q)) return true;
    if (m + b.width > ld && m + b.width - ld > 0 && rows_meet(q + 1)) return true;
    return false;
}

/* Collects the first failed check of a call and formats "function: message". */
class checker {
public:
    explicit checker(const char* function) : function_(function) {}
    int32_t status() const { return status_; }
    const char* function() const { return function_; }

    bool fail(int32_t code, const char* format, ...) __attribute__((format(printf, 3, 4))) {
        char message[768];
        va_list args;
        va_start(args, format);
        vsnprintf(message, sizeof(message), format, args);
        va_end(args);
        status_ = set_error(code, "%s: %s", function_, message);
        return false;
    }

    bool backend(n4j_backend* b) {
        if (b == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "backend is NULL");
        if (!n4j::backend_is_live(b)) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "backend %p is not a live backend (destroyed, or never created)",
                        static_cast<void*>(b));
        }
        return true;
    }

    /* Refuses what a decode step (n4j_step_begin .. _end) may not do, on every backend alike. */
    bool outside_step(n4j_backend* b, const char* what) {
        return !b->in_step || fail(N4J_ERR_INVALID_ARGUMENT, "%s inside a decode step (n4j_step_begin .. n4j_step_end)", what);
    }

    bool not_null(const void* p, const char* name) {
        return p != nullptr || fail(N4J_ERR_INVALID_ARGUMENT, "%s is NULL", name);
    }

    bool positive(int64_t v, const char* name) {
        return v > 0 || fail(N4J_ERR_INVALID_ARGUMENT, "%s (%lld) must be positive", name, static_cast<long long>(v));
    }

    bool ld(int64_t ld, const char* ld_name, int64_t width, const char* width_desc) {
        if (ld < width) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s (%lld) is smaller than the row width %s (%lld)", ld_name,
                        static_cast<long long>(ld), width_desc, static_cast<long long>(width));
        }
        if (ld > kMaxLd) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s (%lld) is implausibly large", ld_name,
                        static_cast<long long>(ld));
        }
        return true;
    }

    /* One of the N4J_MATMUL_* epilogues (n4j_matmul, n4j_rmsnorm_matmul). */
    bool matmul_epilogue(int32_t epilogue) {
        return epilogue == N4J_MATMUL_STORE || epilogue == N4J_MATMUL_ACCUMULATE ||
               epilogue == N4J_MATMUL_RELU_SQUARED || epilogue == N4J_MATMUL_ADD_TO_RESIDUAL ||
               fail(N4J_ERR_INVALID_ARGUMENT,
                    "epilogue (%d) must be N4J_MATMUL_STORE (0), N4J_MATMUL_ACCUMULATE (1), N4J_MATMUL_RELU_SQUARED "
                    "(2) or N4J_MATMUL_ADD_TO_RESIDUAL (3)",
                    epilogue);
    }

    bool finite_non_negative(float v, const char* name) {
        return (isfinite(v) && v >= 0.0f) ||
               fail(N4J_ERR_INVALID_ARGUMENT, "%s (%g) must be finite and >= 0", name, static_cast<double>(v));
    }

    /* A weight of any shape (rows, cols > 0) in F32 / BF16 / F8_E4M3 with a usable scale. */
    bool weight(const n4j_weight* w, const char* name) {
        if (w == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "%s is NULL", name);
        if (w->data == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "%s.data is NULL", name);
        if (w->reserved != 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s.reserved (%d) must be 0", name, w->reserved);
        }
        if (w->dtype < 0 || w->dtype > 31 || ((1u << w->dtype) & kWeightDtypes) == 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT,
                        "%s.dtype %d (%s) is not supported by this op (weights are F32, BF16 or F8_E4M3)", name,
                        w->dtype, dtype_name(w->dtype));
        }
        if (w->rows <= 0 || w->cols <= 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s shape [%d, %d] must be positive", name, w->rows, w->cols);
        }
        if (!isfinite(w->scale) || w->scale == 0.0f) {
            return fail(N4J_ERR_INVALID_ARGUMENT,
                        "%s.scale (%g) must be finite and non-zero (1 for unscaled weights)", name,
                        static_cast<double>(w->scale));
        }
        return true;
    }

    /* A weight of n4j_matmul: any weight dtype, or block-quantized (N4J_DTYPE_Q8 / N4J_DTYPE_Q4 / N4J_DTYPE_Q6) with
     * cols a multiple of the block (32 / 64 / 64), on the CPU and CUDA backends. */
    bool matmul_weight(const n4j_weight* w, const char* name, const n4j_backend* backend) {
        if (w == nullptr || (w->dtype != N4J_DTYPE_Q8 && w->dtype != N4J_DTYPE_Q4 && w->dtype != N4J_DTYPE_Q6)) {
            return weight(w, name);
        }
        if (w->data == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "%s.data is NULL", name);
        if (w->reserved != 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s.reserved (%d) must be 0", name, w->reserved);
        }
        if (w->rows <= 0 || w->cols <= 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s shape [%d, %d] must be positive", name, w->rows, w->cols);
        }
        const int32_t block = w->dtype == N4J_DTYPE_Q8 ? 32 : 64;
        if (w->cols % block != 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s is %s with %d columns, which is not a multiple of its block (%d)",
                        name, dtype_name(w->dtype), w->cols, block);
        }
        if (!isfinite(w->scale) || w->scale == 0.0f) {
            return fail(N4J_ERR_INVALID_ARGUMENT,
                        "%s.scale (%g) must be finite and non-zero (1 for unscaled weights)", name,
                        static_cast<double>(w->scale));
        }
        (void)backend;
        return true;
    }

    /* A weight holding a vector of n elements: rows = n, cols = 1. */
    bool vector(const n4j_weight* w, const char* name, int64_t n, const char* n_desc) {
        if (!weight(w, name)) return false;
        if (w->rows != n || w->cols != 1) {
            return fail(N4J_ERR_INVALID_ARGUMENT,
                        "%s shape [%d, %d] does not match a vector of %s = %lld elements (rows = %lld, cols = 1)",
                        name, w->rows, w->cols, n_desc, static_cast<long long>(n), static_cast<long long>(n));
        }
        return true;
    }

    bool disjoint(const span& a, const char* a_name, const span& b, const char* b_name) {
        if (a.p == nullptr || b.p == nullptr || !spans_overlap(a, b)) return true;
        return fail(N4J_ERR_INVALID_ARGUMENT, "%s and %s overlap in memory", a_name, b_name);
    }

    /* Disjoint, except that exactly the same matrix (same pointer and ld) is allowed (in-place operation). */
    bool disjoint_or_same(const span& a, const char* a_name, const span& b, const char* b_name) {
        if (a.p == b.p && a.ld == b.ld) return true;
        return disjoint(a, a_name, b, b_name);
    }

    bool ssm_dims(const n4j_ssm_dims* d) {
        if (d == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "dims is NULL");
        if (d->reserved != 0) return fail(N4J_ERR_INVALID_ARGUMENT, "dims->reserved (%d) must be 0", d->reserved);
        if (!positive(d->heads, "dims->heads") || !positive(d->head_dim, "dims->head_dim") ||
            !positive(d->groups, "dims->groups") || !positive(d->state_dim, "dims->state_dim") ||
            !positive(d->chunk_size, "dims->chunk_size")) {
            return false;
        }
        if (d->heads % d->groups != 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "dims->heads (%d) is not divisible by dims->groups (%d)", d->heads,
                        d->groups);
        }
        return true;
    }

    bool attn_dims(const n4j_attn_dims* d) {
        if (d == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "dims is NULL");
        if (!positive(d->heads, "dims->heads") || !positive(d->kv_heads, "dims->kv_heads") ||
            !positive(d->head_dim, "dims->head_dim")) {
            return false;
        }
        if (d->heads % d->kv_heads != 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "dims->heads (%d) is not divisible by dims->kv_heads (%d)",
                        d->heads, d->kv_heads);
        }
        if (!isfinite(d->scale) || d->scale <= 0.0f) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "dims->scale (%g) must be finite and positive",
                        static_cast<double>(d->scale));
        }
        return true;
    }

    /* A KV cache that can take `new_tokens` more tokens. */
    bool kv_cache(const n4j_kv_cache* c, const char* name, int64_t new_tokens) {
        if (c == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "%s is NULL", name);
        if (c->k_blocks == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "%s.k_blocks is NULL", name);
        if (c->v_blocks == nullptr) return fail(N4J_ERR_INVALID_ARGUMENT, "%s.v_blocks is NULL", name);
        if (c->n_blocks <= 0) return fail(N4J_ERR_INVALID_ARGUMENT, "%s.n_blocks (%d) must be positive", name, c->n_blocks);
        if (c->block_tokens <= 0) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s.block_tokens (%d) must be positive", name, c->block_tokens);
        }
        if (c->length < 0) return fail(N4J_ERR_INVALID_ARGUMENT, "%s.length (%d) must be >= 0", name, c->length);
        if (c->dtype != N4J_DTYPE_F32 && c->dtype != N4J_DTYPE_BF16) {
            return fail(N4J_ERR_INVALID_ARGUMENT, "%s.dtype %d (%s) is not supported (KV caches are F32 or BF16)",
                        name, c->dtype, dtype_name(c->dtype));
        }
        const int64_t needed = static_cast<int64_t>(c->length) + new_tokens;
        const int64_t capacity = static_cast<int64_t>(c->n_blocks) * c->block_tokens;
        if (needed > capacity) {
            return fail(N4J_ERR_INVALID_ARGUMENT,
                        "%s capacity n_blocks (%d) * block_tokens (%d) = %lld tokens is too small for length (%d) + "
                        "%lld new tokens",
                        name, c->n_blocks, c->block_tokens, static_cast<long long>(capacity), c->length,
                        static_cast<long long>(new_tokens));
        }
        const int64_t used = (needed + c->block_tokens - 1) / c->block_tokens;
        for (int64_t b = 0; b < used; ++b) {
            if (c->k_blocks[b] == nullptr) {
                return fail(N4J_ERR_INVALID_ARGUMENT, "%s.k_blocks[%lld] is NULL", name, static_cast<long long>(b));
            }
            if (c->v_blocks[b] == nullptr) {
                return fail(N4J_ERR_INVALID_ARGUMENT, "%s.v_blocks[%lld] is NULL", name, static_cast<long long>(b));
            }
        }
        return true;
    }

private:
    const char* function_;
    int32_t status_ = N4J_OK;
};

/* Runs an entry point's body, turning C++ exceptions into status codes. */
template <class F>
int32_t guarded(const char* function, F&& body) {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return set_error(N4J_ERR_OUT_OF_MEMORY, "%s: out of memory", function);
    } catch (const std::exception& e) {
        return set_error(N4J_ERR_INTERNAL, "%s: internal error: %s", function, e.what());
    } catch (...) {
        return set_error(N4J_ERR_INTERNAL, "%s: internal error", function);
    }
}

/* Element size of the backend's activations. */
int64_t act_size(const n4j_backend* b) { return element_size(b->options.activation_dtype); }

/* Element size of the residual stream: F32 under N4J_FLAG_F32_RESIDUAL, else the activation dtype's. */
int64_t resid_size(const n4j_backend* b) {
    return (b->options.flags & N4J_FLAG_F32_RESIDUAL) != 0 ? 4 : act_size(b);
}

/* Checks shared by the three Mamba scan entry points (x/B/C/dt/y with `rows` rows). */
bool check_ssm_common(checker& c, n4j_backend* backend, const n4j_ssm_dims* dims, int32_t rows, const char* rows_name,
                      const void* x, int64_t ld_x, const void* B, int64_t ld_B, const void* C, int64_t ld_C,
                      const void* dt, int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                      const n4j_weight* D, const void* y, int64_t ld_y) {
    if (!c.backend(backend) || !c.ssm_dims(dims) || !c.positive(rows, rows_name) || !c.not_null(x, "x") ||
        !c.not_null(B, "B") || !c.not_null(C, "C") || !c.not_null(dt, "dt") || !c.not_null(y, "y")) {
        return false;
    }
    const int64_t d_inner = static_cast<int64_t>(dims->heads) * dims->head_dim;
    const int64_t bc_width = static_cast<int64_t>(dims->groups) * dims->state_dim;
    if (!c.ld(ld_x, "ld_x", d_inner, "dims->heads * dims->head_dim") ||
        !c.ld(ld_B, "ld_B", bc_width, "dims->groups * dims->state_dim") ||
        !c.ld(ld_C, "ld_C", bc_width, "dims->groups * dims->state_dim") ||
        !c.ld(ld_dt, "ld_dt", dims->heads, "dims->heads") ||
        !c.ld(ld_y, "ld_y", d_inner, "dims->heads * dims->head_dim") ||
        !c.vector(dt_bias, "dt_bias", dims->heads, "dims->heads") ||
        !c.vector(A_log, "A_log", dims->heads, "dims->heads") || !c.vector(D, "D", dims->heads, "dims->heads")) {
        return false;
    }
    const int64_t es = act_size(backend);
    const span ys{y, rows, ld_y, d_inner, es};
    return c.disjoint(ys, "y", span{x, rows, ld_x, d_inner, es}, "x") &&
           c.disjoint(ys, "y", span{B, rows, ld_B, bc_width, es}, "B") &&
           c.disjoint(ys, "y", span{C, rows, ld_C, bc_width, es}, "C") &&
           c.disjoint(ys, "y", span{dt, rows, ld_dt, dims->heads, es}, "dt");
}

/* Checks of an SSM state pointer (F32 [heads, head_dim, state_dim]) against y. */
bool check_ssm_state(checker& c, const n4j_ssm_dims* dims, const float* state, const char* name, const void* y,
                     int32_t rows, int64_t ld_y, int64_t es) {
    if (!c.not_null(state, name)) return false;
    const int64_t n = static_cast<int64_t>(dims->heads) * dims->head_dim * dims->state_dim;
    const int64_t d_inner = static_cast<int64_t>(dims->heads) * dims->head_dim;
    return c.disjoint(vector_span(state, n, 4), name, span{y, rows, ld_y, d_inner, es}, "y");
}

/* Checks shared by the two conv1d entry points. */
bool check_conv_common(checker& c, const void* x, int64_t ld_x, int32_t channels, const n4j_weight* weight,
                              const n4j_weight* bias, int32_t activation, const void* out, int64_t ld_out) {
    if (!c.not_null(x, "x") || !c.not_null(out, "out") || !c.positive(channels, "channels") ||
        !c.ld(ld_x, "ld_x", channels, "channels") || !c.ld(ld_out, "ld_out", channels, "channels") ||
        !c.weight(weight, "weight")) {
        return false;
    }
    if (weight->rows != channels) {
        return c.fail(N4J_ERR_INVALID_ARGUMENT, "weight.rows (%d) != channels (%d) (weight is [channels, kernel width])",
                      weight->rows, channels);
    }
    if (bias != nullptr && !c.vector(bias, "bias", channels, "channels")) return false;
    if (activation != N4J_ACT_NONE && activation != N4J_ACT_SILU) {
        return c.fail(N4J_ERR_INVALID_ARGUMENT, "activation %d is not N4J_ACT_NONE (0) or N4J_ACT_SILU (1)", activation);
    }
    return true;
}

/* Checks shared by the two attention entry points. */
bool check_attention_common(checker& c, n4j_backend* backend, const n4j_attn_dims* dims, int32_t rows,
                                   const char* rows_name, const void* q, int64_t ld_q, const void* k, int64_t ld_k,
                                   const void* v, int64_t ld_v, const void* out, int64_t ld_out) {
    if (!c.backend(backend) || !c.attn_dims(dims) || !c.positive(rows, rows_name) || !c.not_null(q, "q") ||
        !c.not_null(k, "k") || !c.not_null(v, "v") || !c.not_null(out, "out")) {
        return false;
    }
    const int64_t q_width = static_cast<int64_t>(dims->heads) * dims->head_dim;
    const int64_t kv_width = static_cast<int64_t>(dims->kv_heads) * dims->head_dim;
    if (!c.ld(ld_q, "ld_q", q_width, "dims->heads * dims->head_dim") ||
        !c.ld(ld_k, "ld_k", kv_width, "dims->kv_heads * dims->head_dim") ||
        !c.ld(ld_v, "ld_v", kv_width, "dims->kv_heads * dims->head_dim") ||
        !c.ld(ld_out, "ld_out", q_width, "dims->heads * dims->head_dim")) {
        return false;
    }
    const int64_t es = act_size(backend);
    const span outs{out, rows, ld_out, q_width, es};
    return c.disjoint(outs, "out", span{q, rows, ld_q, q_width, es}, "q") &&
           c.disjoint(outs, "out", span{k, rows, ld_k, kv_width, es}, "k") &&
           c.disjoint(outs, "out", span{v, rows, ld_v, kv_width, es}, "v");
}

}  // namespace

/* ====================================================================== library ==== */

extern "C" {

N4J_EXPORT int32_t n4j_abi_version(void) { return N4J_ABI_VERSION; }

N4J_EXPORT const char* n4j_version(void) { return N4J_VERSION_STRING; }

N4J_EXPORT const char* n4j_last_error(void) { return n4j::last_error(); }

/* n4j_struct_size / n4j_struct_offset live in struct_layout.cpp. */

/* ====================================================================== backends ==== */

N4J_EXPORT int32_t n4j_backend_create(const n4j_backend_options* options, n4j_backend** out_backend) {
    return guarded("n4j_backend_create", [&]() -> int32_t {
        checker c("n4j_backend_create");
        if (!c.not_null(out_backend, "out_backend")) return c.status();
        *out_backend = nullptr;
        if (!c.not_null(options, "options")) return c.status();
        if (options->reserved != 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "options.reserved (%d) must be 0", options->reserved);
            return c.status();
        }
        if (options->kind != N4J_BACKEND_CPU && options->kind != N4J_BACKEND_CUDA) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "options.kind %d is not a backend kind (N4J_BACKEND_CPU = 0, N4J_BACKEND_CUDA = 1)",
                   options->kind);
            return c.status();
        }
        if (options->threads < 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "options.threads (%d) must be >= 0 (0 = one per available core)",
                   options->threads);
            return c.status();
        }
        if ((options->flags & ~(N4J_FLAG_REFERENCE_KERNELS | N4J_FLAG_F32_RESIDUAL | N4J_FLAG_BF16_MATMUL |
                               N4J_FLAG_FP8_W8A8)) != 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT,
                   "options.flags 0x%x has unknown bits (known: N4J_FLAG_REFERENCE_KERNELS = 1, N4J_FLAG_F32_RESIDUAL = 2, "
                   "N4J_FLAG_BF16_MATMUL = 4, N4J_FLAG_FP8_W8A8 = 8)",
                   static_cast<unsigned>(options->flags));
            return c.status();
        }
        if (element_size(options->activation_dtype) == 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "options.activation_dtype %d is not a dtype", options->activation_dtype);
            return c.status();
        }
        if (options->kind == N4J_BACKEND_CUDA && options->device < 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "options.device (%d) must be >= 0", options->device);
            return c.status();
        }
        return n4j::backend_create(options, out_backend);
    });
}

N4J_EXPORT int32_t n4j_backend_destroy(n4j_backend* backend) {
    return guarded("n4j_backend_destroy", [&]() -> int32_t {
        checker c("n4j_backend_destroy");
        if (!c.backend(backend)) return c.status();
        n4j::backend_destroy(backend);
        return N4J_OK;
    });
}

N4J_EXPORT int32_t n4j_backend_synchronize(n4j_backend* backend) {
    return guarded("n4j_backend_synchronize", [&]() -> int32_t {
        checker c("n4j_backend_synchronize");
        if (!c.backend(backend) || !c.outside_step(backend, "synchronize")) return c.status();
        return backend->ops->synchronize(backend->ctx);
    });
}

N4J_EXPORT int32_t n4j_backend_get_info(n4j_backend* backend, n4j_backend_info* out_info) {
    return guarded("n4j_backend_get_info", [&]() -> int32_t {
        checker c("n4j_backend_get_info");
        if (!c.backend(backend) || !c.not_null(out_info, "out_info")) return c.status();
        n4j_backend_info info;
        memset(&info, 0, sizeof(info));
        int32_t status = backend->ops->get_info(backend->ctx, &info);
        if (status != N4J_OK) return status;
        info.name[sizeof(info.name) - 1] = '\0';
        info.allocated_bytes = n4j::backend_allocated_bytes(backend);
        *out_info = info;
        return N4J_OK;
    });
}

/* ====================================================================== memory ==== */

N4J_EXPORT int32_t n4j_alloc(n4j_backend* backend, uint64_t bytes, void** out_ptr) {
    return guarded("n4j_alloc", [&]() -> int32_t {
        checker c("n4j_alloc");
        if (!c.not_null(out_ptr, "out_ptr")) return c.status();
        *out_ptr = nullptr;
        if (!c.backend(backend) || !c.outside_step(backend, "an allocation")) return c.status();
        if (bytes == 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "bytes (0) must be positive");
            return c.status();
        }
        if (bytes > (uint64_t(1) << 56)) {
            return set_error(N4J_ERR_OUT_OF_MEMORY, "n4j_alloc: cannot allocate %llu bytes",
                             static_cast<unsigned long long>(bytes));
        }
        return n4j::backend_alloc(backend, bytes, out_ptr);
    });
}

N4J_EXPORT int32_t n4j_free(n4j_backend* backend, void* ptr) {
    return guarded("n4j_free", [&]() -> int32_t {
        checker c("n4j_free");
        if (!c.backend(backend) || !c.not_null(ptr, "ptr") || !c.outside_step(backend, "a free")) return c.status();
        if (!n4j::backend_free(backend, ptr)) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "ptr %p was not allocated by n4j_alloc on this backend (or was already freed)",
                   ptr);
            return c.status();
        }
        return N4J_OK;
    });
}

N4J_EXPORT int32_t n4j_copy(n4j_backend* backend, void* dst, const void* src, uint64_t bytes, int32_t direction) {
    return guarded("n4j_copy", [&]() -> int32_t {
        checker c("n4j_copy");
        if (!c.backend(backend) || !c.not_null(dst, "dst") || !c.not_null(src, "src")) return c.status();
        if (bytes == 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "bytes (0) must be positive");
            return c.status();
        }
        if (direction != N4J_COPY_HOST_TO_BACKEND && direction != N4J_COPY_BACKEND_TO_HOST &&
            direction != N4J_COPY_BACKEND_TO_BACKEND) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "direction %d is not an N4J_COPY_* value (0, 1 or 2)", direction);
            return c.status();
        }
        if (direction == N4J_COPY_BACKEND_TO_HOST && !c.outside_step(backend, "a backend-to-host copy")) return c.status();
        if (direction == N4J_COPY_HOST_TO_BACKEND && bytes > N4J_STEP_COPY_LIMIT &&
            !c.outside_step(backend, "a host-to-backend copy over 256 KiB")) {
            return c.status();
        }
        return backend->ops->copy(backend->ctx, dst, src, bytes, direction);
    });
}

N4J_EXPORT int32_t n4j_fill_zero(n4j_backend* backend, void* ptr, uint64_t bytes) {
    return guarded("n4j_fill_zero", [&]() -> int32_t {
        checker c("n4j_fill_zero");
        if (!c.backend(backend) || !c.not_null(ptr, "ptr")) return c.status();
        if (bytes == 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "bytes (0) must be positive");
            return c.status();
        }
        return backend->ops->fill_zero(backend->ctx, ptr, bytes);
    });
}

N4J_EXPORT int32_t n4j_convert(n4j_backend* backend, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype,
                               int64_t n) {
    return guarded("n4j_convert", [&]() -> int32_t {
        checker c("n4j_convert");
        if (!c.backend(backend) || !c.not_null(src, "src") || !c.not_null(dst, "dst") || !c.positive(n, "n")) {
            return c.status();
        }
        const uint32_t convertible = (1u << N4J_DTYPE_F32) | (1u << N4J_DTYPE_BF16) | (1u << N4J_DTYPE_F16) |
                                     (1u << N4J_DTYPE_F8_E4M3);
        if (src_dtype < 0 || src_dtype > 31 || ((1u << src_dtype) & convertible) == 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "src_dtype %d (%s) is not supported (F32, BF16, F16, F8_E4M3)", src_dtype,
                   dtype_name(src_dtype));
            return c.status();
        }
        if (dst_dtype < 0 || dst_dtype > 31 || ((1u << dst_dtype) & convertible) == 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "dst_dtype %d (%s) is not supported (F32, BF16, F16, F8_E4M3)", dst_dtype,
                   dtype_name(dst_dtype));
            return c.status();
        }
        const int64_t ss = element_size(src_dtype), ds = element_size(dst_dtype);
        if (n > (int64_t(1) << 56) / 4) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "n (%lld) is implausibly large", static_cast<long long>(n));
            return c.status();
        }
        const bool same_place = src == dst && ss == ds;
        if (!same_place && !c.disjoint(vector_span(src, n, ss), "src", vector_span(dst, n, ds), "dst")) {
            return c.status();
        }
        return backend->ops->convert(backend->ctx, src, src_dtype, dst, dst_dtype, n);
    });
}

/* ====================================================================== kernels ==== */

N4J_EXPORT int32_t n4j_embedding(n4j_backend* backend, const n4j_weight* table, const int32_t* ids, int32_t n,
                                 void* out, int64_t ld_out) {
    return guarded("n4j_embedding", [&]() -> int32_t {
        checker c("n4j_embedding");
        if (!c.backend(backend) || !c.weight(table, "table") || !c.not_null(ids, "ids") || !c.positive(n, "n") ||
            !c.not_null(out, "out") || !c.ld(ld_out, "ld_out", table->cols, "table.cols")) {
            return c.status();
        }
        const span outs{out, n, ld_out, table->cols, resid_size(backend)};
        if (!c.disjoint(outs, "out", vector_span(ids, n, 4), "ids") ||
            !c.disjoint(outs, "out",
                        vector_span(table->data, static_cast<int64_t>(table->rows) * table->cols,
                                    element_size(table->dtype)),
                        "table")) {
            return c.status();
        }
        if (backend->ops->memory_is_host) {
            for (int32_t i = 0; i < n; ++i) {
                if (ids[i] < 0 || ids[i] >= table->rows) {
                    c.fail(N4J_ERR_INVALID_ARGUMENT, "ids[%d] = %d is outside [0, table.rows = %d)", i, ids[i],
                           table->rows);
                    return c.status();
                }
            }
        }
        return backend->ops->embedding(backend->ctx, table, ids, n, out, ld_out);
    });
}

N4J_EXPORT int32_t n4j_rmsnorm(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, int32_t dim,
                               const n4j_weight* weight, float eps, void* out, int64_t ld_out) {
    return guarded("n4j_rmsnorm", [&]() -> int32_t {
        checker c("n4j_rmsnorm");
        if (!c.backend(backend) || !c.not_null(x, "x") || !c.not_null(out, "out") || !c.positive(rows, "rows") ||
            !c.positive(dim, "dim") || !c.ld(ld_x, "ld_x", dim, "dim") || !c.ld(ld_out, "ld_out", dim, "dim") ||
            !c.vector(weight, "weight", dim, "dim") || !c.finite_non_negative(eps, "eps")) {
            return c.status();
        }
        const int64_t es = act_size(backend), xs = resid_size(backend);
        const span outs{out, rows, ld_out, dim, es}, xspan{x, rows, ld_x, dim, xs};
        if (es == xs ? !c.disjoint_or_same(outs, "out", xspan, "x") : !c.disjoint(outs, "out", xspan, "x (the F32 residual)")) {
            return c.status();
        }
        return backend->ops->rmsnorm(backend->ctx, x, ld_x, rows, dim, weight, eps, out, ld_out);
    });
}

N4J_EXPORT int32_t n4j_matmul(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight,
                              void* y, int64_t ld_y, int32_t epilogue) {
    return guarded("n4j_matmul", [&]() -> int32_t {
        checker c("n4j_matmul");
        if (!c.backend(backend) || !c.not_null(x, "x") || !c.not_null(y, "y") || !c.positive(rows, "rows") ||
            !c.matmul_weight(weight, "weight", backend) ||
            !c.ld(ld_x, "ld_x", weight->cols, "weight.cols (the input width)") ||
            !c.ld(ld_y, "ld_y", weight->rows, "weight.rows (the output width)")) {
            return c.status();
        }
        if (!c.matmul_epilogue(epilogue)) return c.status();
        const int64_t es = act_size(backend);
        // ADD_TO_RESIDUAL: y is the residual stream (F32 under N4J_FLAG_F32_RESIDUAL)
        const int64_t ys = epilogue == N4J_MATMUL_ADD_TO_RESIDUAL ? resid_size(backend) : es;
        if (!c.disjoint(span{y, rows, ld_y, weight->rows, ys}, "y", span{x, rows, ld_x, weight->cols, es}, "x")) {
            return c.status();
        }
        return backend->ops->matmul(backend->ctx, x, ld_x, rows, weight, y, ld_y, epilogue);
    });
}

N4J_EXPORT int32_t n4j_rmsnorm_matmul(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, int32_t dim,
                                      const n4j_weight* norm_weight, float eps, void* normed, int64_t ld_normed,
                                      const n4j_weight* weight, void* y, int64_t ld_y, int32_t epilogue) {
    return guarded("n4j_rmsnorm_matmul", [&]() -> int32_t {
        checker c("n4j_rmsnorm_matmul");
        if (!c.backend(backend) || !c.not_null(x, "x") || !c.not_null(normed, "normed") || !c.not_null(y, "y") ||
            !c.positive(rows, "rows") || !c.positive(dim, "dim") || !c.ld(ld_x, "ld_x", dim, "dim") ||
            !c.ld(ld_normed, "ld_normed", dim, "dim") || !c.vector(norm_weight, "norm_weight", dim, "dim") ||
            !c.finite_non_negative(eps, "eps") || !c.matmul_weight(weight, "weight", backend) ||
            !c.ld(ld_y, "ld_y", weight->rows, "weight.rows (the output width)")) {
            return c.status();
        }
        if (weight->cols != dim) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "weight.cols (%d, the matmul's input width) != dim (%d)", weight->cols,
                   dim);
            return c.status();
        }
        if (!c.matmul_epilogue(epilogue)) return c.status();
        const int64_t es = act_size(backend), xs = resid_size(backend);
        const int64_t ys = epilogue == N4J_MATMUL_ADD_TO_RESIDUAL ? xs : es;
        const span xspan{x, rows, ld_x, dim, xs}, nspan{normed, rows, ld_normed, dim, es},
            yspan{y, rows, ld_y, weight->rows, ys};
        // Not in place (unlike n4j_rmsnorm): a fused kernel reads x in every block while one of them writes normed.
        if (!c.disjoint(nspan, "normed", xspan, "x") || !c.disjoint(yspan, "y", xspan, "x") ||
            !c.disjoint(yspan, "y", nspan, "normed")) {
            return c.status();
        }
        if (backend->ops->rmsnorm_matmul != nullptr) {
            return backend->ops->rmsnorm_matmul(backend->ctx, x, ld_x, rows, dim, norm_weight, eps, normed, ld_normed,
                                                weight, y, ld_y, epilogue);
        }
        const int32_t rc = backend->ops->rmsnorm(backend->ctx, x, ld_x, rows, dim, norm_weight, eps, normed, ld_normed);
        if (rc != N4J_OK) return rc;
        return backend->ops->matmul(backend->ctx, normed, ld_normed, rows, weight, y, ld_y, epilogue);
    });
}

N4J_EXPORT int32_t n4j_conv1d_prefill(n4j_backend* backend, const void* x, int64_t ld_x, int32_t tokens,
                                      int32_t channels, const n4j_weight* weight, const n4j_weight* bias,
                                      void* conv_state, int32_t activation, void* out, int64_t ld_out) {
    return guarded("n4j_conv1d_prefill", [&]() -> int32_t {
        checker c("n4j_conv1d_prefill");
        if (!c.backend(backend) || !c.positive(tokens, "tokens") ||
            !check_conv_common(c, x, ld_x, channels, weight, bias, activation, out, ld_out) ||
            !c.not_null(conv_state, "conv_state")) {
            return c.status();
        }
        const int64_t es = act_size(backend);
        const span outs{out, tokens, ld_out, channels, es};
        const span xs{x, tokens, ld_x, channels, es};
        const span states = vector_span(conv_state, static_cast<int64_t>(channels) * weight->cols, es);
        if (!c.disjoint(outs, "out", xs, "x") || !c.disjoint(states, "conv_state", xs, "x") ||
            !c.disjoint(states, "conv_state", outs, "out")) {
            return c.status();
        }
        return backend->ops->conv1d_prefill(backend->ctx, x, ld_x, tokens, channels, weight, bias, conv_state,
                                            activation, out, ld_out);
    });
}

N4J_EXPORT int32_t n4j_conv1d_decode(n4j_backend* backend, int32_t batch, const void* x, int64_t ld_x, int32_t channels,
                                     const n4j_weight* weight, const n4j_weight* bias, void* const* conv_states,
                                     int32_t activation, void* out, int64_t ld_out) {
    return guarded("n4j_conv1d_decode", [&]() -> int32_t {
        checker c("n4j_conv1d_decode");
        if (!c.backend(backend) || !c.positive(batch, "batch") ||
            !check_conv_common(c, x, ld_x, channels, weight, bias, activation, out, ld_out) ||
            !c.not_null(conv_states, "conv_states")) {
            return c.status();
        }
        const int64_t es = act_size(backend);
        const span outs{out, batch, ld_out, channels, es};
        if (!c.disjoint(outs, "out", span{x, batch, ld_x, channels, es}, "x")) return c.status();
        for (int32_t b = 0; b < batch; ++b) {
            char name[48];
            snprintf(name, sizeof(name), "conv_states[%d]", b);
            if (!c.not_null(conv_states[b], name) ||
                !c.disjoint(vector_span(conv_states[b], static_cast<int64_t>(channels) * weight->cols, es), name,
                            outs, "out")) {
                return c.status();
            }
        }
        return backend->ops->conv1d_decode(backend->ctx, batch, x, ld_x, channels, weight, bias, conv_states,
                                           activation, out, ld_out);
    });
}

N4J_EXPORT int32_t n4j_ssd_chunk_scan(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t tokens, const void* x,
                                      int64_t ld_x, const void* B, int64_t ld_B, const void* C, int64_t ld_C,
                                      const void* dt, int64_t ld_dt, const n4j_weight* dt_bias,
                                      const n4j_weight* A_log, const n4j_weight* D, float* ssm_state, void* y,
                                      int64_t ld_y) {
    return guarded("n4j_ssd_chunk_scan", [&]() -> int32_t {
        checker c("n4j_ssd_chunk_scan");
        if (!check_ssm_common(c, backend, dims, tokens, "tokens", x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log,
                              D, y, ld_y) ||
            !check_ssm_state(c, dims, ssm_state, "ssm_state", y, tokens, ld_y, act_size(backend))) {
            return c.status();
        }
        return backend->ops->ssd_chunk_scan(backend->ctx, dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias,
                                            A_log, D, ssm_state, y, ld_y);
    });
}

N4J_EXPORT int32_t n4j_ssm_scan_sequential(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t tokens,
                                           const void* x, int64_t ld_x, const void* B, int64_t ld_B, const void* C,
                                           int64_t ld_C, const void* dt, int64_t ld_dt, const n4j_weight* dt_bias,
                                           const n4j_weight* A_log, const n4j_weight* D, float* ssm_state, void* y,
                                           int64_t ld_y) {
    return guarded("n4j_ssm_scan_sequential", [&]() -> int32_t {
        checker c("n4j_ssm_scan_sequential");
        if (!check_ssm_common(c, backend, dims, tokens, "tokens", x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log,
                              D, y, ld_y) ||
            !check_ssm_state(c, dims, ssm_state, "ssm_state", y, tokens, ld_y, act_size(backend))) {
            return c.status();
        }
        return backend->ops->ssm_scan_sequential(backend->ctx, dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt,
                                                 dt_bias, A_log, D, ssm_state, y, ld_y);
    });
}

N4J_EXPORT int32_t n4j_ssm_decode(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t batch, const void* x,
                                  int64_t ld_x, const void* B, int64_t ld_B, const void* C, int64_t ld_C,
                                  const void* dt, int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                                  const n4j_weight* D, float* const* ssm_states, void* y, int64_t ld_y) {
    return guarded("n4j_ssm_decode", [&]() -> int32_t {
        checker c("n4j_ssm_decode");
        if (!check_ssm_common(c, backend, dims, batch, "batch", x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log, D,
                              y, ld_y) ||
            !c.not_null(ssm_states, "ssm_states")) {
            return c.status();
        }
        for (int32_t b = 0; b < batch; ++b) {
            char name[48];
            snprintf(name, sizeof(name), "ssm_states[%d]", b);
            if (!check_ssm_state(c, dims, ssm_states[b], name, y, batch, ld_y, act_size(backend))) return c.status();
        }
        return backend->ops->ssm_decode(backend->ctx, dims, batch, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log,
                                        D, ssm_states, y, ld_y);
    });
}

N4J_EXPORT int32_t n4j_gated_rmsnorm(n4j_backend* backend, const void* y, int64_t ld_y, const void* z, int64_t ld_z,
                                     int32_t rows, int32_t dim, int32_t groups, const n4j_weight* weight, float eps,
                                     void* out, int64_t ld_out) {
    return guarded("n4j_gated_rmsnorm", [&]() -> int32_t {
        checker c("n4j_gated_rmsnorm");
        if (!c.backend(backend) || !c.not_null(y, "y") || !c.not_null(z, "z") || !c.not_null(out, "out") ||
            !c.positive(rows, "rows") || !c.positive(dim, "dim") || !c.positive(groups, "groups")) {
            return c.status();
        }
        if (dim % groups != 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "dim (%d) is not divisible by groups (%d)", dim, groups);
            return c.status();
        }
        if (!c.ld(ld_y, "ld_y", dim, "dim") || !c.ld(ld_z, "ld_z", dim, "dim") || !c.ld(ld_out, "ld_out", dim, "dim") ||
            !c.vector(weight, "weight", dim, "dim") || !c.finite_non_negative(eps, "eps")) {
            return c.status();
        }
        const int64_t es = act_size(backend);
        const span outs{out, rows, ld_out, dim, es};
        if (!c.disjoint_or_same(outs, "out", span{y, rows, ld_y, dim, es}, "y") ||
            !c.disjoint_or_same(outs, "out", span{z, rows, ld_z, dim, es}, "z")) {
            return c.status();
        }
        return backend->ops->gated_rmsnorm(backend->ctx, y, ld_y, z, ld_z, rows, dim, groups, weight, eps, out, ld_out);
    });
}

N4J_EXPORT int32_t n4j_mamba_decode(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t batch, const void* zxbcdt,
                                    int64_t ld_zxbcdt, const n4j_weight* conv_weight, const n4j_weight* conv_bias,
                                    const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                                    const n4j_weight* norm, float eps, void* const* conv_states,
                                    float* const* ssm_states, void* y, int64_t ld_y, void* out, int64_t ld_out) {
    return guarded("n4j_mamba_decode", [&]() -> int32_t {
        checker c("n4j_mamba_decode");
        if (!c.backend(backend) || !c.ssm_dims(dims) || !c.positive(batch, "batch") || !c.not_null(zxbcdt, "zxbcdt") ||
            !c.not_null(y, "y") || !c.not_null(out, "out") || !c.not_null(conv_states, "conv_states") ||
            !c.not_null(ssm_states, "ssm_states") || !c.weight(conv_weight, "conv_weight")) {
            return c.status();
        }
        const int64_t d_inner = static_cast<int64_t>(dims->heads) * dims->head_dim;
        const int64_t conv = d_inner + 2 * static_cast<int64_t>(dims->groups) * dims->state_dim;
        const int64_t width = d_inner + conv + dims->heads;
        if (conv_weight->rows != conv) {
            c.fail(N4J_ERR_INVALID_ARGUMENT,
                   "conv_weight.rows (%d) != the conv channels heads * head_dim + 2 * groups * state_dim (%lld)",
                   conv_weight->rows, static_cast<long long>(conv));
            return c.status();
        }
        if (!c.ld(ld_zxbcdt, "ld_zxbcdt", width, "the in_proj width d_inner + conv channels + heads") ||
            !c.ld(ld_y, "ld_y", d_inner, "dims->heads * dims->head_dim") ||
            !c.ld(ld_out, "ld_out", d_inner, "dims->heads * dims->head_dim") ||
            (conv_bias != nullptr && !c.vector(conv_bias, "conv_bias", conv, "the conv channels")) ||
            !c.vector(dt_bias, "dt_bias", dims->heads, "dims->heads") ||
            !c.vector(A_log, "A_log", dims->heads, "dims->heads") || !c.vector(D, "D", dims->heads, "dims->heads") ||
            !c.vector(norm, "norm", d_inner, "dims->heads * dims->head_dim") || !c.finite_non_negative(eps, "eps")) {
            return c.status();
        }
        const int64_t es = act_size(backend);
        const span in{zxbcdt, batch, ld_zxbcdt, width, es}, ys{y, batch, ld_y, d_inner, es},
            outs{out, batch, ld_out, d_inner, es};
        if (!c.disjoint(ys, "y", in, "zxbcdt") || !c.disjoint(outs, "out", in, "zxbcdt") ||
            !c.disjoint_or_same(outs, "out", ys, "y")) {
            return c.status();
        }
        for (int32_t b = 0; b < batch; ++b) {
            char name[48];
            snprintf(name, sizeof(name), "conv_states[%d]", b);
            const span cs = vector_span(conv_states[b], conv * conv_weight->cols, es);
            if (!c.not_null(conv_states[b], name) || !c.disjoint(cs, name, ys, "y") || !c.disjoint(cs, name, outs, "out")) {
                return c.status();
            }
            snprintf(name, sizeof(name), "ssm_states[%d]", b);
            if (!check_ssm_state(c, dims, ssm_states[b], name, y, batch, ld_y, es) ||
                !c.disjoint(vector_span(ssm_states[b], d_inner * dims->state_dim, 4), name, outs, "out")) {
                return c.status();
            }
        }
        if (backend->ops->mamba_decode != nullptr) {
            return backend->ops->mamba_decode(backend->ctx, dims, batch, zxbcdt, ld_zxbcdt, conv_weight, conv_bias,
                                              dt_bias, A_log, D, norm, eps, conv_states, ssm_states, y, ld_y, out,
                                              ld_out);
        }
        if (!backend->ops->memory_is_host) {
            c.fail(N4J_ERR_UNSUPPORTED, "this backend has no fused Mamba decode");
            return c.status();
        }
        // The ops it stands for, through a host buffer for the conv output (host-memory backends: the CPU).
        std::vector<unsigned char> xbc(static_cast<size_t>(batch * conv * es));
        const char* in_x = static_cast<const char*>(zxbcdt);
        int32_t rc = backend->ops->conv1d_decode(backend->ctx, batch, in_x + d_inner * es, ld_zxbcdt,
                                                 static_cast<int32_t>(conv), conv_weight, conv_bias, conv_states,
                                                 N4J_ACT_SILU, xbc.data(), conv);
        if (rc != N4J_OK) return rc;
        const int64_t gn = static_cast<int64_t>(dims->groups) * dims->state_dim;
        rc = backend->ops->ssm_decode(backend->ctx, dims, batch, xbc.data(), conv, xbc.data() + d_inner * es, conv,
                                      xbc.data() + (d_inner + gn) * es, conv, in_x + (d_inner + conv) * es, ld_zxbcdt,
                                      dt_bias, A_log, D, ssm_states, y, ld_y);
        if (rc != N4J_OK) return rc;
        return backend->ops->gated_rmsnorm(backend->ctx, y, ld_y, zxbcdt, ld_zxbcdt, batch,
                                           static_cast<int32_t>(d_inner), dims->groups, norm, eps, out, ld_out);
    });
}

N4J_EXPORT int32_t n4j_attention_prefill(n4j_backend* backend, const n4j_attn_dims* dims, int32_t tokens, const void* q,
                                         int64_t ld_q, const void* k, int64_t ld_k, const void* v, int64_t ld_v,
                                         const n4j_kv_cache* cache, void* out, int64_t ld_out) {
    return guarded("n4j_attention_prefill", [&]() -> int32_t {
        checker c("n4j_attention_prefill");
        if (!check_attention_common(c, backend, dims, tokens, "tokens", q, ld_q, k, ld_k, v, ld_v, out, ld_out) ||
            !c.kv_cache(cache, "cache", tokens)) {
            return c.status();
        }
        return backend->ops->attention_prefill(backend->ctx, dims, tokens, q, ld_q, k, ld_k, v, ld_v, cache, out,
                                               ld_out);
    });
}

N4J_EXPORT int32_t n4j_attention_decode(n4j_backend* backend, const n4j_attn_dims* dims, int32_t batch, const void* q,
                                        int64_t ld_q, const void* k, int64_t ld_k, const void* v, int64_t ld_v,
                                        const n4j_kv_cache* caches, void* out, int64_t ld_out) {
    return guarded("n4j_attention_decode", [&]() -> int32_t {
        checker c("n4j_attention_decode");
        if (!check_attention_common(c, backend, dims, batch, "batch", q, ld_q, k, ld_k, v, ld_v, out, ld_out) ||
            !c.not_null(caches, "caches")) {
            return c.status();
        }
        for (int32_t b = 0; b < batch; ++b) {
            char name[48];
            snprintf(name, sizeof(name), "caches[%d]", b);
            if (!c.kv_cache(&caches[b], name, 1)) return c.status();
        }
        return backend->ops->attention_decode(backend->ctx, dims, batch, q, ld_q, k, ld_k, v, ld_v, caches, out, ld_out);
    });
}

N4J_EXPORT int32_t n4j_relu_squared(n4j_backend* backend, const void* x, void* y, int64_t n) {
    return guarded("n4j_relu_squared", [&]() -> int32_t {
        checker c("n4j_relu_squared");
        if (!c.backend(backend) || !c.not_null(x, "x") || !c.not_null(y, "y") || !c.positive(n, "n")) {
            return c.status();
        }
        const int64_t es = act_size(backend);
        if (!c.disjoint_or_same(vector_span(y, n, es), "y", vector_span(x, n, es), "x")) return c.status();
        return backend->ops->relu_squared(backend->ctx, x, y, n);
    });
}

N4J_EXPORT int32_t n4j_add(n4j_backend* backend, const void* a, const void* b, void* y, int64_t n) {
    return guarded("n4j_add", [&]() -> int32_t {
        checker c("n4j_add");
        if (!c.backend(backend) || !c.not_null(a, "a") || !c.not_null(b, "b") || !c.not_null(y, "y") ||
            !c.positive(n, "n")) {
            return c.status();
        }
        const int64_t es = act_size(backend), rs = resid_size(backend);
        const span ys = vector_span(y, n, rs);
        if (!c.disjoint_or_same(ys, "y", vector_span(a, n, rs), "a") ||
            (rs == es ? !c.disjoint_or_same(ys, "y", vector_span(b, n, es), "b")
                      : !c.disjoint(ys, "y", vector_span(b, n, es), "b"))) {
            return c.status();
        }
        return backend->ops->add(backend->ctx, a, b, y, n);
    });
}

/* ====================================================================== decode steps ==== */

N4J_EXPORT int32_t n4j_step_begin(n4j_backend* backend, uint64_t key, int32_t max_context, int32_t flags) {
    return guarded("n4j_step_begin", [&]() -> int32_t {
        checker c("n4j_step_begin");
        if (!c.backend(backend) || !c.positive(max_context, "max_context")) return c.status();
        if ((flags & ~N4J_STEP_EAGER) != 0) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "flags 0x%x has unknown bits (known: N4J_STEP_EAGER = 1)",
                   static_cast<unsigned>(flags));
            return c.status();
        }
        if (backend->in_step) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "a decode step is already open on this backend");
            return c.status();
        }
        if (backend->ops->step_begin != nullptr) {
            const int32_t rc = backend->ops->step_begin(backend->ctx, key, max_context, flags);
            if (rc != N4J_OK) return rc;
        } else {
            ++backend->bracketed_steps;
        }
        backend->in_step = true;
        return N4J_OK;
    });
}

N4J_EXPORT int32_t n4j_step_end(n4j_backend* backend) {
    return guarded("n4j_step_end", [&]() -> int32_t {
        checker c("n4j_step_end");
        if (!c.backend(backend)) return c.status();
        if (!backend->in_step) {
            c.fail(N4J_ERR_INVALID_ARGUMENT, "no decode step is open on this backend");
            return c.status();
        }
        backend->in_step = false;
        return backend->ops->step_end != nullptr ? backend->ops->step_end(backend->ctx) : N4J_OK;
    });
}

N4J_EXPORT int32_t n4j_step_stats(n4j_backend* backend, int64_t* out_counts) {
    return guarded("n4j_step_stats", [&]() -> int32_t {
        checker c("n4j_step_stats");
        if (!c.backend(backend) || !c.not_null(out_counts, "out_counts")) return c.status();
        if (backend->ops->step_stats != nullptr) return backend->ops->step_stats(backend->ctx, out_counts);
        out_counts[0] = backend->bracketed_steps;
        out_counts[1] = out_counts[2] = out_counts[3] = out_counts[4] = 0;
        return N4J_OK;
    });
}

N4J_EXPORT int32_t n4j_argmax(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, int32_t cols,
                              int32_t* out) {
    return guarded("n4j_argmax", [&]() -> int32_t {
        checker c("n4j_argmax");
        if (!c.backend(backend) || !c.not_null(x, "x") || !c.not_null(out, "out") || !c.positive(rows, "rows") ||
            !c.positive(cols, "cols") || !c.ld(ld_x, "ld_x", cols, "cols")) {
            return c.status();
        }
        if (!c.disjoint(vector_span(out, rows, 4), "out", span{x, rows, ld_x, cols, act_size(backend)}, "x")) {
            return c.status();
        }
        return backend->ops->argmax(backend->ctx, x, ld_x, rows, cols, out);
    });
}

}  // extern "C"
