/*
 * cpu_backend.cpp: the CPU backend: context creation (thread pool sized from options.threads or the CPUs this
 * process may use, SIMD level from cpuid), host memory (64-byte aligned and zeroed: anonymous mmap from 1 MiB up,
 * aligned_alloc + memset below), and the adapters from the operations table to the kernels. Arguments arrive
 * validated (api.cpp); adapters only cast and call, and turn allocation failures of scratch memory into
 * N4J_ERR_OUT_OF_MEMORY.
 */
#include "cpu/cpu_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <new>
#include <vector>

#include "backend.h"
#include "cpu/argmax.h"
#include "cpu/attention.h"
#include "cpu/conv1d.h"
#include "cpu/convert.h"
#include "cpu/cpu_context.h"
#include "cpu/dtype_scalar.h"
#include "cpu/elementwise.h"
#include "cpu/embedding.h"
#include "cpu/gated_rmsnorm.h"
#include "cpu/matmul.h"
#include "cpu/rmsnorm.h"
#include "cpu/ssd_chunk_scan.h"
#include "cpu/ssm_recurrence.h"
#include "error.h"

namespace n4j {
namespace cpu {

/* ---- scratch_buffer (cpu_context.h) ---- */

scratch_buffer::~scratch_buffer() { free(data_); }

void scratch_buffer::reserve(size_t bytes) {
    if (bytes <= capacity_) return;
    size_t capacity = capacity_ < 4096 ? 4096 : capacity_;
    while (capacity < bytes) capacity *= 2;
    void* p = aligned_alloc(64, capacity);
    if (p == nullptr) throw std::bad_alloc();
    free(data_);
    data_ = p;
    capacity_ = capacity;
}

namespace {

constexpr uint64_t kMmapThreshold = uint64_t(1) << 20;
constexpr int32_t kMaxThreads = 1024;

inline context* ctx_of(void* c) { return static_cast<context*>(c); }

/* ---- lifetime and memory ---- */

int32_t cpu_create(const n4j_backend_options* options, const n4j_backend_host*, void** out_ctx) {
    if (options->activation_dtype != N4J_DTYPE_F32 && options->activation_dtype != N4J_DTYPE_BF16) {
        return set_error(N4J_ERR_UNSUPPORTED,
                         "n4j_backend_create: options.activation_dtype %d is not supported by the CPU backend "
                         "(N4J_DTYPE_F32 = 0 or N4J_DTYPE_BF16 = 1)",
                         options->activation_dtype);
    }
    if (options->threads > kMaxThreads) {
        return set_error(N4J_ERR_INVALID_ARGUMENT, "n4j_backend_create: options.threads (%d) is larger than %d",
                         options->threads, kMaxThreads);
    }
    simd_level level = SIMD_GENERIC;
    char simd_error[160];
    if (!configured_simd_level(&level, simd_error, sizeof(simd_error))) {
        return set_error(N4J_ERR_INVALID_ARGUMENT, "n4j_backend_create: %s", simd_error);
    }
    bool bf16_dot_by_fma = false;
    if (!configured_bf16_dot_by_fma(&bf16_dot_by_fma, simd_error, sizeof(simd_error))) {
        return set_error(N4J_ERR_INVALID_ARGUMENT, "n4j_backend_create: %s", simd_error);
    }
    context* ctx = new context();
    ctx->act_bf16 = options->activation_dtype == N4J_DTYPE_BF16;
    ctx->f32_residual = ctx->act_bf16 && (options->flags & N4J_FLAG_F32_RESIDUAL) != 0;
    ctx->bf16_matmul = ctx->act_bf16 || (options->flags & N4J_FLAG_BF16_MATMUL) != 0;
    ctx->reference = (options->flags & N4J_FLAG_REFERENCE_KERNELS) != 0;
    ctx->fp8_w8a8 = (options->flags & N4J_FLAG_FP8_W8A8) != 0;
    ctx->simd = ctx->reference ? SIMD_GENERIC : level;
    ctx->bf16_dot_by_fma = bf16_dot_by_fma;
    ctx->threads = ctx->reference ? 1 : (options->threads > 0 ? options->threads : physical_cores());
    try {
        ctx->pool.reset(new thread_pool(ctx->threads));
        ctx->thread_scratch_buffers.resize(static_cast<size_t>(ctx->threads));
    } catch (const std::bad_alloc&) {
        delete ctx;
        return set_error(N4J_ERR_OUT_OF_MEMORY, "n4j_backend_create: out of memory creating %d CPU threads",
                         options->threads);
    } catch (const std::exception& e) {
        delete ctx;
        return set_error(N4J_ERR_BACKEND, "n4j_backend_create: cannot start CPU worker threads: %s", e.what());
    }
    *out_ctx = ctx;
    return N4J_OK;
}

void cpu_destroy(void* c) { delete ctx_of(c); }

int32_t cpu_synchronize(void*) { return N4J_OK; }

int32_t cpu_get_info(void* c, n4j_backend_info* info) {
    context* ctx = ctx_of(c);
    info->kind = N4J_BACKEND_CPU;
    info->device = 0;
    info->threads = ctx->threads;
    info->activation_dtype = ctx->act_bf16 ? N4J_DTYPE_BF16 : N4J_DTYPE_F32;
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGE_SIZE);
    info->total_memory = pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
    if (ctx->reference) {
        snprintf(info->name, sizeof(info->name), "cpu reference (scalar) 1 thread%s%s",
                 ctx->act_bf16 ? ", bf16 activations" : "", ctx->fp8_w8a8 ? " fp8-w8a8" : "");
    } else {
        const bool bf16_dot = ctx->bf16_matmul && ctx->simd >= SIMD_AVX512_BF16;
        snprintf(info->name, sizeof(info->name), "cpu %s %d thread%s%s%s%s%s", simd_level_name(ctx->simd),
                 ctx->threads, ctx->threads == 1 ? "" : "s", ctx->act_bf16 ? ", bf16 activations" : "",
                 !ctx->act_bf16 && bf16_dot ? ", bf16 matmul" : "",
                 bf16_dot && ctx->bf16_dot_by_fma ? " (bf16 dot by fma)" : "", ctx->fp8_w8a8 ? " fp8-w8a8" : "");
    }
    return N4J_OK;
}

int32_t cpu_alloc(void*, uint64_t bytes, void** out_ptr) {
    void* p = nullptr;
    if (bytes >= kMmapThreshold) {
        p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) p = nullptr;
    } else {
        const uint64_t rounded = (bytes + 63) & ~uint64_t(63);
        p = aligned_alloc(64, rounded);
        if (p != nullptr) memset(p, 0, rounded);
    }
    if (p == nullptr) {
        return set_error(N4J_ERR_OUT_OF_MEMORY, "n4j_alloc: cannot allocate %llu bytes of host memory",
                         static_cast<unsigned long long>(bytes));
    }
    *out_ptr = p;
    return N4J_OK;
}

void cpu_free(void*, void* ptr, uint64_t bytes) {
    if (bytes >= kMmapThreshold) {
        munmap(ptr, bytes);
    } else {
        free(ptr);
    }
}

int32_t cpu_copy(void*, void* dst, const void* src, uint64_t bytes, int32_t) {
    memmove(dst, src, bytes);
    return N4J_OK;
}

int32_t cpu_fill_zero(void*, void* ptr, uint64_t bytes) {
    memset(ptr, 0, bytes);
    return N4J_OK;
}

/*
 * ---- BF16 activations ----
 * A CPU backend created with activation_dtype BF16 keeps every activation tensor in bf16, as the CUDA backend's BF16
 * mode does: each op widens its bf16 inputs to F32 scratch copies (exact), runs the F32 kernel, and rounds its outputs
 * to bf16 (nearest even). It exists so the BF16 data path of the engine (element sizes, offsets, conv states,
 * snapshots, logits) runs and is tested on every machine, and as a CPU oracle for the GPU's BF16 mode; it is not a
 * fast path (the conversions cost a pass over each tensor).
 */
class bf16_matrix {
public:
    /* An F32 copy of rows x cols bf16 elements with row stride ld (widened when `read`, zero otherwise). */
    bf16_matrix(const void* src, int64_t ld, int64_t rows, int64_t cols, bool read)
        : src_(static_cast<const uint16_t*>(src)), ld_(ld), rows_(rows), cols_(cols) {
        const int64_t n = rows > 0 ? (rows - 1) * ld + cols : 0;
        data_.assign(static_cast<size_t>(n > 0 ? n : 1), 0.0f);
        if (read) {
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c) data_[r * ld + c] = bf16_to_f32(src_[r * ld + c]);
        }
    }
    float* f() { return data_.data(); }
    /* Rounds the F32 copy back into dst (same shape and stride). */
    void store(void* dst) const {
        uint16_t* d = static_cast<uint16_t*>(dst);
        for (int64_t r = 0; r < rows_; ++r)
            for (int64_t c = 0; c < cols_; ++c) d[r * ld_ + c] = f32_to_bf16(data_[r * ld_ + c]);
    }

private:
    const uint16_t* src_;
    int64_t ld_, rows_, cols_;
    std::vector<float> data_;
};

inline bool act_bf16(void* c) { return ctx_of(c)->act_bf16; }
/* N4J_FLAG_F32_RESIDUAL with BF16 activations: embedding out, rmsnorm x, add a and y are F32. */
inline bool f32_residual(void* c) { return ctx_of(c)->f32_residual; }

/* ---- kernel adapters: F(ref_call, fast_call) ---- */

#define N4J_CPU_GUARD(name, body)                                                                   \
    try {                                                                                           \
        body;                                                                                       \
        return N4J_OK;                                                                              \
    } catch (const std::bad_alloc&) {                                                               \
        return set_error(N4J_ERR_OUT_OF_MEMORY, "%s: out of memory for CPU scratch buffers", name); \
    }

template <bool REF>
int32_t op_convert(void* c, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n) {
    N4J_CPU_GUARD("n4j_convert", REF ? convert_ref(src, src_dtype, dst, dst_dtype, n)
                                     : convert_fast(ctx_of(c), src, src_dtype, dst, dst_dtype, n));
}

template <bool REF>
int32_t f32_embedding(void* c, const n4j_weight* table, const int32_t* ids, int32_t n, void* out, int64_t ld_out) {
    N4J_CPU_GUARD("n4j_embedding", REF ? embedding_ref(table, ids, n, static_cast<float*>(out), ld_out)
                                       : embedding_fast(ctx_of(c), table, ids, n, static_cast<float*>(out), ld_out));
}

template <bool REF>
int32_t f32_rmsnorm(void* c, const void* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight,
                   float eps, void* out, int64_t ld_out) {
    const float* xf = static_cast<const float*>(x);
    float* of = static_cast<float*>(out);
    N4J_CPU_GUARD("n4j_rmsnorm", REF ? rmsnorm_ref(xf, ld_x, rows, dim, weight, eps, of, ld_out)
                                     : rmsnorm_fast(ctx_of(c), xf, ld_x, rows, dim, weight, eps, of, ld_out));
}

template <bool REF>
int32_t f32_matmul(void* c, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight, void* y,
                  int64_t ld_y, int32_t epilogue) {
    const float* xf = static_cast<const float*>(x);
    float* yf = static_cast<float*>(y);
    if (ctx_of(c)->fp8_w8a8 && weight->dtype == N4J_DTYPE_F8_E4M3 && weight->input_scale != 0.0f) {
        if (!(weight->input_scale > 0.0f) || !isfinite(weight->input_scale)) {
            return set_error(N4J_ERR_INVALID_ARGUMENT,
                             "n4j_matmul: weight input_scale %g: W8A8 (N4J_FLAG_FP8_W8A8) needs a positive finite "
                             "activation scale (or 0: weight-only)",
                             static_cast<double>(weight->input_scale));
        }
        N4J_CPU_GUARD("n4j_matmul", REF ? matmul_w8a8_ref(xf, ld_x, rows, weight, yf, ld_y, epilogue)
                                        : matmul_w8a8_fast(ctx_of(c), xf, ld_x, rows, weight, yf, ld_y, epilogue));
    }
    N4J_CPU_GUARD("n4j_matmul", REF ? matmul_ref(xf, ld_x, rows, weight, yf, ld_y, epilogue)
                                    : matmul_fast(ctx_of(c), xf, ld_x, rows, weight, yf, ld_y, epilogue));
}

template <bool REF>
int32_t f32_conv1d_prefill(void* c, const void* x, int64_t ld_x, int32_t tokens, int32_t channels,
                          const n4j_weight* weight, const n4j_weight* bias, void* conv_state, int32_t activation,
                          void* out, int64_t ld_out) {
    const float* xf = static_cast<const float*>(x);
    float* state = static_cast<float*>(conv_state);
    float* of = static_cast<float*>(out);
    N4J_CPU_GUARD("n4j_conv1d_prefill",
                  REF ? conv1d_prefill_ref(xf, ld_x, tokens, channels, weight, bias, state, activation, of, ld_out)
                      : conv1d_prefill_fast(ctx_of(c), xf, ld_x, tokens, channels, weight, bias, state, activation,
                                            of, ld_out));
}

template <bool REF>
int32_t f32_conv1d_decode(void* c, int32_t batch, const void* x, int64_t ld_x, int32_t channels,
                         const n4j_weight* weight, const n4j_weight* bias, void* const* conv_states,
                         int32_t activation, void* out, int64_t ld_out) {
    const float* xf = static_cast<const float*>(x);
    float* const* states = reinterpret_cast<float* const*>(conv_states);
    float* of = static_cast<float*>(out);
    N4J_CPU_GUARD("n4j_conv1d_decode",
                  REF ? conv1d_decode_ref(batch, xf, ld_x, channels, weight, bias, states, activation, of, ld_out)
                      : conv1d_decode_fast(ctx_of(c), batch, xf, ld_x, channels, weight, bias, states, activation,
                                           of, ld_out));
}

template <bool REF>
int32_t f32_ssd_chunk_scan(void* c, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                          const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                          const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                          float* ssm_state, void* y, int64_t ld_y) {
    const float* xf = static_cast<const float*>(x);
    const float* Bf = static_cast<const float*>(B);
    const float* Cf = static_cast<const float*>(C);
    const float* dtf = static_cast<const float*>(dt);
    float* yf = static_cast<float*>(y);
    N4J_CPU_GUARD("n4j_ssd_chunk_scan",
                  REF ? ssd_chunk_scan_ref(dims, tokens, xf, ld_x, Bf, ld_B, Cf, ld_C, dtf, ld_dt, dt_bias, A_log, D,
                                           ssm_state, yf, ld_y)
                      : ssd_chunk_scan_fast(ctx_of(c), dims, tokens, xf, ld_x, Bf, ld_B, Cf, ld_C, dtf, ld_dt,
                                            dt_bias, A_log, D, ssm_state, yf, ld_y));
}

int32_t f32_ssm_scan_sequential(void*, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                               const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt,
                               int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                               const n4j_weight* D, float* ssm_state, void* y, int64_t ld_y) {
    ssm_scan_sequential_ref(dims, tokens, static_cast<const float*>(x), ld_x, static_cast<const float*>(B), ld_B,
                            static_cast<const float*>(C), ld_C, static_cast<const float*>(dt), ld_dt, dt_bias, A_log,
                            D, ssm_state, static_cast<float*>(y), ld_y);
    return N4J_OK;
}

template <bool REF>
int32_t f32_ssm_decode(void* c, const n4j_ssm_dims* dims, int32_t batch, const void* x, int64_t ld_x, const void* B,
                      int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                      const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                      float* const* ssm_states, void* y, int64_t ld_y) {
    const float* xf = static_cast<const float*>(x);
    const float* Bf = static_cast<const float*>(B);
    const float* Cf = static_cast<const float*>(C);
    const float* dtf = static_cast<const float*>(dt);
    float* yf = static_cast<float*>(y);
    N4J_CPU_GUARD("n4j_ssm_decode",
                  REF ? ssm_decode_ref(dims, batch, xf, ld_x, Bf, ld_B, Cf, ld_C, dtf, ld_dt, dt_bias, A_log, D,
                                       ssm_states, yf, ld_y)
                      : ssm_decode_fast(ctx_of(c), dims, batch, xf, ld_x, Bf, ld_B, Cf, ld_C, dtf, ld_dt, dt_bias,
                                        A_log, D, ssm_states, yf, ld_y));
}

template <bool REF>
int32_t f32_gated_rmsnorm(void* c, const void* y, int64_t ld_y, const void* z, int64_t ld_z, int32_t rows,
                         int32_t dim, int32_t groups, const n4j_weight* weight, float eps, void* out,
                         int64_t ld_out) {
    const float* yf = static_cast<const float*>(y);
    const float* zf = static_cast<const float*>(z);
    float* of = static_cast<float*>(out);
    N4J_CPU_GUARD("n4j_gated_rmsnorm",
                  REF ? gated_rmsnorm_ref(yf, ld_y, zf, ld_z, rows, dim, groups, weight, eps, of, ld_out)
                      : gated_rmsnorm_fast(ctx_of(c), yf, ld_y, zf, ld_z, rows, dim, groups, weight, eps, of,
                                           ld_out));
}

template <bool REF>
int32_t f32_attention_prefill(void* c, const n4j_attn_dims* dims, int32_t tokens, const void* q, int64_t ld_q,
                             const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* cache,
                             void* out, int64_t ld_out) {
    const float* qf = static_cast<const float*>(q);
    const float* kf = static_cast<const float*>(k);
    const float* vf = static_cast<const float*>(v);
    float* of = static_cast<float*>(out);
    N4J_CPU_GUARD("n4j_attention_prefill",
                  REF ? attention_prefill_ref(dims, tokens, qf, ld_q, kf, ld_k, vf, ld_v, cache, of, ld_out)
                      : attention_prefill_fast(ctx_of(c), dims, tokens, qf, ld_q, kf, ld_k, vf, ld_v, cache, of,
                                               ld_out));
}

template <bool REF>
int32_t f32_attention_decode(void* c, const n4j_attn_dims* dims, int32_t batch, const void* q, int64_t ld_q,
                            const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* caches,
                            void* out, int64_t ld_out) {
    const float* qf = static_cast<const float*>(q);
    const float* kf = static_cast<const float*>(k);
    const float* vf = static_cast<const float*>(v);
    float* of = static_cast<float*>(out);
    N4J_CPU_GUARD("n4j_attention_decode",
                  REF ? attention_decode_ref(dims, batch, qf, ld_q, kf, ld_k, vf, ld_v, caches, of, ld_out)
                      : attention_decode_fast(ctx_of(c), dims, batch, qf, ld_q, kf, ld_k, vf, ld_v, caches, of,
                                              ld_out));
}

template <bool REF>
int32_t f32_relu_squared(void* c, const void* x, void* y, int64_t n) {
    N4J_CPU_GUARD("n4j_relu_squared",
                  REF ? relu_squared_ref(static_cast<const float*>(x), static_cast<float*>(y), n)
                      : relu_squared_fast(ctx_of(c), static_cast<const float*>(x), static_cast<float*>(y), n));
}

template <bool REF>
int32_t f32_add(void* c, const void* a, const void* b, void* y, int64_t n) {
    const float* af = static_cast<const float*>(a);
    const float* bf = static_cast<const float*>(b);
    N4J_CPU_GUARD("n4j_add", REF ? add_ref(af, bf, static_cast<float*>(y), n)
                                 : add_fast(ctx_of(c), af, bf, static_cast<float*>(y), n));
}

template <bool REF>
int32_t f32_argmax(void* c, const void* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out) {
    const float* xf = static_cast<const float*>(x);
    N4J_CPU_GUARD("n4j_argmax", REF ? argmax_ref(xf, ld_x, rows, cols, out)
                                    : argmax_fast(ctx_of(c), xf, ld_x, rows, cols, out));
}

#undef N4J_CPU_GUARD

/* ---- the ops: F32 activations go straight to the kernels, BF16 ones through bf16_matrix copies ---- */

#define N4J_BF16_GUARD(name, ...)                                                                          \
    try {                                                                                                  \
        __VA_ARGS__                                                                                        \
    } catch (const std::bad_alloc&) {                                                                      \
        return set_error(N4J_ERR_OUT_OF_MEMORY, "%s: out of memory for the bf16 activation copies", name); \
    }

template <bool REF>
int32_t op_embedding(void* c, const n4j_weight* table, const int32_t* ids, int32_t n, void* out, int64_t ld_out) {
    if (!act_bf16(c) || f32_residual(c)) return f32_embedding<REF>(c, table, ids, n, out, ld_out);
    N4J_BF16_GUARD("n4j_embedding", {
        bf16_matrix o(out, ld_out, n, table->cols, false);
        const int32_t rc = f32_embedding<REF>(c, table, ids, n, o.f(), ld_out);
        if (rc == N4J_OK) o.store(out);
        return rc;
    })
}

template <bool REF>
int32_t op_rmsnorm(void* c, const void* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight,
                   float eps, void* out, int64_t ld_out) {
    if (!act_bf16(c)) return f32_rmsnorm<REF>(c, x, ld_x, rows, dim, weight, eps, out, ld_out);
    N4J_BF16_GUARD("n4j_rmsnorm", {
        bf16_matrix o(out, ld_out, rows, dim, false);
        if (f32_residual(c)) {  // x is the F32 residual stream
            const int32_t rc = f32_rmsnorm<REF>(c, x, ld_x, rows, dim, weight, eps, o.f(), ld_out);
            if (rc == N4J_OK) o.store(out);
            return rc;
        }
        bf16_matrix xf(x, ld_x, rows, dim, true);
        const int32_t rc = f32_rmsnorm<REF>(c, xf.f(), ld_x, rows, dim, weight, eps, o.f(), ld_out);
        if (rc == N4J_OK) o.store(out);
        return rc;
    })
}

/* N4J_MATMUL_ADD_TO_RESIDUAL: the product rounded to the activation dtype, then added into the residual stream y (F32
 * under N4J_FLAG_F32_RESIDUAL, else bf16), as N4J_MATMUL_STORE into a temporary and n4j_add(y, t, y) would. */
template <bool REF>
int32_t matmul_add_to_residual(void* c, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight, void* y,
                               int64_t ld_y) {
    if (!act_bf16(c)) return f32_matmul<REF>(c, x, ld_x, rows, weight, y, ld_y, N4J_MATMUL_ACCUMULATE);
    N4J_BF16_GUARD("n4j_matmul", {
        const int64_t n = weight->rows;
        bf16_matrix xf(x, ld_x, rows, weight->cols, true);
        std::vector<float> t(static_cast<size_t>(rows) * static_cast<size_t>(n));
        const int32_t rc = f32_matmul<REF>(c, xf.f(), ld_x, rows, weight, t.data(), n, N4J_MATMUL_STORE);
        if (rc != N4J_OK) return rc;
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t o = 0; o < n; ++o) {
                const float v = bf16_to_f32(f32_to_bf16(t[static_cast<size_t>(r * n + o)]));  // the bf16 output
                if (f32_residual(c)) {
                    float* yp = static_cast<float*>(y) + r * ld_y + o;
                    *yp = *yp + v;
                } else {
                    uint16_t* yp = static_cast<uint16_t*>(y) + r * ld_y + o;
                    *yp = f32_to_bf16(bf16_to_f32(*yp) + v);
                }
            }
        }
        return N4J_OK;
    })
}

template <bool REF>
int32_t op_matmul(void* c, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight, void* y,
                  int64_t ld_y, int32_t epilogue) {
    if (epilogue == N4J_MATMUL_ADD_TO_RESIDUAL) return matmul_add_to_residual<REF>(c, x, ld_x, rows, weight, y, ld_y);
    if (!act_bf16(c)) return f32_matmul<REF>(c, x, ld_x, rows, weight, y, ld_y, epilogue);
    N4J_BF16_GUARD("n4j_matmul", {
        bf16_matrix xf(x, ld_x, rows, weight->cols, true),
            yf(y, ld_y, rows, weight->rows, epilogue == N4J_MATMUL_ACCUMULATE);
        const int32_t rc = f32_matmul<REF>(c, xf.f(), ld_x, rows, weight, yf.f(), ld_y, epilogue);
        if (rc == N4J_OK) yf.store(y);
        return rc;
    })
}

template <bool REF>
int32_t op_conv1d_prefill(void* c, const void* x, int64_t ld_x, int32_t tokens, int32_t channels,
                          const n4j_weight* weight, const n4j_weight* bias, void* conv_state, int32_t activation,
                          void* out, int64_t ld_out) {
    if (!act_bf16(c)) {
        return f32_conv1d_prefill<REF>(c, x, ld_x, tokens, channels, weight, bias, conv_state, activation, out, ld_out);
    }
    N4J_BF16_GUARD("n4j_conv1d_prefill", {
        const int32_t K = weight->cols;
        bf16_matrix xf(x, ld_x, tokens, channels, true), st(conv_state, K, channels, K, true),
            o(out, ld_out, tokens, channels, false);
        const int32_t rc =
            f32_conv1d_prefill<REF>(c, xf.f(), ld_x, tokens, channels, weight, bias, st.f(), activation, o.f(), ld_out);
        if (rc == N4J_OK) {
            st.store(conv_state);
            o.store(out);
        }
        return rc;
    })
}

template <bool REF>
int32_t op_conv1d_decode(void* c, int32_t batch, const void* x, int64_t ld_x, int32_t channels,
                         const n4j_weight* weight, const n4j_weight* bias, void* const* conv_states,
                         int32_t activation, void* out, int64_t ld_out) {
    if (!act_bf16(c)) {
        return f32_conv1d_decode<REF>(c, batch, x, ld_x, channels, weight, bias, conv_states, activation, out, ld_out);
    }
    N4J_BF16_GUARD("n4j_conv1d_decode", {
        const int32_t K = weight->cols;
        bf16_matrix xf(x, ld_x, batch, channels, true), o(out, ld_out, batch, channels, false);
        std::vector<bf16_matrix> states;
        std::vector<void*> ptrs;
        states.reserve(static_cast<size_t>(batch));
        for (int32_t b = 0; b < batch; ++b) {
            states.emplace_back(conv_states[b], K, channels, K, true);
            ptrs.push_back(states.back().f());
        }
        const int32_t rc =
            f32_conv1d_decode<REF>(c, batch, xf.f(), ld_x, channels, weight, bias, ptrs.data(), activation, o.f(), ld_out);
        if (rc == N4J_OK) {
            for (int32_t b = 0; b < batch; ++b) states[static_cast<size_t>(b)].store(conv_states[b]);
            o.store(out);
        }
        return rc;
    })
}

/* The bf16 inputs of an SSM op (x, B, C, dt over `rows` rows) and its output y, as F32 copies. */
struct ssm_bf16 {
    bf16_matrix x, B, C, dt, y;
    ssm_bf16(const n4j_ssm_dims* d, int32_t rows, const void* x_, int64_t ld_x, const void* B_, int64_t ld_B,
             const void* C_, int64_t ld_C, const void* dt_, int64_t ld_dt, void* y_, int64_t ld_y)
        : x(x_, ld_x, rows, int64_t(d->heads) * d->head_dim, true),
          B(B_, ld_B, rows, int64_t(d->groups) * d->state_dim, true),
          C(C_, ld_C, rows, int64_t(d->groups) * d->state_dim, true),
          dt(dt_, ld_dt, rows, d->heads, true),
          y(y_, ld_y, rows, int64_t(d->heads) * d->head_dim, false) {}
};

template <bool REF>
int32_t op_ssd_chunk_scan(void* c, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                          const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                          const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                          float* ssm_state, void* y, int64_t ld_y) {
    if (!act_bf16(c)) {
        return f32_ssd_chunk_scan<REF>(c, dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log, D,
                                       ssm_state, y, ld_y);
    }
    N4J_BF16_GUARD("n4j_ssd_chunk_scan", {
        ssm_bf16 a(dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, y, ld_y);
        const int32_t rc = f32_ssd_chunk_scan<REF>(c, dims, tokens, a.x.f(), ld_x, a.B.f(), ld_B, a.C.f(), ld_C,
                                                   a.dt.f(), ld_dt, dt_bias, A_log, D, ssm_state, a.y.f(), ld_y);
        if (rc == N4J_OK) a.y.store(y);
        return rc;
    })
}

int32_t op_ssm_scan_sequential(void* c, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                               const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt,
                               int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                               const n4j_weight* D, float* ssm_state, void* y, int64_t ld_y) {
    if (!act_bf16(c)) {
        return f32_ssm_scan_sequential(c, dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log, D,
                                       ssm_state, y, ld_y);
    }
    N4J_BF16_GUARD("n4j_ssm_scan_sequential", {
        ssm_bf16 a(dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, y, ld_y);
        const int32_t rc = f32_ssm_scan_sequential(c, dims, tokens, a.x.f(), ld_x, a.B.f(), ld_B, a.C.f(), ld_C,
                                                   a.dt.f(), ld_dt, dt_bias, A_log, D, ssm_state, a.y.f(), ld_y);
        if (rc == N4J_OK) a.y.store(y);
        return rc;
    })
}

template <bool REF>
int32_t op_ssm_decode(void* c, const n4j_ssm_dims* dims, int32_t batch, const void* x, int64_t ld_x, const void* B,
                      int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                      const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                      float* const* ssm_states, void* y, int64_t ld_y) {
    if (!act_bf16(c)) {
        return f32_ssm_decode<REF>(c, dims, batch, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log, D,
                                   ssm_states, y, ld_y);
    }
    N4J_BF16_GUARD("n4j_ssm_decode", {
        ssm_bf16 a(dims, batch, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, y, ld_y);
        const int32_t rc = f32_ssm_decode<REF>(c, dims, batch, a.x.f(), ld_x, a.B.f(), ld_B, a.C.f(), ld_C,
                                               a.dt.f(), ld_dt, dt_bias, A_log, D, ssm_states, a.y.f(), ld_y);
        if (rc == N4J_OK) a.y.store(y);
        return rc;
    })
}

template <bool REF>
int32_t op_gated_rmsnorm(void* c, const void* y, int64_t ld_y, const void* z, int64_t ld_z, int32_t rows,
                         int32_t dim, int32_t groups, const n4j_weight* weight, float eps, void* out,
                         int64_t ld_out) {
    if (!act_bf16(c)) return f32_gated_rmsnorm<REF>(c, y, ld_y, z, ld_z, rows, dim, groups, weight, eps, out, ld_out);
    N4J_BF16_GUARD("n4j_gated_rmsnorm", {
        bf16_matrix yf(y, ld_y, rows, dim, true), zf(z, ld_z, rows, dim, true), o(out, ld_out, rows, dim, false);
        const int32_t rc =
            f32_gated_rmsnorm<REF>(c, yf.f(), ld_y, zf.f(), ld_z, rows, dim, groups, weight, eps, o.f(), ld_out);
        if (rc == N4J_OK) o.store(out);
        return rc;
    })
}

template <bool REF>
int32_t op_attention_prefill(void* c, const n4j_attn_dims* dims, int32_t tokens, const void* q, int64_t ld_q,
                             const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* cache,
                             void* out, int64_t ld_out) {
    if (!act_bf16(c)) return f32_attention_prefill<REF>(c, dims, tokens, q, ld_q, k, ld_k, v, ld_v, cache, out, ld_out);
    N4J_BF16_GUARD("n4j_attention_prefill", {
        const int64_t qw = int64_t(dims->heads) * dims->head_dim, kvw = int64_t(dims->kv_heads) * dims->head_dim;
        bf16_matrix qf(q, ld_q, tokens, qw, true), kf(k, ld_k, tokens, kvw, true), vf(v, ld_v, tokens, kvw, true),
            o(out, ld_out, tokens, qw, false);
        const int32_t rc =
            f32_attention_prefill<REF>(c, dims, tokens, qf.f(), ld_q, kf.f(), ld_k, vf.f(), ld_v, cache, o.f(), ld_out);
        if (rc == N4J_OK) o.store(out);
        return rc;
    })
}

template <bool REF>
int32_t op_attention_decode(void* c, const n4j_attn_dims* dims, int32_t batch, const void* q, int64_t ld_q,
                            const void* k, int64_t ld_k, const void* v, int64_t ld_v, const n4j_kv_cache* caches,
                            void* out, int64_t ld_out) {
    if (!act_bf16(c)) return f32_attention_decode<REF>(c, dims, batch, q, ld_q, k, ld_k, v, ld_v, caches, out, ld_out);
    N4J_BF16_GUARD("n4j_attention_decode", {
        const int64_t qw = int64_t(dims->heads) * dims->head_dim, kvw = int64_t(dims->kv_heads) * dims->head_dim;
        bf16_matrix qf(q, ld_q, batch, qw, true), kf(k, ld_k, batch, kvw, true), vf(v, ld_v, batch, kvw, true),
            o(out, ld_out, batch, qw, false);
        const int32_t rc =
            f32_attention_decode<REF>(c, dims, batch, qf.f(), ld_q, kf.f(), ld_k, vf.f(), ld_v, caches, o.f(), ld_out);
        if (rc == N4J_OK) o.store(out);
        return rc;
    })
}

template <bool REF>
int32_t op_relu_squared(void* c, const void* x, void* y, int64_t n) {
    if (!act_bf16(c)) return f32_relu_squared<REF>(c, x, y, n);
    N4J_BF16_GUARD("n4j_relu_squared", {
        bf16_matrix xf(x, n, 1, n, true), o(y, n, 1, n, false);
        const int32_t rc = f32_relu_squared<REF>(c, xf.f(), o.f(), n);
        if (rc == N4J_OK) o.store(y);
        return rc;
    })
}

template <bool REF>
int32_t op_add(void* c, const void* a, const void* b, void* y, int64_t n) {
    if (!act_bf16(c)) return f32_add<REF>(c, a, b, y, n);
    N4J_BF16_GUARD("n4j_add", {
        if (f32_residual(c)) {  // y = a + b with a and y the F32 residual stream, b a bf16 layer output
            bf16_matrix bf(b, n, 1, n, true);
            return f32_add<REF>(c, a, bf.f(), y, n);
        }
        bf16_matrix af(a, n, 1, n, true), bf(b, n, 1, n, true), o(y, n, 1, n, false);
        const int32_t rc = f32_add<REF>(c, af.f(), bf.f(), o.f(), n);
        if (rc == N4J_OK) o.store(y);
        return rc;
    })
}

template <bool REF>
int32_t op_argmax(void* c, const void* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out) {
    if (!act_bf16(c)) return f32_argmax<REF>(c, x, ld_x, rows, cols, out);
    N4J_BF16_GUARD("n4j_argmax", {
        bf16_matrix xf(x, ld_x, rows, cols, true);
        return f32_argmax<REF>(c, xf.f(), ld_x, rows, cols, out);
    })
}

#undef N4J_BF16_GUARD

template <bool REF>
n4j_backend_ops make_table() {
    n4j_backend_ops ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(n4j_backend_ops);
    ops.version = N4J_BACKEND_OPS_VERSION;
    ops.memory_is_host = 1;
    ops.create = cpu_create;
    ops.destroy = cpu_destroy;
    ops.synchronize = cpu_synchronize;
    ops.get_info = cpu_get_info;
    ops.alloc = cpu_alloc;
    ops.free = cpu_free;
    ops.copy = cpu_copy;
    ops.fill_zero = cpu_fill_zero;
    ops.convert = op_convert<REF>;
    ops.embedding = op_embedding<REF>;
    ops.rmsnorm = op_rmsnorm<REF>;
    ops.matmul = op_matmul<REF>;
    ops.conv1d_prefill = op_conv1d_prefill<REF>;
    ops.conv1d_decode = op_conv1d_decode<REF>;
    ops.ssd_chunk_scan = op_ssd_chunk_scan<REF>;
    ops.ssm_scan_sequential = op_ssm_scan_sequential;
    ops.ssm_decode = op_ssm_decode<REF>;
    ops.gated_rmsnorm = op_gated_rmsnorm<REF>;
    ops.attention_prefill = op_attention_prefill<REF>;
    ops.attention_decode = op_attention_decode<REF>;
    ops.relu_squared = op_relu_squared<REF>;
    ops.add = op_add<REF>;
    ops.argmax = op_argmax<REF>;
    return ops;
}

const n4j_backend_ops kReferenceOps = make_table<true>();
const n4j_backend_ops kFastOps = make_table<false>();

}  // namespace

const n4j_backend_ops* cpu_backend_ops(bool reference_kernels) {
    return reference_kernels ? &kReferenceOps : &kFastOps;
}

context* cpu_context_of(n4j_backend* backend) {
    if (backend == nullptr || backend->options.kind != N4J_BACKEND_CPU) return nullptr;
    return static_cast<context*>(backend->ctx);
}

}  // namespace cpu
}  // namespace n4j
