package org.nemotron4j.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.nemotron4j.checkpoint.RegularFiles;
import java.text.Normalizer;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.nemotron4j.NemotronException;

/**
 * Reads {@code tokenizer.json} (the Hugging Face {@code tokenizers} serialization) and {@code tokenizer_config.json}
 * (the {@code transformers} one) into a {@link Tokenizer}. Every component type is checked: one this engine does
 * not implement is refused here, with the file and the type named, rather than encoded differently later.
 *
 * <pre>
 * tokenizer.json:
 *   "model":          {"type": "BPE", "vocab": {token: id}, "merges": ["a b", ...] or [["a", "b"], ...],
 *                      "ignore_merges", "unk_token", "fuse_unk", "byte_fallback",
 *                      "dropout" (null/0), "continuing_subword_prefix"/"end_of_word_suffix" (null/"")}
 *   "added_tokens":   [{"id", "content", "special", "lstrip", "rstrip", "normalized", "single_word"}]
 *   "normalizer":     null | NFC | NFD | NFKC | NFKD | Sequence
 *   "pre_tokenizer":  Split | Digits | ByteLevel | Sequence, with ByteLevel last (byte-level BPE)
 *   "post_processor": null | ByteLevel | TemplateProcessing (single) | RobertaProcessing | BertProcessing | Sequence
 *   "decoder":        null | ByteLevel | Sequence of ByteLevel
 * tokenizer_config.json:
 *   "added_tokens_decoder": {"id": {...}}, "bos_token", "eos_token", "unk_token", "pad_token" (a string or
 *   {"content": ...}), "additional_special_tokens", "add_bos_token", "add_eos_token", "chat_template",
 *   "additional_eos_tokens" (nemotron4j)
 * </pre>
 * "truncation" and "padding" are batch options of the library and are not applied.
 */
final class TokenizerLoader {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();
    /** For tokenizer.json: its 100k+ vocabulary keys are not worth interning as field names. */
    private static final ObjectMapper BIG_JSON = JsonMapper.builder(JsonFactory.builder()
                    .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
                    .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
                    .build())
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    private final Path file;
    private int slots;

    private TokenizerLoader(Path file) {
        this.file = file;
    }

    private NemotronException fail(String message) {
        return new NemotronException(file + ": " + message);
    }

    private NemotronException fail(String message, Throwable cause) {
        return new NemotronException(file + ": " + message, cause);
    }

    static JsonNode readJson(Path path) {
        try {
            JsonNode root = JSON.readTree(RegularFiles.readString(path, "tokenizer file",
                    RegularFiles.MAX_JSON_BYTES));
            if (root == null || !root.isObject()) {
                throw new NemotronException(path + ": not a JSON object");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new NemotronException(path + ": malformed JSON: " + e.getOriginalMessage(), e);
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new NemotronException(path + ": file not found", e);
        } catch (IOException e) {
            throw new NemotronException(path + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * tokenizer.json as a tree, except for the two big members of "model", read straight from the token stream:
     * "vocab" (token to id) and "merges" (flattened to left, right, left, right, ...; both spellings).
     */
    private record TokenizerJson(JsonNode root, Map<String, Integer> vocab, List<String> merges) {
    }

    private TokenizerJson readTokenizerJson() {
        try {
            RegularFiles.requireSize(file, "tokenizer file", RegularFiles.MAX_TOKENIZER_BYTES);
        } catch (NoSuchFileException e) {
            throw fail("file not found", e);
        } catch (IOException e) {
            throw fail("cannot read: " + e.getMessage(), e);
        }
        try (JsonParser p = BIG_JSON.createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw fail("not a JSON object");
            }
            ObjectNode root = BIG_JSON.createObjectNode();
            Map<String, Integer> vocab = null;
            List<String> merges = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken t = p.nextToken();
                if (!name.equals("model") || t != JsonToken.START_OBJECT) {
                    root.set(name, p.readValueAsTree());
                    continue;
                }
                ObjectNode model = root.putObject("model");
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    JsonToken ft = p.nextToken();
                    if (field.equals("vocab") && ft == JsonToken.START_OBJECT) {
                        vocab = new HashMap<>(1 << 18);
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            String token = p.currentName();
                            if (p.nextToken() != JsonToken.VALUE_NUMBER_INT || p.getIntValue() < 0) {
                                throw fail("vocab entry '" + token + "' has no valid id");
                            }
                            vocab.put(token, p.getIntValue());
                        }
                        model.putObject("vocab"); // present (the entries are in the map)
                    } else if (field.equals("merges") && ft == JsonToken.START_ARRAY) {
                        merges = new ArrayList<>(1 << 19);
                        int rank = 0;
                        for (JsonToken mt = p.nextToken(); mt != JsonToken.END_ARRAY; mt = p.nextToken(), rank++) {
                            if (mt == JsonToken.VALUE_STRING) {
                                String line = p.getText();
                                int sp = line.indexOf(' ');
                                if (sp < 0 || line.indexOf(' ', sp + 1) >= 0) {
                                    throw fail("merge " + rank + " '" + line
                                            + "' is not two tokens separated by one space");
                                }
                                merges.add(line.substring(0, sp));
                                merges.add(line.substring(sp + 1));
                            } else if (mt == JsonToken.START_ARRAY && p.nextToken() == JsonToken.VALUE_STRING) {
                                merges.add(p.getText());
                                if (p.nextToken() != JsonToken.VALUE_STRING) {
                                    throw fail("merge " + rank + " is not a pair [\"a\", \"b\"]");
                                }
                                merges.add(p.getText());
                                if (p.nextToken() != JsonToken.END_ARRAY) {
                                    throw fail("merge " + rank + " has more than two tokens");
                                }
                            } else {
                                throw fail("merge " + rank + " is neither \"a b\" nor [\"a\", \"b\"]");
                            }
                        }
                        model.putArray("merges"); // present (the pairs are in the list)
                    } else {
                        model.set(field, p.readValueAsTree());
                    }
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw fail("malformed JSON: unexpected content after the top-level object");
            }
            return new TokenizerJson(root, vocab, merges);
        } catch (JsonProcessingException e) {
            throw fail("malformed JSON: " + e.getOriginalMessage(), e);
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw fail("file not found", e);
        } catch (IOException e) {
            throw fail("cannot read: " + e.getMessage(), e);
        }
    }

    static Tokenizer load(Path json, Path config) {
        if (!Files.exists(json)) {
            throw new NemotronException(json + ": file not found (a Hugging Face tokenizer.json is needed)");
        }
        TokenizerLoader tl = new TokenizerLoader(json);
        TokenizerJson parsed = tl.readTokenizerJson();
        JsonNode root = parsed.root();

        // model
        JsonNode modelNode = root.get("model");
        if (modelNode == null || !modelNode.isObject()) {
            throw tl.fail("no \"model\" object");
        }
        BpeModel model = tl.model(modelNode, parsed.vocab(), parsed.merges());

        // added tokens, then the config's view of them
        TokenizerConfig cfg = config == null ? null : TokenizerConfig.read(config);
        TokenizerLoader cl = config == null ? null : new TokenizerLoader(config);
        Map<Integer, AddedToken> added = new LinkedHashMap<>();
        JsonNode addedNode = root.get("added_tokens");
        if (addedNode != null && !addedNode.isNull()) {
            if (!addedNode.isArray()) {
                throw tl.fail("\"added_tokens\" is not an array");
            }
            for (JsonNode t : addedNode) {
                JsonNode id = t.path("id");
                AddedToken a = AddedToken.fromJson(t, id.canConvertToInt() ? id.asInt() : -1, json);
                added.put(a.id(), a);
            }
        }
        if (cfg != null) {
            added.putAll(cfg.addedTokensDecoder());
        }

        // normalizer, pre-tokenizer, post-processor, decoder
        TextNormalizer normalizer = tl.normalizer(root.get("normalizer"));
        PreTokenizer pre = tl.preTokenizer(root.get("pre_tokenizer"));
        if (!(pre instanceof PreTokenizer.ByteLevelSplit) && !(pre instanceof PreTokenizer.Sequence seq
                && !seq.steps.isEmpty() && seq.steps.getLast() instanceof PreTokenizer.ByteLevelSplit)) {
            throw tl.fail("pre_tokenizer has no ByteLevel step as its last step: only byte-level BPE tokenizers "
                    + "are supported");
        }
        tl.checkDecoder(root.get("decoder"));

        // ids, by id
        int size = model.tokens.length;
        for (int id : added.keySet()) {
            size = Math.max(size, id + 1);
        }
        AddedToken[] addedById = new AddedToken[size];
        Map<String, AddedToken> addedByContent = new HashMap<>();
        for (AddedToken a : added.values()) {
            addedById[a.id()] = a;
            addedByContent.put(a.content(), a);
        }

        // the tokens the config names are special whatever added_tokens says; model tokens it names are special
        // when decoding but not matched in the text as a whole (transformers would make them added tokens; real
        // checkpoints list theirs)
        List<Integer> extraSpecial = new ArrayList<>();
        if (cfg != null) {
            for (String name : cfg.specialTokens()) {
                AddedToken a = addedByContent.get(name);
                if (a != null) {
                    a = a.asSpecial();
                    addedById[a.id()] = a;
                    addedByContent.put(name, a);
                } else if (model.ids.containsKey(name)) {
                    extraSpecial.add(model.ids.get(name));
                }
            }
        }

        // the matchers of added tokens: raw (normalized == false) and normalized (content normalized first)
        List<Map.Entry<String, AddedToken>> raw = new ArrayList<>();
        List<Map.Entry<String, AddedToken>> norm = new ArrayList<>();
        for (AddedToken a : addedById) {
            if (a == null) {
                continue;
            }
            if (a.normalized()) {
                String text = normalizer == null ? a.content() : normalizer.normalize(a.content());
                norm.add(new AbstractMap.SimpleImmutableEntry<>(text, a));
            } else {
                raw.add(new AbstractMap.SimpleImmutableEntry<>(a.content(), a));
            }
        }

        // what addSpecialTokens adds
        int[][] ps = tl.postProcessor(root.get("post_processor"));
        int[] prefix = ps[0];
        int[] suffix = ps[1];
        for (int[] ids : ps) {
            for (int id : ids) {
                if (id < 0 || id >= size) {
                    throw tl.fail("post_processor adds token id " + id + ", which is not in the vocabulary");
                }
            }
        }
        // bos/eos: as the config names them, else what the post-processor puts first/last
        String bosName = cfg == null ? null : cfg.bosToken();
        String eosName = cfg == null ? null : cfg.eosToken();
        OptionalInt bos = bosName != null ? OptionalInt.of(cl.idOf(bosName, "bos_token", model, addedByContent))
                : prefix.length > 0 ? OptionalInt.of(prefix[0]) : OptionalInt.empty();
        OptionalInt eos = eosName != null ? OptionalInt.of(cl.idOf(eosName, "eos_token", model, addedByContent))
                : suffix.length > 0 ? OptionalInt.of(suffix[suffix.length - 1]) : OptionalInt.empty();
        // add_bos_token / add_eos_token, when the config has them, decide over the post-processor
        Boolean addBos = cfg == null ? null : cfg.addBosToken();
        if (addBos != null) {
            if (addBos && bos.isEmpty()) {
                throw cl.fail("add_bos_token is true but there is no bos_token");
            }
            if (bos.isPresent()) {
                int b = bos.getAsInt();
                boolean has = prefix.length > 0 && prefix[0] == b;
                if (addBos && !has) {
                    int[] p = new int[prefix.length + 1];
                    p[0] = b;
                    System.arraycopy(prefix, 0, p, 1, prefix.length);
                    prefix = p;
                } else if (!addBos && has) {
                    prefix = Arrays.copyOfRange(prefix, 1, prefix.length);
                }
            }
        }
        Boolean addEos = cfg == null ? null : cfg.addEosToken();
        if (addEos != null) {
            if (addEos && eos.isEmpty()) {
                throw cl.fail("add_eos_token is true but there is no eos_token");
            }
            if (eos.isPresent()) {
                int e = eos.getAsInt();
                boolean has = suffix.length > 0 && suffix[suffix.length - 1] == e;
                if (addEos && !has) {
                    suffix = Arrays.copyOf(suffix, suffix.length + 1);
                    suffix[suffix.length - 1] = e;
                } else if (!addEos && has) {
                    suffix = Arrays.copyOf(suffix, suffix.length - 1);
                }
            }
        }
        // every token that ends generation: eos, then the config's additional ones
        List<Integer> stop = new ArrayList<>();
        eos.ifPresent(stop::add);
        if (cfg != null) {
            for (String name : cfg.additionalEosTokens()) {
                int id = cl.idOf(name, "additional_eos_tokens", model, addedByContent);
                if (!stop.contains(id)) {
                    stop.add(id);
                }
            }
        }
        String chatTemplate = cfg == null ? null : cfg.chatTemplate();
        return new Tokenizer(json.toString(), model, normalizer, new AddedTokenMatcher(raw),
                new AddedTokenMatcher(norm), pre, tl.slots, prefix, suffix, addedByContent, addedById, bos, eos,
                ints(stop), ints(extraSpecial), chatTemplate);
    }

    // ---- model ----

    private BpeModel model(JsonNode m, Map<String, Integer> ids, List<String> merges) {
        String type = m.path("type").asText(null);
        if (type == null && m.has("merges")) {
            type = "BPE"; // old files leave the type out
        }
        if (!"BPE".equals(type)) {
            throw fail("unsupported model type '" + type + "' (only BPE is supported)");
        }
        double dropout = m.path("dropout").asDouble(0);
        if (dropout != 0) {
            throw fail("BPE dropout " + dropout + " is not supported");
        }
        for (String key : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
            String v = m.path(key).asText("");
            if (!v.isEmpty()) {
                throw fail("BPE " + key + " '" + v + "' is not supported");
            }
        }
        if (ids == null) {
            throw fail("model has no \"vocab\" object");
        }
        int maxId = -1;
        for (int id : ids.values()) {
            maxId = Math.max(maxId, id);
        }
        if (maxId >= MergeTable.MAX_ID) {
            throw fail("vocab ids up to " + maxId + " are beyond the supported " + (MergeTable.MAX_ID - 1));
        }
        String[] tokens = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : ids.entrySet()) {
            tokens[e.getValue()] = e.getKey();
        }
        if (merges == null) {
            throw fail("model has no \"merges\" array");
        }
        int[] mergeIds = new int[merges.size() / 2 * 3];
        for (int rank = 0; rank < merges.size() / 2; rank++) {
            String a = merges.get(2 * rank);
            String b = merges.get(2 * rank + 1);
            Integer ia = ids.get(a);
            Integer ib = ids.get(b);
            Integer iab = ids.get(a + b);
            if (ia == null || ib == null || iab == null) {
                String missing = ia == null ? a : ib == null ? b : a + b;
                throw fail("merge " + rank + " (" + a + " " + b + ") uses token '" + missing
                        + "' that is not in the vocab");
            }
            mergeIds[3 * rank] = ia;
            mergeIds[3 * rank + 1] = ib;
            mergeIds[3 * rank + 2] = iab;
        }
        int unk = -1;
        JsonNode unkNode = m.get("unk_token");
        if (unkNode != null && !unkNode.isNull()) {
            Integer id = ids.get(unkNode.asText());
            if (id == null) {
                throw fail("unk_token '" + unkNode.asText() + "' is not in the vocab");
            }
            unk = id;
        }
        return new BpeModel(tokens, ids, mergeIds, m.path("ignore_merges").asBoolean(false), unk,
                m.path("fuse_unk").asBoolean(false), m.path("byte_fallback").asBoolean(false));
    }

    // ---- normalizer ----

    private TextNormalizer normalizer(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        String type = type(n, "normalizer");
        return switch (type) {
            case "NFC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFC);
            case "NFD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFD);
            case "NFKC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKC);
            case "NFKD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKD);
            case "Sequence" -> {
                List<TextNormalizer> list = new ArrayList<>();
                for (JsonNode c : array(n, "normalizers", "normalizer Sequence")) {
                    TextNormalizer tn = normalizer(c);
                    if (tn != null) {
                        list.add(tn);
                    }
                }
                yield list.isEmpty() ? null : list.size() == 1 ? list.getFirst() : new TextNormalizer.Sequence(list);
            }
            default -> throw fail("unsupported normalizer type '" + type + "' (supported: NFC, NFD, NFKC, NFKD, "
                    + "Sequence)");
        };
    }

    // ---- pre-tokenizer ----

    private PreTokenizer preTokenizer(JsonNode n) {
        if (n == null || n.isNull()) {
            throw fail("no pre_tokenizer: only byte-level BPE tokenizers (with a ByteLevel pre_tokenizer) are "
                    + "supported");
        }
        String type = type(n, "pre_tokenizer");
        return switch (type) {
            case "ByteLevel" -> new PreTokenizer.ByteLevelSplit(n.path("add_prefix_space").asBoolean(true),
                    n.path("use_regex").asBoolean(true), slots++);
            case "Split" -> split(n);
            case "Digits" -> new PreTokenizer.Digits(n.path("individual_digits").asBoolean(false));
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                for (JsonNode c : array(n, "pretokenizers", "pre_tokenizer Sequence")) {
                    steps.add(preTokenizer(c));
                }
                for (int i = 0; i + 1 < steps.size(); i++) {
                    if (steps.get(i) instanceof PreTokenizer.ByteLevelSplit) {
                        throw fail("pre_tokenizer Sequence has a step after ByteLevel: not supported");
                    }
                }
                yield steps.size() == 1 ? steps.getFirst() : new PreTokenizer.Sequence(steps);
            }
            default -> throw fail("unsupported pre_tokenizer type '" + type + "' (supported: ByteLevel, Split, "
                    + "Digits, Sequence)");
        };
    }

    private PreTokenizer split(JsonNode n) {
        JsonNode p = n.get("pattern");
        Pattern pattern;
        String source;
        FastSplitPattern fast = null;
        if (p != null && p.path("Regex").isTextual()) {
            source = p.get("Regex").asText();
            try {
                pattern = OnigurumaRegex.compile(p.get("Regex").asText());
            } catch (IllegalArgumentException e) {
                throw fail("Split pre_tokenizer: " + e.getMessage());
            }
            fast = FastSplitPattern.recognize(p.get("Regex").asText());
        } else if (p != null && p.path("String").isTextual()) {
            source = p.get("String").asText();
            pattern = OnigurumaRegex.literal(source);
        } else {
            throw fail("Split pre_tokenizer without a {\"Regex\": ...} or {\"String\": ...} pattern");
        }
        String b = n.path("behavior").asText("");
        PreTokenizer.Behavior behavior = switch (b) {
            case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
            case "Removed" -> PreTokenizer.Behavior.REMOVED;
            case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
            default -> throw fail("Split pre_tokenizer behavior '" + b + "' is unknown");
        };
        return new PreTokenizer.Split(pattern, source, fast, behavior, n.path("invert").asBoolean(false), slots++);
    }

    // ---- post-processor ----

    /** {prefix, suffix}: the ids the post-processor puts before and after a single sequence. */
    private int[][] postProcessor(JsonNode n) {
        if (n == null || n.isNull()) {
            return new int[][] {new int[0], new int[0]};
        }
        String type = type(n, "post_processor");
        switch (type) {
            case "ByteLevel":
                return new int[][] {new int[0], new int[0]}; // offsets only
            case "TemplateProcessing": {
                JsonNode single = n.get("single");
                JsonNode specials = n.path("special_tokens");
                if (single == null || !single.isArray()) {
                    throw fail("TemplateProcessing without a \"single\" template");
                }
                List<Integer> pre = new ArrayList<>();
                List<Integer> post = new ArrayList<>();
                boolean seenA = false;
                for (JsonNode item : single) {
                    if (item.has("Sequence")) {
                        String which = item.get("Sequence").path("id").asText();
                        if (!which.equals("A") || seenA) {
                            throw fail("TemplateProcessing single template must hold $A once: " + single);
                        }
                        seenA = true;
                    } else if (item.has("SpecialToken")) {
                        String name = item.get("SpecialToken").path("id").asText();
                        JsonNode st = specials.get(name);
                        if (st == null || !st.path("ids").isArray()) {
                            throw fail("TemplateProcessing special token '" + name + "' is not in special_tokens");
                        }
                        for (JsonNode id : st.get("ids")) {
                            (seenA ? post : pre).add(id.asInt());
                        }
                    } else {
                        throw fail("TemplateProcessing template item not understood: " + item);
                    }
                }
                if (!seenA) {
                    throw fail("TemplateProcessing single template has no $A: " + single);
                }
                return new int[][] {ints(pre), ints(post)};
            }
            case "RobertaProcessing":
            case "BertProcessing": {
                // single: cls $A sep, each given as [token, id]
                JsonNode cls = n.get("cls");
                JsonNode sep = n.get("sep");
                if (cls == null || sep == null || !cls.isArray() || !sep.isArray() || cls.size() != 2
                        || sep.size() != 2) {
                    throw fail(type + " without [token, id] pairs for cls and sep");
                }
                return new int[][] {{cls.get(1).asInt()}, {sep.get(1).asInt()}};
            }
            case "Sequence": {
                List<Integer> pre = new ArrayList<>();
                List<Integer> post = new ArrayList<>();
                for (JsonNode c : array(n, "processors", "post_processor Sequence")) {
                    int[][] ps = postProcessor(c);
                    // each processor wraps the result of those before it
                    List<Integer> p = new ArrayList<>();
                    for (int id : ps[0]) {
                        p.add(id);
                    }
                    p.addAll(pre);
                    pre = p;
                    for (int id : ps[1]) {
                        post.add(id);
                    }
                }
                return new int[][] {ints(pre), ints(post)};
            }
            default:
                throw fail("unsupported post_processor type '" + type + "' (supported: ByteLevel, "
                        + "TemplateProcessing, RobertaProcessing, BertProcessing, Sequence)");
        }
    }

    // ---- decoder ----

    private void checkDecoder(JsonNode n) {
        if (n == null || n.isNull()) {
            return; // decoded as byte-level anyway (the library would join the raw token strings with spaces)
        }
        String type = type(n, "decoder");
        switch (type) {
            case "ByteLevel" -> { }
            case "Sequence" -> {
                for (JsonNode c : array(n, "decoders", "decoder Sequence")) {
                    checkDecoder(c);
                }
            }
            default -> throw fail("unsupported decoder type '" + type + "' (supported: ByteLevel, Sequence)");
        }
    }

    // ---- helpers ----

    private String type(JsonNode n, String what) {
        if (!n.isObject() || !n.path("type").isTextual()) {
            throw fail(what + " without a \"type\": " + abbreviate(n.toString()));
        }
        return n.get("type").asText();
    }

    private JsonNode array(JsonNode n, String key, String what) {
        JsonNode a = n.get(key);
        if (a == null || !a.isArray()) {
            throw fail(what + " without a \"" + key + "\" array");
        }
        return a;
    }

    private int idOf(String name, String key, BpeModel model, Map<String, AddedToken> added) {
        AddedToken a = added.get(name);
        if (a != null) {
            return a.id();
        }
        Integer id = model.ids.get(name);
        if (id == null) {
            throw fail(key + " '" + name + "' is not a token of the vocabulary or the added tokens");
        }
        return id;
    }

    private static int[] ints(List<Integer> list) {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    private static String abbreviate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    static ObjectMapper json() {
        return JSON;
    }
}
