/* gated_rmsnorm.h: n4j_gated_rmsnorm on the CPU (see gated_rmsnorm.cpp). */
#ifndef N4J_CPU_GATED_RMSNORM_H
#define N4J_CPU_GATED_RMSNORM_H

#include <stdint.h>

#include "cpu/cpu_context.h"
#include "nemotron4j.h"

namespace n4j {
namespace cpu {

void gated_rmsnorm_ref(const float* y, int64_t ld_y, const float* z, int64_t ld_z, int32_t rows, int32_t dim,
                       int32_t groups, const n4j_weight* weight, float eps, float* out, int64_t ld_out);
void gated_rmsnorm_fast(context* ctx, const float* y, int64_t ld_y, const float* z, int64_t ld_z, int32_t rows,
                        int32_t dim, int32_t groups, const n4j_weight* weight, float eps, float* out,
                        int64_t ld_out);

}  // namespace cpu
}  // namespace n4j

#endif /* N4J_CPU_GATED_RMSNORM_H */
