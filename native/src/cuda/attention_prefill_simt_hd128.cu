/* attention_prefill_simt_hd128.cu: the fp32 flash attention (attention_prefill_simt.cuh) for head_dim <= 128. */
#include "attention_prefill_simt.cuh"

namespace n4j {
namespace cuda {

int32_t attn_prefill_simt_hd128(context* ctx, const attn_prefill_args& a, int kv_dtype) {
    return simt_attn::launch<128>(ctx, a, kv_dtype);
}

}  // namespace cuda
}  // namespace n4j
