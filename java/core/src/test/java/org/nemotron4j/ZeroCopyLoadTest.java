package org.nemotron4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.checkpoint.ModelGenerator;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loading on the CPU maps the checkpoint instead of copying it: for a >= 1 GB model made by the generator
 * (bench-medium, 1.3 GB), resident memory after load stays far below the file size, and even after a forward
 * pass has touched every weight it stays below 2 x the file size (the mapped pages, once).
 */
class ZeroCopyLoadTest {
    @Test
    void loadingMapsInsteadOfCopying(@TempDir Path tmp) throws Exception {
        ModelConfig c = ModelConfig.read(Fixtures.path("configs/bench-medium.json"));
        Path dir = tmp.resolve("bench-medium");
        ModelGenerator.generate(c, dir, 1, false, null);
        long fileBytes = Files.size(dir.resolve("model.safetensors"));
        assertTrue(fileBytes >= 1_000_000_000L, "model file is " + fileBytes + " bytes");
        System.gc();
        long before = SessionLifecycleTest.rssBytes();
        try (NemotronModel m = NemotronModel.load(dir, Device.cpu(), LoadOptions.exact())) {
            long afterLoad = SessionLifecycleTest.rssBytes() - before;
            assertTrue(afterLoad < fileBytes / 4, "resident memory grew by " + afterLoad + " bytes on load of a "
                    + fileBytes + "-byte model");
            try (Session s = m.newSession()) {
                s.prefill(1, 2, 3, 4);
                s.decode(5);
            }
            long afterRun = SessionLifecycleTest.rssBytes() - before;
            assertTrue(afterRun < 2 * fileBytes, "resident memory grew by " + afterRun + " bytes after a forward pass");
        }
    }
}
