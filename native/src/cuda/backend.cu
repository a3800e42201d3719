/*
 * backend.cu: the CUDA backend's operations table (backend_ops.h) and its lifetime and memory entries.
 *
 * libnemotron4j loads this library with dlopen() and calls n4j_cuda_backend_ops() (the only exported symbol, see
 * exports_cuda_plugin.map). create() binds a device, makes one non-blocking stream and reads the device
 * properties; a machine without a driver or device gets a clear error through host->set_error, never a crash.
 *
 * Memory: alloc() is cudaMalloc + an asynchronous zero fill on the stream (cudaMalloc memory is 256-byte
 * aligned). free() waits for the stream first, so no kernel still in flight can touch freed memory.
 * copy(): host-to-device copies of up to 256 KiB go through the pinned staging ring (the caller's buffer is read
 * before the call returns and the transfer itself stays asynchronous); larger ones are issued on the stream and
 * waited for, which makes pageable and pinned sources equally safe to reuse after the call. Device-to-host copies
 * wait for the stream (the caller reads the data next). Device-to-device copies are asynchronous.
 *
 * Environment, read when a backend is created:
 *   N4J_CUDA_NO_MMA=1         CUDA-core GEMM and attention only (exact fp32; to tell a tensor-core bug from others)
 *   N4J_CUDA_GEMM=auto|own|cublaslt  prefill GEMMs (BF16 x BF16) through cuBLASLt where libcublasLt loads (auto,
 *                             the default), never (own), or required (cublaslt: creation fails without it); see
 *                             gemm_cublaslt.cu, which also reads N4J_CUBLASLT_LIBRARY (the library's path)
 *   N4J_CUDA_FP8=weight-only|w8a8  semantics of FP8 (e4m3) weights that carry a ModelOpt input_scale (matmul.cu),
 *                             for tests: when set it overrides the backend flag N4J_FLAG_FP8_W8A8 (which selects
 *                             w8a8 the same way, with the same checks); unset or empty, the flag decides:
 *                             weight-only (the default: the activations keep their precision, as on the CPU backend
 *                             and in the FP8 golden outputs; W8A8 moves a model's logits, ~10% of max |logit| on the
 *                             random-weight fixtures, so it is an explicit choice) or w8a8 (activations quantized to
 *                             e4m3 with input_scale, FP8 tensor-core GEMMs, in prefill and decode alike; needs
 *                             compute capability 8.9+, creation fails on older GPUs; N4J_CUDA_NO_MMA=1 is refused
 *                             with it, as there is no CUDA-core FP8 GEMM)
 *   N4J_SSD_SEGMENT_BYTES=n   scratch budget for SSD chunk states per segment (default 128 MiB)
 *   N4J_CUDA_GRAPHS=0         decode steps (n4j_step_begin / _end) run eagerly instead of as CUDA graphs
 * N4J_FLAG_REFERENCE_KERNELS has no effect on CUDA (the CPU backend is the reference).
 *
 * Decode steps (decode_graph.cu): every op of the table is wrapped (in_step below): outside a step it is called as
 * is; inside, its signature (every argument but the host arrays it stages) is recorded or checked, and in a replay
 * an op that stages nothing is not called at all (its launches are in the graph).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <type_traits>

#include "argmax.cuh"
#include "attention.cuh"
#include "backend_ops.h"
#include "common.cuh"
#include "context.cuh"
#include "conv1d.cuh"
#include "convert.cuh"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "gated_rmsnorm.cuh"
#include "mamba_decode.cuh"
#include "matmul.cuh"
#include "rmsnorm.cuh"
#include "rmsnorm_matmul.cuh"
#include "ssd_chunk_scan.cuh"
#include "ssm_recurrent.cuh"

extern "C" int32_t n4j_cuda_step_end(void* ctx);                  // decode_graph.cu
extern "C" int32_t n4j_cuda_step_stats(void* ctx, int64_t* out);  // decode_graph.cu

namespace n4j {
namespace cuda {

namespace {

constexpr uint64_t kStagedCopyLimit = N4J_STEP_COPY_LIMIT;  // 256 KiB

bool env_is_one(const char* name) {
    const char* v = getenv(name);
    return v != nullptr && strcmp(v, "1") == 0;
}

int32_t report_create(const n4j_backend_host* host, int32_t code, const char* message, cudaError_t err) {
    char buffer[512];
    if (err != cudaSuccess) {
        snprintf(buffer, sizeof(buffer), "n4j_backend_create: %s (%s: %s)", message, cudaGetErrorName(err),
                 cudaGetErrorString(err));
        cudaGetLastError();  // clear a non-sticky error so later calls start clean
    } else {
        snprintf(buffer, sizeof(buffer), "n4j_backend_create: %s", message);
    }
    if (host != nullptr && host->set_error != nullptr) host->set_error(buffer);
    return code;
}

int32_t op_create(const n4j_backend_options* options, const n4j_backend_host* host, void** out_ctx) {
    if (out_ctx == nullptr || options == nullptr) return N4J_ERR_INVALID_ARGUMENT;
    *out_ctx = nullptr;
    if (host == nullptr || host->struct_size < sizeof(n4j_backend_host) || host->version != N4J_BACKEND_OPS_VERSION) {
        return report_create(host != nullptr && host->struct_size >= sizeof(n4j_backend_host) ? host : nullptr,
                             N4J_ERR_INTERNAL, "incompatible backend host table", cudaSuccess);
    }
    if (options->activation_dtype != N4J_DTYPE_F32 && options->activation_dtype != N4J_DTYPE_BF16) {
        char message[128];
        snprintf(message, sizeof(message), "activation dtype %d (CUDA supports F32 and BF16)",
                 options->activation_dtype);
        return report_create(host, N4J_ERR_UNSUPPORTED, message, cudaSuccess);
    }
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) return report_create(host, N4J_ERR_BACKEND, "no usable CUDA driver or device", err);
    if (count == 0) return report_create(host, N4J_ERR_BACKEND, "no CUDA device found", cudaSuccess);
    if (options->device < 0 || options->device >= count) {
        char message[128];
        snprintf(message, sizeof(message), "device %d does not exist (%d CUDA device(s))", options->device, count);
        return report_create(host, N4J_ERR_INVALID_ARGUMENT, message, cudaSuccess);
    }
    err = cudaSetDevice(options->device);
    if (err != cudaSuccess) return report_create(host, N4J_ERR_BACKEND, "cannot select the device", err);
    context* ctx = new (std::nothrow) context();
    if (ctx == nullptr) return report_create(host, N4J_ERR_OUT_OF_MEMORY, "out of host memory", cudaSuccess);
    ctx->device = options->device;
    ctx->act_dtype = options->activation_dtype;
    ctx->flags = options->flags;
    ctx->set_error = host->set_error;
    ctx->no_mma = env_is_one("N4J_CUDA_NO_MMA");
    if (const char* seg = getenv("N4J_SSD_SEGMENT_BYTES")) {
        const long long v = atoll(seg);
        if (v > 0) ctx->ssd_segment_bytes = v;
    }
    err = cudaGetDeviceProperties(&ctx->props, ctx->device);
    if (err != cudaSuccess) {
        delete ctx;
        return report_create(host, N4J_ERR_BACKEND, "cannot read the device properties", err);
    }
    if (ctx->props.major < 8) {
        char message[256];
        snprintf(message, sizeof(message), "%s is compute capability %d.%d; this library needs 8.0 or newer",
                 ctx->props.name, ctx->props.major, ctx->props.minor);
        delete ctx;
        return report_create(host, N4J_ERR_UNSUPPORTED, message, cudaSuccess);
    }
    {
        // W8A8: N4J_FLAG_FP8_W8A8, or N4J_CUDA_FP8 when set (it overrides the flag both ways)
        bool w8a8 = (options->flags & N4J_FLAG_FP8_W8A8) != 0;
        const char* asked = "N4J_FLAG_FP8_W8A8";
        char message[256] = {0};
        const char* fp8 = getenv("N4J_CUDA_FP8");
        if (fp8 != nullptr && fp8[0] != '\0') {
            if (strcmp(fp8, "w8a8") == 0) {
                w8a8 = true;
                asked = "N4J_CUDA_FP8=w8a8";
            } else if (strcmp(fp8, "weight-only") == 0) {
                w8a8 = false;
            } else {
                snprintf(message, sizeof(message), "N4J_CUDA_FP8=%s: expected weight-only or w8a8", fp8);
            }
        }
        int32_t code = N4J_ERR_INVALID_ARGUMENT;
        if (message[0] == '\0' && w8a8) {
            code = N4J_ERR_UNSUPPORTED;
            if (ctx->props.major * 10 + ctx->props.minor < 89) {
                snprintf(message, sizeof(message), "%s needs compute capability 8.9 or newer (FP8 tensor cores); "
                         "%s is %d.%d", asked, ctx->props.name, ctx->props.major, ctx->props.minor);
            } else if (ctx->no_mma) {
                snprintf(message, sizeof(message), "%s runs on tensor cores; N4J_CUDA_NO_MMA=1 cannot be combined "
                         "with it", asked);
            } else {
                ctx->fp8_w8a8 = true;
            }
        }
        if (message[0] != '\0') {
            delete ctx;
            return report_create(host, code, message, cudaSuccess);
        }
    }
    err = cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking);
    if (err == cudaSuccess) err = cudaMalloc(&ctx->d_flag, sizeof(int));
    if (err == cudaSuccess) err = cudaHostAlloc(&ctx->h_flag, sizeof(int), cudaHostAllocDefault);
    if (err != cudaSuccess) {
        ctx->release();
        delete ctx;
        return report_create(host, N4J_ERR_BACKEND, "cannot create the stream or its buffers", err);
    }
    int32_t rc = cublaslt_init(ctx);
    if (rc != N4J_OK) {
        ctx->release();
        delete ctx;
        return rc;
    }
    *out_ctx = ctx;
    return N4J_OK;
}

void op_destroy(void* vctx) {
    context* ctx = static_cast<context*>(vctx);
    if (ctx == nullptr) return;
    cudaSetDevice(ctx->device);
    cublaslt_release(ctx);
    ctx->release();
    delete ctx;
}

/* Signature of an op's arguments inside a decode step (FNV-1a): scalars and device pointers by value, the
 * descriptor structs by content; the host arrays that ops stage (state pointers, KV caches) not at all: they may
 * change between replays (the ops note what of them shapes their launches, context::step_note). */
uint64_t sig_mix(uint64_t h, const void* p, size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
template <typename T>
void sig_add(uint64_t& h, T v) {
    static_assert(std::is_scalar<T>::value, "a scalar or a pointer");
    h = sig_mix(h, &v, sizeof(v));
}
void sig_add(uint64_t& h, const n4j_weight* w) {
    if (w == nullptr) return sig_add(h, 0);
    sig_add(h, w->data);
    sig_add(h, w->dtype);
    sig_add(h, w->rows);
    sig_add(h, w->cols);
    sig_add(h, w->scale);
    sig_add(h, w->input_scale);
}
void sig_add(uint64_t& h, const n4j_ssm_dims* d) {
    const int32_t v[5] = {d->heads, d->head_dim, d->groups, d->state_dim, d->chunk_size};
    h = sig_mix(h, v, sizeof(v));
}
void sig_add(uint64_t& h, const n4j_attn_dims* d) {
    const int32_t v[3] = {d->heads, d->kv_heads, d->head_dim};
    h = sig_mix(h, v, sizeof(v));
    sig_add(h, d->scale);
}
void sig_add(uint64_t&, void* const*) {}            // conv_states: staged
void sig_add(uint64_t&, float* const*) {}           // ssm_states: staged
void sig_add(uint64_t&, const n4j_kv_cache*) {}     // KV caches: staged (shape noted by stage_kv_caches)

/* An op of the table inside or outside a decode step. Stages: the op stages host arrays (it runs in a replay too,
 * returning before its launches). */
template <bool Stages, typename... A>
int32_t in_step(int32_t (*op)(void*, A...), const char* name, void* vctx, A... args) {
    context* ctx = static_cast<context*>(vctx);
    if (!ctx->in_step()) return op(vctx, args...);
    uint64_t h = 0xcbf29ce484222325ull;
    sig_add(h, name);
    (sig_add(h, args), ...);
    step_op_begin(ctx, h);
    const int32_t rc = ctx->replaying() && !Stages ? N4J_OK : op(vctx, args...);
    return step_op_end(ctx, rc, name);
}
#define N4J_IN_STEP(stages, op) \
    [](void* c, auto... a) -> int32_t { return in_step<stages>(op, #op, c, a...); }

int32_t refuse_in_step(context* ctx, const char* where, const char* what) {
    return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "%s inside a decode step (n4j_cuda_step_begin .. _end)", what);
}

int32_t op_synchronize(void* vctx) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_backend_synchronize";
    if (ctx->in_step()) return refuse_in_step(ctx, where, "synchronize");
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    return ctx->check(cudaStreamSynchronize(ctx->stream), where);
}

int32_t op_get_info(void* vctx, n4j_backend_info* out) {
    context* ctx = static_cast<context*>(vctx);
    out->kind = N4J_BACKEND_CUDA;
    out->device = ctx->device;
    out->threads = 0;
    out->activation_dtype = ctx->act_dtype;
    out->total_memory = static_cast<int64_t>(ctx->props.totalGlobalMem);
    snprintf(out->name, sizeof(out->name), "%s (sm_%d%d)%s%s", ctx->props.name, ctx->props.major, ctx->props.minor,
             ctx->use_cublaslt ? " cublasLt" : "", ctx->fp8_w8a8 ? " fp8-w8a8" : "");
    return N4J_OK;
}

int32_t op_alloc(void* vctx, uint64_t bytes, void** out_ptr) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_alloc";
    *out_ptr = nullptr;
    if (ctx->in_step()) return refuse_in_step(ctx, where, "allocation");
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
    if (err != cudaSuccess) {
        cudaGetLastError();
        size_t free_bytes = 0, total_bytes = 0;
        cudaMemGetInfo(&free_bytes, &total_bytes);
        return ctx->fail(err == cudaErrorMemoryAllocation ? N4J_ERR_OUT_OF_MEMORY : N4J_ERR_BACKEND, where,
                         "cudaMalloc of %llu bytes failed (%s); %zu of %zu bytes free",
                         static_cast<unsigned long long>(bytes), cudaGetErrorString(err), free_bytes, total_bytes);
    }
    if (bytes > 0) {
        rc = ctx->check(cudaMemsetAsync(p, 0, bytes, ctx->stream), where);
        if (rc != N4J_OK) {
            cudaFree(p);
            return rc;
        }
    }
    *out_ptr = p;
    return N4J_OK;
}

void op_free(void* vctx, void* ptr, uint64_t) {
    context* ctx = static_cast<context*>(vctx);
    if (ptr == nullptr) return;
    cudaSetDevice(ctx->device);
    cudaStreamSynchronize(ctx->stream);
    cudaFree(ptr);
    cudaGetLastError();
}

int32_t op_copy(void* vctx, void* dst, const void* src, uint64_t bytes, int32_t direction) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_copy";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    if (bytes == 0) return N4J_OK;
    if (ctx->in_step()) {
        // Nothing in a step waits for the device: small host-to-device copies go through the step's arena (captured
        // as a device-to-device copy out of it), device-to-device copies are captured, the rest is refused.
        if (direction == N4J_COPY_BACKEND_TO_HOST) return refuse_in_step(ctx, where, "a device-to-host copy");
        if (direction == N4J_COPY_HOST_TO_BACKEND && bytes > kStagedCopyLimit) {
            return refuse_in_step(ctx, where, "a host-to-device copy over 256 KiB");
        }
        if (direction == N4J_COPY_BACKEND_TO_BACKEND && ctx->replaying()) return N4J_OK;
    }
    switch (direction) {
        case N4J_COPY_HOST_TO_BACKEND: {
            if (bytes <= kStagedCopyLimit) {
                staged st;
                rc = ctx->stage(bytes, &st, where);
                if (rc != N4J_OK) return rc;
                memcpy(st.host, src, bytes);
                return ctx->commit_to(dst, bytes, where);
            }
            rc = ctx->check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx->stream), where);
            if (rc != N4J_OK) return rc;
            return ctx->check(cudaStreamSynchronize(ctx->stream), where);
        }
        case N4J_COPY_BACKEND_TO_HOST:
            rc = ctx->check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx->stream), where);
            if (rc != N4J_OK) return rc;
            return ctx->check(cudaStreamSynchronize(ctx->stream), where);
        case N4J_COPY_BACKEND_TO_BACKEND:
            return ctx->check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream), where);
        default:
            return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "unknown copy direction %d", direction);
    }
}

/* copy() in a step: the host source of a host-to-device copy is staged (its address is no part of the signature). */
int32_t op_copy_in_step(void* vctx, void* dst, const void* src, uint64_t bytes, int32_t direction) {
    context* ctx = static_cast<context*>(vctx);
    if (!ctx->in_step()) return op_copy(vctx, dst, src, bytes, direction);
    uint64_t h = 0xcbf29ce484222325ull;
    sig_add(h, "op_copy");
    sig_add(h, dst);
    sig_add(h, direction == N4J_COPY_HOST_TO_BACKEND ? nullptr : src);
    sig_add(h, bytes);
    sig_add(h, direction);
    step_op_begin(ctx, h);
    return step_op_end(ctx, op_copy(vctx, dst, src, bytes, direction), "op_copy");
}

int32_t op_fill_zero(void* vctx, void* ptr, uint64_t bytes) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_fill_zero";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    return ctx->check(cudaMemsetAsync(ptr, 0, bytes, ctx->stream), where);
}

n4j_backend_ops make_table() {
    n4j_backend_ops t;
    memset(&t, 0, sizeof(t));
    t.struct_size = sizeof(n4j_backend_ops);
    t.version = N4J_BACKEND_OPS_VERSION;
    t.memory_is_host = 0;
    t.create = op_create;
    t.destroy = op_destroy;
    t.synchronize = op_synchronize;
    t.get_info = op_get_info;
    t.alloc = op_alloc;
    t.free = op_free;
    t.copy = op_copy_in_step;
    t.fill_zero = N4J_IN_STEP(false, op_fill_zero);
    t.convert = N4J_IN_STEP(false, op_convert);
    t.embedding = N4J_IN_STEP(false, op_embedding);
    t.rmsnorm = N4J_IN_STEP(false, op_rmsnorm);
    t.matmul = N4J_IN_STEP(false, op_matmul);
    t.conv1d_prefill = N4J_IN_STEP(false, op_conv1d_prefill);
    t.conv1d_decode = N4J_IN_STEP(true, op_conv1d_decode);
    t.ssd_chunk_scan = N4J_IN_STEP(false, op_ssd_chunk_scan);
    t.ssm_scan_sequential = N4J_IN_STEP(false, op_ssm_scan_sequential);
    t.ssm_decode = N4J_IN_STEP(true, op_ssm_decode);
    t.gated_rmsnorm = N4J_IN_STEP(false, op_gated_rmsnorm);
    t.attention_prefill = N4J_IN_STEP(true, op_attention_prefill);
    t.attention_decode = N4J_IN_STEP(true, op_attention_decode);
    t.relu_squared = N4J_IN_STEP(false, op_relu_squared);
    t.add = N4J_IN_STEP(false, op_add);
    t.argmax = N4J_IN_STEP(false, op_argmax);
    t.step_begin = graphs_step_begin;
    t.step_end = n4j_cuda_step_end;
    t.step_stats = n4j_cuda_step_stats;
    t.mamba_decode = N4J_IN_STEP(true, op_mamba_decode);
    t.rmsnorm_matmul = N4J_IN_STEP(false, op_rmsnorm_matmul);
    return t;
}

const n4j_backend_ops kTable = make_table();

}  // namespace

}  // namespace cuda
}  // namespace n4j

/* The plug-in entry point (backend_ops.h). */
extern "C" __attribute__((visibility("default"))) const n4j_backend_ops* n4j_cuda_backend_ops(void) {
    return &n4j::cuda::kTable;
}

/*
 * Benchmark support (not part of the plug-in interface; `ctx` is what the table's create() returned): CUDA-event
 * timing on the backend's stream. stop = 0 records the start event and returns 0; stop = 1 records the stop event,
 * waits for it and returns the milliseconds in between. Returns a negative value on a CUDA error.
 */
extern "C" __attribute__((visibility("default"))) float n4j_cuda_bench_timer(void* vctx, int stop) {
    n4j::cuda::context* ctx = static_cast<n4j::cuda::context*>(vctx);
    if (ctx == nullptr || cudaSetDevice(ctx->device) != cudaSuccess) return -1.0f;
    if (ctx->timer_start == nullptr && cudaEventCreate(&ctx->timer_start) != cudaSuccess) return -1.0f;
    if (ctx->timer_stop == nullptr && cudaEventCreate(&ctx->timer_stop) != cudaSuccess) return -1.0f;
    if (!stop) return cudaEventRecord(ctx->timer_start, ctx->stream) == cudaSuccess ? 0.0f : -1.0f;
    if (cudaEventRecord(ctx->timer_stop, ctx->stream) != cudaSuccess) return -1.0f;
    if (cudaEventSynchronize(ctx->timer_stop) != cudaSuccess) return -1.0f;
    float ms = 0.0f;
    if (cudaEventElapsedTime(&ms, ctx->timer_start, ctx->timer_stop) != cudaSuccess) return -1.0f;
    return ms;
}
