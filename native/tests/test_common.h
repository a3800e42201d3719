/*
 * test_common.h: a small harness for the native tests: checks that count and report, deterministic random data,
 * comparison of results relative to the largest reference value, and the CPU backend variants every fast kernel
 * is run on (the scalar reference is the oracle).
 */
#ifndef N4J_TEST_COMMON_H
#define N4J_TEST_COMMON_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <algorithm>
#include <memory>
#include <vector>

#include "backend.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_context.h"
#include "cpu/cpu_features.h"
#include "cpu/dtype_scalar.h"
#include "nemotron4j.h"

namespace test {

struct counters {
    int checks = 0;
    int failures = 0;
};

inline counters& stats() {
    static counters c;
    return c;
}

inline bool check_impl(bool ok, const char* file, int line, const char* format, ...) {
    stats().checks++;
    if (!ok) {
        if (++stats().failures > 40) return ok;  // keep the log readable
        char message[1024];
        va_list args;
        va_start(args, format);
        vsnprintf(message, sizeof(message), format, args);
        va_end(args);
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, message);
    }
    return ok;
}

#define CHECK(cond, ...) ::test::check_impl((cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_OK(call)                                                                                        \
    do {                                                                                                      \
        int32_t _status = (call);                                                                             \
        CHECK(_status == N4J_OK, "%s returned %d: %s", #call, _status, n4j_last_error());                     \
    } while (0)

/* Prints the summary line and returns the process exit code. */
inline int finish(const char* name) {
    printf("%s: %d checks, %d failed\n", name, stats().checks, stats().failures);
    return stats().failures == 0 ? 0 : 1;
}

/* xorshift64*: deterministic across platforms. */
class rng {
public:
    explicit rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1Dull;
    }
    float uniform(float lo, float hi) {
        return lo + (hi - lo) * static_cast<float>((next() >> 40) * (1.0 / 16777216.0));
    }
    int32_t below(int32_t n) { return static_cast<int32_t>(next() % static_cast<uint64_t>(n)); }
    std::vector<float> vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
        std::vector<float> v(n);
        for (auto& x : v) x = uniform(lo, hi);
        return v;
    }

private:
    uint64_t state_;
};

/* max |a - b| / max(max |ref|, floor); NaN if shapes differ or a value is NaN. */
inline double rel_diff(const float* ref, const float* got, size_t n, double floor = 1e-30) {
    double max_ref = 0.0, max_diff = 0.0;
    for (size_t i = 0; i < n; ++i) {
        if (isnan(ref[i]) != isnan(got[i])) return NAN;
        if (isnan(ref[i])) continue;
        max_ref = fmax(max_ref, fabs(static_cast<double>(ref[i])));
        max_diff = fmax(max_diff, fabs(static_cast<double>(ref[i]) - static_cast<double>(got[i])));
    }
    return max_diff / fmax(max_ref, floor);
}

inline double rel_diff(const std::vector<float>& ref, const std::vector<float>& got) {
    if (ref.size() != got.size()) return NAN;
    return rel_diff(ref.data(), got.data(), ref.size());
}

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/* A CPU backend and how it computes. */
struct variant {
    std::string name;
    n4j_backend* backend = nullptr;
    int simd = 0;
};

inline n4j_backend* make_cpu_backend(int threads, bool reference, int simd_level) {
    n4j_backend_options options;
    memset(&options, 0, sizeof(options));
    options.kind = N4J_BACKEND_CPU;
    options.threads = threads;
    options.flags = reference ? N4J_FLAG_REFERENCE_KERNELS : 0;
    options.activation_dtype = N4J_DTYPE_F32;
    n4j_backend* backend = nullptr;
    if (n4j_backend_create(&options, &backend) != N4J_OK) {
        fprintf(stderr, "cannot create a CPU backend: %s\n", n4j_last_error());
        return nullptr;
    }
    if (!reference) n4j::cpu::cpu_context_of(backend)->simd = static_cast<n4j::cpu::simd_level>(simd_level);
    return backend;
}

/* The reference backend plus every fast variant this CPU can run, with 1, 2 and 3 threads. */
class backends {
public:
    backends() {
        reference_ = make_cpu_backend(1, true, 0);
        add("generic/1t", 1, n4j::cpu::SIMD_GENERIC);
        add("generic/2t", 2, n4j::cpu::SIMD_GENERIC);
        if (n4j::cpu::cpu_has_avx2_fma_f16c()) {
            add("avx2/1t", 1, n4j::cpu::SIMD_AVX2);
            add("avx2/2t", 2, n4j::cpu::SIMD_AVX2);
            add("avx2/3t", 3, n4j::cpu::SIMD_AVX2);
        }
        if (n4j::cpu::cpu_has_avx512_bf16()) {
            add("avx512bf16/1t", 1, n4j::cpu::SIMD_AVX512_BF16);
            add("avx512bf16/2t", 2, n4j::cpu::SIMD_AVX512_BF16);
            add("avx512bf16/3t", 3, n4j::cpu::SIMD_AVX512_BF16);
        }
    }
    ~backends() {
        n4j_backend_destroy(reference_);
        for (auto& v : fast_) n4j_backend_destroy(v.backend);
    }
    n4j_backend* reference() const { return reference_; }
    const std::vector<variant>& fast() const { return fast_; }

private:
    void add(const char* name, int threads, int simd) {
        variant v;
        v.name = name;
        v.backend = make_cpu_backend(threads, false, simd);
        v.simd = simd;
        fast_.push_back(v);
    }
    n4j_backend* reference_ = nullptr;
    std::vector<variant> fast_;
};

/* Per-op statistics for the summary: cases run and the largest relative difference to the reference. */
struct op_stats {
    int cases = 0;
    double max_rel = 0.0;
};

/*
 * Runs `run(backend)` (which returns every output of the op, states included, as floats) on the reference and on
 * every fast variant: each must be within `tol` of the reference (relative to the largest reference value), and
 * variants of the same SIMD level must agree bit for bit whatever their thread count.
 */
template <class F>
void compare_variants(const backends& all, op_stats& st, const std::string& label, F run, double tol) {
    const std::vector<float> ref = run(all.reference());
    std::vector<float> first_by_simd[n4j::cpu::kSimdLevels];
    st.cases++;
    for (const variant& v : all.fast()) {
        const std::vector<float> got = run(v.backend);
        const double d = rel_diff(ref, got);
        if (!(d <= st.max_rel)) st.max_rel = isnan(d) ? st.max_rel : d;
        CHECK(d <= tol, "%s [%s]: max |fast - ref| / max |ref| = %.3g > %.3g", label.c_str(), v.name.c_str(), d, tol);
        std::vector<float>& first = first_by_simd[v.simd];
        if (first.empty()) {
            first = got;
        } else {
            CHECK(bitwise_equal(first, got), "%s [%s]: result depends on the thread count", label.c_str(),
                  v.name.c_str());
        }
    }
}

inline void print_stats(const char* op, const op_stats& st) {
    printf("  %-22s %5d cases, max rel diff vs reference %.2e\n", op, st.cases, st.max_rel);
}

inline n4j_weight make_weight(const void* data, int32_t dtype, int32_t rows, int32_t cols, float scale = 1.0f) {
    n4j_weight w;
    memset(&w, 0, sizeof(w));
    w.data = data;
    w.dtype = dtype;
    w.rows = rows;
    w.cols = cols;
    w.scale = scale;
    return w;
}

/* Weight storage in a dtype, built from random F32 values. */
struct weight_buffer {
    std::vector<uint8_t> bytes;
    n4j_weight w;
};

inline weight_buffer make_random_weight(rng& r, int32_t dtype, int32_t rows, int32_t cols, float lo, float hi,
                                        float scale = 1.0f) {
    weight_buffer b;
    const size_t n = static_cast<size_t>(rows) * cols;
    switch (dtype) {
        case N4J_DTYPE_BF16: {
            b.bytes.resize(n * 2);
            uint16_t* d = reinterpret_cast<uint16_t*>(b.bytes.data());
            for (size_t i = 0; i < n; ++i) d[i] = n4j::cpu::f32_to_bf16(r.uniform(lo, hi));
            break;
        }
        case N4J_DTYPE_F8_E4M3: {
            b.bytes.resize(n);
            for (size_t i = 0; i < n; ++i) b.bytes[i] = n4j::cpu::f32_to_e4m3(r.uniform(lo, hi));
            break;
        }
        case N4J_DTYPE_Q8:
        case N4J_DTYPE_Q4: {
            // random quants; scales that make the values span about [lo, hi] (Q4: unused record entries stay 0)
            const bool q8 = dtype == N4J_DTYPE_Q8;
            const size_t quant_bytes = q8 ? n : n / 2;
            const size_t nsb = (static_cast<size_t>(cols) + 255) / 256;
            b.bytes.assign(q8 ? n + static_cast<size_t>(rows) * (cols / 32) * 2 : quant_bytes + rows * nsb * 20, 0);
            for (size_t i = 0; i < quant_bytes; ++i) {
                b.bytes[i] = q8 ? static_cast<uint8_t>(static_cast<int8_t>(static_cast<int32_t>(r.below(255)) - 127))
                                : static_cast<uint8_t>(r.below(256));
            }
            const float amax = fmaxf(fabsf(lo), fabsf(hi));
            if (q8) {
                for (size_t k = 0; k < static_cast<size_t>(rows) * (cols / 32); ++k) {
                    const uint16_t h = n4j::cpu::f32_to_f16(amax / 127.0f * r.uniform(0.5f, 1.0f));
                    memcpy(b.bytes.data() + n + 2 * k, &h, 2);
                }
            } else {
                for (size_t k = 0; k < static_cast<size_t>(rows) * nsb; ++k) {
                    uint8_t* rec = b.bytes.data() + quant_bytes + 20 * k;
                    const uint16_t hd = n4j::cpu::f32_to_f16(2.0f * amax / 15.0f / 255.0f);
                    const uint16_t hm = n4j::cpu::f32_to_f16(amax / 255.0f);
                    memcpy(rec, &hd, 2);
                    memcpy(rec + 2, &hm, 2);
                    const size_t left = static_cast<size_t>(cols) - (k % nsb) * 256;
                    const size_t nsub = left >= 256 ? 8 : left / 32;
                    for (size_t j = 0; j < nsub; ++j) {
                        rec[4 + j] = static_cast<uint8_t>(128 + r.below(128));
                        rec[12 + j] = static_cast<uint8_t>(128 + r.below(128));
                    }
                }
            }
            break;
        }
        case N4J_DTYPE_Q6: {
            // random 6-bit quants (every byte pattern is valid), then F16 block scales spanning about [lo, hi]
            const size_t quant_bytes = n / 4 * 3;
            b.bytes.assign(quant_bytes + static_cast<size_t>(rows) * (cols / 32) * 2, 0);
            for (size_t i = 0; i < quant_bytes; ++i) b.bytes[i] = static_cast<uint8_t>(r.below(256));
            const float amax = fmaxf(fabsf(lo), fabsf(hi));
            for (size_t k = 0; k < static_cast<size_t>(rows) * (cols / 32); ++k) {
                const uint16_t h = n4j::cpu::f32_to_f16(amax / 32.0f * r.uniform(0.5f, 1.0f));
                memcpy(b.bytes.data() + quant_bytes + 2 * k, &h, 2);
            }
            break;
        }
        default: {
            b.bytes.resize(n * 4);
            float* d = reinterpret_cast<float*>(b.bytes.data());
            for (size_t i = 0; i < n; ++i) d[i] = r.uniform(lo, hi);
            break;
        }
    }
    b.w = make_weight(b.bytes.data(), dtype, rows, cols, scale);
    return b;
}

inline const char* dtype_label(int32_t dtype) {
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

}  // namespace test

#endif /* N4J_TEST_COMMON_H */
