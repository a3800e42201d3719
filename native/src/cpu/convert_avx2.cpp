/*
 * convert_avx2.cpp: F16 <-> F32 with F16C (vcvtph2ps / vcvtps2ph with round-to-nearest-even), 8 at a time;
 * the tail uses the scalar conversions, which match F16C bit for bit (NaN payload handling included).
 * Compiled with -mavx2 -mfma -mf16c; only called when the CPU supports them.
 */
#include <immintrin.h>

#include "cpu/simd_kernels.h"
#include "cpu/dtype_scalar.h"

namespace n4j {
namespace cpu {
namespace avx2 {

void convert_f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void convert_f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
    }
    for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

}  // namespace avx2
}  // namespace cpu
}  // namespace n4j
