package org.nemotron4j.generate;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.Channel;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.FinishReason;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronException;
import org.nemotron4j.chat.ChatTemplate;
import org.nemotron4j.sampling.SamplingParams;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The whole text path: chat template, tokenizer, loop, with the real Nemotron-Nano-v2 template. */
class ChatGenerationTest {
    private final FakeCodec codec = new FakeCodec();
    private final int open = codec.add("<think>");
    private final int close = codec.add("</think>");
    private final int eos = codec.addSpecial("<SPECIAL_12>");
    private final int paris = codec.add("Paris");
    private final int dot = codec.add(".");
    private final int hmm = codec.add("Hmm");
    private final int nn = codec.add("\n\n");
    private final GenerationConfig config = GenerationConfig.defaults().withMoreStopTokenIds(Set.of(eos));

    private static ChatTemplate template() throws IOException {
        String root = System.getProperty("n4j.fixtures", "../../../shared/fixtures");
        Path p = Path.of(root).resolve("chat/nemotron-nano-v2/chat_template.jinja");
        if (!Files.exists(p)) {
            fail("fixture " + p.toAbsolutePath() + " is missing");
        }
        return ChatTemplate.of(Files.readString(p));
    }

    private int promptLength(ChatTemplate t, ChatRequest r) {
        return codec.encode(t.render(r), false).length;
    }

    @Test
    void noThinkInTheSystemMessageGivesADirectAnswer() throws IOException {
        ChatTemplate t = template();
        for (ChatRequest request : List.of(
                ChatRequest.of(Message.system("You are a terse assistant. /no_think"), Message.user("Capital?")),
                ChatRequest.of(Message.user("Capital?")).reasoning(false))) {
            int n = promptLength(t, request);
            var model = ScriptedModel.of(codec.vocabSize(), 4096, n, paris, dot, eos);
            List<GenerationDelta> deltas = new ArrayList<>();
            try (GenerationStream s = Generation.chat(model, codec, t, request, config)) {
                s.forEachRemaining(deltas::add);
            }
            assertTrue(codec.decode(model.fed.stream().limit(n).mapToInt(Integer::intValue).toArray())
                    .endsWith("<SPECIAL_11>Assistant\n<think></think>"));
            assertTrue(deltas.stream().allMatch(d -> d.channel() == Channel.ANSWER), deltas.toString());
            assertEquals(0, deltas.getLast().usage().reasoningTokens());
            GenerationResult r = Generation.generate(
                    ScriptedModel.of(codec.vocabSize(), 4096, n, paris, dot, eos), codec, t, request, config);
            assertEquals("", r.reasoning());
            assertEquals("Paris.", r.answer());
            assertEquals(FinishReason.STOP, r.finishReason());
        }
    }

    @Test
    void defaultReasoningThenAnswer() throws IOException {
        ChatTemplate t = template();
        ChatRequest request = ChatRequest.of(Message.user("Capital of France?"));
        int n = promptLength(t, request);
        var model = ScriptedModel.of(codec.vocabSize(), 4096, n, hmm, dot, close, nn, paris, dot, eos);
        GenerationResult r = Generation.chat(model, codec, t, request, config).collect();
        assertEquals("Hmm.", r.reasoning());
        assertEquals("Paris.", r.answer());
        assertEquals(3, r.usage().reasoningTokens());
        assertEquals(7, r.usage().generatedTokens());
        assertEquals(n, r.usage().promptTokens());
    }

    @Test
    void thinkingBudgetFromTheRequest() throws IOException {
        ChatTemplate t = template();
        ChatRequest request = ChatRequest.of(Message.user("Capital of France?")).thinkingBudget(2);
        int n = promptLength(t, request);
        // The model would think forever ("Hmm" then "." then "\n\n" ...) but the budget closes it after "\n\n".
        var model = new ScriptedModel(codec.vocabSize(), 4096, fed -> {
            int at = fed.subList(n, fed.size()).indexOf(close);
            if (at < 0) {
                return new int[] {hmm, dot, nn}[(fed.size() - n) % 3];
            }
            int after = fed.size() - n - at - 1;
            return after == 0 ? paris : eos;
        });
        GenerationResult r = Generation.chat(model, codec, t, request, config).collect();
        assertEquals(List.of(hmm, dot, nn, close, paris), model.fed.subList(n, model.fed.size()));
        assertEquals("Hmm.", r.reasoning());
        assertEquals("Paris", r.answer());
    }

    @Test
    void samplingOptionsComeFromTheRequestOverTheConfig() {
        GenerationConfig c = GenerationConfig.parse("{\"temperature\": 0.6, \"top_p\": 0.95, \"top_k\": 20,"
                + " \"max_new_tokens\": 77, \"eos_token_id\": [2, 12]}", "generation_config.json");
        GenerationOptions o = Generation.options(ChatRequest.of(Message.user("x")), c);
        assertEquals(0.6, o.sampling().temperature());
        assertEquals(0.95, o.sampling().topP());
        assertEquals(20, o.sampling().topK());
        assertEquals(77, o.maxTokens());
        assertEquals(Set.of(2, 12), o.stopTokenIds());
        assertNull(o.thinkingBudget());
        GenerationOptions o2 = Generation.options(ChatRequest.of(Message.user("x")).temperature(0).topK(0)
                .maxTokens(5).seed(9).minP(0.05).stopStrings("END").thinkingBudget(100), c);
        assertTrue(o2.sampling().isGreedy());
        assertEquals(0, o2.sampling().topK());
        assertEquals(0.95, o2.sampling().topP());
        assertEquals(0.05, o2.sampling().minP());
        assertEquals(9L, o2.sampling().seed());
        assertEquals(5, o2.maxTokens());
        assertEquals(List.of("END"), o2.stopStrings());
        assertEquals(100, o2.thinkingBudget().budgetTokens());
        assertEquals(Integer.MAX_VALUE, Generation.options(ChatRequest.of(Message.user("x")), null).maxTokens());
    }

    @Test
    void generationConfigFiles(@TempDir Path dir) throws IOException {
        assertEquals(GenerationConfig.defaults(), GenerationConfig.load(dir));
        assertTrue(GenerationConfig.defaults().samplingDefaults().isGreedy());

        Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": 2, \"time_step_limit\": [0.0, Infinity]}");
        Files.writeString(dir.resolve("generation_config.json"),
                "{\"_from_model_config\": true, \"bos_token_id\": 1, \"eos_token_id\": [2, 12], \"pad_token_id\": 0,"
                        + " \"do_sample\": true, \"temperature\": 0.6, \"top_p\": 0.95}");
        GenerationConfig c = GenerationConfig.load(dir);
        assertEquals(Set.of(2, 12), c.eosTokenIds());
        assertEquals(1, c.bosTokenId());
        SamplingParams s = c.samplingDefaults();
        assertEquals(0.6, s.temperature());
        assertEquals(0.95, s.topP());
        assertEquals(0, s.topK());

        Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": [3]}");
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": 2, \"temperature\": 0.6,"
                + " \"do_sample\": false}");
        GenerationConfig c2 = GenerationConfig.load(dir);
        assertEquals(Set.of(2, 3), c2.eosTokenIds());
        assertTrue(c2.samplingDefaults().isGreedy(), "do_sample false means greedy");

        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [2,");
        NemotronException e = assertThrows(NemotronException.class, () -> GenerationConfig.load(dir));
        assertTrue(e.getMessage().contains("generation_config.json"), e.getMessage());
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": \"two\"}");
        e = assertThrows(NemotronException.class, () -> GenerationConfig.load(dir));
        assertTrue(e.getMessage().contains("eos_token_id"), e.getMessage());
        Files.writeString(dir.resolve("generation_config.json"), "{\"top_p\": 7}");
        assertThrows(NemotronException.class, () -> GenerationConfig.load(dir).samplingDefaults());
    }
}
