package org.nemotron4j.generate;

import org.nemotron4j.ChatRequest;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.NemotronException;
import org.nemotron4j.chat.ChatTemplate;
import org.nemotron4j.chat.ThinkingBudget;
import org.nemotron4j.sampling.SamplingParams;

import java.util.Objects;

/**
 * Entry points of the generation loop: text in (a chat request through the chat template, or prompt token ids),
 * a {@link GenerationStream} of deltas out.
 *
 * <pre>{@code
 * try (GenerationStream s = Generation.chat(session, tokenizer, template, request, generationConfig)) {
 *     s.forEachRemaining(delta -> System.out.print(delta.text()));
 * }
 * }</pre>
 */
public final class Generation {
    private Generation() {
    }

    /**
     * Renders {@code request} with {@code template}, tokenizes it (no special tokens added: the template writes
     * them) and starts generating. Options the request leaves unset come from {@code config}; its
     * {@code eosTokenIds} are the stop ids.
     */
    public static GenerationStream chat(TokenModel model, TextCodec codec, ChatTemplate template, ChatRequest request,
                                        GenerationConfig config) {
        Objects.requireNonNull(template, "template");
        Objects.requireNonNull(request, "request");
        String prompt = template.render(request);
        int[] ids = Objects.requireNonNull(codec, "codec").encode(prompt, false);
        return new GenerationStream(model, codec, ids, options(request, config), prompt);
    }

    /** Generates from prompt token ids. */
    public static GenerationStream start(TokenModel model, TextCodec codec, int[] promptIds,
                                         GenerationOptions options) {
        return new GenerationStream(model, codec, promptIds, options, null);
    }

    /** {@link #chat} run to the end. */
    public static GenerationResult generate(TokenModel model, TextCodec codec, ChatTemplate template,
                                            ChatRequest request, GenerationConfig config) {
        try (GenerationStream s = chat(model, codec, template, request, config)) {
            return s.collect();
        }
    }

    /** The loop options a request implies, with {@code config} supplying what it leaves unset. */
    public static GenerationOptions options(ChatRequest request, GenerationConfig config) {
        GenerationConfig c = config != null ? config : GenerationConfig.defaults();
        int maxTokens = request.maxTokens().orElse(c.maxNewTokens() != null && c.maxNewTokens() > 0
                ? c.maxNewTokens() : Integer.MAX_VALUE);
        ThinkingBudget budget = request.thinkingBudget().isPresent()
                ? new ThinkingBudget(request.thinkingBudget().getAsInt()) : null;
        return new GenerationOptions(sampling(request, c.samplingDefaults()), maxTokens, c.eosTokenIds(),
                request.stopStrings(), budget, null);
    }

    /** The request's sampling options over {@code defaults}. */
    public static SamplingParams sampling(ChatRequest request, SamplingParams defaults) {
        try {
            return new SamplingParams(
                    request.temperature().orElse(defaults.temperature()),
                    request.topK().orElse(defaults.topK()),
                    request.topP().orElse(defaults.topP()),
                    request.minP().orElse(defaults.minP()),
                    request.repetitionPenalty().orElse(defaults.repetitionPenalty()),
                    request.presencePenalty().orElse(defaults.presencePenalty()),
                    request.frequencyPenalty().orElse(defaults.frequencyPenalty()),
                    request.logitBias().isEmpty() ? defaults.logitBias() : request.logitBias(),
                    request.seed().isPresent() ? Long.valueOf(request.seed().getAsLong()) : defaults.seed());
        } catch (NemotronException e) {
            throw new NemotronException("invalid sampling options: " + e.getMessage(), e);
        }
    }
}
