package org.nemotron4j.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.generate.TextCodec;
import org.nemotron4j.serving.LogitsHook;

import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * The per-choice logits hook: runs the optional logits processor, then (when log-probabilities were asked for)
 * keeps the row each token is sampled from and turns every delta's tokens into OpenAI {@code logprobs.content}
 * entries: {@code {"token", "logprob", "bytes", "top_logprobs": [...]}}, where logprob = logit − log Σ exp(logits)
 * over the raw model logits (as vLLM reports them by default, before temperature and truncation).
 */
final class LogprobCapture implements LogitsHook {
    private final LogitsHook processor;
    private final boolean enabled;
    private final int top;
    private final TextCodec codec;
    private float[] row;

    private LogprobCapture(LogitsHook processor, boolean enabled, int top, TextCodec codec) {
        this.processor = processor;
        this.enabled = enabled;
        this.top = top;
        this.codec = codec;
    }

    /** Null when there is nothing to do (no processor, no log-probabilities). */
    static LogitsHook of(Supplier<LogitsHook> processors, boolean logprobs, int top, TextCodec codec) {
        LogitsHook p = processors == null ? null : processors.get();
        if (p == null && !logprobs) {
            return null;
        }
        return new LogprobCapture(p, logprobs, top, codec);
    }

    @Override
    public void onLogits(int step, float[] logits) {
        if (processor != null) {
            processor.onLogits(step, logits);
        }
        if (enabled) {
            row = logits.clone();
        }
    }

    /** An array of content entries, one per token of the delta, or null. */
    @Override
    public Object onDelta(GenerationDelta delta) {
        if (!enabled || row == null || delta.tokenIds().length == 0) {
            return null;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : row) {
            sum += Math.exp(v - max);
        }
        double logZ = max + Math.log(sum);
        ArrayNode entries = JsonNodeFactory.instance.arrayNode();
        for (int id : delta.tokenIds()) {
            ObjectNode e = entry(id, row[id] - logZ);
            ArrayNode tops = e.putArray("top_logprobs");
            boolean[] taken = new boolean[row.length];
            for (int k = 0; k < top; k++) {
                int best = -1;
                for (int i = 0; i < row.length; i++) {
                    if (!taken[i] && (best < 0 || row[i] > row[best])) {
                        best = i;
                    }
                }
                if (best < 0) {
                    break;
                }
                taken[best] = true;
                tops.add(entry(best, row[best] - logZ));
            }
            entries.add(e);
        }
        return entries;
    }

    private ObjectNode entry(int id, double logprob) {
        ObjectNode e = JsonNodeFactory.instance.objectNode();
        byte[] bytes = id < codec.vocabSize() ? codec.tokenBytes(id) : new byte[0];
        e.put("token", new String(bytes, StandardCharsets.UTF_8));
        e.put("logprob", Double.isFinite(logprob) ? logprob : -9999.0);
        ArrayNode b = e.putArray("bytes");
        for (byte x : bytes) {
            b.add(x & 0xff);
        }
        return e;
    }
}
