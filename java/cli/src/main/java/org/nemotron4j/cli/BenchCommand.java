package org.nemotron4j.cli;

import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code bench}: llama-bench-style throughput. After a warm-up, prefill ({@code ppN}: one prompt of N random tokens
 * in a fresh session) and decode ({@code tgN}: N tokens one at a time from an empty context, batched over B
 * sessions) are timed separately over r repetitions; the table shows tokens/s as mean ± stddev.
 */
final class BenchCommand implements Command {
    @Override
    public String name() {
        return "bench";
    }

    @Override
    public String summary() {
        return "measure prefill and decode tokens/s (llama-bench style table)";
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "checkpoint directory"),
                Opt.value("--prompt,-p", "N", "prompt tokens of the prefill test (default 512; 0 = skip)"),
                Opt.value("--gen,-n", "N", "generated tokens of the decode test (default 128; 0 = skip)"),
                Opt.value("--reps,-r", "R", "repetitions (default 5), after one warm-up run"),
                Opt.value("--threads,-t", "N", "CPU worker threads (default: one per physical core)"),
                Opt.value("--batch", "L", "decode batch sizes, comma-separated (default 1); aggregate and per-sequence tok/s"),
                Opt.value("--device", "DEVICE", "cpu (default) or cuda:N"),
                Opt.value("--chunk", "T", "prefill chunk (default " + LoadOptions.DEFAULT_PREFILL_CHUNK + ")"),
                Opt.value("--precision", "fast|exact", "fast (default: bf16 matmul inputs, bf16 KV cache) or exact (f32)"),
                Opt.value("--kv", "f32|bf16", "KV cache element type (default bf16; f32 with --precision exact on cpu)"),
                Opt.value("--activations", "f32|bf16", "activation element type (default f32 on cpu, bf16 on cuda)"),
                Opt.value("--matmul", "f32|bf16", "what matmul inputs are rounded to (default: bf16 in fast mode)"),
                GenerationFlags.FP8,
                GenerationFlags.QUANTIZE,
                GenerationFlags.QUANTIZE_POLICY,
                Opt.value("--prefix", "N", "also time the first token of a 16-token question after an N-token shared prefix"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        int p = a.integer("prompt", 512);
        int n = a.integer("gen", 128);
        int reps = a.integer("reps", 5);
        if (p < 0 || n < 0 || reps < 1) {
            throw new Args.UsageException("bench: -p and -n must be >= 0 and -r >= 1");
        }
        int[] batches = a.has("batch") ? a.ints("batch") : new int[] {1};
        Device device = Device.parse(a.string("device", "cpu"));
        if (a.has("threads")) {
            device = device.withThreads(a.integer("threads", 0));
        }
        LoadOptions opts = GenerationFlags.loadOptions(a).withPrefillChunk(Math.max(a.integer("chunk",
                LoadOptions.DEFAULT_PREFILL_CHUNK), Arrays.stream(batches).max().orElse(1)));
        try (NemotronModel model = NemotronModel.load(a.path("model"), device, opts)) {
            int vocab = model.config().vocabSize();
            SplittableRandom rnd = new SplittableRandom(1234);
            out.printf("model: %s (%,d parameters), backend: %s, precision: %s (kv %s)%s%n",
                    model.directory().getFileName(), model.config().parameterCount(), model.backendName(),
                    model.precision().label(), model.kvCacheDtype().name().toLowerCase(java.util.Locale.ROOT),
                    opts.effectiveFp8Activations() == org.nemotron4j.Fp8Activations.W8A8
                            ? ", fp8: W8A8 (activations quantized to e4m3)" : "");
            out.println();
            out.println("| test | batch | t/s (aggregate) | t/s (per sequence) |");
            out.println("| ---- | ----: | --------------: | -----------------: |");
            if (p > 0) {
                int[] ids = rnd.ints(p, 0, vocab).toArray();
                double[] tps = measure(reps, () -> {
                    try (Session s = model.newSession()) {
                        long t0 = System.nanoTime();
                        s.prefill(ids);
                        return p / ((System.nanoTime() - t0) / 1e9);
                    }
                });
                out.printf("| pp%d | 1 | %s | %s |%n", p, fmt(tps), fmt(tps));
                out.flush();
            }
            int prefix = a.integer("prefix", 0);
            if (prefix > 0) {
                int[] shared = rnd.ints(prefix, 0, vocab).toArray();
                int[] question = rnd.ints(16, 0, vocab).toArray();
                int[] both = new int[prefix + question.length];
                System.arraycopy(shared, 0, both, 0, prefix);
                System.arraycopy(question, 0, both, prefix, question.length);
                double[] full = measure(reps, () -> {
                    try (Session s = model.newSession()) {
                        long t0 = System.nanoTime();
                        s.prefill(both);
                        return (System.nanoTime() - t0) / 1e6;
                    }
                });
                double[] forked;
                try (Session base = model.newSession()) {
                    base.prefill(shared);
                    forked = measure(reps, () -> {
                        long t0 = System.nanoTime();
                        try (Session s = base.fork()) {
                            s.prefill(question);
                            return (System.nanoTime() - t0) / 1e6;
                        }
                    });
                }
                out.printf("| ttft %d+16, prefill both (ms) | 1 | %s | |%n", prefix, fmt(full));
                out.printf("| ttft %d+16, forked prefix (ms) | 1 | %s | |%n", prefix, fmt(forked));
                out.printf("| ttft speed-up | | %.1f x | |%n", mean(full) / mean(forked));
                out.flush();
            }
            if (n > 0) {
                for (int b : batches) {
                    double[] tps = measure(reps, () -> decodeRun(model, b, n, rnd));
                    double[] per = Arrays.stream(tps).map(x -> x / b).toArray();
                    out.printf("| tg%d | %d | %s | %s |%n", n, b, fmt(tps), fmt(per));
                    out.flush();
                }
            }
        }
        return 0;
    }

    private static double decodeRun(NemotronModel model, int batch, int n, SplittableRandom rnd) {
        List<Session> sessions = new ArrayList<>();
        try {
            for (int i = 0; i < batch; i++) {
                sessions.add(model.newSession());
            }
            int[] tokens = rnd.ints(batch, 0, model.config().vocabSize()).toArray();
            long t0 = System.nanoTime();
            for (int step = 0; step < n; step++) {
                tokens = model.decodeGreedy(sessions, tokens);  // greedy on the backend: only the ids come back
            }
            return (double) n * batch / ((System.nanoTime() - t0) / 1e9);
        } finally {
            sessions.forEach(Session::close);
        }
    }

    interface Run {
        /** One timed run: tokens/s, or milliseconds for the time-to-first-token rows. */
        double value();
    }

    private static double[] measure(int reps, Run run) {
        run.value(); // warm-up
        double[] r = new double[reps];
        for (int i = 0; i < reps; i++) {
            r[i] = run.value();
        }
        return r;
    }

    private static double mean(double[] v) {
        return Arrays.stream(v).average().orElse(0);
    }

    private static String fmt(double[] v) {
        double mean = mean(v);
        double var = Arrays.stream(v).map(x -> (x - mean) * (x - mean)).sum() / Math.max(1, v.length - 1);
        return String.format("%.2f ± %.2f", mean, Math.sqrt(var));
    }
}
