/*
 * shadow/common.cuh: the CUDA emulator's stand-in for native/src/cuda/common.cuh (cuda_emulation_test).
 *
 * The emulated kernel files include "common.cuh" and find this file first (it is first on their include path). It
 * offers the same API with the same semantics, on top of emu.h instead of <cuda_runtime.h>, <cuda_bf16.h> and
 * <cuda_fp16.h>:
 *   - bf16 (__nv_bfloat16): a 16-bit struct; __float2bfloat16_rn rounds to nearest even and turns every NaN into
 *     the canonical quiet NaN 0x7FFF, as CUDA does (the CPU library keeps the NaN's payload instead: only NaN-ness
 *     can be compared). __bfloat162float is exact. __half / __half2 exist for the e4m3 decoding helpers.
 *   - to_f32 / from_f32, load_act / store_act, bf16_bits_to_f32, e4m3_to_f32, e4m3x4_to_half2x2,
 *     e4m3x4_to_f32_div256, ceil_div, kWarp, load_stream16, aligned16, host_aligned16, pack_bf16x2: copied from the
 *     real header (the device-side bodies are the same C++; only the intrinsics underneath are emulated);
 *     weight_raw, weight_ref / make_weight_ref, warp_sum, warp_max, block_sum, silu, softplus: the real ones, from
 *     native/src/cuda/common_device.inc, which both headers include.
 *   - ldmatrix_x4, ldmatrix_x4_trans, mma_bf16_16816 and mma_e4m3_16832 (tensor-core PTX in the real header) call
 *     the emulator's functional models (tensor_core.h: ldmatrix.m8n8.x4{.trans}.b16,
 *     mma.m16n8k16.row.col.f32.bf16.bf16.f32 and mma.m16n8k32.row.col.f32.e4m3.e4m3.f32,
 *     written from the PTX ISA, warp-collective checks included). smem_addr (a 32-bit .shared address for inline
 *     PTX) has no host meaning: it aborts if a kernel calls it directly (the wrappers here take generic pointers).
 *   - make_uint4 / make_float4 / __bfloat1622float2: the vector_types / cuda_bf16 helpers the kernels use.
 * When the real common.cuh changes, change this file the same way (a missing function is a compile error of the
 * test; a changed body is not detected).
 */
#ifndef N4J_CUDA_COMMON_CUH
#define N4J_CUDA_COMMON_CUH

#include <stdint.h>
#include <string.h>

#include "emu.h"
#include "nemotron4j.h"
#include "tensor_core.h"

/* ---- cuda_bf16.h / cuda_fp16.h subset ---- */

inline uint16_t emu_f32_to_bf16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;  // CUDA: canonical NaN
    u += 0x7fffu + ((u >> 16) & 1u);                      // round to nearest even (overflow gives inf)
    return static_cast<uint16_t>(u >> 16);
}
inline float emu_bf16_to_f32(uint16_t b) { return __uint_as_float(static_cast<uint32_t>(b) << 16); }

struct __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : __x(emu_f32_to_bf16_rn(f)) {}
    operator float() const { return emu_bf16_to_f32(__x); }
};
struct __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
inline float __bfloat162float(__nv_bfloat16 v) { return emu_bf16_to_f32(v.__x); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    __nv_bfloat16 r;
    r.__x = emu_f32_to_bf16_rn(f);
    return r;
}
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) { return {__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return float2{__bfloat162float(v.x), __bfloat162float(v.y)}; }

inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }

struct __half {
    unsigned short __x;
};
struct __attribute__((aligned(4))) __half2 {
    __half x, y;
};
inline float __half2float(__half h) {  // exact (IEEE binary16)
    const uint32_t sign = static_cast<uint32_t>(h.__x & 0x8000u) << 16;
    const uint32_t e = (h.__x >> 10) & 0x1fu;
    const uint32_t m = h.__x & 0x3ffu;
    if (e == 0) {
        const float mag = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24
        return __uint_as_float(__float_as_uint(mag) | sign);
    }
    if (e == 31) return __uint_as_float(sign | 0x7f800000u | (m != 0 ? 0x00400000u : 0u) | (m << 13));
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}
inline float2 __half22float2(__half2 v) { return float2{__half2float(v.x), __half2float(v.y)}; }

namespace n4j {
namespace cuda {

typedef __nv_bfloat16 bf16;

constexpr int kWarp = 32;

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- activations ---- */

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float v) {
    return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float load_act(const void* p, int is_bf16, int64_t i) {
    return is_bf16 ? __bfloat162float(static_cast<const bf16*>(p)[i]) : static_cast<const float*>(p)[i];
}
__device__ __forceinline__ void store_act(void* p, int is_bf16, int64_t i, float v) {
    if (is_bf16) {
        static_cast<bf16*>(p)[i] = __float2bfloat16_rn(v);
    } else {
        static_cast<float*>(p)[i] = v;
    }
}

__device__ __forceinline__ float bf16_bits_to_f32(uint32_t bits16) { return __uint_as_float(bits16 << 16); }

/* ---- weights ---- */

__device__ __forceinline__ float e4m3_to_f32(uint32_t b) {
    const uint32_t e = (b >> 3) & 0xfu;
    const uint32_t m = b & 0x7u;
    float mag;
    if (e == 15u && m == 7u) {
        mag = __int_as_float(0x7fc00000);
    } else if (e == 0u) {
        mag = static_cast<float>(m) * 0.001953125f;
    } else {
        mag = __uint_as_float(((e + 120u) << 23) | (m << 20));
    }
    return (b & 0x80u) ? -mag : mag;
}

__device__ __forceinline__ void e4m3x4_to_half2x2(uint32_t v, __half2& even, __half2& odd) {
    const uint32_t lo = ((v & 0x00800080u) << 8) | ((v & 0x007f007fu) << 7);  // bytes 0, 2
    const uint32_t hi = (v & 0x80008000u) | ((v & 0x7f007f00u) >> 1);       // bytes 1, 3
    memcpy(&even, &lo, 4);
    memcpy(&odd, &hi, 4);
}

__device__ __forceinline__ void e4m3x4_to_f32_div256(uint32_t v, float out[4]) {
    __half2 even, odd;
    e4m3x4_to_half2x2(v, even, odd);
    const float2 e = __half22float2(even);
    const float2 o = __half22float2(odd);
    out[0] = e.x;
    out[1] = o.x;
    out[2] = e.y;
    out[3] = o.y;
}

#include "common_device.inc"  // the real file (native/src/cuda): weight access, reductions, silu, softplus

/* ---- tensor cores: the emulator's functional models (tensor_core.h) ---- */

__device__ __forceinline__ uint32_t smem_addr(const void*) {
    emu::fatal("smem_addr (cvta.to.shared for inline PTX) has no meaning in the emulator: use the ldmatrix/mma "
               "wrappers, which take generic pointers");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* p, EMU_SITE_PARAMS) {
    emu::ldmatrix_m8n8_b16(r, 4, false, p, EMU_SITE);
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* p, EMU_SITE_PARAMS) {
    emu::ldmatrix_m8n8_b16(r, 4, true, p, EMU_SITE);
}

/* d += a (16x16 bf16, row) * b (16x8 bf16, col), fp32 accumulators. */
__device__ __forceinline__ void mma_bf16_16816(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1,
                                               EMU_SITE_PARAMS) {
    const uint32_t b[2] = {b0, b1};
    emu::mma_m16n8k16_bf16_f32(d, a, b, d, EMU_SITE);
}

/* d += a (16x32 e4m3, row) * b (32x8 e4m3, col), fp32 accumulators. */
__device__ __forceinline__ void mma_e4m3_16832(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1,
                                               EMU_SITE_PARAMS) {
    const uint32_t b[2] = {b0, b1};
    emu::mma_m16n8k32_e4m3_f32(d, a, b, d, EMU_SITE);
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    return static_cast<uint32_t>(emu_f32_to_bf16_rn(lo)) | (static_cast<uint32_t>(emu_f32_to_bf16_rn(hi)) << 16);
}

/* ---- vector loads ---- */

__device__ __forceinline__ uint4 load_stream16(const void* p) {
    if ((reinterpret_cast<uintptr_t>(p) & 15u) != 0) emu::fatal("load_stream16 of a pointer not 16-byte aligned");
    uint4 r;
    memcpy(&r, p, 16);
    return r;
}

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

static inline bool host_aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_COMMON_CUH */
