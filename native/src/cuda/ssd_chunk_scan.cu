/*
 * ssd_chunk_scan.cu: n4j_ssd_chunk_scan, the chunked SSD form of the Mamba-2 scan. The algorithm, its numerics and
 * the kernel list are in ssd_chunk_scan.cuh; this file holds the small kernels (1. cumsum, 2. C.B, 4. state
 * passing) and the launcher that runs the five kernels over segments of whole chunks.
 */
#include "ssd_chunk_scan.cuh"

namespace n4j {
namespace cuda {

namespace {

/* 1. dt'[h][c*L + l] and the inclusive cumsum of dt'*A within each chunk, accumulated in fp64 (a warp scan) and
 *    stored as hi + lo floats. One warp per (chunk, head). */
__global__ void ssd_cumsum_kernel(ssd_params a) {
    const int c = blockIdx.x;
    const int h = blockIdx.y * blockDim.y + threadIdx.y;
    const int lane = threadIdx.x;
    if (h >= a.heads) return;
    const int L = a.chunk;
    const float A = -expf(a.A_log(h));
    const float bias = a.dt_bias(h);
    const int64_t base = static_cast<int64_t>(h) * a.n_chunks * L + static_cast<int64_t>(c) * L;
    double carry = 0.0;
    for (int l0 = 0; l0 < L; l0 += kWarp) {
        const int l = l0 + lane;
        const int t = c * L + l;
        float d = 0.0f;
        if (l < L && t < a.tokens) d = softplus(load_act(a.dt, a.act_bf16, t * a.ld_dt + h) + bias);
        double v = static_cast<double>(d * A);  // the same fp32 product a_t the sequential recurrence uses
#pragma unroll
        for (int o = 1; o < kWarp; o <<= 1) {
            const double u = __shfl_up_sync(0xffffffffu, v, o);
            if (lane >= o) v += u;
        }
        v += carry;
        if (l < L) {
            const float hi = static_cast<float>(v);
            a.dtp[base + l] = d;
            a.cs[base + l] = hi;
            a.cs_lo[base + l] = static_cast<float>(v - static_cast<double>(hi));
        }
        carry = __shfl_sync(0xffffffffu, v, kWarp - 1);
    }
}

/* 2. CB[g][c][l][s] = sum_n C[l][g, n] B[s][g, n] on 64 x 64 tiles at or below the diagonal. */
constexpr int kCbTile = 64;
constexpr int kCbK = 16;

__global__ void __launch_bounds__(256) ssd_cb_kernel(ssd_params a) {
    __shared__ float c_s[kCbK][kCbTile + 4];
    __shared__ float b_s[kCbK][kCbTile + 4];
    const int L = a.chunk;
    const int tiles = (L + kCbTile - 1) / kCbTile;
    const int lt = blockIdx.x / tiles;
    const int st = blockIdx.x % tiles;
    if (st > lt) return;  // every s > every l: never read
    const int c = blockIdx.y;
    const int g = blockIdx.z;
    const int N = a.state_dim;
    const int l0 = lt * kCbTile;
    const int s0 = st * kCbTile;
    const int tx = threadIdx.x & 15;  // s = s0 + tx + 16 j
    const int ty = threadIdx.x >> 4;  // l = l0 + ty + 16 i
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
    const int64_t col0 = static_cast<int64_t>(g) * N;
    for (int n0 = 0; n0 < N; n0 += kCbK) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int e = threadIdx.x + 256 * k;
            const int r = e / kCbK;
            const int kk = e % kCbK;
            const bool n_ok = n0 + kk < N;
            const int lc = l0 + r;
            const int sc = s0 + r;
            const int tl = c * L + lc;
            const int ts = c * L + sc;
            c_s[kk][r] = (n_ok && lc < L && tl < a.tokens)
                             ? load_act(a.C, a.act_bf16, tl * a.ld_C + col0 + n0 + kk)
                             : 0.0f;
            b_s[kk][r] = (n_ok && sc < L && ts < a.tokens)
                             ? load_act(a.B, a.act_bf16, ts * a.ld_B + col0 + n0 + kk)
                             : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < kCbK; ++kk) {
            float cv[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) cv[i] = c_s[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) bv[j] = b_s[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(cv[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }
    float* out = a.cb + ((static_cast<int64_t>(g) * a.n_chunks + c) * L) * L;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int l = l0 + ty + 16 * i;
        if (l >= L) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int s = s0 + tx + 16 * j;
            if (s < L) out[static_cast<int64_t>(l) * L + s] = acc[i][j];
        }
    }
}

/* 4. Sequential over chunks: states[c] <- Hprev_c (the state entering chunk c); the last carry is the final state. */
__global__ void ssd_state_pass_kernel(ssd_params a) {
    const int h = blockIdx.y;
    const int64_t pn = static_cast<int64_t>(a.head_dim) * a.state_dim;
    const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (e >= pn) return;
    const int L = a.chunk;
    const float* cs = a.cs + static_cast<int64_t>(h) * a.n_chunks * L;
    const float* cs_lo = a.cs_lo + static_cast<int64_t>(h) * a.n_chunks * L;
    float* st = a.state + h * pn + e;
    float carry = *st;
    float* sp = a.states + h * pn + e;
    const int64_t stride = static_cast<int64_t>(a.heads) * pn;
    float next = sp[0];
    for (int c = 0; c < a.n_chunks; ++c) {
        const float s = next;
        if (c + 1 < a.n_chunks) next = sp[stride];  // prefetch the next chunk's contribution
        *sp = carry;
        const int64_t last = static_cast<int64_t>(c) * L + L - 1;
        carry = fmaf(expf(cs[last] + cs_lo[last]), carry, s);
        sp += stride;
    }
    *st = carry;
}

}  // namespace

int32_t op_ssd_chunk_scan(void* vctx, const n4j_ssm_dims* dims, int32_t tokens, const void* x, int64_t ld_x,
                          const void* B, int64_t ld_B, const void* C, int64_t ld_C, const void* dt, int64_t ld_dt,
                          const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D, float* ssm_state,
                          void* y, int64_t ld_y) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_ssd_chunk_scan";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    const int H = dims->heads;
    const int P = dims->head_dim;
    const int G = dims->groups;
    const int N = dims->state_dim;
    // A chunk longer than the call is the whole call (as on the CPU; the SSD form is exact for any chunking): a short
    // prefill then costs its own length, not a full chunk's L x L C.B tiles and L-token loops.
    const int L = dims->chunk_size < tokens ? dims->chunk_size : tokens;
    if (G <= 0 || H % G != 0) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "heads %d not a multiple of groups %d", H, G);
    if (L <= 0) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "chunk_size %d", L);
    if (G > 65535) return ctx->fail(N4J_ERR_UNSUPPORTED, where, "more than 65535 groups");
    if (static_cast<int64_t>(H) * ceil_div(P, 32) > 65535) {
        return ctx->fail(N4J_ERR_UNSUPPORTED, where, "heads %d x head_dim %d too large for the grid", H, P);
    }

    const int64_t total_chunks = ceil_div(tokens, L);
    // Tensor cores for C.B, the chunk states and the chunk output when the activations are BF16 (ssd_chunk_mma.cuh);
    // F32 activations (their 1e-4 criterion) and N4J_CUDA_NO_MMA keep the fp32 SIMT kernels. The per-chunk states
    // in scratch are fp32 on the SIMT path and bf16 (the Hprev copies kernel 5 reads) on the tensor-core path.
    const bool mma = ctx->act_bf16() && !ctx->no_mma;
    const int64_t state_bytes = static_cast<int64_t>(H) * P * N * (mma ? 2 : 4);
    int64_t seg_chunks = ctx->ssd_segment_bytes / (state_bytes > 0 ? state_bytes : 1);
    if (seg_chunks < 1) seg_chunks = 1;
    if (seg_chunks > 4096) seg_chunks = 4096;
    if (seg_chunks > total_chunks) seg_chunks = total_chunks;

    const size_t per_head = static_cast<size_t>(seg_chunks) * L;
    const size_t bytes = 3 * align256(H * per_head * sizeof(float)) +
                         align256(static_cast<size_t>(G) * seg_chunks * L * L * sizeof(float)) +
                         align256(static_cast<size_t>(seg_chunks) * state_bytes);
    char* cursor = static_cast<char*>(ctx->get_scratch(bytes, where));
    if (cursor == nullptr) return N4J_ERR_OUT_OF_MEMORY;

    ssd_params a;
    a.heads = H;
    a.head_dim = P;
    a.groups = G;
    a.state_dim = N;
    a.chunk = L;
    a.ld_x = ld_x;
    a.ld_B = ld_B;
    a.ld_C = ld_C;
    a.ld_dt = ld_dt;
    a.ld_y = ld_y;
    a.dt_bias = make_weight_ref(dt_bias);
    a.A_log = make_weight_ref(A_log);
    a.D = make_weight_ref(D);
    a.state = ssm_state;
    a.act_bf16 = ctx->act_bf16() ? 1 : 0;
    a.vec_x = host_aligned16(x) && ld_x % 8 == 0 && P % 8 == 0;
    a.vec_B = host_aligned16(B) && ld_B % 8 == 0 && N % 8 == 0;
    a.vec_C = host_aligned16(C) && ld_C % 8 == 0 && N % 8 == 0;
    a.dtp = carve<float>(&cursor, H * per_head);
    a.cs = carve<float>(&cursor, H * per_head);
    a.cs_lo = carve<float>(&cursor, H * per_head);
    a.cb = carve<float>(&cursor, static_cast<size_t>(G) * seg_chunks * L * L);
    if (mma) {
        a.states = nullptr;
        a.hprev = carve<bf16>(&cursor, static_cast<size_t>(seg_chunks) * H * P * N);
    } else {
        a.states = carve<float>(&cursor, static_cast<size_t>(seg_chunks) * H * P * N);
        a.hprev = nullptr;
    }

    const int64_t elem = ctx->act_bf16() ? 2 : 4;
    for (int64_t first = 0; first < total_chunks; first += seg_chunks) {
        const int64_t chunks = total_chunks - first < seg_chunks ? total_chunks - first : seg_chunks;
        const int64_t t0 = first * L;
        a.n_chunks = static_cast<int>(chunks);
        a.tokens = static_cast<int>(tokens - t0 < chunks * L ? tokens - t0 : chunks * L);
        a.x = static_cast<const char*>(x) + t0 * ld_x * elem;
        a.B = static_cast<const char*>(B) + t0 * ld_B * elem;
        a.C = static_cast<const char*>(C) + t0 * ld_C * elem;
        a.dt = static_cast<const char*>(dt) + t0 * ld_dt * elem;
        a.y = static_cast<char*>(y) + t0 * ld_y * elem;

        const dim3 cum_block(kWarp, 4);
        ssd_cumsum_kernel<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(ceil_div(H, 4))), cum_block, 0,
                            ctx->stream>>>(a);
        if (mma) {
            ssd::cb_mma(a, ctx->stream);
            ssd::state_scan_mma(a, ctx->stream);
            ssd::chunk_output_mma(a, ctx->stream);
        } else {
            const int tiles = static_cast<int>(ceil_div(L, kCbTile));
            ssd_cb_kernel<<<dim3(static_cast<unsigned>(tiles * tiles), static_cast<unsigned>(chunks),
                                 static_cast<unsigned>(G)),
                            256, 0, ctx->stream>>>(a);
            ssd::chunk_state(a, ctx->stream);
            ssd_state_pass_kernel<<<dim3(static_cast<unsigned>(ceil_div(static_cast<int64_t>(P) * N, 256)),
                                         static_cast<unsigned>(H)),
                                    256, 0, ctx->stream>>>(a);
            ssd::chunk_output(a, ctx->stream);
        }
        rc = ctx->check_launch(where);
        if (rc != N4J_OK) return rc;
    }
    return N4J_OK;
}

}  // namespace cuda
}  // namespace n4j
