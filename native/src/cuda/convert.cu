/*
 * convert.cu: dtype conversion of n contiguous elements between F32, BF16, F16 and F8_E4M3.
 *
 * Bit-for-bit the CPU backend's rules (cpu/dtype_scalar.h): every conversion goes through F32, which holds all
 * four formats exactly, so there is one rounding, in the F32 -> target step: round to nearest even; BF16/F16 keep
 * NaN as a quiet NaN with the top payload bits; F16 overflows to infinity and keeps subnormals; E4M3 (OCP E4M3FN)
 * saturates to +-448 (infinity included) and maps NaN to 0x7F|sign. The integer formulations below are written so
 * that the result does not depend on the GPU's own conversion instructions (whose NaN payloads differ).
 * Same dtype: a device-to-device copy (nothing when src == dst). One thread per element, grid-stride.
 */
#include "common.cuh"
#include "context.cuh"
#include "convert.cuh"

namespace n4j {
namespace cuda {

namespace {

__device__ __forceinline__ uint32_t f32_to_bf16_bits(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return ((u >> 16) | 0x0040u) & 0xffffu;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

__device__ __forceinline__ uint32_t f32_to_f16_bits(float f) {
    const uint32_t u = __float_as_uint(f);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | ((a >> 13) & 0x3ffu);
    if (a >= 0x477ff000u) return sign | 0x7c00u;
    if (a >= 0x38800000u) {
        uint32_t r = a - 0x38000000u;
        r = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13;
        return sign | r;
    }
    const uint32_t m = static_cast<uint32_t>(rintf(__uint_as_float(a) * 16777216.0f));
    return sign | m;
}

__device__ __forceinline__ uint32_t f32_to_e4m3_bits(float f) {
    const uint32_t u = __float_as_uint(f);
    const uint32_t sign = (u >> 24) & 0x80u;
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7fu;
    const float magnitude = __uint_as_float(a);
    if (magnitude >= 448.0f) return sign | 0x7eu;
    if (magnitude < 0.015625f) return sign | static_cast<uint32_t>(rintf(magnitude * 512.0f));
    const uint32_t r = (a + 0x7ffffu + ((a >> 20) & 1u)) >> 20;
    return sign | (r - (120u << 3));
}

__device__ __forceinline__ float load_any(const void* src, int dtype, int64_t i) {
    switch (dtype) {
        case N4J_DTYPE_BF16: return bf16_bits_to_f32(static_cast<const uint16_t*>(src)[i]);
        case N4J_DTYPE_F16: return f16_bits_to_f32(static_cast<const uint16_t*>(src)[i]);
        case N4J_DTYPE_F8_E4M3: return e4m3_to_f32(static_cast<const uint8_t*>(src)[i]);
        default: return static_cast<const float*>(src)[i];
    }
}

__device__ __forceinline__ void store_any(void* dst, int dtype, int64_t i, float v) {
    switch (dtype) {
        case N4J_DTYPE_BF16: static_cast<uint16_t*>(dst)[i] = static_cast<uint16_t>(f32_to_bf16_bits(v)); break;
        case N4J_DTYPE_F16: static_cast<uint16_t*>(dst)[i] = static_cast<uint16_t>(f32_to_f16_bits(v)); break;
        case N4J_DTYPE_F8_E4M3: static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(f32_to_e4m3_bits(v)); break;
        default: static_cast<float*>(dst)[i] = v; break;
    }
}

__global__ void convert_kernel(const void* src, int src_dtype, void* dst, int dst_dtype, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        store_any(dst, dst_dtype, i, load_any(src, src_dtype, i));
    }
}

int64_t dtype_bytes(int32_t dtype) {
    switch (dtype) {
        case N4J_DTYPE_F32:
        case N4J_DTYPE_I32: return 4;
        case N4J_DTYPE_BF16:
        case N4J_DTYPE_F16: return 2;
        case N4J_DTYPE_F8_E4M3: return 1;
        default: return 0;
    }
}

bool is_float_dtype(int32_t dtype) {
    return dtype == N4J_DTYPE_F32 || dtype == N4J_DTYPE_BF16 || dtype == N4J_DTYPE_F16 ||
           dtype == N4J_DTYPE_F8_E4M3;
}

}  // namespace

int32_t op_convert(void* vctx, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_convert";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    if (src_dtype == dst_dtype) {
        const int64_t size = dtype_bytes(src_dtype);
        if (size == 0) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "unknown dtype %d", src_dtype);
        if (src == dst) return N4J_OK;
        return ctx->check(cudaMemcpyAsync(dst, src, static_cast<size_t>(n * size), cudaMemcpyDeviceToDevice,
                                          ctx->stream),
                          where);
    }
    if (!is_float_dtype(src_dtype) || !is_float_dtype(dst_dtype)) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "cannot convert dtype %d to dtype %d", src_dtype, dst_dtype);
    }
    const int threads = 256;
    int64_t blocks = ceil_div(n, threads);
    const int64_t cap = static_cast<int64_t>(ctx->sm_count()) * 32;
    if (blocks > cap) blocks = cap;
    convert_kernel<<<static_cast<unsigned>(blocks), threads, 0, ctx->stream>>>(src, src_dtype, dst, dst_dtype, n);
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
