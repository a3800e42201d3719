package org.nemotron4j.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;

/**
 * A memory-mapped safetensors file. The format:
 * <pre>
 *   bytes [0, 8)        N, unsigned 64-bit little-endian: the header's length in bytes
 *   bytes [8, 8 + N)    header: a UTF-8 JSON object (writers pad it with trailing spaces)
 *                         { "__metadata__": { "key": "value", ... },                      optional, strings only
 *                           "name": { "dtype": "BF16", "shape": [310, 64], "data_offsets": [begin, end] }, ... }
 *   bytes [8 + N, end)  data: each tensor's row-major little-endian elements at [begin, end) relative to 8 + N
 * </pre>
 * The whole file is mapped read-only with {@link FileChannel#map(FileChannel.MapMode, long, long, Arena)}; every
 * {@link TensorInfo#data()} is a zero-copy slice of that mapping (or, with {@link Access#READ}, of a copy read into
 * native memory: a file that another process might truncate cannot then crash this one). The header is validated
 * completely before any tensor is exposed, as the format's reference implementation does: the header length
 * against the file, JSON syntax, every entry's dtype, shape and offsets ({@code end - begin == elements * dtype
 * size}), and the offsets together: sorted by begin, the tensors lie back to back from offset 0 and end exactly at
 * the end of the file ("the data section is a contiguous byte buffer": no hole, no overlap, no trailing byte). A
 * header length a few bytes off, which would shift every tensor, fails that check. Only regular files are opened
 * (a FIFO or a device would block or never end). Every error is a {@link NemotronException} naming the file and,
 * where there is one, the tensor.
 *
 * <p>Memory ownership: {@link #open(Path, Arena)} maps into the caller's arena; the mapping (and every tensor
 * slice) lives until the caller closes that arena, and {@link #close()} does not close it. {@link #open(Path)}
 * maps into a shared arena of its own, which {@link #close()} closes, unmapping the file: tensor slices are then
 * unusable (access fails with an {@link IllegalStateException}, it does not crash).
 */
public final class SafetensorsFile implements AutoCloseable {
    /** How the file's bytes reach memory. */
    public enum Access {
        /** memory-mapped, zero-copy (the default): the file must not be changed while it is open */
        MAP,
        /** read once into native memory of the arena: costs the file's size in RAM, immune to later changes */
        READ
    }

    /** Headers larger than this are rejected as corrupt (the reference implementation's limit, 100 MB). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final MemorySegment mapping;
    private final long dataStart;
    private final Map<String, String> metadata;
    private final Map<String, TensorInfo> tensors;
    private final Arena ownArena;
    private volatile boolean closed;

    private SafetensorsFile(Path path, MemorySegment mapping, long dataStart, Map<String, String> metadata,
            Map<String, TensorInfo> tensors, Arena ownArena) {
        this.path = path;
        this.mapping = mapping;
        this.dataStart = dataStart;
        this.metadata = metadata;
        this.tensors = tensors;
        this.ownArena = ownArena;
    }

    /** Maps and validates {@code file} in a shared arena of its own that {@link #close()} closes. */
    public static SafetensorsFile open(Path file) {
        Arena arena = Arena.ofShared();
        try {
            return open(file, arena, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Maps and validates {@code file} in {@code arena}, which owns the mapping: it stays valid until the caller
     * closes the arena, and {@link #close()} leaves the arena open.
     */
    public static SafetensorsFile open(Path file, Arena arena) {
        return open(file, arena, Access.MAP);
    }

    /** As {@link #open(Path, Arena)}, mapping the file or reading it into the arena as {@code access} says. */
    public static SafetensorsFile open(Path file, Arena arena, Access access) {
        return open(file, arena, null, access);
    }

    private static SafetensorsFile open(Path file, Arena arena, Arena ownArena) {
        return open(file, arena, ownArena, Access.MAP);
    }

    private static SafetensorsFile open(Path file, Arena arena, Arena ownArena, Access access) {
        MemorySegment mapping;
        RegularFiles.require(file, "safetensors file");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw new NemotronException(file + ": truncated safetensors file: " + size
                        + " bytes, shorter than the 8-byte header length");
            }
            mapping = access == Access.MAP ? channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena)
                    : readFully(file, channel, size, arena);
        } catch (NoSuchFileException e) {
            throw new NemotronException(file + ": safetensors file not found");
        } catch (IOException e) {
            throw new NemotronException(file + ": cannot " + (access == Access.MAP ? "map" : "read")
                    + " safetensors file: " + e.getMessage(), e);
        }
        long size = mapping.byteSize();
        long headerLength = mapping.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new NemotronException(file + ": header length " + Long.toUnsignedString(headerLength)
                    + " is absurd (more than " + MAX_HEADER_BYTES + " bytes): not a safetensors file or corrupt");
        }
        if (headerLength > size - 8) {
            throw new NemotronException(file + ": header length " + headerLength + " runs past the end of the file ("
                    + size + " bytes): truncated or not a safetensors file");
        }
        long dataStart = 8 + headerLength;
        long dataSize = size - dataStart;
        byte[] headerBytes = mapping.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header = parseHeader(file, headerBytes);

        Map<String, String> metadata = Map.of();
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>(); // {begin, end, index into names}
        List<String> names = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            JsonNode entry = field.getValue();
            if (name.equals("__metadata__")) {
                metadata = parseMetadata(file, entry);
                continue;
            }
            String where = file + ": tensor \"" + name + "\": ";
            if (!entry.isObject()) {
                throw new NemotronException(where + "header entry is not an object: " + abbreviate(entry));
            }
            JsonNode dtypeNode = entry.get("dtype");
            if (dtypeNode == null) {
                throw new NemotronException(where + "header entry has no \"dtype\"");
            }
            if (!dtypeNode.isTextual()) {
                throw new NemotronException(where + "\"dtype\" is not a string: " + dtypeNode);
            }
            DType dtype;
            try {
                dtype = DType.fromSafetensors(dtypeNode.textValue());
            } catch (NemotronException e) {
                throw new NemotronException(where + e.getMessage());
            }
            long[] shape = longArray(where, entry, "shape", -1);
            long[] offsets = longArray(where, entry, "data_offsets", 2);
            for (long d : shape) {
                if (d < 0) {
                    throw new NemotronException(where + "negative dimension in shape " + TensorInfo.formatShape(shape));
                }
            }
            for (long o : offsets) {
                if (o < 0) {
                    throw new NemotronException(where + "negative data_offsets " + TensorInfo.formatShape(offsets));
                }
            }
            long begin = offsets[0];
            long end = offsets[1];
            if (begin > end) {
                throw new NemotronException(where + "data_offsets [" + begin + ", " + end + "] begin after end");
            }
            long expected;
            try {
                expected = Math.multiplyExact(TensorInfo.elementCount(shape), (long) dtype.byteSize());
            } catch (ArithmeticException e) {
                throw new NemotronException(where + "shape " + TensorInfo.formatShape(shape) + " is too large");
            }
            if (end - begin != expected) {
                throw new NemotronException(where + "data_offsets [" + begin + ", " + end + "] hold " + (end - begin)
                        + " bytes but " + dtype.safetensorsName() + " " + TensorInfo.formatShape(shape) + " needs "
                        + expected);
            }
            if (end > dataSize) {
                throw new NemotronException(where + "data_offsets [" + begin + ", " + end + "] run past the end of the "
                        + dataSize + " data bytes after the header (file truncated?)");
            }
            MemorySegment data = mapping.asSlice(dataStart + begin, end - begin);
            tensors.put(name, new TensorInfo(name, dtype, shape, data, file));
            ranges.add(new long[] {begin, end, names.size()});
            names.add(name);
        }
        // the data section is the tensors back to back: sorted by begin, each starts where the one before ends
        ranges.sort(Comparator.comparingLong((long[] r) -> r[0]).thenComparingLong(r -> r[1]));
        long covered = 0;
        for (int i = 0; i < ranges.size(); i++) {
            long[] cur = ranges.get(i);
            String what = file + ": tensor \"" + names.get((int) cur[2]) + "\" data_offsets [" + cur[0] + ", "
                    + cur[1] + "]";
            if (cur[0] < covered) {
                long[] prev = ranges.get(i - 1);
                throw new NemotronException(what + " overlap tensor \"" + names.get((int) prev[2]) + "\" ["
                        + prev[0] + ", " + prev[1] + "]");
            }
            if (cur[0] > covered) {
                throw new NemotronException(what + " leave a hole of " + (cur[0] - covered) + " bytes at data offset "
                        + covered + (i == 0 ? "" : " after tensor \"" + names.get((int) ranges.get(i - 1)[2]) + "\"")
                        + ": safetensors data must be contiguous from offset 0 (corrupt or shifted header)");
            }
            covered = cur[1];
        }
        if (covered != dataSize) {
            throw new NemotronException(file + ": the tensors cover " + covered + " of the " + dataSize
                    + " data bytes after the " + headerLength + "-byte header: " + (dataSize - covered)
                    + " bytes belong to no tensor (a wrong header length shifts every tensor; safetensors data must"
                    + " end exactly at the end of the file)");
        }
        return new SafetensorsFile(file, mapping, dataStart,
                Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(tensors), ownArena);
    }

    /** The whole file read into a segment of {@code arena}; the file must still be {@code size} bytes long. */
    private static MemorySegment readFully(Path file, FileChannel channel, long size, Arena arena) throws IOException {
        MemorySegment data = arena.allocate(size, 64);
        long done = 0;
        while (done < size) {
            int n = channel.read(data.asSlice(done, Math.min(size - done, 1 << 30)).asByteBuffer(), done);
            if (n < 0) {
                throw new NemotronException(file + ": the file shrank from " + size + " to " + done
                        + " bytes while being read");
            }
            done += n;
        }
        return data;
    }

    private static JsonNode parseHeader(Path file, byte[] bytes) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new NemotronException(file + ": header is not valid UTF-8: not a safetensors file or corrupt");
        }
        JsonNode header;
        try {
            header = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new NemotronException(file + ": header is not valid JSON (" + e.getOriginalMessage()
                    + "): not a safetensors file or corrupt", e);
        }
        if (header == null || !header.isObject()) {
            throw new NemotronException(file + ": header is not a JSON object: not a safetensors file or corrupt");
        }
        return header;
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) {
        if (!node.isObject()) {
            throw new NemotronException(file + ": \"__metadata__\" is not an object of strings");
        }
        Map<String, String> map = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new NemotronException(file + ": \"__metadata__\" value of \"" + e.getKey() + "\" is not a string");
            }
            map.put(e.getKey(), e.getValue().textValue());
        }
        return map;
    }

    private static long[] longArray(String where, JsonNode entry, String key, int length) {
        JsonNode node = entry.get(key);
        if (node == null) {
            throw new NemotronException(where + "header entry has no \"" + key + "\"");
        }
        if (!node.isArray() || (length >= 0 && node.size() != length)) {
            throw new NemotronException(where + "\"" + key + "\" is not " + (length >= 0 ? "a list of " + length
                    + " integers" : "a list of integers") + ": " + abbreviate(node));
        }
        long[] values = new long[node.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                throw new NemotronException(where + "\"" + key + "\" holds a non-integer " + abbreviate(v));
            }
            values[i] = v.longValue();
        }
        return values;
    }

    private static String abbreviate(JsonNode node) {
        String s = node.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    /** The file this was read from. */
    public Path path() {
        return path;
    }

    /** The header's {@code __metadata__} (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor, in header order. */
    public Collection<TensorInfo> tensors() {
        checkOpen();
        return tensors.values();
    }

    /** Tensor names, in header order. */
    public Collection<String> names() {
        return tensors.keySet();
    }

    /** The named tensor, if the file has it. */
    public Optional<TensorInfo> find(String name) {
        checkOpen();
        return Optional.ofNullable(tensors.get(name));
    }

    /** The named tensor; {@link NemotronException} naming the tensor and the file when it is missing. */
    public TensorInfo tensor(String name) {
        return find(name).orElseThrow(() -> new NemotronException(path + ": no tensor \"" + name + "\" (the file has "
                + tensors.size() + " tensors)"));
    }

    /** The whole file's mapping (header included). */
    public MemorySegment mapping() {
        checkOpen();
        return mapping;
    }

    /** File offset of the data section ({@code 8 + header length}). */
    public long dataStart() {
        return dataStart;
    }

    /** File size in bytes. */
    public long fileSize() {
        return mapping.byteSize();
    }

    private void checkOpen() {
        if (closed) {
            throw new NemotronException(path + ": safetensors file is closed");
        }
    }

    /** Closes the arena this file created ({@link #open(Path)}); a caller-supplied arena is left open. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (ownArena != null) {
                ownArena.close();
            }
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
