package org.nemotron4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;

class SafetensorsFileTest {
    static final Path FIXTURES = Path.of(System.getProperty("n4j.fixtures", "../../../shared/fixtures"));

    @TempDir
    Path dir;

    /** A file with this header text and this many data bytes (counting 0, 1, 2, ...). */
    static Path craft(Path file, String header, int dataBytes) throws Exception {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        out.write(h);
        for (int i = 0; i < dataBytes; i++) {
            out.write(i);
        }
        Files.write(file, out.toByteArray());
        return file;
    }

    static void assertMessage(NemotronException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "message \"" + e.getMessage() + "\" lacks \"" + p + "\"");
        }
    }

    NemotronException bad(String header, int dataBytes, String... parts) throws Exception {
        Path f = craft(dir.resolve("bad.safetensors"), header, dataBytes);
        NemotronException e = assertThrows(NemotronException.class, () -> SafetensorsFile.open(f).close());
        assertMessage(e, f.toString());
        assertMessage(e, parts);
        return e;
    }

    @Test
    void fixtureModelsAndGoldens() {
        try (SafetensorsFile f = SafetensorsFile.open(FIXTURES.resolve("nemotron-h-tiny/model.safetensors"))) {
            assertEquals(Map.of("format", "pt"), f.metadata());
            TensorInfo in = f.tensor("backbone.layers.0.mixer.in_proj.weight");
            assertEquals(DType.BF16, in.dtype());
            assertArrayEquals(new long[] {310, 64}, in.shape());
            assertEquals(310 * 64 * 2, in.byteSize());
            assertEquals("backbone.layers.0.mixer.in_proj.weight BF16 [310, 64] " + f.path(), in.toString());
            long total = 0;
            for (TensorInfo t : f.tensors()) {
                total += t.byteSize();
            }
            assertEquals(f.fileSize() - f.dataStart(), total); // the fixture has no gaps
            assertTrue(f.find("nope").isEmpty());
            NemotronException e = assertThrows(NemotronException.class, () -> f.tensor("backbone.layers.9.norm.weight"));
            assertMessage(e, "backbone.layers.9.norm.weight", f.path().toString());
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(FIXTURES.resolve("nemotron-h-tiny-fp8/model.safetensors"), arena);
            TensorInfo w = f.tensor("backbone.layers.0.mixer.in_proj.weight");
            assertEquals(DType.F8_E4M3, w.dtype());
            TensorInfo scale = f.tensor("backbone.layers.0.mixer.in_proj.weight_scale");
            assertEquals(0, scale.rank());
            assertTrue(scale.scalar() > 0);
            f.close(); // the caller's arena still owns the mapping
            assertEquals(w.byteSize(), w.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE).length);
        }
        for (String model : new String[] {"nemotron-h-tiny", "nemotron-h-tiny-fp8"}) {
            try (SafetensorsFile g = SafetensorsFile.open(FIXTURES.resolve(model + "/golden.safetensors"))) {
                TensorInfo ids = g.tensor("prompt_ids");
                assertEquals(DType.I32, ids.dtype());
                assertEquals(70, ids.toIntArray().length);
                TensorInfo logits = g.tensor("prompt_logits");
                assertArrayEquals(new long[] {70, 320}, logits.shape());
                assertEquals(70 * 320, logits.toFloatArray().length);
                assertArrayEquals(new long[] {184, 4}, g.tensor("state.0.conv").shape());
            }
        }
    }

    @Test
    void closingOwnArenaUnmaps() {
        SafetensorsFile f = SafetensorsFile.open(FIXTURES.resolve("nemotron-h-tiny/model.safetensors"));
        TensorInfo t = f.tensor("backbone.norm_f.weight");
        f.close();
        assertThrows(IllegalStateException.class, t::toFloatArray);
        assertMessage(assertThrows(NemotronException.class, () -> f.tensor("backbone.norm_f.weight")), "closed");
    }

    @Test
    void goodCraftedFileWithEmptyTensorInAnyOrder() throws Exception {
        Path f = craft(dir.resolve("ok.safetensors"), """
                {"__metadata__": {"k": "v"},
                 "b": {"dtype": "U8", "shape": [], "data_offsets": [8, 9]},
                 "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [8, 8]},
                 "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}   \
                """, 9);
        try (SafetensorsFile s = SafetensorsFile.open(f)) {
            assertEquals(Map.of("k", "v"), s.metadata());
            assertEquals(3, s.tensors().size());
            assertEquals(0, s.tensor("e").elementCount());
            assertEquals(8, s.tensor("b").toIntArray()[0]);
        }
    }

    /** The format requires the data section to be the tensors back to back from offset 0: no hole anywhere. */
    @Test
    void holesAreRefused() throws Exception {
        bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"U8\", \"shape\": [], \"data_offsets\": [12, 13]}}", 13, "\"b\"", "hole of 4 bytes",
                "after tensor \"a\"");
        bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, "\"a\"",
                "hole of 4 bytes at data offset 0");
        bad("{\"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 8]},"
                + " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8, "\"e\"", "hole");
    }

    /** Data bytes that belong to no tensor (at the end) are refused: the header length or the file is wrong. */
    @Test
    void trailingBytesAreRefused() throws Exception {
        bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 9,
                "cover 8 of the 9 data bytes", "1 bytes belong to no tensor");
        bad("{}", 3, "cover 0 of the 3 data bytes");
    }

    /**
     * Fuzzing finding: a header length 1 to 4 bytes short still parsed (the writer's space padding absorbed the
     * cut) and every tensor was read shifted. The data section is then longer than the tensors cover: refused.
     */
    @Test
    void headerLengthAFewBytesShortIsRefused() throws Exception {
        Path good = dir.resolve("good.safetensors");
        SafetensorsWriter.writeAll(good, Map.of("format", "pt"), TensorData.f32("w", new float[] {1, 2, 3}, 3),
                TensorData.i32("ids", new int[] {7, 8}, 2));
        byte[] bytes = Files.readAllBytes(good);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        for (int shortBy = 1; shortBy <= 4; shortBy++) {
            byte[] cut = bytes.clone();
            ByteBuffer.wrap(cut).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n - shortBy);
            Path f = dir.resolve("short" + shortBy + ".safetensors");
            Files.write(f, cut);
            NemotronException e = assertThrows(NemotronException.class, () -> SafetensorsFile.open(f).close(),
                    "header length " + shortBy + " bytes short");
            assertMessage(e, f.toString());
        }
        for (int longBy = 1; longBy <= 4; longBy++) {
            byte[] cut = bytes.clone();
            ByteBuffer.wrap(cut).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n + longBy);
            Path f = dir.resolve("long" + longBy + ".safetensors");
            Files.write(f, cut);
            assertMessage(assertThrows(NemotronException.class, () -> SafetensorsFile.open(f).close()), f.toString());
        }
        try (SafetensorsFile s = SafetensorsFile.open(good)) {
            assertArrayEquals(new float[] {1, 2, 3}, s.tensor("w").toFloatArray());
        }
    }

    /** {@link SafetensorsFile.Access#READ} copies the file: truncating it afterwards cannot reach the reader. */
    @Test
    void readAccessIsImmuneToLaterChanges() throws Exception {
        Path f = dir.resolve("read.safetensors");
        float[] values = new float[50_000];
        java.util.Arrays.fill(values, 2.5f);
        SafetensorsWriter.writeF32(f, "w", new long[] {values.length}, values);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile s = SafetensorsFile.open(f, arena, SafetensorsFile.Access.READ);
            try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(16); // in place: a mapping of this file would now fault
            }
            assertArrayEquals(values, s.tensor("w").toFloatArray());
        }
    }

    /** Fuzzing finding: a FIFO named model.safetensors blocked the loader forever; it is refused at once. */
    @Test
    void fifoIsRefused() throws Exception {
        Path fifo = RegularFilesTest.mkfifo(dir.resolve("model.safetensors"));
        NemotronException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10),
                () -> assertThrows(NemotronException.class, () -> SafetensorsFile.open(fifo)));
        assertMessage(e, fifo.toString(), "not a regular file", "FIFO");
    }

    @Test
    void tooShort() throws Exception {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        assertMessage(assertThrows(NemotronException.class, () -> SafetensorsFile.open(f)), f.toString(), "truncated",
                "3 bytes");
        Path empty = dir.resolve("empty.safetensors");
        Files.write(empty, new byte[0]);
        assertMessage(assertThrows(NemotronException.class, () -> SafetensorsFile.open(empty)), empty.toString());
    }

    @Test
    void headerLengthBeyondFile() throws Exception {
        Path f = dir.resolve("long.safetensors");
        byte[] b = new byte[64];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(f, b);
        assertMessage(assertThrows(NemotronException.class, () -> SafetensorsFile.open(f)), f.toString(),
                "header length 1000", "past the end");
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(-5);
        Files.write(f, b);
        assertMessage(assertThrows(NemotronException.class, () -> SafetensorsFile.open(f)), f.toString(), "absurd");
    }

    @Test
    void headerNotJson() throws Exception {
        bad("{\"a\": {\"dtype\": \"F32\", ", 0, "not valid JSON");
        bad("[1, 2, 3]", 0, "not a JSON object");
        bad("{\"a\": 1} trailing", 0, "not valid JSON");
        bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "not valid JSON");
        bad("{\"__metadata__\": {\"k\": 1}}", 0, "__metadata__");
    }

    @Test
    void missingFields() throws Exception {
        bad("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "\"w\"", "dtype");
        bad("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "\"w\"", "shape");
        bad("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "\"w\"", "data_offsets");
        bad("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "\"w\"", "data_offsets");
        bad("{\"w\": [1]}", 4, "\"w\"", "not an object");
    }

    @Test
    void unknownDtype() throws Exception {
        bad("{\"w\": {\"dtype\": \"Q4_0\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "\"w\"", "Q4_0");
    }

    @Test
    void negativeDimension() throws Exception {
        bad("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1, 2], \"data_offsets\": [0, 4]}}", 8, "\"w\"", "negative");
    }

    @Test
    void offsetsOutOfRange() throws Exception {
        bad("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 16, "\"w\"", "past the end");
        bad("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 16, "\"w\"", "begin after end");
        bad("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 16, "\"w\"", "negative");
    }

    @Test
    void dataCutShort() throws Exception {
        // header fine, but the file ends 6 bytes into the second tensor
        bad("{\"a\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [8, 16]}}", 14, "\"b\"", "truncated");
    }

    @Test
    void sizeDisagreesWithShape() throws Exception {
        bad("{\"w\": {\"dtype\": \"BF16\", \"shape\": [3, 2], \"data_offsets\": [0, 8]}}", 16, "\"w\"", "hold 8 bytes",
                "needs 12");
    }

    @Test
    void overlapping() throws Exception {
        bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "overlap");
        bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, "\"a\"", "\"b\"",
                "overlap");
    }

    @Test
    void missingFile() {
        Path f = dir.resolve("absent.safetensors");
        assertMessage(assertThrows(NemotronException.class, () -> SafetensorsFile.open(f)), f.toString(), "not found");
    }
}
