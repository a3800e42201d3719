package org.nemotron4j.generate;

/**
 * What generation needs from a model session: feed tokens, get the logits after the last one.
 * {@code org.nemotron4j.Session} implements it.
 */
public interface TokenModel {
    /** Entries per logits row. */
    int vocabSize();

    /** Tokens consumed so far. */
    int position();

    /** The most tokens the session can hold. */
    int maxPositions();

    /**
     * Feeds {@code tokens} (a whole prompt for the prefill, one or a few tokens while decoding) and writes the
     * logits after the last of them into {@code logitsOut[0, vocabSize())}.
     */
    void feed(int[] tokens, float[] logitsOut);
}
