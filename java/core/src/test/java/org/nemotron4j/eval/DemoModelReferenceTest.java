package org.nemotron4j.eval;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nemotron4j.Fixtures;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.checkpoint.SafetensorsFile;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The demo model (models/nemotron-h-demo, trained by tools/demo-model/train.py) checked against the training
 * framework: PyTorch's fp32 forward of the saved bf16 weights wrote reference.safetensors (logits, a greedy
 * continuation, the tokenized held-out text and its perplexity), and the engine in exact mode must reproduce them.
 */
class DemoModelReferenceTest {
    static final double LOGIT_TOL = 1e-4;
    static final double PPL_TOL = 1e-3;

    static NemotronModel model;
    static SafetensorsFile ref;

    static Path demoModel() {
        String p = System.getProperty("n4j.demoModel");
        Path dir = p != null ? Path.of(p) : Path.of("../../models/nemotron-h-demo");
        if (!Files.isRegularFile(dir.resolve("reference.safetensors"))) {
            fail("the demo model " + dir.toAbsolutePath() + " (with reference.safetensors) is missing");
        }
        return dir;
    }

    @BeforeAll
    static void load() {
        Path dir = demoModel();
        model = NemotronModel.load(dir, org.nemotron4j.Device.cpu(), LoadOptions.exact());
        ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
    }

    @AfterAll
    static void close() {
        if (ref != null) {
            ref.close();
        }
        if (model != null) {
            model.close();
        }
    }

    @Test
    void tokenizerMatchesTheTrainingTokenizer() throws Exception {
        String text = Files.readString(demoModel().resolve("heldout.txt"));
        int[] expected = ref.tensor("heldout_ids").toIntArray();
        assertArrayEquals(expected, model.tokenizer().encode(text, false));
        assertEquals(text, model.tokenizer().decode(expected));
    }

    @Test
    void logitsMatchPyTorch() {
        int[] ids = ref.tensor("logit_ids").toIntArray();
        float[] expected = ref.tensor("logits").toFloatArray();
        int v = model.config().vocabSize();
        try (Session s = model.newSession()) {
            float[] all = s.prefillAll(ids);
            for (int t = 0; t < ids.length; t++) {
                double err = Fixtures.relError(Fixtures.row(all, t, v), Fixtures.row(expected, t, v));
                assertTrue(err <= LOGIT_TOL, "position " + t + ": logits rel error " + err);
            }
        }
        try (Session s = model.newSession()) {   // the recurrent decode step too
            float[] logits = s.prefill(ids[0]);
            for (int t = 0; t < ids.length; t++) {
                if (t > 0) {
                    logits = s.decode(ids[t]);
                }
                double err = Fixtures.relError(logits, Fixtures.row(expected, t, v));
                assertTrue(err <= LOGIT_TOL, "decode position " + t + ": logits rel error " + err);
            }
        }
    }

    @Test
    void greedyContinuationMatchesPyTorch() {
        int[] prompt = ref.tensor("greedy_prompt").toIntArray();
        int[] expected = ref.tensor("greedy_ids").toIntArray();
        try (Session s = model.newSession()) {
            assertArrayEquals(expected, s.generateGreedy(prompt, expected.length));
        }
    }

    @Test
    void heldOutPerplexityMatchesPyTorch() {
        int ctx = Integer.parseInt(ref.metadata().get("ctx"));
        int stride = Integer.parseInt(ref.metadata().get("stride"));
        double expected = Double.parseDouble(ref.metadata().get("perplexity"));
        Perplexity.Result r = Perplexity.run(model, demoModel().resolve("heldout.txt"),
                new Perplexity.Options(ctx, stride, null, null), null);
        assertEquals(Long.parseLong(ref.metadata().get("scored")), r.scored());
        double rel = Math.abs(r.perplexity() - expected) / expected;
        assertTrue(rel <= PPL_TOL, "engine " + r.perplexity() + " vs PyTorch " + expected + ": rel " + rel);
    }
}
