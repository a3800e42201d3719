package org.nemotron4j.generate;

import org.nemotron4j.NemotronException;
import org.nemotron4j.chat.ThinkingBudget;
import org.nemotron4j.sampling.SamplingParams;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Everything the generation loop needs besides the model, the tokenizer and the prompt.
 *
 * @param sampling         how tokens are chosen
 * @param maxTokens        the most tokens to append after the prompt ({@link Integer#MAX_VALUE}: until the context
 *                         is full)
 * @param stopTokenIds     sampling one of these ends the generation (the token is kept in the ids, not in the text)
 * @param stopStrings      producing one of these ends the generation (it is not output)
 * @param thinkingBudget   the reasoning budget, or null for none
 * @param startInReasoning whether the output starts inside a reasoning block; null: decided from the prompt (its
 *                         last {@code <think>} after its last {@code </think>})
 */
public record GenerationOptions(SamplingParams sampling, int maxTokens, Set<Integer> stopTokenIds,
                                List<String> stopStrings, ThinkingBudget thinkingBudget, Boolean startInReasoning) {

    public GenerationOptions {
        Objects.requireNonNull(sampling, "sampling");
        if (maxTokens < 1) {
            throw new NemotronException("maxTokens must be at least 1, got " + maxTokens);
        }
        stopTokenIds = stopTokenIds == null ? Set.of() : Collections.unmodifiableSet(new LinkedHashSet<>(stopTokenIds));
        stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new NemotronException("stop strings must not be empty");
            }
        }
    }

    /** Greedy, no limit but the context, no stops, no budget, reasoning state from the prompt. */
    public static GenerationOptions defaults() {
        return new GenerationOptions(SamplingParams.GREEDY, Integer.MAX_VALUE, Set.of(), List.of(), null, null);
    }

    public GenerationOptions withSampling(SamplingParams s) {
        return new GenerationOptions(s, maxTokens, stopTokenIds, stopStrings, thinkingBudget, startInReasoning);
    }

    public GenerationOptions withMaxTokens(int n) {
        return new GenerationOptions(sampling, n, stopTokenIds, stopStrings, thinkingBudget, startInReasoning);
    }

    public GenerationOptions withStopTokenIds(Collection<Integer> ids) {
        return new GenerationOptions(sampling, maxTokens, new LinkedHashSet<>(ids), stopStrings, thinkingBudget,
                startInReasoning);
    }

    public GenerationOptions withStopStrings(List<String> stops) {
        return new GenerationOptions(sampling, maxTokens, stopTokenIds, stops, thinkingBudget, startInReasoning);
    }

    public GenerationOptions withThinkingBudget(ThinkingBudget budget) {
        return new GenerationOptions(sampling, maxTokens, stopTokenIds, stopStrings, budget, startInReasoning);
    }

    public GenerationOptions withStartInReasoning(Boolean inReasoning) {
        return new GenerationOptions(sampling, maxTokens, stopTokenIds, stopStrings, thinkingBudget, inReasoning);
    }
}
