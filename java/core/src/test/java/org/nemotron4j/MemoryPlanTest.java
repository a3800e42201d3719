package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nemotron4j.checkpoint.Checkpoint;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryPlanTest {
    /** The GPU's prefill chunk fits the workspace into a quarter of the memory the weights leave free, halving. */
    @Test
    void theGpuPrefillChunkShrinksToAQuarterOfTheFreeMemory() {
        long row = 100_000;
        assertEquals(2048, NemotronModel.fitPrefillChunk(2048, 4 * 2048 * row, row));
        assertEquals(1024, NemotronModel.fitPrefillChunk(2048, 4 * 2048 * row - 1, row));
        assertEquals(512, NemotronModel.fitPrefillChunk(2048, 4 * 600 * row, row));
        assertEquals(256, NemotronModel.fitPrefillChunk(2048, 1000, row), "never below the CPU's chunk");
        assertEquals(100, NemotronModel.fitPrefillChunk(100, 1000, row), "nor above what was asked");
        // the 9B on an H100 (80 GB, 16.6 GiB of weights): the whole 2048 tokens
        ModelConfig c = ModelConfig.read(Fixtures.path("configs/nemotron-nano-9b-v2.json"));
        long perRow = Workspace.backendBytes(c, 1, 2);
        assertEquals(2048, NemotronModel.fitPrefillChunk(2048, 80_000_000_000L - 17_776_454_656L, perRow));
        // ... and on a 22 GiB card, 5.4 GiB left after the weights: 2048 rows take 0.8 GiB, within a quarter
        assertEquals(2048, NemotronModel.fitPrefillChunk(2048, (22L << 30) - 17_776_454_656L, perRow));
        // on an 18 GiB card (1.4 GiB left) the workspace shrinks to 512 rows (0.2 GiB; 1024 would take 0.4)
        assertEquals(512, NemotronModel.fitPrefillChunk(2048, (18L << 30) - 17_776_454_656L, perRow));
    }

    @Test
    void nanoNineBAt128kFitsIn22GiB() {
        ModelConfig c = ModelConfig.read(Fixtures.path("configs/nemotron-nano-9b-v2.json"));
        MemoryPlan p = MemoryPlan.of(c, 131072, 1, DType.BF16, DType.BF16);
        assertTrue(p.total() < 22L << 30, p.table());
        assertEquals(2L << 30, p.kvCache(), "4 layers x 8 KV heads x 128 x bf16 x K,V = 16 KiB per token: 2 GiB at 128k");
        assertTrue(p.weights() > 17_000_000_000L && p.weights() < 18_500_000_000L, p.table());
        MemoryPlan fp8 = MemoryPlan.of(c, 131072, 1, DType.F8_E4M3, DType.BF16);
        assertTrue(fp8.weights() < p.weights() * 0.7, fp8.table());
    }

    /**
     * The plan's figures match what the engine allocates (CPU: weights stay mapped, so compare the file), with the
     * CPU's default F32 KV cache and activations and with BF16 ones.
     */
    @ParameterizedTest
    @CsvSource({"F32, F32", "BF16, F32", "F32, BF16", "BF16, BF16"})
    void planMatchesRealAllocations(DType kv, DType act, @TempDir Path tmp) {
        String json = ModelPropertyTest.config("M*M-*", 32, 64, 4, 8, 8, 2, 8, 4, 2, 8, 40);
        Path dir = ModelPropertyTest.make(tmp.resolve("m"), json, 1, false);
        int context = 700;
        LoadOptions options = LoadOptions.exact().withPrefillChunk(64).withKvCacheDtype(kv).withActivationDtype(act);
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), options)) {
            assertEquals(kv, m.kvCacheDtype());
            assertEquals(act, m.activationDtype());
            MemoryPlan plan = MemoryPlan.of(m.config(), context, 2, DType.BF16, kv, act, 64);
            long workspace = m.allocatedBytes();
            assertEquals(plan.activations() + plan.logits(), workspace, "workspace");
            try (Session a = m.newSession(); Session b = m.newSession()) {
                a.prefill(new int[context]);
                b.prefill(new int[context]);
                long sessions = m.allocatedBytes() - workspace;
                double ratio = sessions / (double) (plan.kvCache() + plan.states());
                assertTrue(Math.abs(ratio - 1) <= 0.05, "sessions " + sessions + " vs plan " + (plan.kvCache() + plan.states()));
            }
            try (Checkpoint ckpt = Checkpoint.open(dir)) {
                long tensorBytes = ckpt.tensors().stream().mapToLong(t -> t.byteSize()).sum();
                assertEquals(plan.weights(), tensorBytes, "weights");
            }
        }
    }

    @Test
    void badArgumentsAreRejected() {
        ModelConfig c = ModelConfig.read(Fixtures.path("configs/bench-medium.json"));
        assertThrows(NemotronException.class, () -> MemoryPlan.of(c, c.maxPositionEmbeddings() + 1, 1, DType.BF16, DType.BF16));
        assertThrows(NemotronException.class, () -> MemoryPlan.of(c, 100, 0, DType.BF16, DType.BF16));
        assertThrows(NemotronException.class, () -> MemoryPlan.of(c, 100, 1, DType.I32, DType.BF16));
    }
}
