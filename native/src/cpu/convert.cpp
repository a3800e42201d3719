/*
 * convert.cpp: dtype conversion of n contiguous elements between F32, BF16, F16 and F8_E4M3.
 *
 * Every conversion goes through F32, which holds BF16, F16 and E4M3 values exactly, so there is exactly one
 * rounding (in the F32 -> target step, round to nearest even; E4M3 saturates). The rules are in dtype_scalar.h.
 * The fast variant splits n into fixed slices of 64Ki elements over the thread pool and uses F16C for F16 when the
 * CPU has it (F16C rounds to nearest even like the scalar code, so results are bitwise identical).
 */
#include "cpu/convert.h"

#include <string.h>

#include "cpu/simd_kernels.h"
#include "cpu/dtype_scalar.h"

namespace n4j {
namespace cpu {

const float* e4m3_table() {
    static const struct table_holder {
        float values[256];
        table_holder() {
            for (int i = 0; i < 256; ++i) values[i] = e4m3_to_f32(static_cast<uint8_t>(i));
        }
    } holder;
    return holder.values;
}

namespace {

inline float load_as_f32(const void* src, int32_t dtype, int64_t i) {
    switch (dtype) {
        case N4J_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
        case N4J_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
        case N4J_DTYPE_F8_E4M3: return e4m3_to_f32(static_cast<const uint8_t*>(src)[i]);
        default: return static_cast<const float*>(src)[i];
    }
}

inline void store_from_f32(void* dst, int32_t dtype, int64_t i, float v) {
    switch (dtype) {
        case N4J_DTYPE_BF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v); break;
        case N4J_DTYPE_F16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(v); break;
        case N4J_DTYPE_F8_E4M3: static_cast<uint8_t*>(dst)[i] = f32_to_e4m3(v); break;
        default: static_cast<float*>(dst)[i] = v; break;
    }
}

/* One slice of the fast conversion: [begin, end). */
void convert_slice_fast(simd_level simd, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype,
                        int64_t begin, int64_t end) {
    const int64_t n = end - begin;
    if (src_dtype == dst_dtype) {
        const int64_t size = dtype_size(src_dtype);
        if (src != dst) {
            memmove(static_cast<char*>(dst) + begin * size, static_cast<const char*>(src) + begin * size,
                    static_cast<size_t>(n * size));
        }
        return;
    }
    if (src_dtype == N4J_DTYPE_BF16 && dst_dtype == N4J_DTYPE_F32) {
        const uint16_t* s = static_cast<const uint16_t*>(src) + begin;
        float* d = static_cast<float*>(dst) + begin;
        for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
        return;
    }
    if (src_dtype == N4J_DTYPE_F32 && dst_dtype == N4J_DTYPE_BF16) {
        const float* s = static_cast<const float*>(src) + begin;
        uint16_t* d = static_cast<uint16_t*>(dst) + begin;
        for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
        return;
    }
    if (simd >= SIMD_AVX2 && src_dtype == N4J_DTYPE_F16 && dst_dtype == N4J_DTYPE_F32) {
        avx2::convert_f16_to_f32(static_cast<const uint16_t*>(src) + begin, static_cast<float*>(dst) + begin, n);
        return;
    }
    if (simd >= SIMD_AVX2 && src_dtype == N4J_DTYPE_F32 && dst_dtype == N4J_DTYPE_F16) {
        avx2::convert_f32_to_f16(static_cast<const float*>(src) + begin, static_cast<uint16_t*>(dst) + begin, n);
        return;
    }
    if (src_dtype == N4J_DTYPE_F8_E4M3 && dst_dtype == N4J_DTYPE_F32) {
        const float* table = e4m3_table();
        const uint8_t* s = static_cast<const uint8_t*>(src) + begin;
        float* d = static_cast<float*>(dst) + begin;
        for (int64_t i = 0; i < n; ++i) d[i] = table[s[i]];
        return;
    }
    for (int64_t i = begin; i < end; ++i) store_from_f32(dst, dst_dtype, i, load_as_f32(src, src_dtype, i));
}

}  // namespace

void convert_ref(const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n) {
    for (int64_t i = 0; i < n; ++i) store_from_f32(dst, dst_dtype, i, load_as_f32(src, src_dtype, i));
}

void convert_fast(context* ctx, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n) {
    const int64_t slice = 65536;
    const int64_t slices = (n + slice - 1) / slice;
    // In place (src == dst, same element size) must run front to back in one piece.
    const bool in_place = src == dst;
    if (slices == 1 || in_place) {
        convert_slice_fast(ctx->simd, src, src_dtype, dst, dst_dtype, 0, n);
        return;
    }
    const simd_level simd = ctx->simd;
    auto task = [&](int64_t s, int) {
        const int64_t begin = s * slice;
        const int64_t end = begin + slice < n ? begin + slice : n;
        convert_slice_fast(simd, src, src_dtype, dst, dst_dtype, begin, end);
    };
    parallel_for(ctx->workers(), slices, task);
}

}  // namespace cpu
}  // namespace n4j
