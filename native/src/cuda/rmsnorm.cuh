/* rmsnorm.cuh: n4j_rmsnorm on the CUDA backend (see rmsnorm.cu). */
#ifndef N4J_CUDA_RMSNORM_CUH
#define N4J_CUDA_RMSNORM_CUH

#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cuda {

int32_t op_rmsnorm(void* ctx, const void* x, int64_t ld_x, int32_t rows, int32_t dim, const n4j_weight* weight,
                   float eps, void* out, int64_t ld_out);

}  // namespace cuda
}  // namespace n4j

#endif
