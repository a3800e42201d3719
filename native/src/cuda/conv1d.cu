/*
 * conv1d.cu: Mamba-2's causal depthwise conv1d with a carried state, fused bias and optional SiLU.
 *
 *   out[t, c] = act(bias[c] + sum_k w[c, k] * in[t - (K-1) + k, c]),  in[-j] = conv_state[c, K - j] (oldest first)
 *
 * Prefill: one thread per (channel, tile of 64 tokens); consecutive threads take consecutive channels, so every
 * load of x and store of out is coalesced. The thread keeps the K-1 previous inputs of its channel in a sliding
 * register window (filled from x, or from the state at the start of the chunk) and steps through its tokens.
 * The state update (the last K inputs of history ++ x) runs as a second kernel, after every tile has read the old
 * state; it only reads old entries it has not overwritten.
 * Decode: one thread per (sequence, channel); the per-sequence state pointers are a host array staged to the
 * device (context staging ring). The K-wide window is read, the output computed, the state shifted by one.
 * Kernel width K <= 8 (Mamba uses 4). fp32 arithmetic; the state keeps the activation dtype (as the API says),
 * which for BF16 activations means the stored history is the bf16 input itself, so nothing is lost.
 */
#include <string.h>

#include "common.cuh"
#include "context.cuh"
#include "conv1d.cuh"

namespace n4j {
namespace cuda {

namespace {

constexpr int kMaxK = 8;
constexpr int kTokensPerThread = 64;

__device__ __forceinline__ float apply_act(float v, int activation) {
    return activation == N4J_ACT_SILU ? silu(v) : v;
}

template <typename T>
__global__ void conv1d_prefill_kernel(const T* x, int64_t ld_x, int tokens, int channels, int K, weight_ref w,
                                      weight_ref bias, int has_bias, const T* state, int activation, T* out,
                                      int64_t ld_out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels) return;
    const int t0 = blockIdx.y * kTokensPerThread;
    const int t1 = min(t0 + kTokensPerThread, tokens);
    // Registers only: every index below is a compile-time constant after unrolling (K is a run-time bound).
    float wk[kMaxK];
#pragma unroll
    for (int k = 0; k < kMaxK; ++k) wk[k] = k < K - 1 ? w(static_cast<int64_t>(c) * K + k) : 0.0f;
    const float w_last = w(static_cast<int64_t>(c) * K + K - 1);
    const float b = has_bias ? bias(c) : 0.0f;
    // window[k] = in[t - (K-1) + k] (k < K-1) for the token t about to be computed.
    float window[kMaxK];
#pragma unroll
    for (int k = 0; k < kMaxK; ++k) {
        window[k] = 0.0f;
        if (k < K - 1) {
            const int src = t0 - (K - 1) + k;  // input index; negative indexes the state
            window[k] = src >= 0 ? to_f32(x[static_cast<int64_t>(src) * ld_x + c])
                                 : to_f32(state[static_cast<int64_t>(c) * K + (K + src)]);
        }
    }
    for (int t = t0; t < t1; ++t) {
        const float cur = to_f32(x[static_cast<int64_t>(t) * ld_x + c]);
        float acc = b;
#pragma unroll
        for (int k = 0; k < kMaxK; ++k) acc = fmaf(wk[k], window[k], acc);  // wk[k] = 0 for k >= K-1
        acc = fmaf(w_last, cur, acc);
        out[static_cast<int64_t>(t) * ld_out + c] = from_f32<T>(apply_act(acc, activation));
#pragma unroll
        for (int k = 0; k < kMaxK - 1; ++k) {
            if (k < K - 2) {
                window[k] = window[k + 1];
            } else if (k == K - 2) {
                window[k] = cur;
            }
        }
    }
}

/* state[c, :] <- last K entries of (state[c, :] ++ x[:, c]). */
template <typename T>
__global__ void conv1d_state_update_kernel(const T* x, int64_t ld_x, int tokens, int channels, int K, T* state) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels) return;
    T* s = state + static_cast<int64_t>(c) * K;
    T next[kMaxK];
#pragma unroll
    for (int j = 0; j < kMaxK; ++j) {
        if (j < K) {
            const int src = tokens - K + j;  // index into x, or into the old state when negative
            next[j] = src >= 0 ? x[static_cast<int64_t>(src) * ld_x + c] : s[K + src];
        }
    }
#pragma unroll
    for (int j = 0; j < kMaxK; ++j) {
        if (j < K) s[j] = next[j];
    }
}

template <typename T>
__global__ void conv1d_decode_kernel(int batch, const T* x, int64_t ld_x, int channels, int K, weight_ref w,
                                     weight_ref bias, int has_bias, T* const* states, int activation, T* out,
                                     int64_t ld_out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int b = blockIdx.y;
    if (c >= channels || b >= batch) return;
    T* s = states[b] + static_cast<int64_t>(c) * K;
    const T cur_raw = x[static_cast<int64_t>(b) * ld_x + c];
    const float cur = to_f32(cur_raw);
    float acc = has_bias ? bias(c) : 0.0f;
    for (int k = 0; k < K - 1; ++k) acc = fmaf(w(static_cast<int64_t>(c) * K + k), to_f32(s[k + 1]), acc);
    acc = fmaf(w(static_cast<int64_t>(c) * K + K - 1), cur, acc);
    out[static_cast<int64_t>(b) * ld_out + c] = from_f32<T>(apply_act(acc, activation));
    for (int k = 0; k < K - 1; ++k) s[k] = s[k + 1];
    s[K - 1] = cur_raw;
}

template <typename T>
void launch_prefill(context* ctx, const void* x, int64_t ld_x, int tokens, int channels, int K, weight_ref w,
                    weight_ref bias, int has_bias, void* state, int activation, void* out, int64_t ld_out) {
    const int threads = 128;
    const dim3 grid(static_cast<unsigned>(ceil_div(channels, threads)),
                    static_cast<unsigned>(ceil_div(tokens, kTokensPerThread)));
    conv1d_prefill_kernel<T><<<grid, threads, 0, ctx->stream>>>(static_cast<const T*>(x), ld_x, tokens, channels, K,
                                                                 w, bias, has_bias, static_cast<const T*>(state),
                                                                 activation, static_cast<T*>(out), ld_out);
    conv1d_state_update_kernel<T><<<static_cast<unsigned>(ceil_div(channels, 256)), 256, 0, ctx->stream>>>(
        static_cast<const T*>(x), ld_x, tokens, channels, K, static_cast<T*>(state));
}

}  // namespace

int32_t op_conv1d_prefill(void* vctx, const void* x, int64_t ld_x, int32_t tokens, int32_t channels,
                          const n4j_weight* weight, const n4j_weight* bias, void* conv_state, int32_t activation,
                          void* out, int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_conv1d_prefill";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int K = weight->cols;
    if (K < 1 || K > kMaxK) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "kernel width %d (1..%d supported)", K, kMaxK);
    if (ceil_div(tokens, kTokensPerThread) > 65535) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "%d tokens in one call (at most %d)", tokens,
                         65535 * kTokensPerThread);
    }
    const weight_ref w = make_weight_ref(weight);
    const weight_ref bw = make_weight_ref(bias);
    const int has_bias = bias != nullptr && bias->data != nullptr;
    if (ctx->act_bf16()) {
        launch_prefill<bf16>(ctx, x, ld_x, tokens, channels, K, w, bw, has_bias, conv_state, activation, out, ld_out);
    } else {
        launch_prefill<float>(ctx, x, ld_x, tokens, channels, K, w, bw, has_bias, conv_state, activation, out, ld_out);
    }
    return ctx->check_launch(where);
}

int32_t op_conv1d_decode(void* vctx, int32_t batch, const void* x, int64_t ld_x, int32_t channels,
                         const n4j_weight* weight, const n4j_weight* bias, void* const* conv_states,
                         int32_t activation, void* out, int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_conv1d_decode";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int K = weight->cols;
    if (K < 1 || K > kMaxK) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "kernel width %d (1..%d supported)", K, kMaxK);
    if (batch > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "batch %d (at most 65535)", batch);
    staged st;
    const size_t bytes = static_cast<size_t>(batch) * sizeof(void*);
    rc = ctx->stage(bytes, &st, where);
    if (rc != N4J_OK) return rc;
    memcpy(st.host, conv_states, bytes);
    rc = ctx->commit(bytes, where);
    if (rc != N4J_OK || ctx->replaying()) return rc;  // a replayed decode step: the graph launches the kernel
    const weight_ref w = make_weight_ref(weight);
    const weight_ref bw = make_weight_ref(bias);
    const int has_bias = bias != nullptr && bias->data != nullptr;
    const int threads = 128;
    const dim3 grid(static_cast<unsigned>(ceil_div(channels, threads)), static_cast<unsigned>(batch));
    if (ctx->act_bf16()) {
        conv1d_decode_kernel<bf16><<<grid, threads, 0, ctx->stream>>>(
            batch, static_cast<const bf16*>(x), ld_x, channels, K, w, bw, has_bias,
            static_cast<bf16* const*>(st.device), activation, static_cast<bf16*>(out), ld_out);
    } else {
        conv1d_decode_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            batch, static_cast<const float*>(x), ld_x, channels, K, w, bw, has_bias,
            static_cast<float* const*>(st.device), activation, static_cast<float*>(out), ld_out);
    }
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
