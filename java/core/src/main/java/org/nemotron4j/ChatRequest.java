package org.nemotron4j;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * An immutable chat request: the conversation plus generation options. Every option method returns a modified
 * copy; options left unset fall back to the checkpoint's {@code generation_config.json}.
 *
 * <pre>{@code
 * var request = ChatRequest.of(Message.system("/no_think"), Message.user("Why is the sky blue?"))
 *                          .maxTokens(256).temperature(0.6).topP(0.95);
 * }</pre>
 *
 * <p>Reasoning (Nemotron-Nano-v2): on by default; {@code reasoning(false)} is the API form of {@code /no_think}
 * and {@code reasoning(true)} of {@code /think}. {@code thinkingBudget(n)} ends the reasoning after about n tokens
 * (see {@link org.nemotron4j.chat.ThinkingBudget}).
 */
public final class ChatRequest {
    private final List<Message> messages;
    private final List<JsonNode> tools;
    private final Integer maxTokens;
    private final Double temperature;
    private final Double topP;
    private final Integer topK;
    private final Double minP;
    private final Double repetitionPenalty;
    private final Double presencePenalty;
    private final Double frequencyPenalty;
    private final Map<Integer, Float> logitBias;
    private final Long seed;
    private final Boolean reasoning;
    private final Integer thinkingBudget;
    private final List<String> stopStrings;
    private final boolean continueFinalMessage;

    private ChatRequest(Draft d) {
        this.messages = List.copyOf(d.messages);
        this.tools = d.tools.stream().<JsonNode>map(JsonNode::deepCopy).toList();
        this.maxTokens = d.maxTokens;
        this.temperature = d.temperature;
        this.topP = d.topP;
        this.topK = d.topK;
        this.minP = d.minP;
        this.repetitionPenalty = d.repetitionPenalty;
        this.presencePenalty = d.presencePenalty;
        this.frequencyPenalty = d.frequencyPenalty;
        this.logitBias = Collections.unmodifiableMap(new LinkedHashMap<>(d.logitBias));
        this.seed = d.seed;
        this.reasoning = d.reasoning;
        this.thinkingBudget = d.thinkingBudget;
        this.stopStrings = List.copyOf(d.stopStrings);
        this.continueFinalMessage = d.continueFinalMessage;
    }

    /** A request for the given conversation; it must hold at least one message. */
    public static ChatRequest of(Message... messages) {
        return of(Arrays.asList(messages));
    }

    /** A request for the given conversation; it must hold at least one message. */
    public static ChatRequest of(List<Message> messages) {
        Objects.requireNonNull(messages, "messages");
        if (messages.isEmpty()) {
            throw new NemotronException("a chat request needs at least one message");
        }
        for (Message m : messages) {
            Objects.requireNonNull(m, "message");
        }
        Draft d = new Draft();
        d.messages = messages;
        return new ChatRequest(d);
    }

    private ChatRequest with(Consumer<Draft> change) {
        Draft d = new Draft(this);
        change.accept(d);
        return new ChatRequest(d);
    }

    // ---- the conversation ----

    public List<Message> messages() {
        return messages;
    }

    /** A copy with one more message at the end. */
    public ChatRequest append(Message message) {
        Objects.requireNonNull(message, "message");
        return with(d -> {
            var list = new java.util.ArrayList<>(d.messages);
            list.add(message);
            d.messages = list;
        });
    }

    /** Tool definitions (OpenAI form {@code {"type":"function","function":{...}}} or the bare function object). */
    public List<JsonNode> tools() {
        return tools.stream().<JsonNode>map(JsonNode::deepCopy).toList();
    }

    public ChatRequest tools(JsonNode... tools) {
        return tools(Arrays.asList(tools));
    }

    public ChatRequest tools(List<? extends JsonNode> tools) {
        Objects.requireNonNull(tools, "tools");
        for (JsonNode t : tools) {
            if (t == null || !t.isObject()) {
                throw new NemotronException("a tool definition must be a JSON object, got " + t);
            }
        }
        return with(d -> d.tools = List.copyOf(tools));
    }

    /**
     * Whether to continue the final (assistant) message instead of starting a new turn: the prompt then ends right
     * after that message's content (Hugging Face's {@code continue_final_message}).
     */
    public boolean continueFinalMessage() {
        return continueFinalMessage;
    }

    public ChatRequest continueFinalMessage(boolean on) {
        return with(d -> d.continueFinalMessage = on);
    }

    // ---- limits and stops ----

    public OptionalInt maxTokens() {
        return maxTokens == null ? OptionalInt.empty() : OptionalInt.of(maxTokens);
    }

    /** The most tokens to generate (forced thinking-budget tokens and a final stop token included). */
    public ChatRequest maxTokens(int n) {
        if (n < 1) {
            throw new NemotronException("maxTokens must be at least 1, got " + n);
        }
        return with(d -> d.maxTokens = n);
    }

    public List<String> stopStrings() {
        return stopStrings;
    }

    /** Strings that end the generation when produced; they are not part of the output. */
    public ChatRequest stopStrings(String... stops) {
        return stopStrings(Arrays.asList(stops));
    }

    public ChatRequest stopStrings(List<String> stops) {
        Objects.requireNonNull(stops, "stops");
        for (String s : stops) {
            if (s == null || s.isEmpty()) {
                throw new NemotronException("stop strings must not be null or empty");
            }
        }
        return with(d -> d.stopStrings = List.copyOf(stops));
    }

    // ---- reasoning ----

    /** Empty when the conversation decides (Nemotron: on unless a message says /no_think). */
    public Optional<Boolean> reasoning() {
        return Optional.ofNullable(reasoning);
    }

    /** Turns reasoning on ({@code /think}) or off ({@code /no_think}) regardless of the messages. */
    public ChatRequest reasoning(boolean on) {
        return with(d -> d.reasoning = on);
    }

    public OptionalInt thinkingBudget() {
        return thinkingBudget == null ? OptionalInt.empty() : OptionalInt.of(thinkingBudget);
    }

    /** Ends the reasoning after about {@code tokens} reasoning tokens (at the next line end within 500 more). */
    public ChatRequest thinkingBudget(int tokens) {
        if (tokens < 0) {
            throw new NemotronException("thinkingBudget must not be negative, got " + tokens);
        }
        return with(d -> d.thinkingBudget = tokens);
    }

    // ---- sampling ----

    public OptionalDouble temperature() {
        return opt(temperature);
    }

    /** 0 selects greedy decoding. */
    public ChatRequest temperature(double t) {
        if (!(t >= 0) || Double.isInfinite(t)) {
            throw new NemotronException("temperature must be finite and >= 0, got " + t);
        }
        return with(d -> d.temperature = t);
    }

    public OptionalDouble topP() {
        return opt(topP);
    }

    public ChatRequest topP(double p) {
        if (!(p > 0 && p <= 1)) {
            throw new NemotronException("topP must be in (0, 1], got " + p);
        }
        return with(d -> d.topP = p);
    }

    public OptionalInt topK() {
        return topK == null ? OptionalInt.empty() : OptionalInt.of(topK);
    }

    /** 0 disables top-k. */
    public ChatRequest topK(int k) {
        if (k < 0) {
            throw new NemotronException("topK must be >= 0 (0 disables it), got " + k);
        }
        return with(d -> d.topK = k);
    }

    public OptionalDouble minP() {
        return opt(minP);
    }

    public ChatRequest minP(double p) {
        if (!(p >= 0 && p < 1)) {
            throw new NemotronException("minP must be in [0, 1), got " + p);
        }
        return with(d -> d.minP = p);
    }

    public OptionalDouble repetitionPenalty() {
        return opt(repetitionPenalty);
    }

    /** Hugging Face's repetition penalty (1 = off): seen tokens' positive logits are divided by it, negative ones multiplied. */
    public ChatRequest repetitionPenalty(double penalty) {
        if (!(penalty > 0) || Double.isInfinite(penalty)) {
            throw new NemotronException("repetitionPenalty must be finite and > 0, got " + penalty);
        }
        return with(d -> d.repetitionPenalty = penalty);
    }

    public OptionalDouble presencePenalty() {
        return opt(presencePenalty);
    }

    /** OpenAI's presence penalty: subtracted once from the logit of every token already generated. */
    public ChatRequest presencePenalty(double penalty) {
        if (!Double.isFinite(penalty)) {
            throw new NemotronException("presencePenalty must be finite, got " + penalty);
        }
        return with(d -> d.presencePenalty = penalty);
    }

    public OptionalDouble frequencyPenalty() {
        return opt(frequencyPenalty);
    }

    /** OpenAI's frequency penalty: subtracted from a token's logit once per time it was generated. */
    public ChatRequest frequencyPenalty(double penalty) {
        if (!Double.isFinite(penalty)) {
            throw new NemotronException("frequencyPenalty must be finite, got " + penalty);
        }
        return with(d -> d.frequencyPenalty = penalty);
    }

    public Map<Integer, Float> logitBias() {
        return logitBias;
    }

    /** Replaces the logit bias: token id to a value added to its logit (-infinity bans the token). */
    public ChatRequest logitBias(Map<Integer, Float> bias) {
        Objects.requireNonNull(bias, "bias");
        bias.forEach(ChatRequest::checkBias);
        return with(d -> d.logitBias = new LinkedHashMap<>(bias));
    }

    /** Adds (or replaces) one token's logit bias. */
    public ChatRequest logitBias(int tokenId, float bias) {
        checkBias(tokenId, bias);
        return with(d -> {
            d.logitBias = new LinkedHashMap<>(d.logitBias);
            d.logitBias.put(tokenId, bias);
        });
    }

    public OptionalLong seed() {
        return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
    }

    /** Makes sampling reproducible: the same seed, prompt and model give the same tokens. */
    public ChatRequest seed(long seed) {
        return with(d -> d.seed = seed);
    }

    private static void checkBias(Integer token, Float bias) {
        if (token == null || token < 0) {
            throw new NemotronException("logit bias token id must be >= 0, got " + token);
        }
        if (bias == null || bias.isNaN() || bias == Float.POSITIVE_INFINITY) {
            throw new NemotronException("logit bias for token " + token + " must be a number or -infinity, got " + bias);
        }
    }

    private static OptionalDouble opt(Double v) {
        return v == null ? OptionalDouble.empty() : OptionalDouble.of(v);
    }

    @Override
    public String toString() {
        return "ChatRequest[" + messages.size() + " messages, " + tools.size() + " tools"
                + (maxTokens != null ? ", maxTokens=" + maxTokens : "")
                + (temperature != null ? ", temperature=" + temperature : "")
                + (topP != null ? ", topP=" + topP : "")
                + (topK != null ? ", topK=" + topK : "")
                + (minP != null ? ", minP=" + minP : "")
                + (seed != null ? ", seed=" + seed : "")
                + (reasoning != null ? ", reasoning=" + reasoning : "")
                + (thinkingBudget != null ? ", thinkingBudget=" + thinkingBudget : "")
                + (stopStrings.isEmpty() ? "" : ", stopStrings=" + stopStrings)
                + (continueFinalMessage ? ", continueFinalMessage" : "") + "]";
    }

    /** Mutable scratch copy used to build the next immutable request. */
    private static final class Draft {
        List<Message> messages = List.of();
        List<JsonNode> tools = List.of();
        Integer maxTokens;
        Double temperature;
        Double topP;
        Integer topK;
        Double minP;
        Double repetitionPenalty;
        Double presencePenalty;
        Double frequencyPenalty;
        Map<Integer, Float> logitBias = new LinkedHashMap<>();
        Long seed;
        Boolean reasoning;
        Integer thinkingBudget;
        List<String> stopStrings = List.of();
        boolean continueFinalMessage;

        Draft() {
        }

        Draft(ChatRequest r) {
            messages = r.messages;
            tools = r.tools;
            maxTokens = r.maxTokens;
            temperature = r.temperature;
            topP = r.topP;
            topK = r.topK;
            minP = r.minP;
            repetitionPenalty = r.repetitionPenalty;
            presencePenalty = r.presencePenalty;
            frequencyPenalty = r.frequencyPenalty;
            logitBias = r.logitBias;
            seed = r.seed;
            reasoning = r.reasoning;
            thinkingBudget = r.thinkingBudget;
            stopStrings = r.stopStrings;
            continueFinalMessage = r.continueFinalMessage;
        }
    }
}
