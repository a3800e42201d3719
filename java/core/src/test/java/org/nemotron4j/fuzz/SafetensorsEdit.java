package org.nemotron4j.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file taken apart for editing, independently of the library's reader: the 8-byte length, the header
 * as a JSON tree (order kept) and the data section. {@link #write} lays out a consistent file again (header padded
 * with spaces to a multiple of 8, as the reference writer does), so that only the edited field is wrong.
 */
final class SafetensorsEdit {
    final ObjectNode header;
    byte[] data;
    final long headerLength;

    private SafetensorsEdit(ObjectNode header, byte[] data, long headerLength) {
        this.header = header;
        this.data = data;
        this.headerLength = headerLength;
    }

    static SafetensorsEdit read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String json = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        ObjectNode header = (ObjectNode) Json.MAPPER.readTree(json);
        byte[] data = new byte[all.length - 8 - (int) n];
        System.arraycopy(all, 8 + (int) n, data, 0, data.length);
        return new SafetensorsEdit(header, data, n);
    }

    /** Tensor names in header order (no __metadata__). */
    List<String> names() {
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = header.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!name.equals("__metadata__")) {
                names.add(name);
            }
        }
        return names;
    }

    ObjectNode entry(String name) {
        return (ObjectNode) header.get(name);
    }

    long begin(String name) {
        return entry(name).get("data_offsets").get(0).asLong();
    }

    long end(String name) {
        return entry(name).get("data_offsets").get(1).asLong();
    }

    String dtype(String name) {
        return entry(name).get("dtype").asText();
    }

    static int dtypeSize(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            default -> 1;
        };
    }

    void setOffsets(String name, long begin, long end) {
        ArrayNode offsets = entry(name).putArray("data_offsets");
        offsets.add(begin);
        offsets.add(end);
    }

    /** Header bytes exactly as {@link #write} lays them out (padded to a multiple of 8). */
    byte[] headerBytes() throws IOException {
        byte[] json = Json.MAPPER.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        java.util.Arrays.fill(out, (byte) ' ');
        System.arraycopy(json, 0, out, 0, json.length);
        return out;
    }

    void write(Path file) throws IOException {
        write(file, headerBytes(), data);
    }

    static void write(Path file, byte[] headerBytes, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + headerBytes.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerBytes.length).put(headerBytes).put(data);
        Files.write(file, b.array());
    }

    /** The file without tensor {@code name}, data repacked so that the rest stays consistent. */
    void remove(String name) {
        long begin = begin(name);
        long end = end(name);
        header.remove(name);
        byte[] repacked = new byte[data.length - (int) (end - begin)];
        System.arraycopy(data, 0, repacked, 0, (int) begin);
        System.arraycopy(data, (int) end, repacked, (int) begin, data.length - (int) end);
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            if (!e.getKey().equals("__metadata__") && begin(e.getKey()) >= end) {
                setOffsets(e.getKey(), begin(e.getKey()) - (end - begin), end(e.getKey()) - (end - begin));
            }
        }
        data = repacked;
    }

    /** Appends a tensor {@code name} of {@code bytes} (dtype, shape given) at the end of the data. */
    void append(String name, String dtype, long[] shape, byte[] bytes) {
        byte[] old = data;
        byte[] grown = java.util.Arrays.copyOf(old, old.length + bytes.length);
        System.arraycopy(bytes, 0, grown, old.length, bytes.length);
        ObjectNode e = header.putObject(name);
        e.put("dtype", dtype);
        ArrayNode s = e.putArray("shape");
        for (long d : shape) {
            s.add(d);
        }
        ArrayNode o = e.putArray("data_offsets");
        o.add(old.length);
        o.add(grown.length);
        data = grown;
    }
}
