package org.nemotron4j.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.nemotron4j.ToolCall;

import java.util.ArrayList;
import java.util.List;

/**
 * Parses Nemotron-Nano-v2's tool calls out of an answer:
 * {@code <TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris"}}, ...]</TOOLCALL>}.
 * Each call needs a string {@code name}; {@code arguments} may be an object (or a JSON string, kept as such);
 * a single object instead of a list is accepted too. Anything else (no closing tag, invalid JSON, a call without a
 * name) makes the answer malformed: it is then returned untouched with the flag set, never an exception.
 */
public final class ToolCallParser {
    public static final String OPEN_TAG = "<TOOLCALL>";
    public static final String CLOSE_TAG = "</TOOLCALL>";

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param content   the answer without its tool-call blocks (surrounding whitespace removed), or the whole answer
     *                  when malformed
     * @param toolCalls the calls, in order (empty when malformed)
     * @param malformed whether tool-call text was present but did not parse
     */
    public record Parsed(String content, List<ToolCall> toolCalls, boolean malformed) {
        public Parsed {
            toolCalls = List.copyOf(toolCalls);
        }
    }

    private ToolCallParser() {
    }

    /** Whether the text contains the opening tag. */
    public static boolean containsToolCall(String text) {
        return text.contains(OPEN_TAG);
    }

    public static Parsed parse(String answer) {
        if (!answer.contains(OPEN_TAG)) {
            return new Parsed(answer.strip(), List.of(), false);
        }
        List<ToolCall> calls = new ArrayList<>();
        StringBuilder content = new StringBuilder();
        int from = 0;
        while (true) {
            int open = answer.indexOf(OPEN_TAG, from);
            if (open < 0) {
                content.append(answer, from, answer.length());
                break;
            }
            int close = answer.indexOf(CLOSE_TAG, open + OPEN_TAG.length());
            if (close < 0) {
                return malformed(answer);
            }
            content.append(answer, from, open);
            List<ToolCall> block = parseBlock(answer.substring(open + OPEN_TAG.length(), close));
            if (block == null) {
                return malformed(answer);
            }
            calls.addAll(block);
            from = close + CLOSE_TAG.length();
        }
        return new Parsed(content.toString().strip(), calls, false);
    }

    private static Parsed malformed(String answer) {
        return new Parsed(answer.strip(), List.of(), true);
    }

    /** The calls of one block, or null if it does not parse. */
    private static List<ToolCall> parseBlock(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            return null;
        }
        if (root == null) {
            return null;
        }
        List<JsonNode> items = new ArrayList<>();
        if (root.isArray()) {
            root.forEach(items::add);
        } else if (root.isObject()) {
            items.add(root);
        } else {
            return null;
        }
        List<ToolCall> calls = new ArrayList<>();
        for (JsonNode item : items) {
            if (!item.isObject()) {
                return null;
            }
            JsonNode name = item.get("name");
            if (name == null || !name.isTextual() || name.textValue().isBlank()) {
                return null;
            }
            JsonNode args = item.get("arguments");
            if (args != null && !args.isNull() && !args.isObject() && !args.isTextual()) {
                return null;
            }
            calls.add(new ToolCall(name.textValue(), args));
        }
        return calls;
    }
}
