package org.nemotron4j.serving;

import org.junit.jupiter.api.Test;
import org.nemotron4j.Device;
import org.nemotron4j.Fixtures;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The prefix cache's eviction: the prompt just cached keeps its chain of prefixes; older prompts go first. */
class PrefixCacheTest {
    static int[] prompt(int n, long seed) {
        Random r = new Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 3 + r.nextInt(300);
        }
        return ids;
    }

    /** Inserts the chain of {@code p}'s prefixes at every block, as the scheduler does while prefilling it. */
    static void cacheChain(PrefixCache cache, NemotronModel m, int[] p, int block) {
        try (Session s = m.newSession()) {
            for (int end = block; end <= p.length; end += block) {
                s.prefill(java.util.Arrays.copyOfRange(p, end - block, end));
                cache.insert(p, end, s);
            }
        }
    }

    @Test
    void aNewPromptKeepsItsWholeChainWhileOlderPromptsAreEvicted() {
        try (NemotronModel m = NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(), LoadOptions.exact())) {
            int block = 16;
            int coarse = 64;
            // measure one entry's bytes: a cache with room for exactly the 8-entry chain of one 128-token prompt
            long perState;
            try (PrefixCache probe = new PrefixCache(m, block, Long.MAX_VALUE, coarse)) {
                cacheChain(probe, m, prompt(128, 1), block);
                perState = probe.usedBytes();
            }
            try (PrefixCache cache = new PrefixCache(m, block, perState, coarse)) {
                int[] a = prompt(128, 1);
                int[] b = prompt(128, 2);
                cacheChain(cache, m, a, block);
                assertEquals(8, cache.entries());
                cacheChain(cache, m, b, block);
                // all of b's chain is kept (fine ones included), every one of a's entries went for it
                assertEquals(8, cache.entries());
                for (int end = block; end <= 128; end += block) {
                    int at = end;
                    PrefixCache.Hit hit = cache.lookup(b, end, n -> n == at);
                    assertNotNull(hit, "b's prefix of " + end + " tokens is cached");
                    assertEquals(end, hit.length());
                }
                assertNull(cache.lookup(a, 128, n -> true), "a's chain was evicted");
                assertTrue(cache.usedBytes() <= perState);
            }
        }
    }
}
