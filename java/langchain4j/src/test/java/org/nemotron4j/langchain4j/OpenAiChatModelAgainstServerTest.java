package org.nemotron4j.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.ModelNotFoundException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.server.NemotronServer;
import org.nemotron4j.server.ServerOptions;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LangChain4j's own OpenAI client ({@code langchain4j-open-ai}'s OpenAiChatModel and OpenAiStreamingChatModel) against
 * nemotron4j's server: streaming and not, reasoning_content as thinking, tool calls, errors mapped to LangChain4j's
 * exceptions. A second server scripts the model's output where the test needs it to say something particular.
 */
class OpenAiChatModelAgainstServerTest {
    static NemotronModel model;
    static NemotronServer server;
    static NemotronServer scripted;
    static volatile String script;
    static final Map<String, Object> noThinking = Map.of("chat_template_kwargs", Map.of("enable_thinking", false));

    @BeforeAll
    static void start() throws Exception {
        model = TinyChatModel.load();
        server = NemotronServer.start(model, ServerOptions.of(Path.of("tiny")).withPort(0).withModelName("tiny"));
        scripted = NemotronServer.start(model, ServerOptions.of(Path.of("tiny")).withPort(0).withModelName("tiny")
                .withLogitsProcessor(() -> TinyChatModel.forcing(script)));
    }

    @AfterAll
    static void stop() {
        scripted.close();
        server.close();
        model.close();
    }

    static OpenAiChatModel.OpenAiChatModelBuilder client(NemotronServer s) {
        return OpenAiChatModel.builder().baseUrl(s.baseUrl() + "/v1").apiKey("unused").modelName("tiny")
                .maxRetries(0).timeout(Duration.ofSeconds(60));
    }

    static OpenAiStreamingChatModel.OpenAiStreamingChatModelBuilder streaming(NemotronServer s) {
        return OpenAiStreamingChatModel.builder().baseUrl(s.baseUrl() + "/v1").apiKey("unused").modelName("tiny")
                .timeout(Duration.ofSeconds(60));
    }

    @Test
    void chatsWithAndWithoutStreaming() throws Exception {
        ChatResponse r = client(server).temperature(0.0).maxTokens(6).customParameters(noThinking).build()
                .chat(ChatRequest.builder().messages(UserMessage.from("Hello")).build());
        int generated = r.tokenUsage().outputTokenCount();
        assertTrue(generated >= 1 && generated <= 6, r.toString());
        assertTrue(r.tokenUsage().inputTokenCount() > 0, r.toString());
        assertEquals(generated == 6 ? FinishReason.LENGTH : FinishReason.STOP, r.finishReason(), r.toString());
        assertEquals("tiny", r.modelName());

        NemotronChatModelTest.Collector c = new NemotronChatModelTest.Collector();
        streaming(server).temperature(0.0).maxTokens(6).customParameters(noThinking).build()
                .chat(ChatRequest.builder().messages(UserMessage.from("Hello")).build(), c);
        ChatResponse streamed = c.await();
        // the server strips the whole message's content; stream deltas are sent as generated
        assertEquals(r.aiMessage().text(), streamed.aiMessage().text().strip(), "greedy: the same text streamed or not");
        assertEquals(streamed.aiMessage().text(), c.text.toString(), "the partial responses add up to the text");
        assertEquals(r.finishReason(), streamed.finishReason());
    }

    @Test
    void reasoningContentArrivesAsThinking() throws Exception {
        script = "Light scatters.\n</think>\nBlue.";
        ChatResponse r = client(scripted).returnThinking(true).build().chat(UserMessage.from("Why is the sky blue?"));
        assertEquals("Light scatters.", r.aiMessage().thinking().strip(), r.toString());
        assertEquals("Blue.", r.aiMessage().text().strip());

        NemotronChatModelTest.Collector c = new NemotronChatModelTest.Collector();
        streaming(scripted).returnThinking(true).build().chat(List.of(UserMessage.from("Why is the sky blue?")), c);
        ChatResponse streamed = c.await();
        assertEquals("Light scatters.", c.thinking.toString().strip(), "streamed reasoning as partial thinking");
        assertEquals("Blue.", streamed.aiMessage().text().strip());
    }

    @Test
    void toolCallsComeBackAsToolExecutionRequests() throws Exception {
        script = "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</TOOLCALL>";
        ChatRequest request = ChatRequest.builder().messages(UserMessage.from("Weather in Paris?"))
                .parameters(ChatRequestParameters.builder().toolSpecifications(NemotronChatModelTest.WEATHER).build())
                .build();
        ChatResponse r = client(scripted).customParameters(noThinking).build().chat(request);
        assertEquals(FinishReason.TOOL_EXECUTION, r.finishReason(), r.toString());
        ToolExecutionRequest call = r.aiMessage().toolExecutionRequests().getFirst();
        assertEquals("get_weather", call.name());
        assertEquals("{\"city\":\"Paris\"}", call.arguments().replace(" ", ""));

        NemotronChatModelTest.Collector c = new NemotronChatModelTest.Collector();
        streaming(scripted).customParameters(noThinking).build().chat(request, c);
        ChatResponse streamed = c.await();
        assertFalse(c.text.toString().contains("TOOLCALL"), c.text.toString());
        assertEquals("get_weather", streamed.aiMessage().toolExecutionRequests().getFirst().name());
        assertEquals(call.arguments().replace(" ", ""),
                streamed.aiMessage().toolExecutionRequests().getFirst().arguments().replace(" ", ""));
    }

    @Test
    void errorsBecomeLangChain4jExceptions() throws Exception {
        Exception e = assertThrows(ModelNotFoundException.class,
                () -> client(server).modelName("no-such-model").build().chat("Hello"));
        assertTrue(e.getMessage().contains("no-such-model"), e.getMessage());
        e = assertThrows(InvalidRequestException.class, () -> client(server).temperature(-1.0).build().chat("Hello"));
        assertTrue(e.getMessage().contains("temperature"), e.getMessage());

        NemotronChatModelTest.Collector c = new NemotronChatModelTest.Collector();
        streaming(server).modelName("no-such-model").build().chat("Hello", c);
        Exception streamed = assertThrows(Exception.class, c::await);
        assertTrue(String.valueOf(streamed.getCause()).contains("no-such-model"), String.valueOf(streamed.getCause()));
    }
}
