/* rmsnorm_matmul.cuh: n4j_rmsnorm_matmul on the CUDA backend (see rmsnorm_matmul.cu). */
#ifndef N4J_CUDA_RMSNORM_MATMUL_CUH
#define N4J_CUDA_RMSNORM_MATMUL_CUH

#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cuda {

int32_t op_rmsnorm_matmul(void* ctx, const void* x, int64_t ld_x, int32_t rows, int32_t dim,
                          const n4j_weight* norm_weight, float eps, void* normed, int64_t ld_normed,
                          const n4j_weight* weight, void* y, int64_t ld_y, int32_t epilogue);

}  // namespace cuda
}  // namespace n4j

#endif
