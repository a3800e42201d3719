package org.nemotron4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import org.nemotron4j.Channel;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.FinishReason;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronException;
import org.nemotron4j.ToolCall;
import org.nemotron4j.chat.ToolCallParser;
import org.nemotron4j.serving.Scheduler.ScheduledRequest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * {@code POST /v1/chat/completions}, as OpenAI's API reference describes it, with vLLM's extensions: the answer in
 * {@code message.content}, the reasoning in {@code message.reasoning_content} (streamed as
 * {@code delta.reasoning_content}), tool calls as structured {@code tool_calls} with {@code finish_reason
 * "tool_calls"}; {@code top_k}, {@code min_p}, {@code repetition_penalty} and
 * {@code chat_template_kwargs: {"enable_thinking": bool}} accepted as in vLLM; the thinking budget as the extra field
 * {@code thinking_budget} (tokens of reasoning before {@code </think>} is forced). {@code usage} counts the prompt
 * once, the completions of all choices, cached prompt tokens ({@code prompt_tokens_details.cached_tokens}) and
 * reasoning tokens ({@code completion_tokens_details.reasoning_tokens}).
 */
final class ChatCompletions {
    private final NemotronServer server;
    private final ObjectMapper json;

    ChatCompletions(NemotronServer server, ObjectMapper json) {
        this.server = server;
        this.json = json;
    }

    /** A parsed request: the conversation with its options, and how to answer. */
    record Call(ChatRequest request, int n, boolean stream, boolean includeUsage, boolean logprobs, int topLogprobs,
                boolean tools) { }

    Call parse(JsonNode body) {
        RequestParams p = new RequestParams(body);
        server.checkModel(p.string("model", true));
        List<Message> messages = messages(p.node("messages"));
        ChatRequest r;
        try {
            r = ChatRequest.of(messages);
        } catch (NemotronException e) {
            throw ApiError.invalid(e.getMessage(), "messages");
        }
        List<JsonNode> tools = tools(p.node("tools"), p.node("tool_choice"));
        if (!tools.isEmpty()) {
            r = r.tools(tools);
        }
        Integer maxTokens = p.integer("max_completion_tokens", 1, Integer.MAX_VALUE);
        if (maxTokens == null) {
            maxTokens = p.integer("max_tokens", 1, Integer.MAX_VALUE);
        }
        if (maxTokens != null) {
            r = r.maxTokens(maxTokens);
        }
        r = SamplingFields.apply(p, r);
        JsonNode kwargs = p.node("chat_template_kwargs");
        if (kwargs != null) {
            if (!kwargs.isObject()) {
                throw ApiError.invalid("'chat_template_kwargs' must be an object", "chat_template_kwargs");
            }
            JsonNode think = kwargs.get("enable_thinking");
            if (think != null && !think.isNull()) {
                if (!think.isBoolean()) {
                    throw ApiError.invalid("'chat_template_kwargs.enable_thinking' must be a boolean",
                            "chat_template_kwargs");
                }
                r = r.reasoning(think.booleanValue());
            }
        }
        Integer budget = p.integer("thinking_budget", 0, Integer.MAX_VALUE);
        if (budget != null) {
            r = r.thinkingBudget(budget);
        }
        int n = p.integer("n", 1, server.options().maxN()) instanceof Integer v ? v : 1;
        boolean stream = p.bool("stream", false);
        JsonNode so = p.node("stream_options");
        boolean includeUsage = so != null && so.path("include_usage").asBoolean(false);
        boolean logprobs = p.bool("logprobs", false);
        Integer top = p.integer("top_logprobs", 0, 20);
        if (top != null && top > 0 && !logprobs) {
            throw ApiError.invalid("'top_logprobs' needs 'logprobs': true", "top_logprobs");
        }
        return new Call(r, n, stream, includeUsage, logprobs, top == null ? 0 : top, !tools.isEmpty());
    }

    private static List<Message> messages(JsonNode node) {
        if (node == null) {
            throw ApiError.invalid("'messages' is a required property", "messages");
        }
        if (!node.isArray() || node.isEmpty()) {
            throw ApiError.invalid("'messages' must be a non-empty array", "messages");
        }
        List<Message> out = new ArrayList<>();
        for (JsonNode m : node) {
            if (!m.isObject()) {
                throw ApiError.invalid("each message must be an object", "messages");
            }
            String role = m.path("role").asText(null);
            try {
                Message.checkRole(role);
                String content = content(m.get("content"));
                List<ToolCall> calls = new ArrayList<>();
                JsonNode tc = m.get("tool_calls");
                if (tc != null && !tc.isNull()) {
                    if (!tc.isArray()) {
                        throw ApiError.invalid("'tool_calls' must be an array", "messages");
                    }
                    for (JsonNode c : tc) {
                        JsonNode f = c.path("function");
                        String name = f.path("name").asText("");
                        JsonNode args = f.get("arguments");
                        calls.add(args != null && args.isTextual() ? ToolCall.of(name, args.textValue())
                                : ToolCall.of(name, args));
                    }
                }
                String reasoning = m.hasNonNull("reasoning_content") ? m.get("reasoning_content").asText() : null;
                String callId = m.hasNonNull("tool_call_id") ? m.get("tool_call_id").asText() : null;
                if (!Message.ASSISTANT.equals(role)) {
                    reasoning = null;
                }
                if (!Message.TOOL.equals(role)) {
                    callId = null;
                }
                out.add(new Message(role, content, reasoning, calls, callId));
            } catch (NemotronException e) {
                throw ApiError.invalid(e.getMessage(), "messages");
            }
        }
        return out;
    }

    /** A message's content: a string, or an array of {@code {"type": "text", "text": ...}} parts, or null. */
    private static String content(JsonNode c) {
        if (c == null || c.isNull()) {
            return null;
        }
        if (c.isTextual()) {
            return c.textValue();
        }
        if (c.isArray()) {
            StringBuilder s = new StringBuilder();
            for (JsonNode part : c) {
                if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiError.invalid("only text content parts are supported", "messages");
                }
                s.append(part.get("text").textValue());
            }
            return s.toString();
        }
        throw ApiError.invalid("message content must be a string or an array of text parts", "messages");
    }

    /** The tools the template gets: none for {@code tool_choice: "none"}, only the named one for a named choice. */
    private static List<JsonNode> tools(JsonNode tools, JsonNode choice) {
        List<JsonNode> out = new ArrayList<>();
        if (tools == null) {
            if (choice != null && !(choice.isTextual() && "none".equals(choice.textValue()))
                    && !(choice.isTextual() && "auto".equals(choice.textValue()))) {
                throw ApiError.invalid("'tool_choice' needs 'tools'", "tool_choice");
            }
            return out;
        }
        if (!tools.isArray()) {
            throw ApiError.invalid("'tools' must be an array", "tools");
        }
        for (JsonNode t : tools) {
            if (!t.isObject() || !"function".equals(t.path("type").asText("function"))
                    || !t.path("function").path("name").isTextual()) {
                throw ApiError.invalid("each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                        "tools");
            }
            out.add(t);
        }
        if (choice == null || (choice.isTextual() && ("auto".equals(choice.textValue())
                || "required".equals(choice.textValue())))) {
            return out;
        }
        if (choice.isTextual() && "none".equals(choice.textValue())) {
            return List.of();
        }
        String name = choice.path("function").path("name").asText(null);
        if (!choice.isObject() || name == null) {
            throw ApiError.invalid("'tool_choice' must be \"none\", \"auto\", \"required\" or"
                    + " {\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice");
        }
        List<JsonNode> named = out.stream().filter(t -> name.equals(t.path("function").path("name").asText()))
                .toList();
        if (named.isEmpty()) {
            throw ApiError.invalid("'tool_choice' names a tool that is not in 'tools': " + name, "tool_choice");
        }
        return named;
    }

    // ---- answering ----

    void handle(HttpExchange ex, JsonNode body, long arrival) throws IOException {
        Call call = parse(body);
        List<ScheduledRequest> requests = new ArrayList<>();
        try {
            for (int i = 0; i < call.n(); i++) {
                ChatRequest r = call.request();
                if (r.seed().isPresent() && i > 0) {
                    r = r.seed(r.seed().getAsLong() + i);
                }
                requests.add(server.scheduler().submit(r, LogprobCapture.of(server.options().logitsProcessor(),
                        call.logprobs(), call.topLogprobs(), server.model().tokenizer())));
            }
        } catch (RuntimeException e) {
            requests.forEach(ScheduledRequest::cancel);
            throw server.translate(e);
        }
        String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        ChoiceEvents events = new ChoiceEvents(requests, arrival, server.metrics());
        if (call.stream()) {
            stream(ex, call, requests, events, id, created);
        } else {
            complete(ex, call, requests, events, id, created);
        }
    }

    private void complete(HttpExchange ex, Call call, List<ScheduledRequest> requests, ChoiceEvents events, String id,
                          long created) throws IOException {
        List<List<JsonNode>> logprobs = new ArrayList<>();
        for (int i = 0; i < call.n(); i++) {
            logprobs.add(new ArrayList<>());
        }
        RuntimeException failure = null;
        for (ChoiceEvents.Event e; (e = events.next()) != null; ) {
            if (e.error() != null && failure == null) {
                failure = e.error();
                events.cancelAll();
            } else if (e.produced() != null && e.produced().annotation() instanceof ArrayNode a) {
                a.forEach(logprobs.get(e.index())::add);
            }
        }
        if (failure != null) {
            throw server.translate(failure);
        }
        ObjectNode root = header(id, "chat.completion", created);
        ArrayNode choices = root.putArray("choices");
        List<GenerationResult> results = new ArrayList<>();
        for (int i = 0; i < call.n(); i++) {
            GenerationResult r = requests.get(i).result().join();
            results.add(r);
            ObjectNode c = choices.addObject();
            c.put("index", i);
            ObjectNode msg = c.putObject("message");
            msg.put("role", "assistant");
            boolean calls = call.tools() && r.hasToolCalls();
            String answer = call.tools() ? r.answer() : unparsedAnswer(r);
            msg.put("content", answer.isEmpty() && calls ? null : answer);
            msg.put("reasoning_content", r.reasoning().isEmpty() ? null : r.reasoning());
            if (calls) {
                msg.set("tool_calls", toolCalls(r.toolCalls(), false));
            }
            if (call.logprobs()) {
                c.putObject("logprobs").putArray("content").addAll(logprobs.get(i));
            } else {
                c.putNull("logprobs");
            }
            c.put("finish_reason", finishReason(r.finishReason(), calls));
        }
        root.set("usage", usage(requests, results));
        server.sendJson(ex, 200, root);
    }

    /** Without tools in the request, tool-call-looking text stays in the answer as the model wrote it. */
    private static String unparsedAnswer(GenerationResult r) {
        if (!r.hasToolCalls() && !r.toolCallMalformed()) {
            return r.answer();
        }
        StringBuilder s = new StringBuilder(r.answer());
        for (ToolCall c : r.toolCalls()) {
            s.append(ToolCallParser.OPEN_TAG).append("[{\"name\": \"").append(c.name()).append("\", \"arguments\": ")
                    .append(c.argumentsJson()).append("}]").append(ToolCallParser.CLOSE_TAG);
        }
        return s.toString();
    }

    private void stream(HttpExchange ex, Call call, List<ScheduledRequest> requests, ChoiceEvents events, String id,
                        long created) throws IOException {
        SseWriter sse = new SseWriter(ex, json);
        ToolCallStreamFilter[] filters = new ToolCallStreamFilter[call.n()];
        boolean[] started = new boolean[call.n()];
        for (int i = 0; i < call.n(); i++) {
            filters[i] = call.tools() ? new ToolCallStreamFilter() : null;
        }
        boolean opened = false;
        try {
            for (ChoiceEvents.Event e; (e = events.next()) != null; ) {
                if (e.error() != null) {
                    events.cancelAll();
                    ApiError err = server.translate(e.error());
                    if (!opened) {
                        throw err;       // nothing sent yet: a plain error response with its status
                    }
                    sse.send(err.toJson());
                    continue;
                }
                if (e.produced() == null) {
                    continue;
                }
                if (!opened) {
                    sse.open();
                    opened = true;
                }
                int i = e.index();
                if (!started[i]) {
                    started[i] = true;
                    ObjectNode d = JsonNodeFactory.instance.objectNode();
                    d.put("role", "assistant");
                    d.put("content", "");
                    sse.send(chunk(id, created, i, d, null, null));
                }
                GenerationDelta delta = e.produced().delta();
                JsonNode lp = call.logprobs() && e.produced().annotation() instanceof ArrayNode a ? a : null;
                String text = delta.text();
                if (delta.channel() == Channel.ANSWER && filters[i] != null) {
                    text = filters[i].push(text);
                }
                if (!text.isEmpty() || lp != null) {
                    ObjectNode d = JsonNodeFactory.instance.objectNode();
                    if (!text.isEmpty()) {
                        d.put(delta.channel() == Channel.REASONING ? "reasoning_content" : "content", text);
                    }
                    sse.send(chunk(id, created, i, d, lp, null));
                }
                if (delta.isLast()) {
                    boolean calls = false;
                    if (filters[i] != null) {
                        ToolCallParser.Parsed parsed = filters[i].finish();
                        if (!parsed.content().isEmpty()) {
                            ObjectNode d = JsonNodeFactory.instance.objectNode();
                            d.put("content", parsed.content());
                            sse.send(chunk(id, created, i, d, null, null));
                        }
                        if (!parsed.toolCalls().isEmpty()) {
                            calls = true;
                            ObjectNode d = JsonNodeFactory.instance.objectNode();
                            d.set("tool_calls", toolCalls(parsed.toolCalls(), true));
                            sse.send(chunk(id, created, i, d, null, null));
                        }
                    }
                    sse.send(chunk(id, created, i, JsonNodeFactory.instance.objectNode(), null,
                            finishReason(delta.finishReason(), calls)));
                }
            }
            if (call.includeUsage()) {
                List<GenerationResult> results = new ArrayList<>();
                for (ScheduledRequest r : requests) {
                    results.add(r.result().exceptionally(t -> null).join());
                }
                if (!results.contains(null)) {
                    ObjectNode u = header(id, "chat.completion.chunk", created);
                    u.putArray("choices");
                    u.set("usage", usage(requests, results));
                    sse.send(u);
                }
            }
            sse.done();
        } catch (IOException e) {
            // the client has gone: cancel its generations, which frees their sessions
            events.cancelAll();
            server.metrics().requestCancelled();
            throw e;
        }
    }

    private ObjectNode header(String id, String object, long created) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", server.modelName());
        return root;
    }

    private ObjectNode chunk(String id, long created, int index, ObjectNode delta, JsonNode logprobs, String finish) {
        ObjectNode root = header(id, "chat.completion.chunk", created);
        ObjectNode c = root.putArray("choices").addObject();
        c.put("index", index);
        c.set("delta", delta);
        if (logprobs != null) {
            c.putObject("logprobs").set("content", logprobs);
        } else {
            c.putNull("logprobs");
        }
        c.put("finish_reason", finish);
        return root;
    }

    static ArrayNode toolCalls(List<ToolCall> calls, boolean indexed) {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        for (int k = 0; k < calls.size(); k++) {
            ToolCall c = calls.get(k);
            ObjectNode o = a.addObject();
            if (indexed) {
                o.put("index", k);
            }
            o.put("id", "call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24));
            o.put("type", "function");
            ObjectNode f = o.putObject("function");
            f.put("name", c.name());
            f.put("arguments", c.argumentsJson());
        }
        return a;
    }

    static String finishReason(FinishReason r, boolean toolCalls) {
        if (toolCalls && r == FinishReason.STOP) {
            return "tool_calls";
        }
        return r == FinishReason.LENGTH ? "length" : "stop";
    }

    static ObjectNode usage(List<ScheduledRequest> requests, List<GenerationResult> results) {
        int completion = 0;
        int reasoning = 0;
        for (GenerationResult r : results) {
            completion += r.usage().generatedTokens();
            reasoning += r.usage().reasoningTokens();
        }
        int prompt = requests.getFirst().promptTokens();
        ObjectNode u = JsonNodeFactory.instance.objectNode();
        u.put("prompt_tokens", prompt);
        u.put("completion_tokens", completion);
        u.put("total_tokens", prompt + completion);
        u.putObject("prompt_tokens_details").put("cached_tokens", requests.getFirst().cachedPromptTokens());
        u.putObject("completion_tokens_details").put("reasoning_tokens", reasoning);
        return u;
    }
}
