package org.nemotron4j.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * A {@link TokenModel} whose next token is a function of everything fed so far: the logits are 0 everywhere and
 * 10 at that token. Records every feed call.
 */
final class ScriptedModel implements TokenModel {
    private final int vocab;
    private final int maxPositions;
    private final ToIntFunction<List<Integer>> next;
    final List<Integer> fed = new ArrayList<>();
    final List<int[]> feeds = new ArrayList<>();
    volatile long feedDelayMillis;

    ScriptedModel(int vocab, int maxPositions, ToIntFunction<List<Integer>> next) {
        this.vocab = vocab;
        this.maxPositions = maxPositions;
        this.next = next;
    }

    /** Emits {@code script} in order after the prompt, then repeats its last token. */
    static ScriptedModel of(int vocab, int maxPositions, int promptLength, int... script) {
        return new ScriptedModel(vocab, maxPositions,
                fed -> script[Math.min(script.length - 1, fed.size() - promptLength)]);
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public int position() {
        return fed.size();
    }

    @Override
    public int maxPositions() {
        return maxPositions;
    }

    @Override
    public void feed(int[] tokens, float[] logitsOut) {
        if (fed.size() + tokens.length > maxPositions) {
            throw new IllegalStateException("fed past the context");
        }
        if (feedDelayMillis > 0) {
            try {
                Thread.sleep(feedDelayMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        feeds.add(tokens.clone());
        for (int t : tokens) {
            fed.add(t);
        }
        Arrays.fill(logitsOut, 0f);
        logitsOut[next.applyAsInt(fed)] = 10f;
    }
}
