package org.nemotron4j;

import org.nemotron4j.bindings.n4j_kv_cache;
import org.nemotron4j.runtime.Backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The activation buffers of one forward pass of up to {@code rows} tokens (a prefill chunk, or one decode step of
 * up to {@code rows} sequences), in backend memory, reused by every layer and every call. Activation memory is
 * therefore bounded by the chunk size, whatever the prompt length. Owned by the model; freed at its close.
 */
final class Workspace implements AutoCloseable {
    static final long F32 = Float.BYTES;

    final int rows;
    final MemorySegment ids;      // [rows] int32
    final MemorySegment argmax;   // [rows] int32
    final MemorySegment hidden;   // [rows, hidden]: the residual stream
    final MemorySegment normed;   // [rows, hidden]
    final MemorySegment proj;     // [rows, max(inProjDim, intermediate, qDim)]
    final MemorySegment conv;     // [rows, convDim]
    final MemorySegment y;        // [rows, dInner]
    final MemorySegment gated;    // [rows, dInner]
    final MemorySegment k;        // [rows, kvDim]
    final MemorySegment v;        // [rows, kvDim]
    final MemorySegment attn;     // [rows, qDim]
    final MemorySegment logits;   // [rows, vocab] (allocated on first need)
    final long projWidth;
    // host-side arrays for batched decode: per-sequence state pointers and KV cache descriptors
    final MemorySegment convPtrs;
    final MemorySegment ssmPtrs;
    final MemorySegment kvStructs;
    final MemorySegment hostLogits; // [rows, vocab] host copy of logits
    final MemorySegment hostIds;    // [rows] int32 host staging

    private final Backend backend;
    private final Arena hostArena = Arena.ofShared();
    private final List<MemorySegment> owned = new ArrayList<>();

    Workspace(Backend backend, ModelConfig c, int rows) {
        this.backend = backend;
        this.rows = rows;
        int qDim = c.numAttentionHeads() * c.attentionHeadDim();
        int kvDim = c.numKeyValueHeads() * c.attentionHeadDim();
        projWidth = Math.max(c.inProjDim(), Math.max(c.intermediateSize(), qDim));
        try {
            ids = alloc((long) rows * Integer.BYTES);
            argmax = alloc((long) rows * Integer.BYTES);
            hidden = alloc((long) rows * c.hiddenSize() * F32);
            normed = alloc((long) rows * c.hiddenSize() * F32);
            proj = alloc((long) rows * projWidth * F32);
            conv = alloc((long) rows * c.convDim() * F32);
            y = alloc((long) rows * c.mambaDInner() * F32);
            gated = alloc((long) rows * c.mambaDInner() * F32);
            k = alloc((long) rows * kvDim * F32);
            v = alloc((long) rows * kvDim * F32);
            attn = alloc((long) rows * qDim * F32);
            logits = alloc((long) rows * c.vocabSize() * F32);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        convPtrs = hostArena.allocate(ValueLayout.ADDRESS, rows);
        ssmPtrs = hostArena.allocate(ValueLayout.ADDRESS, rows);
        kvStructs = n4j_kv_cache.allocateArray(rows, hostArena);
        hostLogits = hostArena.allocate((long) rows * c.vocabSize() * F32, 64);
        hostIds = hostArena.allocate(ValueLayout.JAVA_INT, rows);
    }

    /** Bytes of backend memory a workspace of {@code rows} rows takes (the memory plan's activation figure). */
    static long backendBytes(ModelConfig c, int rows) {
        long qDim = (long) c.numAttentionHeads() * c.attentionHeadDim();
        long kvDim = (long) c.numKeyValueHeads() * c.attentionHeadDim();
        long projWidth = Math.max(c.inProjDim(), Math.max(c.intermediateSize(), qDim));
        long perRow = 2L * Integer.BYTES
                + F32 * (2L * c.hiddenSize() + projWidth + c.convDim() + 2L * c.mambaDInner() + 2 * kvDim + qDim + c.vocabSize());
        return perRow * rows;
    }

    private MemorySegment alloc(long bytes) {
        MemorySegment s = backend.alloc(bytes);
        owned.add(s);
        return s;
    }

    @Override
    public void close() {
        for (MemorySegment s : owned) {
            backend.free(s);
        }
        owned.clear();
        hostArena.close();
    }
}
