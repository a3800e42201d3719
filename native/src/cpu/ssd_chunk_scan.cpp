/*
 * ssd_chunk_scan.cpp: Mamba-2's selective scan in the chunked SSD ("state space duality") matmul form.
 *
 * The recurrence (ssm_recurrence.cpp) per head h, group g = h / (heads / groups):
 *   state_t = exp(a_t) * state_{t-1} + dt'_t * x_t (outer) B_t,   y_t = state_t . C_t + D * x_t,   a_t = dt'_t * A.
 * Unrolled over a chunk of L tokens that starts with the state S (all sums over chunk-local indices):
 *   y_t = exp(seg(t, -1)) * (S . C_t)                                   output from the incoming state
 *       + sum_{s <= t} (C_t . B_s) * exp(seg(t, s)) * dt'_s * x_s      intra-chunk, causal
 *       + D * x_t
 *   S'  = exp(seg(L-1, -1)) * S + sum_s exp(seg(L-1, s)) * dt'_s * x_s (outer) B_s   state passed to the next chunk
 * with the segment sums seg(t, s) = a_{s+1} + ... + a_t (0 for s = t; seg(t, -1) = a_0 + ... + a_t).
 *
 * Numerics: F32 throughout. Every segment sum is accumulated directly over its own segment (running sums
 * seg(t, s) = seg(t-1, s) + a_t, suffix sums for seg(L-1, s)) rather than as a difference of two large prefix
 * sums, so each decay factor carries only the rounding of its own (small) exponent; only s <= t is ever
 * exponentiated and a_t <= 0, so every exp argument is <= 0: no overflow, never exp of a large positive number.
 * dt' = softplus(dt + dt_bias) without clamp, A = -exp(A_log).
 *
 * Reference: the formulas above, scalar, head by head and chunk by chunk (C_t . B_s recomputed per head).
 * Fast: per window of chunks, phase 1 computes the causal C.B^T matrix once per (group, chunk) (shared by the
 * heads of the group) on the thread pool; phase 2 runs one task per head over the window's chunks: incoming-state
 * output as dot products over n, the intra-chunk term as row-by-row vectorized multiply-adds over head_dim with
 * decays from a vectorizable exp, and the state update as multiply-adds over n. Task boundaries do not depend on
 * the thread count. The two phases (ssd_chunk_scan_fast.inc) are compiled for the baseline ISA and for AVX2+FMA
 * (ssd_chunk_scan_avx2.cpp); the launcher picks by the CPU.
 */
#include "cpu/ssd_chunk_scan.h"

#include <math.h>

#include <vector>

#include "cpu/fast_math.h"
#include "cpu/simd_kernels.h"
#include "cpu/simd_vec.h"
#include "cpu/ssm_params.h"

namespace n4j {
namespace cpu {

/* ---------------------------------------------------------------- reference ---- */

void ssd_chunk_scan_ref(const n4j_ssm_dims* dims, int32_t tokens, const float* x, int64_t ld_x, const float* B,
                        int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                        const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D, float* ssm_state,
                        float* y, int64_t ld_y) {
    const int32_t H = dims->heads, P = dims->head_dim, N = dims->state_dim;
    // A chunk longer than the sequence is the whole sequence (keeps every index below `tokens`, no overflow).
    const int32_t L = dims->chunk_size < tokens ? dims->chunk_size : tokens;
    const int32_t heads_per_group = H / dims->groups;
    const size_t longest = static_cast<size_t>(L < tokens ? L : tokens);  // no chunk is longer
    std::vector<float> step(longest), a(longest), prefix(longest), suffix(longest), seg_row(longest),
        y_row(static_cast<size_t>(P));

    for (int32_t h = 0; h < H; ++h) {
        const int32_t g = h / heads_per_group;
        const float bias = weight_value(dt_bias, h);
        const float A = -expf(weight_value(A_log, h));
        const float Dh = weight_value(D, h);
        float* S = ssm_state + static_cast<int64_t>(h) * P * N;
        const int64_t xo = static_cast<int64_t>(h) * P;  // column offset of head h in x and y
        const int64_t bo = static_cast<int64_t>(g) * N;  // column offset of group g in B and C

        for (int32_t c0 = 0; c0 < tokens; c0 += L) {
            const int32_t len = tokens - c0 < L ? tokens - c0 : L;
            const float* xc = x + c0 * ld_x + xo;
            const float* Bc = B + c0 * ld_B + bo;
            const float* Cc = C + c0 * ld_C + bo;
            for (int32_t s = 0; s < len; ++s) {
                step[s] = ssm_step_size(dt[(c0 + s) * ld_dt + h], bias);
                a[s] = step[s] * A;
            }
            float running = 0.0f;
            for (int32_t t = 0; t < len; ++t) prefix[t] = running += a[t];  // seg(t, -1)
            suffix[len - 1] = 0.0f;                                          // seg(len-1, s)
            for (int32_t s = len - 2; s >= 0; --s) suffix[s] = suffix[s + 1] + a[s + 1];

            for (int32_t t = 0; t < len; ++t) {
                // seg_row[s] = seg(t, s) for s <= t.
                for (int32_t s = 0; s < t; ++s) seg_row[s] += a[t];
                seg_row[t] = 0.0f;
                const float* Ct = Cc + t * ld_C;
                const float decay_in = expf(prefix[t]);
                for (int32_t p = 0; p < P; ++p) {
                    float acc = 0.0f;
                    for (int32_t n = 0; n < N; ++n) acc += Ct[n] * S[static_cast<int64_t>(p) * N + n];
                    y_row[p] = decay_in * acc;
                }
                for (int32_t s = 0; s <= t; ++s) {
                    const float* Bs = Bc + s * ld_B;
                    float cb = 0.0f;
                    for (int32_t n = 0; n < N; ++n) cb += Ct[n] * Bs[n];
                    const float weight = cb * expf(seg_row[s]) * step[s];
                    const float* xs = xc + s * ld_x;
                    for (int32_t p = 0; p < P; ++p) y_row[p] += weight * xs[p];
                }
                const float* xt = xc + t * ld_x;
                float* yt = y + (c0 + t) * ld_y + xo;
                for (int32_t p = 0; p < P; ++p) yt[p] = y_row[p] + Dh * xt[p];
            }

            const float decay_chunk = expf(prefix[len - 1]);
            for (int32_t p = 0; p < P; ++p) {
                for (int32_t n = 0; n < N; ++n) {
                    float acc = decay_chunk * S[static_cast<int64_t>(p) * N + n];
                    for (int32_t s = 0; s < len; ++s) {
                        acc += expf(suffix[s]) * step[s] * xc[s * ld_x + p] * Bc[s * ld_B + n];
                    }
                    S[static_cast<int64_t>(p) * N + n] = acc;
                }
            }
        }
    }
}

/* --------------------------------------------------------------------- fast ---- */

#define N4J_SIMD_NAMESPACE generic
#include "cpu/ssd_chunk_scan_fast.inc"
#undef N4J_SIMD_NAMESPACE

void ssd_chunk_scan_fast(context* ctx, const n4j_ssm_dims* dims, int32_t tokens, const float* x, int64_t ld_x,
                         const float* B, int64_t ld_B, const float* C, int64_t ld_C, const float* dt, int64_t ld_dt,
                         const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                         float* ssm_state, float* y, int64_t ld_y) {
    const int32_t H = dims->heads, P = dims->head_dim, G = dims->groups;
    // A chunk longer than the sequence is the whole sequence (keeps every index below `tokens`, no overflow); only
    // the last chunk may be shorter than L.
    const int32_t L = dims->chunk_size < tokens ? dims->chunk_size : tokens;
    const int32_t n_chunks = (tokens + L - 1) / L;
    const int32_t L_alloc = L;
    const int32_t b_stride = ssd_scan_b_stride(dims->state_dim);
    const int64_t cb_block = static_cast<int64_t>(L_alloc) * L_alloc;  // floats of C.B^T per (group, chunk)
    const int64_t b_block = static_cast<int64_t>(L_alloc) * b_stride;  // floats of packed B per (group, chunk)
    const int64_t per_chunk = static_cast<int64_t>(G) * (cb_block + b_block);
    int32_t window = static_cast<int32_t>(ctx->ssd_cb_budget_floats / per_chunk);
    if (window < 1) window = 1;
    if (window > n_chunks) window = n_chunks;

    const size_t params_bytes = align64(3 * sizeof(float) * static_cast<size_t>(H));
    const size_t cb_bytes = align64(sizeof(float) * static_cast<size_t>(G * cb_block) * window);
    char* shared = static_cast<char*>(
        ctx->shared_scratch(params_bytes + cb_bytes + sizeof(float) * static_cast<size_t>(G * b_block) * window));
    float* params = reinterpret_cast<float*>(shared);
    ssd_scan_args args{dims, tokens, x, ld_x, B, ld_B, C, ld_C, dt, ld_dt, ssm_state, y, ld_y,
                       params, params + H, params + 2 * H,
                       reinterpret_cast<float*>(shared + params_bytes),
                       reinterpret_cast<float*>(shared + params_bytes + cb_bytes), L_alloc, b_stride};
    ssm_expand_params(H, dt_bias, A_log, D, params, params + H, params + 2 * H);
    ctx->reserve_thread_scratch(sizeof(float) * ssd_scan_head_scratch_floats(L_alloc, P));

    const bool use_avx2 = ctx->simd >= SIMD_AVX2;
    auto cb_chunk = use_avx2 ? avx2::ssd_scan_cb_chunk : generic::ssd_scan_cb_chunk;
    auto head_window = use_avx2 ? avx2::ssd_scan_head_window : generic::ssd_scan_head_window;
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
    if (ctx->simd >= SIMD_AVX512_BF16) {  // the same bodies with 16-lane row helpers
        cb_chunk = avx512::ssd_scan_cb_chunk;
        head_window = avx512::ssd_scan_head_window;
    }
#endif
    const int64_t work_per_chunk = static_cast<int64_t>(H) * L * (static_cast<int64_t>(L) * P + 2 * P * dims->state_dim);
    const bool serial = work_per_chunk * n_chunks < (1 << 16);

    for (int32_t first = 0; first < n_chunks; first += window) {
        const int32_t count = n_chunks - first < window ? n_chunks - first : window;
        // Phase 1's tasks: (group, chunk, part of the chunk's rows); parts until there are 64 tasks (32-64 cores
        // busy on the 9B's 8 groups), rows of at least 8. Depends only on the shapes.
        int32_t parts = 1;
        while (static_cast<int64_t>(G) * count * parts < 64 && L / (parts * 2) >= 8) parts *= 2;
        const int32_t part_rows = (L + parts - 1) / parts;
        auto cb_task = [&](int64_t i, int) {
            const int32_t part = static_cast<int32_t>(i % parts);
            const int64_t gc = i / parts;
            const int32_t g = static_cast<int32_t>(gc / count);
            const int32_t ci = static_cast<int32_t>(gc % count);
            const int32_t c0 = (first + ci) * L;
            const int32_t len = tokens - c0 < L ? tokens - c0 : L;
            const int64_t block = static_cast<int64_t>(g) * count + ci;
            cb_chunk(args, g, c0, len, part * part_rows, (part + 1) * part_rows, args.cb + block * cb_block,
                     args.bpack + block * b_block);
        };
        auto head_task = [&](int64_t h, int thread) {
            head_window(args, static_cast<int32_t>(h), first, count, static_cast<float*>(ctx->thread_scratch(thread)));
        };
        if (serial) {
            for (int64_t i = 0; i < static_cast<int64_t>(G) * count * parts; ++i) cb_task(i, 0);
            for (int64_t h = 0; h < H; ++h) head_task(h, 0);
        } else {
            parallel_for(ctx->workers(), static_cast<int64_t>(G) * count * parts, cb_task);
            parallel_for(ctx->workers(), H, head_task);
        }
    }
}

}  // namespace cpu
}  // namespace n4j
