package org.nemotron4j;

import java.nio.file.Files;
import java.nio.file.Path;

import org.nemotron4j.checkpoint.SafetensorsFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Locates ../shared/fixtures; a missing fixture fails the test loudly (never skips). */
public final class Fixtures {
    private Fixtures() {
    }

    public static Path root() {
        String p = System.getProperty("n4j.fixtures");
        Path dir = p != null ? Path.of(p) : Path.of("../shared/fixtures");
        if (!Files.isDirectory(dir)) {
            fail("fixtures directory " + dir.toAbsolutePath() + " is missing (expected ../shared/fixtures next to the repository)");
        }
        return dir;
    }

    public static Path path(String relative) {
        Path p = root().resolve(relative);
        if (!Files.exists(p)) {
            fail("fixture " + p.toAbsolutePath() + " is missing");
        }
        return p;
    }

    /** max |a - b| / max |ref|, over rows [from, to) of width w (all if w == 0). */
    public static double relError(float[] actual, double[] ref) {
        if (actual.length != ref.length) {
            fail("length mismatch: " + actual.length + " vs " + ref.length);
        }
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - ref[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    public static double relError(float[] actual, float[] ref) {
        double[] d = new double[ref.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = ref[i];
        }
        return relError(actual, d);
    }

    public static float[] row(float[] all, int row, int width) {
        float[] r = new float[width];
        System.arraycopy(all, row * width, r, 0, width);
        return r;
    }

    /**
     * The fixtures README's criterion for a bf16 path: max |got - ref| <= tol x max|ref| (a NaN fails it), and the
     * same argmax wherever the reference's top-2 margin exceeds 0.05 x max|ref|.
     */
    public static void assertLogitsClose(String what, float[] got, float[] ref, double tol) {
        double max = 0;
        double diff = 0;
        int best = 0;
        int second = -1;
        for (int i = 0; i < ref.length; i++) {
            max = Math.max(max, Math.abs(ref[i]));
            diff = Math.max(diff, Math.abs(got[i] - ref[i]));
            if (ref[i] > ref[best]) {
                second = best;
                best = i;
            } else if (second < 0 || ref[i] > ref[second]) {
                second = i;
            }
        }
        assertTrue(diff <= tol * max, what + ": max |Δlogit| " + diff + " > " + tol + " x " + max);
        if (ref[best] - ref[second] > 0.05 * max) {
            assertEquals(best, Session.argmax(got), what + ": argmax");
        }
    }

    /**
     * A golden fixture on {@code model} under {@link #assertLogitsClose}: the prompt by one prefill (every position),
     * the greedy continuation (identical ids), and the prompt token by token through the decode step.
     */
    public static void assertGolden(String name, NemotronModel model, double tol) {
        try (SafetensorsFile golden = SafetensorsFile.open(path(name + "/golden.safetensors"))) {
            int v = model.config().vocabSize();
            int[] prompt = golden.tensor("prompt_ids").toIntArray();
            float[] promptLogits = golden.tensor("prompt_logits").toFloatArray();
            int[] greedy = golden.tensor("greedy_ids").toIntArray();
            float[] greedyLogits = golden.tensor("greedy_logits").toFloatArray();
            try (Session s = model.newSession()) {
                float[] all = s.prefillAll(prompt);
                for (int t = 0; t < prompt.length; t++) {
                    assertLogitsClose(name + " prefill position " + t, row(all, t, v), row(promptLogits, t, v), tol);
                }
                float[] logits = row(all, prompt.length - 1, v);
                for (int i = 0; i < greedy.length; i++) {
                    assertEquals(greedy[i], Session.argmax(logits), name + " greedy id " + i);
                    logits = s.decode(greedy[i]);
                    assertLogitsClose(name + " greedy step " + i, logits, row(greedyLogits, i, v), tol);
                }
            }
            try (Session s = model.newSession()) {
                for (int t = 0; t < prompt.length; t++) {
                    assertLogitsClose(name + " decode position " + t, s.decode(prompt[t]), row(promptLogits, t, v), tol);
                }
            }
        }
    }
}
