/*
 * ssm_params.h: the per-head parameters of a Mamba-2 mixer shared by the scan kernels, expanded to F32:
 * dt_bias[h], A[h] = -exp(A_log[h]) and D[h]; and the discretized step dt' = softplus(dt + dt_bias) (no clamp,
 * softplus computed as max(x,0) + log1p(exp(-|x|)), never exp of a large positive number).
 */
#ifndef N4J_CPU_SSM_PARAMS_H
#define N4J_CPU_SSM_PARAMS_H

#include <math.h>
#include <stdint.h>

#include "cpu/dtype_scalar.h"
#include "cpu/fast_math.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

/* Fills dt_bias_f, A_f and D_f (each `heads` floats). */
static inline void ssm_expand_params(int32_t heads, const n4j_weight* dt_bias, const n4j_weight* A_log,
                                     const n4j_weight* D, float* dt_bias_f, float* A_f, float* D_f) {
    for (int32_t h = 0; h < heads; ++h) {
        dt_bias_f[h] = weight_value(dt_bias, h);
        A_f[h] = -expf(weight_value(A_log, h));
        D_f[h] = weight_value(D, h);
    }
}

/* dt' = softplus(dt_raw + dt_bias). */
static inline float ssm_step_size(float dt_raw, float dt_bias) { return softplus_ref(dt_raw + dt_bias); }

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_SSM_PARAMS_H */
