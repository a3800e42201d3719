package org.nemotron4j.sampling;

import org.nemotron4j.NemotronException;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How the next token is chosen from a row of logits. The pipeline, in the order {@link Sampler} applies it:
 * <ol>
 *   <li>penalties over the token history: repetition (Hugging Face: a seen token's logit {@code l} becomes
 *       {@code l / r} if positive, {@code l * r} otherwise; prompt and generated tokens), presence and frequency
 *       (OpenAI: {@code l -= presence + frequency * count}, over generated tokens);</li>
 *   <li>logit bias: {@code l[id] += bias} ({@code -infinity} bans a token);</li>
 *   <li>{@code temperature == 0}: greedy, the first index of the largest logit; otherwise</li>
 *   <li>softmax of {@code l / temperature}, then top-k (the k largest), top-p (the smallest set of most probable
 *       tokens whose mass reaches p) and min-p (tokens with probability at least {@code minP} times the largest),
 *       then one draw from what is left, renormalized.</li>
 * </ol>
 *
 * @param temperature       0 for greedy, else > 0
 * @param topK              0 disables it
 * @param topP              in (0, 1]; 1 disables it
 * @param minP              in [0, 1); 0 disables it
 * @param repetitionPenalty > 0; 1 disables it
 * @param presencePenalty   0 disables it
 * @param frequencyPenalty  0 disables it
 * @param logitBias         token id to an additive bias
 * @param seed              the random seed, or null for a fresh random one per {@link Sampler}
 */
public record SamplingParams(double temperature, int topK, double topP, double minP, double repetitionPenalty,
                             double presencePenalty, double frequencyPenalty, Map<Integer, Float> logitBias,
                             Long seed) {

    /** Greedy decoding without penalties. */
    public static final SamplingParams GREEDY = new SamplingParams(0, 0, 1, 0, 1, 0, 0, Map.of(), null);

    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new NemotronException("temperature must be finite and >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new NemotronException("topK must be >= 0 (0 disables it), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new NemotronException("topP must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0 && minP < 1)) {
            throw new NemotronException("minP must be in [0, 1), got " + minP);
        }
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new NemotronException("repetitionPenalty must be finite and > 0, got " + repetitionPenalty);
        }
        if (!Double.isFinite(presencePenalty) || !Double.isFinite(frequencyPenalty)) {
            throw new NemotronException("presence and frequency penalties must be finite, got " + presencePenalty
                    + " and " + frequencyPenalty);
        }
        var bias = new LinkedHashMap<Integer, Float>();
        if (logitBias != null) {
            logitBias.forEach((id, b) -> {
                if (id == null || id < 0) {
                    throw new NemotronException("logit bias token id must be >= 0, got " + id);
                }
                if (b == null || b.isNaN() || b == Float.POSITIVE_INFINITY) {
                    throw new NemotronException("logit bias of token " + id + " must be a number or -infinity, got "
                            + b);
                }
                bias.put(id, b);
            });
        }
        logitBias = Collections.unmodifiableMap(bias);
    }

    public static SamplingParams greedy() {
        return GREEDY;
    }

    /** Plain sampling at a temperature, nothing else. */
    public static SamplingParams ofTemperature(double temperature) {
        return GREEDY.withTemperature(temperature);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    public boolean hasPenalties() {
        return repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0;
    }

    public SamplingParams withTemperature(double t) {
        return new SamplingParams(t, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                logitBias, seed);
    }

    public SamplingParams withTopK(int k) {
        return new SamplingParams(temperature, k, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                logitBias, seed);
    }

    public SamplingParams withTopP(double p) {
        return new SamplingParams(temperature, topK, p, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                logitBias, seed);
    }

    public SamplingParams withMinP(double p) {
        return new SamplingParams(temperature, topK, topP, p, repetitionPenalty, presencePenalty, frequencyPenalty,
                logitBias, seed);
    }

    public SamplingParams withRepetitionPenalty(double r) {
        return new SamplingParams(temperature, topK, topP, minP, r, presencePenalty, frequencyPenalty, logitBias,
                seed);
    }

    public SamplingParams withPresencePenalty(double p) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, p, frequencyPenalty, logitBias,
                seed);
    }

    public SamplingParams withFrequencyPenalty(double f) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, f, logitBias,
                seed);
    }

    public SamplingParams withLogitBias(Map<Integer, Float> bias) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                bias, seed);
    }

    /** A copy with the given seed (null: a fresh random seed per sampler). */
    public SamplingParams withSeed(Long s) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                logitBias, s);
    }
}
