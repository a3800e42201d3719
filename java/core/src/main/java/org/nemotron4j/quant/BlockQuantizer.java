package org.nemotron4j.quant;

/**
 * Quantizes rows of F32 weights into the layouts of {@link QuantType} (an offline step: {@code nemotron4j quantize}
 * and quantize-on-load; the kernels only read the result).
 * <ul>
 * <li>q8: per block of 32, {@code d = max|w| / 127} rounded to F16, {@code q = rint(w / d)} clamped to ±127.</li>
 * <li>q4: per sub-block of 32, an affine fit {@code w ≈ s*q - m} ({@code q} in 0..15, {@code m >= 0}): start from
 * {@code m = -min(w, 0)}, {@code s = (max - min) / 15}, then two rounds of least squares for {@code s, m} given the
 * {@code q}s and requantization (keeping the better fit). The 8 scales and minimums of a super-block are then
 * quantized to 8 bits against F16 {@code d = max s / 255} and {@code dmin = max m / 255}, and the final {@code q}s
 * are computed against those rounded values.</li>
 * </ul>
 */
public final class BlockQuantizer {
    private BlockQuantizer() {
    }

    /** Quantizes {@code w[0, cols)} into {@code quants[qOff, ...)} and {@code scales[sOff, ...)} (one row). */
    public static void quantizeRow(QuantType type, float[] w, int cols, byte[] quants, int qOff, byte[] scales, int sOff) {
        if (cols % type.columnMultiple() != 0) {
            throw new IllegalArgumentException(type.id() + " needs a multiple of " + type.columnMultiple()
                    + " columns, got " + cols);
        }
        if (type == QuantType.Q8) {
            q8Row(w, cols, quants, qOff, scales, sOff);
        } else {
            q4Row(w, cols, quants, qOff, scales, sOff);
        }
    }

    private static void q8Row(float[] w, int cols, byte[] quants, int qOff, byte[] scales, int sOff) {
        for (int b = 0; b < cols / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(w[b * 32 + i]));
            }
            short h = Float.floatToFloat16(amax / 127f);
            float d = Float.float16ToFloat(h);
            float inv = d > 0 ? 1f / d : 0f;
            for (int i = 0; i < 32; i++) {
                int q = (int) Math.rint(w[b * 32 + i] * inv);
                quants[qOff + b * 32 + i] = (byte) Math.max(-127, Math.min(127, q));
            }
            scales[sOff + 2 * b] = (byte) h;
            scales[sOff + 2 * b + 1] = (byte) (h >> 8);
        }
    }

    private static void q4Row(float[] w, int cols, byte[] quants, int qOff, byte[] scales, int sOff) {
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
                fitAffine(w, off, q, s, m, j);
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
                int sc = d > 0 ? Math.min(255, (int) Math.rint(s[j] / d)) : 0;
                int mi = dmin > 0 ? Math.min(255, (int) Math.rint(m[j] / dmin)) : 0;
                scales[rec + 4 + j] = (byte) sc;
                scales[rec + 12 + j] = (byte) mi;
                float step = d * sc;
                float min = dmin * mi;
                float inv = step > 0 ? 1f / step : 0f;
                int off = sb * QuantType.Q4_SUPER + j * 32;
                // sub-block pair (2k, 2k+1) shares 32 bytes: 2k low nibbles, 2k+1 high nibbles
                int pairBase = qOff + (off / 64) * 32;
                boolean high = (j & 1) == 1;
                for (int i = 0; i < 32; i++) {
                    int v = Math.max(0, Math.min(15, (int) Math.rint((w[off + i] + min) * inv)));
                    int idx = pairBase + i;
                    quants[idx] = high ? (byte) ((quants[idx] & 0x0F) | (v << 4)) : (byte) ((quants[idx] & 0xF0) | v);
                }
            }
        }
    }

    /** Fits w[off, off+32) ≈ s*q - m, q in 0..15, m >= 0; stores s[j], m[j]. */
    private static void fitAffine(float[] w, int off, int[] q, float[] s, float[] m, int j) {
        float lo = 0;
        float hi = -Float.MAX_VALUE;
        for (int i = 0; i < 32; i++) {
            lo = Math.min(lo, w[off + i]);
            hi = Math.max(hi, w[off + i]);
        }
        float scale = (hi - lo) / 15f;
        float min = -lo;
        if (!(scale > 0)) {
            s[j] = 0;
            m[j] = min;
            return;
        }
        double bestErr = assign(w, off, q, scale, min);
        float bestScale = scale;
        float bestMin = min;
        for (int iter = 0; iter < 2; iter++) {
            // least squares for (a, b) in w ≈ a*q + b given q; m = -b must stay >= 0
            double sq = 0, sqq = 0, sw = 0, sqw = 0;
            for (int i = 0; i < 32; i++) {
                sq += q[i];
                sqq += (double) q[i] * q[i];
                sw += w[off + i];
                sqw += (double) q[i] * w[off + i];
            }
            double det = 32 * sqq - sq * sq;
            if (det <= 0) {
                break;
            }
            double a = (32 * sqw - sq * sw) / det;
            double b = (sw - a * sq) / 32;
            if (b > 0) {
                b = 0;
                a = sqq > 0 ? sqw / sqq : 0;
            }
            if (!(a > 0)) {
                break;
            }
            double err = assign(w, off, q, (float) a, (float) -b);
            if (err < bestErr) {
                bestErr = err;
                bestScale = (float) a;
                bestMin = (float) -b;
            } else {
                break;
            }
        }
        s[j] = bestScale;
        m[j] = bestMin;
    }

    /** q = rint((w + min) / scale) clamped to 0..15; returns the squared error of the fit. */
    private static double assign(float[] w, int off, int[] q, float scale, float min) {
        double err = 0;
        float inv = 1f / scale;
        for (int i = 0; i < 32; i++) {
            int v = Math.max(0, Math.min(15, (int) Math.rint((w[off + i] + min) * inv)));
            q[i] = v;
            double e = scale * v - min - w[off + i];
            err += e * e;
        }
        return err;
    }

    /** The value of element {@code i} of a quantized row (for tests and for checking a file): the formats' definition. */
    public static float dequantize(QuantType type, byte[] quants, int qOff, byte[] scales, int sOff, int i) {
        if (type == QuantType.Q8) {
            short h = (short) ((scales[sOff + 2 * (i / 32)] & 0xFF) | (scales[sOff + 2 * (i / 32) + 1] << 8));
            return Float.float16ToFloat(h) * quants[qOff + i];
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
