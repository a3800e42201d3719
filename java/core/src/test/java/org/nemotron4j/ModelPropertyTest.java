package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nemotron4j.checkpoint.Checkpoint;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.checkpoint.SafetensorsFile;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine against an independent float64 oracle ({@link ReferenceForward}) on random-weight models of awkward
 * shapes made by {@link ModelGenerator}, so no test depends on the particular numbers of one fixture; and prefill
 * of T tokens then decode of token T+1 against prefill of T+1 tokens.
 */
class ModelPropertyTest {
    static final double TOL = 1e-4;

    static String config(String pattern, int hidden, int vocab, int mambaHeads, int mambaHeadDim, int state, int groups,
                         int chunk, int heads, int kvHeads, int headDim, int inter) {
        return """
                {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
                 "num_hidden_layers": %d, "hybrid_override_pattern": "%s", "hidden_size": %d, "vocab_size": %d,
                 "mamba_num_heads": %d, "mamba_head_dim": %d, "ssm_state_size": %d, "n_groups": %d, "conv_kernel": 4,
                 "chunk_size": %d, "num_attention_heads": %d, "num_key_value_heads": %d, "head_dim": %d,
                 "intermediate_size": %d, "layer_norm_epsilon": 1e-5, "max_position_embeddings": 1024,
                 "time_step_limit": [0.0, Infinity], "expand": 2, "use_conv_bias": true, "tie_word_embeddings": false,
                 "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
                """.formatted(pattern.length(), pattern, hidden, vocab, mambaHeads, mambaHeadDim, state, groups, chunk,
                heads, kvHeads, headDim, inter);
    }

    static Path make(Path dir, String json, long seed, boolean fp8) {
        ModelConfig c = ModelConfig.parse(json, "test config");
        ModelGenerator.generate(c, dir, seed, fp8, null);
        return dir;
    }

    static int[] randomIds(int n, int vocab, long seed) {
        Random r = new Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(vocab);
        }
        return ids;
    }

    /** The oracle itself reproduces the golden fixture (so agreeing with it means something). */
    @Test
    void oracleMatchesGolden() {
        try (Checkpoint ckpt = Checkpoint.open(Fixtures.path("nemotron-h-tiny"));
             SafetensorsFile golden = SafetensorsFile.open(Fixtures.path("nemotron-h-tiny/golden.safetensors"))) {
            ReferenceForward ref = new ReferenceForward(ckpt);
            int[] prompt = golden.tensor("prompt_ids").toIntArray();
            float[] expected = golden.tensor("prompt_logits").toFloatArray();
            int v = ckpt.config().vocabSize();
            for (int t = 0; t < prompt.length; t++) {
                double[] l = ref.step(prompt[t]);
                double err = Fixtures.relError(Fixtures.row(expected, t, v), l);
                assertTrue(err < 1e-5, "oracle position " + t + " rel error " + err);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
            "head_dim 80, one group, chunk 8",
            "many groups, chunk 5",
            "attention first, GQA 6/3",
            "fp8 mixed"})
    void engineMatchesOracle(String variant, @TempDir Path tmp) {
        String json = switch (variant) {
            case "head_dim 80, one group, chunk 8" -> config("M-M*M", 48, 97, 2, 80, 8, 1, 8, 2, 1, 8, 40);
            case "many groups, chunk 5" -> config("MM-M", 40, 61, 8, 6, 4, 8, 5, 2, 2, 8, 24);
            case "attention first, GQA 6/3" -> config("*M-*", 36, 50, 4, 9, 6, 2, 16, 6, 3, 12, 20);
            default -> config("M*-M-", 32, 70, 4, 8, 8, 2, 8, 4, 2, 8, 48);
        };
        boolean fp8 = variant.startsWith("fp8");
        Path dir = make(tmp.resolve("m"), json, 42, fp8);
        int[] ids = randomIds(29, ModelConfig.parse(json, "t").vocabSize(), 7);
        try (Checkpoint ckpt = Checkpoint.open(dir);
             NemotronModel model = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact().withPrefillChunk(11));
             Session s = model.newSession()) {
            ReferenceForward ref = new ReferenceForward(ckpt);
            int v = model.config().vocabSize();
            int split = 19;
            int[] head = java.util.Arrays.copyOf(ids, split);
            float[] all = s.prefillAll(head);
            for (int t = 0; t < split; t++) {
                double err = Fixtures.relError(Fixtures.row(all, t, v), ref.step(ids[t]));
                assertTrue(err <= TOL, variant + ": prefill position " + t + " rel error " + err);
            }
            for (int t = split; t < ids.length; t++) {
                double err = Fixtures.relError(s.decode(ids[t]), ref.step(ids[t]));
                assertTrue(err <= TOL, variant + ": decode position " + t + " rel error " + err);
            }
            for (int i = 0; i < model.config().numHiddenLayers(); i++) {
                if (model.config().layers().get(i) == LayerKind.MAMBA) {
                    float[][] st = s.readMambaState(i);
                    assertTrue(Fixtures.relError(st[0], ref.conv[i]) <= TOL, variant + ": conv state of layer " + i);
                    assertTrue(Fixtures.relError(st[1], ref.ssm[i]) <= TOL, variant + ": ssm state of layer " + i);
                }
            }
        }
    }

    /** Prefill of T then decode of token T+1 gives the logits of prefill of T+1, for T around chunk boundaries. */
    @Test
    void prefillThenDecodeEqualsLongerPrefill(@TempDir Path tmp) {
        String json = config("M*M-", 32, 40, 4, 10, 8, 2, 4, 4, 2, 8, 32);
        Path dir = make(tmp.resolve("m"), json, 3, false);
        int[] ids = randomIds(21, 40, 11);
        try (NemotronModel model = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact().withPrefillChunk(6))) {
            for (int t : new int[] {1, 2, 3, 4, 5, 8, 9, 13, 20}) {
                float[] viaDecode;
                try (Session s = model.newSession()) {
                    s.prefill(java.util.Arrays.copyOf(ids, t));
                    viaDecode = s.decode(ids[t]);
                }
                float[] viaPrefill;
                try (Session s = model.newSession()) {
                    viaPrefill = s.prefill(java.util.Arrays.copyOf(ids, t + 1));
                }
                double err = Fixtures.relError(viaDecode, viaPrefill);
                assertTrue(err <= 1e-5, "T=" + t + ": rel error " + err);
            }
        }
    }

    /** One thread and two threads give the same logits (the kernels split work, not reductions). */
    @Test
    void threadCountDoesNotChangeResults() {
        Path dir = Fixtures.path("nemotron-h-tiny");
        int[] ids = randomIds(40, 320, 5);
        float[] one;
        float[] two;
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(1), LoadOptions.exact()); Session s = m.newSession()) {
            one = s.prefillAll(ids);
        }
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(2), LoadOptions.exact()); Session s = m.newSession()) {
            two = s.prefillAll(ids);
        }
        assertTrue(Fixtures.relError(one, two) <= 1e-6, "1 vs 2 threads: " + Fixtures.relError(one, two));
    }

    @Test
    void greedyIsDeterministic() {
        Path dir = Fixtures.path("nemotron-h-tiny");
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact())) {
            int[] a;
            int[] b;
            try (Session s = m.newSession()) {
                a = s.generateGreedy(new int[] {5, 17, 42}, 10);
            }
            try (Session s = m.newSession()) {
                b = s.generateGreedy(new int[] {5, 17, 42}, 10);
            }
            assertArrayEquals(a, b);
        }
    }
}
