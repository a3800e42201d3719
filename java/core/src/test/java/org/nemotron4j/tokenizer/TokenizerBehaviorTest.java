package org.nemotron4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.NemotronException;

/** Behaviour beyond the fixture cases: special tokens, token bytes, round trips, added-token flags, threads. */
class TokenizerBehaviorTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    private static boolean validUtf8(byte[] b) {
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    @Test
    void vocabularyQueries() {
        Tokenizer llama = Fixtures.tokenizer("llama3");
        assertEquals(128256, llama.vocabSize());
        assertEquals(128000, llama.tokenId("<|begin_of_text|>").getAsInt());
        assertEquals("<|begin_of_text|>", llama.token(128000));
        assertTrue(llama.isSpecial(128000));
        assertFalse(llama.isSpecial(9906));
        assertEquals("Hello", llama.token(9906));
        assertEquals(9906, llama.tokenId("Hello").getAsInt());
        assertEquals("ĠHello", llama.token(22691)); // byte-level form: Ġ is the space
        assertTrue(llama.tokenId("no such token at all").isEmpty());
        assertEquals(128000, llama.bosTokenId().getAsInt());
        assertEquals(128001, llama.eosTokenId().getAsInt());
        assertNull(llama.token(llama.vocabSize()));
        assertThrows(NemotronException.class, () -> llama.token(-1));
        assertFalse(llama.isSpecial(-5));

        Tokenizer qwen = Fixtures.tokenizer("qwen3");
        assertTrue(qwen.bosTokenId().isEmpty()); // bos_token null
        assertEquals(151645, qwen.eosTokenId().getAsInt()); // <|im_end|>
        assertFalse(qwen.isSpecial(151667)); // <think> is an added token, not special
        assertTrue(qwen.isSpecial(151643)); // pad_token <|endoftext|>
        assertEquals(151669, qwen.vocabSize());
        assertTrue(qwen.chatTemplate().isPresent());

        Tokenizer gpt = Fixtures.tokenizer("gpt4o");
        assertEquals(200019, gpt.vocabSize());
        assertTrue(gpt.chatTemplate().isEmpty());
        assertArrayEquals(new int[] {199999}, gpt.eosTokenIds());
    }

    @Test
    void specialTokensAreMatchedInText() {
        Tokenizer llama = Fixtures.tokenizer("llama3");
        int[] hi = llama.encode("Hi", false);
        int[] ids = llama.encode("<|begin_of_text|>Hi<|eot_id|>", false);
        assertArrayEquals(concat(new int[] {128000}, hi, new int[] {128009}), ids);
        assertEquals("Hi", llama.decode(ids, true));
        assertEquals("<|begin_of_text|>Hi<|eot_id|>", llama.decode(ids, false));
        // a special token cut short is plain text
        int[] partial = llama.encode("<|begin_of_text", false);
        assertFalse(Arrays.stream(partial).anyMatch(id -> id >= 128000));
        // the post-processor of this llama3 file is ByteLevel: addSpecialTokens adds nothing
        assertArrayEquals(hi, llama.encode("Hi", true));

        Tokenizer qwen = Fixtures.tokenizer("qwen3");
        int[] chat = qwen.encode("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n<think>\n", false);
        assertEquals(151644, chat[0]);
        assertTrue(Arrays.stream(chat).filter(id -> id == 151644).count() == 2);
        assertTrue(Arrays.stream(chat).anyMatch(id -> id == 151645));
        assertTrue(Arrays.stream(chat).anyMatch(id -> id == 151667));
        // skipping special tokens keeps the non-special added token <think>
        assertEquals("user\nhello\nassistant\n<think>\n", qwen.decode(chat, true));
    }

    @Test
    void tokenBytesOfACharacterSplitOverTokens() {
        Tokenizer llama = Fixtures.tokenizer("llama3");
        String text = "emoji 😀🎉👍🏽 and 𝔘𝔫𝔦 and 日本語";
        int[] ids = llama.encode(text, false);
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        boolean sawPartial = false;
        for (int id : ids) {
            byte[] b = llama.tokenBytes(id);
            sawPartial |= !validUtf8(b);
            all.writeBytes(b);
        }
        assertTrue(sawPartial, "some token should hold only part of a character");
        assertArrayEquals(text.getBytes(StandardCharsets.UTF_8), all.toByteArray());
        assertTrue(validUtf8(all.toByteArray()));
        assertEquals(text, llama.decode(ids));
        // a token cut off from the rest of its character decodes to U+FFFD
        for (int id : ids) {
            if (!validUtf8(llama.tokenBytes(id))) {
                assertTrue(llama.decode(new int[] {id}).contains("\uFFFD"));
            }
        }
        // added tokens: their content in UTF-8; tokenBytes returns a copy
        assertArrayEquals("<|eot_id|>".getBytes(StandardCharsets.UTF_8), llama.tokenBytes(128009));
        llama.tokenBytes(9906)[0] = 0;
        assertEquals("Hello", llama.decode(new int[] {9906}));
        assertEquals(0, llama.tokenBytes(llama.vocabSize() + 10).length);
        assertEquals("Hello", llama.decode(new int[] {9906, llama.vocabSize() + 10}));
    }

    @Test
    void lossyDecodingReplacesMaximalSubparts() {
        // Unicode 15, section 3.9, "U+FFFD Substitution of Maximal Subparts"
        byte[] b = {0x61, (byte) 0xF1, (byte) 0x80, (byte) 0x80, (byte) 0xE1, (byte) 0x80, (byte) 0xC2, 0x62,
            (byte) 0x80, 0x63, (byte) 0x80, (byte) 0xBF, 0x64};
        assertEquals("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd", Utf8.decodeLossy(b, 0, b.length));
        byte[] surrogate = {(byte) 0xED, (byte) 0xA0, (byte) 0x80}; // ED A0: not well-formed, 3 replacements
        assertEquals("\uFFFD\uFFFD\uFFFD", Utf8.decodeLossy(surrogate, 0, 3));
        byte[] overlong = {(byte) 0xC0, (byte) 0xAF, (byte) 0xF0, (byte) 0x80, (byte) 0x80, 0x41};
        assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD\uFFFDA", Utf8.decodeLossy(overlong, 0, overlong.length));
        byte[] good = "héllo 日本 😀".getBytes(StandardCharsets.UTF_8);
        assertEquals("héllo 日本 😀", Utf8.decodeLossy(good, 0, good.length));
        byte[] truncated = Arrays.copyOf(good, good.length - 1);
        assertEquals("héllo 日本 \uFFFD", Utf8.decodeLossy(truncated, 0, truncated.length));
    }

    @Test
    void unpairedSurrogatesEncodeAsReplacementCharacter() {
        Tokenizer gpt = Fixtures.tokenizer("gpt4o");
        assertArrayEquals(gpt.encode("a\uFFFDb", false), gpt.encode("a\uD800b", false));
        assertArrayEquals(gpt.encode("\uFFFD", false), gpt.encode("\uDC00", false));
    }

    /** Random strings over scripts, whitespace, digits, punctuation, emoji, controls and special tokens. */
    private static String randomText(Random r, List<String> specials) {
        int[][] ranges = {
            {0x20, 0x7E}, {0x20, 0x7E}, {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0xFF}, {0x100, 0x24F}, {0x300, 0x36F},
            {0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x6FF}, {0x900, 0x97F}, {0x2000, 0x206F}, {0x3000, 0x30FF},
            {0x4E00, 0x4FFF}, {0xAC00, 0xAD00}, {0xFE00, 0xFEFF}, {0x1F300, 0x1F6FF}, {0x1D400, 0x1D7FF},
            {0x0, 0x1F}, {0x10000, 0x10FFFF}};
        StringBuilder sb = new StringBuilder();
        int n = r.nextInt(40);
        for (int i = 0; i < n; i++) {
            if (r.nextInt(30) == 0 && !specials.isEmpty()) {
                sb.append(specials.get(r.nextInt(specials.size())));
                continue;
            }
            int[] range = ranges[r.nextInt(ranges.length)];
            int cp;
            do {
                cp = range[0] + r.nextInt(range[1] - range[0] + 1);
            } while (Character.getType(cp) == Character.SURROGATE);
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }

    @Test
    void randomUnicodeRoundTrips() {
        Random r = new Random(20240611);
        for (String name : List.of("llama3", "qwen3", "gpt4o")) {
            Tokenizer tok = Fixtures.tokenizer(name);
            List<String> specials = tok.addedTokens().stream().map(AddedToken::content).limit(20).toList();
            for (int i = 0; i < 1500; i++) {
                String s = randomText(r, specials);
                int[] ids = tok.encode(s, false);
                String expected = name.equals("qwen3") ? nfcOutsideAddedTokens(s, specials) : s;
                assertEquals(expected, tok.decode(ids), () -> name + " round trip of " + escape(s));
                for (int id : ids) {
                    assertTrue(id >= 0 && id < tok.vocabSize());
                }
            }
        }
        Tokenizer demo = demo();
        for (int i = 0; i < 1500; i++) {
            String s = randomText(r, DemoTokenizer.specialTokens());
            assertEquals(s, demo.decode(demo.encode(s, false)), () -> "demo round trip of " + escape(s));
        }
    }

    /** What qwen3's NFC normalizer leaves of {@code s}: NFC between the (non-normalized) added tokens. */
    private static String nfcOutsideAddedTokens(String s, List<String> specials) {
        // the random texts only hold specials as whole insertions; cut around them and normalize the rest
        StringBuilder out = new StringBuilder();
        int pos = 0;
        while (pos < s.length()) {
            int best = -1;
            String bestTok = null;
            for (String t : specials) {
                int k = s.indexOf(t, pos);
                if (k >= 0 && (best < 0 || k < best || (k == best && t.length() > bestTok.length()))) {
                    best = k;
                    bestTok = t;
                }
            }
            if (best < 0) {
                out.append(Normalizer.normalize(s.substring(pos), Normalizer.Form.NFC));
                break;
            }
            out.append(Normalizer.normalize(s.substring(pos, best), Normalizer.Form.NFC)).append(bestTok);
            pos = best + bestTok.length();
        }
        return out.toString();
    }

    private static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        s.codePoints().forEach(cp -> {
            if (cp >= 0x20 && cp < 0x7F) {
                sb.append((char) cp);
            } else {
                sb.append(String.format("\\u{%X}", cp));
            }
        });
        return sb.toString();
    }

    private Tokenizer demo() {
        Path d = dir.resolve("demo");
        DemoTokenizer.write(d);
        return Tokenizer.fromDirectory(d);
    }

    @Test
    void concurrentEncodingMatchesSequential() throws Exception {
        Tokenizer tok = Fixtures.tokenizer("gpt4o");
        Random r = new Random(5);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            StringBuilder sb = new StringBuilder();
            for (int w = 0; w < 50; w++) {
                sb.append(' ').append(Integer.toString(r.nextInt(1 << 20), 36)).append(randomText(r, List.of()));
            }
            texts.add(sb.toString());
        }
        // reference: one thread, in order
        List<int[]> reference = texts.stream().map(t -> tok.encode(t, false)).toList();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int thread = 0; thread < 4; thread++) {
                int seed = thread;
                results.add(pool.submit(() -> {
                    Random order = new Random(seed);
                    for (int k = 0; k < 500; k++) {
                        int i = order.nextInt(texts.size());
                        if (!Arrays.equals(reference.get(i), tok.encode(texts.get(i), false))) {
                            return false;
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : results) {
                assertTrue(f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    // ---- added-token flags, normalizers and pre-tokenizers on hand-made tokenizers ----

    /** The demo tokenizer.json with extra added tokens (ids from 600) and optionally a normalizer. */
    private Tokenizer demoWith(String normalizer, ObjectNode... tokens) throws IOException {
        Path d = dir.resolve("custom" + System.nanoTime());
        DemoTokenizer.write(d);
        Path file = d.resolve("tokenizer.json");
        ObjectNode root = (ObjectNode) JSON.readTree(file.toFile());
        ArrayNode added = (ArrayNode) root.get("added_tokens");
        for (ObjectNode t : tokens) {
            added.add(t);
        }
        if (normalizer != null) {
            root.putObject("normalizer").put("type", normalizer);
        }
        JSON.writeValue(file.toFile(), root);
        return Tokenizer.load(file);
    }

    private static ObjectNode token(int id, String content, boolean lstrip, boolean rstrip, boolean singleWord,
                                    boolean normalized, boolean special) {
        ObjectNode t = JSON.createObjectNode();
        t.put("id", id).put("content", content).put("lstrip", lstrip).put("rstrip", rstrip)
                .put("single_word", singleWord).put("normalized", normalized).put("special", special);
        return t;
    }

    @Test
    void addedTokenStripAndSingleWord() throws IOException {
        Tokenizer t = demoWith(null,
                token(600, "[L]", true, false, false, false, true),
                token(601, "[R]", false, true, false, false, true),
                token(602, "word", false, false, true, false, false),
                token(603, "[LR]", true, true, false, false, true));
        assertEquals(604, t.vocabSize());
        int[] a = t.encode("a", false);
        int[] b = t.encode("b", false);
        assertArrayEquals(concat(a, new int[] {600}, b), t.encode("a \t [L]b", false));
        assertArrayEquals(concat(a, new int[] {601}, b), t.encode("a[R] \n b", false));
        assertArrayEquals(concat(a, new int[] {603}, b), t.encode("a  [LR]  b", false));
        assertArrayEquals(concat(a, t.encode(" ", false), new int[] {601}, b), t.encode("a [R] b", false));
        // single_word: only where no word character touches it
        assertArrayEquals(concat(t.encode("a ", false), new int[] {602}, t.encode(" b", false)),
                t.encode("a word b", false));
        assertFalse(Arrays.stream(t.encode("swordfish", false)).anyMatch(id -> id == 602));
        assertFalse(Arrays.stream(t.encode("words", false)).anyMatch(id -> id == 602));
        assertArrayEquals(new int[] {602}, t.encode("word", false));
        assertArrayEquals(concat(new int[] {602}, t.encode(".", false)), t.encode("word.", false));
        // not special: decode(skipSpecialTokens) keeps it
        assertEquals("word", t.decode(new int[] {602, 600}, true));
    }

    @Test
    void gpt2StyleByteLevelWithPrefixSpace() throws IOException {
        Tokenizer demo = demo();
        Path d = dir.resolve("gpt2style");
        DemoTokenizer.write(d);
        Path file = d.resolve("tokenizer.json");
        ObjectNode root = (ObjectNode) JSON.readTree(file.toFile());
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", true)
                .put("use_regex", true);
        root.putNull("post_processor");
        JSON.writeValue(file.toFile(), root);
        Tokenizer gpt2 = Tokenizer.load(file);
        // empty text stays empty: no prefix space is added to nothing
        assertArrayEquals(new int[0], gpt2.encode("", false));
        assertArrayEquals(new int[0], gpt2.encode("", true));
        // the prefix space goes in front of every piece between added tokens
        assertArrayEquals(demo.encode(" Hello world", false), gpt2.encode("Hello world", false));
        assertArrayEquals(demo.encode(" Hello", false), gpt2.encode(" Hello", false));
        assertArrayEquals(concat(new int[] {DemoTokenizer.BOS_ID}, demo.encode(" Hi", false),
                new int[] {DemoTokenizer.EOS_ID}, demo.encode(" there", false)),
                gpt2.encode("<s>Hi</s>there", false));
        // GPT-2 regex: contractions and runs of letters, digits, other
        assertArrayEquals(demo.encode(" it's 42!!", false), gpt2.encode("it's 42!!", false));
    }

    @Test
    void longestAddedTokenWins() throws IOException {
        Tokenizer t = demoWith(null,
                token(600, "<a>", false, false, false, false, true),
                token(601, "<a><b>", false, false, false, false, true));
        assertArrayEquals(new int[] {601, 600}, t.encode("<a><b><a>", false));
    }

    @Test
    void normalizedAddedTokensMatchAfterNormalization() throws IOException {
        String composed = "\u00E9t\u00E9";   // été
        String decomposed = "e\u0301te\u0301";
        Tokenizer nfc = demoWith("NFC", token(600, composed, false, false, false, true, false));
        assertArrayEquals(new int[] {600}, nfc.encode(decomposed, false));
        assertArrayEquals(new int[] {600}, nfc.encode(composed, false));
        assertEquals(nfc.decode(nfc.encode("Cafe\u0301 x", false)), "Caf\u00E9 x");
        // a non-normalized token is looked for in the raw text only
        Tokenizer raw = demoWith("NFC", token(600, composed, false, false, false, false, false));
        assertArrayEquals(new int[] {600}, raw.encode(composed, false));
        assertFalse(Arrays.stream(raw.encode(decomposed, false)).anyMatch(id -> id == 600));
        Tokenizer nfd = demoWith("NFD");
        assertEquals(decomposed, nfd.decode(nfd.encode(composed, false)));
    }

    @Test
    void splitBehaviours() {
        // the example of the Hugging Face documentation of SplitDelimiterBehavior
        String text = "the-final--countdown";
        assertEquals(List.of("the", "final", "countdown"), split(PreTokenizer.Behavior.REMOVED, false, text));
        assertEquals(List.of("the", "-", "final", "-", "-", "countdown"),
                split(PreTokenizer.Behavior.ISOLATED, false, text));
        assertEquals(List.of("the-", "final-", "-", "countdown"),
                split(PreTokenizer.Behavior.MERGED_WITH_PREVIOUS, false, text));
        assertEquals(List.of("the", "-final", "-", "-countdown"),
                split(PreTokenizer.Behavior.MERGED_WITH_NEXT, false, text));
        assertEquals(List.of("the", "-", "final", "--", "countdown"),
                split(PreTokenizer.Behavior.CONTIGUOUS, false, text));
        // invert: the matches are the content, the rest the delimiters
        assertEquals(List.of("-", "-", "-"), split(PreTokenizer.Behavior.REMOVED, true, text));
        assertEquals(List.of("the-", "final-", "-", "countdown"),
                split(PreTokenizer.Behavior.MERGED_WITH_NEXT, true, text));
        assertEquals(List.of("the", "-final", "-", "-countdown"),
                split(PreTokenizer.Behavior.MERGED_WITH_PREVIOUS, true, text));
    }

    private static List<String> split(PreTokenizer.Behavior behavior, boolean invert, String text) {
        PreTokenizer.Split s = new PreTokenizer.Split(OnigurumaRegex.literal("-"), behavior, invert, 0);
        List<String> out = new ArrayList<>();
        s.split(new EncodeContext(1, 8), text, 0, text.length(), (str, a, b) -> out.add(str.substring(a, b)));
        return out;
    }

    @Test
    void digitsAndByteLevelPreTokenizers() {
        List<String> out = new ArrayList<>();
        new PreTokenizer.Digits(true).split(new EncodeContext(0, 8), "ab123c٣4", 0, 8,
                (s, a, b) -> out.add(s.substring(a, b)));
        assertEquals(List.of("ab", "1", "2", "3", "c", "٣", "4"), out);
        out.clear();
        new PreTokenizer.Digits(false).split(new EncodeContext(0, 8), "ab123c٣4", 0, 8,
                (s, a, b) -> out.add(s.substring(a, b)));
        assertEquals(List.of("ab", "123", "c", "٣4"), out);
        out.clear();
        new PreTokenizer.ByteLevelSplit(true, true, 0).split(new EncodeContext(1, 8), "Hello world's  end!!", 0, 20,
                (s, a, b) -> out.add(s.substring(a, b)));
        assertEquals(List.of(" Hello", " world", "'s", " ", " end", "!!"), out);
    }

    @Test
    void onigurumaTranslation() {
        // \s is Unicode White_Space, as in Oniguruma; U+200B and U+FEFF are not white space
        var ws = OnigurumaRegex.compile("\\s+");
        assertTrue(ws.matcher("\u00A0\u2009\u3000\u0085\u2028\u000B").matches());
        assertFalse(ws.matcher("\u200B").matches());
        assertFalse(ws.matcher("\uFEFF").matches());
        assertFalse(ws.matcher("\u001C").matches());
        // (?i:...) folds by Unicode rules, but does not make \p{Lu} caseless
        var contraction = OnigurumaRegex.compile("(?i:'s|'ll)");
        assertTrue(contraction.matcher("'S").matches());
        assertTrue(contraction.matcher("'\u017F").matches()); // long s
        assertTrue(contraction.matcher("'lL").matches());
        var upper = OnigurumaRegex.compile("(?i:x)\\p{Lu}");
        assertFalse(upper.matcher("Xa").matches());
        assertTrue(upper.matcher("xA").matches());
        assertTrue(OnigurumaRegex.compile("\\p{L}\\p{N}\\p{M}").matcher("ж٣\u0301").matches());
        assertTrue(OnigurumaRegex.compile("\\h{2}").matcher("aF").matches());
        assertTrue(OnigurumaRegex.compile("a{,2}").matcher("aa").matches());
        assertTrue(OnigurumaRegex.compile("[[:alpha:]]+").matcher("abΩ").matches());
        assertTrue(OnigurumaRegex.compile("\\p{^L}").matcher("1").matches());
        assertTrue(OnigurumaRegex.compile("\\v").matcher("\u000B").matches());
        assertFalse(OnigurumaRegex.compile("\\v").matcher("\n").matches());
        assertTrue(OnigurumaRegex.compile("\\p{Han}+\\p{Hiragana}").matcher("日本の").matches());
        assertTrue(OnigurumaRegex.compile("x++y").matcher("xxy").matches());
        assertTrue(OnigurumaRegex.compile("\\s+(?!\\S)").matcher("  ").matches());
        assertTrue(OnigurumaRegex.compile("(?m:a.b)").matcher("a\nb").matches()); // Ruby's m is dot-all
        assertThrows(IllegalArgumentException.class, () -> OnigurumaRegex.compile("a\\Kb"));
        assertThrows(IllegalArgumentException.class, () -> OnigurumaRegex.compile("\\p{NoSuchProperty}"));
    }

    @Test
    void addSpecialTokensFollowsTheConfig() throws IOException {
        Tokenizer demo = demo();
        int[] plain = demo.encode("Hello", false);
        assertArrayEquals(concat(new int[] {DemoTokenizer.BOS_ID}, plain), demo.encode("Hello", true));
        // add_bos_token false in the config takes BOS away; add_eos_token true appends EOS
        Path d = dir.resolve("demo");
        Path cfg = d.resolve("tokenizer_config.json");
        ObjectNode c = (ObjectNode) JSON.readTree(cfg.toFile());
        c.put("add_bos_token", false);
        c.put("add_eos_token", true);
        JSON.writeValue(cfg.toFile(), c);
        Tokenizer t = Tokenizer.fromDirectory(d);
        assertArrayEquals(concat(plain, new int[] {DemoTokenizer.EOS_ID}), t.encode("Hello", true));
        assertArrayEquals(new int[] {DemoTokenizer.EOS_ID}, t.encode("", true));
        // no config: the post-processor alone decides
        assertArrayEquals(concat(new int[] {DemoTokenizer.BOS_ID}, plain),
                Tokenizer.load(d.resolve("tokenizer.json")).encode("Hello", true));
    }

    @Test
    void longWordsAndRunsEncodeLikeShortOnes() {
        Tokenizer gpt = Fixtures.tokenizer("gpt4o");
        String run = "a".repeat(10_000);
        int[] ids = gpt.encode(run, false);
        assertEquals(run, gpt.decode(ids));
        String spaces = " ".repeat(5000) + "x";
        assertEquals(spaces, gpt.decode(gpt.encode(spaces, false)));
        String big = IntStream.range(0, 2000).mapToObj(i -> "word" + i + " ").reduce("", String::concat);
        assertEquals(big, gpt.decode(gpt.encode(big, false)));
    }
}
