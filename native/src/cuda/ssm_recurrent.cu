/*
 * ssm_recurrent.cu: the Mamba-2 recurrence computed token by token, for decode (one token of each of `batch`
 * sequences) and as the simple sequential scan (all tokens of one sequence; the reference the chunked SSD scan is
 * checked against).
 *
 *   dt' = softplus(dt + dt_bias[h]),  A = -exp(A_log[h]),  g = h / (heads / groups)
 *   state[h, p, :] <- exp(dt' * A) * state[h, p, :] + dt' * x[t, h, p] * B[t, g, :]
 *   y[t, h, p]     =  state[h, p, :] . C[t, g, :] + D[h] * x[t, h, p]
 *
 * One warp per (sequence, head, head-dim row p): the lanes own state elements n = lane + 32 i of that row, update
 * them in place in the fp32 state (global memory; each element is only ever touched by its own lane), and the dot
 * product with C is a warp reduction. Blocks of 4 warps cover 4 rows of p. For the sequential scan the warp walks
 * the tokens in order. exp/softplus in fp32 with libdevice expf/log1pf, like the CPU reference.
 * Decode reads the state pointers from a staged device copy of the host array (context staging ring).
 * Cost: decode moves the state once in and out (5.2 MB per 9B layer per sequence), a few microseconds.
 */
#include <string.h>

#include "common.cuh"
#include "context.cuh"
#include "ssm_recurrent.cuh"

namespace n4j {
namespace cuda {

namespace {

constexpr int kRowsPerBlock = 4;

struct ssm_params {
    int heads, head_dim, groups, state_dim;
    int tokens;  // tokens per sequence (1 for decode)
    const void* x;
    int64_t ld_x;
    const void* B;
    int64_t ld_B;
    const void* C;
    int64_t ld_C;
    const void* dt;
    int64_t ld_dt;
    weight_ref dt_bias, A_log, D;
    float* const* states;  // per sequence (decode), or nullptr
    float* state;          // the single state (sequential scan)
    void* y;
    int64_t ld_y;
    int act_bf16;
};

__global__ void ssm_recurrent_kernel(ssm_params p) {
    const int lane = threadIdx.x & 31;
    const int pr = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);  // row p of the head
    const int h = blockIdx.y;
    const int seq = blockIdx.z;
    if (pr >= p.head_dim) return;
    const int g = h / (p.heads / p.groups);
    const int N = p.state_dim;
    float* st = (p.states != nullptr ? p.states[seq] : p.state) + (static_cast<int64_t>(h) * p.head_dim + pr) * N;
    const float A = -expf(p.A_log(h));
    const float bias = p.dt_bias(h);
    const float Dh = p.D(h);
    for (int t = 0; t < p.tokens; ++t) {
        const int64_t row = static_cast<int64_t>(seq) * p.tokens + t;
        const float dtv = softplus(load_act(p.dt, p.act_bf16, row * p.ld_dt + h) + bias);
        const float decay = expf(dtv * A);
        const float xv = load_act(p.x, p.act_bf16, row * p.ld_x + static_cast<int64_t>(h) * p.head_dim + pr);
        const float dx = dtv * xv;
        const int64_t bc = static_cast<int64_t>(g) * N;
        float acc = 0.0f;
        for (int n = lane; n < N; n += kWarp) {
            const float bn = load_act(p.B, p.act_bf16, row * p.ld_B + bc + n);
            const float cn = load_act(p.C, p.act_bf16, row * p.ld_C + bc + n);
            const float s = fmaf(decay, st[n], dx * bn);
            st[n] = s;
            acc = fmaf(s, cn, acc);
        }
        acc = warp_sum(acc);
        if (lane == 0) {
            store_act(p.y, p.act_bf16, row * p.ld_y + static_cast<int64_t>(h) * p.head_dim + pr, fmaf(Dh, xv, acc));
        }
    }
}

int32_t check_dims(context* ctx, const char* where, const n4j_ssm_dims* d) {
    if (d->groups <= 0 || d->heads % d->groups != 0) {
        return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "heads %d not a multiple of groups %d", d->heads, d->groups);
    }
    if (d->heads > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "more than 65535 heads");
    return N4J_OK;
}

ssm_params make_params(context* ctx, const n4j_ssm_dims* d, int tokens, const void* x, int64_t ld_x, const void* B,
                       int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                       const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D, void* y,
                       int64_t ld_y) {
    ssm_params p;
    p.heads = d->heads;
    p.head_dim = d->head_dim;
    p.groups = d->groups;
    p.state_dim = d->state_dim;
    p.tokens = tokens;
    p.x = x;
    p.ld_x = ld_x;
    p.B = B;
    p.ld_B = ld_B;
    p.C = C;
    p.ld_C = ld_C;
    p.dt = dt;
    p.ld_dt = ld_dt;
    p.dt_bias = make_weight_ref(dt_bias);
    p.A_log = make_weight_ref(A_log);
    p.D = make_weight_ref(D);
    p.states = nullptr;
    p.state = nullptr;
    p.y = y;
    p.ld_y = ld_y;
    p.act_bf16 = ctx->act_bf16() ? 1 : 0;
    return p;
}

}  // namespace

int32_t op_ssm_scan_sequential(void* vctx, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                               const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt,
                               int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                               const n4j_weight* D, float* ssm_state, void* y, int64_t ld_y) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_ssm_scan_sequential";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    rc = check_dims(ctx, where, dims);
    if (rc != N4J_OK) return rc;
    ssm_params p = make_params(ctx, dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log, D, y, ld_y);
    p.state = ssm_state;
    const dim3 grid(static_cast<unsigned>(ceil_div(dims->head_dim, kRowsPerBlock)), static_cast<unsigned>(dims->heads),
                    1);
    ssm_recurrent_kernel<<<grid, kRowsPerBlock * kWarp, 0, ctx->stream>>>(p);
    return ctx->check_launch(where);
}

int32_t op_ssm_decode(void* vctx, const n4j_ssm_dims* dims, int32_t batch, const void* x, int64_t ld_x,
                      const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                      const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                      float* const* ssm_states, void* y, int64_t ld_y) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_ssm_decode";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    rc = check_dims(ctx, where, dims);
    if (rc != N4J_OK) return rc;
    if (batch > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "batch %d (at most 65535)", batch);
    staged st;
    const size_t bytes = static_cast<size_t>(batch) * sizeof(float*);
    rc = ctx->stage(bytes, &st, where);
    if (rc != N4J_OK) return rc;
    memcpy(st.host, ssm_states, bytes);
    rc = ctx->commit(bytes, where);
    if (rc != N4J_OK || ctx->replaying()) return rc;  // a replayed decode step: the graph launches the kernel
    ssm_params p = make_params(ctx, dims, 1, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, dt_bias, A_log, D, y, ld_y);
    p.states = static_cast<float* const*>(st.device);
    const dim3 grid(static_cast<unsigned>(ceil_div(dims->head_dim, kRowsPerBlock)), static_cast<unsigned>(dims->heads),
                    static_cast<unsigned>(batch));
    ssm_recurrent_kernel<<<grid, kRowsPerBlock * kWarp, 0, ctx->stream>>>(p);
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
