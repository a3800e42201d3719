/* gemm_mma_f8.cu: the tensor-core GEMM (gemm_mma.cuh) instantiated for F8 weights, F32 (split) and BF16 activations. */
#include "gemm_mma.cuh"

namespace n4j {
namespace cuda {

int32_t gemm_mma_f8_launch(context* ctx, const matmul_args& a) {
    return gemm::gemm_mma_launch_weight<gemm::WK_F8>(ctx, a);
}

}  // namespace cuda
}  // namespace n4j
