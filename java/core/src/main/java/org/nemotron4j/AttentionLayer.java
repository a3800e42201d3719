package org.nemotron4j;

import org.nemotron4j.bindings.n4j_attn_dims;
import org.nemotron4j.bindings.n4j_kv_cache;
import org.nemotron4j.runtime.NativeWeight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A GQA self-attention block without positional encoding:
 * <pre>
 *   q, k, v = q_proj(x), k_proj(x), v_proj(x)      x = RMSNorm(h); heads of headDim, kvHeads shared by heads/kvHeads
 *   o       = softmax(q k^T / sqrt(headDim), causal) v   over the cached positions and the new ones
 *   h      += o_proj(o)
 * </pre>
 */
final class AttentionLayer implements Layer {
    private final int index;
    private final NativeWeight norm;
    private final NativeWeight q;
    private final NativeWeight k;
    private final NativeWeight v;
    private final NativeWeight o;
    private final MemorySegment dims;
    private final int qDim;
    private final int kvDim;

    AttentionLayer(int index, ModelConfig c, Arena arena, NativeWeight norm, NativeWeight q, NativeWeight k,
                   NativeWeight v, NativeWeight o) {
        this.index = index;
        this.norm = norm;
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.qDim = c.numAttentionHeads() * c.attentionHeadDim();
        this.kvDim = c.numKeyValueHeads() * c.attentionHeadDim();
        this.dims = n4j_attn_dims.allocate(arena);
        n4j_attn_dims.heads(dims, c.numAttentionHeads());
        n4j_attn_dims.kv_heads(dims, c.numKeyValueHeads());
        n4j_attn_dims.head_dim(dims, c.attentionHeadDim());
        n4j_attn_dims.scale(dims, (float) (1.0 / Math.sqrt(c.attentionHeadDim())));
    }

    @Override
    public int index() {
        return index;
    }

    private void project(Forward f, int rows) {
        Workspace ws = f.ws();
        int h = f.config().hiddenSize();
        f.k().rmsnormMatmul(ws.hidden, h, rows, norm, f.eps(), ws.normed, h, q, ws.proj, qDim);  // k and v read normed
        f.k().matmul(ws.normed, h, rows, k, ws.k, kvDim, false);
        f.k().matmul(ws.normed, h, rows, v, ws.v, kvDim, false);
    }

    @Override
    public void prefill(Forward f, Session session, int tokens) {
        Workspace ws = f.ws();
        KvCache cache = session.kvCache(index);
        project(f, tokens);
        f.k().attentionPrefill(dims, tokens, ws.proj, qDim, ws.k, kvDim, ws.v, kvDim, cache.descriptor, ws.attn, qDim);
        cache.advance(tokens);
        f.addToResidual(ws.attn, qDim, tokens, o);
    }

    @Override
    public void decode(Forward f, Session[] batch) {
        Workspace ws = f.ws();
        int n = batch.length;
        long size = n4j_kv_cache.sizeof();
        for (int b = 0; b < n; b++) {
            MemorySegment.copy(batch[b].kvCache(index).descriptor, 0, ws.kvStructs, b * size, size);
        }
        project(f, n);
        f.k().attentionDecode(dims, n, ws.proj, qDim, ws.k, kvDim, ws.v, kvDim, ws.kvStructs, ws.attn, qDim);
        for (Session s : batch) {
            s.kvCache(index).advance(1);
        }
        f.addToResidual(ws.attn, qDim, n, o);
    }
}
