/* ssm_recurrent.cuh: n4j_ssm_scan_sequential and n4j_ssm_decode on the CUDA backend (see ssm_recurrent.cu). */
#ifndef N4J_CUDA_SSM_RECURRENT_CUH
#define N4J_CUDA_SSM_RECURRENT_CUH

#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cuda {

int32_t op_ssm_scan_sequential(void* ctx, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                               const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt,
                               int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                               const n4j_weight* D, float* ssm_state, void* y, int64_t ld_y);
int32_t op_ssm_decode(void* ctx, const n4j_ssm_dims* dims, int32_t batch, const void* x, int64_t ld_x,
                      const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                      const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                      float* const* ssm_states, void* y, int64_t ld_y);

}  // namespace cuda
}  // namespace n4j

#endif
