package org.nemotron4j;

import org.nemotron4j.sampling.Sampler;

import org.nemotron4j.checkpoint.BFloat16;

import org.nemotron4j.generate.Generation;
import org.nemotron4j.generate.GenerationStream;
import org.nemotron4j.generate.TokenModel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One sequence being processed by a model: its caches (conv + F32 SSM state per Mamba layer, a block-grown KV
 * cache per attention layer) in native memory, and its position. {@link #prefill} feeds a prompt in chunks of the
 * model's prefill size; {@link #decode} feeds one token with the recurrent step. Close it to free its memory;
 * a closed session throws on use.
 *
 * <p>Bad input (token ids out of range, a prompt beyond the context) is rejected before any state changes, so the
 * session stays usable. If a native kernel fails mid-way, the session is marked broken and throws on further use.
 */
public final class Session implements AutoCloseable, TokenModel {
    private final NemotronModel model;
    private final ModelConfig config;
    private final Arena arena = Arena.ofShared();
    private final MambaState[] mamba;
    private final KvCache[] kv;
    private int position;
    private boolean closed;
    private String broken;

    Session(NemotronModel model) {
        this.model = model;
        this.config = model.config();
        int layers = config.numHiddenLayers();
        mamba = new MambaState[layers];
        kv = new KvCache[layers];
        try {
            for (int i = 0; i < layers; i++) {
                switch (config.layers().get(i)) {
                    case MAMBA -> mamba[i] = new MambaState(model.backend(), config);
                    case ATTENTION -> kv[i] = new KvCache(arena, config, model.kvCacheDtype());
                    case MLP -> { }
                }
            }
        } catch (RuntimeException e) {
            freeAll();
            throw e;
        }
    }

    public NemotronModel model() {
        return model;
    }

    /** Tokens consumed so far. */
    @Override
    public int position() {
        return position;
    }

    /** The largest number of tokens this session can hold (max_position_embeddings). */
    @Override
    public int maxPositions() {
        return config.maxPositionEmbeddings();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    public boolean isClosed() {
        return closed;
    }

    MambaState mambaState(int layer) {
        return mamba[layer];
    }

    KvCache kvCache(int layer) {
        return kv[layer];
    }

    /** Feeds {@code ids} and returns the logits after the last one. */
    public float[] prefill(int... ids) {
        float[] last = new float[config.vocabSize()];
        run(ids, last, null);
        return last;
    }

    /** Feeds {@code ids} and returns the logits after every one, row-major [ids.length, vocab]. */
    public float[] prefillAll(int... ids) {
        long size = (long) ids.length * config.vocabSize();
        if (size > Integer.MAX_VALUE - 8) {
            throw new NemotronException("prefillAll: " + ids.length + " x " + config.vocabSize()
                    + " logits do not fit in one array; use prefill (last logits) or shorter calls");
        }
        float[] all = new float[(int) size];
        run(ids, null, all);
        return all;
    }

    /** Feeds one token with the recurrent decode step and returns the logits after it. */
    public float[] decode(int token) {
        float[][] out = {new float[config.vocabSize()]};
        decodeBatch(new Session[] {this}, new int[] {token}, out, null);
        return out[0];
    }

    /**
     * Feeds one token with the recurrent decode step and returns the id with the largest logit after it (the
     * lowest such id on ties), computed on the backend: on a GPU only the id crosses to the host.
     */
    public int decodeGreedy(int token) {
        int[] next = new int[1];
        decodeBatch(new Session[] {this}, new int[] {token}, null, next);
        return next[0];
    }

    /**
     * Feeds tokens for the generation loop: one token after the prompt goes through the recurrent decode step,
     * anything else through prefill. Writes the logits after the last token into {@code logitsOut[0, vocab)}.
     */
    @Override
    public void feed(int[] tokens, float[] logitsOut) {
        if (logitsOut == null || logitsOut.length < config.vocabSize()) {
            throw new NemotronException("feed: logitsOut must hold " + config.vocabSize() + " values");
        }
        float[] out = logitsOut.length == config.vocabSize() ? logitsOut : new float[config.vocabSize()];
        if (tokens != null && tokens.length == 1 && position > 0) {
            decodeBatch(new Session[] {this}, tokens, new float[][] {out}, null);
        } else {
            run(tokens, out, null);
        }
        if (out != logitsOut) {
            System.arraycopy(out, 0, logitsOut, 0, out.length);
        }
    }

    /**
     * Starts generating a reply to a chat request with the checkpoint's tokenizer, chat template and generation
     * defaults; the stream yields text deltas (reasoning and answer channels) and ends with the finish reason and
     * usage. Iterate it on one thread; {@link GenerationStream#cancel()} may be called from any thread.
     * The conversation is rendered in full and fed from this session's current position, so use a fresh session
     * (or a fork of one holding a shared prefix) for each request.
     */
    public GenerationStream stream(ChatRequest request) {
        return Generation.chat(this, model.tokenizer(), model.chatTemplate(), request, model.generationConfig());
    }

    /** {@link #stream} run to the end: the reasoning, the answer, tool calls, finish reason and usage. */
    public GenerationResult generate(ChatRequest request) {
        try (GenerationStream s = stream(request)) {
            return s.collect();
        }
    }

    /**
     * Greedy continuation: argmax of the logits after the prompt, fed back {@code n} times. Returns the n ids. The
     * prompt and the n - 1 ids fed back must fit in the context: that is checked before anything runs. NaN logits
     * are an error, never an id.
     */
    public int[] generateGreedy(int[] prompt, int n) {
        if (n < 0) {
            throw new NemotronException("number of tokens to generate must be >= 0, got " + n);
        }
        if (prompt == null) {
            throw new NemotronException("generateGreedy: prompt is null");
        }
        long needed = (long) prompt.length + Math.max(n - 1, 0);
        if (position + needed > config.maxPositionEmbeddings()) {
            throw new NemotronException("generateGreedy: a prompt of " + prompt.length + " tokens and n = " + n
                    + " generated tokens need " + needed + " positions, but the session at position " + position
                    + " has room for " + (config.maxPositionEmbeddings() - position) + " (max_position_embeddings = "
                    + config.maxPositionEmbeddings() + ")");
        }
        int[] out = new int[n];
        if (n == 0) {
            if (prompt.length > 0) {
                prefill(prompt);
            }
            return out;
        }
        float[] first = prefill(prompt);
        Sampler.checkNoNaN(first, first.length);
        out[0] = argmax(first);
        for (int i = 1; i < n; i++) {
            out[i] = decodeGreedy(out[i - 1]);
        }
        return out;
    }

    /** Index of the largest logit, the lowest on ties; NaNs are skipped (0 when all are NaN), as n4j_argmax does. */
    static int argmax(float[] logits) {
        int best = -1;
        for (int i = 0; i < logits.length; i++) {
            if (!Float.isNaN(logits[i]) && (best < 0 || logits[i] > logits[best])) {
                best = i;
            }
        }
        return Math.max(best, 0);
    }

    /**
     * One decode step for several sessions of the same model at once (one batched forward); logits of session b
     * go to out[b]. Every session is validated before any changes.
     */
    /** One batched decode step: logits into {@code out[b]}, or (when {@code out} is null) argmax ids into {@code greedy[b]}. */
    static void decodeBatch(Session[] batch, int[] tokens, float[][] out, int[] greedy) {
        if (batch.length == 0) {
            return;
        }
        int outputs = out != null ? out.length : greedy.length;
        if (tokens.length != batch.length || outputs != batch.length) {
            throw new NemotronException("decodeBatch: " + batch.length + " sessions, " + tokens.length + " tokens, " + outputs + " outputs");
        }
        NemotronModel model = batch[0].model;
        model.lock.lock();
        try {
            model.checkOpen();
            if (batch.length > model.prefillChunk()) {
                throw new NemotronException("decodeBatch: batch of " + batch.length + " exceeds the model's " + model.prefillChunk() + " rows");
            }
            for (int b = 0; b < batch.length; b++) {
                Session s = batch[b];
                if (s.model != model) {
                    throw new NemotronException("decodeBatch: session " + b + " belongs to another model");
                }
                for (int c = 0; c < b; c++) {
                    if (batch[c] == s) {
                        throw new NemotronException("decodeBatch: session " + b + " appears twice");
                    }
                }
                s.checkUsable();
                s.checkIds(new int[] {tokens[b]});
                s.checkRoom(1);
                if (out != null && (out[b] == null || out[b].length != s.config.vocabSize())) {
                    throw new NemotronException("decodeBatch: output " + b + " must have " + s.config.vocabSize() + " elements");
                }
            }
            for (Session s : batch) {
                s.reserve(s.position + 1);
            }
            int nanRow;
            try {
                nanRow = model.decodeStep(batch, tokens, out, greedy);
            } catch (RuntimeException e) {
                for (Session s : batch) {
                    s.broken = e.getMessage();
                }
                throw e;
            }
            for (Session s : batch) {
                s.position++;
            }
            if (nanRow >= 0) {
                // the token was fed (the state is consistent), but no id may be taken from a NaN row
                throw new NemotronException("decode of session " + nanRow + " of " + batch.length + ": "
                        + Sampler.nanLogits(batch[nanRow].config.vocabSize(), batch[nanRow].config.vocabSize(), 0)
                        .getMessage());
            }
        } finally {
            model.lock.unlock();
        }
    }

    private void run(int[] ids, float[] last, float[] all) {
        model.lock.lock();
        try {
            model.checkOpen();
            checkUsable();
            if (ids == null || ids.length == 0) {
                throw new NemotronException("prefill: no tokens given");
            }
            checkIds(ids);
            checkRoom(ids.length);
            reserve(position + ids.length);
            int chunk = model.prefillChunk();
            try {
                for (int off = 0; off < ids.length; off += chunk) {
                    int n = Math.min(chunk, ids.length - off);
                    boolean isLast = off + n == ids.length;
                    model.prefillChunk(this, ids, off, n, isLast ? last : null, all, (long) off * config.vocabSize());
                    position += n;
                }
            } catch (RuntimeException e) {
                broken = e.getMessage();
                throw e;
            }
        } finally {
            model.lock.unlock();
        }
    }

    private void checkUsable() {
        if (closed) {
            throw new NemotronException("the session is closed");
        }
        if (broken != null) {
            throw new NemotronException("the session is unusable after a failed operation (" + broken + "); close it and start a new one");
        }
    }

    private void checkIds(int[] ids) {
        int v = config.vocabSize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= v) {
                throw new NemotronException("token id " + ids[i] + " at index " + i + " is out of range [0, " + v + ")");
            }
        }
    }

    private void checkRoom(int tokens) {
        if ((long) position + tokens > config.maxPositionEmbeddings()) {
            throw new NemotronException("context full: " + position + " tokens + " + tokens + " new exceed max_position_embeddings = "
                    + config.maxPositionEmbeddings());
        }
    }

    /** Grows every KV cache to hold {@code tokens} positions (before any state changes). */
    private void reserve(int tokens) {
        for (KvCache c : kv) {
            if (c != null) {
                c.ensureCapacity(model.backend(), tokens);
            }
        }
    }

    /**
     * A new session continuing from this one's state: Mamba states are copied (they are small and fixed-size),
     * KV blocks are shared copy-on-write, so a prefilled prefix (a system prompt, a document) serves many
     * continuations. Both sessions are independent afterwards; close each.
     */
    public Session fork() {
        model.lock.lock();
        try {
            model.checkOpen();
            checkUsable();
            Session f = model.newSession();
            for (int i = 0; i < mamba.length; i++) {
                if (mamba[i] != null) {
                    model.backend().copy(f.mamba[i].conv, mamba[i].conv, mamba[i].convBytes);
                    model.backend().copy(f.mamba[i].ssm, mamba[i].ssm, mamba[i].ssmBytes);
                }
                if (kv[i] != null) {
                    f.kv[i].shareFrom(kv[i]);
                }
            }
            f.position = position;
            return f;
        } finally {
            model.lock.unlock();
        }
    }

    /** Writes this session's whole state (see {@link SessionSnapshot} for the format) to {@code out}. */
    public void snapshot(java.io.OutputStream out) {
        SessionSnapshot.LayerState[] layers;
        int pos;
        model.lock.lock();
        try {
            model.checkOpen();
            checkUsable();
            pos = position;
            layers = new SessionSnapshot.LayerState[mamba.length];
            for (int i = 0; i < layers.length; i++) {
                LayerKind kind = config.layers().get(i);
                layers[i] = switch (kind) {
                    case MAMBA -> {
                        float[][] st = readMambaState(i);
                        yield new SessionSnapshot.LayerState(kind, st[0], st[1], 0);
                    }
                    case ATTENTION -> {
                        float[][] c = readKv(i);
                        yield new SessionSnapshot.LayerState(kind, c[0], c[1], kv[i].length());
                    }
                    case MLP -> new SessionSnapshot.LayerState(kind, null, null, 0);
                };
            }
        } finally {
            model.lock.unlock();
        }
        try {
            SessionSnapshot.write(out, model.fingerprint(), pos, layers);
        } catch (java.io.IOException e) {
            throw new NemotronException("cannot write the session snapshot: " + e.getMessage(), e);
        }
    }

    /** This session's state as bytes (for states under 2 GiB; use {@link #snapshot(java.nio.file.Path)} for more). */
    public byte[] snapshot() {
        var bytes = new java.io.ByteArrayOutputStream();
        snapshot(bytes);
        return bytes.toByteArray();
    }

    /** Writes this session's state to a file. */
    public void snapshot(java.nio.file.Path file) {
        try (var out = java.nio.file.Files.newOutputStream(file)) {
            snapshot(out);
        } catch (java.io.IOException e) {
            throw new NemotronException("cannot write the session snapshot " + file + ": " + e.getMessage(), e);
        }
    }

    /** Loads snapshot layers into this fresh session (model lock held by the caller). */
    void restore(SessionSnapshot.LayerState[] layers, int pos) {
        try (Arena a = Arena.ofConfined()) {
            for (int i = 0; i < layers.length; i++) {
                SessionSnapshot.LayerState l = layers[i];
                switch (l.kind()) {
                    case MAMBA -> {
                        MemorySegment c = a.allocate(mamba[i].convBytes, 64);
                        if (mamba[i].convElementBytes == Float.BYTES) {
                            MemorySegment.copy(l.a(), 0, c, ValueLayout.JAVA_FLOAT, 0, l.a().length);
                        } else {  // BF16 activations: round to nearest even
                            for (int j = 0; j < l.a().length; j++) {
                                c.setAtIndex(ValueLayout.JAVA_SHORT, j, BFloat16.fromFloat(l.a()[j]));
                            }
                        }
                        model.backend().upload(mamba[i].conv, c, mamba[i].convBytes);
                        MemorySegment s = a.allocate(mamba[i].ssmBytes, 64);
                        MemorySegment.copy(l.b(), 0, s, ValueLayout.JAVA_FLOAT, 0, l.b().length);
                        model.backend().upload(mamba[i].ssm, s, mamba[i].ssmBytes);
                    }
                    case ATTENTION -> kv[i].write(model.backend(), l.a(), l.b(), l.tokens());
                    case MLP -> { }
                }
            }
        }
        position = pos;
    }

    /** Copies a Mamba layer's conv state [convDim, convKernel] and SSM state [heads, headDim, state] to the host. */
    float[][] readMambaState(int layer) {
        MambaState st = mamba[layer];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(st.convBytes, 64);
            MemorySegment s = a.allocate(st.ssmBytes, 64);
            model.backend().download(c, st.conv, st.convBytes);
            model.backend().download(s, st.ssm, st.ssmBytes);
            float[] conv;
            if (st.convElementBytes == Float.BYTES) {
                conv = c.toArray(ValueLayout.JAVA_FLOAT);
            } else {  // BF16 activations: widen exactly
                conv = new float[(int) (st.convBytes / st.convElementBytes)];
                for (int j = 0; j < conv.length; j++) {
                    conv[j] = BFloat16.toFloat(c.getAtIndex(ValueLayout.JAVA_SHORT, j));
                }
            }
            return new float[][] {conv, s.toArray(ValueLayout.JAVA_FLOAT)};
        }
    }

    /** Copies an attention layer's cached K and V, [length, kvHeads, headDim] each, to the host. */
    float[][] readKv(int layer) {
        return kv[layer].read(model.backend());
    }

    /** Frees the caches. Idempotent. */
    @Override
    public void close() {
        model.lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            freeAll();
            model.forget(this);
        } finally {
            model.lock.unlock();
        }
    }

    private void freeAll() {
        for (int i = 0; i < mamba.length; i++) {
            if (mamba[i] != null) {
                mamba[i].free(model.backend());
                mamba[i] = null;
            }
            if (kv[i] != null) {
                kv[i].free(model.backend());
                kv[i] = null;
            }
        }
        arena.close();
    }

    @Override
    public String toString() {
        return "Session[position=" + position + (closed ? ", closed" : "") + "]";
    }
}
