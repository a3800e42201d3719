package org.nemotron4j.langchain4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.Message;
import org.nemotron4j.ToolCall;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * LangChain4j's chat types to nemotron4j's and back: messages (system, user text, assistant text + thinking + tool
 * execution requests, tool results), the request parameters (sampling, stops, max output tokens, tool
 * specifications as OpenAI-form function definitions for the chat template), and the response (text, reasoning as
 * thinking, tool execution requests, finish reason, token usage).
 */
final class LangChainConversion {
    private static final ObjectMapper JSON = new ObjectMapper();

    private LangChainConversion() {
    }

    /** A LangChain4j request as a nemotron4j chat request; {@code reasoning} / {@code thinkingBudget} may be null. */
    static ChatRequest toNemotron(dev.langchain4j.model.chat.request.ChatRequest request, Boolean reasoning,
                                  Integer thinkingBudget) {
        List<Message> messages = new ArrayList<>();
        for (ChatMessage m : request.messages()) {
            messages.add(message(m));
        }
        ChatRequest r = ChatRequest.of(messages);
        ChatRequestParameters p = request.parameters();
        if (p.temperature() != null) {
            r = r.temperature(p.temperature());
        }
        if (p.topP() != null) {
            r = r.topP(p.topP());
        }
        if (p.topK() != null) {
            r = r.topK(p.topK());
        }
        if (p.frequencyPenalty() != null) {
            r = r.frequencyPenalty(p.frequencyPenalty());
        }
        if (p.presencePenalty() != null) {
            r = r.presencePenalty(p.presencePenalty());
        }
        if (p.maxOutputTokens() != null) {
            r = r.maxTokens(p.maxOutputTokens());
        }
        if (p.stopSequences() != null && !p.stopSequences().isEmpty()) {
            r = r.stopStrings(p.stopSequences());
        }
        if (p.responseFormat() != null && p.responseFormat().type() == ResponseFormatType.JSON) {
            throw new UnsupportedFeatureException("nemotron4j: JSON response formats are not supported");
        }
        List<ToolSpecification> specs = p.toolSpecifications();
        if (specs != null && !specs.isEmpty() && p.toolChoice() != ToolChoice.NONE) {
            // REQUIRED is passed on as the tools alone (as the server does): the template cannot force a call
            r = r.tools(specs.stream().map(LangChainConversion::tool).toList());
        }
        if (reasoning != null) {
            r = r.reasoning(reasoning);
        }
        if (thinkingBudget != null) {
            r = r.thinkingBudget(thinkingBudget);
        }
        return r;
    }

    private static Message message(ChatMessage m) {
        return switch (m) {
            case SystemMessage s -> Message.system(s.text());
            case UserMessage u -> {
                if (!u.hasSingleText()) {
                    throw new UnsupportedFeatureException("nemotron4j: only text user messages are supported");
                }
                yield Message.user(u.singleText());
            }
            case AiMessage a -> {
                List<ToolCall> calls = new ArrayList<>();
                if (a.hasToolExecutionRequests()) {
                    for (ToolExecutionRequest t : a.toolExecutionRequests()) {
                        calls.add(ToolCall.of(t.name(), t.arguments() == null || t.arguments().isBlank()
                                ? "{}" : t.arguments()));
                    }
                }
                if (a.text() == null && calls.isEmpty()) {
                    throw new InvalidRequestException("an AiMessage needs text or tool execution requests");
                }
                yield Message.assistant(a.text(), a.thinking(), calls);
            }
            case ToolExecutionResultMessage t -> Message.tool(t.text(), t.id());
            default -> throw new UnsupportedFeatureException("nemotron4j: unsupported message type " + m.type());
        };
    }

    /** {@code {"type": "function", "function": {"name", "description", "parameters"}}}, as the template expects. */
    static JsonNode tool(ToolSpecification spec) {
        ObjectNode function = JSON.createObjectNode().put("name", spec.name());
        if (spec.description() != null) {
            function.put("description", spec.description());
        }
        function.set("parameters", spec.parameters() != null
                ? JSON.valueToTree(JsonSchemaElementUtils.toMap(spec.parameters()))
                : JSON.createObjectNode().put("type", "object").set("properties", JSON.createObjectNode()));
        ObjectNode tool = JSON.createObjectNode().put("type", "function");
        tool.set("function", function);
        return tool;
    }

    /** The finished generation as LangChain4j's response. */
    static ChatResponse toLangChain(GenerationResult g, String modelName) {
        AiMessage.Builder ai = AiMessage.builder();
        if (!g.answer().isEmpty() || !g.hasToolCalls()) {
            ai.text(g.answer());
        }
        if (!g.reasoning().isEmpty()) {
            ai.thinking(g.reasoning());
        }
        FinishReason finish = switch (g.finishReason()) {
            case LENGTH -> FinishReason.LENGTH;
            default -> FinishReason.STOP;
        };
        if (g.hasToolCalls()) {
            List<ToolExecutionRequest> calls = new ArrayList<>();
            for (ToolCall c : g.toolCalls()) {
                calls.add(ToolExecutionRequest.builder().id("call_" + UUID.randomUUID().toString().replace("-", ""))
                        .name(c.name()).arguments(c.argumentsJson()).build());
            }
            ai.toolExecutionRequests(calls);
            finish = FinishReason.TOOL_EXECUTION;
        }
        return ChatResponse.builder().aiMessage(ai.build()).modelName(modelName)
                .id("chatcmpl-" + UUID.randomUUID().toString().replace("-", ""))
                .tokenUsage(new TokenUsage(g.usage().promptTokens(), g.usage().generatedTokens()))
                .finishReason(finish).build();
    }
}
