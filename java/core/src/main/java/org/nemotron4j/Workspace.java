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
    final int rows;
    /** Bytes of one activation element (4 for F32, 2 for BF16: the backend's activation dtype). */
    final long act;
    private final int vocab;
    final MemorySegment ids;      // [rows] int32
    final MemorySegment argmax;   // [rows] int32
    final MemorySegment hidden;   // [rows, hidden]: the residual stream, F32 (also with BF16 activations)
    final MemorySegment normed;   // [rows, hidden]
    final MemorySegment proj;     // [rows, max(inProjDim, intermediate, qDim)]
    final MemorySegment conv;     // [rows, convDim]
    final MemorySegment y;        // [rows, dInner]
    final MemorySegment gated;    // [rows, dInner]
    final MemorySegment k;        // [rows, kvDim]
    final MemorySegment v;        // [rows, kvDim]
    final MemorySegment attn;     // [rows, qDim]
    final MemorySegment logits;   // [rows, vocab] in the activation dtype
    final long projWidth;
    // host-side arrays for batched decode: per-sequence state pointers and KV cache descriptors
    final MemorySegment convPtrs;
    final MemorySegment ssmPtrs;
    final MemorySegment kvStructs;
    final MemorySegment hostLogits; // [rows, vocab] host copy of logits, F32
    private final MemorySegment hostLogitsRaw; // [rows, vocab] BF16 staging (BF16 activations only)
    final MemorySegment hostIds;    // [rows] int32 host staging

    private final Backend backend;
    private final Arena hostArena = Arena.ofShared();
    private final List<MemorySegment> owned = new ArrayList<>();

    Workspace(Backend backend, ModelConfig c, int rows) {
        this.backend = backend;
        this.rows = rows;
        this.act = backend.activationBytes();
        this.vocab = c.vocabSize();
        int qDim = c.numAttentionHeads() * c.attentionHeadDim();
        int kvDim = c.numKeyValueHeads() * c.attentionHeadDim();
        projWidth = Math.max(c.inProjDim(), Math.max(c.intermediateSize(), qDim));
        try {
            ids = alloc((long) rows * Integer.BYTES);
            argmax = alloc((long) rows * Integer.BYTES);
            hidden = alloc((long) rows * c.hiddenSize() * Float.BYTES);
            normed = alloc((long) rows * c.hiddenSize() * act);
            proj = alloc((long) rows * projWidth * act);
            conv = alloc((long) rows * c.convDim() * act);
            y = alloc((long) rows * c.mambaDInner() * act);
            gated = alloc((long) rows * c.mambaDInner() * act);
            k = alloc((long) rows * kvDim * act);
            v = alloc((long) rows * kvDim * act);
            attn = alloc((long) rows * qDim * act);
            logits = alloc((long) rows * c.vocabSize() * act);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        convPtrs = hostArena.allocate(ValueLayout.ADDRESS, rows);
        ssmPtrs = hostArena.allocate(ValueLayout.ADDRESS, rows);
        kvStructs = n4j_kv_cache.allocateArray(rows, hostArena);
        hostLogits = hostArena.allocate((long) rows * c.vocabSize() * Float.BYTES, 64);
        hostLogitsRaw = act == Float.BYTES ? null : hostArena.allocate((long) rows * c.vocabSize() * act, 64);
        hostIds = hostArena.allocate(ValueLayout.JAVA_INT, rows);
    }

    /**
     * Bytes of backend memory a workspace of {@code rows} rows takes with activations of {@code actBytes} bytes
     * (the memory plan's activation and logits figures).
     */
    static long backendBytes(ModelConfig c, int rows, int actBytes) {
        long qDim = (long) c.numAttentionHeads() * c.attentionHeadDim();
        long kvDim = (long) c.numKeyValueHeads() * c.attentionHeadDim();
        long projWidth = Math.max(c.inProjDim(), Math.max(c.intermediateSize(), qDim));
        long perRow = 2L * Integer.BYTES + (long) Float.BYTES * c.hiddenSize()   // ids, argmax, the F32 residual stream
                + (long) actBytes * (c.hiddenSize() // normed
                + projWidth + c.convDim() + 2L * c.mambaDInner() + 2 * kvDim + qDim + c.vocabSize());
        return perRow * rows;
    }

    /** Copies the first {@code n} rows of {@link #logits} into {@link #hostLogits} as F32 (widening BF16 exactly). */
    void downloadLogits(int n) {
        long count = (long) n * vocab;
        if (hostLogitsRaw == null) {
            backend.download(hostLogits, logits, count * Float.BYTES);
            return;
        }
        backend.download(hostLogitsRaw, logits, count * act);
        for (long i = 0; i < count; i++) {
            short bits = hostLogitsRaw.getAtIndex(ValueLayout.JAVA_SHORT, i);
            hostLogits.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.intBitsToFloat((bits & 0xffff) << 16));
        }
    }

    /**
     * Backend memory of {@code bytes}; null when there are none: a model without attention (or Mamba, or MLP)
     * layers has zero-width buffers for them, which no kernel then touches.
     */
    private MemorySegment alloc(long bytes) {
        if (bytes == 0) {
            return null;
        }
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
