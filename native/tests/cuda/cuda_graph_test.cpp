/*
 * cuda_graph_test: CUDA-graph decode steps (decode_graph.cu) replay exactly what eager execution computes.
 *
 * Links the CUDA plug-in directly (its ops table and n4j_cuda_step_*): the real libnemotron4j_cuda on a GPU
 * (ci/gpu-check.sh), libnemotron4j_cuda_emu on the CUDA emulator in CTest (cuda_graph_test_emulated), whose runtime
 * models stream capture and replay (native/tests/cuda_emu/runtime.h).
 *
 * A small hybrid model (embedding, a Mamba-2 mixer, a GQA attention mixer, an MLP, final norm, lm_head, argmax; BF16
 * weights and activations, BF16 paged KV caches of 8-token blocks) decodes 64 greedy steps for five sessions that
 * start with different cached lengths (0..17 tokens, random KV, conv and SSM states) and join and leave the batch
 * (batch sizes 2, 3, 4, 5, 16, 3, 2: the batch size is the step's key, so key 2 is replayed with other sessions
 * than it was captured with); the batch of 16 (steps 40..47: 12 more sessions with 1..31 cached tokens) takes the
 * skinny tensor-core GEMM for its matmuls (down_proj with split-K: its partials in the planned scratch). Every step is run twice, on two backends with the same weights and states:
 *   eager   N4J_CUDA_GRAPHS=0: each op enqueued as it is called
 *   graphs  the first step of a key eager (warm-up), the second captured, the rest replayed
 * The token ids are copied in inside the step (one H2D copy through the step arena), checked on the host against
 * the vocabulary first; new KV blocks are allocated between steps when a session crosses a block boundary.
 * Checked: logits and argmax ids bitwise equal after every step; at the end every conv state, SSM state and KV block
 * bitwise equal; the logits finite and the greedy ids not constant (the comparison is not vacuous); the counters
 * (graphs: 5 warm-ups, one per key; eager: 64 eager steps); and what a step refuses: a replay whose call
 * differs from the capture (another output buffer), a device-to-host copy and synchronize inside a step, step_end
 * without a step.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "backend_ops.h"
#include "nemotron4j.h"

extern "C" const n4j_backend_ops* n4j_cuda_backend_ops(void);
extern "C" int32_t n4j_cuda_step_begin(void* ctx, uint64_t key, int32_t max_context);
extern "C" int32_t n4j_cuda_step_end(void* ctx);
extern "C" int32_t n4j_cuda_step_stats(void* ctx, int64_t* out);
extern "C" int32_t n4j_cuda_reserve_scratch(void* ctx, uint64_t bytes);

namespace {

std::string g_last_error;
void test_set_error(const char* message) { g_last_error = message != nullptr ? message : ""; }
const n4j_backend_host kHost = {sizeof(n4j_backend_host), N4J_BACKEND_OPS_VERSION, test_set_error};
const n4j_backend_ops* ops = nullptr;
int g_failures = 0;

void die(const char* what, int32_t rc) {
    fprintf(stderr, "cuda_graph_test: %s failed (%d): %s\n", what, rc, g_last_error.c_str());
    exit(1);
}
#define CALL(expr)                          \
    do {                                    \
        const int32_t _rc = (expr);         \
        if (_rc != N4J_OK) die(#expr, _rc); \
    } while (0)
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            ++g_failures;                                                    \
        }                                                                    \
    } while (0)

uint64_t g_rng = 0x9E3779B97F4A7C15ull;
float uniform(float lo, float hi) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    const uint32_t r = static_cast<uint32_t>((g_rng * 0x2545F4914F6CDD1Dull) >> 40);  // 24 bits
    return lo + (hi - lo) * static_cast<float>(r) / 16777216.0f;
}
uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
float from_bf16(uint16_t b) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
std::vector<uint8_t> random_bytes(int dtype, int64_t n, float lo, float hi) {
    std::vector<uint8_t> out(static_cast<size_t>(n) * (dtype == N4J_DTYPE_F32 ? 4 : 2));
    for (int64_t i = 0; i < n; ++i) {
        const float v = uniform(lo, hi);
        if (dtype == N4J_DTYPE_F32) {
            memcpy(&out[i * 4], &v, 4);
        } else {
            const uint16_t b = to_bf16(v);
            memcpy(&out[i * 2], &b, 2);
        }
    }
    return out;
}

// Model shape.
constexpr int H = 64, V = 96;
constexpr int kHeads = 4, kHeadDim = 16, kGroups = 2, kState = 16, kConvK = 4;
constexpr int kInner = kHeads * kHeadDim;                  // 64
constexpr int kXbc = kInner + 2 * kGroups * kState;        // 128
constexpr int kProj = kInner + kXbc + kHeads;              // z | xBC | dt = 196
constexpr int kQHeads = 4, kKvHeads = 2, kAttnDim = 16;
constexpr int kQkv = (kQHeads + 2 * kKvHeads) * kAttnDim;  // 128
constexpr int kUp = 384;        // down_proj's K = 3 chunks of the skinny GEMM: split-K at batch 16
constexpr int kBlock = 8;       // KV block tokens
constexpr int kMaxContext = 96;
// Sessions 5..16 join for steps 40..47: a batch of 16 (the skinny GEMM with split-K, in a captured graph).
constexpr int kSessions = 17, kMaxBatch = 16, kSteps = 64;
const int kStart[kSessions] = {0, 0, 8, 16, 24, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40};  // steps a session is
const int kStop[kSessions] = {64, 40, 64, 48, 56, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48};  // in: [start, stop)
const int kInitialLength[kSessions] = {5, 9, 0, 17, 3, 1, 2, 4, 7, 8, 11, 13, 16, 19, 23, 29, 31};

struct host_weight {
    int dtype, rows, cols;
    std::vector<uint8_t> bytes;
};
host_weight make_weight(int dtype, int rows, int cols, float lo, float hi) {
    return host_weight{dtype, rows, cols, random_bytes(dtype, static_cast<int64_t>(rows) * cols, lo, hi)};
}

struct model_weights {
    host_weight emb, norm1, in_proj, conv_w, conv_b, dt_bias, a_log, d, gnorm, out_proj, norm2, qkv, o_proj, norm3,
        up, down, norm_f, lm_head;
};

struct session_init {
    std::vector<uint8_t> conv, ssm, k, v;  // k/v: the first kInitialLength tokens, [len, kv_heads, dim] bf16
};

/* One backend with its copy of the weights, buffers and sessions. */
struct engine {
    void* ctx = nullptr;
    std::vector<std::pair<void*, uint64_t>> allocations;
    n4j_weight w_emb, w_norm1, w_in_proj, w_conv_w, w_conv_b, w_dt_bias, w_a_log, w_d, w_gnorm, w_out_proj, w_norm2,
        w_qkv, w_o_proj, w_norm3, w_up, w_down, w_norm_f, w_lm_head;
    void *ids, *resid, *xn, *proj, *convout, *y, *g, *qkv, *att, *up, *logits, *amax;
    void* conv[kSessions];
    float* ssm[kSessions];
    std::vector<void*> kblocks[kSessions], vblocks[kSessions];
    int length[kSessions];

    void* alloc(uint64_t bytes) {
        void* p = nullptr;
        CALL(ops->alloc(ctx, bytes, &p));
        allocations.emplace_back(p, bytes);
        return p;
    }
    void* upload(const std::vector<uint8_t>& bytes) {
        void* p = alloc(bytes.size());
        CALL(ops->copy(ctx, p, bytes.data(), bytes.size(), N4J_COPY_HOST_TO_BACKEND));
        return p;
    }
    n4j_weight put(const host_weight& h) {
        n4j_weight w;
        memset(&w, 0, sizeof(w));
        w.data = upload(h.bytes);
        w.dtype = h.dtype;
        w.rows = h.rows;
        w.cols = h.cols;
        w.scale = 1.0f;
        return w;
    }
    void add_block(int s) {
        const uint64_t bytes = static_cast<uint64_t>(kBlock) * kKvHeads * kAttnDim * 2;
        kblocks[s].push_back(alloc(bytes));
        vblocks[s].push_back(alloc(bytes));
    }

    void create(const model_weights& m, const session_init* init) {
        n4j_backend_options o;
        memset(&o, 0, sizeof(o));
        o.kind = N4J_BACKEND_CUDA;
        o.activation_dtype = N4J_DTYPE_BF16;
        CALL(ops->create(&o, &kHost, &ctx));
        w_emb = put(m.emb);
        w_norm1 = put(m.norm1);
        w_in_proj = put(m.in_proj);
        w_conv_w = put(m.conv_w);
        w_conv_b = put(m.conv_b);
        w_dt_bias = put(m.dt_bias);
        w_a_log = put(m.a_log);
        w_d = put(m.d);
        w_gnorm = put(m.gnorm);
        w_out_proj = put(m.out_proj);
        w_norm2 = put(m.norm2);
        w_qkv = put(m.qkv);
        w_o_proj = put(m.o_proj);
        w_norm3 = put(m.norm3);
        w_up = put(m.up);
        w_down = put(m.down);
        w_norm_f = put(m.norm_f);
        w_lm_head = put(m.lm_head);
        ids = alloc(kMaxBatch * 4);
        resid = alloc(kMaxBatch * H * 2);
        xn = alloc(kMaxBatch * H * 2);
        proj = alloc(kMaxBatch * kProj * 2);
        convout = alloc(kMaxBatch * kXbc * 2);
        y = alloc(kMaxBatch * kInner * 2);
        g = alloc(kMaxBatch * kInner * 2);
        qkv = alloc(kMaxBatch * kQkv * 2);
        att = alloc(kMaxBatch * kQHeads * kAttnDim * 2);
        up = alloc(kMaxBatch * kUp * 2);
        logits = alloc(kMaxBatch * V * 2);
        amax = alloc(kMaxBatch * 4);
        for (int s = 0; s < kSessions; ++s) {
            conv[s] = upload(init[s].conv);
            ssm[s] = static_cast<float*>(upload(init[s].ssm));
            length[s] = kInitialLength[s];
            const int blocks = (length[s] + kBlock - 1) / kBlock;
            for (int b = 0; b < blocks; ++b) add_block(s);
            const size_t row = kKvHeads * kAttnDim * 2;
            for (int b = 0; b < blocks; ++b) {
                const int tokens = length[s] - b * kBlock < kBlock ? length[s] - b * kBlock : kBlock;
                CALL(ops->copy(ctx, kblocks[s][b], init[s].k.data() + b * kBlock * row, tokens * row,
                               N4J_COPY_HOST_TO_BACKEND));
                CALL(ops->copy(ctx, vblocks[s][b], init[s].v.data() + b * kBlock * row, tokens * row,
                               N4J_COPY_HOST_TO_BACKEND));
            }
        }
        CALL(ops->synchronize(ctx));
    }

    void destroy() {
        for (auto& a : allocations) ops->free(ctx, a.first, a.second);
        ops->destroy(ctx);
    }

    std::vector<uint8_t> read(const void* p, uint64_t bytes) {
        std::vector<uint8_t> out(bytes);
        CALL(ops->copy(ctx, out.data(), p, bytes, N4J_COPY_BACKEND_TO_HOST));
        return out;
    }

    /* One decode step for the sessions `batch` with input tokens `tokens`; logits and ids read back after it. */
    void step(const std::vector<int>& batch, const std::vector<int32_t>& tokens, std::vector<uint8_t>* logits_out,
              std::vector<int32_t>* ids_out) {
        const int n = static_cast<int>(batch.size());
        for (int i = 0; i < n; ++i) {  // room for the new token: a new block when crossing a boundary (outside)
            const int s = batch[i];
            while (static_cast<int>(kblocks[s].size()) * kBlock < length[s] + 1) add_block(s);
        }
        for (int32_t t : tokens) {  // ids checked on the host: in a step the device check is not read back
            if (t < 0 || t >= V) die("token id outside the vocabulary", -1);
        }
        std::vector<void*> conv_states(n);
        std::vector<float*> ssm_states(n);
        std::vector<n4j_kv_cache> caches(n);
        for (int i = 0; i < n; ++i) {
            const int s = batch[i];
            conv_states[i] = conv[s];
            ssm_states[i] = ssm[s];
            caches[i].k_blocks = kblocks[s].data();
            caches[i].v_blocks = vblocks[s].data();
            caches[i].n_blocks = static_cast<int32_t>(kblocks[s].size());
            caches[i].block_tokens = kBlock;
            caches[i].length = length[s];
            caches[i].dtype = N4J_DTYPE_BF16;
        }
        const int64_t e = 2;  // bf16 bytes
        char* p = static_cast<char*>(proj);
        char* c = static_cast<char*>(convout);
        char* q = static_cast<char*>(qkv);
        const n4j_ssm_dims sd = {kHeads, kHeadDim, kGroups, kState, 16, 0};
        const n4j_attn_dims ad = {kQHeads, kKvHeads, kAttnDim, 0.25f};
        const float eps = 1e-5f;

        CALL(n4j_cuda_step_begin(ctx, static_cast<uint64_t>(n), kMaxContext));
        CALL(ops->copy(ctx, ids, tokens.data(), n * 4, N4J_COPY_HOST_TO_BACKEND));
        CALL(ops->embedding(ctx, &w_emb, static_cast<const int32_t*>(ids), n, resid, H));
        // Mamba-2 mixer
        CALL(ops->rmsnorm(ctx, resid, H, n, H, &w_norm1, eps, xn, H));
        CALL(ops->matmul(ctx, xn, H, n, &w_in_proj, proj, kProj, N4J_MATMUL_STORE));
        CALL(ops->conv1d_decode(ctx, n, p + kInner * e, kProj, kXbc, &w_conv_w, &w_conv_b, conv_states.data(),
                                N4J_ACT_SILU, convout, kXbc));
        CALL(ops->ssm_decode(ctx, &sd, n, c, kXbc, c + kInner * e, kXbc, c + (kInner + kGroups * kState) * e, kXbc,
                             p + (kInner + kXbc) * e, kProj, &w_dt_bias, &w_a_log, &w_d, ssm_states.data(), y,
                             kInner));
        CALL(ops->gated_rmsnorm(ctx, y, kInner, p, kProj, n, kInner, kGroups, &w_gnorm, eps, g, kInner));
        CALL(ops->matmul(ctx, g, kInner, n, &w_out_proj, resid, H, N4J_MATMUL_ACCUMULATE));
        // attention mixer
        CALL(ops->rmsnorm(ctx, resid, H, n, H, &w_norm2, eps, xn, H));
        CALL(ops->matmul(ctx, xn, H, n, &w_qkv, qkv, kQkv, N4J_MATMUL_STORE));
        CALL(ops->attention_decode(ctx, &ad, n, q, kQkv, q + kQHeads * kAttnDim * e, kQkv,
                                   q + (kQHeads + kKvHeads) * kAttnDim * e, kQkv, caches.data(), att,
                                   kQHeads * kAttnDim));
        CALL(ops->matmul(ctx, att, kQHeads * kAttnDim, n, &w_o_proj, resid, H, N4J_MATMUL_ACCUMULATE));
        // MLP
        CALL(ops->rmsnorm(ctx, resid, H, n, H, &w_norm3, eps, xn, H));
        CALL(ops->matmul(ctx, xn, H, n, &w_up, up, kUp, N4J_MATMUL_RELU_SQUARED));
        CALL(ops->matmul(ctx, up, kUp, n, &w_down, resid, H, N4J_MATMUL_ACCUMULATE));
        // head
        CALL(ops->rmsnorm(ctx, resid, H, n, H, &w_norm_f, eps, xn, H));
        CALL(ops->matmul(ctx, xn, H, n, &w_lm_head, logits, V, N4J_MATMUL_STORE));
        CALL(ops->argmax(ctx, logits, V, n, V, static_cast<int32_t*>(amax)));
        CALL(n4j_cuda_step_end(ctx));

        *logits_out = read(logits, static_cast<uint64_t>(n) * V * 2);
        std::vector<uint8_t> raw = read(amax, static_cast<uint64_t>(n) * 4);
        ids_out->assign(n, 0);
        memcpy(ids_out->data(), raw.data(), raw.size());
        for (int i = 0; i < n; ++i) ++length[batch[i]];
    }
};

}  // namespace

int main() {
    ops = n4j_cuda_backend_ops();
    if (ops == nullptr) die("n4j_cuda_backend_ops", -1);
    {
        void* probe = nullptr;
        n4j_backend_options o;
        memset(&o, 0, sizeof(o));
        o.kind = N4J_BACKEND_CUDA;
        o.activation_dtype = N4J_DTYPE_BF16;
        if (ops->create(&o, &kHost, &probe) != N4J_OK) {
            printf("cuda_graph_test: skipped, no CUDA device (%s)\n", g_last_error.c_str());
            return 77;
        }
        ops->destroy(probe);
    }

    model_weights m;
    m.emb = make_weight(N4J_DTYPE_BF16, V, H, -1.0f, 1.0f);
    m.norm1 = make_weight(N4J_DTYPE_BF16, H, 1, 0.5f, 1.5f);
    m.in_proj = make_weight(N4J_DTYPE_BF16, kProj, H, -0.3f, 0.3f);
    m.conv_w = make_weight(N4J_DTYPE_BF16, kXbc, kConvK, -1.0f, 1.0f);
    m.conv_b = make_weight(N4J_DTYPE_F32, kXbc, 1, -0.5f, 0.5f);
    m.dt_bias = make_weight(N4J_DTYPE_F32, kHeads, 1, -1.0f, 0.5f);
    m.a_log = make_weight(N4J_DTYPE_F32, kHeads, 1, -1.0f, 1.5f);
    m.d = make_weight(N4J_DTYPE_F32, kHeads, 1, 0.5f, 1.5f);
    m.gnorm = make_weight(N4J_DTYPE_BF16, kInner, 1, 0.5f, 1.5f);
    m.out_proj = make_weight(N4J_DTYPE_BF16, H, kInner, -0.3f, 0.3f);
    m.norm2 = make_weight(N4J_DTYPE_BF16, H, 1, 0.5f, 1.5f);
    m.qkv = make_weight(N4J_DTYPE_BF16, kQkv, H, -0.3f, 0.3f);
    m.o_proj = make_weight(N4J_DTYPE_BF16, H, kQHeads * kAttnDim, -0.3f, 0.3f);
    m.norm3 = make_weight(N4J_DTYPE_BF16, H, 1, 0.5f, 1.5f);
    m.up = make_weight(N4J_DTYPE_BF16, kUp, H, -0.3f, 0.3f);
    m.down = make_weight(N4J_DTYPE_BF16, H, kUp, -0.2f, 0.2f);
    m.norm_f = make_weight(N4J_DTYPE_BF16, H, 1, 0.5f, 1.5f);
    m.lm_head = make_weight(N4J_DTYPE_BF16, V, H, -0.5f, 0.5f);
    session_init init[kSessions];
    for (int s = 0; s < kSessions; ++s) {
        init[s].conv = random_bytes(N4J_DTYPE_BF16, kXbc * kConvK, -1.0f, 1.0f);
        init[s].ssm = random_bytes(N4J_DTYPE_F32, kHeads * kHeadDim * kState, -0.5f, 0.5f);
        init[s].k = random_bytes(N4J_DTYPE_BF16, static_cast<int64_t>(kInitialLength[s]) * kKvHeads * kAttnDim, -1, 1);
        init[s].v = random_bytes(N4J_DTYPE_BF16, static_cast<int64_t>(kInitialLength[s]) * kKvHeads * kAttnDim, -1, 1);
    }

    // The eager backend reads N4J_CUDA_GRAPHS=0 at its first step, the graph backend the default at its own.
    engine eager, graphs;
    eager.create(m, init);
    graphs.create(m, init);

    int32_t next_token[2][kSessions];
    for (int s = 0; s < kSessions; ++s) next_token[0][s] = next_token[1][s] = (7 * s + 3) % V;
    int mismatched_steps = 0;
    bool finite = true;
    std::vector<int> distinct(V, 0);
    for (int t = 0; t < kSteps; ++t) {
        if (t == kSteps / 2) {
            // Scratch growth between steps (a larger plan, or a bigger op outside the steps): every captured graph
            // is dropped and captured again at its key's next step, and the results stay bitwise the eager ones.
            int64_t before[5];
            CALL(n4j_cuda_step_stats(graphs.ctx, before));
            CALL(n4j_cuda_reserve_scratch(graphs.ctx, 64ull << 20));
            CALL(n4j_cuda_reserve_scratch(eager.ctx, 64ull << 20));
            int64_t after[5];
            CALL(n4j_cuda_step_stats(graphs.ctx, after));
            CHECK(after[3] > before[3] && after[3] == before[1]);  // every graph captured so far was dropped
        }
        std::vector<int> batch;
        for (int s = 0; s < kSessions; ++s) {
            if (t >= kStart[s] && t < kStop[s]) batch.push_back(s);
        }
        std::vector<uint8_t> logits[2];
        std::vector<int32_t> ids[2];
        for (int k = 0; k < 2; ++k) {
            engine& e = k == 0 ? eager : graphs;
            if (t == 0) setenv("N4J_CUDA_GRAPHS", k == 0 ? "0" : "1", 1);
            std::vector<int32_t> tokens;
            for (int s : batch) tokens.push_back(next_token[k][s]);
            e.step(batch, tokens, &logits[k], &ids[k]);
            for (size_t i = 0; i < batch.size(); ++i) next_token[k][batch[i]] = ids[k][i];
        }
        const bool same = logits[0] == logits[1] && ids[0] == ids[1];
        if (!same) {
            ++mismatched_steps;
            if (mismatched_steps <= 3) {
                int first = -1;
                for (size_t i = 0; i < logits[0].size() && first < 0; i += 2) {
                    if (memcmp(&logits[0][i], &logits[1][i], 2) != 0) first = static_cast<int>(i / 2);
                }
                fprintf(stderr, "step %d (batch %zu): graph replay differs from eager (first logit %d of row %d)\n",
                        t, batch.size(), first % V, first / V);
            }
        }
        for (size_t i = 0; i < logits[0].size(); i += 2) {
            uint16_t b;
            memcpy(&b, &logits[0][i], 2);
            finite = finite && isfinite(from_bf16(b));
        }
        for (int32_t id : ids[0]) distinct[id] = 1;
    }
    CHECK(mismatched_steps == 0);
    CHECK(finite);
    int n_distinct = 0;
    for (int v : distinct) n_distinct += v;
    CHECK(n_distinct >= 3);  // the greedy ids move: the steps really depend on their inputs

    // Final states, bitwise.
    int state_mismatches = 0;
    for (int s = 0; s < kSessions; ++s) {
        CHECK(eager.length[s] == graphs.length[s]);
        state_mismatches += eager.read(eager.conv[s], kXbc * kConvK * 2) != graphs.read(graphs.conv[s], kXbc * kConvK * 2);
        state_mismatches += eager.read(eager.ssm[s], kHeads * kHeadDim * kState * 4) !=
                            graphs.read(graphs.ssm[s], kHeads * kHeadDim * kState * 4);
        const uint64_t bytes = static_cast<uint64_t>(kBlock) * kKvHeads * kAttnDim * 2;
        CHECK(eager.kblocks[s].size() == graphs.kblocks[s].size());
        for (size_t b = 0; b < eager.kblocks[s].size() && b < graphs.kblocks[s].size(); ++b) {
            state_mismatches += eager.read(eager.kblocks[s][b], bytes) != graphs.read(graphs.kblocks[s][b], bytes);
            state_mismatches += eager.read(eager.vblocks[s][b], bytes) != graphs.read(graphs.vblocks[s][b], bytes);
        }
    }
    CHECK(state_mismatches == 0);

    int64_t es[5], gs[5];
    CALL(n4j_cuda_step_stats(eager.ctx, es));
    CALL(n4j_cuda_step_stats(graphs.ctx, gs));
    CHECK(es[0] == kSteps && es[1] == 0 && es[2] == 0);
    // 5 keys (2, 3, 4, 5 and 16): one warm-up each; the first 4 captured before the scratch grew (dropped), again
    // after it where used again
    CHECK(gs[0] == 5 && gs[1] > 5 && gs[3] == 4 && gs[0] + gs[1] + gs[2] == kSteps);
    CHECK(gs[4] >= 16 && es[4] == 0);  // a step's kernels (at least one per op) are nodes of its graph

    // What a step refuses. A replay of key 2 whose second call writes another buffer than the captured one.
    {
        engine& e = graphs;
        const int32_t two[2] = {1, 2};
        CALL(n4j_cuda_step_begin(e.ctx, 2, kMaxContext));
        CALL(ops->copy(e.ctx, e.ids, two, sizeof(two), N4J_COPY_HOST_TO_BACKEND));
        CHECK(ops->embedding(e.ctx, &e.w_emb, static_cast<const int32_t*>(e.ids), 2, e.xn, H) ==
              N4J_ERR_INVALID_ARGUMENT);
        CHECK(g_last_error.find("differs from the step captured") != std::string::npos);
        CHECK(n4j_cuda_step_end(e.ctx) == N4J_ERR_INVALID_ARGUMENT);
        CALL(n4j_cuda_step_begin(e.ctx, 99, kMaxContext));
        std::vector<uint8_t> back(16);
        CHECK(ops->copy(e.ctx, back.data(), e.logits, 16, N4J_COPY_BACKEND_TO_HOST) == N4J_ERR_INVALID_ARGUMENT);
        CHECK(ops->synchronize(e.ctx) == N4J_ERR_INVALID_ARGUMENT);
        CHECK(n4j_cuda_step_end(e.ctx) == N4J_ERR_INVALID_ARGUMENT);  // an operation of the step failed
        CHECK(n4j_cuda_step_end(e.ctx) == N4J_ERR_INVALID_ARGUMENT);  // no step open
        CALL(ops->synchronize(e.ctx));
    }

    eager.destroy();
    graphs.destroy();
    printf("cuda_graph_test: %d decode steps, batch 2..5 and 16, sessions joining and leaving, KV blocks of %d tokens: graph "
           "replay %s eager bitwise (logits, ids, conv/SSM states, KV caches); graphs: %lld warm-ups, %lld captures, "
           "%lld replays, %lld dropped by scratch growth at step %d, %lld nodes in the last graph; eager: %lld steps\n",
           kSteps, kBlock, mismatched_steps == 0 && state_mismatches == 0 ? "equals" : "DIFFERS FROM",
           static_cast<long long>(gs[0]), static_cast<long long>(gs[1]), static_cast<long long>(gs[2]),
           static_cast<long long>(gs[3]), kSteps / 2, static_cast<long long>(gs[4]), static_cast<long long>(es[0]));
    printf("cuda_graph_test: %s\n", g_failures == 0 ? "all passed" : "FAILED");
    return g_failures == 0 ? 0 : 1;
}
