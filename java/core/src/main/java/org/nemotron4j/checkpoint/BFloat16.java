package org.nemotron4j.checkpoint;

/**
 * bfloat16: the upper 16 bits of an IEEE-754 binary32 (1 sign, 8 exponent, 7 mantissa bits).
 * Conversion from float rounds to nearest, ties to even; NaN becomes the quiet NaN 0x7FC0 (sign kept).
 */
public final class BFloat16 {
    private BFloat16() {
    }

    /** The bfloat16 bits nearest to {@code value}. */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) & 0x8000 | 0x7FC0);
        }
        // add 0x7FFF plus the lowest kept bit: rounds to nearest with ties going to the even upper half
        int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    /** The float value of bfloat16 bits (exact). */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }
}
