package org.nemotron4j.checkpoint;

/**
 * The OCP 8-bit floating point format E4M3 (the {@code F8_E4M3} of safetensors, {@code float8_e4m3fn} of PyTorch).
 *
 * <pre>
 *   bit  7    6 5 4 3    2 1 0
 *        S    E E E E    M M M        exponent bias 7, no infinities
 *   E = 0          subnormal:  (-1)^S * 2^-6 * (M / 8)          (0x00 = +0, 0x80 = -0, min 2^-9)
 *   E = 1..15      normal:     (-1)^S * 2^(E-7) * (1 + M / 8)
 *   S.1111.111     NaN (0x7F, 0xFF); S.1111.110 = +-448 is the largest finite value
 * </pre>
 * {@link #encode} rounds to nearest, ties to even, and saturates: magnitudes above 448 (and infinities) become
 * +-448, the conversion ModelOpt applies after dividing by the per-tensor scale. NaN stays NaN.
 */
public final class Fp8E4M3 {
    /** Largest finite magnitude. */
    public static final float MAX = 448f;

    private static final float[] DECODED = new float[256];

    static {
        for (int code = 0; code < 256; code++) {
            DECODED[code] = decodeSlow(code);
        }
    }

    private Fp8E4M3() {
    }

    private static float decodeSlow(int code) {
        int exponent = (code >>> 3) & 0xF;
        int mantissa = code & 0x7;
        boolean negative = (code & 0x80) != 0;
        float magnitude;
        if (exponent == 0xF && mantissa == 0x7) {
            return Float.intBitsToFloat(negative ? 0xFFC00000 : 0x7FC00000);
        } else if (exponent == 0) {
            magnitude = Math.scalb((float) mantissa, -9);
        } else {
            magnitude = Math.scalb((float) (8 + mantissa), exponent - 10);
        }
        return negative ? -magnitude : magnitude;
    }

    /** The value of an E4M3 byte. */
    public static float decode(byte code) {
        return DECODED[code & 0xFF];
    }

    /** The E4M3 byte nearest to {@code value} (ties to even), saturating at +-448. */
    public static byte encode(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 24) & 0x80;
        if (Float.isNaN(value)) {
            return (byte) (sign | 0x7F);
        }
        double a = Math.abs((double) value);
        if (a >= MAX) {
            return (byte) (sign | 0x7E);
        }
        int code;
        if (a < 0x1p-6) {
            // subnormal range: steps of 2^-9; a rounded count of 8 is exactly the smallest normal, code 0x08
            code = (int) Math.rint(a * 0x1p9);
        } else {
            int e = Math.getExponent(a);               // a = 2^e * [1, 2), e in [-6, 8]
            int m = (int) Math.rint(Math.scalb(a, 3 - e)); // 8..16 eighths (exact scaling, then ties-to-even)
            if (m == 16) {
                m = 8;
                e++;
            }
            code = ((e + 7) << 3) | (m - 8);
            if (code > 0x7E) {
                code = 0x7E; // rounded past 448 (only 464 <= a < 480 can get here, excluded above) - saturate
            }
        }
        return (byte) (sign | code);
    }
}
