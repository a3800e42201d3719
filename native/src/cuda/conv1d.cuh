/* conv1d.cuh: n4j_conv1d_prefill and n4j_conv1d_decode on the CUDA backend (see conv1d.cu). */
#ifndef N4J_CUDA_CONV1D_CUH
#define N4J_CUDA_CONV1D_CUH

#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cuda {

int32_t op_conv1d_prefill(void* ctx, const void* x, int64_t ld_x, int32_t tokens, int32_t channels,
                          const n4j_weight* weight, const n4j_weight* bias, void* conv_state, int32_t activation,
                          void* out, int64_t ld_out);
int32_t op_conv1d_decode(void* ctx, int32_t batch, const void* x, int64_t ld_x, int32_t channels,
                         const n4j_weight* weight, const n4j_weight* bias, void* const* conv_states,
                         int32_t activation, void* out, int64_t ld_out);

}  // namespace cuda
}  // namespace n4j

#endif
