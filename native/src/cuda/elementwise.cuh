/* elementwise.cuh: n4j_relu_squared and n4j_add on the CUDA backend (see elementwise.cu). */
#ifndef N4J_CUDA_ELEMENTWISE_CUH
#define N4J_CUDA_ELEMENTWISE_CUH

#include <stdint.h>

namespace n4j {
namespace cuda {

int32_t op_relu_squared(void* ctx, const void* x, void* y, int64_t n);
int32_t op_add(void* ctx, const void* a, const void* b, void* y, int64_t n);

}  // namespace cuda
}  // namespace n4j

#endif
