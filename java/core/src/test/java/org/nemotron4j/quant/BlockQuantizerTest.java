package org.nemotron4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The fits of {@link BlockQuantizer} against the plain ones on random blocks: never worse on any block (in the
 * error each minimizes), strictly better on average; and whole rows quantized with them decode to within the
 * format's step.
 */
class BlockQuantizerTest {
    private static final int BLOCKS = 4000;

    /** Blocks of 32 of several shapes: Gaussian, Gaussian with an outlier, uniform, all positive, heavy-tailed. */
    private static float[] randomBlocks(long seed) {
        Random rnd = new Random(seed);
        float[] w = new float[BLOCKS * 32];
        for (int b = 0; b < BLOCKS; b++) {
            float scale = (float) Math.exp(rnd.nextGaussian() * 2 - 4);
            int kind = b % 5;
            for (int i = 0; i < 32; i++) {
                double v = switch (kind) {
                    case 0 -> rnd.nextGaussian();
                    case 1 -> i == b % 32 ? 6 * rnd.nextGaussian() : rnd.nextGaussian();
                    case 2 -> 2 * rnd.nextDouble() - 1;
                    case 3 -> Math.abs(rnd.nextGaussian()) + 0.5;
                    default -> rnd.nextGaussian() * Math.exp(rnd.nextGaussian());
                };
                w[b * 32 + i] = (float) (v * scale);
            }
        }
        return w;
    }

    private static double sq(float[] w, int off) {
        double s = 0;
        for (int i = 0; i < 32; i++) {
            s += (double) w[off + i] * w[off + i];
        }
        return s;
    }

    @Test
    void q4FitNeverWorseThanMinMaxAndBetterOnAverage() {
        float[] w = randomBlocks(7);
        int[] q = new int[32];
        float[] s = new float[1];
        float[] m = new float[1];
        double relPlain = 0;
        double relFit = 0;
        int better = 0;
        for (int b = 0; b < BLOCKS; b++) {
            int off = b * 32;
            float[] imp = BlockQuantizer.importance(w, off);
            BlockQuantizer.plainAffine(w, off, q, s, m, 0);
            double plainW = BlockQuantizer.assign(w, off, imp, q, s[0], m[0]);
            double plain = BlockQuantizer.assign(w, off, null, q, s[0], m[0]);
            BlockQuantizer.fitAffine(w, off, imp, q, s, m, 0);
            assertTrue(m[0] >= 0 && s[0] >= 0, "block " + b + ": s " + s[0] + ", m " + m[0]);
            for (int i = 0; i < 32; i++) {
                assertTrue(q[i] >= 0 && q[i] <= 15);
            }
            double fitW = BlockQuantizer.assign(w, off, imp, q, s[0], m[0]);
            double fit = BlockQuantizer.assign(w, off, null, q, s[0], m[0]);
            assertTrue(fitW <= plainW * (1 + 1e-9), "block " + b + ": weighted error " + fitW + " > plain " + plainW);
            relPlain += plain / sq(w, off);
            relFit += fit / sq(w, off);
            if (fitW < plainW * (1 - 1e-6)) {
                better++;
            }
        }
        // measured: about 0.6 of the plain fit's squared error on these blocks
        assertTrue(relFit < 0.9 * relPlain, "mean relative squared error: fit " + relFit / BLOCKS + ", plain "
                + relPlain / BLOCKS);
        assertTrue(better > BLOCKS / 2, better + " of " + BLOCKS + " blocks improved");
    }

    @Test
    void q8FitNeverWorseThanMaxScaleAndBetterOnAverage() {
        float[] w = randomBlocks(11);
        int[] q = new int[32];
        double sumPlain = 0;
        double sumFit = 0;
        for (int b = 0; b < BLOCKS; b++) {
            int off = b * 32;
            double plain = BlockQuantizer.q8Err(w, off, Float.float16ToFloat(BlockQuantizer.plainQ8Scale(w, off)), q);
            short h = BlockQuantizer.fitQ8(w, off, q);
            float d = Float.float16ToFloat(h);
            double fit = 0;
            for (int i = 0; i < 32; i++) {
                assertTrue(Math.abs(q[i]) <= 127);
                double e = (double) d * q[i] - w[off + i];
                fit += e * e;
            }
            assertEquals(fit, BlockQuantizer.q8Err(w, off, d, new int[32]), 1e-12 * Math.max(1, fit));
            assertTrue(fit <= plain, "block " + b + ": error " + fit + " > plain " + plain);
            sumPlain += plain / sq(w, off);
            sumFit += fit / sq(w, off);
        }
        assertTrue(sumFit < 0.97 * sumPlain, "mean relative squared error: fit " + sumFit / BLOCKS + ", plain "
                + sumPlain / BLOCKS);
    }

    @Test
    void rowsDecodeWithinAStep() {
        // weights of a typical magnitude (the F16 scales of far smaller blocks are subnormal, and coarser)
        Random rnd = new Random(3);
        int cols = 512;
        float[] w = new float[20 * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (0.05 * rnd.nextGaussian() * (i % 97 == 0 ? 5 : 1));
        }
        for (QuantType t : QuantType.values()) {
            byte[] quants = new byte[(int) t.quantsRowBytes(cols)];
            byte[] scales = new byte[(int) t.scalesRowBytes(cols)];
            for (int r = 0; r < 20; r++) {
                float[] row = java.util.Arrays.copyOfRange(w, r * cols, (r + 1) * cols);
                BlockQuantizer.quantizeRow(t, row, cols, quants, 0, scales, 0);
                for (int b = 0; b < cols / 32; b++) {
                    float lo = 0;
                    float hi = 0;
                    for (int i = 0; i < 32; i++) {
                        lo = Math.min(lo, row[b * 32 + i]);
                        hi = Math.max(hi, row[b * 32 + i]);
                    }
                    // a step of the plain fit is (hi - lo) / 15 (q4) or max|w| / 127 (q8); allow one step
                    double step = t == QuantType.Q4 ? (hi - lo) / 15.0 : Math.max(hi, -lo) / 127.0;
                    for (int i = 0; i < 32; i++) {
                        float got = BlockQuantizer.dequantize(t, quants, 0, scales, 0, b * 32 + i);
                        assertTrue(Math.abs(got - row[b * 32 + i]) <= step * 1.01 + 1e-7,
                                t.id() + " row " + r + " element " + (b * 32 + i) + ": " + got + " vs " + row[b * 32 + i]);
                    }
                }
            }
        }
    }

    /** Rows of weights, and inputs with correlated columns of very unequal sizes (as real activations have). */
    private record Layer(float[] w, int rows, int cols, float[][] x) {
        /** Mean over the inputs of the squared output error of row r quantized to {@code got}. */
        double outputError(int r, float[] got) {
            double e = 0;
            for (float[] xi : x) {
                double d = 0;
                for (int c = 0; c < cols; c++) {
                    d += (w[r * cols + c] - got[c]) * (double) xi[c];
                }
                e += d * d;
            }
            return e / x.length;
        }

        float[] meanSquares() {
            float[] a = new float[cols];
            for (float[] xi : x) {
                for (int c = 0; c < cols; c++) {
                    a[c] += xi[c] * xi[c] / x.length;
                }
            }
            return a;
        }

        float[] secondMoment() {
            float[] g = new float[cols * cols];
            for (float[] xi : x) {
                for (int i = 0; i < cols; i++) {
                    for (int j = 0; j < cols; j++) {
                        g[i * cols + j] += xi[i] * xi[j] / x.length;
                    }
                }
            }
            return g;
        }
    }

    private static Layer randomLayer(long seed, int rows, int cols, int samples) {
        Random rnd = new Random(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (0.05 * rnd.nextGaussian());
        }
        float[] colScale = new float[cols];
        for (int c = 0; c < cols; c++) {
            colScale[c] = (float) Math.exp(1.5 * rnd.nextGaussian());
        }
        int factors = 8;
        float[][] mix = new float[factors][cols];
        for (float[] f : mix) {
            for (int c = 0; c < cols; c++) {
                f[c] = (float) rnd.nextGaussian();
            }
        }
        float[][] x = new float[samples][cols];
        for (float[] xi : x) {
            double[] z = new double[factors];
            for (int k = 0; k < factors; k++) {
                z[k] = rnd.nextGaussian();
            }
            for (int c = 0; c < cols; c++) {
                double v = 0.5 * rnd.nextGaussian();
                for (int k = 0; k < factors; k++) {
                    v += z[k] * mix[k][c] * 0.3;
                }
                xi[c] = (float) (v * colScale[c]);
            }
        }
        return new Layer(w, rows, cols, x);
    }

    /** The mean output error of every row quantized as asked (imatrix / second moments or neither). */
    private static double outputError(Layer l, QuantType t, boolean importance, boolean feedback) {
        float[] a = importance ? l.meanSquares() : null;
        ErrorFeedback fb = feedback ? ErrorFeedback.of(l.secondMoment(), l.cols()) : null;
        byte[] quants = new byte[(int) t.quantsRowBytes(l.cols())];
        byte[] scales = new byte[(int) t.scalesRowBytes(l.cols())];
        double sum = 0;
        for (int r = 0; r < l.rows(); r++) {
            float[] row = java.util.Arrays.copyOfRange(l.w(), r * l.cols(), (r + 1) * l.cols());
            BlockQuantizer.quantizeRow(t, row, l.cols(), a, fb, quants, 0, scales, 0);
            float[] got = new float[l.cols()];
            for (int c = 0; c < l.cols(); c++) {
                got[c] = BlockQuantizer.dequantize(t, quants, 0, scales, 0, c);
            }
            sum += l.outputError(r, got);
        }
        return sum / l.rows();
    }

    @Test
    void columnImportanceAndErrorFeedbackCutTheOutputError() {
        Layer l = randomLayer(5, 48, 256, 1024);
        for (QuantType t : QuantType.values()) {
            double plain = outputError(l, t, false, false);
            double weighted = outputError(l, t, true, false);
            double feedback = outputError(l, t, true, true);
            // measured: weighted / plain 0.26 (q8), 0.18 (q4); with feedback / weighted 0.24 (q8), 0.36 (q4)
            assertTrue(weighted < 0.5 * plain, t.id() + ": importance-weighted " + weighted + " vs plain " + plain);
            assertTrue(feedback < 0.6 * weighted, t.id() + ": with error feedback " + feedback + " vs " + weighted);
        }
    }

    @Test
    void weightedQ8FitNeverWorseThanMaxScaleInTheWeightedError() {
        float[] w = randomBlocks(13);
        Random rnd = new Random(17);
        int[] q = new int[32];
        for (int b = 0; b < BLOCKS; b++) {
            int off = b * 32;
            float[] imp = new float[32];
            for (int i = 0; i < 32; i++) {
                imp[i] = (float) Math.exp(2 * rnd.nextGaussian());
            }
            double plain = BlockQuantizer.q8Err(w, off, imp, Float.float16ToFloat(BlockQuantizer.plainQ8Scale(w, off)), q);
            short h = BlockQuantizer.fitQ8(w, off, imp, q);
            double fit = BlockQuantizer.q8Err(w, off, imp, Float.float16ToFloat(h), new int[32]);
            assertTrue(fit <= plain, "block " + b + ": weighted error " + fit + " > plain " + plain);
        }
    }

    @Test
    void blockWeightsFloorUnseenColumnsAndIgnoreDeadBlocks() {
        float[] a = new float[64];
        for (int i = 32; i < 64; i++) {
            a[i] = i == 40 ? 0 : 2;
        }
        org.junit.jupiter.api.Assertions.assertNull(BlockQuantizer.blockWeights(a, 0), "a block never active");
        float[] b = BlockQuantizer.blockWeights(a, 32);
        double mean = 2.0 * 31 / 32;
        assertEquals(BlockQuantizer.IMPORTANCE_FLOOR * mean, b[8], 1e-6);
        assertEquals(2 + BlockQuantizer.IMPORTANCE_FLOOR * mean, b[0], 1e-6);
    }

    @Test
    void errorFeedbackRefusesAMismatchedRow() {
        ErrorFeedback fb = ErrorFeedback.of(new float[] {1, 0, 0, 1}, 2);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> BlockQuantizer.quantizeRow(QuantType.Q8, new float[32], 32, null, fb, new byte[32], 0, new byte[2], 0));
        assertTrue(e.getMessage().contains("error feedback for 2 columns, row of 32"), e.getMessage());
        var n = org.junit.jupiter.api.Assertions.assertThrows(org.nemotron4j.NemotronException.class,
                () -> ErrorFeedback.of(new float[3], 2));
        assertTrue(n.getMessage().contains("3 values for 2 columns"), n.getMessage());
    }
}
