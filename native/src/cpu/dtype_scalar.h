/*
 * dtype_scalar.h: scalar conversions between F32 and BF16 / F16 / F8_E4M3, and element access to n4j_weight.
 *
 * - BF16 -> F32 is exact (a 16-bit shift). F32 -> BF16 rounds to nearest, ties to even; NaN stays a (quiet) NaN.
 * - F16 (IEEE binary16) both ways, round to nearest even, subnormals kept, overflow to infinity.
 * - F8_E4M3 per the OCP FP8 spec ("E4M3FN"): 1 sign, 4 exponent bits with bias 7, 3 mantissa bits, no infinities,
 *   0x7F and 0xFF are NaN, largest finite value 448, subnormals m * 2^-9. F32 -> E4M3 rounds to nearest even and
 *   saturates to +-448 (also for infinities; NVIDIA's "satfinite" conversion); NaN maps to NaN.
 *
 * Everything here is `static inline` on purpose: each translation unit gets a private copy, so the copies compiled
 * with -mavx2 in *_avx2.cpp files can never be picked by the linker for baseline code.
 */
#ifndef N4J_CPU_DTYPE_SCALAR_H
#define N4J_CPU_DTYPE_SCALAR_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nemotron4j.h"

namespace n4j {
namespace cpu {

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {
        float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // m * 2^-24, exact
        return f32_from_bits(f32_bits(magnitude) | sign);
    }
    if (exponent == 31) {  // infinity, or NaN made quiet with its payload kept (what F16C's vcvtph2ps does)
        return f32_from_bits(sign | 0x7f800000u | (mantissa != 0 ? 0x00400000u : 0u) | (mantissa << 13));
    }
    return f32_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

static inline uint16_t f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) {  // NaN: quiet, top payload bits kept (what F16C's vcvtps2ph does)
        return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    }
    if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u); // >= 65520 rounds to infinity
    if (a >= 0x38800000u) {                                             // normal binary16 range (>= 2^-14)
        uint32_t r = a - 0x38000000u;                                   // rebias the exponent by 127 - 15
        r = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13;
        return static_cast<uint16_t>(sign | r);
    }
    // Subnormal binary16: the value is m * 2^-24 with m rounded to nearest even (m = 1024 is the smallest normal).
    uint32_t m = static_cast<uint32_t>(rintf(f32_from_bits(a) * 16777216.0f));
    return static_cast<uint16_t>(sign | m);
}

static inline float e4m3_to_f32(uint8_t b) {
    uint32_t exponent = (b >> 3) & 0xfu;
    uint32_t mantissa = b & 0x7u;
    float magnitude;
    if (exponent == 15 && mantissa == 7) {
        magnitude = NAN;
    } else if (exponent == 0) {
        magnitude = static_cast<float>(mantissa) * 0.001953125f;  // m * 2^-9
    } else {
        magnitude = ldexpf(static_cast<float>(8u + mantissa), static_cast<int>(exponent) - 10);
    }
    return (b & 0x80u) ? -magnitude : magnitude;
}

static inline uint8_t f32_to_e4m3(float f) {
    uint32_t u = f32_bits(f);
    uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);  // NaN
    float magnitude = f32_from_bits(a);
    if (magnitude >= 448.0f) return static_cast<uint8_t>(sign | 0x7eu);  // saturate (infinity included)
    if (magnitude < 0.015625f) {                                          // below 2^-6: subnormal, step 2^-9
        uint32_t m = static_cast<uint32_t>(rintf(magnitude * 512.0f)); // m = 8 is the smallest normal, 0x08
        return static_cast<uint8_t>(sign | m);
    }
    // Normal: round the F32 mantissa to 3 bits (nearest even), then rebias the exponent from 127 to 7.
    uint32_t r = (a + 0x7ffffu + ((a >> 20) & 1u)) >> 20;
    return static_cast<uint8_t>(sign | (r - (120u << 3)));
}

/*
 * The W8A8 activation quantizer (N4J_FLAG_FP8_W8A8): the e4m3 value of satfinite_e4m3(x * inv_scale), inv_scale being
 * 1 / input_scale rounded once to F32; |x * inv_scale| >= 448 gives +-448, NaN stays NaN. The CUDA quantizer
 * (matmul.cuh's w8a8_quantize) is held bit-exact to it by cuda_emulation_test (NaN aside, whose sign it drops).
 */
static inline float w8a8_quantize(float x, float inv_scale) { return e4m3_to_f32(f32_to_e4m3(x * inv_scale)); }

/* The 256 values of E4M3 as F32 (unscaled), built once. */
const float* e4m3_table();

/* Raw (unscaled) value of element `index` of a weight stored in `dtype` (F32, BF16 or F8_E4M3). */
static inline float weight_raw(const void* data, int32_t dtype, int64_t index) {
    switch (dtype) {
        case N4J_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t*>(data)[index]);
        case N4J_DTYPE_F8_E4M3: return e4m3_to_f32(static_cast<const uint8_t*>(data)[index]);
        default: return static_cast<const float*>(data)[index];
    }
}

/* Real value (raw * scale) of element `index` of a weight. */
static inline float weight_value(const n4j_weight* w, int64_t index) {
    return weight_raw(w->data, w->dtype, index) * w->scale;
}

/* Bytes per element of a dtype. */
static inline int64_t dtype_size(int32_t dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32: return 4;
        case N4J_DTYPE_BF16: return 2;
        case N4J_DTYPE_F16: return 2;
        case N4J_DTYPE_F8_E4M3: return 1;
        case N4J_DTYPE_I32: return 4;
        default: return 0;
    }
}

/*
 * Converts `n` elements of a weight, starting at element `offset`, to F32 real values (raw * scale; the multiply
 * is skipped for scale 1). Used by the fast kernels to expand small vectors (norm weights, biases) once per call.
 */
static inline void weight_to_f32(const n4j_weight* w, int64_t offset, int64_t n, float* out) {
    const float scale = w->scale;
    switch (w->dtype) {
        case N4J_DTYPE_BF16: {
            const uint16_t* src = static_cast<const uint16_t*>(w->data) + offset;
            for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(src[i]);
            break;
        }
        case N4J_DTYPE_F8_E4M3: {
            const float* table = e4m3_table();
            const uint8_t* src = static_cast<const uint8_t*>(w->data) + offset;
            for (int64_t i = 0; i < n; ++i) out[i] = table[src[i]];
            break;
        }
        default: {
            const float* src = static_cast<const float*>(w->data) + offset;
            for (int64_t i = 0; i < n; ++i) out[i] = src[i];
            break;
        }
    }
    if (scale != 1.0f) {
        for (int64_t i = 0; i < n; ++i) out[i] *= scale;
    }
}

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_DTYPE_SCALAR_H */
