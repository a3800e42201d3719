/*
 * embedding.cu: out[i, :] = table[ids[i], :] * table.scale, converted to the activation dtype.
 *
 * One block row per id (grid.y), threads over the columns. The ids live in device memory, so the range check
 * happens on the device: a row whose id is outside [0, table.rows) is written as zeros and raises a device flag;
 * the launcher then copies the flag back (a short stream synchronization, once per forward pass) and fails with
 * N4J_ERR_INVALID_ARGUMENT, so a bad id is an error and never an out-of-bounds read. Inside a decode step
 * (decode_graph.cu) nothing may wait for the device: the flag is not read back (a bad id still gives a zero row and
 * never an out-of-bounds read); the engine checks the ids on the host before the step.
 * Numerics: exact for F32/BF16 tables into F32 activations; BF16 activations round once. Under
 * N4J_FLAG_F32_RESIDUAL the output is the F32 residual stream.
 */
#include "common.cuh"
#include "context.cuh"
#include "embedding.cuh"

namespace n4j {
namespace cuda {

namespace {

template <typename T>
__global__ void embedding_kernel(weight_ref table, int64_t rows, int64_t cols, const int32_t* ids, T* out,
                                 int64_t ld_out, int* bad) {
    const int64_t i = blockIdx.y;
    const int32_t id = ids[i];
    const bool valid = id >= 0 && id < rows;
    if (!valid && blockIdx.x == 0 && threadIdx.x == 0) atomicExch(bad, 1);
    const int64_t base = static_cast<int64_t>(id) * cols;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols;
         c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float v = valid ? table(base + c) : 0.0f;
        out[i * ld_out + c] = from_f32<T>(v);
    }
}

}  // namespace

int32_t op_embedding(void* vctx, const n4j_weight* table, const int32_t* ids, int32_t n, void* out, int64_t ld_out) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_embedding";
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    if (n > 65535) {
        // grid.y limit: split into pieces
        for (int32_t start = 0; start < n; start += 65535) {
            const int32_t count = n - start < 65535 ? n - start : 65535;
            const int64_t elem = ctx->act_bf16() && !ctx->f32_residual() ? 2 : 4;
            rc = op_embedding(vctx, table, ids + start, count, static_cast<char*>(out) + start * ld_out * elem,
                              ld_out);
            if (rc != N4J_OK) return rc;
        }
        return N4J_OK;
    }
    rc = ctx->check(cudaMemsetAsync(ctx->d_flag, 0, sizeof(int), ctx->stream), where);
    if (rc != N4J_OK) return rc;
    const int64_t cols = table->cols;
    const int threads = 256;
    int64_t bx = ceil_div(cols, threads);
    if (bx > 64) bx = 64;
    dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(n));
    const weight_ref w = make_weight_ref(table);
    if (ctx->act_bf16() && !ctx->f32_residual()) {
        embedding_kernel<bf16><<<grid, threads, 0, ctx->stream>>>(w, table->rows, cols, ids, static_cast<bf16*>(out),
                                                                  ld_out, ctx->d_flag);
    } else {
        embedding_kernel<float><<<grid, threads, 0, ctx->stream>>>(w, table->rows, cols, ids,
                                                                   static_cast<float*>(out), ld_out, ctx->d_flag);
    }
    rc = ctx->check_launch(where);
    if (rc != N4J_OK || ctx->in_step()) return rc;
    rc = ctx->check(cudaMemcpyAsync(ctx->h_flag, ctx->d_flag, sizeof(int), cudaMemcpyDeviceToHost, ctx->stream),
                    where);
    if (rc != N4J_OK) return rc;
    rc = ctx->check(cudaStreamSynchronize(ctx->stream), where);
    if (rc != N4J_OK) return rc;
    if (*ctx->h_flag != 0) {
        return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "an id is outside [0, %d) (those rows were zeroed)",
                         table->rows);
    }
    return N4J_OK;
}

}  // namespace cuda
}  // namespace n4j
