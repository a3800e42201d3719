package org.nemotron4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The fits of {@link BlockQuantizer} against the plain ones on random blocks: never worse on any block (in the
 * error each minimizes), strictly better on average; whole rows quantized with them decode to within the
 * format's step; and q6's bit packing is the layout of nemotron4j.h, written out independently here.
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
                    // a step of the plain fit is (hi - lo) / 15 (q4), max|w| / 127 (q8) or max|w| / 31 (q6); allow
                    // one step
                    double step = switch (t) {
                        case Q4 -> (hi - lo) / 15.0;
                        case Q8 -> Math.max(hi, -lo) / 127.0;
                        case Q6 -> Math.max(hi, -lo) / 31.0;
                    };
                    for (int i = 0; i < 32; i++) {
                        float got = BlockQuantizer.dequantize(t, quants, 0, scales, 0, cols, b * 32 + i);
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
                got[c] = BlockQuantizer.dequantize(t, quants, 0, scales, 0, l.cols(), c);
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
            // measured: weighted / plain 0.26 (q8), 0.18 (q4), 0.22 (q6); with feedback / weighted 0.24 (q8),
            // 0.36 (q4), 0.33 (q6)
            assertTrue(weighted < 0.5 * plain, t.id() + ": importance-weighted " + weighted + " vs plain " + plain);
            assertTrue(feedback < 0.6 * weighted, t.id() + ": with error feedback " + feedback + " vs " + weighted);
        }
    }

    @Test
    void q6FitNeverWorseThanMaxScaleAndBetterOnAverage() {
        float[] w = randomBlocks(19);
        Random rnd = new Random(23);
        int[] q = new int[32];
        double sumPlain = 0;
        double sumFit = 0;
        int negative = 0;
        for (int b = 0; b < BLOCKS; b++) {
            int off = b * 32;
            float plainD = Float.float16ToFloat(BlockQuantizer.plainQ6Scale(w, off));
            double plain = BlockQuantizer.q6Err(w, off, null, plainD, q);
            short h = BlockQuantizer.fitQ6(w, off, q);
            float d = Float.float16ToFloat(h);
            double fit = 0;
            for (int i = 0; i < 32; i++) {
                assertTrue(q[i] >= -32 && q[i] <= 31, "block " + b + ": q " + q[i]);
                double e = (double) d * q[i] - w[off + i];
                fit += e * e;
            }
            assertEquals(fit, BlockQuantizer.q6Err(w, off, null, d, new int[32]), 1e-12 * Math.max(1, fit));
            assertTrue(fit <= plain, "block " + b + ": error " + fit + " > plain " + plain);
            sumPlain += plain / sq(w, off);
            sumFit += fit / sq(w, off);
            negative += d < 0 ? 1 : 0;
            // weighted by an importance: never worse than the plain scale in the weighted error
            float[] imp = new float[32];
            for (int i = 0; i < 32; i++) {
                imp[i] = (float) Math.exp(2 * rnd.nextGaussian());
            }
            double plainW = BlockQuantizer.q6Err(w, off, imp, plainD, q);
            double fitW = BlockQuantizer.q6Err(w, off, imp, Float.float16ToFloat(BlockQuantizer.fitQ6(w, off, imp, q)),
                    new int[32]);
            assertTrue(fitW <= plainW, "block " + b + ": weighted error " + fitW + " > plain " + plainW);
        }
        // measured: 0.85 of the plain fit's squared error; a negative scale (a positive extreme at -32) in 63% of the
        // blocks
        assertTrue(sumFit < 0.9 * sumPlain, "mean relative squared error: fit " + sumFit / BLOCKS + ", plain "
                + sumPlain / BLOCKS);
        assertTrue(negative > BLOCKS / 10, negative + " of " + BLOCKS + " blocks with a negative scale");
    }

    /**
     * The q6 layout written out straight from its definition (nemotron4j.h), unit by unit: {@code v} (0..63, row
     * major) packed into rows of {@code cols}.
     */
    private static byte[] packQ6Reference(int[] v, int rows, int cols) {
        byte[] out = new byte[rows * cols / 4 * 3];
        int o = 0;
        for (int r = 0; r < rows; r++) {
            for (int u0 = 0; u0 < cols; u0 += 128) {
                int pairs = Math.min(2, (cols - u0) / 64);
                for (int k = 0; k < pairs; k++) {
                    for (int t = 0; t < 32; t++) {
                        int e = r * cols + u0 + 64 * k + t;
                        out[o++] = (byte) ((v[e] & 0x0F) | (v[e + 32] & 0x0F) << 4);
                    }
                }
                for (int k = 0; k < pairs; k++) {
                    for (int u = 0; u < 16; u++) {
                        int e = r * cols + u0 + 64 * k + u;
                        out[o++] = (byte) (v[e] >> 4 | (v[e + 16] >> 4) << 2 | (v[e + 32] >> 4) << 4
                                | (v[e + 48] >> 4) << 6);
                    }
                }
            }
        }
        assertEquals(out.length, o);
        return out;
    }

    @Test
    void q6PacksAsDefinedAndUnpacksOnAwkwardWidths() {
        Random rnd = new Random(29);
        // one pair; a full unit and a lone pair; 35 units (the 9B's 4480 = 35 * 128); a long row ending in a pair
        for (int cols : new int[] {64, 192, 4480, 4544}) {
            int rows = 3;
            int[] v = new int[rows * cols];
            for (int i = 0; i < v.length; i++) {
                v[i] = rnd.nextInt(64);
            }
            int qRow = (int) QuantType.Q6.quantsRowBytes(cols);
            assertEquals(cols * 3 / 4, qRow);
            byte[] packed = new byte[rows * qRow];
            java.util.Arrays.fill(packed, (byte) 0x5A);  // every bit must be written
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    BlockQuantizer.putQ6(packed, r * qRow, cols, c, v[r * cols + c]);
                }
            }
            org.junit.jupiter.api.Assertions.assertArrayEquals(packQ6Reference(v, rows, cols), packed,
                    cols + " columns");
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    assertEquals(v[r * cols + c], BlockQuantizer.getQ6(packed, r * qRow, cols, c), cols + " columns, " + c);
                }
            }
        }
    }

    /** A quantized q6 row is its blocks' fits ({@link BlockQuantizer#fitQ6}) packed as defined, scales as F16. */
    @Test
    void q6RowsAreTheirBlockFitsPackedAsDefined() {
        Random rnd = new Random(31);
        for (int cols : new int[] {64, 192, 4480}) {
            float[] w = new float[cols];
            for (int i = 0; i < cols; i++) {
                w[i] = (float) (0.05 * rnd.nextGaussian() * (i % 53 == 0 ? 4 : 1));
            }
            byte[] quants = new byte[(int) QuantType.Q6.quantsRowBytes(cols) + 5];
            byte[] scales = new byte[(int) QuantType.Q6.scalesRowBytes(cols) + 3];
            BlockQuantizer.quantizeRow(QuantType.Q6, w.clone(), cols, quants, 5, scales, 3);
            int[] v = new int[cols];
            int[] q = new int[32];
            for (int b = 0; b < cols / 32; b++) {
                short h = BlockQuantizer.fitQ6(w, b * 32, q);
                assertEquals(h, (short) ((scales[3 + 2 * b] & 0xFF) | scales[3 + 2 * b + 1] << 8), "scale of block " + b);
                for (int i = 0; i < 32; i++) {
                    v[b * 32 + i] = q[i] + 32;
                    assertEquals(Float.float16ToFloat(h) * q[i],
                            BlockQuantizer.dequantize(QuantType.Q6, quants, 5, scales, 3, cols, b * 32 + i));
                }
            }
            org.junit.jupiter.api.Assertions.assertArrayEquals(packQ6Reference(v, 1, cols),
                    java.util.Arrays.copyOfRange(quants, 5, quants.length), cols + " columns");
        }
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> BlockQuantizer.quantizeRow(QuantType.Q6, new float[96], 96, new byte[72], 0, new byte[6], 0));
        assertTrue(e.getMessage().contains("q6 needs a multiple of 64 columns, got 96"), e.getMessage());
    }

    @Test
    void q6ShapesAndSizes() {
        assertEquals(QuantType.Q6, QuantType.find("q6").orElseThrow());
        assertEquals(7, QuantType.Q6.nativeCode());
        assertEquals(org.nemotron4j.bindings.nemotron4j_h.N4J_DTYPE_Q6(), QuantType.Q6.nativeCode());
        assertEquals(64, QuantType.Q6.columnMultiple());
        assertEquals(org.nemotron4j.DType.U8, QuantType.Q6.quantsDType());
        assertEquals(org.nemotron4j.DType.F16, QuantType.Q6.scalesDType());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {10, 3360}, QuantType.Q6.quantsShape(10, 4480));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {10, 140}, QuantType.Q6.scalesShape(10, 4480));
        assertEquals(4480, QuantType.Q6.cols(3360));
        assertEquals(6.5, QuantType.Q6.bitsPerWeight(4480), 1e-12);
        assertEquals(6.5, QuantType.Q6.bitsPerWeight(192), 1e-12);
        var e = org.junit.jupiter.api.Assertions.assertThrows(org.nemotron4j.NemotronException.class,
                () -> QuantType.of("q5"));
        assertTrue(e.getMessage().contains("known: q8, q4, q6"), e.getMessage());
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
