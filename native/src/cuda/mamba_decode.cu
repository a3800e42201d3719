/*
 * mamba_decode.cu: n4j_mamba_decode, the Mamba-2 mixer of a decode step between its two projections as one kernel:
 *
 *   xBC = silu(conv1d(xBC_in))  with the conv state   (what conv1d_decode_kernel computes, conv1d.cu)
 *   y   = ssm(x, B, C, dt) + D x  with the SSM state   (ssm_recurrent_kernel, ssm_recurrent.cu)
 *   out = gated_rmsnorm(y, z)                          (gated_rmsnorm_kernel, gated_rmsnorm.cu)
 *
 * Unfused this is three launches, and the conv output (batch x conv channels) makes a round trip through memory
 * between the first two. Here:
 * - Grid (ceil(head_dim / 16), heads, batch); one block per 16 head-dim rows p of a head h, its warps taking rows
 *   in turn (one warp per row, the lanes own state elements n = lane + 32 i, as in ssm_recurrent.cu). The block
 *   first computes the conv outputs of its group's B and C channels (2 * state_dim values) into shared memory;
 *   each warp computes its row's x channel itself. Nothing is written to the conv state in this phase: every block
 *   of the group reads the group's B/C history.
 * - The group's last block (a per-(sequence, group) completion counter: __threadfence, atomicAdd; the last one to
 *   arrive resets it to 0 for the next launch) then runs the gated RMSNorm of the group's dim/groups elements
 *   (the y of every head of the group, stored by the other blocks before their fence; read back with ld.global.cg)
 *   and shifts the conv state of the group's channels (its x channels and its B and C channels), when no block
 *   reads them any more. The norm groups are the SSM groups (heads of one B/C group = one norm group).
 * Numerics are those of the three kernels, bit for bit: the same fmaf chains and rounding points (the conv output
 * rounded to the activation type before the scan reads it, y rounded before the norm reads it), and the norm's
 * block reduction runs on the same block size as gated_rmsnorm.cu's (256 threads for groups of 1024 elements or
 * more, else 128), so its sum is formed in the same order.
 * The counters are context::get_counters (zeroed device ints that every launch leaves zeroed).
 * Saved per Mamba layer and decode step: two launches, and writing then reading batch x (d_inner + 2 groups
 * state_dim) activations (the 9B: 12288 bf16 = 24 KiB each way per sequence).
 */
#include <string.h>

#include "common.cuh"
#include "context.cuh"
#include "mamba_decode.cuh"

namespace n4j {
namespace cuda {

namespace {

constexpr int kRowsPerBlock = 16;
constexpr int kMaxK = 8;

struct mamba_params {
    int heads, head_dim, groups, state_dim;
    int K;                 // conv kernel width
    int d_inner, conv;     // conv = d_inner + 2 * groups * state_dim channels
    const void* zxbcdt;    // [batch, ld_in]: z | xBC | dt
    int64_t ld_in;
    weight_ref conv_w, conv_b;
    int has_bias;
    weight_ref dt_bias, A_log, D, norm;
    float eps;
    void* const* conv_states;  // per sequence [conv, K]
    float* const* ssm_states;  // per sequence [heads, head_dim, state_dim]
    void* y;
    int64_t ld_y;
    void* out;
    int64_t ld_out;
    int* counters;  // [batch, groups], zero between launches
};

/* The conv output of channel c: silu(bias + sum_k w[c, k] in[k]), rounded to T (as conv1d_decode_kernel stores it). */
template <typename T>
__device__ __forceinline__ float conv_out(const mamba_params& p, const T* s, float cur, int c) {
    float acc = p.has_bias ? p.conv_b(c) : 0.0f;
    for (int k = 0; k < p.K - 1; ++k) acc = fmaf(p.conv_w(static_cast<int64_t>(c) * p.K + k), to_f32(s[k + 1]), acc);
    acc = fmaf(p.conv_w(static_cast<int64_t>(c) * p.K + p.K - 1), cur, acc);
    return to_f32(from_f32<T>(silu(acc)));
}

template <typename T>
__global__ void mamba_decode_kernel(mamba_params p) {
    extern __shared__ float bc[];  // [2 * state_dim]: the group's conv outputs for B, then C
    __shared__ float scratch[32];
    __shared__ int last;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    const int h = blockIdx.y;
    const int seq = blockIdx.z;
    const int heads_per_group = p.heads / p.groups;
    const int g = h / heads_per_group;
    const int N = p.state_dim;
    const T* in = static_cast<const T*>(p.zxbcdt) + static_cast<int64_t>(seq) * p.ld_in;
    const T* xbc = in + p.d_inner;
    T* cs = static_cast<T*>(p.conv_states[seq]);

    // B and C of group g through the conv (old state, read only)
    for (int i = threadIdx.x; i < 2 * N; i += blockDim.x) {
        const int c = p.d_inner + (i < N ? g * N + i : p.groups * N + g * N + (i - N));
        bc[i] = conv_out<T>(p, cs + static_cast<int64_t>(c) * p.K, to_f32(xbc[c]), c);
    }
    __syncthreads();

    const float A = -expf(p.A_log(h));
    const float Dh = p.D(h);
    const float dtv = softplus(to_f32(in[p.d_inner + p.conv + h]) + p.dt_bias(h));
    const float decay = expf(dtv * A);
    float* st_base = p.ssm_states[seq] + static_cast<int64_t>(h) * p.head_dim * N;
    T* y = static_cast<T*>(p.y) + static_cast<int64_t>(seq) * p.ld_y;
    for (int r = warp; r < kRowsPerBlock; r += warps) {
        const int pr = blockIdx.x * kRowsPerBlock + r;
        if (pr >= p.head_dim) break;  // warp-uniform
        const int c = h * p.head_dim + pr;
        const float xv = conv_out<T>(p, cs + static_cast<int64_t>(c) * p.K, to_f32(xbc[c]), c);
        const float dx = dtv * xv;
        float* st = st_base + static_cast<int64_t>(pr) * N;
        float acc = 0.0f;
        for (int n = lane; n < N; n += kWarp) {
            const float s = fmaf(decay, st[n], dx * bc[n]);
            st[n] = s;
            acc = fmaf(s, bc[N + n], acc);
        }
        acc = warp_sum(acc);
        if (lane == 0) y[c] = from_f32<T>(fmaf(Dh, xv, acc));
    }

    // Completion: the group's last block normalizes and shifts the group's conv state.
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();  // this block's y (and its reads of the conv state) before the count
        int* counter = p.counters + static_cast<int64_t>(seq) * p.groups + g;
        const int blocks = static_cast<int>(gridDim.x) * heads_per_group;
        last = atomicAdd(counter, 1) == blocks - 1;
        if (last) *counter = 0;  // every block of this (sequence, group) has counted: ready for the next launch
    }
    __syncthreads();
    if (!last) return;
    __threadfence();

    const int gs = p.d_inner / p.groups;
    const int c0 = g * gs;
    const T* yr = y + c0;
    const T* zr = in + c0;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < gs; c += blockDim.x) {
        const float v = to_f32(__ldcg(yr + c)) * silu(to_f32(zr[c]));
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(gs) + p.eps);
    T* o = static_cast<T*>(p.out) + static_cast<int64_t>(seq) * p.ld_out + c0;
    for (int c = threadIdx.x; c < gs; c += blockDim.x) {
        const float v = to_f32(__ldcg(yr + c)) * silu(to_f32(zr[c]));
        o[c] = from_f32<T>(v * inv * p.norm(c0 + c));
    }

    // conv state of the group's channels: x channels [c0, c0 + gs), then its B and C channels
    for (int i = threadIdx.x; i < gs + 2 * N; i += blockDim.x) {
        const int c = i < gs ? c0 + i : p.d_inner + (i - gs < N ? g * N + (i - gs) : p.groups * N + g * N + (i - gs - N));
        T* s = cs + static_cast<int64_t>(c) * p.K;
        for (int k = 0; k < p.K - 1; ++k) s[k] = s[k + 1];
        s[p.K - 1] = xbc[c];
    }
}

}  // namespace

int32_t op_mamba_decode(void* vctx, const n4j_ssm_dims* dims, int32_t batch, const void* zxbcdt, int64_t ld_zxbcdt,
                        const n4j_weight* conv_weight, const n4j_weight* conv_bias, const n4j_weight* dt_bias,
                        const n4j_weight* A_log, const n4j_weight* D, const n4j_weight* norm, float eps,
                        void* const* conv_states, float* const* ssm_states, void* y, int64_t ld_y, void* out,
                        int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_mamba_decode";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int K = conv_weight->cols;
    if (K < 1 || K > kMaxK) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "conv_weight: kernel width %d (1..%d supported)", K, kMaxK);
    }
    if (dims->groups <= 0 || dims->heads % dims->groups != 0) {
        return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "heads %d not a multiple of groups %d", dims->heads,
                         dims->groups);
    }
    if (dims->heads > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "dims->heads %d (at most 65535)", dims->heads);
    if (batch > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "batch %d (at most 65535)", batch);
    const size_t smem = 2 * static_cast<size_t>(dims->state_dim) * sizeof(float);
    if (smem > 48 * 1024) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "dims->state_dim %d (at most %d)", dims->state_dim,
                         48 * 1024 / 8);
    }
    int* counters = ctx->get_counters(static_cast<size_t>(batch) * dims->groups, where);
    if (counters == nullptr) return N4J_ERR_OUT_OF_MEMORY;
    // both pointer arrays in one staged piece: conv_states, then ssm_states
    staged st;
    const size_t bytes = 2 * static_cast<size_t>(batch) * sizeof(void*);
    rc = ctx->stage(bytes, &st, where);
    if (rc != N4J_OK) return rc;
    memcpy(st.host, conv_states, bytes / 2);
    memcpy(static_cast<char*>(st.host) + bytes / 2, ssm_states, bytes / 2);
    rc = ctx->commit(bytes, where);
    if (rc != N4J_OK || ctx->replaying()) return rc;  // a replayed decode step: the graph launches the kernel

    mamba_params p;
    p.heads = dims->heads;
    p.head_dim = dims->head_dim;
    p.groups = dims->groups;
    p.state_dim = dims->state_dim;
    p.K = K;
    p.d_inner = dims->heads * dims->head_dim;
    p.conv = p.d_inner + 2 * dims->groups * dims->state_dim;
    p.zxbcdt = zxbcdt;
    p.ld_in = ld_zxbcdt;
    p.conv_w = make_weight_ref(conv_weight);
    p.conv_b = make_weight_ref(conv_bias);
    p.has_bias = conv_bias != nullptr && conv_bias->data != nullptr;
    p.dt_bias = make_weight_ref(dt_bias);
    p.A_log = make_weight_ref(A_log);
    p.D = make_weight_ref(D);
    p.norm = make_weight_ref(norm);
    p.eps = eps;
    p.conv_states = static_cast<void* const*>(st.device);
    p.ssm_states = reinterpret_cast<float* const*>(static_cast<char*>(st.device) + bytes / 2);
    p.y = y;
    p.ld_y = ld_y;
    p.out = out;
    p.ld_out = ld_out;
    p.counters = counters;
    // the block size of gated_rmsnorm.cu for this group size: the norm's sum in the same order
    const int threads = p.d_inner / p.groups >= 1024 ? 256 : 128;
    const dim3 grid(static_cast<unsigned>(ceil_div(dims->head_dim, kRowsPerBlock)), static_cast<unsigned>(dims->heads),
                    static_cast<unsigned>(batch));
    if (ctx->act_bf16()) {
        mamba_decode_kernel<bf16><<<grid, threads, smem, ctx->stream>>>(p);
    } else {
        mamba_decode_kernel<float><<<grid, threads, smem, ctx->stream>>>(p);
    }
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
