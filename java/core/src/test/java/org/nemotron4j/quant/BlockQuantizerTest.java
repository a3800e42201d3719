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
}
