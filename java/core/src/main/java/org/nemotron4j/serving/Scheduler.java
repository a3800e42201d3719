package org.nemotron4j.serving;

import org.nemotron4j.ChatRequest;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.LayerKind;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.generate.Generation;
import org.nemotron4j.generate.GenerationOptions;
import org.nemotron4j.generate.GenerationStream;
import org.nemotron4j.generate.TokenModel;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching with chunked prefill, admission control and automatic prefix caching over one model.
 *
 * <p>Each request runs its generation loop (template, sampling, stops, reasoning, thinking budget: the same
 * {@link GenerationStream} a session runs) on a virtual thread, but the model work it asks for is done by one step
 * thread. A step is: every decoding sequence that has asked for its next token, advanced together in one batched
 * decode ({@link NemotronModel#decode}), then <b>at most one prefill chunk</b> ({@link NemotronModel#prefillChunk()}
 * tokens) of the oldest prompt still prefilling. So a long new prompt delays the running streams by at most one
 * chunk per token (the token budget of a step is one chunk plus the decode batch), and prompts are prefilled first
 * come, first served.
 *
 * <p>Admission: at most {@link SchedulerOptions#maxSequences()} requests hold a session; further ones wait in a FIFO
 * queue of at most {@link SchedulerOptions#maxQueued()} for at most {@link SchedulerOptions#maxQueueWait()}; beyond
 * that {@link #submit} throws {@link OverloadedException} (queue full), and a request that waited too long fails with
 * one (timed out). {@link ScheduledRequest#cancel()} ends a request at its next step, queued, prefilling (between
 * chunks) or decoding, and its session is closed: a finished request holds no memory.
 *
 * <p>Prefix caching: see {@link PrefixCache}; on by default ({@link SchedulerOptions#prefixCacheBytes()}).
 */
public final class Scheduler implements AutoCloseable {
    /** How long a step waits for decoding sequences still sampling their last token before it runs without them. */
    static final long GATHER_NANOS = 2_000_000L;
    /**
     * The fewest tokens of a prompt piece fed on its own to split a prefill chunk at a cache block boundary: the
     * CPU matmuls take another path (and another summation order) below 16 rows ({@code kMatmulPackedMinRows},
     * {@code bf16dot_piece}), so a chunk is split only into pieces of at least this many tokens, each starting at a
     * multiple of the SSD chunk, which give bitwise what the whole chunk gives; a cached prefix is used only where
     * the piece after it is that long (or it ends at a prefill-chunk boundary, where a cold run splits too).
     */
    static final int MIN_PIECE = 16;

    private final NemotronModel model;
    private final SchedulerOptions options;
    private final PrefixCache cache;
    private final int chunk;
    private final int attentionLayers;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition workArrived = lock.newCondition();
    private final Condition stepDone = lock.newCondition();
    private final Condition placeFreed = lock.newCondition();
    private final ArrayDeque<Work> prefills = new ArrayDeque<>();
    private final List<Work> decodes = new ArrayList<>();
    private final ArrayDeque<ScheduledRequest> waiting = new ArrayDeque<>();
    private final List<ScheduledRequest> live = new ArrayList<>();
    private final Thread stepThread;
    private int running;
    private int decoding;
    private boolean closed;
    private long steps;
    private long promptComputed;
    private long promptCached;
    private long generated;
    private long rejected;
    private long timedOut;
    private int largestBatch;

    public Scheduler(NemotronModel model, SchedulerOptions options) {
        this.model = Objects.requireNonNull(model, "model");
        this.options = Objects.requireNonNull(options, "options");
        this.chunk = model.prefillChunk();
        this.cache = new PrefixCache(model, prefixBlock(model, options.prefixBlockTokens()),
                options.prefixCacheBytes(), chunk);
        this.attentionLayers = model.config().count(LayerKind.ATTENTION);
        this.stepThread = Thread.ofPlatform().name("nemotron4j-scheduler").daemon().start(this::loop);
    }

    /**
     * The prefix cache's block: {@code requested}, or by default the model's SSD chunk ({@code chunk_size}) when the
     * prefill chunk is a multiple of it, else the prefill chunk. A block must be a multiple of the SSD chunk (when
     * the prefill chunk is one) or of the prefill chunk: a prompt is fed in pieces that end at every block boundary,
     * and Mamba-2's chunked scan, the GEMMs (row by row) and attention (query by query) give bitwise the same state
     * and logits when a prompt is split at multiples of the SSD chunk instead of being fed in whole prefill chunks
     * (checked by {@code SchedulerTest}), so a request resumed from any block boundary gets the cold result.
     */
    static int prefixBlock(NemotronModel model, int requested) {
        int chunk = model.prefillChunk();
        int ssd = model.config().chunkSize();
        boolean splittable = chunk % ssd == 0;
        int block = requested != 0 ? requested : splittable ? ssd : chunk;
        if (block % chunk != 0 && !(splittable && block % ssd == 0)) {
            throw new NemotronException("the prefix cache block (" + block + " tokens) must be a multiple of the"
                    + " model's SSD chunk (" + ssd + ") when its prefill chunk (" + chunk + ") is one, else of the"
                    + " prefill chunk");
        }
        return block;
    }

    public Scheduler(NemotronModel model) {
        this(model, SchedulerOptions.defaults());
    }

    public NemotronModel model() {
        return model;
    }

    public SchedulerOptions options() {
        return options;
    }

    // ---- submission ----

    /** Renders and tokenizes a chat request (the checkpoint's template and tokenizer) and queues it. */
    public ScheduledRequest submit(ChatRequest request, LogitsHook hook) {
        String prompt = model.chatTemplate().render(request);
        int[] ids = model.tokenizer().encode(prompt, false);
        GenerationOptions opts = Generation.options(request, model.generationConfig());
        return submit(ids, prompt, opts, hook);
    }

    public ScheduledRequest submit(ChatRequest request) {
        return submit(request, null);
    }

    /**
     * Queues a generation from prompt token ids (no template). {@code promptText}, when given, decides whether the
     * output starts inside reasoning (null: decoded from the ids).
     *
     * @throws PromptTooLongException when the prompt does not fit the context
     * @throws OverloadedException    when the queue is full
     */
    public ScheduledRequest submit(int[] promptIds, String promptText, GenerationOptions options, LogitsHook hook) {
        Objects.requireNonNull(promptIds, "promptIds");
        int context = model.config().maxPositionEmbeddings();
        if (promptIds.length > context) {
            throw new PromptTooLongException(promptIds.length, context);
        }
        Slot slot = new Slot(promptIds.length, hook);
        GenerationStream stream = promptText == null
                ? Generation.start(slot, model.tokenizer(), promptIds, options)
                : Generation.start(slot, model.tokenizer(), promptIds,
                options.startInReasoning() != null ? options
                        : options.withStartInReasoning(org.nemotron4j.chat.ReasoningParser.endsInsideReasoning(promptText)));
        ScheduledRequest r = new ScheduledRequest(stream, slot, promptIds.length);
        slot.request = r;
        lock.lock();
        try {
            if (closed) {
                throw new NemotronException("the scheduler is closed");
            }
            if (running + waiting.size() >= this.options.maxSequences() + this.options.maxQueued()) {
                rejected++;
                throw new OverloadedException("the server is full: " + running + " requests running and "
                        + waiting.size() + " queued; try again later", true, 1);
            }
            waiting.add(r);
            live.add(r);
        } finally {
            lock.unlock();
        }
        Thread.ofVirtual().name("nemotron4j-request").start(r::run);
        return r;
    }

    /** Waits for a place (FIFO); throws when cancelled or when the wait is too long. */
    private void admit(ScheduledRequest r) {
        long deadline = System.nanoTime() + options.maxQueueWait().toNanos();
        lock.lock();
        try {
            while (!(waiting.peekFirst() == r && running < options.maxSequences())) {
                if (r.slot.cancelled || closed) {
                    waiting.remove(r);
                    placeFreed.signalAll();
                    throw new CancelledException("the request was cancelled while queued");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    waiting.remove(r);
                    timedOut++;
                    placeFreed.signalAll();
                    throw new OverloadedException("the request waited " + options.maxQueueWait().toSeconds()
                            + " s in the queue without getting a place; try again later", false, 5);
                }
                placeFreed.awaitNanos(left);
            }
            waiting.poll();
            running++;
            r.slot.admitted = true;
            placeFreed.signalAll();
        } catch (InterruptedException e) {
            waiting.remove(r);
            placeFreed.signalAll();
            Thread.currentThread().interrupt();
            throw new CancelledException("interrupted while queued");
        } finally {
            lock.unlock();
        }
    }

    /** Gives back a request's place and closes its session. */
    private void release(Slot slot) {
        lock.lock();
        try {
            if (slot.admitted) {
                slot.admitted = false;
                running--;
            }
            if (slot.inDecode) {
                slot.inDecode = false;
                decoding--;
            }
            live.remove(slot.request);
            placeFreed.signalAll();
            workArrived.signalAll();
        } finally {
            lock.unlock();
        }
        if (slot.session != null) {
            slot.session.close();
        }
    }

    // ---- the step thread ----

    /** Model work a request waits for: feed {@code tokens}, logits after the last into {@code out}. */
    private static final class Work {
        final Slot slot;
        final int[] tokens;
        final float[] out;
        int offset;
        boolean done;
        RuntimeException error;

        Work(Slot slot, int[] tokens, float[] out) {
            this.slot = slot;
            this.tokens = tokens;
            this.out = out;
        }
    }

    private void loop() {
        while (true) {
            List<Work> batch;
            Work prefill;
            lock.lock();
            try {
                while (!closed && decodes.isEmpty() && prefills.isEmpty()) {
                    workArrived.awaitUninterruptibly();
                }
                if (closed && decodes.isEmpty() && prefills.isEmpty()) {
                    return;
                }
                // decoding sequences sample in Java between steps: give them a moment to ask, so they share the step
                long deadline = System.nanoTime() + GATHER_NANOS;
                while (decodes.size() < decoding && !closed) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    try {
                        workArrived.awaitNanos(left);
                    } catch (InterruptedException e) {
                        break;
                    }
                }
                int n = Math.min(decodes.size(), chunk);
                batch = new ArrayList<>(decodes.subList(0, n));
                decodes.subList(0, n).clear();
                prefill = prefills.peekFirst();
            } finally {
                lock.unlock();
            }
            if (!batch.isEmpty()) {
                runDecode(batch);
            }
            boolean prefillDone = prefill != null && runPrefillChunk(prefill);
            lock.lock();
            try {
                if (prefillDone) {
                    prefills.remove(prefill);
                }
                steps++;
                largestBatch = Math.max(largestBatch, batch.size());
                stepDone.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    private void runDecode(List<Work> batch) {
        List<Session> sessions = new ArrayList<>(batch.size());
        int[] tokens = new int[batch.size()];
        for (int i = 0; i < batch.size(); i++) {
            sessions.add(batch.get(i).slot.session);
            tokens[i] = batch.get(i).tokens[0];
        }
        RuntimeException failure = null;
        float[][] logits = null;
        try {
            logits = model.decode(sessions, tokens);
        } catch (RuntimeException e) {
            failure = e;
        }
        lock.lock();
        try {
            for (int i = 0; i < batch.size(); i++) {
                Work w = batch.get(i);
                if (failure != null) {
                    w.error = failure;
                } else {
                    System.arraycopy(logits[i], 0, w.out, 0, w.out.length);
                }
                w.done = true;
            }
            if (failure == null) {
                generated += batch.size();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Feeds one chunk of {@code w}; returns true when {@code w} is finished (done or failed). */
    private boolean runPrefillChunk(Work w) {
        Slot s = w.slot;
        try {
            if (s.cancelled) {
                throw new CancelledException("the request was cancelled during its prefill");
            }
            boolean prompt = s.session == null;
            if (prompt) {
                int length = w.tokens.length;
                PrefixCache.Hit hit = cache.lookup(w.tokens, length - 1,
                        h -> h % chunk == 0 || Math.min(length, (h / chunk + 1) * chunk) - h >= MIN_PIECE);
                if (hit != null) {
                    s.session = hit.session().fork();
                    w.offset = hit.length();
                    s.cachedTokens = hit.length();
                } else {
                    s.session = model.newSession();
                }
                s.prompt = true;
            }
            // this step's part: up to the next multiple of the prefill chunk (a cold prompt's chunks), or, for a
            // prompt resumed inside a chunk, up to the one after (so a short rest is one step, not two), fed in pieces
            // that end at every multiple of the prefill chunk (where a cold run splits) and at the cache block
            // boundaries at least MIN_PIECE tokens from either end of the piece (to cache the state there)
            int start = w.offset;
            int end = Math.min(w.tokens.length, (start / chunk + (start % chunk == 0 ? 1 : 2)) * chunk);
            int n = end - start;
            boolean last = end == w.tokens.length;
            while (w.offset < end) {
                int to = Math.min(end, (w.offset / chunk + 1) * chunk);
                if (s.prompt && cache.enabled()) {
                    int b = cache.nextBoundary(w.offset + MIN_PIECE - 1);
                    if (b <= to - MIN_PIECE) {
                        to = b;
                    }
                }
                int[] part = Arrays.copyOfRange(w.tokens, w.offset, to);
                if (to == w.tokens.length) {
                    s.session.feed(part, w.out);
                } else {
                    s.session.prefill(part);
                }
                w.offset = to;
                if (s.prompt && cache.isBoundary(w.offset)) {
                    cache.insert(w.tokens, w.offset, s.session);
                }
            }
            lock.lock();
            try {
                promptComputed += n;
                if (prompt) {
                    promptCached += s.cachedTokens;
                }
                if (last) {
                    s.prompt = false;
                    w.done = true;
                }
            } finally {
                lock.unlock();
            }
            return last;
        } catch (RuntimeException e) {
            lock.lock();
            try {
                w.error = e;
                w.done = true;
            } finally {
                lock.unlock();
            }
            return true;
        }
    }

    // ---- a request's view of the model ----

    /** The {@link TokenModel} a request's generation loop runs on: every feed becomes work for the step thread. */
    final class Slot implements TokenModel {
        final int promptTokens;
        final LogitsHook hook;
        ScheduledRequest request;
        Session session;               // created by the step thread at the first prefill chunk
        volatile boolean cancelled;
        volatile int cachedTokens;
        boolean admitted;
        boolean inDecode;
        boolean prompt;
        int position;
        int step;

        Slot(int promptTokens, LogitsHook hook) {
            this.promptTokens = promptTokens;
            this.hook = hook;
        }

        @Override
        public int vocabSize() {
            return model.config().vocabSize();
        }

        @Override
        public int position() {
            return position;
        }

        @Override
        public int maxPositions() {
            return model.config().maxPositionEmbeddings();
        }

        @Override
        public void feed(int[] tokens, float[] logitsOut) {
            Work w = new Work(this, tokens.clone(), logitsOut);
            lock.lock();
            try {
                if (closed) {
                    throw new CancelledException("the scheduler is closed");
                }
                if (tokens.length == 1 && session != null && position > 0) {
                    if (!inDecode) {
                        inDecode = true;
                        decoding++;
                    }
                    decodes.add(w);
                } else {
                    prefills.add(w);
                }
                workArrived.signalAll();
                while (!w.done) {
                    stepDone.awaitUninterruptibly();
                }
            } finally {
                lock.unlock();
            }
            if (w.error != null) {
                throw w.error;
            }
            position += tokens.length;
            if (hook != null) {
                hook.onLogits(step, logitsOut);
            }
            step++;
        }
    }

    /** A delta and the annotation its request's hook made of it (null without a hook). */
    public record Produced(GenerationDelta delta, Object annotation) { }

    /** One submitted request: its deltas as they are produced, cancellable, with the final result. */
    public final class ScheduledRequest implements Iterator<GenerationDelta>, AutoCloseable {
        private static final Object END = new Object();
        private final GenerationStream stream;
        private final Slot slot;
        private final int promptTokens;
        private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        private final CompletableFuture<GenerationResult> done = new CompletableFuture<>();
        private final long submitNanos = System.nanoTime();
        private Object next;

        private ScheduledRequest(GenerationStream stream, Slot slot, int promptTokens) {
            this.stream = stream;
            this.slot = slot;
            this.promptTokens = promptTokens;
        }

        private void run() {
            GenerationResult result = null;
            RuntimeException failure = null;
            try {
                admit(this);
                try (stream) {
                    LogitsHook hook = slot.hook;
                    result = stream.collectWith(d -> queue.add(new Produced(d, hook == null ? null : hook.onDelta(d))));
                }
            } catch (RuntimeException e) {
                failure = slot.cancelled && !(e instanceof CancelledException)
                        ? new CancelledException("the request was cancelled: " + e.getMessage()) : e;
                queue.add(failure);
            } finally {
                release(slot);
                queue.add(END);
            }
            // completed only after the session is closed, so a finished request holds no native memory
            if (failure != null) {
                done.completeExceptionally(failure);
            } else {
                done.complete(result);
            }
        }

        /** Tokens of the prompt. */
        public int promptTokens() {
            return promptTokens;
        }

        /** Prompt tokens taken from the prefix cache (known once the prefill has started). */
        public int cachedPromptTokens() {
            return slot.cachedTokens;
        }

        /** When the request was submitted ({@link System#nanoTime()}). */
        public long submitNanos() {
            return submitNanos;
        }

        /** The sampling seed in use. */
        public long seed() {
            return stream.seed();
        }

        /** The whole result, when the request finishes (exceptionally when it failed or was cancelled). */
        public CompletableFuture<GenerationResult> result() {
            return done;
        }

        /** Ends the request at its next step (queued, between prefill chunks, or decoding); from any thread. */
        public void cancel() {
            slot.cancelled = true;
            stream.cancel();
            lock.lock();
            try {
                placeFreed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        public boolean isCancelled() {
            return slot.cancelled;
        }

        /**
         * Whether another delta is coming; blocks until it is. A failure of the request (overload, cancellation,
         * an engine error) is thrown here.
         */
        @Override
        public boolean hasNext() {
            if (next == null) {
                try {
                    next = queue.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new NemotronException("interrupted while waiting for generated text");
                }
            }
            if (next instanceof RuntimeException e) {
                next = END;
                throw e;
            }
            return next != END;
        }

        /** Like {@link #hasNext} but gives up after {@code timeout}: null when nothing came, else the answer. */
        public Boolean hasNext(long timeout, TimeUnit unit) {
            if (next == null) {
                try {
                    next = queue.poll(timeout, unit);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new NemotronException("interrupted while waiting for generated text");
                }
                if (next == null) {
                    return null;
                }
            }
            return hasNext();
        }

        @Override
        public GenerationDelta next() {
            return nextProduced().delta();
        }

        /** The next delta with what the request's {@link LogitsHook#onDelta} made of it. */
        public Produced nextProduced() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            Produced p = (Produced) next;
            next = null;
            return p;
        }

        /** Cancels the request if it is still running. */
        @Override
        public void close() {
            cancel();
        }
    }

    // ---- observation ----

    /** The current state and counters. */
    public SchedulerStats stats() {
        lock.lock();
        try {
            long kvBlocks = 0;
            int kvBlock = 256;
            for (ScheduledRequest r : live) {
                kvBlocks += ((long) r.slot.position + kvBlock - 1) / kvBlock * attentionLayers;
            }
            kvBlocks += cache.kvBlocks(kvBlock, attentionLayers);
            return new SchedulerStats(waiting.size(), running, decoding, steps, promptComputed, promptCached,
                    generated, cache.lookups(), cache.hits(), cache.entries(), cache.usedBytes(), kvBlocks, rejected,
                    timedOut);
        } finally {
            lock.unlock();
        }
    }

    /** The most sequences one step has decoded together. */
    public int largestBatch() {
        lock.lock();
        try {
            return largestBatch;
        } finally {
            lock.unlock();
        }
    }

    /** Cancels every request, waits for them, stops the step thread and frees the prefix cache. */
    @Override
    public void close() {
        List<ScheduledRequest> all;
        lock.lock();
        try {
            all = new ArrayList<>(live);
        } finally {
            lock.unlock();
        }
        for (ScheduledRequest r : all) {
            r.cancel();
        }
        for (ScheduledRequest r : all) {
            r.done.handle((x, e) -> null).join();
        }
        lock.lock();
        try {
            closed = true;
            workArrived.signalAll();
            placeFreed.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            stepThread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cache.close();
    }
}
