/* gemm_skinny_bf16.cu: the skinny tensor-core GEMM (gemm_skinny.cuh, rows 9..64) instantiated for BF16 weights, F32 (split) and BF16 activations. */
#include "gemm_skinny.cuh"

namespace n4j {
namespace cuda {

int32_t gemm_skinny_bf16_launch(context* ctx, const matmul_args& a) {
    return skinny::gemm_skinny_launch_weight<skinny::WK_BF16>(ctx, a);
}

}  // namespace cuda
}  // namespace n4j
