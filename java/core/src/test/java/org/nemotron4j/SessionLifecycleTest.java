package org.nemotron4j;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sessions: bad input leaves them usable, closing frees their memory, closed things throw instead of crashing. */
class SessionLifecycleTest {
    static Path tiny() {
        return Fixtures.path("nemotron-h-tiny");
    }

    @Test
    void tokenOutOfRangeIsRejectedAndSessionStaysUsable() {
        try (NemotronModel m = NemotronModel.load(tiny(), Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            var e = assertThrows(NemotronException.class, () -> s.prefill(5, 320, 7));
            assertTrue(e.getMessage().contains("token id 320 at index 1"), e.getMessage());
            e = assertThrows(NemotronException.class, () -> s.decode(-1));
            assertTrue(e.getMessage().contains("token id -1"), e.getMessage());
            assertEquals(0, s.position());
            float[] a = s.prefill(5, 6, 7);
            try (Session fresh = m.newSession()) {
                assertArrayEquals(fresh.prefill(5, 6, 7), a);
            }
        }
    }

    @Test
    void emptyPromptIsRejected() {
        try (NemotronModel m = NemotronModel.load(tiny(), Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            var e = assertThrows(NemotronException.class, () -> s.prefill());
            assertTrue(e.getMessage().contains("no tokens"), e.getMessage());
        }
    }

    @Test
    void contextOverflowIsRejectedAndSessionStaysUsable() {
        try (NemotronModel m = NemotronModel.load(tiny(), Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            int max = m.config().maxPositionEmbeddings();
            s.prefill(new int[max - 2]);
            var e = assertThrows(NemotronException.class, () -> s.prefill(1, 2, 3));
            assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
            assertEquals(max - 2, s.position());
            s.decode(3);
            s.decode(4);
            assertEquals(max, s.position());
            assertThrows(NemotronException.class, () -> s.decode(5));
        }
    }

    @Test
    void closedSessionAndModelThrow() {
        NemotronModel m = NemotronModel.load(tiny(), Device.cpu(), LoadOptions.exact());
        Session s = m.newSession();
        s.prefill(1, 2);
        s.close();
        s.close(); // idempotent
        var e = assertThrows(NemotronException.class, () -> s.decode(3));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        Session open = m.newSession();
        m.close();
        assertTrue(open.isClosed(), "closing the model closes its sessions");
        assertThrows(NemotronException.class, () -> open.prefill(1));
        assertThrows(NemotronException.class, m::newSession);
    }

    /**
     * 1000 sessions opened, used and closed: the library's own count of native bytes returns to the baseline after
     * every one, and the process's resident memory does not grow with the number of sessions (a native allocation
     * that the count misses). Resident memory moves for reasons of its own on a loaded machine (the JIT, the Java
     * heap and metaspace growing or shrinking, malloc arenas), once, not per session: so the sessions run in three
     * rounds after a warm-up, the Java heap's committed size is subtracted, and the median growth of a round is held
     * to the bound (one round off in either direction, as a GC giving back 400 MB, does not decide). A leak of
     * 32 KiB per session grows every round by more than it.
     */
    @Test
    void thousandSessionsLeakNothing() throws Exception {
        try (NemotronModel m = NemotronModel.load(tiny(), Device.cpu(), LoadOptions.exact())) {
            long baseline = m.allocatedBytes();
            int warmup = 100;
            int rounds = 3;
            int perRound = 300;
            for (int i = 0; i < warmup; i++) {
                try (Session s = m.newSession()) {
                    s.prefill(1, 2, 3);
                    s.decode(4);
                }
            }
            long previous = nativeResidentBytes();
            long[] growth = new long[rounds];
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < perRound; i++) {
                    try (Session s = m.newSession()) {
                        s.prefill(1, 2, 3);
                        s.decode(4);
                    }
                    assertEquals(baseline, m.allocatedBytes(), "native bytes after closing session " + i + " of round " + r);
                }
                long now = nativeResidentBytes();
                growth[r] = now - previous;
                previous = now;
            }
            String growths = java.util.Arrays.toString(growth);
            System.err.println("thousandSessionsLeakNothing: resident bytes outside the heap, growth per round: " + growths);
            long[] sorted = growth.clone();
            java.util.Arrays.sort(sorted);
            assertTrue(sorted[rounds / 2] < 32L * 1024 * perRound, "resident memory outside the Java heap grew by a"
                    + " median of " + sorted[rounds / 2] + " bytes per round of " + perRound + " sessions: " + growths);
        }
    }

    /**
     * Resident memory less the Java heap's committed size, after a GC (the JIT's code and metaspace grow in the
     * warm-up; the smallest growth of a round leaves the rest out).
     */
    static long nativeResidentBytes() throws Exception {
        System.gc();
        return rssBytes() - Runtime.getRuntime().totalMemory();
    }

    @Test
    void sessionAllocatesWhatItsStatesNeed() {
        try (NemotronModel m = NemotronModel.load(tiny(), Device.cpu(), LoadOptions.exact())) {
            long before = m.allocatedBytes();
            ModelConfig c = m.config();
            try (Session s = m.newSession()) {
                long mambaBytes = c.count(LayerKind.MAMBA) * MambaState.bytes(c);
                assertEquals(mambaBytes, m.allocatedBytes() - before, "a fresh session holds only Mamba states");
                s.prefill(new int[300]);
                long kvBlocks = 2L * Math.ceilDiv(300, KvCache.BLOCK_TOKENS) * c.count(LayerKind.ATTENTION);
                assertEquals(mambaBytes + kvBlocks * KvCache.blockBytes(c, m.kvCacheDtype()), m.allocatedBytes() - before,
                        "KV grows in blocks as tokens arrive");
            }
            assertEquals(before, m.allocatedBytes());
        }
    }

    static long rssBytes() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
