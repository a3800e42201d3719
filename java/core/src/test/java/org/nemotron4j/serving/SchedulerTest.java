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
