/*
 * test_w8a8.cpp: FP8 W8A8 on the CPU backend (N4J_FLAG_FP8_W8A8, matmul.cpp's matmul_w8a8_ref / matmul_w8a8_fast).
 *
 *  - The quantizer: w8a8_quantize (the reference, through f32_to_e4m3, which cuda_emulation_test holds bit-exact to
 *    the CUDA quantizer) on hand-checked values (ties to even, subnormals, saturation, NaN), and the branch-free
 *    w8a8_quantize_fast bit-exact to it on a sweep of a million F32 bit patterns and every e4m3 boundary.
 *  - The reference matmul equals, bit for bit, the scalar weight-only reference on the quantized activations with the
 *    scale W.scale * input_scale (the definition, written the other way).
 *  - n4j_matmul with the flag on every fast variant this CPU can run (generic, AVX2, AVX512-BF16 with and without BF16
 *    matmul inputs; the emulated AVX512-BF16 build runs the last in scalar code) against the reference backend with
 *    the flag: awkward shapes, decode and prefill row counts, every epilogue, within 1e-5 of the largest output (the
 *    products are exact; only the order of F32 additions differs), and bitwise equal for 1, 2 and 3 threads.
 *  - BF16 activations, input_scale 0 (weight-only), the flag off (input_scale ignored), bad input_scale (a clear
 *    error), get_info's name, and W8A8 visibly moving outputs.
 */
#include "test_common.h"

#include "cpu/cpu_features.h"
#include "cpu/dtype_scalar.h"
#include "cpu/matmul.h"

using namespace test;

namespace {

constexpr double kTol = 1e-5;

bool same_bits_or_both_nan(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return n4j::cpu::f32_bits(a) == n4j::cpu::f32_bits(b);
}

void test_quantizer() {
    using n4j::cpu::w8a8_quantize;
    using n4j::cpu::w8a8_quantize_fast;
    struct known {
        float x, inv, want;
    } cases[] = {
        {1.0f, 1.0f, 1.0f},
        {1.0625f, 1.0f, 1.0f},        // halfway between 1 and 1.125: to even (1)
        {1.1875f, 1.0f, 1.25f},       // halfway between 1.125 and 1.25: to even (1.25)
        {1.07f, 1.0f, 1.125f},
        {-3.3f, 1.0f, -3.25f},
        {500.0f, 1.0f, 448.0f},       // saturates
        {-1e30f, 1.0f, -448.0f},
        {INFINITY, 1.0f, 448.0f},
        {-INFINITY, 1.0f, -448.0f},
        {460.0f, 1.0f, 448.0f},
        {0.0009765625f, 1.0f, 0.0f},  // 2^-10: halfway between 0 and 2^-9, to even (0)
        {0.0029296875f, 1.0f, 0.00390625f},  // 3 * 2^-10: halfway between 2^-9 and 2^-8, to even (2^-8)
        {0.015f, 1.0f, 0.015625f},    // a subnormal rounding up to the smallest normal 2^-6
        {1e-6f, 1.0f, 0.0f},
        {-1e-6f, 1.0f, -0.0f},
        {2.0f, 0.25f, 0.5f},          // x * inv
        {100.0f, 8.0f, 448.0f},
    };
    for (const known& c : cases) {
        const float got = w8a8_quantize(c.x, c.inv), fast = w8a8_quantize_fast(c.x, c.inv);
        CHECK(n4j::cpu::f32_bits(got) == n4j::cpu::f32_bits(c.want), "w8a8_quantize(%g, %g) = %g, want %g", c.x,
              c.inv, got, c.want);
        CHECK(n4j::cpu::f32_bits(fast) == n4j::cpu::f32_bits(c.want), "w8a8_quantize_fast(%g, %g) = %g, want %g", c.x,
              c.inv, fast, c.want);
    }
    CHECK(isnan(w8a8_quantize(NAN, 1.0f)) && isnan(w8a8_quantize_fast(NAN, 1.0f)) &&
              isnan(w8a8_quantize_fast(-NAN, 3.0f)),
          "NaN must stay NaN");
    // Every bit pattern with stride 4099 (about a million, all exponents), and around every e4m3 value and midpoint.
    int64_t bad = 0;
    for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 4099) {
        const float x = n4j::cpu::f32_from_bits(static_cast<uint32_t>(u));
        if (!same_bits_or_both_nan(w8a8_quantize(x, 1.0f), w8a8_quantize_fast(x, 1.0f))) ++bad;
    }
    const float* table = n4j::cpu::e4m3_table();
    for (int code = 0; code < 256; ++code) {
        const float v = table[code];
        if (isnan(v)) continue;
        const float next = code == 0x7e || code == 0xfe ? v : table[code + 1];
        const float mid = 0.5f * (v + next);
        for (float c : {v, mid, next}) {
            for (int d = -2; d <= 2; ++d) {
                const float x = n4j::cpu::f32_from_bits(n4j::cpu::f32_bits(c) + d);
                if (!same_bits_or_both_nan(w8a8_quantize(x, 1.0f), w8a8_quantize_fast(x, 1.0f))) ++bad;
            }
        }
    }
    rng r(5);
    for (int i = 0; i < 200000; ++i) {
        const float x = r.uniform(-600.0f, 600.0f) * (i % 7 == 0 ? 1e-4f : 1.0f);
        const float inv = 1.0f / r.uniform(0.001f, 3.0f);
        if (!same_bits_or_both_nan(w8a8_quantize(x, inv), w8a8_quantize_fast(x, inv))) ++bad;
    }
    CHECK(bad == 0, "w8a8_quantize_fast differs from w8a8_quantize on %lld inputs", static_cast<long long>(bad));
}

/* F8 weights with a ModelOpt-like input_scale (max |x| / 448 for x in [-1, 1] is about 0.0022). */
weight_buffer make_fp8_weight(rng& r, int32_t O, int32_t K, float scale, float input_scale) {
    weight_buffer w = make_random_weight(r, N4J_DTYPE_F8_E4M3, O, K, -1.0f, 1.0f, scale);
    w.w.input_scale = input_scale;
    return w;
}

void test_reference_definition() {
    rng r(7);
    const int32_t K = 45, O = 13, rows = 5;
    weight_buffer w = make_fp8_weight(r, O, K, 0.37f, 0.0031f);
    const std::vector<float> x = r.vec(static_cast<size_t>(rows * K));
    const float inv = 1.0f / w.w.input_scale;
    std::vector<float> xq(x.size());
    for (size_t i = 0; i < x.size(); ++i) xq[i] = n4j::cpu::w8a8_quantize(x[i], inv);
    n4j_weight ws = w.w;
    ws.scale = w.w.scale * w.w.input_scale;
    for (int32_t epilogue : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
        std::vector<float> want = r.vec(static_cast<size_t>(rows * O)), got = want;
        n4j::cpu::matmul_ref(xq.data(), K, rows, &ws, want.data(), O, epilogue);
        n4j::cpu::matmul_w8a8_ref(x.data(), K, rows, &w.w, got.data(), O, epilogue);
        CHECK(bitwise_equal(want, got), "matmul_w8a8_ref is not the reference on quantized x (epilogue %d)", epilogue);
    }
}

void set_w8a8(n4j_backend* b, bool on) { n4j::cpu::cpu_context_of(b)->fp8_w8a8 = on; }

void test_fast_vs_reference() {
    backends bs;
    set_w8a8(bs.reference(), true);
    for (const auto& v : bs.fast()) set_w8a8(v.backend, true);
    rng r(11);
    const int32_t row_counts[] = {1, 2, 3, 5, 8, 15, 16, 17, 33, 70};
    const int32_t shapes[][2] = {{1, 1}, {7, 3}, {31, 9}, {33, 31}, {64, 65}, {100, 20}, {257, 70}, {520, 130}};
    double worst = 0.0;
    for (auto& shape : shapes) {
        const int32_t K = shape[0], O = shape[1];
        weight_buffer w = make_fp8_weight(r, O, K, 0.43f, 0.0027f);
        for (int32_t rows : row_counts) {
            const int64_t ld_x = K + 3, ld_y = O + 5;
            // activations up to +-1.5: some saturate (1.5 / 0.0027 > 448), some are e4m3 subnormals
            std::vector<float> x = r.vec(static_cast<size_t>(rows * ld_x));
            for (float& e : x) e *= 1.5f;
            const std::vector<float> y0 = r.vec(static_cast<size_t>(rows * ld_y));
            for (int32_t epilogue : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED,
                                     N4J_MATMUL_ADD_TO_RESIDUAL}) {
                std::vector<float> want = y0;
                CHECK_OK(n4j_matmul(bs.reference(), x.data(), ld_x, rows, &w.w, want.data(), ld_y, epilogue));
                for (int bf16 = 0; bf16 < 2; ++bf16) {
                    std::vector<float> first;
                    int previous_simd = -1;
                    for (const auto& v : bs.fast()) {
                        n4j::cpu::cpu_context_of(v.backend)->bf16_matmul = bf16 != 0;
                        std::vector<float> got = y0;
                        CHECK_OK(n4j_matmul(v.backend, x.data(), ld_x, rows, &w.w, got.data(), ld_y, epilogue));
                        n4j::cpu::cpu_context_of(v.backend)->bf16_matmul = false;
                        const double d = rel_diff(want, got);
                        if (d > worst) worst = d;
                        CHECK(d <= kTol, "%s bf16 matmul %d K=%d O=%d rows=%d epilogue=%d: %.3g vs the reference",
                              v.name.c_str(), bf16, K, O, rows, epilogue, d);
                        if (v.simd != previous_simd) {
                            first = got;
                            previous_simd = v.simd;
                        } else {
                            CHECK(bitwise_equal(first, got), "%s K=%d O=%d rows=%d epilogue=%d: the result depends "
                                  "on the thread count", v.name.c_str(), K, O, rows, epilogue);
                        }
                    }
                }
            }
        }
    }
    printf("  W8A8 fast vs reference: max rel diff %.2e over %zu variants\n", worst, bs.fast().size());
}

n4j_backend* make_backend(int32_t flags, int32_t act_dtype, int threads) {
    n4j_backend_options options;
    memset(&options, 0, sizeof(options));
    options.kind = N4J_BACKEND_CPU;
    options.threads = threads;
    options.flags = flags;
    options.activation_dtype = act_dtype;
    n4j_backend* b = nullptr;
    CHECK_OK(n4j_backend_create(&options, &b));
    return b;
}

std::string name_of(n4j_backend* b) {
    n4j_backend_info info;
    if (n4j_backend_get_info(b, &info) != N4J_OK) return "";
    return info.name;
}

void test_api() {
    n4j_backend* on = make_backend(N4J_FLAG_FP8_W8A8, N4J_DTYPE_F32, 2);
    n4j_backend* on_ref = make_backend(N4J_FLAG_FP8_W8A8 | N4J_FLAG_REFERENCE_KERNELS, N4J_DTYPE_F32, 1);
    n4j_backend* off = make_backend(0, N4J_DTYPE_F32, 2);
    n4j_backend* on_bf16 = make_backend(N4J_FLAG_FP8_W8A8, N4J_DTYPE_BF16, 2);
    if (on == nullptr || on_ref == nullptr || off == nullptr || on_bf16 == nullptr) return;
    CHECK(name_of(on).find(" fp8-w8a8") != std::string::npos, "name \"%s\" does not say fp8-w8a8", name_of(on).c_str());
    CHECK(name_of(on_ref).find(" fp8-w8a8") != std::string::npos, "name \"%s\" does not say fp8-w8a8",
          name_of(on_ref).c_str());
    CHECK(name_of(off).find("fp8-w8a8") == std::string::npos, "name \"%s\" says fp8-w8a8", name_of(off).c_str());

    rng r(17);
    const int32_t K = 200, O = 48, rows = 20;
    weight_buffer w = make_fp8_weight(r, O, K, 0.5f, 0.0023f);
    const std::vector<float> x = r.vec(static_cast<size_t>(rows * K));
    std::vector<float> w8a8(static_cast<size_t>(rows * O)), weight_only(w8a8.size()), got(w8a8.size());
    n4j::cpu::matmul_w8a8_ref(x.data(), K, rows, &w.w, w8a8.data(), O, N4J_MATMUL_STORE);
    n4j::cpu::matmul_ref(x.data(), K, rows, &w.w, weight_only.data(), O, N4J_MATMUL_STORE);
    // W8A8 in effect: it moves the outputs (by far more than the order of additions does)
    CHECK(rel_diff(weight_only, w8a8) > 1e-3, "W8A8 does not move the outputs (%.3g)", rel_diff(weight_only, w8a8));
    CHECK_OK(n4j_matmul(on, x.data(), K, rows, &w.w, got.data(), O, N4J_MATMUL_STORE));
    CHECK(rel_diff(w8a8, got) <= kTol, "flag on: %.3g from the W8A8 reference", rel_diff(w8a8, got));
    CHECK_OK(n4j_matmul(on_ref, x.data(), K, rows, &w.w, got.data(), O, N4J_MATMUL_STORE));
    CHECK(bitwise_equal(w8a8, got), "flag on, reference kernels: not matmul_w8a8_ref");
    CHECK_OK(n4j_matmul(off, x.data(), K, rows, &w.w, got.data(), O, N4J_MATMUL_STORE));
    CHECK(rel_diff(weight_only, got) <= kTol, "flag off: %.3g from the weight-only reference",
          rel_diff(weight_only, got));
    // input_scale 0: weight-only with the flag too
    n4j_weight zero = w.w;
    zero.input_scale = 0.0f;
    CHECK_OK(n4j_matmul(on, x.data(), K, rows, &zero, got.data(), O, N4J_MATMUL_STORE));
    CHECK(rel_diff(weight_only, got) <= kTol, "input_scale 0: %.3g from weight-only", rel_diff(weight_only, got));
    // BF16 activations: x rounded to BF16 on the way in, the output rounded to BF16
    {
        std::vector<uint16_t> xb(x.size()), yb(got.size());
        std::vector<float> xr(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            xb[i] = n4j::cpu::f32_to_bf16(x[i]);
            xr[i] = n4j::cpu::bf16_to_f32(xb[i]);
        }
        std::vector<float> want(got.size());
        n4j::cpu::matmul_w8a8_ref(xr.data(), K, rows, &w.w, want.data(), O, N4J_MATMUL_STORE);
        CHECK_OK(n4j_matmul(on_bf16, xb.data(), K, rows, &w.w, yb.data(), O, N4J_MATMUL_STORE));
        double worst = 0.0, top = 0.0;
        for (size_t i = 0; i < want.size(); ++i) {
            worst = fmax(worst, fabs(n4j::cpu::bf16_to_f32(yb[i]) - want[i]));
            top = fmax(top, fabs(want[i]));
        }
        CHECK(worst <= top / 128.0, "BF16 activations: %.3g from the W8A8 reference (max %.3g)", worst, top);
    }
    // bad input_scale: a clear error, with the flag only
    for (float bad : {-0.5f, NAN, INFINITY}) {
        n4j_weight wb = w.w;
        wb.input_scale = bad;
        for (n4j_backend* b : {on, on_ref}) {
            const int32_t rc = n4j_matmul(b, x.data(), K, rows, &wb, got.data(), O, N4J_MATMUL_STORE);
            CHECK(rc == N4J_ERR_INVALID_ARGUMENT && strstr(n4j_last_error(), "input_scale") != nullptr,
                  "input_scale %g: rc %d, \"%s\"", bad, rc, n4j_last_error());
        }
        CHECK_OK(n4j_matmul(off, x.data(), K, rows, &wb, got.data(), O, N4J_MATMUL_STORE));
    }
    // BF16 weights are not affected by the flag (input_scale ignored)
    {
        weight_buffer wb = make_random_weight(r, N4J_DTYPE_BF16, O, K, -1.0f, 1.0f);
        wb.w.input_scale = 0.01f;
        std::vector<float> want(got.size());
        n4j::cpu::matmul_ref(x.data(), K, rows, &wb.w, want.data(), O, N4J_MATMUL_STORE);
        CHECK_OK(n4j_matmul(on, x.data(), K, rows, &wb.w, got.data(), O, N4J_MATMUL_STORE));
        CHECK(rel_diff(want, got) <= kTol, "BF16 weights with the flag: %.3g", rel_diff(want, got));
    }
    n4j_backend_destroy(on);
    n4j_backend_destroy(on_ref);
    n4j_backend_destroy(off);
    n4j_backend_destroy(on_bf16);
}

}  // namespace

int main() {
    test_quantizer();
    test_reference_definition();
    test_fast_vs_reference();
    test_api();
    return finish("test_w8a8");
}
