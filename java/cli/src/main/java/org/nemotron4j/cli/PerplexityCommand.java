package org.nemotron4j.cli;

import org.nemotron4j.Device;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.eval.Perplexity;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/** {@code perplexity}: perplexity on a text file, and KL-divergence against a saved reference run. */
final class PerplexityCommand implements Command {
    @Override
    public String name() {
        return "perplexity";
    }

    @Override
    public String summary() {
        return "measure perplexity on a text file (and KL-divergence against a reference run)";
    }

    @Override
    public List<String> description() {
        return List.of(
                "The text is tokenized (no special tokens) and scored in windows of --ctx tokens starting every",
                "--stride tokens; each token is scored once, by the first window holding it with context.",
                "--save-logits keeps this run's distributions; --kl-base compares a later run with them (e.g.",
                "--precision fast against exact, or a quantized model against the original).");
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "checkpoint directory (default: the demo model)"),
                Opt.value("--file", "TEXT", "UTF-8 text file to score"),
                Opt.value("--ctx", "N", "window length in tokens (default 512)"),
                Opt.value("--stride", "N", "distance between window starts (default ctx/2)"),
                Opt.value("--save-logits", "FILE", "store this run's next-token distributions (about 2 bytes x vocab per token)"),
                Opt.value("--kl-base", "FILE", "report KL-divergence and top-1 agreement against a --save-logits file"),
                Opt.value("--device", "DEVICE", "cpu (default) or cuda:N"),
                Opt.value("--precision", "fast|exact", "fast (default) or exact (f32, as the golden fixtures)"),
                Opt.value("--kv", "f32|bf16", "KV cache element type"),
                Opt.value("--activations", "f32|bf16", "activation element type"),
                Opt.value("--matmul", "f32|bf16", "what matmul inputs are rounded to"),
                GenerationFlags.FP8,
                GenerationFlags.QUANTIZE,
                GenerationFlags.QUANTIZE_POLICY,
                Opt.flag("--check-tensors", "read every weight once at load and refuse NaN or infinite values"),
                Opt.flag("--no-mmap", "read the weights into memory instead of mapping the files"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        Path text = a.path("file");
        int ctx = a.integer("ctx", 512);
        int stride = a.integer("stride", Math.max(1, ctx / 2));
        Perplexity.Options options = new Perplexity.Options(ctx, stride,
                a.has("save-logits") ? a.path("save-logits") : null, a.has("kl-base") ? a.path("kl-base") : null);
        Path dir = a.has("model") ? a.path("model") : DemoModel.ensure(DemoModel.defaultDirectory(), err);
        Device device = Device.parse(a.string("device", "cpu"));
        try (NemotronModel model = NemotronModel.load(dir, device,
                GenerationFlags.loadOptions(a).withProgress(new ProgressBar(err, "loading " + dir.getFileName())))) {
            out.printf("perplexity: %s on %s, windows of %d tokens every %d, backend %s, precision %s (kv %s)%n",
                    dir.getFileName(), text, ctx, stride, model.backendName(),
                    model.precision().name().toLowerCase(java.util.Locale.ROOT),
                    model.kvCacheDtype().name().toLowerCase(java.util.Locale.ROOT));
            long start = System.nanoTime();
            Bar bar = new Bar(err);
            Perplexity.Result r;
            try {
                r = Perplexity.run(model, text, options, bar);
            } finally {
                bar.finish();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            out.printf("tokens: %,d, scored %,d in %,d windows, %.1f s (%.0f tokens/s)%n", r.tokens(), r.scored(),
                    r.windows(), seconds, r.scored() / seconds);
            out.printf("Final estimate: PPL = %.4f +/- %.4f (mean NLL %.5f nats/token)%n", r.perplexity(), r.stdErr(),
                    r.meanNll());
            if (options.saveLogits() != null) {
                out.println("saved the distributions to " + options.saveLogits());
            }
            Perplexity.KlStats kl = r.kl();
            if (kl != null) {
                out.printf("KL-divergence against %s (its PPL %.4f):%n", options.klBase(), kl.basePerplexity());
                out.printf("  ln(PPL/PPL(base)): %+.6f%n", Math.log(r.perplexity() / kl.basePerplexity()));
                out.printf("  mean KLD:    %.4e +/- %.4e%n", kl.mean(), kl.meanStdErr());
                out.printf("  median KLD:  %.4e%n", kl.median());
                out.printf("  99.0%% KLD:   %.4e%n", kl.p99());
                out.printf("  maximum KLD: %.4e%n", kl.max());
                out.printf("  same top-1:  %.3f +/- %.3f %%%n", 100 * kl.top1(), 100 * kl.top1StdErr());
            }
        }
        return 0;
    }

    /** The progress line: share of the text scored, tokens, running perplexity. */
    private static final class Bar implements Perplexity.Progress {
        private final PrintStream err;
        private long lastDraw;
        private boolean drawn;

        Bar(PrintStream err) {
            this.err = err;
        }

        @Override
        public void update(long scored, long total, double ppl) {
            long now = System.nanoTime();
            if (drawn && now - lastDraw < 200_000_000L) {
                return;
            }
            lastDraw = now;
            drawn = true;
            double f = total > 0 ? Math.min(1.0, (double) scored / total) : 1.0;
            int filled = (int) Math.round(f * 30);
            err.printf("\rscoring [%s%s] %3d%% %,d tokens, PPL so far %.4f", "#".repeat(filled),
                    ".".repeat(30 - filled), Math.round(f * 100), scored, ppl);
            err.flush();
        }

        void finish() {
            if (drawn) {
                err.println();
            }
        }
    }
}
