package org.nemotron4j;

import org.nemotron4j.chat.ChatTemplate;
import org.nemotron4j.checkpoint.Checkpoint;
import org.nemotron4j.checkpoint.NemotronHLayout;
import org.nemotron4j.checkpoint.SafetensorsFile;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.generate.GenerationConfig;
import org.nemotron4j.runtime.Backend;
import org.nemotron4j.runtime.Kernels;
import org.nemotron4j.runtime.NativeWeight;
import org.nemotron4j.quant.QuantPolicy;
import org.nemotron4j.quant.QuantType;
import org.nemotron4j.quant.Quantizer;
import org.nemotron4j.tokenizer.Tokenizer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A Nemotron-H model loaded from a Hugging Face checkpoint directory (config.json + model.safetensors, one file or
 * sharded) onto a device. On the CPU the weights stay in the memory-mapped files (zero-copy); on a GPU they are
 * uploaded once. Sessions ({@link #newSession()}) hold the per-sequence caches.
 *
 * <p>Thread-safe: forward passes of all sessions of a model are serialized on the model.
 */
public final class NemotronModel implements AutoCloseable {
    private final Checkpoint checkpoint;
    private final ModelConfig config;
    private final Backend backend;
    private final Kernels kernels;
    private final Arena arena = Arena.ofShared();
    private final List<NativeWeight> weights = new ArrayList<>();
    private final List<Layer> layers = new ArrayList<>();
    private final NativeWeight embeddings;
    private final NativeWeight finalNorm;
    private final NativeWeight lmHead;
    private final Workspace workspace;
    private final Forward forward;
    private final LoadOptions options;
    /** Quantize-on-load: module name (e.g. backbone.layers.0.mixer.in_proj) -> its type; empty when off. */
    private final Map<String, QuantType> quantizeOnLoad;
    private final DType kvCacheDtype;
    private final int prefillChunk;
    final ReentrantLock lock = new ReentrantLock();
    private final Set<Session> sessions = Collections.newSetFromMap(new IdentityHashMap<>());
    private volatile boolean closed;
    private volatile byte[] fingerprint;
    private volatile Tokenizer tokenizer;
    private volatile ChatTemplate chatTemplate;
    private volatile GenerationConfig generationConfig;

    private NemotronModel(Checkpoint checkpoint, Backend backend, LoadOptions options) {
        this.checkpoint = checkpoint;
        this.quantizeOnLoad = quantizeOnLoad(checkpoint, backend, options);
        this.config = quantizeOnLoad.isEmpty() ? checkpoint.config()
                : checkpoint.config().withQuantization(Optional.of(ModelConfig.Quantization.block(
                        options.quantize().type().id(),
                        quantizeOnLoad.entrySet().stream().collect(java.util.stream.Collectors.toMap(
                                e -> e.getKey(), e -> e.getValue().id(), (a, b) -> a, java.util.TreeMap::new)),
                        options.quantize().spec())));
        this.backend = backend;
        this.kernels = new Kernels(backend);
        this.options = options;
        // The CPU's KV cache follows the precision (F32 exact, BF16 fast); CUDA's is BF16 unless asked otherwise.
        this.kvCacheDtype = options.kvCacheDtype() != null ? options.kvCacheDtype()
                : backend.isCpu() && options.effectivePrecision() == Precision.EXACT ? DType.F32 : DType.BF16;
        try {
            long total = checkpoint.totalBytes();
            long[] done = {0};
            embeddings = weight("backbone.embeddings.weight", total, done);
            for (int i = 0; i < config.numHiddenLayers(); i++) {
                layers.add(buildLayer(i, total, done));
            }
            finalNorm = weight("backbone.norm_f.weight", total, done);
            lmHead = config.tieWordEmbeddings() ? embeddings : weight("lm_head.weight", total, done);
            prefillChunk = options.prefillChunk() > 0 ? options.prefillChunk() : defaultPrefillChunk();
            workspace = new Workspace(backend, config, prefillChunk);
            forward = new Forward(kernels, workspace, config);
        } catch (RuntimeException e) {
            freeWeights();
            arena.close();
            throw e;
        }
    }

    /**
     * The prefill chunk when LoadOptions leave it to the device: {@link LoadOptions#DEFAULT_PREFILL_CHUNK} on the
     * CPU; on CUDA {@link LoadOptions#DEFAULT_GPU_PREFILL_CHUNK}, reduced by {@link #fitPrefillChunk} to what the
     * device memory left after the weights allows (said on the logger when it is reduced).
     */
    private int defaultPrefillChunk() {
        if (backend.isCpu()) {
            return LoadOptions.DEFAULT_PREFILL_CHUNK;
        }
        long free = backend.totalMemory() - backend.allocatedBytes();
        long perRow = Workspace.backendBytes(config, 1, backend.activationBytes());
        int chunk = fitPrefillChunk(LoadOptions.DEFAULT_GPU_PREFILL_CHUNK, free, perRow);
        if (chunk < LoadOptions.DEFAULT_GPU_PREFILL_CHUNK) {
            System.getLogger("org.nemotron4j").log(System.Logger.Level.WARNING, "prefill chunk reduced from "
                    + LoadOptions.DEFAULT_GPU_PREFILL_CHUNK + " to " + chunk + " tokens: " + free / (1L << 20)
                    + " MiB of device memory are free after the weights, and the workspace may take a quarter ("
                    + perRow * chunk / (1L << 20) + " MiB at " + chunk + " tokens); LoadOptions.withPrefillChunk"
                    + " sets it");
        }
        return chunk;
    }

    /**
     * The largest of {@code wanted}, wanted/2, ... down to {@link LoadOptions#DEFAULT_PREFILL_CHUNK} whose workspace
     * ({@code bytesPerRow} per token) takes at most a quarter of {@code freeBytes}: the rest stays for KV caches and
     * states. Never below the CPU's chunk (a smaller one would not fit anything useful either).
     */
    static int fitPrefillChunk(int wanted, long freeBytes, long bytesPerRow) {
        int chunk = wanted;
        while (chunk > LoadOptions.DEFAULT_PREFILL_CHUNK && (long) chunk * bytesPerRow > freeBytes / 4) {
            chunk /= 2;
        }
        return Math.max(chunk, Math.min(wanted, LoadOptions.DEFAULT_PREFILL_CHUNK));
    }

    /** Loads a checkpoint directory on the CPU (all cores). */
    public static NemotronModel load(Path directory) {
        return load(directory, Device.cpu(), LoadOptions.defaults());
    }

    public static NemotronModel load(Path directory, Device device) {
        return load(directory, device, LoadOptions.defaults());
    }

    /**
     * Loads a checkpoint directory: reads and validates config.json and every tensor the config implies (names,
     * shapes, dtypes) before any pointer reaches native code, then prepares the weights on the device.
     */
    public static NemotronModel load(Path directory, Device device, LoadOptions options) {
        Checkpoint ckpt = Checkpoint.open(directory, options.memoryMap() ? SafetensorsFile.Access.MAP
                : SafetensorsFile.Access.READ);
        try {
            ckpt.validate();
            if (options.checkTensors()) {
                ckpt.checkTensors();
            }
            DType act = options.activationDtype() != null ? options.activationDtype()
                    : device.kind() == Device.Kind.CPU ? DType.F32 : DType.BF16;
            DType matmul = options.matmulDtype() != null ? options.matmulDtype()
                    : options.effectivePrecision() == Precision.FAST ? DType.BF16 : act;
            Backend backend = Backend.create(device, act, matmul, options.effectiveFp8Activations());
            try {
                return new NemotronModel(ckpt, backend, options);
            } catch (RuntimeException e) {
                backend.close();
                throw e;
            }
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
    }

    /**
     * The modules quantize-on-load quantizes and their types (the policy's, after the block-divisibility fallback);
     * empty when {@link LoadOptions#quantize()} is null. Refuses a block-quantized checkpoint.
     */
    private static Map<String, QuantType> quantizeOnLoad(Checkpoint checkpoint, Backend backend, LoadOptions options) {
        QuantPolicy policy = options.quantize();
        if (policy == null) {
            return Map.of();
        }
        ModelConfig c = checkpoint.config();
        if (c.quantization().map(ModelConfig.Quantization::isBlock).orElse(false)) {
            throw new NemotronException(checkpoint.directory() + " is already quantized (quant_algo \""
                    + c.quantization().get().algo() + "\"): load it without quantize-on-load (--quantize)");
        }
        Map<String, QuantType> modules = new java.util.LinkedHashMap<>();
        for (NemotronHLayout.Weight w : NemotronHLayout.weights(c)) {
            if (w.role().isLinear()) {
                policy.typeFor(w.role(), w.shape()[1]).ifPresent(t -> modules.put(w.module(), t));
            }
        }
        return modules;
    }

    /** A Linear weight block-quantized into backend memory this model owns (quantize-on-load). */
    private NativeWeight quantizedOnLoad(TensorInfo t, QuantType type, long total, long[] done) {
        if (t.shape().length != 2) {
            throw new NemotronException("tensor " + t.name() + " in " + t.file() + ": quantize-on-load needs a 2-D"
                    + " weight, got shape " + java.util.Arrays.toString(t.shape()));
        }
        int rows = Math.toIntExact(t.shape()[0]);
        int cols = Math.toIntExact(t.shape()[1]);
        float scale = 1f;
        if (t.dtype() == DType.F8_E4M3) {
            String base = t.name().substring(0, t.name().length() - "weight".length());
            scale = NativeWeight.scalar(checkpoint.tensor(base + "weight_scale"));
        }
        long bytes = rows * (type.quantsRowBytes(cols) + type.scalesRowBytes(cols));
        MemorySegment data = backend.alloc(bytes);
        NativeWeight w;
        try {
            if (backend.isCpu()) {
                Quantizer.quantizeInto(t, scale, type, rows, cols, data);
            } else {
                // quantized on the host, then uploaded
                try (Arena host = Arena.ofConfined()) {
                    MemorySegment staged = host.allocate(bytes, 64);
                    Quantizer.quantizeInto(t, scale, type, rows, cols, staged);
                    backend.upload(data, staged, bytes);
                }
            }
            w = NativeWeight.ofQuantizedBuffer(arena, t, data, type, rows, cols);
        } catch (RuntimeException e) {
            backend.free(data);
            throw e;
        }
        weights.add(w);
        done[0] += t.byteSize();
        if (options.progress() != null) {
            options.progress().update(done[0], total);
        }
        return w;
    }

    private NativeWeight weight(String name, long total, long[] done) {
        TensorInfo t = checkpoint.tensor(name);
        String module = name.substring(0, Math.max(0, name.lastIndexOf('.')));
        QuantType onLoad = quantizeOnLoad.get(module);
        if (onLoad != null && name.endsWith(".weight")) {
            return quantizedOnLoad(t, onLoad, total, done);
        }
        var blockType = config.quantization().flatMap(q -> q.blockType(module));
        if (blockType.isPresent() && name.endsWith(".weight")) {
            QuantType type = QuantType.of(blockType.get());
            TensorInfo scales = checkpoint.tensor(module + "." + QuantType.SCALES_SUFFIX);
            int rows = (int) t.shape()[0];
            int cols = (int) type.cols(t.shape()[1]);
            NativeWeight w = NativeWeight.ofQuantized(backend, arena, t, scales, type, rows, cols);
            weights.add(w);
            done[0] += t.byteSize() + scales.byteSize();
            if (options.progress() != null) {
                options.progress().update(done[0], total);
            }
            return w;
        }
        float scale = 1f;
        float inputScale = 0f;
        if (t.dtype() == DType.F8_E4M3) {
            String base = name.substring(0, name.length() - "weight".length());
            scale = NativeWeight.scalar(checkpoint.tensor(base + "weight_scale"));
            inputScale = checkpoint.find(base + "input_scale").map(NativeWeight::scalar).orElse(0f);
        }
        NativeWeight w = NativeWeight.of(backend, arena, t, scale, inputScale);
        weights.add(w);
        done[0] += t.byteSize();
        if (options.progress() != null) {
            options.progress().update(done[0], total);
        }
        return w;
    }

    private Layer buildLayer(int i, long total, long[] done) {
        String p = "backbone.layers." + i + ".";
        NativeWeight norm = weight(p + "norm.weight", total, done);
        String m = p + "mixer.";
        return switch (config.layers().get(i)) {
            case MAMBA -> new MambaLayer(i, config, arena, norm,
                    weight(m + "in_proj.weight", total, done),
                    weight(m + "conv1d.weight", total, done),
                    config.useConvBias() ? weight(m + "conv1d.bias", total, done) : null,
                    weight(m + "dt_bias", total, done),
                    weight(m + "A_log", total, done),
                    weight(m + "D", total, done),
                    weight(m + "norm.weight", total, done),
                    weight(m + "out_proj.weight", total, done));
            case ATTENTION -> new AttentionLayer(i, config, arena, norm,
                    weight(m + "q_proj.weight", total, done),
                    weight(m + "k_proj.weight", total, done),
                    weight(m + "v_proj.weight", total, done),
                    weight(m + "o_proj.weight", total, done));
            case MLP -> new MlpLayer(i, config, norm,
                    weight(m + "up_proj.weight", total, done),
                    weight(m + "down_proj.weight", total, done));
        };
    }

    public ModelConfig config() {
        return config;
    }

    public Device device() {
        return backend.device();
    }

    /** The native backend's description, e.g. {@code cpu avx2+fma 2 threads}. */
    public String backendName() {
        return backend.name();
    }

    /** The precision mode the model was loaded in ({@link LoadOptions#effectivePrecision()}). */
    public Precision precision() {
        return options.effectivePrecision();
    }

    public Path directory() {
        return checkpoint.directory();
    }

    /** Tokens per prefill step (the workspace's row count). */
    public int prefillChunk() {
        return prefillChunk;
    }

    /** Element type of the sessions' KV caches (see {@link LoadOptions#kvCacheDtype()}). */
    /** The element type of the activations between kernels (F32 or BF16; SSM states are always F32). */
    public DType activationDtype() {
        return backend.activationBytes() == 2 ? DType.BF16 : DType.F32;
    }

    public DType kvCacheDtype() {
        return kvCacheDtype;
    }

    /**
     * Calls {@code observer} with the input of every matrix multiplication of the forward passes that follow (null:
     * no more): calibration for quantization ({@link org.nemotron4j.quant.ImportanceMatrix}), not for serving. CPU
     * only (the activations must be host memory).
     */
    public void observeMatmulInputs(org.nemotron4j.runtime.MatmulObserver observer) {
        lock.lock();
        try {
            checkOpen();
            kernels.observeMatmulInputs(observer);
        } finally {
            lock.unlock();
        }
    }

    /** Bytes of backend memory allocated right now (weights on GPU, workspace, all sessions' caches). */
    public long allocatedBytes() {
        checkOpen();
        return backend.allocatedBytes();
    }

    /** The checkpoint's tokenizer (tokenizer.json + tokenizer_config.json), loaded on first use. */
    public Tokenizer tokenizer() {
        Tokenizer t = tokenizer;
        if (t == null) {
            synchronized (this) {
                if (tokenizer == null) {
                    tokenizer = Tokenizer.fromDirectory(checkpoint.directory());
                }
                t = tokenizer;
            }
        }
        return t;
    }

    /** The checkpoint's chat template (tokenizer_config.json's chat_template), loaded on first use. */
    public ChatTemplate chatTemplate() {
        ChatTemplate t = chatTemplate;
        if (t == null) {
            synchronized (this) {
                if (chatTemplate == null) {
                    chatTemplate = ChatTemplate.fromDirectory(checkpoint.directory());
                }
                t = chatTemplate;
            }
        }
        return t;
    }

    /** Generation defaults: generation_config.json (when present) and config.json's eos_token_id. */
    public GenerationConfig generationConfig() {
        GenerationConfig g = generationConfig;
        if (g == null) {
            synchronized (this) {
                if (generationConfig == null) {
                    generationConfig = GenerationConfig.load(checkpoint.directory());
                }
                g = generationConfig;
            }
        }
        return g;
    }

    /** A new sequence with empty caches. Close it to free them. */
    public Session newSession() {
        lock.lock();
        try {
            checkOpen();
            Session s = new Session(this);
            sessions.add(s);
            return s;
        } finally {
            lock.unlock();
        }
    }

    /**
     * A new session holding the state saved by {@link Session#snapshot}; the snapshot may come from this model on
     * another backend. A snapshot of another model, or a corrupted or truncated one, is refused with a clear error.
     */
    public Session restoreSession(java.io.InputStream in) {
        int[] pos = new int[1];
        SessionSnapshot.LayerState[] layers = SessionSnapshot.read(in, fingerprint(), config, pos);
        lock.lock();
        try {
            Session s = newSession();
            try {
                s.restore(layers, pos[0]);
                return s;
            } catch (RuntimeException e) {
                s.close();
                throw e;
            }
        } finally {
            lock.unlock();
        }
    }

    public Session restoreSession(byte[] snapshot) {
        return restoreSession(new java.io.ByteArrayInputStream(snapshot));
    }

    public Session restoreSession(Path file) {
        try (var in = java.nio.file.Files.newInputStream(file)) {
            return restoreSession(in);
        } catch (java.io.IOException e) {
            throw new NemotronException("cannot read the session snapshot " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * 32 bytes identifying the weights: SHA-256 over the config and, for every tensor in name order, its name,
     * dtype, shape and first and last 4 KiB. Snapshots carry it so they are only restored into the same model.
     */
    byte[] fingerprint() {
        byte[] f = fingerprint;
        if (f == null) {
            try {
                var sha = java.security.MessageDigest.getInstance("SHA-256");
                sha.update(config.toJson().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                var tensors = new ArrayList<>(checkpoint.tensors());
                tensors.sort(java.util.Comparator.comparing(TensorInfo::name));
                for (TensorInfo t : tensors) {
                    sha.update((t.name() + "|" + t.dtype() + "|" + java.util.Arrays.toString(t.shape()) + "|")
                            .getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    long n = t.byteSize();
                    long head = Math.min(4096, n);
                    sha.update(t.data().asSlice(0, head).toArray(ValueLayout.JAVA_BYTE));
                    sha.update(t.data().asSlice(n - Math.min(4096, n - head), Math.min(4096, n - head)).toArray(ValueLayout.JAVA_BYTE));
                }
                f = sha.digest();
                fingerprint = f;
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
        return f;
    }

    /**
     * One decode step for several sessions of this model in one batched forward pass: session b is fed
     * {@code tokens[b]}; returns the logits after it, one row per session. Sessions may be at different positions;
     * any session of the model may join or leave between steps. Every session is validated before anything changes.
     */
    public float[][] decode(java.util.List<Session> batch, int[] tokens) {
        Session[] arr = batch.toArray(new Session[0]);
        float[][] out = new float[arr.length][config.vocabSize()];
        Session.decodeBatch(arr, tokens, out, null);
        return out;
    }

    /**
     * {@link #decode(java.util.List, int[])} for greedy generation: returns, per session, the id with the largest
     * logit after its token (the lowest such id on ties) instead of the logits. The argmax runs on the backend, so
     * on a GPU only the ids cross to the host.
     */
    public int[] decodeGreedy(java.util.List<Session> batch, int[] tokens) {
        Session[] arr = batch.toArray(new Session[0]);
        int[] next = new int[arr.length];
        Session.decodeBatch(arr, tokens, null, next);
        return next;
    }

    void checkOpen() {
        if (closed) {
            throw new NemotronException("the model " + checkpoint.directory() + " is closed");
        }
    }

    Backend backend() {
        return backend;
    }

    void forget(Session s) {
        sessions.remove(s);
    }

    Optional<Layer> layer(int i) {
        return i >= 0 && i < layers.size() ? Optional.of(layers.get(i)) : Optional.empty();
    }

    /**
     * Prefill of ids[off, off+n) (n <= prefillChunk) for one session: all layers, then the logits of the last
     * position into {@code lastLogits} (if not null) and of every position into {@code allLogits} at
     * {@code allOffset} (if not null). Caller holds the lock and has validated the ids and the capacity.
     */
    void prefillChunk(Session s, int[] ids, int off, int n, float[] lastLogits, float[] allLogits, long allOffset) {
        Workspace ws = workspace;
        MemorySegment.copy(ids, off, ws.hostIds, ValueLayout.JAVA_INT, 0, n);
        backend.upload(ws.ids, ws.hostIds, (long) n * Integer.BYTES);
        int h = config.hiddenSize();
        kernels.embedding(embeddings, ws.ids, n, ws.hidden, h);
        for (Layer layer : layers) {
            layer.prefill(forward, s, n);
        }
        if (allLogits != null) {
            logits(0, n);
            MemorySegment.copy(ws.hostLogits, ValueLayout.JAVA_FLOAT, 0, allLogits, (int) allOffset, n * config.vocabSize());
            if (lastLogits != null) {
                System.arraycopy(allLogits, (int) (allOffset + (long) (n - 1) * config.vocabSize()), lastLogits, 0, config.vocabSize());
            }
        } else if (lastLogits != null) {
            logits(n - 1, 1);
            MemorySegment.copy(ws.hostLogits, ValueLayout.JAVA_FLOAT, 0, lastLogits, 0, config.vocabSize());
        }
    }

    /** Final norm + lm_head for rows [first, first+rows) of the residual stream, downloaded into ws.hostLogits (F32). */
    private void logits(int first, int rows) {
        lmHead(first, rows);
        workspace.downloadLogits(rows);
    }

    /** Final norm + lm_head for rows [first, first+rows) of the residual stream into ws.logits (backend memory). */
    private void lmHead(int first, int rows) {
        Workspace ws = workspace;
        int h = config.hiddenSize();
        int v = config.vocabSize();
        MemorySegment src = ws.hidden.asSlice((long) first * h * Float.BYTES);
        kernels.rmsnormMatmul(src, h, rows, finalNorm, (float) config.rmsNormEps(), ws.normed, h, lmHead, ws.logits, v);
    }

    /**
     * One decode step for a batch of sessions (row b = session b, token tokens[b]); logits of row b go to
     * {@code out[b]}. Caller holds the lock and has validated tokens and capacities. With {@code greedyOut}, returns
     * the first row whose chosen logit is NaN (its whole row is: the argmax skips NaN), or -1; else -1.
     */
    int decodeStep(Session[] batch, int[] tokens, float[][] out, int[] greedyOut) {
        Workspace ws = workspace;
        int n = batch.length;
        int v = config.vocabSize();
        // The step's calls are bracketed as one decode step: on CUDA a graph per (batch size, output kind, context
        // bucket), captured once and replayed. Inside it nothing comes back to the host; the downloads follow it.
        backend.beginStep(((long) n << 1) | (greedyOut != null ? 1 : 0), stepContext(batch), !options.cudaGraphs());
        boolean enqueued = false;
        try {
            MemorySegment.copy(tokens, 0, ws.hostIds, ValueLayout.JAVA_INT, 0, n);
            backend.upload(ws.ids, ws.hostIds, (long) n * Integer.BYTES);
            kernels.embedding(embeddings, ws.ids, n, ws.hidden, config.hiddenSize());
            for (Layer layer : layers) {
                layer.decode(forward, batch);
            }
            lmHead(0, n);
            if (greedyOut != null) {
                // argmax on the backend: n ids come back instead of n x vocab logits
                kernels.argmax(ws.logits, v, n, v, ws.argmax);
            }
            enqueued = true;
        } finally {
            if (!enqueued) {
                backend.abandonStep();
            }
        }
        backend.endStep();
        if (greedyOut != null) {
            backend.download(ws.hostIds, ws.argmax, (long) n * Integer.BYTES);
            MemorySegment.copy(ws.hostIds, ValueLayout.JAVA_INT, 0, greedyOut, 0, n);
            // the chosen logit of each row (one element each) tells a NaN row: no id may come from one
            for (int b = 0; b < n; b++) {
                long act = workspace.act;
                backend.download(ws.hostLogits, ws.logits.asSlice(((long) b * v + greedyOut[b]) * act, act), act);
                float chosen = act == Float.BYTES ? ws.hostLogits.get(ValueLayout.JAVA_FLOAT, 0)
                        : Float.intBitsToFloat((ws.hostLogits.get(ValueLayout.JAVA_SHORT, 0) & 0xffff) << 16);
                if (Float.isNaN(chosen)) {
                    return b;
                }
            }
            return -1;
        }
        workspace.downloadLogits(n);
        for (int b = 0; b < n; b++) {
            MemorySegment.copy(ws.hostLogits, ValueLayout.JAVA_FLOAT, (long) b * v * Float.BYTES, out[b], 0, v);
        }
        return -1;
    }

    /**
     * The context bound of a decode step: the longest sequence after it, rounded up to a power of two (at least
     * {@link #STEP_CONTEXT_MIN}, at most max_position_embeddings), so that a batch size has few graphs and
     * attention's work split stays close to the real lengths.
     */
    int stepContext(Session[] batch) {
        int longest = 1;
        for (Session s : batch) {
            longest = Math.max(longest, s.position() + 1);
        }
        int bound = Math.max(STEP_CONTEXT_MIN, Integer.highestOneBit(longest - 1) << 1);
        int max = config.maxPositionEmbeddings();
        return Math.max(longest, Math.min(bound, max));
    }

    /** The smallest context bound of a decode step (one KV block). */
    static final int STEP_CONTEXT_MIN = 256;

    /** Decode-step counters of this model's backend (CUDA graphs captured and replayed, steps run eagerly). */
    public DecodeStepStats decodeStepStats() {
        lock.lock();
        try {
            checkOpen();
            return backend.stepStats();
        } finally {
            lock.unlock();
        }
    }

    private void freeWeights() {
        for (NativeWeight w : weights) {
            if (w.uploaded()) {
                backend.free(w.data());
            }
        }
        weights.clear();
    }

    /** Closes every open session, frees the device memory and unmaps the checkpoint. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            for (Session s : new ArrayList<>(sessions)) {
                s.close();
            }
            closed = true;
            workspace.close();
            freeWeights();
            arena.close();
            backend.close();
            checkpoint.close();
        } finally {
            lock.unlock();
        }
    }
}
