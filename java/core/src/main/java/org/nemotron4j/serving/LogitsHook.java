package org.nemotron4j.serving;

/**
 * Sees (and may change) the logits of one request before each token is sampled from them: an observer for
 * log-probabilities, or a logits processor (vLLM's term) that masks or forces tokens.
 */
@FunctionalInterface
public interface LogitsHook {
    /**
     * @param step   the index of the token about to be sampled (0 after the prompt)
     * @param logits the raw logits row, {@code vocabSize} entries; changes apply to this sample
     */
    void onLogits(int step, float[] logits);

    /**
     * Called on the request's thread right after each delta is produced (so the logits of the last
     * {@link #onLogits} call are those its token was sampled from); what it returns travels with the delta
     * ({@link Scheduler.ScheduledRequest#nextProduced()}). Log-probabilities are computed here.
     */
    default Object onDelta(org.nemotron4j.GenerationDelta delta) {
        return null;
    }
}
