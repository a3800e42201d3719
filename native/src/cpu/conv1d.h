/* conv1d.h: n4j_conv1d_prefill / n4j_conv1d_decode on the CPU (see conv1d.cpp). */
#ifndef N4J_CPU_CONV1D_H
#define N4J_CPU_CONV1D_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

void conv1d_prefill_ref(const float* x, int64_t ld_x, int32_t tokens, int32_t channels, const n4j_weight* weight,
                        const n4j_weight* bias, float* conv_state, int32_t activation, float* out, int64_t ld_out);
void conv1d_prefill_fast(context* ctx, const float* x, int64_t ld_x, int32_t tokens, int32_t channels,
                         const n4j_weight* weight, const n4j_weight* bias, float* conv_state, int32_t activation,
                         float* out, int64_t ld_out);
void conv1d_decode_ref(int32_t batch, const float* x, int64_t ld_x, int32_t channels, const n4j_weight* weight,
                       const n4j_weight* bias, float* const* conv_states, int32_t activation, float* out,
                       int64_t ld_out);
void conv1d_decode_fast(context* ctx, int32_t batch, const float* x, int64_t ld_x, int32_t channels,
                        const n4j_weight* weight, const n4j_weight* bias, float* const* conv_states,
                        int32_t activation, float* out, int64_t ld_out);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_CONV1D_H */
