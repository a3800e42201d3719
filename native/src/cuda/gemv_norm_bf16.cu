/* gemv_norm_bf16.cu: the decode GEMV with the fused RMSNorm prologue (gemv.cuh, NORM) instantiated for BF16 weights,
 * F32 / BF16 activations (and the F32 residual stream), 1/2/4/8 rows: n4j_rmsnorm_matmul (rmsnorm_matmul.cu). */
#include "gemv.cuh"

namespace n4j {
namespace cuda {

void gemv_norm_bf16_launch(context* ctx, const matmul_args& a, const gemv_norm_args& nm) {
    gemv_norm_launch_weight<kWBF16>(ctx, a, nm);
}

}  // namespace cuda
}  // namespace n4j
