/*
 * decode_graph.cu: CUDA graphs for the decode step (the plug-in entries n4j_cuda_step_begin / n4j_cuda_step_end /
 * n4j_cuda_step_stats; context.cuh has the state the ops consult).
 *
 * A decode step of a batch is a long, fixed sequence of small kernels (per layer: norm, GEMVs, conv, scan or
 * attention, adds); on a GPU their launch overhead is a large part of the step. The engine brackets the step's ops
 * with step_begin(key, max_context) / step_end. The key names the batch shape: every call of the step, with the
 * same device buffers (activations, weights, states) and the same scalar arguments, in the same order; only the
 * host arrays that ops stage (state pointers, KV descriptors and block tables, the H2D copy of the token ids) may
 * change between steps of one key. max_context bounds the tokens any sequence's KV cache may hold during the
 * steps of that key, so that attention's split count and the block-table layout do not depend on the lengths.
 *
 * Per (key, max_context):
 *   1st step  eager (a warm-up: scratch and staging grow to their size; the bytes the step stages are counted);
 *   2nd step  captured: cudaStreamBeginCapture on the backend's stream, each op runs and its launches are recorded;
 *             stage() hands out pieces of the step arena; step_end instantiates the graph, then launches it;
 *   later     replayed: each op is only checked (its signature: every argument except the staged host arrays, plus
 *             the launch-shaping values the op notes, must equal the captured call's) and stages its host arrays
 *             into the arena at the offsets of the capture; step_end writes the arena to the device with one
 *             cudaMemcpyAsync and launches the graph behind it.
 * Nothing inside a step waits for the device: embedding's device-side id check is not read back in a step (an
 * out-of-range id gives a zero row; the engine checks ids on the host), device-to-host copies, large host-to-device
 * copies, synchronize and alloc are refused in a step. The host arena is double-buffered: a step's arena is
 * rewritten only after the event behind its previous copy completed, waited for in step_begin, outside the step.
 * Scratch growth (get_scratch, outside a captured step) drops every graph (their kernels hold the old address); the
 * next step of each key is captured again. A capture that fails (an op's error) marks its key eager-only.
 * N4J_CUDA_GRAPHS=0 (read at create): every step runs eagerly (same split counts and layouts as the graphs).
 */
#include <stdlib.h>
#include <string.h>

#include <map>
#include <new>
#include <utility>
#include <vector>

#include "context.cuh"

namespace n4j {
namespace cuda {

struct graph_entry {
    int eager_runs = 0;                // warm-ups done
    bool eager_only = false;           // its capture failed: always eager
    size_t staged_bytes = 0;           // arena bytes the step stages (counted by the warm-up)
    cudaGraphExec_t exec = nullptr;
    std::vector<uint64_t> signatures;  // per op of the captured step, in call order
};

struct decode_graphs {
    bool enabled = true;
    std::map<std::pair<uint64_t, int32_t>, graph_entry> entries;  // (key, max_context)
    graph_entry* current = nullptr;

    void* host[2] = {nullptr, nullptr};  // pinned arena, double-buffered
    cudaEvent_t done[2] = {nullptr, nullptr};
    bool pending[2] = {false, false};
    int host_index = 0;  // the buffer this step fills
    void* device = nullptr;
    size_t capacity = 0;
    size_t used = 0;

    std::vector<uint64_t> signatures;  // this step's (capture)
    size_t op_index = 0;               // replay: ops checked so far
    uint64_t op_signature = 0;
    bool op_failed = false;
    bool mismatch = false;

    int64_t eager_steps = 0, captures = 0, replays = 0, invalidations = 0;
    int64_t last_nodes = 0;  // nodes (kernels, copies, memsets) of the graph captured last: a step's launches eagerly
};

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

void free_arena(decode_graphs* g) {
    for (int i = 0; i < 2; ++i) {
        if (g->host[i] != nullptr) cudaFreeHost(g->host[i]);
        g->host[i] = nullptr;
        g->pending[i] = false;
    }
    if (g->device != nullptr) cudaFree(g->device);
    g->device = nullptr;
    g->capacity = 0;
}

/* Arena of at least `bytes` (outside a capture; growing drops the graphs, which read the old device buffer). */
int32_t reserve_arena(context* ctx, size_t bytes, const char* where) {
    decode_graphs* g = ctx->graphs;
    if (bytes <= g->capacity && g->device != nullptr) return N4J_OK;
    graphs_invalidate(ctx);
    int32_t rc = ctx->check(cudaStreamSynchronize(ctx->stream), where);
    if (rc != N4J_OK) return rc;
    free_arena(g);
    size_t want = 64 * 1024;
    while (want < bytes) want *= 2;
    for (int i = 0; i < 2; ++i) {
        rc = ctx->check(cudaHostAlloc(&g->host[i], want, cudaHostAllocDefault), where);
        if (rc == N4J_OK && g->done[i] == nullptr) {
            rc = ctx->check(cudaEventCreateWithFlags(&g->done[i], cudaEventDisableTiming), where);
        }
        if (rc != N4J_OK) {
            free_arena(g);
            return rc;
        }
    }
    rc = ctx->check(cudaMalloc(&g->device, want), where);
    if (rc != N4J_OK) {
        free_arena(g);
        return rc;
    }
    g->capacity = want;
    return N4J_OK;
}

/* Takes the next host buffer of the arena; waits (outside the step) until the copy out of its last use ran. */
int32_t open_arena(context* ctx, const char* where) {
    decode_graphs* g = ctx->graphs;
    const int i = g->host_index;
    if (g->pending[i]) {
        int32_t rc = ctx->check(cudaEventSynchronize(g->done[i]), where);
        if (rc != N4J_OK) return rc;
        g->pending[i] = false;
    }
    g->used = 0;
    return N4J_OK;
}

/* One copy of the step's arena, then the graph. */
int32_t launch_step(context* ctx, graph_entry* e, const char* where) {
    decode_graphs* g = ctx->graphs;
    const int i = g->host_index;
    int32_t rc = N4J_OK;
    if (g->used > 0) {
        rc = ctx->check(cudaMemcpyAsync(g->device, g->host[i], g->used, cudaMemcpyHostToDevice, ctx->stream), where);
        if (rc != N4J_OK) return rc;
    }
    rc = ctx->check(cudaGraphLaunch(e->exec, ctx->stream), where);
    if (rc != N4J_OK) return rc;
    rc = ctx->check(cudaEventRecord(g->done[i], ctx->stream), where);
    if (rc != N4J_OK) return rc;
    g->pending[i] = true;
    g->host_index = i ^ 1;
    return N4J_OK;
}

}  // namespace

void context::step_note(uint64_t value) {
    if (graphs != nullptr && (step == step_mode::capture || step == step_mode::replay)) {
        graphs->op_signature = mix(graphs->op_signature, value);
    }
}

int32_t graphs_stage(context* ctx, size_t bytes, staged* out, const char* where) {
    decode_graphs* g = ctx->graphs;
    const size_t piece = align256(bytes);
    if (g->used + piece > g->capacity) {
        return ctx->fail(N4J_ERR_INTERNAL, where,
                         "the decode step stages more than its warm-up did (arena of %zu bytes, %zu used, %zu more)",
                         g->capacity, g->used, piece);
    }
    out->host = static_cast<char*>(g->host[g->host_index]) + g->used;
    out->device = static_cast<char*>(g->device) + g->used;
    ctx->step_open_device = out->device;
    g->used += piece;
    ctx->step_note(bytes);
    return N4J_OK;
}

void graphs_invalidate(context* ctx) {
    decode_graphs* g = ctx->graphs;
    if (g == nullptr) return;
    for (auto& kv : g->entries) {
        if (kv.second.exec != nullptr) {
            cudaGraphExecDestroy(kv.second.exec);  // launches already queued keep running
            kv.second.exec = nullptr;
            kv.second.signatures.clear();
            ++g->invalidations;
        }
    }
}

void graphs_release(context* ctx) {
    decode_graphs* g = ctx->graphs;
    if (g == nullptr) return;
    if (ctx->step == step_mode::capture) {
        cudaGraph_t graph = nullptr;
        if (cudaStreamEndCapture(ctx->stream, &graph) == cudaSuccess && graph != nullptr) cudaGraphDestroy(graph);
    }
    ctx->step = step_mode::none;
    graphs_invalidate(ctx);
    if (ctx->stream != nullptr) cudaStreamSynchronize(ctx->stream);
    free_arena(g);
    for (cudaEvent_t& e : g->done) {
        if (e != nullptr) cudaEventDestroy(e);
        e = nullptr;
    }
    delete g;
    ctx->graphs = nullptr;
    cudaGetLastError();
}

void step_op_begin(context* ctx, uint64_t signature) {
    if (ctx->graphs != nullptr) ctx->graphs->op_signature = signature;
}

int32_t step_op_end(context* ctx, int32_t rc, const char* where) {
    decode_graphs* g = ctx->graphs;
    if (rc != N4J_OK) {
        g->op_failed = true;
        return rc;
    }
    if (ctx->step == step_mode::capture) {
        g->signatures.push_back(g->op_signature);
    } else if (ctx->step == step_mode::replay) {
        const std::vector<uint64_t>& want = g->current->signatures;
        if (g->op_index >= want.size() || want[g->op_index] != g->op_signature) {
            g->mismatch = true;
            return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where,
                             "call %zu of this decode step differs from the step captured for its key (%zu calls): a "
                             "key must name one batch shape with the same buffers and arguments",
                             g->op_index, want.size());
        }
        ++g->op_index;
    }
    return N4J_OK;
}

}  // namespace cuda
}  // namespace n4j

using namespace n4j::cuda;

/* Begins a decode step (see the file comment); eager: this step runs as called (N4J_STEP_EAGER). */
static int32_t step_begin(void* vctx, uint64_t key, int32_t max_context, bool eager, const char* where) {
    context* ctx = static_cast<context*>(vctx);
    if (ctx == nullptr) return N4J_ERR_INVALID_ARGUMENT;
    if (ctx->in_step()) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "a decode step is already open");
    if (max_context <= 0) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "max_context %d", max_context);
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    if (ctx->graphs == nullptr) {
        ctx->graphs = new (std::nothrow) decode_graphs();
        if (ctx->graphs == nullptr) return ctx->fail(N4J_ERR_OUT_OF_MEMORY, where, "out of host memory");
        const char* env = getenv("N4J_CUDA_GRAPHS");
        ctx->graphs->enabled = !(env != nullptr && strcmp(env, "0") == 0);
    }
    decode_graphs* g = ctx->graphs;
    g->signatures.clear();
    g->op_index = 0;
    g->op_signature = 0;
    g->op_failed = false;
    g->mismatch = false;
    g->current = nullptr;
    ctx->step_max_context = max_context;
    ctx->step_staged = 0;
    if (!g->enabled || eager) {
        ctx->step = step_mode::eager;
        return N4J_OK;
    }
    graph_entry& e = g->entries[std::make_pair(key, max_context)];
    g->current = &e;
    if (e.exec != nullptr) {
        rc = open_arena(ctx, where);
        if (rc != N4J_OK) return rc;
        ctx->step = step_mode::replay;
        return N4J_OK;
    }
    if (e.eager_only || e.eager_runs == 0) {
        ctx->step = step_mode::eager;
        return N4J_OK;
    }
    rc = reserve_arena(ctx, e.staged_bytes, where);
    if (rc == N4J_OK) rc = open_arena(ctx, where);
    if (rc != N4J_OK) return rc;
    // Thread-local: other threads' (other backends') unsafe calls do not break this capture.
    rc = ctx->check(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal), where);
    if (rc != N4J_OK) return rc;
    ctx->step = step_mode::capture;
    return N4J_OK;
}

/* Begins a decode step. Returns N4J_OK or an N4J_ERR_* code (message through set_error). */
extern "C" __attribute__((visibility("default"))) int32_t n4j_cuda_step_begin(void* vctx, uint64_t key,
                                                                             int32_t max_context) {
    return step_begin(vctx, key, max_context, false, "n4j_cuda_step_begin");
}

/* The table's step_begin (n4j_step_begin): flags N4J_STEP_EAGER runs this step as called. */
int32_t n4j::cuda::graphs_step_begin(void* vctx, uint64_t key, int32_t max_context, int32_t flags) {
    return step_begin(vctx, key, max_context, (flags & N4J_STEP_EAGER) != 0, "n4j_step_begin");
}

/* Ends the step: eager steps are done already; a capture is instantiated and launched; a replay is launched. */
extern "C" __attribute__((visibility("default"))) int32_t n4j_cuda_step_end(void* vctx) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_cuda_step_end";
    if (ctx == nullptr) return N4J_ERR_INVALID_ARGUMENT;
    if (!ctx->in_step()) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "no decode step is open");
    decode_graphs* g = ctx->graphs;
    graph_entry* e = g->current;
    const step_mode mode = ctx->step;
    ctx->step = step_mode::none;
    if (mode == step_mode::eager) {
        ++g->eager_steps;
        if (g->op_failed) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "an operation of this step failed");
        if (e != nullptr && !e->eager_only) {
            e->staged_bytes = ctx->step_staged;
            ++e->eager_runs;
        }
        return N4J_OK;
    }
    if (mode == step_mode::capture) {
        cudaGraph_t graph = nullptr;
        const cudaError_t err = cudaStreamEndCapture(ctx->stream, &graph);
        cudaGraphExec_t exec = nullptr;
        cudaError_t ierr = cudaSuccess;
        if (err == cudaSuccess && !g->op_failed) ierr = cudaGraphInstantiate(&exec, graph, 0);
        size_t nodes = 0;
        if (ierr == cudaSuccess && graph != nullptr && cudaGraphGetNodes(graph, nullptr, &nodes) == cudaSuccess) {
            g->last_nodes = static_cast<int64_t>(nodes);
        }
        if (graph != nullptr) cudaGraphDestroy(graph);
        if (err != cudaSuccess || ierr != cudaSuccess || g->op_failed) {
            e->eager_only = true;
            cudaGetLastError();
            return ctx->fail(N4J_ERR_BACKEND, where,
                             "the capture of this decode step failed (%s%s); nothing of it ran, and steps of this key "
                             "run eagerly from now on",
                             g->op_failed ? "an operation failed" : "CUDA error ",
                             g->op_failed ? "" : cudaGetErrorName(err != cudaSuccess ? err : ierr));
        }
        e->exec = exec;
        e->signatures = g->signatures;
        ++g->captures;
        return launch_step(ctx, e, where);
    }
    // replay
    if (g->op_failed || g->mismatch || g->op_index != e->signatures.size()) {
        return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where,
                         "this decode step does not match the step captured for its key (%zu of %zu calls matched); "
                         "nothing of it ran",
                         g->op_index, e->signatures.size());
    }
    ++g->replays;
    return launch_step(ctx, e, where);
}

/*
 * Grows the device scratch to at least `bytes` now, outside a step (the memory a caller plans for, instead of the
 * growth a warm-up step would cause later). Growing drops every captured graph (they hold the old address); each is
 * captured again at its key's next step. Returns N4J_OK or an N4J_ERR_* code.
 */
extern "C" __attribute__((visibility("default"))) int32_t n4j_cuda_reserve_scratch(void* vctx, uint64_t bytes) {
    context* ctx = static_cast<context*>(vctx);
    const char* where = "n4j_cuda_reserve_scratch";
    if (ctx == nullptr) return N4J_ERR_INVALID_ARGUMENT;
    if (ctx->in_step()) return ctx->fail(N4J_ERR_INVALID_ARGUMENT, where, "inside a decode step");
    int32_t rc = ctx->bind(where);
    if (rc != N4J_OK) return rc;
    return ctx->get_scratch(static_cast<size_t>(bytes), where) != nullptr ? N4J_OK : N4J_ERR_OUT_OF_MEMORY;
}

/* Counters: out[0] eager steps, out[1] captures, out[2] replays, out[3] graphs dropped (scratch or arena growth),
 * out[4] nodes of the graph captured last (what one such step launches when run eagerly). */
extern "C" __attribute__((visibility("default"))) int32_t n4j_cuda_step_stats(void* vctx, int64_t* out) {
    context* ctx = static_cast<context*>(vctx);
    if (ctx == nullptr || out == nullptr) return N4J_ERR_INVALID_ARGUMENT;
    const decode_graphs* g = ctx->graphs;
    out[0] = g ? g->eager_steps : 0;
    out[1] = g ? g->captures : 0;
    out[2] = g ? g->replays : 0;
    out[3] = g ? g->invalidations : 0;
    out[4] = g ? g->last_nodes : 0;
    return N4J_OK;
}
