package org.nemotron4j.quant;

/**
 * Quantizes rows of F32 weights into the layouts of {@link QuantType} (an offline step: {@code nemotron4j quantize}
 * and quantize-on-load; the kernels only read the result).
 * <ul>
 * <li>q8: per block of 32, an F16 scale {@code d} and {@code q = rint(w / d)} clamped to ±127, with {@code d} the
 * candidate of least squared error among {@code max|w| / 127} and scales around it ({@link #fitQ8}).</li>
 * <li>q4: per sub-block of 32, an affine fit {@code w ≈ s*q - m} ({@code q} in 0..15, {@code m >= 0}) minimizing
 * the squared error weighted by each weight's importance {@code rms + |w|} (times its column's importance from an
 * {@link ImportanceMatrix} when there is one): a search over candidate grids, each
 * followed by weighted least squares for {@code s, m} ({@link #fitAffine(float[], int, float[], int[], float[],
 * float[], int)}). The 8 scales and minimums of a super-block are then
 * quantized to 8 bits against F16 {@code d = max s / 255} and {@code dmin = max m / 255}, and the final {@code q}s
 * are computed against those rounded values.</li>
 * <li>q6: per block of 32, an F16 scale {@code d} and {@code q - 32 = rint(w / d)} clamped to -32..31, with
 * {@code d} the candidate of least squared error among {@code max|w| / 31} and scales around it, of either sign
 * ({@link #fitQ6}).</li>
 * </ul>
 */
public final class BlockQuantizer {
    private BlockQuantizer() {
    }

    /** Quantizes {@code w[0, cols)} into {@code quants[qOff, ...)} and {@code scales[sOff, ...)} (one row). */
    public static void quantizeRow(QuantType type, float[] w, int cols, byte[] quants, int qOff, byte[] scales, int sOff) {
        quantizeRow(type, w, cols, null, quants, qOff, scales, sOff);
    }

    /**
     * Quantizes one row minimizing {@code sum_c colImportance[c] * (w[c] - value[c])^2} (an {@link ImportanceMatrix}
     * row: the mean square of the activation each column multiplies), or the unweighted error when
     * {@code colImportance} is null.
     */
    public static void quantizeRow(QuantType type, float[] w, int cols, float[] colImportance, byte[] quants, int qOff,
            byte[] scales, int sOff) {
        quantizeRow(type, w, cols, colImportance, null, quants, qOff, scales, sOff);
    }

    /**
     * As {@link #quantizeRow(QuantType, float[], int, float[], byte[], int, byte[], int)}, rounding the columns in
     * order with {@code feedback} (null: none) moving the columns not yet rounded to compensate each rounding
     * error ({@link ErrorFeedback}); each block's scales are fitted when its turn comes, to the moved weights.
     * {@code w} is modified.
     */
    static void quantizeRow(QuantType type, float[] w, int cols, float[] colImportance, ErrorFeedback feedback,
            byte[] quants, int qOff, byte[] scales, int sOff) {
        if (feedback != null && feedback.columns() != cols) {
            throw new IllegalArgumentException("error feedback for " + feedback.columns() + " columns, row of " + cols);
        }
        if (cols % type.columnMultiple() != 0) {
            throw new IllegalArgumentException(type.id() + " needs a multiple of " + type.columnMultiple()
                    + " columns, got " + cols);
        }
        if (colImportance != null && colImportance.length < cols) {
            throw new IllegalArgumentException("column importance has " + colImportance.length + " values for "
                    + cols + " columns");
        }
        switch (type) {
            case Q8 -> q8Row(w, cols, colImportance, feedback, quants, qOff, scales, sOff);
            case Q4 -> q4Row(w, cols, colImportance, feedback, quants, qOff, scales, sOff);
            case Q6 -> q6Row(w, cols, colImportance, feedback, quants, qOff, scales, sOff);
        }
    }

    private static void q8Row(float[] w, int cols, float[] colImp, ErrorFeedback fb, byte[] quants, int qOff,
            byte[] scales, int sOff) {
        int[] q = new int[32];
        for (int b = 0; b < cols / 32; b++) {
            short h = fitQ8(w, b * 32, colImp == null ? null : blockWeights(colImp, b * 32), q);
            float d = Float.float16ToFloat(h);
            float inv = d > 0 ? 1f / d : 0f;
            for (int i = 0; i < 32; i++) {
                int c = b * 32 + i;
                if (fb != null) {  // the fitted quants were for the weights before the earlier columns' feedback
                    q[i] = Math.max(-127, Math.min(127, (int) Math.rint(w[c] * inv)));
                    fb.propagate(w, c, d * q[i]);
                }
                quants[qOff + c] = (byte) q[i];
            }
            scales[sOff + 2 * b] = (byte) h;
            scales[sOff + 2 * b + 1] = (byte) (h >> 8);
        }
    }

    /** The plain q8 scale of w[off, off+32): {@code max|w| / 127} rounded to F16. */
    static short plainQ8Scale(float[] w, int off) {
        return Float.floatToFloat16(blockMaxAbs(w, off) / 127f);
    }

    /** {@code max|w|} over the block w[off, off+32). */
    private static float blockMaxAbs(float[] w, int off) {
        float amax = 0;
        for (int i = 0; i < 32; i++) {
            amax = Math.max(amax, Math.abs(w[off + i]));
        }
        return amax;
    }

    /**
     * The q8 block w[off, off+32): the F16 scale {@code d} (returned) and quants {@code q} (rounded to nearest,
     * clamped to ±127) with the least squared error among candidates: the plain {@code max|w|/127}, scales around
     * it ({@code max|w| / (127 + t/8)}, t in -8..8: a slightly larger step, or a smaller one that clips the
     * largest weight), each followed by the least-squares scale for its quants ({@code sum w*q / sum q*q}). Every
     * candidate is rounded to F16 before it is scored, so the error compared is the stored format's. Never worse
     * than the plain scale (it is a candidate).
     */
    static short fitQ8(float[] w, int off, int[] q) {
        return fitQ8(w, off, null, q);
    }

    /** {@link #fitQ8(float[], int, int[])} minimizing the error weighted by {@code imp} (null: unweighted). */
    static short fitQ8(float[] w, int off, float[] imp, int[] q) {
        short plain = plainQ8Scale(w, off);
        if (Float.float16ToFloat(plain) == 0f) {
            java.util.Arrays.fill(q, 0, 32, 0);
            return plain;
        }
        float amax = 127f * Float.float16ToFloat(plain);
        short best = plain;
        double bestErr = q8Err(w, off, imp, Float.float16ToFloat(plain), q);
        int[] tmp = new int[32];
        for (int t = -8; t <= 8; t++) {
            for (int ls = 0; ls < 2; ls++) {
                float d = amax / (127f + t / 8f);
                if (ls == 1) {
                    q8Err(w, off, imp, Float.float16ToFloat(Float.floatToFloat16(d)), tmp);
                    double sqw = 0, sqq = 0;
                    for (int i = 0; i < 32; i++) {
                        double c = imp == null ? 1 : imp[i];
                        sqw += c * tmp[i] * w[off + i];
                        sqq += c * tmp[i] * tmp[i];
                    }
                    if (!(sqq > 0) || !(sqw > 0)) {
                        continue;
                    }
                    d = (float) (sqw / sqq);
                }
                short h = Float.floatToFloat16(d);
                float dh = Float.float16ToFloat(h);
                if (!(dh > 0) || h == best) {
                    continue;
                }
                double err = q8Err(w, off, imp, dh, tmp);
                if (err < bestErr) {
                    bestErr = err;
                    best = h;
                }
            }
        }
        q8Err(w, off, imp, Float.float16ToFloat(best), q);
        return best;
    }

    /** q = rint(w / d) clamped to ±127; returns the squared error of {@code d*q}. */
    static double q8Err(float[] w, int off, float d, int[] q) {
        return q8Err(w, off, null, d, q);
    }

    /** q = rint(w / d) clamped to ±127; returns the squared error of {@code d*q}, weighted by imp (null: 1). */
    static double q8Err(float[] w, int off, float[] imp, float d, int[] q) {
        float inv = d > 0 ? 1f / d : 0f;
        double err = 0;
        for (int i = 0; i < 32; i++) {
            int v = Math.max(-127, Math.min(127, (int) Math.rint(w[off + i] * inv)));
            q[i] = v;
            double e = (double) d * v - w[off + i];
            err += imp == null ? e * e : imp[i] * e * e;
        }
        return err;
    }

    private static void q6Row(float[] w, int cols, float[] colImp, ErrorFeedback fb, byte[] quants, int qOff,
            byte[] scales, int sOff) {
        int[] q = new int[32];
        for (int b = 0; b < cols / 32; b++) {
            short h = fitQ6(w, b * 32, colImp == null ? null : blockWeights(colImp, b * 32), q);
            float d = Float.float16ToFloat(h);
            float inv = d != 0 ? 1f / d : 0f;
            for (int i = 0; i < 32; i++) {
                int c = b * 32 + i;
                if (fb != null) {  // the fitted quants were for the weights before the earlier columns' feedback
                    q[i] = Math.max(-32, Math.min(31, (int) Math.rint(w[c] * inv)));
                    fb.propagate(w, c, d * q[i]);
                }
                putQ6(quants, qOff, cols, c, q[i] + 32);
            }
            scales[sOff + 2 * b] = (byte) h;
            scales[sOff + 2 * b + 1] = (byte) (h >> 8);
        }
    }

    /**
     * Where element {@code c} of a q6 row of {@code cols} columns keeps its bits: the byte of its low 4 bits (times
     * 2, plus 1 for the high nibble) and the byte of its high 2 bits (times 4, plus the pair of bits): a unit of 128
     * columns holds its pairs' low bits (32 bytes a pair, as q4's nibbles), then their high bits (16 bytes a pair);
     * the last unit of a row may hold a single pair, and then its high bits start 32 bytes in rather than 64.
     */
    private static long q6Place(int cols, int c) {
        int unit = c / QuantType.Q6_UNIT;
        int pairs = Math.min(2, (cols - unit * QuantType.Q6_UNIT) / 64);
        int base = unit * 96;
        int k = (c % QuantType.Q6_UNIT) / 64;
        int t = c % 64;
        int low = base + 32 * k + (t % 32);
        int high = base + 32 * pairs + 16 * k + (t % 16);
        return ((long) (2 * low + t / 32) << 32) | (4L * high + t / 16);
    }

    /** Stores the 6-bit {@code v} (0..63) of element {@code c} of the q6 row at {@code quants[qOff]}. */
    static void putQ6(byte[] quants, int qOff, int cols, int c, int v) {
        long p = q6Place(cols, c);
        int low = (int) (p >>> 32);
        int high = (int) p;
        int lb = qOff + low / 2;
        int ls = 4 * (low % 2);
        quants[lb] = (byte) ((quants[lb] & ~(0x0F << ls)) | ((v & 0x0F) << ls));
        int hb = qOff + high / 4;
        int hs = 2 * (high % 4);
        quants[hb] = (byte) ((quants[hb] & ~(0x03 << hs)) | ((v >> 4) << hs));
    }

    /** The 6-bit value (0..63) of element {@code c} of the q6 row of {@code cols} columns at {@code quants[qOff]}. */
    static int getQ6(byte[] quants, int qOff, int cols, int c) {
        long p = q6Place(cols, c);
        int low = (int) (p >>> 32);
        int high = (int) p;
        int lo = ((quants[qOff + low / 2] & 0xFF) >> (4 * (low % 2))) & 0x0F;
        int hi = ((quants[qOff + high / 4] & 0xFF) >> (2 * (high % 4))) & 0x03;
        return lo | hi << 4;
    }

    /** The plain q6 scale of w[off, off+32): {@code max|w| / 31} rounded to F16 (every weight within -31..31 steps). */
    static short plainQ6Scale(float[] w, int off) {
        return Float.floatToFloat16(blockMaxAbs(w, off) / 31f);
    }

    /** {@link #fitQ6(float[], int, float[], int[])} unweighted. */
    static short fitQ6(float[] w, int off, int[] q) {
        return fitQ6(w, off, null, q);
    }

    /**
     * The q6 block w[off, off+32): the F16 scale {@code d} (returned) and quants {@code q} ({@code rint(w / d)}
     * clamped to -32..31, stored plus 32) with the least squared error, weighted by {@code imp} (null: unweighted),
     * among candidates: the plain {@code max|w| / 31}, and for both signs of {@code d} scales around the one that
     * maps the weight of largest magnitude {@code x} to the end of the range its sign reaches ({@code -32} when
     * {@code x / d} is negative, else 31: a negative scale gives a positive extreme the longer side, as llama.cpp's
     * Q6_K does), {@code |x| / (n + t/10)}, t in -10..10: a slightly larger step, or a smaller one that clips the
     * extreme; each followed by the least-squares scale for its quants ({@code sum w*q / sum q*q}). Every candidate is
     * rounded to F16 before it is scored, so the error compared is the stored format's. Never worse than the plain
     * scale (it is a candidate).
     */
    static short fitQ6(float[] w, int off, float[] imp, int[] q) {
        short plain = plainQ6Scale(w, off);
        if (Float.float16ToFloat(plain) == 0f) {
            java.util.Arrays.fill(q, 0, 32, 0);
            return plain;
        }
        float x = 0;
        for (int i = 0; i < 32; i++) {
            if (Math.abs(w[off + i]) > Math.abs(x)) {
                x = w[off + i];
            }
        }
        float amax = Math.abs(x);
        short best = plain;
        double bestErr = q6Err(w, off, imp, Float.float16ToFloat(plain), q);
        int[] tmp = new int[32];
        for (int sign = -1; sign <= 1; sign += 2) {
            // x / d < 0 reaches -32, x / d > 0 only 31
            float n = sign * x < 0 ? 32f : 31f;
            for (int t = -10; t <= 10; t++) {
                for (int ls = 0; ls < 2; ls++) {
                    float d = sign * amax / (n + t / 10f);
                    if (ls == 1) {
                        q6Err(w, off, imp, Float.float16ToFloat(Float.floatToFloat16(d)), tmp);
                        double sqw = 0, sqq = 0;
                        for (int i = 0; i < 32; i++) {
                            double c = imp == null ? 1 : imp[i];
                            sqw += c * tmp[i] * w[off + i];
                            sqq += c * tmp[i] * tmp[i];
                        }
                        if (!(sqq > 0) || sqw == 0) {
                            continue;
                        }
                        d = (float) (sqw / sqq);
                    }
                    short h = Float.floatToFloat16(d);
                    float dh = Float.float16ToFloat(h);
                    if (dh == 0 || !Float.isFinite(dh) || h == best) {
                        continue;
                    }
                    double err = q6Err(w, off, imp, dh, tmp);
                    if (err < bestErr) {
                        bestErr = err;
                        best = h;
                    }
                }
            }
        }
        q6Err(w, off, imp, Float.float16ToFloat(best), q);
        return best;
    }

    /**
     * q = rint(w / d) clamped to -32..31 (the stored value minus 32); returns the squared error of {@code d*q},
     * weighted by imp (null: 1).
     */
    static double q6Err(float[] w, int off, float[] imp, float d, int[] q) {
        float inv = d != 0 ? 1f / d : 0f;
        double err = 0;
        for (int i = 0; i < 32; i++) {
            int v = Math.max(-32, Math.min(31, (int) Math.rint(w[off + i] * inv)));
            q[i] = v;
            double e = (double) d * v - w[off + i];
            err += imp == null ? e * e : imp[i] * e * e;
        }
        return err;
    }

    /**
     * The importances of columns [off, off+32) from a row's column importance, each raised by a floor of
     * {@link #IMPORTANCE_FLOOR} times the block's mean (a column the calibration never saw active still counts a
     * little); null when the whole block's importance is 0 (then the unweighted fit is as good as any).
     */
    static float[] blockWeights(float[] colImp, int off) {
        double mean = 0;
        for (int i = 0; i < 32; i++) {
            mean += colImp[off + i];
        }
        mean /= 32;
        if (!(mean > 0)) {
            return null;
        }
        float floor = (float) (IMPORTANCE_FLOOR * mean);
        float[] b = new float[32];
        for (int i = 0; i < 32; i++) {
            b[i] = colImp[off + i] + floor;
        }
        return b;
    }

    /** The floor of a column's importance, relative to its block's mean ({@link #blockWeights}). */
    static final double IMPORTANCE_FLOOR = 0.01;

    private static void q4Row(float[] w, int cols, float[] colImp, ErrorFeedback fb, byte[] quants, int qOff,
            byte[] scales, int sOff) {
        int nsb = Math.ceilDiv(cols, QuantType.Q4_SUPER);
        float[] s = new float[8];
        float[] m = new float[8];
        int[] q = new int[32];
        for (int sb = 0; sb < nsb; sb++) {
            int nsub = Math.min(8, (cols - sb * QuantType.Q4_SUPER) / 32);
            float smax = 0;
            float mmax = 0;
            for (int j = 0; j < nsub; j++) {
                int off = sb * QuantType.Q4_SUPER + j * 32;
                fitAffine(w, off, q4Importance(w, off, colImp), q, s, m, j);
                smax = Math.max(smax, s[j]);
                mmax = Math.max(mmax, m[j]);
            }
            short hd = Float.floatToFloat16(smax / 255f);
            short hm = Float.floatToFloat16(mmax / 255f);
            float d = Float.float16ToFloat(hd);
            float dmin = Float.float16ToFloat(hm);
            int rec = sOff + sb * QuantType.Q4_RECORD;
            scales[rec] = (byte) hd;
            scales[rec + 1] = (byte) (hd >> 8);
            scales[rec + 2] = (byte) hm;
            scales[rec + 3] = (byte) (hm >> 8);
            for (int j = 0; j < 8; j++) {
                scales[rec + 4 + j] = 0;
                scales[rec + 12 + j] = 0;
            }
            for (int j = 0; j < nsub; j++) {
                int off = sb * QuantType.Q4_SUPER + j * 32;
                if (fb != null && j > 0) {  // refit this sub-block to its weights as the feedback left them
                    fitAffine(w, off, q4Importance(w, off, colImp), q, s, m, j);
                }
                int sc = d > 0 ? Math.min(255, (int) Math.rint(s[j] / d)) : 0;
                int mi = dmin > 0 ? Math.min(255, (int) Math.rint(m[j] / dmin)) : 0;
                scales[rec + 4 + j] = (byte) sc;
                scales[rec + 12 + j] = (byte) mi;
                float step = d * sc;
                float min = dmin * mi;
                float inv = step > 0 ? 1f / step : 0f;
                // sub-block pair (2k, 2k+1) shares 32 bytes: 2k low nibbles, 2k+1 high nibbles
                int pairBase = qOff + (off / 64) * 32;
                boolean high = (j & 1) == 1;
                for (int i = 0; i < 32; i++) {
                    int v = Math.max(0, Math.min(15, (int) Math.rint((w[off + i] + min) * inv)));
                    if (fb != null) {
                        fb.propagate(w, off + i, step * v - min);
                    }
                    int idx = pairBase + i;
                    quants[idx] = high ? (byte) ((quants[idx] & 0x0F) | (v << 4)) : (byte) ((quants[idx] & 0xF0) | v);
                }
            }
        }
    }

    /** The importance of each weight of w[off, off+32) in the q4 fit: {@code rms + |w|} (large weights count more). */
    static float[] importance(float[] w, int off) {
        double ss = 0;
        for (int i = 0; i < 32; i++) {
            ss += (double) w[off + i] * w[off + i];
        }
        float rms = (float) Math.sqrt(ss / 32);
        float[] imp = new float[32];
        for (int i = 0; i < 32; i++) {
            imp[i] = rms + Math.abs(w[off + i]);
        }
        return imp;
    }

    /**
     * The importance of each weight of w[off, off+32) in the q4 fit: {@code rms + |w|}, times its column's
     * importance ({@link #blockWeights}) when there is one. (On the demo model, the column importance alone fits
     * as well: KLD 0.00935 against 0.00958, top-1 93.57 against 93.36 %, within the noise of either.)
     */
    static float[] q4Importance(float[] w, int off, float[] colImp) {
        float[] imp = importance(w, off);
        float[] a = colImp == null ? null : blockWeights(colImp, off);
        if (a != null) {
            for (int i = 0; i < 32; i++) {
                imp[i] *= a[i];
            }
        }
        return imp;
    }

    /**
     * The plain min/max fit of w[off, off+32): {@code m = -min(w, 0)}, {@code s = (max - min) / 15}; stores
     * {@code s[j]}, {@code m[j]} and the quants.
     */
    static void plainAffine(float[] w, int off, int[] q, float[] s, float[] m, int j) {
        float lo = 0;
        float hi = -Float.MAX_VALUE;
        for (int i = 0; i < 32; i++) {
            lo = Math.min(lo, w[off + i]);
            hi = Math.max(hi, w[off + i]);
        }
        s[j] = Math.max(0f, (hi - lo) / 15f);
        m[j] = -lo;
        assign(w, off, null, q, s[j], m[j]);
    }

    /**
     * Fits w[off, off+32) ≈ s*q - m (q in 0..15, m >= 0) minimizing {@code sum imp[i] * (s*q[i] - m - w[i])^2}:
     * a search over 21 grids (the min/max range split into 13.0, 13.2, ... 17.0 steps from the minimum: 15 is the
     * plain fit; fewer steps clip the extremes, more leave room), each one's quants assigned and then the
     * weighted least-squares {@code s, m} for those quants solved (with {@code m} held at 0 when it would go
     * negative) and the quants reassigned to the nearest level; the best candidate is refined by alternating
     * least squares and reassignment while the error drops. The plain fit is a candidate, so the result is never
     * worse than it. Stores {@code s[j]}, {@code m[j]} and the quants.
     */
    static void fitAffine(float[] w, int off, float[] imp, int[] q, float[] s, float[] m, int j) {
        float lo = 0;
        float hi = -Float.MAX_VALUE;
        for (int i = 0; i < 32; i++) {
            lo = Math.min(lo, w[off + i]);
            hi = Math.max(hi, w[off + i]);
        }
        float range = hi - lo;
        if (!(range > 0)) {
            s[j] = 0;
            m[j] = -lo;
            java.util.Arrays.fill(q, 0, 32, 0);
            return;
        }
        float bestS = range / 15f;
        float bestM = -lo;
        double bestErr = assign(w, off, imp, q, bestS, bestM);
        int[] tq = new int[32];
        double[] sm = new double[2];
        for (int t = 0; t <= 20; t++) {
            float inv = (13f + 0.2f * t) / range;
            for (int i = 0; i < 32; i++) {
                tq[i] = Math.max(0, Math.min(15, (int) Math.rint((w[off + i] - lo) * inv)));
            }
            if (!leastSquares(w, off, imp, tq, sm)) {
                continue;
            }
            double err = assign(w, off, imp, tq, (float) sm[0], (float) sm[1]);
            if (err < bestErr) {
                bestErr = err;
                bestS = (float) sm[0];
                bestM = (float) sm[1];
            }
        }
        for (int iter = 0; iter < 4; iter++) {
            assign(w, off, imp, tq, bestS, bestM);
            if (!leastSquares(w, off, imp, tq, sm)) {
                break;
            }
            double err = assign(w, off, imp, tq, (float) sm[0], (float) sm[1]);
            if (!(err < bestErr)) {
                break;
            }
            bestErr = err;
            bestS = (float) sm[0];
            bestM = (float) sm[1];
        }
        s[j] = bestS;
        m[j] = bestM;
        assign(w, off, imp, q, bestS, bestM);
    }

    /**
     * The weighted least-squares {@code s > 0, m >= 0} of w ≈ s*q - m for the given quants into {@code sm}; false
     * when there is none (all quants equal with m at 0, or a non-positive slope).
     */
    private static boolean leastSquares(float[] w, int off, float[] imp, int[] q, double[] sm) {
        double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
        for (int i = 0; i < 32; i++) {
            double c = imp == null ? 1 : imp[i];
            s0 += c;
            s1 += c * q[i];
            s2 += c * q[i] * q[i];
            t0 += c * w[off + i];
            t1 += c * q[i] * w[off + i];
        }
        double det = s0 * s2 - s1 * s1;
        double a;
        double b;
        if (det > 0) {
            a = (s0 * t1 - s1 * t0) / det;
            b = (s2 * t0 - s1 * t1) / det;
        } else {
            a = Double.NaN;
            b = 1;
        }
        if (!(b <= 0)) {  // the offset must be a minimum subtracted (m = -b >= 0): fit through the origin
            b = 0;
            a = s2 > 0 ? t1 / s2 : Double.NaN;
        }
        if (!(a > 0) || !Double.isFinite(a)) {
            return false;
        }
        sm[0] = a;
        sm[1] = -b;
        return true;
    }

    /** q = rint((w + min) / scale) clamped to 0..15; returns the (importance-weighted) squared error of the fit. */
    static double assign(float[] w, int off, float[] imp, int[] q, float scale, float min) {
        double err = 0;
        float inv = scale > 0 ? 1f / scale : 0f;
        for (int i = 0; i < 32; i++) {
            int v = Math.max(0, Math.min(15, (int) Math.rint((w[off + i] + min) * inv)));
            q[i] = v;
            double e = (double) scale * v - min - w[off + i];
            err += imp == null ? e * e : imp[i] * e * e;
        }
        return err;
    }

    /**
     * The value of element {@code i} of a quantized row of {@code cols} columns (for tests and for checking a file):
     * the formats' definition. ({@code cols} places a q6 row's last unit, which may hold a single pair.)
     */
    public static float dequantize(QuantType type, byte[] quants, int qOff, byte[] scales, int sOff, int cols, int i) {
        if (type == QuantType.Q8 || type == QuantType.Q6) {
            short h = (short) ((scales[sOff + 2 * (i / 32)] & 0xFF) | (scales[sOff + 2 * (i / 32) + 1] << 8));
            int q = type == QuantType.Q8 ? quants[qOff + i] : getQ6(quants, qOff, cols, i) - 32;
            return Float.float16ToFloat(h) * q;
        }
        int b = quants[qOff + (i / 64) * 32 + (i % 32)] & 0xFF;
        int q = (i % 64) < 32 ? (b & 0x0F) : (b >> 4);
        int rec = sOff + (i / QuantType.Q4_SUPER) * QuantType.Q4_RECORD;
        int j = (i % QuantType.Q4_SUPER) / 32;
        float d = Float.float16ToFloat((short) ((scales[rec] & 0xFF) | (scales[rec + 1] << 8)));
        float dmin = Float.float16ToFloat((short) ((scales[rec + 2] & 0xFF) | (scales[rec + 3] << 8)));
        return d * (scales[rec + 4 + j] & 0xFF) * q - dmin * (scales[rec + 12 + j] & 0xFF);
    }
}
