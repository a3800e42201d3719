/* gated_rmsnorm.cuh: n4j_gated_rmsnorm on the CUDA backend (see gated_rmsnorm.cu). */
#ifndef N4J_CUDA_GATED_RMSNORM_CUH
#define N4J_CUDA_GATED_RMSNORM_CUH

#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cuda {

int32_t op_gated_rmsnorm(void* ctx, const void* y, int64_t ld_y, const void* z, int64_t ld_z, int32_t rows,
                         int32_t dim, int32_t groups, const n4j_weight* weight, float eps, void* out, int64_t ld_out);

}  // namespace cuda
}  // namespace n4j

#endif
