/* argmax.cuh: n4j_argmax on the CUDA backend (see argmax.cu). */
#ifndef N4J_CUDA_ARGMAX_CUH
#define N4J_CUDA_ARGMAX_CUH

#include <stdint.h>

namespace n4j {
namespace cuda {

int32_t op_argmax(void* ctx, const void* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out);

}  // namespace cuda
}  // namespace n4j

#endif
