package org.nemotron4j.quant;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.nemotron4j.DType;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.checkpoint.BFloat16;
import org.nemotron4j.checkpoint.Checkpoint;
import org.nemotron4j.checkpoint.Fp8E4M3;
import org.nemotron4j.checkpoint.ModelGenerator.ProgressListener;
import org.nemotron4j.checkpoint.NemotronHLayout;
import org.nemotron4j.checkpoint.SafetensorsWriter;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.checkpoint.TensorSpec;

/**
 * Writes a block-quantized copy of a BF16 / F16 / F32 or ModelOpt FP8 checkpoint: {@code config.json} with a
 * {@code quantization_config} (quant_method "nemotron4j", the type, the policy and every quantized module), one
 * {@code model.safetensors} with the layout of {@link QuantType}, and the other files of the directory (tokenizer,
 * chat template...) copied. Streaming: one tensor's rows at a time (8 MiB of quants, its rows quantized on all
 * cores, plus the tensor's scales, 1/16 of its quants), so a 9B checkpoint quantizes in little memory. FP8 weights are decoded with their weight_scale first; FP8 weights the
 * policy keeps are written as BF16 (the output has one quantization scheme). An input that is already
 * block-quantized is refused.
 */
public final class Quantizer {
    private static final long CHUNK_BYTES = 8L << 20;

    private Quantizer() {
    }

    /** What was written: per type, weights and bytes; kept weights; the output directory. */
    public record Result(Path out, Map<String, Long> quantizedWeights, long outputBytes, long inputBytes,
                         List<String> fallbacks) {
    }

    public static Result quantize(Path in, Path out, QuantType type, QuantPolicy policy, ProgressListener progress) {
        return quantize(in, out, type, policy, null, progress);
    }

    /**
     * As {@link #quantize(Path, Path, QuantType, QuantPolicy, ProgressListener)}, each quantized weight fitted to
     * its columns' importance from {@code imatrix} (null: unweighted), which must hold every quantized weight with
     * its column count (one made from this checkpoint). Weights whose second-moment matrix it holds are rounded
     * with error feedback ({@link ErrorFeedback}).
     */
    public static Result quantize(Path in, Path out, QuantType type, QuantPolicy policy, ImportanceMatrix imatrix,
            ProgressListener progress) {
        ProgressListener listener = progress == null ? ProgressListener.NONE : progress;
        try (Checkpoint ckpt = Checkpoint.open(in)) {
            ModelConfig config = ckpt.config();
            if (config.quantization().map(ModelConfig.Quantization::isBlock).orElse(false)) {
                throw new NemotronException(in + " is already quantized (quantization_config: quant_method \""
                        + config.quantization().get().method() + "\", quant_algo \"" + config.quantization().get().algo()
                        + "\"): quantize the original BF16 or FP8 checkpoint instead");
            }
            ckpt.validate();
            boolean fp8 = config.quantization().map(ModelConfig.Quantization::isModeloptFp8).orElse(false);
            Map<String, NemotronHLayout.Weight> layout = new HashMap<>();
            for (NemotronHLayout.Weight w : NemotronHLayout.weights(config)) {
                layout.put(ckpt.tensor(w.name()).name(), w);
            }
            List<TensorSpec> specs = new ArrayList<>();
            List<Runnable> writers = new ArrayList<>();
            Map<String, String> modules = new LinkedHashMap<>();
            Map<String, Long> counts = new LinkedHashMap<>();
            List<String> fallbacks = new ArrayList<>();
            long[] done = {0};
            long total = ckpt.totalBytes();
            SafetensorsWriter[] writer = new SafetensorsWriter[1];
            for (TensorInfo t : ckpt.tensors()) {
                String name = t.name();
                if (fp8 && (name.endsWith("." + NemotronHLayout.WEIGHT_SCALE)
                        || name.endsWith("." + NemotronHLayout.INPUT_SCALE))) {
                    continue;  // folded into the weights
                }
                NemotronHLayout.Weight w = layout.get(name);
                Optional<QuantType> qt = w == null || !w.role().isLinear() ? Optional.empty()
                        : policy.typeFor(w.role(), w.shape()[1]);
                if (w != null && w.role().isLinear() && qt.isPresent() && qt.get() != policy.roles().get(w.role()).orElse(null)) {
                    fallbacks.add(name + " -> " + qt.get().id() + " (" + w.shape()[1] + " columns)");
                } else if (w != null && w.role().isLinear() && qt.isEmpty() && policy.roles().getOrDefault(w.role(), Optional.empty()).isPresent()) {
                    fallbacks.add(name + " kept (" + w.shape()[1] + " columns fit no block)");
                }
                float scale = 1f;
                if (t.dtype() == DType.F8_E4M3) {
                    scale = ckpt.tensor(w.module() + "." + NemotronHLayout.WEIGHT_SCALE).scalar();
                }
                final float fscale = scale;
                if (qt.isPresent()) {
                    QuantType q = qt.get();
                    long rows = w.shape()[0];
                    long cols = w.shape()[1];
                    float[] colImp = imatrix == null ? null : columnImportance(imatrix, name, cols);
                    float[] second = imatrix == null ? null : imatrix.secondMoment(name).orElse(null);
                    modules.put(w.module(), q.id());
                    counts.merge(q.id(), rows * cols, Long::sum);
                    TensorSpec quants = new TensorSpec(name, q.quantsDType(), q.quantsShape(rows, cols));
                    TensorSpec scales = new TensorSpec(w.module() + "." + QuantType.SCALES_SUFFIX, q.scalesDType(),
                            q.scalesShape(rows, cols));
                    specs.add(quants);
                    specs.add(scales);
                    // the error feedback's factor (cols^2 doubles) is made when this weight's turn comes
                    writers.add(() -> writeQuantized(writer[0], t, fscale, q, (int) rows, (int) cols, colImp,
                            second == null ? null : ErrorFeedback.of(second, (int) cols), quants.name(),
                            scales.name(), done, total, listener));
                } else if (t.dtype() == DType.F8_E4M3) {
                    specs.add(new TensorSpec(name, DType.BF16, t.shape()));
                    writers.add(() -> writeBf16(writer[0], t, fscale, done, total, listener));
                } else {
                    specs.add(new TensorSpec(name, t.dtype(), t.shape()));
                    writers.add(() -> {
                        long n = t.byteSize();
                        for (long off = 0; off < n; off += CHUNK_BYTES) {
                            long len = Math.min(CHUNK_BYTES, n - off);
                            writer[0].write(name, t.data().asSlice(off, len));
                            done[0] += len;
                            listener.progress(done[0], total);
                        }
                    });
                }
            }
            Files.createDirectories(out);
            if (Files.isSameFile(in, out)) {
                throw new NemotronException("--out " + out + " is the input directory: write the quantized copy elsewhere");
            }
            copyOtherFiles(in, out);
            Map<String, String> metadata = Map.of("format", "pt", "quantization", "nemotron4j " + type.id());
            try (SafetensorsWriter sw = SafetensorsWriter.create(out.resolve(Checkpoint.SINGLE_FILE), specs, metadata)) {
                writer[0] = sw;
                for (Runnable r : writers) {
                    r.run();
                }
            }
            ModelConfig outConfig = config.withQuantization(Optional.of(
                    ModelConfig.Quantization.block(type.id(), modules, policy.spec())));
            Files.writeString(out.resolve(Checkpoint.CONFIG_FILE), outConfig.toJson());
            long outBytes = Files.size(out.resolve(Checkpoint.SINGLE_FILE));
            return new Result(out, counts, outBytes, total, fallbacks);
        } catch (IOException e) {
            throw new NemotronException("cannot write " + out + ": " + e.getMessage(), e);
        }
    }

    private static void copyOtherFiles(Path in, Path out) throws IOException {
        try (Stream<Path> files = Files.list(in)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String n = f.getFileName().toString();
                if (!Files.isRegularFile(f) || n.equals(Checkpoint.CONFIG_FILE) || n.endsWith(".safetensors")
                        || n.equals(Checkpoint.INDEX_FILE) || n.equals(Checkpoint.HF_QUANT_CONFIG_FILE)
                        || n.startsWith(".")) {
                    continue;
                }
                Files.copy(f, out.resolve(n), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    /**
     * Quantizes the 2-D weight {@code t} ({@code rows x cols} real values: its elements times {@code scale}, the FP8
     * weight_scale or 1) into {@code dst} in the layout the kernels read: {@code rows} rows of quants, then
     * {@code rows} rows of scales (quantize-on-load). Rows are spread over the common fork-join pool (all cores);
     * each row's result depends on that row alone, so the bytes do not depend on the thread count.
     */
    public static void quantizeInto(TensorInfo t, float scale, QuantType type, int rows, int cols, MemorySegment dst) {
        if (cols % type.columnMultiple() != 0) {
            throw new NemotronException("tensor \"" + t.name() + "\" has " + cols + " columns, not a multiple of "
                    + type.id() + "'s block of " + type.columnMultiple());
        }
        long qRow = type.quantsRowBytes(cols);
        long sRow = type.scalesRowBytes(cols);
        if (dst.byteSize() < rows * (qRow + sRow)) {
            throw new IllegalArgumentException("destination of " + dst.byteSize() + " bytes < " + rows * (qRow + sRow));
        }
        int rowsPerTask = (int) Math.max(1, Math.min(rows, (1L << 20) / Math.max(1, qRow)));
        int tasks = (rows + rowsPerTask - 1) / rowsPerTask;
        java.util.stream.IntStream.range(0, tasks).parallel().forEach(task -> {
            int r0 = task * rowsPerTask;
            int n = Math.min(rowsPerTask, rows - r0);
            float[] row = new float[cols];
            byte[] quants = new byte[(int) (n * qRow)];
            byte[] scales = new byte[(int) (n * sRow)];
            for (int i = 0; i < n; i++) {
                readRow(t, scale, r0 + i, cols, row);
                BlockQuantizer.quantizeRow(type, row, cols, quants, (int) (i * qRow), scales, (int) (i * sRow));
            }
            MemorySegment.copy(quants, 0, dst, ValueLayout.JAVA_BYTE, r0 * qRow, quants.length);
            MemorySegment.copy(scales, 0, dst, ValueLayout.JAVA_BYTE, rows * qRow + r0 * sRow, scales.length);
        });
    }

    /** Row {@code r} of a 2-D weight as F32 real values (FP8 codes times their scale). */
    static void readRow(TensorInfo t, float scale, int r, int cols, float[] dst) {
        MemorySegment d = t.data();
        long base = (long) r * cols;
        switch (t.dtype()) {
            case BF16 -> {
                for (int i = 0; i < cols; i++) {
                    dst[i] = BFloat16.toFloat(d.get(ValueLayout.JAVA_SHORT_UNALIGNED, (base + i) * 2));
                }
            }
            case F16 -> {
                for (int i = 0; i < cols; i++) {
                    dst[i] = Float.float16ToFloat(d.get(ValueLayout.JAVA_SHORT_UNALIGNED, (base + i) * 2));
                }
            }
            case F32 -> MemorySegment.copy(d, ValueLayout.JAVA_FLOAT_UNALIGNED, base * 4, dst, 0, cols);
            case F8_E4M3 -> {
                for (int i = 0; i < cols; i++) {
                    dst[i] = Fp8E4M3.decode(d.get(ValueLayout.JAVA_BYTE, base + i)) * scale;
                }
            }
            default -> throw new NemotronException("tensor \"" + t.name() + "\" has dtype " + t.dtype()
                    + ", which cannot be quantized (BF16, F16, F32 or F8_E4M3)");
        }
    }

    /** The importance matrix's row for weight {@code name}, checked against its column count. */
    private static float[] columnImportance(ImportanceMatrix imatrix, String name, long cols) {
        float[] a = imatrix.of(name).orElseThrow(() -> new NemotronException("the importance matrix (from "
                + imatrix.source() + ") has no entry for weight \"" + name + "\": it was made for another model"));
        if (a.length != cols) {
            throw new NemotronException("the importance matrix (from " + imatrix.source() + ") has " + a.length
                    + " columns for weight \"" + name + "\", which has " + cols + ": it was made for another model");
        }
        return a;
    }

    private static void writeQuantized(SafetensorsWriter sw, TensorInfo t, float scale, QuantType q, int rows, int cols,
            float[] colImp, ErrorFeedback feedback, String quantsName, String scalesName, long[] done, long total, ProgressListener listener) {
        int qRow = (int) q.quantsRowBytes(cols);
        int sRow = (int) q.scalesRowBytes(cols);
        int rowsPerChunk = (int) Math.max(1, CHUNK_BYTES / Math.max(1, qRow));
        byte[] scales = new byte[Math.multiplyExact(rows, sRow)];
        byte[] chunk = new byte[Math.min(rows, rowsPerChunk) * qRow];
        ThreadLocal<float[]> rowBuf = ThreadLocal.withInitial(() -> new float[cols]);
        long inRow = t.byteSize() / rows;
        for (int r0 = 0; r0 < rows; r0 += rowsPerChunk) {
            int n = Math.min(rowsPerChunk, rows - r0);
            int first = r0;
            // rows are independent and write disjoint bytes: quantized in parallel (the fits are the costly part)
            java.util.stream.IntStream.range(0, n).parallel().forEach(i -> {
                float[] row = rowBuf.get();
                readRow(t, scale, first + i, cols, row);
                BlockQuantizer.quantizeRow(q, row, cols, colImp, feedback, chunk, i * qRow, scales, (first + i) * sRow);
            });
            sw.write(quantsName, chunk, 0, n * qRow);
            done[0] += n * inRow;
            listener.progress(done[0], total);
        }
        sw.write(scalesName, scales);
    }

    private static void writeBf16(SafetensorsWriter sw, TensorInfo t, float scale, long[] done, long total,
            ProgressListener listener) {
        long n = t.elementCount();
        byte[] buf = new byte[(int) Math.min(n * 2, CHUNK_BYTES)];
        MemorySegment d = t.data();
        for (long off = 0; off < n; ) {
            int len = (int) Math.min(buf.length / 2, n - off);
            for (int i = 0; i < len; i++) {
                short b = BFloat16.fromFloat(Fp8E4M3.decode(d.get(ValueLayout.JAVA_BYTE, off + i)) * scale);
                buf[2 * i] = (byte) b;
                buf[2 * i + 1] = (byte) (b >> 8);
            }
            sw.write(t.name(), buf, 0, 2 * len);
            off += len;
            done[0] += len;
            listener.progress(done[0], total);
        }
    }
}
