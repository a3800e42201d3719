/* convert.cuh: n4j_convert on the CUDA backend (see convert.cu). */
#ifndef N4J_CUDA_CONVERT_CUH
#define N4J_CUDA_CONVERT_CUH

#include <stdint.h>

namespace n4j {
namespace cuda {

int32_t op_convert(void* ctx, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n);

}  // namespace cuda
}  // namespace n4j

#endif
