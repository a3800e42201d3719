/*
 * test_convert.cpp: dtype conversions (n4j_convert and the scalar helpers the kernels use).
 *  - BF16 -> F32 exhaustive (a shift), F32 -> BF16 round-to-nearest-even on ties, carries and NaN;
 *  - F16 <-> F32: every one of the 65536 halves round-trips; rounding of ties, subnormals and overflow;
 *  - F8_E4M3: all 256 codes decode per the OCP spec (bias 7, no infinities, 0x7F/0xFF NaN, max 448) and
 *    round-trip; saturation and ties on encode; the AVX2 matmul's in-register E4M3 decode equals the table;
 *  - every fast variant of n4j_convert is bitwise equal to the reference, for every dtype pair, awkward n.
 */
#include "test_common.h"

using namespace test;
using n4j::cpu::bf16_to_f32;
using n4j::cpu::e4m3_to_f32;
using n4j::cpu::f16_to_f32;
using n4j::cpu::f32_bits;
using n4j::cpu::f32_from_bits;
using n4j::cpu::f32_to_bf16;
using n4j::cpu::f32_to_e4m3;
using n4j::cpu::f32_to_f16;

static void test_bf16() {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        if (f32_bits(bf16_to_f32(static_cast<uint16_t>(h))) != (h << 16)) ++bad;
    }
    CHECK(bad == 0, "bf16 -> f32 is not a 16-bit shift for %d values", bad);
    // Ties go to even, carries propagate into the exponent, NaN stays NaN.
    CHECK(f32_to_bf16(f32_from_bits(0x3f808000u)) == 0x3f80, "tie to even (down)");
    CHECK(f32_to_bf16(f32_from_bits(0x3f818000u)) == 0x3f82, "tie to even (up)");
    CHECK(f32_to_bf16(f32_from_bits(0x3f808001u)) == 0x3f81, "above tie rounds up");
    CHECK(f32_to_bf16(f32_from_bits(0x3fffffffu)) == 0x4000, "carry into exponent");
    CHECK(f32_to_bf16(f32_from_bits(0x7f7fffffu)) == 0x7f80, "max float rounds to inf");
    CHECK(f32_to_bf16(-0.0f) == 0x8000, "negative zero");
    uint16_t nan = f32_to_bf16(f32_from_bits(0x7f800001u));
    CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0, "signalling NaN stays NaN (0x%04x)", nan);
}

static void test_f16() {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t x = static_cast<uint16_t>(h);
        const bool is_nan = (x & 0x7c00) == 0x7c00 && (x & 0x3ff) != 0;
        const uint16_t back = f32_to_f16(f16_to_f32(x));
        if (is_nan ? !isnan(f16_to_f32(x)) : back != x) ++bad;
    }
    CHECK(bad == 0, "f16 -> f32 -> f16 round trip fails for %d values", bad);
    CHECK(f16_to_f32(0x3c00) == 1.0f && f16_to_f32(0x0001) == 5.9604644775390625e-8f && f16_to_f32(0x7bff) == 65504.0f,
          "f16 decode of 1, smallest subnormal, max");
    CHECK(f32_to_f16(1.0f + 1.0f / 2048.0f) == 0x3c00, "f16 tie to even (down)");
    CHECK(f32_to_f16(1.0f + 3.0f / 2048.0f) == 0x3c02, "f16 tie to even (up)");
    CHECK(f32_to_f16(65519.0f) == 0x7bff && f32_to_f16(65520.0f) == 0x7c00, "f16 overflow threshold");
    CHECK(f32_to_f16(2.9802322387695312e-8f) == 0x0000, "half of the smallest subnormal ties to zero");
    CHECK(f32_to_f16(2.9802322387695312e-8f * 1.5f) == 0x0001, "above half rounds to the smallest subnormal");
    CHECK(f32_to_f16(1023.0f * 5.9604644775390625e-8f) == 0x03ff, "largest subnormal");
    CHECK(f32_to_f16(1023.5f * 5.9604644775390625e-8f) == 0x0400, "tie above the largest subnormal -> smallest normal");
}

static void test_e4m3() {
    // Spot values from the OCP FP8 spec.
    CHECK(e4m3_to_f32(0x00) == 0.0f && e4m3_to_f32(0x80) == 0.0f && signbit(e4m3_to_f32(0x80)), "zeros");
    CHECK(e4m3_to_f32(0x01) == 0.001953125f, "smallest subnormal 2^-9");
    CHECK(e4m3_to_f32(0x07) == 0.013671875f, "largest subnormal 7 * 2^-9");
    CHECK(e4m3_to_f32(0x08) == 0.015625f, "smallest normal 2^-6");
    CHECK(e4m3_to_f32(0x38) == 1.0f, "one");
    CHECK(e4m3_to_f32(0x7e) == 448.0f && e4m3_to_f32(0xfe) == -448.0f, "max 448");
    CHECK(isnan(e4m3_to_f32(0x7f)) && isnan(e4m3_to_f32(0xff)), "0x7F and 0xFF are NaN");
    CHECK(!isinf(e4m3_to_f32(0x78)) && e4m3_to_f32(0x78) == 256.0f, "no infinities (0x78 = 256)");
    int bad = 0;
    for (int b = 0; b < 256; ++b) {
        const float v = e4m3_to_f32(static_cast<uint8_t>(b));
        if (isnan(v)) continue;
        if (f32_to_e4m3(v) != b && !(v == 0.0f && (b & 0x7f) == 0 && f32_to_e4m3(v) == (b & 0x80))) ++bad;
        if (n4j::cpu::e4m3_table()[b] != v) ++bad;
    }
    CHECK(bad == 0, "e4m3 round trip / table mismatch for %d codes", bad);
    CHECK(f32_to_e4m3(1000.0f) == 0x7e && f32_to_e4m3(-1e30f) == 0xfe && f32_to_e4m3(INFINITY) == 0x7e,
          "encode saturates to +-448");
    CHECK((f32_to_e4m3(NAN) & 0x7f) == 0x7f, "NaN encodes to NaN");
    CHECK(f32_to_e4m3(1.0625f) == 0x38 && f32_to_e4m3(1.1875f) == 0x3a, "e4m3 ties to even");
    CHECK(f32_to_e4m3(0.0009765625f) == 0x00 && f32_to_e4m3(0.0029296875f) == 0x02, "subnormal ties to even");
    CHECK(f32_to_e4m3(464.0f) == 0x7e, "464 saturates (no NaN from overflow)");
}

/* The AVX2 matmul decodes E4M3 in registers: a one-hot x picks single weights; compare with the table. */
static void test_e4m3_matmul_decode(backends& all) {
    std::vector<uint8_t> codes(256 * 9);  // 9 columns: 8 through the vector path, 1 through the scalar tail
    for (int r = 0; r < 256; ++r)
        for (int c = 0; c < 9; ++c) codes[r * 9 + c] = static_cast<uint8_t>((r + c * 37) & 0xff);
    n4j_weight w = make_weight(codes.data(), N4J_DTYPE_F8_E4M3, 256, 9);
    for (const variant& v : all.fast()) {
        int bad = 0;
        for (int col = 0; col < 9; ++col) {
            std::vector<float> x(9, 0.0f), y(256);
            x[col] = 1.0f;
            CHECK_OK(n4j_matmul(v.backend, x.data(), 9, 1, &w, y.data(), 256, 0));
            for (int r = 0; r < 256; ++r) {
                const float expect = e4m3_to_f32(codes[r * 9 + col]) * 1.0f + 0.0f;
                // 0 * NaN = NaN: every row that holds a NaN code anywhere is NaN in y.
                bool row_has_nan = false;
                for (int c = 0; c < 9; ++c) row_has_nan |= (codes[r * 9 + c] & 0x7f) == 0x7f;
                if (row_has_nan) {
                    if (!isnan(y[r])) ++bad;
                } else if (f32_bits(y[r]) != f32_bits(expect) && !(y[r] == 0.0f && expect == 0.0f)) {
                    ++bad;
                }
            }
        }
        CHECK(bad == 0, "%s: matmul e4m3 decode differs from the table in %d places", v.name.c_str(), bad);
    }
}

static void fill_random_bytes(rng& r, int32_t dtype, std::vector<uint8_t>& bytes, int64_t n) {
    bytes.assign(static_cast<size_t>(n) * 4, 0);
    for (int64_t i = 0; i < n; ++i) {
        const float v = r.uniform(-600.0f, 600.0f) * (r.below(4) == 0 ? 1e-4f : 1.0f);
        switch (dtype) {
            case N4J_DTYPE_F32: reinterpret_cast<float*>(bytes.data())[i] = v; break;
            case N4J_DTYPE_BF16: reinterpret_cast<uint16_t*>(bytes.data())[i] = f32_to_bf16(v); break;
            case N4J_DTYPE_F16: reinterpret_cast<uint16_t*>(bytes.data())[i] = f32_to_f16(v * 50.0f); break;
            default: bytes[i] = f32_to_e4m3(v); break;
        }
    }
}

static void test_convert_variants(backends& all) {
    rng r(7);
    const int32_t dtypes[] = {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F16, N4J_DTYPE_F8_E4M3};
    const int64_t sizes[] = {1, 7, 8, 9, 33, 65536 + 13, 200003};
    for (int32_t src_dtype : dtypes) {
        for (int32_t dst_dtype : dtypes) {
            for (int64_t n : sizes) {
                const size_t out_bytes = static_cast<size_t>(n) * (dst_dtype == N4J_DTYPE_F32 ? 4 : dst_dtype == N4J_DTYPE_F8_E4M3 ? 1 : 2);
                std::vector<uint8_t> src, ref(out_bytes, 0xAB), got(out_bytes);
                fill_random_bytes(r, src_dtype, src, n);
                CHECK_OK(n4j_convert(all.reference(), src.data(), src_dtype, ref.data(), dst_dtype, n));
                for (const variant& v : all.fast()) {
                    std::fill(got.begin(), got.end(), 0xAB);
                    CHECK_OK(n4j_convert(v.backend, src.data(), src_dtype, got.data(), dst_dtype, n));
                    CHECK(memcmp(ref.data(), got.data(), got.size()) == 0, "%s: convert %s -> %s n=%lld differs",
                          v.name.c_str(), dtype_label(src_dtype), dtype_label(dst_dtype), static_cast<long long>(n));
                }
            }
        }
    }
    // In place, same element size.
    std::vector<float> data = r.vec(1001, -3.0f, 3.0f), copy = data;
    CHECK_OK(n4j_convert(all.fast().back().backend, data.data(), N4J_DTYPE_F32, data.data(), N4J_DTYPE_F32, 1001));
    CHECK(bitwise_equal(data, copy), "in-place F32 -> F32 keeps the data");
}

int main() {
    backends all;
    test_bf16();
    test_f16();
    test_e4m3();
    test_e4m3_matmul_decode(all);
    test_convert_variants(all);
    return finish("test_convert");
}
