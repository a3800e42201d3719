package org.nemotron4j;

import org.nemotron4j.bindings.n4j_kv_cache;
import org.nemotron4j.checkpoint.BFloat16;
import org.nemotron4j.runtime.Backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * One sequence's KV cache of one attention layer, grown in blocks of {@link #BLOCK_TOKENS} tokens as tokens arrive
 * (memory proportional to the tokens used, not to the maximum context). Each block is
 * [BLOCK_TOKENS, kvHeads, headDim] F32 for K and the same for V, in backend memory; the {@code n4j_kv_cache}
 * descriptor and its block-pointer tables live in the session's arena. The pointer tables grow with the blocks
 * (doubling), so a huge {@code max_position_embeddings} costs nothing until tokens arrive.
 *
 * <p>Blocks are reference-counted so a forked session shares its parent's blocks. Kernels only write positions
 * at or after {@code length}, so only the block holding position {@code length} can be written while shared: it is
 * copied first (copy-on-write); full blocks stay shared for good. All calls happen under the model's lock.
 */
final class KvCache {
    static final int BLOCK_TOKENS = 256;

    /** A K block and a V block, shared by the caches that reference it. */
    static final class Block {
        final MemorySegment k;
        final MemorySegment v;
        int refs = 1;

        Block(MemorySegment k, MemorySegment v) {
            this.k = k;
            this.v = v;
        }
    }

    /** Block-pointer entries allocated at first (4 x 256 tokens); the tables double from there. */
    private static final int INITIAL_TABLE = 4;

    final MemorySegment descriptor;
    private final Arena arena;
    private MemorySegment kPointers;
    private MemorySegment vPointers;
    private int tableCapacity;
    private final List<Block> blocks = new ArrayList<>();
    private final long blockBytes;
    private final DType dtype;
    private final int maxBlocks;
    private int length;

    KvCache(Arena arena, ModelConfig c, DType dtype) {
        this.dtype = dtype;
        blockBytes = blockBytes(c, dtype);
        maxBlocks = Math.ceilDiv(c.maxPositionEmbeddings(), BLOCK_TOKENS);
        this.arena = arena;
        descriptor = n4j_kv_cache.allocate(arena);
        growTables(Math.min(INITIAL_TABLE, maxBlocks));
        n4j_kv_cache.block_tokens(descriptor, BLOCK_TOKENS);
        n4j_kv_cache.dtype(descriptor, dtype.nativeCode());
        sync();
    }

    /** Bytes of one K (or V) block of the given element type. */
    static long blockBytes(ModelConfig c, DType dtype) {
        return (long) BLOCK_TOKENS * c.numKeyValueHeads() * c.attentionHeadDim() * dtype.byteSize();
    }

    int length() {
        return length;
    }

    int blocks() {
        return blocks.size();
    }

    /**
     * Makes positions [length, tokens) writable: allocates the missing blocks and un-shares the block that holds
     * position {@code length} if another cache references it.
     */
    void ensureCapacity(Backend backend, int tokens) {
        int need = Math.ceilDiv(tokens, BLOCK_TOKENS);
        if (need > maxBlocks) {
            throw new NemotronException("KV cache: " + tokens + " tokens exceed the context of " + (long) maxBlocks * BLOCK_TOKENS);
        }
        int first = length / BLOCK_TOKENS;
        if (tokens > length && first < blocks.size() && blocks.get(first).refs > 1) {
            Block shared = blocks.get(first);
            Block own = allocBlock(backend);
            long used = (long) (length - first * BLOCK_TOKENS) * (blockBytes / BLOCK_TOKENS);
            if (used > 0) {
                backend.copy(own.k, shared.k, used);
                backend.copy(own.v, shared.v, used);
            }
            shared.refs--;
            set(first, own);
        }
        while (blocks.size() < need) {
            blocks.add(null);
            set(blocks.size() - 1, allocBlock(backend));
        }
        sync();
    }

    private Block allocBlock(Backend backend) {
        MemorySegment k = backend.alloc(blockBytes);
        try {
            return new Block(k, backend.alloc(blockBytes));
        } catch (RuntimeException e) {
            backend.free(k);
            throw e;
        }
    }

    /** Bytes of block-pointer tables this cache holds now (both tables; for tests of the lazy growth). */
    long tableBytes() {
        return 2L * tableCapacity * ValueLayout.ADDRESS.byteSize();
    }

    /** Makes the pointer tables hold at least {@code entries} blocks (doubling, at most {@code maxBlocks}). */
    private void growTables(int entries) {
        if (entries <= tableCapacity) {
            return;
        }
        int capacity = (int) Math.min(maxBlocks, Math.max((long) entries, 2L * tableCapacity));
        MemorySegment k = arena.allocate(ValueLayout.ADDRESS, capacity);
        MemorySegment v = arena.allocate(ValueLayout.ADDRESS, capacity);
        if (tableCapacity > 0) {
            MemorySegment.copy(kPointers, 0, k, 0, kPointers.byteSize());
            MemorySegment.copy(vPointers, 0, v, 0, vPointers.byteSize());
        }
        kPointers = k;
        vPointers = v;
        tableCapacity = capacity;
        n4j_kv_cache.k_blocks(descriptor, kPointers);
        n4j_kv_cache.v_blocks(descriptor, vPointers);
    }

    private void set(int i, Block b) {
        growTables(i + 1);
        blocks.set(i, b);
        kPointers.setAtIndex(ValueLayout.ADDRESS, i, b.k);
        vPointers.setAtIndex(ValueLayout.ADDRESS, i, b.v);
    }

    /** Records that {@code tokens} more positions were written by a kernel. */
    void advance(int tokens) {
        length += tokens;
        sync();
    }

    /** Makes this (empty) cache share every block of {@code other}: the KV part of a session fork. */
    void shareFrom(KvCache other) {
        if (!blocks.isEmpty()) {
            throw new IllegalStateException("shareFrom needs an empty cache");
        }
        for (Block b : other.blocks) {
            b.refs++;
            blocks.add(null);
            set(blocks.size() - 1, b);
        }
        length = other.length;
        sync();
    }

    private void sync() {
        n4j_kv_cache.n_blocks(descriptor, blocks.size());
        n4j_kv_cache.length(descriptor, length);
    }

    /**
     * Copies the cached K and V of positions [0, length), [length, kvHeads, headDim] each, to the host as floats
     * (BF16 caches widen exactly).
     */
    float[][] read(Backend backend) {
        long perToken = blockBytes / BLOCK_TOKENS;
        int perTokenElements = (int) (perToken / dtype.byteSize());
        float[] k = new float[length * perTokenElements];
        float[] v = new float[k.length];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(blockBytes, 64);
            for (int b = 0; b * BLOCK_TOKENS < length; b++) {
                int tokens = Math.min(BLOCK_TOKENS, length - b * BLOCK_TOKENS);
                int dst = b * BLOCK_TOKENS * perTokenElements;
                backend.download(host, blocks.get(b).k, tokens * perToken);
                toFloats(host, k, dst, tokens * perTokenElements);
                backend.download(host, blocks.get(b).v, tokens * perToken);
                toFloats(host, v, dst, tokens * perTokenElements);
            }
        }
        return new float[][] {k, v};
    }

    private void toFloats(MemorySegment host, float[] out, int offset, int n) {
        if (dtype == DType.F32) {
            MemorySegment.copy(host, ValueLayout.JAVA_FLOAT, 0, out, offset, n);
        } else {
            for (int i = 0; i < n; i++) {
                out[offset + i] = BFloat16.toFloat(host.getAtIndex(ValueLayout.JAVA_SHORT, i));
            }
        }
    }

    /** Stores floats in the cache's element type (BF16 rounds to nearest even, as the kernels' cache writes do). */
    private void fromFloats(float[] in, int offset, int n, MemorySegment host) {
        if (dtype == DType.F32) {
            MemorySegment.copy(in, offset, host, ValueLayout.JAVA_FLOAT, 0, n);
        } else {
            for (int i = 0; i < n; i++) {
                host.setAtIndex(ValueLayout.JAVA_SHORT, i, BFloat16.fromFloat(in[offset + i]));
            }
        }
    }

    /** Replaces the contents with {@code tokens} positions of K and V given as [tokens, kvHeads, headDim] floats. */
    void write(Backend backend, float[] k, float[] v, int tokens) {
        ensureCapacity(backend, tokens);
        long perToken = blockBytes / BLOCK_TOKENS;
        int perTokenElements = (int) (perToken / dtype.byteSize());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(blockBytes, 64);
            for (int b = 0; b * BLOCK_TOKENS < tokens; b++) {
                int n = Math.min(BLOCK_TOKENS, tokens - b * BLOCK_TOKENS);
                int src = b * BLOCK_TOKENS * perTokenElements;
                fromFloats(k, src, n * perTokenElements, host);
                backend.upload(blocks.get(b).k, host, n * perToken);
                fromFloats(v, src, n * perTokenElements, host);
                backend.upload(blocks.get(b).v, host, n * perToken);
            }
        }
        length = tokens;
        sync();
    }

    /** Releases this cache's references; blocks no other cache shares are freed. */
    void free(Backend backend) {
        for (Block b : blocks) {
            if (--b.refs == 0) {
                backend.free(b.k);
                backend.free(b.v);
            }
        }
        blocks.clear();
        length = 0;
        sync();
    }
}
