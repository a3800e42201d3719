package org.nemotron4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    @Test
    void roundTripInChunks() throws Exception {
        Path f = dir.resolve("out.safetensors");
        byte[] big = new byte[3 * 1024 * 1024 + 5]; // bigger than the writer's staging buffer
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i * 31 + 7);
        }
        float[] small = {1.5f, -2f, 3.25f, 0f, 1e-3f, 7f};
        List<TensorSpec> specs = List.of(
                new TensorSpec("big", DType.U8, new long[] {big.length}),
                new TensorSpec("empty", DType.F32, new long[] {0}),
                new TensorSpec("small", DType.F32, new long[] {2, 3}),
                new TensorSpec("scalar", DType.I32, new long[0]));
        try (SafetensorsWriter w = SafetensorsWriter.create(f, specs, Map.of("format", "pt"))) {
            assertEquals(big.length + 24 + 4, w.totalBytes());
            w.write("big", big, 0, 10);
            w.write("big", MemorySegment.ofArray(big).asSlice(10, 2 * 1024 * 1024));
            w.write("big", ByteBuffer.wrap(big, 10 + 2 * 1024 * 1024, big.length - 10 - 2 * 1024 * 1024));
            w.write("small", TensorData.f32("small", small, 2, 3).bytes().asSlice(0, 5));
            w.write("small", TensorData.f32("small", small, 2, 3).bytes().asSlice(5));
            w.write("scalar", ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, -42));
        }
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLength % 8, "header padded to a multiple of 8");
        assertEquals(8 + headerLength + big.length + 24 + 4, Files.size(f));
        assertEquals(Files.size(f), SafetensorsWriter.fileSize(specs, Map.of("format", "pt")));
        try (SafetensorsFile r = SafetensorsFile.open(f)) {
            assertEquals(Map.of("format", "pt"), r.metadata());
            assertArrayEquals(big, r.tensor("big").data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            assertArrayEquals(small, r.tensor("small").toFloatArray());
            assertArrayEquals(new long[] {2, 3}, r.tensor("small").shape());
            assertEquals(-42, r.tensor("scalar").toIntArray()[0]);
            assertEquals(0, r.tensor("scalar").rank());
            assertEquals(0, r.tensor("empty").byteSize());
        }
    }

    @Test
    void writeAllArrays() {
        Path f = dir.resolve("logits.safetensors");
        SafetensorsWriter.writeAll(f, Map.of(),
                TensorData.f32("logits", new float[] {1, 2, 3, 4, 5, 6}, 2, 3),
                TensorData.i32("ids", new int[] {7, 8}),
                TensorData.bf16("h", new float[] {1.0f, 0.1f}),
                TensorData.scalarF32("s", 0.5f));
        try (SafetensorsFile r = SafetensorsFile.open(f)) {
            assertTrue(r.metadata().isEmpty());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, r.tensor("logits").toFloatArray());
            assertArrayEquals(new int[] {7, 8}, r.tensor("ids").toIntArray());
            assertArrayEquals(new float[] {1.0f, BFloat16.toFloat(BFloat16.fromFloat(0.1f))}, r.tensor("h").toFloatArray());
            assertEquals(0.5f, r.tensor("s").scalar());
        }
    }

    @Test
    void singleTensorFiles() {
        Path f = dir.resolve("one.safetensors");
        SafetensorsWriter.writeF32(f, "logits", new long[] {2, 2}, new float[] {1, -1, 0.5f, 3});
        try (SafetensorsFile r = SafetensorsFile.open(f)) {
            assertArrayEquals(new long[] {2, 2}, r.tensor("logits").shape());
            assertArrayEquals(new float[] {1, -1, 0.5f, 3}, r.tensor("logits").toFloatArray());
        }
        SafetensorsWriter.writeI32(f, "ids", new long[] {3}, new int[] {5, 6, 7});
        try (SafetensorsFile r = SafetensorsFile.open(f)) {
            assertEquals(1, r.tensors().size());
            assertArrayEquals(new int[] {5, 6, 7}, r.tensor("ids").toIntArray());
        }
    }

    @Test
    void incompleteFileIsDeleted() {
        Path f = dir.resolve("partial.safetensors");
        NemotronException e = assertThrows(NemotronException.class, () -> {
            try (SafetensorsWriter w = SafetensorsWriter.create(f, List.of(
                    new TensorSpec("a", DType.F32, new long[] {4}), new TensorSpec("b", DType.F32, new long[] {4})),
                    null)) {
                w.write("a", new byte[16]);
                w.write("b", new byte[8]);
            }
        });
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("\"b\"")
                && e.getMessage().contains("8 of its 16"), e.getMessage());
        assertFalse(Files.exists(f));
    }

    @Test
    void misuse() {
        Path f = dir.resolve("misuse.safetensors");
        List<TensorSpec> specs = List.of(new TensorSpec("a", DType.F32, new long[] {1}),
                new TensorSpec("b", DType.F32, new long[] {1}));
        SafetensorsWriter w = SafetensorsWriter.create(f, specs, null);
        NemotronException order = assertThrows(NemotronException.class, () -> w.write("b", new byte[4]));
        assertTrue(order.getMessage().contains("\"a\"") && order.getMessage().contains("declaration order"));
        assertThrows(NemotronException.class, w::close);
        SafetensorsWriter w2 = SafetensorsWriter.create(f, specs, null);
        NemotronException tooMuch = assertThrows(NemotronException.class, () -> w2.write("a", new byte[5]));
        assertTrue(tooMuch.getMessage().contains("5 bytes"));
        assertThrows(NemotronException.class, w2::close);
        assertThrows(NemotronException.class, () -> SafetensorsWriter.create(f, List.of(specs.get(0), specs.get(0)), null));
        assertThrows(NemotronException.class, () -> new TensorSpec("__metadata__", DType.F32, new long[] {1}));
        assertThrows(NemotronException.class, () -> new TensorSpec("x", DType.F32, new long[] {-1}));
        assertThrows(NemotronException.class, () -> TensorData.f32("x", new float[3], 2, 2));
    }

    /**
     * Fuzzing finding: rewriting a file that a loaded checkpoint has mapped used to truncate it in place, and the
     * next read of the old mapping killed the JVM with SIGBUS. The writer now renames a finished temporary file
     * over the old one: the old mapping keeps its bytes.
     */
    @Test
    void rewritingAMappedFileLeavesTheMappingIntact() {
        Path f = dir.resolve("mapped.safetensors");
        float[] values = new float[64 * 1024]; // 256 KiB: many pages past the small file's end
        java.util.Arrays.fill(values, 3.5f);
        SafetensorsWriter.writeF32(f, "w", new long[] {values.length}, values);
        try (SafetensorsFile mapped = SafetensorsFile.open(f)) {
            TensorInfo w = mapped.tensor("w");
            SafetensorsWriter.writeF32(f, "w", new long[] {1}, new float[] {-1f});
            float[] again = w.toFloatArray(); // SIGBUS here had the file been truncated
            assertEquals(3.5f, again[again.length - 1]);
            try (SafetensorsFile fresh = SafetensorsFile.open(f)) {
                assertArrayEquals(new float[] {-1f}, fresh.tensor("w").toFloatArray());
            }
        }
        try (var listing = Files.list(dir)) {
            assertEquals(List.of(f), listing.toList(), "no temporary file is left behind");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A failed rewrite leaves the previous file as it was (it is never truncated first). */
    @Test
    void failedRewriteKeepsThePreviousFile() throws Exception {
        Path f = dir.resolve("keep.safetensors");
        SafetensorsWriter.writeF32(f, "w", new long[] {2}, new float[] {1f, 2f});
        byte[] before = Files.readAllBytes(f);
        assertThrows(NemotronException.class, () -> {
            try (SafetensorsWriter w = SafetensorsWriter.create(f, List.of(new TensorSpec("w", DType.F32,
                    new long[] {4})), null)) {
                w.write("w", new byte[4]);
            }
        });
        assertArrayEquals(before, Files.readAllBytes(f));
        try (var listing = Files.list(dir)) {
            assertEquals(1, listing.count(), "the temporary file is deleted");
        }
    }
}
