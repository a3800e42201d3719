/*
 * ssm_recurrence.cpp: Mamba-2's selective state update, one token at a time.
 *
 * Per head h (group g = h / (heads / groups)), token t, with dt' = softplus(dt[t,h] + dt_bias[h]) and
 * A = -exp(A_log[h]):
 *   state[h][p][n] <- exp(dt' * A) * state[h][p][n] + (dt' * x[t, h, p]) * B[t, g, n]
 *   y[t, h, p]      = sum_n state[h][p][n] * C[t, g, n] + D[h] * x[t, h, p]
 * All in F32 (the state is F32 always). ssm_scan_sequential_ref is the oracle for the chunked SSD scan.
 *
 * Decode, fast: one task per (sequence, head) on the thread pool; for each row p the state update and the dot
 * product with C are one fused, vectorized pass over n (the state is read and written once: decode is bound by
 * the memory traffic of the state).
 */
#include "cpu/ssm_recurrence.h"

#include <math.h>

#include "cpu/ssm_params.h"

namespace n4j {
namespace cpu {

namespace {

/* One token for one head: updates state [P][N] and writes y[0..P). */
inline void ssm_step_head_ref(int32_t P, int32_t N, const float* xh, const float* Bg, const float* Cg, float dt_raw,
                              float dt_bias, float A, float D, float* state, float* yh) {
    const float step = ssm_step_size(dt_raw, dt_bias);
    const float decay = expf(step * A);
    for (int32_t p = 0; p < P; ++p) {
        const float dx = step * xh[p];
        float* sp = state + static_cast<int64_t>(p) * N;
        float acc = 0.0f;
        for (int32_t n = 0; n < N; ++n) {
            const float s = decay * sp[n] + dx * Bg[n];
            sp[n] = s;
            acc += s * Cg[n];
        }
        yh[p] = acc + D * xh[p];
    }
}

}  // namespace

void ssm_scan_sequential_ref(const n4j_ssm_dims* dims, int32_t tokens, const float* x, int64_t ld_x,
                             const float* B, int64_t ld_B, const float* C, int64_t ld_C, const float* dt,
                             int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                             const n4j_weight* D, float* ssm_state, float* y, int64_t ld_y) {
    const int32_t H = dims->heads, P = dims->head_dim, N = dims->state_dim;
    const int32_t heads_per_group = H / dims->groups;
    for (int32_t h = 0; h < H; ++h) {
        const int32_t g = h / heads_per_group;
        const float bias = weight_value(dt_bias, h);
        const float A = -expf(weight_value(A_log, h));
        const float Dh = weight_value(D, h);
        float* state = ssm_state + static_cast<int64_t>(h) * P * N;
        for (int32_t t = 0; t < tokens; ++t) {
            ssm_step_head_ref(P, N, x + t * ld_x + static_cast<int64_t>(h) * P, B + t * ld_B + static_cast<int64_t>(g) * N,
                              C + t * ld_C + static_cast<int64_t>(g) * N, dt[t * ld_dt + h], bias, A, Dh, state,
                              y + t * ld_y + static_cast<int64_t>(h) * P);
        }
    }
}

void ssm_decode_ref(const n4j_ssm_dims* dims, int32_t batch, const float* x, int64_t ld_x, const float* B,
                    int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                    const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                    float* const* ssm_states, float* y, int64_t ld_y) {
    for (int32_t b = 0; b < batch; ++b) {
        ssm_scan_sequential_ref(dims, 1, x + b * ld_x, ld_x, B + b * ld_B, ld_B, C + b * ld_C, ld_C, dt + b * ld_dt,
                                ld_dt, dt_bias, A_log, D, ssm_states[b], y + b * ld_y, ld_y);
    }
}

void ssm_decode_fast(context* ctx, const n4j_ssm_dims* dims, int32_t batch, const float* x, int64_t ld_x,
                     const float* B, int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                     const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                     float* const* ssm_states, float* y, int64_t ld_y) {
    const int32_t H = dims->heads, P = dims->head_dim, N = dims->state_dim;
    const int32_t heads_per_group = H / dims->groups;
    float* params = static_cast<float*>(ctx->shared_scratch(3 * sizeof(float) * static_cast<size_t>(H)));
    float* bias_f = params;
    float* A_f = params + H;
    float* D_f = params + 2 * H;
    ssm_expand_params(H, dt_bias, A_log, D, bias_f, A_f, D_f);
    auto task = [&](int64_t i, int) {
        const int32_t b = static_cast<int32_t>(i / H);
        const int32_t h = static_cast<int32_t>(i % H);
        const int32_t g = h / heads_per_group;
        const float* xh = x + b * ld_x + static_cast<int64_t>(h) * P;
        const float* Bg = B + b * ld_B + static_cast<int64_t>(g) * N;
        const float* Cg = C + b * ld_C + static_cast<int64_t>(g) * N;
        float* yh = y + b * ld_y + static_cast<int64_t>(h) * P;
        float* state = ssm_states[b] + static_cast<int64_t>(h) * P * N;
        const float step = ssm_step_size(dt[b * ld_dt + h], bias_f[h]);
        const float decay = expf(step * A_f[h]);
        for (int32_t p = 0; p < P; ++p) {
            const float dx = step * xh[p];
            float* sp = state + static_cast<int64_t>(p) * N;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int32_t n = 0; n < N; ++n) {
                const float s = decay * sp[n] + dx * Bg[n];
                sp[n] = s;
                acc += s * Cg[n];
            }
            yh[p] = acc + D_f[h] * xh[p];
        }
    };
    const int64_t tasks = static_cast<int64_t>(batch) * H;
    if (tasks * P * N < (1 << 14)) {
        for (int64_t i = 0; i < tasks; ++i) task(i, 0);
    } else {
        parallel_for(ctx->workers(), tasks, task);
    }
}

}  // namespace cpu
}  // namespace n4j
