package org.nemotron4j.generate;

import org.junit.jupiter.api.Test;
import org.nemotron4j.Channel;
import org.nemotron4j.FinishReason;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.NemotronException;
import org.nemotron4j.ToolCall;
import org.nemotron4j.sampling.SamplingParams;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GenerationTest {
    private final FakeCodec codec = new FakeCodec();
    private final int close = codec.add("</think>");
    private final int eos = codec.addSpecial("<eos>");
    private final int endTurn = codec.addSpecial("<SPECIAL_12>");
    private final int nl = codec.add("\n");
    private final int nn = codec.add("\n\n");
    private final int w = codec.add("w");
    private final int hi = codec.add("Hi");

    private final GenerationOptions stopAtEos = GenerationOptions.defaults().withStopTokenIds(Set.of(eos));

    private static List<GenerationDelta> drain(GenerationStream s) {
        List<GenerationDelta> out = new ArrayList<>();
        try (s) {
            s.forEachRemaining(out::add);
        }
        return out;
    }

    private static String text(List<GenerationDelta> deltas, Channel channel) {
        return deltas.stream().filter(d -> d.channel() == channel).map(GenerationDelta::text)
                .collect(Collectors.joining());
    }

    private static String text(List<GenerationDelta> deltas) {
        return deltas.stream().map(GenerationDelta::text).collect(Collectors.joining());
    }

    private List<Integer> fedAfter(ScriptedModel model, int promptLength) {
        return model.fed.subList(promptLength, model.fed.size());
    }

    private static List<Integer> ids(int... ids) {
        List<Integer> out = new ArrayList<>();
        for (int id : ids) {
            out.add(id);
        }
        return out;
    }

    private static List<Integer> repeat(int id, int times) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < times; i++) {
            out.add(id);
        }
        return out;
    }

    // ---- reasoning and answer ----

    @Test
    void reasoningAndAnswerAreSeparated() {
        int let = codec.add("Let");
        int me = codec.add(" me");
        int paris = codec.add("Paris");
        int[] prompt = codec.encode("<SPECIAL_11>User\ncapital?\n<SPECIAL_11>Assistant\n<think>\n", false);
        var model = ScriptedModel.of(codec.vocabSize(), 1000, prompt.length, let, me, nl, close, nn, paris, eos);
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt, stopAtEos));

        assertEquals("Let me\n", text(deltas, Channel.REASONING));
        assertEquals("\n\nParis", text(deltas, Channel.ANSWER));
        GenerationDelta closing = deltas.get(3);
        assertEquals("", closing.text());
        assertArrayEquals(new int[] {close}, closing.tokenIds());
        assertEquals(Channel.REASONING, closing.channel());
        GenerationDelta last = deltas.getLast();
        assertEquals(FinishReason.STOP, last.finishReason());
        assertArrayEquals(new int[] {eos}, last.tokenIds());
        assertEquals(7, last.usage().generatedTokens());
        assertEquals(4, last.usage().reasoningTokens());
        assertEquals(prompt.length, last.usage().promptTokens());
        for (GenerationDelta d : deltas.subList(0, deltas.size() - 1)) {
            assertNull(d.finishReason());
            assertNull(d.usage());
        }

        var model2 = ScriptedModel.of(codec.vocabSize(), 1000, prompt.length, let, me, nl, close, nn, paris, eos);
        GenerationResult r = Generation.start(model2, codec, prompt, stopAtEos).collect();
        assertEquals("Let me", r.reasoning());
        assertEquals("Paris", r.answer());
        assertEquals(FinishReason.STOP, r.finishReason());
        assertArrayEquals(new int[] {let, me, nl, close, nn, paris, eos}, r.tokenIds());
        assertFalse(r.toolCallMalformed());
        // The stop token is not fed to the model.
        assertEquals(ids(let, me, nl, close, nn, paris), fedAfter(model2, prompt.length));
    }

    @Test
    void closingTagSplitOverTokensIsFound() {
        int a = codec.add("Think.</th");
        int b = codec.add("ink>\n\nParis");
        int[] prompt = codec.encode("<think>\n", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, a, b, eos);
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt, stopAtEos));
        assertEquals("Think.", text(deltas, Channel.REASONING));
        assertEquals("\n\nParis", text(deltas, Channel.ANSWER));
        assertEquals("Think.", deltas.get(0).text()); // "</th" held back until the next token
    }

    @Test
    void promptWithClosedThinkStartsInTheAnswer() {
        int paris = codec.add("Paris");
        int[] prompt = codec.encode("<SPECIAL_11>Assistant\n<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, paris, eos);
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt, stopAtEos));
        assertTrue(deltas.stream().allMatch(d -> d.channel() == Channel.ANSWER));
        assertEquals("Paris", text(deltas));
        assertEquals(0, deltas.getLast().usage().reasoningTokens());
    }

    // ---- thinking budget ----

    /** Reasoning "w" tokens (a newline at {@code newlineAt}, if >= 0) until </think> is fed, then "\n\n", "Hi", eos. */
    private ScriptedModel budgetModel(int promptLength, int newlineAt) {
        return new ScriptedModel(codec.vocabSize(), 100_000, fed -> {
            int closeAt = fed.subList(promptLength, fed.size()).indexOf(close);
            if (closeAt >= 0) {
                int after = fed.size() - promptLength - closeAt - 1;
                return after == 0 ? nn : after == 1 ? hi : eos;
            }
            int generated = fed.size() - promptLength;
            return generated == newlineAt ? nl : w;
        });
    }

    @Test
    void thinkingBudgetEndsAtTheNextNewline() {
        int[] prompt = codec.encode("<think>\n", false);
        var model = budgetModel(prompt.length, 12); // tokens 0-11 "w", token 12 "\n"
        var options = stopAtEos.withThinkingBudget(new org.nemotron4j.chat.ThinkingBudget(10));
        GenerationResult r = Generation.start(model, codec, prompt, options).collect();

        List<Integer> expected = new ArrayList<>(repeat(w, 12));
        expected.addAll(ids(nl, close, nn, hi));
        assertEquals(expected, fedAfter(model, prompt.length), "</think> forced right after the newline");
        // The newline and the forced </think> reach the model together.
        assertArrayEquals(new int[] {nl, close}, model.feeds.get(13));
        assertEquals("w".repeat(12), r.reasoning());
        assertEquals("Hi", r.answer());
        assertEquals(14, r.usage().reasoningTokens());
        assertEquals(17, r.usage().generatedTokens());
        assertEquals(FinishReason.STOP, r.finishReason());
    }

    @Test
    void thinkingBudgetEndsAtOnceWithoutANewlineWithin500Tokens() {
        int[] prompt = codec.encode("<think>\n", false);
        var model = budgetModel(prompt.length, -1); // never a newline
        var options = stopAtEos.withThinkingBudget(new org.nemotron4j.chat.ThinkingBudget(10));
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt, options));

        List<Integer> expected = new ArrayList<>(repeat(w, 510));
        expected.addAll(ids(nl, close, nn, hi));
        assertEquals(expected, fedAfter(model, prompt.length), "\\n</think> forced after budget + 500 tokens");
        assertEquals("w".repeat(510) + "\n", text(deltas, Channel.REASONING));
        assertEquals("\n\nHi", text(deltas, Channel.ANSWER));
        assertEquals(512, deltas.getLast().usage().reasoningTokens());
    }

    @Test
    void zeroThinkingBudgetClosesTheReasoningBeforeItStarts() {
        int[] prompt = codec.encode("<think>\n", false);
        var model = budgetModel(prompt.length, -1);
        var options = stopAtEos.withThinkingBudget(new org.nemotron4j.chat.ThinkingBudget(0));
        GenerationResult r = Generation.start(model, codec, prompt, options).collect();
        assertEquals(ids(close, nn, hi), fedAfter(model, prompt.length));
        assertEquals("", r.reasoning());
        assertEquals("Hi", r.answer());
    }

    @Test
    void modelThatClosesItsReasoningWithinBudgetIsLeftAlone() {
        int[] prompt = codec.encode("<think>\n", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, w, nl, close, nn, hi, eos);
        var options = stopAtEos.withThinkingBudget(new org.nemotron4j.chat.ThinkingBudget(50));
        GenerationResult r = Generation.start(model, codec, prompt, options).collect();
        assertEquals(ids(w, nl, close, nn, hi), fedAfter(model, prompt.length));
        assertEquals("Hi", r.answer());
    }

    // ---- tool calls ----

    @Test
    void toolCallsAreParsed() {
        int open = codec.add("<TOOLCALL>");
        int p1 = codec.add("[{\"name\": \"get_weather\", ");
        int p2 = codec.add("\"arguments\": {\"city\": \"Paris\"}}]");
        int end = codec.add("</TOOLCALL>");
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, open, p1, p2, end, eos);
        GenerationResult r = Generation.start(model, codec, prompt, stopAtEos).collect();
        assertFalse(r.toolCallMalformed());
        assertEquals(1, r.toolCalls().size());
        ToolCall call = r.toolCalls().getFirst();
        assertEquals("get_weather", call.name());
        assertEquals("Paris", call.arguments().get("city").asText());
        assertEquals("", r.answer());
    }

    @Test
    void malformedToolCallIsReturnedAsTextWithAFlag() {
        int open = codec.add("<TOOLCALL>");
        int p1 = codec.add("[{\"name\": \"get_weather\", \"arguments\": {\"city\": }]");
        int end = codec.add("</TOOLCALL>");
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, open, p1, end, eos);
        List<GenerationDelta> deltas = new ArrayList<>();
        GenerationResult r;
        try (GenerationStream s = Generation.start(model, codec, prompt, stopAtEos)) {
            s.forEachRemaining(deltas::add); // no exception mid-stream
            r = s.collect();
        }
        assertTrue(r.toolCallMalformed());
        assertTrue(r.toolCalls().isEmpty());
        assertEquals("<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": }]</TOOLCALL>", r.answer());
        assertEquals(FinishReason.STOP, deltas.getLast().finishReason());
    }

    // ---- stops ----

    @Test
    void stopStringAcrossTokenBoundariesIsNotEmitted() {
        int a = codec.add("Hello S");
        int b = codec.add("TO");
        int c = codec.add("P world");
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, a, b, c, eos);
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt,
                stopAtEos.withStopStrings(List.of("STOP"))));
        assertEquals("Hello ", deltas.get(0).text());
        assertEquals("Hello ", text(deltas));
        assertTrue(deltas.stream().noneMatch(d -> d.text().contains("S")));
        GenerationDelta last = deltas.getLast();
        assertEquals(FinishReason.STOP, last.finishReason());
        assertEquals(3, last.usage().generatedTokens());
        assertEquals(ids(a, b), fedAfter(model, prompt.length));
    }

    @Test
    void heldBackTextIsReleasedWhenNoStopStringFollows() {
        int s = codec.add("S");
        int t = codec.add("T");
        int x = codec.add("x");
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, s, t, x, s, eos);
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt,
                stopAtEos.withStopStrings(List.of("STOP", "xyz"))));
        assertEquals("STxS", text(deltas));
        assertEquals("", deltas.get(0).text());
        assertEquals("S", deltas.getLast().text()); // released when the stream ends
    }

    @Test
    void stopTokenEndsWithStopAndItsTextIsNotOutput() {
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, hi, endTurn, hi, eos);
        GenerationResult r = Generation.start(model, codec, prompt, stopAtEos).collect();
        assertEquals(FinishReason.STOP, r.finishReason());
        assertEquals("HiHi", r.answer(), "a special token that is not a stop adds no text");
        assertArrayEquals(new int[] {hi, endTurn, hi, eos}, r.tokenIds());
    }

    @Test
    void maxTokensEndsWithLength() {
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, w);
        GenerationResult r = Generation.start(model, codec, prompt, stopAtEos.withMaxTokens(5)).collect();
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(5, r.tokenIds().length);
        assertEquals("wwwww", r.answer());
        assertEquals(prompt.length + 4, model.position());
    }

    @Test
    void fullContextEndsWithLength() {
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), prompt.length + 3, prompt.length, w);
        GenerationResult r = Generation.start(model, codec, prompt, stopAtEos).collect();
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(4, r.tokenIds().length);
        assertEquals(prompt.length + 3, model.position());
    }

    // ---- UTF-8 ----

    @Test
    void multiByteCharactersSplitOverTokensAreNeverSplitInDeltas() {
        int euro1 = codec.addBytes(0xE2);
        int euro2 = codec.addBytes(0x82, 0xAC);
        int smile1 = codec.addBytes(0xF0);
        int smile2 = codec.addBytes(0x9F, 0x98);
        int smile3 = codec.addBytes(0x80);
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, euro1, euro2, smile1, smile2, smile3,
                eos);
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt, stopAtEos));
        assertEquals(List.of("", "€", "", "", "😀", ""), deltas.stream().map(GenerationDelta::text).toList());
        assertArrayEquals(new int[] {euro2}, deltas.get(1).tokenIds());
        assertTrue(deltas.stream().noneMatch(d -> d.text().contains("\uFFFD")));
    }

    @Test
    void characterLeftIncompleteAtTheEndBecomesAReplacementCharacter() {
        int euro1 = codec.addBytes(0xE2);
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, hi, euro1);
        List<GenerationDelta> deltas = drain(Generation.start(model, codec, prompt, stopAtEos.withMaxTokens(2)));
        assertEquals("Hi\uFFFD", text(deltas));
        assertEquals(FinishReason.LENGTH, deltas.getLast().finishReason());
    }

    // ---- sampling through the loop ----

    /** Logits drawn from a fixed random stream per position, so that sampled runs depend only on the seed. */
    private ScriptedNoise noiseModel() {
        return new ScriptedNoise(codec.vocabSize());
    }

    static final class ScriptedNoise implements TokenModel {
        private final int vocab;
        private int position;

        ScriptedNoise(int vocab) {
            this.vocab = vocab;
        }

        @Override
        public int vocabSize() {
            return vocab;
        }

        @Override
        public int position() {
            return position;
        }

        @Override
        public int maxPositions() {
            return 10_000;
        }

        @Override
        public void feed(int[] tokens, float[] logitsOut) {
            position += tokens.length;
            SplittableRandom r = new SplittableRandom(position);
            for (int i = 0; i < vocab; i++) {
                logitsOut[i] = (float) (r.nextGaussian() * 2);
            }
        }
    }

    @Test
    void sameSeedGivesTheSameTokensAndAnotherSeedOthers() {
        int[] prompt = codec.encode("<think></think>", false);
        SamplingParams sampling = new SamplingParams(1.0, 50, 0.95, 0, 1, 0, 0, Map.of(), 42L);
        GenerationOptions options = GenerationOptions.defaults().withSampling(sampling).withMaxTokens(40);
        int[] a = Generation.start(noiseModel(), codec, prompt, options).collect().tokenIds();
        int[] b = Generation.start(noiseModel(), codec, prompt, options).collect().tokenIds();
        int[] c = Generation.start(noiseModel(), codec, prompt,
                options.withSampling(sampling.withSeed(43L))).collect().tokenIds();
        assertEquals(40, a.length);
        assertArrayEquals(a, b);
        assertFalse(java.util.Arrays.equals(a, c));
        // And greedy ignores the seed.
        int[] g1 = Generation.start(noiseModel(), codec, prompt, options.withSampling(SamplingParams.GREEDY))
                .collect().tokenIds();
        int[] g2 = Generation.start(noiseModel(), codec, prompt,
                options.withSampling(SamplingParams.GREEDY.withSeed(7L))).collect().tokenIds();
        assertArrayEquals(g1, g2);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(g1));
    }

    // ---- cancellation ----

    @Test
    void cancelFromAnotherThreadEndsTheStream() {
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 1_000_000, prompt.length, w);
        model.feedDelayMillis = 1;
        GenerationStream stream = Generation.start(model, codec, prompt, stopAtEos);
        CountDownLatch started = new CountDownLatch(1);
        Thread canceller = new Thread(() -> {
            try {
                started.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            stream.cancel();
        });
        canceller.start();
        List<GenerationDelta> deltas = new ArrayList<>();
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            while (stream.hasNext()) {
                deltas.add(stream.next());
                if (deltas.size() == 3) {
                    started.countDown();
                }
            }
            canceller.join();
        });
        GenerationDelta last = deltas.getLast();
        assertEquals(FinishReason.CANCELLED, last.finishReason());
        assertTrue(stream.isCancelled());
        assertTrue(last.usage().generatedTokens() >= 3 && last.usage().generatedTokens() < 100_000);
        assertFalse(stream.hasNext());
        assertEquals(FinishReason.CANCELLED, stream.collect().finishReason());
    }

    @Test
    void cancelBeforeStartDoesNoModelWork() {
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, w);
        GenerationStream stream = Generation.start(model, codec, prompt, stopAtEos);
        stream.cancel();
        GenerationResult r = stream.collect();
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertEquals(0, r.usage().generatedTokens());
        assertTrue(model.feeds.isEmpty());
    }

    @Test
    void closingMidwayStopsWithoutFurtherModelWork() {
        int[] prompt = codec.encode("<think></think>", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, w);
        GenerationStream stream = Generation.start(model, codec, prompt, stopAtEos);
        stream.next();
        stream.next();
        int feeds = model.feeds.size();
        stream.close();
        assertFalse(stream.hasNext());
        assertEquals(feeds, model.feeds.size());
        assertEquals(FinishReason.CANCELLED, stream.collect().finishReason());
    }

    // ---- the Java views ----

    @Test
    void streamViewAndCollectAfterPartialIteration() {
        int[] prompt = codec.encode("<think>\n", false);
        var model = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, w, nl, close, nn, hi, eos);
        try (var s = Generation.start(model, codec, prompt, stopAtEos).stream()) {
            assertEquals("w\n\n\nHi", s.map(GenerationDelta::text).collect(Collectors.joining()));
        }
        var model2 = ScriptedModel.of(codec.vocabSize(), 100, prompt.length, w, nl, close, nn, hi, eos);
        GenerationStream stream = Generation.start(model2, codec, prompt, stopAtEos);
        stream.next();
        stream.next();
        GenerationResult r = stream.collect();
        assertEquals("w", r.reasoning());
        assertEquals("Hi", r.answer());
        assertEquals(6, r.tokenIds().length);
        assertTrue(r.usage().promptSeconds() >= 0 && r.usage().generationSeconds() >= 0);
    }

    // ---- bad input ----

    @Test
    void promptLongerThanTheContextIsAClearError() {
        int[] prompt = codec.encode("0123456789", false);
        var model = ScriptedModel.of(codec.vocabSize(), 8, prompt.length, w);
        NemotronException e = assertThrows(NemotronException.class,
                () -> Generation.start(model, codec, prompt, stopAtEos));
        assertTrue(e.getMessage().contains("10 tokens") && e.getMessage().contains("context holds 8"),
                e.getMessage());
        assertTrue(model.feeds.isEmpty());
    }

    @Test
    void emptyPromptIsAClearError() {
        var model = ScriptedModel.of(codec.vocabSize(), 8, 0, w);
        NemotronException e = assertThrows(NemotronException.class,
                () -> Generation.start(model, codec, new int[0], stopAtEos));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
    }

    @Test
    void promptTokenOutsideTheVocabularyIsAClearError() {
        var model = ScriptedModel.of(codec.vocabSize(), 8, 1, w);
        NemotronException e = assertThrows(NemotronException.class,
                () -> Generation.start(model, codec, new int[] {codec.vocabSize() + 5}, stopAtEos));
        assertTrue(e.getMessage().contains("outside the vocabulary"), e.getMessage());
    }
}
