package org.nemotron4j;

import java.nio.file.Files;
import java.nio.file.Path;

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
}
