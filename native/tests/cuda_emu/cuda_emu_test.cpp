/*
 * cuda_emu_test.cpp: cuda_emulation_test, every CUDA kernel of the backend run on the CPU emulator (emu.h, with the
 * tensor-core models of tensor_core.h) and compared with the CPU reference kernels, on every machine (no GPU, no
 * nvcc).
 *
 * The n4j::cuda::op_* entry points of the CUDA plug-in (the real .cu files of native/src/cuda, launches rewritten by
 * rewrite_launches) are called with a shadow context (shadow/context.cuh) on host memory; the oracle is a CPU backend
 * created with N4J_FLAG_REFERENCE_KERNELS and F32 activations, driven through the public C ABI the way
 * native/tests/cuda/cuda_backend_test.cpp drives it. Everything runs twice: with F32 activations (tolerance 1e-4
 * of max |ref|) and with BF16 activations (2e-2; the inputs are rounded to bf16 first, so both sides see the same
 * values), the second pass with the emulator's block and thread order reversed. Besides the values, the tests check
 * that columns outside an output's width (ld > width) and rows past the output are left untouched.
 *
 * Covered (kernels / ops):
 *   ldmatrix / mma.sync models (tensor_core.h)      on their own: random products, PTX figure entries, rule aborts
 *                                                   (mma m16n8k16 bf16 and m16n8k32 e4m3)
 *   cp.async model (emu.h)                          on its own: data only after the wait (and a barrier), zero fill
 *   ssd_cumsum, ssd_cb, ssd_chunk_state<PJ 2,3,5,8>, ssd_state_pass, ssd_chunk_output<PJ>  n4j_ssd_chunk_scan
 *   ssd_cb_mma, ssd_chunk_state_mma<PJ 2,3,4,5,8>, ssd_chunk_output_mma<PJ>  the same with BF16 activations
 *   ssm_recurrent_kernel                            n4j_ssm_scan_sequential, n4j_ssm_decode (batch 1 and 3)
 *   conv1d_prefill / conv1d_state_update / decode   n4j_conv1d_prefill (two calls), n4j_conv1d_decode
 *   gated_rmsnorm_kernel                            n4j_gated_rmsnorm (128 and 256 threads, in place over y / z)
 *   rmsnorm_warp_kernel, rmsnorm_block_kernel       n4j_rmsnorm (and F32 in / BF16 out, N4J_FLAG_F32_RESIDUAL)
 *   elementwise_kernel, residual_add_kernel         n4j_relu_squared, n4j_add (vector and scalar paths, grid-stride)
 *   embedding_kernel                                n4j_embedding (F32/BF16/F8 tables, an id out of range)
 *   gemv_kernel<1,2,4,8 rows, F32/BF16/F8, f32/bf16>  n4j_matmul rows <= 8 (store, accumulate, relu^2)
 *   gemm_simt_kernel, gemm_mma_kernel<F32 split / BF16 x BF16 / F8>  n4j_matmul rows > 8 (and N4J_CUDA_NO_MMA)
 *   gemm_skinny_kernel<2/4/8 n-tiles>, gemm_skinny_reduce_kernel  n4j_matmul rows 9..64 (split-K on and off)
 *   gemv_quant_kernel<1,2,4,8 rows, Q8/Q4/Q6, f32/bf16>, dequantize_kernel<Q8/Q4/Q6, f32/bf16>  n4j_matmul with
 *                                                   block-quantized weights (decode GEMV; prefill dequantized, then
 *                                                   the GEMM) against the reference on the dequantized F32 weight
 *   quantize_e4m3_kernel, gemm_w8a8_kernel<f32/bf16>, gemv_kernel<.., QX>  n4j_matmul in W8A8 mode (F8 weights with
 *                                                   an input_scale, ctx->fp8_w8a8), against a CPU W8A8 emulation
 *   gemv_kernel<.., NORM>, rmsnorm_quantize_kernel  n4j_rmsnorm_matmul: bit for bit against n4j_rmsnorm then
 *                                                   n4j_matmul (rows 1-8 and 9-70, dims 37..4480, every weight dtype
 *                                                   and epilogue, W8A8 on and off, the F32 residual), and an input on
 *                                                   which the reduction order shows
 *   kv_write_kernel, attn_prefill_simt_kernel<16..128>, attn_prefill_mma_kernel<64, 128>  n4j_attention_prefill
 *   attn_decode_split_kernel<F32/BF16 cache>, attn_decode_reduce_kernel                  n4j_attention_decode
 *   argmax_kernel, convert_kernel                   n4j_argmax, n4j_convert (bit-exact, every dtype pair)
 * plus the shadow conversions (bf16 rounding, e4m3 decoding) against n4j_convert. At the end a coverage table lists
 * every __global__ kernel found in the source directory with its launches and tests; one never launched fails.
 * Shapes (Mamba): the tiny golden model (6 heads x 20, 2 groups, state 16, chunk 16), the 9B head (4 x 80, state 128,
 * chunk 128, 1 and 2 groups), head dims 40 / 64 / 128 / 130 (two p-tiles), chunks 8..256, rows 16-byte aligned or
 * not; T in {1, 15, 16, 17, 37, 129, 130, 257, 300, 513, 600}, a prefill split over two calls with the state carried,
 * several SSD segments, extreme decay, N4J_CUDA_NO_MMA; conv K=4 with T < K-1 and K in {1,2,8}.
 * The other tests' shapes are printed with the coverage table (test_shapes below).
 *
 * What it cannot check (see emu.h): the cuBLASLt path (a library call) and the plug-in's host side (backend.cu,
 * context.cu); races between blocks (blocks run one at a time); timing, occupancy, register pressure; the GPU's
 * exact rounding (host libm expf/log1pf, no FMA contraction, the tensor cores' internal accumulation), which the
 * tolerances absorb.
 * Usage: cuda_emulation_test [--only NAME] [--verbose]. Exit 0: all passed, 1: a failure. An emulator error (a
 * deadlock, a barrier divergence, a partial-warp shuffle or collective, a launch over the limits) aborts with a
 * message.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common.cuh"   // shadow/common.cuh
#include "context.cuh"  // shadow/context.cuh
#include "argmax.cuh"   // the rest: rewritten copies of the .cuh files of native/src/cuda
#include "attention.cuh"
#include "conv1d.cuh"
#include "convert.cuh"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "gated_rmsnorm.cuh"
#include "mamba_decode.cuh"
#include "matmul.cuh"
#include "nemotron4j.h"
#include "rmsnorm.cuh"
#include "rmsnorm_matmul.cuh"
#include "ssd_chunk_scan.cuh"
#include "ssm_recurrent.cuh"
#include "cpu/dtype_scalar.h"  // the CPU backend's W8A8 quantizer (N4J_FLAG_FP8_W8A8), held bit-exact to the kernels'

/* gemm_cublaslt.cu (the cuBLASLt glue) is not part of this kernel harness: the emulated plug-in runs it against the
 * stand-in library (cublaslt_standin.cpp; CTest's cuda_backend_test_emulated and cublaslt_glue_test). matmul.cu
 * asks cublaslt_supports first, which is false here (the harness's contexts never set use_cublaslt). */
namespace n4j {
namespace cuda {
bool cublaslt_supports(const context* ctx, const matmul_args&) { return ctx->use_cublaslt; }
bool cublaslt_forced(const context*) { return false; }
int32_t cublaslt_matmul(context* ctx, const matmul_args&, bool* done) {
    *done = false;
    return ctx->fail(N4J_ERR_UNSUPPORTED, "n4j_matmul", "cuBLASLt is not part of cuda_emulation_test");
}
bool cublaslt_supports_fp8(const context* ctx, const matmul_args&) { return ctx->use_cublaslt; }
int32_t cublaslt_fp8_prepare(context* ctx, const matmul_args&, int64_t, const float*, bool* usable, size_t* ws) {
    *usable = false;
    *ws = 0;
    return ctx->fail(N4J_ERR_UNSUPPORTED, "n4j_matmul", "cuBLASLt is not part of cuda_emulation_test");
}
int32_t cublaslt_matmul_fp8(context* ctx, const matmul_args&, const uint8_t*, int64_t, const float*, void*,
                            bool* done) {
    *done = false;
    return ctx->fail(N4J_ERR_UNSUPPORTED, "n4j_matmul", "cuBLASLt is not part of cuda_emulation_test");
}
}  // namespace cuda
}  // namespace n4j

namespace {

using n4j::cuda::context;

int64_t ceil_div_i(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ------------------------------------------------------------------ harness ---- */

int g_checks = 0;
int g_failures = 0;
bool g_verbose = false;
n4j_backend* g_ref = nullptr;  // CPU reference kernels, F32 activations: the oracle
int g_act = N4J_DTYPE_F32;     // activation dtype of the emulated CUDA backend in this pass

double tol() { return g_act == N4J_DTYPE_BF16 ? 2e-2 : 1e-4; }
const char* act_name() { return g_act == N4J_DTYPE_BF16 ? "bf16" : "f32"; }

void fail_line(const char* format, ...) __attribute__((format(printf, 1, 2)));
void fail_line(const char* format, ...) {
    ++g_failures;
    if (g_failures > 60) return;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "FAIL [%s] ", act_name());
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
}

std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* format, ...) {
    char buf[256];
    va_list args;
    va_start(args, format);
    vsnprintf(buf, sizeof(buf), format, args);
    va_end(args);
    return buf;
}

#define REF_OK(call)                                                                                          \
    do {                                                                                                      \
        ++g_checks;                                                                                           \
        const int32_t _rc = (call);                                                                           \
        if (_rc != N4J_OK) fail_line("%s:%d: %s returned %d: %s", __FILE__, __LINE__, #call, _rc, n4j_last_error()); \
    } while (0)

#define EMU_OK(ctx, call)                                                                                     \
    do {                                                                                                      \
        ++g_checks;                                                                                           \
        const int32_t _rc = (call);                                                                           \
        if (_rc != N4J_OK) fail_line("%s:%d: %s returned %d: %s", __FILE__, __LINE__, #call, _rc, (ctx).last_error.c_str()); \
    } while (0)

/* The xorshift generator of cuda_backend_test. */
class rng {
public:
    explicit rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 7) {}
    uint64_t next() {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return s_ * 0x2545F4914F6CDD1Dull;
    }
    float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>((next() >> 40) * (1.0 / 16777216.0)); }
    int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
    std::vector<float> vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
        std::vector<float> v(n);
        for (auto& x : v) x = uniform(lo, hi);
        return v;
    }

private:
    uint64_t s_;
};

size_t dtype_bytes(int dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32: return 4;
        case N4J_DTYPE_BF16:
        case N4J_DTYPE_F16: return 2;
        case N4J_DTYPE_F8_E4M3: return 1;
        default: return 0;
    }
}

/* Conversions through the CPU library (n4j_convert). */
std::vector<uint8_t> lib_convert(const void* src, int src_dtype, int dst_dtype, size_t n) {
    std::vector<uint8_t> out(n * dtype_bytes(dst_dtype) + 1);
    if (n > 0) REF_OK(n4j_convert(g_ref, src, src_dtype, out.data(), dst_dtype, static_cast<int64_t>(n)));
    return out;
}

/* Values representable in the activation dtype of this pass. */
std::vector<float> round_act(const std::vector<float>& v) {
    if (g_act == N4J_DTYPE_F32) return v;
    std::vector<uint8_t> b = lib_convert(v.data(), N4J_DTYPE_F32, N4J_DTYPE_BF16, v.size());
    std::vector<uint8_t> f = lib_convert(b.data(), N4J_DTYPE_BF16, N4J_DTYPE_F32, v.size());
    std::vector<float> r(v.size());
    memcpy(r.data(), f.data(), v.size() * 4);
    return r;
}

/* "Device" memory of the emulated backend: F32 or BF16 elements, 64-byte aligned (as n4j_alloc) and exactly as large
 * as asked (a build with -fsanitize=address then reports a kernel reading or writing past a buffer). */
class dev_buf {
public:
    dev_buf(int dtype, const std::vector<float>& v) : dtype_(dtype), n_(v.size()) {
        const size_t bytes = std::max<size_t>(n_ * dtype_bytes(dtype), 1);
        void* mem = nullptr;
        if (posix_memalign(&mem, 64, bytes) != 0) {
            fprintf(stderr, "FAIL out of memory\n");
            exit(1);
        }
        mem_ = static_cast<uint8_t*>(mem);
        for (size_t i = 0; i < n_; ++i) set(i, v[i]);
    }
    dev_buf(const dev_buf&) = delete;
    dev_buf& operator=(const dev_buf&) = delete;
    ~dev_buf() { free(mem_); }
    void* p(size_t elem_offset = 0) const { return mem_ + elem_offset * dtype_bytes(dtype_); }
    template <typename T>
    T* as() const {
        return reinterpret_cast<T*>(mem_);
    }
    void set(size_t i, float v) {
        if (dtype_ == N4J_DTYPE_F32) {
            memcpy(mem_ + 4 * i, &v, 4);
        } else {
            const uint16_t b = emu_f32_to_bf16_rn(v);
            memcpy(mem_ + 2 * i, &b, 2);
        }
    }
    float at(size_t i) const {
        if (dtype_ == N4J_DTYPE_F32) {
            float v;
            memcpy(&v, mem_ + 4 * i, 4);
            return v;
        }
        uint16_t b;
        memcpy(&b, mem_ + 2 * i, 2);
        return emu_bf16_to_f32(b);
    }
    std::vector<float> get() const {
        std::vector<float> v(n_);
        for (size_t i = 0; i < n_; ++i) v[i] = at(i);
        return v;
    }

private:
    int dtype_;
    size_t n_;
    uint8_t* mem_;
};

/* A weight in host memory, shared by both sides (the CPU backend reads host memory). */
struct host_weight {
    std::vector<uint8_t> bytes;
    n4j_weight w;
};

host_weight make_weight(rng& r, int dtype, int rows, int cols, float lo, float hi) {
    host_weight h;
    std::vector<float> v = r.vec(static_cast<size_t>(rows) * cols, lo, hi);
    float scale = 1.0f;
    if (dtype == N4J_DTYPE_F8_E4M3) {
        scale = std::max(fabsf(lo), fabsf(hi)) / 448.0f;
        for (float& x : v) x /= scale;
    }
    if (dtype == N4J_DTYPE_F32) {
        h.bytes.resize(v.size() * 4);
        memcpy(h.bytes.data(), v.data(), v.size() * 4);
    } else {
        h.bytes = lib_convert(v.data(), N4J_DTYPE_F32, dtype, v.size());
    }
    memset(&h.w, 0, sizeof(h.w));
    h.w.data = h.bytes.data();
    h.w.dtype = dtype;
    h.w.rows = rows;
    h.w.cols = cols;
    h.w.scale = scale;
    return h;
}

/* max |got - ref| / max |ref| (NaN when a NaN differs). */
double rel_err(const std::vector<float>& ref, const std::vector<float>& got) {
    if (ref.size() != got.size()) return INFINITY;
    double max_ref = 0.0, max_diff = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (isnan(ref[i]) || isnan(got[i])) {
            if (isnan(ref[i]) != isnan(got[i])) return NAN;
            continue;
        }
        max_ref = std::max(max_ref, fabs(static_cast<double>(ref[i])));
        max_diff = std::max(max_diff, fabs(static_cast<double>(ref[i]) - static_cast<double>(got[i])));
    }
    return max_diff / std::max(max_ref, 1e-30);
}

struct op_stat {
    int cases = 0;
    double worst = 0.0;
};

void compare(op_stat& st, const std::string& label, const std::vector<float>& ref, const std::vector<float>& got,
             double tolerance) {
    ++g_checks;
    ++st.cases;
    const double e = rel_err(ref, got);
    if (!(e <= tolerance)) {
        fail_line("%s: rel err %.3g > tol %.3g", label.c_str(), e, tolerance);
    } else if (g_verbose) {
        printf("    ok %-72s %.3g\n", label.c_str(), e);
    }
    if (!isnan(e) && e > st.worst) st.worst = e;
}

/* Columns [col0, col0 + width) of a matrix with row stride ld. */
std::vector<float> columns(const std::vector<float>& m, int rows, int64_t ld, int width, int64_t col0 = 0) {
    std::vector<float> out(static_cast<size_t>(rows) * width);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < width; ++c) out[static_cast<size_t>(r) * width + c] = m[r * ld + col0 + c];
    return out;
}

constexpr float kSentinel = -1024.0f;  // exact in bf16

/* Everything of m outside columns [col0, col0 + width) of its first `rows` rows must still be the sentinel. */
void check_untouched(const std::string& label, const std::vector<float>& m, int rows, int64_t ld, int width,
                     int64_t col0 = 0) {
    ++g_checks;
    for (size_t i = 0; i < m.size(); ++i) {
        const int64_t r = static_cast<int64_t>(i) / ld, c = static_cast<int64_t>(i) % ld;
        const bool inside = r < rows && c >= col0 && c < col0 + width;
        if (!inside && m[i] != kSentinel) {
            fail_line("%s: element %zu (row %lld, column %lld) outside the output was overwritten (%g)", label.c_str(), i,
                      static_cast<long long>(r), static_cast<long long>(c), m[i]);
            return;
        }
    }
}

context* new_ctx(int flags = 0) {
    context* c = new context();
    c->act_dtype = g_act;
    c->flags = flags;
    return c;
}

/* ------------------------------------------------------------------ conversions ---- */

void test_conversions(op_stat& st) {
    rng r(1);
    std::vector<float> v = r.vec(20000, -600.0f, 600.0f);
    for (size_t i = 0; i < v.size(); i += 3) v[i] *= 1e-3f;
    for (size_t i = 1; i < v.size(); i += 7) v[i] *= 1e-36f;  // bf16 subnormals
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-40f, 3.3895e38f, 3.4e38f, -1e30f,
                              1.00390625f, 1.01171875f, 1.0078125f};  // ties to even in the last three
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); ++i) v[i * 13] = specials[i];
    std::vector<uint8_t> lib = lib_convert(v.data(), N4J_DTYPE_F32, N4J_DTYPE_BF16, v.size());
    int bad = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        uint16_t want;
        memcpy(&want, lib.data() + 2 * i, 2);
        const uint16_t got = __float2bfloat16_rn(v[i]).__x;
        const bool want_nan = (want & 0x7fffu) > 0x7f80u, got_nan = (got & 0x7fffu) > 0x7f80u;
        if (want_nan || got_nan ? want_nan != got_nan : want != got) {
            if (++bad <= 3) fail_line("bf16 rounding of %a: emulator 0x%04x, CPU library 0x%04x", v[i], got, want);
        }
        if (!want_nan && __bfloat162float(__float2bfloat16_rn(v[i])) != emu_bf16_to_f32(want)) ++bad;
    }
    ++g_checks;
    ++st.cases;
    if (__float2bfloat16_rn(NAN).__x != 0x7fffu) fail_line("bf16 NaN is not CUDA's canonical 0x7FFF");
    // Every e4m3 byte: weight_raw (exact decoder) and the half-precision path (value / 256) against n4j_convert.
    std::vector<uint8_t> bytes(256);
    for (int i = 0; i < 256; ++i) bytes[i] = static_cast<uint8_t>(i);
    std::vector<uint8_t> f = lib_convert(bytes.data(), N4J_DTYPE_F8_E4M3, N4J_DTYPE_F32, 256);
    for (int i = 0; i < 256; i += 4) {
        uint32_t word;
        memcpy(&word, bytes.data() + i, 4);
        float div256[4];
        n4j::cuda::e4m3x4_to_f32_div256(word, div256);
        for (int k = 0; k < 4; ++k) {
            float want;
            memcpy(&want, f.data() + 4 * (i + k), 4);
            const float exact = n4j::cuda::weight_raw(bytes.data(), N4J_DTYPE_F8_E4M3, i + k);
            const bool nan = isnan(want);
            if (nan ? !isnan(exact) : exact != want) {
                if (++bad <= 6) fail_line("e4m3 0x%02x: weight_raw %g, CPU library %g", i + k, exact, want);
            }
            if (!nan && div256[k] * 256.0f != want) {
                if (++bad <= 6) {
                    fail_line("e4m3 0x%02x: e4m3x4_to_f32_div256 * 256 = %g, CPU library %g", i + k, div256[k] * 256.0f,
                              want);
                }
            }
        }
    }
    ++g_checks;
    ++st.cases;
    if (bad > 0) fail_line("conversions: %d mismatches", bad);
}

/* ------------------------------------------------------------------ SSM scans ---- */

struct ssm_case {
    int heads, head_dim, groups, state_dim, chunk;
    int pad = 3;  // ld of the x | B | C matrix = its width + pad (3: rows not 16-byte aligned; 0: aligned, vector loads)
};

std::string case_name(const ssm_case& c) {
    return fmt("H=%d P=%d G=%d N=%d L=%d%s", c.heads, c.head_dim, c.groups, c.state_dim, c.chunk,
               c.pad == 0 ? " aligned" : "");
}

/* x | B | C columns of one matrix (ld = conv width + 3), dt elsewhere, as cuda_backend_test lays them out. */
struct ssm_inputs {
    std::vector<float> xbc, dt, state;
    host_weight dt_bias, a_log, d;
    int64_t ld_xbc, ld_dt;
};

ssm_inputs make_ssm_inputs(rng& r, const ssm_case& c, int rows, int decay = 0) {
    ssm_inputs in;
    const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim;
    in.ld_xbc = d_inner + 2 * c.groups * c.state_dim + c.pad;
    in.ld_dt = c.heads + 5;
    in.xbc = round_act(r.vec(rows * in.ld_xbc, -1.0f, 1.0f));
    const float dlo = decay == 1 ? 0.0f : decay == 2 ? -9.0f : -3.0f, dhi = decay == 1 ? 3.0f : decay == 2 ? -6.0f : 1.0f;
    in.dt = round_act(r.vec(rows * in.ld_dt, dlo, dhi));
    in.state = r.vec(static_cast<size_t>(c.heads) * c.head_dim * c.state_dim, -0.5f, 0.5f);
    in.dt_bias = make_weight(r, N4J_DTYPE_F32, c.heads, 1, -1.0f, 0.5f);
    if (decay == 0) {
        in.a_log = make_weight(r, N4J_DTYPE_BF16, c.heads, 1, -1.0f, 2.5f);
    } else {
        in.a_log = make_weight(r, N4J_DTYPE_F32, c.heads, 1, decay == 1 ? 2.0f : -6.0f, decay == 1 ? 4.0f : -4.0f);
    }
    in.d = make_weight(r, N4J_DTYPE_F32, c.heads, 1, 0.5f, 1.5f);
    return in;
}

/* The oracle: the CPU reference's sequential scan over rows [0, tokens); y (d_inner columns) then the final state. */
std::vector<float> ref_scan(const ssm_case& c, int tokens, const ssm_inputs& in) {
    n4j_ssm_dims dims = {c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, 0};
    const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim, gs = static_cast<int64_t>(c.groups) * c.state_dim;
    std::vector<float> y(tokens * d_inner, 0.0f), state = in.state;
    const float* x = in.xbc.data();
    REF_OK(n4j_ssm_scan_sequential(g_ref, &dims, tokens, x, in.ld_xbc, x + d_inner, in.ld_xbc, x + d_inner + gs,
                                   in.ld_xbc, in.dt.data(), in.ld_dt, &in.dt_bias.w, &in.a_log.w, &in.d.w,
                                   state.data(), y.data(), d_inner));
    y.insert(y.end(), state.begin(), state.end());
    return y;
}

enum scan_kind { SCAN_CHUNKED, SCAN_SEQUENTIAL };

/* The emulated scan, as `splits` consecutive calls (token counts) carrying the state; y then the final state. */
std::vector<float> emu_scan(scan_kind kind, const ssm_case& c, const std::vector<int>& splits, const ssm_inputs& in,
                            const std::string& label, int64_t segment_bytes = 0, bool no_mma = false) {
    n4j_ssm_dims dims = {c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, 0};
    const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim, gs = static_cast<int64_t>(c.groups) * c.state_dim;
    int tokens = 0;
    for (int n : splits) tokens += n;
    const int64_t ld_y = d_inner + (c.pad == 0 ? 8 : 1);  // aligned cases: even ld (paired bf16 stores of y)
    context* ctx = new_ctx();
    if (segment_bytes > 0) ctx->ssd_segment_bytes = segment_bytes;
    ctx->no_mma = no_mma;
    dev_buf xb(g_act, in.xbc), dtb(g_act, in.dt), sb(N4J_DTYPE_F32, in.state);
    dev_buf yb(g_act, std::vector<float>((tokens + 1) * ld_y, kSentinel));  // a spare row: must stay untouched
    int off = 0;
    for (int n : splits) {
        const size_t row = static_cast<size_t>(off) * in.ld_xbc;
        const void* x = xb.p(row);
        const void* B = xb.p(row + d_inner);
        const void* C = xb.p(row + d_inner + gs);
        const void* dt = dtb.p(static_cast<size_t>(off) * in.ld_dt);
        void* y = yb.p(static_cast<size_t>(off) * ld_y);
        if (kind == SCAN_CHUNKED) {
            EMU_OK(*ctx, n4j::cuda::op_ssd_chunk_scan(ctx, &dims, n, x, in.ld_xbc, B, in.ld_xbc, C, in.ld_xbc, dt,
                                                      in.ld_dt, &in.dt_bias.w, &in.a_log.w, &in.d.w, sb.as<float>(), y,
                                                      ld_y));
        } else {
            EMU_OK(*ctx, n4j::cuda::op_ssm_scan_sequential(ctx, &dims, n, x, in.ld_xbc, B, in.ld_xbc, C, in.ld_xbc, dt,
                                                           in.ld_dt, &in.dt_bias.w, &in.a_log.w, &in.d.w,
                                                           sb.as<float>(), y, ld_y));
        }
        off += n;
    }
    delete ctx;
    const std::vector<float> yall = yb.get();
    check_untouched(label + " (y padding)", yall, tokens, ld_y, static_cast<int>(d_inner));
    std::vector<float> out = columns(yall, tokens, ld_y, static_cast<int>(d_inner));
    const std::vector<float> s = sb.get();
    out.insert(out.end(), s.begin(), s.end());
    return out;
}

void compare_scan(op_stat& st, const std::string& label, const std::vector<float>& ref, const std::vector<float>& got,
                  size_t ny) {
    compare(st, label + " y", std::vector<float>(ref.begin(), ref.begin() + ny),
            std::vector<float>(got.begin(), got.begin() + ny), tol());
    compare(st, label + " state", std::vector<float>(ref.begin() + ny, ref.end()),
            std::vector<float>(got.begin() + ny, got.end()), tol());
}

void test_ssm_scans(op_stat& st) {
    rng r(7);
    struct scan_set {
        ssm_case c;
        std::vector<int> tokens;
        bool sequential;  // also the emulated sequential scan
    };
    const std::vector<scan_set> sets = {
        {{6, 20, 2, 16, 16}, {1, 15, 16, 17, 37, 130}, true},    // the tiny golden model (PJ 2)
        {{4, 80, 1, 128, 128}, {1, 15, 16, 17, 37, 130}, true},  // 9B head, 1 group (PJ 5)
        {{4, 80, 2, 128, 128}, {1, 17, 130}, true},              // 9B head, 2 groups
        {{8, 40, 2, 64, 32}, {15, 70}, false},                   // PJ 3, chunk 32
        {{2, 128, 1, 32, 64}, {1, 130}, false},                  // PJ 8, chunk 64 (one cb tile)
        {{3, 130, 3, 20, 8}, {37}, false},                       // two p-tiles, one head per group, chunk 8
        {{128, 80, 8, 128, 128}, {130}, false},                  // a whole 9B Mamba layer
        // aligned rows (16-byte loads in the tensor-core kernels), chunk 128 and 256, head_dim 80 and 64
        {{4, 80, 2, 128, 128, 0}, {1, 37, 300}, false},          // 9B head: 3 chunks, the last partial
        {{4, 80, 2, 128, 256, 0}, {1, 257, 600}, false},         // chunk 256 (4 CB tiles per side)
        {{4, 64, 1, 128, 128, 0}, {1, 129, 300}, false},         // head_dim 64 (PJ 4 on tensor cores)
        {{4, 64, 2, 128, 256, 0}, {513}, false},
        {{2, 64, 1, 64, 256}, {300}, false},                     // head_dim 64, state 64, unaligned rows
    };
    for (const scan_set& s : sets) {
        for (int tokens : s.tokens) {
            ssm_inputs in = make_ssm_inputs(r, s.c, tokens);
            const std::vector<float> ref = ref_scan(s.c, tokens, in);
            const size_t ny = static_cast<size_t>(tokens) * s.c.heads * s.c.head_dim;
            const std::string name = fmt("ssd_chunk_scan %s T=%d", case_name(s.c).c_str(), tokens);
            compare_scan(st, name, ref, emu_scan(SCAN_CHUNKED, s.c, {tokens}, in, name), ny);
            if (s.sequential) {
                const std::string sname = fmt("ssm_scan_sequential %s T=%d", case_name(s.c).c_str(), tokens);
                compare_scan(st, sname, ref, emu_scan(SCAN_SEQUENTIAL, s.c, {tokens}, in, sname), ny);
            }
        }
    }
}

/* A prefill split over two calls (the state carried), several segments, extreme decay. */
void test_ssm_edges(op_stat& st) {
    rng r(18);
    struct split_case {
        ssm_case c;
        std::vector<int> splits;
        int64_t segment_bytes;
        int decay;
    };
    const std::vector<split_case> cases = {
        {{6, 20, 2, 16, 16}, {37, 63}, 0, 0},    // split inside a chunk
        {{6, 20, 2, 16, 16}, {16, 21}, 0, 0},    // split at a chunk boundary
        {{4, 80, 1, 128, 128}, {37, 93}, 0, 0},  // 9B head
        {{6, 20, 2, 16, 16}, {33}, 20000, 0},    // segments of 2 chunks (state 7680 bytes)
        {{6, 20, 2, 16, 16}, {100}, 20000, 0},
        {{6, 20, 2, 16, 16}, {70}, 0, 1},        // strong decay
        {{6, 20, 2, 16, 16}, {70}, 0, 2},        // almost none
        {{4, 80, 2, 128, 128}, {150}, 0, 1},
        {{4, 80, 2, 128, 128}, {150}, 0, 2},
        // continuing a prefill (the state of the first call non-zero and carried) on the 9B head, chunk 256 / 64
        {{4, 80, 2, 128, 256, 0}, {100, 213}, 0, 0},
        {{4, 64, 1, 128, 256, 0}, {256, 45}, 0, 0},
        {{4, 80, 2, 128, 128, 0}, {129, 70}, 0, 1},
        {{4, 80, 2, 128, 128, 0}, {300}, 100000, 0},  // segments of 1 chunk (chunk states 163840 / 81920 bytes)
    };
    for (const split_case& e : cases) {
        int tokens = 0;
        std::string parts;
        for (int n : e.splits) {
            tokens += n;
            parts += (parts.empty() ? "" : "+") + std::to_string(n);
        }
        ssm_inputs in = make_ssm_inputs(r, e.c, tokens, e.decay);
        const std::vector<float> ref = ref_scan(e.c, tokens, in);
        const std::string name = fmt("ssd_chunk_scan %s T=%s seg=%lld decay=%d", case_name(e.c).c_str(), parts.c_str(),
                                     static_cast<long long>(e.segment_bytes), e.decay);
        compare_scan(st, name, ref, emu_scan(SCAN_CHUNKED, e.c, e.splits, in, name, e.segment_bytes),
                     static_cast<size_t>(tokens) * e.c.heads * e.c.head_dim);
        if (e.splits.size() > 1 && e.c.head_dim <= 20) {
            const std::string sname = fmt("ssm_scan_sequential %s T=%s", case_name(e.c).c_str(), parts.c_str());
            compare_scan(st, sname, ref, emu_scan(SCAN_SEQUENTIAL, e.c, e.splits, in, sname),
                         static_cast<size_t>(tokens) * e.c.heads * e.c.head_dim);
        }
    }
    // N4J_CUDA_NO_MMA: the fp32 SIMT kernels with BF16 activations (this pass otherwise runs the tensor-core ones).
    if (g_act == N4J_DTYPE_BF16) {
        for (const ssm_case& c : {ssm_case{4, 80, 2, 128, 128, 0}, ssm_case{4, 64, 1, 128, 256, 0}}) {
            const int tokens = 150;
            ssm_inputs in = make_ssm_inputs(r, c, tokens);
            const std::vector<float> ref = ref_scan(c, tokens, in);
            const std::string name = fmt("ssd_chunk_scan %s T=%d no_mma", case_name(c).c_str(), tokens);
            compare_scan(st, name, ref, emu_scan(SCAN_CHUNKED, c, {tokens}, in, name, 0, true),
                         static_cast<size_t>(tokens) * c.heads * c.head_dim);
        }
    }
}

void test_ssm_decode(op_stat& st) {
    rng r(9);
    for (const ssm_case& c : {ssm_case{6, 20, 2, 16, 16}, ssm_case{4, 80, 2, 128, 128}, ssm_case{4, 80, 1, 128, 128},
                              ssm_case{128, 80, 8, 128, 128}}) {
        for (int batch : {1, 3}) {
            if (c.heads > 100 && batch != 3) continue;  // the whole 9B layer
            const int steps = c.heads > 100 ? 2 : 5;
            std::vector<ssm_inputs> ins;
            for (int s = 0; s < steps; ++s) ins.push_back(make_ssm_inputs(r, c, batch));
            std::vector<std::vector<float>> st0(batch);
            for (auto& s : st0) s = r.vec(static_cast<size_t>(c.heads) * c.head_dim * c.state_dim, -0.5f, 0.5f);
            n4j_ssm_dims dims = {c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, 0};
            const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim, gs = static_cast<int64_t>(c.groups) * c.state_dim;
            // reference
            std::vector<float> ref;
            {
                std::vector<std::vector<float>> states = st0;
                std::vector<float*> ptrs;
                for (auto& s : states) ptrs.push_back(s.data());
                for (int s = 0; s < steps; ++s) {
                    const ssm_inputs& in = ins[s];
                    std::vector<float> y(batch * d_inner, 0.0f);
                    const float* x = in.xbc.data();
                    REF_OK(n4j_ssm_decode(g_ref, &dims, batch, x, in.ld_xbc, x + d_inner, in.ld_xbc, x + d_inner + gs,
                                          in.ld_xbc, in.dt.data(), in.ld_dt, &ins[0].dt_bias.w, &ins[0].a_log.w,
                                          &ins[0].d.w, ptrs.data(), y.data(), d_inner));
                    ref.insert(ref.end(), y.begin(), y.end());
                }
                for (auto& s : states) ref.insert(ref.end(), s.begin(), s.end());
            }
            // emulated
            std::vector<float> got;
            {
                context* ctx = new_ctx();
                std::vector<dev_buf*> sbs;
                std::vector<float*> ptrs;
                for (int b = batch - 1; b >= 0; --b) sbs.insert(sbs.begin(), new dev_buf(N4J_DTYPE_F32, st0[b]));
                for (dev_buf* b : sbs) ptrs.push_back(b->as<float>());
                for (int s = 0; s < steps; ++s) {
                    const ssm_inputs& in = ins[s];
                    dev_buf xb(g_act, in.xbc), dtb(g_act, in.dt);
                    dev_buf yb(g_act, std::vector<float>((batch + 1) * d_inner, kSentinel));
                    EMU_OK(*ctx, n4j::cuda::op_ssm_decode(ctx, &dims, batch, xb.p(), in.ld_xbc, xb.p(d_inner), in.ld_xbc,
                                                          xb.p(d_inner + gs), in.ld_xbc, dtb.p(), in.ld_dt,
                                                          &ins[0].dt_bias.w, &ins[0].a_log.w, &ins[0].d.w, ptrs.data(),
                                                          yb.p(), d_inner));
                    std::vector<float> y = yb.get();
                    check_untouched(fmt("ssm_decode %s batch=%d (rows past the batch)", case_name(c).c_str(), batch), y,
                                    batch, d_inner, static_cast<int>(d_inner));
                    got.insert(got.end(), y.begin(), y.begin() + batch * d_inner);
                }
                for (dev_buf* b : sbs) {
                    std::vector<float> s = b->get();
                    got.insert(got.end(), s.begin(), s.end());
                    delete b;
                }
                delete ctx;
            }
            compare(st, fmt("ssm_decode %s batch=%d steps=%d (y, states)", case_name(c).c_str(), batch, steps), ref,
                    got, tol());
        }
    }
}

/* ------------------------------------------------------------------ fused Mamba decode ---- */

/* n4j_mamba_decode (conv1d step + SiLU + SSM step + D skip + gated RMSNorm, one kernel) for `steps` steps on
 * carried states, against (1) the three unfused ops on the emulator, bit for bit (tolerance 0): y, out, the conv
 * and the SSM states; (2) the CPU reference's n4j_mamba_decode (the dispatch layer's composition of its three ops)
 * within tol(). The completion counters must be back to zero after every launch. alias: out == y. */
struct mamba_case {
    int heads, head_dim, groups, state_dim, K;
    bool alias;
};

void mamba_decode_case(op_stat& st, rng& r, const mamba_case& mc, int batch, int steps) {
    const int64_t d_inner = static_cast<int64_t>(mc.heads) * mc.head_dim;
    const int64_t gn = static_cast<int64_t>(mc.groups) * mc.state_dim;
    const int64_t conv = d_inner + 2 * gn;
    const int64_t ld_in = d_inner + conv + mc.heads + 3, ld_y = d_inner + 1;
    n4j_ssm_dims dims = {mc.heads, mc.head_dim, mc.groups, mc.state_dim, 16, 0};
    host_weight cw = make_weight(r, N4J_DTYPE_BF16, static_cast<int>(conv), mc.K, -0.8f, 0.8f);
    host_weight cb = make_weight(r, N4J_DTYPE_BF16, static_cast<int>(conv), 1, -0.5f, 0.5f);
    host_weight dtb = make_weight(r, N4J_DTYPE_F32, mc.heads, 1, -2.0f, 0.5f);
    host_weight alog = make_weight(r, N4J_DTYPE_F32, mc.heads, 1, -1.0f, 1.5f);
    host_weight dd = make_weight(r, N4J_DTYPE_F32, mc.heads, 1, -1.0f, 1.0f);
    host_weight nw = make_weight(r, N4J_DTYPE_BF16, static_cast<int>(d_inner), 1, 0.5f, 1.5f);
    std::vector<std::vector<float>> ins(steps);
    for (auto& in : ins) in = round_act(r.vec(static_cast<size_t>(batch) * ld_in, -1.5f, 1.5f));
    std::vector<std::vector<float>> cs0(batch), ss0(batch);
    for (auto& c : cs0) c = round_act(r.vec(static_cast<size_t>(conv) * mc.K, -1.0f, 1.0f));
    for (auto& s : ss0) s = r.vec(static_cast<size_t>(d_inner) * mc.state_dim, -0.5f, 0.5f);
    const std::string name = fmt("mamba_decode H=%d P=%d G=%d N=%d K=%d batch=%d steps=%d%s", mc.heads, mc.head_dim,
                                 mc.groups, mc.state_dim, mc.K, batch, steps, mc.alias ? " out=y" : "");

    // y, out of every step, then the conv and SSM states; fused: the one kernel, else the three ops
    auto run_emu = [&](bool fused) {
        std::vector<float> res;
        context* ctx = new_ctx();
        std::vector<std::unique_ptr<dev_buf>> cbs, sbs;
        std::vector<void*> cptr;
        std::vector<float*> sptr;
        for (int b = 0; b < batch; ++b) {
            cbs.emplace_back(new dev_buf(g_act, cs0[b]));
            sbs.emplace_back(new dev_buf(N4J_DTYPE_F32, ss0[b]));
            cptr.push_back(cbs.back()->p());
            sptr.push_back(sbs.back()->as<float>());
        }
        for (int s = 0; s < steps; ++s) {
            dev_buf in(g_act, ins[s]);
            dev_buf yb(g_act, std::vector<float>((batch + 1) * ld_y, kSentinel));
            dev_buf ob(g_act, std::vector<float>((batch + 1) * ld_y, kSentinel));
            dev_buf& out = mc.alias ? yb : ob;
            if (fused) {
                EMU_OK(*ctx, n4j::cuda::op_mamba_decode(ctx, &dims, batch, in.p(), ld_in, &cw.w, &cb.w, &dtb.w, &alog.w,
                                                        &dd.w, &nw.w, 1e-5f, cptr.data(), sptr.data(), yb.p(), ld_y,
                                                        out.p(), ld_y));
                ++g_checks;
                if (!ctx->counters_clear()) fail_line("%s: completion counters not back to zero", name.c_str());
            } else {
                dev_buf xbc(g_act, std::vector<float>(static_cast<size_t>(batch) * conv, kSentinel));
                EMU_OK(*ctx, n4j::cuda::op_conv1d_decode(ctx, batch, in.p(d_inner), ld_in, static_cast<int>(conv), &cw.w,
                                                         &cb.w, cptr.data(), N4J_ACT_SILU, xbc.p(), conv));
                EMU_OK(*ctx, n4j::cuda::op_ssm_decode(ctx, &dims, batch, xbc.p(), conv, xbc.p(d_inner), conv,
                                                      xbc.p(d_inner + gn), conv, in.p(d_inner + conv), ld_in, &dtb.w,
                                                      &alog.w, &dd.w, sptr.data(), yb.p(), ld_y));
                EMU_OK(*ctx, n4j::cuda::op_gated_rmsnorm(ctx, yb.p(), ld_y, in.p(), ld_in, batch, static_cast<int>(d_inner),
                                                         mc.groups, &nw.w, 1e-5f, out.p(), ld_y));
            }
            const std::vector<float> y = yb.get(), o = out.get();
            check_untouched(name + " out", o, batch, ld_y, static_cast<int>(d_inner));
            if (!mc.alias) {
                const std::vector<float> yc = columns(y, batch, ld_y, static_cast<int>(d_inner));
                res.insert(res.end(), yc.begin(), yc.end());
            }
            const std::vector<float> oc = columns(o, batch, ld_y, static_cast<int>(d_inner));
            res.insert(res.end(), oc.begin(), oc.end());
        }
        for (int b = 0; b < batch; ++b) {
            const std::vector<float> c = cbs[b]->get(), s = sbs[b]->get();
            res.insert(res.end(), c.begin(), c.end());
            res.insert(res.end(), s.begin(), s.end());
        }
        delete ctx;
        return res;
    };
    const std::vector<float> fused = run_emu(true), unfused = run_emu(false);
    compare(st, name + " vs unfused (y, out, states)", unfused, fused, 0.0);
    ++g_checks;
    if (memcmp(fused.data(), unfused.data(), fused.size() * sizeof(float)) != 0 || fused.size() != unfused.size()) {
        fail_line("%s: the fused results are not bit-identical to the unfused ones", name.c_str());
    }

    // The CPU reference's n4j_mamba_decode with this pass's activation dtype (its BF16 mode rounds the conv output,
    // y and out where the GPU's BF16 path does; the conv states are then bf16 too).
    std::vector<float> ref;
    {
        n4j_backend_options o;
        memset(&o, 0, sizeof(o));
        o.kind = N4J_BACKEND_CPU;
        o.threads = 1;
        o.flags = N4J_FLAG_REFERENCE_KERNELS;
        o.activation_dtype = g_act;
        n4j_backend* cpu = nullptr;
        REF_OK(n4j_backend_create(&o, &cpu));
        if (cpu == nullptr) return;
        const size_t es = dtype_bytes(g_act);
        auto to_act = [&](const std::vector<float>& v) { return lib_convert(v.data(), N4J_DTYPE_F32, g_act, v.size()); };
        auto from_act = [&](const std::vector<uint8_t>& b, size_t n) {
            std::vector<uint8_t> f = lib_convert(b.data(), g_act, N4J_DTYPE_F32, n);
            std::vector<float> v(n);
            memcpy(v.data(), f.data(), n * 4);
            return v;
        };
        std::vector<std::vector<uint8_t>> cs;
        std::vector<std::vector<float>> ss = ss0;
        std::vector<void*> cptr;
        std::vector<float*> sptr;
        for (int b = 0; b < batch; ++b) cs.push_back(to_act(cs0[b]));
        for (int b = 0; b < batch; ++b) {
            cptr.push_back(cs[b].data());
            sptr.push_back(ss[b].data());
        }
        const size_t ysz = static_cast<size_t>(batch + 1) * ld_y;
        for (int s = 0; s < steps; ++s) {
            const std::vector<uint8_t> in = to_act(ins[s]);
            std::vector<uint8_t> y = to_act(std::vector<float>(ysz, kSentinel)), o2 = y;
            std::vector<uint8_t>& out = mc.alias ? y : o2;
            REF_OK(n4j_mamba_decode(cpu, &dims, batch, in.data(), ld_in, &cw.w, &cb.w, &dtb.w, &alog.w, &dd.w, &nw.w,
                                    1e-5f, cptr.data(), sptr.data(), y.data(), ld_y, out.data(), ld_y));
            if (!mc.alias) {
                const std::vector<float> yc = columns(from_act(y, ysz), batch, ld_y, static_cast<int>(d_inner));
                ref.insert(ref.end(), yc.begin(), yc.end());
            }
            const std::vector<float> oc = columns(from_act(out, ysz), batch, ld_y, static_cast<int>(d_inner));
            ref.insert(ref.end(), oc.begin(), oc.end());
        }
        for (int b = 0; b < batch; ++b) {
            const std::vector<float> c = from_act(cs[b], cs0[b].size());
            ref.insert(ref.end(), c.begin(), c.end());
            ref.insert(ref.end(), ss[b].begin(), ss[b].end());
        }
        (void)es;
        n4j_backend_destroy(cpu);
    }
    compare(st, name + " vs CPU", ref, fused, tol());
}

void test_mamba_decode(op_stat& st) {
    rng r(43);
    const std::vector<mamba_case> cases = {
        {6, 20, 2, 16, 4, false},    // head_dim 20: one block of 16 rows and a partial one; 3 heads per group
        {4, 80, 2, 128, 4, false},   // head_dim 80 (the 9B's), state 128: 4 lanes' worth per lane
        {3, 80, 1, 24, 3, true},     // one group, N = 24 (lanes 24..31 idle), K = 3, out == y
        {5, 20, 5, 33, 4, false},    // one head per group, odd N
        {26, 80, 2, 16, 2, false},   // norm groups of 1040 elements: 256-thread blocks (gated_rmsnorm's choice)
    };
    for (const mamba_case& c : cases) {
        for (int batch : {1, 3}) mamba_decode_case(st, r, c, batch, 3);
    }
    mamba_decode_case(st, r, {128, 80, 8, 128, 4, false}, 2, 2);  // the 9B's mixer
}

/* ------------------------------------------------------------------ conv1d ---- */

/* Prefill calls of the given token counts on one state (bias + SiLU or neither), then `decode_steps` decode steps
 * on the same state; the outputs and the final state against the reference. */
void conv_case(op_stat& st, rng& r, int channels, int K, const std::vector<int>& calls, int decode_steps, bool fancy) {
    const int act = fancy ? N4J_ACT_SILU : N4J_ACT_NONE;
    const int64_t ld_x = channels + 7, ld_out = channels + 1;
    host_weight w = make_weight(r, N4J_DTYPE_BF16, channels, K, -1.0f, 1.0f);
    host_weight b = make_weight(r, N4J_DTYPE_F32, channels, 1, -0.5f, 0.5f);
    const n4j_weight* bias = fancy ? &b.w : nullptr;
    const std::vector<float> state0 = round_act(r.vec(channels * K, -1.0f, 1.0f));
    std::vector<std::vector<float>> xs;
    for (int T : calls) xs.push_back(round_act(r.vec(T * ld_x, -2.0f, 2.0f)));
    for (int s = 0; s < decode_steps; ++s) xs.push_back(round_act(r.vec(ld_x, -2.0f, 2.0f)));
    std::string label = fmt("conv1d ch=%d K=%d T=", channels, K);
    for (int T : calls) label += std::to_string(T) + ",";
    label += fmt(" decode=%d bias+silu=%d", decode_steps, fancy ? 1 : 0);

    std::vector<float> ref, got;
    {
        std::vector<float> state = state0;
        size_t k = 0;
        for (int T : calls) {
            std::vector<float> o(T * ld_out, 0.0f);
            REF_OK(n4j_conv1d_prefill(g_ref, xs[k++].data(), ld_x, T, channels, &w.w, bias, state.data(), act, o.data(),
                                      ld_out));
            const std::vector<float> c = columns(o, T, ld_out, channels);
            ref.insert(ref.end(), c.begin(), c.end());
        }
        for (int s = 0; s < decode_steps; ++s) {
            std::vector<float> o(channels, 0.0f);
            void* ptr = state.data();
            REF_OK(n4j_conv1d_decode(g_ref, 1, xs[k++].data(), ld_x, channels, &w.w, bias, &ptr, act, o.data(), channels));
            ref.insert(ref.end(), o.begin(), o.end());
        }
        ref.insert(ref.end(), state.begin(), state.end());
    }
    {
        context* ctx = new_ctx();
        dev_buf sb(g_act, state0);
        size_t k = 0;
        for (int T : calls) {
            dev_buf xb(g_act, xs[k++]);
            dev_buf ob(g_act, std::vector<float>((T + 1) * ld_out, kSentinel));
            EMU_OK(*ctx, n4j::cuda::op_conv1d_prefill(ctx, xb.p(), ld_x, T, channels, &w.w, bias, sb.p(), act, ob.p(),
                                                      ld_out));
            const std::vector<float> o = ob.get();
            check_untouched(label + " (prefill out padding)", o, T, ld_out, channels);
            const std::vector<float> c = columns(o, T, ld_out, channels);
            got.insert(got.end(), c.begin(), c.end());
        }
        for (int s = 0; s < decode_steps; ++s) {
            dev_buf xb(g_act, xs[k++]);
            dev_buf ob(g_act, std::vector<float>(channels + 5, kSentinel));
            void* ptr = sb.p();
            EMU_OK(*ctx, n4j::cuda::op_conv1d_decode(ctx, 1, xb.p(), ld_x, channels, &w.w, bias, &ptr, act, ob.p(),
                                                     channels));
            const std::vector<float> o = ob.get();
            check_untouched(label + " (decode out padding)", o, 1, channels + 5, channels);
            got.insert(got.end(), o.begin(), o.begin() + channels);
        }
        const std::vector<float> s = sb.get();
        got.insert(got.end(), s.begin(), s.end());
        delete ctx;
    }
    compare(st, label + " (outputs, state)", ref, got, tol());
}

void test_conv1d(op_stat& st) {
    rng r(6);
    for (int channels : {37, 300}) {
        for (int T : {1, 2, 3, 5, 70, 130}) {
            for (int fancy = 0; fancy < 2; ++fancy) conv_case(st, r, channels, 4, {T, T}, 0, fancy != 0);
        }
    }
    conv_case(st, r, 70, 4, {3}, 5, true);        // a prefill shorter than K, then decode on its state
    conv_case(st, r, 130, 4, {64, 65, 1}, 3, true);  // a token tile boundary (64 per thread)
    for (int K : {1, 2, 8}) conv_case(st, r, 45, K, {1, 7, 70}, 2, K != 2);
    // Decode: a batch of sequences, 40 steps (more than the 32 staging slots).
    for (int batch : {1, 3}) {
        const int channels = 45, K = 4, steps = 40;
        const int64_t ld_x = channels + 3;
        host_weight w = make_weight(r, N4J_DTYPE_F32, channels, K, -1.0f, 1.0f);
        host_weight b = make_weight(r, N4J_DTYPE_BF16, channels, 1, -0.5f, 0.5f);
        std::vector<std::vector<float>> st0(batch);
        for (auto& s : st0) s = round_act(r.vec(channels * K, -1.0f, 1.0f));
        std::vector<std::vector<float>> xs(steps);
        for (auto& x : xs) x = round_act(r.vec(batch * ld_x, -2.0f, 2.0f));
        std::vector<float> ref, got;
        {
            std::vector<std::vector<float>> states = st0;
            std::vector<void*> ptrs;
            for (auto& s : states) ptrs.push_back(s.data());
            for (int s = 0; s < steps; ++s) {
                std::vector<float> o(batch * channels, 0.0f);
                REF_OK(n4j_conv1d_decode(g_ref, batch, xs[s].data(), ld_x, channels, &w.w, &b.w, ptrs.data(),
                                         N4J_ACT_SILU, o.data(), channels));
                ref.insert(ref.end(), o.begin(), o.end());
            }
            for (auto& s : states) ref.insert(ref.end(), s.begin(), s.end());
        }
        {
            context* ctx = new_ctx();
            std::vector<dev_buf*> sbs;
            std::vector<void*> ptrs;
            for (int i = 0; i < batch; ++i) {
                sbs.push_back(new dev_buf(g_act, st0[i]));
                ptrs.push_back(sbs.back()->p());
            }
            for (int s = 0; s < steps; ++s) {
                dev_buf xb(g_act, xs[s]);
                dev_buf ob(g_act, std::vector<float>(batch * channels, 0.0f));
                EMU_OK(*ctx, n4j::cuda::op_conv1d_decode(ctx, batch, xb.p(), ld_x, channels, &w.w, &b.w, ptrs.data(),
                                                         N4J_ACT_SILU, ob.p(), channels));
                const std::vector<float> o = ob.get();
                got.insert(got.end(), o.begin(), o.end());
            }
            for (dev_buf* sb : sbs) {
                const std::vector<float> s = sb->get();
                got.insert(got.end(), s.begin(), s.end());
                delete sb;
            }
            delete ctx;
        }
        compare(st, fmt("conv1d_decode batch=%d steps=%d (outputs, states)", batch, steps), ref, got, tol());
    }
}

/* ------------------------------------------------------------------ norms ---- */

void test_gated_rmsnorm(op_stat& st) {
    rng r(10);
    struct shape {
        int dim, groups;
        std::vector<int> rows;
    };
    const std::vector<shape> shapes = {{120, 2, {1, 3, 17}}, {67, 1, {1, 3}},   {1280, 8, {1, 3, 17}},
                                       {96, 3, {3}},         {10240, 8, {1, 3}}, {2048, 1, {2}}};
    for (const shape& s : shapes) {
        for (int rows : s.rows) {
            const int64_t ld_y = s.dim + 1, ld_z = 2 * s.dim + 9, ld_out = s.dim + 2;
            const std::vector<float> y = round_act(r.vec(rows * ld_y, -2.0f, 2.0f));
            const std::vector<float> z = round_act(r.vec(rows * ld_z, -3.0f, 3.0f));
            host_weight w = make_weight(r, N4J_DTYPE_BF16, s.dim, 1, 0.5f, 1.5f);
            std::vector<float> ref(rows * ld_out, 0.0f);
            REF_OK(n4j_gated_rmsnorm(g_ref, y.data(), ld_y, z.data() + 5, ld_z, rows, s.dim, s.groups, &w.w, 1e-5f,
                                     ref.data(), ld_out));
            context* ctx = new_ctx();
            dev_buf yb(g_act, y), zb(g_act, z), ob(g_act, std::vector<float>((rows + 1) * ld_out, kSentinel));
            EMU_OK(*ctx, n4j::cuda::op_gated_rmsnorm(ctx, yb.p(), ld_y, zb.p(5), ld_z, rows, s.dim, s.groups, &w.w, 1e-5f,
                                                     ob.p(), ld_out));
            delete ctx;
            const std::string label = fmt("gated_rmsnorm dim=%d groups=%d rows=%d", s.dim, s.groups, rows);
            const std::vector<float> o = ob.get();
            check_untouched(label, o, rows, ld_out, s.dim);
            compare(st, label, columns(ref, rows, ld_out, s.dim), columns(o, rows, ld_out, s.dim), tol());
        }
    }
    // Written over its own y or z.
    for (int over = 0; over < 2; ++over) {
        const int dim = 120, groups = 2, rows = 5;
        const int64_t ld = dim + 3;
        const std::vector<float> y = round_act(r.vec(rows * ld, -2.0f, 2.0f));
        const std::vector<float> z = round_act(r.vec(rows * ld, -3.0f, 3.0f));
        host_weight w = make_weight(r, N4J_DTYPE_BF16, dim, 1, 0.5f, 1.5f);
        std::vector<float> ry = y, rz = z;
        std::vector<float>& rt = over == 0 ? ry : rz;
        REF_OK(n4j_gated_rmsnorm(g_ref, ry.data(), ld, rz.data(), ld, rows, dim, groups, &w.w, 1e-5f, rt.data(), ld));
        context* ctx = new_ctx();
        dev_buf yb(g_act, y), zb(g_act, z);
        dev_buf& target = over == 0 ? yb : zb;
        EMU_OK(*ctx, n4j::cuda::op_gated_rmsnorm(ctx, yb.p(), ld, zb.p(), ld, rows, dim, groups, &w.w, 1e-5f, target.p(), ld));
        delete ctx;
        compare(st, fmt("gated_rmsnorm in place over %s", over == 0 ? "y" : "z"), columns(rt, rows, ld, dim),
                columns(target.get(), rows, ld, dim), tol());
    }
}

void test_rmsnorm(op_stat& st) {
    rng r(4);
    for (int dim : {67, 64, 1000, 2048, 2049, 4480}) {
        for (int rows : {1, 3, 17, 130}) {
            if (dim > 2048 && rows == 130) continue;
            for (int wd : {N4J_DTYPE_BF16, N4J_DTYPE_F32}) {
                if (wd == N4J_DTYPE_F32 && rows != 3) continue;
                const int64_t ld_x = dim + 5, ld_out = dim + 2;
                const std::vector<float> x = round_act(r.vec(rows * ld_x, -3.0f, 3.0f));
                host_weight w = make_weight(r, wd, dim, 1, 0.5f, 1.5f);
                std::vector<float> ref(rows * ld_out, 0.0f);
                REF_OK(n4j_rmsnorm(g_ref, x.data(), ld_x, rows, dim, &w.w, 1e-5f, ref.data(), ld_out));
                context* ctx = new_ctx();
                dev_buf xb(g_act, x), ob(g_act, std::vector<float>((rows + 1) * ld_out, kSentinel));
                EMU_OK(*ctx, n4j::cuda::op_rmsnorm(ctx, xb.p(), ld_x, rows, dim, &w.w, 1e-5f, ob.p(), ld_out));
                delete ctx;
                const std::string label = fmt("rmsnorm dim=%d rows=%d w=%s", dim, rows, wd == N4J_DTYPE_F32 ? "f32" : "bf16");
                const std::vector<float> o = ob.get();
                check_untouched(label, o, rows, ld_out, dim);
                compare(st, label, columns(ref, rows, ld_out, dim), columns(o, rows, ld_out, dim), tol());
            }
        }
    }
    // In place (out == x).
    const int dim = 300, rows = 9;
    const std::vector<float> x = round_act(r.vec(rows * dim, -3.0f, 3.0f));
    host_weight w = make_weight(r, N4J_DTYPE_BF16, dim, 1, 0.5f, 1.5f);
    std::vector<float> ref = x;
    REF_OK(n4j_rmsnorm(g_ref, ref.data(), dim, rows, dim, &w.w, 1e-5f, ref.data(), dim));
    context* ctx = new_ctx();
    dev_buf xb(g_act, x);
    EMU_OK(*ctx, n4j::cuda::op_rmsnorm(ctx, xb.p(), dim, rows, dim, &w.w, 1e-5f, xb.p(), dim));
    delete ctx;
    compare(st, "rmsnorm in place", ref, xb.get(), tol());
}

/* ------------------------------------------------------------------ elementwise, embedding ---- */

void test_elementwise(op_stat& st) {
    rng r(13);
    const double t = g_act == N4J_DTYPE_BF16 ? 8e-3 : 1e-6;
    for (int sms : {132, 1}) {  // 1 SM: at most 16 blocks, the grid-stride loops run several rounds
        for (size_t n : {size_t(1), size_t(7), size_t(1001), size_t(100003)}) {
            if (sms == 1 && n < 100000) continue;
            for (int offset : {0, 1}) {  // offset 1: pointers not 16-byte aligned (the scalar path)
                const std::vector<float> a = round_act(r.vec(n + 2, -3.0f, 3.0f));
                const std::vector<float> b = round_act(r.vec(n + 2, -3.0f, 3.0f));
                for (int op = 0; op < 2; ++op) {
                    for (int in_place = 0; in_place < 2; ++in_place) {
                        std::vector<float> ra = a, ry(n + 2, kSentinel);
                        float* rout = in_place ? ra.data() + offset : ry.data() + offset;
                        if (op == 0) {
                            REF_OK(n4j_relu_squared(g_ref, ra.data() + offset, rout, static_cast<int64_t>(n)));
                        } else {
                            REF_OK(n4j_add(g_ref, ra.data() + offset, b.data() + offset, rout, static_cast<int64_t>(n)));
                        }
                        context* ctx = new_ctx();
                        ctx->props.multiProcessorCount = sms;
                        dev_buf ab(g_act, a), bb(g_act, b), yb(g_act, std::vector<float>(n + 2, kSentinel));
                        void* out = in_place ? ab.p(offset) : yb.p(offset);
                        if (op == 0) {
                            EMU_OK(*ctx, n4j::cuda::op_relu_squared(ctx, ab.p(offset), out, static_cast<int64_t>(n)));
                        } else {
                            EMU_OK(*ctx, n4j::cuda::op_add(ctx, ab.p(offset), bb.p(offset), out, static_cast<int64_t>(n)));
                        }
                        delete ctx;
                        const std::string label = fmt("%s n=%zu offset=%d in_place=%d sms=%d", op ? "add" : "relu_squared",
                                                      n, offset, in_place, sms);
                        const std::vector<float> g = in_place ? ab.get() : yb.get();
                        const std::vector<float> rr = in_place ? ra : ry;
                        if (!in_place) check_untouched(label, g, 1, static_cast<int64_t>(n + 2), static_cast<int>(n), offset);
                        compare(st, label, std::vector<float>(rr.begin() + offset, rr.begin() + offset + n),
                                std::vector<float>(g.begin() + offset, g.begin() + offset + n), t);
                    }
                }
            }
        }
    }
}

void test_embedding(op_stat& st) {
    rng r(3);
    for (int dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        for (int cols : {67, 64, 1000, 20000}) {
            const int rows = 37;
            host_weight w = make_weight(r, dtype, rows, cols, -2.0f, 2.0f);
            for (int n : {1, 5, 130}) {
                if (cols == 20000 && n != 5) continue;  // > 64 column blocks: the column loop strides
                std::vector<int32_t> ids(n);
                for (auto& id : ids) id = r.below(rows);
                const int64_t ld = cols + 3;
                std::vector<float> ref(n * ld, 0.0f);
                REF_OK(n4j_embedding(g_ref, &w.w, ids.data(), n, ref.data(), ld));
                context* ctx = new_ctx();
                dev_buf ob(g_act, std::vector<float>((n + 1) * ld, kSentinel));
                EMU_OK(*ctx, n4j::cuda::op_embedding(ctx, &w.w, ids.data(), n, ob.p(), ld));
                delete ctx;
                const char* dn = dtype == N4J_DTYPE_F32 ? "f32" : dtype == N4J_DTYPE_BF16 ? "bf16" : "e4m3";
                const std::string label = fmt("embedding %s cols=%d n=%d", dn, cols, n);
                const std::vector<float> o = ob.get();
                check_untouched(label, o, n, ld, cols);
                compare(st, label, columns(ref, n, ld, cols), columns(o, n, ld, cols), g_act == N4J_DTYPE_BF16 ? 4e-3 : 0.0);
            }
            // An id out of range: N4J_ERR_INVALID_ARGUMENT, and that row zeroed (never read out of bounds).
            const std::vector<int32_t> bad = {0, rows, 2};
            context* ctx = new_ctx();
            dev_buf ob(g_act, std::vector<float>(3 * cols, kSentinel));
            const int32_t rc = n4j::cuda::op_embedding(ctx, &w.w, bad.data(), 3, ob.p(), cols);
            ++g_checks;
            if (rc != N4J_ERR_INVALID_ARGUMENT) fail_line("embedding: id %d out of range returned %d", rows, rc);
            const std::vector<float> o = ob.get();
            ++g_checks;
            if (std::any_of(o.begin() + cols, o.begin() + 2 * cols, [](float v) { return v != 0.0f; })) {
                fail_line("embedding: the row of an out-of-range id is not zeroed");
            }
            // The next call on the same context succeeds (the device flag was reset).
            const std::vector<int32_t> good = {1};
            EMU_OK(*ctx, n4j::cuda::op_embedding(ctx, &w.w, good.data(), 1, ob.p(), cols));
            delete ctx;
        }
    }
}

/* N4J_FLAG_F32_RESIDUAL (BF16 activations only): embedding writes F32, rmsnorm reads F32 and writes BF16, add takes
 * F32 a and y and a BF16 b. */
void test_f32_residual(op_stat& st) {
    if (g_act != N4J_DTYPE_BF16) return;
    rng r(19);
    const int rows = 5, dim = 300;
    host_weight table = make_weight(r, N4J_DTYPE_BF16, 40, dim, -2.0f, 2.0f);
    const std::vector<int32_t> ids = {3, 0, 39, 7, 3};
    std::vector<float> ref(rows * dim, 0.0f);
    REF_OK(n4j_embedding(g_ref, &table.w, ids.data(), rows, ref.data(), dim));
    context* ctx = new_ctx(N4J_FLAG_F32_RESIDUAL);
    dev_buf eb(N4J_DTYPE_F32, std::vector<float>(rows * dim, kSentinel));
    EMU_OK(*ctx, n4j::cuda::op_embedding(ctx, &table.w, ids.data(), rows, eb.p(), dim));
    compare(st, "f32_residual embedding (F32 out)", ref, eb.get(), 0.0);

    const std::vector<float> x = r.vec(rows * (dim + 4), -3.0f, 3.0f);  // not bf16-representable: read as F32
    host_weight nw = make_weight(r, N4J_DTYPE_BF16, dim, 1, 0.5f, 1.5f);
    std::vector<float> rref(rows * dim, 0.0f);
    REF_OK(n4j_rmsnorm(g_ref, x.data(), dim + 4, rows, dim, &nw.w, 1e-5f, rref.data(), dim));
    dev_buf xb(N4J_DTYPE_F32, x), ob(N4J_DTYPE_BF16, std::vector<float>((rows + 1) * dim, kSentinel));
    EMU_OK(*ctx, n4j::cuda::op_rmsnorm(ctx, xb.p(), dim + 4, rows, dim, &nw.w, 1e-5f, ob.p(), dim));
    const std::vector<float> o = ob.get();
    check_untouched("f32_residual rmsnorm", o, rows, dim, dim);
    compare(st, "f32_residual rmsnorm (F32 in, BF16 out)", rref, std::vector<float>(o.begin(), o.begin() + rows * dim), 8e-3);

    for (size_t n : {size_t(1001), size_t(70001)}) {
        const std::vector<float> a = r.vec(n, -3.0f, 3.0f);
        const std::vector<float> b = round_act(r.vec(n, -1.0f, 1.0f));
        std::vector<float> aref = a;
        REF_OK(n4j_add(g_ref, aref.data(), b.data(), aref.data(), static_cast<int64_t>(n)));
        dev_buf ab(N4J_DTYPE_F32, a), bb(N4J_DTYPE_BF16, b);
        EMU_OK(*ctx, n4j::cuda::op_add(ctx, ab.p(), bb.p(), ab.p(), static_cast<int64_t>(n)));
        compare(st, fmt("f32_residual add n=%zu (F32 a and y, BF16 b, in place)", n), aref, ab.get(), 1e-7);
    }
    delete ctx;
}

/* ------------------------------------------------------------------ tensor-core models ---- */

/* The tensor-core models (tensor_core.h) on their own, before any kernel relies on them: small test kernels (one
 * warp) give the models operands laid out by the PTX ISA's fragment tables, restated here register by register
 * (a second transcription, independent of the model's element-by-element one), and the results are compared with a
 * plain matrix product in double precision on random bf16 data; a few fragment entries are also checked against
 * literal values read off the PTX ISA figures. Then the warp-collective checks are shown to fire (forked children
 * that must abort with the expected message). */

double bf16_round_d(float v) { return emu_bf16_to_f32(emu_f32_to_bf16_rn(v)); }
uint32_t pack2(float lo, float hi) {
    return static_cast<uint32_t>(emu_f32_to_bf16_rn(lo)) | (static_cast<uint32_t>(emu_f32_to_bf16_rn(hi)) << 16);
}

/* mma operands straight from global memory. Register j of lane t (g = t >> 2, q = t % 4):
 *   A: a[j] = {A[g + 8 (j & 1)][2q + 8 (j >> 1)], ... + 1}      B: b[j] = {B[2q + 8j][g], B[2q + 8j + 1][g]}
 *   C/D: c[2h + e] = C[g + 8h][2q + e]                                                                         */
void tc_mma_kernel(const float* A, const float* B, const float* C, float* D) {
    const int t = threadIdx.x, g = t >> 2, q = t % 4;
    uint32_t a[4];
    for (int j = 0; j < 4; ++j) {
        const float* p = A + (g + 8 * (j & 1)) * 16 + 2 * q + 8 * (j >> 1);
        a[j] = pack2(p[0], p[1]);
    }
    uint32_t b[2];
    for (int j = 0; j < 2; ++j) b[j] = pack2(B[(2 * q + 8 * j) * 8 + g], B[(2 * q + 8 * j + 1) * 8 + g]);
    float c[4];
    for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) c[2 * h + e] = C[(g + 8 * h) * 8 + 2 * q + e];
    n4j::cuda::mma_bf16_16816(c, a, b[0], b[1]);  // the shadow wrapper the kernels call (d aliases c)
    for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) D[(g + 8 * h) * 8 + 2 * q + e] = c[2 * h + e];
}

/* The e4m3 mma (m16n8k32) from global memory: A [16][32] and B [32][8] e4m3 bytes. Register j of lane t (g = t >> 2,
 * q = t % 4), byte e (the low byte first), written from the PTX fragment table:
 *   A: a[j] byte e = A[g + 8 (j & 1)][4q + e + 16 (j >> 1)]      B: b[j] byte e = B[4q + e + 16j][g]
 *   C/D as m16n8k16. */
void tc_mma_e4m3_kernel(const uint8_t* A, const uint8_t* B, const float* C, float* D) {
    const int t = threadIdx.x, g = t >> 2, q = t % 4;
    uint32_t a[4], b[2];
    for (int j = 0; j < 4; ++j) {
        a[j] = 0;
        for (int e = 0; e < 4; ++e) a[j] |= static_cast<uint32_t>(A[(g + 8 * (j & 1)) * 32 + 4 * q + e + 16 * (j >> 1)]) << (8 * e);
    }
    for (int j = 0; j < 2; ++j) {
        b[j] = 0;
        for (int e = 0; e < 4; ++e) b[j] |= static_cast<uint32_t>(B[(4 * q + e + 16 * j) * 8 + g]) << (8 * e);
    }
    float c[4];
    for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) c[2 * h + e] = C[(g + 8 * h) * 8 + 2 * q + e];
    n4j::cuda::mma_e4m3_16832(c, a, b[0], b[1]);
    for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) D[(g + 8 * h) * 8 + 2 * q + e] = c[2 * h + e];
}

/* ldmatrix on its own: S (32 rows x 24 columns of distinct 16-bit ids, in dynamic shared memory) holds matrix m's
 * row j at row perm[8m + j], columns [8 (m & 1), 8 (m & 1) + 8); each lane gives the row the PTX ISA assigns it
 * (lanes >= 8 * num give a null pointer, which must be ignored). out[t * 4 + m] = register m of lane t. */
void tc_ldmatrix_kernel(const uint16_t* ids, const int* perm, int num, int trans, uint32_t* out) {
    uint16_t* S = static_cast<uint16_t*>(emu::dynamic_shared());
    for (int i = threadIdx.x; i < 32 * 24; i += 32) S[i] = ids[i];
    __syncthreads();
    const int t = threadIdx.x, m = t / 8;
    const void* row = t < 8 * num ? S + perm[t] * 24 + 8 * (m & 1) : nullptr;
    uint32_t r[4] = {0, 0, 0, 0};
    emu::ldmatrix_m8n8_b16(r, num, trans != 0, row, emu::site{__FILE__, __LINE__});
    for (int k = 0; k < 4; ++k) out[t * 4 + k] = r[k];
}

/* A 16x8 product from shared memory as a tensor-core kernel would do it: A [16][24] via ldmatrix.x4, B both as
 * Bt [8][24] (n-major: the "col" operand) via ldmatrix.x2 and as Bk [16][16] (k-major) via ldmatrix.x2.trans; the
 * operand order of the fragments follows the mma tables (A: matrices (rows 0-7, k 0-7), (8-15, 0-7), (0-7, 8-15),
 * (8-15, 8-15); B: k 0-7, then k 8-15). D1 from Bt, D2 from Bk. */
void tc_product_kernel(const float* A, const float* B, float* D1, float* D2) {
    uint16_t* sm = static_cast<uint16_t*>(emu::dynamic_shared());
    uint16_t* As = sm;             // [16][24]
    uint16_t* Bt = As + 16 * 24;   // [8][24]
    uint16_t* Bk = Bt + 8 * 24;    // [16][16]
    const int t = threadIdx.x;
    for (int i = t; i < 16 * 16; i += 32) As[(i / 16) * 24 + i % 16] = emu_f32_to_bf16_rn(A[i]);
    for (int i = t; i < 16 * 8; i += 32) {
        const int k = i / 8, n = i % 8;
        Bt[n * 24 + k] = emu_f32_to_bf16_rn(B[i]);
        Bk[k * 16 + n] = emu_f32_to_bf16_rn(B[i]);
    }
    __syncthreads();
    uint32_t a[4], bt[2], bk[2];
    n4j::cuda::ldmatrix_x4(a, As + (t & 15) * 24 + (t >> 4) * 8);
    emu::ldmatrix_m8n8_b16(bt, 2, false, t < 16 ? Bt + (t & 7) * 24 + (t >> 3) * 8 : nullptr, emu::site{__FILE__, __LINE__});
    emu::ldmatrix_m8n8_b16(bk, 2, true, t < 16 ? Bk + t * 16 : nullptr, emu::site{__FILE__, __LINE__});
    float d1[4] = {0, 0, 0, 0}, d2[4] = {0, 0, 0, 0};
    n4j::cuda::mma_bf16_16816(d1, a, bt[0], bt[1]);
    n4j::cuda::mma_bf16_16816(d2, a, bk[0], bk[1]);
    const int g = t >> 2, q = t % 4;
    for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) {
            D1[(g + 8 * h) * 8 + 2 * q + e] = d1[2 * h + e];
            D2[(g + 8 * h) * 8 + 2 * q + e] = d2[2 * h + e];
        }
}

/* Kernels that break the warp-collective rules (each must abort). */
void tc_bad_partial_warp(int) {
    if (threadIdx.x >= 16) return;  // half the warp has exited
    float d[4] = {0, 0, 0, 0};
    const uint32_t a[4] = {0, 0, 0, 0};
    n4j::cuda::mma_bf16_16816(d, a, 0u, 0u);
}
void tc_bad_divergent(int) {
    float d[4] = {0, 0, 0, 0};
    const uint32_t a[4] = {0, 0, 0, 0};
    if (threadIdx.x & 1) {
        n4j::cuda::mma_bf16_16816(d, a, 0u, 0u);
    } else {
        n4j::cuda::mma_bf16_16816(d, a, 0u, 0u);
    }
}
void tc_bad_qualifiers(int) {
    uint16_t* S = static_cast<uint16_t*>(emu::dynamic_shared());
    uint32_t r[4];
    emu::ldmatrix_m8n8_b16(r, 4, (threadIdx.x & 1) != 0, S + threadIdx.x * 8, emu::site{__FILE__, __LINE__});
}
uint16_t g_not_shared[32 * 8] __attribute__((aligned(16)));
void tc_bad_global_address(int) {
    uint32_t r[4];
    n4j::cuda::ldmatrix_x4(r, g_not_shared + threadIdx.x * 8);
}
void tc_bad_alignment(int) {
    uint16_t* S = static_cast<uint16_t*>(emu::dynamic_shared());
    uint32_t r[4];
    n4j::cuda::ldmatrix_x4_trans(r, S + threadIdx.x * 8 + 1);
}

/* Runs kernel(0) as one 32-thread block in a child process; passes when the child aborts with `expected` in its
 * message. */
void expect_emu_abort(op_stat& st, const char* label, void (*kernel)(int), const char* expected) {
    ++g_checks;
    ++st.cases;
    fflush(stdout);
    fflush(stderr);
    int fds[2];
    if (pipe(fds) != 0) {
        fail_line("%s: pipe failed", label);
        return;
    }
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        emu::launcher(dim3(1), dim3(32), 1024).at(label, __FILE__, __LINE__).run(kernel, 0);
        _exit(0);
    }
    close(fds[1]);
    std::string message;
    char buf[512];
    ssize_t got;
    while ((got = read(fds[0], buf, sizeof(buf))) > 0) message.append(buf, static_cast<size_t>(got));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (!aborted || message.find(expected) == std::string::npos) {
        fail_line("%s: expected an emulator abort mentioning \"%s\"; the child %s, stderr: %s", label, expected,
                  aborted ? "aborted" : "did not abort", message.c_str());
    } else if (g_verbose) {
        printf("    ok %-40s aborted: %s", label, message.substr(0, message.find('\n') + 1).c_str());
    }
}

void test_tensor_cores(op_stat& st) {
    if (g_act != N4J_DTYPE_F32) return;  // the models do not depend on the activation dtype: run once
    rng r(77);
    // 1. mma alone against a plain product, D = A B + C.
    for (int trial = 0; trial < 12; ++trial) {
        std::vector<float> A = r.vec(16 * 16, -2.0f, 2.0f), B = r.vec(16 * 8, -2.0f, 2.0f), C = r.vec(16 * 8, -4.0f, 4.0f);
        if (trial == 0) std::fill(C.begin(), C.end(), 0.0f);
        if (trial == 1) {  // exponents far apart: the single rounding matters
            for (size_t i = 0; i < A.size(); i += 3) A[i] *= 1e-3f;
            for (size_t i = 0; i < B.size(); i += 5) B[i] *= 1e3f;
        }
        std::vector<float> D(16 * 8, NAN);
        emu::launcher(dim3(1), dim3(32)).at("tc_mma_kernel", __FILE__, __LINE__)
            .run(tc_mma_kernel, static_cast<const float*>(A.data()), static_cast<const float*>(B.data()),
                 static_cast<const float*>(C.data()), D.data());
        std::vector<float> want(16 * 8);
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 8; ++j) {
                double s = C[i * 8 + j];
                for (int k = 0; k < 16; ++k) s += bf16_round_d(A[i * 16 + k]) * bf16_round_d(B[k * 8 + j]);
                want[i * 8 + j] = static_cast<float>(s);
            }
        compare(st, fmt("mma.m16n8k16 bf16 random trial %d", trial), want, D, 1e-6);
    }
    // Literal C/D fragment entries of the PTX ISA figure for m16n8k16 .f32 accumulators (with A = 0, D = C):
    // lane 0 holds (row, col) (0,0) (0,1) (8,0) (8,1); lane 5 (1,2) (1,3) (9,2) (9,3); lane 31 (7,6) (7,7) (15,6) (15,7).
    {
        std::vector<float> A(256, 0.0f), B(128, 0.0f), C(128), D(128, NAN);
        for (int i = 0; i < 128; ++i) C[i] = static_cast<float>(i);  // C[row][col] = 8 row + col
        emu::launcher(dim3(1), dim3(32)).at("tc_mma_kernel", __FILE__, __LINE__)
            .run(tc_mma_kernel, static_cast<const float*>(A.data()), static_cast<const float*>(B.data()),
                 static_cast<const float*>(C.data()), D.data());
        compare(st, "mma.m16n8k16 D = C (A = 0)", C, D, 0.0);
    }
    // 1b. The e4m3 mma (m16n8k32) against a plain product of the e4m3 values (decoded by the CPU library's
    // n4j_convert), random codes (NaN codes excluded) and C; then single-element products at literal positions.
    {
        auto e4m3_values = [](const std::vector<uint8_t>& codes) {
            const std::vector<uint8_t> f = lib_convert(codes.data(), N4J_DTYPE_F8_E4M3, N4J_DTYPE_F32, codes.size());
            std::vector<double> v(codes.size());
            for (size_t i = 0; i < codes.size(); ++i) {
                float x;
                memcpy(&x, f.data() + 4 * i, 4);
                v[i] = x;
            }
            return v;
        };
        for (int trial = 0; trial < 8; ++trial) {
            std::vector<uint8_t> A(16 * 32), B(32 * 8);
            for (auto* m : {&A, &B})
                for (auto& c : *m) {
                    do c = static_cast<uint8_t>(r.below(256)); while ((c & 0x7f) == 0x7f);
                }
            std::vector<float> C = r.vec(16 * 8, -1000.0f, 1000.0f), D(16 * 8, NAN), want(16 * 8);
            if (trial == 0) std::fill(C.begin(), C.end(), 0.0f);
            const std::vector<double> a = e4m3_values(A), b = e4m3_values(B);
            for (int i = 0; i < 16; ++i)
                for (int j = 0; j < 8; ++j) {
                    double sum = C[i * 8 + j];
                    for (int k = 0; k < 32; ++k) sum += a[i * 32 + k] * b[k * 8 + j];
                    want[i * 8 + j] = static_cast<float>(sum);
                }
            emu::launcher(dim3(1), dim3(32)).at("tc_mma_e4m3_kernel", __FILE__, __LINE__)
                .run(tc_mma_e4m3_kernel, static_cast<const uint8_t*>(A.data()), static_cast<const uint8_t*>(B.data()),
                     static_cast<const float*>(C.data()), D.data());
            compare(st, fmt("mma.m16n8k32 e4m3 random trial %d", trial), want, D, 1e-6);
        }
        // A[i][k] = 1 (0x38) and B[k][j] = 2 (0x40) alone: D = 2 at (i, j) only; (i, k, j) cover both register halves
        // of A (rows g / g + 8, k < 16 / >= 16), every byte position and both B registers.
        const int lit[][3] = {{0, 0, 0}, {9, 21, 5}, {7, 31, 7}, {15, 16, 2}, {3, 6, 1}, {12, 13, 6}};
        for (const auto& l : lit) {
            std::vector<uint8_t> A(16 * 32, 0), B(32 * 8, 0);
            A[l[0] * 32 + l[1]] = 0x38;
            B[l[1] * 8 + l[2]] = 0x40;
            std::vector<float> C(128, 0.0f), D(128, NAN), want(128, 0.0f);
            want[l[0] * 8 + l[2]] = 2.0f;
            emu::launcher(dim3(1), dim3(32)).at("tc_mma_e4m3_kernel", __FILE__, __LINE__)
                .run(tc_mma_e4m3_kernel, static_cast<const uint8_t*>(A.data()), static_cast<const uint8_t*>(B.data()),
                     static_cast<const float*>(C.data()), D.data());
            compare(st, fmt("mma.m16n8k32 e4m3 A[%d][%d] B[%d][%d]", l[0], l[1], l[1], l[2]), want, D, 0.0);
        }
    }
    // 2. ldmatrix alone: every lane's registers against the PTX fragment layout, x1 / x2 / x4, with and without .trans.
    std::vector<uint16_t> ids(32 * 24);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<uint16_t>(1000 + i);
    std::vector<int> perm(32);
    for (int i = 0; i < 32; ++i) perm[i] = (i * 13 + 5) % 32;  // matrix rows scattered over the 32 shared rows
    auto id_at = [&](int m, int row, int col) { return ids[perm[8 * m + row] * 24 + 8 * (m & 1) + col]; };
    for (int num : {1, 2, 4}) {
        for (int trans = 0; trans < 2; ++trans) {
            std::vector<uint32_t> out(32 * 4, 0xdeadbeefu);
            emu::launcher(dim3(1), dim3(32), 32 * 24 * 2).at("tc_ldmatrix_kernel", __FILE__, __LINE__)
                .run(tc_ldmatrix_kernel, static_cast<const uint16_t*>(ids.data()), static_cast<const int*>(perm.data()),
                     num, trans, out.data());
            ++g_checks;
            ++st.cases;
            int bad = 0;
            for (int t = 0; t < 32; ++t)
                for (int m = 0; m < num; ++m) {
                    // Fragment layout: lane t holds row t >> 2, columns 2 (t % 4) and 2 (t % 4) + 1 (transposed:
                    // rows 2 (t % 4) and 2 (t % 4) + 1 of column t >> 2), the first in the low half.
                    const uint16_t lo = trans ? id_at(m, 2 * (t % 4), t >> 2) : id_at(m, t >> 2, 2 * (t % 4));
                    const uint16_t hi = trans ? id_at(m, 2 * (t % 4) + 1, t >> 2) : id_at(m, t >> 2, 2 * (t % 4) + 1);
                    const uint32_t want = lo | (static_cast<uint32_t>(hi) << 16);
                    if (out[t * 4 + m] != want && ++bad <= 3) {
                        fail_line("ldmatrix.x%d%s lane %d register %d: 0x%08x, expected 0x%08x", num, trans ? ".trans" : "",
                                  t, m, out[t * 4 + m], want);
                    }
                }
            // Literal entries of the PTX figure for the first matrix (row, col): lane 0 (0,0)(0,1), lane 5 (1,2)(1,3),
            // lane 31 (7,6)(7,7); transposed: lane 5 (2,1)(3,1), lane 30 (4,7)(5,7).
            const uint32_t l5 = out[5 * 4], l31 = out[31 * 4], l30 = out[30 * 4];
            const bool lit = trans ? (l5 == (id_at(0, 2, 1) | (uint32_t(id_at(0, 3, 1)) << 16)) &&
                                      l30 == (id_at(0, 4, 7) | (uint32_t(id_at(0, 5, 7)) << 16)))
                                   : (l5 == (id_at(0, 1, 2) | (uint32_t(id_at(0, 1, 3)) << 16)) &&
                                      l31 == (id_at(0, 7, 6) | (uint32_t(id_at(0, 7, 7)) << 16)));
            if (!lit) fail_line("ldmatrix.x%d%s: the literal PTX figure entries differ", num, trans ? ".trans" : "");
        }
    }
    // 3. ldmatrix feeding mma: the fragments of both instructions fit together into the plain product.
    for (int trial = 0; trial < 6; ++trial) {
        std::vector<float> A = r.vec(256, -3.0f, 3.0f), B = r.vec(128, -3.0f, 3.0f);
        std::vector<float> D1(128, NAN), D2(128, NAN), want(128);
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 8; ++j) {
                double s = 0.0;
                for (int k = 0; k < 16; ++k) s += bf16_round_d(A[i * 16 + k]) * bf16_round_d(B[k * 8 + j]);
                want[i * 8 + j] = static_cast<float>(s);
            }
        emu::launcher(dim3(1), dim3(32), (16 * 24 + 8 * 24 + 16 * 16) * 2).at("tc_product_kernel", __FILE__, __LINE__)
            .run(tc_product_kernel, static_cast<const float*>(A.data()), static_cast<const float*>(B.data()), D1.data(),
                 D2.data());
        compare(st, fmt("ldmatrix.x4 A, ldmatrix.x2 B (n-major) -> mma, trial %d", trial), want, D1, 1e-6);
        compare(st, fmt("ldmatrix.x4 A, ldmatrix.x2.trans B (k-major) -> mma, trial %d", trial), want, D2, 1e-6);
    }
    // 4. The warp-collective rules are enforced.
    expect_emu_abort(st, "mma with 16 lanes exited", tc_bad_partial_warp, "lane(s) of its warp wait in mma.sync");
    expect_emu_abort(st, "mma at two sites", tc_bad_divergent, "divergence");
    expect_emu_abort(st, "ldmatrix .x4 and .x4.trans mixed", tc_bad_qualifiers, "warp divergence");
    expect_emu_abort(st, "ldmatrix of global memory", tc_bad_global_address, "not inside this block's shared memory");
    expect_emu_abort(st, "ldmatrix of a misaligned row", tc_bad_alignment, "not 16-byte aligned");
}

/* ------------------------------------------------------------------ cp.async model ---- */

/* 64 threads; thread t copies floats [4t, 4t + 4) of src into shared stage 0 (and, in mode 2, [256 + 4t, ...) into
 * stage 1) with cp.async, then reads the chunk of thread (t + 1) % 64 into out[4t..]:
 *   mode 0: commit, wait_group 0, __syncthreads     -> the data
 *   mode 1: commit, no wait, __syncthreads           -> poison (the copy is not complete)
 *   mode 2: two groups, wait_group 1, __syncthreads  -> stage 0 the data, stage 1 poison (out2), then wait_all
 *   mode 3: src-size 8 of 16, wait_all, __syncthreads -> two floats of data, two zeros
 *   mode 4: wait_all, no __syncthreads               -> (forward order) the neighbour has not copied yet: poison */
void async_copy_kernel(int mode, const float* src, float* out, float* out2) {
    float* stage = static_cast<float*>(emu::dynamic_shared());
    const int t = threadIdx.x, n = (t + 1) % 64;
    const emu::site here = {__FILE__, __LINE__};
    emu::cp_async(stage + 4 * t, src + 4 * t, 16, mode == 3 ? 8 : 16, here);
    emu::cp_async_commit_group();
    if (mode == 2) {
        emu::cp_async(stage + 256 + 4 * t, src + 256 + 4 * t, 16, 16, here);
        emu::cp_async_commit_group();
        emu::cp_async_wait_group(1);
    } else if (mode != 1) {
        emu::cp_async_wait_all();
    }
    if (mode != 4) __syncthreads();
    for (int e = 0; e < 4; ++e) out[4 * t + e] = stage[4 * n + e];
    if (mode == 2) {
        for (int e = 0; e < 4; ++e) out2[4 * t + e] = stage[256 + 4 * n + e];
        __syncthreads();  // every thread has read stage 1 before any completes it
        emu::cp_async_wait_all();
    }
}

void test_async_copy(op_stat& st) {
    if (g_act != N4J_DTYPE_F32) return;  // the model does not depend on the activation dtype: run once (forward order)
    rng r(61);
    const std::vector<float> src = r.vec(512, -1.0f, 1.0f);
    std::vector<float> data(256), zero_filled(256);
    for (int t = 0; t < 64; ++t)
        for (int e = 0; e < 4; ++e) {
            data[4 * t + e] = src[4 * ((t + 1) % 64) + e];
            zero_filled[4 * t + e] = e < 2 ? data[4 * t + e] : 0.0f;
        }
    auto run = [&](int mode, std::vector<float>& out, std::vector<float>& out2) {
        out.assign(256, 0.0f);
        out2.assign(256, 0.0f);
        emu::launcher(dim3(1), dim3(64), 512 * 4).at("async_copy_kernel", __FILE__, __LINE__)
            .run(async_copy_kernel, mode, src.data(), out.data(), out2.data());
    };
    auto poisoned = [](const std::vector<float>& v, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            uint32_t b;
            memcpy(&b, &v[i], 4);
            if (b != 0xFFFFFFFFu) return false;
        }
        return true;
    };
    std::vector<float> out, out2;
    run(0, out, out2);
    compare(st, "cp.async, commit, wait_group 0, barrier: the data", data, out, 0.0);
    run(1, out, out2);
    ++g_checks;
    ++st.cases;
    if (!poisoned(out, 256)) fail_line("cp.async without a wait: the data was visible before the wait");
    run(2, out, out2);
    compare(st, "cp.async, two groups, wait_group 1: the older group's data", data, out, 0.0);
    ++g_checks;
    ++st.cases;
    if (!poisoned(out2, 256)) fail_line("cp.async, two groups, wait_group 1: the newest group completed early");
    run(3, out, out2);
    compare(st, "cp.async src-size 8 of 16: zero-filled", zero_filled, out, 0.0);
    run(4, out, out2);
    ++g_checks;
    ++st.cases;
    if (!poisoned(out, 63 * 4)) fail_line("cp.async, wait_all without a barrier: a neighbour's chunk was visible");
}

/* ------------------------------------------------------------------ matmul ---- */

const char* dtype_name(int dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32: return "f32";
        case N4J_DTYPE_BF16: return "bf16";
        case N4J_DTYPE_F16: return "f16";
        case N4J_DTYPE_F8_E4M3: return "e4m3";
        case N4J_DTYPE_Q8: return "q8";
        case N4J_DTYPE_Q4: return "q4";
        case N4J_DTYPE_Q6: return "q6";
        default: return "?";
    }
}

const char* epilogue_name(int e) { return e == N4J_MATMUL_STORE ? "store" : e == N4J_MATMUL_ACCUMULATE ? "accumulate" : "relu2"; }

/* One n4j_matmul on both sides: x [rows][ld_x], y [rows + 1][ld_y] (the spare row and the columns past n must stay
 * untouched), random y inside when accumulating. */
/* n4j_matmul with `w` on the emulator against the CPU reference with `ref_w` (the same weight, or its dequantized
 * F32 values) on random x [rows][ld_x]; y [rows + 1][ld_y]: the spare row and the columns past n must stay untouched,
 * random y inside when accumulating. */
void matmul_compare(op_stat& st, rng& r, const std::string& label, const n4j_weight& w, const n4j_weight& ref_w,
                    int rows, int64_t ld_x, int64_t ld_y, int epilogue, bool no_mma, int sm_count = 0,
                    bool w8a8 = false) {
    const int n = w.rows;
    const std::vector<float> x = round_act(r.vec(static_cast<size_t>(rows) * ld_x, -1.0f, 1.0f));
    std::vector<float> y0(static_cast<size_t>(rows + 1) * ld_y, kSentinel);
    if (epilogue == N4J_MATMUL_ACCUMULATE) {
        const std::vector<float> init = round_act(r.vec(static_cast<size_t>(rows) * ld_y, -2.0f, 2.0f));
        for (int i = 0; i < rows; ++i)
            for (int o = 0; o < n; ++o) y0[i * ld_y + o] = init[i * ld_y + o];
    }
    std::vector<float> ref = y0;
    REF_OK(n4j_matmul(g_ref, x.data(), ld_x, rows, &ref_w, ref.data(), ld_y, epilogue));
    context* ctx = new_ctx();
    ctx->no_mma = no_mma;
    if (sm_count > 0) ctx->props.multiProcessorCount = sm_count;  // the skinny GEMM's split-K rule reads it
    ctx->fp8_w8a8 = w8a8;
    dev_buf xb(g_act, x), yb(g_act, y0);
    EMU_OK(*ctx, n4j::cuda::op_matmul(ctx, xb.p(), ld_x, rows, &w, yb.p(), ld_y, epilogue));
    delete ctx;
    const std::vector<float> got = yb.get();
    check_untouched(label, got, rows, ld_y, n);
    compare(st, label, columns(ref, rows, ld_y, n), columns(got, rows, ld_y, n), tol());
}

void matmul_case(op_stat& st, rng& r, int wdtype, int rows, int n, int k, int64_t ld_x, int64_t ld_y, int epilogue,
                 bool no_mma = false) {
    host_weight w = make_weight(r, wdtype, n, k, -1.0f, 1.0f);
    const char* path = rows <= 8                                      ? "gemv"
                       : (wdtype == N4J_DTYPE_F32 || no_mma)            ? "gemm_simt"
                       : rows <= n4j::cuda::kSkinnyMaxRows              ? "gemm_skinny"
                                                                        : "gemm_mma";
    const std::string label = fmt("matmul %s w=%s rows=%d n=%d k=%d ld_x=%lld ld_y=%lld %s", path, dtype_name(wdtype),
                                  rows, n, k, static_cast<long long>(ld_x), static_cast<long long>(ld_y),
                                  epilogue_name(epilogue));
    matmul_compare(st, r, label, w.w, w.w, rows, ld_x, ld_y, epilogue, no_mma);
}

void test_matmul(op_stat& st) {
    rng r(31);
    struct shape {
        int rows, n, k, pad_x, pad_y;
        bool all_epilogues;
    };
    const std::vector<shape> shapes = {
        // GEMV (rows <= 8): templates 1/2/4/8 rows (extra rows masked), vector and element paths, output tails.
        {1, 13, 64, 0, 0, true},    // vector loads; 13 features: the last block has 1 valid row of W
        {3, 13, 67, 3, 2, true},    // K not a multiple of any vector width: element path
        {5, 130, 48, 8, 1, false},  // 8-row template with 3 masked rows; bf16/f32 vector, f8 vector (48 % 16 == 0)
        {8, 7, 32, 1, 0, false},    // ld_x = 33: x rows not 16-byte aligned -> element path
        {2, 9, 4144, 0, 3, false},  // long K: the two-chunk main loop and the one-chunk tail
        {4, 6, 40, 0, 0, false},
        // GEMM (rows > 8): SIMT for F32 weights, tensor cores for BF16 / F8 (F32 activations: hi/lo split);
        // rows 9..64 of BF16 / F8 take the skinny GEMM (more of it in test_matmul_skinny), 65+ the 128x128 one.
        {9, 20, 40, 0, 0, true},      // K tail (40 = 32 + 8); f8: element loads (40 % 16 != 0)
        {65, 20, 40, 0, 0, true},     // the same on gemm_mma (the first row count past the skinny GEMM)
        {37, 130, 72, 5, 3, true},    // two feature tiles, ld_x = 77: element loads of x
        {77, 130, 72, 5, 3, true},    // the same on gemm_mma
        {130, 24, 96, 0, 2, false},   // two row tiles, three K tiles, every load vectorized
        {1030, 12, 32, 0, 0, false},  // 9 row tiles: two raster groups of GROUP_M = 8
        {17, 40, 37, 3, 1, true},     // odd K with 16-byte aligned x rows (ld_x = 40): the vector path's last chunk
                                      // falls back to element loads; W rows unaligned
        {67, 40, 37, 3, 1, true},     // the same on gemm_mma
    };
    for (int wd : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        for (const shape& s : shapes) {
            for (int ep : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
                if (!s.all_epilogues && ep != N4J_MATMUL_STORE && !(s.rows == 130 && ep == N4J_MATMUL_ACCUMULATE)) continue;
                matmul_case(st, r, wd, s.rows, s.n, s.k, s.k + s.pad_x, s.n + s.pad_y, ep);
            }
        }
    }
    // N4J_CUDA_NO_MMA: BF16 and F8 weights through the SIMT GEMM.
    matmul_case(st, r, N4J_DTYPE_BF16, 37, 70, 40, 41, 71, N4J_MATMUL_ACCUMULATE, true);
    matmul_case(st, r, N4J_DTYPE_F8_E4M3, 17, 9, 33, 33, 9, N4J_MATMUL_RELU_SQUARED, true);
}

/* ------------------------------------------------------------------ skinny matmul ---- */

/* The skinny GEMM (gemm_skinny.cuh, rows 9..64, BF16 / F8 weights) against the reference: the 2/4/8 n-tile
 * templates with masked rows, feature counts off the 128-feature tile, K from 37 to 4480 (chunk tails, odd K: element
 * loads of W; ld_x odd: element loads of x), every epilogue, and split-K both on (the H100's 132 SMs: partials in
 * scratch, then the ordered reduction) and off (sm_count 1: the epilogue in the GEMM itself). */
void test_matmul_skinny(op_stat& st) {
    rng r(47);
    struct shape {
        int rows, n, k, pad_x, pad_y;
        bool all_epilogues;
        int sm_count;  // 0: the emulator's H100 (132)
    };
    const std::vector<shape> shapes = {
        {9, 20, 64, 0, 0, true, 0},       // 1 tile, half a K chunk (zero-filled tail), no split (1 chunk)
        {13, 130, 4480, 8, 3, false, 0},  // 2 tiles (the second with 2 features), 35 chunks split over 12 ranges
        {16, 200, 1000, 0, 1, true, 0},   // rows = the 2-tile template exactly; 8 chunks split 8 ways
        {16, 200, 1000, 0, 1, false, 1},  // the same without split-K
        {33, 9, 200, 3, 0, true, 0},      // 8-tile template, 31 masked rows; ld_x 203: x element loads; f8: K % 16
        {64, 136, 4144, 0, 0, false, 0},  // 64 rows, 33 chunks split (a shorter last range)
        {64, 70, 37, 3, 1, true, 1},      // odd K: every load by elements; no split
        {17, 257, 129, 0, 2, false, 1},   // 4-tile template, 3 feature tiles, K = one chunk + 1
        {40, 300, 4480, 0, 0, false, 0},  // split with the accumulate epilogue below
    };
    int split_cases = 0, whole_cases = 0;
    for (int wd : {N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        for (const shape& s : shapes) {
            for (int ep : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
                const bool run = s.all_epilogues || ep == N4J_MATMUL_STORE ||
                                 (s.rows == 40 && ep == N4J_MATMUL_ACCUMULATE) || (s.rows == 64 && ep == N4J_MATMUL_RELU_SQUARED);
                if (!run) continue;
                const int sms = s.sm_count > 0 ? s.sm_count : 132;
                const n4j::cuda::skinny_plan p =
                    n4j::cuda::skinny_plan_for(sms, s.rows, s.n, s.k, wd == N4J_DTYPE_F8_E4M3 ? 1 : 2);
                (p.splits > 1 ? split_cases : whole_cases) += 1;
                host_weight w = make_weight(r, wd, s.n, s.k, -1.0f, 1.0f);
                const std::string label =
                    fmt("matmul gemm_skinny w=%s rows=%d n=%d k=%d ld_x=%d ld_y=%d splits=%d %s", dtype_name(wd),
                        s.rows, s.n, s.k, s.k + s.pad_x, s.n + s.pad_y, p.splits, epilogue_name(ep));
                if (g_verbose) printf("    %s\n", label.c_str());
                matmul_compare(st, r, label, w.w, w.w, s.rows, s.k + s.pad_x, s.n + s.pad_y, ep, false, sms);
            }
        }
    }
    ++g_checks;
    if (split_cases == 0 || whole_cases == 0) fail_line("matmul_skinny: split-K was not both on and off");
}

/* ------------------------------------------------------------------ W8A8 (FP8 activations) ---- */

/* e4m3 codes -> their values, and f32 -> e4m3 codes, by the CPU library (n4j_convert: round to nearest even,
 * saturating to +-448, NaN kept): the W8A8 reference never uses the kernels' conversion code. */
std::vector<float> lib_e4m3_values(const uint8_t* codes, size_t n) {
    const std::vector<uint8_t> f = lib_convert(codes, N4J_DTYPE_F8_E4M3, N4J_DTYPE_F32, n);
    std::vector<float> v(n);
    memcpy(v.data(), f.data(), n * 4);
    return v;
}

/* The CPU W8A8 emulation, the reference of every W8A8 kernel: x_q = e4m3(x * r), r = 1 / input_scale in fp32 (the
 * quantizer's definition, matmul.cuh), the products of the codes' values summed in double, times
 * fp32(W.scale * input_scale), then the epilogue (y0: y before the call). */
std::vector<float> w8a8_reference(const std::vector<float>& x, int rows, int64_t ld_x, const n4j_weight& w,
                                  float in_scale, const std::vector<float>& y0, int64_t ld_y, int epilogue) {
    const int n = w.rows, k = w.cols;
    const float inv = 1.0f / in_scale;
    std::vector<float> scaled(static_cast<size_t>(rows) * k);
    for (int i = 0; i < rows; ++i)
        for (int c = 0; c < k; ++c) scaled[static_cast<size_t>(i) * k + c] = x[i * ld_x + c] * inv;
    const std::vector<uint8_t> xq = lib_convert(scaled.data(), N4J_DTYPE_F32, N4J_DTYPE_F8_E4M3, scaled.size());
    const std::vector<float> xv = lib_e4m3_values(xq.data(), scaled.size());
    const std::vector<float> wv = lib_e4m3_values(static_cast<const uint8_t*>(w.data), static_cast<size_t>(n) * k);
    const double scale = static_cast<float>(w.scale * in_scale);
    std::vector<float> y = y0;
    for (int i = 0; i < rows; ++i)
        for (int o = 0; o < n; ++o) {
            double sum = 0.0;
            for (int c = 0; c < k; ++c) sum += static_cast<double>(xv[static_cast<size_t>(i) * k + c]) * wv[static_cast<size_t>(o) * k + c];
            double v = sum * scale;
            if (epilogue == N4J_MATMUL_ACCUMULATE) v += y0[i * ld_y + o];
            if (epilogue == N4J_MATMUL_RELU_SQUARED) v = v > 0.0 ? v * v : 0.0;
            y[i * ld_y + o] = static_cast<float>(v);
        }
    return y;
}

double w8a8_tol() { return g_act == N4J_DTYPE_BF16 ? 8e-3 : 2e-5; }

/* The quantize kernel on its own: every byte of x_q against n4j_convert(x * r), the zero padding to ld_q, the
 * scales written for cuBLASLt. Inputs: exact ties (input_scale 0.25: r exact), subnormals, saturation, infinities,
 * NaN, signed zeros, then random magnitudes over 2^-14..2^10 times input_scale (an awkward input_scale). */
void w8a8_quantize_case(op_stat& st, const std::string& label, const std::vector<float>& values, int rows, int k,
                        int64_t ld_x, float in_scale) {
    std::vector<float> x(static_cast<size_t>(rows) * ld_x, 0.0f);
    for (int i = 0; i < rows; ++i)
        for (int c = 0; c < k; ++c) x[i * ld_x + c] = values[(static_cast<size_t>(i) * k + c) % values.size()];
    x = round_act(x);
    const int64_t ld_q = ceil_div_i(k, n4j::cuda::kW8A8RowAlign) * n4j::cuda::kW8A8RowAlign;
    std::vector<uint8_t> xq(static_cast<size_t>(rows) * ld_q + 16, 0xAA);
    float scales[3] = {NAN, NAN, NAN};
    context* ctx = new_ctx();
    dev_buf xb(g_act, x);
    n4j::cuda::matmul_args a;
    memset(&a, 0, sizeof(a));
    a.x = xb.p();
    a.ld_x = ld_x;
    a.rows = rows;
    a.k = k;
    a.scale = 0.75f;
    a.in_scale = in_scale;
    n4j::cuda::quantize_e4m3_launch(ctx, a, xq.data(), ld_q, scales);
    delete ctx;
    const float inv = 1.0f / in_scale;
    ++g_checks;
    ++st.cases;
    int bad = 0;
    for (int i = 0; i < rows; ++i) {
        std::vector<float> scaled(k);
        for (int c = 0; c < k; ++c) scaled[c] = x[i * ld_x + c] * inv;
        const std::vector<uint8_t> want = lib_convert(scaled.data(), N4J_DTYPE_F32, N4J_DTYPE_F8_E4M3, k);
        for (int64_t c = 0; c < ld_q; ++c) {
            const uint8_t got = xq[i * ld_q + c];
            const bool ok = c < k ? (got == want[c] || ((got & 0x7f) == 0x7f && (want[c] & 0x7f) == 0x7f)) : got == 0;
            if (!ok && ++bad <= 4) {
                fail_line("%s: x_q[%d][%lld] = 0x%02x, expected 0x%02x (x %.9g, x * r %.9g)", label.c_str(), i,
                          static_cast<long long>(c), got, c < k ? want[c] : 0, c < k ? x[i * ld_x + c] : 0.0,
                          c < k ? scaled[c] : 0.0);
            }
        }
    }
    if (xq[static_cast<size_t>(rows) * ld_q] != 0xAA) fail_line("%s: a byte past x_q was written", label.c_str());
    if (scales[0] != 0.75f || scales[1] != in_scale || !isnan(scales[2])) {
        fail_line("%s: scales {%g, %g, %g}, expected {0.75, %g, untouched}", label.c_str(), scales[0], scales[1],
                  scales[2], in_scale);
    }
}

void test_w8a8(op_stat& st) {
    rng r(41);
    // 1. The quantizer.
    const float u = 0.25f * 0.001953125f;  // 2^-9 (the e4m3 subnormal step) times input_scale 0.25
    const std::vector<float> specials = {
        0.0f, -0.0f, 0.25f, -0.25f, 0.25f * 1.0625f /* tie -> 1.0 */, 0.25f * 1.1875f /* tie -> 1.25 */,
        0.25f * 1.0625001f, -0.25f * 3.25f, 0.5f * u /* tie -> 0 */, 1.5f * u /* -> 2u */, 2.5f * u /* -> 2u */,
        7.5f * u /* -> 2^-6, the smallest normal */, 0.49f * u, -0.51f * u, 0.25f * 448.0f, 0.25f * 447.0f,
        0.25f * 464.0f /* saturates */, -0.25f * 480.0f, 0.25f * 1e9f, INFINITY, -INFINITY, NAN, 0.25f * 240.0f,
        0.25f * 232.0f /* tie -> 224 */, 0.25f * 0.015625f, 0.25f * 0.0146484375f /* 7.5 u -> 2^-6 */};
    w8a8_quantize_case(st, "quantize specials (input_scale 0.25)", specials, 3, 26, 29, 0.25f);
    std::vector<float> randoms(4000);
    for (float& v : randoms) v = (r.below(2) ? -1.0f : 1.0f) * ldexpf(r.uniform(1.0f, 2.0f), r.below(25) - 14) * 0.0123f;
    w8a8_quantize_case(st, "quantize random (input_scale 0.0123)", randoms, 7, 333, 333, 0.0123f);
    w8a8_quantize_case(st, "quantize random, k 16n (no padding)", randoms, 5, 64, 70, 0.0123f);
    // The CPU backend's W8A8 quantizer (n4j::cpu::w8a8_quantize, the CPU W8A8 mode) against the kernels' device
    // function, value by value (bit-exact; NaN: both NaN): the specials and randoms above, and a sweep of F32 bit
    // patterns (stride 65537: every exponent) at input scales 1, 0.25 and 0.0123.
    {
        ++g_checks;
        ++st.cases;
        int bad = 0;
        auto one = [&](float x, float in_scale) {
            const float inv = 1.0f / in_scale;
            const float cpu = n4j::cpu::w8a8_quantize(x, inv), gpu = n4j::cuda::w8a8_quantize(x, inv);
            const bool ok = isnan(cpu) || isnan(gpu) ? isnan(cpu) && isnan(gpu) : memcmp(&cpu, &gpu, 4) == 0;
            if (!ok && ++bad <= 4) fail_line("w8a8 quantizer: x %.9g input_scale %g: CPU %.9g, CUDA %.9g", x,
                                             in_scale, cpu, gpu);
        };
        for (float in_scale : {1.0f, 0.25f, 0.0123f}) {
            for (float v : specials) one(v, in_scale);
            for (float v : randoms) one(v, in_scale);
            for (uint64_t b = 0; b < (uint64_t(1) << 32); b += 65537) {
                const uint32_t bits = static_cast<uint32_t>(b);
                float v;
                memcpy(&v, &bits, 4);
                one(v, in_scale);
            }
        }
    }

    // 2. W8A8 matmul: GEMV (rows <= 8, quantizing as it loads x) and the e4m3 GEMM (rows > 8), against the CPU W8A8
    //    emulation. input_scale 1.3/448: |x| up to 1 stays in range; the xmax 2 shapes saturate part of x.
    struct shape {
        int rows, n, k, pad_x, pad_y;
        float xmax;
        bool all_epilogues;
    };
    const std::vector<shape> shapes = {
        {1, 13, 64, 0, 0, 1.0f, true},    // GEMV, vector path
        {3, 13, 67, 3, 2, 2.0f, true},    // GEMV element path, saturation
        {8, 130, 48, 8, 1, 1.0f, false},  // GEMV 8-row template
        {9, 20, 40, 0, 0, 1.0f, true},    // GEMM: one K tile (40 < 64), W byte loads (40 % 16 != 0)
        {37, 130, 72, 5, 3, 2.0f, true},  // two feature tiles, ld_x 77, saturation, K tail
        {130, 24, 160, 0, 2, 1.0f, false},  // two row tiles, three K tiles, vector W loads
        {17, 40, 37, 3, 1, 1.0f, true},   // odd K
        {1030, 12, 64, 0, 0, 1.0f, false},  // 9 row tiles: two raster groups
        {70, 257, 200, 1, 3, 1.5f, false},  // three feature tiles (257 = 2 * 128 + 1)
    };
    for (const shape& sh : shapes) {
        for (int ep : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
            if (!sh.all_epilogues && ep != N4J_MATMUL_STORE && !(sh.rows == 130 && ep == N4J_MATMUL_ACCUMULATE)) continue;
            host_weight w = make_weight(r, N4J_DTYPE_F8_E4M3, sh.n, sh.k, -1.0f, 1.0f);
            const float in_scale = 1.3f / 448.0f;
            w.w.input_scale = in_scale;
            const int64_t ld_x = sh.k + sh.pad_x, ld_y = sh.n + sh.pad_y;
            const std::vector<float> x = round_act(r.vec(static_cast<size_t>(sh.rows) * ld_x, -sh.xmax, sh.xmax));
            std::vector<float> y0(static_cast<size_t>(sh.rows + 1) * ld_y, kSentinel);
            if (ep == N4J_MATMUL_ACCUMULATE) {
                const std::vector<float> init = round_act(r.vec(static_cast<size_t>(sh.rows) * ld_y, -2.0f, 2.0f));
                for (int i = 0; i < sh.rows; ++i)
                    for (int o = 0; o < sh.n; ++o) y0[i * ld_y + o] = init[i * ld_y + o];
            }
            const std::vector<float> ref = w8a8_reference(x, sh.rows, ld_x, w.w, in_scale, y0, ld_y, ep);
            context* ctx = new_ctx();
            ctx->fp8_w8a8 = true;
            dev_buf xb(g_act, x), yb(g_act, y0);
            EMU_OK(*ctx, n4j::cuda::op_matmul(ctx, xb.p(), ld_x, sh.rows, &w.w, yb.p(), ld_y, ep));
            delete ctx;
            const std::vector<float> got = yb.get();
            const std::string label = fmt("matmul w8a8 %s rows=%d n=%d k=%d ld_x=%lld ld_y=%lld xmax=%g %s",
                                          sh.rows <= 8 ? "gemv" : "gemm", sh.rows, sh.n, sh.k,
                                          static_cast<long long>(ld_x), static_cast<long long>(ld_y), sh.xmax,
                                          epilogue_name(ep));
            check_untouched(label, got, sh.rows, ld_y, sh.n);
            compare(st, label, round_act(columns(ref, sh.rows, ld_y, sh.n)), columns(got, sh.rows, ld_y, sh.n),
                    w8a8_tol());
        }
    }
    // 3. W8A8 mode, but a weight without input_scale (0) stays weight-only: the ordinary reference.
    for (int rows : {5, 33}) {
        host_weight w = make_weight(r, N4J_DTYPE_F8_E4M3, 19, 48, -1.0f, 1.0f);
        matmul_compare(st, r, fmt("matmul w8a8 mode, input_scale 0: weight-only, rows %d", rows), w.w, w.w, rows, 48,
                       19, N4J_MATMUL_STORE, false, 0, true);
    }
    // 4. A negative input_scale is refused, naming the argument.
    {
        host_weight w = make_weight(r, N4J_DTYPE_F8_E4M3, 4, 16, -1.0f, 1.0f);
        w.w.input_scale = -0.5f;
        context* ctx = new_ctx();
        ctx->fp8_w8a8 = true;
        dev_buf xb(g_act, std::vector<float>(16 * 9, 0.5f)), yb(g_act, std::vector<float>(4 * 9, 0.0f));
        const int32_t rc = n4j::cuda::op_matmul(ctx, xb.p(), 16, 9, &w.w, yb.p(), 4, N4J_MATMUL_STORE);
        ++g_checks;
        ++st.cases;
        if (rc != N4J_ERR_INVALID_ARGUMENT || ctx->last_error.find("input_scale") == std::string::npos) {
            fail_line("matmul w8a8 with input_scale -0.5: rc %d, error \"%s\" (expected INVALID_ARGUMENT naming "
                      "input_scale)", rc, ctx->last_error.c_str());
        }
        delete ctx;
    }
}

/* ------------------------------------------------------------------ block-quantized matmul ---- */

/* A random Q8 / Q4 / Q6 weight (layouts of nemotron4j.h) and the same weight dequantized to F32 (the reference's). */
struct quant_weight {
    std::vector<uint8_t> bytes;
    n4j_weight w;
    host_weight f32;
};

uint16_t f16_bits(float v) {
    uint16_t h;
    REF_OK(n4j_convert(g_ref, &v, N4J_DTYPE_F32, &h, N4J_DTYPE_F16, 1));
    return h;
}

float f16_value(uint16_t h) {
    float v;
    REF_OK(n4j_convert(g_ref, &h, N4J_DTYPE_F16, &v, N4J_DTYPE_F32, 1));
    return v;
}

quant_weight make_quant_weight(rng& r, int dtype, int n, int k) {
    quant_weight q;
    std::vector<float> deq(static_cast<size_t>(n) * k);
    if (dtype == N4J_DTYPE_Q8) {
        q.bytes.resize(static_cast<size_t>(n) * k + static_cast<size_t>(n) * (k / 32) * 2);
        uint8_t* scales = q.bytes.data() + static_cast<size_t>(n) * k;
        for (int o = 0; o < n; ++o) {
            for (int b = 0; b < k / 32; ++b) {
                const uint16_t h = f16_bits(r.uniform(0.001f, 0.02f));
                memcpy(scales + (static_cast<size_t>(o) * (k / 32) + b) * 2, &h, 2);
                const float d = f16_value(h);
                for (int i = 0; i < 32; ++i) {
                    const int8_t v = static_cast<int8_t>(r.below(255) - 127);
                    q.bytes[static_cast<size_t>(o) * k + b * 32 + i] = static_cast<uint8_t>(v);
                    deq[static_cast<size_t>(o) * k + b * 32 + i] = d * static_cast<float>(v);
                }
            }
        }
    } else if (dtype == N4J_DTYPE_Q6) {
        // Each element's 6-bit q placed by the layout of nemotron4j.h, one element at a time (not the kernels' word
        // arithmetic): pair kp's unit of np pairs starts (kp / 2) * 96 bytes into the row; element j of the pair
        // (0..63) has its low 4 bits in nibble byte j % 32 (the low nibble for j < 32) and its high 2 bits in bits
        // 2 * (j / 16) and 2 * (j / 16) + 1 of high-bit byte j % 16.
        const int pairs = k / 64;
        const size_t row_bytes = static_cast<size_t>(k) / 4 * 3;
        const size_t quants = static_cast<size_t>(n) * row_bytes;
        q.bytes.assign(quants + static_cast<size_t>(n) * (k / 32) * 2, 0);
        for (int o = 0; o < n; ++o) {
            uint8_t* row = q.bytes.data() + static_cast<size_t>(o) * row_bytes;
            for (int b = 0; b < k / 32; ++b) {
                const uint16_t h = f16_bits(r.uniform(0.002f, 0.04f));
                memcpy(q.bytes.data() + quants + (static_cast<size_t>(o) * (k / 32) + b) * 2, &h, 2);
            }
            for (int kp = 0; kp < pairs; ++kp) {
                const int np = std::min(2, pairs - 2 * (kp / 2));
                uint8_t* nib = row + (kp / 2) * 96 + (kp % 2) * 32;
                uint8_t* high = row + (kp / 2) * 96 + 32 * np + (kp % 2) * 16;
                for (int j = 0; j < 64; ++j) {
                    const int v = static_cast<int>(r.below(64));
                    nib[j % 32] |= static_cast<uint8_t>((v & 15) << (j < 32 ? 0 : 4));
                    high[j % 16] |= static_cast<uint8_t>((v >> 4) << (2 * (j / 16)));
                    const int i = kp * 64 + j;
                    uint16_t hd;
                    memcpy(&hd, q.bytes.data() + quants + (static_cast<size_t>(o) * (k / 32) + i / 32) * 2, 2);
                    deq[static_cast<size_t>(o) * k + i] = f16_value(hd) * static_cast<float>(v - 32);
                }
            }
        }
    } else {
        const int nsb = (k + 255) / 256;
        const size_t quants = static_cast<size_t>(n) * (k / 2);
        q.bytes.resize(quants + static_cast<size_t>(n) * nsb * 20);
        for (int o = 0; o < n; ++o) {
            for (int sb = 0; sb < nsb; ++sb) {
                uint8_t* rec = q.bytes.data() + quants + (static_cast<size_t>(o) * nsb + sb) * 20;
                const uint16_t hd = f16_bits(r.uniform(0.0001f, 0.001f));
                const uint16_t hm = f16_bits(r.uniform(0.0001f, 0.001f));
                memcpy(rec, &hd, 2);
                memcpy(rec + 2, &hm, 2);
                for (int j = 0; j < 16; ++j) rec[4 + j] = static_cast<uint8_t>(r.below(256));
            }
            for (int p = 0; p < k / 64; ++p) {
                const uint8_t* rec = q.bytes.data() + quants + (static_cast<size_t>(o) * nsb + p / 4) * 20;
                uint16_t hd, hm;
                memcpy(&hd, rec, 2);
                memcpy(&hm, rec + 2, 2);
                const float d = f16_value(hd), dmin = f16_value(hm);
                const int j0 = (2 * p) % 8;
                for (int e = 0; e < 32; ++e) {
                    const uint8_t byte = static_cast<uint8_t>(r.below(256));
                    q.bytes[static_cast<size_t>(o) * (k / 2) + p * 32 + e] = byte;
                    deq[static_cast<size_t>(o) * k + p * 64 + e] =
                        (d * static_cast<float>(rec[4 + j0])) * static_cast<float>(byte & 15) -
                        dmin * static_cast<float>(rec[12 + j0]);
                    deq[static_cast<size_t>(o) * k + p * 64 + 32 + e] =
                        (d * static_cast<float>(rec[5 + j0])) * static_cast<float>(byte >> 4) -
                        dmin * static_cast<float>(rec[13 + j0]);
                }
            }
        }
    }
    memset(&q.w, 0, sizeof(q.w));
    q.w.data = q.bytes.data();
    q.w.dtype = dtype;
    q.w.rows = n;
    q.w.cols = k;
    q.w.scale = 1.0f;
    q.f32.bytes.resize(deq.size() * 4);
    memcpy(q.f32.bytes.data(), deq.data(), deq.size() * 4);
    q.f32.w = q.w;
    q.f32.w.data = q.f32.bytes.data();
    q.f32.w.dtype = N4J_DTYPE_F32;
    return q;
}

/* One n4j_matmul with a Q8 / Q4 / Q6 weight on the emulator against the CPU reference on its dequantized F32 values. */
void matmul_quant_case(op_stat& st, rng& r, int qdtype, int rows, int n, int k, int64_t ld_x, int64_t ld_y,
                       int epilogue, bool no_mma = false) {
    quant_weight q = make_quant_weight(r, qdtype, n, k);
    const char* path = rows <= n4j::cuda::kQuantGemvMaxRows ? "gemv" : "dequantize+gemm";
    const std::string label = fmt("matmul %s w=%s rows=%d n=%d k=%d ld_x=%lld ld_y=%lld %s%s", path,
                                  dtype_name(qdtype), rows, n, k, static_cast<long long>(ld_x),
                                  static_cast<long long>(ld_y), epilogue_name(epilogue), no_mma ? " no_mma" : "");
    // BF16 activations past 64 rows: the weight is rounded to BF16 for the tensor-core GEMM (within tol())
    matmul_compare(st, r, label, q.w, q.f32.w, rows, ld_x, ld_y, epilogue, no_mma);
}

void test_matmul_quant(op_stat& st) {
    rng r(37);
    struct shape {
        int rows, n, k, pad_x, pad_y;
    };
    const std::vector<shape> shapes = {
        {1, 9, 64, 0, 0},      // one block pair / one short Q4 super-block / one short Q6 unit; 9 features: two
                               // 8-warp blocks
        {3, 17, 320, 5, 2},    // Q4: one full super-block and a short one; Q6: 2.5 units; x rows not 16-byte aligned
        {8, 8, 512, 0, 1},     // two full super-blocks
        {13, 5, 4480, 0, 0},   // the 9B's hidden size (17.5 super-blocks, 35 Q6 units); launches of 8 and 5 rows
        {2, 7, 4160, 0, 0},    // 65 pairs: lane 0 takes pairs 0, 32 and 64, the last a short Q6 unit / Q4 super-block
        {64, 6, 96, 3, 0},     // the last GEMV row count: 8 launches (Q4 and Q6 need k % 64: 96 runs as Q8 only)
        {64, 6, 128, 3, 0},    // the same for every format (Q6: one full unit)
        {70, 12, 192, 0, 3},   // past 64 rows: dequantized into scratch, then the GEMM (Q6: 1.5 units)
    };
    for (int qd : {N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6}) {
        for (const shape& s : shapes) {
            if (qd != N4J_DTYPE_Q8 && s.k % 64 != 0) continue;
            for (int ep : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
                if (ep != N4J_MATMUL_STORE && s.rows != 3 && s.rows != 70) continue;
                matmul_quant_case(st, r, qd, s.rows, s.n, s.k, s.k + s.pad_x, s.n + s.pad_y, ep);
            }
        }
    }
    matmul_quant_case(st, r, N4J_DTYPE_Q4, 70, 12, 128, 128, 12, N4J_MATMUL_STORE, true);
    matmul_quant_case(st, r, N4J_DTYPE_Q6, 70, 12, 320, 320, 12, N4J_MATMUL_STORE, true);
}

/* ------------------------------------------------------------------ matmul into the residual stream ---- */

/* One N4J_MATMUL_ADD_TO_RESIDUAL on the emulator against (1) the unfused sequence it replaces on the emulator,
 * N4J_MATMUL_STORE into a layer-output buffer t then n4j_add(y, t, y): bit-identical (tolerance 0: the same product,
 * rounded to the activation type, added in fp32); (2) the CPU reference's ADD_TO_RESIDUAL (F32 activations: an
 * accumulate) within tol(). y is the residual stream: F32 under N4J_FLAG_F32_RESIDUAL, else the activation dtype;
 * its spare row and the columns past n stay untouched. */
void matmul_residual_case(op_stat& st, rng& r, const n4j_weight& w, const n4j_weight& ref_w, const char* path, int rows,
                          int64_t ld_x, int64_t ld_y, int flags) {
    const int n = w.rows;
    const bool f32_resid = (flags & N4J_FLAG_F32_RESIDUAL) != 0 && g_act == N4J_DTYPE_BF16;
    const int ydt = f32_resid ? N4J_DTYPE_F32 : g_act;
    const std::vector<float> x = round_act(r.vec(static_cast<size_t>(rows) * ld_x, -1.0f, 1.0f));
    std::vector<float> y0(static_cast<size_t>(rows + 1) * ld_y, kSentinel);
    std::vector<float> init = r.vec(static_cast<size_t>(rows) * n, -2.0f, 2.0f);
    if (!f32_resid) init = round_act(init);
    for (int i = 0; i < rows; ++i)
        for (int o = 0; o < n; ++o) y0[i * ld_y + o] = init[static_cast<size_t>(i) * n + o];
    const std::string label = fmt("matmul add_to_residual %s w=%s rows=%d n=%d k=%d ld_x=%lld ld_y=%lld y=%s", path,
                                  dtype_name(w.dtype), rows, n, w.cols, static_cast<long long>(ld_x),
                                  static_cast<long long>(ld_y), ydt == N4J_DTYPE_F32 ? "f32" : "bf16");
    context* ctx = new_ctx(flags);
    dev_buf xb(g_act, x), yb(ydt, y0), yu(ydt, y0);
    EMU_OK(*ctx, n4j::cuda::op_matmul(ctx, xb.p(), ld_x, rows, &w, yb.p(), ld_y, N4J_MATMUL_ADD_TO_RESIDUAL));
    // unfused: a contiguous layer output, then one n4j_add per row (the residual rows are ld_y apart)
    dev_buf t(g_act, std::vector<float>(static_cast<size_t>(rows) * n, kSentinel));
    EMU_OK(*ctx, n4j::cuda::op_matmul(ctx, xb.p(), ld_x, rows, &w, t.p(), n, N4J_MATMUL_STORE));
    for (int i = 0; i < rows; ++i) {
        EMU_OK(*ctx, n4j::cuda::op_add(ctx, yu.p(static_cast<size_t>(i) * ld_y), t.p(static_cast<size_t>(i) * n),
                                       yu.p(static_cast<size_t>(i) * ld_y), n));
    }
    delete ctx;
    const std::vector<float> got = yb.get();
    check_untouched(label, got, rows, ld_y, n);
    compare(st, label + " vs unfused", columns(yu.get(), rows, ld_y, n), columns(got, rows, ld_y, n), 0.0);
    std::vector<float> ref = y0;
    REF_OK(n4j_matmul(g_ref, x.data(), ld_x, rows, &ref_w, ref.data(), ld_y, N4J_MATMUL_ADD_TO_RESIDUAL));
    compare(st, label + " vs CPU", columns(ref, rows, ld_y, n), columns(got, rows, ld_y, n), tol());
}

/* The CPU backend's BF16 mode (the oracle of the GPU's BF16 data path) keeps the same identity: ADD_TO_RESIDUAL equals
 * STORE then n4j_add, bit for bit, with and without the F32 residual. */
void cpu_bf16_residual_case(op_stat& st, rng& r, int flags) {
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = N4J_BACKEND_CPU;
    o.threads = 1;
    o.flags = flags;
    o.activation_dtype = N4J_DTYPE_BF16;
    n4j_backend* b = nullptr;
    REF_OK(n4j_backend_create(&o, &b));
    if (b == nullptr) return;
    const bool f32_resid = (flags & N4J_FLAG_F32_RESIDUAL) != 0;
    const int rows = 3, n = 37, k = 70;
    host_weight w = make_weight(r, N4J_DTYPE_BF16, n, k, -1.0f, 1.0f);
    const std::vector<uint8_t> x = lib_convert(r.vec(rows * k).data(), N4J_DTYPE_F32, N4J_DTYPE_BF16, rows * k);
    std::vector<float> yf = r.vec(rows * n, -2.0f, 2.0f);
    std::vector<uint8_t> y = f32_resid ? std::vector<uint8_t>(reinterpret_cast<uint8_t*>(yf.data()),
                                                              reinterpret_cast<uint8_t*>(yf.data() + yf.size()))
                                       : lib_convert(yf.data(), N4J_DTYPE_F32, N4J_DTYPE_BF16, rows * n);
    std::vector<uint8_t> fused = y, unfused = y, t(rows * n * 2);
    REF_OK(n4j_matmul(b, x.data(), k, rows, &w.w, fused.data(), n, N4J_MATMUL_ADD_TO_RESIDUAL));
    REF_OK(n4j_matmul(b, x.data(), k, rows, &w.w, t.data(), n, N4J_MATMUL_STORE));
    REF_OK(n4j_add(b, unfused.data(), t.data(), unfused.data(), rows * n));
    ++g_checks;
    ++st.cases;
    if (fused != unfused) fail_line("CPU bf16 matmul add_to_residual%s differs from store + add", f32_resid ? " (f32 residual)" : "");
    n4j_backend_destroy(b);
}

void test_matmul_residual(op_stat& st) {
    rng r(41);
    struct shape {
        int rows, n, k, pad_x, pad_y;
    };
    const std::vector<shape> shapes = {
        {1, 13, 64, 0, 0},    // GEMV, vector loads, a short last block of features
        {3, 21, 67, 3, 2},    // GEMV, element path, ld_y > n
        {8, 9, 48, 0, 1},     // GEMV, 8-row template
        {9, 20, 40, 0, 0},    // GEMM (SIMT for F32 weights, tensor cores otherwise)
        {37, 70, 40, 1, 3},   // GEMM, two feature tiles, unaligned rows
        {130, 136, 96, 0, 0}, // GEMM, two row tiles and two feature tiles
    };
    for (int flags : {0, N4J_FLAG_F32_RESIDUAL}) {
        if (flags != 0 && g_act != N4J_DTYPE_BF16) continue;  // the flag means nothing with F32 activations
        for (int wd : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
            for (const shape& s : shapes) {
                host_weight w = make_weight(r, wd, s.n, s.k, -1.0f, 1.0f);
                const char* path = s.rows <= 8 ? "gemv" : wd == N4J_DTYPE_F32 ? "gemm_simt" : "gemm_mma";
                matmul_residual_case(st, r, w.w, w.w, path, s.rows, s.k + s.pad_x, s.n + s.pad_y, flags);
            }
        }
        for (int qd : {N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6}) {
            for (int rows : {3, 70}) {  // the dequantizing GEMV; past 64 rows dequantized into scratch, then the GEMM
                quant_weight q = make_quant_weight(r, qd, 11, 128);
                matmul_residual_case(st, r, q.w, q.f32.w, rows <= 64 ? "gemv_quant" : "dequantize+gemm", rows, 131, 12,
                                     flags);
            }
        }
    }
    if (g_act == N4J_DTYPE_BF16) {
        cpu_bf16_residual_case(st, r, 0);
        cpu_bf16_residual_case(st, r, N4J_FLAG_F32_RESIDUAL);
    }
}

/* ------------------------------------------------------------------ fused rmsnorm + matmul ---- */

/* Bitwise equality of two outputs (float images of F32 / BF16 / F32-residual buffers): NaNs compared as NaNs. */
void bitwise(op_stat& st, const std::string& label, const std::vector<float>& want, const std::vector<float>& got) {
    ++g_checks;
    ++st.cases;
    for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
        const bool same = memcmp(&want[i], &got[i], 4) == 0 || (isnan(want[i]) && isnan(got[i]));
        if (!same) {
            fail_line("%s: element %zu differs (two ops %.9g, fused %.9g)", label.c_str(), i, want[i], got[i]);
            return;
        }
    }
    if (want.size() != got.size()) fail_line("%s: sizes differ", label.c_str());
    if (g_verbose) printf("    ok %-72s bitwise\n", label.c_str());
}

/*
 * One n4j_rmsnorm_matmul (rmsnorm_matmul.cu) against n4j_rmsnorm then n4j_matmul on the emulator, bit for bit in both
 * outputs (normed and y), and untouched outside them; plus, outside W8A8, the CPU reference's composition within
 * tol(). x: the norm's input, F32 under N4J_FLAG_F32_RESIDUAL (flags), else the activation dtype; `x_in` (if not
 * empty) replaces the random x.
 */
void rmsnorm_matmul_case(op_stat& st, rng& r, const n4j_weight& w, const n4j_weight& ref_w, const char* wname,
                         int rows, int64_t ld_x, int64_t ld_n, int64_t ld_y, int epilogue, int flags, bool w8a8,
                         const std::vector<float>& x_in = {}) {
    const int dim = w.cols, n = w.rows;
    const bool f32_resid = (flags & N4J_FLAG_F32_RESIDUAL) != 0 && g_act == N4J_DTYPE_BF16;
    const int xdt = f32_resid ? N4J_DTYPE_F32 : g_act;
    const int ydt = epilogue == N4J_MATMUL_ADD_TO_RESIDUAL ? xdt : g_act;
    std::vector<float> x = x_in.empty() ? r.vec(static_cast<size_t>(rows) * ld_x, -3.0f, 3.0f) : x_in;
    if (!f32_resid) x = round_act(x);
    host_weight nw = make_weight(r, N4J_DTYPE_BF16, dim, 1, 0.5f, 1.5f);
    std::vector<float> y0(static_cast<size_t>(rows + 1) * ld_y, kSentinel);
    if (epilogue == N4J_MATMUL_ACCUMULATE || epilogue == N4J_MATMUL_ADD_TO_RESIDUAL) {
        std::vector<float> init = r.vec(static_cast<size_t>(rows) * ld_y, -2.0f, 2.0f);
        if (ydt != N4J_DTYPE_F32) init = round_act(init);
        for (int i = 0; i < rows; ++i)
            for (int o = 0; o < n; ++o) y0[i * ld_y + o] = init[i * ld_y + o];
    }
    const std::vector<float> n0(static_cast<size_t>(rows + 1) * ld_n, kSentinel);
    const float eps = 1e-5f;
    context* ctx = new_ctx(flags);
    ctx->fp8_w8a8 = w8a8;
    dev_buf xb(xdt, x), nf(g_act, n0), nu(g_act, n0), yf(ydt, y0), yu(ydt, y0);
    EMU_OK(*ctx, n4j::cuda::op_rmsnorm_matmul(ctx, xb.p(), ld_x, rows, dim, &nw.w, eps, nf.p(), ld_n, &w, yf.p(), ld_y,
                                              epilogue));
    EMU_OK(*ctx, n4j::cuda::op_rmsnorm(ctx, xb.p(), ld_x, rows, dim, &nw.w, eps, nu.p(), ld_n));
    EMU_OK(*ctx, n4j::cuda::op_matmul(ctx, nu.p(), ld_n, rows, &w, yu.p(), ld_y, epilogue));
    delete ctx;
    const bool quantized = w.dtype == N4J_DTYPE_Q8 || w.dtype == N4J_DTYPE_Q4 || w.dtype == N4J_DTYPE_Q6;
    const char* path = quantized                      ? "two ops"
                       : rows <= 8                    ? "gemv prologue"
                       : w8a8 && w.input_scale > 0.0f ? "norm+quantize"
                                                      : "two ops";
    const std::string label =
        fmt("rmsnorm_matmul %s w=%s rows=%d dim=%d n=%d ld_x=%lld ld_n=%lld ld_y=%lld %s%s%s", path, wname, rows, dim,
            n, static_cast<long long>(ld_x), static_cast<long long>(ld_n), static_cast<long long>(ld_y),
            epilogue == N4J_MATMUL_ADD_TO_RESIDUAL ? "add_to_residual" : epilogue_name(epilogue),
            w8a8 ? " w8a8" : "", f32_resid ? " f32_residual" : "");
    const std::vector<float> gn = nf.get(), gy = yf.get();
    check_untouched(label + " normed", gn, rows, ld_n, dim);
    check_untouched(label + " y", gy, rows, ld_y, n);
    bitwise(st, label + " normed", nu.get(), gn);
    bitwise(st, label + " y", yu.get(), gy);
    if (!w8a8 && !f32_resid) {  // the CPU reference's n4j_rmsnorm_matmul (the dispatch layer's composition)
        std::vector<float> rn(static_cast<size_t>(rows) * ld_n, 0.0f), ry = y0;
        REF_OK(n4j_rmsnorm_matmul(g_ref, x.data(), ld_x, rows, dim, &nw.w, eps, rn.data(), ld_n, &ref_w, ry.data(),
                                  ld_y, epilogue));
        compare(st, label + " normed vs CPU", columns(rn, rows, ld_n, dim), columns(gn, rows, ld_n, dim), tol());
        if (epilogue != N4J_MATMUL_ADD_TO_RESIDUAL || g_act == N4J_DTYPE_F32) {
            compare(st, label + " y vs CPU", columns(ry, rows, ld_y, n), columns(gy, rows, ld_y, n), 2 * tol());
        }
    }
}

/* Sum of squares of v in the order of rmsnorm_rows.cuh: `threads` thread-strided partials, then xor-shuffle trees of
 * 32 lanes (threads 32: rms_sumsq_warp; 256: rms_sumsq_block, the 8 warp sums through a second tree), or (threads 1)
 * one sequential sum. */
float sumsq_in_order(const std::vector<float>& v, int threads) {
    std::vector<float> part(threads, 0.0f);
    for (int t = 0; t < threads; ++t)
        for (size_t c = t; c < v.size(); c += threads) part[t] += v[c] * v[c];
    if (threads == 1) return part[0];
    auto tree = [](std::vector<float> lanes) {
        for (int o = 16; o > 0; o >>= 1) {
            std::vector<float> next(32);
            for (int l = 0; l < 32; ++l) next[l] = lanes[l] + lanes[l ^ o];
            lanes = next;
        }
        return lanes[0];
    };
    std::vector<float> warps(32, 0.0f);
    for (int w = 0; w < threads / 32; ++w) warps[w] = tree(std::vector<float>(part.begin() + 32 * w, part.begin() + 32 * w + 32));
    return threads == 32 ? warps[0] : tree(warps);
}

void test_rmsnorm_matmul(op_stat& st) {
    rng r(53);
    struct shape {
        int rows, dim, n, pad_x, pad_n, pad_y;
        bool all_epilogues;
    };
    // rows <= 8: the GEMV prologue (templates 1/2/4/8; the warp reduction up to dim 2048, the block one above; vector
    // loads where aligned, element loads at dim 37 / odd ld); rows > 8: norm then matmul, or norm+quantize (W8A8).
    const std::vector<shape> shapes = {
        {1, 64, 13, 0, 0, 0, true},      // vector path, one normed chunk, 4 blocks
        {2, 37, 9, 3, 2, 1, true},       // odd dim: element path
        {3, 4480, 9, 0, 5, 2, true},     // the 9B's hidden size: block reduction, 18 normed chunks over 3 blocks
        {5, 2048, 6, 16, 0, 0, false},   // the largest warp-reduced dim, 8-row template with 3 masked rows
        {8, 2049, 130, 4, 1, 3, false},  // the smallest block-reduced dim, 33 blocks for 9 chunks
        {8, 160, 20, 1, 0, 0, false},    // ld_x 161: x rows not 16-byte aligned -> element path
        {9, 37, 20, 3, 0, 0, true},      // rows > 8
        {33, 4480, 12, 0, 2, 1, false},  // rows > 8, block reduction
        {70, 200, 40, 1, 3, 2, false},
    };
    const int all_eps[] = {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED, N4J_MATMUL_ADD_TO_RESIDUAL};
    std::vector<int> flag_sets = {0};
    if (g_act == N4J_DTYPE_BF16) flag_sets.push_back(N4J_FLAG_F32_RESIDUAL);
    for (int flags : flag_sets) {
        for (const shape& s : shapes) {
            for (int wd : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
                for (int ep : all_eps) {
                    if (!s.all_epilogues && ep != N4J_MATMUL_STORE && ep != (s.rows % 4)) continue;
                    host_weight w = make_weight(r, wd, s.n, s.dim, -1.0f, 1.0f);
                    const int64_t ld_x = s.dim + s.pad_x, ld_n = s.dim + s.pad_n, ld_y = s.n + s.pad_y;
                    rmsnorm_matmul_case(st, r, w.w, w.w, dtype_name(wd), s.rows, ld_x, ld_n, ld_y, ep, flags, false);
                    if (wd == N4J_DTYPE_F8_E4M3) {  // W8A8: QX in the GEMV, the norm+quantize kernel above 8 rows
                        w.w.input_scale = 4.0f / 448.0f;
                        rmsnorm_matmul_case(st, r, w.w, w.w, "f8 w8a8", s.rows, ld_x, ld_n, ld_y, ep, flags, true);
                    }
                }
            }
        }
    }
    // Q8 / Q4 / Q6 weights: norm then matmul (gemv_quant.cu).
    for (int qd : {N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6}) {
        quant_weight q = make_quant_weight(r, qd, 10, 128);
        rmsnorm_matmul_case(st, r, q.w, q.f32.w, dtype_name(qd), 2, 130, 128, 11,
                            N4J_MATMUL_STORE, 0, false);
    }
    // The reduction order matters: rows of values up to 24 in magnitude, for which the thread-strided tree sums
    // differ from each other and from a sequential sum (checked first, so the input does discriminate). Fused and
    // two ops then agree bit for bit only if the prologue reduces in rmsnorm.cu's order for each dim (warp up to 2048,
    // block above).
    for (int dim : {1000, 4480}) {
        const int rows = 2;
        std::vector<float> x;
        float own = 0.0f, other = 0.0f, seq = 0.0f;
        for (int attempt = 0; attempt < 64 && (attempt == 0 || own == other || own == seq); ++attempt) {
            x.resize(static_cast<size_t>(rows) * dim);
            for (float& v : x) v = r.uniform(-3.0f, 3.0f) * ldexpf(1.0f, r.below(4));
            if (g_act == N4J_DTYPE_BF16) x = round_act(x);
            const std::vector<float> row0(x.begin(), x.begin() + dim);
            own = sumsq_in_order(row0, dim <= 2048 ? 32 : 256);
            other = sumsq_in_order(row0, dim <= 2048 ? 256 : 32);
            seq = sumsq_in_order(row0, 1);
        }
        ++g_checks;
        if (own == other || own == seq) {
            fail_line("rmsnorm_matmul order case dim=%d: no input found that discriminates the reduction orders", dim);
        }
        host_weight w = make_weight(r, N4J_DTYPE_BF16, 7, dim, -1.0f, 1.0f);
        rmsnorm_matmul_case(st, r, w.w, w.w, "bf16 (order)", rows, dim, dim, 7, N4J_MATMUL_STORE, 0, false, x);
    }
}

/* ------------------------------------------------------------------ attention ---- */

/* One sequence's paged KV cache: n_blocks blocks of [block_tokens][kv_heads][head_dim] in `dtype`; positions below
 * `length` random, the rest the sentinel. Two identical copies are made (CPU reference and emulator). */
struct paged_cache {
    std::vector<std::unique_ptr<dev_buf>> k, v;
    std::vector<void*> kp, vp;
    n4j_kv_cache c;
    size_t block_elems;

    paged_cache(int dtype, int n_blocks, int block_tokens, int length, int kv_heads, int head_dim, uint64_t seed) {
        rng r(seed);
        block_elems = static_cast<size_t>(block_tokens) * kv_heads * head_dim;
        const size_t row = static_cast<size_t>(kv_heads) * head_dim;
        for (int b = 0; b < n_blocks; ++b) {
            for (int which = 0; which < 2; ++which) {
                std::vector<float> vals(block_elems, kSentinel);
                for (int t = 0; t < block_tokens; ++t) {
                    if (b * block_tokens + t >= length) break;
                    for (size_t e = 0; e < row; ++e) vals[t * row + e] = r.uniform(-1.0f, 1.0f);
                }
                (which ? v : k).emplace_back(new dev_buf(dtype, vals));
            }
            kp.push_back(k.back()->p());
            vp.push_back(v.back()->p());
        }
        c.k_blocks = kp.data();
        c.v_blocks = vp.data();
        c.n_blocks = n_blocks;
        c.block_tokens = block_tokens;
        c.length = length;
        c.dtype = dtype;
    }
    std::vector<float> contents() const {
        std::vector<float> all;
        for (size_t b = 0; b < k.size(); ++b) {
            const std::vector<float> kb = k[b]->get(), vb = v[b]->get();
            all.insert(all.end(), kb.begin(), kb.end());
            all.insert(all.end(), vb.begin(), vb.end());
        }
        return all;
    }
};

/* Exact comparison of two caches (the write converts to the cache dtype the same way on both sides). */
void compare_caches(op_stat& st, const std::string& label, const paged_cache& ref, const paged_cache& got) {
    ++g_checks;
    const std::vector<float> a = ref.contents(), b = got.contents();
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i] && !(isnan(a[i]) && isnan(b[i]))) {
            fail_line("%s: KV cache element %zu is %g, the CPU reference wrote %g", label.c_str(), i, b[i], a[i]);
            return;
        }
    }
    (void)st;
}

struct prefill_shape {
    int heads, kv_heads, head_dim, tokens, length, block_tokens, cache_dtype;
    bool no_mma;
};

void attention_prefill_case(op_stat& st, rng& r, const prefill_shape& s) {
    const n4j_attn_dims dims = {s.heads, s.kv_heads, s.head_dim, 1.0f / sqrtf(static_cast<float>(s.head_dim))};
    const int width = s.heads * s.head_dim, kv_width = s.kv_heads * s.head_dim;
    const int64_t ld_q = width + 3, ld_kv = kv_width + 5, ld_out = width + 2;
    const std::vector<float> q = round_act(r.vec(s.tokens * ld_q, -1.5f, 1.5f));
    const std::vector<float> k = round_act(r.vec(s.tokens * ld_kv, -1.5f, 1.5f));
    const std::vector<float> v = round_act(r.vec(s.tokens * ld_kv, -1.0f, 1.0f));
    const int n_blocks = static_cast<int>(ceil_div_i(s.length + s.tokens, s.block_tokens)) + 1;  // one spare block
    const uint64_t seed = r.next();
    paged_cache ref_cache(s.cache_dtype, n_blocks, s.block_tokens, s.length, s.kv_heads, s.head_dim, seed);
    paged_cache emu_cache(s.cache_dtype, n_blocks, s.block_tokens, s.length, s.kv_heads, s.head_dim, seed);
    std::vector<float> ref((s.tokens + 1) * ld_out, kSentinel);
    REF_OK(n4j_attention_prefill(g_ref, &dims, s.tokens, q.data(), ld_q, k.data(), ld_kv, v.data(), ld_kv, &ref_cache.c,
                                 ref.data(), ld_out));
    context* ctx = new_ctx();
    ctx->no_mma = s.no_mma;
    dev_buf qb(g_act, q), kb(g_act, k), vb(g_act, v), ob(g_act, std::vector<float>((s.tokens + 1) * ld_out, kSentinel));
    EMU_OK(*ctx, n4j::cuda::op_attention_prefill(ctx, &dims, s.tokens, qb.p(), ld_q, kb.p(), ld_kv, vb.p(), ld_kv,
                                                 &emu_cache.c, ob.p(), ld_out));
    delete ctx;
    const bool mma = g_act == N4J_DTYPE_BF16 && s.head_dim > 32 && !s.no_mma;
    const std::string label = fmt("attention_prefill %s heads=%d/%d hd=%d tokens=%d length=%d block=%d cache=%s",
                                  mma ? "mma" : "simt", s.heads, s.kv_heads, s.head_dim, s.tokens, s.length,
                                  s.block_tokens, dtype_name(s.cache_dtype));
    const std::vector<float> o = ob.get();
    check_untouched(label, o, s.tokens, ld_out, width);
    compare(st, label, columns(ref, s.tokens, ld_out, width), columns(o, s.tokens, ld_out, width), tol());
    compare_caches(st, label, ref_cache, emu_cache);
}

struct decode_shape {
    int heads, kv_heads, head_dim, block_tokens;
    std::vector<int> lengths;
    std::vector<int> dtypes;
};

void attention_decode_case(op_stat& st, rng& r, const decode_shape& s) {
    const n4j_attn_dims dims = {s.heads, s.kv_heads, s.head_dim, 1.0f / sqrtf(static_cast<float>(s.head_dim))};
    const int batch = static_cast<int>(s.lengths.size());
    const int width = s.heads * s.head_dim, kv_width = s.kv_heads * s.head_dim;
    const int64_t ld_q = width + 1, ld_kv = kv_width + 3, ld_out = width + 4;
    const std::vector<float> q = round_act(r.vec(batch * ld_q, -1.5f, 1.5f));
    const std::vector<float> k = round_act(r.vec(batch * ld_kv, -1.5f, 1.5f));
    const std::vector<float> v = round_act(r.vec(batch * ld_kv, -1.0f, 1.0f));
    std::vector<std::unique_ptr<paged_cache>> ref_caches, emu_caches;
    std::vector<n4j_kv_cache> ref_c, emu_c;
    std::string desc;
    for (int b = 0; b < batch; ++b) {
        const int n_blocks = static_cast<int>(ceil_div_i(s.lengths[b] + 1, s.block_tokens));
        const uint64_t seed = r.next();
        ref_caches.emplace_back(new paged_cache(s.dtypes[b], n_blocks, s.block_tokens, s.lengths[b], s.kv_heads,
                                                s.head_dim, seed));
        emu_caches.emplace_back(new paged_cache(s.dtypes[b], n_blocks, s.block_tokens, s.lengths[b], s.kv_heads,
                                                s.head_dim, seed));
        ref_c.push_back(ref_caches.back()->c);
        emu_c.push_back(emu_caches.back()->c);
        desc += fmt("%s%d:%s", b ? "," : "", s.lengths[b], dtype_name(s.dtypes[b]));
    }
    std::vector<float> ref((batch + 1) * ld_out, kSentinel);
    REF_OK(n4j_attention_decode(g_ref, &dims, batch, q.data(), ld_q, k.data(), ld_kv, v.data(), ld_kv, ref_c.data(),
                                ref.data(), ld_out));
    context* ctx = new_ctx();
    dev_buf qb(g_act, q), kb(g_act, k), vb(g_act, v), ob(g_act, std::vector<float>((batch + 1) * ld_out, kSentinel));
    EMU_OK(*ctx, n4j::cuda::op_attention_decode(ctx, &dims, batch, qb.p(), ld_q, kb.p(), ld_kv, vb.p(), ld_kv,
                                                emu_c.data(), ob.p(), ld_out));
    delete ctx;
    const std::string label = fmt("attention_decode heads=%d/%d hd=%d block=%d caches=%s", s.heads, s.kv_heads,
                                  s.head_dim, s.block_tokens, desc.c_str());
    const std::vector<float> o = ob.get();
    check_untouched(label, o, batch, ld_out, width);
    compare(st, label, columns(ref, batch, ld_out, width), columns(o, batch, ld_out, width), tol());
    for (int b = 0; b < batch; ++b) compare_caches(st, fmt("%s cache %d", label.c_str(), b), *ref_caches[b], *emu_caches[b]);
}

void test_attention(op_stat& st) {
    rng r(41);
    const int F = N4J_DTYPE_F32, B = N4J_DTYPE_BF16;
    const std::vector<prefill_shape> prefill = {
        {4, 2, 16, 37, 0, 16, F, false},   // SIMT hd16: two query tiles of 32 (tail 5), a new sequence
        {2, 1, 32, 5, 20, 8, B, false},    // SIMT hd32: cached prefix over three blocks
        {2, 2, 16, 3, 30, 16, B, false},   // SIMT hd16, BF16 cache
        {2, 1, 32, 40, 0, 32, F, false},   // SIMT hd32, F32 cache, two query tiles
        {4, 2, 40, 70, 13, 16, B, false},  // hd 40 (padded to 64): mma with two query tiles of 64, two key tiles
        {2, 2, 64, 33, 64, 32, F, false},  // hd 64, F32 cache converted to bf16 tiles
        {3, 1, 80, 20, 50, 16, B, false},  // hd 80 (padded to 128), GQA group 3
        {2, 1, 128, 65, 0, 64, F, false},  // hd 128, one query past a 64-row tile
        {2, 1, 36, 9, 3, 4, B, false},     // head_dim % 8 != 0: element loads of the cache
        {2, 1, 64, 40, 7, 16, B, true},    // N4J_CUDA_NO_MMA: SIMT hd64 with BF16 activations
        {10, 2, 128, 70, 100, 16, B, false},  // the 9B's head dim and GQA group 5, three key tiles after a prefix
    };
    for (const prefill_shape& s : prefill) attention_prefill_case(st, r, s);
    const std::vector<decode_shape> decode = {
        {4, 2, 16, 16, {0, 17, 40}, {F, B, F}},  // mixed cache dtypes in one batch: two split launches
        {10, 1, 64, 32, {300, 5}, {B, B}},       // GQA group 10 > 8: two head groups; 301 keys: two splits
        {2, 2, 200, 16, {70}, {F}},              // head_dim > 128: two columns per thread in P.V
        {3, 3, 36, 8, {9, 63}, {B, F}},          // head_dim % 8 != 0: element loads
        {2, 1, 128, 64, {600}, {B}},             // three splits of 256 keys
        {40, 8, 128, 16, {130, 0}, {B, F}},      // the 9B's attention shape (40 / 8 heads of 128)
        {2, 1, 64, 16, {255, 256}, {F, B}},      // 256 keys (one full split) and 257 (a second split of one key)
    };
    for (const decode_shape& s : decode) attention_decode_case(st, r, s);
}

/* ------------------------------------------------------------------ argmax, convert ---- */

void test_argmax(op_stat& st) {
    rng r(53);
    for (int cols : {1, 7, 600, 1500}) {
        for (int rows : {1, 4}) {
            const int64_t ld = cols + 3;
            std::vector<float> x = round_act(r.vec(rows * ld, -5.0f, 5.0f));
            if (cols > 1 && rows > 1) {
                // Row 1: the maximum twice (the first index wins); row 2: NaNs, skipped; row 3: only NaN (-> 0).
                const int a = r.below(cols), b = r.below(cols);
                x[1 * ld + a] = x[1 * ld + b] = 9.0f;
                for (int c = 0; c < cols; c += 3) x[2 * ld + c] = NAN;
                for (int c = 0; c < cols; ++c) x[3 * ld + c] = NAN;
            }
            std::vector<int32_t> ref(rows, -1), got(rows + 1, -7);
            REF_OK(n4j_argmax(g_ref, x.data(), ld, rows, cols, ref.data()));
            context* ctx = new_ctx();
            dev_buf xb(g_act, x);
            EMU_OK(*ctx, n4j::cuda::op_argmax(ctx, xb.p(), ld, rows, cols, got.data()));
            delete ctx;
            ++g_checks;
            ++st.cases;
            for (int i = 0; i < rows; ++i) {
                if (got[i] != ref[i]) fail_line("argmax cols=%d row %d: %d, CPU reference %d", cols, i, got[i], ref[i]);
            }
            if (got[rows] != -7) fail_line("argmax cols=%d: wrote past its %d outputs", cols, rows);
        }
    }
}

void test_convert(op_stat& st) {
    rng r(59);
    const int dtypes[] = {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F16, N4J_DTYPE_F8_E4M3};
    for (size_t n : {size_t(1001), size_t(70001)}) {
        for (int sms : {132, 1}) {  // 1 SM: 32 blocks, the grid-stride loop runs several rounds
            if (n < 70000 && sms == 1) continue;
            std::vector<float> v = r.vec(n, -500.0f, 500.0f);
            for (size_t i = 0; i < n; i += 5) v[i] *= 1e-4f;    // f16 / e4m3 subnormals
            for (size_t i = 2; i < n; i += 11) v[i] *= 300.0f;  // f16 / e4m3 overflow
            const uint32_t specials[] = {0x7fc00000u, 0xffc00001u, 0x7fa01234u, 0x7f800000u, 0xff800000u,
                                         0x80000000u, 0x00000001u, 0x3f808000u, 0x3f818000u, 0x43e00000u};
            for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); ++i) memcpy(&v[i * 7], &specials[i], 4);
            for (int src : dtypes) {
                const std::vector<uint8_t> in = lib_convert(v.data(), N4J_DTYPE_F32, src, n);  // src values
                for (int dst : dtypes) {
                    const std::vector<uint8_t> want = lib_convert(in.data(), src, dst, n);
                    std::vector<uint8_t> out(n * dtype_bytes(dst) + 16, 0xA5);
                    context* ctx = new_ctx();
                    ctx->props.multiProcessorCount = sms;
                    EMU_OK(*ctx, n4j::cuda::op_convert(ctx, in.data(), src, out.data(), dst, static_cast<int64_t>(n)));
                    delete ctx;
                    ++g_checks;
                    ++st.cases;
                    const size_t bytes = n * dtype_bytes(dst);
                    if (memcmp(out.data(), want.data(), bytes) != 0) {
                        size_t i = 0;
                        while (i < bytes && out[i] == want[i]) ++i;
                        const size_t e = i / dtype_bytes(dst);
                        fail_line("convert %s -> %s n=%zu: element %zu (input %a) differs from the CPU library", dtype_name(src),
                                  dtype_name(dst), n, e, v[e]);
                    }
                    for (size_t i = bytes; i < out.size(); ++i) {
                        if (out[i] != 0xA5) {
                            fail_line("convert %s -> %s: wrote past the output", dtype_name(src), dtype_name(dst));
                            break;
                        }
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ coverage ---- */

struct kernel_def {
    std::string name, file;
};

std::string strip_comments(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s.compare(i, 2, "//") == 0) {
            while (i < s.size() && s[i] != '\n') ++i;
            out += '\n';
        } else if (s.compare(i, 2, "/*") == 0) {
            const size_t end = s.find("*/", i + 2);
            i = end == std::string::npos ? s.size() : end + 1;
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

/* Every __global__ function defined in the .cu/.cuh files of `dir`, and the names of all those files. */
std::vector<kernel_def> scan_kernels(const std::string& dir, std::vector<std::string>* files) {
    std::vector<kernel_def> kernels;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return kernels;
    while (const dirent* e = readdir(d)) {
        const std::string f = e->d_name;
        const bool cu = f.size() > 3 && f.compare(f.size() - 3, 3, ".cu") == 0;
        const bool cuh = f.size() > 4 && f.compare(f.size() - 4, 4, ".cuh") == 0;
        if (!cu && !cuh) continue;
        files->push_back(f);
        FILE* fp = fopen((dir + "/" + f).c_str(), "rb");
        if (fp == nullptr) continue;
        std::string text;
        char buf[4096];
        size_t got;
        while ((got = fread(buf, 1, sizeof(buf), fp)) > 0) text.append(buf, got);
        fclose(fp);
        const std::string code = strip_comments(text);
        auto ident = [](char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_'; };
        for (size_t at = code.find("__global__"); at != std::string::npos; at = code.find("__global__", at + 10)) {
            size_t i = at + 10;
            std::string name;
            while (i < code.size() && name.empty()) {
                while (i < code.size() && isspace(static_cast<unsigned char>(code[i]))) ++i;
                size_t j = i;
                while (j < code.size() && ident(code[j])) ++j;
                const std::string word = code.substr(i, j - i);
                if (word.empty()) break;
                i = j;
                if (word == "__launch_bounds__") {  // skip its (...)
                    int depth = 0;
                    for (; i < code.size(); ++i) {
                        if (code[i] == '(') ++depth;
                        if (code[i] == ')' && --depth == 0) {
                            ++i;
                            break;
                        }
                    }
                } else if (word != "void" && word != "static" && word != "inline") {
                    name = word;
                }
            }
            if (!name.empty()) kernels.push_back({name, f});
        }
    }
    closedir(d);
    std::sort(kernels.begin(), kernels.end(), [](const kernel_def& a, const kernel_def& b) {
        return a.file != b.file ? a.file < b.file : a.name < b.name;
    });
    std::sort(files->begin(), files->end());
    return kernels;
}

/* The shapes each test runs (both activation dtypes unless noted). */
const char* test_shapes(const std::string& test) {
    static const std::pair<const char*, const char*> shapes[] = {
        {"tensor_cores", "mma m16n8k16 bf16->f32 x14 (random, C only), mma m16n8k32 e4m3->f32 x8 random + 6 literal "
                         "positions, ldmatrix x1/x2/x4 (.trans) on 32 scattered rows, ldmatrix->mma products x12, "
                         "5 collective-rule aborts (f32 pass only)"},
        {"matmul", "w f32/bf16/e4m3; gemv rows 1,2,3,4,5,8 x n 6..130 x k 32..4144 (vector/element paths, ld > k); "
                   "gemm rows 9,17,37 (skinny), 65,67,77,130,1030 (mma) x n 9..130 x k 32..96 and 37 (K/M/N tails, 9 row tiles); store/accumulate/relu2; "
                   "no_mma"},
        {"matmul_skinny", "gemm_skinny w bf16/e4m3; rows 9,13,16,17,33,40,64 x n 9..300 x k 37..4480 (chunk tails, "
                          "odd K, ld > k, odd ld_x); store/accumulate/relu2; split-K on (132 SMs) and off (1 SM)"},
        {"w8a8", "quantizer: ties, subnormals, saturation, inf/NaN, 4000 random magnitudes, ld_q padding (bit-exact vs "
                 "n4j_convert and to the CPU backend's w8a8_quantize); W8A8 matmul vs the CPU W8A8 emulation: gemv rows 1,3,8, gemm rows 9,17,37,70,130,1030 x "
                 "n 12..257 x k 37..200 (ld > k, K/M/N tails, saturating x); store/accumulate/relu2; input_scale 0 "
                 "stays weight-only; input_scale < 0 refused"},
        {"matmul_quant", "w q8/q4/q6 (random quants and scales) against the reference on the dequantized f32 weight; "
                         "rows 1,2,3,8,13,64 (gemv, 1-8 launches) and 70 (dequantized into scratch + gemm, no_mma) x "
                         "n 5..17 x k 64..4480 (short q4 super-blocks and q6 units, ld > k); store/accumulate/relu2"},
        {"rmsnorm_matmul", "bit for bit vs rmsnorm then matmul: rows 1,2,3,5,8 (gemv prologue) and 9,33,70 (two ops; "
                           "norm+quantize in W8A8) x dim 37,64,160,200,2048,2049,4480 x n 6..130, ld > dim; w f32/bf16/"
                           "e4m3 (W8A8 on and off), q8/q4/q6; store/accumulate/relu2/add_to_residual; F32 residual; "
                           "an input whose sum of squares depends on the reduction order (dim 1000, 4480)"},
        {"attention", "prefill hd 16,32,36,40,64,80,128, tokens 3..70, cached 0..100, blocks 4..64, GQA 1-5 (40/8 "
                      "heads' group 5), f32/bf16 cache, no_mma; decode batch 1-3, hd 16,36,64,128,200, lengths "
                      "0..600 (1-3 splits, 255/256 at the split edge), group 10, 40/8 heads, mixed cache dtypes"},
        {"async_copy", "cp.async model: 64 threads x 16 bytes; wait_group 0 / 1 / none, wait_all, src-size zero fill, "
                       "a missing barrier (f32 pass only)"},
        {"argmax", "cols 1,7,600,1500 x rows 1,4 (ld > cols); ties, NaNs, an all-NaN row"},
        {"convert", "every pair of f32/bf16/f16/e4m3 (and same-dtype copies), n 1001 and 70001 (1 SM: grid-stride), "
                    "NaN payloads, infinities, subnormals, overflow; bit-exact"},
    };
    for (const auto& s : shapes)
        if (test == s.first) return s.second;
    return "";
}

/* Prints the coverage table of the kernels of native/src/cuda (source scan against the launches the emulator saw);
 * a kernel never launched is a failure unless a reason is listed here. */
void print_coverage(const char* const* test_names, size_t n_tests) {
    std::vector<std::string> files;
    const std::vector<kernel_def> kernels = scan_kernels(N4J_EMU_CUDA_SOURCE_DIR, &files);
    const std::map<std::string, emu::kernel_launches>& seen = emu::launches_by_kernel();
    printf("\ncoverage: every __global__ kernel of %s (launches over both passes; inst.: distinct template "
           "instantiations launched)\n", N4J_EMU_CUDA_SOURCE_DIR);
    printf("  %-28s %-30s %9s %6s  %s\n", "kernel", "file", "launches", "inst.", "tests");
    ++g_checks;
    if (kernels.empty()) fail_line("coverage: no kernels found in %s", N4J_EMU_CUDA_SOURCE_DIR);
    for (const kernel_def& k : kernels) {
        const auto it = seen.find(k.name);
        const long long n = it == seen.end() ? 0 : it->second.launches;
        const size_t inst = it == seen.end() ? 0 : it->second.instantiations.size();
        printf("  %-28s %-30s %9lld %6zu  %s\n", k.name.c_str(), k.file.c_str(), n, inst,
               n ? it->second.tags.c_str() : "NOT RUN");
        if (n == 0) fail_line("coverage: kernel %s (%s) was never launched by the emulated test", k.name.c_str(), k.file.c_str());
    }
    // Files without kernels, or not compiled here, with the reason.
    static const std::pair<const char*, const char*> left_out[] = {
        {"backend.cu", "plug-in host side (C ABI, dlopen entry points): no kernel; not compiled into this test"},
        {"context.cu", "plug-in host side (memory, staging ring, events, scratch): no kernel; shadow/context.cuh here"},
        {"gemm_cublaslt.cu", "cuBLASLt glue, no kernel: runs in the emulated plug-in against libcublasLt_standin.so"},
    };
    printf("  not emulated:\n");
    for (const auto& l : left_out) printf("    %-28s %s\n", l.first, l.second);
    printf("  shapes per test:\n");
    for (size_t i = 0; i < n_tests; ++i) {
        const char* s = test_shapes(test_names[i]);
        if (*s) printf("    %-14s %s\n", test_names[i], s);
    }
}

/* ------------------------------------------------------------------ main ---- */

struct named_test {
    const char* name;
    void (*fn)(op_stat&);
};

}  // namespace

int main(int argc, char** argv) {
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--verbose") == 0) g_verbose = true;
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    }
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = N4J_BACKEND_CPU;
    o.threads = 1;
    o.flags = N4J_FLAG_REFERENCE_KERNELS;
    o.activation_dtype = N4J_DTYPE_F32;
    if (n4j_backend_create(&o, &g_ref) != N4J_OK) {
        fprintf(stderr, "FAIL cannot create the CPU reference backend: %s\n", n4j_last_error());
        return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const named_test tests[] = {
        {"conversions", test_conversions}, {"ssm_scans", test_ssm_scans}, {"ssm_edges", test_ssm_edges},
        {"ssm_decode", test_ssm_decode},   {"mamba_decode", test_mamba_decode}, {"conv1d", test_conv1d},       {"gated_rmsnorm", test_gated_rmsnorm},
        {"rmsnorm", test_rmsnorm},         {"elementwise", test_elementwise}, {"embedding", test_embedding},
        {"f32_residual", test_f32_residual}, {"tensor_cores", test_tensor_cores}, {"async_copy", test_async_copy},
        {"matmul", test_matmul},           {"matmul_skinny", test_matmul_skinny},
        {"matmul_quant", test_matmul_quant}, {"w8a8", test_w8a8}, {"matmul_residual", test_matmul_residual},
        {"rmsnorm_matmul", test_rmsnorm_matmul},
        {"attention", test_attention},     {"argmax", test_argmax},       {"convert", test_convert},
    };
    for (int act : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
        g_act = act;
        const int order = act == N4J_DTYPE_F32 ? 0 : 1;
        emu::set_schedule(order);
        printf("== emulated CUDA, %s activations (tolerance %.0e), %s block and thread order\n", act_name(), tol(),
               order == 0 ? "forward" : "reversed");
        for (const named_test& t : tests) {
            if (!only.empty() && std::string(t.name).find(only) == std::string::npos) continue;
            const int before = g_failures;
            const auto s0 = std::chrono::steady_clock::now();
            op_stat st;
            emu::set_tag(t.name);
            t.fn(st);
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
            printf("  %-14s %4d cases, worst rel err %.2e  %5.1f s  %s\n", t.name, st.cases, st.worst, secs,
                   g_failures == before ? "ok" : "FAILED");
            fflush(stdout);
        }
    }
    if (only.empty()) {
        std::vector<const char*> names;
        for (const named_test& t : tests) names.push_back(t.name);
        print_coverage(names.data(), names.size());
    }
    n4j_backend_destroy(g_ref);
    const emu::stats_t s = emu::stats();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("emulator: %lld launches, %lld blocks, %lld threads, %lld fiber switches, %lld barriers, %lld warp ops; "
           "fiber stack high water %zu of %zu bytes\n",
           s.launches, s.blocks, s.threads, s.switches, s.barriers, s.warp_ops, s.stack_high_water, s.stack_bytes);
    printf("cuda_emulation_test: %d checks, %d failed, %.1f s\n", g_checks, g_failures, secs);
    return g_failures == 0 ? 0 : 1;
}
