package org.nemotron4j;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A whole generation.
 *
 * @param reasoning         the reasoning text (between {@code <think>} and {@code </think>}), surrounding whitespace
 *                          removed; empty when reasoning was off
 * @param answer            the answer text, surrounding whitespace removed; well-formed {@code <TOOLCALL>} blocks are
 *                          taken out of it and returned as {@code toolCalls}
 * @param toolCalls         the parsed tool calls, in order
 * @param toolCallMalformed true when the answer holds {@code <TOOLCALL>} text that does not parse; the answer then
 *                          keeps that text as it is and {@code toolCalls} is empty
 * @param finishReason      why the generation ended
 * @param usage             token counts and timings
 * @param tokenIds          every generated token id, in order (forced and stop tokens included; a copy is returned)
 */
public record GenerationResult(String reasoning, String answer, List<ToolCall> toolCalls, boolean toolCallMalformed,
                               FinishReason finishReason, Usage usage, int[] tokenIds) {

    public GenerationResult {
        Objects.requireNonNull(reasoning, "reasoning");
        Objects.requireNonNull(answer, "answer");
        toolCalls = List.copyOf(toolCalls);
        Objects.requireNonNull(finishReason, "finishReason");
        Objects.requireNonNull(usage, "usage");
        tokenIds = tokenIds.clone();
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    public boolean hasToolCalls() {
        return !toolCalls.isEmpty();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GenerationResult r && reasoning.equals(r.reasoning) && answer.equals(r.answer)
                && toolCalls.equals(r.toolCalls) && toolCallMalformed == r.toolCallMalformed
                && finishReason == r.finishReason && usage.equals(r.usage) && Arrays.equals(tokenIds, r.tokenIds);
    }

    @Override
    public int hashCode() {
        return Objects.hash(reasoning, answer, toolCalls, toolCallMalformed, finishReason, usage,
                Arrays.hashCode(tokenIds));
    }

    @Override
    public String toString() {
        return "GenerationResult[finishReason=" + finishReason + ", reasoning=" + reasoning.length() + " chars, answer="
                + answer + ", toolCalls=" + toolCalls + (toolCallMalformed ? " (malformed)" : "") + ", usage=" + usage
                + ", " + tokenIds.length + " tokens]";
    }
}
