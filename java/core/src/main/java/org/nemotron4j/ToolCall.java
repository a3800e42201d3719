package org.nemotron4j;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.TextNode;

import java.util.Map;
import java.util.Objects;

/**
 * One call of a tool (function) by the model: its name and its arguments. Nemotron-Nano-v2 writes calls as
 * {@code <TOOLCALL>[{"name": ..., "arguments": {...}}]</TOOLCALL>}.
 *
 * <p>{@code arguments} is normally a JSON object. It may also be a JSON string node: the chat template then renders
 * that string verbatim (HF's {@code fn.arguments is string} branch), which is what {@link #of(String, String)} makes.
 * The node is copied, so later changes to the caller's node do not leak in.
 *
 * @param name      the tool's name, never blank
 * @param arguments the arguments, never null (an empty object when there are none)
 */
public record ToolCall(String name, JsonNode arguments) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public ToolCall {
        Objects.requireNonNull(name, "tool call name");
        if (name.isBlank()) {
            throw new NemotronException("tool call name must not be blank");
        }
        arguments = arguments == null || arguments.isNull() || arguments.isMissingNode()
                ? JsonNodeFactory.instance.objectNode()
                : arguments.deepCopy();
    }

    public static ToolCall of(String name, JsonNode arguments) {
        return new ToolCall(name, arguments);
    }

    /** Arguments given as JSON text; kept as text, so the chat template reproduces it byte for byte. */
    public static ToolCall of(String name, String argumentsJson) {
        return new ToolCall(name, TextNode.valueOf(Objects.requireNonNull(argumentsJson, "argumentsJson")));
    }

    /** Arguments given as a map of JSON-compatible values (strings, numbers, booleans, lists, maps, null). */
    public static ToolCall of(String name, Map<String, ?> arguments) {
        return new ToolCall(name, JSON.valueToTree(arguments));
    }

    /** The arguments as JSON text: verbatim when they were given as text, compact JSON otherwise. */
    public String argumentsJson() {
        if (arguments.isTextual()) {
            return arguments.textValue();
        }
        try {
            return JSON.writeValueAsString(arguments);
        } catch (JsonProcessingException e) {
            throw new NemotronException("cannot serialize the arguments of tool call '" + name + "'", e);
        }
    }

    @Override
    public JsonNode arguments() {
        return arguments.deepCopy();
    }
}
