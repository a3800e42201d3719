/*
 * nemotron4j.h: the C ABI of the nemotron4j native library.
 *
 * Plain C: opaque handles, fixed-width integers, status codes (N4J_OK = 0) and a thread-local last-error
 * message. Every entry point checks its arguments and returns an error code instead of crashing; the text of
 * the last error on the calling thread is available from n4j_last_error().
 *
 * Memory model. A backend (CPU or CUDA) owns a kind of memory: host memory for the CPU backend, device memory
 * for CUDA. Tensor arguments below ("backend memory") must be allocated with n4j_alloc on the same backend or,
 * for the CPU backend, may be any host memory (for example a memory-mapped checkpoint). Arrays of pointers
 * (per-sequence states, KV block tables) and the small descriptor structs are always host memory.
 *
 * Layout conventions. Matrices are row-major; `ld_*` is the distance in elements between consecutive rows, so a
 * kernel can read a column slice of a wider matrix (for example xBC inside the in_proj output). Activations have
 * the backend's activation dtype (n4j_backend_info.activation_dtype: F32 on CPU); SSM states are always F32.
 *
 * Threading. A backend is used by one thread at a time; it runs its own worker threads (CPU) or stream (CUDA).
 */
#ifndef NEMOTRON4J_H
#define NEMOTRON4J_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define N4J_ABI_VERSION 1

/* ---- status codes ---- */
#define N4J_OK 0
#define N4J_ERR_INVALID_ARGUMENT 1
#define N4J_ERR_OUT_OF_MEMORY 2
#define N4J_ERR_UNSUPPORTED 3
#define N4J_ERR_BACKEND 4
#define N4J_ERR_INTERNAL 5

/* ---- dtypes ---- */
#define N4J_DTYPE_F32 0
#define N4J_DTYPE_BF16 1
#define N4J_DTYPE_F16 2
#define N4J_DTYPE_F8_E4M3 3
#define N4J_DTYPE_I32 4
/*
 * Block-quantized weights (n4j_matmul only, on the CPU and CUDA backends; every other op refuses them).
 * `data` points to one buffer: the quants of all rows, row-major, immediately followed by the scales of all rows.
 * The real value of an element is value(block format) * scale (scale is normally 1).
 *
 * N4J_DTYPE_Q8 (cols a multiple of 32): quants int8 [rows][cols] (values -127..127), then F16 scales
 * [rows][cols/32]: w[o][i] = d[o][i/32] * q[o][i]. 8.5 bits per weight.
 *
 * N4J_DTYPE_Q4 (cols a multiple of 64): each row is cut into super-blocks of 256 weights (the last one of a row may
 * be shorter: (cols % 256) / 32 sub-blocks), each of up to 8 sub-blocks of 32. Quants uint8 [rows][cols/2]: the
 * 32 bytes of each pair of sub-blocks (2k, 2k+1) hold sub-block 2k's 32 4-bit values q (0..15) in their low nibbles
 * and sub-block 2k+1's in their high nibbles (byte t: element 64k+t low, 64k+32+t high). Then the scales:
 * [rows][ceil(cols/256)] records of 20 bytes: F16 d, F16 dmin, uint8 sc[8], uint8 m[8] (unused entries 0):
 * w = d * sc[j] * q - dmin * m[j] for the elements of sub-block j. 4.625 bits per weight.
 *
 * N4J_DTYPE_Q6 (cols a multiple of 64): 6-bit values q (0..63) with one F16 scale per block of 32:
 * w[o][i] = d[o][i/32] * (q[o][i] - 32). 6.5 bits per weight. Quants uint8 [rows][cols * 3 / 4]: each row is cut into
 * units of 128 weights (the last one of a row may hold 64), a unit of p pairs of blocks (p = 2, or 1 for a last
 * 64) is 48 * p bytes: first the low 4 bits of its pairs as in N4J_DTYPE_Q4 (32 bytes per pair k: byte t holds
 * element 64k+t in its low nibble and 64k+32+t in its high nibble), then 16 bytes per pair of the high 2 bits (byte u
 * of pair k: bits 0-1 element 64k+u, bits 2-3 element 64k+16+u, bits 4-5 element 64k+32+u, bits 6-7 element
 * 64k+48+u). Then F16 scales d [rows][cols/32] as in N4J_DTYPE_Q8.
 */
#define N4J_DTYPE_Q8 5
#define N4J_DTYPE_Q4 6
#define N4J_DTYPE_Q6 7

/* ---- backend kinds and flags ---- */
#define N4J_BACKEND_CPU 0
#define N4J_BACKEND_CUDA 1
/* Use the scalar reference kernels only (the test oracle). */
#define N4J_FLAG_REFERENCE_KERNELS 1
/*
 * With BF16 activations, keep the residual stream in F32: the output of n4j_embedding, the input x of n4j_rmsnorm,
 * and the operand a and the result y of n4j_add are F32; every other activation stays BF16. A layer's output
 * (BF16, from its output projection without accumulate) is added into the F32 residual with n4j_add(resid, out,
 * resid). Rounding the residual after every layer is the largest error of a BF16 data path; this removes it.
 * It holds for every call on that backend: there, n4j_add cannot add two BF16 tensors and n4j_rmsnorm cannot read a
 * BF16 x. No effect with F32 activations.
 */
#define N4J_FLAG_F32_RESIDUAL 2
/*
 * CPU: n4j_matmul over BF16 and F8_E4M3 weights rounds F32 activations to BF16 (nearest even) and multiplies with
 * BF16 dot-product instructions, accumulating in F32, where the CPU has them (AVX512-BF16: about twice the F32
 * multiply-add rate; what GPU tensor cores and llama.cpp's CPU backend do). n4j_attention_decode over a BF16 cache
 * (head_dim a multiple of 32) then rounds the query and the softmax probabilities to BF16 and computes q . k and
 * p . v with the same instructions straight from the cache rows (as GPU flash attention does), accumulating in F32.
 * On other CPUs, and on CUDA, no effect. With BF16 activations it is implied (their inputs already are BF16 values).
 */
#define N4J_FLAG_BF16_MATMUL 4
/*
 * FP8 W8A8 (ModelOpt FP8 checkpoints): n4j_matmul over F8_E4M3 weights whose input_scale is > 0 quantizes each
 * activation to e4m3, x_q = satfinite_e4m3(x * r) with r = 1 / input_scale rounded once to F32 (nearest even; |x * r|
 * >= 448 gives +-448, NaN stays NaN), multiplies e4m3 by e4m3 accumulating in F32, and scales the sum by
 * W.scale * input_scale (that product rounded once to F32), rounded once to the output. Without it (the default)
 * such weights are weight-only: the activations keep their precision and input_scale is ignored. input_scale 0 is
 * weight-only either way; a negative or non-finite input_scale fails the call (N4J_ERR_INVALID_ARGUMENT). Other
 * weight dtypes are unaffected.
 * CPU: any CPU (the products are exact in F32, so every kernel computes them exactly; only the order of the F32
 * additions differs from the reference kernels). CUDA: compute capability 8.9+ (FP8 tensor cores), otherwise
 * n4j_backend_create fails with N4J_ERR_UNSUPPORTED; the environment variable N4J_CUDA_FP8=weight-only|w8a8, when
 * set, overrides the flag (for tests). n4j_backend_get_info's name ends in " fp8-w8a8" when it is on.
 */
#define N4J_FLAG_FP8_W8A8 8

/* ---- activations for fused elementwise epilogues ---- */
#define N4J_ACT_NONE 0
#define N4J_ACT_SILU 1

/* ---- copy directions ---- */
#define N4J_COPY_HOST_TO_BACKEND 0
#define N4J_COPY_BACKEND_TO_HOST 1
#define N4J_COPY_BACKEND_TO_BACKEND 2

typedef struct n4j_backend n4j_backend;

/* Options for n4j_backend_create. */
typedef struct n4j_backend_options {
    int32_t kind;             /* N4J_BACKEND_CPU or N4J_BACKEND_CUDA */
    int32_t device;           /* CUDA device ordinal; ignored on CPU */
    int32_t threads;          /* CPU worker threads; 0 = one per physical core (SMT siblings counted once) */
    int32_t flags;            /* N4J_FLAG_* */
    int32_t activation_dtype; /* N4J_DTYPE_F32 or N4J_DTYPE_BF16 (CUDA; on the CPU F32 kernels between bf16 tensors) */
    int32_t reserved;         /* must be 0 */
} n4j_backend_options;

/* What a backend is; filled by n4j_backend_get_info. */
typedef struct n4j_backend_info {
    int32_t kind;
    int32_t device;
    int32_t threads;
    int32_t activation_dtype;
    int64_t total_memory;     /* bytes of backend memory (host RAM or device memory) */
    int64_t allocated_bytes;  /* bytes currently allocated through n4j_alloc on this backend */
    char name[128];           /* human-readable, e.g. "cpu avx2+fma 2 threads" or the GPU's name */
} n4j_backend_info;

/*
 * A weight matrix (or vector) as stored in a checkpoint: `rows` x `cols`, row-major, in `dtype`
 * (F32, BF16 or F8_E4M3). A linear layer's weight is [out_features = rows, in_features = cols].
 * The real value of an element is value(dtype) * scale (scale = 1 except for FP8). `input_scale` is the
 * static activation scale of ModelOpt FP8 checkpoints (0 when absent); kernels with weight-only semantics ignore it.
 * A 1-D vector of n elements has rows = n, cols = 1.
 */
typedef struct n4j_weight {
    const void* data;
    int32_t dtype;
    int32_t rows;
    int32_t cols;
    float scale;
    float input_scale;
    int32_t reserved;         /* must be 0 */
} n4j_weight;

/* Shape of a Mamba-2 mixer. d_inner = heads * head_dim; head h reads B/C group h / (heads / groups). */
typedef struct n4j_ssm_dims {
    int32_t heads;
    int32_t head_dim;
    int32_t groups;
    int32_t state_dim;
    int32_t chunk_size;       /* chunk length of the SSD scan (config.chunk_size) */
    int32_t reserved;         /* must be 0 */
} n4j_ssm_dims;

/* Shape of a GQA attention mixer: query head h reads KV head h / (heads / kv_heads). */
typedef struct n4j_attn_dims {
    int32_t heads;
    int32_t kv_heads;
    int32_t head_dim;
    float scale;              /* softmax scale, normally 1/sqrt(head_dim) */
} n4j_attn_dims;

/*
 * One sequence's KV cache of one attention layer, as blocks of `block_tokens` tokens. Block b holds positions
 * [b*block_tokens, (b+1)*block_tokens); each block is [block_tokens, kv_heads, head_dim] in `dtype` (F32 or BF16).
 * `k_blocks`/`v_blocks` are host arrays of `n_blocks` backend pointers. `length` tokens are already cached.
 * Blocks may be shared between sequences (a forked prefix) as long as no kernel writes to a shared block.
 */
typedef struct n4j_kv_cache {
    void* const* k_blocks;
    void* const* v_blocks;
    int32_t n_blocks;
    int32_t block_tokens;
    int32_t length;
    int32_t dtype;
} n4j_kv_cache;

/* ---- library ---- */
int32_t n4j_abi_version(void);
const char* n4j_version(void);
/* Message of the last failed call on this thread ("" when none). Valid until the next call on this thread. */
const char* n4j_last_error(void);
/* sizeof of a public struct by name ("n4j_weight", ...), -1 if unknown. Used by the bindings test. */
int64_t n4j_struct_size(const char* struct_name);
/* offsetof of a field of a public struct, -1 if unknown. */
int64_t n4j_struct_offset(const char* struct_name, const char* field_name);

/* ---- backends ---- */
int32_t n4j_backend_create(const n4j_backend_options* options, n4j_backend** out_backend);
int32_t n4j_backend_destroy(n4j_backend* backend);
/* Waits until all work enqueued on the backend has finished (a no-op on CPU). */
int32_t n4j_backend_synchronize(n4j_backend* backend);
int32_t n4j_backend_get_info(n4j_backend* backend, n4j_backend_info* out_info);

/* ---- memory ---- */
/* Allocates `bytes` of zeroed backend memory, 64-byte aligned. */
int32_t n4j_alloc(n4j_backend* backend, uint64_t bytes, void** out_ptr);
int32_t n4j_free(n4j_backend* backend, void* ptr);
int32_t n4j_copy(n4j_backend* backend, void* dst, const void* src, uint64_t bytes, int32_t direction);
int32_t n4j_fill_zero(n4j_backend* backend, void* ptr, uint64_t bytes);
/* Converts n elements between F32, BF16, F16 and F8_E4M3 (e.g. to read logits as F32). */
int32_t n4j_convert(n4j_backend* backend, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n);

/* ---- kernels of the forward pass ---- */

/* out[i, :] = table[ids[i], :] for i < n. Fails when an id is outside [0, table.rows). ids: backend memory. */
int32_t n4j_embedding(n4j_backend* backend, const n4j_weight* table, const int32_t* ids, int32_t n,
                      void* out, int64_t ld_out);

/* out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight, for r < rows; weight has `dim` elements. */
int32_t n4j_rmsnorm(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, int32_t dim,
                    const n4j_weight* weight, float eps, void* out, int64_t ld_out);

/*
 * y[r, o] = sum_i x[r, i] * W[o, i] (* W.scale), for r < rows, o < W.rows, i < W.cols; accumulated in F32, then the
 * epilogue: N4J_MATMUL_STORE (0) overwrites y, N4J_MATMUL_ACCUMULATE (1) adds into y (a fused residual add),
 * N4J_MATMUL_RELU_SQUARED (2) stores max(v, 0)^2 (the MLP's up projection with its relu^2). x and y must not overlap.
 * N4J_MATMUL_ADD_TO_RESIDUAL (3): y is the residual stream (F32 under N4J_FLAG_F32_RESIDUAL, else the activation
 * dtype); v is rounded to the activation dtype, then added into y in F32 and the sum rounded to y's dtype: exactly
 * N4J_MATMUL_STORE into an activation buffer t followed by n4j_add(y, t, y), without t (one kernel, no round trip).
 * With F32 activations it equals N4J_MATMUL_ACCUMULATE.
 */
#define N4J_MATMUL_STORE 0
#define N4J_MATMUL_ACCUMULATE 1
#define N4J_MATMUL_RELU_SQUARED 2
#define N4J_MATMUL_ADD_TO_RESIDUAL 3
/* With N4J_DTYPE_Q8 / N4J_DTYPE_Q4 / N4J_DTYPE_Q6 weights on the CPU each row of x is first quantized per block of 32
 * (Q8 weights: int16, d = max|x| / 32767; Q4 and Q6: int8, d = max|x| / 127; q = round-to-nearest-even(x / d)) and
 * the block dot products are integer sums, scaled and accumulated in F32 (matmul_quant.cpp). Exception: prefill (16
 * rows or more) with BF16 matmul inputs (BF16 activations or N4J_FLAG_BF16_MATMUL) on AVX512-BF16 CPUs dequantizes
 * the weights to BF16 and runs the BF16 dot-product GEMM on BF16-rounded activations.
 * On CUDA the weights are dequantized (Q8 d * q, Q4 (d * sc) * q - dmin * m, Q6 d * (q - 32)) and multiplied with x
 * as it is, fp32 accumulation (gemv_quant.cu). */
int32_t n4j_matmul(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, const n4j_weight* weight,
                   void* y, int64_t ld_y, int32_t epilogue);

/*
 * The RMSNorm and the matmul that reads its output, in one call: exactly
 *   n4j_rmsnorm(x -> normed, dim = weight.cols, norm_weight, eps)  then  n4j_matmul(normed -> y, weight, epilogue),
 * the same bits in normed and y on every backend. normed ([rows, ld_normed], activation dtype) is still written, for
 * the other consumers of the normalized rows (attention's k and v projections). x is the residual stream (F32 under
 * N4J_FLAG_F32_RESIDUAL). normed must not overlap x, and y must overlap neither x nor normed.
 * CUDA: with rows <= 8 and F32 / BF16 / F8_E4M3 weights the norm runs in the GEMV's prologue (one kernel; the GEMV
 * reads x, not normed); with rows > 8 and a W8A8 weight one kernel writes normed and the e4m3 activations the FP8
 * GEMM reads; otherwise (and on the CPU) the two ops.
 */
int32_t n4j_rmsnorm_matmul(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, int32_t dim,
                           const n4j_weight* norm_weight, float eps, void* normed, int64_t ld_normed,
                           const n4j_weight* weight, void* y, int64_t ld_y, int32_t epilogue);

/*
 * Causal depthwise conv1d over a chunk of `tokens` tokens with state carried across calls.
 * weight: rows = channels, cols = kernel width K (the checkpoint's [channels, 1, K]); bias: `channels` or NULL.
 * conv_state: [channels, K] in the activation dtype, the last K inputs seen, oldest first (zeros for a new sequence);
 * read as the history before x[0] and updated to the last K inputs of history ++ x.
 * out[t, c] = act(bias[c] + sum_k weight[c, k] * input[t - (K-1) + k, c]).
 */
int32_t n4j_conv1d_prefill(n4j_backend* backend, const void* x, int64_t ld_x, int32_t tokens, int32_t channels,
                           const n4j_weight* weight, const n4j_weight* bias, void* conv_state, int32_t activation,
                           void* out, int64_t ld_out);

/* One decode step for `batch` sequences: row b of x is sequence b's new input, conv_states[b] its state. */
int32_t n4j_conv1d_decode(n4j_backend* backend, int32_t batch, const void* x, int64_t ld_x, int32_t channels,
                          const n4j_weight* weight, const n4j_weight* bias, void* const* conv_states,
                          int32_t activation, void* out, int64_t ld_out);

/*
 * Mamba-2 selective scan over `tokens` tokens of one sequence, computed chunk by chunk in the SSD (matmul) form.
 * x: [tokens, heads*head_dim]; B, C: [tokens, groups*state_dim]; dt: [tokens, heads] before bias and softplus.
 * dt' = softplus(dt + dt_bias) (no clamp), A = -exp(A_log), per head h and token t:
 *   state[h] <- exp(dt'*A) * state[h] + dt' * x[t,h] (outer) B[t,g(h)];   y[t,h] = state[h] . C[t,g(h)] + D[h]*x[t,h]
 * ssm_state: [heads, head_dim, state_dim] F32, the initial state in, the final state out.
 * y: [tokens, heads*head_dim] (not gated, not normalized).
 */
int32_t n4j_ssd_chunk_scan(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t tokens,
                           const void* x, int64_t ld_x, const void* B, int64_t ld_B, const void* C, int64_t ld_C,
                           const void* dt, int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                           const n4j_weight* D, float* ssm_state, void* y, int64_t ld_y);

/* The same recurrence computed token by token (the reference the chunked scan is tested against). */
int32_t n4j_ssm_scan_sequential(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t tokens,
                                const void* x, int64_t ld_x, const void* B, int64_t ld_B, const void* C, int64_t ld_C,
                                const void* dt, int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                                const n4j_weight* D, float* ssm_state, void* y, int64_t ld_y);

/* One recurrent step for `batch` sequences: row b of x/B/C/dt is sequence b's token, ssm_states[b] its state. */
int32_t n4j_ssm_decode(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t batch,
                       const void* x, int64_t ld_x, const void* B, int64_t ld_B, const void* C, int64_t ld_C,
                       const void* dt, int64_t ld_dt, const n4j_weight* dt_bias, const n4j_weight* A_log,
                       const n4j_weight* D, float* const* ssm_states, void* y, int64_t ld_y);

/*
 * Gated grouped RMSNorm of Mamba-2: g = y * silu(z); each row's `dim` elements split into `groups` groups of
 * dim/groups, each normalized by its own RMS: out = g / sqrt(mean_group(g^2) + eps) * weight.
 */
int32_t n4j_gated_rmsnorm(n4j_backend* backend, const void* y, int64_t ld_y, const void* z, int64_t ld_z,
                          int32_t rows, int32_t dim, int32_t groups, const n4j_weight* weight, float eps,
                          void* out, int64_t ld_out);

/*
 * The Mamba-2 mixer of one decode step between its two projections, for `batch` sequences (row b: sequence b), in
 * one call; the same results and state updates, bit for bit, as the three calls it replaces:
 *   xBC = silu(conv1d(xBC_in))   n4j_conv1d_decode (N4J_ACT_SILU) with conv_states[b] and conv_weight / conv_bias
 *   y   = ssm(x, B, C, dt)       n4j_ssm_decode with ssm_states[b]; x, B, C the column slices of xBC
 *   out = gated(y, z)            n4j_gated_rmsnorm with dims->groups groups, weight `norm` and eps
 * zxbcdt: [batch, ld_zxbcdt], each row the in_proj output z [d_inner] | xBC_in [conv] | dt [heads] (d_inner =
 * heads * head_dim, conv = d_inner + 2 * groups * state_dim = conv_weight.rows). y: [batch, d_inner], the scan output
 * before the gate (written: the op's intermediate); out: [batch, d_inner] (may be y).
 */
int32_t n4j_mamba_decode(n4j_backend* backend, const n4j_ssm_dims* dims, int32_t batch, const void* zxbcdt,
                         int64_t ld_zxbcdt, const n4j_weight* conv_weight, const n4j_weight* conv_bias,
                         const n4j_weight* dt_bias, const n4j_weight* A_log, const n4j_weight* D,
                         const n4j_weight* norm, float eps, void* const* conv_states, float* const* ssm_states,
                         void* y, int64_t ld_y, void* out, int64_t ld_out);

/*
 * Causal GQA attention for a chunk of `tokens` new tokens of one sequence, no positional encoding.
 * q: [tokens, heads*head_dim]; k, v: [tokens, kv_heads*head_dim]. Writes k and v into the cache at positions
 * [cache.length, cache.length + tokens) (the blocks must cover them), then token i attends to positions
 * [0, cache.length + i]. out: [tokens, heads*head_dim]. cache.length is not changed (the caller advances it).
 */
int32_t n4j_attention_prefill(n4j_backend* backend, const n4j_attn_dims* dims, int32_t tokens,
                              const void* q, int64_t ld_q, const void* k, int64_t ld_k, const void* v, int64_t ld_v,
                              const n4j_kv_cache* cache, void* out, int64_t ld_out);

/* One decode step for `batch` sequences: row b of q/k/v is sequence b's token, caches[b] its cache (an array). */
int32_t n4j_attention_decode(n4j_backend* backend, const n4j_attn_dims* dims, int32_t batch,
                             const void* q, int64_t ld_q, const void* k, int64_t ld_k, const void* v, int64_t ld_v,
                             const n4j_kv_cache* caches, void* out, int64_t ld_out);

/* y = max(x, 0)^2 over n contiguous elements (in place allowed). */
int32_t n4j_relu_squared(n4j_backend* backend, const void* x, void* y, int64_t n);

/* y = a + b over n contiguous elements (in place allowed). */
int32_t n4j_add(n4j_backend* backend, const void* a, const void* b, void* y, int64_t n);

/* out[r] = index of the largest of x[r, 0..cols) (the first on ties). out: backend memory. */
int32_t n4j_argmax(n4j_backend* backend, const void* x, int64_t ld_x, int32_t rows, int32_t cols, int32_t* out);

/*
 * ---- decode steps ----
 * The calls of one decode step (a forward pass feeding one token to each sequence of a batch) may be bracketed by
 * n4j_step_begin / n4j_step_end. On CUDA the step is then recorded once per (key, max_context) as a CUDA graph
 * (after one eager warm-up) and later steps of that key replay it: one host-to-device copy of the step's small host
 * inputs (token ids, state pointers, KV block tables and lengths) and one graph launch, no host synchronization.
 *  - `key` names the batch shape: every step of one key makes the same calls in the same order with the same
 *    backend buffers and scalar arguments; only the host arrays (conv/SSM state pointers, KV descriptors and their
 *    block tables) and the bytes of host-to-backend copies may differ. A step that breaks this fails at
 *    n4j_step_end with N4J_ERR_INVALID_ARGUMENT, and none of it has run.
 *  - `max_context` bounds the length every KV cache of the step reaches (the new token included); attention's
 *    work split follows it, not the lengths, so that the step is the same for every length up to it.
 *  - Inside a step calls only enqueue work: results are there after n4j_step_end. Refused inside (on every
 *    backend): backend-to-host copies, host-to-backend copies over N4J_STEP_COPY_LIMIT bytes,
 *    n4j_backend_synchronize, n4j_alloc, n4j_free. n4j_embedding does not check ids on the device there: check them
 *    on the host.
 *  - When a call inside fails, still call n4j_step_end: it closes the step (and reports the failure).
 * flags: N4J_STEP_EAGER runs this step's calls as they come, with the same work split as a graph (the fallback, and
 * for debugging; the environment variable N4J_CUDA_GRAPHS=0 does it for every step). On the CPU a step only keeps
 * these rules; its calls run as they come.
 */
#define N4J_STEP_EAGER 1
#define N4J_STEP_COPY_LIMIT 262144
int32_t n4j_step_begin(n4j_backend* backend, uint64_t key, int32_t max_context, int32_t flags);
int32_t n4j_step_end(n4j_backend* backend);
/* Counters since the backend was created: [0] steps run eagerly, [1] graphs captured, [2] steps replayed,
 * [3] graphs dropped (device scratch or the step's staging area grew), [4] nodes of the graph captured last (kernel
 * launches, copies and memsets: what that step launches when run eagerly; a replay is one copy and one graph
 * launch). out_counts: N4J_STEP_STATS host int64. */
#define N4J_STEP_STATS 5
int32_t n4j_step_stats(n4j_backend* backend, int64_t* out_counts);

#ifdef __cplusplus
}
#endif

#endif /* NEMOTRON4J_H */
