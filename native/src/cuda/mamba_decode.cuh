/* mamba_decode.cuh: n4j_mamba_decode on the CUDA backend (see mamba_decode.cu). */
#ifndef N4J_CUDA_MAMBA_DECODE_CUH
#define N4J_CUDA_MAMBA_DECODE_CUH

#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cuda {

int32_t op_mamba_decode(void* ctx, const n4j_ssm_dims* dims, int32_t batch, const void* zxbcdt, int64_t ld_zxbcdt,
                        const n4j_weight* conv_weight, const n4j_weight* conv_bias, const n4j_weight* dt_bias,
                        const n4j_weight* A_log, const n4j_weight* D, const n4j_weight* norm, float eps,
                        void* const* conv_states, float* const* ssm_states, void* y, int64_t ld_y, void* out,
                        int64_t ld_out);

}  // namespace cuda
}  // namespace n4j

#endif
