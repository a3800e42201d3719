/*
 * cuda_backend_test.cpp: the cross-backend test of the CUDA backend, through the public C ABI only.
 *
 * Every op of nemotron4j.h runs on random inputs of awkward sizes (odd widths, rows 1/3/17/130, head dims
 * 16/20/40/80/128, one and many groups, token counts that are not multiples of the chunk, T = 1, multi-block KV
 * caches, F8 weights) on the CPU reference backend (N4J_FLAG_REFERENCE_KERNELS, F32 activations: the oracle) and on
 * a CUDA backend, once with F32 activations and once with BF16 activations. For BF16 the inputs are first rounded
 * to bf16, so both backends see the same values; outputs are compared as max |cuda - cpu| / max |cpu| against the
 * dtype's tolerance (F32: 1e-4, BF16: 2e-2); conversions must match bit for bit. The *_edges tests add operands
 * at odd offsets, misaligned KV blocks, NULL-padded block tables, the 9B shapes at full size, argmax of NaN / inf
 * rows, a failed CUDA call followed by a valid one, split prefills, chunk-boundary token counts, extreme decay,
 * in-place gated norms and a conv state passed from prefill to decode. Matmul (and attention) then run again through the kernel
 * switches N4J_CUDA_NO_MMA=1 and N4J_CUDA_GEMM=cublaslt (where libcublasLt loads: on the emulator, the stand-in that
 * CTest names in N4J_CUBLASLT_LIBRARY; CTest runs the main pass with N4J_CUDA_GEMM=own there, so both are tested).
 *
 * Exit codes: 0 all passed, 1 a failure, 77 no CUDA device/driver or no CUDA plug-in (CTest: skipped), unless the
 * environment sets N4J_REQUIRE_CUDA=1 (then 1). `--quick` (or N4J_TEST_QUICK=1) runs small sizes only, for
 * compute-sanitizer. `--only NAME` runs the tests whose name contains NAME. `--cpu-as-gpu` runs without a GPU: the
 * CPU backend's fast kernels stand in for CUDA, with F32 activations and then with BF16 activations (the CPU's bf16
 * mode: F32 kernels between bf16 tensors), which checks the harness itself and the CPU's BF16 activation path; CTest
 * runs it that way as cpu_bf16_activations_test on every machine.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "nemotron4j.h"

namespace {

/* ------------------------------------------------------------------ harness ---- */

int g_checks = 0;
int g_failures = 0;
bool g_quick = false;
bool g_verbose = false;
bool g_variant_pass = false;  // a rerun through N4J_CUDA_NO_MMA / N4J_CUDA_GEMM: the largest cases are skipped

void fail_line(const char* format, ...) __attribute__((format(printf, 1, 2)));
void fail_line(const char* format, ...) {
    ++g_failures;
    if (g_failures > 60) return;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "FAIL ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
}

#define EXPECT_OK(call)                                                                                       \
    do {                                                                                                      \
        ++g_checks;                                                                                           \
        const int32_t _rc = (call);                                                                           \
        if (_rc != N4J_OK) fail_line("%s:%d: %s returned %d: %s", __FILE__, __LINE__, #call, _rc, n4j_last_error()); \
    } while (0)

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

int64_t dtype_bytes(int dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32:
        case N4J_DTYPE_I32: return 4;
        case N4J_DTYPE_BF16:
        case N4J_DTYPE_F16: return 2;
        case N4J_DTYPE_F8_E4M3: return 1;
        default: return 0;
    }
}

const char* dtype_name(int dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32: return "f32";
        case N4J_DTYPE_BF16: return "bf16";
        case N4J_DTYPE_F16: return "f16";
        case N4J_DTYPE_F8_E4M3: return "e4m3";
        default: return "?";
    }
}

/* The two backends of a run: the CPU oracle and the CUDA backend under test (activation dtype act). */
struct pair {
    n4j_backend* cpu = nullptr;
    n4j_backend* gpu = nullptr;
    int act = N4J_DTYPE_F32;
    double tol() const { return act == N4J_DTYPE_BF16 ? 2e-2 : 1e-4; }
};

pair* g_pair = nullptr;  // current

/* Host-side conversions through the CPU backend's n4j_convert (CPU backend memory is host memory). */
std::vector<uint8_t> host_convert(const void* src, int src_dtype, int dst_dtype, size_t n) {
    std::vector<uint8_t> out(n * dtype_bytes(dst_dtype) + 1);
    if (n > 0) EXPECT_OK(n4j_convert(g_pair->cpu, src, src_dtype, out.data(), dst_dtype, static_cast<int64_t>(n)));
    return out;
}

std::vector<float> to_f32(const void* src, int dtype, size_t n) {
    if (dtype == N4J_DTYPE_F32) {
        std::vector<float> v(n);
        memcpy(v.data(), src, n * 4);
        return v;
    }
    std::vector<uint8_t> b = host_convert(src, dtype, N4J_DTYPE_F32, n);
    std::vector<float> v(n);
    memcpy(v.data(), b.data(), n * 4);
    return v;
}

/* Values representable in dtype (rounded through it). */
std::vector<float> round_to(const std::vector<float>& v, int dtype) {
    if (dtype == N4J_DTYPE_F32) return v;
    std::vector<uint8_t> b = host_convert(v.data(), N4J_DTYPE_F32, dtype, v.size());
    return to_f32(b.data(), dtype, v.size());
}

/* A backend buffer (n4j_alloc), freed on scope exit. */
class buffer {
public:
    buffer() = default;
    buffer(n4j_backend* b, size_t bytes) : b_(b), bytes_(bytes) { EXPECT_OK(n4j_alloc(b, bytes ? bytes : 1, &p_)); }
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;
    buffer(buffer&& o) noexcept : b_(o.b_), p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
    buffer& operator=(buffer&& o) noexcept {
        reset();
        b_ = o.b_;
        p_ = o.p_;
        bytes_ = o.bytes_;
        o.p_ = nullptr;
        return *this;
    }
    ~buffer() { reset(); }
    void* get() const { return p_; }
    template <typename T>
    T* as() const {
        return static_cast<T*>(p_);
    }
    size_t bytes() const { return bytes_; }
    void reset() {
        if (p_ != nullptr) n4j_free(b_, p_);
        p_ = nullptr;
    }
    void upload(const void* host, size_t bytes, size_t offset = 0) {
        EXPECT_OK(n4j_copy(b_, static_cast<char*>(p_) + offset, host, bytes, N4J_COPY_HOST_TO_BACKEND));
    }
    std::vector<uint8_t> download(size_t bytes, size_t offset = 0) const {
        std::vector<uint8_t> h(bytes);
        EXPECT_OK(n4j_copy(b_, h.data(), static_cast<const char*>(p_) + offset, bytes, N4J_COPY_BACKEND_TO_HOST));
        return h;
    }

private:
    n4j_backend* b_ = nullptr;
    void* p_ = nullptr;
    size_t bytes_ = 0;
};

bool is_gpu(n4j_backend* b) { return b == g_pair->gpu; }
int act_of(n4j_backend* b) { return is_gpu(b) ? g_pair->act : N4J_DTYPE_F32; }

/* Activations (host F32 values) in backend b's activation dtype. */
buffer put_act(n4j_backend* b, const std::vector<float>& v) {
    const int act = act_of(b);
    buffer buf(b, v.size() * dtype_bytes(act));
    if (act == N4J_DTYPE_F32) {
        buf.upload(v.data(), v.size() * 4);
    } else {
        std::vector<uint8_t> bytes = host_convert(v.data(), N4J_DTYPE_F32, act, v.size());
        buf.upload(bytes.data(), v.size() * dtype_bytes(act));
    }
    return buf;
}

std::vector<float> get_act(n4j_backend* b, const buffer& buf, size_t n, size_t offset_elems = 0) {
    const int act = act_of(b);
    std::vector<uint8_t> bytes = buf.download(n * dtype_bytes(act), offset_elems * dtype_bytes(act));
    return to_f32(bytes.data(), act, n);
}

buffer put_f32(n4j_backend* b, const std::vector<float>& v) {
    buffer buf(b, v.size() * 4);
    buf.upload(v.data(), v.size() * 4);
    return buf;
}

std::vector<float> get_f32(const buffer& buf, size_t n) {
    std::vector<uint8_t> bytes = buf.download(n * 4);
    std::vector<float> v(n);
    memcpy(v.data(), bytes.data(), n * 4);
    return v;
}

/* A weight stored in dtype, on one backend. */
struct weight {
    buffer data;
    n4j_weight w;
};

/* Host storage of a weight: raw dtype bytes and the scale (F8: value = raw * scale). */
struct host_weight {
    std::vector<uint8_t> bytes;
    int dtype;
    int rows, cols;
    float scale;
};

host_weight make_host_weight(rng& r, int dtype, int rows, int cols, float lo, float hi) {
    host_weight h;
    h.dtype = dtype;
    h.rows = rows;
    h.cols = cols;
    h.scale = 1.0f;
    std::vector<float> v = r.vec(static_cast<size_t>(rows) * cols, lo, hi);
    if (dtype == N4J_DTYPE_F32) {
        h.bytes.resize(v.size() * 4);
        memcpy(h.bytes.data(), v.data(), v.size() * 4);
        return h;
    }
    if (dtype == N4J_DTYPE_F8_E4M3) {
        const float amax = std::max(fabsf(lo), fabsf(hi));
        h.scale = amax / 448.0f;
        for (float& x : v) x /= h.scale;
    }
    h.bytes = host_convert(v.data(), N4J_DTYPE_F32, dtype, v.size());
    h.bytes.resize(v.size() * dtype_bytes(dtype));
    return h;
}

weight put_weight(n4j_backend* b, const host_weight& h) {
    weight w;
    w.data = buffer(b, h.bytes.size());
    w.data.upload(h.bytes.data(), h.bytes.size());
    memset(&w.w, 0, sizeof(w.w));
    w.w.data = w.data.get();
    w.w.dtype = h.dtype;
    w.w.rows = h.rows;
    w.w.cols = h.cols;
    w.w.scale = h.scale;
    return w;
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
             double tol) {
    ++g_checks;
    const double e = rel_err(ref, got);
    if (!(e <= tol)) {
        fail_line("%s: rel err %.3g > tol %.3g", label.c_str(), e, tol);
    } else if (g_verbose) {
        printf("    ok %s: %.3g\n", label.c_str(), e);
    }
    if (!isnan(e) && e > st.worst) st.worst = e;
}

/* Keeps only columns [0, width) of a matrix with row stride ld. */
std::vector<float> columns(const std::vector<float>& m, int rows, int64_t ld, int width, int64_t col0 = 0) {
    std::vector<float> out(static_cast<size_t>(rows) * width);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < width; ++c) out[static_cast<size_t>(r) * width + c] = m[r * ld + col0 + c];
    return out;
}

char* cat(char* buf, size_t n, const char* format, ...) __attribute__((format(printf, 3, 4)));
char* cat(char* buf, size_t n, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(buf, n, format, args);
    va_end(args);
    return buf;
}

/* ------------------------------------------------------------------ tests ---- */

void test_memory(op_stat& st) {
    rng r(1);
    n4j_backend* g = g_pair->gpu;
    for (size_t bytes : {size_t(1), size_t(1000), size_t(300 * 1024), size_t(3 * 1024 * 1024 + 5)}) {
        buffer a(g, bytes);
        std::vector<uint8_t> zero = a.download(bytes);
        ++g_checks;
        if (std::any_of(zero.begin(), zero.end(), [](uint8_t v) { return v != 0; })) {
            fail_line("memory: n4j_alloc(%zu) is not zeroed", bytes);
        }
        std::vector<uint8_t> data(bytes);
        for (auto& v : data) v = static_cast<uint8_t>(r.next());
        a.upload(data.data(), bytes);
        // Overwrite the host buffer right away: a staged copy must already have taken the bytes.
        std::vector<uint8_t> expect = data;
        std::fill(data.begin(), data.end(), 0xAB);
        buffer b(g, bytes);
        EXPECT_OK(n4j_copy(g, b.get(), a.get(), bytes, N4J_COPY_BACKEND_TO_BACKEND));
        ++g_checks;
        if (b.download(bytes) != expect) fail_line("memory: round trip of %zu bytes differs", bytes);
        EXPECT_OK(n4j_fill_zero(g, b.get(), bytes));
        std::vector<uint8_t> z = b.download(bytes);
        ++g_checks;
        if (std::any_of(z.begin(), z.end(), [](uint8_t v) { return v != 0; })) fail_line("memory: fill_zero(%zu)", bytes);
        st.cases++;
    }
    // Many small staged copies in a row (wraps the staging ring) into distinct places.
    const int pieces = 100;
    buffer big(g, pieces * 64);
    std::vector<uint8_t> expect(pieces * 64);
    for (int i = 0; i < pieces; ++i) {
        std::vector<uint8_t> piece(64, static_cast<uint8_t>(i * 7 + 1));
        memcpy(expect.data() + i * 64, piece.data(), 64);
        big.upload(piece.data(), 64, static_cast<size_t>(i) * 64);
    }
    ++g_checks;
    if (big.download(pieces * 64) != expect) fail_line("memory: %d staged uploads in a row", pieces);
    n4j_backend_info info;
    EXPECT_OK(n4j_backend_get_info(g, &info));
    ++g_checks;
    if (info.kind != N4J_BACKEND_CUDA || info.total_memory <= 0 || info.name[0] == '\0') {
        fail_line("get_info: kind %d total %lld name '%s'", info.kind, static_cast<long long>(info.total_memory), info.name);
    }
    st.cases++;
}

void test_convert(op_stat& st) {
    rng r(2);
    const int dtypes[] = {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F16, N4J_DTYPE_F8_E4M3};
    for (size_t n : {size_t(1), size_t(1001), size_t(70001)}) {
        std::vector<float> src = r.vec(n, -600.0f, 600.0f);
        for (size_t i = 0; i < n; i += 3) src[i] *= 1e-3f;
        for (size_t i = 1; i < n; i += 7) src[i] *= 1e-6f;  // e4m3 / f16 subnormals
        const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, 65520.0f, 448.0f, 464.0f, -1e30f};
        for (size_t i = 0; i < 10 && i < n; ++i) src[(i * 97) % n] = specials[i];
        for (int sd : dtypes) {
            std::vector<uint8_t> s_bytes = sd == N4J_DTYPE_F32 ? std::vector<uint8_t>(reinterpret_cast<uint8_t*>(src.data()),
                                                                                      reinterpret_cast<uint8_t*>(src.data()) + n * 4)
                                                               : host_convert(src.data(), N4J_DTYPE_F32, sd, n);
            s_bytes.resize(n * dtype_bytes(sd));
            for (int dd : dtypes) {
                const size_t out_bytes = n * dtype_bytes(dd);
                std::vector<uint8_t> ref = host_convert(s_bytes.data(), sd, dd, n);
                ref.resize(out_bytes);
                buffer a(g_pair->gpu, s_bytes.size());
                a.upload(s_bytes.data(), s_bytes.size());
                buffer b(g_pair->gpu, out_bytes);
                EXPECT_OK(n4j_convert(g_pair->gpu, a.get(), sd, b.get(), dd, static_cast<int64_t>(n)));
                ++g_checks;
                if (b.download(out_bytes) != ref) {
                    fail_line("convert %s -> %s n=%zu: not bit-identical to the CPU", dtype_name(sd), dtype_name(dd), n);
                }
                st.cases++;
            }
        }
    }
}

void test_embedding(op_stat& st) {
    rng r(3);
    for (int dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        for (int cols : {67, 64, 1000}) {
            const int rows = 37;
            host_weight hw = make_host_weight(r, dtype, rows, cols, -2.0f, 2.0f);
            for (int n : {1, 5, 130}) {
                std::vector<int32_t> ids(n);
                for (auto& id : ids) id = r.below(rows);
                const int64_t ld = cols + 3;
                std::vector<float> outs[2];
                n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
                for (int k = 0; k < 2; ++k) {
                    weight w = put_weight(bs[k], hw);
                    buffer idb(bs[k], ids.size() * 4);
                    idb.upload(ids.data(), ids.size() * 4);
                    buffer out = put_act(bs[k], std::vector<float>(n * ld, 0.0f));
                    EXPECT_OK(n4j_embedding(bs[k], &w.w, idb.as<int32_t>(), n, out.get(), ld));
                    outs[k] = columns(get_act(bs[k], out, n * ld), n, ld, cols);
                }
                char label[160];
                compare(st, cat(label, sizeof(label), "embedding %s cols=%d n=%d", dtype_name(dtype), cols, n), outs[0],
                        outs[1], g_pair->act == N4J_DTYPE_BF16 ? 4e-3 : 0.0);
                st.cases++;
            }
            // An id out of range is an error, not a crash.
            weight w = put_weight(g_pair->gpu, hw);
            std::vector<int32_t> bad = {0, rows, 2};
            buffer idb(g_pair->gpu, 12);
            idb.upload(bad.data(), 12);
            buffer out(g_pair->gpu, 3 * cols * 4);
            ++g_checks;
            const int32_t rc = n4j_embedding(g_pair->gpu, &w.w, idb.as<int32_t>(), 3, out.get(), cols);
            if (rc != N4J_ERR_INVALID_ARGUMENT) fail_line("embedding: id %d out of range returned %d", rows, rc);
            EXPECT_OK(n4j_backend_synchronize(g_pair->gpu));
        }
    }
}

void test_rmsnorm(op_stat& st) {
    rng r(4);
    std::vector<int> dims = {67, 64, 1000, 2049};
    if (!g_quick) dims.push_back(4480);
    for (int dim : dims) {
        for (int rows : {1, 3, 17, 130}) {
            for (int wd : {N4J_DTYPE_BF16, N4J_DTYPE_F32}) {
                const int64_t ld_x = dim + 5, ld_out = dim + 2;
                std::vector<float> x = round_to(r.vec(rows * ld_x, -3.0f, 3.0f), g_pair->act);
                host_weight hw = make_host_weight(r, wd, dim, 1, 0.5f, 1.5f);
                std::vector<float> outs[2];
                n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
                for (int k = 0; k < 2; ++k) {
                    weight w = put_weight(bs[k], hw);
                    buffer xb = put_act(bs[k], x);
                    buffer ob = put_act(bs[k], std::vector<float>(rows * ld_out, 0.0f));
                    EXPECT_OK(n4j_rmsnorm(bs[k], xb.get(), ld_x, rows, dim, &w.w, 1e-5f, ob.get(), ld_out));
                    outs[k] = columns(get_act(bs[k], ob, rows * ld_out), rows, ld_out, dim);
                }
                char label[160];
                compare(st, cat(label, sizeof(label), "rmsnorm dim=%d rows=%d w=%s", dim, rows, dtype_name(wd)), outs[0],
                        outs[1], g_pair->tol());
                st.cases++;
            }
        }
    }
}

void test_matmul(op_stat& st) {
    rng r(5);
    struct shape {
        int k, n;
    };
    std::vector<shape> shapes = {{67, 33}, {64, 128}, {520, 300}, {136, 129}, {16, 8}};
    if (!g_quick) shapes.push_back({4480, 520});
    std::vector<int> row_counts = {1, 2, 3, 5, 8, 9, 17, 33, 130};  // 9..64: the skinny GEMM
    if (!g_quick) row_counts.push_back(300);
    for (const shape& s : shapes) {
        for (int wd : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
            host_weight hw = make_host_weight(r, wd, s.n, s.k, -0.5f, 0.5f);
            for (int rows : row_counts) {
                if (g_quick && rows == 130 && s.k > 200) continue;
                for (int accumulate : {0, 1, 2}) {  // the epilogues: store, accumulate, relu^2
                    const int pad = (rows + accumulate) % 3 == 0 ? 0 : 3;  // some strides 16-byte aligned, some not
                    const int64_t ld_x = s.k + pad, ld_y = s.n + (accumulate == 1 ? 5 : 0);
                    std::vector<float> x = round_to(r.vec(rows * ld_x, -1.0f, 1.0f), g_pair->act);
                    std::vector<float> y0 = round_to(r.vec(rows * ld_y, -1.0f, 1.0f), g_pair->act);
                    std::vector<float> outs[2];
                    n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
                    for (int k = 0; k < 2; ++k) {
                        weight w = put_weight(bs[k], hw);
                        buffer xb = put_act(bs[k], x);
                        buffer yb = put_act(bs[k], y0);
                        EXPECT_OK(n4j_matmul(bs[k], xb.get(), ld_x, rows, &w.w, yb.get(), ld_y, accumulate));
                        outs[k] = columns(get_act(bs[k], yb, rows * ld_y), rows, ld_y, s.n);
                    }
                    char label[160];
                    compare(st,
                            cat(label, sizeof(label), "matmul rows=%d k=%d n=%d w=%s acc=%d ld_x=%lld", rows, s.k, s.n,
                                dtype_name(wd), accumulate, static_cast<long long>(ld_x)),
                            outs[0], outs[1], g_pair->tol());
                    st.cases++;
                }
            }
        }
    }
}

/*
 * Matmul cases the sweep above does not reach: operands at odd offsets inside their buffers (x + 1 and + 4 elements,
 * y + 1 element: the misaligned-base paths of every kernel and the alignment cuBLASLt is told), a row count whose
 * last group of row tiles is partial, and (full runs only) the 9B shapes at real size: up_proj at 130 rows (64-bit
 * offsets), down_proj at 16 rows (skinny GEMM, split-K) and lm_head (131072 outputs) at 1 and 8 rows.
 */
void test_matmul_edges(op_stat& st) {
    rng r(15);
    struct edge {
        int rows, k, n, x_off, y_off;
    };
    std::vector<edge> edges;
    for (int rows : {1, 8, 40, 130}) {
        edges.push_back({rows, 136, 129, 1, 0});
        edges.push_back({rows, 136, 129, 4, 1});
        edges.push_back({rows, 64, 72, 0, 1});
    }
    edges.push_back({1100, 64, 300, 0, 0});
    if (!g_quick && !g_variant_pass) {
        edges.push_back({130, 4480, 15680, 0, 0});
        edges.push_back({16, 15680, 4480, 0, 0});  // down_proj at batch 16: the skinny GEMM with split-K
        edges.push_back({1, 4480, 131072, 0, 0});
        edges.push_back({8, 4480, 131072, 0, 0});
    }
    for (const edge& e : edges) {
        const bool big = static_cast<int64_t>(e.k) * e.n > 10000000;
        for (int wd : {N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
            if (big && e.n == 131072 && wd == N4J_DTYPE_F8_E4M3) continue;  // lm_head stays bf16 in FP8 checkpoints
            host_weight hw = make_host_weight(r, wd, e.n, e.k, -0.5f, 0.5f);
            const int64_t ld_x = e.k, ld_y = e.n;
            std::vector<float> x = round_to(r.vec(e.x_off + e.rows * ld_x, -1.0f, 1.0f), g_pair->act);
            std::vector<float> y0 = round_to(r.vec(e.y_off + e.rows * ld_y, -1.0f, 1.0f), g_pair->act);
            std::vector<float> outs[2];
            n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
            for (int i = 0; i < 2; ++i) {
                weight w = put_weight(bs[i], hw);
                buffer xb = put_act(bs[i], x);
                buffer yb = put_act(bs[i], y0);
                const int64_t es = dtype_bytes(act_of(bs[i]));
                EXPECT_OK(n4j_matmul(bs[i], static_cast<char*>(xb.get()) + e.x_off * es, ld_x, e.rows, &w.w,
                                     static_cast<char*>(yb.get()) + e.y_off * es, ld_y, 1));
                std::vector<float> y = get_act(bs[i], yb, e.y_off + e.rows * ld_y);
                outs[i] = std::vector<float>(y.begin() + e.y_off, y.end());
            }
            char label[160];
            compare(st,
                    cat(label, sizeof(label), "matmul edge rows=%d k=%d n=%d w=%s x+%d y+%d", e.rows, e.k, e.n,
                        dtype_name(wd), e.x_off, e.y_off),
                    outs[0], outs[1], g_pair->tol());
            st.cases++;
        }
    }
}

void test_conv1d(op_stat& st) {
    rng r(6);
    const int K = 4;
    for (int channels : {37, 300}) {
        for (int tokens : {1, 2, 3, 5, 70, 130}) {
            for (int variant = 0; variant < 2; ++variant) {
                const bool with_bias = variant == 0;
                const int act = variant == 0 ? N4J_ACT_SILU : N4J_ACT_NONE;
                const int64_t ld_x = channels + 7, ld_out = channels + 1;
                host_weight hw = make_host_weight(r, N4J_DTYPE_BF16, channels, K, -1.0f, 1.0f);
                host_weight hb = make_host_weight(r, N4J_DTYPE_F32, channels, 1, -0.5f, 0.5f);
                std::vector<float> state0 = round_to(r.vec(channels * K, -1.0f, 1.0f), g_pair->act);
                std::vector<float> x1 = round_to(r.vec(tokens * ld_x, -2.0f, 2.0f), g_pair->act);
                std::vector<float> x2 = round_to(r.vec(tokens * ld_x, -2.0f, 2.0f), g_pair->act);
                std::vector<float> outs[2], states[2];
                n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
                for (int k = 0; k < 2; ++k) {
                    weight w = put_weight(bs[k], hw);
                    weight b = put_weight(bs[k], hb);
                    buffer sb = put_act(bs[k], state0);
                    buffer ob = put_act(bs[k], std::vector<float>(tokens * ld_out, 0.0f));
                    std::vector<float> all;
                    for (const std::vector<float>* x : {&x1, &x2}) {  // two calls: the state carries over
                        buffer xb = put_act(bs[k], *x);
                        EXPECT_OK(n4j_conv1d_prefill(bs[k], xb.get(), ld_x, tokens, channels, &w.w,
                                                     with_bias ? &b.w : nullptr, sb.get(), act, ob.get(), ld_out));
                        std::vector<float> o = columns(get_act(bs[k], ob, tokens * ld_out), tokens, ld_out, channels);
                        all.insert(all.end(), o.begin(), o.end());
                    }
                    outs[k] = all;
                    states[k] = get_act(bs[k], sb, channels * K);
                }
                char label[160];
                compare(st, cat(label, sizeof(label), "conv1d_prefill ch=%d T=%d bias=%d act=%d", channels, tokens,
                                with_bias, act),
                        outs[0], outs[1], g_pair->tol());
                compare(st, cat(label, sizeof(label), "conv1d_prefill state ch=%d T=%d", channels, tokens), states[0],
                        states[1], g_pair->tol());
                st.cases++;
            }
        }
    }
    // Decode: a batch of sequences, 40 steps (more than the staging ring has slots).
    for (int batch : {1, 3}) {
        const int channels = 45;
        const int64_t ld_x = channels + 3;
        host_weight hw = make_host_weight(r, N4J_DTYPE_F32, channels, K, -1.0f, 1.0f);
        host_weight hb = make_host_weight(r, N4J_DTYPE_BF16, channels, 1, -0.5f, 0.5f);
        std::vector<std::vector<float>> st0(batch);
        for (auto& s : st0) s = round_to(r.vec(channels * K, -1.0f, 1.0f), g_pair->act);
        const int steps = 40;
        std::vector<std::vector<float>> xs(steps);
        for (auto& x : xs) x = round_to(r.vec(batch * ld_x, -2.0f, 2.0f), g_pair->act);
        std::vector<float> outs[2], states[2];
        n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
        for (int k = 0; k < 2; ++k) {
            weight w = put_weight(bs[k], hw);
            weight b = put_weight(bs[k], hb);
            std::vector<buffer> sbs;
            std::vector<void*> ptrs;
            for (int i = 0; i < batch; ++i) {
                sbs.push_back(put_act(bs[k], st0[i]));
                ptrs.push_back(sbs.back().get());
            }
            buffer ob = put_act(bs[k], std::vector<float>(batch * channels, 0.0f));
            for (int step = 0; step < steps; ++step) {
                buffer xb = put_act(bs[k], xs[step]);
                EXPECT_OK(n4j_conv1d_decode(bs[k], batch, xb.get(), ld_x, channels, &w.w, &b.w, ptrs.data(),
                                            N4J_ACT_SILU, ob.get(), channels));
                std::vector<float> o = get_act(bs[k], ob, batch * channels);
                outs[k].insert(outs[k].end(), o.begin(), o.end());
            }
            for (int i = 0; i < batch; ++i) {
                std::vector<float> s = get_act(bs[k], sbs[i], channels * K);
                states[k].insert(states[k].end(), s.begin(), s.end());
            }
        }
        char label[160];
        compare(st, cat(label, sizeof(label), "conv1d_decode batch=%d", batch), outs[0], outs[1], g_pair->tol());
        compare(st, cat(label, sizeof(label), "conv1d_decode states batch=%d", batch), states[0], states[1],
                g_pair->tol());
        st.cases++;
    }
}

struct ssm_case {
    int heads, head_dim, groups, state_dim, chunk;
};

/* Inputs of a Mamba scan laid out as in the model: x | B | C columns of one matrix (ld = conv width), dt elsewhere. */
struct ssm_inputs {
    std::vector<float> xbc, dt, state;
    host_weight dt_bias, a_log, d;
    int64_t ld_xbc, ld_dt;
};

ssm_inputs make_ssm_inputs(rng& r, const ssm_case& c, int rows) {
    ssm_inputs in;
    const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim;
    in.ld_xbc = d_inner + 2 * c.groups * c.state_dim + 3;
    in.ld_dt = c.heads + 5;
    in.xbc = round_to(r.vec(rows * in.ld_xbc, -1.0f, 1.0f), g_pair->act);
    in.dt = round_to(r.vec(rows * in.ld_dt, -3.0f, 1.0f), g_pair->act);
    in.state = r.vec(static_cast<size_t>(c.heads) * c.head_dim * c.state_dim, -0.5f, 0.5f);
    in.dt_bias = make_host_weight(r, N4J_DTYPE_F32, c.heads, 1, -1.0f, 0.5f);
    in.a_log = make_host_weight(r, N4J_DTYPE_BF16, c.heads, 1, -1.0f, 2.5f);
    in.d = make_host_weight(r, N4J_DTYPE_F32, c.heads, 1, 0.5f, 1.5f);
    return in;
}

enum scan_kind { SCAN_CHUNKED, SCAN_SEQUENTIAL };

/* Runs one scan on backend b; returns y (d_inner columns) followed by the final state. */
std::vector<float> run_scan(n4j_backend* b, scan_kind kind, const ssm_case& c, int tokens, const ssm_inputs& in) {
    n4j_ssm_dims dims = {c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, 0};
    const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim;
    const int64_t gs = static_cast<int64_t>(c.groups) * c.state_dim;
    const int64_t ld_y = d_inner + 1;
    weight dtb = put_weight(b, in.dt_bias), al = put_weight(b, in.a_log), dw = put_weight(b, in.d);
    buffer xb = put_act(b, in.xbc);
    buffer dtbuf = put_act(b, in.dt);
    buffer sb = put_f32(b, in.state);
    buffer yb = put_act(b, std::vector<float>(tokens * ld_y, 0.0f));
    const int64_t es = dtype_bytes(act_of(b));
    const char* x = static_cast<const char*>(xb.get());
    const void* B = x + d_inner * es;
    const void* C = x + (d_inner + gs) * es;
    if (kind == SCAN_CHUNKED) {
        EXPECT_OK(n4j_ssd_chunk_scan(b, &dims, tokens, x, in.ld_xbc, B, in.ld_xbc, C, in.ld_xbc, dtbuf.get(), in.ld_dt,
                                     &dtb.w, &al.w, &dw.w, sb.as<float>(), yb.get(), ld_y));
    } else {
        EXPECT_OK(n4j_ssm_scan_sequential(b, &dims, tokens, x, in.ld_xbc, B, in.ld_xbc, C, in.ld_xbc, dtbuf.get(),
                                          in.ld_dt, &dtb.w, &al.w, &dw.w, sb.as<float>(), yb.get(), ld_y));
    }
    std::vector<float> out = columns(get_act(b, yb, tokens * ld_y), tokens, ld_y, static_cast<int>(d_inner));
    std::vector<float> s = get_f32(sb, in.state.size());
    out.insert(out.end(), s.begin(), s.end());
    return out;
}

void test_ssm_scans(op_stat& st) {
    rng r(7);
    std::vector<ssm_case> cases = {
        {6, 20, 2, 16, 16},   // the tiny golden model's shape
        {4, 80, 1, 128, 128}, // 9B head: head_dim 80, state 128, chunk 128
        {8, 40, 2, 64, 32},   // bench-medium head_dim
        {2, 128, 1, 32, 64},
        {3, 130, 3, 20, 8},   // two p-tiles, one head per group
        {16, 80, 8, 128, 128}, // 8 groups of 2 heads
    };
    for (const ssm_case& c : cases) {
        std::vector<int> token_counts = {1, 15, 16, 37, 70};
        if (!g_quick || c.head_dim <= 40) token_counts.push_back(300);
        if (g_quick && c.state_dim == 128 && c.heads >= 16) token_counts = {1, 130};
        for (int tokens : token_counts) {
            ssm_inputs in = make_ssm_inputs(r, c, tokens);
            // The CPU reference computes y and the state with the sequential recurrence as the oracle.
            const std::vector<float> ref = run_scan(g_pair->cpu, SCAN_SEQUENTIAL, c, tokens, in);
            const std::vector<float> chunked = run_scan(g_pair->gpu, SCAN_CHUNKED, c, tokens, in);
            const std::vector<float> seq = run_scan(g_pair->gpu, SCAN_SEQUENTIAL, c, tokens, in);
            const size_t ny = static_cast<size_t>(tokens) * c.heads * c.head_dim;
            auto part = [&](const std::vector<float>& v, bool state) {
                return state ? std::vector<float>(v.begin() + ny, v.end()) : std::vector<float>(v.begin(), v.begin() + ny);
            };
            char label[200];
            for (int s = 0; s < 2; ++s) {
                compare(st,
                        cat(label, sizeof(label), "ssd_chunk_scan %s H=%d P=%d G=%d N=%d L=%d T=%d", s ? "state" : "y",
                            c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, tokens),
                        part(ref, s), part(chunked, s), g_pair->tol());
                compare(st,
                        cat(label, sizeof(label), "ssm_scan_sequential %s H=%d P=%d G=%d N=%d T=%d", s ? "state" : "y",
                            c.heads, c.head_dim, c.groups, c.state_dim, tokens),
                        part(ref, s), part(seq, s), g_pair->tol());
            }
            st.cases++;
        }
    }
}

/* The chunked scan split into several segments (a tiny segment budget on a separate backend). */
void test_ssd_segments(op_stat& st, n4j_backend* segmented) {
    rng r(8);
    n4j_backend* saved = g_pair->gpu;
    g_pair->gpu = segmented;
    const ssm_case c = {6, 20, 2, 16, 16};  // state 7680 bytes; budget 20000 bytes -> 2 chunks per segment
    for (int tokens : {33, 100}) {
        ssm_inputs in = make_ssm_inputs(r, c, tokens);
        const std::vector<float> ref = run_scan(g_pair->cpu, SCAN_SEQUENTIAL, c, tokens, in);
        const std::vector<float> got = run_scan(segmented, SCAN_CHUNKED, c, tokens, in);
        char label[160];
        compare(st, cat(label, sizeof(label), "ssd_chunk_scan segmented T=%d", tokens), ref, got, g_pair->tol());
        st.cases++;
    }
    g_pair->gpu = saved;
}

void test_ssm_decode(op_stat& st) {
    rng r(9);
    for (const ssm_case& c : {ssm_case{6, 20, 2, 16, 16}, ssm_case{4, 80, 2, 128, 128}}) {
        for (int batch : {1, 3}) {
            const int steps = 5;
            std::vector<ssm_inputs> ins;
            for (int s = 0; s < steps; ++s) ins.push_back(make_ssm_inputs(r, c, batch));
            std::vector<std::vector<float>> st0(batch);
            for (auto& s : st0) s = r.vec(static_cast<size_t>(c.heads) * c.head_dim * c.state_dim, -0.5f, 0.5f);
            n4j_ssm_dims dims = {c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, 0};
            const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim;
            const int64_t gs = static_cast<int64_t>(c.groups) * c.state_dim;
            std::vector<float> outs[2];
            n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
            for (int k = 0; k < 2; ++k) {
                std::vector<buffer> sbs;
                std::vector<float*> ptrs;
                for (int i = 0; i < batch; ++i) {
                    sbs.push_back(put_f32(bs[k], st0[i]));
                    ptrs.push_back(sbs.back().as<float>());
                }
                for (int s = 0; s < steps; ++s) {
                    const ssm_inputs& in = ins[s];
                    weight dtb = put_weight(bs[k], ins[0].dt_bias), al = put_weight(bs[k], ins[0].a_log),
                           dw = put_weight(bs[k], ins[0].d);
                    buffer xb = put_act(bs[k], in.xbc);
                    buffer dtbuf = put_act(bs[k], in.dt);
                    buffer yb = put_act(bs[k], std::vector<float>(batch * d_inner, 0.0f));
                    const int64_t es = dtype_bytes(act_of(bs[k]));
                    const char* x = static_cast<const char*>(xb.get());
                    EXPECT_OK(n4j_ssm_decode(bs[k], &dims, batch, x, in.ld_xbc, x + d_inner * es, in.ld_xbc,
                                             x + (d_inner + gs) * es, in.ld_xbc, dtbuf.get(), in.ld_dt, &dtb.w, &al.w,
                                             &dw.w, ptrs.data(), yb.get(), d_inner));
                    std::vector<float> y = get_act(bs[k], yb, batch * d_inner);
                    outs[k].insert(outs[k].end(), y.begin(), y.end());
                }
                for (int i = 0; i < batch; ++i) {
                    std::vector<float> s = get_f32(sbs[i], st0[i].size());
                    outs[k].insert(outs[k].end(), s.begin(), s.end());
                }
            }
            char label[160];
            compare(st, cat(label, sizeof(label), "ssm_decode P=%d N=%d batch=%d", c.head_dim, c.state_dim, batch),
                    outs[0], outs[1], g_pair->tol());
            st.cases++;
        }
    }
}

void test_gated_rmsnorm(op_stat& st) {
    rng r(10);
    struct shape {
        int dim, groups;
    };
    std::vector<shape> shapes = {{120, 2}, {67, 1}, {1280, 8}, {96, 3}};
    if (!g_quick) shapes.push_back({10240, 8});
    for (const shape& s : shapes) {
        for (int rows : {1, 3, 17}) {
            const int64_t ld_y = s.dim + 1, ld_z = 2 * s.dim + 9, ld_out = s.dim;
            std::vector<float> y = round_to(r.vec(rows * ld_y, -2.0f, 2.0f), g_pair->act);
            std::vector<float> z = round_to(r.vec(rows * ld_z, -3.0f, 3.0f), g_pair->act);
            host_weight hw = make_host_weight(r, N4J_DTYPE_BF16, s.dim, 1, 0.5f, 1.5f);
            std::vector<float> outs[2];
            n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
            for (int k = 0; k < 2; ++k) {
                weight w = put_weight(bs[k], hw);
                buffer yb = put_act(bs[k], y), zb = put_act(bs[k], z);
                buffer ob = put_act(bs[k], std::vector<float>(rows * ld_out, 0.0f));
                const int64_t es = dtype_bytes(act_of(bs[k]));
                EXPECT_OK(n4j_gated_rmsnorm(bs[k], yb.get(), ld_y, static_cast<char*>(zb.get()) + 5 * es, ld_z, rows,
                                            s.dim, s.groups, &w.w, 1e-5f, ob.get(), ld_out));
                outs[k] = get_act(bs[k], ob, rows * ld_out);
            }
            char label[160];
            compare(st, cat(label, sizeof(label), "gated_rmsnorm dim=%d groups=%d rows=%d", s.dim, s.groups, rows),
                    outs[0], outs[1], g_pair->tol());
            st.cases++;
        }
    }
}

/*
 * Mamba cases the sweeps above do not reach: a prefill split over two calls (the state carried between them)
 * against one sequential pass; token counts at a chunk boundary (T = L, L + 1); extreme decay (strong: A_log in
 * [2, 4], dt in [0, 3]; weak: A_log in [-6, -4], dt in [-9, -6]); the 9B layer shapes (full runs); gated RMSNorm
 * written over its own y or z; and a conv1d prefill whose state then feeds the decode step.
 */
void test_mamba_edges(op_stat& st) {
    rng r(18);
    char label[200];
    // 1. split prefill: calls of 37 and 63 tokens against one sequential pass of 100
    for (const ssm_case& c : {ssm_case{6, 20, 2, 16, 16}, ssm_case{4, 80, 1, 128, 128}}) {
        const int total = 100, first = 37;
        ssm_inputs in = make_ssm_inputs(r, c, total);
        const std::vector<float> ref = run_scan(g_pair->cpu, SCAN_SEQUENTIAL, c, total, in);
        n4j_backend* g = g_pair->gpu;
        n4j_ssm_dims dims = {c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, 0};
        const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim, gs = static_cast<int64_t>(c.groups) * c.state_dim;
        const int64_t ld_y = d_inner, es = dtype_bytes(act_of(g));
        weight dtb = put_weight(g, in.dt_bias), al = put_weight(g, in.a_log), dw = put_weight(g, in.d);
        buffer xb = put_act(g, in.xbc), dtbuf = put_act(g, in.dt), sb = put_f32(g, in.state);
        buffer yb = put_act(g, std::vector<float>(total * ld_y, 0.0f));
        for (int part = 0; part < 2; ++part) {
            const int off = part == 0 ? 0 : first, n = part == 0 ? first : total - first;
            const char* x = static_cast<const char*>(xb.get()) + off * in.ld_xbc * es;
            EXPECT_OK(n4j_ssd_chunk_scan(g, &dims, n, x, in.ld_xbc, x + d_inner * es, in.ld_xbc, x + (d_inner + gs) * es,
                                         in.ld_xbc, static_cast<const char*>(dtbuf.get()) + off * in.ld_dt * es, in.ld_dt,
                                         &dtb.w, &al.w, &dw.w, sb.as<float>(),
                                         static_cast<char*>(yb.get()) + off * ld_y * es, ld_y));
        }
        std::vector<float> got = get_act(g, yb, total * ld_y);
        std::vector<float> s = get_f32(sb, in.state.size());
        got.insert(got.end(), s.begin(), s.end());
        compare(st, cat(label, sizeof(label), "ssd_chunk_scan split 37+63 P=%d L=%d", c.head_dim, c.chunk), ref, got,
                g_pair->tol());
        st.cases++;
    }
    // 2. chunk-boundary token counts, 3. decay extremes, 4. the 9B layer (full runs)
    struct scan_edge {
        ssm_case c;
        int tokens;
        int decay;  // 0 as make_ssm_inputs, 1 strong, 2 weak
    };
    std::vector<scan_edge> scans = {
        {{6, 20, 2, 16, 16}, 16, 0},   {{6, 20, 2, 16, 16}, 17, 0},    {{4, 80, 1, 128, 128}, 128, 0},
        {{4, 80, 1, 128, 128}, 129, 0}, {{6, 20, 2, 16, 16}, 70, 1},    {{6, 20, 2, 16, 16}, 70, 2},
        {{4, 80, 2, 128, 128}, 150, 1}, {{4, 80, 2, 128, 128}, 150, 2},
    };
    if (!g_quick) scans.push_back({{128, 80, 8, 128, 128}, 300, 0});
    for (const scan_edge& e : scans) {
        ssm_inputs in = make_ssm_inputs(r, e.c, e.tokens);
        if (e.decay != 0) {
            const float alo = e.decay == 1 ? 2.0f : -6.0f, ahi = e.decay == 1 ? 4.0f : -4.0f;
            const float dlo = e.decay == 1 ? 0.0f : -9.0f, dhi = e.decay == 1 ? 3.0f : -6.0f;
            in.a_log = make_host_weight(r, N4J_DTYPE_F32, e.c.heads, 1, alo, ahi);
            in.dt = round_to(r.vec(e.tokens * in.ld_dt, dlo, dhi), g_pair->act);
        }
        const std::vector<float> ref = run_scan(g_pair->cpu, SCAN_SEQUENTIAL, e.c, e.tokens, in);
        const std::vector<float> got = run_scan(g_pair->gpu, SCAN_CHUNKED, e.c, e.tokens, in);
        compare(st, cat(label, sizeof(label), "ssd_chunk_scan edge H=%d P=%d G=%d L=%d T=%d decay=%d", e.c.heads,
                        e.c.head_dim, e.c.groups, e.c.chunk, e.tokens, e.decay),
                ref, got, g_pair->tol());
        st.cases++;
    }
    if (!g_quick) {  // decode at the 9B layer shape, batch 2
        const ssm_case c = {128, 80, 8, 128, 128};
        const int batch = 2;
        ssm_inputs in = make_ssm_inputs(r, c, batch);
        std::vector<float> st1 = r.vec(in.state.size(), -0.5f, 0.5f);
        n4j_ssm_dims dims = {c.heads, c.head_dim, c.groups, c.state_dim, c.chunk, 0};
        const int64_t d_inner = static_cast<int64_t>(c.heads) * c.head_dim, gs = static_cast<int64_t>(c.groups) * c.state_dim;
        std::vector<float> outs[2];
        n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
        for (int k = 0; k < 2; ++k) {
            buffer s0 = put_f32(bs[k], in.state), s1 = put_f32(bs[k], st1);
            std::vector<float*> ptrs = {s0.as<float>(), s1.as<float>()};
            weight dtb = put_weight(bs[k], in.dt_bias), al = put_weight(bs[k], in.a_log), dw = put_weight(bs[k], in.d);
            buffer xb = put_act(bs[k], in.xbc), dtbuf = put_act(bs[k], in.dt);
            buffer yb = put_act(bs[k], std::vector<float>(batch * d_inner, 0.0f));
            const int64_t es = dtype_bytes(act_of(bs[k]));
            const char* x = static_cast<const char*>(xb.get());
            EXPECT_OK(n4j_ssm_decode(bs[k], &dims, batch, x, in.ld_xbc, x + d_inner * es, in.ld_xbc, x + (d_inner + gs) * es,
                                     in.ld_xbc, dtbuf.get(), in.ld_dt, &dtb.w, &al.w, &dw.w, ptrs.data(), yb.get(), d_inner));
            outs[k] = get_act(bs[k], yb, batch * d_inner);
            for (const buffer* sbuf : {&s0, &s1}) {
                std::vector<float> sv = get_f32(*sbuf, in.state.size());
                outs[k].insert(outs[k].end(), sv.begin(), sv.end());
            }
        }
        compare(st, "ssm_decode 9B shape batch=2", outs[0], outs[1], g_pair->tol());
        st.cases++;
    }
    // 5. gated RMSNorm written over y (out == y) and over z (out == z, z's stride)
    for (int over = 0; over < 2; ++over) {
        const int dim = 120, groups = 2, rows = 5;
        const int64_t ld = dim + 3;
        std::vector<float> y = round_to(r.vec(rows * ld, -2.0f, 2.0f), g_pair->act);
        std::vector<float> z = round_to(r.vec(rows * ld, -3.0f, 3.0f), g_pair->act);
        host_weight hw = make_host_weight(r, N4J_DTYPE_BF16, dim, 1, 0.5f, 1.5f);
        std::vector<float> outs[2];
        n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
        for (int k = 0; k < 2; ++k) {
            weight w = put_weight(bs[k], hw);
            buffer yb = put_act(bs[k], y), zb = put_act(bs[k], z);
            buffer& target = over == 0 ? yb : zb;
            EXPECT_OK(n4j_gated_rmsnorm(bs[k], yb.get(), ld, zb.get(), ld, rows, dim, groups, &w.w, 1e-5f, target.get(), ld));
            outs[k] = columns(get_act(bs[k], target, rows * ld), rows, ld, dim);
        }
        compare(st, cat(label, sizeof(label), "gated_rmsnorm in place over %s", over == 0 ? "y" : "z"), outs[0], outs[1],
                g_pair->tol());
        st.cases++;
    }
    // 6. conv1d: a prefill of 3 tokens (fewer than K - 1 + 1), then 5 decode steps on the same state
    {
        const int channels = 70, K = 4, tokens = 3, steps = 5;
        host_weight hw = make_host_weight(r, N4J_DTYPE_BF16, channels, K, -1.0f, 1.0f);
        host_weight hb = make_host_weight(r, N4J_DTYPE_F32, channels, 1, -0.5f, 0.5f);
        std::vector<float> x = round_to(r.vec(tokens * channels, -2.0f, 2.0f), g_pair->act);
        std::vector<std::vector<float>> xs(steps);
        for (auto& v : xs) v = round_to(r.vec(channels, -2.0f, 2.0f), g_pair->act);
        std::vector<float> outs[2];
        n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
        for (int k = 0; k < 2; ++k) {
            weight w = put_weight(bs[k], hw), b = put_weight(bs[k], hb);
            buffer sb = put_act(bs[k], std::vector<float>(channels * K, 0.0f));
            buffer xb = put_act(bs[k], x), ob = put_act(bs[k], std::vector<float>(tokens * channels, 0.0f));
            EXPECT_OK(n4j_conv1d_prefill(bs[k], xb.get(), channels, tokens, channels, &w.w, &b.w, sb.get(), N4J_ACT_SILU,
                                         ob.get(), channels));
            outs[k] = get_act(bs[k], ob, tokens * channels);
            void* ptr = sb.get();
            for (int step = 0; step < steps; ++step) {
                buffer sx = put_act(bs[k], xs[step]), so = put_act(bs[k], std::vector<float>(channels, 0.0f));
                EXPECT_OK(n4j_conv1d_decode(bs[k], 1, sx.get(), channels, channels, &w.w, &b.w, &ptr, N4J_ACT_SILU,
                                            so.get(), channels));
                std::vector<float> o = get_act(bs[k], so, channels);
                outs[k].insert(outs[k].end(), o.begin(), o.end());
            }
            std::vector<float> sv = get_act(bs[k], sb, channels * K);
            outs[k].insert(outs[k].end(), sv.begin(), sv.end());
        }
        compare(st, "conv1d prefill then decode on one state", outs[0], outs[1], g_pair->tol());
        st.cases++;
    }
}

/* One sequence's paged KV cache on one backend, filled with the same random prefix on every backend. */
struct kv_cache_buf {
    std::vector<buffer> k, v;
    std::vector<void*> kp, vp;
    n4j_kv_cache desc;
};

kv_cache_buf make_cache(n4j_backend* b, int kv_dtype, int block_tokens, int n_blocks, int length, int kv_heads,
                        int head_dim, const std::vector<float>& kprefix, const std::vector<float>& vprefix) {
    kv_cache_buf c;
    const size_t row = static_cast<size_t>(kv_heads) * head_dim;
    const size_t block_elems = static_cast<size_t>(block_tokens) * row;
    for (int i = 0; i < n_blocks; ++i) {
        c.k.emplace_back(b, block_elems * dtype_bytes(kv_dtype));
        c.v.emplace_back(b, block_elems * dtype_bytes(kv_dtype));
        c.kp.push_back(c.k.back().get());
        c.vp.push_back(c.v.back().get());
    }
    for (int pos = 0; pos < length; ++pos) {  // the cached prefix
        const int blk = pos / block_tokens, off = pos % block_tokens;
        for (int which = 0; which < 2; ++which) {
            const std::vector<float>& src = which ? vprefix : kprefix;
            std::vector<uint8_t> bytes = host_convert(src.data() + pos * row, N4J_DTYPE_F32, kv_dtype, row);
            (which ? c.v : c.k)[blk].upload(bytes.data(), row * dtype_bytes(kv_dtype), off * row * dtype_bytes(kv_dtype));
        }
    }
    c.desc.k_blocks = c.kp.data();
    c.desc.v_blocks = c.vp.data();
    c.desc.n_blocks = n_blocks;
    c.desc.block_tokens = block_tokens;
    c.desc.length = length;
    c.desc.dtype = kv_dtype;
    return c;
}

/* Positions [0, count) of a cache as F32 ([count][kv_heads * head_dim] for K, then the same for V). */
std::vector<float> read_cache(const kv_cache_buf& c, int count, int kv_heads, int head_dim) {
    const size_t row = static_cast<size_t>(kv_heads) * head_dim;
    std::vector<float> out;
    for (int which = 0; which < 2; ++which) {
        for (int pos = 0; pos < count; ++pos) {
            const int blk = pos / c.desc.block_tokens, off = pos % c.desc.block_tokens;
            const int es = static_cast<int>(dtype_bytes(c.desc.dtype));
            std::vector<uint8_t> bytes = (which ? c.v : c.k)[blk].download(row * es, off * row * es);
            std::vector<float> f = to_f32(bytes.data(), c.desc.dtype, row);
            out.insert(out.end(), f.begin(), f.end());
        }
    }
    return out;
}

struct attn_case {
    int heads, kv_heads, head_dim;
};

void test_attention_prefill(op_stat& st) {
    rng r(11);
    std::vector<attn_case> cases = {{4, 2, 16}, {8, 2, 128}, {5, 1, 80}, {6, 3, 40}, {4, 4, 20}, {2, 1, 64}};
    for (const attn_case& c : cases) {
        for (int kv_dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
            for (int block_tokens : {16, 256}) {
                for (int length : {0, 37, 300}) {
                    for (int tokens : {1, 17, 70, 130}) {
                        if (g_quick && (length == 300 || tokens == 130) && c.head_dim > 32) continue;
                        if (block_tokens == 256 && length == 37 && tokens == 17) continue;  // keep the run short
                        const int q_width = c.heads * c.head_dim, kv_width = c.kv_heads * c.head_dim;
                        const int64_t ld_q = q_width + 3, ld_k = kv_width + 8, ld_v = kv_width, ld_out = q_width + 2;
                        const int n_blocks = (length + tokens + block_tokens - 1) / block_tokens + 1;
                        std::vector<float> kpre = r.vec(static_cast<size_t>(length) * kv_width, -1.0f, 1.0f);
                        std::vector<float> vpre = r.vec(static_cast<size_t>(length) * kv_width, -1.0f, 1.0f);
                        std::vector<float> q = round_to(r.vec(tokens * ld_q, -1.5f, 1.5f), g_pair->act);
                        std::vector<float> k = round_to(r.vec(tokens * ld_k, -1.5f, 1.5f), g_pair->act);
                        std::vector<float> v = round_to(r.vec(tokens * ld_v, -1.0f, 1.0f), g_pair->act);
                        n4j_attn_dims dims = {c.heads, c.kv_heads, c.head_dim, 1.0f / sqrtf(static_cast<float>(c.head_dim))};
                        std::vector<float> outs[2], caches[2];
                        n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
                        for (int i = 0; i < 2; ++i) {
                            kv_cache_buf cache = make_cache(bs[i], kv_dtype, block_tokens, n_blocks, length, c.kv_heads,
                                                            c.head_dim, kpre, vpre);
                            buffer qb = put_act(bs[i], q), kb = put_act(bs[i], k), vb = put_act(bs[i], v);
                            buffer ob = put_act(bs[i], std::vector<float>(tokens * ld_out, 0.0f));
                            EXPECT_OK(n4j_attention_prefill(bs[i], &dims, tokens, qb.get(), ld_q, kb.get(), ld_k,
                                                            vb.get(), ld_v, &cache.desc, ob.get(), ld_out));
                            outs[i] = columns(get_act(bs[i], ob, tokens * ld_out), tokens, ld_out, q_width);
                            caches[i] = read_cache(cache, length + tokens, c.kv_heads, c.head_dim);
                        }
                        char label[200];
                        compare(st,
                                cat(label, sizeof(label), "attention_prefill H=%d KVH=%d D=%d kv=%s bt=%d len=%d T=%d",
                                    c.heads, c.kv_heads, c.head_dim, dtype_name(kv_dtype), block_tokens, length, tokens),
                                outs[0], outs[1], g_pair->tol());
                        compare(st,
                                cat(label, sizeof(label), "attention_prefill cache D=%d kv=%s len=%d T=%d", c.head_dim,
                                    dtype_name(kv_dtype), length, tokens),
                                caches[0], caches[1], g_pair->tol());
                        st.cases++;
                    }
                }
            }
        }
    }
}

void test_attention_decode(op_stat& st) {
    rng r(12);
    std::vector<attn_case> cases = {{8, 2, 128}, {4, 2, 16}, {10, 1, 64}, {6, 2, 20}, {2, 1, 256}};
    std::vector<int> lengths = {0, 5, 600, 255, 256, 1000};
    if (g_quick) lengths = {0, 5, 300};
    for (const attn_case& c : cases) {
        const int batch = static_cast<int>(lengths.size());
        const int q_width = c.heads * c.head_dim, kv_width = c.kv_heads * c.head_dim;
        const int64_t ld_q = q_width + 1, ld_kv = kv_width + 2;
        std::vector<int> dtypes(batch), block_tokens(batch), n_blocks(batch);
        std::vector<std::vector<float>> kpre(batch), vpre(batch);
        const int steps = 3;
        for (int b = 0; b < batch; ++b) {
            dtypes[b] = (b % 2 == 0) ? N4J_DTYPE_BF16 : N4J_DTYPE_F32;  // a mixed batch
            block_tokens[b] = b % 3 == 0 ? 16 : 256;
            n_blocks[b] = (lengths[b] + steps + block_tokens[b] - 1) / block_tokens[b];
            kpre[b] = r.vec(static_cast<size_t>(lengths[b]) * kv_width, -1.0f, 1.0f);
            vpre[b] = r.vec(static_cast<size_t>(lengths[b]) * kv_width, -1.0f, 1.0f);
        }
        std::vector<std::vector<float>> qs(steps), ks(steps), vs(steps);
        for (int s = 0; s < steps; ++s) {
            qs[s] = round_to(r.vec(batch * ld_q, -1.5f, 1.5f), g_pair->act);
            ks[s] = round_to(r.vec(batch * ld_kv, -1.5f, 1.5f), g_pair->act);
            vs[s] = round_to(r.vec(batch * ld_kv, -1.0f, 1.0f), g_pair->act);
        }
        n4j_attn_dims dims = {c.heads, c.kv_heads, c.head_dim, 1.0f / sqrtf(static_cast<float>(c.head_dim))};
        std::vector<float> outs[2], caches[2];
        n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
        for (int i = 0; i < 2; ++i) {
            std::vector<kv_cache_buf> cs;
            cs.reserve(batch);
            for (int b = 0; b < batch; ++b) {
                cs.push_back(make_cache(bs[i], dtypes[b], block_tokens[b], n_blocks[b], lengths[b], c.kv_heads,
                                        c.head_dim, kpre[b], vpre[b]));
            }
            for (int s = 0; s < steps; ++s) {
                std::vector<n4j_kv_cache> descs;
                for (auto& cb : cs) {
                    cb.desc.k_blocks = cb.kp.data();
                    cb.desc.v_blocks = cb.vp.data();
                    descs.push_back(cb.desc);
                }
                buffer qb = put_act(bs[i], qs[s]), kb = put_act(bs[i], ks[s]), vb = put_act(bs[i], vs[s]);
                buffer ob = put_act(bs[i], std::vector<float>(batch * q_width, 0.0f));
                EXPECT_OK(n4j_attention_decode(bs[i], &dims, batch, qb.get(), ld_q, kb.get(), ld_kv, vb.get(), ld_kv,
                                               descs.data(), ob.get(), q_width));
                std::vector<float> o = get_act(bs[i], ob, batch * q_width);
                outs[i].insert(outs[i].end(), o.begin(), o.end());
                for (auto& cb : cs) cb.desc.length += 1;
            }
            for (int b = 0; b < batch; ++b) {
                std::vector<float> kv = read_cache(cs[b], cs[b].desc.length, c.kv_heads, c.head_dim);
                caches[i].insert(caches[i].end(), kv.begin(), kv.end());
            }
        }
        char label[200];
        compare(st, cat(label, sizeof(label), "attention_decode H=%d KVH=%d D=%d batch=%d", c.heads, c.kv_heads,
                        c.head_dim, batch),
                outs[0], outs[1], g_pair->tol());
        compare(st, cat(label, sizeof(label), "attention_decode caches D=%d", c.head_dim), caches[0], caches[1],
                g_pair->tol());
        st.cases++;
    }
}

/*
 * Attention cases the sweeps above do not reach: the 9B prefill shape (40 / 8 heads of 128) with a chunk that
 * crosses a block boundary; head dims that are not a multiple of 8 (scalar load paths); KV blocks at an 8-byte
 * offset (misaligned block pointers); block tables longer than needed, their tail NULL; and (full runs only) one
 * decode over 40000 cached positions (more splits than one reduce block holds).
 */
void test_attention_edges(op_stat& st) {
    rng r(16);
    struct edge {
        int heads, kv_heads, head_dim, block_tokens, length, tokens, block_offset, extra_blocks;
        bool decode;
    };
    std::vector<edge> edges = {
        {40, 8, 128, 256, 250, 70, 0, 0, false},
        {4, 2, 36, 16, 37, 17, 0, 0, false},
        {4, 2, 44, 256, 37, 17, 0, 1, false},
        {4, 2, 64, 16, 37, 17, 8, 0, false},
        {8, 2, 128, 256, 300, 1, 8, 2, true},
        {4, 2, 36, 16, 100, 1, 0, 3, true},
    };
    if (!g_quick && !g_variant_pass) edges.push_back({4, 1, 16, 256, 40000, 1, 0, 0, true});
    for (const edge& e : edges) {
        for (int kv_dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
            const int q_width = e.heads * e.head_dim, kv_width = e.kv_heads * e.head_dim;
            const int used = (e.length + e.tokens + e.block_tokens - 1) / e.block_tokens;
            const size_t block_bytes = static_cast<size_t>(e.block_tokens) * kv_width * dtype_bytes(kv_dtype);
            std::vector<float> kpre = r.vec(static_cast<size_t>(e.length) * kv_width, -1.0f, 1.0f);
            std::vector<float> vpre = r.vec(static_cast<size_t>(e.length) * kv_width, -1.0f, 1.0f);
            std::vector<float> q = round_to(r.vec(static_cast<size_t>(e.tokens) * q_width, -1.5f, 1.5f), g_pair->act);
            std::vector<float> k = round_to(r.vec(static_cast<size_t>(e.tokens) * kv_width, -1.5f, 1.5f), g_pair->act);
            std::vector<float> v = round_to(r.vec(static_cast<size_t>(e.tokens) * kv_width, -1.0f, 1.0f), g_pair->act);
            n4j_attn_dims dims = {e.heads, e.kv_heads, e.head_dim, 1.0f / sqrtf(static_cast<float>(e.head_dim))};
            std::vector<float> outs[2], caches[2];
            n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
            for (int i = 0; i < 2; ++i) {
                // blocks allocated with room for the offset, the prefix written through the same offset pointers
                std::vector<buffer> kb_, vb_;
                std::vector<void*> kp(used + e.extra_blocks, nullptr), vp(used + e.extra_blocks, nullptr);
                for (int b = 0; b < used; ++b) {
                    kb_.emplace_back(bs[i], block_bytes + 64);
                    vb_.emplace_back(bs[i], block_bytes + 64);
                    kp[b] = static_cast<char*>(kb_.back().get()) + e.block_offset;
                    vp[b] = static_cast<char*>(vb_.back().get()) + e.block_offset;
                }
                const size_t row_bytes = static_cast<size_t>(kv_width) * dtype_bytes(kv_dtype);
                for (int pos = 0; pos < e.length; ++pos) {
                    const int blk = pos / e.block_tokens, off = pos % e.block_tokens;
                    for (int which = 0; which < 2; ++which) {
                        const std::vector<float>& src = which ? vpre : kpre;
                        std::vector<uint8_t> bytes =
                            host_convert(src.data() + static_cast<size_t>(pos) * kv_width, N4J_DTYPE_F32, kv_dtype, kv_width);
                        (which ? vb_ : kb_)[blk].upload(bytes.data(), row_bytes, e.block_offset + off * row_bytes);
                    }
                }
                n4j_kv_cache desc = {kp.data(), vp.data(), used + e.extra_blocks, e.block_tokens, e.length, kv_dtype};
                buffer qb = put_act(bs[i], q), kb = put_act(bs[i], k), vb = put_act(bs[i], v);
                buffer ob = put_act(bs[i], std::vector<float>(static_cast<size_t>(e.tokens) * q_width, 0.0f));
                if (e.decode) {
                    EXPECT_OK(n4j_attention_decode(bs[i], &dims, 1, qb.get(), q_width, kb.get(), kv_width, vb.get(),
                                                   kv_width, &desc, ob.get(), q_width));
                } else {
                    EXPECT_OK(n4j_attention_prefill(bs[i], &dims, e.tokens, qb.get(), q_width, kb.get(), kv_width,
                                                    vb.get(), kv_width, &desc, ob.get(), q_width));
                }
                outs[i] = get_act(bs[i], ob, static_cast<size_t>(e.tokens) * q_width);
                // the appended positions, read back through the offset pointers
                for (int pos = e.length; pos < e.length + e.tokens; ++pos) {
                    const int blk = pos / e.block_tokens, off = pos % e.block_tokens;
                    for (int which = 0; which < 2; ++which) {
                        std::vector<uint8_t> bytes = (which ? vb_ : kb_)[blk].download(row_bytes, e.block_offset + off * row_bytes);
                        std::vector<float> f = to_f32(bytes.data(), kv_dtype, kv_width);
                        caches[i].insert(caches[i].end(), f.begin(), f.end());
                    }
                }
            }
            char label[200];
            compare(st,
                    cat(label, sizeof(label), "attention %s edge H=%d KVH=%d D=%d kv=%s bt=%d len=%d T=%d off=%d extra=%d",
                        e.decode ? "decode" : "prefill", e.heads, e.kv_heads, e.head_dim, dtype_name(kv_dtype),
                        e.block_tokens, e.length, e.tokens, e.block_offset, e.extra_blocks),
                    outs[0], outs[1], g_pair->tol());
            compare(st, cat(label, sizeof(label), "attention edge cache D=%d len=%d", e.head_dim, e.length), caches[0],
                    caches[1], g_pair->tol());
            st.cases++;
        }
    }
}

void test_elementwise(op_stat& st) {
    rng r(13);
    for (size_t n : {size_t(1), size_t(7), size_t(1001), size_t(100003)}) {
        for (int offset : {0, 1}) {  // offset 1: unaligned pointers
            std::vector<float> a = round_to(r.vec(n + 1, -3.0f, 3.0f), g_pair->act);
            std::vector<float> b = round_to(r.vec(n + 1, -3.0f, 3.0f), g_pair->act);
            for (int op = 0; op < 2; ++op) {
                for (int in_place = 0; in_place < 2; ++in_place) {
                    std::vector<float> outs[2];
                    n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
                    for (int k = 0; k < 2; ++k) {
                        buffer ab = put_act(bs[k], a), bb = put_act(bs[k], b);
                        buffer yb = put_act(bs[k], std::vector<float>(n + 1, 0.0f));
                        const int64_t es = dtype_bytes(act_of(bs[k]));
                        char* ap = static_cast<char*>(ab.get()) + offset * es;
                        char* bp = static_cast<char*>(bb.get()) + offset * es;
                        char* yp = in_place ? ap : static_cast<char*>(yb.get()) + offset * es;
                        if (op == 0) {
                            EXPECT_OK(n4j_relu_squared(bs[k], ap, yp, static_cast<int64_t>(n)));
                        } else {
                            EXPECT_OK(n4j_add(bs[k], ap, bp, yp, static_cast<int64_t>(n)));
                        }
                        std::vector<float> y = get_act(bs[k], in_place ? ab : yb, n + 1);
                        outs[k] = std::vector<float>(y.begin() + offset, y.begin() + offset + n);
                    }
                    char label[160];
                    compare(st,
                            cat(label, sizeof(label), "%s n=%zu offset=%d in_place=%d", op ? "add" : "relu_squared", n,
                                offset, in_place),
                            outs[0], outs[1], g_pair->act == N4J_DTYPE_BF16 ? 8e-3 : 1e-6);
                    st.cases++;
                }
            }
        }
    }
}

void test_argmax(op_stat& st) {
    rng r(14);
    std::vector<int> col_counts = {1, 320, 1001, 4097};
    if (!g_quick) col_counts.push_back(131072);
    for (int cols : col_counts) {
        for (int rows : {1, 3}) {
            const int64_t ld = cols + 5;
            std::vector<float> x = round_to(r.vec(rows * ld, -10.0f, 10.0f), g_pair->act);
            for (int row = 0; row < rows; ++row) {  // a tie between two maxima: the first must win
                const int i = r.below(cols), j = r.below(cols);
                x[row * ld + i] = 50.0f;
                x[row * ld + j] = 50.0f;
            }
            std::vector<int32_t> got[2];
            n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
            for (int k = 0; k < 2; ++k) {
                buffer xb = put_act(bs[k], x);
                buffer ob(bs[k], rows * 4);
                EXPECT_OK(n4j_argmax(bs[k], xb.get(), ld, rows, cols, ob.as<int32_t>()));
                std::vector<uint8_t> bytes = ob.download(rows * 4);
                got[k].resize(rows);
                memcpy(got[k].data(), bytes.data(), rows * 4);
            }
            ++g_checks;
            if (got[0] != got[1]) fail_line("argmax cols=%d rows=%d: cuda %d, cpu %d", cols, rows, got[1][0], got[0][0]);
            st.cases++;
        }
    }
}

/* argmax rows the random sweep does not make: all -inf, all NaN, NaN next to the maximum, tied +inf. */
void test_argmax_edges(op_stat& st) {
    const int cols = 1000;
    std::vector<float> x(static_cast<size_t>(4) * cols, 0.0f);
    for (int c = 0; c < cols; ++c) {
        x[c] = -INFINITY;
        x[cols + c] = NAN;
        x[2 * cols + c] = c % 3 == 0 ? NAN : static_cast<float>(c % 17);
        x[3 * cols + c] = static_cast<float>(c % 5);
    }
    x[2 * cols + 500] = 40.0f;
    x[3 * cols + 321] = INFINITY;
    x[3 * cols + 777] = INFINITY;
    std::vector<int32_t> got[2];
    n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
    for (int k = 0; k < 2; ++k) {
        buffer xb = put_act(bs[k], x);
        buffer ob(bs[k], 16);
        EXPECT_OK(n4j_argmax(bs[k], xb.get(), cols, 4, cols, ob.as<int32_t>()));
        std::vector<uint8_t> bytes = ob.download(16);
        got[k].resize(4);
        memcpy(got[k].data(), bytes.data(), 16);
    }
    for (int row = 0; row < 4; ++row) {
        ++g_checks;
        if (got[0][row] != got[1][row]) fail_line("argmax edge row %d: cuda %d, cpu %d", row, got[1][row], got[0][row]);
    }
    st.cases += 4;
}

/* An embedding of more ids than one launch takes (the kernel splits them). */
void test_embedding_many(op_stat& st) {
    rng r(17);
    const int rows = 1000, cols = 64, n = 70000;
    host_weight hw = make_host_weight(r, N4J_DTYPE_BF16, rows, cols, -2.0f, 2.0f);
    std::vector<int32_t> ids(n);
    for (auto& id : ids) id = r.below(rows);
    std::vector<float> outs[2];
    n4j_backend* bs[2] = {g_pair->cpu, g_pair->gpu};
    for (int k = 0; k < 2; ++k) {
        weight w = put_weight(bs[k], hw);
        buffer idb(bs[k], ids.size() * 4);
        idb.upload(ids.data(), ids.size() * 4);
        buffer out = put_act(bs[k], std::vector<float>(static_cast<size_t>(n) * cols, 0.0f));
        EXPECT_OK(n4j_embedding(bs[k], &w.w, idb.as<int32_t>(), n, out.get(), cols));
        outs[k] = get_act(bs[k], out, static_cast<size_t>(n) * cols);
    }
    char label[80];
    compare(st, cat(label, sizeof(label), "embedding n=%d", n), outs[0], outs[1], 0.0);
    st.cases++;
}

/* A failed CUDA call (an allocation far beyond the device) must not make the next, valid operation fail. */
void test_error_recovery(op_stat& st) {
    void* p = nullptr;
    ++g_checks;
    const int32_t rc = n4j_alloc(g_pair->gpu, int64_t(1) << 50, &p);
    if (rc != N4J_ERR_OUT_OF_MEMORY) fail_line("error_recovery: n4j_alloc(1 PiB) returned %d, expected out of memory", rc);
    std::vector<float> a = {1.0f, -2.0f, 3.0f, -4.0f};
    buffer ab = put_act(g_pair->gpu, a);
    buffer yb = put_act(g_pair->gpu, std::vector<float>(4, 0.0f));
    ++g_checks;
    if (n4j_relu_squared(g_pair->gpu, ab.get(), yb.get(), 4) != N4J_OK) {
        fail_line("error_recovery: the operation after a failed allocation failed: %s", n4j_last_error());
    }
    std::vector<float> y = get_act(g_pair->gpu, yb, 4);
    compare(st, "error_recovery relu_squared", {1.0f, 0.0f, 9.0f, 0.0f}, y, 0.0);
    st.cases++;
}

/*
 * N4J_FLAG_F32_RESIDUAL (BF16 activations only): embedding writes F32, rmsnorm reads F32 and writes BF16, add takes
 * F32 a and y with a BF16 b, on a backend of the same kind as the one under test created with the flag.
 */
void test_f32_residual(op_stat& st) {
    if (g_pair->act != N4J_DTYPE_BF16) return;
    n4j_backend_info info;
    EXPECT_OK(n4j_backend_get_info(g_pair->gpu, &info));
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = info.kind;
    o.threads = info.kind == N4J_BACKEND_CPU ? 2 : 0;
    o.flags = N4J_FLAG_F32_RESIDUAL;
    o.activation_dtype = N4J_DTYPE_BF16;
    n4j_backend* g = nullptr;
    ++g_checks;
    if (n4j_backend_create(&o, &g) != N4J_OK) {
        fail_line("f32_residual: cannot create the backend: %s", n4j_last_error());
        return;
    }
    n4j_backend* c = g_pair->cpu;
    rng r(19);
    const int rows = 5, dim = 300;
    // embedding -> F32, exact for a bf16 table
    host_weight table = make_host_weight(r, N4J_DTYPE_BF16, 40, dim, -2.0f, 2.0f);
    std::vector<int32_t> ids = {3, 0, 39, 7, 3};
    std::vector<float> outs[2];
    n4j_backend* bs[2] = {c, g};
    for (int k = 0; k < 2; ++k) {
        weight w = put_weight(bs[k], table);
        buffer idb(bs[k], ids.size() * 4);
        idb.upload(ids.data(), ids.size() * 4);
        buffer ob = put_f32(bs[k], std::vector<float>(rows * dim, 0.0f));
        EXPECT_OK(n4j_embedding(bs[k], &w.w, idb.as<int32_t>(), rows, ob.get(), dim));
        outs[k] = get_f32(ob, rows * dim);
    }
    compare(st, "f32_residual embedding (F32 out)", outs[0], outs[1], 0.0);
    st.cases++;
    // rmsnorm: F32 x (not bf16-representable values) -> bf16 out
    std::vector<float> x = r.vec(rows * dim, -3.0f, 3.0f);
    host_weight nw = make_host_weight(r, N4J_DTYPE_BF16, dim, 1, 0.5f, 1.5f);
    for (int k = 0; k < 2; ++k) {
        weight w = put_weight(bs[k], nw);
        buffer xb = put_f32(bs[k], x);
        if (k == 0) {
            buffer ob = put_f32(bs[k], std::vector<float>(rows * dim, 0.0f));
            EXPECT_OK(n4j_rmsnorm(bs[k], xb.get(), dim, rows, dim, &w.w, 1e-5f, ob.get(), dim));
            outs[k] = get_f32(ob, rows * dim);
        } else {
            buffer ob(bs[k], rows * dim * 2);
            EXPECT_OK(n4j_rmsnorm(bs[k], xb.get(), dim, rows, dim, &w.w, 1e-5f, ob.get(), dim));
            std::vector<uint8_t> bytes = ob.download(rows * dim * 2);
            outs[k] = to_f32(bytes.data(), N4J_DTYPE_BF16, rows * dim);
        }
    }
    compare(st, "f32_residual rmsnorm (F32 in, BF16 out)", outs[0], outs[1], 8e-3);
    st.cases++;
    // add: y = a + b in place over the F32 residual a, b bf16
    std::vector<float> a = r.vec(1001, -3.0f, 3.0f);
    std::vector<float> b = round_to(r.vec(1001, -1.0f, 1.0f), N4J_DTYPE_BF16);
    std::vector<float> ref(a.size());
    for (size_t i = 0; i < a.size(); ++i) ref[i] = a[i] + b[i];
    buffer ab = put_f32(g, a);
    std::vector<uint8_t> bb16 = host_convert(b.data(), N4J_DTYPE_F32, N4J_DTYPE_BF16, b.size());
    buffer bb(g, b.size() * 2);
    bb.upload(bb16.data(), b.size() * 2);
    EXPECT_OK(n4j_add(g, ab.get(), bb.get(), ab.get(), static_cast<int64_t>(a.size())));
    compare(st, "f32_residual add (F32 a and y, BF16 b)", ref, get_f32(ab, a.size()), 1e-7);
    st.cases++;
    // an in-place rmsnorm would read F32 and write BF16 over it: refused
    ++g_checks;
    {
        weight w = put_weight(g, nw);
        buffer xb = put_f32(g, x);
        if (n4j_rmsnorm(g, xb.get(), dim, rows, dim, &w.w, 1e-5f, xb.get(), dim) != N4J_ERR_INVALID_ARGUMENT) {
            fail_line("f32_residual: an in-place rmsnorm (F32 x, BF16 out) was not refused");
        }
    }
    n4j_backend_destroy(g);
}

/* ------------------------------------------------------------------ main ---- */

n4j_backend* make_backend(int kind, int act, int flags, std::string* why) {
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = kind;
    o.device = 0;
    o.threads = kind == N4J_BACKEND_CPU ? 2 : 0;
    o.flags = flags;
    o.activation_dtype = act;
    n4j_backend* b = nullptr;
    if (n4j_backend_create(&o, &b) != N4J_OK) {
        if (why) *why = n4j_last_error();
        return nullptr;
    }
    return b;
}

struct named_test {
    const char* name;
    void (*fn)(op_stat&);
};

}  // namespace

int main(int argc, char** argv) {
    std::string only;
    bool cpu_as_gpu = false;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--cpu-as-gpu") == 0) cpu_as_gpu = true;
        if (strcmp(argv[i], "--quick") == 0) g_quick = true;
        if (strcmp(argv[i], "--verbose") == 0) g_verbose = true;
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    }
    if (const char* q = getenv("N4J_TEST_QUICK")) g_quick = g_quick || strcmp(q, "1") == 0;
    const bool require = getenv("N4J_REQUIRE_CUDA") != nullptr && strcmp(getenv("N4J_REQUIRE_CUDA"), "1") == 0;

    std::string why;
    n4j_backend* probe = make_backend(cpu_as_gpu ? N4J_BACKEND_CPU : N4J_BACKEND_CUDA, N4J_DTYPE_F32, 0, &why);
    if (probe == nullptr) {
        printf("cuda_backend_test: no CUDA backend: %s\n", why.c_str());
        if (require) {
            printf("cuda_backend_test: N4J_REQUIRE_CUDA=1, so this is a failure\n");
            return 1;
        }
        printf("cuda_backend_test: skipped\n");
        return 77;
    }
    n4j_backend_info info;
    n4j_backend_get_info(probe, &info);
    printf("cuda_backend_test: %s, %.1f GiB%s\n", info.name, info.total_memory / 1073741824.0, g_quick ? " (quick)" : "");
    n4j_backend_destroy(probe);

    const named_test tests[] = {
        {"memory", test_memory},
        {"convert", test_convert},
        {"embedding", test_embedding},
        {"rmsnorm", test_rmsnorm},
        {"gated_rmsnorm", test_gated_rmsnorm},
        {"matmul", test_matmul},
        {"matmul_edges", test_matmul_edges},
        {"conv1d", test_conv1d},
        {"ssm_scans", test_ssm_scans},
        {"ssm_decode", test_ssm_decode},
        {"mamba_edges", test_mamba_edges},
        {"attention_prefill", test_attention_prefill},
        {"attention_decode", test_attention_decode},
        {"attention_edges", test_attention_edges},
        {"elementwise", test_elementwise},
        {"argmax", test_argmax},
        {"argmax_edges", test_argmax_edges},
        {"embedding_many", test_embedding_many},
        {"error_recovery", test_error_recovery},
        {"f32_residual", test_f32_residual},
    };
    for (int act : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
        const int gpu_kind = cpu_as_gpu ? N4J_BACKEND_CPU : N4J_BACKEND_CUDA;
        pair p;
        p.act = act;
        p.cpu = make_backend(N4J_BACKEND_CPU, N4J_DTYPE_F32, N4J_FLAG_REFERENCE_KERNELS, &why);
        p.gpu = make_backend(gpu_kind, act, 0, &why);
        if (p.cpu == nullptr || p.gpu == nullptr) {
            fprintf(stderr, "FAIL cannot create the backends: %s\n", why.c_str());
            return 1;
        }
        g_pair = &p;
        printf("== CUDA activations %s (tolerance %.0e)\n", dtype_name(act), p.tol());
        for (const named_test& t : tests) {
            if (!only.empty() && std::string(t.name).find(only) == std::string::npos) continue;
            if ((strcmp(t.name, "memory") == 0 || strcmp(t.name, "convert") == 0) && act != N4J_DTYPE_F32) continue;
            if (cpu_as_gpu && (strcmp(t.name, "memory") == 0 || strcmp(t.name, "error_recovery") == 0)) continue;
            const int failures_before = g_failures;
            op_stat st;
            t.fn(st);
            const int32_t sync = n4j_backend_synchronize(p.gpu);
            if (sync != N4J_OK) fail_line("%s: backend error after the test: %s", t.name, n4j_last_error());
            printf("  %-18s %4d cases, worst rel err %.2e  %s\n", t.name, st.cases, st.worst,
                   g_failures == failures_before ? "ok" : "FAILED");
            fflush(stdout);
        }
        if (only.empty() || std::string("ssd_segments").find(only) != std::string::npos || only == "ssm_scans") {
            setenv("N4J_SSD_SEGMENT_BYTES", "20000", 1);
            n4j_backend* seg = make_backend(gpu_kind, act, 0, &why);
            unsetenv("N4J_SSD_SEGMENT_BYTES");
            if (seg == nullptr) {
                fail_line("cannot create the segmented backend: %s", why.c_str());
            } else {
                const int failures_before = g_failures;
                op_stat st;
                test_ssd_segments(st, seg);
                printf("  %-18s %4d cases, worst rel err %.2e  %s\n", "ssd_segments", st.cases, st.worst,
                       g_failures == failures_before ? "ok" : "FAILED");
                n4j_backend_destroy(seg);
            }
        }
        // The same matmul and attention tests through the switches that pick other kernels: CUDA cores only (the
        // debugging path), and cuBLASLt for BF16 x BF16 (where libcublasLt loads).
        struct variant {
            const char* env;
            const char* value;
            const char* name;
        };
        for (const variant& var : {variant{"N4J_CUDA_NO_MMA", "1", "no_mma"},
                                   variant{"N4J_CUDA_GEMM", "cublaslt", "cublaslt"}}) {
            if (cpu_as_gpu) break;
            if (!only.empty() && std::string(var.name).find(only) == std::string::npos && only != "matmul") continue;
            if (strcmp(var.name, "cublaslt") == 0 && act != N4J_DTYPE_BF16) continue;  // cuBLASLt: BF16 activations only
            const char* before = getenv(var.env);
            const std::string saved = before != nullptr ? before : "";
            setenv(var.env, var.value, 1);
            n4j_backend* alt = make_backend(gpu_kind, act, 0, &why);
            if (before != nullptr) {
                setenv(var.env, saved.c_str(), 1);
            } else {
                unsetenv(var.env);
            }
            if (alt == nullptr && strcmp(var.name, "cublaslt") == 0 && why.find("could not be loaded") != std::string::npos) {
                printf("  %-18s skipped: no libcublasLt here (%s)\n", "matmul (cublaslt)", why.c_str());
                continue;
            }
            if (alt == nullptr) {
                fail_line("cannot create a backend with %s=%s: %s", var.env, var.value, why.c_str());
                continue;
            }
            if (strcmp(var.name, "cublaslt") == 0) {
                // The rerun means something only where cuBLASLt really runs: get_info's name says " cublasLt" then.
                n4j_backend_info alt_info;
                EXPECT_OK(n4j_backend_get_info(alt, &alt_info));
                if (strstr(alt_info.name, "cublasLt") == nullptr) {
                    fail_line("N4J_CUDA_GEMM=cublaslt created a backend that does not use cuBLASLt: %s", alt_info.name);
                    n4j_backend_destroy(alt);
                    continue;
                }
            }
            n4j_backend* main_gpu = p.gpu;
            p.gpu = alt;
            g_variant_pass = true;
            for (const named_test& t : tests) {
                const bool picked = strncmp(t.name, "matmul", 6) == 0 ||
                                    (strncmp(t.name, "attention", 9) == 0 && strcmp(var.name, "no_mma") == 0);
                if (!picked) continue;
                const int failures_before = g_failures;
                op_stat st;
                t.fn(st);
                if (n4j_backend_synchronize(alt) != N4J_OK) fail_line("%s (%s): backend error: %s", t.name, var.name, n4j_last_error());
                printf("  %-18s %4d cases, worst rel err %.2e  %s  (%s=%s)\n", t.name, st.cases, st.worst,
                       g_failures == failures_before ? "ok" : "FAILED", var.env, var.value);
                fflush(stdout);
            }
            p.gpu = main_gpu;
            g_variant_pass = false;
            n4j_backend_destroy(alt);
        }
        n4j_backend_destroy(p.gpu);
        n4j_backend_destroy(p.cpu);
        g_pair = nullptr;
    }
    printf("cuda_backend_test: %d checks, %d failed\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
