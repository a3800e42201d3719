package org.nemotron4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.checkpoint.SafetensorsFile;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class CliTest {
    record Result(int code, String out, String err) { }

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Path fixtures() {
        String p = System.getProperty("n4j.fixtures");
        Path dir = p != null ? Path.of(p) : Path.of("../../../shared/fixtures");
        if (!Files.isDirectory(dir)) {
            fail("fixtures directory " + dir.toAbsolutePath() + " is missing");
        }
        return dir;
    }

    @Test
    void createModelThenInspectGenerateAndLogits(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("tiny");
        Result r = run("create-model", "--config", fixtures().resolve("nemotron-h-tiny/config.json").toString(),
                "--out", model.toString(), "--seed", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.exists(model.resolve("model.safetensors")));

        r = run("inspect", "--model", model.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("M*M-M-*-"), r.out());
        assertTrue(r.out().contains("parameters"), r.out());

        r = run("generate", "--model", model.toString(), "--ids", "5,17,42", "-n", "6");
        assertEquals(0, r.code(), r.err());
        String[] ids = r.out().trim().split(",");
        assertEquals(6, ids.length, r.out());

        Path prefill = tmp.resolve("p.safetensors");
        Path decode = tmp.resolve("d.safetensors");
        assertEquals(0, run("logits", "--model", model.toString(), "--ids", "5,17,42,7", "--precision", "exact", "--out", prefill.toString()).code());
        assertEquals(0, run("logits", "--model", model.toString(), "--ids", "5,17,42,7", "--precision", "exact", "--decode", "--out", decode.toString()).code());
        try (SafetensorsFile a = SafetensorsFile.open(prefill); SafetensorsFile b = SafetensorsFile.open(decode)) {
            assertArrayEquals(new long[] {4, 320}, a.tensor("logits").shape());
            float[] x = a.tensor("logits").toFloatArray();
            float[] y = b.tensor("logits").toFloatArray();
            double max = 0;
            double diff = 0;
            for (int i = 0; i < x.length; i++) {
                max = Math.max(max, Math.abs(x[i]));
                diff = Math.max(diff, Math.abs(x[i] - y[i]));
            }
            assertTrue(diff <= 1e-4 * max, "prefill vs decode logits differ by " + diff);
        }
    }

    @Test
    void runAndChatOnTheDemoModel(@TempDir Path tmp) throws Exception {
        Path demo = DemoModel.ensure(tmp.resolve("demo"), new PrintStream(new ByteArrayOutputStream()));
        Result r = run("run", "--model", demo.toString(), "--prompt", "Hello", "--max-tokens", "12", "--seed", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("generated 12 tokens") || r.err().contains("stop;"), r.err());
        Result again = run("run", "--model", demo.toString(), "--prompt", "Hello", "--max-tokens", "12", "--seed", "3");
        assertEquals(r.out(), again.out(), "same seed, same output");

        r = run("run", "--model", demo.toString(), "--prompt", "Hello", "--max-tokens", "6", "--no-think", "--temperature", "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("(0 reasoning)"), r.err());

        r = run("run", "--model", demo.toString(), "--prompt", "   ");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--prompt is empty"), r.err());

        r = run("run", "--model", demo.toString(), "--prompt", "Hello", "--max-tokens", "4", "--seed", "3", "--kv", "bf16");
        assertEquals(0, r.code(), r.err());
        r = run("run", "--model", demo.toString(), "--prompt", "Hello", "--kv", "f16");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--kv must be bf16 or f32, got f16"), r.err());
        r = run("run", "--model", demo.toString(), "--prompt", "Hello", "--max-tokens", "4", "--seed", "3", "--activations", "bf16");
        assertEquals(0, r.code(), r.err());
        r = run("run", "--model", demo.toString(), "--prompt", "Hello", "--activations", "fp8");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--activations must be bf16 or f32, got fp8"), r.err());

        var stdin = System.in;
        try {
            System.setIn(new java.io.ByteArrayInputStream("hi there\n/no_think\nand again\n/reset\n/exit\n".getBytes(StandardCharsets.UTF_8)));
            r = run("chat", "--model", demo.toString(), "--max-tokens", "5", "--seed", "1");
        } finally {
            System.setIn(stdin);
        }
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("reasoning off") && r.err().contains("conversation cleared"), r.err());
    }

    @Test
    void theDemoModelContinuesEnglishOnStdout(@TempDir Path tmp) throws Exception {
        Path demo = DemoModel.ensure(tmp.resolve("demo"), new PrintStream(new ByteArrayOutputStream()));
        assertTrue(Files.readString(demo.resolve(".complete")).contains(DemoModel.VERSION));
        assertEquals(demo, DemoModel.ensure(demo, new PrintStream(new ByteArrayOutputStream())), "unpacked once");
        Result r = run("run", "--model", demo.toString(), "--prompt", "And God said", "--max-tokens", "24",
                "--temperature", "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("(0 reasoning)"), "a base model: nothing goes to the reasoning channel\n" + r.err());
        String words = r.out().toLowerCase(java.util.Locale.ROOT);
        long known = java.util.Arrays.stream(words.split("[^a-z]+"))
                .filter(w -> java.util.Set.of("the", "and", "of", "unto", "lord", "god", "he", "them", "that", "i",
                        "said", "thou", "thy", "shall", "be", "to", "his", "in", "a", "is", "me", "my", "not", "let")
                        .contains(w)).count();
        assertTrue(known >= 4, "a continuation in the Bible's English, got: " + r.out());
    }

    @Test
    void perplexityCommand(@TempDir Path tmp) throws Exception {
        Path demo = DemoModel.ensure(tmp.resolve("demo"), new PrintStream(new ByteArrayOutputStream()));
        Path text = tmp.resolve("text.txt");
        Files.writeString(text, """
                And it came to pass, when men began to multiply on the face of the earth, and daughters were born
                unto them, that the sons of God saw the daughters of men that they were fair; and they took them
                wives of all which they chose. And the LORD said, My spirit shall not always strive with man, for
                that he also is flesh: yet his days shall be an hundred and twenty years.
                """);
        Path saved = tmp.resolve("exact.logits");
        Result r = run("perplexity", "--model", demo.toString(), "--file", text.toString(), "--ctx", "32",
                "--precision", "exact", "--save-logits", saved.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Final estimate: PPL = "), r.out());
        r = run("perplexity", "--model", demo.toString(), "--file", text.toString(), "--ctx", "32",
                "--kl-base", saved.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("mean KLD:") && r.out().contains("same top-1:"), r.out());

        r = run("perplexity", "--model", tmp.resolve("no-such-model").toString(), "--file", text.toString());
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("no-such-model"), r.err());
        r = run("perplexity", "--model", demo.toString());
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("--file"), r.err());
        Path empty = tmp.resolve("empty.txt");
        Files.writeString(empty, "");
        r = run("perplexity", "--model", demo.toString(), "--file", empty.toString());
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("empty.txt") && r.err().contains("empty"), r.err());
        r = run("perplexity", "--model", demo.toString(), "--file", text.toString());
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("fewer than one window of --ctx 512"), r.err());
        Path bad = tmp.resolve("bad.txt");
        Files.write(bad, new byte[] {'A', 'n', 'd', ' ', (byte) 0xE2, (byte) 0x82, '\n'});
        r = run("perplexity", "--model", demo.toString(), "--file", bad.toString(), "--ctx", "2");
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("bad.txt is not valid UTF-8") && r.err().contains("byte offset 4"), r.err());
        r = run("perplexity", "--model", demo.toString(), "--file", text.toString(), "--ctx", "32", "--stride", "64");
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("--stride must be between 1 and --ctx"), r.err());
    }

    @Test
    void tokenizeReproducesTheFixtureIds(@TempDir Path tmp) throws Exception {
        Path cases = fixtures().resolve("tokenizers/llama3/cases.jsonl");
        Result r = run("tokenize", "--tokenizer", fixtures().resolve("tokenizers/llama3/tokenizer.json").toString(),
                "--jsonl", cases.toString());
        assertEquals(0, r.code(), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var expected = Files.readAllLines(cases).stream().filter(l -> !l.isBlank()).toList();
        var got = r.out().lines().toList();
        assertEquals(expected.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            assertEquals(json.readTree(expected.get(i)).get("ids"), json.readTree(got.get(i)), "line " + (i + 1));
        }
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
        r = run("tokenize", "--tokenizer", fixtures().resolve("tokenizers/llama3/tokenizer.json").toString(), "--jsonl", bad.toString());
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("line 2"), r.err());
    }

    @Test
    void planPrintsComponentsAndTotal() {
        Result r = run("plan", "--config", fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString(), "--context", "131072");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("KV cache") && r.out().contains("total"), r.out());

        // the 9B at its full 131072-token context on CUDA, with the GPU's 2048-token prefill chunk: under 22 GiB
        r = run("plan", "--config", fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString(), "--context",
                "131072", "--device", "cuda");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("(2048 rows, BF16)"), r.out());
        java.util.regex.Matcher total = java.util.regex.Pattern.compile("total\\s+[0-9,]+ B\\s+([0-9.]+) GiB")
                .matcher(r.out());
        assertTrue(total.find(), r.out());
        assertTrue(Double.parseDouble(total.group(1)) <= 22.0, r.out());
        assertEquals(2, run("plan", "--config", fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString(),
                "--device", "tpu").code());

        // block-quantized weights: the q4 Linear weights at 4.625 bits, the rest bf16
        r = run("plan", "--config", fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString(), "--context",
                "131072", "--weights", "q4", "--quantize-policy", "default");
        assertEquals(0, r.code(), r.err());
        java.util.regex.Matcher q4 = java.util.regex.Pattern.compile(
                "weights: q4 \\(block-quantized Linear weights\\)\\s+([0-9,]+) B").matcher(r.out());
        assertTrue(q4.find(), r.out());
        // 27 Mamba in_proj [22656, 4480] + out_proj [4480, 10240], 25 MLP up [15680, 4480] + down [4480, 15680]:
        // per row cols/2 bytes of quants and 20 bytes per started 256-column super-block (4480 = 17.5 of them)
        long q4Bytes = Long.parseLong(q4.group(1).replace(",", ""));
        assertEquals(4_342_694_400L, q4Bytes, r.out());
        assertTrue(r.out().contains("weights: BF16 (the rest)"), r.out());
        // q4's default policy (mixed6) keeps the Mamba out_proj, the attention projections and lm_head at q6
        r = run("plan", "--config", fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString(), "--weights", "q4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("weights: q6 (block-quantized Linear weights)"), r.out());
        assertFalse(r.out().contains("weights: q8"), r.out());
        assertEquals(2, run("plan", "--config", fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString(),
                "--weights", "q3").code());
        assertEquals(2, run("plan", "--config", fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString(),
                "--quantize-policy", "all").code());
    }

    @Test
    void badInputExitsNonZeroWithAMessage(@TempDir Path tmp) {
        Result r = run("generate", "--model", tmp.resolve("nope").toString(), "--ids", "1", "-n", "2");
        assertEquals(Main.FAILURE, r.code());
        assertTrue(!r.err().contains("\tat org.nemotron4j"), "no stack trace without --debug: " + r.err());
        assertTrue(r.err().contains("nope"), r.err());

        r = run("generate", "--model", fixtures().resolve("nemotron-h-tiny").toString(), "--ids", "1,x", "-n", "2");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--ids"), r.err());

        r = run("generate", "--model", fixtures().resolve("nemotron-h-tiny").toString(), "--ids", "1,999", "-n", "2");
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("token id 999"), r.err());

        r = run("logits", "--model", fixtures().resolve("nemotron-h-tiny").toString(), "--ids", "1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--out"), r.err());

        r = run("frobnicate");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown command"), r.err());

        r = run("generate", "--bogus", "1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("Unknown option") && r.err().contains("'--bogus'"), r.err());

        r = run("generate", "--model", tmp.resolve("nope").toString(), "--ids", "1", "--debug");
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("\tat org.nemotron4j"), "--debug prints the stack trace: " + r.err());
    }

    /** --fp8 w8a8 on the FP8 fixture: bench's header and the backend say W8A8; a bad value is a usage error. */
    @Test
    void fp8W8a8OptionReachesTheBackend() {
        String fp8 = fixtures().resolve("nemotron-h-tiny-fp8").toString();
        Result r = run("bench", "--model", fp8, "-p", "8", "-n", "2", "-r", "1", "--fp8", "w8a8");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("fp8: W8A8") && r.out().contains("fp8-w8a8"), r.out());
        r = run("bench", "--model", fp8, "-p", "8", "-n", "0", "-r", "1", "--fp8", "weight-only");
        assertEquals(0, r.code(), r.err());
        assertTrue(!r.out().contains("W8A8") && !r.out().contains("fp8-w8a8"), r.out());
        r = run("generate", "--model", fp8, "--ids", "1,2", "-n", "2", "--fp8", "int8");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--fp8 must be weight-only or w8a8, got int8"), r.err());
        for (String command : List.of("run", "chat", "serve", "generate", "logits", "bench", "perplexity")) {
            r = run(command, "--help");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("--fp8"), command + " --help: " + r.out());
        }
    }

    /** Fuzzing finding: NaN weights loaded silently; --check-tensors refuses them naming the tensor. */
    @Test
    void quantizeWritesARunnableQ4CopyAndRefusesToQuantizeItAgain(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("tiny");
        assertEquals(0, run("create-model", "--config", fixtures().resolve("nemotron-h-tiny/config.json").toString(),
                "--out", model.toString(), "--seed", "3").code());
        Path q4 = tmp.resolve("tiny-q4");
        Result r = run("quantize", "--model", model.toString(), "--out", q4.toString(), "--type", "q4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("q4, policy \"mixed6\""), r.out());
        assertTrue(r.out().contains("fallback: backbone.layers.0.mixer.out_proj.weight kept"), r.out());
        r = run("generate", "--model", q4.toString(), "--ids", "5,17,42", "-n", "4");
        assertEquals(0, r.code(), r.err());
        assertEquals(4, r.out().trim().split(",").length, r.out());
        // quantize-on-load gives the same model as the written copy: the same greedy ids
        Result onLoad = run("generate", "--model", model.toString(), "--ids", "5,17,42", "-n", "4", "--quantize", "q4");
        assertEquals(0, onLoad.code(), onLoad.err());
        assertEquals(r.out(), onLoad.out());
        assertEquals(2, run("generate", "--model", model.toString(), "--ids", "5", "-n", "1", "--quantize", "q3").code());
        r = run("generate", "--model", model.toString(), "--ids", "5", "-n", "1", "--quantize-policy", "all");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--quantize-policy needs --quantize"), r.err());
        r = run("generate", "--model", q4.toString(), "--ids", "5", "-n", "1", "--quantize", "q8");
        assertEquals(Main.FAILURE, r.code());
        assertTrue(r.err().contains("already quantized"), r.err());
        // inspect: bytes and bits per weight of the quantized modules
        r = run("inspect", "--model", q4.toString());
        assertEquals(0, r.code(), r.err());
        // (64- and 96-column rows: one short super-block of 20 scale bytes each, so 6.5 bits per weight here)
        assertTrue(r.out().contains("q4:           6 modules, 77,952 weights, 61.9 KiB (6.500 bits/weight, quants + scales)"),
                r.out());
        // q4's default policy (mixed6) keeps out_proj, the attention projections and lm_head at q6 (out_proj's 120
        // columns fit no block: kept), and down_proj's 96 columns fall back to q8
        assertTrue(r.out().contains("q6:           9 modules, 45,056 weights, 35.8 KiB (6.500 bits/weight"), r.out());
        assertTrue(r.out().contains("q8:           3 modules, 18,432 weights"), r.out());
        r = run("quantize", "--model", q4.toString(), "--out", tmp.resolve("again").toString(), "--type", "q8");
        assertEquals(Main.FAILURE, r.code(), r.out());
        assertTrue(r.err().contains("already quantized"), r.err());
        r = run("quantize", "--model", model.toString(), "--out", tmp.resolve("bad").toString(), "--type", "q3");
        assertEquals(Main.FAILURE, r.code(), r.out());
        assertTrue(r.err().contains("unknown quantization type \"q3\""), r.err());
    }

    @Test
    void quantizeWritesARunnableQ6CopyAndPlansMixed6(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("tiny");
        assertEquals(0, run("create-model", "--config", fixtures().resolve("nemotron-h-tiny/config.json").toString(),
                "--out", model.toString(), "--seed", "3").code());
        Path q6 = tmp.resolve("tiny-q6");
        Result r = run("quantize", "--model", model.toString(), "--out", q6.toString(), "--type", "q6");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("q6, policy \"all\""), r.out());
        assertTrue(r.out().contains("fallback: backbone.layers.3.mixer.down_proj.weight -> q8 (96 columns)"), r.out());
        r = run("generate", "--model", q6.toString(), "--ids", "5,17,42", "-n", "4");
        assertEquals(0, r.code(), r.err());
        Result onLoad = run("generate", "--model", model.toString(), "--ids", "5,17,42", "-n", "4", "--quantize", "q6");
        assertEquals(0, onLoad.code(), onLoad.err());
        assertEquals(r.out(), onLoad.out());
        // in_proj x3, q/k/v/o_proj x2, up_proj x3 and lm_head at q6; out_proj (120 columns) kept, down_proj q8
        r = run("inspect", "--model", q6.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("q6:           15 modules, ") && r.out().contains("(6.500 bits/weight, quants + scales)"),
                r.out());
        assertTrue(r.out().contains("q8:           3 modules, "), r.out());

        // the 9B with mixed6: q4 and q6 parts, nothing at q8, fewer bytes than mixed
        String config = fixtures().resolve("configs/nemotron-nano-9b-v2.json").toString();
        r = run("plan", "--config", config, "--context", "4096", "--weights", "q4", "--quantize-policy", "mixed6");
        assertEquals(0, r.code(), r.err());
        assertFalse(r.out().contains("weights: q8"), r.out());
        long mixed6 = planBytes(r.out(), "q4") + planBytes(r.out(), "q6");
        // q4's default policy is mixed6
        assertEquals(r.out(), run("plan", "--config", config, "--context", "4096", "--weights", "q4").out());
        r = run("plan", "--config", config, "--context", "4096", "--weights", "q4", "--quantize-policy", "mixed");
        assertEquals(0, r.code(), r.err());
        long mixed = planBytes(r.out(), "q4") + planBytes(r.out(), "q8");
        System.out.printf("9B Linear weights: mixed %,d B, mixed6 %,d B (%.1f%% fewer)%n", mixed, mixed6,
                100.0 * (mixed - mixed6) / mixed);
        // the q8 tensors of mixed at 6.5 bits instead of 8.5: 13/17 of their bytes
        assertEquals(mixed - planBytes(r.out(), "q8") * 4 / 17, mixed6, r.out());
        r = run("plan", "--config", config, "--weights", "q6", "--quantize-policy", "mixed7");
        assertTrue(r.code() != 0 && r.err().contains("mixed6"), r.err());
    }

    /** The bytes of the plan's {@code type} block-quantized part. */
    private static long planBytes(String out, String type) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "weights: " + type + " \\(block-quantized Linear weights\\)\\s+([0-9,]+) B").matcher(out);
        assertTrue(m.find(), type + ": " + out);
        return Long.parseLong(m.group(1).replace(",", ""));
    }

    @Test
    void quantizeRefusesBadArguments(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("tiny");
        assertEquals(0, run("create-model", "--config", fixtures().resolve("nemotron-h-tiny/config.json").toString(),
                "--out", model.toString(), "--seed", "3").code());
        String m = model.toString();
        String out = tmp.resolve("q").toString();
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "In the beginning");
        String[][] cases = {
            {"--type", "q8", "--policy", "default,conv1d=q8"}, {"\"conv1d\" is not a quantizable weight"},
            {"--type", "q8", "--policy", "lm_head=q5"}, {"\"q5\" is not q8, q4, q6 or keep"},
            {"--policy", "default"}, {"missing required option --type"},
            {"--type", "q4", "--calibration", tmp.resolve("none.txt").toString()}, {"none.txt is not a readable text file"},
            {"--type", "q4", "--calibration", text.toString(), "--imatrix", text.toString()}, {"alternatives"},
            {"--type", "q4", "--save-imatrix", tmp.resolve("i").toString()}, {"--save-imatrix needs --calibration"},
            {"--type", "q4", "--error-feedback"}, {"--error-feedback needs --calibration"},
            {"--type", "q4", "--calibration", text.toString(), "--calibration-tokens", "-1"}, {"--calibration-tokens must be >= 0"},
            {"--type", "q4", "--calibration", text.toString(), "--calibration-ctx", "0"}, {"--calibration-ctx must be >= 1"},
            {"--type", "q4", "--imatrix", text.toString()}, {"t.txt"},
        };
        for (int i = 0; i < cases.length; i += 2) {
            String[] args = new String[cases[i].length + 5];
            args[0] = "quantize";
            args[1] = "--model";
            args[2] = m;
            args[3] = "--out";
            args[4] = out;
            System.arraycopy(cases[i], 0, args, 5, cases[i].length);
            Result r = run(args);
            assertTrue(r.code() == Main.FAILURE || r.code() == Main.USAGE, String.join(" ", args) + ": exit "
                    + r.code() + ", " + r.out());
            assertTrue(r.err().contains(cases[i + 1][0]), String.join(" ", args) + ": " + r.err());
        }
    }

    @Test
    void quantizeWithCalibrationOnTheDemoModel(@TempDir Path tmp) throws Exception {
        Path demo = DemoModel.ensure(tmp.resolve("demo"), new PrintStream(new ByteArrayOutputStream()));
        Path text = tmp.resolve("calibration.txt");
        Files.writeString(text, "And God said, Let there be light: and there was light.\n".repeat(40));
        Path im = tmp.resolve("imatrix.safetensors");
        Result r = run("quantize", "--model", demo.toString(), "--out", tmp.resolve("q4").toString(), "--type", "q4",
                "--calibration", text.toString(), "--calibration-tokens", "256", "--calibration-ctx", "128",
                "--error-feedback", "--save-imatrix", im.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("calibration: 256 tokens of"), r.out());
        assertTrue(r.out().contains("rounded with error feedback"), r.out());
        assertTrue(Files.size(im) > 0);
        r = run("quantize", "--model", demo.toString(), "--out", tmp.resolve("q8").toString(), "--type", "q8",
                "--imatrix", im.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("fitted to the importance of 256 tokens of calibration.txt, rounded with error"
                + " feedback"), r.out());
        r = run("run", "--model", tmp.resolve("q8").toString(), "--prompt", "And God said", "--max-tokens", "4");
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void checkTensorsRefusesANaNWeight(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("nan");
        assertEquals(0, run("create-model", "--config", fixtures().resolve("nemotron-h-tiny/config.json").toString(),
                "--out", model.toString(), "--seed", "3").code());
        assertEquals(0, run("generate", "--model", model.toString(), "--ids", "5", "-n", "2", "--check-tensors").code());
        Path file = model.resolve("model.safetensors");
        long offset;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            offset = f.tensor("lm_head.weight").data().address() - f.mapping().address() + 2 * 10;
        }
        try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {(byte) 0xC0, 0x7F}), offset); // BF16 NaN, little-endian
        }
        Result r = run("generate", "--model", model.toString(), "--ids", "5", "-n", "2", "--check-tensors");
        assertEquals(Main.FAILURE, r.code(), r.out());
        assertTrue(r.err().contains("\"lm_head.weight\"") && r.err().contains("NaN at element 10"), r.err());
        r = run("logits", "--model", model.toString(), "--ids", "5", "--out", tmp.resolve("l.safetensors").toString(),
                "--check-tensors", "--no-mmap");
        assertEquals(Main.FAILURE, r.code(), r.out());
        assertTrue(r.err().contains("lm_head.weight"), r.err());
    }
}
