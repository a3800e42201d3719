/*
 * conv1d.cpp: Mamba-2's causal depthwise conv1d with carried state.
 *
 * For channel c with kernel w[c, 0..K): out[t, c] = act(bias[c] + sum_k w[c, k] * in[t - (K-1) + k, c]), where
 * in[j] = x[j] for j >= 0 and in[j] = state[c, K + j] for j < 0 (the state holds the last K inputs, oldest first,
 * exactly Hugging Face's conv_state; only its last K-1 entries enter the sum). Afterwards the state holds the last
 * K inputs of state ++ x (for tokens < K part of the old state shifts left). Decode is the same with one token
 * per sequence. act is identity or SiLU. F32 accumulation in k order.
 *
 * Reference: scalar, channel by channel. Fast prefill: channels in blocks of 64 over the thread pool; per block the
 * kernel is transposed to w[k][c] and the state to history[k][c] so every token is a few vectorized
 * multiply-adds across channels; SiLU with a vectorizable exp. Fast decode: channels blocks over the pool, weights
 * expanded to F32 once per call.
 */
#include "cpu/conv1d.h"

#include "cpu/dtype_scalar.h"
#include "cpu/fast_math.h"

namespace n4j {
namespace cpu {

namespace {

constexpr int32_t kChannelBlock = 64;

/* The input at relative position j (j >= -(K-1) + ..., j < tokens) of channel c. */
inline float conv_input(const float* x, int64_t ld_x, const float* state_c, int32_t K, int32_t c, int64_t j) {
    return j >= 0 ? x[j * ld_x + c] : state_c[K + j];
}

/* New state of one channel: the last K of state ++ x (reads the old state before overwriting it). */
inline void conv_update_state(const float* x, int64_t ld_x, int32_t tokens, float* state_c, int32_t K, int32_t c) {
    if (tokens >= K) {
        for (int32_t k = 0; k < K; ++k) state_c[k] = x[static_cast<int64_t>(tokens - K + k) * ld_x + c];
        return;
    }
    // Shift left by `tokens` (increasing k reads a larger index, so in place is safe), then append x.
    for (int32_t k = 0; k < K - tokens; ++k) state_c[k] = state_c[k + tokens];
    for (int32_t k = K - tokens; k < K; ++k) state_c[k] = x[static_cast<int64_t>(k - (K - tokens)) * ld_x + c];
}

}  // namespace

void conv1d_prefill_ref(const float* x, int64_t ld_x, int32_t tokens, int32_t channels, const n4j_weight* weight,
                        const n4j_weight* bias, float* conv_state, int32_t activation, float* out, int64_t ld_out) {
    const int32_t K = weight->cols;
    for (int32_t c = 0; c < channels; ++c) {
        float* state_c = conv_state + static_cast<int64_t>(c) * K;
        for (int32_t t = 0; t < tokens; ++t) {
            float acc = bias != nullptr ? weight_value(bias, c) : 0.0f;
            for (int32_t k = 0; k < K; ++k) {
                acc += weight_value(weight, static_cast<int64_t>(c) * K + k) *
                       conv_input(x, ld_x, state_c, K, c, static_cast<int64_t>(t) - (K - 1) + k);
            }
            out[static_cast<int64_t>(t) * ld_out + c] = activation == N4J_ACT_SILU ? silu_ref(acc) : acc;
        }
        conv_update_state(x, ld_x, tokens, state_c, K, c);
    }
}

void conv1d_decode_ref(int32_t batch, const float* x, int64_t ld_x, int32_t channels, const n4j_weight* weight,
                       const n4j_weight* bias, float* const* conv_states, int32_t activation, float* out,
                       int64_t ld_out) {
    for (int32_t b = 0; b < batch; ++b) {
        conv1d_prefill_ref(x + b * ld_x, ld_x, 1, channels, weight, bias, conv_states[b], activation,
                           out + b * ld_out, ld_out);
    }
}

void conv1d_prefill_fast(context* ctx, const float* x, int64_t ld_x, int32_t tokens, int32_t channels,
                         const n4j_weight* weight, const n4j_weight* bias, float* conv_state, int32_t activation,
                         float* out, int64_t ld_out) {
    const int32_t K = weight->cols;
    const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
    // Per thread: w[K][64], history[K][64], bias[64], acc[64].
    ctx->reserve_thread_scratch(sizeof(float) * kChannelBlock * (2 * static_cast<size_t>(K) + 2));
    auto block = [&](int64_t blk, int thread) {
        const int32_t c0 = static_cast<int32_t>(blk) * kChannelBlock;
        const int32_t nc = channels - c0 < kChannelBlock ? channels - c0 : kChannelBlock;
        float* wt = static_cast<float*>(ctx->thread_scratch(thread));
        float* history = wt + K * kChannelBlock;
        float* bias_f = history + K * kChannelBlock;
        float* acc = bias_f + kChannelBlock;
        for (int32_t j = 0; j < nc; ++j) {
            const int64_t c = c0 + j;
            for (int32_t k = 0; k < K; ++k) {
                wt[k * kChannelBlock + j] = weight_value(weight, c * K + k);
                history[k * kChannelBlock + j] = conv_state[c * K + k];
            }
            bias_f[j] = bias != nullptr ? weight_value(bias, c) : 0.0f;
        }
        for (int32_t t = 0; t < tokens; ++t) {
#pragma omp simd
            for (int32_t j = 0; j < nc; ++j) acc[j] = bias_f[j];
            for (int32_t k = 0; k < K; ++k) {
                const int64_t src = static_cast<int64_t>(t) - (K - 1) + k;
                const float* in = src >= 0 ? x + src * ld_x + c0 : history + (K + src) * kChannelBlock;
                const float* wk = wt + k * kChannelBlock;
#pragma omp simd
                for (int32_t j = 0; j < nc; ++j) acc[j] += wk[j] * in[j];
            }
            float* o = out + static_cast<int64_t>(t) * ld_out + c0;
            if (activation == N4J_ACT_SILU) {
#pragma omp simd
                for (int32_t j = 0; j < nc; ++j) o[j] = silu_fast(acc[j]);
            } else {
#pragma omp simd
                for (int32_t j = 0; j < nc; ++j) o[j] = acc[j];
            }
        }
        for (int32_t j = 0; j < nc; ++j) conv_update_state(x, ld_x, tokens, conv_state + (c0 + j) * static_cast<int64_t>(K), K, c0 + j);
    };
    if (static_cast<int64_t>(tokens) * channels * K < (1 << 15)) {
        for (int64_t b = 0; b < blocks; ++b) block(b, 0);
    } else {
        parallel_for(ctx->workers(), blocks, block);
    }
}

void conv1d_decode_fast(context* ctx, int32_t batch, const float* x, int64_t ld_x, int32_t channels,
                        const n4j_weight* weight, const n4j_weight* bias, float* const* conv_states,
                        int32_t activation, float* out, int64_t ld_out) {
    const int32_t K = weight->cols;
    const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
    // Per thread: w[64][K] and bias[64] of the block, expanded once and used for every sequence.
    ctx->reserve_thread_scratch(sizeof(float) * kChannelBlock * (static_cast<size_t>(K) + 1));
    auto block = [&](int64_t blk, int thread) {
        const int32_t c0 = static_cast<int32_t>(blk) * kChannelBlock;
        const int32_t nc = channels - c0 < kChannelBlock ? channels - c0 : kChannelBlock;
        float* wb = static_cast<float*>(ctx->thread_scratch(thread));
        float* bias_f = wb + kChannelBlock * K;
        weight_to_f32(weight, static_cast<int64_t>(c0) * K, static_cast<int64_t>(nc) * K, wb);
        for (int32_t j = 0; j < nc; ++j) bias_f[j] = bias != nullptr ? weight_value(bias, c0 + j) : 0.0f;
        for (int32_t b = 0; b < batch; ++b) {
            const float* xb = x + b * ld_x;
            float* ob = out + b * ld_out + c0;
            float* state = conv_states[b];
            for (int32_t j = 0; j < nc; ++j) {
                const int32_t c = c0 + j;
                float* state_c = state + static_cast<int64_t>(c) * K;
                const float* w_c = wb + j * K;
                const float input = xb[c];
                float acc = bias_f[j];
                for (int32_t k = 0; k < K - 1; ++k) acc += w_c[k] * state_c[k + 1];
                acc += w_c[K - 1] * input;
                for (int32_t k = 0; k < K - 1; ++k) state_c[k] = state_c[k + 1];
                state_c[K - 1] = input;
                ob[j] = acc;
            }
            // the activation over the block's outputs in a second, vectorized pass (the same function per element)
            if (activation == N4J_ACT_SILU) {
#pragma omp simd
                for (int32_t j = 0; j < nc; ++j) ob[j] = silu_fast(ob[j]);
            }
        }
    };
    // A decode step's conv1d is a few tens of microseconds of serial work per layer on the smaller models (bench-medium:
    // 4608 channels x 4 taps): worth the pool from 4096 multiply-adds on.
    if (static_cast<int64_t>(batch) * channels * K < (1 << 12)) {
        for (int64_t b = 0; b < blocks; ++b) block(b, 0);
    } else {
        parallel_for(ctx->workers(), blocks, block);
    }
}

}  // namespace cpu
}  // namespace n4j
