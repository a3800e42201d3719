package org.nemotron4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.Message;
import org.nemotron4j.generate.Generation;
import org.nemotron4j.generate.GenerationOptions;
import org.nemotron4j.serving.Scheduler.ScheduledRequest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * {@code POST /v1/completions} (OpenAI's legacy text completions): {@code prompt} is a string, an array of one
 * string, or an array of token ids, fed as is (no chat template); {@code max_tokens} defaults to 16 as in OpenAI's
 * reference; the text is everything generated (reasoning tags are not split out). {@code echo}, {@code suffix},
 * {@code best_of} and {@code logprobs} are not supported (400).
 */
final class Completions {
    private final NemotronServer server;
    private final ObjectMapper json;

    Completions(NemotronServer server, ObjectMapper json) {
        this.server = server;
        this.json = json;
    }

    void handle(HttpExchange ex, JsonNode body, long arrival) throws IOException {
        RequestParams p = new RequestParams(body);
        server.checkModel(p.string("model", true));
        for (String unsupported : List.of("suffix", "best_of", "logprobs")) {
            if (p.node(unsupported) != null) {
                throw ApiError.invalid("'" + unsupported + "' is not supported", unsupported);
            }
        }
        if (p.bool("echo", false)) {
            throw ApiError.invalid("'echo' is not supported", "echo");
        }
        JsonNode prompt = p.node("prompt");
        int[] ids;
        String text = null;
        if (prompt == null) {
            throw ApiError.invalid("'prompt' is a required property", "prompt");
        } else if (prompt.isTextual() || (prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual())) {
            text = prompt.isTextual() ? prompt.textValue() : prompt.get(0).textValue();
            ids = server.model().tokenizer().encode(text, true);
        } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            ids = new int[prompt.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode t = prompt.get(i);
                if (!t.isIntegralNumber() || t.asInt() < 0 || t.asInt() >= server.model().config().vocabSize()) {
                    throw ApiError.invalid("'prompt' token ids must be integers in [0, vocab size)", "prompt");
                }
                ids[i] = t.asInt();
            }
        } else {
            throw ApiError.invalid("'prompt' must be a string, an array of one string or an array of token ids"
                    + " (batches of prompts are not supported)", "prompt");
        }
        if (ids.length == 0) {
            throw ApiError.invalid("'prompt' is empty", "prompt");
        }
        ChatRequest r = SamplingFields.apply(p, ChatRequest.of(Message.user("")));
        Integer maxTokens = p.integer("max_tokens", 1, Integer.MAX_VALUE);
        r = r.maxTokens(maxTokens == null ? 16 : maxTokens);
        int n = p.integer("n", 1, server.options().maxN()) instanceof Integer v ? v : 1;
        boolean stream = p.bool("stream", false);
        JsonNode so = p.node("stream_options");
        boolean includeUsage = so != null && so.path("include_usage").asBoolean(false);

        List<ScheduledRequest> requests = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                ChatRequest ri = r.seed().isPresent() && i > 0 ? r.seed(r.seed().getAsLong() + i) : r;
                GenerationOptions opts = Generation.options(ri, server.model().generationConfig())
                        .withStartInReasoning(false);
                requests.add(server.scheduler().submit(ids, text, opts,
                        LogprobCapture.of(server.options().logitsProcessor(), false, 0, server.model().tokenizer())));
            }
        } catch (RuntimeException e) {
            requests.forEach(ScheduledRequest::cancel);
            throw server.translate(e);
        }
        String id = "cmpl-" + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        ChoiceEvents events = new ChoiceEvents(requests, arrival, server.metrics());
        StringBuilder[] texts = new StringBuilder[n];
        for (int i = 0; i < n; i++) {
            texts[i] = new StringBuilder();
        }
        SseWriter sse = stream ? new SseWriter(ex, json) : null;
        boolean opened = false;
        RuntimeException failure = null;
        try {
            for (ChoiceEvents.Event e; (e = events.next()) != null; ) {
                if (e.error() != null) {
                    events.cancelAll();
                    if (failure == null) {
                        failure = e.error();
                        if (opened) {
                            sse.send(server.translate(failure).toJson());
                        }
                    }
                    continue;
                }
                if (e.produced() == null) {
                    continue;
                }
                var d = e.produced().delta();
                texts[e.index()].append(d.text());
                if (sse != null && (!d.text().isEmpty() || d.isLast())) {
                    opened = true;
                    ObjectNode c = header(id, created);
                    ObjectNode ch = c.putArray("choices").addObject();
                    ch.put("index", e.index());
                    ch.put("text", d.text());
                    ch.putNull("logprobs");
                    ch.put("finish_reason", d.isLast() ? ChatCompletions.finishReason(d.finishReason(), false) : null);
                    sse.send(c);
                }
            }
            if (failure != null && !opened) {
                throw server.translate(failure);
            }
            List<GenerationResult> results = new ArrayList<>();
            for (ScheduledRequest q : requests) {
                results.add(q.result().exceptionally(t -> null).join());
            }
            ObjectNode usage = results.contains(null) ? null : ChatCompletions.usage(requests, results);
            if (sse != null) {
                if (includeUsage && usage != null) {
                    ObjectNode u = header(id, created);
                    u.putArray("choices");
                    u.set("usage", usage);
                    sse.send(u);
                }
                sse.done();
                return;
            }
            ObjectNode root = header(id, created);
            ArrayNode choices = root.putArray("choices");
            for (int i = 0; i < n; i++) {
                ObjectNode c = choices.addObject();
                c.put("index", i);
                c.put("text", texts[i].toString());
                c.putNull("logprobs");
                c.put("finish_reason", ChatCompletions.finishReason(results.get(i).finishReason(), false));
            }
            root.set("usage", usage);
            server.sendJson(ex, 200, root);
        } catch (IOException e) {
            events.cancelAll();
            server.metrics().requestCancelled();
            throw e;
        }
    }

    private ObjectNode header(String id, long created) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        root.put("id", id);
        root.put("object", "text_completion");
        root.put("created", created);
        root.put("model", server.modelName());
        return root;
    }
}
