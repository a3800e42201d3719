package org.nemotron4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.serving.LogitsHook;
import org.nemotron4j.serving.SchedulerOptions;
import org.nemotron4j.tokenizer.DemoTokenizer;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server against the official OpenAI Java SDK (and a plain HTTP client where the SDK hides what is tested), on a
 * small random-weight model with the demo tokenizer and Nemotron-Nano-v2's chat template. Where a test needs the
 * model to say something particular (reasoning, a tool call), a second server scripts its logits
 * ({@link ServerOptions#logitsProcessor()}): the generation loop, parsers and HTTP layer are the real ones.
 */
class OpenAiServerTest {
    static final String NAME = "tiny";
    static final ObjectMapper JSON = new ObjectMapper();
    static NemotronModel model;
    static NemotronServer server;
    static NemotronServer scripted;
    static String script;
    static OpenAIClient client;
    static OpenAIClient scriptedClient;
    static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        Path dir = Files.createTempDirectory("n4j-server");
        ModelConfig c = ModelConfig.parse("""
                {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
                 "num_hidden_layers": 4, "hybrid_override_pattern": "M*M-", "hidden_size": 64, "vocab_size": %d,
                 "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 16, "n_groups": 2, "conv_kernel": 4,
                 "chunk_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                 "intermediate_size": 96, "layer_norm_epsilon": 1e-5, "max_position_embeddings": 4096,
                 "use_conv_bias": true, "tie_word_embeddings": false, "time_step_limit": [0.0, Infinity],
                 "bos_token_id": 1, "eos_token_id": [2, 12], "pad_token_id": 0}
                """.formatted(DemoTokenizer.VOCAB_SIZE), "test config");
        ModelGenerator.generate(c, dir, 11, false, null);
        Path fixtures = Path.of(System.getProperty("n4j.fixtures", "../../../shared/fixtures"));
        DemoTokenizer.write(dir, Files.readString(fixtures.resolve("chat/nemotron-nano-v2/chat_template.jinja")));
        model = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact().withPrefillChunk(64));
        server = NemotronServer.start(model, ServerOptions.of(dir).withPort(0).withModelName(NAME)
                .withScheduler(SchedulerOptions.defaults().withMaxSequences(8)));
        scripted = NemotronServer.start(model, ServerOptions.of(dir).withPort(0).withModelName(NAME)
                .withLogitsProcessor(() -> forcing(script)));
        client = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl() + "/v1").apiKey("unused").build();
        scriptedClient = OpenAIOkHttpClient.builder().baseUrl(scripted.baseUrl() + "/v1").apiKey("unused").build();
    }

    @AfterAll
    static void stop() {
        client.close();
        scriptedClient.close();
        scripted.close();
        server.close();
        model.close();
    }

    /** A logits processor that makes the model spell {@code text} byte by byte, then end its turn. */
    static LogitsHook forcing(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        return (step, logits) -> {
            int id = step < bytes.length ? DemoTokenizer.FIRST_BYTE_ID + (bytes[step] & 0xff)
                    : DemoTokenizer.END_OF_TURN_ID;
            java.util.Arrays.fill(logits, Float.NEGATIVE_INFINITY);
            logits[id] = 0;
        };
    }

    static ChatCompletionCreateParams.Builder chat(String user) {
        return ChatCompletionCreateParams.builder().model(NAME).addUserMessage(user);
    }

    static JsonValue noThinking() {
        return JsonValue.from(Map.of("enable_thinking", false));
    }

    @Test
    void listsTheModelAndAnswersHealthAndMetrics() throws Exception {
        assertEquals(NAME, client.models().list().data().getFirst().id());
        assertEquals(200, get("/health").statusCode());
        HttpResponse<String> m = get("/metrics");
        assertEquals(200, m.statusCode());
        for (String name : List.of("n4j_queue_depth", "n4j_requests_running", "n4j_generation_tokens_per_second",
                "n4j_time_to_first_token_seconds_bucket", "n4j_inter_token_latency_seconds_bucket",
                "n4j_prefix_cache_hit_rate", "n4j_kv_blocks_used")) {
            assertTrue(m.body().contains(name), name);
        }
    }

    @Test
    void nonStreamingChat() {
        ChatCompletion c = client.chat().completions().create(chat("Why is the sky blue?").maxCompletionTokens(8)
                .temperature(0.0).n(2).logprobs(true).topLogprobs(3)
                .putAdditionalBodyProperty("chat_template_kwargs", noThinking()).build());
        assertEquals(2, c.choices().size());
        var usage = c.usage().orElseThrow();
        assertTrue(usage.promptTokens() > 10);
        assertTrue(usage.completionTokens() >= 2 && usage.completionTokens() <= 16);
        var choice = c.choices().getFirst();
        assertTrue(choice.message().content().isPresent());
        var lp = choice.logprobs().orElseThrow().content().orElseThrow();
        assertFalse(lp.isEmpty());
        assertEquals(3, lp.getFirst().topLogprobs().size());
        assertTrue(lp.getFirst().logprob() <= 0);
        // greedy: both choices say the same
        assertEquals(choice.message().content(), c.choices().get(1).message().content());
    }

    @Test
    void streamingChat() {
        StringBuilder text = new StringBuilder();
        List<String> finish = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(
                chat("Hello").maxCompletionTokens(12).temperature(0.7).seed(3)
                        .putAdditionalBodyProperty("chat_template_kwargs", noThinking()).build())) {
            s.stream().forEach(ch -> ch.choices().forEach(c -> {
                c.delta().content().ifPresent(text::append);
                c.finishReason().ifPresent(f -> finish.add(f.asString()));
            }));
        }
        assertEquals(1, finish.size(), "one finish reason");
        assertTrue(finish.getFirst().equals("length") || finish.getFirst().equals("stop"));
        assertTrue(text.length() > 0 || finish.getFirst().equals("stop"));
    }

    @Test
    void reasoningComesAsReasoningContent() {
        script = "Light scatters.\n</think>\nBlue.";
        ChatCompletion c = scriptedClient.chat().completions().create(chat("Why is the sky blue?").build());
        var msg = c.choices().getFirst().message();
        assertEquals("Blue.", msg.content().orElseThrow());
        assertEquals("Light scatters.", msg._additionalProperties().get("reasoning_content").asString().orElseThrow());
        StringBuilder reasoning = new StringBuilder();
        StringBuilder content = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> s = scriptedClient.chat().completions().createStreaming(
                chat("Why is the sky blue?").build())) {
            s.stream().forEach(ch -> ch.choices().forEach(x -> {
                x.delta().content().ifPresent(content::append);
                JsonValue r = x.delta()._additionalProperties().get("reasoning_content");
                if (r != null) {
                    r.asString().ifPresent(reasoning::append);
                }
            }));
        }
        assertEquals("Light scatters.", reasoning.toString().strip());
        assertEquals("Blue.", content.toString().strip());
        assertTrue(c.usage().orElseThrow().completionTokensDetails().orElseThrow().reasoningTokens().orElseThrow() > 10);
    }

    @Test
    void toolCallsAreStructured() {
        script = "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</TOOLCALL>";
        ChatCompletionFunctionTool tool = ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder()
                .name("get_weather").description("Weather in a city")
                .parameters(FunctionParameters.builder().putAdditionalProperty("type", JsonValue.from("object"))
                        .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string"))))
                        .build()).build()).build();
        ChatCompletionCreateParams params = chat("Weather in Paris?").addTool(tool)
                .putAdditionalBodyProperty("chat_template_kwargs", noThinking()).build();
        ChatCompletion c = scriptedClient.chat().completions().create(params);
        var choice = c.choices().getFirst();
        assertEquals("tool_calls", choice.finishReason().asString());
        ChatCompletionMessageFunctionToolCall call = choice.message().toolCalls().orElseThrow().getFirst().asFunction();
        assertEquals("get_weather", call.function().name());
        assertEquals("Paris", readTree(call.function().arguments()).get("city").asText());
        assertTrue(call.id().startsWith("call_"));
        List<String> names = new ArrayList<>();
        StringBuilder args = new StringBuilder();
        StringBuilder content = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> s = scriptedClient.chat().completions().createStreaming(params)) {
            s.stream().forEach(ch -> ch.choices().forEach(x -> {
                x.delta().content().ifPresent(content::append);
                x.delta().toolCalls().ifPresent(l -> l.forEach(t -> {
                    t.function().flatMap(f -> f.name()).ifPresent(names::add);
                    t.function().flatMap(f -> f.arguments()).ifPresent(args::append);
                }));
            }));
        }
        assertEquals(List.of("get_weather"), names);
        assertEquals("Paris", readTree(args.toString()).get("city").asText());
        assertEquals("", content.toString().strip(), "the raw tool-call block is not streamed as content");
    }

    @Test
    void errorsComeInOpenAiShape() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [");
        assertEquals(400, r.statusCode());
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertEquals("invalid_request_error", e.get("type").asText());
        assertTrue(e.has("message") && e.has("param") && e.has("code"));

        var nf = assertThrows(NotFoundException.class, () -> client.chat().completions()
                .create(ChatCompletionCreateParams.builder().model("gpt-4").addUserMessage("hi").build()));
        assertEquals(404, nf.statusCode());

        var bad = assertThrows(BadRequestException.class, () -> client.chat().completions()
                .create(chat("hi").temperature(5.0).build()));
        assertEquals("temperature", bad.param().orElseThrow());

        String longText = "lorem ipsum dolor sit amet ".repeat(1500);
        var tooLong = assertThrows(BadRequestException.class, () -> client.chat().completions()
                .create(chat(longText).build()));
        assertEquals("context_length_exceeded", tooLong.code().orElseThrow());

        r = post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}");
        assertEquals(400, r.statusCode());
        r = post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
                + " \"max_tokens\": 0}");
        assertEquals(400, r.statusCode());
        assertEquals("max_tokens", JSON.readTree(r.body()).get("error").get("param").asText());
        assertEquals(404, get("/v1/nothing").statusCode());
        assertEquals(405, get("/v1/chat/completions").statusCode());
    }

    @Test
    void textCompletions() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"Once upon a time\","
                + " \"max_tokens\": 5, \"temperature\": 0}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode j = JSON.readTree(r.body());
        assertEquals("text_completion", j.get("object").asText());
        assertEquals(5, j.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void aClientThatDisconnectsCancelsItsRequest() throws Exception {
        // the server is shared by this class's tests: count only the tokens decoded from here on
        long before = server.scheduler().stats().generatedTokens();
        HttpRequest req = HttpRequest.newBuilder(URI.create(server.baseUrl() + "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"stream\": true, \"max_tokens\": 3000,"
                        + " \"messages\": [{\"role\": \"user\", \"content\": \"Talk forever\"}], \"ignore_eos\": true,"
                        + " \"logit_bias\": {\"2\": -100, \"12\": -100}}")).build();
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        InputStream in = r.body();
        byte[] buf = new byte[512];
        int got = 0;
        while (got < 2000) {
            int n = in.read(buf);
            assertTrue(n > 0);
            got += n;
        }
        assertEquals(1, server.scheduler().stats().running());
        in.close();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (server.scheduler().stats().running() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(0, server.scheduler().stats().running(), "the request was cancelled");
        long decoded = server.scheduler().stats().generatedTokens() - before;
        assertTrue(decoded < 3000, "the request stopped early: " + decoded + " tokens decoded");
    }

    @Test
    void aFullQueueAnswers429WithRetryAfter() throws Exception {
        try (NemotronServer small = NemotronServer.start(model, ServerOptions.of(null).withPort(0).withModelName(NAME)
                .withScheduler(SchedulerOptions.defaults().withMaxSequences(1).withMaxQueued(0)))) {
            HttpRequest long1 = HttpRequest.newBuilder(URI.create(small.baseUrl() + "/v1/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"stream\": true,"
                            + " \"max_tokens\": 3000, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
                            + " \"logit_bias\": {\"2\": -100, \"12\": -100}}")).build();
            HttpResponse<InputStream> first = http.send(long1, HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, first.statusCode());
            var second = http.send(HttpRequest.newBuilder(URI.create(small.baseUrl() + "/v1/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"max_tokens\": 2,"
                            + " \"messages\": [{\"role\": \"user\", \"content\": \"y\"}]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(429, second.statusCode(), second.body());
            assertTrue(second.headers().firstValue("Retry-After").isPresent());
            assertEquals("rate_limit_exceeded", JSON.readTree(second.body()).get("error").get("code").asText());
            first.body().close();
        }
    }

    @Test
    void aSharedPrefixIsServedFromTheCacheWithIdenticalOutput() {
        String system = "You are a careful assistant. ".repeat(40);   // a few hundred tokens: several 64-token blocks
        ChatCompletionCreateParams p1 = ChatCompletionCreateParams.builder().model(NAME).addSystemMessage(system)
                .addUserMessage("First question?").maxCompletionTokens(6).temperature(0.0).build();
        ChatCompletionCreateParams p2 = ChatCompletionCreateParams.builder().model(NAME).addSystemMessage(system)
                .addUserMessage("Second question?").maxCompletionTokens(6).temperature(0.0).build();
        String cold;
        try (NemotronServer noCache = NemotronServer.start(model, ServerOptions.of(null).withPort(0)
                .withModelName(NAME).withScheduler(SchedulerOptions.defaults().withPrefixCacheBytes(0)))) {
            OpenAIClient c = OpenAIOkHttpClient.builder().baseUrl(noCache.baseUrl() + "/v1").apiKey("x").build();
            ChatCompletion r = c.chat().completions().create(p2);
            cold = r.choices().getFirst().message()._additionalProperties().toString()
                    + r.choices().getFirst().message().content();
            assertEquals(0, r.usage().orElseThrow().promptTokensDetails().orElseThrow().cachedTokens().orElseThrow());
            c.close();
        }
        long hitsBefore = server.scheduler().stats().prefixHits();
        client.chat().completions().create(p1);
        ChatCompletion warm = client.chat().completions().create(p2);
        long cached = warm.usage().orElseThrow().promptTokensDetails().orElseThrow().cachedTokens().orElseThrow();
        assertTrue(cached >= 128, "cached prompt tokens: " + cached);
        assertEquals(cold, warm.choices().getFirst().message()._additionalProperties().toString()
                + warm.choices().getFirst().message().content());
        assertTrue(server.scheduler().stats().prefixHits() > hitsBefore);
    }

    @Test
    void anApiKeyIsRequiredWhenConfigured() throws Exception {
        try (NemotronServer locked = NemotronServer.start(model, ServerOptions.of(null).withPort(0)
                .withModelName(NAME).withApiKey("s3cret"))) {
            var r = http.send(HttpRequest.newBuilder(URI.create(locked.baseUrl() + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(401, r.statusCode());
            OpenAIClient c = OpenAIOkHttpClient.builder().baseUrl(locked.baseUrl() + "/v1").apiKey("s3cret").build();
            assertEquals(NAME, c.models().list().data().getFirst().id());
            c.close();
            assertEquals("127.0.0.1", ServerOptions.of(null).host());
        }
    }

    static JsonNode readTree(String s) {
        try {
            return JSON.readTree(s);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + s, e);
        }
    }

    static HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(30))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static void assertPresent(Object o) {
        assertNotNull(o);
    }
}
