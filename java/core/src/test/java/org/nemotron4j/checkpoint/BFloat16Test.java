package org.nemotron4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BFloat16Test {
    @Test
    void roundsToNearestEven() {
        assertEquals(1f, BFloat16.toFloat(BFloat16.fromFloat(1f + 0x1p-8f)));          // tie -> even (1.0)
        assertEquals(1f + 0x1p-6f, BFloat16.toFloat(BFloat16.fromFloat(1f + 3 * 0x1p-8f))); // tie -> even
        assertEquals(1f + 0x1p-7f, BFloat16.toFloat(BFloat16.fromFloat(1f + 0x1p-8f + 0x1p-20f)));
        assertEquals((short) 0x3F80, BFloat16.fromFloat(1f));
        assertEquals((short) 0xBF80, BFloat16.fromFloat(-1f));
        assertEquals(Float.POSITIVE_INFINITY, BFloat16.toFloat(BFloat16.fromFloat(Float.POSITIVE_INFINITY)));
        assertTrue(Float.isNaN(BFloat16.toFloat(BFloat16.fromFloat(Float.NaN))));
        assertTrue(Float.isNaN(BFloat16.toFloat(BFloat16.fromFloat(Float.intBitsToFloat(0x7F800001)))));
    }

    @Test
    void errorAtMostHalfUlp() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 100_000; i++) {
            float v = (float) Math.scalb(r.nextDouble(-1, 1), r.nextInt(-40, 40));
            float b = BFloat16.toFloat(BFloat16.fromFloat(v));
            double halfUlp = Math.ulp(v) * 0x1p16 / 2;
            assertTrue(Math.abs((double) b - v) <= halfUlp, v + " -> " + b);
            assertEquals(BFloat16.fromFloat(b), BFloat16.fromFloat(v)); // idempotent
        }
    }
}
