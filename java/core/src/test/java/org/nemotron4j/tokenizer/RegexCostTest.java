package org.nemotron4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.NemotronException;

/**
 * Fuzzing findings on tokenizer.json regexes: a {@code (.*)*x} Split pattern ran for minutes on a long line, a
 * pattern recursing per character ({@code (a|b)*c}) threw StackOverflowError on a long line, an unbounded
 * look-behind (which Oniguruma refuses) was accepted and took 40 s, and a pre-tokenizer Sequence of thousands of
 * steps overflowed the stack. Matching now has a bounded cost and each failure is a NemotronException naming the
 * pattern; the Sequence runs step by step.
 */
class RegexCostTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** The demo tokenizer with a pre_tokenizer Sequence of {@code splits} Split steps of {@code regex}, then ByteLevel. */
    private Tokenizer withSplit(String regex, int splits) throws Exception {
        DemoTokenizer.write(dir);
        Path file = dir.resolve("tokenizer.json");
        ObjectNode root = (ObjectNode) JSON.readTree(file.toFile());
        ObjectNode seq = root.putObject("pre_tokenizer");
        seq.put("type", "Sequence");
        ArrayNode steps = seq.putArray("pretokenizers");
        for (int i = 0; i < splits; i++) {
            ObjectNode split = steps.addObject();
            split.put("type", "Split");
            split.putObject("pattern").put("Regex", regex);
            split.put("behavior", "Isolated");
            split.put("invert", false);
        }
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", false)
                .put("trim_offsets", true);
        JSON.writeValue(file.toFile(), root);
        return Tokenizer.fromDirectory(dir);
    }

    /** Runs {@code body} on a thread with a 1 MiB stack (a JVM's default for new threads); returns what it threw. */
    private static Throwable onSmallStack(Runnable body) throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = new Thread(null, () -> {
            try {
                body.run();
            } catch (Throwable e) {
                thrown.set(e);
            }
        }, "small-stack", 1 << 20);
        t.start();
        t.join();
        return thrown.get();
    }

    private static void namesThePattern(Throwable e, String pattern, String what) {
        assertTrue(e instanceof NemotronException, () -> "expected a NemotronException, got " + e);
        assertTrue(e.getMessage().contains("'" + pattern + "'") && e.getMessage().contains(what), e.getMessage());
    }

    @Test
    void recursivePatternOnALongLineIsAnErrorNotAStackOverflow() throws Exception {
        Tokenizer t = withSplit("(a|b)*c", 1);
        Throwable e = onSmallStack(() -> t.encode("ab".repeat(100_000), false));
        namesThePattern(e, "(a|b)*c", "overflowed the stack");
        assertArrayEquals(t.encode("abc ab", false), t.encode("abc ab", false)); // short lines still work
    }

    @Test
    void catastrophicBacktrackingIsBounded() throws Exception {
        Tokenizer t = withSplit("(.*)*x", 1);
        NemotronException e = assertTimeoutPreemptively(Duration.ofSeconds(30),
                () -> assertThrows(NemotronException.class, () -> t.encode("a".repeat(50_000), false)));
        namesThePattern(e, "(.*)*x", "steps");
        t.encode("aaax", false); // a short piece is fine
    }

    @Test
    void unboundedLookBehindIsRefusedAtLoad() throws Exception {
        for (String p : new String[] {"(?<=a+)b", "(?<!\\s*)x", "(?<=(ab){2,})c"}) {
            NemotronException e = assertThrows(NemotronException.class, () -> withSplit(p, 1));
            assertTrue(e.getMessage().contains(p) && e.getMessage().contains("look-behind")
                    && e.getMessage().contains("tokenizer.json"), e.getMessage());
        }
        withSplit("(?<=ab|c)d(?<!x{2})", 1).encode("abd cd", false); // bounded look-behinds stay accepted
    }

    @Test
    void aSequenceOfThousandsOfStepsDoesNotOverflowTheStack() throws Exception {
        Tokenizer many = withSplit(" ", 5000);
        Tokenizer one = withSplit(" ", 1);
        String text = "the quick brown fox jumps over the lazy dog";
        Throwable e = onSmallStack(() -> assertArrayEquals(one.encode(text, false), many.encode(text, false)));
        assertTrue(e == null, () -> "threw " + e);
    }
}
