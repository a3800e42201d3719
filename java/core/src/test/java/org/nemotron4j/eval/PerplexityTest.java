package org.nemotron4j.eval;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Precision;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The perplexity tool on the demo model: windows, streaming, saved distributions, KL-divergence and bad input. */
class PerplexityTest {
    static NemotronModel exact;
    static String text;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() throws Exception {
        Path dir = DemoModelReferenceTest.demoModel();
        exact = NemotronModel.load(dir, org.nemotron4j.Device.cpu(), LoadOptions.exact());
        text = Files.readString(dir.resolve("heldout.txt")).substring(0, 6000);
    }

    @AfterAll
    static void close() {
        if (exact != null) {
            exact.close();
        }
    }

    Path write(String name, String content) throws Exception {
        Path p = tmp.resolve(name);
        Files.writeString(p, content);
        return p;
    }

    /**
     * The definition, computed directly from one prefill per window: {count, exp(mean NLL)}. Each token is scored by
     * the first window that holds it after that window's first token.
     */
    static double[] directPerplexity(NemotronModel model, int[] ids, int ctx, int stride) {
        int v = model.config().vocabSize();
        double nll = 0;
        long n = 0;
        int prevEnd = 0;
        for (int begin = 0; ; begin += stride) {
            int end = Math.min(begin + ctx, ids.length);
            try (var s = model.newSession()) {
                float[] all = s.prefillAll(java.util.Arrays.copyOfRange(ids, begin, end));
                for (int t = Math.max(prevEnd, begin + 1); t < end; t++) {
                    int row = t - begin - 1;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int i = 0; i < v; i++) {
                        max = Math.max(max, all[row * v + i]);
                    }
                    double sum = 0;
                    for (int i = 0; i < v; i++) {
                        sum += Math.exp(all[row * v + i] - max);
                    }
                    nll += max + Math.log(sum) - all[row * v + ids[t]];
                    n++;
                }
            }
            prevEnd = end;
            if (end == ids.length) {
                break;
            }
        }
        return new double[] {n, Math.exp(nll / n)};
    }

    @Test
    void windowsFollowTheDefinition() throws Exception {
        Path f = write("t.txt", text);
        int[] ids = exact.tokenizer().encode(text, false);
        for (int[] cs : new int[][] {{128, 64}, {100, 100}, {96, 17}}) {
            Perplexity.Result r = Perplexity.run(exact, f, new Perplexity.Options(cs[0], cs[1], null, null), null);
            assertEquals(ids.length, r.tokens());
            double[] direct = directPerplexity(exact, ids, cs[0], cs[1]);
            // overlapping windows score every token but the first; windows side by side lose each one's first token
            long expectedScored = cs[1] < cs[0] ? ids.length - 1 : ids.length - (ids.length + cs[0] - 1) / cs[0];
            assertEquals(expectedScored, (long) direct[0]);
            assertEquals(expectedScored, r.scored());
            assertEquals(direct[1], r.perplexity(), direct[1] * 1e-5, "ctx " + cs[0] + " stride " + cs[1]);
            assertTrue(r.stdErr() > 0 && r.stdErr() < r.perplexity());
        }
    }

    @Test
    void streamedTokensEqualTheWholeText() throws Exception {
        Path f = write("t.txt", text);
        int[] whole = exact.tokenizer().encode(text, false);
        for (int block : new int[] {50, 333, 4096}) {
            List<Integer> got = new ArrayList<>();
            try (TextTokens t = new TextTokens(f, exact.tokenizer(), block)) {
                int[] buf = new int[7];
                int n;
                while ((n = t.read(buf, 0, buf.length)) > 0) {
                    for (int i = 0; i < n; i++) {
                        got.add(buf[i]);
                    }
                }
                assertEquals(whole.length, t.estimatedTokens());
            }
            assertArrayEquals(whole, got.stream().mapToInt(Integer::intValue).toArray(), "block " + block);
        }
    }

    @Test
    void klAgainstItselfIsZeroAndAgainstFastModeIsSmall() throws Exception {
        Path f = write("t.txt", text);
        Path saved = tmp.resolve("exact.logits");
        Perplexity.Result base = Perplexity.run(exact, f, new Perplexity.Options(128, 64, saved, null), null);
        assertTrue(Files.size(saved) > 0);
        Perplexity.Result same = Perplexity.run(exact, f, new Perplexity.Options(128, 64, null, saved), null);
        assertEquals(base.perplexity(), same.kl().basePerplexity(), base.perplexity() * 1e-6);
        assertTrue(same.kl().mean() < 1e-6, "KL of a run against itself " + same.kl().mean());
        assertEquals(1.0, same.kl().top1());
        try (NemotronModel fast = NemotronModel.load(DemoModelReferenceTest.demoModel(), org.nemotron4j.Device.cpu(),
                LoadOptions.defaults().withPrecision(Precision.FAST).withKvCacheDtype(org.nemotron4j.DType.BF16)
                        .withMatmulDtype(org.nemotron4j.DType.BF16))) {
            Perplexity.Result r = Perplexity.run(fast, f, new Perplexity.Options(128, 64, null, saved), null);
            assertTrue(r.kl().mean() > 1e-7 && r.kl().mean() < 1e-2, "bf16 KL " + r.kl().mean());
            assertTrue(r.kl().top1() > 0.9, "bf16 top-1 agreement " + r.kl().top1());
            assertTrue(r.kl().median() <= r.kl().p99() && r.kl().p99() <= r.kl().max());
        }
        // other windows, or other text, than the saved run: refused with the reason
        NemotronException e = assertThrows(NemotronException.class,
                () -> Perplexity.run(exact, f, new Perplexity.Options(128, 32, null, saved), null));
        assertTrue(e.getMessage().contains("must match"), e.getMessage());
        Path other = write("other.txt", text.replace("the", "thy"));
        e = assertThrows(NemotronException.class,
                () -> Perplexity.run(exact, other, new Perplexity.Options(128, 64, null, saved), null));
        assertTrue(e.getMessage().contains("other text"), e.getMessage());
        Path shorter = write("short.txt", text.substring(0, text.lastIndexOf('\n', 3000) + 1));
        e = assertThrows(NemotronException.class,
                () -> Perplexity.run(exact, shorter, new Perplexity.Options(128, 64, null, saved), null));
        assertTrue(e.getMessage().contains("more rows"), e.getMessage());
        Path notLogits = write("x.logits", "hello");
        e = assertThrows(NemotronException.class,
                () -> Perplexity.run(exact, f, new Perplexity.Options(128, 64, null, notLogits), null));
        assertTrue(e.getMessage().contains("not a logits file"), e.getMessage());
    }

    @Test
    void badInputIsRefusedWithItsName() throws Exception {
        Path empty = write("empty.txt", "");
        NemotronException e = assertThrows(NemotronException.class,
                () -> Perplexity.run(exact, empty, Perplexity.Options.of(64), null));
        assertTrue(e.getMessage().contains("empty.txt") && e.getMessage().contains("empty"), e.getMessage());

        Path tiny = write("tiny.txt", "And God said, Let there be light.");
        e = assertThrows(NemotronException.class, () -> Perplexity.run(exact, tiny, Perplexity.Options.of(64), null));
        assertTrue(e.getMessage().contains("tiny.txt") && e.getMessage().contains("fewer than one window"),
                e.getMessage());

        Path bad = tmp.resolve("bad.txt");
        byte[] good = text.substring(0, 500).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] bytes = java.util.Arrays.copyOf(good, good.length + 3);
        bytes[good.length] = (byte) 0xC3;       // a lead byte without its continuation
        bytes[good.length + 1] = 'x';
        bytes[good.length + 2] = '\n';
        Files.write(bad, bytes);
        e = assertThrows(NemotronException.class, () -> Perplexity.run(exact, bad, Perplexity.Options.of(32), null));
        assertTrue(e.getMessage().contains("bad.txt") && e.getMessage().contains("UTF-8")
                && e.getMessage().contains("byte offset " + good.length), e.getMessage());

        Path missing = tmp.resolve("missing.txt");
        e = assertThrows(NemotronException.class, () -> Perplexity.run(exact, missing, Perplexity.Options.of(32), null));
        assertTrue(e.getMessage().contains("missing.txt"), e.getMessage());

        Path f = write("t.txt", text);
        e = assertThrows(NemotronException.class,
                () -> Perplexity.run(exact, f, Perplexity.Options.of(1_000_000), null));
        assertTrue(e.getMessage().contains("--ctx"), e.getMessage());
        assertThrows(NemotronException.class, () -> new Perplexity.Options(1, 1, null, null));
        assertThrows(NemotronException.class, () -> new Perplexity.Options(64, 65, null, null));
        assertThrows(NemotronException.class, () -> new Perplexity.Options(64, 0, null, null));
    }

    @Test
    void aFailedRunLeavesNoPartialLogitsFile() throws Exception {
        Path a = write("a.txt", text);
        Path b = write("b.txt", text.substring(0, 3000) + text.substring(3000).replace("the", "thy"));
        Path base = tmp.resolve("a.logits");
        Perplexity.run(exact, a, new Perplexity.Options(64, 64, base, null), null);
        Path saved = tmp.resolve("partial.logits");
        NemotronException e = assertThrows(NemotronException.class,
                () -> Perplexity.run(exact, b, new Perplexity.Options(64, 64, saved, base), null));
        assertTrue(e.getMessage().contains("other text"), e.getMessage());
        assertFalse(Files.exists(saved));
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")));
        }
    }
}
