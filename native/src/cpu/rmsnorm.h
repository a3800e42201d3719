/* rmsnorm.h: n4j_rmsnorm on the CPU (see rmsnorm.cpp). */
#ifndef N4J_CPU_RMSNORM_H
#define N4J_CPU_RMSNORM_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

void rmsnorm_ref(const float* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight, float eps,
                 float* out, int64_t ld_out);
void rmsnorm_fast(context* ctx, const float* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight,
                  float eps, float* out, int64_t ld_out);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_RMSNORM_H */
