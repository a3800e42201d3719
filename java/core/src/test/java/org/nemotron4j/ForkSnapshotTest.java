package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fork, snapshot and restore continue exactly (bitwise on the CPU) like the uninterrupted session. */
class ForkSnapshotTest {
    static int[] prompt(int n) {
        return ModelPropertyTest.randomIds(n, 320, 99);
    }

    /** Greedy continuation of n tokens from a session's current state, with every step's logits. */
    static float[][] continueGreedy(Session s, float[] logits, int n) {
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) {
            logits = s.decode(Session.argmax(logits));
            out[i] = logits;
        }
        return out;
    }

    @Test
    void forkContinuesLikeTheOriginalAndIsIndependent() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact())) {
            // a prefix longer than one KV block, ending inside a block, so copy-on-write is exercised
            int[] ids = prompt(300);
            float[][] expected;
            try (Session plain = m.newSession()) {
                expected = continueGreedy(plain, plain.prefill(ids), 12);
            }
            try (Session parent = m.newSession()) {
                float[] last = parent.prefill(ids);
                long beforeFork = m.allocatedBytes();
                try (Session child = parent.fork()) {
                    long forkBytes = m.allocatedBytes() - beforeFork;
                    assertEquals(m.config().count(LayerKind.MAMBA) * MambaState.bytes(m.config()), forkBytes,
                            "a fork copies only the Mamba states; KV blocks are shared");
                    float[][] a = continueGreedy(child, last, 12);
                    // the parent continues differently, then must still equal the plain run
                    parent.decode(7);
                    parent.decode(8);
                    for (int i = 0; i < 12; i++) {
                        assertArrayEquals(expected[i], a[i], "fork step " + i);
                    }
                }
            }
            try (Session parent = m.newSession()) {
                float[] last = parent.prefill(ids);
                Session child = parent.fork();
                child.decode(3);
                child.close();
                float[][] b = continueGreedy(parent, last, 12);
                for (int i = 0; i < 12; i++) {
                    assertArrayEquals(expected[i], b[i], "parent after fork step " + i);
                }
            }
        }
    }

    /**
     * The fork of a session whose layers have NVIDIA-Nemotron-Nano-9B-v2's shapes (hidden 4480, 128 Mamba heads of
     * 80, state 128, 40/8 attention heads of 128, MLP 15680; four layers and a small vocabulary keep the checkpoint at
     * about 1 GB): the fork allocates exactly its Mamba states (2 x 20.3 MiB here, 27 x that for the real model),
     * shares all KV blocks, and the first token written into the shared, partly filled block copies that one block
     * (K and V, per attention layer) and nothing else; the parent then writes in place.
     */
    @Test
    void forkOfA9bShapedSessionCopiesOnlyTheStatesAndTheBlockItWrites(@TempDir Path tmp) {
        String json = ModelPropertyTest.config("M*M-", 4480, 1024, 128, 80, 128, 8, 128, 40, 8, 128, 15680);
        Path dir = ModelPropertyTest.make(tmp.resolve("nine-b-shaped"), json, 9, false);
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact())) {
            ModelConfig c = m.config();
            int[] ids = ModelPropertyTest.randomIds(300, c.vocabSize(), 5);
            try (Session parent = m.newSession()) {
                float[] last = parent.prefill(ids);
                int next = Session.argmax(last);
                long beforeFork = m.allocatedBytes();
                try (Session child = parent.fork()) {
                    long stateBytes = 2 * MambaState.bytes(c);
                    assertEquals(stateBytes, m.allocatedBytes() - beforeFork,
                            "a fork copies only the Mamba states; KV blocks are shared");
                    long beforeWrite = m.allocatedBytes();
                    float[] childLogits = child.decode(next);
                    assertEquals(2 * KvCache.blockBytes(c, m.kvCacheDtype()) * c.count(LayerKind.ATTENTION), m.allocatedBytes() - beforeWrite,
                            "the child's first token copies the shared partial block (K and V) of each attention layer");
                    long beforeParent = m.allocatedBytes();
                    float[] parentLogits = parent.decode(next);
                    assertEquals(beforeParent, m.allocatedBytes(), "the parent now owns its block alone and writes in place");
                    assertArrayEquals(parentLogits, childLogits, "same state, same token: same logits");
                }
                assertEquals(beforeFork, m.allocatedBytes(), "closing the fork frees its states and its block");
            }
        }
    }

    @Test
    void snapshotRestoreContinuesBitwise(@TempDir Path tmp) {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact())) {
            int[] ids = prompt(270);
            float[][] expected;
            byte[] snap;
            float[] last;
            try (Session s = m.newSession()) {
                last = s.prefill(ids);
                snap = s.snapshot();
                s.snapshot(tmp.resolve("s.bin"));
                expected = continueGreedy(s, last, 10);
            }
            try (Session r = m.restoreSession(snap)) {
                assertEquals(ids.length, r.position());
                float[][] got = continueGreedy(r, last, 10);
                for (int i = 0; i < 10; i++) {
                    assertArrayEquals(expected[i], got[i], "restored step " + i);
                }
            }
            try (NemotronModel other = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(1).withReferenceKernels(), LoadOptions.exact());
                 Session r = other.restoreSession(tmp.resolve("s.bin"))) {
                float[][] got = continueGreedy(r, last, 3);
                for (int i = 0; i < 3; i++) {
                    assertTrue(Fixtures.relError(got[i], expected[i]) < 1e-5, "restored on another backend, step " + i);
                }
            }
        }
    }

    @Test
    void badSnapshotsAreRefused() throws Exception {
        byte[] snap;
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            s.prefill(prompt(20));
            snap = s.snapshot();
            long before = m.allocatedBytes();
            var e = assertThrows(NemotronException.class, () -> m.restoreSession(Arrays.copyOf(snap, snap.length - 10)));
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());
            byte[] corrupt = snap.clone();
            corrupt[corrupt.length / 2] ^= 0x40;
            e = assertThrows(NemotronException.class, () -> m.restoreSession(corrupt));
            assertTrue(e.getMessage().contains("corrupted") || e.getMessage().contains("snapshot"), e.getMessage());
            e = assertThrows(NemotronException.class, () -> m.restoreSession("hello".getBytes()));
            assertTrue(e.getMessage().contains("magic") || e.getMessage().contains("truncated"), e.getMessage());
            assertEquals(before, m.allocatedBytes(), "a refused restore leaves nothing allocated");
        }
        try (NemotronModel other = NemotronModel.load(Fixtures.path("nemotron-h-tiny-fp8"), Device.cpu(), LoadOptions.exact())) {
            var e = assertThrows(NemotronException.class, () -> other.restoreSession(snap));
            assertTrue(e.getMessage().contains("another model"), e.getMessage());
        }
        assertTrue(Files.exists(Fixtures.path("nemotron-h-tiny")));
    }
}
