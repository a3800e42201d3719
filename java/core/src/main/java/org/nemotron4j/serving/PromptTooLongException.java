package org.nemotron4j.serving;

import org.nemotron4j.NemotronException;

/** A prompt with more tokens than the model's context holds (HTTP 400, {@code context_length_exceeded}). */
public final class PromptTooLongException extends NemotronException {
    private final int promptTokens;
    private final int contextLength;

    public PromptTooLongException(int promptTokens, int contextLength) {
        super("the prompt has " + promptTokens + " tokens but the model's context holds " + contextLength
                + "; shorten the prompt");
        this.promptTokens = promptTokens;
        this.contextLength = contextLength;
    }

    public int promptTokens() {
        return promptTokens;
    }

    public int contextLength() {
        return contextLength;
    }
}
