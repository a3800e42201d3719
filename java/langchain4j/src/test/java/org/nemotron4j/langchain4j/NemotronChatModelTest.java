package org.nemotron4j.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialThinking;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.serving.PromptTooLongException;
import org.nemotron4j.serving.Scheduler;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-process ChatModel / StreamingChatModel on a tiny model, scripted where the output must say something. */
class NemotronChatModelTest {
    static NemotronModel model;
    static Scheduler scheduler;
    static volatile String script;

    static final ToolSpecification WEATHER = ToolSpecification.builder().name("get_weather")
            .description("The weather in a city")
            .parameters(JsonObjectSchema.builder().addStringProperty("city", "the city").required("city").build())
            .build();

    @BeforeAll
    static void start() throws Exception {
        model = TinyChatModel.load();
        scheduler = new Scheduler(model);
    }

    @AfterAll
    static void stop() {
        scheduler.close();
        model.close();
    }

    static NemotronChatOptions scripted() {
        return NemotronChatOptions.of(scheduler).withModelName("tiny").withLogitsProcessor(() -> TinyChatModel.forcing(script));
    }

    /** Collects a streamed reply. */
    static final class Collector implements StreamingChatResponseHandler {
        final StringBuilder text = new StringBuilder();
        final StringBuilder thinking = new StringBuilder();
        final CompletableFuture<ChatResponse> done = new CompletableFuture<>();

        @Override
        public void onPartialResponse(String partial) {
            text.append(partial);
        }

        @Override
        public void onPartialThinking(PartialThinking partial) {
            thinking.append(partial.text());
        }

        @Override
        public void onCompleteResponse(ChatResponse response) {
            done.complete(response);
        }

        @Override
        public void onError(Throwable error) {
            done.completeExceptionally(error);
        }

        ChatResponse await() throws Exception {
            return done.get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void greedyAnswerIsTheEngineOwnWithUsageAndLength() {
        NemotronChatModel chat = new NemotronChatModel(NemotronChatOptions.of(scheduler).withReasoning(false));
        ChatResponse r = chat.chat(ChatRequest.builder().messages(SystemMessage.from("Be brief."), UserMessage.from("Hello"))
                .parameters(ChatRequestParameters.builder().temperature(0.0).maxOutputTokens(7).build()).build());
        GenerationResult direct;
        try (Session s = model.newSession()) {
            direct = s.generate(org.nemotron4j.ChatRequest.of(Message.system("Be brief."), Message.user("Hello"))
                    .reasoning(false).temperature(0).maxTokens(7));
        }
        assertEquals(direct.answer(), r.aiMessage().text(), "the same greedy answer as a session gives");
        assertEquals(direct.usage().promptTokens(), r.tokenUsage().inputTokenCount());
        assertEquals(7, r.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertNull(r.aiMessage().thinking(), "reasoning off: no thinking");
    }

    @Test
    void reasoningComesBackAsThinking() throws Exception {
        script = "Light scatters.\n</think>\nBlue.";
        ChatResponse r = new NemotronChatModel(scripted()).chat(ChatRequest.builder()
                .messages(UserMessage.from("Why is the sky blue?")).build());
        assertEquals("Light scatters.", r.aiMessage().thinking().strip());
        assertEquals("Blue.", r.aiMessage().text().strip());
        assertEquals(FinishReason.STOP, r.finishReason());
        assertEquals("tiny", r.modelName());
        int bytes = script.getBytes(StandardCharsets.UTF_8).length;
        assertTrue(r.tokenUsage().outputTokenCount() >= bytes, r.tokenUsage().toString());

        Collector c = new Collector();
        new NemotronStreamingChatModel(scripted()).chat(ChatRequest.builder()
                .messages(UserMessage.from("Why is the sky blue?")).build(), c);
        ChatResponse streamed = c.await();
        // the complete message's reasoning is stripped of the newline before </think>; the partials are as generated
        assertEquals(r.aiMessage().thinking(), c.thinking.toString().strip(), "partial thinking adds up to the thinking");
        // the complete text is the engine's result (stripped, as the reasoning); the partials are the raw deltas
        assertEquals(streamed.aiMessage().text(), c.text.toString().strip(), "partial responses add up to the text");
        assertEquals(r.aiMessage().text(), streamed.aiMessage().text());
        assertEquals(r.tokenUsage(), streamed.tokenUsage());
    }

    @Test
    void toolSpecificationsReachTheTemplateAndToolCallsComeBack() throws Exception {
        script = "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</TOOLCALL>";
        ChatRequest withTool = ChatRequest.builder().messages(UserMessage.from("Weather in Paris?"))
                .parameters(ChatRequestParameters.builder().toolSpecifications(WEATHER).build()).build();
        ChatRequest without = ChatRequest.builder().messages(UserMessage.from("Weather in Paris?")).build();
        NemotronChatModel chat = new NemotronChatModel(scripted().withReasoning(false));
        ChatResponse r = chat.chat(withTool);
        ChatResponse plain = chat.chat(without);
        assertTrue(r.tokenUsage().inputTokenCount() > plain.tokenUsage().inputTokenCount() + 20,
                "the tool definition is in the prompt: " + r.tokenUsage() + " vs " + plain.tokenUsage());
        assertEquals(FinishReason.TOOL_EXECUTION, r.finishReason());
        List<ToolExecutionRequest> calls = r.aiMessage().toolExecutionRequests();
        assertEquals(1, calls.size(), r.toString());
        assertEquals("get_weather", calls.getFirst().name());
        assertEquals("{\"city\":\"Paris\"}", calls.getFirst().arguments().replace(" ", ""));
        assertTrue(calls.getFirst().id().startsWith("call_"));
        assertTrue(r.aiMessage().text() == null || !r.aiMessage().text().contains("TOOLCALL"), r.toString());

        Collector c = new Collector();
        new NemotronStreamingChatModel(scripted().withReasoning(false)).chat(withTool, c);
        ChatResponse streamed = c.await();
        assertFalse(c.text.toString().contains("<TOOL"), "the tool call block is not streamed as text: " + c.text);
        assertEquals(calls.getFirst().name(), streamed.aiMessage().toolExecutionRequests().getFirst().name());
        assertEquals(calls.getFirst().arguments(), streamed.aiMessage().toolExecutionRequests().getFirst().arguments());

        // the tool's result goes back with the call in the history, and the model answers
        script = "It is sunny.";
        ChatResponse answer = chat.chat(ChatRequest.builder().messages(UserMessage.from("Weather in Paris?"), r.aiMessage(),
                        ToolExecutionResultMessage.from(calls.getFirst(), "{\"sky\": \"sunny\"}"))
                .parameters(ChatRequestParameters.builder().toolSpecifications(WEATHER).build()).build());
        assertEquals("It is sunny.", answer.aiMessage().text().strip());
        assertTrue(answer.tokenUsage().inputTokenCount() > r.tokenUsage().inputTokenCount(), "the history is longer");
    }

    @Test
    void errorsAreThrownOrReportedToTheHandler() throws Exception {
        NemotronChatModel chat = NemotronChatModel.of(scheduler);
        UserMessage image = UserMessage.from(TextContent.from("what is this?"), ImageContent.from("http://localhost/x.png"));
        assertThrows(UnsupportedFeatureException.class, () -> chat.chat(ChatRequest.builder().messages(image).build()));

        ChatRequest tooLong = ChatRequest.builder().messages(UserMessage.from("x".repeat(5000))).build();
        assertThrows(PromptTooLongException.class, () -> chat.chat(tooLong));
        Collector c = new Collector();
        NemotronStreamingChatModel.of(scheduler).chat(tooLong, c);
        Exception e = assertThrows(Exception.class, c::await);
        assertInstanceOf(PromptTooLongException.class, e.getCause(), e.toString());
    }
}
