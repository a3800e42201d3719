/*
 * test_bf16dot.cpp: the BF16 dot-product matmul (native/src/cpu/matmul_bf16dot.inc), which the library compiles
 * for AVX512-BF16 CPUs. This file compiles the same kernel body once more with N4J_BF16DOT_EMULATE, where the
 * dot-product instruction is modelled in scalar code, so the kernels' blocking, tails, E4M3 decoding, activation
 * rounding, epilogues and threading are tested on every CPU. On a CPU with AVX512-BF16 the real kernels run too and
 * must agree with the model.
 *
 * Oracle: the scalar reference matmul on the activations rounded to BF16 (which is what the kernel promises: exact
 * products, F32 accumulation in another order), within 1e-5 of the largest output; and, output by output, the
 * reference on the unrounded activations within the bound of the activations' rounding (2^-8 sum |x| |w| scale).
 */
#include "test_common.h"

#include "cpu/cpu_features.h"
#include "cpu/matmul.h"
#include "cpu/simd_kernels.h"

#define N4J_BF16DOT_EMULATE 1
#define N4J_SIMD_NAMESPACE bf16dot_emu
#include "cpu/matmul_bf16dot.inc"
#undef N4J_SIMD_NAMESPACE
// once more with the prefill panels on AMX-BF16 tiles, modelled in scalar code
#define N4J_BF16DOT_AMX 1
#define N4J_SIMD_NAMESPACE bf16dot_amx_emu
#include "cpu/matmul_bf16dot.inc"
#undef N4J_SIMD_NAMESPACE
#undef N4J_BF16DOT_AMX

using namespace test;
using n4j::cpu::bf16dot_emu::bf16dot_convert_x;
using n4j::cpu::bf16dot_emu::bf16dot_rows;

namespace {

constexpr double kTol = 1e-5;

/* Every E4M3 code decodes (32 at a time, in the kernel's pair layout) to the BF16 of e4m3_table(). */
void test_e4m3_decode() {
    const float* table = n4j::cpu::e4m3_table();
    uint8_t codes[256];
    for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);
    for (int g = 0; g < 256; g += 32) {
        const auto words = n4j::cpu::bf16dot_emu::load_group<N4J_DTYPE_F8_E4M3>(codes, g);
        for (int lane = 0; lane < 16; ++lane) {
            for (int half = 0; half < 2; ++half) {
                const int code = g + 2 * lane + half;
                const uint16_t bits = static_cast<uint16_t>(half == 0 ? words[lane] & 0xFFFFu : words[lane] >> 16);
                const float got = n4j::cpu::bf16_to_f32(bits);
                const float want = table[code];
                if (isnan(want)) {
                    CHECK(isnan(got), "E4M3 code 0x%02x: decoded 0x%04x, want NaN", code, bits);
                } else {
                    CHECK(got == want && signbit(got) == signbit(want), "E4M3 code 0x%02x: decoded %g (0x%04x), want %g",
                          code, got, bits, want);
                }
            }
        }
    }
}

/* Activation rounding equals the library's f32_to_bf16 (round to nearest even, NaN quieted), padding is zero. */
void test_convert_x() {
    rng r(5);
    const int32_t K = 45, rows = 3;
    const int64_t ld_x = 50;
    std::vector<float> x = r.vec(static_cast<size_t>(rows * ld_x), -1e3f, 1e3f);
    x[0] = NAN;
    x[1] = INFINITY;
    x[2] = -0.0f;
    x[3] = 1.0f + 1.0f / 256.0f;  // a tie: rounds to even (1.0)
    x[4] = 1.0f + 3.0f / 256.0f;  // a tie: rounds to even (1 + 4/256)
    x[5] = 3.0e38f;               // rounds to infinity
    x[6] = 1e-40f;                // a denormal stays one
    const int64_t ld_xb = n4j::cpu::bf16dot_ld(K);
    std::vector<uint16_t> xb(static_cast<size_t>(rows * ld_xb), 0xFFFF);
    bf16dot_convert_x(x.data(), ld_x, 0, rows, K, xb.data());
    for (int32_t i = 0; i < rows; ++i) {
        for (int64_t k = 0; k < ld_xb; ++k) {
            const uint16_t want = k < K ? n4j::cpu::f32_to_bf16(x[i * ld_x + k]) : 0;
            CHECK(xb[i * ld_xb + k] == want, "convert_x row %d col %lld: 0x%04x, want 0x%04x", i,
                  static_cast<long long>(k), xb[i * ld_xb + k], want);
        }
    }
}

std::vector<float> round_rows_to_bf16(const std::vector<float>& x) {
    std::vector<float> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = n4j::cpu::bf16_to_f32(n4j::cpu::f32_to_bf16(x[i]));
    return out;
}

struct kernels {
    const char* name;
    n4j::cpu::bf16dot_kernels k;
};

void test_matmul(n4j_backend* const* fast, int n_fast, const kernels& k, double* max_rel) {
    rng r(21);
    const int32_t row_counts[] = {1, 2, 3, 4, 5, 7, 13, 15, 16, 17, 33, 64, 65, 130, 300};
    const int32_t shapes[][2] = {{1, 1}, {7, 3}, {31, 9}, {32, 33}, {33, 31}, {63, 64}, {65, 65}, {257, 70},
                                 {520, 130}, {100, 20}, {2049, 40}};
    for (int32_t dtype : {N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        const float scale = dtype == N4J_DTYPE_F8_E4M3 ? 0.37f : 1.0f;
        for (auto& shape : shapes) {
            const int32_t K = shape[0], O = shape[1];
            weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, scale);
            for (int32_t rows : row_counts) {
                if (static_cast<int64_t>(rows) * K * O > 6000000) continue;
                const int64_t ld_x = K + 3, ld_y = O + 5;
                const std::vector<float> x = r.vec(static_cast<size_t>(rows * ld_x));
                const std::vector<float> xr = round_rows_to_bf16(x);
                const std::vector<float> y0 = r.vec(static_cast<size_t>(rows * ld_y));
                for (int32_t epilogue : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
                    std::vector<float> want = y0, want_unrounded = y0;
                    n4j::cpu::matmul_ref(xr.data(), ld_x, rows, &w.w, want.data(), ld_y, epilogue);
                    n4j::cpu::matmul_ref(x.data(), ld_x, rows, &w.w, want_unrounded.data(), ld_y, epilogue);
                    std::vector<float> first;
                    for (int v = 0; v < n_fast; ++v) {
                        std::vector<float> got = y0;
                        n4j::cpu::matmul_bf16dot(n4j::cpu::cpu_context_of(fast[v]), k.k, x.data(), ld_x,
                                                 rows, &w.w, got.data(), ld_y, epilogue);
                        const double d = rel_diff(want, got);
                        if (d > *max_rel) *max_rel = d;
                        CHECK(d <= kTol, "%s %s K=%d O=%d rows=%d epilogue=%d [%d threads]: %.3g vs the reference on "
                              "BF16-rounded activations", k.name, dtype_label(dtype), K, O, rows, epilogue, v + 1, d);
                        if (epilogue != N4J_MATMUL_RELU_SQUARED) {
                            // The activations' rounding moves each output by at most 2^-8 * sum |x| |w| * scale.
                            double worst = 0.0;
                            for (int32_t i = 0; i < rows; ++i) {
                                for (int32_t o = 0; o < O; ++o) {
                                    double bound = 0.0;
                                    for (int32_t c = 0; c < K; ++c)
                                        bound += fabs(x[i * ld_x + c] * n4j::cpu::weight_raw(w.w.data, dtype, static_cast<int64_t>(o) * K + c));
                                    bound = bound * scale / 256.0 + 1e-6 * (1.0 + fabs(want_unrounded[i * ld_y + o]));
                                    const double d_io = fabs(static_cast<double>(got[i * ld_y + o]) - want_unrounded[i * ld_y + o]);
                                    if (d_io / bound > worst) worst = d_io / bound;
                                }
                            }
                            CHECK(worst <= 1.0, "%s %s K=%d O=%d rows=%d epilogue=%d: an output moved %.3g x the BF16 "
                                  "rounding bound from the reference", k.name, dtype_label(dtype), K, O, rows, epilogue, worst);
                        }
                        if (v == 0) {
                            first = got;
                        } else {
                            CHECK(bitwise_equal(first, got), "%s %s K=%d O=%d rows=%d: result depends on the thread count",
                                  k.name, dtype_label(dtype), K, O, rows);
                        }
                    }
                }
            }
        }
    }
}

/*
 * Every E4M3 code through the whole kernel (decode, batched decode, prefill): weight row o holds code o at column
 * o % K and zeros elsewhere (K = 101: a 64-column group, a 32-column group and a tail), activations are ones, so y[r][o] must be exactly the
 * code's value (NaN for 0x7F and 0xFF). Random weights in [-1, 1] never reach the codes of magnitude >= 2.
 */
void test_e4m3_all_codes(n4j_backend* backend, const kernels& k) {
    const int32_t K = 101, O = 256;
    std::vector<uint8_t> codes(static_cast<size_t>(O * K), 0);
    for (int32_t o = 0; o < O; ++o) codes[static_cast<size_t>(o * K + o % K)] = static_cast<uint8_t>(o);
    const n4j_weight w = make_weight(codes.data(), N4J_DTYPE_F8_E4M3, O, K, 1.0f);
    const float* table = n4j::cpu::e4m3_table();
    for (int32_t rows : {1, 3, 4, 8, 20}) {
        const std::vector<float> x(static_cast<size_t>(rows * K), 1.0f);
        std::vector<float> y(static_cast<size_t>(rows * O), -7.0f);
        n4j::cpu::matmul_bf16dot(n4j::cpu::cpu_context_of(backend), k.k, x.data(), K, rows, &w, y.data(), O,
                                 N4J_MATMUL_STORE);
        for (int32_t r = 0; r < rows; ++r) {
            for (int32_t o = 0; o < O; ++o) {
                const float got = y[static_cast<size_t>(r * O + o)], want = table[o];
                CHECK(isnan(want) ? static_cast<bool>(isnan(got)) : got == want,
                      "%s E4M3 code 0x%02x rows=%d row %d: %g, want %g", k.name, o, rows, r, got, want);
            }
        }
    }
}

/* NaN and infinity in the activations reach exactly the outputs they should. */
void test_special_values(n4j_backend* backend, const kernels& k) {
    rng r(8);
    const int32_t K = 70, O = 40, rows = 3;
    weight_buffer w = make_random_weight(r, N4J_DTYPE_BF16, O, K, -1.0f, 1.0f);
    std::vector<float> x = r.vec(static_cast<size_t>(rows * K));
    x[1 * K + 33] = NAN;
    std::vector<float> y(static_cast<size_t>(rows * O));
    n4j::cpu::matmul_bf16dot(n4j::cpu::cpu_context_of(backend), k.k, x.data(), K, rows, &w.w, y.data(),
                             O, N4J_MATMUL_STORE);
    for (int32_t i = 0; i < rows; ++i)
        for (int32_t o = 0; o < O; ++o)
            CHECK((i == 1) == static_cast<bool>(isnan(y[i * O + o])), "%s NaN in row 1: y[%d][%d] = %g", k.name, i, o,
                  y[i * O + o]);
}

/*
 * n4j_matmul on a backend created with N4J_FLAG_BF16_MATMUL: the BF16 dot-product kernels where the CPU has them
 * (the result within 1e-5 of the reference on BF16-rounded activations), the exact F32 path elsewhere (within 1e-5
 * of the reference); F32 weights always exact.
 */
void test_flag() {
    n4j_backend_options options;
    memset(&options, 0, sizeof(options));
    options.kind = N4J_BACKEND_CPU;
    options.threads = 2;
    options.flags = N4J_FLAG_BF16_MATMUL;
    options.activation_dtype = N4J_DTYPE_F32;
    n4j_backend* b = nullptr;
    CHECK_OK(n4j_backend_create(&options, &b));
    if (b == nullptr) return;
    const bool bf16dot = n4j::cpu::cpu_context_of(b)->simd >= n4j::cpu::SIMD_AVX512_BF16;
    n4j_backend_info info;
    CHECK_OK(n4j_backend_get_info(b, &info));
    CHECK((strstr(info.name, "bf16 matmul") != nullptr) == bf16dot, "backend name \"%s\" (BF16 dot products: %d)",
          info.name, bf16dot);
    rng r(31);
    const int32_t K = 300, O = 70, rows = 20;
    const std::vector<float> x = r.vec(static_cast<size_t>(rows * K));
    const std::vector<float> xr = round_rows_to_bf16(x);
    for (int32_t dtype : {N4J_DTYPE_F32, N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, dtype == N4J_DTYPE_F8_E4M3 ? 0.5f : 1.0f);
        const bool rounds = bf16dot && dtype != N4J_DTYPE_F32;
        std::vector<float> want(static_cast<size_t>(rows * O)), got(want.size());
        n4j::cpu::matmul_ref(rounds ? xr.data() : x.data(), K, rows, &w.w, want.data(), O, N4J_MATMUL_STORE);
        CHECK_OK(n4j_matmul(b, x.data(), K, rows, &w.w, got.data(), O, N4J_MATMUL_STORE));
        CHECK(rel_diff(want, got) <= kTol, "N4J_FLAG_BF16_MATMUL %s (rounds: %d): %.3g", dtype_label(dtype), rounds,
              rel_diff(want, got));
    }
    n4j_backend_destroy(b);
}

void set_dot_by_fma(n4j_backend* const* fast, int n_fast, bool by_fma) {
    for (int v = 0; v < n_fast; ++v) n4j::cpu::cpu_context_of(fast[v])->bf16_dot_by_fma = by_fma;
}

/*
 * The FMA forms of the prefill GEMM and of batched decode (context::bf16_dot_by_fma: the dot-product instruction's sums
 * as F32 FMAs on the widened pairs): every check of test_matmul, then bitwise the results of the instruction form `dot`
 * on prefill and batched-decode cases (BF16 and E4M3 weights, every epilogue; no denormal input, which only the
 * instruction flushes).
 */
void test_fma_form(n4j_backend* const* fast, int n_fast, const kernels& dot, const kernels& fma, double* max_rel) {
    set_dot_by_fma(fast, n_fast, true);
    test_matmul(fast, n_fast, fma, max_rel);
    test_e4m3_all_codes(fast[1], fma);
    rng r(97);
    for (int32_t dtype : {N4J_DTYPE_BF16, N4J_DTYPE_F8_E4M3}) {
        for (int32_t epilogue : {N4J_MATMUL_STORE, N4J_MATMUL_ACCUMULATE, N4J_MATMUL_RELU_SQUARED}) {
          for (const int32_t rows : {53, 2, 3, 7}) {  // prefill (3 column blocks of the FMA form (128), 4 of the
                                                      // other (256)) and batched decode (2-15 rows)
            const int32_t K = 1000, O = 77;
            weight_buffer w = make_random_weight(r, dtype, O, K, -1.0f, 1.0f, dtype == N4J_DTYPE_F8_E4M3 ? 0.37f : 1.0f);
            const std::vector<float> x = r.vec(static_cast<size_t>(rows * K));
            const std::vector<float> y0 = r.vec(static_cast<size_t>(rows * O));
            std::vector<float> a = y0, b = y0;
            for (int v = 0; v < n_fast; ++v) {
                n4j::cpu::context* ctx = n4j::cpu::cpu_context_of(fast[v]);
                ctx->bf16_dot_by_fma = false;
                a = y0;
                n4j::cpu::matmul_bf16dot(ctx, dot.k, x.data(), K, rows, &w.w, a.data(), O, epilogue);
                ctx->bf16_dot_by_fma = true;
                b = y0;
                n4j::cpu::matmul_bf16dot(ctx, fma.k, x.data(), K, rows, &w.w, b.data(), O, epilogue);
                CHECK(bitwise_equal(a, b),
                      "%s against %s (%s, %d rows, epilogue %d, %d threads): not bitwise equal (%.3g)", fma.name,
                      dot.name, dtype_label(dtype), rows, epilogue, v + 1, rel_diff(a, b));
            }
          }
        }
    }
    set_dot_by_fma(fast, n_fast, false);
}

}  // namespace

int main() {
    test_flag();
    test_e4m3_decode();
    test_convert_x();
    n4j_backend* fast[3] = {make_cpu_backend(1, false, n4j::cpu::SIMD_GENERIC),
                            make_cpu_backend(2, false, n4j::cpu::SIMD_GENERIC),
                            make_cpu_backend(3, false, n4j::cpu::SIMD_GENERIC)};
    set_dot_by_fma(fast, 3, false);  // (kernel sets without an FMA form ignore the flag)
    const kernels emulated = {"bf16dot (emulated)", {bf16dot_convert_x, bf16dot_rows, n4j::cpu::bf16dot_emu::bf16dot_gemm}};
    double max_rel = 0.0;
    test_matmul(fast, 3, emulated, &max_rel);
    test_special_values(fast[1], emulated);
    test_e4m3_all_codes(fast[1], emulated);
    printf("  emulated BF16 dot-product matmul: max rel diff vs reference on rounded activations %.2e\n", max_rel);
    {
        const kernels fma_emulated = {"bf16dot (FMA form, emulated build)",
                                      {bf16dot_convert_x, bf16dot_rows, n4j::cpu::bf16dot_emu::bf16dot_gemm, nullptr,
                                       n4j::cpu::bf16dot_emu::bf16dot_convert_x_f32,
                                       n4j::cpu::bf16dot_emu::bf16dot_gemm_fma,
                                       n4j::cpu::bf16dot_emu::bf16dot_rows_fma}};
        double fma_rel = 0.0;
        test_fma_form(fast, 3, emulated, fma_emulated, &fma_rel);
        printf("  FMA form of the prefill GEMM (emulated build): max rel diff vs reference %.2e, bitwise the modelled "
               "instruction's results\n",
               fma_rel);
    }
    // The AMX-BF16 form (prefill panels on tiles: groups of 16 activation rows; the rest as above), its tiles and
    // TDPBF16PS modelled in scalar code; then against the VDPBF16PS form on a prefill-sized case.
    const kernels amx_emulated = {"bf16dot (AMX, emulated)", {bf16dot_convert_x, bf16dot_rows,
                                  n4j::cpu::bf16dot_amx_emu::bf16dot_gemm}};
    double amx_rel = 0.0;
    test_matmul(fast, 3, amx_emulated, &amx_rel);
    test_special_values(fast[1], amx_emulated);
    test_e4m3_all_codes(fast[1], amx_emulated);
    {
        rng r(98);
        const int32_t K = 1000, O = 77, rows = 53;  // 3 tile groups of 16 rows and 5 rows on the vector tiles
        weight_buffer w = make_random_weight(r, N4J_DTYPE_BF16, O, K, -1.0f, 1.0f);
        const std::vector<float> x = r.vec(static_cast<size_t>(rows * K));
        std::vector<float> a(static_cast<size_t>(rows * O)), b(a.size());
        n4j::cpu::context* ctx = n4j::cpu::cpu_context_of(fast[1]);
        n4j::cpu::matmul_bf16dot(ctx, emulated.k, x.data(), K, rows, &w.w, a.data(), O, 0);
        n4j::cpu::matmul_bf16dot(ctx, amx_emulated.k, x.data(), K, rows, &w.w, b.data(), O, 0);
        CHECK(rel_diff(a, b) <= kTol, "AMX and VDPBF16PS forms differ by %.3g", rel_diff(a, b));
        printf("  emulated AMX-BF16 matmul: max rel diff vs reference %.2e, vs the VDPBF16PS form %.2e\n", amx_rel,
               rel_diff(a, b));
    }
#if defined(N4J_HAVE_AMX_KERNELS) && !defined(N4J_EMULATE_AVX512BF16)
    if (n4j::cpu::cpu_has_amx_bf16()) {
        const kernels amx = {"bf16dot (AMX)", {n4j::cpu::avx512bf16::bf16dot_convert_x,
                             n4j::cpu::avx512bf16::bf16dot_rows, n4j::cpu::avx512bf16_amx::bf16dot_gemm}};
        double hw_rel = 0.0;
        test_matmul(fast, 3, amx, &hw_rel);
        test_special_values(fast[1], amx);
        test_e4m3_all_codes(fast[1], amx);
        printf("  AMX-BF16 kernels ran: max rel diff vs reference %.2e\n", hw_rel);
    } else {
        printf("  this CPU has no AMX-BF16 (or the OS did not grant the tile state): the AMX kernels were compiled "
               "but only their scalar model ran\n");
    }
#endif
#if defined(N4J_HAVE_AVX512BF16_KERNELS)
    if (n4j::cpu::cpu_has_avx512_bf16()) {
        const kernels real = {"bf16dot (avx512bf16)", {n4j::cpu::avx512bf16::bf16dot_convert_x,
                              n4j::cpu::avx512bf16::bf16dot_rows, n4j::cpu::avx512bf16::bf16dot_gemm}};
        max_rel = 0.0;
        test_matmul(fast, 3, real, &max_rel);
        test_special_values(fast[1], real);
        test_e4m3_all_codes(fast[1], real);
        if (n4j::cpu::cpu_has_avx512_vbmi()) {  // the kernels with E4M3 decoded by VPERMI2B
            const kernels vbmi = {"bf16dot (avx512bf16 + vbmi)", {n4j::cpu::avx512bf16_vbmi::bf16dot_convert_x,
                                  n4j::cpu::avx512bf16_vbmi::bf16dot_rows, n4j::cpu::avx512bf16_vbmi::bf16dot_gemm}};
            test_matmul(fast, 3, vbmi, &max_rel);
            test_special_values(fast[1], vbmi);
            test_e4m3_all_codes(fast[1], vbmi);
            printf("  AVX512-VBMI kernels ran too\n");
        }
        {
            const kernels fma = {"bf16dot (avx512bf16, FMA form)",
                                 {n4j::cpu::avx512bf16::bf16dot_convert_x, n4j::cpu::avx512bf16::bf16dot_rows,
                                  n4j::cpu::avx512bf16::bf16dot_gemm, nullptr,
                                  n4j::cpu::avx512bf16::bf16dot_convert_x_f32, n4j::cpu::avx512bf16::bf16dot_gemm_fma,
                                  n4j::cpu::avx512bf16::bf16dot_rows_fma}};
            double fma_rel = 0.0;
            test_fma_form(fast, 3, real, fma, &fma_rel);
            printf("  FMA form of the prefill GEMM: max rel diff vs reference %.2e, bitwise VDPBF16PS's results\n",
                   fma_rel);
        }
        // The model of the instruction against the instruction, on one large case.
        rng r(99);
        const int32_t K = 1000, O = 77, rows = 21;
        weight_buffer w = make_random_weight(r, N4J_DTYPE_BF16, O, K, -1.0f, 1.0f);
        const std::vector<float> x = r.vec(static_cast<size_t>(rows * K));
        std::vector<float> a(static_cast<size_t>(rows * O)), b(a.size());
        n4j::cpu::context* ctx = n4j::cpu::cpu_context_of(fast[1]);
        n4j::cpu::matmul_bf16dot(ctx, emulated.k, x.data(), K, rows, &w.w, a.data(), O, 0);
        n4j::cpu::matmul_bf16dot(ctx, real.k, x.data(), K, rows, &w.w, b.data(), O, 0);
#if defined(N4J_EMULATE_AVX512BF16)
        printf("  (an N4J_EMULATE_AVX512BF16 build: the library's kernels are emulated too)\n");
#endif
        printf("  AVX512-BF16 kernels ran: max rel diff vs reference %.2e; emulation vs hardware %.2e (%s)\n", max_rel,
               rel_diff(a, b), bitwise_equal(a, b) ? "bitwise equal" : "not bitwise equal");
        CHECK(rel_diff(a, b) <= kTol, "emulated and hardware BF16 dot products differ by %.3g", rel_diff(a, b));
    } else {
        printf("  this CPU has no AVX512-BF16: the hardware kernels were compiled but not run\n");
    }
#else
    printf("  this build has no AVX512-BF16 kernels (compiler or architecture)\n");
#endif
    for (n4j_backend* b : fast) n4j_backend_destroy(b);
    return finish("test_bf16dot");
}
