package org.nemotron4j.fuzz;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.tokenizer.Tokenizer;

/**
 * The child JVM of {@link MutationCampaign}: reads one job a line from stdin and answers one line on stdout,
 * {@code @@<TAB>verdict<TAB>...}. Jobs:
 * <pre>
 *   C &lt;checkpoint dir&gt; &lt;flags&gt;   load (flags: map|nomap, check|nocheck; always exact precision, CPU), prefill
 *                                  {@link #PROMPT}, one decode step, and a 4-token greedy continuation in a new session
 *   T &lt;tokenizer.json&gt;             load, encode and decode {@link #TEXTS}
 * </pre>
 * Answers: {@code REFUSED <stage> <message>} (a {@link NemotronException} with a message),
 * {@code ACCEPTED <prefill hash> <decode hash> finite=<bool> greedy=<ids | REFUSED: message>} (checkpoints) or
 * {@code ACCEPTED <hash of ids and decoded text> vocab=<n>} (tokenizers), {@code UNCLEAN <throwable>} (anything
 * else thrown, or a NemotronException without a message). A JVM that dies or does not answer is the parent's to see.
 */
public final class MutationProbe {
    /** Token ids below the fixtures' vocabulary (320). */
    static final int[] PROMPT = {1, 17, 42, 99, 5, 250, 7, 300, 64, 3};

    static final String[] TEXTS = {
        "Hello, world! It's 2026; numbers 1234567 and 3.14159.",
        "  leading spaces\n\ttabs\r\nand CRLF   trailing   ",
        "naïve café Größe 日本語のテキスト 🤖🚀 ﬁ Ⅻ",
        "<|endoftext|> <|begin_of_text|><|im_start|>user\nhi<|im_end|><s></s>[INST]",
        "a".repeat(20_000),
        "ab ".repeat(4_000),
        "1".repeat(5_000) + " " + "\u00e9".repeat(3_000),
        "!?".repeat(3_000) + "\n".repeat(500),
        "'s'll're've'd" + "x'".repeat(2_000),
    };

    private MutationProbe() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream answers = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err); // whatever the library prints stays out of the answers
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            String[] job = line.split("\t");
            String answer;
            Stage stage = new Stage();
            try {
                answer = job[0].equals("C") ? checkpoint(Path.of(job[1]), job[2], stage) : tokenizer(Path.of(job[1]), stage);
            } catch (NemotronException e) {
                answer = e.getMessage() == null || e.getMessage().isBlank()
                        ? "UNCLEAN\t" + describe(e)
                        : "REFUSED\t" + stage.name + "\t" + oneLine(e.getMessage());
            } catch (Throwable t) {
                answer = "UNCLEAN\t" + stage.name + ": " + describe(t);
            }
            answers.println("@@\t" + answer);
        }
    }

    static final class Stage {
        String name = "load";
    }

    static String checkpoint(Path dir, String flags, Stage stage) {
        LoadOptions options = LoadOptions.exact().withMemoryMap(!flags.contains("nomap"))
                .withCheckTensors(flags.contains("check") && !flags.contains("nocheck"));
        try (NemotronModel model = NemotronModel.load(dir, Device.cpu(), options)) {
            stage.name = "forward";
            float[] prefill;
            float[] decode;
            try (Session s = model.newSession()) {
                prefill = s.prefill(PROMPT);
                decode = s.decode(argmax(prefill));
            }
            boolean finite = finite(prefill) && finite(decode);
            String greedy;
            stage.name = "greedy";
            try (Session s = model.newSession()) {
                greedy = Arrays.toString(s.generateGreedy(PROMPT, 4)).replace(" ", "");
            } catch (NemotronException e) {
                greedy = "REFUSED: " + oneLine(e.getMessage());
            }
            return "ACCEPTED\t" + hash(prefill) + "\t" + hash(decode) + "\tfinite=" + finite + "\tgreedy=" + greedy;
        }
    }

    static String tokenizer(Path file, Stage stage) {
        Tokenizer tokenizer = Tokenizer.load(file);
        stage.name = "encode";
        long h = 1125899906842597L;
        for (String text : TEXTS) {
            for (boolean special : new boolean[] {true, false}) {
                int[] ids = tokenizer.encode(text, special);
                for (int id : ids) {
                    h = 31 * h + id;
                }
                stage.name = "decode";
                h = 31 * h + tokenizer.decode(ids).hashCode();
                stage.name = "encode";
            }
        }
        return "ACCEPTED\t" + Long.toHexString(h) + "\tvocab=" + tokenizer.vocabSize();
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best] || Float.isNaN(v[best])) {
                best = i;
            }
        }
        return best;
    }

    static boolean finite(float[] v) {
        for (float x : v) {
            if (!Float.isFinite(x)) {
                return false;
            }
        }
        return true;
    }

    static String hash(float[] v) {
        long h = v.length;
        for (float x : v) {
            h = h * 1_000_003L + Float.floatToRawIntBits(x);
        }
        return Long.toHexString(h);
    }

    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder(t.getClass().getName()).append(": ").append(oneLine(t.getMessage()));
        StackTraceElement[] trace = t.getStackTrace();
        for (int i = 0; i < Math.min(4, trace.length); i++) {
            b.append(" | at ").append(trace[i]);
        }
        return b.toString();
    }

    static String oneLine(String s) {
        if (s == null) {
            return "(no message)";
        }
        String one = s.replace('\t', ' ').replace('\n', ' ').replace('\r', ' ');
        return one.length() > 400 ? one.substring(0, 400) + "..." : one;
    }
}
