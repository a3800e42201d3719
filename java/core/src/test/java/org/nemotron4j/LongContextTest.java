package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A 131072-token prompt through a small random model on the CPU: prefill in bounded chunks completes, the
 * engine's native memory is what the memory plan says, and the logits at sampled positions equal those of
 * step-by-step decode within 1e-4 relative. Beyond the context, a clear error and an unchanged session.
 */
class LongContextTest {
    static final int CONTEXT = 131072;

    @Test
    void prefill128kMatchesDecodeAndFollowsThePlan(@TempDir Path tmp) throws Exception {
        String json = ModelPropertyTest.config("M*-M", 16, 24, 2, 4, 4, 1, 64, 2, 1, 4, 16)
                .replace("\"max_position_embeddings\": 1024", "\"max_position_embeddings\": " + CONTEXT);
        Path dir = ModelPropertyTest.make(tmp.resolve("m"), json, 5, false);
        int[] ids = ModelPropertyTest.randomIds(CONTEXT, 24, 17);
        int[] sampled = {0, 1, 255, 256, 4097, 65535, 100_000, CONTEXT - 1};
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact())) {
            ModelConfig c = m.config();
            MemoryPlan plan = MemoryPlan.of(c, CONTEXT, 1, DType.BF16, DType.F32, m.prefillChunk());
            long rssBefore = SessionLifecycleTest.rssBytes();
            float[] all;
            try (Session s = m.newSession()) {
                all = s.prefillAll(ids);
                assertEquals(CONTEXT, s.position());
                assertEquals(plan.runtime(), m.allocatedBytes(), "native bytes at 128k vs the plan\n" + plan.table());
                long rssGrowth = SessionLifecycleTest.rssBytes() - rssBefore;
                long logitsArray = (long) all.length * Float.BYTES;
                assertTrue(rssGrowth < plan.runtime() + logitsArray + (256L << 20),
                        "resident memory grew by " + rssGrowth + " bytes; plan " + plan.runtime());
                var e = assertThrows(NemotronException.class, () -> s.decode(1));
                assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
                assertEquals(CONTEXT, s.position());
            }
            try (Session d = m.newSession()) {
                int next = 0;
                for (int t = 0; t < CONTEXT; t++) {
                    float[] logits = d.decode(ids[t]);
                    if (t == sampled[next]) {
                        float[] row = Fixtures.row(all, t, c.vocabSize());
                        double err = Fixtures.relError(logits, row);
                        assertTrue(err <= 1e-4, "position " + t + ": prefill vs decode rel error " + err);
                        next++;
                        if (next == sampled.length) {
                            break;
                        }
                    }
                }
                assertEquals(sampled.length, next);
            }
        }
    }
}
