/* gemv_f32.cu: the decode GEMV (gemv.cuh) instantiated for F32 weights, F32 and BF16 activations, 1/2/4/8 rows. */
#include "gemv.cuh"

namespace n4j {
namespace cuda {

void gemv_f32_launch(context* ctx, const matmul_args& a) { gemv_launch_weight<kWF32>(ctx, a); }

}  // namespace cuda
}  // namespace n4j
