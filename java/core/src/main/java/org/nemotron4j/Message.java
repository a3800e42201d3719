package org.nemotron4j;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * One message of a conversation, as chat templates (Hugging Face's {@code apply_chat_template}) expect it.
 *
 * <p>Roles are {@code system}, {@code user}, {@code assistant} and {@code tool}; any other role is rejected with a
 * {@link NemotronException}. An assistant message may carry its reasoning ({@code reasoningContent}, rendered as
 * the template's {@code reasoning_content}; Nemotron-Nano-v2's template drops reasoning from the history) and tool
 * calls; its content may then be null. A tool message carries a tool's response and optionally the id of the call
 * it answers.
 *
 * @param role             system, user, assistant or tool
 * @param content          the text; null only for an assistant message that carries tool calls
 * @param reasoningContent an assistant message's reasoning, or null
 * @param toolCalls        an assistant message's tool calls (empty for other roles)
 * @param toolCallId       a tool message's call id, or null
 */
public record Message(String role, String content, String reasoningContent, List<ToolCall> toolCalls,
                      String toolCallId) {
    public static final String SYSTEM = "system";
    public static final String USER = "user";
    public static final String ASSISTANT = "assistant";
    public static final String TOOL = "tool";

    /** The roles Nemotron's chat template (and this library) know. */
    public static final Set<String> ROLES = Set.of(SYSTEM, USER, ASSISTANT, TOOL);

    public Message {
        checkRole(role);
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        if (!ASSISTANT.equals(role) && !toolCalls.isEmpty()) {
            throw new NemotronException("only assistant messages carry tool calls, not a " + role + " message");
        }
        if (!ASSISTANT.equals(role) && reasoningContent != null) {
            throw new NemotronException("only assistant messages carry reasoning content, not a " + role + " message");
        }
        if (content == null && toolCalls.isEmpty()) {
            throw new NemotronException("a " + role + " message needs content (only an assistant message with tool"
                    + " calls may have none)");
        }
        if (toolCallId != null && !TOOL.equals(role)) {
            throw new NemotronException("only tool messages carry a tool call id, not a " + role + " message");
        }
    }

    /**
     * Throws a {@link NemotronException} naming the role unless it is one of {@link #ROLES}.
     */
    public static void checkRole(String role) {
        if (role == null) {
            throw new NemotronException("message role is missing; expected one of system, user, assistant, tool");
        }
        if (!ROLES.contains(role)) {
            throw new NemotronException("unknown message role '" + role
                    + "'; expected one of system, user, assistant, tool");
        }
    }

    public static Message system(String content) {
        return new Message(SYSTEM, Objects.requireNonNull(content, "content"), null, List.of(), null);
    }

    public static Message user(String content) {
        return new Message(USER, Objects.requireNonNull(content, "content"), null, List.of(), null);
    }

    public static Message assistant(String content) {
        return new Message(ASSISTANT, Objects.requireNonNull(content, "content"), null, List.of(), null);
    }

    /** An assistant turn with its reasoning kept apart from its answer. */
    public static Message assistant(String content, String reasoningContent) {
        return new Message(ASSISTANT, Objects.requireNonNull(content, "content"), reasoningContent, List.of(), null);
    }

    /** An assistant turn with reasoning (nullable), answer text (nullable when there are calls) and tool calls. */
    public static Message assistant(String content, String reasoningContent, List<ToolCall> toolCalls) {
        return new Message(ASSISTANT, content, reasoningContent, toolCalls, null);
    }

    /** An assistant turn that only calls tools. */
    public static Message toolCalls(ToolCall... calls) {
        if (calls.length == 0) {
            throw new NemotronException("an assistant tool-call message needs at least one tool call");
        }
        return new Message(ASSISTANT, null, null, Arrays.asList(calls), null);
    }

    /** A tool's response. */
    public static Message tool(String content) {
        return new Message(TOOL, Objects.requireNonNull(content, "content"), null, List.of(), null);
    }

    /** A tool's response to the call with the given id. */
    public static Message tool(String content, String toolCallId) {
        return new Message(TOOL, Objects.requireNonNull(content, "content"), null, List.of(), toolCallId);
    }

    /** A copy with other content. */
    public Message withContent(String newContent) {
        return new Message(role, newContent, reasoningContent, toolCalls, toolCallId);
    }
}
