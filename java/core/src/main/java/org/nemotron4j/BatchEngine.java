package org.nemotron4j;

import org.nemotron4j.generate.Generation;
import org.nemotron4j.generate.GenerationStream;
import org.nemotron4j.generate.TokenModel;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching over one model: every submitted request gets its own session and runs its generation loop
 * (template, prefill, sampling, stop conditions) on a virtual thread; whenever several requests are decoding, their
 * decode steps are gathered into one batched forward pass ({@link NemotronModel#decode}). Requests join and leave
 * between steps, each with its own length, sampling settings and stop conditions.
 *
 * <pre>{@code
 * try (var engine = new BatchEngine(model)) {
 *     var a = engine.submit(ChatRequest.of(Message.user("Hi")).maxTokens(64));
 *     var b = engine.submit(ChatRequest.of(Message.user("Bye")).maxTokens(64));
 *     a.forEachRemaining(d -> System.out.print(d.text()));      // both advance together
 *     System.out.println(b.result().join().answer());
 * }
 * }</pre>
 *
 * <p>A step runs as soon as every decoding request has asked for one, or {@link #GATHER_NANOS} after the first
 * asked, so a slow consumer never stalls the others for long.
 */
public final class BatchEngine implements AutoCloseable {
    /** How long a decode request waits for the others before its step runs with whoever is ready. */
    public static final long GATHER_NANOS = 2_000_000L;

    private final NemotronModel model;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition stepDone = lock.newCondition();
    private final List<Pending> pending = new ArrayList<>();
    private int decoding;            // requests past their prefill and not finished
    private boolean stepRunning;
    private boolean held;            // steps wait for releaseSteps() (tests: gather a known batch)
    private long steps;
    private int largestBatch;
    private volatile boolean closed;
    private final List<Request> live = new ArrayList<>();

    public BatchEngine(NemotronModel model) {
        this.model = model;
    }

    /** Starts a request; its deltas arrive on the returned stream as the engine produces them. */
    public Request submit(ChatRequest request) {
        if (closed) {
            throw new NemotronException("the batch engine is closed");
        }
        Session session = model.newSession();
        Slot slot = new Slot(session);
        GenerationStream stream;
        try {
            stream = Generation.chat(slot, model.tokenizer(), model.chatTemplate(), request, model.generationConfig());
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
        Request r = new Request(stream, slot);
        synchronized (live) {
            live.add(r);
        }
        Thread.ofVirtual().name("nemotron4j-request").start(r::run);
        return r;
    }

    /** Decode steps run so far. */
    public long steps() {
        lock.lock();
        try {
            return steps;
        } finally {
            lock.unlock();
        }
    }

    /** The most sequences one step has advanced together. */
    public int largestBatch() {
        lock.lock();
        try {
            return largestBatch;
        } finally {
            lock.unlock();
        }
    }

    /** Makes decode steps wait until {@link #releaseSteps()}: lets a test gather a known batch on any machine. */
    void holdSteps() {
        lock.lock();
        try {
            held = true;
        } finally {
            lock.unlock();
        }
    }

    /** Lets held decode steps run. */
    void releaseSteps() {
        lock.lock();
        try {
            held = false;
            stepDone.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Requests waiting for their next decode step. */
    int waitingSteps() {
        lock.lock();
        try {
            return pending.size();
        } finally {
            lock.unlock();
        }
    }

    /** Cancels every running request and waits for them to finish. */
    @Override
    public void close() {
        closed = true;
        releaseSteps();
        List<Request> all;
        synchronized (live) {
            all = new ArrayList<>(live);
        }
        for (Request r : all) {
            r.cancel();
        }
        for (Request r : all) {
            r.done.handle((x, e) -> null).join();
        }
    }

    private record Pending(Session session, int token, float[] out, boolean[] done, RuntimeException[] error) { }

    /** Blocks until a step has decoded {@code token} for {@code session}; returns its logits in {@code out}. */
    private void decode(Session session, int token, float[] out) {
        Pending p = new Pending(session, token, out, new boolean[1], new RuntimeException[1]);
        lock.lock();
        try {
            pending.add(p);
            long deadline = System.nanoTime() + GATHER_NANOS;
            while (!p.done()[0]) {
                boolean everyone = pending.size() >= decoding;
                boolean late = System.nanoTime() >= deadline;
                if (!held && !stepRunning && pending.contains(p) && (everyone || late)) {
                    runStep();
                    continue;
                }
                long wait = deadline - System.nanoTime();
                if (wait > 0 && !stepRunning && !held) {
                    stepDone.awaitNanos(wait);
                } else {
                    stepDone.await();
                }
            }
        } catch (InterruptedException e) {
            pending.remove(p);
            Thread.currentThread().interrupt();
            throw new NemotronException("interrupted while waiting for a decode step");
        } finally {
            lock.unlock();
        }
        if (p.error()[0] != null) {
            throw p.error()[0];
        }
    }

    /** Runs one batched step for everything pending (engine lock held on entry and exit, released meanwhile). */
    private void runStep() {
        List<Pending> batch = new ArrayList<>(pending);
        pending.clear();
        stepRunning = true;
        lock.unlock();
        RuntimeException failure = null;
        float[][] logits = null;
        try {
            List<Session> sessions = new ArrayList<>(batch.size());
            int[] tokens = new int[batch.size()];
            for (int i = 0; i < batch.size(); i++) {
                sessions.add(batch.get(i).session());
                tokens[i] = batch.get(i).token();
            }
            logits = model.decode(sessions, tokens);
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            lock.lock();
        }
        for (int i = 0; i < batch.size(); i++) {
            Pending p = batch.get(i);
            if (failure != null) {
                p.error()[0] = failure;
            } else {
                System.arraycopy(logits[i], 0, p.out(), 0, logits[i].length);
            }
            p.done()[0] = true;
        }
        steps++;
        largestBatch = Math.max(largestBatch, batch.size());
        stepRunning = false;
        stepDone.signalAll();
    }

    private void joinDecoding() {
        lock.lock();
        try {
            decoding++;
        } finally {
            lock.unlock();
        }
    }

    private void leaveDecoding() {
        lock.lock();
        try {
            decoding--;
            stepDone.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** A request's view of its session: prefill alone, decode steps through the engine. */
    private final class Slot implements TokenModel {
        final Session session;
        boolean inDecode;

        Slot(Session session) {
            this.session = session;
        }

        @Override
        public int vocabSize() {
            return session.vocabSize();
        }

        @Override
        public int position() {
            return session.position();
        }

        @Override
        public int maxPositions() {
            return session.maxPositions();
        }

        @Override
        public void feed(int[] tokens, float[] logitsOut) {
            if (tokens.length == 1 && session.position() > 0) {
                if (!inDecode) {
                    inDecode = true;
                    joinDecoding();
                }
                decode(session, tokens[0], logitsOut);
            } else {
                session.feed(tokens, logitsOut);
            }
        }

        void finish() {
            if (inDecode) {
                inDecode = false;
                leaveDecoding();
            }
            session.close();
        }
    }

    /** One submitted request: an iterator of its deltas (filled by the engine), cancellable, with the final result. */
    public final class Request implements Iterator<GenerationDelta>, AutoCloseable {
        private static final GenerationDelta END = new GenerationDelta("", new int[0], Channel.ANSWER, null, null);
        private final GenerationStream stream;
        private final Slot slot;
        private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        private final CompletableFuture<GenerationResult> done = new CompletableFuture<>();
        private Object next;

        private Request(GenerationStream stream, Slot slot) {
            this.stream = stream;
            this.slot = slot;
        }

        private void run() {
            GenerationResult result = null;
            RuntimeException failure = null;
            try (stream) {
                result = stream.collectWith(queue::add);
            } catch (RuntimeException e) {
                failure = e;
                queue.add(e);
            } finally {
                slot.finish();
                synchronized (live) {
                    live.remove(this);
                }
                queue.add(END);
            }
            // completed only after the session is closed, so a finished request holds no native memory
            if (failure != null) {
                done.completeExceptionally(failure);
            } else {
                done.complete(result);
            }
        }

        /** The whole result, when the request finishes. */
        public CompletableFuture<GenerationResult> result() {
            return done;
        }

        /** Stops the request at its next step (finish reason CANCELLED); callable from any thread. */
        public void cancel() {
            stream.cancel();
        }

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

        @Override
        public GenerationDelta next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            GenerationDelta d = (GenerationDelta) next;
            next = null;
            return d;
        }

        /** Cancels the request if it is still running. */
        @Override
        public void close() {
            cancel();
        }

        /** Waits for the result, at most {@code timeout}. */
        public GenerationResult await(long timeout, TimeUnit unit) {
            try {
                return done.get(timeout, unit);
            } catch (Exception e) {
                throw new NemotronException("request did not finish: " + e, e);
            }
        }
    }
}
