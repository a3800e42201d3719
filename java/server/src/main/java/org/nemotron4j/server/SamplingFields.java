package org.nemotron4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.NemotronException;

import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The sampling fields both generation endpoints share: {@code temperature} [0, 2], {@code top_p} (0, 1],
 * {@code top_k} (vLLM: -1 or 0 disables), {@code min_p} [0, 1), {@code seed}, {@code stop},
 * {@code presence_penalty} and {@code frequency_penalty} [-2, 2], {@code repetition_penalty} (vLLM) and
 * {@code logit_bias} (token id → [-100, 100]).
 */
final class SamplingFields {
    private SamplingFields() {
    }

    static ChatRequest apply(RequestParams p, ChatRequest r) {
        try {
            Double t = p.number("temperature", 0, 2, true);
            if (t != null) {
                r = r.temperature(t);
            }
            Double topP = p.number("top_p", 0, 1, false);
            if (topP != null) {
                r = r.topP(topP);
            }
            Integer topK = p.integer("top_k", -1, Integer.MAX_VALUE);
            if (topK != null) {
                r = r.topK(Math.max(topK, 0));
            }
            Double minP = p.number("min_p", 0, 1, true);
            if (minP != null) {
                if (minP >= 1) {
                    throw ApiError.invalid("'min_p' must be in [0, 1)", "min_p");
                }
                r = r.minP(minP);
            }
            Long seed = p.longValue("seed");
            if (seed != null) {
                r = r.seed(seed);
            }
            List<String> stop = p.stop();
            if (!stop.isEmpty()) {
                r = r.stopStrings(stop);
            }
            Double presence = p.number("presence_penalty", -2, 2, true);
            if (presence != null) {
                r = r.presencePenalty(presence);
            }
            Double frequency = p.number("frequency_penalty", -2, 2, true);
            if (frequency != null) {
                r = r.frequencyPenalty(frequency);
            }
            Double repetition = p.number("repetition_penalty", 0, 100, false);
            if (repetition != null) {
                r = r.repetitionPenalty(repetition);
            }
            JsonNode bias = p.node("logit_bias");
            if (bias != null) {
                if (!bias.isObject()) {
                    throw ApiError.invalid("'logit_bias' must be an object of token id to bias", "logit_bias");
                }
                for (Iterator<Map.Entry<String, JsonNode>> it = bias.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    int id;
                    try {
                        id = Integer.parseInt(e.getKey());
                    } catch (NumberFormatException ex) {
                        throw ApiError.invalid("'logit_bias' keys must be token ids, got " + e.getKey(), "logit_bias");
                    }
                    double v = e.getValue().asDouble(Double.NaN);
                    if (!e.getValue().isNumber() || v < -100 || v > 100) {
                        throw ApiError.invalid("'logit_bias' values must be numbers in [-100, 100]", "logit_bias");
                    }
                    r = r.logitBias(id, (float) v);
                }
            }
            return r;
        } catch (NemotronException e) {
            throw ApiError.invalid(e.getMessage(), null);
        }
    }
}
