package org.nemotron4j;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nemotron4j.checkpoint.SafetensorsFile;
import org.nemotron4j.runtime.Backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The golden fixtures on a CUDA GPU, held to the bf16 criteria of the fixtures README: identical argmax wherever
 * the golden top-2 margin exceeds 0.05 x max|logit|, max |Δlogit| <= 3e-2 x max|logit|, identical greedy ids;
 * prefill and decode. Skipped (only) where no CUDA device, driver or plug-in is present.
 */
@Tag("gpu")
class GoldenModelGpuTest {
    static final double TOL = 3e-2;

    @BeforeAll
    static void requireGpu() {
        try (Backend b = Backend.create(Device.cuda(0))) {
            System.out.println("GPU backend: " + b.name());
        } catch (NemotronException e) {
            assumeTrue(false, "no CUDA backend: " + e.getMessage());
        }
    }

    static void check(String what, float[] got, float[] golden) {
        check(what, got, golden, TOL);
    }

    static void check(String what, float[] got, float[] golden, double tol) {
        double max = 0;
        double diff = 0;
        int best = 0;
        int second = -1;
        for (int i = 0; i < golden.length; i++) {
            max = Math.max(max, Math.abs(golden[i]));
            diff = Math.max(diff, Math.abs(got[i] - golden[i]));
            if (golden[i] > golden[best]) {
                second = best;
                best = i;
            } else if (second < 0 || golden[i] > golden[second]) {
                second = i;
            }
        }
        assertTrue(diff <= tol * max, what + ": max |Δlogit| " + diff + " > " + tol + " x " + max);
        if (golden[best] - golden[second] > 0.05 * max) {
            assertEquals(best, Session.argmax(got), what + ": argmax");
        }
    }

    /** BF16 activations (CUDA's default) and F32 activations, both to the fixtures' criterion. */
    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, F32", "nemotron-h-tiny-fp8, F32", "nemotron-h-tiny, BF16", "nemotron-h-tiny-fp8, BF16"})
    void goldenOnCuda(String name, DType act) {
        double tol = TOL;
        try (SafetensorsFile golden = SafetensorsFile.open(Fixtures.path(name + "/golden.safetensors"));
             NemotronModel model = NemotronModel.load(Fixtures.path(name), Device.cuda(0),
                     LoadOptions.defaults().withActivationDtype(act))) {
            assertEquals(act, model.activationDtype());
            int v = model.config().vocabSize();
            int[] prompt = golden.tensor("prompt_ids").toIntArray();
            float[] promptLogits = golden.tensor("prompt_logits").toFloatArray();
            int[] greedy = golden.tensor("greedy_ids").toIntArray();
            float[] greedyLogits = golden.tensor("greedy_logits").toFloatArray();
            try (Session s = model.newSession()) {
                float[] all = s.prefillAll(prompt);
                for (int t = 0; t < prompt.length; t++) {
                    check(name + " prefill position " + t, Fixtures.row(all, t, v), Fixtures.row(promptLogits, t, v), tol);
                }
                float[] logits = Fixtures.row(all, prompt.length - 1, v);
                for (int i = 0; i < greedy.length; i++) {
                    assertEquals(greedy[i], Session.argmax(logits), name + " greedy id " + i);
                    logits = s.decode(greedy[i]);
                    check(name + " greedy step " + i, logits, Fixtures.row(greedyLogits, i, v), tol);
                }
            }
            try (Session s = model.newSession()) {
                for (int t = 0; t < prompt.length; t++) {
                    check(name + " decode position " + t, s.decode(prompt[t]), Fixtures.row(promptLogits, t, v), tol);
                }
            }
        }
    }
}
