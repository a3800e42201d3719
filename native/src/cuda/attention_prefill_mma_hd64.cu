/* attention_prefill_mma_hd64.cu: the tensor-core flash attention (attention_prefill_mma.cuh) for head_dim <= 64. */
#include "attention_prefill_mma.cuh"

namespace n4j {
namespace cuda {

int32_t attn_prefill_mma_hd64(context* ctx, const attn_prefill_args& a, int kv_dtype) {
    return mma_attn::launch<64>(ctx, a, kv_dtype);
}

}  // namespace cuda
}  // namespace n4j
