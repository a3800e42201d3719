package org.nemotron4j.serving;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nemotron4j.Device;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.GenerationResult;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.generate.GenerationOptions;
import org.nemotron4j.tokenizer.DemoTokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler on a small random model: exact prefix caching, chunked prefill between decode steps, limits. */
class SchedulerTest {
    static final int CHUNK = 64;
    static Path dir;
    static NemotronModel model;

    @BeforeAll
    static void load() throws Exception {
        dir = Files.createTempDirectory("n4j-scheduler");
        ModelConfig c = ModelConfig.parse("""
                {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
                 "num_hidden_layers": 4, "hybrid_override_pattern": "M*M-", "hidden_size": 64, "vocab_size": %d,
                 "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 16, "n_groups": 2, "conv_kernel": 4,
                 "chunk_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                 "intermediate_size": 96, "layer_norm_epsilon": 1e-5, "max_position_embeddings": 2048,
                 "use_conv_bias": true, "tie_word_embeddings": false, "time_step_limit": [0.0, Infinity],
                 "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
                """.formatted(DemoTokenizer.VOCAB_SIZE), "test config");
        ModelGenerator.generate(c, dir, 7, false, null);
        DemoTokenizer.write(dir, "{%- for m in messages -%}{{ m['content'] }}{%- endfor -%}");
        model = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact().withPrefillChunk(CHUNK));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static int[] ids(int n, long seed) {
        Random r = new Random(seed);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = 40 + r.nextInt(400);
        }
        return a;
    }

    static GenerationOptions greedy(int n) {
        return GenerationOptions.defaults().withMaxTokens(n);
    }

    /** Runs one request; returns its ids and the logits it sampled its first token from. */
    static Object[] run(Scheduler s, int[] prompt, int n) {
        float[][] first = new float[1][];
        var r = s.submit(prompt, null, greedy(n), (step, logits) -> {
            if (step == 0) {
                first[0] = logits.clone();
            }
        });
        GenerationResult res = r.result().join();
        return new Object[] {res.tokenIds(), first[0], r.cachedPromptTokens()};
    }

    @Test
    void aCachedPrefixGivesBitwiseTheColdResult() {
        int[] shared = ids(3 * CHUNK, 1);
        int[] a = concat(shared, ids(20, 2));
        int[] b = concat(shared, ids(37, 3));
        Object[] cold;
        try (Scheduler off = new Scheduler(model, SchedulerOptions.defaults().withPrefixCacheBytes(0))) {
            cold = run(off, b, 12);
            assertEquals(0, off.stats().prefixHits());
        }
        try (Scheduler on = new Scheduler(model)) {
            Object[] first = run(on, a, 4);
            assertEquals(0, (int) first[2], "nothing cached yet");
            Object[] warm = run(on, b, 12);
            assertEquals(3 * CHUNK, (int) warm[2], "the shared prefix came from the cache");
            assertArrayEquals((int[]) cold[0], (int[]) warm[0], "greedy ids");
            assertArrayEquals((float[]) cold[1], (float[]) warm[1], "logits after the prompt, bitwise");
            SchedulerStats st = on.stats();
            assertEquals(2, st.prefixLookups());
            assertEquals(1, st.prefixHits());
            assertEquals(0.5, st.prefixHitRate());
            assertTrue(st.prefixEntries() >= 3, "entries " + st.prefixEntries());
        }
    }

    /** The test model's SSD chunk ({@code chunk_size}): the default prefix cache block. */
    static final int SSD = 16;

    @Test
    void aPrefixSharedUpToAnyBlockBoundaryIsResumedFromThereBitwise() throws Exception {
        // shared: 3 prefill chunks, 2 SSD chunks and 5 tokens; the warm request resumes 2 SSD chunks into a prefill
        // chunk, which the cold run fed whole
        int[] shared = ids(3 * CHUNK + 2 * SSD + 5, 11);
        int[] a = concat(shared, ids(30, 12));
        int[] b = concat(shared, ids(70, 13));
        for (LoadOptions lo : new LoadOptions[] {LoadOptions.exact(), LoadOptions.defaults()}) {
            try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), lo.withPrefillChunk(CHUNK))) {
                Object[] cold;
                try (Scheduler off = new Scheduler(m, SchedulerOptions.defaults().withPrefixCacheBytes(0))) {
                    cold = run(off, b, 12);
                }
                try (Scheduler on = new Scheduler(m)) {
                    run(on, a, 3);
                    Object[] warm = run(on, b, 12);
                    assertEquals(3 * CHUNK + 2 * SSD, (int) warm[2], "cached up to the last SSD chunk boundary");
                    assertArrayEquals((int[]) cold[0], (int[]) warm[0], "greedy ids, " + lo);
                    assertArrayEquals((float[]) cold[1], (float[]) warm[1], "logits after the prompt, bitwise, " + lo);
                    // every block boundary of both prompts was cached (the shared ones once), except b's at 288:
                    // its prefill chunk [256, 299) is split only into pieces of at least MIN_PIECE tokens
                    assertEquals(a.length / SSD + b.length / SSD - (3 * CHUNK + 2 * SSD) / SSD - 1,
                            on.stats().prefixEntries());
                }
            }
        }
    }

    @Test
    void withAndWithoutTheCacheEveryPromptGetsBitwiseTheSameResult() throws Exception {
        // shared prefixes ending anywhere in a prefill chunk, suffixes short and long (a rest shorter than MIN_PIECE
        // after a block boundary, rests spanning the next chunk boundary and one beyond): both the request that fills
        // the cache (its prompt fed in pieces) and the one resumed from it must give what the cache-less scheduler
        // gives
        int[][] cases = {{17, 1, 5}, {40, 3, 30}, {63, 20, 1}, {64, 2, 2}, {79, 9, 70}, {100, 60, 14}, {129, 1, 2},
                {150, 40, 9}, {200, 11, 100}, {250, 5, 6}, {256, 30, 1}, {300, 20, 15}, {100, 7, 100}, {40, 3, 150},
                {170, 5, 90}, {90, 50, 59}};
        for (LoadOptions lo : new LoadOptions[] {LoadOptions.exact(), LoadOptions.defaults()}) {
            try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), lo.withPrefillChunk(CHUNK));
                 Scheduler off = new Scheduler(m, SchedulerOptions.defaults().withPrefixCacheBytes(0))) {
                int seed = 100;
                int fine = 0;
                for (int[] c : cases) {
                    int[] shared = ids(c[0], seed++);
                    int[] a = concat(shared, ids(c[1], seed++));
                    int[] b = concat(shared, ids(c[2], seed++));
                    try (Scheduler on = new Scheduler(m)) {
                        for (int[] p : new int[][] {a, b}) {
                            Object[] cold = run(off, p, 4);
                            Object[] warm = run(on, p, 4);
                            String what = lo.precision() + ", shared " + c[0] + ", prompt " + p.length + ", cached "
                                    + warm[2];
                            assertArrayEquals((int[]) cold[0], (int[]) warm[0], what);
                            assertArrayEquals((float[]) cold[1], (float[]) warm[1], what);
                            if (p == b && (int) warm[2] % CHUNK != 0) {
                                fine++;
                            }
                        }
                    }
                }
                assertTrue(fine >= 5, "resumed inside a prefill chunk: " + fine);
            }
        }
    }

    @Test
    void aCoarserBlockCachesLessAndStaysExact() {
        int[] shared = ids(2 * CHUNK + 40, 14);
        int[] b = concat(shared, ids(9, 16));
        Object[] cold;
        try (Scheduler off = new Scheduler(model, SchedulerOptions.defaults().withPrefixCacheBytes(0))) {
            cold = run(off, b, 8);
        }
        try (Scheduler on = new Scheduler(model, SchedulerOptions.defaults().withPrefixBlockTokens(2 * SSD))) {
            run(on, concat(shared, ids(9, 15)), 2);
            Object[] warm = run(on, b, 8);
            assertEquals(2 * CHUNK + 32, (int) warm[2]);
            assertArrayEquals((int[]) cold[0], (int[]) warm[0]);
            assertArrayEquals((float[]) cold[1], (float[]) warm[1]);
        }
        var e = assertThrows(org.nemotron4j.NemotronException.class,
                () -> new Scheduler(model, SchedulerOptions.defaults().withPrefixBlockTokens(SSD + 8)));
        assertTrue(e.getMessage().contains("SSD chunk"), e.getMessage());
        assertEquals(SSD, Scheduler.prefixBlock(model, 0));
        assertEquals(3 * CHUNK, Scheduler.prefixBlock(model, 3 * CHUNK));
    }

    @Test
    void aLongPromptIsPrefilledBetweenDecodeSteps() throws Exception {
        try (Scheduler s = new Scheduler(model, SchedulerOptions.defaults().withPrefixCacheBytes(0))) {
            var running = s.submit(ids(10, 4), null, greedy(200), null);
            assertTrue(running.hasNext());
            running.next();
            var longOne = s.submit(ids(16 * CHUNK, 5), null, greedy(2), null);
            int during = 0;
            while (!longOne.result().isDone() && running.hasNext()) {
                running.next();
                during++;
            }
            longOne.result().get(60, TimeUnit.SECONDS);
            // 16 chunks, one per step: the running stream kept decoding while the prompt was prefilled
            assertTrue(during >= 8, "tokens of the running stream during the long prefill: " + during);
            running.cancel();
        }
    }

    @Test
    void aFullQueueRefusesAndCancellationFreesEverything() throws Exception {
        long before = model.allocatedBytes();
        try (Scheduler s = new Scheduler(model, SchedulerOptions.defaults().withMaxSequences(1).withMaxQueued(1)
                .withMaxQueueWait(Duration.ofSeconds(30)).withPrefixCacheBytes(0))) {
            var a = s.submit(ids(10, 6), null, greedy(100_000), null);
            var b = s.submit(ids(10, 7), null, greedy(5), null);
            var e = assertThrows(OverloadedException.class, () -> s.submit(ids(10, 8), null, greedy(5), null));
            assertTrue(e.queueFull());
            assertTrue(a.hasNext());
            assertEquals(1, s.stats().queued());
            a.cancel();
            assertEquals(org.nemotron4j.FinishReason.CANCELLED, a.result().get(30, TimeUnit.SECONDS).finishReason());
            GenerationResult rb = b.result().get(30, TimeUnit.SECONDS);
            assertEquals(5, rb.tokenIds().length);
            assertEquals(0, s.stats().running());
        }
        assertEquals(before, model.allocatedBytes(), "every session was closed");
    }

    @Test
    void aQueuedRequestTimesOut() {
        try (Scheduler s = new Scheduler(model, SchedulerOptions.defaults().withMaxSequences(1)
                .withMaxQueueWait(Duration.ofMillis(200)).withPrefixCacheBytes(0))) {
            var a = s.submit(ids(10, 6), null, greedy(100_000), null);
            var b = s.submit(ids(10, 7), null, greedy(5), null);
            var e = assertThrows(OverloadedException.class, b::hasNext);
            assertTrue(!e.queueFull());
            a.cancel();
        }
    }

    static int[] concat(int[] a, int[] b) {
        int[] c = new int[a.length + b.length];
        System.arraycopy(a, 0, c, 0, a.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    static List<GenerationDelta> drain(Scheduler.ScheduledRequest r) {
        List<GenerationDelta> out = new ArrayList<>();
        r.forEachRemaining(out::add);
        return out;
    }
}
