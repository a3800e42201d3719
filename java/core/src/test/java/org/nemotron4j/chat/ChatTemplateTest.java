package org.nemotron4j.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronException;
import org.nemotron4j.ToolCall;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Year;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class ChatTemplateTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path fixture(String relative) {
        String root = System.getProperty("n4j.fixtures", "../../../shared/fixtures");
        Path p = Path.of(root).resolve(relative);
        if (!Files.exists(p)) {
            fail("fixture " + p.toAbsolutePath() + " is missing");
        }
        return p;
    }

    static ChatTemplate nemotron() throws IOException {
        return ChatTemplate.of(Files.readString(fixture("chat/nemotron-nano-v2/chat_template.jinja")));
    }

    static List<JsonNode> cases() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(fixture("chat/nemotron-nano-v2/cases.jsonl"))) {
            if (!line.isBlank()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    static JsonNode caseNamed(String name) throws IOException {
        return cases().stream().filter(c -> c.get("name").asText().equals(name)).findFirst().orElseThrow();
    }

    @TestFactory
    List<DynamicTest> everyFixtureRenderingIsReproducedExactly() throws IOException {
        ChatTemplate template = nemotron();
        List<JsonNode> cases = cases();
        assertTrue(cases.size() >= 7, "cases.jsonl has " + cases.size() + " cases");
        return cases.stream().map(c -> DynamicTest.dynamicTest(c.get("name").asText(), () -> {
            String rendered = template.render(c.get("messages"), c.get("tools"),
                    c.path("add_generation_prompt").asBoolean(false),
                    c.path("continue_final_message").asBoolean(false));
            assertEquals(c.get("rendered").asText(), rendered);
        })).toList();
    }

    @Test
    void typedMessagesRenderLikeTheirJson() throws IOException {
        ChatTemplate template = nemotron();
        JsonNode tools = caseNamed("tools_call");
        JsonNode tool = tools.get("tools").get(0);
        List<Message> messages = List.of(
                Message.system("You can check the weather."),
                Message.user("Weather in Paris?"),
                Message.assistant("", null, List.of(ToolCall.of("get_weather", Map.of("city", "Paris")))),
                Message.tool("{\"temp_c\": 18, \"sky\": \"clear\"}"));
        assertEquals(tools.get("rendered").asText(), template.render(messages, List.of(tool), true, false));
        assertEquals(tools.get("rendered").asText(),
                template.render(ChatRequest.of(messages).tools(tool)));

        JsonNode multi = caseNamed("multi_turn");
        List<Message> turns = List.of(Message.system("Be helpful."), Message.user("Hi"),
                Message.assistant("Hello! How can I help?", "The user greets me."),
                Message.user("Tell me a joke. /no_think"));
        assertEquals(multi.get("rendered").asText(), template.render(ChatRequest.of(turns)));
    }

    @Test
    void toolCallArgumentsGivenAsTextAreRenderedVerbatim() throws IOException {
        String rendered = nemotron().render(List.of(Message.user("Weather?"),
                        Message.toolCalls(ToolCall.of("get_weather", "{\"city\":\"Paris\"}"))),
                List.of(), false, false);
        assertTrue(rendered.contains("<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}]"
                + "</TOOLCALL>"), rendered);
    }

    @Test
    void reasoningFlagIsTheApiFormOfNoThink() throws IOException {
        ChatTemplate template = nemotron();
        JsonNode userNoThink = caseNamed("user_no_think");
        assertEquals(userNoThink.get("rendered").asText(),
                template.render(ChatRequest.of(Message.user("Say hi")).reasoning(false)));
        JsonNode systemNoThink = caseNamed("system_no_think");
        assertEquals(systemNoThink.get("rendered").asText(), template.render(ChatRequest.of(
                Message.system("You are a terse assistant."), Message.user("Capital of France?")).reasoning(false)));
        // The flag wins over the messages, in both directions.
        String on = template.render(ChatRequest.of(Message.user("Say hi /no_think")).reasoning(true));
        assertTrue(on.endsWith("<SPECIAL_11>User\nSay hi\n<SPECIAL_11>Assistant\n<think>\n"), on);
        String off = template.render(ChatRequest.of(Message.system("/think"), Message.user("Say hi /think"))
                .reasoning(false));
        assertTrue(off.endsWith("<think></think>"), off);
        // Without the flag, reasoning is on.
        assertTrue(template.render(ChatRequest.of(Message.user("Say hi"))).endsWith("<think>\n"));
    }

    @Test
    void continueFinalMessageCutsAfterTheFinalContent() throws IOException {
        JsonNode budget = caseNamed("continue_budget");
        ChatRequest request = ChatRequest.of(Message.user("Solve 2+2."),
                Message.assistant("<think>\nTwo plus two is four.\n</think>")).continueFinalMessage(true);
        assertEquals(budget.get("rendered").asText(), nemotron().render(request));

        ChatTemplate keeps = ChatTemplate.of("{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}");
        assertEquals("<user>Hi</s><assistant>Hello ", keeps.render(List.of(Message.user("Hi"),
                Message.assistant("Hello ")), List.of(), false, true));
        ChatTemplate strips = ChatTemplate.of(
                "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</s>{% endfor %}");
        assertEquals("<user>Hi</s><assistant>Hello", strips.render(List.of(Message.user("Hi"),
                Message.assistant("Hello ")), List.of(), false, true));
        NemotronException e = assertThrows(NemotronException.class, () -> keeps.render(List.of(Message.user("Hi")),
                List.of(), true, true));
        assertTrue(e.getMessage().contains("add_generation_prompt"), e.getMessage());
        ChatTemplate drops = ChatTemplate.of("{% for m in messages %}{{ m.role }}{% endfor %}");
        assertThrows(NemotronException.class, () -> drops.render(List.of(Message.user("Hi"),
                Message.assistant("Hello")), List.of(), false, true));
    }

    // ---- bad input ----

    @Test
    void templateThatRaisesGivesItsMessage() {
        ChatTemplate t = ChatTemplate.of("{% if messages[0]['role'] != 'system' %}"
                + "{{ raise_exception('Conversation must start with a system message') }}{% endif %}ok");
        NemotronException e = assertThrows(NemotronException.class,
                () -> t.render(List.of(Message.user("hi")), List.of(), true, false));
        assertTrue(e.getMessage().contains("Conversation must start with a system message"), e.getMessage());
        assertEquals("ok", t.render(List.of(Message.system("s")), List.of(), true, false));
    }

    @Test
    void unknownRoleIsAClearError() throws IOException {
        NemotronException e = assertThrows(NemotronException.class,
                () -> nemotron().render(JSON.readTree("[{\"role\": \"user\", \"content\": \"a\"},"
                        + " {\"role\": \"robot\", \"content\": \"b\"}]"), null, true, false));
        assertTrue(e.getMessage().contains("message 1") && e.getMessage().contains("unknown message role 'robot'"),
                e.getMessage());
        NemotronException typed = assertThrows(NemotronException.class,
                () -> new Message("developer", "x", null, List.of(), null));
        assertTrue(typed.getMessage().contains("unknown message role 'developer'"), typed.getMessage());
        assertThrows(NemotronException.class, () -> nemotron().render(JSON.readTree("[{\"content\": \"a\"}]"),
                null, true, false));
    }

    @Test
    void emptyConversationIsAClearError() throws IOException {
        ChatTemplate t = nemotron();
        NemotronException e = assertThrows(NemotronException.class,
                () -> t.render(JSON.readTree("[]"), null, true, false));
        assertTrue(e.getMessage().contains("without messages"), e.getMessage());
        assertThrows(NemotronException.class, () -> t.render(List.of(), List.of(), true, false));
        assertThrows(NemotronException.class, () -> ChatRequest.of());
    }

    @Test
    void brokenTemplateIsAClearError() {
        ChatTemplate t = ChatTemplate.of("{{ messages[0].content.nosuchmethod() }}");
        NemotronException e = assertThrows(NemotronException.class,
                () -> t.render(List.of(Message.user("x")), List.of(), true, false));
        assertTrue(e.getMessage().startsWith("chat template failed"), e.getMessage());
    }

    // ---- Jinja as Hugging Face configures it ----

    private static String render(String template, String messagesJson) throws IOException {
        return ChatTemplate.of(template).render(JSON.readTree(messagesJson), null, false, false);
    }

    private static final String ONE = "[{\"role\": \"user\", \"content\": \" Hi there \"}]";

    @Test
    void tojsonIsPythonsJsonDumps() throws IOException {
        String messages = "[{\"role\": \"user\", \"content\": \"x\", \"data\": {\"a\": 1.0, \"b\": [1e-5, 1e16,"
                + " 0.0001, 123456789012, -2.5, \"é\\n\\\"q\\\"\\t\\u0001\"], \"c\": null, \"d\": true, \"e\": {}, \"f\": []}}]";
        assertEquals("{\"a\": 1.0, \"b\": [1e-05, 1e+16, 0.0001, 123456789012, -2.5, \"é\\n\\\"q\\\"\\t\\u0001\"],"
                + " \"c\": null, \"d\": true, \"e\": {}, \"f\": []}", render("{{ messages[0].data | tojson }}", messages));
        assertEquals("{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}",
                render("{{ {'a': 1, 'b': ['x']} | tojson(indent=2) }}", ONE));
        assertEquals("{\"a\": 2, \"b\": 1}", render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}", ONE));
        assertEquals("\"\\u00e9\"", render("{{ 'é' | tojson(ensure_ascii=true) }}", ONE));
        assertEquals("1.5e-07", PythonJson.floatRepr(1.5e-7));
        assertEquals("1e+16", PythonJson.floatRepr(1e16));
        assertEquals("1234567890123456.0", PythonJson.floatRepr(1234567890123456.0));
        assertEquals("0.1", PythonJson.floatRepr(0.1));
        assertEquals("-0.0", PythonJson.floatRepr(-0.0));
        assertEquals("Infinity", PythonJson.floatRepr(Double.POSITIVE_INFINITY));
    }

    @Test
    void whitespaceControlTrimBlocksAndLstripBlocks() throws IOException {
        assertEquals("a b", render("a{{- ' ' -}}\n  {{- 'b' -}}\n", ONE));
        assertEquals("x\n", render("{% if true %}\nx\n  {% endif %}\n", ONE));
        assertEquals("  1\n  2\n", render("{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}\n", ONE));
    }

    @Test
    void loopControlsNamespaceAndPythonStringMethods() throws IOException {
        assertEquals("13", render("{% for i in [1, 2, 3, 4] %}{% if i == 2 %}{% continue %}{% endif %}"
                + "{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}", ONE));
        assertEquals("3", render("{% set ns = namespace(n=0) %}{% for m in [1, 2, 3] %}{% set ns.n = ns.n + 1 %}"
                + "{% endfor %}{{ ns.n }}", ONE));
        assertEquals("Hi there|true|true|2|b|Hi there |HI THERE|hi there|Hi There",
                render("{% set c = messages[0].content %}{{ c.strip() }}|{{ c.startswith(' Hi') }}|"
                        + "{{ c.endswith(('x', 'e ')) }}|{{ ('a</think>b').split('</think>') | length }}|"
                        + "{{ 'a</think>b'.split('</think>')[1] }}|{{ c.lstrip() }}|{{ c.strip().upper() }}|"
                        + "{{ c.strip().lower() }}|{{ c.strip().title() }}", ONE));
        assertEquals("['a', '', 'b']", "['" + String.join("', '",
                PythonStringMethods.split("a,,b", ",", -1)) + "']");
        assertEquals(List.of("a", "b c "), PythonStringMethods.split(" a  b c ", null, 1));
        assertEquals(List.of(" a  b", "c"), PythonStringMethods.rsplit(" a  b c ", null, 1));
        assertEquals(List.of("a b", "c"), PythonStringMethods.rsplit("a b c", " ", 1));
        assertEquals("x", PythonStringMethods.strip("\u00a0x\u2003", null, true, true));
    }

    @Test
    void strftimeNowAndSpecialTokens() throws IOException {
        assertEquals(Integer.toString(Year.now().getValue()), render("{{ strftime_now('%Y') }}", ONE));
        ChatTemplate t = ChatTemplate.of("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}",
                Map.of("bos_token", "<s>", "eos_token", "</s>"));
        assertEquals("<s>x</s>", t.render(List.of(Message.user("x")), List.of(), false, false));
    }

    @Test
    void loadsFromTokenizerConfigAndDirectory(@TempDir Path dir) throws IOException {
        Path config = dir.resolve("tokenizer_config.json");
        Files.writeString(config, "{\"bos_token\": {\"content\": \"<s>\", \"special\": true},"
                + " \"chat_template\": \"{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}\"}");
        assertEquals("<s>hi", ChatTemplate.fromTokenizerConfig(config).render(List.of(Message.user("hi")),
                List.of(), false, false));
        assertEquals("<s>hi", ChatTemplate.fromDirectory(dir).render(List.of(Message.user("hi")), List.of(), false,
                false));

        Files.writeString(config, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
                + " {\"name\": \"default\", \"template\": \"D\"}]}");
        assertEquals("D", ChatTemplate.fromTokenizerConfig(config).source());

        Files.writeString(config, "{\"eos_token\": \"</s>\"}");
        assertThrows(NemotronException.class, () -> ChatTemplate.fromTokenizerConfig(config));
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ eos_token }}");
        assertEquals("</s>", ChatTemplate.fromDirectory(dir).render(List.of(Message.user("hi")), List.of(), false,
                false));

        Files.writeString(config, "{not json");
        NemotronException e = assertThrows(NemotronException.class, () -> ChatTemplate.fromTokenizerConfig(config));
        assertTrue(e.getMessage().contains("tokenizer_config.json"), e.getMessage());
    }
}
