package org.nemotron4j.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronException;
import org.nemotron4j.ToolCall;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import org.nemotron4j.checkpoint.RegularFiles;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A checkpoint's chat template (the Jinja {@code chat_template} of its {@code tokenizer_config.json}), rendered the
 * way Hugging Face's {@code apply_chat_template} renders it: Jinja with {@code trim_blocks} and
 * {@code lstrip_blocks}, whitespace control on expressions, loop controls, {@code namespace()}, a {@code tojson}
 * filter that is Python's {@code json.dumps} ({@code ", "} and {@code ": "} separators, non-ASCII kept),
 * {@code raise_exception(message)} (a {@link NemotronException} carrying the template's message),
 * {@code strftime_now(format)}, Python string methods, the tokenizer's special tokens ({@code bos_token},
 * {@code eos_token}, ...) as variables, and the inputs {@code messages}, {@code tools} and
 * {@code add_generation_prompt}.
 *
 * <p>{@code continue_final_message} follows Hugging Face: the template renders the conversation as usual and the
 * text is cut right after the final message's content, so generation continues that message.
 *
 * <p>Messages are checked before rendering: at least one, each with a role among system, user, assistant and tool.
 * Instances are immutable and thread-safe.
 */
public final class ChatTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> SPECIAL_TOKEN_KEYS =
            List.of("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token");
    private static final Jinjava ENGINE = newEngine();

    private final String source;
    private final Map<String, String> specialTokens;

    private ChatTemplate(String source, Map<String, String> specialTokens) {
        this.source = Objects.requireNonNull(source, "template source");
        this.specialTokens = Map.copyOf(specialTokens);
    }

    /** A template from its Jinja source. */
    public static ChatTemplate of(String source) {
        return new ChatTemplate(source, Map.of());
    }

    /** A template from its Jinja source, with special-token variables ({@code "bos_token" -> "<s>"}, ...). */
    public static ChatTemplate of(String source, Map<String, String> specialTokens) {
        return new ChatTemplate(source, specialTokens);
    }

    /**
     * Reads {@code chat_template} from a {@code tokenizer_config.json}: a string, or a list of
     * {@code {"name", "template"}} of which the one named {@code default} is used. The special tokens named in the
     * file become template variables.
     */
    public static ChatTemplate fromTokenizerConfig(Path file) {
        JsonNode root = readConfig(file);
        String source = templateSource(root, file);
        if (source == null) {
            throw new NemotronException(file + " has no chat_template");
        }
        return new ChatTemplate(source, specialTokens(root));
    }

    /**
     * The template of a checkpoint directory: {@code tokenizer_config.json}'s {@code chat_template}, else a
     * {@code chat_template.jinja} file (newer checkpoints keep it there), with the special tokens of
     * {@code tokenizer_config.json} when it exists.
     */
    public static ChatTemplate fromDirectory(Path dir) {
        Path config = dir.resolve("tokenizer_config.json");
        Path jinja = dir.resolve("chat_template.jinja");
        JsonNode root = Files.exists(config) ? readConfig(config) : null; // a FIFO or device is refused there
        String source = root != null ? templateSource(root, config) : null;
        if (source == null && Files.exists(jinja)) {
            try {
                source = RegularFiles.readString(jinja, "chat template", RegularFiles.MAX_JSON_BYTES);
            } catch (IOException e) {
                throw new NemotronException("cannot read " + jinja + ": " + e, e);
            }
        }
        if (source == null) {
            throw new NemotronException("no chat template in " + dir + ": neither a chat_template in"
                    + " tokenizer_config.json nor a chat_template.jinja file");
        }
        return new ChatTemplate(source, root != null ? specialTokens(root) : Map.of());
    }

    private static JsonNode readConfig(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(RegularFiles.readString(file, "tokenizer config", RegularFiles.MAX_JSON_BYTES));
        } catch (JsonProcessingException e) {
            throw new NemotronException("malformed " + file + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new NemotronException("cannot read " + file + ": " + e, e);
        }
        if (root == null || !root.isObject()) {
            throw new NemotronException("malformed " + file + ": expected a JSON object");
        }
        return root;
    }

    /** The template source in a tokenizer config, or null when it has none. */
    private static String templateSource(JsonNode root, Path file) {
        JsonNode template = root.get("chat_template");
        if (template == null || template.isNull()) {
            return null;
        }
        if (template.isTextual()) {
            return template.textValue();
        }
        if (template.isArray()) {
            for (JsonNode named : template) {
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
                    return named.get("template").textValue();
                }
            }
            throw new NemotronException(file + " lists chat templates but none is named 'default'");
        }
        throw new NemotronException("malformed " + file + ": chat_template must be a string or a list, found "
                + template.getNodeType());
    }

    private static Map<String, String> specialTokens(JsonNode root) {
        Map<String, String> special = new HashMap<>();
        for (String key : SPECIAL_TOKEN_KEYS) {
            JsonNode t = root.get(key);
            if (t != null && t.isTextual()) {
                special.put(key, t.textValue());
            } else if (t != null && t.isObject() && t.path("content").isTextual()) {
                special.put(key, t.get("content").textValue()); // an AddedToken
            }
        }
        return special;
    }

    /** The Jinja source. */
    public String source() {
        return source;
    }

    /** The special-token variables passed to the template. */
    public Map<String, String> specialTokens() {
        return specialTokens;
    }

    /**
     * Renders a request: its messages (with {@code /think} or {@code /no_think} applied when
     * {@link ChatRequest#reasoning()} is set), its tools, and either a generation prompt or, with
     * {@link ChatRequest#continueFinalMessage()}, the final message left open.
     */
    public String render(ChatRequest request) {
        List<Message> messages = request.messages();
        Map<String, Object> extra = new HashMap<>();
        if (request.reasoning().isPresent()) {
            boolean on = request.reasoning().get();
            messages = applyReasoningSwitch(messages, on);
            extra.put("enable_thinking", on);
        }
        return render(messages, request.tools(), !request.continueFinalMessage(), request.continueFinalMessage(),
                extra);
    }

    /** Renders messages and tool definitions (none: an empty list). */
    public String render(List<Message> messages, List<? extends JsonNode> tools, boolean addGenerationPrompt,
                         boolean continueFinalMessage) {
        return render(messages, tools, addGenerationPrompt, continueFinalMessage, Map.of());
    }

    private String render(List<Message> messages, List<? extends JsonNode> tools, boolean addGenerationPrompt,
                          boolean continueFinalMessage, Map<String, Object> extra) {
        Objects.requireNonNull(messages, "messages");
        List<Object> msgs = new ArrayList<>(messages.size());
        for (Message m : messages) {
            msgs.add(toTemplateValue(Objects.requireNonNull(m, "message")));
        }
        List<Object> toolValues = new ArrayList<>();
        if (tools != null) {
            for (JsonNode t : tools) {
                toolValues.add(plain(t));
            }
        }
        return renderValues(msgs, toolValues, addGenerationPrompt, continueFinalMessage, extra);
    }

    /**
     * Renders OpenAI-style JSON: {@code messages} an array of {@code {"role", "content", ...}} objects,
     * {@code tools} an array of tool definitions or null.
     */
    public String render(JsonNode messages, JsonNode tools, boolean addGenerationPrompt,
                         boolean continueFinalMessage) {
        return render(messages, tools, addGenerationPrompt, continueFinalMessage, Map.of());
    }

    /** As {@link #render(JsonNode, JsonNode, boolean, boolean)}, with more template variables. */
    public String render(JsonNode messages, JsonNode tools, boolean addGenerationPrompt, boolean continueFinalMessage,
                         Map<String, ?> extraVariables) {
        if (messages == null || !messages.isArray()) {
            throw new NemotronException("messages must be a JSON array, got " + messages);
        }
        List<Object> msgs = new ArrayList<>();
        messages.forEach(m -> msgs.add(plain(m)));
        List<Object> toolValues = new ArrayList<>();
        if (tools != null && !tools.isNull()) {
            if (!tools.isArray()) {
                throw new NemotronException("tools must be a JSON array, got " + tools);
            }
            tools.forEach(t -> toolValues.add(plain(t)));
        }
        return renderValues(msgs, toolValues, addGenerationPrompt, continueFinalMessage,
                new HashMap<>(extraVariables));
    }

    /**
     * Nemotron's reasoning switch as the template reads it: the last system or user message decides, so the
     * directive ({@code /think} or {@code /no_think}) replaces any directive in the last such message (inserting a
     * system message holding just the directive when there is none). The template removes the directive from the
     * rendered text either way.
     */
    public static List<Message> applyReasoningSwitch(List<Message> messages, boolean on) {
        String directive = on ? "/think" : "/no_think";
        List<Message> out = new ArrayList<>(messages);
        for (int i = out.size() - 1; i >= 0; i--) {
            Message m = out.get(i);
            if (Message.SYSTEM.equals(m.role()) || Message.USER.equals(m.role())) {
                String content = m.content() == null ? "" : m.content();
                content = content.replace("/no_think", "").replace("/think", "");
                out.set(i, m.withContent(content.isEmpty() ? directive : content + " " + directive));
                return out;
            }
        }
        out.add(0, Message.system(directive));
        return out;
    }

    private String renderValues(List<Object> messages, List<Object> tools, boolean addGenerationPrompt,
                                boolean continueFinalMessage, Map<String, Object> extra) {
        if (messages.isEmpty()) {
            throw new NemotronException("cannot render a chat template without messages");
        }
        for (int i = 0; i < messages.size(); i++) {
            if (!(messages.get(i) instanceof Map<?, ?> m)) {
                throw new NemotronException("message " + i + " is not an object: " + messages.get(i));
            }
            Object role = m.get("role");
            try {
                Message.checkRole(role == null ? null : role.toString());
            } catch (NemotronException e) {
                throw new NemotronException("message " + i + ": " + e.getMessage());
            }
        }
        if (addGenerationPrompt && continueFinalMessage) {
            throw new NemotronException("add_generation_prompt and continue_final_message exclude each other: the"
                    + " first opens a new assistant turn, the second continues the final message");
        }
        Map<String, Object> bindings = new HashMap<>(specialTokens);
        bindings.putAll(extra);
        bindings.put("messages", messages);
        bindings.put("tools", tools.isEmpty() ? null : tools);
        bindings.put("add_generation_prompt", addGenerationPrompt);

        RenderResult result = ENGINE.renderForResult(source, bindings);
        for (TemplateError error : result.getErrors()) {
            String raised = raisedMessage(error.getException());
            if (raised != null) {
                throw new NemotronException("chat template raised an exception: " + raised);
            }
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new NemotronException("chat template failed at line " + error.getLineno() + ": "
                        + error.getMessage());
            }
        }
        String rendered = result.getOutput();
        return continueFinalMessage ? cutAfterFinalMessage(rendered, messages.getLast()) : rendered;
    }

    /**
     * Hugging Face's {@code continue_final_message}: cut right after the last occurrence of the final message's
     * content; after its unstripped content when the template kept it whole, else after the stripped content.
     */
    private static String cutAfterFinalMessage(String rendered, Object finalMessage) {
        Object content = ((Map<?, ?>) finalMessage).get("content");
        if (content instanceof List<?> parts) { // content blocks: the last one with text
            content = null;
            for (int i = parts.size() - 1; i >= 0 && content == null; i--) {
                if (parts.get(i) instanceof Map<?, ?> part && part.get("text") != null) {
                    content = part.get("text");
                }
            }
        }
        if (content == null) {
            throw new NemotronException("continue_final_message needs text in the final message to continue");
        }
        String text = content.toString();
        String stripped = PythonStringMethods.strip(text, null, true, true);
        int at = rendered.lastIndexOf(stripped);
        if (at < 0) {
            throw new NemotronException("continue_final_message: the chat template does not reproduce the final"
                    + " message's content, so there is nothing to continue");
        }
        int lstripped = PythonStringMethods.strip(text, null, true, false).length();
        int end = Math.min(rendered.length(), at + lstripped);
        if (rendered.substring(at, end).equals(text)) {
            return rendered.substring(0, end);
        }
        return rendered.substring(0, at + stripped.length());
    }

    private static String raisedMessage(Throwable t) {
        for (int depth = 0; t != null && depth < 16; depth++, t = t.getCause()) {
            if (t instanceof TemplateRaised raised) {
                return raised.getMessage();
            }
        }
        return null;
    }

    private static Map<String, Object> toTemplateValue(Message m) {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("role", m.role());
        map.put("content", m.content());
        if (m.reasoningContent() != null) {
            map.put("reasoning_content", m.reasoningContent());
        }
        if (!m.toolCalls().isEmpty()) {
            List<Object> calls = new ArrayList<>();
            for (ToolCall call : m.toolCalls()) {
                Map<String, Object> fn = new LinkedHashMap<>();
                fn.put("name", call.name());
                JsonNode args = call.arguments();
                fn.put("arguments", args.isTextual() ? args.textValue() : plain(args));
                Map<String, Object> wrapped = new LinkedHashMap<>();
                wrapped.put("type", "function");
                wrapped.put("function", fn);
                calls.add(wrapped);
            }
            map.put("tool_calls", calls);
        }
        if (m.toolCallId() != null) {
            map.put("tool_call_id", m.toolCallId());
        }
        return map;
    }

    /** JSON to plain Java values: LinkedHashMap, ArrayList, String, Integer/Long/Double, Boolean, null. */
    private static Object plain(JsonNode node) {
        try {
            return JSON.treeToValue(node, Object.class);
        } catch (JsonProcessingException e) {
            throw new NemotronException("cannot convert " + node + " for the chat template", e);
        }
    }

    // ---- the Jinja engine ----

    private static Jinjava newEngine() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withNestedInterpretationEnabled(false)
                .withFailOnUnknownTokens(false)
                .withElResolver(resolver)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true) // {{- x -}} trims like {%- -%}
                        .withParseWhitespaceControlStrictly(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withKeepNullableLoopValues(true)
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .build())
                .build();
        Jinjava jinjava = new Jinjava(config);
        jinjava.getGlobalContext().registerFilter(new TojsonFilter());
        jinjava.getGlobalContext().registerFunction(function("raise_exception", "raiseException"));
        jinjava.getGlobalContext().registerFunction(function("strftime_now", "strftimeNow"));
        return jinjava;
    }

    private static ELFunctionDefinition function(String name, String method) {
        try {
            Method m = Functions.class.getDeclaredMethod(method, String.class);
            m.setAccessible(true);
            return new ELFunctionDefinition("", name, m);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Thrown by the template's {@code raise_exception}; its message is the template's. */
    private static final class TemplateRaised extends RuntimeException {
        private static final long serialVersionUID = 1L;

        TemplateRaised(String message) {
            super(message, null, false, false);
        }
    }

    /** Global functions of Hugging Face's template environment. */
    private static final class Functions {
        private Functions() {
        }

        static String raiseException(String message) {
            throw new TemplateRaised(message);
        }

        static String strftimeNow(String format) {
            return PythonStrftime.format(format, ZonedDateTime.now());
        }
    }

    /** {@code tojson(indent=None, separators=None, sort_keys=False, ensure_ascii=False)}: Python's json.dumps. */
    private static final class TojsonFilter implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            String indentText = null;
            if (indent instanceof Number n) {
                indentText = " ".repeat(Math.max(0, n.intValue()));
            } else if (indent != null) {
                String s = indent.toString();
                indentText = s.matches("-?\\d+") ? " ".repeat(Math.max(0, Integer.parseInt(s))) : s;
            }
            String itemSep = null;
            String keySep = null;
            Object separators = kwargs.get("separators");
            if (separators instanceof Collection<?> c && c.size() == 2) {
                var it = c.iterator();
                itemSep = String.valueOf(it.next());
                keySep = String.valueOf(it.next());
            }
            boolean sortKeys = truthy(kwargs.get("sort_keys"));
            boolean ensureAscii = truthy(kwargs.get("ensure_ascii"));
            return new PythonJson(indentText, itemSep, keySep, sortKeys, ensureAscii).write(var);
        }

        private static boolean truthy(Object o) {
            return o instanceof Boolean b ? b : o != null && Boolean.parseBoolean(o.toString());
        }
    }
}
