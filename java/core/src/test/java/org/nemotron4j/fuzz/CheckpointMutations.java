package org.nemotron4j.fuzz;

import static org.nemotron4j.fuzz.Mutation.Expect.ANY;
import static org.nemotron4j.fuzz.Mutation.Expect.CHANGE;
import static org.nemotron4j.fuzz.Mutation.Expect.REFUSE;
import static org.nemotron4j.fuzz.Mutation.Expect.SAME;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.nemotron4j.fuzz.Mutation.Applied;
import org.nemotron4j.fuzz.Mutation.Applier;
import org.nemotron4j.fuzz.Mutation.Expect;

/**
 * The checkpoint mutations: safetensors header bytes, header length, offsets, dtypes, shapes, truncation, appended
 * and inserted bytes, NaN/Inf and sign-flipped weights, swapped and removed tensors, config.json fields and text,
 * quantization_config, the shard index, and files that are not regular files. Each kind says what acceptance must
 * look like ({@link Expect}).
 */
final class CheckpointMutations {
    /** config.json fields that fix tensor shapes or the set of tensors: another integer there must be refused. */
    static final Set<String> SHAPE_FIELDS = Set.of("hidden_size", "vocab_size", "num_attention_heads",
            "num_key_value_heads", "head_dim", "intermediate_size", "mamba_num_heads", "mamba_head_dim",
            "ssm_state_size", "n_groups", "conv_kernel", "num_hidden_layers");

    private CheckpointMutations() {
    }

    /** {@code perKind} scales the counts (1 gives the campaign's standard 400-odd mutations). */
    static List<Mutation> all(Random master, List<String> bases, String fp8Base, String shardedBase, int firstId) {
        List<Mutation> out = new ArrayList<>();
        int[] id = {firstId};
        class Add {
            void add(String base, String kind, String flags, int count, Applier a) {
                for (int i = 0; i < count; i++) {
                    out.add(new Mutation(id[0]++, Mutation.Target.CHECKPOINT, base, kind, flags, master.nextLong(), a));
                }
            }

            void each(String kind, int count, Applier a) {
                for (String base : bases) {
                    add(base, kind, "map,nocheck", count, a);
                }
            }
        }
        Add m = new Add();
        // header length ±1..8: every tensor read shifted, or the header cut short
        for (String base : bases) {
            for (int d = -8; d <= 8; d++) {
                if (d != 0) {
                    int delta = d;
                    m.add(base, "header-length", "map,nocheck", 1, (b, w, r) -> headerLength(b, w, r, delta));
                }
            }
        }
        m.each("header-byte", 15, CheckpointMutations::headerByte);
        m.each("offsets", 10, CheckpointMutations::offsets);
        m.each("offsets-swap", 4, CheckpointMutations::swapOffsets);
        m.each("dtype", 10, CheckpointMutations::dtype);
        m.each("shape", 10, CheckpointMutations::shape);
        m.each("truncate", 8, CheckpointMutations::truncate);
        m.each("truncate-nomap", 2, CheckpointMutations::truncate);
        m.each("append", 6, CheckpointMutations::append);
        m.each("insert", 3, CheckpointMutations::insert);
        m.each("sign-flip", 5, CheckpointMutations::signFlip);
        for (String base : bases) {
            m.add(base, "nan-inf", "map,nocheck", 5, CheckpointMutations::nanInf);
            m.add(base, "nan-inf-checked", "nomap,check", 5, CheckpointMutations::nanInf);
        }
        m.each("tensor-remove", 2, CheckpointMutations::removeTensor);
        m.each("tensor-extra", 2, CheckpointMutations::extraTensor);
        m.each("tensor-rename", 2, CheckpointMutations::renameTensor);
        m.each("config-field", 20, CheckpointMutations::configField);
        m.each("config-text", 4, CheckpointMutations::configText);
        m.add(fp8Base, "quantization-config", "map,nocheck", 20, CheckpointMutations::quantization);
        m.add(fp8Base, "fp8-scales", "map,nocheck", 8, CheckpointMutations::fp8Scales);
        m.add(shardedBase, "shard-index", "map,nocheck", 15, CheckpointMutations::shardIndex);
        m.each("special-file", 2, CheckpointMutations::specialFile);
        return out;
    }

    // ---- helpers

    static void copyDir(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.sorted().toList()) {
                if (Files.isRegularFile(f) && !f.getFileName().toString().equals("golden.safetensors")) {
                    Files.copy(f, to.resolve(f.getFileName()));
                    to.resolve(f.getFileName()).toFile().setWritable(true);
                }
            }
        }
    }

    static List<Path> shards(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().matches("model.*\\.safetensors")).sorted().toList();
        }
    }

    static <T> T pick(Random r, List<T> list) {
        return list.get(r.nextInt(list.size()));
    }

    static Path ckpt(Path base, Path work) throws IOException {
        Path dir = work.resolve("ckpt");
        copyDir(base, dir);
        return dir;
    }

    static Applied done(Path dir, String detail, Expect expect) {
        return new Applied(dir, detail, expect);
    }

    /** A tensor whose every element reaches the logits (not input_scale, which a dequantizing backend may skip). */
    static boolean forwardTensor(String name) {
        return !name.endsWith("input_scale");
    }

    // ---- safetensors mutations

    static Applied headerLength(Path base, Path work, Random r, int delta) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        long n = b.getLong(0);
        b.putLong(0, n + delta);
        Files.write(file, all);
        return done(dir, file.getFileName() + ": header length " + n + " -> " + (n + delta), REFUSE);
    }

    static Applied headerByte(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int at = 8 + r.nextInt((int) n);
        byte old = all[at];
        byte now = switch (r.nextInt(4)) {
            case 0 -> (byte) (old ^ (1 << r.nextInt(8)));
            case 1 -> (byte) "0123456789".charAt(r.nextInt(10));
            case 2 -> (byte) "{}[],:\" ".charAt(r.nextInt(8));
            default -> (byte) r.nextInt(256);
        };
        if (now == old) {
            now = (byte) (old ^ 1);
        }
        all[at] = now;
        Files.write(file, all);
        // whatever the byte hits, an accepted file must mean what the original means
        return done(dir, file.getFileName() + ": header byte " + (at - 8) + " '" + printable(old) + "' -> '"
                + printable(now) + "'", SAME);
    }

    static String printable(byte c) {
        return c >= 32 && c < 127 ? String.valueOf((char) c) : String.format("\\x%02x", c & 0xff);
    }

    static Applied offsets(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String t = pick(r, st.names());
        long b0 = st.begin(t);
        long e0 = st.end(t);
        long b1 = b0;
        long e1 = e0;
        int k = 1 + r.nextInt(8);
        switch (r.nextInt(6)) {
            case 0 -> { b1 += k; e1 += k; }
            case 1 -> { b1 -= Math.min(k, b0); e1 -= Math.min(k, b0); if (b0 == 0) { b1 += k; e1 += k; } }
            case 2 -> e1 += k;
            case 3 -> b1 = b0 + k <= e0 ? b0 + k : b0 + 1;
            case 4 -> { b1 = 0; e1 = e0 - b0; if (b0 == 0) { b1 = 2; e1 = e0 + 2; } }
            default -> { b1 = b0 + st.data.length; e1 = e0 + st.data.length; }
        }
        st.setOffsets(t, b1, e1);
        st.write(file);
        return done(dir, file.getFileName() + ": \"" + t + "\" data_offsets [" + b0 + "," + e0 + "] -> [" + b1 + ","
                + e1 + "]", REFUSE);
    }

    static Applied swapOffsets(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        List<String> names = st.names();
        for (int attempt = 0; attempt < 1000; attempt++) {
            String a = pick(r, names);
            String c = pick(r, names);
            if (a.equals(c) || st.end(a) - st.begin(a) != st.end(c) - st.begin(c) || !st.dtype(a).equals(st.dtype(c))
                    || !st.entry(a).get("shape").equals(st.entry(c).get("shape"))) {
                continue;
            }
            boolean same = Arrays.equals(st.data, (int) st.begin(a), (int) st.end(a), st.data, (int) st.begin(c),
                    (int) st.end(c));
            long ab = st.begin(a);
            long ae = st.end(a);
            st.setOffsets(a, st.begin(c), st.end(c));
            st.setOffsets(c, ab, ae);
            st.write(file);
            // a consistent file whose two tensors trade contents: it must load, and compute with the swapped values
            Expect expect = same ? SAME : forwardTensor(a) && forwardTensor(c) ? CHANGE : ANY;
            return done(dir, file.getFileName() + ": data_offsets of \"" + a + "\" and \"" + c + "\" swapped"
                    + (same ? " (equal bytes)" : ""), expect);
        }
        return done(dir, "no two tensors of one shape: unmutated", SAME);
    }

    static final List<String> DTYPES = List.of("F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "BOOL",
            "F8_E4M3", "F8_E5M2", "bf16", "", "BF16 ", "F4", "U64");

    static Applied dtype(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String t = pick(r, st.names());
        String old = st.dtype(t);
        String now;
        do {
            now = pick(r, DTYPES);
        } while (now.equals(old));
        st.entry(t).put("dtype", now);
        st.write(file);
        // the same element size with another meaning (BF16 <-> F16, F8 <-> I8) may load and compute other values
        boolean sameSize = SafetensorsEdit.dtypeSize(now) == SafetensorsEdit.dtypeSize(old)
                && Set.of("F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "BOOL", "F8_E4M3", "F8_E5M2",
                "U64").contains(now);
        return done(dir, file.getFileName() + ": \"" + t + "\" dtype " + old + " -> \"" + now + "\"",
                sameSize ? ANY : REFUSE);
    }

    static Applied shape(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String t = pick(r, st.names());
        JsonNode old = st.entry(t).get("shape").deepCopy();
        List<Long> dims = new ArrayList<>();
        old.forEach(d -> dims.add(d.asLong()));
        switch (r.nextInt(7)) {
            case 0 -> { if (!dims.isEmpty()) { int i = r.nextInt(dims.size()); dims.set(i, dims.get(i) + 1); } else { dims.add(2L); } }
            case 1 -> { if (!dims.isEmpty()) { int i = r.nextInt(dims.size()); dims.set(i, dims.get(i) * 2); } else { dims.add(0L); } }
            case 2 -> { if (dims.size() >= 2) { long a = dims.get(0); dims.set(0, dims.get(1)); dims.set(1, a); } if (dims.size() < 2 || dims.get(0).equals(dims.get(1))) { dims.add(1L); } }
            case 3 -> dims.add(r.nextBoolean() ? 0 : dims.size(), 1L);
            case 4 -> { if (dims.size() >= 2) { long last = dims.remove(dims.size() - 1); dims.set(0, dims.get(0) * last); } else { dims.add(1L); } }
            case 5 -> { if (!dims.isEmpty()) { dims.set(r.nextInt(dims.size()), 0L); } else { dims.add(0L); } }
            default -> { if (!dims.isEmpty()) { dims.remove(r.nextInt(dims.size())); } dims.add(1L << 40); }
        }
        ArrayNode shape = st.entry(t).putArray("shape");
        dims.forEach(shape::add);
        st.write(file);
        // another shape: the element count no longer matches the offsets, or the model's layout is not this one;
        // except a one-element tensor (a per-tensor FP8 scale) written as a scalar [] or as [1], which means the same
        long before = 1;
        long after = 1;
        for (JsonNode d : old) {
            before *= d.asLong();
        }
        for (JsonNode d : shape) {
            after *= d.asLong();
        }
        Expect expect = shape.equals(old) || (before == 1 && after == 1) ? SAME : REFUSE;
        return done(dir, file.getFileName() + ": \"" + t + "\" shape " + old + " -> " + shape, expect);
    }

    static Applied truncate(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        byte[] all = Files.readAllBytes(file);
        int len = switch (r.nextInt(5)) {
            case 0 -> all.length - 1 - r.nextInt(8);
            case 1 -> r.nextInt(8);
            case 2 -> 8 + r.nextInt((int) ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
            case 3 -> all.length / 2;
            default -> r.nextInt(all.length);
        };
        Files.write(file, Arrays.copyOf(all, len));
        return done(dir, file.getFileName() + ": truncated " + all.length + " -> " + len + " bytes", REFUSE);
    }

    static Applied append(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        byte[] all = Files.readAllBytes(file);
        int n = r.nextBoolean() ? 1 + r.nextInt(8) : 1 + r.nextInt(4096);
        byte[] extra = new byte[n];
        if (r.nextBoolean()) {
            r.nextBytes(extra);
        }
        byte[] out = Arrays.copyOf(all, all.length + n);
        System.arraycopy(extra, 0, out, all.length, n);
        Files.write(file, out);
        return done(dir, file.getFileName() + ": " + n + " bytes appended", REFUSE);
    }

    static Applied insert(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int at = (int) (8 + n + r.nextInt((int) (all.length - 8 - n)));
        int k = 1 + r.nextInt(16);
        byte[] out = new byte[all.length + k];
        System.arraycopy(all, 0, out, 0, at);
        System.arraycopy(all, at, out, at + k, all.length - at);
        Files.write(file, out);
        return done(dir, file.getFileName() + ": " + k + " bytes inserted in the data at " + at
                + " (every later tensor shifted)", REFUSE);
    }

    static Applied signFlip(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String t;
        do {
            t = pick(r, st.names());
        } while (!forwardTensor(t));
        int size = SafetensorsEdit.dtypeSize(st.dtype(t));
        boolean changed = false;
        for (long i = st.begin(t) + size - 1; i < st.end(t); i += size) {
            byte[] d = st.data;
            boolean zero = true;
            for (int j = 0; j < size - 1; j++) {
                zero &= d[(int) i - j - 1] == 0;
            }
            changed |= !(zero && (d[(int) i] & 0x7f) == 0);
            d[(int) i] ^= (byte) 0x80;
        }
        st.write(file);
        return done(dir, file.getFileName() + ": every element of \"" + t + "\" negated", changed ? CHANGE : SAME);
    }

    static Applied nanInf(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String t = pick(r, st.names());
        String dtype = st.dtype(t);
        int size = SafetensorsEdit.dtypeSize(dtype);
        long elements = (st.end(t) - st.begin(t)) / size;
        long index = (long) (r.nextDouble() * elements);
        String what = pick(r, List.of("NaN", "+Inf", "-Inf"));
        int at = (int) (st.begin(t) + index * size);
        ByteBuffer b = ByteBuffer.wrap(st.data).order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case "BF16" -> b.putShort(at, (short) (what.equals("NaN") ? 0x7FC0 : what.equals("+Inf") ? 0x7F80 : 0xFF80));
            case "F16" -> b.putShort(at, (short) (what.equals("NaN") ? 0x7E00 : what.equals("+Inf") ? 0x7C00 : 0xFC00));
            case "F32" -> b.putInt(at, what.equals("NaN") ? 0x7FC00000 : what.equals("+Inf") ? 0x7F800000 : 0xFF800000);
            case "F8_E4M3" -> { b.put(at, (byte) (what.equals("-Inf") ? 0xFF : 0x7F)); what = "NaN (e4m3 has no Inf)"; }
            default -> what = "unchanged (" + dtype + ")";
        }
        st.write(file);
        // unchecked: any outcome but a token taken from non-finite logits (the parent checks that); checked: refused
        return done(dir, file.getFileName() + ": \"" + t + "\" element " + index + " = " + what,
                what.startsWith("unchanged") ? SAME : ANY);
    }

    static Applied removeTensor(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String t = pick(r, st.names());
        st.remove(t);
        st.write(file);
        // every tensor is required except an FP8 weight's input_scale, which the layout makes optional (the static
        // activation scale of ModelOpt checkpoints; 0 when absent, ignored by weight-only kernels: NemotronHLayout)
        return done(dir, file.getFileName() + ": \"" + t + "\" removed (file consistent)",
                t.endsWith(".input_scale") ? ANY : REFUSE);
    }

    static Applied extraTensor(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String name = pick(r, List.of("backbone.layers.0.mixer.extra.weight", "unused.tensor",
                "backbone.layers.99.mixer.in_proj.weight", "model.embed_tokens.weight"));
        byte[] bytes = new byte[64];
        r.nextBytes(bytes);
        st.append(name, "BF16", new long[] {4, 8}, bytes);
        st.write(file);
        return done(dir, file.getFileName() + ": extra tensor \"" + name + "\" appended (file consistent)", SAME);
    }

    static Applied renameTensor(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        String t = pick(r, st.names());
        String renamed = t.replace("layers.", "layers.1") + (r.nextBoolean() ? "" : "_x");
        ObjectNode rebuilt = JsonNodeFactory.instance.objectNode();
        st.header.properties().forEach(e -> rebuilt.set(e.getKey().equals(t) ? renamed : e.getKey(), e.getValue()));
        st.header.removeAll();
        st.header.setAll(rebuilt);
        st.write(file);
        return done(dir, file.getFileName() + ": \"" + t + "\" renamed \"" + renamed + "\"", REFUSE);
    }

    // ---- config.json

    static Applied configField(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = dir.resolve("config.json");
        ObjectNode config = (ObjectNode) Json.MAPPER.readTree(Files.readString(file));
        List<String> fields = new ArrayList<>();
        config.fieldNames().forEachRemaining(fields::add);
        String f = pick(r, fields);
        JsonNode old = config.get(f);
        JsonNodeFactory n = JsonNodeFactory.instance;
        JsonNode now;
        String change;
        int choice = r.nextInt(16);
        if (f.equals("hybrid_override_pattern") && choice < 8) {
            String p = old.asText();
            char[] c = p.toCharArray();
            String mutated = switch (choice % 4) {
                case 0 -> { int i = r.nextInt(c.length); c[i] = "M*-E?m".charAt(r.nextInt(6)); yield new String(c); }
                case 1 -> p.substring(0, p.length() - 1);
                case 2 -> p + "M";
                default -> p.toLowerCase();
            };
            now = n.textNode(mutated);
        } else {
            now = switch (choice) {
                case 0 -> n.numberNode(0);
                case 1 -> n.numberNode(-1);
                case 2 -> n.numberNode(old.isNumber() ? old.asLong() + 1 : 1);
                case 3 -> n.numberNode(old.isNumber() ? old.asLong() * 2 : 2);
                case 4 -> n.numberNode(Integer.MAX_VALUE);
                case 5 -> n.numberNode(Long.MAX_VALUE);
                case 6 -> n.numberNode(new java.math.BigInteger("123456789012345678901234567890"));
                case 7 -> n.numberNode(old.isNumber() ? old.asDouble() + 0.5 : 1.5);
                case 8 -> n.textNode(old.asText() + "x");
                case 9 -> n.nullNode();
                case 10 -> n.booleanNode(true);
                case 11 -> n.arrayNode().add(old.deepCopy());
                case 12 -> n.objectNode().set("v", old.deepCopy());
                case 13 -> n.numberNode(Double.NaN);
                case 14 -> n.numberNode(Double.POSITIVE_INFINITY);
                default -> null; // removed
            };
        }
        if (now == null) {
            config.remove(f);
            change = "removed";
        } else {
            config.set(f, now);
            change = old + " -> " + now;
        }
        Files.writeString(file, Json.MAPPER.writeValueAsString(config));
        Expect expect = ANY;
        if (SHAPE_FIELDS.contains(f) && now != null && now.isIntegralNumber() && !now.equals(old)) {
            expect = REFUSE;
        }
        if (f.equals("hybrid_override_pattern") && now != null && now.isTextual()
                && !now.asText().equalsIgnoreCase(old.asText()) && !now.asText().isEmpty()) {
            expect = REFUSE;
        }
        return done(dir, "config.json \"" + f + "\": " + abbreviate(change), expect);
    }

    static String abbreviate(String s) {
        return s.length() > 120 ? s.substring(0, 120) + "..." : s;
    }

    static Applied configText(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = dir.resolve("config.json");
        String text = Files.readString(file);
        String what;
        Expect expect = REFUSE;
        switch (r.nextInt(9)) {
            case 0 -> { int at = r.nextInt(text.length()); text = text.substring(0, at); what = "truncated at " + at; }
            case 1 -> { text = text + "}garbage"; what = "trailing garbage"; }
            case 2 -> { text = "[".repeat(200_000) + "]".repeat(200_000); what = "200000 nested arrays"; }
            case 3 -> { text = "{\"a\":".repeat(100_000) + "1" + "}".repeat(100_000); what = "100000 nested objects"; }
            case 4 -> { text = text.replaceFirst("\"hidden_size\"", "\"hidden_size\": 64, \"hidden_size\""); what = "duplicate key hidden_size"; }
            case 5 -> { text = "\uFEFF" + text; what = "UTF-8 BOM first"; expect = ANY; }
            case 6 -> { text = text.replace("\"nemotron_h\"", "\"nemotron_h\u0000\""); what = "NUL in model_type"; expect = ANY; }
            case 7 -> {
                Files.write(file, concat(text.getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xC3, 0x28}));
                return done(dir, "config.json: invalid UTF-8 appended", REFUSE);
            }
            default -> { text = text + " ".repeat(40_000_000); what = "40 MB of trailing spaces"; expect = ANY; }
        }
        Files.writeString(file, text);
        return done(dir, "config.json: " + what, expect);
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static Applied quantization(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = dir.resolve("config.json");
        ObjectNode config = (ObjectNode) Json.MAPPER.readTree(Files.readString(file));
        ObjectNode q = (ObjectNode) config.get("quantization_config");
        JsonNodeFactory n = JsonNodeFactory.instance;
        String what;
        switch (r.nextInt(12)) {
            case 0 -> { config.remove("quantization_config"); what = "removed"; }
            case 1 -> { q.put("quant_algo", pick(r, List.of("NVFP4", "INT8", "fp8", "FP8_BLOCK", "W4A16_AWQ"))); what = "quant_algo " + q.get("quant_algo"); }
            case 2 -> { q.put("quant_method", pick(r, List.of("gptq", "awq", "", "bitsandbytes"))); what = "quant_method " + q.get("quant_method"); }
            case 3 -> { q.putArray("exclude_modules"); what = "exclude_modules []"; }
            case 4 -> { q.putArray("exclude_modules").add("*"); what = "exclude_modules [\"*\"]"; }
            case 5 -> { q.put("exclude_modules", "lm_head"); what = "exclude_modules a string"; }
            case 6 -> { q.remove("exclude_modules"); what = "exclude_modules removed"; }
            case 7 -> { q.put("kv_cache_quant_algo", "FP8"); what = "kv_cache_quant_algo FP8"; }
            case 8 -> { config.set("quantization_config", n.textNode("fp8")); what = "a string"; }
            case 9 -> { config.set("quantization_config", n.nullNode()); what = "null"; }
            case 10 -> { ((ArrayNode) q.get("exclude_modules")).add("*in_proj*"); what = "exclude_modules += *in_proj* (FP8 in_proj then unexpected)"; }
            default -> {
                Files.writeString(dir.resolve("hf_quant_config.json"), pick(r, List.of("{", "[]",
                        "{\"quantization\": {\"quant_algo\": \"NVFP4\"}}", "{\"quantization\": null}")));
                return done(dir, "hf_quant_config.json written: " + Files.readString(dir.resolve("hf_quant_config.json")), ANY);
            }
        }
        Files.writeString(file, Json.MAPPER.writeValueAsString(config));
        return done(dir, "config.json quantization_config: " + what, ANY);
    }

    static Applied fp8Scales(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path file = pick(r, shards(dir));
        SafetensorsEdit st = SafetensorsEdit.read(file);
        List<String> scales = st.names().stream().filter(s -> s.endsWith("_scale")).toList();
        String t = pick(r, scales);
        ByteBuffer b = ByteBuffer.wrap(st.data).order(ByteOrder.LITTLE_ENDIAN);
        int at = (int) st.begin(t);
        float old = b.getFloat(at);
        float now = pick(r, List.of(0f, -1f, Float.NaN, Float.POSITIVE_INFINITY, 1e-45f, 3e38f, old * 2));
        b.putFloat(at, now);
        st.write(file);
        Expect expect = Float.isFinite(now) && now != old && forwardTensor(t) ? CHANGE : ANY;
        return done(dir, file.getFileName() + ": \"" + t + "\" " + old + " -> " + now, expect);
    }

    // ---- sharded checkpoints

    static Applied shardIndex(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        Path index = dir.resolve("model.safetensors.index.json");
        ObjectNode json = (ObjectNode) Json.MAPPER.readTree(Files.readString(index));
        ObjectNode map = (ObjectNode) json.get("weight_map");
        List<String> names = new ArrayList<>();
        map.fieldNames().forEachRemaining(names::add);
        List<Path> shards = shards(dir);
        String t = pick(r, names);
        String what;
        Expect expect = REFUSE;
        switch (r.nextInt(8)) {
            case 0 -> {
                String other = shards.stream().map(p -> p.getFileName().toString())
                        .filter(s -> !s.equals(map.get(t).asText())).findFirst().orElseThrow();
                map.put(t, other);
                what = "\"" + t + "\" mapped to " + other;
            }
            case 1 -> { map.remove(t); what = "\"" + t + "\" missing from weight_map"; }
            case 2 -> { map.put(t, "model-00009-of-00009.safetensors"); what = "\"" + t + "\" mapped to a missing shard"; }
            case 3 -> { map.put(t, "../" + base.getFileName() + "/" + map.get(t).asText()); what = "\"" + t + "\" mapped outside the directory"; expect = ANY; }
            case 4 -> {
                Path gone = pick(r, shards);
                Files.delete(gone);
                return done(dir, gone.getFileName() + " deleted", REFUSE);
            }
            case 5 -> {
                Files.writeString(index, "{\"weight_map\": ");
                return done(dir, "index truncated", REFUSE);
            }
            case 6 -> { map.put("backbone.unused.weight", shards.get(0).getFileName().toString()); what = "weight_map names a tensor no shard has"; }
            default -> { json.set("weight_map", JsonNodeFactory.instance.arrayNode()); what = "weight_map an array"; }
        }
        Files.writeString(index, Json.MAPPER.writeValueAsString(json));
        return done(dir, "index: " + what, expect);
    }

    // ---- files that are not regular files

    static Applied specialFile(Path base, Path work, Random r) throws IOException {
        Path dir = ckpt(base, work);
        List<Path> shards = shards(dir);
        Path target = r.nextBoolean() ? dir.resolve("config.json") : pick(r, shards);
        Files.delete(target);
        String what;
        switch (r.nextInt(4)) {
            case 0 -> { mkfifo(target); what = "a FIFO"; }
            case 1 -> { Files.createSymbolicLink(target, Path.of("/dev/zero")); what = "a link to /dev/zero"; }
            case 2 -> { Files.createDirectory(target); what = "a directory"; }
            default -> what = "missing";
        }
        return done(dir, target.getFileName() + " is " + what, REFUSE);
    }

    static void mkfifo(Path p) throws IOException {
        try {
            Process proc = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
            if (proc.waitFor() != 0) {
                throw new IOException("mkfifo failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UncheckedIOException(new IOException(e));
        }
    }
}
