package org.nemotron4j.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.checkpoint.BFloat16;
import org.nemotron4j.checkpoint.SafetensorsFile;
import org.nemotron4j.checkpoint.SafetensorsWriter;
import org.nemotron4j.checkpoint.TensorData;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.eval.TextTokens;

/**
 * The importance of each input column of each Linear weight, measured on calibration text: for a weight {@code W}
 * multiplying activations {@code x}, {@code a[c] = mean over tokens of x[c]^2}. Rounding {@code W[o][c]} by
 * {@code e} moves output {@code o} by {@code e * x[c]}, whose mean square is {@code e^2 * a[c]}; so the quantizer
 * minimizes {@code sum_c a[c] * e[c]^2} per row instead of the plain squared error (the diagonal of the inputs'
 * second-moment matrix; llama.cpp calls this an "importance matrix"). Made by running the unquantized model over
 * text ({@link #collect}); the text must not be the text the quantized model is then judged on.
 *
 * <p>File form (safetensors): one F32 tensor {@code [cols]} per weight, named like the weight, and metadata
 * {@code "format": "nemotron4j-imatrix"}, {@code "tokens"} (how many tokens were run) and {@code "source"}.
 */
public final class ImportanceMatrix {
    public static final String FORMAT = "nemotron4j-imatrix";

    /** The largest input width whose second-moment matrix is collected (its n x n doubles are held in memory). */
    public static final int MAX_SECOND_MOMENT_COLUMNS = 8192;
    static final String SECOND_MOMENT_SUFFIX = ".second_moment";

    private final Map<String, float[]> meanSquares;
    private final Map<String, float[]> secondMoments;
    private final long tokens;
    private final String source;

    public ImportanceMatrix(Map<String, float[]> meanSquares, long tokens, String source) {
        this(meanSquares, Map.of(), tokens, source);
    }

    /**
     * With {@code secondMoments}: per weight (a subset of meanSquares' keys), E[x x^T] row-major {@code [cols,
     * cols]}, for rounding with error feedback ({@link ErrorFeedback}).
     */
    public ImportanceMatrix(Map<String, float[]> meanSquares, Map<String, float[]> secondMoments, long tokens,
            String source) {
        for (var e : secondMoments.entrySet()) {
            float[] d = meanSquares.get(e.getKey());
            if (d == null || e.getValue().length != (long) d.length * d.length) {
                throw new NemotronException("second-moment matrix of \"" + e.getKey() + "\" has " + e.getValue().length
                        + " values, which is not the square of its " + (d == null ? "(missing)" : d.length)
                        + " mean squares");
            }
        }
        for (var e : meanSquares.entrySet()) {
            for (float v : e.getValue()) {
                if (!(v >= 0) || !Float.isFinite(v)) {
                    throw new NemotronException("importance matrix of \"" + e.getKey() + "\" holds " + v
                            + ": every value must be a finite mean square >= 0");
                }
            }
        }
        this.meanSquares = Collections.unmodifiableMap(new TreeMap<>(meanSquares));
        this.secondMoments = Collections.unmodifiableMap(new TreeMap<>(secondMoments));
        this.tokens = tokens;
        this.source = source;
    }

    /** Tokens of calibration text the model ran. */
    public long tokens() {
        return tokens;
    }

    /** Where it came from (the text file's name). */
    public String source() {
        return source;
    }

    /** Weight tensor name -> mean square of each input column. */
    public Map<String, float[]> meanSquares() {
        return meanSquares;
    }

    public Optional<float[]> of(String weight) {
        return Optional.ofNullable(meanSquares.get(weight));
    }

    /** E[x x^T] of the inputs of {@code weight}, row-major [cols, cols], when it was collected. */
    public Optional<float[]> secondMoment(String weight) {
        return Optional.ofNullable(secondMoments.get(weight));
    }

    public boolean hasSecondMoments() {
        return !secondMoments.isEmpty();
    }

    /** Progress of {@link #collect}: tokens run so far of about {@code total}. */
    public interface Progress {
        void update(long tokens, long total);
    }

    /**
     * Runs {@code model} (CPU) over {@code text} in windows of {@code ctx} tokens, each in a fresh session, up to
     * {@code maxTokens} tokens (0: the whole text), and collects the mean square of every input column of every
     * matmul; with {@code secondMoments}, also E[x x^T] of every input up to {@link #MAX_SECOND_MOMENT_COLUMNS}
     * wide. The model should be the unquantized one the quantized copy is made from.
     */
    public static ImportanceMatrix collect(NemotronModel model, Path text, int ctx, long maxTokens,
            boolean secondMoments, Progress progress) {
        if (ctx < 1) {
            throw new NemotronException("calibration context must be >= 1 token, got " + ctx);
        }
        if (maxTokens < 0) {
            throw new NemotronException("calibration token limit must be >= 0 (0: the whole text), got " + maxTokens);
        }
        Map<String, double[]> sums = new LinkedHashMap<>();
        Map<String, double[]> grams = new LinkedHashMap<>();
        Map<String, long[]> rows = new LinkedHashMap<>();
        long run = 0;
        model.observeMatmulInputs((weight, x, ldX, n, cols, elementBytes) -> {
            double[] s = sums.computeIfAbsent(weight, k -> new double[cols]);
            if (s.length != cols) {
                throw new NemotronException("weight \"" + weight + "\" was multiplied with " + cols + " and "
                        + s.length + " columns");
            }
            double[] g = secondMoments && cols <= MAX_SECOND_MOMENT_COLUMNS
                    ? grams.computeIfAbsent(weight, k -> new double[cols * cols]) : null;
            accumulate(x, ldX, n, cols, elementBytes, s, g);
            rows.computeIfAbsent(weight, k -> new long[1])[0] += n;
        });
        try (TextTokens src = new TextTokens(text, model.tokenizer())) {
            int[] buf = new int[ctx];
            while (maxTokens == 0 || run < maxTokens) {
                int want = (int) (maxTokens == 0 ? ctx : Math.min(ctx, maxTokens - run));
                int len = 0;
                while (len < want) {
                    int got = src.read(buf, len, want - len);
                    if (got == 0) {
                        break;
                    }
                    len += got;
                }
                if (len == 0) {
                    break;
                }
                try (Session s = model.newSession()) {
                    s.prefill(java.util.Arrays.copyOf(buf, len));
                }
                run += len;
                if (progress != null) {
                    progress.update(run, maxTokens > 0 ? maxTokens : Math.max(run, src.estimatedTokens()));
                }
                if (len < want) {
                    break;
                }
            }
        } finally {
            model.observeMatmulInputs(null);
        }
        if (run == 0) {
            throw new NemotronException("calibration text " + text + " holds no tokens (it is empty)");
        }
        Map<String, float[]> means = new LinkedHashMap<>();
        for (var e : sums.entrySet()) {
            double[] s = e.getValue();
            long n = rows.get(e.getKey())[0];
            float[] m = new float[s.length];
            for (int c = 0; c < s.length; c++) {
                m[c] = (float) (s[c] / n);
            }
            means.put(e.getKey(), m);
        }
        Map<String, float[]> seconds = new LinkedHashMap<>();
        for (var e : grams.entrySet()) {
            double[] g = e.getValue();
            int cols = means.get(e.getKey()).length;
            long n = rows.get(e.getKey())[0];
            float[] m = new float[cols * cols];
            for (int i = 0; i < cols; i++) {
                for (int j = i; j < cols; j++) {  // the upper triangle was summed
                    m[i * cols + j] = (float) (g[i * cols + j] / n);
                    m[j * cols + i] = m[i * cols + j];
                }
            }
            seconds.put(e.getKey(), m);
        }
        return new ImportanceMatrix(means, seconds, run, text.getFileName().toString());
    }

    private static void accumulate(MemorySegment x, long ldX, int n, int cols, long elementBytes, double[] s,
            double[] gram) {
        double[] v = new double[cols];
        for (int r = 0; r < n; r++) {
            long base = r * ldX;
            if (elementBytes == 4) {
                for (int c = 0; c < cols; c++) {
                    v[c] = x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, (base + c) * 4);
                }
            } else if (elementBytes == 2) {
                for (int c = 0; c < cols; c++) {
                    v[c] = BFloat16.toFloat(x.get(ValueLayout.JAVA_SHORT_UNALIGNED, (base + c) * 2));
                }
            } else {
                throw new NemotronException("matmul inputs of " + elementBytes + " bytes per element cannot be observed");
            }
            for (int c = 0; c < cols; c++) {
                s[c] += v[c] * v[c];
            }
            if (gram != null) {
                for (int i = 0; i < cols; i++) {
                    double vi = v[i];
                    if (vi == 0) {
                        continue;
                    }
                    int row = i * cols;
                    for (int j = i; j < cols; j++) {
                        gram[row + j] += vi * v[j];
                    }
                }
            }
        }
    }

    /** Writes the file form (see the class comment). */
    public void save(Path file) {
        List<TensorData> tensors = new ArrayList<>();
        for (var e : meanSquares.entrySet()) {
            tensors.add(TensorData.f32(e.getKey(), e.getValue()));
        }
        for (var e : secondMoments.entrySet()) {
            int cols = meanSquares.get(e.getKey()).length;
            tensors.add(TensorData.f32(e.getKey() + SECOND_MOMENT_SUFFIX, e.getValue(), cols, cols));
        }
        SafetensorsWriter.writeAll(file, Map.of("format", FORMAT, "tokens", Long.toString(tokens), "source", source),
                tensors);
    }

    /** Reads the file form; refuses a file that is not one (another safetensors file, a tensor not F32 [cols]). */
    public static ImportanceMatrix load(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            if (!FORMAT.equals(f.metadata().get("format"))) {
                throw new NemotronException(file + " is not an importance matrix (its metadata has no \"format\": \""
                        + FORMAT + "\"): make one with quantize --calibration TEXT --save-imatrix FILE");
            }
            long tokens;
            try {
                tokens = Long.parseLong(f.metadata().getOrDefault("tokens", ""));
            } catch (NumberFormatException e) {
                throw new NemotronException(file + ": metadata \"tokens\" is not a number");
            }
            Map<String, float[]> m = new LinkedHashMap<>();
            Map<String, float[]> seconds = new LinkedHashMap<>();
            for (TensorInfo t : f.tensors()) {
                boolean second = t.name().endsWith(SECOND_MOMENT_SUFFIX);
                if (t.dtype() != DType.F32 || t.rank() != (second ? 2 : 1)) {
                    throw new NemotronException(file + ": tensor \"" + t.name() + "\" is " + t.dtype() + " of rank "
                            + t.rank() + "; an importance matrix holds F32 vectors (and F32 matrices named *"
                            + SECOND_MOMENT_SUFFIX + ")");
                }
                float[] v = new float[Math.toIntExact(t.elementCount())];
                MemorySegment.copy(t.data(), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, v, 0, v.length);
                if (second) {
                    seconds.put(t.name().substring(0, t.name().length() - SECOND_MOMENT_SUFFIX.length()), v);
                } else {
                    m.put(t.name(), v);
                }
            }
            return new ImportanceMatrix(m, seconds, tokens, f.metadata().getOrDefault("source", "?"));
        }
    }
}
