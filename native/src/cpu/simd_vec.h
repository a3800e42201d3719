/*
 * simd_vec.h: an 8 x float vector type with GCC/Clang vector extensions, for kernel bodies compiled once per SIMD
 * level (*_fast.inc). In a translation unit compiled with -mavx2 -mfma a v8f is one ymm register and `a + b * c`
 * contracts to an FMA; in a baseline x86-64 translation unit it is a pair of SSE registers; on other CPUs the
 * compiler's native vectors. Lets the fast bodies keep accumulators in registers explicitly (register blocking),
 * which auto-vectorization of the plain loops does not do.
 * Everything is `static inline` (see simd_kernels.h on why).
 */
#ifndef N4J_CPU_SIMD_VEC_H
#define N4J_CPU_SIMD_VEC_H

#include <stdint.h>
#include <string.h>

namespace n4j {
namespace cpu {

typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_unaligned __attribute__((vector_size(32), aligned(4), may_alias));

#define N4J_VEC_INLINE static inline __attribute__((always_inline))

N4J_VEC_INLINE v8f v8_load(const float* p) { return *reinterpret_cast<const v8f_unaligned*>(p); }
N4J_VEC_INLINE void v8_store(float* p, v8f v) { *reinterpret_cast<v8f_unaligned*>(p) = v; }
N4J_VEC_INLINE v8f v8_set1(float x) { return v8f{x, x, x, x, x, x, x, x}; }
N4J_VEC_INLINE v8f v8_zero() { return v8f{0, 0, 0, 0, 0, 0, 0, 0}; }
/* Sum of the 8 lanes, pairwise. */
N4J_VEC_INLINE float v8_sum(v8f v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/* scores[i] = scale * (q . k_i) for i < count, vectors of D floats, k_i = kbase + i * stride. Four rows per pass
 * share the loads of q; lanes are summed pairwise at the end. */
#if !defined(N4J_VEC_WIDE16)
static inline void v8_dot_rows(const float* q, const float* kbase, int64_t stride, int32_t count, int32_t D,
                               float scale, float* scores) {
    const int32_t D8 = D & ~7;
    int32_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const float* k0 = kbase + i * stride;
        const float* k1 = k0 + stride;
        const float* k2 = k1 + stride;
        const float* k3 = k2 + stride;
        v8f a0 = v8_zero(), a1 = v8_zero(), a2 = v8_zero(), a3 = v8_zero();
        for (int32_t d = 0; d < D8; d += 8) {
            const v8f qv = v8_load(q + d);
            a0 += qv * v8_load(k0 + d);
            a1 += qv * v8_load(k1 + d);
            a2 += qv * v8_load(k2 + d);
            a3 += qv * v8_load(k3 + d);
        }
        float s0 = v8_sum(a0), s1 = v8_sum(a1), s2 = v8_sum(a2), s3 = v8_sum(a3);
        for (int32_t d = D8; d < D; ++d) {
            s0 += q[d] * k0[d];
            s1 += q[d] * k1[d];
            s2 += q[d] * k2[d];
            s3 += q[d] * k3[d];
        }
        scores[i] = s0 * scale;
        scores[i + 1] = s1 * scale;
        scores[i + 2] = s2 * scale;
        scores[i + 3] = s3 * scale;
    }
    for (; i < count; ++i) {
        const float* k0 = kbase + i * stride;
        v8f a0 = v8_zero();
        for (int32_t d = 0; d < D8; d += 8) a0 += v8_load(q + d) * v8_load(k0 + d);
        float s0 = v8_sum(a0);
        for (int32_t d = D8; d < D; ++d) s0 += q[d] * k0[d];
        scores[i] = s0 * scale;
    }
}

/* acc = alpha * acc + sum_i p[i] * v_i over D floats, v_i = vbase + i * stride; 32 columns at a time stay in
 * registers across all i. */
static inline void v8_axpy_rows(float* acc, int32_t D, float alpha, const float* p, const float* vbase,
                                int64_t stride, int32_t count) {
    const v8f va = v8_set1(alpha);
    int32_t d = 0;
    for (; d + 32 <= D; d += 32) {
        v8f a0 = va * v8_load(acc + d), a1 = va * v8_load(acc + d + 8);
        v8f a2 = va * v8_load(acc + d + 16), a3 = va * v8_load(acc + d + 24);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) {
            const v8f pv = v8_set1(p[i]);
            a0 += pv * v8_load(v);
            a1 += pv * v8_load(v + 8);
            a2 += pv * v8_load(v + 16);
            a3 += pv * v8_load(v + 24);
        }
        v8_store(acc + d, a0);
        v8_store(acc + d + 8, a1);
        v8_store(acc + d + 16, a2);
        v8_store(acc + d + 24, a3);
    }
    for (; d + 8 <= D; d += 8) {
        v8f a0 = va * v8_load(acc + d);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) a0 += v8_set1(p[i]) * v8_load(v);
        v8_store(acc + d, a0);
    }
    for (; d < D; ++d) {
        float a = alpha * acc[d];
        for (int32_t i = 0; i < count; ++i) a += p[i] * vbase[i * stride + d];
        acc[d] = a;
    }
}

/* acc0 = alpha * acc0 + sum_i p0[i] * v_i and acc1 likewise with p1: every v_i load serves two rows. */
static inline void v8_axpy_rows2(float* acc0, float* acc1, int32_t D, float alpha, const float* p0, const float* p1,
                                 const float* vbase, int64_t stride, int32_t count) {
    const v8f va = v8_set1(alpha);
    int32_t d = 0;
    for (; d + 32 <= D; d += 32) {
        v8f a0 = va * v8_load(acc0 + d), a1 = va * v8_load(acc0 + d + 8);
        v8f a2 = va * v8_load(acc0 + d + 16), a3 = va * v8_load(acc0 + d + 24);
        v8f b0 = va * v8_load(acc1 + d), b1 = va * v8_load(acc1 + d + 8);
        v8f b2 = va * v8_load(acc1 + d + 16), b3 = va * v8_load(acc1 + d + 24);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) {
            const v8f v0 = v8_load(v), v1 = v8_load(v + 8), v2 = v8_load(v + 16), v3 = v8_load(v + 24);
            const v8f q0 = v8_set1(p0[i]), q1 = v8_set1(p1[i]);
            a0 += q0 * v0;
            a1 += q0 * v1;
            a2 += q0 * v2;
            a3 += q0 * v3;
            b0 += q1 * v0;
            b1 += q1 * v1;
            b2 += q1 * v2;
            b3 += q1 * v3;
        }
        v8_store(acc0 + d, a0);
        v8_store(acc0 + d + 8, a1);
        v8_store(acc0 + d + 16, a2);
        v8_store(acc0 + d + 24, a3);
        v8_store(acc1 + d, b0);
        v8_store(acc1 + d + 8, b1);
        v8_store(acc1 + d + 16, b2);
        v8_store(acc1 + d + 24, b3);
    }
    if (d < D) {
        v8_axpy_rows(acc0 + d, D - d, alpha, p0, vbase + d, stride, count);
        v8_axpy_rows(acc1 + d, D - d, alpha, p1, vbase + d, stride, count);
    }
}

#else
/* ---- 16-lane variants of the row helpers (translation units compiled for AVX-512 define N4J_VEC_WIDE16) ---- */
typedef float v16f __attribute__((vector_size(64)));
typedef float v16f_unaligned __attribute__((vector_size(64), aligned(4), may_alias));

N4J_VEC_INLINE v16f v16_load(const float* p) { return *reinterpret_cast<const v16f_unaligned*>(p); }
N4J_VEC_INLINE void v16_store(float* p, v16f v) { *reinterpret_cast<v16f_unaligned*>(p) = v; }
N4J_VEC_INLINE v16f v16_set1(float x) { return v16f{} + x; }
N4J_VEC_INLINE float v16_sum(v16f v) {
    v8f h;
    for (int i = 0; i < 8; ++i) h[i] = v[i] + v[i + 8];
    return v8_sum(h);
}

/* scores[i] = scale * (q . k_i) for count rows k_i = kbase + i * stride: four rows at a time, 16 then 8 lanes. */
static inline void v8_dot_rows(const float* q, const float* kbase, int64_t stride, int32_t count, int32_t D,
                               float scale, float* scores) {
    const int32_t D16 = D & ~15, D8 = D & ~7;
    int32_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const float* k0 = kbase + i * stride;
        const float* k1 = k0 + stride;
        const float* k2 = k1 + stride;
        const float* k3 = k2 + stride;
        v16f a0 = v16f{}, a1 = v16f{}, a2 = v16f{}, a3 = v16f{};
        for (int32_t d = 0; d < D16; d += 16) {
            const v16f qv = v16_load(q + d);
            a0 += qv * v16_load(k0 + d);
            a1 += qv * v16_load(k1 + d);
            a2 += qv * v16_load(k2 + d);
            a3 += qv * v16_load(k3 + d);
        }
        float s0 = v16_sum(a0), s1 = v16_sum(a1), s2 = v16_sum(a2), s3 = v16_sum(a3);
        if (D8 > D16) {
            const v8f qv = v8_load(q + D16);
            s0 += v8_sum(qv * v8_load(k0 + D16));
            s1 += v8_sum(qv * v8_load(k1 + D16));
            s2 += v8_sum(qv * v8_load(k2 + D16));
            s3 += v8_sum(qv * v8_load(k3 + D16));
        }
        for (int32_t d = D8; d < D; ++d) {
            s0 += q[d] * k0[d];
            s1 += q[d] * k1[d];
            s2 += q[d] * k2[d];
            s3 += q[d] * k3[d];
        }
        scores[i] = s0 * scale;
        scores[i + 1] = s1 * scale;
        scores[i + 2] = s2 * scale;
        scores[i + 3] = s3 * scale;
    }
    for (; i < count; ++i) {
        const float* k0 = kbase + i * stride;
        v16f a0 = v16f{};
        for (int32_t d = 0; d < D16; d += 16) a0 += v16_load(q + d) * v16_load(k0 + d);
        float s0 = v16_sum(a0);
        if (D8 > D16) s0 += v8_sum(v8_load(q + D16) * v8_load(k0 + D16));
        for (int32_t d = D8; d < D; ++d) s0 += q[d] * k0[d];
        scores[i] = s0 * scale;
    }
}

/* acc[0..D) = alpha * acc + sum_i p[i] * v_i over count rows v_i = vbase + i * stride: 64, 16, 8 columns at a time
 * held in registers across the rows. */
static inline void v8_axpy_rows(float* acc, int32_t D, float alpha, const float* p, const float* vbase,
                                int64_t stride, int32_t count) {
    const v16f va = v16_set1(alpha);
    int32_t d = 0;
    for (; d + 64 <= D; d += 64) {
        v16f a0 = va * v16_load(acc + d), a1 = va * v16_load(acc + d + 16);
        v16f a2 = va * v16_load(acc + d + 32), a3 = va * v16_load(acc + d + 48);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) {
            const v16f pv = v16_set1(p[i]);
            a0 += pv * v16_load(v);
            a1 += pv * v16_load(v + 16);
            a2 += pv * v16_load(v + 32);
            a3 += pv * v16_load(v + 48);
        }
        v16_store(acc + d, a0);
        v16_store(acc + d + 16, a1);
        v16_store(acc + d + 32, a2);
        v16_store(acc + d + 48, a3);
    }
    for (; d + 32 <= D; d += 32) {  // two chains: the adds of one accumulator wait on each other
        v16f a0 = va * v16_load(acc + d), a1 = va * v16_load(acc + d + 16);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) {
            const v16f pv = v16_set1(p[i]);
            a0 += pv * v16_load(v);
            a1 += pv * v16_load(v + 16);
        }
        v16_store(acc + d, a0);
        v16_store(acc + d + 16, a1);
    }
    for (; d + 16 <= D; d += 16) {
        v16f a0 = va * v16_load(acc + d);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) a0 += v16_set1(p[i]) * v16_load(v);
        v16_store(acc + d, a0);
    }
    for (; d + 8 <= D; d += 8) {
        v8f a0 = v8_set1(alpha) * v8_load(acc + d);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) a0 += v8_set1(p[i]) * v8_load(v);
        v8_store(acc + d, a0);
    }
    for (; d < D; ++d) {
        float a = alpha * acc[d];
        for (int32_t i = 0; i < count; ++i) a += p[i] * vbase[i * stride + d];
        acc[d] = a;
    }
}

/* acc0 = alpha * acc0 + sum_i p0[i] * v_i and acc1 likewise with p1: every v_i load serves two rows. */
static inline void v8_axpy_rows2(float* acc0, float* acc1, int32_t D, float alpha, const float* p0, const float* p1,
                                 const float* vbase, int64_t stride, int32_t count) {
    const v16f va = v16_set1(alpha);
    int32_t d = 0;
    for (; d + 64 <= D; d += 64) {
        v16f a0 = va * v16_load(acc0 + d), a1 = va * v16_load(acc0 + d + 16);
        v16f a2 = va * v16_load(acc0 + d + 32), a3 = va * v16_load(acc0 + d + 48);
        v16f b0 = va * v16_load(acc1 + d), b1 = va * v16_load(acc1 + d + 16);
        v16f b2 = va * v16_load(acc1 + d + 32), b3 = va * v16_load(acc1 + d + 48);
        const float* v = vbase + d;
        for (int32_t i = 0; i < count; ++i, v += stride) {
            const v16f v0 = v16_load(v), v1 = v16_load(v + 16), v2 = v16_load(v + 32), v3 = v16_load(v + 48);
            const v16f q0 = v16_set1(p0[i]), q1 = v16_set1(p1[i]);
            a0 += q0 * v0;
            a1 += q0 * v1;
            a2 += q0 * v2;
            a3 += q0 * v3;
            b0 += q1 * v0;
            b1 += q1 * v1;
            b2 += q1 * v2;
            b3 += q1 * v3;
        }
        v16_store(acc0 + d, a0);
        v16_store(acc0 + d + 16, a1);
        v16_store(acc0 + d + 32, a2);
        v16_store(acc0 + d + 48, a3);
        v16_store(acc1 + d, b0);
        v16_store(acc1 + d + 16, b1);
        v16_store(acc1 + d + 32, b2);
        v16_store(acc1 + d + 48, b3);
    }
    if (d < D) {
        v8_axpy_rows(acc0 + d, D - d, alpha, p0, vbase + d, stride, count);
        v8_axpy_rows(acc1 + d, D - d, alpha, p1, vbase + d, stride, count);
    }
}

#endif /* N4J_VEC_WIDE16 */

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_SIMD_VEC_H */
