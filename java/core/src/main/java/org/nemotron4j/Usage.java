package org.nemotron4j;

/**
 * Token counts and timings of one generation.
 *
 * @param promptTokens      tokens of the prompt, fed in the prefill
 * @param generatedTokens   tokens appended after the prompt: sampled ones, the stop token if one ended the run, and
 *                          tokens forced by a thinking budget
 * @param reasoningTokens   of {@code generatedTokens}, those produced inside the reasoning block (its closing
 *                          {@code </think>} included)
 * @param promptSeconds     wall time of the prefill
 * @param generationSeconds wall time from the end of the prefill to the end of the generation
 */
public record Usage(int promptTokens, int generatedTokens, int reasoningTokens, double promptSeconds,
                    double generationSeconds) {

    public Usage {
        if (promptTokens < 0 || generatedTokens < 0 || reasoningTokens < 0 || reasoningTokens > generatedTokens) {
            throw new IllegalArgumentException("inconsistent token counts: prompt " + promptTokens + ", generated "
                    + generatedTokens + ", reasoning " + reasoningTokens);
        }
    }

    /** Answer tokens: the generated tokens outside the reasoning block. */
    public int answerTokens() {
        return generatedTokens - reasoningTokens;
    }

    public int totalTokens() {
        return promptTokens + generatedTokens;
    }

    /** Prefill throughput; 0 when nothing was timed. */
    public double promptTokensPerSecond() {
        return promptSeconds > 0 ? promptTokens / promptSeconds : 0;
    }

    /** Decode throughput; 0 when nothing was timed. */
    public double generationTokensPerSecond() {
        return generationSeconds > 0 ? generatedTokens / generationSeconds : 0;
    }
}
