package org.nemotron4j.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.nemotron4j.NemotronException;

/**
 * Writes a small byte-level BPE tokenizer in the Hugging Face layout ({@code tokenizer.json} +
 * {@code tokenizer_config.json}) for the project's demo model, whose weights are random: its text is noise, but it
 * goes through every step a real checkpoint's does, chat markers included.
 *
 * <p>Vocabulary ({@value #VOCAB_SIZE} ids):
 * <ul>
 *   <li>ids 0..31: special tokens, also added tokens (matched in text as a whole): {@code <unk>} 0, {@code <s>} 1
 *       (BOS), {@code </s>} 2 (EOS), the Nemotron-Nano-v2 chat markers ({@code <SPECIAL_10>} opens the system
 *       turn, {@code <SPECIAL_11>} the user and assistant turns, {@code <SPECIAL_12>} ends a turn;
 *       {@code <think>}, {@code </think>}, {@code <TOOLCALL>}, {@code </TOOLCALL>}, {@code <TOOL_RESPONSE>},
 *       {@code </TOOL_RESPONSE>}, {@code <AVAILABLE_TOOLS>}, {@code </AVAILABLE_TOOLS>}) and reserved
 *       {@code <SPECIAL_k>} (k = id) filling the rest;</li>
 *   <li>ids 32..287: the 256 bytes, byte {@code b} at id {@code 32 + b};</li>
 *   <li>ids 288..511: the merges a small BPE trainer ({@link #train}) learns from built-in English text.</li>
 * </ul>
 * Pre-tokenizer: the GPT-4o (o200k) Split regex, then ByteLevel; post-processor: BOS + $A; decoder: ByteLevel.
 * {@code tokenizer_config.json} names bos {@code <s>}, eos {@code </s>}, and lists {@code <SPECIAL_12>} (the end of
 * an assistant turn in the chat template) under {@code "additional_eos_tokens"}, read by
 * {@link Tokenizer#eosTokenIds()}. The output is a pure function of the arguments (byte-identical every time).
 */
public final class DemoTokenizer {
    /** Ids of the demo vocabulary, special tokens included. */
    public static final int VOCAB_SIZE = 512;
    /** Number of special tokens (ids 0 .. SPECIAL_COUNT - 1). */
    public static final int SPECIAL_COUNT = 32;
    /** The first id of the 256 byte tokens. */
    public static final int FIRST_BYTE_ID = SPECIAL_COUNT;
    public static final int UNK_ID = 0;
    public static final int BOS_ID = 1;
    public static final int EOS_ID = 2;
    /** {@code <SPECIAL_12>}: ends a chat turn; an EOS for generation. */
    public static final int END_OF_TURN_ID = 12;

    /** The GPT-4o (o200k) pre-tokenizer pattern, Oniguruma syntax as tokenizer.json writes it. */
    static final String SPLIT_PATTERN = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final List<String> SPECIALS = specials();

    private static List<String> specials() {
        String[] s = new String[SPECIAL_COUNT];
        for (int i = 0; i < SPECIAL_COUNT; i++) {
            s[i] = "<SPECIAL_" + i + ">";
        }
        s[0] = "<unk>";
        s[1] = "<s>";
        s[2] = "</s>";
        s[13] = "<think>";
        s[14] = "</think>";
        s[15] = "<TOOLCALL>";
        s[16] = "</TOOLCALL>";
        s[17] = "<TOOL_RESPONSE>";
        s[18] = "</TOOL_RESPONSE>";
        s[19] = "<AVAILABLE_TOOLS>";
        s[20] = "</AVAILABLE_TOOLS>";
        return List.of(s);
    }

    /** Built-in training text: plain English of the kind the demo is asked about, some code and numbers. */
    private static final String TRAINING_TEXT = """
            The sky looks blue because the air scatters short waves of sunlight more than long ones. When the sun \
            is low, its light crosses much more air, the blue is scattered away, and the evening sky turns red and \
            orange. Clouds are white because their drops are large enough to scatter every color about the same.
            A language model reads text as a list of tokens. Each token is a small piece of a word, a whole word, \
            a space, a digit or a mark. The model turns every token into a vector, mixes the vectors through many \
            layers, and at the end gives a score to every token it knows. The next token is drawn from those \
            scores, written out, and fed back in, one at a time, until the answer is complete.
            This model is a hybrid. Most of its layers are state space layers that carry a fixed amount of memory \
            from one token to the next, so they cost the same for the first token and the ten thousandth. A few \
            attention layers look back over everything that came before. Between them, simple feed forward \
            layers transform each position on its own.
            Write a short poem about the sea. The sea is wide and grey in the morning; the waves come in and go \
            out again, and the wind carries the smell of salt over the sand. Boats wait in the harbor for the tide.
            What is seventeen times twenty three? Seventeen times twenty is three hundred and forty, and seventeen \
            times three is fifty one, so the answer is three hundred and ninety one: 17 * 23 = 391.
            Please explain how to sort a list. Compare two items, put the smaller one first, and repeat until \
            nothing moves. Faster methods split the list in halves, sort each half, and merge the sorted halves.
            def add(a, b):
                return a + b

            for (int i = 0; i < n; i++) {
                total += values[i];
            }
            The user asked a question and the assistant gave a helpful answer. If the assistant is not sure, it \
            should say so, and it should think step by step before it answers. You are a helpful assistant. \
            Hello! How can I help you today? Thank you, that was very useful. Tell me a joke about computers.
            In 2024 the team trained the model on 20 trillion tokens; it has 56 layers, a hidden size of 4480, \
            and a vocabulary of 131072 tokens. The weather today is sunny with a high of 25 degrees.
            """;

    private DemoTokenizer() {}

    /** The special tokens, by id (0 .. {@value #SPECIAL_COUNT} - 1). */
    public static List<String> specialTokens() {
        return SPECIALS;
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} (without a chat template) into {@code dir}. */
    public static void write(Path dir) {
        write(dir, null);
    }

    /**
     * Writes {@code tokenizer.json} and {@code tokenizer_config.json} into {@code dir} (created if needed).
     *
     * @param chatTemplate the Jinja chat template to store as {@code "chat_template"}, or null for none
     * @throws NemotronException when the files cannot be written
     */
    public static void write(Path dir, String chatTemplate) {
        List<String> vocab = new ArrayList<>(SPECIALS);
        for (int b = 0; b < 256; b++) {
            vocab.add(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]));
        }
        List<String[]> merges = train(TRAINING_TEXT, vocab, VOCAB_SIZE);
        if (vocab.size() != VOCAB_SIZE) {
            throw new IllegalStateException("demo trainer produced " + vocab.size() + " tokens, not " + VOCAB_SIZE);
        }
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < SPECIAL_COUNT; id++) {
            ObjectNode t = added.addObject();
            t.put("id", id);
            t.put("content", SPECIALS.get(id));
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode steps = pre.putArray("pretokenizers");
        ObjectNode split = steps.addObject();
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", SPLIT_PATTERN);
        split.put("behavior", "Isolated");
        split.put("invert", false);
        ObjectNode byteLevel = steps.addObject();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", false);
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 1);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode bosEntry = post.putObject("special_tokens").putObject("<s>");
        bosEntry.put("id", "<s>");
        bosEntry.putArray("ids").add(BOS_ID);
        bosEntry.putArray("tokens").add("<s>");
        ObjectNode decoder = root.putObject("decoder");
        decoder.put("type", "ByteLevel");
        decoder.put("add_prefix_space", true);
        decoder.put("trim_offsets", true);
        decoder.put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode v = model.putObject("vocab");
        for (int id = 0; id < vocab.size(); id++) {
            v.put(vocab.get(id), id);
        }
        ArrayNode m = model.putArray("merges");
        for (String[] mg : merges) {
            m.addArray().add(mg[0]).add(mg[1]);
        }

        ObjectNode cfg = f.objectNode();
        cfg.put("add_bos_token", true);
        cfg.put("add_eos_token", false);
        ObjectNode dec = cfg.putObject("added_tokens_decoder");
        for (int id = 0; id < SPECIAL_COUNT; id++) {
            ObjectNode t = dec.putObject(Integer.toString(id));
            t.put("content", SPECIALS.get(id));
            t.put("lstrip", false);
            t.put("normalized", false);
            t.put("rstrip", false);
            t.put("single_word", false);
            t.put("special", true);
        }
        cfg.put("bos_token", "<s>");
        cfg.put("eos_token", "</s>");
        cfg.put("unk_token", "<unk>");
        cfg.put("pad_token", "<unk>");
        cfg.putArray("additional_eos_tokens").add(SPECIALS.get(END_OF_TURN_ID));
        cfg.put("clean_up_tokenization_spaces", false);
        cfg.put("model_max_length", 131072);
        cfg.put("tokenizer_class", "PreTrainedTokenizerFast");
        if (chatTemplate != null) {
            cfg.put("chat_template", chatTemplate);
        }

        ObjectMapper json = TokenizerLoader.json();
        DefaultPrettyPrinter pp = new DefaultPrettyPrinter()
                .withSeparators(Separators.createDefaultInstance()
                        .withObjectFieldValueSpacing(Separators.Spacing.AFTER))
                .withObjectIndenter(new DefaultIndenter("  ", "\n"));
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("tokenizer.json"), json.writer(pp).writeValueAsString(root) + "\n",
                    StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("tokenizer_config.json"), json.writer(pp).writeValueAsString(cfg) + "\n",
                    StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new NemotronException(dir + ": cannot write the demo tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * A minimal BPE trainer. The text is cut into words with {@link #SPLIT_PATTERN}; each distinct word is a list of
     * byte tokens weighted by how often it occurs. Then, until the vocabulary has {@code targetSize} tokens: count
     * every adjacent pair over all words, take the most frequent (ties: the smaller pair of ids, so the result is
     * deterministic), append the merged token (unless the same string is already a token) and replace the pair in
     * every word, left to right.
     *
     * @param vocab the vocabulary so far (specials and bytes); merged tokens are appended to it
     * @return the merges in the order learned, each {left token, right token}
     */
    static List<String[]> train(String text, List<String> vocab, int targetSize) {
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < vocab.size(); id++) {
            ids.put(vocab.get(id), id);
        }
        // distinct words (insertion order, for determinism) with counts
        Map<String, int[]> counts = new LinkedHashMap<>();
        Matcher mt = OnigurumaRegex.compile(SPLIT_PATTERN).matcher(text);
        while (mt.find()) {
            counts.computeIfAbsent(mt.group(), k -> new int[1])[0]++;
        }
        List<int[]> words = new ArrayList<>();
        List<Integer> freq = new ArrayList<>();
        for (Map.Entry<String, int[]> e : counts.entrySet()) {
            byte[] b = e.getKey().getBytes(StandardCharsets.UTF_8);
            int[] w = new int[b.length];
            for (int i = 0; i < b.length; i++) {
                w[i] = ids.get(String.valueOf(ByteLevel.BYTE_TO_CHAR[b[i] & 0xFF]));
            }
            words.add(w);
            freq.add(e.getValue()[0]);
        }
        List<String[]> merges = new ArrayList<>();
        while (vocab.size() < targetSize) {
            Map<Long, Integer> pairs = new HashMap<>();
            for (int k = 0; k < words.size(); k++) {
                int[] w = words.get(k);
                for (int i = 0; i + 1 < w.length; i++) {
                    pairs.merge(((long) w[i] << 32) | w[i + 1], freq.get(k), Integer::sum);
                }
            }
            long best = -1;
            int bestCount = 0;
            for (Map.Entry<Long, Integer> e : pairs.entrySet()) {
                String merged = vocab.get((int) (e.getKey() >>> 32)) + vocab.get((int) (long) e.getKey());
                if (SPECIALS.contains(merged)) {
                    continue;
                }
                if (e.getValue() > bestCount || (e.getValue() == bestCount && e.getKey() < best)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best < 0) {
                throw new IllegalStateException("the demo training text has too few pairs for " + targetSize
                        + " tokens");
            }
            int left = (int) (best >>> 32);
            int right = (int) best;
            String merged = vocab.get(left) + vocab.get(right);
            Integer mergedId = ids.get(merged);
            if (mergedId == null) {
                mergedId = vocab.size();
                vocab.add(merged);
                ids.put(merged, mergedId);
            }
            merges.add(new String[] {vocab.get(left), vocab.get(right)});
            for (int k = 0; k < words.size(); k++) {
                words.set(k, replace(words.get(k), left, right, mergedId));
            }
        }
        return merges;
    }

    private static int[] replace(int[] w, int left, int right, int merged) {
        int[] out = new int[w.length];
        int n = 0;
        for (int i = 0; i < w.length; i++) {
            if (i + 1 < w.length && w[i] == left && w[i + 1] == right) {
                out[n++] = merged;
                i++;
            } else {
                out[n++] = w[i];
            }
        }
        return n == w.length ? w : java.util.Arrays.copyOf(out, n);
    }
}
