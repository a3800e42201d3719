/* gemm_skinny_f8.cu: the skinny tensor-core GEMM (gemm_skinny.cuh, rows 9..64) instantiated for F8_E4M3 weights, F32 (split) and BF16 activations. */
#include "gemm_skinny.cuh"

namespace n4j {
namespace cuda {

int32_t gemm_skinny_f8_launch(context* ctx, const matmul_args& a) {
    return skinny::gemm_skinny_launch_weight<skinny::WK_F8>(ctx, a);
}

}  // namespace cuda
}  // namespace n4j
