/*
 * test_kernels.cpp: the cross-op harness. Every op runs on the scalar reference backend and on every fast variant
 * (portable, AVX2 and, where the CPU has it, AVX512-BF16 kernels, 1, 2 and 3 threads) on random inputs of awkward
 * sizes: odd widths, tails shorter than a vector, rows 1/3/17, head_dim 20 and 80, one group and many groups, T not a
 * multiple of the chunk, T smaller than the conv kernel, T = 1, caches split over several blocks, BF16 KV, row
 * strides wider than the rows.
 * The fast results must be within a few F32 roundings of the reference (relative to the largest reference value),
 * and the same SIMD level must give bit-identical results for every thread count.
 */
#include <math.h>
#include <time.h>

#include <functional>

#include "test_common.h"

#include "cpu/cpu_features.h"

using namespace test;

namespace {

constexpr double kTol = 1e-5;
const int32_t kWeightDtypes[] = {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3};

std::string fmt(const char* format, ...) {
    char buf[256];
    va_list args;
    va_start(args, format);
    vsnprintf(buf, sizeof(buf), format, args);
    va_end(args);
    return buf;
}

/* ------------------------------------------------------------------ matmul ---- */

void test_matmul(const backends& all) {
    op_stats st;
    rng r(11);
    const int32_t row_counts[] = {1, 2, 3, 4, 5, 7, 8, 13, 17, 33};
    const int32_t shapes[][2] = {{1, 1}, {7, 3}, {8, 16}, {9, 17}, {31, 65}, {64, 130}, {257, 33}, {300, 70}};
    for (int32_t dtype : kWeightDtypes) {
        const float scale = dtype == N4J_DTYPE_F8_E4M3 ? 0.37f : 1.0f;
        for (auto& shape : shapes) {
            const int32_t K = shape[0], O = shape[1];
            weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, scale);
            for (int32_t rows : row_counts) {
                const int64_t ld_x = K + 3, ld_y = O + 5;
                const std::vector<float> x = r.vec(static_cast<size_t>(rows * ld_x));
                const std::vector<float> y0 = r.vec(static_cast<size_t>(rows * ld_y));
                for (int32_t accumulate = 0; accumulate <= 2; ++accumulate) {  // the epilogues: store, accumulate, relu^2
                    compare_variants(all, st, fmt("matmul %s K=%d O=%d rows=%d acc=%d", dtype_label(dtype), K, O, rows, accumulate),
                                     [&](n4j_backend* b) {
                                         std::vector<float> y = y0;
                                         CHECK_OK(n4j_matmul(b, x.data(), ld_x, rows, &w.w, y.data(), ld_y, accumulate));
                                         return y;
                                     },
                                     kTol);
                }
            }
        }
        // Packed path with several row blocks (at most 258 rows each), reduction blocks (256) and column blocks (64).
        const int32_t K = 520, O = 150, rows = 300;
        weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, scale);
        const std::vector<float> x = r.vec(static_cast<size_t>(rows) * K);
        compare_variants(all, st, fmt("matmul %s K=%d O=%d rows=%d", dtype_label(dtype), K, O, rows),
                         [&](n4j_backend* b) {
                             std::vector<float> y(static_cast<size_t>(rows) * O);
                             CHECK_OK(n4j_matmul(b, x.data(), K, rows, &w.w, y.data(), O, 0));
                             return y;
                         },
                         kTol);
    }
    print_stats("matmul", st);
}

/*
 * Exact mode's prefill matmul at the AVX512-BF16 level (AVX-512 register tiles over the AVX2 form's panels) gives the
 * AVX2 form's bits: the same products added in the same order, at twice the width. Where the CPU has AVX-512.
 */
void test_matmul_avx512_f32_equals_avx2() {
    if (!n4j::cpu::cpu_has_avx512_bf16()) {
        printf("  matmul avx512 f32 vs avx2: this CPU has no AVX512-BF16 level, skipped\n");
        return;
    }
    n4j_backend* a2 = make_cpu_backend(2, false, n4j::cpu::SIMD_AVX2);
    n4j_backend* a5 = make_cpu_backend(2, false, n4j::cpu::SIMD_AVX512_BF16);
    rng r(12);
    int cases = 0;
    const int32_t shapes[][3] = {{16, 33, 17}, {17, 520, 150}, {40, 64, 64}, {300, 257, 47}, {33, 1000, 31}};
    for (int32_t dtype : kWeightDtypes) {
        for (auto& s : shapes) {
            const int32_t rows = s[0], K = s[1], O = s[2];
            weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, dtype == N4J_DTYPE_F8_E4M3 ? 0.37f : 1.0f);
            const int64_t ld_x = K + 1, ld_y = O + 2;
            const std::vector<float> x = r.vec(static_cast<size_t>(rows * ld_x));
            const std::vector<float> y0 = r.vec(static_cast<size_t>(rows * ld_y));
            for (int32_t epilogue = 0; epilogue <= 2; ++epilogue) {
                std::vector<float> y2 = y0, y5 = y0;
                CHECK_OK(n4j_matmul(a2, x.data(), ld_x, rows, &w.w, y2.data(), ld_y, epilogue));
                CHECK_OK(n4j_matmul(a5, x.data(), ld_x, rows, &w.w, y5.data(), ld_y, epilogue));
                CHECK(bitwise_equal(y2, y5), "matmul %s rows=%d K=%d O=%d epilogue=%d: the AVX-512 F32 tiles differ "
                      "from the AVX2 form", dtype_label(dtype), rows, K, O, epilogue);
                ++cases;
            }
        }
    }
    n4j_backend_destroy(a2);
    n4j_backend_destroy(a5);
    printf("  matmul avx512 f32 vs avx2: %d cases bitwise equal\n", cases);
}

/* ------------------------------------------------------- embedding, norms ---- */

void test_embedding(const backends& all) {
    op_stats st;
    rng r(12);
    for (int32_t dtype : kWeightDtypes) {
        for (int32_t cols : {1, 7, 33, 1000}) {
            const int32_t vocab = 50;
            weight_buffer table = make_random_weight(r, dtype, vocab, cols, -2.0f, 2.0f, dtype == N4J_DTYPE_F8_E4M3 ? 0.5f : 1.0f);
            for (int32_t n : {1, 5, 300}) {
                std::vector<int32_t> ids(static_cast<size_t>(n));
                for (auto& id : ids) id = r.below(vocab);
                ids[0] = vocab - 1;
                const int64_t ld = cols + 2;
                compare_variants(all, st, fmt("embedding %s cols=%d n=%d", dtype_label(dtype), cols, n),
                                 [&](n4j_backend* b) {
                                     std::vector<float> out(static_cast<size_t>(n * ld), -7.0f);
                                     CHECK_OK(n4j_embedding(b, &table.w, ids.data(), n, out.data(), ld));
                                     return out;
                                 },
                                 0.0);
            }
        }
    }
    print_stats("embedding", st);
}

void test_rmsnorm(const backends& all) {
    op_stats st;
    rng r(13);
    for (int32_t dtype : kWeightDtypes) {
        for (int32_t dim : {1, 7, 64, 130, 5000}) {
            weight_buffer w = make_random_weight(r, dtype, dim, 1, 0.5f, 1.5f);
            for (int32_t rows : {1, 3, 17}) {
                const int64_t ld = dim + 1;
                const std::vector<float> x = r.vec(static_cast<size_t>(rows * ld), -3.0f, 3.0f);
                compare_variants(all, st, fmt("rmsnorm %s dim=%d rows=%d", dtype_label(dtype), dim, rows),
                                 [&](n4j_backend* b) {
                                     std::vector<float> out(static_cast<size_t>(rows * ld));
                                     CHECK_OK(n4j_rmsnorm(b, x.data(), ld, rows, dim, &w.w, 1e-5f, out.data(), ld));
                                     std::vector<float> in_place = x;  // out == x
                                     CHECK_OK(n4j_rmsnorm(b, in_place.data(), ld, rows, dim, &w.w, 1e-5f, in_place.data(), ld));
                                     out.insert(out.end(), in_place.begin(), in_place.end());
                                     return out;
                                 },
                                 kTol);
            }
        }
    }
    print_stats("rmsnorm", st);
}

void test_gated_rmsnorm(const backends& all) {
    op_stats st;
    rng r(14);
    const int32_t shapes[][2] = {{8, 1}, {12, 3}, {130, 5}, {1280, 8}, {20, 20}};
    for (int32_t dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
        for (auto& shape : shapes) {
            const int32_t dim = shape[0], groups = shape[1];
            weight_buffer w = make_random_weight(r, dtype, dim, 1, 0.5f, 1.5f);
            for (int32_t rows : {1, 3, 17}) {
                const int64_t ld = dim + 3;
                const std::vector<float> y = r.vec(static_cast<size_t>(rows * ld), -3.0f, 3.0f);
                const std::vector<float> z = r.vec(static_cast<size_t>(rows * ld), -6.0f, 6.0f);
                compare_variants(all, st, fmt("gated_rmsnorm %s dim=%d groups=%d rows=%d", dtype_label(dtype), dim, groups, rows),
                                 [&](n4j_backend* b) {
                                     std::vector<float> out(static_cast<size_t>(rows * ld));
                                     CHECK_OK(n4j_gated_rmsnorm(b, y.data(), ld, z.data(), ld, rows, dim, groups, &w.w, 1e-5f,
                                                                out.data(), ld));
                                     std::vector<float> in_place = y;  // out == y
                                     CHECK_OK(n4j_gated_rmsnorm(b, in_place.data(), ld, z.data(), ld, rows, dim, groups, &w.w,
                                                                1e-5f, in_place.data(), ld));
                                     out.insert(out.end(), in_place.begin(), in_place.end());
                                     return out;
                                 },
                                 kTol);
            }
        }
    }
    print_stats("gated_rmsnorm", st);
}

/* ------------------------------------------------------------------ conv1d ---- */

void test_conv1d(const backends& all) {
    op_stats st_prefill, st_decode;
    rng r(15);
    for (int32_t dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
        for (int32_t channels : {1, 5, 67, 130}) {
            for (int32_t K : {1, 2, 4}) {
                weight_buffer w = make_random_weight(r, dtype, channels, K, -1.0f, 1.0f);
                weight_buffer bias = make_random_weight(r, dtype, channels, 1, -0.5f, 0.5f);
                const std::vector<float> state0 = r.vec(static_cast<size_t>(channels) * K);
                for (int32_t with_bias = 0; with_bias <= 1; ++with_bias) {
                    for (int32_t act : {N4J_ACT_NONE, N4J_ACT_SILU}) {
                        for (int32_t tokens : {1, 2, 3, 5, 40}) {
                            const int64_t ld = channels + 4;
                            const std::vector<float> x = r.vec(static_cast<size_t>(tokens * ld), -2.0f, 2.0f);
                            compare_variants(
                                all, st_prefill,
                                fmt("conv1d_prefill %s C=%d K=%d T=%d bias=%d act=%d", dtype_label(dtype), channels, K, tokens, with_bias, act),
                                [&](n4j_backend* b) {
                                    std::vector<float> out(static_cast<size_t>(tokens * ld)), state = state0;
                                    CHECK_OK(n4j_conv1d_prefill(b, x.data(), ld, tokens, channels, &w.w, with_bias ? &bias.w : nullptr,
                                                                state.data(), act, out.data(), ld));
                                    out.insert(out.end(), state.begin(), state.end());
                                    return out;
                                },
                                kTol);
                        }
                        for (int32_t batch : {1, 3}) {
                            const int64_t ld = channels + 1;
                            const std::vector<float> x = r.vec(static_cast<size_t>(batch * ld), -2.0f, 2.0f);
                            std::vector<float> states0 = r.vec(static_cast<size_t>(batch * channels * K));
                            compare_variants(
                                all, st_decode,
                                fmt("conv1d_decode %s C=%d K=%d batch=%d bias=%d act=%d", dtype_label(dtype), channels, K, batch, with_bias, act),
                                [&](n4j_backend* b) {
                                    std::vector<float> out(static_cast<size_t>(batch * ld)), states = states0;
                                    std::vector<void*> ptrs;
                                    for (int32_t i = 0; i < batch; ++i) ptrs.push_back(states.data() + i * channels * K);
                                    CHECK_OK(n4j_conv1d_decode(b, batch, x.data(), ld, channels, &w.w, with_bias ? &bias.w : nullptr,
                                                               ptrs.data(), act, out.data(), ld));
                                    out.insert(out.end(), states.begin(), states.end());
                                    return out;
                                },
                                kTol);
                        }
                    }
                }
            }
        }
    }
    print_stats("conv1d_prefill", st_prefill);
    print_stats("conv1d_decode", st_decode);
}

/* --------------------------------------------------------------------- SSM ---- */

struct ssm_inputs {
    n4j_ssm_dims dims;
    int32_t tokens;
    int64_t ld_x, ld_B, ld_C, ld_dt, ld_y;
    std::vector<float> x, B, C, dt, state;
    weight_buffer dt_bias, A_log, D;
};

ssm_inputs make_ssm_inputs(rng& r, int32_t H, int32_t P, int32_t G, int32_t N, int32_t L, int32_t tokens,
                           int32_t param_dtype) {
    ssm_inputs in;
    memset(&in.dims, 0, sizeof(in.dims));
    in.dims.heads = H;
    in.dims.head_dim = P;
    in.dims.groups = G;
    in.dims.state_dim = N;
    in.dims.chunk_size = L;
    in.tokens = tokens;
    in.ld_x = H * P + 3;
    in.ld_B = G * N + 1;
    in.ld_C = G * N + 2;
    in.ld_dt = H + 5;
    in.ld_y = H * P + 7;
    in.x = r.vec(static_cast<size_t>(tokens * in.ld_x));
    in.B = r.vec(static_cast<size_t>(tokens * in.ld_B));
    in.C = r.vec(static_cast<size_t>(tokens * in.ld_C));
    in.dt = r.vec(static_cast<size_t>(tokens * in.ld_dt), -4.0f, 2.0f);
    in.state = r.vec(static_cast<size_t>(H * P * N), -0.5f, 0.5f);
    in.dt_bias = make_random_weight(r, param_dtype, H, 1, -1.0f, 0.5f);
    // A_log = log(uniform(1, 16)), as Mamba-2 initializes it.
    in.A_log = make_random_weight(r, N4J_DTYPE_F32, H, 1, 0.0f, 1.0f);
    float* a_log = reinterpret_cast<float*>(in.A_log.bytes.data());
    for (int32_t h = 0; h < H; ++h) a_log[h] = logf(1.0f + 15.0f * a_log[h]);
    in.D = make_random_weight(r, param_dtype, H, 1, -1.0f, 1.0f);
    return in;
}

void test_ssm(const backends& all) {
    op_stats st_scan, st_decode;
    rng r(16);
    struct shape {
        int32_t H, P, G, N, L;
        std::vector<int32_t> tokens;
    };
    const shape shapes[] = {
        {6, 20, 2, 16, 16, {1, 3, 16, 17, 40, 70}},  // the golden model's shape
        {4, 80, 1, 32, 8, {1, 5, 8, 23}},           // head_dim 80, one group
        {8, 7, 8, 5, 4, {1, 9, 13}},                // a group per head, odd sizes
        {3, 5, 3, 3, 64, {1, 100, 130}},            // long chunks
    };
    for (const shape& s : shapes) {
        for (int32_t tokens : s.tokens) {
            for (int32_t param_dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
                ssm_inputs in = make_ssm_inputs(r, s.H, s.P, s.G, s.N, s.L, tokens, param_dtype);
                for (int64_t budget : {int64_t(8) << 20, int64_t(1)}) {  // one window, and one chunk per window
                    compare_variants(
                        all, st_scan,
                        fmt("ssd_chunk_scan H=%d P=%d G=%d N=%d L=%d T=%d %s budget=%lld", s.H, s.P, s.G, s.N, s.L, tokens,
                            dtype_label(param_dtype), static_cast<long long>(budget)),
                        [&](n4j_backend* b) {
                            if (n4j::cpu::context* ctx = n4j::cpu::cpu_context_of(b)) ctx->ssd_cb_budget_floats = budget;
                            std::vector<float> y(static_cast<size_t>(tokens * in.ld_y), 0.0f), state = in.state;
                            CHECK_OK(n4j_ssd_chunk_scan(b, &in.dims, tokens, in.x.data(), in.ld_x, in.B.data(), in.ld_B,
                                                        in.C.data(), in.ld_C, in.dt.data(), in.ld_dt, &in.dt_bias.w,
                                                        &in.A_log.w, &in.D.w, state.data(), y.data(), in.ld_y));
                            if (n4j::cpu::context* ctx = n4j::cpu::cpu_context_of(b)) ctx->ssd_cb_budget_floats = int64_t(8) << 20;
                            y.insert(y.end(), state.begin(), state.end());
                            return y;
                        },
                        kTol);
                }
            }
        }
        // Decode: a batch of three sequences, each with its own state.
        for (int32_t batch : {1, 3}) {
            ssm_inputs in = make_ssm_inputs(r, s.H, s.P, s.G, s.N, s.L, batch, N4J_DTYPE_F32);
            const size_t state_size = static_cast<size_t>(s.H * s.P * s.N);
            const std::vector<float> states0 = r.vec(state_size * batch, -0.5f, 0.5f);
            compare_variants(all, st_decode, fmt("ssm_decode H=%d P=%d G=%d N=%d batch=%d", s.H, s.P, s.G, s.N, batch),
                             [&](n4j_backend* b) {
                                 std::vector<float> y(static_cast<size_t>(batch * in.ld_y), 0.0f), states = states0;
                                 std::vector<float*> ptrs;
                                 for (int32_t i = 0; i < batch; ++i) ptrs.push_back(states.data() + i * state_size);
                                 CHECK_OK(n4j_ssm_decode(b, &in.dims, batch, in.x.data(), in.ld_x, in.B.data(), in.ld_B,
                                                         in.C.data(), in.ld_C, in.dt.data(), in.ld_dt, &in.dt_bias.w,
                                                         &in.A_log.w, &in.D.w, ptrs.data(), y.data(), in.ld_y));
                                 y.insert(y.end(), states.begin(), states.end());
                                 return y;
                             },
                             kTol);
        }
    }
    print_stats("ssd_chunk_scan", st_scan);
    print_stats("ssm_decode", st_decode);
}

/* --------------------------------------------------------------- attention ---- */

/* A paged cache with `length` random tokens already stored, blocks in separate allocations. */
struct kv_storage {
    std::vector<std::vector<uint8_t>> k_blocks, v_blocks;
    std::vector<void*> k_ptrs, v_ptrs;
    n4j_kv_cache cache;

    kv_storage(rng& r, int32_t kv_heads, int32_t head_dim, int32_t block_tokens, int32_t n_blocks, int32_t length,
               int32_t dtype) {
        const size_t elems = static_cast<size_t>(block_tokens) * kv_heads * head_dim;
        const size_t es = dtype == N4J_DTYPE_BF16 ? 2 : 4;
        for (int32_t b = 0; b < n_blocks; ++b) {
            k_blocks.emplace_back(elems * es, 0);
            v_blocks.emplace_back(elems * es, 0);
        }
        for (int32_t b = 0; b < n_blocks; ++b) {
            for (size_t i = 0; i < elems; ++i) {
                const int64_t pos = static_cast<int64_t>(b) * block_tokens + static_cast<int64_t>(i / (kv_heads * head_dim));
                if (pos >= length) break;
                const float kv = r.uniform(-1.0f, 1.0f), vv = r.uniform(-1.0f, 1.0f);
                if (dtype == N4J_DTYPE_BF16) {
                    reinterpret_cast<uint16_t*>(k_blocks[b].data())[i] = n4j::cpu::f32_to_bf16(kv);
                    reinterpret_cast<uint16_t*>(v_blocks[b].data())[i] = n4j::cpu::f32_to_bf16(vv);
                } else {
                    reinterpret_cast<float*>(k_blocks[b].data())[i] = kv;
                    reinterpret_cast<float*>(v_blocks[b].data())[i] = vv;
                }
            }
        }
        for (int32_t b = 0; b < n_blocks; ++b) {
            k_ptrs.push_back(k_blocks[b].data());
            v_ptrs.push_back(v_blocks[b].data());
        }
        cache.k_blocks = k_ptrs.data();
        cache.v_blocks = v_ptrs.data();
        cache.n_blocks = n_blocks;
        cache.block_tokens = block_tokens;
        cache.length = length;
        cache.dtype = dtype;
    }
    kv_storage(const kv_storage&) = delete;

    /* Every block's bytes as floats (bit patterns preserved) for comparison. */
    void append_contents(std::vector<float>& out) const {
        for (const auto* blocks : {&k_blocks, &v_blocks}) {
            for (const auto& b : *blocks) {
                if (cache.dtype == N4J_DTYPE_BF16) {
                    const uint16_t* p = reinterpret_cast<const uint16_t*>(b.data());
                    for (size_t i = 0; i < b.size() / 2; ++i) out.push_back(n4j::cpu::bf16_to_f32(p[i]));
                } else {
                    const float* p = reinterpret_cast<const float*>(b.data());
                    out.insert(out.end(), p, p + b.size() / 4);
                }
            }
        }
    }
};

n4j_attn_dims attn_dims(int32_t heads, int32_t kv_heads, int32_t head_dim) {
    n4j_attn_dims d;
    d.heads = heads;
    d.kv_heads = kv_heads;
    d.head_dim = head_dim;
    d.scale = 1.0f / sqrtf(static_cast<float>(head_dim));
    return d;
}

void test_attention(const backends& all) {
    op_stats st_prefill, st_decode;
    rng r(17);
    // groups of 2, 6, 1, 4, 5 and 3 query heads per KV head (the decode kernel takes them four at a time)
    const int32_t dims_list[][3] = {{4, 2, 16}, {6, 1, 20}, {8, 8, 80}, {5, 5, 7}, {16, 4, 128}, {10, 2, 24}, {6, 2, 12}};
    for (auto& d : dims_list) {
        const n4j_attn_dims dims = attn_dims(d[0], d[1], d[2]);
        const int32_t qw = d[0] * d[2], kvw = d[1] * d[2];
        for (int32_t dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16}) {
            const bool big = d[2] >= 64;  // head_dim 80 / 128: fewer combinations keep the run short
            for (int32_t block_tokens : {1, 3, 16, 64}) {
                if (big && (block_tokens == 1 || block_tokens == 64)) continue;
                for (int32_t length : {0, 5, 70}) {
                    if (big && length == 5) continue;
                    for (int32_t tokens : {1, 3, 17, 100}) {
                        if (block_tokens == 1 && tokens + length > 80) continue;
                        if (big && tokens == 3) continue;
                        const int32_t n_blocks = (length + tokens + block_tokens - 1) / block_tokens + 1;
                        const int64_t ld_q = qw + 2, ld_kv = kvw + 3, ld_out = qw + 1;
                        const std::vector<float> q = r.vec(static_cast<size_t>(tokens * ld_q), -2.0f, 2.0f);
                        const std::vector<float> k = r.vec(static_cast<size_t>(tokens * ld_kv));
                        const std::vector<float> v = r.vec(static_cast<size_t>(tokens * ld_kv));
                        const uint64_t seed = r.next();
                        compare_variants(
                            all, st_prefill,
                            fmt("attention_prefill H=%d KVH=%d D=%d %s bt=%d len=%d T=%d", d[0], d[1], d[2], dtype_label(dtype),
                                block_tokens, length, tokens),
                            [&](n4j_backend* b) {
                                rng cache_rng(seed);
                                kv_storage kv(cache_rng, d[1], d[2], block_tokens, n_blocks, length, dtype);
                                std::vector<float> out(static_cast<size_t>(tokens * ld_out), 0.0f);
                                CHECK_OK(n4j_attention_prefill(b, &dims, tokens, q.data(), ld_q, k.data(), ld_kv, v.data(), ld_kv,
                                                               &kv.cache, out.data(), ld_out));
                                kv.append_contents(out);
                                return out;
                            },
                            kTol);
                    }
                }
            }
            // Decode: sequences with different lengths and block sizes: one chunk of positions, two chunks, and
            // more than 4096 positions (chunks of 128).
            const int32_t batch = 4;
            const int32_t lengths[batch] = {0, 13, 90, 4200};
            const int32_t block_sizes[batch] = {4, 16, 7, 256};
            const int64_t ld = qw + kvw;  // q, k, v rows interleaved in one buffer, like a fused projection
            const std::vector<float> qkv = r.vec(static_cast<size_t>(batch * ld), -2.0f, 2.0f);
            const uint64_t seed = r.next();
            compare_variants(all, st_decode, fmt("attention_decode H=%d KVH=%d D=%d %s", d[0], d[1], d[2], dtype_label(dtype)),
                             [&](n4j_backend* b) {
                                 rng cache_rng(seed);
                                 std::vector<std::unique_ptr<kv_storage>> kvs;
                                 std::vector<n4j_kv_cache> caches;
                                 for (int32_t i = 0; i < batch; ++i) {
                                     const int32_t n_blocks = (lengths[i] + 1 + block_sizes[i] - 1) / block_sizes[i];
                                     kvs.emplace_back(new kv_storage(cache_rng, d[1], d[2], block_sizes[i], n_blocks, lengths[i], dtype));
                                     caches.push_back(kvs.back()->cache);
                                 }
                                 std::vector<float> out(static_cast<size_t>(batch * qw), 0.0f);
                                 // k and v: the same rows (different columns would need 3 widths); fine for the test.
                                 CHECK_OK(n4j_attention_decode(b, &dims, batch, qkv.data(), ld, qkv.data() + qw, ld,
                                                               qkv.data() + qw, ld, caches.data(), out.data(), qw));
                                 for (auto& kv : kvs) kv->append_contents(out);
                                 return out;
                             },
                             kTol);
        }
    }
    print_stats("attention_prefill", st_prefill);
    print_stats("attention_decode", st_decode);

    // Fast precision (bf16_matmul) on AVX512-BF16: decode over a BF16 cache with head_dim % 32 == 0 takes the BF16
    // dot-product chunk (q and the probabilities rounded to BF16). Against the reference on the BF16-rounded query,
    // so what remains is the probabilities' rounding; 5, 6 and 8 query heads per KV head (tiles of 5 + 1, 5 + 3).
    op_stats st_fast;
    const int32_t fast_dims[][3] = {{16, 4, 128}, {10, 2, 64}, {12, 2, 32}, {8, 1, 32}, {40, 8, 128}};
    for (auto& d : fast_dims) {
        const n4j_attn_dims dims = attn_dims(d[0], d[1], d[2]);
        const int32_t qw = d[0] * d[2], kvw = d[1] * d[2];
        const int32_t batch = 4;
        const int32_t lengths[batch] = {0, 14, 91, 4200};
        const int32_t block_sizes[batch] = {4, 16, 7, 256};
        const int64_t ld = qw + kvw;
        std::vector<float> qkv = r.vec(static_cast<size_t>(batch * ld), -2.0f, 2.0f);
        for (int32_t b = 0; b < batch; ++b) {
            for (int32_t i = 0; i < qw; ++i) {
                float& x = qkv[static_cast<size_t>(b * ld + i)];
                x = n4j::cpu::bf16_to_f32(n4j::cpu::f32_to_bf16(x));
            }
        }
        const uint64_t seed = r.next();
        auto run = [&](n4j_backend* b) {
            rng cache_rng(seed);
            std::vector<std::unique_ptr<kv_storage>> kvs;
            std::vector<n4j_kv_cache> caches;
            for (int32_t i = 0; i < batch; ++i) {
                const int32_t n_blocks = (lengths[i] + 1 + block_sizes[i] - 1) / block_sizes[i];
                kvs.emplace_back(new kv_storage(cache_rng, d[1], d[2], block_sizes[i], n_blocks, lengths[i], N4J_DTYPE_BF16));
                caches.push_back(kvs.back()->cache);
            }
            std::vector<float> out(static_cast<size_t>(batch * qw), 0.0f);
            CHECK_OK(n4j_attention_decode(b, &dims, batch, qkv.data(), ld, qkv.data() + qw, ld, qkv.data() + qw, ld,
                                          caches.data(), out.data(), qw));
            return out;
        };
        const std::vector<float> ref = run(all.reference());
        std::vector<float> first;
        for (const variant& v : all.fast()) {
            if (v.simd != n4j::cpu::SIMD_AVX512_BF16) continue;
            n4j::cpu::context* ctx = n4j::cpu::cpu_context_of(v.backend);
            const bool configured_form = ctx->bf16_dot_by_fma;
            ctx->bf16_matmul = true;
            // both forms of the BF16 dot products (VDPBF16PS, or F32 FMAs on the widened pairs): the same bits, as no
            // input or product here is a denormal (which only the instruction flushes)
            for (const bool by_fma : {false, true}) {
                ctx->bf16_dot_by_fma = by_fma;
                const std::vector<float> got = run(v.backend);
                const double diff = rel_diff(ref, got);
                st_fast.cases++;
                if (diff > st_fast.max_rel || diff != diff) st_fast.max_rel = diff;
                CHECK(diff <= 4e-3,
                      "attention_decode fast H=%d KVH=%d D=%d [%s, %s]: max |fast - ref| / max |ref| = %.3g > 4e-3", d[0],
                      d[1], d[2], v.name.c_str(), by_fma ? "fma form" : "vdpbf16ps", diff);
                if (first.empty()) {
                    first = got;
                } else {
                    CHECK(bitwise_equal(first, got),
                          "attention_decode fast D=%d [%s, %s]: result depends on the thread count or the dot-product "
                          "form",
                          d[2], v.name.c_str(), by_fma ? "fma form" : "vdpbf16ps");
                }
            }
            ctx->bf16_dot_by_fma = configured_form;
            ctx->bf16_matmul = false;
        }
    }
    print_stats("attention_decode fast", st_fast);
}

/* ------------------------------------------------------ elementwise, argmax ---- */

void test_elementwise(const backends& all) {
    op_stats st_relu, st_add, st_argmax;
    rng r(18);
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(65536 + 5), int64_t(200001)}) {
        const std::vector<float> a = r.vec(static_cast<size_t>(n), -3.0f, 3.0f), b2 = r.vec(static_cast<size_t>(n));
        compare_variants(all, st_relu, fmt("relu_squared n=%lld", static_cast<long long>(n)),
                         [&](n4j_backend* b) {
                             std::vector<float> y(static_cast<size_t>(n)), in_place = a;
                             CHECK_OK(n4j_relu_squared(b, a.data(), y.data(), n));
                             CHECK_OK(n4j_relu_squared(b, in_place.data(), in_place.data(), n));
                             y.insert(y.end(), in_place.begin(), in_place.end());
                             return y;
                         },
                         0.0);
        compare_variants(all, st_add, fmt("add n=%lld", static_cast<long long>(n)),
                         [&](n4j_backend* b) {
                             std::vector<float> y(static_cast<size_t>(n)), in_place = a;
                             CHECK_OK(n4j_add(b, a.data(), b2.data(), y.data(), n));
                             CHECK_OK(n4j_add(b, in_place.data(), b2.data(), in_place.data(), n));
                             y.insert(y.end(), in_place.begin(), in_place.end());
                             return y;
                         },
                         0.0);
    }
    for (int32_t cols : {1, 7, 1000, 131072}) {
        for (int32_t rows : {1, 3, 17}) {
            const int64_t ld = cols + 1;
            std::vector<float> x(static_cast<size_t>(rows * ld));
            for (auto& v : x) v = static_cast<float>(r.below(5));  // many ties
            if (cols > 3) {
                x[2] = NAN;                        // NaNs are skipped
                if (rows > 1) x[static_cast<size_t>(ld)] = NAN;  // row 1 starts with NaN
            }
            compare_variants(all, st_argmax, fmt("argmax rows=%d cols=%d", rows, cols),
                             [&](n4j_backend* b) {
                                 std::vector<int32_t> out(static_cast<size_t>(rows), -1);
                                 CHECK_OK(n4j_argmax(b, x.data(), ld, rows, cols, out.data()));
                                 return std::vector<float>(out.begin(), out.end());
                             },
                             0.0);
        }
    }
    // The reference picks the first of equal maxima and skips NaN.
    const float row[] = {NAN, 1.0f, 3.0f, -INFINITY, 3.0f};
    int32_t idx = -1;
    CHECK_OK(n4j_argmax(all.reference(), row, 5, 1, 5, &idx));
    CHECK(idx == 2, "argmax picks the first maximum (got %d)", idx);
    print_stats("relu_squared", st_relu);
    print_stats("add", st_add);
    print_stats("argmax", st_argmax);
}

}  // namespace

/* ---------------------------------------------------------- the task split ---- */

/*
 * Every op of a 9B decode step (batch 1) and of a 256-token prefill chunk, at the 9B's widths, on a 64-thread
 * backend: each parallel run of the op must offer at least 64 tasks (so 32-64 cores all get work; a matmul's
 * activation conversion of a decode's 1-4 rows and the gated norm of one row, a few microseconds of work, are
 * exempt), and the results must be bitwise those of one thread. Matmuls keep the 9B's output widths (what the split follows) over a short
 * reduction (K = 96), so the test stays fast. Both precisions' matmuls (exact, and fast with BF16 dot products where
 * the CPU has them).
 */
void test_task_split() {
    const int64_t kMinTasks = 64;
    n4j_backend* one = make_cpu_backend(1, false, n4j::cpu::best_simd_level());
    n4j_backend* many = make_cpu_backend(64, false, n4j::cpu::best_simd_level());
    n4j::cpu::context* ctx_many = n4j::cpu::cpu_context_of(many);
    rng r(77);
    // what: 0 every parallel run must offer kMinTasks tasks; 1 the last one (a matmul's multiplication, after its
    // activation conversion or packing, which for a decode's 1-4 rows is one short task); 2 a tiny op that may run
    // on one thread
    auto check_op = [&](const std::string& label, int what,
                        const std::function<std::vector<float>(n4j_backend*)>& op) {
        const std::vector<float> a = op(one);
        ctx_many->workers().reset_splits();
        const std::vector<float> b = op(many);
        const auto sp = ctx_many->workers().splits();
        printf("  split %-46s %3lld parallel runs, fewest tasks %5lld, last %6lld, most %6lld\n", label.c_str(),
               static_cast<long long>(sp.runs), static_cast<long long>(sp.min_tasks),
               static_cast<long long>(sp.last_tasks), static_cast<long long>(sp.max_tasks));
        CHECK(bitwise_equal(a, b), "%s: 64 threads differ from 1 thread", label.c_str());
        if (what == 2) return;
        CHECK(sp.runs > 0, "%s: ran on one thread only (no parallel run)", label.c_str());
        const int64_t gated = what == 1 ? sp.last_tasks : sp.min_tasks;
        CHECK(gated >= kMinTasks, "%s: a parallel run of %lld tasks leaves 64 threads idle", label.c_str(),
              static_cast<long long>(gated));
    };
    // the 9B's Linear output widths (in_proj, out_proj/down/o, up, q, k/v, lm_head)
    const int32_t widths[][2] = {{22656, 96}, {4480, 96}, {15680, 96}, {5120, 96}, {1024, 96}, {131072, 96}};
    for (bool fast : {false, true}) {
        for (n4j_backend* b : {one, many}) n4j::cpu::cpu_context_of(b)->bf16_matmul = fast;
        for (auto& wd : widths) {
            const int32_t O = wd[0], K = wd[1];
            weight_buffer w = make_random_weight(r, N4J_DTYPE_BF16, O, K, -1.0f, 1.0f);
            for (int32_t rows : {1, 4, 256}) {
                if (O == 131072 && rows > 4) continue;  // lm_head: only the last row's logits in prefill
                const std::vector<float> x = r.vec(static_cast<size_t>(rows) * K);
                check_op(fmt("matmul %s O=%d rows=%d", fast ? "fast" : "exact", O, rows), 1, [&](n4j_backend* b) {
                    std::vector<float> y(static_cast<size_t>(rows) * O);
                    CHECK_OK(n4j_matmul(b, x.data(), K, rows, &w.w, y.data(), O, 0));
                    return y;
                });
            }
        }
    }
    for (n4j_backend* b : {one, many}) n4j::cpu::cpu_context_of(b)->bf16_matmul = false;
    // Mamba: conv1d over xBC (12288 channels), the SSD scan (128 heads x 80, 8 groups of 128, chunk 128) and the
    // recurrent step, the gated norm (10240 in 8 groups)
    {
        const int32_t C = 12288, Kc = 4;
        weight_buffer cw = make_random_weight(r, N4J_DTYPE_BF16, C, Kc, -1.0f, 1.0f);
        weight_buffer cb = make_random_weight(r, N4J_DTYPE_BF16, C, 1, -1.0f, 1.0f);
        for (int32_t T : {1, 256}) {
            const std::vector<float> x = r.vec(static_cast<size_t>(T) * C);
            const std::vector<float> state0 = r.vec(static_cast<size_t>(C) * Kc);
            check_op(fmt("conv1d %s channels=%d T=%d", T == 1 ? "decode" : "prefill", C, T), 0, [&](n4j_backend* b) {
                std::vector<float> out(static_cast<size_t>(T) * C), state = state0;
                if (T == 1) {
                    void* states[1] = {state.data()};
                    CHECK_OK(n4j_conv1d_decode(b, 1, x.data(), C, C, &cw.w, &cb.w, states, 1, out.data(), C));
                } else {
                    CHECK_OK(n4j_conv1d_prefill(b, x.data(), C, T, C, &cw.w, &cb.w, state.data(), 1, out.data(), C));
                }
                out.insert(out.end(), state.begin(), state.end());
                return out;
            });
        }
        ssm_inputs in = make_ssm_inputs(r, 128, 80, 8, 128, 128, 256, N4J_DTYPE_F32);
        check_op("ssd_chunk_scan 128x80 state 128 T=256", 0, [&](n4j_backend* b) {
            std::vector<float> y(static_cast<size_t>(in.tokens * in.ld_y), 0.0f), state = in.state;
            CHECK_OK(n4j_ssd_chunk_scan(b, &in.dims, in.tokens, in.x.data(), in.ld_x, in.B.data(), in.ld_B, in.C.data(),
                                        in.ld_C, in.dt.data(), in.ld_dt, &in.dt_bias.w, &in.A_log.w, &in.D.w,
                                        state.data(), y.data(), in.ld_y));
            y.insert(y.end(), state.begin(), state.end());
            return y;
        });
        check_op("ssm_decode 128x80 state 128 batch=1", 0, [&](n4j_backend* b) {
            std::vector<float> y(static_cast<size_t>(in.ld_y), 0.0f), state = in.state;
            float* states[1] = {state.data()};
            CHECK_OK(n4j_ssm_decode(b, &in.dims, 1, in.x.data(), in.ld_x, in.B.data(), in.ld_B, in.C.data(), in.ld_C,
                                    in.dt.data(), in.ld_dt, &in.dt_bias.w, &in.A_log.w, &in.D.w, states, y.data(),
                                    in.ld_y));
            y.insert(y.end(), state.begin(), state.end());
            return y;
        });
        const int32_t D = 10240;
        weight_buffer gw = make_random_weight(r, N4J_DTYPE_BF16, D, 1, 0.5f, 1.5f);
        for (int32_t rows : {1, 256}) {
            const std::vector<float> y = r.vec(static_cast<size_t>(rows) * D), z = r.vec(static_cast<size_t>(rows) * D);
            check_op(fmt("gated_rmsnorm dim=%d groups=8 rows=%d", D, rows), rows == 1 ? 2 : 0, [&](n4j_backend* b) {
                std::vector<float> out(static_cast<size_t>(rows) * D);
                CHECK_OK(n4j_gated_rmsnorm(b, y.data(), D, z.data(), D, rows, D, 8, &gw.w, 1e-5f, out.data(), D));
                return out;
            });
        }
    }
    // attention: 40 query heads on 8 KV heads of 128, bf16 cache; decode at 4096 and 32768 positions, prefill of 256
    {
        n4j_attn_dims dims = {40, 8, 128, 1.0f / sqrtf(128.0f)};
        for (int32_t len : {4096, 32768}) {
            kv_storage kv(r, 8, 128, 256, (len + 1 + 255) / 256, len, N4J_DTYPE_BF16);
            const std::vector<float> q = r.vec(40 * 128), k = r.vec(8 * 128), v = r.vec(8 * 128);
            check_op(fmt("attention_decode 40/8x128 length=%d", len), 0, [&](n4j_backend* b) {
                std::vector<float> out(40 * 128);
                CHECK_OK(n4j_attention_decode(b, &dims, 1, q.data(), 40 * 128, k.data(), 8 * 128, v.data(), 8 * 128,
                                              &kv.cache, out.data(), 40 * 128));
                return out;
            });
        }
        const int32_t T = 256;
        kv_storage kv(r, 8, 128, 256, 1, 0, N4J_DTYPE_BF16);
        const std::vector<float> q = r.vec(static_cast<size_t>(T) * 40 * 128), k = r.vec(static_cast<size_t>(T) * 8 * 128),
                                 v = r.vec(static_cast<size_t>(T) * 8 * 128);
        check_op("attention_prefill 40/8x128 T=256", 0, [&](n4j_backend* b) {
            std::vector<float> out(static_cast<size_t>(T) * 40 * 128);
            CHECK_OK(n4j_attention_prefill(b, &dims, T, q.data(), 40 * 128, k.data(), 8 * 128, v.data(), 8 * 128,
                                           &kv.cache, out.data(), 40 * 128));
            return out;
        });
    }
    // the residual stream's norm (4480) over a prefill chunk
    {
        const int32_t Dm = 4480, rows = 256;
        weight_buffer nw = make_random_weight(r, N4J_DTYPE_BF16, Dm, 1, 0.5f, 1.5f);
        const std::vector<float> x = r.vec(static_cast<size_t>(rows) * Dm);
        check_op("rmsnorm dim=4480 rows=256", 0, [&](n4j_backend* b) {
            std::vector<float> out(static_cast<size_t>(rows) * Dm);
            CHECK_OK(n4j_rmsnorm(b, x.data(), Dm, rows, Dm, &nw.w, 1e-5f, out.data(), Dm));
            return out;
        });
    }
    n4j_backend_destroy(one);
    n4j_backend_destroy(many);
}

int main() {
    backends all;
    printf("fast variants:");
    for (const variant& v : all.fast()) printf(" %s", v.name.c_str());
    printf("\n");
    for (void (*test)(const backends&) : {test_matmul, test_embedding, test_rmsnorm, test_gated_rmsnorm, test_conv1d,
                                          test_ssm, test_attention, test_elementwise}) {
        timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        test(all);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("    (%.2f s)\n", static_cast<double>(t1.tv_sec - t0.tv_sec) + 1e-9 * static_cast<double>(t1.tv_nsec - t0.tv_nsec));
    }
    test_matmul_avx512_f32_equals_avx2();
    test_task_split();
    return finish("test_kernels");
}
