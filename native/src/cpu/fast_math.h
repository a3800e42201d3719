/*
 * fast_math.h: branch-free float functions that vectorize inside `#pragma omp simd` loops, for the fast kernels
 * (the reference kernels use libm's expf/log1pf).
 *
 * exp_fast: Cody-Waite range reduction x = n*ln2 + r (ln2 split in two so n*ln2_hi is exact), a degree-6
 * polynomial for e^r on |r| <= ln2/2 (Cephes' expf coefficients; about 1 ulp), and 2^n built in the exponent bits.
 * Inputs below -87.3 return 0 (instead of a subnormal), inputs above 88.3 are clamped (e^88.3 ~ 2.2e38).
 *
 * softplus is log1p(exp(x)) evaluated as max(x, 0) + log1p(exp(-|x|)): never exp of a large positive number.
 */
#ifndef N4J_CPU_FAST_MATH_H
#define N4J_CPU_FAST_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

namespace n4j {
namespace cpu {

static inline float exp_fast(float x) {
    const float lo = -87.3f;
    const float hi = 88.3f;
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    // n = round(x / ln2) by the 1.5 * 2^23 shifter (exact for |n| < 2^22; no float -> int rounding branch).
    const float t = xc * 1.44269504088896341f;
    const float nf = (t + 12582912.0f) - 12582912.0f;
    const int32_t n = static_cast<int32_t>(nf);
    float r = xc - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * (r * r) + r + 1.0f;
    const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof(two_n));
    return x < lo ? 0.0f : e * two_n;
}

/* x * sigmoid(x) with exp_fast. */
static inline float silu_fast(float x) { return x / (1.0f + exp_fast(-x)); }

/* Reference SiLU with libm. */
static inline float silu_ref(float x) { return x / (1.0f + expf(-x)); }

/* Stable softplus with libm: max(x,0) + log1p(exp(-|x|)). */
static inline float softplus_ref(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_FAST_MATH_H */
