/*
 * gemm_mma_w8a8.cu: the W8A8 prefill matmul for ModelOpt FP8 weights (e4m3 codes, per-tensor W.scale, static
 * activation scale W.input_scale), y[r, :] (+)= (W.scale * input_scale) * x_q[r, :] W^T for rows > 8, in W8A8 mode
 * (N4J_CUDA_FP8=w8a8, sm_89+; matmul.cu dispatches, backend.cu reads the switch).
 *
 * Two steps, both on the backend's stream:
 * 1. quantize_e4m3_kernel: x (F32 or BF16 activations, ld_x) -> x_q, e4m3 bytes [rows][ld_q] in scratch,
 *    x_q = satfinite_e4m3(x * (1 / input_scale)) (matmul.cuh's w8a8_quantize; NaN stays NaN, |x| past the range
 *    saturates to 448), ld_q = K rounded up to kW8A8RowAlign with zero padding, so every row of x_q is 16-byte
 *    aligned whatever ld_x was. One thread per 4 elements (rows past 65535 loop over grid.y). Block 0 also writes
 *    {W.scale, input_scale} next to x_q for cuBLASLt's A/B scale pointers (no host copy: the step stays
 *    graph-capturable). A separate kernel rather than a fused norm epilogue: n4j_matmul receives x as produced by any
 *    op (rmsnorm, gated rmsnorm, attention output, relu^2 output), so fusing would change several ops' signatures;
 *    the quantize pass reads x once (2 or 4 bytes an element) and writes 1 byte, small next to the GEMM for prefill
 *    shapes (counted in cuda_op_bench).
 * 2. The FP8 GEMM: cuBLASLt's e4m3 x e4m3 (gemm_cublaslt.cu) where loaded and it supports the epilogue (store,
 *    accumulate), else gemm_w8a8_kernel below.
 *
 * gemm_w8a8_kernel: the structure of gemm_mma.cuh (block tile 128 x 128, 256 threads in 2 x 4 warps of 64 x 32,
 * global -> registers -> two shared buffers, one __syncthreads per K step, grouped rasterization), with K tiles of
 * 64 e4m3 (64 bytes a row) and mma.sync.m16n8k32 e4m3 (fp32 accumulators), two per K tile. A shared row is 64 bytes
 * padded to 80 (the bf16 kernel's 40 b16): ldmatrix .b16 reads pairs of bytes, and its x4 fragment of a 16 x 32-byte
 * tile is exactly the m16n8k32 e4m3 A fragment (4 consecutive k per register), its fragments of two 8 x 32-byte
 * tiles of W the B fragment (common.cuh, mma_e4m3_16832), so the addressing is the bf16 kernel's. 40 KiB of shared
 * memory, 125 registers (ptxas, sm_89, no spills): two blocks per SM.
 * Numerics: the products of e4m3 codes are exact, accumulation fp32 (tensor cores), the epilogue multiplies by
 * W.scale * input_scale, adds y when accumulating or applies relu^2 (matmul_store), rounds once to the activation
 * type. Edges: x_q rows are padded with zeros to ld_q; W rows past N, K past the end are zero-filled on load (W rows
 * that are not 16-byte aligned, K % 16 != 0, take byte loads); stores are masked.
 * Expected on H100: mma.sync e4m3 (no wgmma) ~50-60% of the 1979 TFLOP/s dense FP8 peak at 2048+ rows; cuBLASLt's
 * FP8 kernels (wgmma) more. The quantize pass: rows * K * (act bytes + 1) bytes at memory speed.
 */
#include "matmul.cuh"

namespace n4j {
namespace cuda {

namespace {

/* ---- 1. the activation quantizer ---- */

constexpr int kQuantThreads = 256;

template <typename XT>
__global__ void __launch_bounds__(kQuantThreads) quantize_e4m3_kernel(matmul_args a, uint8_t* x_q, int64_t ld_q,
                                                                      float* scales) {
    const float inv = 1.0f / a.in_scale;
    if (scales != nullptr && blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0) {
        scales[0] = a.scale;
        scales[1] = a.in_scale;
    }
    const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * kQuantThreads + threadIdx.x) * 4;
    if (c0 >= ld_q) return;
    for (int row = blockIdx.y; row < a.rows; row += gridDim.y) {  // grid.y is capped at 65535 rows
        const XT* x = static_cast<const XT*>(a.x) + static_cast<int64_t>(row) * a.ld_x;
        uint32_t word = 0;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int64_t c = c0 + e;
            const uint32_t q = c < a.k ? f32_to_e4m3_satfinite(to_f32(x[c]) * inv) : 0u;
            word |= q << (8 * e);
        }
        *reinterpret_cast<uint32_t*>(x_q + static_cast<int64_t>(row) * ld_q + c0) = word;
    }
}

/* ---- 2. the e4m3 GEMM ---- */

constexpr int BM = 128;
constexpr int BN = 128;
constexpr int BK = 64;       // e4m3 elements (bytes) per K tile
constexpr int ROWB = 80;     // padded shared row, bytes (64 + 16): ldmatrix row addresses of a phase in distinct banks
constexpr int THREADS = 256;
constexpr int GROUP_M = 8;
constexpr int TILE_BYTES = BM * ROWB;  // one buffer of one operand (BM == BN)
constexpr size_t kSmemBytes = 4 * static_cast<size_t>(TILE_BYTES);

/* One thread's share of a 128 x 64-byte tile: 2 chunks of 16 bytes (chunk q: row q >> 2, bytes (q & 3) * 16). */
__device__ __forceinline__ void load_tile(const uint8_t* base, int64_t ld, int R, int K, int r0, int k0, int vec,
                                          bool stream, uint4 (&v)[2]) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int q = threadIdx.x + THREADS * i;
        const int gr = r0 + (q >> 2);
        const int gk = k0 + (q & 3) * 16;
        uint4 r = make_uint4(0, 0, 0, 0);
        if (gr < R) {
            const uint8_t* p = base + static_cast<int64_t>(gr) * ld + gk;
            if (vec && gk + 16 <= K) {
                r = stream ? load_stream16(p) : __ldg(reinterpret_cast<const uint4*>(p));
            } else {
                uint32_t b[16];
#pragma unroll
                for (int e = 0; e < 16; ++e) b[e] = gk + e < K ? p[e] : 0u;
                r.x = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
                r.y = b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24);
                r.z = b[8] | (b[9] << 8) | (b[10] << 16) | (b[11] << 24);
                r.w = b[12] | (b[13] << 8) | (b[14] << 16) | (b[15] << 24);
            }
        }
        v[i] = r;
    }
}

__device__ __forceinline__ void store_tile(const uint4 (&v)[2], uint8_t* s) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int q = threadIdx.x + THREADS * i;
        *reinterpret_cast<uint4*>(s + (q >> 2) * ROWB + (q & 3) * 16) = v[i];
    }
}

template <typename XT>
__global__ void __launch_bounds__(THREADS, 2) gemm_w8a8_kernel(matmul_args a, const uint8_t* x_q, int64_t ld_q,
                                                                int vec_w, int tiles_m, int tiles_n) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    uint8_t* a_s = smem_raw;                   // [2][BM][ROWB]
    uint8_t* b_s = smem_raw + 2 * TILE_BYTES;  // [2][BN][ROWB]

    const int bid = blockIdx.x;
    const int per_group = GROUP_M * tiles_n;
    const int group = bid / per_group;
    const int first_m = group * GROUP_M;
    const int gm = min(tiles_m - first_m, GROUP_M);
    const int local = bid - group * per_group;
    const int tm = first_m + local % gm;
    const int tn = local / gm;
    const int m0 = tm * BM;
    const int n0 = tn * BN;

    const int M = a.rows;
    const int N = a.n;
    const int K = a.k;
    const int KQ = static_cast<int>(ld_q);  // x_q rows: zero-padded to ld_q, always 16-byte loads
    const uint8_t* w = static_cast<const uint8_t*>(a.w);

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int wm = warp >> 2;
    const int wn = warp & 3;

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    uint4 ra[2], rb[2];
    const int k_tiles = (K + BK - 1) / BK;
    load_tile(x_q, ld_q, M, KQ, m0, 0, 1, false, ra);
    load_tile(w, K, N, K, n0, 0, vec_w, true, rb);
    store_tile(ra, a_s);
    store_tile(rb, b_s);
    __syncthreads();

    for (int kt = 0; kt < k_tiles; ++kt) {
        const int cur = kt & 1;
        if (kt + 1 < k_tiles) {
            load_tile(x_q, ld_q, M, KQ, m0, (kt + 1) * BK, 1, false, ra);
            load_tile(w, K, N, K, n0, (kt + 1) * BK, vec_w, true, rb);
        }
        const uint8_t* as = a_s + cur * TILE_BYTES;
        const uint8_t* bs = b_s + cur * TILE_BYTES;
#pragma unroll
        for (int ks = 0; ks < BK / 32; ++ks) {
            uint32_t af[4][4];
#pragma unroll
            for (int mi = 0; mi < 4; ++mi) {
                ldmatrix_x4(af[mi], as + (wm * 64 + mi * 16 + (lane & 15)) * ROWB + ks * 32 + (lane >> 4) * 16);
            }
            uint32_t bfr[2][4];
#pragma unroll
            for (int nj = 0; nj < 2; ++nj) {
                const int row = wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
                ldmatrix_x4(bfr[nj], bs + row * ROWB + ks * 32 + ((lane >> 3) & 1) * 16);
            }
#pragma unroll
            for (int mi = 0; mi < 4; ++mi)
#pragma unroll
                for (int ni = 0; ni < 4; ++ni) {
                    mma_e4m3_16832(acc[mi][ni], af[mi], bfr[ni >> 1][(ni & 1) * 2], bfr[ni >> 1][(ni & 1) * 2 + 1]);
                }
        }
        if (kt + 1 < k_tiles) {
            const int nxt = cur ^ 1;
            store_tile(ra, a_s + nxt * TILE_BYTES);
            store_tile(rb, b_s + nxt * TILE_BYTES);
        }
        __syncthreads();
    }

    const float scale = a.scale * a.in_scale;
    XT* y = static_cast<XT*>(a.y);
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int row = m0 + wm * 64 + mi * 16 + (lane >> 2) + half * 8;
                if (row >= M) continue;
                const int col = n0 + wn * 32 + ni * 8 + (lane & 3) * 2;
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    if (col + e < N) {
                        XT* p = y + static_cast<int64_t>(row) * a.ld_y + col + e;
                        matmul_store(a, p, acc[mi][ni][half * 2 + e] * scale);
                    }
                }
            }
}

template <typename XT>
int32_t gemm_w8a8_typed(context* ctx, const matmul_args& a, const uint8_t* x_q, int64_t ld_q) {
    const int vec_w = host_aligned16(a.w) && a.k % 16 == 0;
    const int tiles_m = static_cast<int>(ceil_div(a.rows, BM));
    const int tiles_n = static_cast<int>(ceil_div(a.n, BN));
    cudaError_t err = cudaFuncSetAttribute(gemm_w8a8_kernel<XT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(kSmemBytes));
    if (err != cudaSuccess) return ctx->check(err, "n4j_matmul");
    const int64_t blocks = static_cast<int64_t>(tiles_m) * tiles_n;
    gemm_w8a8_kernel<XT><<<static_cast<unsigned>(blocks), THREADS, kSmemBytes, ctx->stream>>>(a, x_q, ld_q, vec_w,
                                                                                            tiles_m, tiles_n);
    return N4J_OK;
}

}  // namespace

void quantize_e4m3_launch(context* ctx, const matmul_args& a, uint8_t* x_q, int64_t ld_q, float* scales) {
    const dim3 grid(static_cast<unsigned>(ceil_div(ld_q / 4, kQuantThreads)),
                    static_cast<unsigned>(a.rows < 65535 ? a.rows : 65535));
    if (ctx->act_bf16()) {
        quantize_e4m3_kernel<bf16><<<grid, kQuantThreads, 0, ctx->stream>>>(a, x_q, ld_q, scales);
    } else {
        quantize_e4m3_kernel<float><<<grid, kQuantThreads, 0, ctx->stream>>>(a, x_q, ld_q, scales);
    }
}

int32_t gemm_w8a8_launch(context* ctx, const matmul_args& a, const uint8_t* x_q, int64_t ld_q) {
    if (ctx->act_bf16()) return gemm_w8a8_typed<bf16>(ctx, a, x_q, ld_q);
    return gemm_w8a8_typed<float>(ctx, a, x_q, ld_q);
}

int32_t matmul_w8a8(context* ctx, const matmul_args& a, const char* where, const w8a8_quantizer* quantizer) {
    const int64_t ld_q = ceil_div(a.k, kW8A8RowAlign) * kW8A8RowAlign;
    const size_t q_bytes = align256(static_cast<size_t>(a.rows) * static_cast<size_t>(ld_q));
    // scratch: x_q, then (cuBLASLt) the two scale floats and the algorithm's workspace. The plan is made first (its
    // descriptor holds the scale pointers); the buffer may then grow and move: the call sets the pointers again.
    bool lt = cublaslt_supports_fp8(ctx, a);
    size_t workspace = 0;
    if (lt) {
        char* base = static_cast<char*>(ctx->get_scratch(q_bytes + 256, where));
        if (base == nullptr) return N4J_ERR_OUT_OF_MEMORY;
        const int32_t rc = cublaslt_fp8_prepare(ctx, a, ld_q, reinterpret_cast<float*>(base + q_bytes), &lt,
                                                &workspace);
        if (rc != N4J_OK) return rc;
    }
    char* base = static_cast<char*>(ctx->get_scratch(q_bytes + (lt ? 256 + workspace : 0), where));
    if (base == nullptr) return N4J_ERR_OUT_OF_MEMORY;
    uint8_t* x_q = reinterpret_cast<uint8_t*>(base);
    float* scales = lt ? reinterpret_cast<float*>(base + q_bytes) : nullptr;
    if (quantizer != nullptr) {
        quantizer->launch(ctx, a, x_q, ld_q, scales, quantizer->user);
    } else {
        quantize_e4m3_launch(ctx, a, x_q, ld_q, scales);
    }
    int32_t rc = ctx->check_launch(where);
    if (rc != N4J_OK) return rc;
    if (lt) {
        bool done = false;
        rc = cublaslt_matmul_fp8(ctx, a, x_q, ld_q, scales, base + q_bytes + 256, &done);
        if (rc != N4J_OK) return rc;
        if (done) return ctx->check_launch(where);
    }
    rc = gemm_w8a8_launch(ctx, a, x_q, ld_q);
    if (rc != N4J_OK) return rc;
    return ctx->check_launch(where);
}

}  // namespace cuda
}  // namespace n4j
