package org.nemotron4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/**
 * The hand-written pre-tokenizer matchers give exactly the matches of java.util.regex on the translated regex: on
 * random text over every character class the patterns distinguish, lone surrogates included.
 */
class FastSplitPatternTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Characters by class: letters of every case category, marks, numbers, white space of every kind, others. */
    private static final int[] ALPHABET = {
        'a', 'b', 'e', 'l', 'm', 'r', 's', 't', 'v', 'd', 'A', 'B', 'E', 'L', 'M', 'R', 'S', 'T', 'V', 'D', 'x', 'Z',
        '\'', '\'', '\'', ' ', ' ', ' ', ' ', '\t', '\n', '\n', '\r', 0x0B, 0x0C, '0', '1', '7', '9', '.', ',', '!',
        '/', '/', '-', '_', '#', '(', ')', '"', '$', '*', 0x00, 0x1C, 0x7F,
        0x017F /* ſ */, 0x0130 /* İ */, 0x0131 /* ı */, 0x212A /* Kelvin */, 0x01C5 /* ǅ Lt */, 0x02B0 /* ʰ Lm */,
        0x30FC /* ー Lm */, 0x65E5 /* 日 Lo */, 0x30A2 /* ア Lo */, 0x05D0 /* א Lo */, 0x00E9, 0x00C9, 0x00DF,
        0x0416, 0x0436, 0x03A3, 0x03C9, 0x0301 /* Mn */, 0x0308, 0x0903 /* Mc */, 0x20DD /* Me */, 0x0663 /* Nd */,
        0x216B /* Nl */, 0x00BD /* No */, 0x00B2, 0x00A0, 0x2009, 0x3000, 0x0085, 0x2028, 0x2029, 0x1680, 0x202F,
        0x200B /* Cf */, 0xFEFF, 0x180E, 0x00AD, 0x2019 /* ’ */, 0x1F600 /* emoji */, 0x1F3FD, 0x1D518 /* 𝔘 Lu */,
        0x1D51E /* 𝔞 Ll */, 0x1D7CE /* 𝟎 Nd */, 0x20000 /* CJK ext B Lo */, 0xD800 /* lone high */,
        0xDC00 /* lone low */, 0xE000 /* private use */, 0x0378 /* unassigned */};

    private static String randomText(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = r.nextInt(48);
        for (int i = 0; i < n; i++) {
            // runs of one class make the interesting boundaries more likely
            int cp = ALPHABET[r.nextInt(ALPHABET.length)];
            int repeat = r.nextInt(6) == 0 ? 1 + r.nextInt(4) : 1;
            for (int k = 0; k < repeat; k++) {
                sb.appendCodePoint(cp);
            }
        }
        return sb.toString();
    }

    private static Map<String, String> patterns;

    private static synchronized Map<String, String> patterns() throws IOException {
        if (patterns != null) {
            return patterns;
        }
        Map<String, String> p = new LinkedHashMap<>();
        for (String name : List.of("llama3", "qwen3", "gpt4o")) {
            // a filtered read: no tree for the 10 MB of vocabulary
            p.put(name, JSON.readerFor(JsonNode.class).at("/pre_tokenizer/pretokenizers/0/pattern/Regex")
                    .<JsonNode>readValue(Fixtures.tokenizerDir(name).resolve("tokenizer.json").toFile()).asText());
        }
        p.put("gpt2", PreTokenizer.ByteLevelSplit.GPT2_PATTERN);
        p.put("demo", DemoTokenizer.SPLIT_PATTERN);
        p.put("tekken-style", FastSplitPattern.o200k("\\p{N}", false));
        p.put("cl100k-digit-runs", FastSplitPattern.cl100k("\\p{N}+"));
        patterns = p;
        return p;
    }

    @Test
    void fixturePatternsAreRecognized() throws IOException {
        for (Map.Entry<String, String> e : patterns().entrySet()) {
            assertNotNull(FastSplitPattern.recognize(e.getValue()), e.getKey());
        }
        assertNull(FastSplitPattern.recognize("\\p{L}+|\\s+"));
        assertNull(FastSplitPattern.recognize(PreTokenizer.ByteLevelSplit.GPT2_PATTERN + "|x"));
    }

    @Test
    void sameMatchesAsJavaUtilRegex() throws IOException {
        Random r = new Random(1234);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            texts.add(randomText(r));
        }
        for (String line : java.nio.file.Files.readAllLines(Fixtures.tokenizerDir("llama3").resolve("cases.jsonl"))) {
            texts.add(JSON.readTree(line).get("text").asText());
        }
        for (Map.Entry<String, String> e : patterns().entrySet()) {
            Pattern regex = OnigurumaRegex.compile(e.getValue());
            FastSplitPattern fast = FastSplitPattern.recognize(e.getValue());
            for (String text : texts) {
                // whole text, and a region inside it (bounds must behave as the end of input)
                // (at code point boundaries: pieces never cut a surrogate pair)
                int from = text.isEmpty() ? 0 : r.nextInt(text.length());
                int to = from + (text.length() == from ? 0 : r.nextInt(text.length() - from + 1));
                from = snap(text, from);
                to = Math.max(from, snap(text, to));
                for (int[] region : new int[][] {{0, text.length()}, {from, to}}) {
                    List<String> expected = new ArrayList<>();
                    Matcher m = regex.matcher(text).region(region[0], region[1]);
                    while (m.find()) {
                        expected.add(m.start() + ":" + m.end());
                    }
                    List<String> got = new ArrayList<>();
                    PreTokenizer.Finder f = new PreTokenizer.Finder(regex, fast).reset(text, region[0], region[1]);
                    while (f.find()) {
                        got.add(f.start() + ":" + f.end());
                    }
                    assertEquals(expected, got, () -> e.getKey() + " on " + escape(text) + " region "
                            + region[0] + ".." + region[1]);
                }
            }
        }
    }

    private static int snap(String s, int i) {
        return i > 0 && i < s.length() && Character.isLowSurrogate(s.charAt(i))
                && Character.isHighSurrogate(s.charAt(i - 1)) ? i - 1 : i;
    }

    private static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            sb.append(c >= 0x20 && c < 0x7F ? String.valueOf(c) : String.format("\\u%04X", (int) c));
        }
        return sb.toString();
    }
}
