package org.nemotron4j.runtime;

import java.lang.foreign.MemorySegment;

import static org.nemotron4j.bindings.nemotron4j_h.*;
import static org.nemotron4j.runtime.Backend.check;

/**
 * The forward-pass kernels of the C ABI on one backend, each call checked: a failing kernel throws a
 * NemotronException with the native library's message. Shapes and layouts are those documented in
 * {@code nemotron4j.h}; {@code ld*} are row strides in elements.
 */
public final class Kernels {
    private final Backend backend;

    public Kernels(Backend backend) {
        this.backend = backend;
    }

    public Backend backend() {
        return backend;
    }

    private MemorySegment b() {
        return backend.handle();
    }

    public void embedding(NativeWeight table, MemorySegment ids, int n, MemorySegment out, long ldOut) {
        check(n4j_embedding(b(), table.descriptor(), ids, n, out, ldOut), "n4j_embedding");
    }

    public void rmsnorm(MemorySegment x, long ldX, int rows, int dim, NativeWeight w, float eps, MemorySegment out, long ldOut) {
        check(n4j_rmsnorm(b(), x, ldX, rows, dim, w.descriptor(), eps, out, ldOut), "n4j_rmsnorm");
    }

    public void matmul(MemorySegment x, long ldX, int rows, NativeWeight w, MemorySegment y, long ldY, boolean accumulate) {
        matmul(x, ldX, rows, w, y, ldY, accumulate ? N4J_MATMUL_ACCUMULATE() : N4J_MATMUL_STORE());
    }

    /** y = x W^T with relu^2 applied as the result is stored (the MLP's up projection). */
    public void matmulReluSquared(MemorySegment x, long ldX, int rows, NativeWeight w, MemorySegment y, long ldY) {
        matmul(x, ldX, rows, w, y, ldY, N4J_MATMUL_RELU_SQUARED());
    }

    private void matmul(MemorySegment x, long ldX, int rows, NativeWeight w, MemorySegment y, long ldY, int epilogue) {
        check(n4j_matmul(b(), x, ldX, rows, w.descriptor(), y, ldY, epilogue), "n4j_matmul(" + w.tensor().name() + ")");
    }

    public void conv1dPrefill(MemorySegment x, long ldX, int tokens, int channels, NativeWeight w, NativeWeight bias,
                              MemorySegment state, boolean silu, MemorySegment out, long ldOut) {
        check(n4j_conv1d_prefill(b(), x, ldX, tokens, channels, w.descriptor(), bias == null ? MemorySegment.NULL : bias.descriptor(),
                state, silu ? N4J_ACT_SILU() : N4J_ACT_NONE(), out, ldOut), "n4j_conv1d_prefill");
    }

    public void conv1dDecode(int batch, MemorySegment x, long ldX, int channels, NativeWeight w, NativeWeight bias,
                             MemorySegment statePointers, boolean silu, MemorySegment out, long ldOut) {
        check(n4j_conv1d_decode(b(), batch, x, ldX, channels, w.descriptor(), bias == null ? MemorySegment.NULL : bias.descriptor(),
                statePointers, silu ? N4J_ACT_SILU() : N4J_ACT_NONE(), out, ldOut), "n4j_conv1d_decode");
    }

    public void ssdChunkScan(MemorySegment dims, int tokens, MemorySegment x, long ldX, MemorySegment bm, long ldB,
                             MemorySegment cm, long ldC, MemorySegment dt, long ldDt, NativeWeight dtBias, NativeWeight aLog,
                             NativeWeight d, MemorySegment state, MemorySegment y, long ldY) {
        check(n4j_ssd_chunk_scan(b(), dims, tokens, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias.descriptor(), aLog.descriptor(),
                d.descriptor(), state, y, ldY), "n4j_ssd_chunk_scan");
    }

    public void ssmScanSequential(MemorySegment dims, int tokens, MemorySegment x, long ldX, MemorySegment bm, long ldB,
                                  MemorySegment cm, long ldC, MemorySegment dt, long ldDt, NativeWeight dtBias, NativeWeight aLog,
                                  NativeWeight d, MemorySegment state, MemorySegment y, long ldY) {
        check(n4j_ssm_scan_sequential(b(), dims, tokens, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias.descriptor(), aLog.descriptor(),
                d.descriptor(), state, y, ldY), "n4j_ssm_scan_sequential");
    }

    public void ssmDecode(MemorySegment dims, int batch, MemorySegment x, long ldX, MemorySegment bm, long ldB,
                          MemorySegment cm, long ldC, MemorySegment dt, long ldDt, NativeWeight dtBias, NativeWeight aLog,
                          NativeWeight d, MemorySegment statePointers, MemorySegment y, long ldY) {
        check(n4j_ssm_decode(b(), dims, batch, x, ldX, bm, ldB, cm, ldC, dt, ldDt, dtBias.descriptor(), aLog.descriptor(),
                d.descriptor(), statePointers, y, ldY), "n4j_ssm_decode");
    }

    public void gatedRmsnorm(MemorySegment y, long ldY, MemorySegment z, long ldZ, int rows, int dim, int groups,
                             NativeWeight w, float eps, MemorySegment out, long ldOut) {
        check(n4j_gated_rmsnorm(b(), y, ldY, z, ldZ, rows, dim, groups, w.descriptor(), eps, out, ldOut), "n4j_gated_rmsnorm");
    }

    public void attentionPrefill(MemorySegment dims, int tokens, MemorySegment q, long ldQ, MemorySegment k, long ldK,
                                 MemorySegment v, long ldV, MemorySegment cache, MemorySegment out, long ldOut) {
        check(n4j_attention_prefill(b(), dims, tokens, q, ldQ, k, ldK, v, ldV, cache, out, ldOut), "n4j_attention_prefill");
    }

    public void attentionDecode(MemorySegment dims, int batch, MemorySegment q, long ldQ, MemorySegment k, long ldK,
                                MemorySegment v, long ldV, MemorySegment caches, MemorySegment out, long ldOut) {
        check(n4j_attention_decode(b(), dims, batch, q, ldQ, k, ldK, v, ldV, caches, out, ldOut), "n4j_attention_decode");
    }

    public void reluSquared(MemorySegment x, MemorySegment y, long n) {
        check(n4j_relu_squared(b(), x, y, n), "n4j_relu_squared");
    }

    public void add(MemorySegment a, MemorySegment bb, MemorySegment y, long n) {
        check(n4j_add(b(), a, bb, y, n), "n4j_add");
    }

    public void argmax(MemorySegment x, long ldX, int rows, int cols, MemorySegment out) {
        check(n4j_argmax(b(), x, ldX, rows, cols, out), "n4j_argmax");
    }
}
