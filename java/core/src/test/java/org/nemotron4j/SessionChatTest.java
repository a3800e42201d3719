package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.generate.GenerationStream;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real session behind the generation loop: chat requests in, deltas out, on a checkpoint without text files too. */
class SessionChatTest {
    @Test
    void sessionFeedsPrefillThenDecodeLikeTheTokenApi() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact());
             Session a = m.newSession(); Session b = m.newSession()) {
            float[] viaFeed = new float[m.config().vocabSize()];
            a.feed(new int[] {3, 4, 5}, viaFeed);
            float[] viaPrefill = b.prefill(3, 4, 5);
            assertEquals(0, Fixtures.relError(viaFeed, viaPrefill));
            a.feed(new int[] {9}, viaFeed);
            assertEquals(0, Fixtures.relError(viaFeed, b.decode(9)));
        }
    }

    @Test
    void checkpointWithoutTokenizerGivesAClearError() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            var e = assertThrows(NemotronException.class, () -> s.stream(ChatRequest.of(Message.user("hi"))));
            assertTrue(e.getMessage().contains("tokenizer"), e.getMessage());
        }
    }

    @Test
    void streamsADemoCheckpoint(@TempDir Path tmp) {
        Path dir = tmp.resolve("demo");
        String json = ModelPropertyTest.config("M*-M", 32, org.nemotron4j.tokenizer.DemoTokenizer.VOCAB_SIZE, 4, 8, 8, 2, 16, 4, 2, 8, 48);
        ModelPropertyTest.make(dir, json, 9, false);
        org.nemotron4j.tokenizer.DemoTokenizer.write(dir, """
                {%- for m in messages -%}{{ '<SPECIAL_11>' + m['role'] + '\\n' + m['content'] + '\\n' }}{%- endfor -%}
                {%- if add_generation_prompt -%}{{ '<SPECIAL_11>assistant\\n<think>\\n' }}{%- endif -%}""");
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            ChatRequest req = ChatRequest.of(Message.user("Why is the sky blue?")).maxTokens(10).seed(4).temperature(0.8);
            StringBuilder text = new StringBuilder();
            GenerationDelta last = null;
            try (GenerationStream stream = s.stream(req)) {
                while (stream.hasNext()) {
                    last = stream.next();
                    text.append(last.text());
                }
            }
            assertTrue(last != null && last.isLast());
            assertTrue(last.usage().promptTokens() > 5);
            assertTrue(last.usage().generatedTokens() <= 10);
            try (Session again = m.newSession()) {
                GenerationResult r = again.generate(req);
                assertEquals(last.usage().generatedTokens(), r.tokenIds().length);
            }
        }
    }
}
