package org.nemotron4j.runtime;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.nemotron4j.DType;
import org.nemotron4j.Device;
import org.nemotron4j.NemotronException;
import org.nemotron4j.bindings.n4j_attn_dims;
import org.nemotron4j.bindings.n4j_kv_cache;
import org.nemotron4j.bindings.n4j_ssm_dims;
import org.nemotron4j.bindings.n4j_weight;
import org.nemotron4j.checkpoint.TensorInfo;

/**
 * Fuzzing finding: the C ABI trusts buffer sizes, and {@link Kernels} passed segments through unchecked, so a
 * caller of the public API could make native code read or write out of bounds. Every call now compares each
 * segment's size with the shape first; each case below gives one argument a byte too few (or a forged descriptor)
 * and must be refused naming the kernel and the argument, before the downcall.
 */
class KernelsBoundsTest {
    private Arena arena;
    private Backend backend;
    private Kernels k;

    @BeforeEach
    void open() {
        arena = Arena.ofShared();
        backend = Backend.create(Device.cpu().withThreads(1));
        k = new Kernels(backend);
    }

    @AfterEach
    void close() {
        backend.close();
        arena.close();
    }

    private MemorySegment f32(long n) {
        return arena.allocate(n * Float.BYTES, 64);
    }

    private NativeWeight weight(String name, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        MemorySegment data = f32(n);
        for (long i = 0; i < n; i++) {
            data.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.01f * (i % 7));
        }
        return NativeWeight.of(backend, arena, new TensorInfo(name, DType.F32, shape, data, Path.of("test")), 1f, 0f);
    }

    private static void refused(Executable call, String kernel, String argument) {
        NemotronException e = assertThrows(NemotronException.class, call);
        assertTrue(e.getMessage().contains(kernel) && e.getMessage().contains("argument " + argument),
                () -> "\"" + e.getMessage() + "\" should name " + kernel + " and argument " + argument);
    }

    @Test
    void matmulChecksXYAndTheWeightDescriptor() {
        NativeWeight w = weight("w", 8, 16); // y = x W^T: x [rows, 16], y [rows, 8]
        assertDoesNotThrow(() -> k.matmul(f32(3 * 16), 16, 3, w, f32(3 * 8), 8, false));
        assertDoesNotThrow(() -> k.matmul(f32(2 * 20 + 16), 20, 3, w, f32(3 * 8), 8, false)); // strided x
        refused(() -> k.matmul(f32(3 * 16 - 1), 16, 3, w, f32(3 * 8), 8, false), "n4j_matmul(w)", "x");
        refused(() -> k.matmul(f32(3 * 16), 16, 3, w, f32(3 * 8 - 1), 8, false), "n4j_matmul(w)", "y");
        refused(() -> k.matmul(f32(3 * 16), 16, 3, w, f32(3 * 8), 4, false), "n4j_matmul(w)", "y");
        refused(() -> k.matmulReluSquared(f32(3 * 16), 16, -1, w, f32(3 * 8), 8), "n4j_matmul(w)", "rows");
        refused(() -> k.matmul(MemorySegment.NULL, 16, 3, w, f32(3 * 8), 8, true), "n4j_matmul(w)", "x");
        // a descriptor forged to claim more rows than its memory holds
        MemorySegment forged = n4j_weight.allocate(arena);
        MemorySegment.copy(w.descriptor(), 0, forged, 0, forged.byteSize());
        n4j_weight.rows(forged, 4096);
        NativeWeight big = new NativeWeight(forged, w.tensor(), w.data(), false);
        refused(() -> k.matmul(f32(16), 16, 1, big, f32(4096), 4096, false), "n4j_matmul(w)", "weight");
        NativeWeight elsewhere = new NativeWeight(w.descriptor(), w.tensor(), f32(8 * 16), false);
        refused(() -> k.matmul(f32(16), 16, 1, elsewhere, f32(8), 8, false), "n4j_matmul(w)", "weight");
    }

    @Test
    void embeddingRmsnormAddReluArgmax() {
        NativeWeight table = weight("table", 10, 4);
        MemorySegment ids = arena.allocate(ValueLayout.JAVA_INT, 3);
        assertDoesNotThrow(() -> k.embedding(table, ids, 3, f32(12), 4));
        refused(() -> k.embedding(table, ids, 4, f32(16), 4), "n4j_embedding", "ids");
        refused(() -> k.embedding(table, ids, 3, f32(11), 4), "n4j_embedding", "out");

        NativeWeight norm = weight("norm", 4);
        assertDoesNotThrow(() -> k.rmsnorm(f32(8), 4, 2, 4, norm, 1e-5f, f32(8), 4));
        refused(() -> k.rmsnorm(f32(7), 4, 2, 4, norm, 1e-5f, f32(8), 4), "n4j_rmsnorm", "x");
        refused(() -> k.rmsnorm(f32(8), 4, 2, 4, norm, 1e-5f, f32(7), 4), "n4j_rmsnorm", "out");
        refused(() -> k.rmsnorm(f32(10), 5, 2, 5, norm, 1e-5f, f32(10), 5), "n4j_rmsnorm", "weight");

        assertDoesNotThrow(() -> k.add(f32(5), f32(5), f32(5), 5));
        refused(() -> k.add(f32(5), f32(4), f32(5), 5), "n4j_add", "b");
        refused(() -> k.add(f32(5), f32(5), f32(4), 5), "n4j_add", "y");
        refused(() -> k.reluSquared(f32(5), f32(4), 5), "n4j_relu_squared", "y");
        refused(() -> k.argmax(f32(10), 5, 2, 5, arena.allocate(ValueLayout.JAVA_INT, 1)), "n4j_argmax", "out");
        refused(() -> k.argmax(f32(9), 5, 2, 5, arena.allocate(ValueLayout.JAVA_INT, 2)), "n4j_argmax", "x");
    }

    @Test
    void mambaKernels() {
        int heads = 2;
        int headDim = 3;
        int groups = 1;
        int state = 4;
        int tokens = 2;
        int dInner = heads * headDim;
        int gs = groups * state;
        int convDim = dInner + 2 * gs;
        MemorySegment dims = n4j_ssm_dims.allocate(arena);
        n4j_ssm_dims.heads(dims, heads);
        n4j_ssm_dims.head_dim(dims, headDim);
        n4j_ssm_dims.groups(dims, groups);
        n4j_ssm_dims.state_dim(dims, state);
        n4j_ssm_dims.chunk_size(dims, 4);
        NativeWeight dtBias = weight("dt_bias", heads);
        NativeWeight aLog = weight("A_log", heads);
        NativeWeight d = weight("D", heads);
        MemorySegment ssm = f32((long) dInner * state);
        assertDoesNotThrow(() -> k.ssdChunkScan(dims, tokens, f32(tokens * dInner), dInner, f32(tokens * gs), gs,
                f32(tokens * gs), gs, f32(tokens * heads), heads, dtBias, aLog, d, ssm, f32(tokens * dInner), dInner));
        refused(() -> k.ssdChunkScan(dims, tokens, f32(tokens * dInner), dInner, f32(tokens * gs), gs,
                f32(tokens * gs), gs, f32(tokens * heads), heads, dtBias, aLog, d, f32((long) dInner * state - 1),
                f32(tokens * dInner), dInner), "n4j_ssd_chunk_scan", "ssm_state");
        refused(() -> k.ssmScanSequential(dims, tokens, f32(tokens * dInner), dInner, f32(tokens * gs - 1), gs,
                f32(tokens * gs), gs, f32(tokens * heads), heads, dtBias, aLog, d, ssm, f32(tokens * dInner), dInner),
                "n4j_ssm_scan_sequential", "B");
        refused(() -> k.ssdChunkScan(dims, tokens, f32(tokens * dInner), dInner, f32(tokens * gs), gs,
                f32(tokens * gs), gs, f32(tokens * heads), heads, weight("short", heads - 1), aLog, d, ssm,
                f32(tokens * dInner), dInner), "n4j_ssd_chunk_scan", "dt_bias");
        refused(() -> k.ssdChunkScan(arena.allocate(8), tokens, f32(tokens * dInner), dInner, f32(tokens * gs), gs,
                f32(tokens * gs), gs, f32(tokens * heads), heads, dtBias, aLog, d, ssm, f32(tokens * dInner), dInner),
                "n4j_ssd_chunk_scan", "dims");

        MemorySegment ptrs = arena.allocate(ValueLayout.ADDRESS, 2);
        ptrs.setAtIndex(ValueLayout.ADDRESS, 0, ssm);
        refused(() -> k.ssmDecode(dims, 2, f32(2 * dInner), dInner, f32(2 * gs), gs, f32(2 * gs), gs, f32(2 * heads),
                heads, dtBias, aLog, d, ptrs, f32(2 * dInner), dInner), "n4j_ssm_decode", "ssm_states[1]");

        NativeWeight conv = weight("conv1d.weight", convDim, 1, 4);
        NativeWeight bias = weight("conv1d.bias", convDim);
        assertDoesNotThrow(() -> k.conv1dPrefill(f32(tokens * convDim), convDim, tokens, convDim, conv, bias,
                f32(convDim * 4), true, f32(tokens * convDim), convDim));
        refused(() -> k.conv1dPrefill(f32(tokens * convDim), convDim, tokens, convDim, conv, bias,
                f32(convDim * 4 - 1), true, f32(tokens * convDim), convDim), "n4j_conv1d_prefill", "conv_state");
        refused(() -> k.conv1dPrefill(f32(tokens * convDim), convDim, tokens, convDim + 1, conv, bias,
                f32(convDim * 8), true, f32(tokens * convDim * 2), convDim + 1), "n4j_conv1d_prefill", "weight");
        refused(() -> k.conv1dDecode(1, f32(convDim), convDim, convDim, conv, bias, arena.allocate(4), true,
                f32(convDim), convDim), "n4j_conv1d_decode", "conv_states");

        NativeWeight gate = weight("norm", dInner);
        refused(() -> k.gatedRmsnorm(f32(tokens * dInner), dInner, f32(tokens * dInner - 1), dInner, tokens, dInner, groups,
                gate, 1e-5f, f32(tokens * dInner), dInner), "n4j_gated_rmsnorm", "z");
    }

    @Test
    void attentionKernelsCheckOperandsAndCacheCoverage() {
        int heads = 2;
        int kvHeads = 1;
        int headDim = 4;
        int tokens = 3;
        MemorySegment dims = n4j_attn_dims.allocate(arena);
        n4j_attn_dims.heads(dims, heads);
        n4j_attn_dims.kv_heads(dims, kvHeads);
        n4j_attn_dims.head_dim(dims, headDim);
        n4j_attn_dims.scale(dims, 0.5f);
        MemorySegment cache = n4j_kv_cache.allocate(arena);
        MemorySegment kBlocks = arena.allocate(ValueLayout.ADDRESS, 1);
        MemorySegment vBlocks = arena.allocate(ValueLayout.ADDRESS, 1);
        kBlocks.setAtIndex(ValueLayout.ADDRESS, 0, f32(4L * kvHeads * headDim));
        vBlocks.setAtIndex(ValueLayout.ADDRESS, 0, f32(4L * kvHeads * headDim));
        n4j_kv_cache.k_blocks(cache, kBlocks);
        n4j_kv_cache.v_blocks(cache, vBlocks);
        n4j_kv_cache.n_blocks(cache, 1);
        n4j_kv_cache.block_tokens(cache, 4);
        n4j_kv_cache.dtype(cache, DType.F32.nativeCode());
        int q = heads * headDim;
        int kv = kvHeads * headDim;
        assertDoesNotThrow(() -> k.attentionPrefill(dims, tokens, f32(tokens * q), q, f32(tokens * kv), kv,
                f32(tokens * kv), kv, cache, f32(tokens * q), q));
        refused(() -> k.attentionPrefill(dims, tokens, f32(tokens * q - 1), q, f32(tokens * kv), kv,
                f32(tokens * kv), kv, cache, f32(tokens * q), q), "n4j_attention_prefill", "q");
        n4j_kv_cache.length(cache, 2); // 2 cached + 3 new > the one block of 4 tokens
        refused(() -> k.attentionPrefill(dims, tokens, f32(tokens * q), q, f32(tokens * kv), kv,
                f32(tokens * kv), kv, cache, f32(tokens * q), q), "n4j_attention_prefill", "cache");
        refused(() -> k.attentionDecode(dims, 2, f32(2 * q), q, f32(2 * kv), kv, f32(2 * kv), kv, cache, f32(2 * q), q),
                "n4j_attention_decode", "caches");
        assertEquals(2, n4j_kv_cache.length(cache));
    }
}
