/*
 * common.cuh: what every CUDA kernel file of the backend shares.
 *
 * - Activation types: `float` (N4J_DTYPE_F32) and `bf16` (N4J_DTYPE_BF16). Kernels are templates on the activation
 *   type; to_f32 / from_f32 convert one element (bf16 <- f32 rounds to nearest even, like the CPU's f32_to_bf16).
 * - Weights (n4j_weight) are F32, BF16 or F8_E4M3 (OCP "E4M3FN") times a per-tensor scale. weight_value() reads one
 *   element exactly (NaN included); the vectorized kernels use e4m3x4_to_half2x2(), which decodes four e4m3 bytes
 *   into half precision numbers that are the true values divided by 256 (exact for every finite e4m3 value, including
 *   subnormals; the factor 256 is folded into the weight scale by the caller). e4m3 NaN is not reproduced there:
 *   weight matrices hold no NaN.
 * - Warp reductions (sum, max) with __shfl_xor_sync over a full warp or over a sub-group of lanes.
 * - mma.sync / ldmatrix wrappers for the tensor-core kernels (sm_80+: every architecture this library is built for;
 *   the e4m3 mma of the W8A8 GEMM is sm_89+). f32_to_e4m3_satfinite quantizes W8A8 activations.
 *
 * Every accumulation in this backend is fp32; the SSM state is fp32.
 */
#ifndef N4J_CUDA_COMMON_CUH
#define N4J_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "nemotron4j.h"

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

/* Reads activation element i of a buffer whose dtype is only known at run time (uniform branch). */
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

/* bf16 bit pattern <-> float without going through intrinsics (exact). */
__device__ __forceinline__ float bf16_bits_to_f32(uint32_t bits16) { return __uint_as_float(bits16 << 16); }

/* ---- weights ---- */

/* Exact value of an E4M3 byte (OCP E4M3FN: bias 7, no infinities, 0x7F/0xFF NaN, subnormals m * 2^-9). */
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

/*
 * Four e4m3 bytes (little-endian in `v`: element 0 in the low byte) to four halves equal to value / 256.
 * The e4m3 bit pattern shifted into an f16 (sign to bit 15, exponent|mantissa to bits 7..13) is the value times
 * 2^(7-15) = 1/256, for normals and subnormals alike. out.x holds elements (0, 2), out.y elements (1, 3).
 */
__device__ __forceinline__ void e4m3x4_to_half2x2(uint32_t v, __half2& even, __half2& odd) {
    const uint32_t lo = ((v & 0x00800080u) << 8) | ((v & 0x007f007fu) << 7);  // bytes 0, 2
    const uint32_t hi = (v & 0x80008000u) | ((v & 0x7f007f00u) >> 1);       // bytes 1, 3
    even = *reinterpret_cast<const __half2*>(&lo);
    odd = *reinterpret_cast<const __half2*>(&hi);
}

/* Four e4m3 bytes to four floats equal to value / 256, in element order. */
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

#include "common_device.inc"

/* ---- tensor cores (sm_80+) ---- */

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

/* d += a (16x16 bf16, row) * b (16x8 bf16, col), fp32 accumulators. */
__device__ __forceinline__ void mma_bf16_16816(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* d += a (16x32 e4m3, row) * b (32x8 e4m3, col), fp32 accumulators (sm_89+; callers dispatch on the device's
 * compute capability, the other architectures of the fat binary trap). The fragments hold 4 e4m3 per register in
 * the byte positions ldmatrix .b16 gives a 16x16 bf16 tile (4 consecutive k per register): a 16x32-byte tile in
 * shared memory loads with ldmatrix_x4 exactly as a 16x16 bf16 tile does. */
__device__ __forceinline__ void mma_e4m3_16832(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap();
#endif
}

/* Two floats to a packed bf16x2 (first in the low half), round to nearest even. */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

/* ---- vector loads ---- */

/* A 16-byte load that bypasses L1 allocation: weights are streamed once per call. */
__device__ __forceinline__ uint4 load_stream16(const void* p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
    return r;
}

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

static inline bool host_aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace cuda
}  // namespace n4j

#endif /* N4J_CUDA_COMMON_CUH */
