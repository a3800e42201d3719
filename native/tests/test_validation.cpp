/*
 * test_validation.cpp: argument validation of every entry point. Each case starts from valid arguments, breaks
 * one, and expects the documented status code and a message that names the function and the argument; nothing
 * may crash, and a rejected call must not write its outputs.
 */
#include "test_common.h"

using namespace test;

namespace {

/* Expects `call` to return `code` with a last-error message containing every given fragment. */
#define EXPECT_ERROR(code, call, ...)                                                                           \
    do {                                                                                                        \
        const int32_t _status = (call);                                                                         \
        const char* _fragments[] = {__VA_ARGS__};                                                               \
        const char* _message = n4j_last_error();                                                                \
        bool _has_all = true;                                                                                   \
        for (const char* _f : _fragments) _has_all &= strstr(_message, _f) != nullptr;                          \
        CHECK(_status == (code) && _has_all, "%s: expected status %d with {%s}, got %d \"%s\"", #call, (code), \
              #__VA_ARGS__, _status, _message);                                                                 \
    } while (0)

#define EXPECT_INVALID(call, ...) EXPECT_ERROR(N4J_ERR_INVALID_ARGUMENT, call, __VA_ARGS__)

n4j_backend_options cpu_options() {
    n4j_backend_options o;
    memset(&o, 0, sizeof(o));
    o.kind = N4J_BACKEND_CPU;
    o.threads = 1;
    o.activation_dtype = N4J_DTYPE_F32;
    return o;
}

void test_backend_and_memory() {
    n4j_backend* b = nullptr;
    n4j_backend_options o = cpu_options();
    EXPECT_INVALID(n4j_backend_create(nullptr, &b), "n4j_backend_create", "options");
    EXPECT_INVALID(n4j_backend_create(&o, nullptr), "n4j_backend_create", "out_backend");
    o.reserved = 1;
    EXPECT_INVALID(n4j_backend_create(&o, &b), "n4j_backend_create", "options.reserved");
    CHECK(b == nullptr, "a failed create leaves *out_backend NULL");
    o = cpu_options();
    o.kind = 7;
    EXPECT_INVALID(n4j_backend_create(&o, &b), "n4j_backend_create", "options.kind");
    o = cpu_options();
    o.threads = -1;
    EXPECT_INVALID(n4j_backend_create(&o, &b), "options.threads");
    o = cpu_options();
    o.threads = 100000;
    EXPECT_INVALID(n4j_backend_create(&o, &b), "options.threads");
    o = cpu_options();
    o.flags = 0x10;
    EXPECT_INVALID(n4j_backend_create(&o, &b), "options.flags");
    o = cpu_options();
    // N4J_CPU_SIMD caps the SIMD level; anything but a level name is refused, naming the variable.
    setenv("N4J_CPU_SIMD", "avx9000", 1);
    EXPECT_INVALID(n4j_backend_create(&o, &b), "N4J_CPU_SIMD", "avx9000");
    setenv("N4J_CPU_SIMD", "generic", 1);
    CHECK_OK(n4j_backend_create(&o, &b));
    if (b != nullptr) {
        n4j_backend_info generic_info;
        CHECK_OK(n4j_backend_get_info(b, &generic_info));
        CHECK(strstr(generic_info.name, "generic") != nullptr, "N4J_CPU_SIMD=generic gives \"%s\"", generic_info.name);
        CHECK_OK(n4j_backend_destroy(b));
        b = nullptr;
    }
    unsetenv("N4J_CPU_SIMD");
    // N4J_CPU_BF16_DOT chooses the form of the BF16 dot products (vdpbf16ps, fma or auto); anything else is refused.
    setenv("N4J_CPU_BF16_DOT", "fast", 1);
    EXPECT_INVALID(n4j_backend_create(&o, &b), "N4J_CPU_BF16_DOT", "fast");
    for (const char* form : {"fma", "vdpbf16ps"}) {
        setenv("N4J_CPU_BF16_DOT", form, 1);
        CHECK_OK(n4j_backend_create(&o, &b));
        if (b != nullptr) {
            CHECK(n4j::cpu::cpu_context_of(b)->bf16_dot_by_fma == (strcmp(form, "fma") == 0), "N4J_CPU_BF16_DOT=%s",
                  form);
            CHECK_OK(n4j_backend_destroy(b));
            b = nullptr;
        }
    }
    setenv("N4J_CPU_BF16_DOT", "auto", 1);
    CHECK_OK(n4j_backend_create(&o, &b));
    if (b != nullptr) {
        CHECK_OK(n4j_backend_destroy(b));
        b = nullptr;
    }
    unsetenv("N4J_CPU_BF16_DOT");
    o = cpu_options();
    o.activation_dtype = 42;
    EXPECT_INVALID(n4j_backend_create(&o, &b), "options.activation_dtype");
    o = cpu_options();
    o.activation_dtype = N4J_DTYPE_F16;
    EXPECT_ERROR(N4J_ERR_UNSUPPORTED, n4j_backend_create(&o, &b), "n4j_backend_create", "activation_dtype", "CPU");
    o = cpu_options();
    o.activation_dtype = N4J_DTYPE_BF16;  // the CPU's BF16 mode (F32 kernels between bf16 tensors)
    CHECK_OK(n4j_backend_create(&o, &b));
    {
        n4j_backend_info bf16_info;
        CHECK_OK(n4j_backend_get_info(b, &bf16_info));
        CHECK(bf16_info.activation_dtype == N4J_DTYPE_BF16, "BF16 CPU backend reports activation_dtype %d", bf16_info.activation_dtype);
        CHECK_OK(n4j_backend_destroy(b));
    }

    o = cpu_options();
    CHECK_OK(n4j_backend_create(&o, &b));
    n4j_backend_info info;
    EXPECT_INVALID(n4j_backend_get_info(b, nullptr), "n4j_backend_get_info", "out_info");
    EXPECT_INVALID(n4j_backend_get_info(nullptr, &info), "n4j_backend_get_info", "backend is NULL");
    EXPECT_INVALID(n4j_backend_synchronize(nullptr), "n4j_backend_synchronize", "backend");
    int dummy = 0;
    EXPECT_INVALID(n4j_backend_synchronize(reinterpret_cast<n4j_backend*>(&dummy)), "n4j_backend_synchronize",
                   "not a live backend");

    void* p = reinterpret_cast<void*>(1);
    EXPECT_INVALID(n4j_alloc(b, 0, &p), "n4j_alloc", "bytes");
    CHECK(p == nullptr, "a failed alloc leaves *out_ptr NULL");
    EXPECT_INVALID(n4j_alloc(b, 16, nullptr), "n4j_alloc", "out_ptr");
    EXPECT_ERROR(N4J_ERR_OUT_OF_MEMORY, n4j_alloc(b, uint64_t(1) << 62, &p), "n4j_alloc");
    CHECK_OK(n4j_alloc(b, 100, &p));
    EXPECT_INVALID(n4j_free(b, nullptr), "n4j_free", "ptr");
    EXPECT_INVALID(n4j_free(b, static_cast<char*>(p) + 4), "n4j_free", "not allocated");
    char host[16];
    EXPECT_INVALID(n4j_copy(b, p, host, 0, N4J_COPY_HOST_TO_BACKEND), "n4j_copy", "bytes");
    EXPECT_INVALID(n4j_copy(b, nullptr, host, 4, N4J_COPY_HOST_TO_BACKEND), "n4j_copy", "dst");
    EXPECT_INVALID(n4j_copy(b, p, nullptr, 4, N4J_COPY_HOST_TO_BACKEND), "n4j_copy", "src");
    EXPECT_INVALID(n4j_copy(b, p, host, 4, 3), "n4j_copy", "direction");
    EXPECT_INVALID(n4j_fill_zero(b, nullptr, 4), "n4j_fill_zero", "ptr");
    EXPECT_INVALID(n4j_fill_zero(b, p, 0), "n4j_fill_zero", "bytes");
    CHECK_OK(n4j_free(b, p));
    EXPECT_INVALID(n4j_free(b, p), "n4j_free", "already freed");

    float src[8] = {0}, dst[8] = {0};
    EXPECT_INVALID(n4j_convert(b, src, N4J_DTYPE_I32, dst, N4J_DTYPE_F32, 8), "n4j_convert", "src_dtype");
    EXPECT_INVALID(n4j_convert(b, src, N4J_DTYPE_F32, dst, 9, 8), "n4j_convert", "dst_dtype");
    EXPECT_INVALID(n4j_convert(b, src, N4J_DTYPE_F32, dst, N4J_DTYPE_BF16, 0), "n4j_convert", "n (0)");
    EXPECT_INVALID(n4j_convert(b, src, N4J_DTYPE_F32, src + 1, N4J_DTYPE_F32, 4), "n4j_convert", "overlap");
    EXPECT_INVALID(n4j_convert(b, nullptr, N4J_DTYPE_F32, dst, N4J_DTYPE_F32, 4), "n4j_convert", "src");

    CHECK_OK(n4j_backend_destroy(b));
    EXPECT_INVALID(n4j_backend_destroy(b), "n4j_backend_destroy", "not a live backend");
    EXPECT_INVALID(n4j_alloc(b, 16, &p), "n4j_alloc", "not a live backend");
    EXPECT_INVALID(n4j_backend_destroy(nullptr), "n4j_backend_destroy", "backend is NULL");
}

void test_weights_and_simple_kernels(n4j_backend* b) {
    float w_data[64 * 16];
    for (int i = 0; i < 64 * 16; ++i) w_data[i] = 0.01f * static_cast<float>(i % 7);
    n4j_weight w = make_weight(w_data, N4J_DTYPE_F32, 16, 64);  // 16 outputs, 64 inputs
    float x[4 * 64] = {0}, y[4 * 16] = {0};
    for (float& v : y) v = 123.0f;

    // matmul
    EXPECT_INVALID(n4j_matmul(b, x, 32, 4, &w, y, 16, 0), "n4j_matmul", "ld_x (32)", "weight.cols", "64");
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &w, y, 8, 0), "n4j_matmul", "ld_y (8)", "weight.rows");
    EXPECT_INVALID(n4j_matmul(b, nullptr, 64, 4, &w, y, 16, 0), "n4j_matmul", "x is NULL");
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &w, nullptr, 16, 0), "n4j_matmul", "y is NULL");
    EXPECT_INVALID(n4j_matmul(b, x, 64, 0, &w, y, 16, 0), "n4j_matmul", "rows (0)");
    EXPECT_INVALID(n4j_matmul(b, x, 64, -3, &w, y, 16, 0), "n4j_matmul", "rows (-3)");
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, nullptr, y, 16, 0), "n4j_matmul", "weight is NULL");
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &w, y, 16, 4), "n4j_matmul", "epilogue (4)");
    EXPECT_INVALID(n4j_matmul(b, x, 64, 1, &w, x + 32, 16, 0), "n4j_matmul", "y and x overlap");
    CHECK_OK(n4j_matmul(b, x, 64, 1, &w, x + 64, 16, 0));  // adjacent, not overlapping
    EXPECT_INVALID(n4j_matmul(b, x, int64_t(1) << 50, 1, &w, y, 16, 0), "n4j_matmul", "ld_x", "implausibly large");
    n4j_weight bad = w;
    bad.dtype = N4J_DTYPE_F16;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight.dtype", "F16");
    bad = w;
    bad.dtype = N4J_DTYPE_I32;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight.dtype");
    bad = w;
    bad.dtype = 77;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight.dtype 77");
    bad = w;
    bad.reserved = 5;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight.reserved");
    bad = w;
    bad.data = nullptr;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight.data");
    bad = w;
    bad.rows = 0;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight shape");
    bad = w;
    bad.scale = 0.0f;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight.scale");
    bad.scale = NAN;
    EXPECT_INVALID(n4j_matmul(b, x, 64, 4, &bad, y, 16, 0), "n4j_matmul", "weight.scale");
    bool untouched = true;
    for (float v : y) untouched &= v == 123.0f;
    CHECK(untouched, "rejected matmul calls left y untouched");
    CHECK_OK(n4j_matmul(b, x, 64, 4, &w, y, 16, 0));

    // embedding
    int32_t ids[3] = {0, 15, 3};
    n4j_weight table = make_weight(w_data, N4J_DTYPE_F32, 16, 64);
    float out[4 * 64];
    CHECK_OK(n4j_embedding(b, &table, ids, 3, out, 64));
    ids[1] = 16;
    EXPECT_INVALID(n4j_embedding(b, &table, ids, 3, out, 64), "n4j_embedding", "ids[1] = 16", "table.rows = 16");
    ids[1] = -1;
    EXPECT_INVALID(n4j_embedding(b, &table, ids, 3, out, 64), "n4j_embedding", "ids[1] = -1");
    ids[1] = 2;
    EXPECT_INVALID(n4j_embedding(b, &table, ids, 3, out, 63), "n4j_embedding", "ld_out (63)", "table.cols");
    EXPECT_INVALID(n4j_embedding(b, &table, nullptr, 3, out, 64), "n4j_embedding", "ids is NULL");
    EXPECT_INVALID(n4j_embedding(b, &table, ids, 0, out, 64), "n4j_embedding", "n (0)");

    // rmsnorm
    n4j_weight norm = make_weight(w_data, N4J_DTYPE_F32, 64, 1);
    CHECK_OK(n4j_rmsnorm(b, x, 64, 4, 64, &norm, 1e-5f, out, 64));
    CHECK_OK(n4j_rmsnorm(b, x, 64, 4, 64, &norm, 1e-5f, x, 64));  // in place
    n4j_weight norm_bad = make_weight(w_data, N4J_DTYPE_F32, 1, 64);
    EXPECT_INVALID(n4j_rmsnorm(b, x, 64, 4, 64, &norm_bad, 1e-5f, out, 64), "n4j_rmsnorm", "weight shape [1, 64]",
                   "dim = 64");
    norm_bad = make_weight(w_data, N4J_DTYPE_F32, 32, 1);
    EXPECT_INVALID(n4j_rmsnorm(b, x, 64, 4, 64, &norm_bad, 1e-5f, out, 64), "n4j_rmsnorm", "weight shape [32, 1]");
    EXPECT_INVALID(n4j_rmsnorm(b, x, 64, 4, 64, &norm, -1.0f, out, 64), "n4j_rmsnorm", "eps");
    EXPECT_INVALID(n4j_rmsnorm(b, x, 64, 4, 64, &norm, NAN, out, 64), "n4j_rmsnorm", "eps");
    EXPECT_INVALID(n4j_rmsnorm(b, x, 64, 4, 65, &norm, 1e-5f, out, 65), "n4j_rmsnorm", "ld_x (64)", "dim");
    EXPECT_INVALID(n4j_rmsnorm(b, x, 64, 4, 64, &norm, 1e-5f, x + 1, 64), "n4j_rmsnorm", "overlap");

    // rmsnorm + matmul (n4j_rmsnorm_matmul): the arguments of both ops, named; normed never x (not in place)
    {
        float nx[4 * 64], normed[4 * 64], ny[4 * 16];
        for (int i = 0; i < 4 * 64; ++i) nx[i] = 0.1f * static_cast<float>(i % 5) - 0.2f;
        for (float& v : ny) v = 123.0f;
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 0, 64, &norm, 1e-5f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "rows (0)");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, -2, 64, &norm, 1e-5f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "rows (-2)");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 0, &norm, 1e-5f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "dim (0)");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 32, &norm_bad, 1e-5f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "weight.cols (64", "dim (32)");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 63, 4, 64, &norm, 1e-5f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "ld_x (63)", "dim");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 60, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "ld_normed (60)", "dim");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 64, &w, ny, 15, 0),
                       "n4j_rmsnorm_matmul", "ld_y (15)", "weight.rows");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, nullptr, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "normed is NULL");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nullptr, 64, 4, 64, &norm, 1e-5f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "x is NULL");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 64, &w, nullptr, 16, 0),
                       "n4j_rmsnorm_matmul", "y is NULL");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, nullptr, 1e-5f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "norm_weight is NULL");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 64, nullptr, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "weight is NULL");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, -1.0f, normed, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "eps");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 64, &w, ny, 16, 5),
                       "n4j_rmsnorm_matmul", "epilogue (5)");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, nx, 64, &w, ny, 16, 0),
                       "n4j_rmsnorm_matmul", "normed and x overlap");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 64, &w, normed + 8, 16, 0),
                       "n4j_rmsnorm_matmul", "y and normed overlap");
        EXPECT_INVALID(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 64, &w, nx + 100, 16, 0),
                       "n4j_rmsnorm_matmul", "y and x overlap");
        bool y_untouched = true;
        for (float v : ny) y_untouched &= v == 123.0f;
        CHECK(y_untouched, "rejected rmsnorm_matmul calls left y untouched");
        // Accepted, and equal (bitwise) to the two ops.
        float n2[4 * 64], y2[4 * 16];
        CHECK_OK(n4j_rmsnorm_matmul(b, nx, 64, 4, 64, &norm, 1e-5f, normed, 64, &w, ny, 16, N4J_MATMUL_STORE));
        CHECK_OK(n4j_rmsnorm(b, nx, 64, 4, 64, &norm, 1e-5f, n2, 64));
        CHECK_OK(n4j_matmul(b, n2, 64, 4, &w, y2, 16, N4J_MATMUL_STORE));
        CHECK(memcmp(normed, n2, sizeof(n2)) == 0 && memcmp(ny, y2, sizeof(y2)) == 0,
              "n4j_rmsnorm_matmul equals n4j_rmsnorm then n4j_matmul");
    }

    // gated rmsnorm
    CHECK_OK(n4j_gated_rmsnorm(b, x, 64, x, 64, 4, 64, 8, &norm, 1e-5f, out, 64));
    EXPECT_INVALID(n4j_gated_rmsnorm(b, x, 64, x, 64, 4, 64, 6, &norm, 1e-5f, out, 64), "n4j_gated_rmsnorm",
                   "dim (64)", "groups (6)");
    EXPECT_INVALID(n4j_gated_rmsnorm(b, x, 64, x, 64, 4, 64, 0, &norm, 1e-5f, out, 64), "n4j_gated_rmsnorm",
                   "groups (0)");
    EXPECT_INVALID(n4j_gated_rmsnorm(b, x, 64, nullptr, 64, 4, 64, 8, &norm, 1e-5f, out, 64), "n4j_gated_rmsnorm",
                   "z is NULL");
    EXPECT_INVALID(n4j_gated_rmsnorm(b, x, 64, x, 32, 4, 64, 8, &norm, 1e-5f, out, 64), "n4j_gated_rmsnorm",
                   "ld_z (32)");

    // elementwise, argmax
    EXPECT_INVALID(n4j_relu_squared(b, x, y, 0), "n4j_relu_squared", "n (0)");
    EXPECT_INVALID(n4j_relu_squared(b, nullptr, y, 4), "n4j_relu_squared", "x is NULL");
    EXPECT_INVALID(n4j_relu_squared(b, x, x + 1, 4), "n4j_relu_squared", "overlap");
    CHECK_OK(n4j_relu_squared(b, x, x, 4));
    EXPECT_INVALID(n4j_add(b, x, y, y + 2, 4), "n4j_add", "y and b overlap");
    EXPECT_INVALID(n4j_add(b, x, nullptr, y, 4), "n4j_add", "b is NULL");
    CHECK_OK(n4j_add(b, x, y, y, 4));
    int32_t idx[4];
    EXPECT_INVALID(n4j_argmax(b, x, 10, 4, 16, idx), "n4j_argmax", "ld_x (10)", "cols");
    EXPECT_INVALID(n4j_argmax(b, x, 16, 4, 0, idx), "n4j_argmax", "cols (0)");
    EXPECT_INVALID(n4j_argmax(b, x, 16, 4, 16, nullptr), "n4j_argmax", "out is NULL");
}

void test_conv(n4j_backend* b) {
    const int32_t C = 8, K = 4, T = 3;
    float w_data[C * K] = {0}, bias_data[C] = {0}, x[T * C] = {0}, out[T * C] = {0}, state[C * K] = {0};
    n4j_weight w = make_weight(w_data, N4J_DTYPE_F32, C, K);
    n4j_weight bias = make_weight(bias_data, N4J_DTYPE_F32, C, 1);
    CHECK_OK(n4j_conv1d_prefill(b, x, C, T, C, &w, &bias, state, N4J_ACT_SILU, out, C));
    CHECK_OK(n4j_conv1d_prefill(b, x, C, T, C, &w, nullptr, state, N4J_ACT_NONE, out, C));
    n4j_weight w_bad = make_weight(w_data, N4J_DTYPE_F32, C - 1, K);
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C, T, C, &w_bad, &bias, state, N4J_ACT_SILU, out, C),
                   "n4j_conv1d_prefill", "weight.rows (7) != channels (8)");
    n4j_weight bias_bad = make_weight(bias_data, N4J_DTYPE_F32, C - 2, 1);
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C, T, C, &w, &bias_bad, state, N4J_ACT_SILU, out, C),
                   "n4j_conv1d_prefill", "bias shape");
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C, T, C, &w, &bias, state, 5, out, C), "n4j_conv1d_prefill",
                   "activation 5");
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C, 0, C, &w, &bias, state, N4J_ACT_SILU, out, C), "n4j_conv1d_prefill",
                   "tokens (0)");
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C, T, C, &w, &bias, nullptr, N4J_ACT_SILU, out, C),
                   "n4j_conv1d_prefill", "conv_state is NULL");
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C - 1, T, C, &w, &bias, state, N4J_ACT_SILU, out, C),
                   "n4j_conv1d_prefill", "ld_x (7)", "channels");
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C, T, C, &w, &bias, state, N4J_ACT_SILU, x, C), "n4j_conv1d_prefill",
                   "out and x overlap");
    EXPECT_INVALID(n4j_conv1d_prefill(b, x, C, T, C, &w, &bias, out + 4, N4J_ACT_SILU, out, C),
                   "n4j_conv1d_prefill", "conv_state and out overlap");

    void* states[2] = {state, nullptr};
    EXPECT_INVALID(n4j_conv1d_decode(b, 2, x, C, C, &w, &bias, states, N4J_ACT_SILU, out, C), "n4j_conv1d_decode",
                   "conv_states[1] is NULL");
    EXPECT_INVALID(n4j_conv1d_decode(b, 1, x, C, C, &w, &bias, nullptr, N4J_ACT_SILU, out, C), "n4j_conv1d_decode",
                   "conv_states is NULL");
    EXPECT_INVALID(n4j_conv1d_decode(b, 0, x, C, C, &w, &bias, states, N4J_ACT_SILU, out, C), "n4j_conv1d_decode",
                   "batch (0)");
    CHECK_OK(n4j_conv1d_decode(b, 1, x, C, C, &w, &bias, states, N4J_ACT_SILU, out, C));
}

void test_ssm(n4j_backend* b) {
    n4j_ssm_dims d;
    memset(&d, 0, sizeof(d));
    d.heads = 4;
    d.head_dim = 3;
    d.groups = 2;
    d.state_dim = 5;
    d.chunk_size = 4;
    const int32_t T = 6, HP = 12, GN = 10, H = 4;
    std::vector<float> x(T * HP), B(T * GN), C(T * GN), dt(T * H), y(T * HP), state(H * 3 * 5);
    std::vector<float> params(H, 0.5f);
    n4j_weight dt_bias = make_weight(params.data(), N4J_DTYPE_F32, H, 1);
    n4j_weight A_log = make_weight(params.data(), N4J_DTYPE_F32, H, 1);
    n4j_weight D = make_weight(params.data(), N4J_DTYPE_F32, H, 1);
    auto scan = [&](const n4j_ssm_dims* dims, int32_t tokens, int64_t ld_x, int64_t ld_B, int64_t ld_dt,
                    const n4j_weight* a_log, float* st, float* yy) {
        return n4j_ssd_chunk_scan(b, dims, tokens, x.data(), ld_x, B.data(), ld_B, C.data(), GN, dt.data(), ld_dt,
                                  &dt_bias, a_log, &D, st, yy, HP);
    };
    CHECK_OK(scan(&d, T, HP, GN, H, &A_log, state.data(), y.data()));
    n4j_ssm_dims bad = d;
    bad.groups = 3;
    EXPECT_INVALID(scan(&bad, T, HP, 15, H, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan", "dims->heads (4)",
                   "dims->groups (3)");
    bad = d;
    bad.reserved = 1;
    EXPECT_INVALID(scan(&bad, T, HP, GN, H, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan", "dims->reserved");
    bad = d;
    bad.chunk_size = 0;
    EXPECT_INVALID(scan(&bad, T, HP, GN, H, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan",
                   "dims->chunk_size (0)");
    EXPECT_INVALID(scan(nullptr, T, HP, GN, H, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan", "dims is NULL");
    bad = d;
    bad.chunk_size = 1 << 30;  // longer than the sequence: one chunk, scratch sized by the tokens
    CHECK_OK(scan(&bad, T, HP, GN, H, &A_log, state.data(), y.data()));
    EXPECT_INVALID(scan(&d, 0, HP, GN, H, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan", "tokens (0)");
    EXPECT_INVALID(scan(&d, T, HP - 1, GN, H, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan", "ld_x (11)",
                   "dims->heads * dims->head_dim");
    EXPECT_INVALID(scan(&d, T, HP, GN - 1, H, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan", "ld_B (9)");
    EXPECT_INVALID(scan(&d, T, HP, GN, H - 1, &A_log, state.data(), y.data()), "n4j_ssd_chunk_scan", "ld_dt (3)");
    n4j_weight a_bad = make_weight(params.data(), N4J_DTYPE_F32, H - 1, 1);
    EXPECT_INVALID(scan(&d, T, HP, GN, H, &a_bad, state.data(), y.data()), "n4j_ssd_chunk_scan", "A_log shape [3, 1]",
                   "dims->heads");
    EXPECT_INVALID(scan(&d, T, HP, GN, H, &A_log, nullptr, y.data()), "n4j_ssd_chunk_scan", "ssm_state is NULL");
    EXPECT_INVALID(scan(&d, T, HP, GN, H, &A_log, state.data(), nullptr), "n4j_ssd_chunk_scan", "y is NULL");
    EXPECT_INVALID(scan(&d, T, HP, GN, H, &A_log, state.data(), x.data()), "n4j_ssd_chunk_scan", "y and x overlap");
    EXPECT_INVALID(scan(&d, T, HP, GN, H, &A_log, y.data() + 3, y.data()), "n4j_ssd_chunk_scan",
                   "ssm_state and y overlap");

    bad = d;
    bad.chunk_size = 0;
    EXPECT_INVALID(n4j_ssm_scan_sequential(b, &bad, T, x.data(), HP, B.data(), GN, C.data(), GN, dt.data(), H,
                                           &dt_bias, &A_log, &D, state.data(), y.data(), HP),
                   "n4j_ssm_scan_sequential", "dims->chunk_size");
    float* states[2] = {state.data(), nullptr};
    EXPECT_INVALID(n4j_ssm_decode(b, &d, 2, x.data(), HP, B.data(), GN, C.data(), GN, dt.data(), H, &dt_bias, &A_log,
                                  &D, states, y.data(), HP),
                   "n4j_ssm_decode", "ssm_states[1] is NULL");
    EXPECT_INVALID(n4j_ssm_decode(b, &d, 1, x.data(), HP, B.data(), GN, C.data(), GN, dt.data(), H, &dt_bias, &A_log,
                                  &D, nullptr, y.data(), HP),
                   "n4j_ssm_decode", "ssm_states is NULL");
    CHECK_OK(n4j_ssm_decode(b, &d, 1, x.data(), HP, B.data(), GN, C.data(), GN, dt.data(), H, &dt_bias, &A_log, &D,
                            states, y.data(), HP));

    // n4j_mamba_decode: rows z [12] | xBC [12 + 2 * 10] | dt [4] = 48 wide, conv weight [32, 4]
    const int32_t CONV = HP + 2 * GN, W = HP + CONV + H;
    std::vector<float> in(2 * W), cw(CONV * 4, 0.1f), nw(HP, 1.0f), cst(2 * CONV * 4), out(2 * HP);
    n4j_weight conv_w = make_weight(cw.data(), N4J_DTYPE_F32, CONV, 4);
    n4j_weight conv_short = make_weight(cw.data(), N4J_DTYPE_F32, CONV - 1, 4);
    n4j_weight norm = make_weight(nw.data(), N4J_DTYPE_F32, HP, 1);
    void* cstates[2] = {cst.data(), cst.data() + CONV * 4};
    float* sstates[2] = {state.data(), state.data()};  // the same state twice: only checked for NULL and overlaps
    auto mamba = [&](int32_t batch, int64_t ld_in, const n4j_weight* w, void* const* cs, float* yy, float* oo) {
        return n4j_mamba_decode(b, &d, batch, in.data(), ld_in, w, nullptr, &dt_bias, &A_log, &D, &norm, 1e-5f, cs,
                                sstates, yy, HP, oo, HP);
    };
    CHECK_OK(mamba(1, W, &conv_w, cstates, y.data(), out.data()));
    CHECK_OK(mamba(1, W, &conv_w, cstates, y.data(), y.data()));  // out may be y
    EXPECT_INVALID(mamba(1, W - 1, &conv_w, cstates, y.data(), out.data()), "n4j_mamba_decode", "ld_zxbcdt (47)");
    EXPECT_INVALID(mamba(1, W, &conv_short, cstates, y.data(), out.data()), "n4j_mamba_decode",
                   "conv_weight.rows (31)", "(32)");
    EXPECT_INVALID(mamba(0, W, &conv_w, cstates, y.data(), out.data()), "n4j_mamba_decode", "batch (0)");
    EXPECT_INVALID(mamba(1, W, &conv_w, nullptr, y.data(), out.data()), "n4j_mamba_decode", "conv_states is NULL");
    EXPECT_INVALID(mamba(1, W, &conv_w, cstates, in.data(), out.data()), "n4j_mamba_decode", "y and zxbcdt overlap");
    EXPECT_INVALID(mamba(1, W, &conv_w, cstates, y.data(), y.data() + 1), "n4j_mamba_decode", "out and y overlap");
    void* cs_bad[2] = {cst.data(), nullptr};
    EXPECT_INVALID(mamba(2, W, &conv_w, cs_bad, y.data(), out.data()), "n4j_mamba_decode", "conv_states[1] is NULL");
}

void test_attention(n4j_backend* b) {
    n4j_attn_dims d;
    d.heads = 4;
    d.kv_heads = 2;
    d.head_dim = 8;
    d.scale = 0.35f;
    const int32_t T = 5, QW = 32, KW = 16, BT = 4;
    std::vector<float> q(T * QW), k(T * KW), v(T * KW), out(T * QW);
    std::vector<float> blocks(4 * BT * KW);
    void* kb[2] = {blocks.data(), blocks.data() + BT * KW};
    void* vb[2] = {blocks.data() + 2 * BT * KW, blocks.data() + 3 * BT * KW};
    n4j_kv_cache cache;
    cache.k_blocks = kb;
    cache.v_blocks = vb;
    cache.n_blocks = 2;
    cache.block_tokens = BT;
    cache.length = 0;
    cache.dtype = N4J_DTYPE_F32;
    auto prefill = [&](const n4j_attn_dims* dims, int32_t tokens, const n4j_kv_cache* c, int64_t ld_k) {
        return n4j_attention_prefill(b, dims, tokens, q.data(), QW, k.data(), ld_k, v.data(), KW, c, out.data(), QW);
    };
    CHECK_OK(prefill(&d, T, &cache, KW));
    n4j_kv_cache c = cache;
    c.length = 4;
    EXPECT_INVALID(prefill(&d, T, &c, KW), "n4j_attention_prefill", "cache capacity", "n_blocks (2)",
                   "block_tokens (4)", "length (4)");
    c = cache;
    c.dtype = N4J_DTYPE_F16;
    EXPECT_INVALID(prefill(&d, T, &c, KW), "n4j_attention_prefill", "cache.dtype", "F16");
    c = cache;
    c.k_blocks = nullptr;
    EXPECT_INVALID(prefill(&d, T, &c, KW), "n4j_attention_prefill", "cache.k_blocks is NULL");
    c = cache;
    c.block_tokens = 0;
    EXPECT_INVALID(prefill(&d, T, &c, KW), "n4j_attention_prefill", "cache.block_tokens (0)");
    c = cache;
    c.length = -1;
    EXPECT_INVALID(prefill(&d, T, &c, KW), "n4j_attention_prefill", "cache.length (-1)");
    void* kb_hole[2] = {blocks.data(), nullptr};
    c = cache;
    c.k_blocks = kb_hole;
    EXPECT_INVALID(prefill(&d, T, &c, KW), "n4j_attention_prefill", "cache.k_blocks[1] is NULL");
    CHECK_OK(prefill(&d, 4, &c, KW));  // the NULL block is not needed for 4 tokens
    EXPECT_INVALID(prefill(&d, T, nullptr, KW), "n4j_attention_prefill", "cache is NULL");
    n4j_attn_dims bad = d;
    bad.kv_heads = 3;
    EXPECT_INVALID(prefill(&bad, T, &cache, KW), "n4j_attention_prefill", "dims->heads (4)", "dims->kv_heads (3)");
    bad = d;
    bad.scale = -1.0f;
    EXPECT_INVALID(prefill(&bad, T, &cache, KW), "n4j_attention_prefill", "dims->scale");
    bad = d;
    bad.head_dim = 0;
    EXPECT_INVALID(prefill(&bad, T, &cache, KW), "n4j_attention_prefill", "dims->head_dim (0)");
    EXPECT_INVALID(prefill(&d, T, &cache, KW - 1), "n4j_attention_prefill", "ld_k (15)",
                   "dims->kv_heads * dims->head_dim");
    EXPECT_INVALID(n4j_attention_prefill(b, &d, T, q.data(), QW, k.data(), KW, v.data(), KW, &cache, q.data(), QW),
                   "n4j_attention_prefill", "out and q overlap");

    n4j_kv_cache caches[2] = {cache, cache};
    caches[1].length = 8;  // full: no room for the decoded token
    EXPECT_INVALID(n4j_attention_decode(b, &d, 2, q.data(), QW, k.data(), KW, v.data(), KW, caches, out.data(), QW),
                   "n4j_attention_decode", "caches[1] capacity");
    EXPECT_INVALID(n4j_attention_decode(b, &d, 1, q.data(), QW, k.data(), KW, v.data(), KW, nullptr, out.data(), QW),
                   "n4j_attention_decode", "caches is NULL");
    caches[1].length = 7;
    CHECK_OK(n4j_attention_decode(b, &d, 2, q.data(), QW, k.data(), KW, v.data(), KW, caches, out.data(), QW));
}

void test_cuda_backend_missing() {
    n4j_backend_options o = cpu_options();
    o.kind = N4J_BACKEND_CUDA;
    n4j_backend* b = nullptr;
    setenv("N4J_CUDA_LIBRARY", "/nonexistent/libnemotron4j_cuda.so", 1);
    EXPECT_ERROR(N4J_ERR_UNSUPPORTED, n4j_backend_create(&o, &b), "n4j_backend_create", "N4J_CUDA_LIBRARY",
                 "/nonexistent/libnemotron4j_cuda.so");
    CHECK(b == nullptr, "no backend on failure");
    unsetenv("N4J_CUDA_LIBRARY");
    // Without the variable the library is looked up next to this code (the test executable here: not there).
    const int32_t status = n4j_backend_create(&o, &b);
    if (status == N4J_ERR_UNSUPPORTED) {
        CHECK(strstr(n4j_last_error(), "libnemotron4j_cuda.so not found next to") != nullptr &&
                  strstr(n4j_last_error(), "N4J_CUDA_LIBRARY") != nullptr,
              "message names the library and the variable: %s", n4j_last_error());
    } else if (status == N4J_OK) {
        n4j_backend_destroy(b);  // a CUDA plug-in next to the tests, on a GPU machine
    }
}

}  // namespace

int main() {
    test_backend_and_memory();
    for (bool reference : {true, false}) {
        n4j_backend* b = make_cpu_backend(2, reference, n4j::cpu::best_simd_level());
        test_weights_and_simple_kernels(b);
        test_conv(b);
        test_ssm(b);
        test_attention(b);
        n4j_backend_destroy(b);
    }
    test_cuda_backend_missing();
    CHECK(strlen(n4j_last_error()) > 0, "the last error stays until the next failure");
    return finish("test_validation");
}
