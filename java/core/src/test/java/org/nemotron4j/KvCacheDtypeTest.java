package org.nemotron4j;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A BF16 KV cache (half the memory of the CPU's default F32): close to the F32 engine, consistent between prefill
 * and decode, and exact through fork and snapshot/restore.
 */
class KvCacheDtypeTest {
    static NemotronModel loadTiny(DType kv) {
        return NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact().withKvCacheDtype(kv));
    }

    @Test
    void defaultsAndValidation() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact())) {
            assertEquals(DType.F32, m.kvCacheDtype(), "exact mode keeps the golden-exact F32 cache");
        }
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"))) {
            assertEquals(Precision.FAST, m.precision(), "the default precision");
            assertEquals(DType.BF16, m.kvCacheDtype(), "fast mode (the default) uses a BF16 cache");
        }
        NemotronException e = assertThrows(NemotronException.class, () -> LoadOptions.exact().withKvCacheDtype(DType.F8_E4M3));
        assertTrue(e.getMessage().contains("kvCacheDtype"), e.getMessage());
    }

    /** Logits within the tolerance the GPU's BF16 path is held to (3e-2 x max|logit|), greedy ids equal. */
    @Test
    void bf16CacheStaysCloseToF32() {
        int[] ids = ForkSnapshotTest.prompt(300);
        float[] f32;
        float[][] f32Steps;
        try (NemotronModel m = loadTiny(DType.F32); Session s = m.newSession()) {
            f32 = s.prefillAll(ids);
            f32Steps = ForkSnapshotTest.continueGreedy(s, Fixtures.row(f32, ids.length - 1, m.config().vocabSize()), 8);
        }
        try (NemotronModel m = loadTiny(DType.BF16); Session s = m.newSession()) {
            int v = m.config().vocabSize();
            float[] bf16 = s.prefillAll(ids);
            for (int t = 0; t < ids.length; t++) {
                double err = Fixtures.relError(Fixtures.row(bf16, t, v), Fixtures.row(f32, t, v));
                assertTrue(err <= 3e-2, "position " + t + ": rel error " + err);
            }
            float[][] steps = ForkSnapshotTest.continueGreedy(s, Fixtures.row(bf16, ids.length - 1, v), 8);
            for (int i = 0; i < steps.length; i++) {
                assertEquals(Session.argmax(f32Steps[i]), Session.argmax(steps[i]), "greedy step " + i);
            }
        }
    }

    /** Prefill of T tokens then one decode step equals a prefill of T + 1 tokens (both read the BF16 cache back). */
    @Test
    void prefillThenDecodeEqualsLongerPrefill() {
        int[] ids = ForkSnapshotTest.prompt(258);
        try (NemotronModel m = loadTiny(DType.BF16); Session a = m.newSession(); Session b = m.newSession()) {
            float[] longer = a.prefill(ids);
            b.prefill(java.util.Arrays.copyOf(ids, ids.length - 1));
            float[] stepped = b.decode(ids[ids.length - 1]);
            double err = Fixtures.relError(stepped, longer);
            assertTrue(err <= 1e-5, "rel error " + err);
        }
    }

    /** Fork and snapshot/restore of a BF16 cache continue bitwise like the uninterrupted session. */
    @Test
    void forkAndSnapshotAreExact() {
        int[] ids = ForkSnapshotTest.prompt(270);
        try (NemotronModel m = loadTiny(DType.BF16)) {
            float[][] expected;
            byte[] snap;
            float[] last;
            try (Session s = m.newSession()) {
                last = s.prefill(ids);
                snap = s.snapshot();
                try (Session child = s.fork()) {
                    float[][] forked = ForkSnapshotTest.continueGreedy(child, last, 6);
                    expected = ForkSnapshotTest.continueGreedy(s, last, 6);
                    for (int i = 0; i < expected.length; i++) {
                        assertArrayEquals(expected[i], forked[i], "fork step " + i);
                    }
                }
            }
            try (Session restored = m.restoreSession(snap)) {
                float[][] again = ForkSnapshotTest.continueGreedy(restored, last, 6);
                for (int i = 0; i < expected.length; i++) {
                    assertArrayEquals(expected[i], again[i], "restored step " + i);
                }
            }
        }
    }
}
