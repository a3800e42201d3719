/* ssm_recurrence.h: the token-by-token Mamba-2 recurrence: n4j_ssm_scan_sequential and n4j_ssm_decode. */
#ifndef N4J_CPU_SSM_RECURRENCE_H
#define N4J_CPU_SSM_RECURRENCE_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

/* The recurrence over `tokens` tokens of one sequence (the oracle of the chunked scan; reference only). */
void ssm_scan_sequential_ref(const n4j_ssm_dims* dims, int32_t tokens, const float* x, int64_t ld_x,
                             const float* B, int64_t ld_B, const float* C, int64_t ld_C, const float* dt,
                             int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                             const n4j_weight* D, float* ssm_state, float* y, int64_t ld_y);

/* One step for `batch` sequences, each with its own state. */
void ssm_decode_ref(const n4j_ssm_dims* dims, int32_t batch, const float* x, int64_t ld_x, const float* B,
                    int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                    const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                    float* const* ssm_states, float* y, int64_t ld_y);
void ssm_decode_fast(context* ctx, const n4j_ssm_dims* dims, int32_t batch, const float* x, int64_t ld_x,
                     const float* B, int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                     const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                     float* const* ssm_states, float* y, int64_t ld_y);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_SSM_RECURRENCE_H */
