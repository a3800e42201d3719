/*
 * test_consistency.cpp: the stateful kernels agree with themselves and with independent formulations, on the
 * reference backend and on the fast backend.
 *  - chunked SSD scan == token-by-token recurrence (nonzero initial state; T = 1, T < chunk, T not a multiple of
 *    the chunk, long T with many chunks);
 *  - a sequence split over two scan calls == one call (y and final state);
 *  - prefill of T tokens, then one decode step == prefill of T + 1 tokens, for conv1d, the SSM and attention;
 *  - conv1d state after a call = the last K inputs (Hugging Face's conv_state), also for T < K;
 *  - matmul, rmsnorm, gated rmsnorm and attention against double-precision formulas computed here.
 */
#include "cpu/fast_math.h"
#include "test_common.h"

using namespace test;

namespace {

struct ssm_case {
    n4j_ssm_dims dims;
    int32_t tokens;
    std::vector<float> x, B, C, dt, state;
    weight_buffer dt_bias, A_log, D;
    int64_t ld_x() const { return static_cast<int64_t>(dims.heads) * dims.head_dim; }
    int64_t ld_bc() const { return static_cast<int64_t>(dims.groups) * dims.state_dim; }
    int64_t ld_dt() const { return dims.heads; }
};

ssm_case make_ssm_case(rng& r, int32_t H, int32_t P, int32_t G, int32_t N, int32_t L, int32_t tokens) {
    ssm_case c;
    memset(&c.dims, 0, sizeof(c.dims));
    c.dims.heads = H;
    c.dims.head_dim = P;
    c.dims.groups = G;
    c.dims.state_dim = N;
    c.dims.chunk_size = L;
    c.tokens = tokens;
    c.x = r.vec(static_cast<size_t>(tokens) * H * P);
    c.B = r.vec(static_cast<size_t>(tokens) * G * N);
    c.C = r.vec(static_cast<size_t>(tokens) * G * N);
    c.dt = r.vec(static_cast<size_t>(tokens) * H, -4.0f, 2.0f);
    c.state = r.vec(static_cast<size_t>(H) * P * N, -0.5f, 0.5f);
    c.dt_bias = make_random_weight(r, N4J_DTYPE_BF16, H, 1, -1.0f, 0.5f);
    c.A_log = make_random_weight(r, N4J_DTYPE_F32, H, 1, 0.0f, 2.77f);  // A = -exp(A_log) in [-16, -1]
    c.D = make_random_weight(r, N4J_DTYPE_F32, H, 1, -1.0f, 1.0f);
    return c;
}

enum scan_kind { CHUNKED, SEQUENTIAL };

/* Runs tokens [t0, t1) of the case with the given state; returns y rows [t0, t1). */
std::vector<float> run_scan(n4j_backend* b, scan_kind kind, const ssm_case& c, int32_t t0, int32_t t1,
                            std::vector<float>& state) {
    const int32_t T = t1 - t0;
    std::vector<float> y(static_cast<size_t>(T) * c.ld_x());
    auto fn = kind == CHUNKED ? n4j_ssd_chunk_scan : n4j_ssm_scan_sequential;
    CHECK_OK(fn(b, &c.dims, T, c.x.data() + t0 * c.ld_x(), c.ld_x(), c.B.data() + t0 * c.ld_bc(), c.ld_bc(),
                c.C.data() + t0 * c.ld_bc(), c.ld_bc(), c.dt.data() + t0 * c.ld_dt(), c.ld_dt(), &c.dt_bias.w,
                &c.A_log.w, &c.D.w, state.data(), y.data(), c.ld_x()));
    return y;
}

void test_scan_consistency(n4j_backend* b, const char* name) {
    rng r(21);
    struct shape {
        int32_t H, P, G, N, L;
    };
    const shape shapes[] = {{6, 20, 2, 16, 16}, {4, 80, 1, 32, 8}, {8, 7, 8, 5, 4}, {2, 16, 1, 64, 32}};
    double worst_chunk = 0.0, worst_split = 0.0, worst_decode = 0.0;
    for (const shape& s : shapes) {
        for (int32_t T : {1, 2, 3, 7, 16, 17, 40, 70, 200}) {
            const ssm_case c = make_ssm_case(r, s.H, s.P, s.G, s.N, s.L, T + 1);
            // Chunked == sequential over T tokens.
            std::vector<float> state_seq = c.state, state_chunk = c.state;
            std::vector<float> y_seq = run_scan(b, SEQUENTIAL, c, 0, T, state_seq);
            std::vector<float> y_chunk = run_scan(b, CHUNKED, c, 0, T, state_chunk);
            const double dy = rel_diff(y_seq, y_chunk), ds = rel_diff(state_seq, state_chunk);
            worst_chunk = fmax(worst_chunk, fmax(dy, ds));
            CHECK(dy <= 1e-5 && ds <= 1e-5, "%s: chunked vs sequential H=%d P=%d G=%d N=%d L=%d T=%d: y %.3g state %.3g",
                  name, s.H, s.P, s.G, s.N, s.L, T, dy, ds);

            // Two calls (split anywhere, also inside a chunk) == one call.
            for (int32_t split : {1, T / 2, T - 1}) {
                if (split <= 0 || split >= T) continue;
                std::vector<float> state_split = c.state;
                std::vector<float> y1 = run_scan(b, CHUNKED, c, 0, split, state_split);
                std::vector<float> y2 = run_scan(b, CHUNKED, c, split, T, state_split);
                y1.insert(y1.end(), y2.begin(), y2.end());
                const double dsy = rel_diff(y_chunk, y1), dss = rel_diff(state_chunk, state_split);
                worst_split = fmax(worst_split, fmax(dsy, dss));
                CHECK(dsy <= 1e-5 && dss <= 1e-5, "%s: split scan at %d of T=%d (L=%d): y %.3g state %.3g", name, split,
                      T, s.L, dsy, dss);
            }

            // Prefill T, then decode token T == prefill T + 1.
            std::vector<float> state_long = c.state;
            std::vector<float> y_long = run_scan(b, CHUNKED, c, 0, T + 1, state_long);
            std::vector<float> state_dec = state_chunk;
            std::vector<float> y_dec(static_cast<size_t>(c.ld_x()));
            float* states[1] = {state_dec.data()};
            CHECK_OK(n4j_ssm_decode(b, &c.dims, 1, c.x.data() + T * c.ld_x(), c.ld_x(), c.B.data() + T * c.ld_bc(),
                                    c.ld_bc(), c.C.data() + T * c.ld_bc(), c.ld_bc(), c.dt.data() + T * c.ld_dt(),
                                    c.ld_dt(), &c.dt_bias.w, &c.A_log.w, &c.D.w, states, y_dec.data(), c.ld_x()));
            const std::vector<float> y_last(y_long.end() - c.ld_x(), y_long.end());
            const double dd = rel_diff(y_last, y_dec), dds = rel_diff(state_long, state_dec);
            worst_decode = fmax(worst_decode, fmax(dd, dds));
            CHECK(dd <= 1e-5 && dds <= 1e-5, "%s: scan T=%d + decode vs scan T+1 (L=%d): y %.3g state %.3g", name, T,
                  s.L, dd, dds);
        }
    }
    printf("  %-10s chunked vs sequential %.2e, split calls %.2e, prefill+decode %.2e\n", name, worst_chunk,
           worst_split, worst_decode);
}

/*
 * Strong decay inside a chunk: a few tokens with dt' ~ 8 and A = -16 (a = -128 each) followed by tokens with tiny
 * dt'. The prefix sums of a reach about -1500 inside a 16-token chunk while the segment sums between neighbouring
 * small-dt tokens stay near 0: exponentiating differences of the large prefix sums would lose about 1e-4 relative
 * in those decays; the segment sums accumulated over their own segments keep the chunked scan at F32 rounding.
 */
void test_scan_strong_decay(n4j_backend* b, const char* name) {
    rng r(25);
    ssm_case c = make_ssm_case(r, 4, 8, 2, 16, 16, 64);
    float* a_log = reinterpret_cast<float*>(c.A_log.bytes.data());
    for (int32_t h = 0; h < 4; ++h) a_log[h] = logf(16.0f);
    for (int32_t t = 0; t < 64; ++t)
        for (int32_t h = 0; h < 4; ++h) c.dt[static_cast<size_t>(t) * 4 + h] = (t % 16) < 3 ? 8.0f : -7.0f + 0.1f * h;
    std::vector<float> state_seq = c.state, state_chunk = c.state;
    const std::vector<float> y_seq = run_scan(b, SEQUENTIAL, c, 0, 64, state_seq);
    const std::vector<float> y_chunk = run_scan(b, CHUNKED, c, 0, 64, state_chunk);
    const double dy = rel_diff(y_seq, y_chunk), ds = rel_diff(state_seq, state_chunk);
    CHECK(dy <= 1e-5 && ds <= 1e-5, "%s: strong decay, chunked vs sequential: y %.3g state %.3g", name, dy, ds);
    printf("  %-10s strong in-chunk decay: chunked vs sequential y %.2e, state %.2e\n", name, dy, ds);
}

void test_conv_consistency(n4j_backend* b, const char* name) {
    rng r(22);
    int bad_state = 0;
    double worst = 0.0;
    for (int32_t K : {1, 2, 4}) {
        for (int32_t T : {1, 2, 3, 5, 9}) {
            const int32_t C = 37;
            weight_buffer w = make_random_weight(r, N4J_DTYPE_BF16, C, K, -1.0f, 1.0f);
            weight_buffer bias = make_random_weight(r, N4J_DTYPE_F32, C, 1, -0.5f, 0.5f);
            const std::vector<float> x = r.vec(static_cast<size_t>(T + 1) * C, -2.0f, 2.0f);
            const std::vector<float> state0 = r.vec(static_cast<size_t>(C) * K);

            // State semantics: the last K inputs of state0 ++ x[0..T), oldest first.
            std::vector<float> state = state0, out(static_cast<size_t>(T) * C);
            CHECK_OK(n4j_conv1d_prefill(b, x.data(), C, T, C, &w.w, &bias.w, state.data(), N4J_ACT_SILU, out.data(), C));
            for (int32_t c = 0; c < C; ++c) {
                for (int32_t k = 0; k < K; ++k) {
                    const int32_t src = T - K + k;  // index into x, negative: into state0
                    const float expect = src >= 0 ? x[static_cast<size_t>(src) * C + c] : state0[static_cast<size_t>(c) * K + K + src];
                    if (state[static_cast<size_t>(c) * K + k] != expect) ++bad_state;
                }
            }
            // Direct formula (double) for the outputs.
            for (int32_t t = 0; t < T; ++t) {
                for (int32_t c = 0; c < C; ++c) {
                    double acc = n4j::cpu::weight_value(&bias.w, c);
                    for (int32_t k = 0; k < K; ++k) {
                        const int32_t src = t - (K - 1) + k;
                        const double in = src >= 0 ? x[static_cast<size_t>(src) * C + c] : state0[static_cast<size_t>(c) * K + K + src];
                        acc += n4j::cpu::weight_value(&w.w, static_cast<int64_t>(c) * K + k) * in;
                    }
                    const double expect = acc / (1.0 + exp(-acc));
                    worst = fmax(worst, fabs(expect - out[static_cast<size_t>(t) * C + c]));
                }
            }
            // Prefill T + decode 1 == prefill T + 1.
            std::vector<float> state_long = state0, out_long(static_cast<size_t>(T + 1) * C);
            CHECK_OK(n4j_conv1d_prefill(b, x.data(), C, T + 1, C, &w.w, &bias.w, state_long.data(), N4J_ACT_SILU,
                                        out_long.data(), C));
            std::vector<float> out_dec(static_cast<size_t>(C));
            void* states[1] = {state.data()};
            CHECK_OK(n4j_conv1d_decode(b, 1, x.data() + static_cast<size_t>(T) * C, C, C, &w.w, &bias.w, states,
                                       N4J_ACT_SILU, out_dec.data(), C));
            const std::vector<float> last(out_long.end() - C, out_long.end());
            CHECK(rel_diff(last, out_dec) <= 1e-6 && rel_diff(state_long, state) == 0.0,
                  "%s: conv prefill T=%d K=%d + decode differs from prefill T+1", name, T, K);
        }
    }
    CHECK(bad_state == 0, "%s: conv state is not the last K inputs (%d mismatches)", name, bad_state);
    CHECK(worst <= 1e-5, "%s: conv output vs double formula: %.3g", name, worst);
    printf("  %-10s conv1d vs double formula %.2e, state = last K inputs, prefill+decode == longer prefill\n", name,
           worst);
}

/* Dense causal attention in double over explicit K/V rows (the cache's values as F32). */
void dense_attention(const n4j_attn_dims& d, int32_t q_rows, const float* q, const std::vector<float>& keys,
                     const std::vector<float>& values, int32_t first_pos, std::vector<double>& out) {
    const int32_t group = d.heads / d.kv_heads, D = d.head_dim;
    out.assign(static_cast<size_t>(q_rows) * d.heads * D, 0.0);
    for (int32_t t = 0; t < q_rows; ++t) {
        const int32_t positions = first_pos + t + 1;
        for (int32_t h = 0; h < d.heads; ++h) {
            const int32_t kvh = h / group;
            std::vector<double> s(static_cast<size_t>(positions));
            double m = -INFINITY;
            for (int32_t j = 0; j < positions; ++j) {
                double dot = 0.0;
                for (int32_t i = 0; i < D; ++i)
                    dot += static_cast<double>(q[(static_cast<size_t>(t) * d.heads + h) * D + i]) *
                           keys[(static_cast<size_t>(j) * d.kv_heads + kvh) * D + i];
                s[j] = dot * d.scale;
                m = fmax(m, s[j]);
            }
            double sum = 0.0;
            for (int32_t j = 0; j < positions; ++j) sum += exp(s[j] - m);
            for (int32_t j = 0; j < positions; ++j) {
                const double p = exp(s[j] - m) / sum;
                for (int32_t i = 0; i < D; ++i)
                    out[(static_cast<size_t>(t) * d.heads + h) * D + i] +=
                        p * values[(static_cast<size_t>(j) * d.kv_heads + kvh) * D + i];
            }
        }
    }
}

void test_attention_consistency(n4j_backend* b, const char* name) {
    rng r(23);
    double worst_dense = 0.0, worst_decode = 0.0;
    for (int32_t dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
        for (int32_t block_tokens : {1, 5, 16}) {
            for (int32_t T : {1, 4, 19}) {
                n4j_attn_dims d;
                d.heads = 6;
                d.kv_heads = 2;
                d.head_dim = 20;
                d.scale = 1.0f / sqrtf(20.0f);
                const int32_t qw = d.heads * d.head_dim, kvw = d.kv_heads * d.head_dim;
                const int32_t total = T + 1;
                const int32_t n_blocks = (total + block_tokens - 1) / block_tokens;
                const size_t es = dtype == N4J_DTYPE_BF16 ? 2 : 4;
                auto make_cache = [&](std::vector<std::vector<uint8_t>>& kb, std::vector<std::vector<uint8_t>>& vb,
                                      std::vector<void*>& kp, std::vector<void*>& vp) {
                    for (int32_t i = 0; i < n_blocks; ++i) {
                        kb.emplace_back(static_cast<size_t>(block_tokens) * kvw * es, 0);
                        vb.emplace_back(static_cast<size_t>(block_tokens) * kvw * es, 0);
                    }
                    for (int32_t i = 0; i < n_blocks; ++i) {
                        kp.push_back(kb[i].data());
                        vp.push_back(vb[i].data());
                    }
                    n4j_kv_cache c;
                    c.k_blocks = kp.data();
                    c.v_blocks = vp.data();
                    c.n_blocks = n_blocks;
                    c.block_tokens = block_tokens;
                    c.length = 0;
                    c.dtype = dtype;
                    return c;
                };
                const std::vector<float> q = r.vec(static_cast<size_t>(total) * qw, -2.0f, 2.0f);
                const std::vector<float> k = r.vec(static_cast<size_t>(total) * kvw);
                const std::vector<float> v = r.vec(static_cast<size_t>(total) * kvw);

                // One prefill of T + 1 tokens.
                std::vector<std::vector<uint8_t>> kb1, vb1;
                std::vector<void*> kp1, vp1;
                n4j_kv_cache c1 = make_cache(kb1, vb1, kp1, vp1);
                std::vector<float> out_long(static_cast<size_t>(total) * qw);
                CHECK_OK(n4j_attention_prefill(b, &d, total, q.data(), qw, k.data(), kvw, v.data(), kvw, &c1,
                                               out_long.data(), qw));

                // The same K/V as the cache holds them (BF16-rounded), for the dense oracle.
                std::vector<float> keys(k), values(v);
                if (dtype == N4J_DTYPE_BF16) {
                    for (auto& x : keys) x = n4j::cpu::bf16_to_f32(n4j::cpu::f32_to_bf16(x));
                    for (auto& x : values) x = n4j::cpu::bf16_to_f32(n4j::cpu::f32_to_bf16(x));
                }
                std::vector<double> dense;
                dense_attention(d, total, q.data(), keys, values, 0, dense);
                double max_ref = 0.0, max_diff = 0.0;
                for (size_t i = 0; i < dense.size(); ++i) {
                    max_ref = fmax(max_ref, fabs(dense[i]));
                    max_diff = fmax(max_diff, fabs(dense[i] - out_long[i]));
                }
                worst_dense = fmax(worst_dense, max_diff / max_ref);
                CHECK(max_diff <= 1e-5 * max_ref, "%s: attention vs dense double (bt=%d T=%d %s): %.3g", name,
                      block_tokens, total, dtype_label(dtype), max_diff / max_ref);

                // Prefill T, then decode token T (cache.length = T).
                std::vector<std::vector<uint8_t>> kb2, vb2;
                std::vector<void*> kp2, vp2;
                n4j_kv_cache c2 = make_cache(kb2, vb2, kp2, vp2);
                std::vector<float> out_prefix(static_cast<size_t>(T) * qw), out_dec(static_cast<size_t>(qw));
                CHECK_OK(n4j_attention_prefill(b, &d, T, q.data(), qw, k.data(), kvw, v.data(), kvw, &c2,
                                               out_prefix.data(), qw));
                c2.length = T;
                CHECK_OK(n4j_attention_decode(b, &d, 1, q.data() + static_cast<size_t>(T) * qw, qw,
                                              k.data() + static_cast<size_t>(T) * kvw, kvw,
                                              v.data() + static_cast<size_t>(T) * kvw, kvw, &c2, out_dec.data(), qw));
                const std::vector<float> last(out_long.end() - qw, out_long.end());
                const double dd = rel_diff(last, out_dec);
                worst_decode = fmax(worst_decode, dd);
                CHECK(dd <= 1e-6, "%s: attention prefill T=%d + decode vs prefill T+1 (bt=%d %s): %.3g", name, T,
                      block_tokens, dtype_label(dtype), dd);
                bool same_cache = true;
                for (int32_t i = 0; i < n_blocks; ++i) same_cache &= kb1[i] == kb2[i] && vb1[i] == vb2[i];
                CHECK(same_cache, "%s: KV cache after prefill+decode differs from one prefill", name);
            }
        }
    }
    printf("  %-10s attention vs dense double %.2e, prefill+decode vs longer prefill %.2e\n", name, worst_dense,
           worst_decode);
}

void test_dense_oracles(n4j_backend* b, const char* name) {
    rng r(24);
    double worst_mm = 0.0, worst_norm = 0.0, worst_gated = 0.0;
    // matmul
    for (int32_t dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        const int32_t rows = 9, K = 133, O = 41;
        weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, dtype == N4J_DTYPE_F8_E4M3 ? 0.25f : 1.0f);
        const std::vector<float> x = r.vec(static_cast<size_t>(rows) * K);
        std::vector<float> y(static_cast<size_t>(rows) * O);
        CHECK_OK(n4j_matmul(b, x.data(), K, rows, &w.w, y.data(), O, 0));
        double max_ref = 0.0, max_diff = 0.0;
        for (int32_t i = 0; i < rows; ++i) {
            for (int32_t o = 0; o < O; ++o) {
                double acc = 0.0;
                for (int32_t k = 0; k < K; ++k)
                    acc += static_cast<double>(x[static_cast<size_t>(i) * K + k]) *
                           n4j::cpu::weight_raw(w.w.data, dtype, static_cast<int64_t>(o) * K + k);
                acc *= w.w.scale;
                max_ref = fmax(max_ref, fabs(acc));
                max_diff = fmax(max_diff, fabs(acc - y[static_cast<size_t>(i) * O + o]));
            }
        }
        worst_mm = fmax(worst_mm, max_diff / max_ref);
        CHECK(max_diff <= 1e-5 * max_ref, "%s: matmul %s vs double: %.3g", name, dtype_label(dtype), max_diff / max_ref);
    }
    // rmsnorm and gated rmsnorm
    {
        const int32_t rows = 3, dim = 60, groups = 4, gs = dim / groups;
        weight_buffer w = make_random_weight(r, N4J_DTYPE_BF16, dim, 1, 0.5f, 1.5f);
        const std::vector<float> x = r.vec(static_cast<size_t>(rows) * dim, -3.0f, 3.0f);
        const std::vector<float> z = r.vec(static_cast<size_t>(rows) * dim, -5.0f, 5.0f);
        std::vector<float> out(x.size()), gated(x.size());
        CHECK_OK(n4j_rmsnorm(b, x.data(), dim, rows, dim, &w.w, 1e-5f, out.data(), dim));
        CHECK_OK(n4j_gated_rmsnorm(b, x.data(), dim, z.data(), dim, rows, dim, groups, &w.w, 1e-5f, gated.data(), dim));
        for (int32_t i = 0; i < rows; ++i) {
            double ss = 0.0;
            for (int32_t j = 0; j < dim; ++j) ss += static_cast<double>(x[i * dim + j]) * x[i * dim + j];
            const double inv = 1.0 / sqrt(ss / dim + 1e-5);
            for (int32_t j = 0; j < dim; ++j) {
                const double e = x[i * dim + j] * inv * n4j::cpu::weight_value(&w.w, j);
                worst_norm = fmax(worst_norm, fabs(e - out[i * dim + j]) / 3.0);
            }
            for (int32_t g = 0; g < groups; ++g) {
                double gss = 0.0;
                std::vector<double> gv(static_cast<size_t>(gs));
                for (int32_t j = 0; j < gs; ++j) {
                    const double zz = z[i * dim + g * gs + j];
                    gv[j] = x[i * dim + g * gs + j] * zz / (1.0 + exp(-zz));
                    gss += gv[j] * gv[j];
                }
                const double ginv = 1.0 / sqrt(gss / gs + 1e-5);
                for (int32_t j = 0; j < gs; ++j) {
                    const double e = gv[j] * ginv * n4j::cpu::weight_value(&w.w, g * gs + j);
                    worst_gated = fmax(worst_gated, fabs(e - gated[i * dim + g * gs + j]) / 3.0);
                }
            }
        }
        CHECK(worst_norm <= 1e-5 && worst_gated <= 1e-5, "%s: rmsnorm %.3g / gated rmsnorm %.3g vs double", name,
              worst_norm, worst_gated);
    }
    printf("  %-10s vs double: matmul %.2e, rmsnorm %.2e, gated rmsnorm %.2e\n", name, worst_mm, worst_norm,
           worst_gated);
}

}  // namespace

/* exp_fast (the fast kernels' exp) against libm over the range the kernels use, and its limits. */
void test_fast_math() {
    double worst = 0.0;
    for (int i = 0; i <= 200000; ++i) {
        const float x = -87.0f + 175.0f * static_cast<float>(i) / 200000.0f;
        const double e = exp(static_cast<double>(x));
        worst = fmax(worst, fabs(n4j::cpu::exp_fast(x) - e) / e);
    }
    CHECK(worst <= 4e-7, "exp_fast relative error %.3g", worst);
    CHECK(n4j::cpu::exp_fast(-INFINITY) == 0.0f && n4j::cpu::exp_fast(-1000.0f) == 0.0f, "exp_fast underflows to 0");
    CHECK(n4j::cpu::exp_fast(0.0f) == 1.0f, "exp_fast(0) = 1");
    CHECK(isfinite(n4j::cpu::exp_fast(1000.0f)), "exp_fast saturates instead of overflowing");
    double worst_softplus = 0.0;
    for (float x = -100.0f; x <= 100.0f; x += 0.37f) {
        const double e = x > 30 ? x : log1p(exp(static_cast<double>(x)));
        worst_softplus = fmax(worst_softplus, fabs(n4j::cpu::softplus_ref(x) - e) / fmax(e, 1e-30));
    }
    CHECK(worst_softplus <= 3e-7, "softplus relative error %.3g", worst_softplus);
    printf("  exp_fast max relative error %.2e, softplus %.2e\n", worst, worst_softplus);
}

int main() {
    test_fast_math();
    n4j_backend* reference = make_cpu_backend(1, true, 0);
    n4j_backend* fast = make_cpu_backend(2, false, n4j::cpu::best_simd_level());
    const struct {
        n4j_backend* b;
        const char* name;
    } runs[] = {{reference, "reference"}, {fast, "fast"}};
    for (const auto& run : runs) {
        test_scan_consistency(run.b, run.name);
        test_scan_strong_decay(run.b, run.name);
        test_conv_consistency(run.b, run.name);
        test_attention_consistency(run.b, run.name);
        test_dense_oracles(run.b, run.name);
    }
    n4j_backend_destroy(reference);
    n4j_backend_destroy(fast);
    return finish("test_consistency");
}
