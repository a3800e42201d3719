package org.nemotron4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Fp8E4M3Test {
    @Test
    void everyCodeRoundTrips() {
        for (int code = 0; code < 256; code++) {
            float v = Fp8E4M3.decode((byte) code);
            int back = Fp8E4M3.encode(v) & 0xFF;
            if ((code & 0x7F) == 0x7F) {
                assertTrue(Float.isNaN(v), "code " + code);
                assertEquals(code, back, "NaN keeps its sign");
            } else {
                assertTrue(Float.isFinite(v));
                assertEquals(code, back, "code 0x" + Integer.toHexString(code) + " = " + v);
            }
        }
    }

    @Test
    void knownValues() {
        assertEquals(448f, Fp8E4M3.decode((byte) 0x7E));
        assertEquals(-448f, Fp8E4M3.decode((byte) 0xFE));
        assertEquals(1f, Fp8E4M3.decode((byte) 0x38));
        assertEquals(0x1p-9f, Fp8E4M3.decode((byte) 0x01));     // smallest subnormal
        assertEquals(7 * 0x1p-9f, Fp8E4M3.decode((byte) 0x07)); // largest subnormal
        assertEquals(0x1p-6f, Fp8E4M3.decode((byte) 0x08));     // smallest normal
        assertEquals(0x80, Fp8E4M3.encode(-0f) & 0xFF);
        assertEquals(0x7E, Fp8E4M3.encode(1000f) & 0xFF);       // saturates
        assertEquals(0xFE, Fp8E4M3.encode(Float.NEGATIVE_INFINITY) & 0xFF);
        assertEquals(0x7F, Fp8E4M3.encode(Float.NaN) & 0x7F);
        assertEquals(0x38, Fp8E4M3.encode(1.0625f) & 0xFF);     // tie between 1 and 1.125 -> even 1
        assertEquals(0x3A, Fp8E4M3.encode(1.1875f) & 0xFF);     // tie between 1.125 and 1.25 -> even 1.25
        assertEquals(0x00, Fp8E4M3.encode(0x1p-10f) & 0xFF);    // tie between 0 and 2^-9 -> 0
        assertEquals(0x02, Fp8E4M3.encode(3 * 0x1p-10f) & 0xFF); // tie between 1 and 2 (x 2^-9) -> 2
    }

    /** The finite code nearest to v, ties to the even code, by brute force over the table. */
    static int nearest(float v) {
        if (Math.abs(v) >= 448f) {
            return v > 0 ? 0x7E : 0xFE;
        }
        int best = -1;
        double bestDistance = Double.POSITIVE_INFINITY;
        for (int code = 0; code < 256; code++) {
            float c = Fp8E4M3.decode((byte) code);
            if (Float.isNaN(c) || (code & 0x80) != (Float.floatToRawIntBits(v) >>> 24 & 0x80)) {
                continue; // same sign only, so -0/+0 are told apart
            }
            double d = Math.abs((double) c - v);
            if (d < bestDistance || (d == bestDistance && (code & 1) == 0)) {
                best = code;
                bestDistance = d;
            }
        }
        return best;
    }

    @Test
    void midpointsRoundToEven() {
        for (int code = 0; code < 0x7E; code++) {
            double lo = Fp8E4M3.decode((byte) code);
            double hi = Fp8E4M3.decode((byte) (code + 1));
            float mid = (float) ((lo + hi) / 2);
            int even = (code & 1) == 0 ? code : code + 1;
            assertEquals(even, Fp8E4M3.encode(mid) & 0xFF, "midpoint " + mid);
            assertEquals(code, Fp8E4M3.encode(Math.nextDown(mid)) & 0xFF);
            assertEquals(code + 1, Fp8E4M3.encode(Math.nextUp(mid)) & 0xFF);
            assertEquals(even | 0x80, Fp8E4M3.encode(-mid) & 0xFF);
        }
    }

    @Test
    void randomValuesMatchBruteForce() {
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < 20_000; i++) {
            float v = (float) (Math.scalb(r.nextDouble(-1, 1), r.nextInt(-12, 10)));
            assertEquals(nearest(v), Fp8E4M3.encode(v) & 0xFF, "value " + v);
        }
    }
}
