/*
 * test_quant.cpp: n4j_matmul over block-quantized weights (N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6).
 *  1. The reference against an independent model of the formats written from nemotron4j.h (this file's own
 *     dequantizer and activation quantizer, in double): the reference must match it to F32 rounding, and both must
 *     be within the activation-rounding bound of the unquantized product.
 *  2. Every fast variant (generic, AVX2 vpmaddubsw, AVX512-VNNI vpdpbusd, real or emulated) against the reference on
 *     awkward shapes (short Q4 super-blocks, Q6 rows ending in a one-pair unit, rows that are not multiples of the 4-row groups or the 64-row tiles),
 *     with all three epilogues and a weight scale; thread counts bitwise equal; a row's result independent of the
 *     other rows of the call.
 *  3. Bad weights refused with a message: cols not a multiple of the block, quantized weights in other ops.
 */
#include "test_common.h"

#include "cpu/matmul_quant.h"

using namespace test;
using n4j::cpu::f16_to_f32;
using n4j::cpu::f32_to_f16;

namespace {

struct qweight {
    std::vector<uint8_t> bytes;
    n4j_weight w;
};

/* Random Q8 / Q4 / Q6 weights in the layout of nemotron4j.h (scales of realistic size). */
qweight make_qweight(rng& r, int32_t dtype, int32_t O, int32_t K, float scale = 1.0f) {
    qweight q;
    q.bytes.assign(static_cast<size_t>(n4j::cpu::quant_weight_bytes(dtype, O, K)), 0);
    uint8_t* p = q.bytes.data();
    if (dtype == N4J_DTYPE_Q8) {
        for (int64_t i = 0; i < int64_t(O) * K; ++i) p[i] = static_cast<uint8_t>(static_cast<int8_t>(r.below(255) - 127));
        uint8_t* d = p + int64_t(O) * K;
        for (int64_t b = 0; b < int64_t(O) * (K / 32); ++b) {
            const uint16_t h = f32_to_f16(r.uniform(0.0005f, 0.02f));
            memcpy(d + 2 * b, &h, 2);
        }
    } else if (dtype == N4J_DTYPE_Q6) {
        const int64_t quant_bytes = int64_t(O) * K / 4 * 3;
        for (int64_t i = 0; i < quant_bytes; ++i) p[i] = static_cast<uint8_t>(r.below(256));
        for (int64_t b = 0; b < int64_t(O) * (K / 32); ++b) {
            const uint16_t h = f32_to_f16(r.uniform(0.002f, 0.08f));
            memcpy(p + quant_bytes + 2 * b, &h, 2);
        }
    } else {
        for (int64_t i = 0; i < int64_t(O) * K / 2; ++i) p[i] = static_cast<uint8_t>(r.below(256));
        const int64_t nsb = n4j::cpu::q4_super_blocks(K);
        uint8_t* rec = p + int64_t(O) * K / 2;
        for (int64_t o = 0; o < O; ++o) {
            for (int64_t sb = 0; sb < nsb; ++sb) {
                uint8_t* rj = rec + (o * nsb + sb) * 20;
                const uint16_t hd = f32_to_f16(r.uniform(0.00002f, 0.0002f));
                const uint16_t hm = f32_to_f16(r.uniform(0.00002f, 0.0002f));
                memcpy(rj, &hd, 2);
                memcpy(rj + 2, &hm, 2);
                const int64_t left = K - sb * 256;
                const int nsub = left >= 256 ? 8 : static_cast<int>(left / 32);
                for (int j = 0; j < nsub; ++j) {
                    rj[4 + j] = static_cast<uint8_t>(r.below(256));
                    rj[12 + j] = static_cast<uint8_t>(r.below(256));
                }
            }
        }
    }
    q.w = make_weight(q.bytes.data(), dtype, O, K, scale);
    return q;
}

/* Element (o, i) of a quantized weight, decoded from the description in nemotron4j.h. */
double dequant(const qweight& q, int64_t o, int64_t i) {
    const int64_t O = q.w.rows, K = q.w.cols;
    const uint8_t* p = q.bytes.data();
    uint16_t h;
    if (q.w.dtype == N4J_DTYPE_Q8) {
        memcpy(&h, p + O * K + 2 * (o * (K / 32) + i / 32), 2);
        return double(f16_to_f32(h)) * double(static_cast<int8_t>(p[o * K + i]));
    }
    if (q.w.dtype == N4J_DTYPE_Q6) {
        // units of 128 weights (a row's last may hold 64): the pairs' nibbles, then 16 high-bit bytes per pair
        const int64_t row = o * (K / 4 * 3);
        const int64_t unit = i / 128, pair_in_unit = (i % 128) / 64, t = i % 64;
        const int64_t pairs = K - unit * 128 >= 128 ? 2 : 1;
        const uint8_t byte = p[row + unit * 96 + pair_in_unit * 32 + t % 32];
        const int low = t < 32 ? (byte & 0x0F) : (byte >> 4);
        const uint8_t hb = p[row + unit * 96 + pairs * 32 + pair_in_unit * 16 + t % 16];
        const int top = (hb >> (2 * (t / 16))) & 3;
        memcpy(&h, p + O * (K / 4 * 3) + 2 * (o * (K / 32) + i / 32), 2);
        return double(f16_to_f32(h)) * double((low | (top << 4)) - 32);
    }
    const int64_t pair = i / 64, t = i % 64;
    const uint8_t byte = p[o * (K / 2) + pair * 32 + (t % 32)];
    const int qv = t < 32 ? (byte & 0x0F) : (byte >> 4);
    const int64_t nsb = n4j::cpu::q4_super_blocks(K);
    const uint8_t* rj = p + O * (K / 2) + (o * nsb + i / 256) * 20;
    const int j = static_cast<int>((i % 256) / 32);
    uint16_t hm;
    memcpy(&h, rj, 2);
    memcpy(&hm, rj + 2, 2);
    return double(f16_to_f32(h)) * rj[4 + j] * qv - double(f16_to_f32(hm)) * rj[12 + j];
}

/* The exact product of the dequantized weights with x quantized per block as nemotron4j.h says (int16, max 32767,
 * for Q8 weights; int8, max 127, for Q4), and the bound of the activation rounding (sum |w| * d_x / 2), for output
 * (r, o). */
void exact_output(const qweight& q, const std::vector<float>& x, int64_t K, int64_t r, int64_t o, double* quantized,
                  double* unquantized, double* bound, double* abs_sum) {
    double acc = 0.0, plain = 0.0, err = 0.0, abs_acc = 0.0;
    for (int64_t b = 0; b < K / 32; ++b) {
        const float* xb = x.data() + r * K + b * 32;
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = fmaxf(amax, fabsf(xb[i]));
        const float M = q.w.dtype == N4J_DTYPE_Q8 ? 32767.0f : 127.0f;
        const float d = amax / M;
        const float inv = amax > 0.0f ? M / amax : 0.0f;
        for (int i = 0; i < 32; ++i) {
            const double w = dequant(q, o, b * 32 + i);
            acc += w * double(d) * nearbyint(double(xb[i] * inv));
            abs_acc += fabs(w * double(d) * nearbyint(double(xb[i] * inv)));
            plain += w * double(xb[i]);
            err += fabs(w) * double(d) * 0.5;
        }
    }
    *quantized = acc * q.w.scale;
    *unquantized = plain * q.w.scale;
    *bound = err * fabs(q.w.scale);
    *abs_sum = abs_acc * fabs(q.w.scale);
}

std::vector<float> run_matmul(n4j_backend* b, const std::vector<float>& x, int32_t rows, const n4j_weight& w,
                              const std::vector<float>& y0, int32_t epilogue) {
    std::vector<float> y = y0;
    CHECK_OK(n4j_matmul(b, x.data(), w.cols, rows, &w, y.data(), w.rows, epilogue));
    return y;
}

void test_reference_against_model(rng& r) {
    n4j_backend* ref = make_cpu_backend(1, true, 0);
    for (int32_t dtype : {N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6}) {
        for (int32_t K : {64, 320, 576, 448}) {
            const int32_t O = 7, rows = 3;
            qweight q = make_qweight(r, dtype, O, K, 0.75f);
            std::vector<float> x = r.vec(size_t(rows) * K, -2.0f, 2.0f);
            x[5] = 0.0f;
            for (int i = 0; i < 32; ++i) x[size_t(K) + i] = 0.0f;  // an all-zero block (d = 0)
            std::vector<float> y(size_t(rows) * O, 0.0f);
            y = run_matmul(ref, x, rows, q.w, y, N4J_MATMUL_STORE);
            for (int32_t rr = 0; rr < rows; ++rr) {
                for (int32_t o = 0; o < O; ++o) {
                    double qd, plain, bound, abs_sum;
                    exact_output(q, x, K, rr, o, &qd, &plain, &bound, &abs_sum);
                    const double got = y[size_t(rr) * O + o];
                    // F32 accumulation of K/32 scaled block sums
                    CHECK(fabs(got - qd) <= 1e-6 * abs_sum + 1e-9,
                          "%s K=%d (%d,%d): reference %.9g, model of the format %.9g", dtype_label(dtype),
                          K, rr, o, got, qd);
                    CHECK(fabs(got - plain) <= bound + 1e-6 * abs_sum + 1e-9,
                          "%s K=%d (%d,%d): %.9g vs unquantized activations %.9g: beyond the rounding bound %.3g",
                          dtype_label(dtype), K, rr, o, got, plain, bound);
                }
            }
        }
    }
    n4j_backend_destroy(ref);
}

void test_fast_variants(rng& r) {
    backends all;
    op_stats st;
    struct shape {
        int32_t O, K;
    };
    for (int32_t dtype : {N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6}) {
        // 4480 and 15680: the 9B's widths (Q4: a last super-block of 4 sub-blocks); O not a multiple of the 4-row tiles
        // 1100 x 320: several decode tasks of 256 rows and a short one (the tiles prefetch the next tile of a task)
        for (shape s : {shape{1, 64}, shape{37, 96 * 2}, shape{33, 320}, shape{70, 576}, shape{65, 1024}, shape{9, 4480},
                        shape{6, 15680}, shape{1100, 320}}) {
            qweight q = make_qweight(r, dtype, s.O, s.K, dtype == N4J_DTYPE_Q8 ? 1.0f : 1.5f);
            for (int32_t rows : {1, 2, 3, 5, 17, 70, 300}) {
                if (rows == 300 && s.K > 320) continue;
                for (int32_t epilogue : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
                    if (epilogue != N4J_MATMUL_STORE && rows != 5 && rows != 70) continue;
                    const std::vector<float> x = r.vec(size_t(rows) * s.K, -3.0f, 3.0f);
                    const std::vector<float> y0 = r.vec(size_t(rows) * s.O, -1.0f, 1.0f);
                    char label[160];
                    snprintf(label, sizeof(label), "%s O=%d K=%d rows=%d epilogue=%d",
                             dtype_label(dtype), s.O, s.K, rows, epilogue);
                    compare_variants(all, st, label,
                                     [&](n4j_backend* b) { return run_matmul(b, x, rows, q.w, y0, epilogue); }, 2e-5);
                }
            }
            // A row's result does not depend on the other rows of the call (decode vs prefill tiles), bitwise.
            const int32_t rows = 70;
            const std::vector<float> x = r.vec(size_t(rows) * s.K, -3.0f, 3.0f);
            const std::vector<float> y0(size_t(rows) * s.O, 0.0f);
            for (const variant& v : all.fast()) {
                const std::vector<float> all_rows = run_matmul(v.backend, x, rows, q.w, y0, N4J_MATMUL_STORE);
                for (int32_t rr : {0, 4, 63, 69}) {
                    const std::vector<float> xr(x.begin() + size_t(rr) * s.K, x.begin() + size_t(rr + 1) * s.K);
                    const std::vector<float> one =
                        run_matmul(v.backend, xr, 1, q.w, std::vector<float>(size_t(s.O), 0.0f), N4J_MATMUL_STORE);
                    CHECK(memcmp(one.data(), all_rows.data() + size_t(rr) * s.O, sizeof(float) * s.O) == 0,
                          "%s [%s] O=%d K=%d: row %d alone differs from row %d of 70", dtype_label(dtype),
                          v.name.c_str(), s.O, s.K, rr, rr);
                }
            }
        }
    }
    print_stats("matmul q8/q4/q6", st);
}

/* The SIMD dequantizers (BF16 prefill path) give the reference's bits, on short Q4 super-blocks and odd row ranges. */
void test_dequant(rng& r) {
    struct shape {
        int32_t O, K;
    };
    for (int32_t dtype : {N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6}) {
        for (shape s : {shape{3, 64}, shape{5, 96 * 2}, shape{9, 576}, shape{7, 4480}}) {
            if (dtype != N4J_DTYPE_Q8 && s.K % 64 != 0) continue;
            qweight q = make_qweight(r, dtype, s.O, s.K);
            for (int32_t o0 : {0, 1, s.O - 1}) {
                const int32_t o1 = s.O;
                std::vector<uint16_t> ref(size_t(o1 - o0) * s.K), got(ref.size());
                n4j::cpu::quant_dequant_bf16_ref(&q.w, o0, o1, ref.data());
                // against the format (values within BF16 rounding of the exact dequantized weight)
                for (int32_t o = o0; o < o1; ++o) {
                    for (int32_t i = 0; i < s.K; ++i) {
                        const double exact = dequant(q, o, i);
                        const double v = n4j::cpu::bf16_to_f32(ref[size_t(o - o0) * s.K + i]);
                        CHECK(fabs(v - exact) <= fabs(exact) * (1.0 / 256) + 1e-30, "%s dequant (%d,%d): %.9g vs %.9g",
                              dtype_label(dtype), o, i, v, exact);
                    }
                }
                if (n4j::cpu::cpu_has_avx2_fma_f16c()) {
                    n4j::cpu::avx2::dequant_bf16(&q.w, o0, o1, got.data());
                    CHECK(got == ref, "%s K=%d rows [%d,%d): avx2 dequant differs from the reference",
                          dtype_label(dtype), s.K, o0, o1);
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
                    if (n4j::cpu::cpu_has_avx512_bf16()) {
                        n4j::cpu::avx512bf16::dequant_bf16(&q.w, o0, o1, got.data());
                        CHECK(got == ref, "%s K=%d rows [%d,%d): avx512bf16 dequant differs from the reference",
                              dtype_label(dtype), s.K, o0, o1);
                    }
#endif
                }
            }
        }
    }
}

/*
 * Prefill in fast precision (N4J_FLAG_BF16_MATMUL at AVX512-BF16, real or emulated): BF16-rounded activations times
 * the BF16-rounded dequantized weights, F32 sums. Checked against that product in double, thread counts bitwise equal,
 * rows past the GEMM's row tiles, weight rows past its 64-row panels.
 */
void test_bf16_prefill(rng& r) {
    if (!n4j::cpu::cpu_has_avx512_bf16()) {
        printf("test_quant: BF16 prefill path not on this CPU (skipped)\n");
        return;
    }
    auto make = [](int threads) {
        n4j_backend_options options;
        memset(&options, 0, sizeof(options));
        options.kind = N4J_BACKEND_CPU;
        options.threads = threads;
        options.flags = N4J_FLAG_BF16_MATMUL;
        options.activation_dtype = N4J_DTYPE_F32;
        n4j_backend* b = nullptr;
        CHECK_OK(n4j_backend_create(&options, &b));
        n4j::cpu::cpu_context_of(b)->simd = n4j::cpu::SIMD_AVX512_BF16;
        return b;
    };
    n4j_backend* b1 = make(1);
    n4j_backend* b2 = make(2);
    n4j_backend* b3 = make(3);
    struct shape {
        int32_t O, K, rows;
    };
    for (int32_t dtype : {N4J_DTYPE_Q8, N4J_DTYPE_Q4, N4J_DTYPE_Q6}) {
        for (shape s : {shape{70, 576, 16}, shape{130, 320, 37}, shape{65, 4480, 19}, shape{33, 1024, 300}}) {
            qweight q = make_qweight(r, dtype, s.O, s.K, 1.25f);
            const std::vector<float> x = r.vec(size_t(s.rows) * s.K, -3.0f, 3.0f);
            const std::vector<float> y0 = r.vec(size_t(s.rows) * s.O, -1.0f, 1.0f);
            std::vector<uint16_t> wb(size_t(s.O) * s.K);
            n4j::cpu::quant_dequant_bf16_ref(&q.w, 0, s.O, wb.data());
            for (int32_t epilogue : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE}) {
                const std::vector<float> y = run_matmul(b1, x, s.rows, q.w, y0, epilogue);
                for (n4j_backend* b : {b2, b3}) {
                    CHECK(run_matmul(b, x, s.rows, q.w, y0, epilogue) == y, "%s O=%d K=%d rows=%d: thread counts differ",
                          dtype_label(dtype), s.O, s.K, s.rows);
                }
                for (int32_t rr = 0; rr < s.rows; rr += 7) {
                    for (int32_t o = 0; o < s.O; o += 3) {
                        double acc = 0.0, mag = 0.0;
                        for (int32_t i = 0; i < s.K; ++i) {
                            const double xv = n4j::cpu::bf16_to_f32(n4j::cpu::f32_to_bf16(x[size_t(rr) * s.K + i]));
                            const double p = xv * n4j::cpu::bf16_to_f32(wb[size_t(o) * s.K + i]);
                            acc += p;
                            mag += fabs(p);
                        }
                        double want = acc * q.w.scale;
                        if (epilogue == N4J_MATMUL_ACCUMULATE) want += y0[size_t(rr) * s.O + o];
                        const double got = y[size_t(rr) * s.O + o];
                        CHECK(fabs(got - want) <= 1e-5 * mag * fabs(q.w.scale) + 1e-6,
                              "%s O=%d K=%d rows=%d (%d,%d): bf16 prefill %.9g, model %.9g",
                              dtype_label(dtype), s.O, s.K, s.rows, rr, o, got, want);
                    }
                }
            }
        }
    }
    n4j_backend_destroy(b1);
    n4j_backend_destroy(b2);
    n4j_backend_destroy(b3);
}

void test_rejects() {
    n4j_backend* b = make_cpu_backend(1, false, n4j::cpu::best_simd_level());
    std::vector<uint8_t> bytes(4096, 0);
    std::vector<float> x(256, 1.0f), y(256, 0.0f);
    n4j_weight w = make_weight(bytes.data(), N4J_DTYPE_Q8, 2, 48);
    CHECK(n4j_matmul(b, x.data(), 48, 1, &w, y.data(), 2, N4J_MATMUL_STORE) == N4J_ERR_INVALID_ARGUMENT,
          "q8 with 48 columns accepted");
    CHECK(strstr(n4j_last_error(), "not a multiple of its block (32)") != nullptr, "message: %s", n4j_last_error());
    w = make_weight(bytes.data(), N4J_DTYPE_Q4, 2, 96);
    CHECK(n4j_matmul(b, x.data(), 96, 1, &w, y.data(), 2, N4J_MATMUL_STORE) == N4J_ERR_INVALID_ARGUMENT,
          "q4 with 96 columns accepted");
    CHECK(strstr(n4j_last_error(), "not a multiple of its block (64)") != nullptr, "message: %s", n4j_last_error());
    w = make_weight(bytes.data(), N4J_DTYPE_Q6, 2, 160);
    CHECK(n4j_matmul(b, x.data(), 160, 1, &w, y.data(), 2, N4J_MATMUL_STORE) == N4J_ERR_INVALID_ARGUMENT,
          "q6 with 160 columns accepted");
    CHECK(strstr(n4j_last_error(), "Q6 with 160 columns, which is not a multiple of its block (64)") != nullptr,
          "message: %s", n4j_last_error());
    w = make_weight(bytes.data(), N4J_DTYPE_Q6, 32, 64);
    CHECK(n4j_rmsnorm(b, x.data(), 64, 1, 64, &w, 1e-5f, y.data(), 64) == N4J_ERR_INVALID_ARGUMENT,
          "rmsnorm took a q6 weight");
    w = make_weight(bytes.data(), N4J_DTYPE_Q8, 32, 1);
    CHECK(n4j_rmsnorm(b, x.data(), 32, 1, 32, &w, 1e-5f, y.data(), 32) == N4J_ERR_INVALID_ARGUMENT,
          "rmsnorm took a q8 weight");
    CHECK(strstr(n4j_last_error(), "Q8") != nullptr, "message: %s", n4j_last_error());
    w = make_weight(bytes.data(), 8, 2, 64);
    CHECK(n4j_matmul(b, x.data(), 64, 1, &w, y.data(), 2, N4J_MATMUL_STORE) == N4J_ERR_INVALID_ARGUMENT,
          "dtype 8 accepted");
    n4j_backend_destroy(b);
}

}  // namespace

int main() {
    rng r(16);
    test_reference_against_model(r);
    test_fast_variants(r);
    test_dequant(r);
    test_bf16_prefill(r);
    test_rejects();
    return finish("test_quant");
}
