package org.nemotron4j.fuzz;

import static org.nemotron4j.fuzz.Mutation.Expect.ANY;
import static org.nemotron4j.fuzz.Mutation.Expect.REFUSE;
import static org.nemotron4j.fuzz.Mutation.Expect.SAME;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.nemotron4j.fuzz.Mutation.Applied;
import org.nemotron4j.fuzz.Mutation.Applier;
import org.nemotron4j.fuzz.Mutation.Expect;

/**
 * The tokenizer.json mutations: split regexes (adversarial and randomly edited), merges, vocab, added tokens,
 * normalizers and pre-tokenizers (deep sequences, unknown types), the BPE model's options, and the file's bytes.
 * A mutated tokenizer may load and tokenize differently (ANY); only a truncated or malformed file must be refused,
 * and only a reformatted one must tokenize identically.
 */
final class TokenizerMutations {
    static final JsonNodeFactory N = JsonNodeFactory.instance;

    /** Patterns that are slow, recursive, invalid or unsupported in one engine or another. */
    static final List<String> HOSTILE_PATTERNS = List.of(
            "(.*)*x", "(a+)+$", "(a|aa)+b", "(?:a|a)*b", "(a*)*b", "(?<=a+)b", "(?<!a*)b", "(?<=\\s{1,9999})\\S",
            "(a)\\1", "(?<n>a)\\k<n>", "\\p{Foo}", "[", "(?", "(", "\\", "a{1000000}", "a{2,1}", "", "(?i)",
            "(?x) a # comment", "\\X", "\\R", "(?>a+)b", "a++b", "\\G\\w", "[[:alpha:]]+", "(?m)^.$", "\\Qa\\E",
            "[\\p{L}&&[^a]]+", "(?u)\\w+", "\\h+", "\\K", "(?=(a+))+", "((((((((((((((((((((a))))))))))))))))))))",
            "(".repeat(5000) + "a" + ")".repeat(5000), "(?:a|b|c|d|e|f|g|h|i|j|k)*{3}", "[^\\x00-\\x{10FFFF}]",
            "\\x{110000}", "\\uD800", "\\p{^L}+", "\\p{InGreek}", "(?<=\\p{L}{2,})\\p{N}");

    private TokenizerMutations() {
    }

    static List<Mutation> all(Random master, List<String> bases, int firstId) {
        List<Mutation> out = new ArrayList<>();
        int[] id = {firstId};
        class Add {
            void add(String kind, int count, Applier a) {
                for (int i = 0; i < count; i++) {
                    // every base in turn, the small generated one twice as often (cheap to load)
                    String base = bases.get(i % (bases.size() + 1) == bases.size() ? 0 : i % (bases.size() + 1));
                    out.add(new Mutation(id[0]++, Mutation.Target.TOKENIZER, base, kind, "", master.nextLong(), a));
                }
            }
        }
        Add m = new Add();
        m.add("regex-hostile", HOSTILE_PATTERNS.size(), TokenizerMutations::hostileRegex);
        m.add("regex-edit", 20, TokenizerMutations::editRegex);
        m.add("merges", 15, TokenizerMutations::merges);
        m.add("vocab", 15, TokenizerMutations::vocab);
        m.add("added-tokens", 15, TokenizerMutations::addedTokens);
        m.add("normalizer", 10, TokenizerMutations::normalizer);
        m.add("pre-tokenizer", 12, TokenizerMutations::preTokenizer);
        m.add("model-options", 10, TokenizerMutations::modelOptions);
        m.add("json-bytes", 12, TokenizerMutations::jsonBytes);
        m.add("reformat", 4, TokenizerMutations::reformat);
        return out;
    }

    static ObjectNode read(Path base) throws IOException {
        return (ObjectNode) Json.MAPPER.readTree(base.toFile());
    }

    static Applied write(Path work, JsonNode json, String detail, Expect expect) throws IOException {
        Path file = work.resolve("tokenizer.json");
        Json.MAPPER.writeValue(file.toFile(), json);
        return new Applied(file, detail, expect);
    }

    /** The first Split pre-tokenizer (the fixtures have one), or null. */
    static ObjectNode split(ObjectNode json) {
        JsonNode pre = json.get("pre_tokenizer");
        if (pre == null || pre.isNull()) {
            return null;
        }
        if ("Split".equals(pre.path("type").asText())) {
            return (ObjectNode) pre;
        }
        for (JsonNode p : pre.path("pretokenizers")) {
            if ("Split".equals(p.path("type").asText())) {
                return (ObjectNode) p;
            }
        }
        return null;
    }

    static ObjectNode ensureSplit(ObjectNode json) {
        ObjectNode s = split(json);
        if (s == null) {
            ObjectNode seq = N.objectNode().put("type", "Sequence");
            s = N.objectNode().put("type", "Split").put("behavior", "Isolated").put("invert", false);
            s.putObject("pattern").put("Regex", "\\s+");
            seq.putArray("pretokenizers").add(s).add(N.objectNode().put("type", "ByteLevel")
                    .put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", false));
            json.set("pre_tokenizer", seq);
        }
        return s;
    }

    static Applied hostileRegex(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        int which = Math.floorMod(r.nextInt(), HOSTILE_PATTERNS.size());
        String p = HOSTILE_PATTERNS.get(which);
        ensureSplit(json).putObject("pattern").put("Regex", p);
        return write(work, json, "split regex " + CheckpointMutations.abbreviate("/" + p + "/"), ANY);
    }

    static Applied editRegex(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        ObjectNode split = ensureSplit(json);
        StringBuilder p = new StringBuilder(split.path("pattern").path("Regex").asText("\\s+"));
        int edits = 1 + r.nextInt(3);
        for (int e = 0; e < edits && p.length() > 0; e++) {
            int at = r.nextInt(p.length());
            String piece = pick(r, List.of("(", ")", "[", "]", "*", "+", "?", "{2,}", "|", "\\", "(?<=", "(?!",
                    ".*", "\\p{L}*", "^", "$", "\\1", "(?i:", "\u00e9", "\uD83E\uDD16"));
            switch (r.nextInt(3)) {
                case 0 -> p.insert(at, piece);
                case 1 -> p.deleteCharAt(at);
                default -> p.replace(at, Math.min(p.length(), at + 1 + r.nextInt(4)), piece);
            }
        }
        split.putObject("pattern").put("Regex", p.toString());
        if (r.nextInt(4) == 0) {
            split.put("behavior", pick(r, List.of("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                    "Contiguous", "Bogus")));
            split.put("invert", r.nextBoolean());
        }
        return write(work, json, "split regex edited to " + CheckpointMutations.abbreviate("/" + p + "/")
                + " behavior " + split.path("behavior").asText() + " invert " + split.path("invert"), ANY);
    }

    static <T> T pick(Random r, List<T> list) {
        return list.get(r.nextInt(list.size()));
    }

    static Applied merges(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        ArrayNode merges = (ArrayNode) json.path("model").path("merges");
        int n = merges.size();
        int i = r.nextInt(Math.max(n, 1));
        String what;
        switch (r.nextInt(9)) {
            case 0 -> { merges.remove(i); what = "merge " + i + " removed"; }
            case 1 -> { merges.insert(0, merges.get(i).deepCopy()); what = "merge " + i + " duplicated first"; }
            case 2 -> { int j = r.nextInt(n); JsonNode a = merges.get(i); merges.set(i, merges.get(j)); merges.set(j, a); what = "merges " + i + " and " + j + " swapped"; }
            case 3 -> { merges.set(i, N.textNode(pick(r, List.of("a", "a b c", "", " ", "a  b")))); what = "merge " + i + " malformed " + merges.get(i); }
            case 4 -> { merges.set(i, N.numberNode(5)); what = "merge " + i + " a number"; }
            case 5 -> { merges.set(i, N.arrayNode().add("notintheVOCAB").add("zzz\u0001")); what = "merge " + i + " of unknown tokens"; }
            case 6 -> { merges.removeAll(); what = "no merges"; }
            case 7 -> { ((ObjectNode) json.get("model")).put("merges", "a b"); what = "merges a string"; }
            default -> { merges.set(i, N.arrayNode().add("a")); what = "merge " + i + " a one-element pair"; }
        }
        return write(work, json, what, ANY);
    }

    static Applied vocab(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        ObjectNode vocab = (ObjectNode) json.path("model").path("vocab");
        List<String> tokens = new ArrayList<>();
        vocab.fieldNames().forEachRemaining(tokens::add);
        String t = pick(r, tokens);
        String what;
        switch (r.nextInt(9)) {
            case 0 -> { vocab.remove(t); what = "\"" + t + "\" removed from the vocab"; }
            case 1 -> { vocab.put(t, vocab.get(pick(r, tokens)).asInt()); what = "\"" + t + "\" given another token's id"; }
            case 2 -> { vocab.put(t, -1); what = "\"" + t + "\" id -1"; }
            case 3 -> { vocab.put(t, Integer.MAX_VALUE); what = "\"" + t + "\" id 2^31-1"; }
            case 4 -> { vocab.put(t, tokens.size() + 1000); what = "\"" + t + "\" id past the end"; }
            case 5 -> { vocab.put(t, "7"); what = "\"" + t + "\" id a string"; }
            case 6 -> { vocab.put(t, 1.5); what = "\"" + t + "\" id 1.5"; }
            case 7 -> { vocab.removeAll(); what = "empty vocab"; }
            default -> { ((ObjectNode) json.get("model")).set("vocab", N.arrayNode().add("a")); what = "vocab an array"; }
        }
        return write(work, json, what, ANY);
    }

    static Applied addedTokens(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        ArrayNode added = (ArrayNode) json.get("added_tokens");
        int vocab = json.path("model").path("vocab").size();
        ObjectNode t = N.objectNode().put("id", vocab + added.size()).put("content", "<|fuzz|>")
                .put("single_word", false).put("lstrip", false).put("rstrip", false).put("normalized", false)
                .put("special", true);
        String what;
        switch (r.nextInt(10)) {
            case 0 -> { t.put("id", 5); what = "added token with an existing id"; }
            case 1 -> { t.put("id", Integer.MAX_VALUE); what = "added token id 2^31-1"; }
            case 2 -> { t.put("content", ""); what = "added token with empty content"; }
            case 3 -> { t.put("content", "a"); what = "added token \"a\" (overlaps everything)"; }
            case 4 -> { t.put("content", ".*(\\"); what = "added token with regex characters"; }
            case 5 -> { t.put("lstrip", true).put("rstrip", true).put("single_word", true).put("normalized", true); what = "added token with every flag"; }
            case 6 -> { t.put("id", -3); what = "added token id -3"; }
            case 7 -> { t.remove("content"); what = "added token without content"; }
            case 8 -> {
                for (int i = 0; i < 2000; i++) {
                    added.add(N.objectNode().put("id", vocab + added.size() + 1).put("content", "<t" + i + ">")
                            .put("special", i % 2 == 0));
                }
                what = "2000 added tokens";
            }
            default -> { t.put("content", "ab ".repeat(10_000)); what = "a 30000-character added token"; }
        }
        added.add(t);
        return write(work, json, what, ANY);
    }

    static Applied normalizer(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        JsonNode norm;
        String what;
        switch (r.nextInt(8)) {
            case 0 -> { norm = N.objectNode().put("type", pick(r, List.of("NFC", "NFD", "NFKC", "NFKD", "Lowercase"))); what = "normalizer " + norm.get("type"); }
            case 1 -> { norm = N.objectNode().put("type", "Bogus"); what = "unknown normalizer type"; }
            case 2 -> {
                ObjectNode rep = N.objectNode().put("type", "Replace").put("content", "X");
                rep.putObject("pattern").put("Regex", pick(r, List.of("(.*)*x", "a+", "[", "(?<=a+)b", "\\s")));
                norm = rep;
                what = "Replace normalizer /" + rep.path("pattern").path("Regex").asText() + "/";
            }
            case 3 -> {
                JsonNode inner = N.objectNode().put("type", "NFC");
                for (int i = 0; i < 3000; i++) {
                    ObjectNode seq = N.objectNode().put("type", "Sequence");
                    seq.putArray("normalizers").add(inner);
                    inner = seq;
                }
                norm = inner;
                what = "3000 nested normalizer Sequences";
            }
            case 4 -> {
                ObjectNode seq = N.objectNode().put("type", "Sequence");
                ArrayNode list = seq.putArray("normalizers");
                for (int i = 0; i < 3000; i++) {
                    list.add(N.objectNode().put("type", "NFC"));
                }
                norm = seq;
                what = "a 3000-step normalizer Sequence";
            }
            case 5 -> { norm = N.objectNode().put("type", "Prepend").put("prepend", "\u2581"); what = "Prepend normalizer"; }
            case 6 -> { norm = N.textNode("NFC"); what = "normalizer a string"; }
            default -> { norm = N.objectNode().put("type", "Strip").put("left", true).put("right", true); what = "Strip normalizer"; }
        }
        json.set("normalizer", norm);
        return write(work, json, what, ANY);
    }

    static Applied preTokenizer(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        JsonNode pre;
        String what;
        switch (r.nextInt(8)) {
            case 0 -> {
                ObjectNode seq = N.objectNode().put("type", "Sequence");
                ArrayNode list = seq.putArray("pretokenizers");
                JsonNode old = json.get("pre_tokenizer");
                for (int i = 0; i < 2000; i++) {
                    list.add(old.deepCopy());
                }
                pre = seq;
                what = "2000-step pre-tokenizer Sequence";
            }
            case 1 -> {
                JsonNode inner = json.get("pre_tokenizer");
                for (int i = 0; i < 3000; i++) {
                    ObjectNode seq = N.objectNode().put("type", "Sequence");
                    seq.putArray("pretokenizers").add(inner);
                    inner = seq;
                }
                pre = inner;
                what = "3000 nested pre-tokenizer Sequences";
            }
            case 2 -> { pre = N.objectNode().put("type", pick(r, List.of("Whitespace", "WhitespaceSplit", "Digits", "Punctuation", "BertPreTokenizer", "Metaspace", "UnicodeScripts", "CharDelimiterSplit"))); what = "pre-tokenizer " + pre.get("type"); }
            case 3 -> { pre = N.objectNode().put("type", "Bogus"); what = "unknown pre-tokenizer type"; }
            case 4 -> { pre = N.objectNode().put("type", "ByteLevel").put("add_prefix_space", true).put("use_regex", true); what = "ByteLevel with its own regex and a prefix space"; }
            case 5 -> { pre = N.nullNode(); what = "no pre-tokenizer"; }
            case 6 -> { pre = N.objectNode().put("type", "Sequence"); what = "Sequence without pretokenizers"; }
            default -> { pre = N.arrayNode(); what = "pre-tokenizer an array"; }
        }
        json.set("pre_tokenizer", pre);
        return write(work, json, what, ANY);
    }

    static Applied modelOptions(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        ObjectNode model = (ObjectNode) json.get("model");
        String what;
        switch (r.nextInt(9)) {
            case 0 -> { model.put("type", pick(r, List.of("WordPiece", "Unigram", "WordLevel", "bpe", ""))); what = "model type " + model.get("type"); }
            case 1 -> { model.put("byte_fallback", true); what = "byte_fallback true"; }
            case 2 -> { model.put("ignore_merges", !model.path("ignore_merges").asBoolean(false)); what = "ignore_merges flipped"; }
            case 3 -> { model.put("unk_token", "<nope>"); what = "unk_token not in the vocab"; }
            case 4 -> { model.put("continuing_subword_prefix", "##"); what = "continuing_subword_prefix ##"; }
            case 5 -> { model.put("dropout", 0.5); what = "dropout 0.5"; }
            case 6 -> { json.remove("model"); what = "no model"; }
            case 7 -> { json.set("decoder", N.objectNode().put("type", pick(r, List.of("Bogus", "WordPiece", "Metaspace", "BPEDecoder")))); what = "decoder " + json.get("decoder").get("type"); }
            default -> { model.put("end_of_word_suffix", "</w>"); what = "end_of_word_suffix </w>"; }
        }
        return write(work, json, what, ANY);
    }

    static Applied jsonBytes(Path base, Path work, Random r) throws IOException {
        byte[] all = Files.readAllBytes(base);
        Path file = work.resolve("tokenizer.json");
        String what;
        Expect expect = REFUSE;
        switch (r.nextInt(7)) {
            case 0 -> { int at = r.nextInt(all.length); all = Arrays.copyOf(all, at); what = "truncated at " + at; }
            case 1 -> { all = CheckpointMutations.concat(all, "}]garbage".getBytes(StandardCharsets.UTF_8)); what = "trailing garbage"; }
            case 2 -> { all = new byte[0]; what = "empty file"; }
            case 3 -> { all = CheckpointMutations.concat(new byte[] {(byte) 0xFF, (byte) 0xFE}, all); what = "invalid UTF-8 first"; }
            case 4 -> {
                int at = r.nextInt(all.length);
                byte old = all[at];
                all[at] = (byte) (old ^ (1 << r.nextInt(8)));
                what = "bit flip at byte " + at + " ('" + CheckpointMutations.printable(old) + "' -> '"
                        + CheckpointMutations.printable(all[at]) + "')";
                expect = ANY; // a flip inside a token string is a valid, different tokenizer
            }
            case 5 -> { all = ("{\"model\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}").getBytes(StandardCharsets.UTF_8); what = "100000 nested arrays"; }
            default -> {
                Files.createSymbolicLink(file, Path.of("/dev/zero"));
                return new Applied(file, "a link to /dev/zero", REFUSE);
            }
        }
        Files.write(file, all);
        return new Applied(file, what, expect);
    }

    static Applied reformat(Path base, Path work, Random r) throws IOException {
        ObjectNode json = read(base);
        String what;
        if (r.nextBoolean()) {
            json.put("fuzz_unknown_key", "ignored");
            what = "an unknown top-level key";
        } else {
            // the same object with the keys in reverse order
            ObjectNode reversed = N.objectNode();
            List<Map.Entry<String, JsonNode>> entries = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
                entries.add(it.next());
            }
            for (int i = entries.size() - 1; i >= 0; i--) {
                reversed.set(entries.get(i).getKey(), entries.get(i).getValue());
            }
            json = reversed;
            what = "top-level keys reordered";
        }
        Path file = work.resolve("tokenizer.json");
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), json);
        return new Applied(file, what, SAME);
    }
}
