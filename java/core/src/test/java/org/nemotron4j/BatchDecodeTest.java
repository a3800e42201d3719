package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.tokenizer.DemoTokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Batched decode: every session gets the logits it would get alone, while sessions join and leave. */
class BatchDecodeTest {
    @Test
    void batchedStepsEqualSoloStepsAsSessionsJoinAndLeave() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact())) {
            int n = 4;
            Session[] batched = new Session[n];
            Session[] solo = new Session[n];
            int[] next = new int[n];
            try {
                for (int i = 0; i < n; i++) {
                    int[] prompt = ModelPropertyTest.randomIds(5 + 37 * i, 320, i);
                    batched[i] = m.newSession();
                    solo[i] = m.newSession();
                    next[i] = Session.argmax(batched[i].prefill(prompt));
                    solo[i].prefill(prompt);
                }
                for (int step = 0; step < 12; step++) {
                    // session i takes part in steps [i, 12 - i): they join and leave at different times
                    List<Session> group = new ArrayList<>();
                    List<Integer> who = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        if (step >= i && step < 12 - i) {
                            group.add(batched[i]);
                            who.add(i);
                        }
                    }
                    int[] tokens = who.stream().mapToInt(i -> next[i]).toArray();
                    float[][] logits = m.decode(group, tokens);
                    for (int j = 0; j < who.size(); j++) {
                        int i = who.get(j);
                        float[] alone = solo[i].decode(next[i]);
                        double err = Fixtures.relError(logits[j], alone);
                        assertTrue(err <= 1e-5, "step " + step + " session " + i + ": rel error " + err);
                        next[i] = Session.argmax(logits[j]);
                    }
                }
            } finally {
                for (int i = 0; i < n; i++) {
                    if (batched[i] != null) {
                        batched[i].close();
                    }
                    if (solo[i] != null) {
                        solo[i].close();
                    }
                }
            }
        }
    }

    /**
     * Every decode step is one bracketed step (n4j_step_begin .. _end): on the CPU all run eagerly and none is
     * captured; prefill is never bracketed, and a step refused before it starts (a bad token) counts nothing.
     */
    @Test
    void decodeStepsAreCountedAndRunEagerlyOnTheCpu() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact());
             Session a = m.newSession(); Session b = m.newSession()) {
            a.prefill(ModelPropertyTest.randomIds(20, 320, 3));
            b.prefill(ModelPropertyTest.randomIds(9, 320, 4));
            assertEquals(new DecodeStepStats(0, 0, 0, 0, 0), m.decodeStepStats());
            m.decode(List.of(a, b), new int[] {5, 6});
            m.decodeGreedy(List.of(a, b), new int[] {7, 8});
            a.decode(9);
            assertThrows(NemotronException.class, () -> m.decode(List.of(a, b), new int[] {1, 100000}));
            assertEquals(new DecodeStepStats(3, 0, 0, 0, 0), m.decodeStepStats());
            a.decode(10);  // the session still works
            assertEquals(4, m.decodeStepStats().eagerSteps());
        }
    }

    @Test
    void greedyDecodeOnTheBackendReturnsTheArgmaxOfTheLogits() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact());
             Session a = m.newSession(); Session b = m.newSession()) {
            int[] next = {Session.argmax(a.prefill(ModelPropertyTest.randomIds(40, 320, 1))),
                    Session.argmax(b.prefill(ModelPropertyTest.randomIds(300, 320, 2)))};
            try (Session a2 = a.fork(); Session b2 = b.fork()) {
                for (int step = 0; step < 8; step++) {
                    int[] ids = m.decodeGreedy(List.of(a, b), next);
                    float[][] logits = m.decode(List.of(a2, b2), next);
                    assertArrayEquals(new int[] {Session.argmax(logits[0]), Session.argmax(logits[1])}, ids, "step " + step);
                    next = ids;
                }
                int solo = a.decodeGreedy(next[0]);
                assertEquals(Session.argmax(a2.decode(next[0])), solo);
                assertEquals(a2.position(), a.position());
            }
            var e = assertThrows(NemotronException.class, () -> b.decodeGreedy(320));
            assertTrue(e.getMessage().contains("320"), e.getMessage());
        }
    }

    @Test
    void hostArgmaxSkipsNaNsAndPrefersTheLowestIndexAsTheNativeOneDoes() {
        assertEquals(2, Session.argmax(new float[] {Float.NaN, 1f, 3f, 3f}));
        assertEquals(0, Session.argmax(new float[] {Float.NaN, Float.NaN}));
        assertEquals(1, Session.argmax(new float[] {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN}));
        assertEquals(0, Session.argmax(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}));
    }

    @Test
    void badBatchesAreRejectedBeforeAnythingChanges() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact());
             Session a = m.newSession(); Session b = m.newSession()) {
            a.prefill(1, 2);
            b.prefill(3);
            var e = assertThrows(NemotronException.class, () -> m.decode(List.of(a, b), new int[] {4, 999}));
            assertTrue(e.getMessage().contains("token id 999"), e.getMessage());
            assertThrows(NemotronException.class, () -> m.decode(List.of(a, a), new int[] {4, 5}));
            assertEquals(2, a.position());
            assertEquals(1, b.position());
        }
    }

    /** Four chat requests with different prompts, decoded in shared steps, each exactly as it runs alone. */
    @Test
    void engineBatchesConcurrentRequestsAndMatchesSoloRuns(@TempDir Path tmp) {
        Path dir = tmp.resolve("demo");
        String json = ModelPropertyTest.config("M*-M", 32, DemoTokenizer.VOCAB_SIZE, 4, 8, 8, 2, 16, 4, 2, 8, 48);
        ModelPropertyTest.make(dir, json, 9, false);
        DemoTokenizer.write(dir, """
                {%- for m in messages -%}{{ '<SPECIAL_11>' + m['role'] + '\\n' + m['content'] + '\\n' }}{%- endfor -%}
                {%- if add_generation_prompt -%}{{ '<SPECIAL_11>assistant\\n<think>\\n' }}{%- endif -%}""");
        String[] prompts = {"Hello", "Why is the sky blue?", "Write a poem about the sea", "17 * 23 = ?"};
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact())) {
            List<int[]> alone = new ArrayList<>();
            for (String p : prompts) {
                try (Session s = m.newSession()) {
                    alone.add(s.generate(ChatRequest.of(Message.user(p)).maxTokens(64).temperature(0)).tokenIds());
                }
            }
            try (BatchEngine engine = new BatchEngine(m)) {
                List<BatchEngine.Request> requests = new ArrayList<>();
                int gathered = submitTogether(engine, prompts, 64, requests);
                for (int i = 0; i < prompts.length; i++) {
                    GenerationResult r = requests.get(i).await(60, TimeUnit.SECONDS);
                    assertArrayEquals(alone.get(i), r.tokenIds(), "request " + i);
                }
                assertTrue(gathered > 1, "requests decoding together (" + gathered + ")");
                assertEquals(gathered, engine.largestBatch(), "the gathered requests ran as one step");
            }
            assertEquals(0, m.allocatedBytes() - workspaceBytes(m), "every request's session was closed");
        }
    }

    /**
     * Submits one greedy chat request per prompt with decode steps held until every request has prefilled (or finished
     * without decoding), then lets them run: the first step batches all of them on any machine, however fast or busy.
     * Returns how many requests that first step holds.
     */
    static int submitTogether(BatchEngine engine, String[] prompts, int maxTokens, List<BatchEngine.Request> requests) {
        engine.holdSteps();
        for (String p : prompts) {
            requests.add(engine.submit(ChatRequest.of(Message.user(p)).maxTokens(maxTokens).temperature(0)));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (engine.waitingSteps() + requests.stream().filter(r -> r.result().isDone()).count() < prompts.length) {
            assertTrue(System.nanoTime() < deadline, "every request reached its first decode step");
            Thread.onSpinWait();
        }
        int gathered = engine.waitingSteps();
        engine.releaseSteps();
        return gathered;
    }

    static long workspaceBytes(NemotronModel m) {
        MemoryPlan p = MemoryPlan.of(m.config(), 1, 1, DType.BF16, DType.F32, m.prefillChunk());
        return p.activations() + p.logits();
    }
}
