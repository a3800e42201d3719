package org.nemotron4j.generate;

import org.nemotron4j.Channel;
import org.nemotron4j.FinishReason;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.NemotronException;
import org.nemotron4j.Usage;
import org.nemotron4j.chat.ReasoningParser;
import org.nemotron4j.chat.ThinkingBudget;
import org.nemotron4j.chat.ToolCallParser;
import org.nemotron4j.sampling.Sampler;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A running generation, pulled one step at a time by the thread that iterates it: the first step feeds the prompt
 * (prefill), each later one feeds the previous token and samples the next (decode), and yields one
 * {@link GenerationDelta} per token (two when a token's text crosses from reasoning to answer). The last delta
 * carries the {@link FinishReason} and the {@link Usage}.
 *
 * <p>Per token: stop ids end the generation (STOP); its bytes go through a {@link Utf8StreamDecoder} (no split
 * characters), a {@link StopStringMatcher} (stop strings end it and are not output; a possible beginning of one is
 * held back) and a {@link ReasoningParser} (reasoning vs answer). Special tokens other than the think tags add no
 * text. With a {@link ThinkingBudget}, the loop forces {@code </think>} into the context when the budget says so.
 * The request's token limit or the model's context ends it with LENGTH; {@link #cancel()}, callable from any
 * thread, ends it with CANCELLED at the next step. The last token produced is not fed to the model.
 *
 * <p>Not thread-safe except {@link #cancel()}. Closing it cancels and drains it (without further model work).
 */
public final class GenerationStream implements Iterator<GenerationDelta>, AutoCloseable {
    private static final int[] NO_IDS = new int[0];

    private final TokenModel model;
    private final TextCodec codec;
    private final GenerationOptions options;
    private final Sampler sampler;
    private final int[] prompt;
    private final float[] logits;
    private final Set<Integer> stopIds;
    private final int thinkOpenId;
    private final int thinkCloseId;
    private final Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
    private final StopStringMatcher stops;
    private final ReasoningParser reasoning;
    private final ThinkingBudget budget;
    private final ArrayDeque<GenerationDelta> ready = new ArrayDeque<>();
    private final StringBuilder reasoningText = new StringBuilder();
    private final StringBuilder answerText = new StringBuilder();

    private int[] output = new int[64];
    private int outputCount;
    private int[] pending = new int[8];
    private int pendingCount;
    private int reasoningTokens;
    private boolean atLineStart;
    private boolean budgetSpent;
    private volatile boolean cancelRequested;
    private boolean started;
    private boolean finished;
    private long startNanos;
    private long prefillEndNanos;
    private GenerationResult result;

    GenerationStream(TokenModel model, TextCodec codec, int[] promptIds, GenerationOptions options,
                     String promptText) {
        this.model = Objects.requireNonNull(model, "model");
        this.codec = Objects.requireNonNull(codec, "codec");
        this.options = Objects.requireNonNull(options, "options");
        Objects.requireNonNull(promptIds, "promptIds");
        if (promptIds.length == 0) {
            throw new NemotronException("the prompt is empty: there is nothing to generate from");
        }
        int used = model.position();
        int context = model.maxPositions();
        if ((long) used + promptIds.length > context) {
            throw new NemotronException("the prompt has " + promptIds.length + " tokens but the context holds "
                    + context + (used > 0 ? " (" + used + " already used)" : "") + "; shorten the prompt");
        }
        int modelVocab = model.vocabSize();
        for (int id : promptIds) {
            if (id < 0 || id >= modelVocab) {
                throw new NemotronException("prompt token id " + id + " is outside the vocabulary [0, "
                        + modelVocab + ")");
            }
        }
        this.prompt = promptIds.clone();
        this.logits = new float[modelVocab];
        this.sampler = new Sampler(options.sampling(), Math.min(modelVocab, codec.vocabSize()));
        this.stopIds = options.stopTokenIds();
        this.thinkOpenId = codec.tokenId(ReasoningParser.OPEN_TAG).orElse(-1);
        this.thinkCloseId = codec.tokenId(ReasoningParser.CLOSE_TAG).orElse(-1);
        this.stops = new StopStringMatcher(options.stopStrings());
        String text = promptText != null ? promptText : decode(promptIds);
        boolean inReasoning = options.startInReasoning() != null
                ? options.startInReasoning() : ReasoningParser.endsInsideReasoning(text);
        this.reasoning = new ReasoningParser(inReasoning);
        this.atLineStart = text.isEmpty() || text.endsWith("\n");
        this.budget = options.thinkingBudget();
    }

    private String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            bytes.writeBytes(codec.tokenBytes(id));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    // ---- consumer API ----

    @Override
    public boolean hasNext() {
        while (ready.isEmpty() && !finished) {
            try {
                step();
            } catch (RuntimeException e) {
                finished = true;
                throw e;
            }
        }
        return !ready.isEmpty();
    }

    @Override
    public GenerationDelta next() {
        if (!hasNext()) {
            throw new NoSuchElementException("the generation has ended");
        }
        return ready.poll();
    }

    /** Ends the generation at its next step with {@link FinishReason#CANCELLED}; safe from any thread. */
    public void cancel() {
        cancelRequested = true;
    }

    public boolean isCancelled() {
        return cancelRequested;
    }

    /** The sampling seed in use (drawn at random when none was given). */
    public long seed() {
        return sampler.seed();
    }

    /** A sequential stream of the remaining deltas; closing it closes this generation. */
    public Stream<GenerationDelta> stream() {
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this,
                Spliterator.ORDERED | Spliterator.NONNULL), false).onClose(this::close);
    }

    /** Runs the generation to its end (consuming the remaining deltas) and returns the whole result. */
    public GenerationResult collect() {
        return collectWith(d -> { });
    }

    /** Runs to the end, handing every delta to {@code sink} as it is produced; returns the whole result. */
    public GenerationResult collectWith(java.util.function.Consumer<? super GenerationDelta> sink) {
        while (hasNext()) {
            sink.accept(next());
        }
        if (result == null) {
            throw new IllegalStateException("the generation failed before it finished");
        }
        return result;
    }

    /** Cancels (if still running) and drains the remaining deltas. */
    @Override
    public void close() {
        if (!finished) {
            cancel();
        }
        while (hasNext()) {
            next();
        }
    }

    // ---- the loop ----

    private void step() {
        if (!started) {
            started = true;
            startNanos = System.nanoTime();
            if (cancelRequested) {
                prefillEndNanos = startNanos;
                finish(FinishReason.CANCELLED, -1);
                return;
            }
            model.feed(prompt, logits);
            prefillEndNanos = System.nanoTime();
            sampler.observePrompt(prompt);
        }
        if (cancelRequested) {
            finish(FinishReason.CANCELLED, -1);
            return;
        }
        if (budget != null && !budgetSpent && reasoning.channel() == Channel.REASONING) {
            String closing = budget.closingText(reasoningTokens, atLineStart);
            if (closing != null) {
                budgetSpent = true;
                force(closing);
                return;
            }
        }
        if (outputCount >= options.maxTokens()) {
            finish(FinishReason.LENGTH, -1);
            return;
        }
        if (pendingCount > 0) {
            if ((long) model.position() + pendingCount > model.maxPositions()) {
                finish(FinishReason.LENGTH, -1);
                return;
            }
            model.feed(Arrays.copyOf(pending, pendingCount), logits);
            pendingCount = 0;
        }
        append(sampler.sample(logits));
    }

    /** Appends the tokens of {@code text} as if the model had produced them (thinking budget). */
    private void force(String text) {
        int[] ids = codec.encode(text, false);
        if (outputCount + (long) ids.length > options.maxTokens()
                || (long) model.position() + pendingCount + ids.length > model.maxPositions()) {
            finish(FinishReason.LENGTH, -1);
            return;
        }
        for (int id : ids) {
            append(id);
            if (finished) {
                return;
            }
        }
    }

    private void append(int token) {
        if (outputCount == output.length) {
            output = Arrays.copyOf(output, output.length * 2);
        }
        output[outputCount++] = token;
        sampler.accept(token);
        Channel before = reasoning.channel();
        if (before == Channel.REASONING) {
            reasoningTokens++;
        }
        if (stopIds.contains(token)) {
            finish(FinishReason.STOP, token);
            return;
        }
        if (pendingCount == pending.length) {
            pending = Arrays.copyOf(pending, pending.length * 2);
        }
        pending[pendingCount++] = token;
        String text = "";
        if (!codec.isSpecial(token) || token == thinkOpenId || token == thinkCloseId) {
            text = utf8.decode(codec.tokenBytes(token));
        }
        if (!text.isEmpty()) {
            atLineStart = text.charAt(text.length() - 1) == '\n';
        }
        String safe = stops.push(text);
        List<ReasoningParser.Segment> segments = reasoning.push(safe);
        if (segments.isEmpty()) {
            ready.add(new GenerationDelta("", new int[] {token}, before, null, null));
        } else {
            for (int i = 0; i < segments.size(); i++) {
                ReasoningParser.Segment s = segments.get(i);
                record(s);
                ready.add(new GenerationDelta(s.text(), i == 0 ? new int[] {token} : NO_IDS, s.channel(), null,
                        null));
            }
        }
        if (stops.matched()) {
            finish(FinishReason.STOP, -1);
        }
    }

    private void record(ReasoningParser.Segment s) {
        (s.channel() == Channel.REASONING ? reasoningText : answerText).append(s.text());
    }

    /** Flushes held text, queues the last delta and builds the result. */
    private void finish(FinishReason reason, int stopToken) {
        List<ReasoningParser.Segment> tail = new ArrayList<>();
        if (!stops.matched()) {
            String rest = stops.push(utf8.flush());
            if (!stops.matched()) {
                rest += stops.flush();
            }
            tail.addAll(reasoning.push(rest));
        }
        tail.addAll(reasoning.flush());
        tail.forEach(this::record);

        long end = System.nanoTime();
        Usage usage = new Usage(prompt.length, outputCount, reasoningTokens, (prefillEndNanos - startNanos) / 1e9,
                (end - prefillEndNanos) / 1e9);
        int[] ids = stopToken >= 0 ? new int[] {stopToken} : NO_IDS;
        for (int i = 0; i + 1 < tail.size(); i++) {
            ready.add(new GenerationDelta(tail.get(i).text(), NO_IDS, tail.get(i).channel(), null, null));
        }
        if (tail.isEmpty()) {
            ready.add(new GenerationDelta("", ids, reasoning.channel(), reason, usage));
        } else {
            ReasoningParser.Segment last = tail.getLast();
            ready.add(new GenerationDelta(last.text(), ids, last.channel(), reason, usage));
        }
        ToolCallParser.Parsed parsed = ToolCallParser.parse(answerText.toString());
        result = new GenerationResult(reasoningText.toString().strip(), parsed.content(), parsed.toolCalls(),
                parsed.malformed(), reason, usage, Arrays.copyOf(output, outputCount));
        finished = true;
    }
}
