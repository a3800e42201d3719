package org.nemotron4j.bench;

import org.nemotron4j.DType;
import org.nemotron4j.bindings.n4j_attn_dims;
import org.nemotron4j.bindings.n4j_kv_cache;
import org.nemotron4j.bindings.n4j_ssm_dims;
import org.nemotron4j.runtime.Kernels;
import org.nemotron4j.runtime.NativeWeight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;

/**
 * The named cases of {@link KernelBenchmark}: one kernel call on one model-sized shape, with the work it does
 * (FLOPs, bytes moved) so a time becomes a rate. Shapes are those of bench-medium (hidden 2048, MLP 7168, 64 Mamba
 * heads of 40, 8 groups, state 128, chunk 128, 16 query / 4 KV heads of 128, vocabulary 32000) and
 * NVIDIA-Nemotron-Nano-9B-v2 (hidden 4480, MLP 15680, 128 Mamba heads of 80, 8 groups, state 128, chunk 128,
 * 40 query / 8 KV heads of 128, vocabulary 131072); in_proj has 2*heads*headDim + 2*groups*state + heads rows.
 *
 * <p>Work counts the minimum: FLOPs are the multiply-adds of the algorithm (2 per FMA, causal halves only),
 * bytes are what must cross the memory bus at least once (weights, states and KV caches read, outputs written).
 * A case counts both where both matter; the report decides which one bounds it against the measured ceilings.
 *
 * <p>Per-layer data that a real forward pass reads once per token (matmul weights, Mamba states, conv states, KV
 * caches) is replicated up to {@value #COLD_SET_MIB} MiB and the benchmark cycles through the copies, so it
 * streams from DRAM as it does across a model's layers instead of staying in the last-level cache. Activations
 * are not replicated: in a forward pass the previous kernel has just written them, so prefill-sized activations
 * may well be cache-resident, and a memory-bound elementwise kernel can beat the DRAM copy rate.
 *
 * <p>The same cases run on a CUDA backend ({@code -p device=cuda:0}) with the same shapes, seeds and work counts.
 * Every buffer and weight is then device memory and the pointer tables and descriptor structs stay on the host,
 * as the C ABI wants ({@link KernelFixture}); no case reads or writes a buffer from Java, so nothing here changes
 * with the device. What the cases measure there: the CUDA kernel the library picks for the shape (GEMV for the 1-
 * and 8-row matmuls, the tensor-core GEMM for prefill; the chunked SSD scan; the KV-block attention kernels), plus
 * one launch and one stream synchronization per call (see {@link KernelBenchmark}). The {@value #COLD_SET_MIB} MiB
 * of replicas is still far more than the L2 cache of a GPU (50 MB on an H100), so per-layer data comes from HBM
 * there too, while prefill activations of a few MB may stay in L2. Decode cases with little work (argmax of one
 * row runs a single thread block; the batch-1 conv1d step moves a fraction of a MB) cannot fill a GPU and mostly
 * show the launch and synchronization latency; they are kept because the engine makes exactly these calls once per
 * token and layer.
 */
public enum KernelWorkload {
    MATMUL_DECODE_9B_UP_BF16(new Matmul(1, Model.NANO_9B.hidden, Model.NANO_9B.mlp, DType.BF16)),
    MATMUL_DECODE_9B_UP_E4M3(new Matmul(1, Model.NANO_9B.hidden, Model.NANO_9B.mlp, DType.F8_E4M3)),
    MATMUL_DECODE_MEDIUM_UP_BF16(new Matmul(1, Model.MEDIUM.hidden, Model.MEDIUM.mlp, DType.BF16)),
    MATMUL_DECODE_MEDIUM_LM_HEAD_BF16(new Matmul(1, Model.MEDIUM.hidden, Model.MEDIUM.vocab, DType.BF16)),
    MATMUL_BATCH8_9B_UP_BF16(new Matmul(8, Model.NANO_9B.hidden, Model.NANO_9B.mlp, DType.BF16)),
    MATMUL_BATCH8_MEDIUM_UP_BF16(new Matmul(8, Model.MEDIUM.hidden, Model.MEDIUM.mlp, DType.BF16)),
    MATMUL_PREFILL_9B_IN_PROJ_BF16(new Matmul(512, Model.NANO_9B.hidden, Model.NANO_9B.inProj(), DType.BF16)),
    MATMUL_PREFILL_MEDIUM_UP_BF16(new Matmul(512, Model.MEDIUM.hidden, Model.MEDIUM.mlp, DType.BF16)),
    MATMUL_PREFILL_MEDIUM_UP_E4M3(new Matmul(512, Model.MEDIUM.hidden, Model.MEDIUM.mlp, DType.F8_E4M3)),
    MATMUL_PREFILL_MEDIUM_IN_PROJ_BF16(new Matmul(512, Model.MEDIUM.hidden, Model.MEDIUM.inProj(), DType.BF16)),
    SSD_CHUNK_SCAN_MEDIUM(new SsdChunkScan(Model.MEDIUM, 512)),
    SSD_CHUNK_SCAN_9B(new SsdChunkScan(Model.NANO_9B, 512)),
    SSM_DECODE_MEDIUM(new SsmDecode(Model.MEDIUM, 1)),
    SSM_DECODE_9B(new SsmDecode(Model.NANO_9B, 1)),
    CONV1D_PREFILL_MEDIUM(new Conv1dPrefill(Model.MEDIUM, 512)),
    CONV1D_PREFILL_9B(new Conv1dPrefill(Model.NANO_9B, 512)),
    CONV1D_DECODE_MEDIUM(new Conv1dDecode(Model.MEDIUM, 1)),
    CONV1D_DECODE_9B(new Conv1dDecode(Model.NANO_9B, 1)),
    GATED_RMSNORM_PREFILL_MEDIUM(new GatedRmsnorm(Model.MEDIUM, 512)),
    GATED_RMSNORM_PREFILL_9B(new GatedRmsnorm(Model.NANO_9B, 512)),
    ATTENTION_PREFILL_MEDIUM(new AttentionPrefill(Model.MEDIUM, 512)),
    ATTENTION_PREFILL_9B(new AttentionPrefill(Model.NANO_9B, 512)),
    ATTENTION_DECODE_MEDIUM(new AttentionDecode(Model.MEDIUM, 4096)),
    ATTENTION_DECODE_9B(new AttentionDecode(Model.NANO_9B, 4096)),
    ATTENTION_DECODE_9B_32K(new AttentionDecode(Model.NANO_9B, 32768)),
    RMSNORM_PREFILL_MEDIUM(new Rmsnorm(Model.MEDIUM, 512)),
    RMSNORM_PREFILL_9B(new Rmsnorm(Model.NANO_9B, 512)),
    RELU_SQUARED_PREFILL_MEDIUM(new ReluSquared(Model.MEDIUM, 512)),
    ADD_PREFILL_MEDIUM(new Add(Model.MEDIUM, 512)),
    EMBEDDING_PREFILL_MEDIUM(new Embedding(Model.MEDIUM, 512)),
    ARGMAX_DECODE_9B(new Argmax(Model.NANO_9B, 1));

    /** Per-layer data is replicated up to this many MiB (see the class comment). */
    static final int COLD_SET_MIB = 256;
    /** Tokens per KV cache block, as the engine's cache uses. */
    static final int BLOCK_TOKENS = 256;
    private static final float EPS = 1e-5f;

    private final Spec spec;

    KernelWorkload(Spec spec) {
        this.spec = spec;
    }

    /** The shape in words, e.g. {@code x[1,4480] W[15680,4480] BF16 (140.5 MB)}. */
    public String shape() {
        return spec.shape();
    }

    /** Whether the case is an {@code n4j_matmul} (held to the BF16 gemm ceiling in fast mode). */
    public boolean isMatmul() {
        return spec instanceof Matmul;
    }

    /**
     * Whether the precision changes the case's kernel ({@code fast}, N4J_FLAG_BF16_MATMUL, where the CPU has
     * AVX512-BF16): the matmuls (inputs rounded to BF16, BF16 dot products) and decode attention over the BF16 cache
     * (query and probabilities rounded to BF16, BF16 dot products); every other case runs the same kernel in both.
     */
    public boolean dependsOnPrecision() {
        return spec instanceof Matmul || spec instanceof AttentionDecode;
    }

    /** Floating point operations of one call (0 when not counted). */
    public double flops() {
        return spec.flops();
    }

    /** Bytes one call must move to or from memory (0 when not counted). */
    public double bytes() {
        return spec.bytes();
    }

    /** Allocates the case's inputs in {@code f}; returns the calls to time, one per replica of the per-layer data. */
    Runnable[] calls(KernelFixture f) {
        return spec.calls(f);
    }

    /** How many copies of {@code bytes} of per-layer data fill the {@value #COLD_SET_MIB} MiB working set. */
    private static int replicas(double bytes) {
        return (int) Math.max(1, Math.ceil(COLD_SET_MIB * 1048576.0 / bytes));
    }

    private static String megabytes(double bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    /** The dimensions of a model that the cases take their shapes from. */
    enum Model {
        MEDIUM("medium", 2048, 7168, 32000, 64, 40, 8, 128, 128, 4, 16, 4, 128),
        NANO_9B("9B", 4480, 15680, 131072, 128, 80, 8, 128, 128, 4, 40, 8, 128);

        final String label;
        final int hidden;
        final int mlp;
        final int vocab;
        final int mambaHeads;
        final int mambaHeadDim;
        final int groups;
        final int state;
        final int chunk;
        final int convWidth;
        final int heads;
        final int kvHeads;
        final int headDim;

        Model(String label, int hidden, int mlp, int vocab, int mambaHeads, int mambaHeadDim, int groups, int state,
              int chunk, int convWidth, int heads, int kvHeads, int headDim) {
            this.label = label;
            this.hidden = hidden;
            this.mlp = mlp;
            this.vocab = vocab;
            this.mambaHeads = mambaHeads;
            this.mambaHeadDim = mambaHeadDim;
            this.groups = groups;
            this.state = state;
            this.chunk = chunk;
            this.convWidth = convWidth;
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.headDim = headDim;
        }

        int dInner() {
            return mambaHeads * mambaHeadDim;
        }

        int groupState() {
            return groups * state;
        }

        /** Channels of the Mamba conv1d: x, B and C. */
        int convChannels() {
            return dInner() + 2 * groupState();
        }

        /** Rows of the Mamba in_proj: z, xBC and dt. */
        int inProj() {
            return dInner() + convChannels() + mambaHeads;
        }

        /** Bytes of one sequence's SSM state, [heads, headDim, state] F32. */
        long ssmStateBytes() {
            return (long) dInner() * state * Float.BYTES;
        }

        String mambaShape() {
            return String.format(Locale.ROOT, "%s, %d heads x %d, %d groups, state %d", label, mambaHeads,
                    mambaHeadDim, groups, state);
        }

        String attentionShape() {
            return String.format(Locale.ROOT, "%s, %d q / %d kv heads x %d", label, heads, kvHeads, headDim);
        }

        MemorySegment ssmDims(Arena arena) {
            MemorySegment d = n4j_ssm_dims.allocate(arena);
            n4j_ssm_dims.heads(d, mambaHeads);
            n4j_ssm_dims.head_dim(d, mambaHeadDim);
            n4j_ssm_dims.groups(d, groups);
            n4j_ssm_dims.state_dim(d, state);
            n4j_ssm_dims.chunk_size(d, chunk);
            n4j_ssm_dims.reserved(d, 0);
            return d;
        }

        MemorySegment attnDims(Arena arena) {
            MemorySegment d = n4j_attn_dims.allocate(arena);
            n4j_attn_dims.heads(d, heads);
            n4j_attn_dims.kv_heads(d, kvHeads);
            n4j_attn_dims.head_dim(d, headDim);
            n4j_attn_dims.scale(d, (float) (1.0 / Math.sqrt(headDim)));
            return d;
        }

        /**
         * A KV cache of BF16 blocks of {@value #BLOCK_TOKENS} tokens covering {@code positions} positions, random
         * K and V, {@code length} of them marked as cached.
         */
        MemorySegment kvCache(KernelFixture f, int positions, int length) {
            int blocks = Math.ceilDiv(positions, BLOCK_TOKENS);
            long blockElements = (long) BLOCK_TOKENS * kvHeads * headDim;
            MemorySegment[] k = new MemorySegment[blocks];
            MemorySegment[] v = new MemorySegment[blocks];
            for (int b = 0; b < blocks; b++) {
                k[b] = f.values(DType.BF16, blockElements, -1f, 1f, 1f);
                v[b] = f.values(DType.BF16, blockElements, -1f, 1f, 1f);
            }
            MemorySegment c = n4j_kv_cache.allocate(f.arena());
            n4j_kv_cache.k_blocks(c, f.pointers(k));
            n4j_kv_cache.v_blocks(c, f.pointers(v));
            n4j_kv_cache.n_blocks(c, blocks);
            n4j_kv_cache.block_tokens(c, BLOCK_TOKENS);
            n4j_kv_cache.length(c, length);
            n4j_kv_cache.dtype(c, DType.BF16.nativeCode());
            return c;
        }

        /** The SSM parameters dt_bias in [-1, 0), A_log in [0, 2), D in [-1, 1), F32, one per head. */
        NativeWeight[] ssmParams(KernelFixture f) {
            return new NativeWeight[] {
                f.weight("dt_bias", DType.F32, -1f, 0f, mambaHeads),
                f.weight("A_log", DType.F32, 0f, 2f, mambaHeads),
                f.weight("D", DType.F32, -1f, 1f, mambaHeads)};
        }
    }

    /** A case: its shape, its work, and how to set it up. */
    private sealed interface Spec {
        String shape();

        double flops();

        double bytes();

        Runnable[] calls(KernelFixture f);
    }

    /**
     * {@code n4j_matmul}: y[rows, out] = x[rows, in] W[out, in]^T. FLOPs 2*rows*in*out; bytes the weights plus x
     * and y. FP8 weights carry scale 0.5.
     */
    private record Matmul(int rows, int in, int out, DType dtype) implements Spec {
        private double weightBytes() {
            return (double) out * in * dtype.byteSize();
        }

        @Override
        public String shape() {
            return String.format(Locale.ROOT, "x[%d,%d] W[%d,%d] %s (%s)", rows, in, out, in, dtype,
                    megabytes(weightBytes()));
        }

        @Override
        public double flops() {
            return 2.0 * rows * in * out;
        }

        @Override
        public double bytes() {
            return weightBytes() + 4.0 * rows * (in + out);
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            MemorySegment x = f.floats((long) rows * in);
            MemorySegment y = f.zeros((long) rows * out * Float.BYTES);
            float scale = dtype == DType.F8_E4M3 ? 0.5f : 1f;
            Runnable[] calls = new Runnable[replicas(weightBytes())];
            for (int i = 0; i < calls.length; i++) {
                NativeWeight w = f.scaledWeight("weight", dtype, scale, -1f, 1f, out, in);
                calls[i] = () -> k.matmul(x, in, rows, w, y, out, false);
            }
            return calls;
        }
    }

    /**
     * {@code n4j_ssd_chunk_scan} over {@code tokens} tokens of one sequence (dt in [-4, 0) before bias and
     * softplus). FLOPs of the SSD form per chunk of L tokens: C B^T per group (causal half, 2*state per pair),
     * and per head the output from the incoming state and the state update (2*headDim*state per token each) and
     * the intra-chunk product (causal half, 2*headDim per pair). Bytes: x, B, C, dt, y and the state in and out.
     */
    private record SsdChunkScan(Model m, int tokens) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "T=%d, %s, chunk %d", tokens, m.mambaShape(), m.chunk);
        }

        @Override
        public double flops() {
            double total = 0;
            for (int c0 = 0; c0 < tokens; c0 += m.chunk) {
                double len = Math.min(m.chunk, tokens - c0);
                double pairs = len * (len + 1) / 2;
                total += m.groups * pairs * 2.0 * m.state
                        + m.mambaHeads * (len * 4.0 * m.mambaHeadDim * m.state + pairs * 2.0 * m.mambaHeadDim);
            }
            return total;
        }

        @Override
        public double bytes() {
            return 4.0 * tokens * (2.0 * m.dInner() + 2.0 * m.groupState() + m.mambaHeads) + 2.0 * m.ssmStateBytes();
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            MemorySegment dims = m.ssmDims(f.arena());
            int hp = m.dInner();
            int gn = m.groupState();
            int h = m.mambaHeads;
            MemorySegment x = f.floats((long) tokens * hp);
            MemorySegment b = f.floats((long) tokens * gn);
            MemorySegment c = f.floats((long) tokens * gn);
            MemorySegment dt = f.floats((long) tokens * h, -4f, 0f);
            MemorySegment y = f.zeros((long) tokens * hp * Float.BYTES);
            MemorySegment state = f.zeros(m.ssmStateBytes());
            NativeWeight[] p = m.ssmParams(f);
            return new Runnable[] {() -> k.ssdChunkScan(dims, tokens, x, hp, b, gn, c, gn, dt, h, p[0], p[1], p[2],
                    state, y, hp)};
        }
    }

    /** {@code n4j_ssm_decode}: one token for {@code batch} sequences. Bytes: the states read and written. */
    private record SsmDecode(Model m, int batch) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "batch %d, %s (state %s)", batch, m.mambaShape(),
                    megabytes(m.ssmStateBytes()));
        }

        @Override
        public double flops() {
            return 4.0 * batch * m.dInner() * m.state;
        }

        @Override
        public double bytes() {
            return 2.0 * batch * m.ssmStateBytes();
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            MemorySegment dims = m.ssmDims(f.arena());
            int hp = m.dInner();
            int gn = m.groupState();
            int h = m.mambaHeads;
            MemorySegment x = f.floats((long) batch * hp);
            MemorySegment b = f.floats((long) batch * gn);
            MemorySegment c = f.floats((long) batch * gn);
            MemorySegment dt = f.floats((long) batch * h, -4f, 0f);
            MemorySegment y = f.zeros((long) batch * hp * Float.BYTES);
            NativeWeight[] p = m.ssmParams(f);
            Runnable[] calls = new Runnable[replicas(bytes())];
            for (int i = 0; i < calls.length; i++) {
                MemorySegment[] states = new MemorySegment[batch];
                for (int s = 0; s < batch; s++) {
                    states[s] = f.zeros(m.ssmStateBytes());
                }
                MemorySegment pointers = f.pointers(states);
                calls[i] = () -> k.ssmDecode(dims, batch, x, hp, b, gn, c, gn, dt, h, p[0], p[1], p[2], pointers, y, hp);
            }
            return calls;
        }
    }

    /**
     * {@code n4j_conv1d_prefill} with SiLU over the Mamba conv channels (x, B, C) of {@code tokens} tokens, BF16
     * weights and bias. Bytes: x read, out written.
     */
    private record Conv1dPrefill(Model m, int tokens) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "T=%d, %s %d channels, width %d", tokens, m.label, m.convChannels(),
                    m.convWidth);
        }

        @Override
        public double flops() {
            return 2.0 * tokens * m.convChannels() * m.convWidth;
        }

        @Override
        public double bytes() {
            return 8.0 * tokens * m.convChannels();
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            int ch = m.convChannels();
            MemorySegment x = f.floats((long) tokens * ch);
            MemorySegment out = f.zeros((long) tokens * ch * Float.BYTES);
            MemorySegment state = f.zeros((long) ch * m.convWidth * Float.BYTES);
            NativeWeight w = f.weight("conv1d.weight", DType.BF16, -0.5f, 0.5f, ch, 1, m.convWidth);
            NativeWeight bias = f.weight("conv1d.bias", DType.BF16, -0.5f, 0.5f, ch);
            return new Runnable[] {() -> k.conv1dPrefill(x, ch, tokens, ch, w, bias, state, true, out, ch)};
        }
    }

    /**
     * {@code n4j_conv1d_decode} with SiLU: one token for {@code batch} sequences. Bytes: the conv states read and
     * written and the BF16 weights read (both per layer).
     */
    private record Conv1dDecode(Model m, int batch) implements Spec {
        private double stateBytes() {
            return (double) m.convChannels() * m.convWidth * Float.BYTES;
        }

        @Override
        public String shape() {
            return String.format(Locale.ROOT, "batch %d, %s %d channels, width %d", batch, m.label, m.convChannels(),
                    m.convWidth);
        }

        @Override
        public double flops() {
            return 2.0 * batch * m.convChannels() * m.convWidth;
        }

        @Override
        public double bytes() {
            return 2.0 * batch * stateBytes() + 2.0 * m.convChannels() * (m.convWidth + 1);
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            int ch = m.convChannels();
            MemorySegment x = f.floats((long) batch * ch);
            MemorySegment out = f.zeros((long) batch * ch * Float.BYTES);
            Runnable[] calls = new Runnable[replicas(bytes())];
            for (int i = 0; i < calls.length; i++) {
                NativeWeight w = f.weight("conv1d.weight", DType.BF16, -0.5f, 0.5f, ch, 1, m.convWidth);
                NativeWeight bias = f.weight("conv1d.bias", DType.BF16, -0.5f, 0.5f, ch);
                MemorySegment[] states = new MemorySegment[batch];
                for (int s = 0; s < batch; s++) {
                    states[s] = f.zeros((long) stateBytes());
                }
                MemorySegment pointers = f.pointers(states);
                calls[i] = () -> k.conv1dDecode(batch, x, ch, ch, w, bias, pointers, true, out, ch);
            }
            return calls;
        }
    }

    /**
     * {@code n4j_gated_rmsnorm} of the Mamba output: rows of dInner in {@code groups} groups. Bytes: y and z read,
     * out written.
     */
    private record GatedRmsnorm(Model m, int rows) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "%d rows x %d, %d groups (%s)", rows, m.dInner(), m.groups, m.label);
        }

        @Override
        public double flops() {
            return 0;
        }

        @Override
        public double bytes() {
            return 12.0 * rows * m.dInner();
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            int dim = m.dInner();
            MemorySegment y = f.floats((long) rows * dim);
            MemorySegment z = f.floats((long) rows * dim);
            MemorySegment out = f.zeros((long) rows * dim * Float.BYTES);
            NativeWeight w = f.weight("norm.weight", DType.BF16, 0.5f, 1.5f, dim);
            return new Runnable[] {() -> k.gatedRmsnorm(y, dim, z, dim, rows, dim, m.groups, w, EPS, out, dim)};
        }
    }

    /**
     * {@code n4j_attention_prefill} of {@code tokens} new tokens into an empty BF16 cache. FLOPs
     * 4*heads*headDim*(T*ctx + T*T/2) with ctx = 0 (QK^T and PV over the causal half). Bytes: q, k, v and out,
     * and the K and V rows written to the cache.
     */
    private record AttentionPrefill(Model m, int tokens) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "T=%d, %s, BF16 KV", tokens, m.attentionShape());
        }

        @Override
        public double flops() {
            return 4.0 * m.heads * m.headDim * ((double) tokens * tokens / 2);
        }

        @Override
        public double bytes() {
            return 4.0 * tokens * (2.0 * m.heads + 2.0 * m.kvHeads) * m.headDim
                    + 2.0 * tokens * m.kvHeads * m.headDim * 2;
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            MemorySegment dims = m.attnDims(f.arena());
            int qd = m.heads * m.headDim;
            int kvd = m.kvHeads * m.headDim;
            MemorySegment q = f.floats((long) tokens * qd);
            MemorySegment kk = f.floats((long) tokens * kvd);
            MemorySegment v = f.floats((long) tokens * kvd);
            MemorySegment out = f.zeros((long) tokens * qd * Float.BYTES);
            MemorySegment cache = m.kvCache(f, tokens, 0);
            return new Runnable[] {() -> k.attentionPrefill(dims, tokens, q, qd, kk, kvd, v, kvd, cache, out, qd)};
        }
    }

    /**
     * {@code n4j_attention_decode} of one sequence whose new token is position {@code context - 1}: it attends to
     * {@code context} positions. Bytes: the BF16 K and V of those positions read.
     */
    private record AttentionDecode(Model m, int context) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "ctx=%d, %s, BF16 KV (%s)", context, m.attentionShape(),
                    megabytes(bytes()));
        }

        @Override
        public double flops() {
            return 4.0 * m.heads * m.headDim * context;
        }

        @Override
        public double bytes() {
            return 2.0 * context * m.kvHeads * m.headDim * 2;
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            MemorySegment dims = m.attnDims(f.arena());
            int qd = m.heads * m.headDim;
            int kvd = m.kvHeads * m.headDim;
            MemorySegment q = f.floats(qd);
            MemorySegment kk = f.floats(kvd);
            MemorySegment v = f.floats(kvd);
            MemorySegment out = f.zeros((long) qd * Float.BYTES);
            Runnable[] calls = new Runnable[replicas(bytes())];
            for (int i = 0; i < calls.length; i++) {
                MemorySegment cache = m.kvCache(f, context, context - 1);
                calls[i] = () -> k.attentionDecode(dims, 1, q, qd, kk, kvd, v, kvd, cache, out, qd);
            }
            return calls;
        }
    }

    /** {@code n4j_rmsnorm} of the residual stream. Bytes: x read, out written. */
    private record Rmsnorm(Model m, int rows) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "%d rows x %d (%s hidden)", rows, m.hidden, m.label);
        }

        @Override
        public double flops() {
            return 0;
        }

        @Override
        public double bytes() {
            return 8.0 * rows * m.hidden;
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            int dim = m.hidden;
            MemorySegment x = f.floats((long) rows * dim);
            MemorySegment out = f.zeros((long) rows * dim * Float.BYTES);
            NativeWeight w = f.weight("norm.weight", DType.BF16, 0.5f, 1.5f, dim);
            return new Runnable[] {() -> k.rmsnorm(x, dim, rows, dim, w, EPS, out, dim)};
        }
    }

    /** {@code n4j_relu_squared} in place over the MLP activations, as the MLP runs it. Bytes: read and written. */
    private record ReluSquared(Model m, int rows) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "%d rows x %d (%s MLP), in place", rows, m.mlp, m.label);
        }

        @Override
        public double flops() {
            return 0;
        }

        @Override
        public double bytes() {
            return 8.0 * rows * m.mlp;
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            long n = (long) rows * m.mlp;
            MemorySegment x = f.floats(n);
            return new Runnable[] {() -> k.reluSquared(x, x, n)};
        }
    }

    /** {@code n4j_add} of two residual-stream blocks. Bytes: a and b read, y written. */
    private record Add(Model m, int rows) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "%d rows x %d (%s hidden)", rows, m.hidden, m.label);
        }

        @Override
        public double flops() {
            return 0;
        }

        @Override
        public double bytes() {
            return 12.0 * rows * m.hidden;
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            long n = (long) rows * m.hidden;
            MemorySegment a = f.floats(n);
            MemorySegment b = f.floats(n);
            MemorySegment y = f.zeros(n * Float.BYTES);
            return new Runnable[] {() -> k.add(a, b, y, n)};
        }
    }

    /** {@code n4j_embedding} of {@code tokens} random ids from a BF16 table. Bytes: the rows read, out written. */
    private record Embedding(Model m, int tokens) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "%d ids, table[%d,%d] BF16 (%s)", tokens, m.vocab, m.hidden, m.label);
        }

        @Override
        public double flops() {
            return 0;
        }

        @Override
        public double bytes() {
            return 6.0 * tokens * m.hidden;
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            MemorySegment ids = f.ints(tokens, m.vocab);
            MemorySegment out = f.zeros((long) tokens * m.hidden * Float.BYTES);
            NativeWeight table = f.weight("embeddings", DType.BF16, -1f, 1f, m.vocab, m.hidden);
            return new Runnable[] {() -> k.embedding(table, ids, tokens, out, m.hidden)};
        }
    }

    /** {@code n4j_argmax} of F32 logits rows (greedy decoding). Bytes: the logits read. */
    private record Argmax(Model m, int rows) implements Spec {
        @Override
        public String shape() {
            return String.format(Locale.ROOT, "%d x %d logits (%s vocabulary)", rows, m.vocab, m.label);
        }

        @Override
        public double flops() {
            return 0;
        }

        @Override
        public double bytes() {
            return 4.0 * rows * m.vocab;
        }

        @Override
        public Runnable[] calls(KernelFixture f) {
            Kernels k = f.kernels();
            MemorySegment x = f.floats((long) rows * m.vocab, -10f, 10f);
            MemorySegment out = f.zeros((long) rows * Integer.BYTES);
            return new Runnable[] {() -> k.argmax(x, m.vocab, rows, m.vocab, out)};
        }
    }
}
