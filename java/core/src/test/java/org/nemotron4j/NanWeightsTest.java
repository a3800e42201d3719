package org.nemotron4j;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.checkpoint.SafetensorsFile;

/**
 * Fuzzing finding: NaN or infinite weights loaded without a word and made every logit NaN, after which greedy
 * generation emitted id 0 forever. Now {@link LoadOptions#withCheckTensors} (CLI {@code --check-tensors}) refuses
 * such a weight at load, naming it, and no path turns NaN logits into a token.
 */
class NanWeightsTest {
    static final String POISONED = "backbone.layers.0.mixer.in_proj.weight";

    @TempDir
    Path dir;

    /** A tiny random model whose {@code tensor} has {@code bits} (a BF16 or F32 pattern) at element {@code index}. */
    static Path poisoned(Path dir, String tensor, long index, int bits) throws Exception {
        ModelGenerator.generate(ModelConfig.read(Fixtures.path("nemotron-h-tiny/config.json")), dir, 3, false, null);
        Path file = dir.resolve("model.safetensors");
        long offset;
        int size;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            var t = f.tensor(tensor);
            size = t.dtype().byteSize();
            offset = t.data().address() - f.mapping().address() + index * size;
        }
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        if (size == 2) {
            b.putShort((short) bits);
        } else {
            b.putInt(bits);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) { // the test's own file, unmapped
            ch.write(b.flip(), offset);
        }
        return dir;
    }

    @Test
    void checkTensorsRefusesANaNWeightNamingIt() throws Exception {
        Path model = poisoned(dir, POISONED, 77, 0x7FC0); // BF16 quiet NaN
        NemotronException e = assertThrows(NemotronException.class,
                () -> NemotronModel.load(model, Device.cpu(), LoadOptions.exact().withCheckTensors(true)));
        assertTrue(e.getMessage().contains("\"" + POISONED + "\"") && e.getMessage().contains("element 77")
                && e.getMessage().contains("NaN") && e.getMessage().contains("model.safetensors"), e.getMessage());
        // without the check it loads (the check costs a pass over the weights, so it is asked for)
        assertDoesNotThrow(() -> NemotronModel.load(model, Device.cpu(), LoadOptions.exact()).close());
    }

    @Test
    void checkTensorsRefusesAnInfiniteWeight() throws Exception {
        Path model = poisoned(dir, "backbone.layers.1.mixer.k_proj.weight", 3, 0xFF80); // BF16 -infinity
        NemotronException e = assertThrows(NemotronException.class,
                () -> NemotronModel.load(model, Device.cpu(), LoadOptions.exact().withCheckTensors(true)
                        .withMemoryMap(false)));
        assertTrue(e.getMessage().contains("k_proj.weight") && e.getMessage().contains("-Infinity at element 3"),
                e.getMessage());
    }

    @Test
    void checkTensorsPassesAHealthyModel() {
        assertDoesNotThrow(() -> NemotronModel.load(Fixtures.path("nemotron-h-tiny"), Device.cpu(),
                LoadOptions.exact().withCheckTensors(true)).close());
        assertDoesNotThrow(() -> NemotronModel.load(Fixtures.path("nemotron-h-tiny-fp8"), Device.cpu(),
                LoadOptions.exact().withCheckTensors(true)).close());
    }

    @Test
    void nanLogitsNeverBecomeATokenId() throws Exception {
        Path model = poisoned(dir, POISONED, 0, 0x7FC0);
        try (NemotronModel m = NemotronModel.load(model, Device.cpu(), LoadOptions.exact()); Session s = m.newSession()) {
            NemotronException e = assertThrows(NemotronException.class, () -> s.generateGreedy(new int[] {5, 6}, 4));
            assertTrue(e.getMessage().contains("NaN logits"), e.getMessage());
            try (Session t = m.newSession(); Session u = m.newSession()) {
                t.prefill(5);
                e = assertThrows(NemotronException.class, () -> t.decodeGreedy(6));
                assertTrue(e.getMessage().contains("NaN logits"), e.getMessage());
                assertEquals(2, t.position(), "the token was fed; only no id came out");
                u.prefill(5);
                e = assertThrows(NemotronException.class, () -> m.decodeGreedy(List.of(u), new int[] {6}));
                assertTrue(e.getMessage().contains("NaN logits"), e.getMessage());
            }
        }
    }
}
