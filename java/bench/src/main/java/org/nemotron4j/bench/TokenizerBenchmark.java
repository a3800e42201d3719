package org.nemotron4j.bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.nemotron4j.tokenizer.Tokenizer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Tokenizer throughput on one core, in MB/s of UTF-8 text: every operation encodes (or decodes) exactly
 * {@value #TEXT_BYTES} bytes, so the reported ops/s <b>is</b> MB/s.
 *
 * <ul>
 *   <li>{@code encodeMixed}: a deterministic mix of English prose (~60%), source code (~20%), numbers (~10%) and
 *       non-Latin text and emoji (~10%); its frequent words are served by the tokenizer's word cache, as in real
 *       use.</li>
 *   <li>{@code encodeRandomWords}: random letter strings, nearly all missing the word cache: the BPE merge loop
 *       itself.</li>
 *   <li>{@code decodeMixed}: the ids of the mixed text back to a string.</li>
 * </ul>
 * The fixture tokenizers are read from {@code -Dn4j.fixtures} (default {@code ../shared/fixtures}, relative to the
 * working directory; pass it to the forked JVM with {@code -jvmArgs -Dn4j.fixtures=...}). Choose the tokenizer with
 * {@code -p tokenizer=llama3,qwen3,gpt4o}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@Threads(1)
public class TokenizerBenchmark {
    static final int TEXT_BYTES = 1_000_000;

    @Param({"llama3"})
    public String tokenizer;

    private Tokenizer tok;
    private String mixed;
    private String randomWords;
    private int[] mixedIds;

    @Setup
    public void setup() {
        Path fixtures = Path.of(System.getProperty("n4j.fixtures", "../shared/fixtures"));
        Path dir = fixtures.resolve("tokenizers").resolve(tokenizer);
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("no tokenizer fixture at " + dir.toAbsolutePath()
                    + " (set -Dn4j.fixtures, and -jvmArgs -Dn4j.fixtures=... for the forked JVM)");
        }
        tok = Tokenizer.fromDirectory(dir);
        mixed = mixedText(new Random(42));
        randomWords = randomWords(new Random(7));
        mixedIds = tok.encode(mixed, false);
        if (!tok.decode(mixedIds).equals(mixed)) {
            throw new IllegalStateException("round trip of the benchmark text failed");
        }
        System.out.printf("%n[%s] mixed text: %d bytes, %d tokens (%.2f bytes/token)%n", tokenizer,
                utf8Length(mixed), mixedIds.length, utf8Length(mixed) / (double) mixedIds.length);
    }

    @Benchmark
    public int[] encodeMixed() {
        return tok.encode(mixed, false);
    }

    @Benchmark
    public int[] encodeRandomWords() {
        return tok.encode(randomWords, false);
    }

    @Benchmark
    public String decodeMixed() {
        return tok.decode(mixedIds);
    }

    private static final String[] PROSE = {
        "the", "a", "of", "and", "to", "in", "is", "that", "it", "was", "for", "on", "with", "as", "by", "at", "from",
        "model", "layer", "token", "state", "memory", "river", "mountain", "history", "question", "answer", "because",
        "although", "however", "between", "through", "without", "machine", "language", "library", "benchmark",
        "computation", "parallel", "sequence", "attention", "hybrid", "weights", "gradient", "inference", "window",
        "quickly", "carefully", "remarkably", "ordinary", "beautiful", "ancient", "electric", "northern", "tiny",
        "walked", "measured", "explained", "discovered", "wrote", "built", "considered", "returned", "expected",
        "Europe", "Tuesday", "Nemotron", "Java", "Python", "GPU", "NVIDIA", "Mamba", "transformer", "don't", "it's",
        "we'll", "they've", "I'm", "she'd", "you're"};
    private static final String[] CODE = {
        "for (int i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n",
        "def softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum()\n",
        "    if (err != nil) {\n        return fmt.Errorf(\"open %s: %w\", path, err)\n    }\n",
        "SELECT id, name, created_at FROM users WHERE age > 42 ORDER BY name LIMIT 10;\n",
        "const total = items.reduce((acc, x) => acc + x.price * x.qty, 0);\n",
        "public static int[] encode(String text) { return tokenizer.encode(text, false); }\n",
        "<div class=\"card\"><h2>{{ title }}</h2><p>{{ body }}</p></div>\n"};
    private static final String[] UNICODE = {
        "日本語のテキストを分かち書きせずに書きます。", "中文分词测试：你好，世界！今天天气很好。",
        "Русский текст с пунктуацией — и ещё немного слов.", "Ελληνικά κείμενα για δοκιμή.",
        "한국어 텍스트와 숫자 123.", "café naïve résumé façade Ångström Øre", "emoji 😀🎉👍🏽 🇩🇪🇯🇵 ✨",
        "العربية من اليمين إلى اليسار", "हिन्दी पाठ का उदाहरण", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝑥² + 𝑦² = 𝑧²"};

    /** Exactly {@link #TEXT_BYTES} UTF-8 bytes of mixed text. */
    static String mixedText(Random r) {
        StringBuilder sb = new StringBuilder(TEXT_BYTES);
        int bytes = 0;
        while (bytes < TEXT_BYTES) {
            int k = r.nextInt(10);
            StringBuilder part = new StringBuilder();
            if (k < 6) {
                int words = 8 + r.nextInt(14);
                for (int i = 0; i < words; i++) {
                    String w = PROSE[r.nextInt(PROSE.length)];
                    if (i == 0) {
                        w = Character.toUpperCase(w.charAt(0)) + w.substring(1);
                    }
                    part.append(w).append(i == words - 1 ? (r.nextInt(4) == 0 ? ".\n\n" : ". ")
                            : r.nextInt(9) == 0 ? ", " : " ");
                }
            } else if (k < 8) {
                part.append(CODE[r.nextInt(CODE.length)]);
            } else if (k < 9) {
                part.append(r.nextInt(1_000_000)).append(' ').append(String.format("%.4f", r.nextDouble() * 100))
                        .append(" 2026-").append(1 + r.nextInt(12)).append('-').append(1 + r.nextInt(28))
                        .append(", ");
            } else {
                part.append(UNICODE[r.nextInt(UNICODE.length)]).append(' ');
            }
            sb.append(part);
            bytes += utf8Length(part);
        }
        return trimToBytes(sb, TEXT_BYTES);
    }

    /** Exactly {@link #TEXT_BYTES} bytes of random lowercase "words" of 2..12 letters. */
    static String randomWords(Random r) {
        StringBuilder sb = new StringBuilder(TEXT_BYTES);
        while (sb.length() < TEXT_BYTES) {
            int len = 2 + r.nextInt(11);
            for (int i = 0; i < len; i++) {
                sb.append((char) ('a' + r.nextInt(26)));
            }
            sb.append(' ');
        }
        sb.setLength(TEXT_BYTES);
        return sb.toString();
    }

    private static String trimToBytes(CharSequence s, int limit) {
        StringBuilder out = new StringBuilder(s.length());
        int bytes = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = Character.codePointAt(s, i);
            int n = utf8Length(new String(Character.toChars(cp)));
            if (bytes + n > limit) {
                break;
            }
            out.appendCodePoint(cp);
            bytes += n;
            i += Character.charCount(cp);
        }
        while (bytes < limit) {
            out.append(' '); // pad the last cut character's bytes with spaces
            bytes++;
        }
        return out.toString();
    }

    private static int utf8Length(CharSequence s) {
        return s.toString().getBytes(StandardCharsets.UTF_8).length;
    }
}
