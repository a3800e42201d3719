package org.nemotron4j.eval;

import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Perplexity of a model on a text file, and KL-divergence against a reference run (llama.cpp's
 * {@code llama-perplexity} and its KL-divergence mode are the model for this).
 *
 * <p>The text is tokenized without special tokens and scored in windows of {@code ctx} tokens that start every
 * {@code stride} tokens. Each token is scored once, by the first window that contains it with some context: the
 * first window scores its tokens 1 .. ctx-1 and every later window only the tokens after the previous window's end,
 * so that with {@code stride = ctx / 2} every token after the first window is predicted from at least ctx/2 tokens.
 * Each window runs in a fresh session. The file is read and tokenized a block at a time and only the tokens of the
 * current window are kept, so memory does not grow with the file (with {@code klBase}, 4 bytes per scored token are
 * kept for the median and 99th percentile).
 */
public final class Perplexity {
    private Perplexity() {
    }

    /**
     * What to measure.
     *
     * @param ctx window length in tokens (at least 2, at most the model's context)
     * @param stride distance between window starts, 1 .. ctx
     * @param saveLogits where to store this run's distributions for a later {@code klBase}, or null
     * @param klBase a file written by {@code saveLogits} on the same text and windows, or null
     */
    public record Options(int ctx, int stride, Path saveLogits, Path klBase) {
        public Options {
            if (ctx < 2) {
                throw new NemotronException("--ctx must be at least 2 tokens, got " + ctx);
            }
            if (stride < 1 || stride > ctx) {
                throw new NemotronException("--stride must be between 1 and --ctx (" + ctx + "), got " + stride);
            }
        }

        /** Windows of {@code ctx} tokens every {@code ctx / 2}, nothing saved or compared. */
        public static Options of(int ctx) {
            return new Options(ctx, Math.max(1, ctx / 2), null, null);
        }
    }

    /** Called after each window. */
    public interface Progress {
        /**
         * @param scoredTokens tokens scored so far
         * @param totalTokens the text's length in tokens, estimated until all of it was read
         * @param runningPerplexity the perplexity of the tokens scored so far
         */
        void update(long scoredTokens, long totalTokens, double runningPerplexity);
    }

    /**
     * KL-divergence of this run's next-token distributions from the reference's, per scored token.
     *
     * @param mean mean KL (nats)
     * @param meanStdErr standard error of the mean
     * @param median median KL
     * @param p99 99th percentile
     * @param max largest
     * @param top1 fraction of tokens where both runs' most likely token agree
     * @param top1StdErr its standard error
     * @param basePerplexity the reference run's perplexity on the same tokens
     */
    public record KlStats(double mean, double meanStdErr, double median, double p99, double max, double top1,
                          double top1StdErr, double basePerplexity) {
    }

    /**
     * The measurement.
     *
     * @param tokens tokens in the text
     * @param scored tokens scored (tokens - 1)
     * @param windows windows run
     * @param perplexity exp(mean negative log-likelihood)
     * @param stdErr its standard error (from the per-token spread)
     * @param meanNll mean negative log-likelihood (nats per token)
     * @param kl the comparison with {@code klBase}, or null
     */
    public record Result(long tokens, long scored, long windows, double perplexity, double stdErr, double meanNll,
                         KlStats kl) {
    }

    /** Measures {@code model} on {@code text}. */
    public static Result run(NemotronModel model, Path text, Options options, Progress progress) {
        int ctx = options.ctx();
        int stride = options.stride();
        int vocab = model.config().vocabSize();
        LogitsFile.Reader base = null;
        LogitsFile.Writer save = null;
        try (Session probe = model.newSession()) {
            if (ctx > probe.maxPositions()) {
                throw new NemotronException("--ctx " + ctx + " is beyond the model's context of "
                        + probe.maxPositions() + " tokens");
            }
        }
        try (TextTokens src = new TextTokens(text, model.tokenizer())) {
            if (options.klBase() != null) {
                base = new LogitsFile.Reader(options.klBase());
                if (base.vocab() != vocab || base.ctx() != ctx || base.stride() != stride) {
                    throw new NemotronException("--kl-base " + options.klBase() + " was made with vocab " + base.vocab()
                            + ", --ctx " + base.ctx() + ", --stride " + base.stride() + "; this run has vocab " + vocab
                            + ", --ctx " + ctx + ", --stride " + stride + ": they must match");
                }
            }
            int[] buf = new int[ctx + stride];
            int len = src.read(buf, 0, ctx);
            if (len == 0) {
                throw new NemotronException(text + " contains no text to score (it is empty)");
            }
            if (len < ctx) {
                throw new NemotronException(text + " has " + len + " tokens, fewer than one window of --ctx " + ctx
                        + " tokens: use a smaller --ctx or a longer text");
            }
            if (options.saveLogits() != null) {
                save = new LogitsFile.Writer(options.saveLogits(), vocab, ctx, stride);
            }
            Scorer scorer = new Scorer(model, vocab, save, base, options.klBase());
            long bufStart = 0;      // absolute index of buf[0]
            long begin = 0;
            long prevEnd = 0;
            boolean eof = false;
            long windows = 0;
            while (true) {
                // have the window [begin, begin + ctx) in buf, or the text's end
                int want = (int) (begin - bufStart) + ctx;
                while (!eof && len < want) {
                    int got = src.read(buf, len, want - len);
                    if (got == 0) {
                        eof = true;
                    }
                    len += got;
                }
                long end = Math.min(begin + ctx, bufStart + len);
                long first = Math.max(prevEnd, begin + 1);
                if (first < end) {
                    scorer.window(buf, (int) (begin - bufStart), (int) (first - bufStart), (int) (end - bufStart));
                    windows++;
                }
                prevEnd = end;
                if (progress != null) {
                    progress.update(scorer.count, Math.max(scorer.count + 1, src.estimatedTokens()),
                            Math.exp(scorer.nllSum / Math.max(1, scorer.count)));
                }
                if (eof && end == bufStart + len) {
                    break;
                }
                begin += stride;
                int drop = (int) (begin - bufStart);
                System.arraycopy(buf, drop, buf, 0, len - drop);
                len -= drop;
                bufStart = begin;
            }
            if (base != null && base.next() != null) {
                throw new NemotronException("--kl-base " + options.klBase() + " has more rows than this run scored ("
                        + scorer.count + "): it was made from a longer text");
            }
            if (save != null) {
                save.commit();
            }
            return scorer.result(bufStart + len, windows);
        } finally {
            if (save != null) {
                save.close();
            }
            if (base != null) {
                base.close();
            }
        }
    }

    /** Accumulates the per-token figures of every window. */
    private static final class Scorer {
        private final NemotronModel model;
        private final int vocab;
        private final int sub;
        private final LogitsFile.Writer save;
        private final LogitsFile.Reader base;
        private final Path baseFile;
        private final float[] logProbs;
        long count;
        double nllSum;
        double nllSq;
        private float[] kl = new float[0];
        private double klSum;
        private double klSq;
        private long top1;
        private double baseNllSum;

        Scorer(NemotronModel model, int vocab, LogitsFile.Writer save, LogitsFile.Reader base, Path baseFile) {
            this.model = model;
            this.vocab = vocab;
            this.sub = (int) Math.max(1, Math.min(256, (16L << 20) / vocab));
            this.save = save;
            this.base = base;
            this.baseFile = baseFile;
            this.logProbs = new float[vocab];
        }

        /** Scores tokens [first, end) of buf with the window starting at begin. */
        void window(int[] buf, int begin, int first, int end) {
            try (Session s = model.newSession()) {
                if (first - 1 > begin) {
                    s.prefill(Arrays.copyOfRange(buf, begin, first - 1));
                }
                for (int pos = first - 1; pos < end - 1; pos += sub) {
                    int n = Math.min(sub, end - 1 - pos);
                    float[] logits = s.prefillAll(Arrays.copyOfRange(buf, pos, pos + n));
                    for (int j = 0; j < n; j++) {
                        token(logits, j * vocab, buf[pos + j + 1]);
                    }
                }
            }
        }

        private void token(float[] logits, int off, int target) {
            float max = Float.NEGATIVE_INFINITY;
            int argmax = 0;
            for (int i = 0; i < vocab; i++) {
                float v = logits[off + i];
                if (Float.isNaN(v)) {
                    throw new NemotronException("the model produced NaN logits while scoring token " + count
                            + " of the text: its weights or settings are broken");
                }
                if (v > max) {
                    max = v;
                    argmax = i;
                }
            }
            double lse = logSumExp(logits, off, vocab, max);
            for (int i = 0; i < vocab; i++) {
                logProbs[i] = (float) (logits[off + i] - lse);
            }
            double nll = lse - logits[off + target];
            nllSum += nll;
            nllSq += nll * nll;
            if (save != null) {
                save.write(target, logProbs, 0);
            }
            if (base != null) {
                LogitsFile.Row row = base.next();
                if (row == null) {
                    throw new NemotronException("--kl-base " + baseFile + " ends after " + count
                            + " tokens: it was made from a shorter text");
                }
                if (row.target() != target) {
                    throw new NemotronException("--kl-base " + baseFile + " was made from other text or another "
                            + "tokenizer: scored token " + count + " is " + row.target() + " there, " + target + " here");
                }
                float[] lb = row.logProbs();
                // the dequantized row sums to 1 only within its rounding: normalize it again
                double blse = logSumExp(lb, 0, vocab, lb[row.argmax()]);
                double d = 0;
                for (int i = 0; i < vocab; i++) {
                    double lpb = lb[i] - blse;
                    d += Math.exp(lpb) * (lpb - logProbs[i]);
                }
                d = Math.max(0, d);
                if (kl.length == count) {
                    kl = Arrays.copyOf(kl, Math.max(1024, kl.length * 2));
                }
                kl[(int) count] = (float) d;
                klSum += d;
                klSq += d * d;
                if (row.argmax() == argmax) {
                    top1++;
                }
                baseNllSum -= row.targetLogProb();
            }
            count++;
        }

        /** log(sum exp(v[off + i])) over n values whose largest is max (passed in: the callers know it). */
        private static double logSumExp(float[] v, int off, int n, double max) {
            double sum = 0;
            for (int i = 0; i < n; i++) {
                sum += Math.exp(v[off + i] - max);
            }
            return max + Math.log(sum);
        }

                Result result(long tokens, long windows) {
            double mean = nllSum / count;
            double var = count > 1 ? Math.max(0, (nllSq - count * mean * mean) / (count - 1)) : 0;
            double ppl = Math.exp(mean);
            KlStats stats = null;
            if (base != null) {
                float[] sorted = Arrays.copyOf(kl, (int) count);
                Arrays.sort(sorted);
                double klMean = klSum / count;
                double klVar = count > 1 ? Math.max(0, (klSq - count * klMean * klMean) / (count - 1)) : 0;
                double agree = (double) top1 / count;
                stats = new KlStats(klMean, Math.sqrt(klVar / count), quantile(sorted, 0.5), quantile(sorted, 0.99),
                        sorted[sorted.length - 1], agree, Math.sqrt(agree * (1 - agree) / count),
                        Math.exp(baseNllSum / count));
            }
            return new Result(tokens, count, windows, ppl, ppl * Math.sqrt(var / count), mean, stats);
        }

        private static double quantile(float[] sorted, double q) {
            double pos = q * (sorted.length - 1);
            int lo = (int) Math.floor(pos);
            int hi = Math.min(sorted.length - 1, lo + 1);
            return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
        }
    }
}
