package org.nemotron4j.chat;

import org.nemotron4j.NemotronException;

/**
 * Nemotron-Nano-v2's thinking budget, the client-side recipe of its model card: once the reasoning has used
 * {@code budgetTokens} tokens, it is ended at the next line end, provided one comes within {@code graceTokens}
 * more tokens, else at once. Ending it means appending {@code </think>} to the context as if the model had written
 * it (after a newline when the reasoning stopped mid-line), feeding those tokens to the model, and generating the
 * answer from there: the same context the model card's client builds when it re-prompts with the reasoning so far
 * plus {@code </think>} through {@code continue_final_message}.
 *
 * @param budgetTokens reasoning tokens allowed before the reasoning is wound up (0: end it before it starts)
 * @param graceTokens  how many more tokens to wait for a line end
 */
public record ThinkingBudget(int budgetTokens, int graceTokens) {
    /** The model card waits up to 500 tokens for a newline. */
    public static final int DEFAULT_GRACE_TOKENS = 500;

    public ThinkingBudget {
        if (budgetTokens < 0) {
            throw new NemotronException("thinking budget must not be negative, got " + budgetTokens);
        }
        if (graceTokens < 0) {
            throw new NemotronException("thinking budget grace must not be negative, got " + graceTokens);
        }
    }

    public ThinkingBudget(int budgetTokens) {
        this(budgetTokens, DEFAULT_GRACE_TOKENS);
    }

    /**
     * Asked before each reasoning token is generated.
     *
     * @param reasoningTokens reasoning tokens generated so far
     * @param atLineStart     whether the reasoning text so far ends with a newline (or is empty after the prompt's
     *                        {@code <think>\n})
     * @return the text to force now to end the reasoning, or null to let the model go on
     */
    public String closingText(int reasoningTokens, boolean atLineStart) {
        if (reasoningTokens < budgetTokens) {
            return null;
        }
        if (atLineStart) {
            return ReasoningParser.CLOSE_TAG;
        }
        if (reasoningTokens >= budgetTokens + graceTokens) {
            return "\n" + ReasoningParser.CLOSE_TAG;
        }
        return null;
    }
}
