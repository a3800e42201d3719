/* embedding.cuh: n4j_embedding on the CUDA backend (see embedding.cu). */
#ifndef N4J_CUDA_EMBEDDING_CUH
#define N4J_CUDA_EMBEDDING_CUH

#include <stdint.h>

#include "nemotron4j.h"

namespace n4j {
namespace cuda {

int32_t op_embedding(void* ctx, const n4j_weight* table, const int32_t* ids, int32_t n, void* out, int64_t ld_out);

}  // namespace cuda
}  // namespace n4j

#endif
