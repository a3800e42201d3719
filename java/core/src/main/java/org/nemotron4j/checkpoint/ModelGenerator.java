package org.nemotron4j.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.nemotron4j.DType;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.checkpoint.NemotronHLayout.Role;
import org.nemotron4j.checkpoint.NemotronHLayout.Weight;

/**
 * Writes a random-weight Nemotron-H checkpoint of any shape, laid out like a published one: {@code config.json},
 * {@code generation_config.json} and {@code model.safetensors} (or shards of at most {@code maxShardBytes} with
 * {@code model.safetensors.index.json}), BF16, or ModelOpt FP8 for Mamba in/out_proj and MLP up/down_proj.
 *
 * <p>Streaming: tensors are generated and written window by window ({@value #WINDOW_BLOCKS} blocks of
 * {@value #BLOCK_ELEMENTS} elements, at most 8 MiB of output at a time), so the 18 GB of the real 9B shape are
 * written in bounded memory. Blocks of a window are filled in parallel.
 *
 * <p>Determinism: element {@code j} of tensor {@code name} is the {@code j % BLOCK}-th draw of a SplitMix64 stream
 * keyed by (seed, FNV-1a hash of name, {@code j / BLOCK}), so the bytes depend only on the seed and the config,
 * not on thread count, window size or tensor order. The FP8 variant of a seed quantizes exactly the values of the
 * BF16 variant of that seed.
 *
 * <p>Initialisation, chosen so the random model runs with sane magnitudes (activations O(1) through the layers):
 * <pre>
 *   embeddings                   ~ N(0, 1)  (Irwin-Hall: sum of 4 uniforms, rescaled; bounded by 2*sqrt(3))
 *   Linear weights [out, in]     ~ U(-sqrt(3/in), sqrt(3/in))           variance 1/in
 *   norm weights (all RMSNorms)  ~ 1 + U(-0.1, 0.1)
 *   conv1d weight and bias       ~ U(-1/sqrt(k), 1/sqrt(k))              k = conv_kernel (PyTorch Conv1d default)
 *   A_log                        = log(U(1, 16))
 *   D                            ~ 1 + U(-0.1, 0.1)
 *   dt_bias                      = softplus^-1(dt),  dt = max(exp(U(ln 0.001, ln 0.1)), 1e-4)
 *                                  softplus^-1(y) = y + log(-expm1(-y))
 * </pre>
 * FP8: {@code weight_scale = max|w| / 448}, codes = E4M3(w / weight_scale) rounded to nearest even
 * ({@link Fp8E4M3}); {@code input_scale} is a plausible static activation scale (4/448, 16/448 for down_proj,
 * whose input is relu(x)^2).
 */
public final class ModelGenerator {
    /** Progress in bytes of tensor data written of the total. */
    @FunctionalInterface
    public interface ProgressListener {
        void progress(long bytesDone, long bytesTotal);

        /** Ignores progress. */
        ProgressListener NONE = (done, total) -> { };
    }

    /** Shard size of {@link #generate(ModelConfig, Path, long, boolean, ProgressListener)}: 5 GB, as HF saves. */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;
    /** Modules kept in BF16 by NVIDIA's FP8 checkpoints (when the config brings no quantization_config). */
    public static final List<String> FP8_EXCLUDE_MODULES =
            List.of("lm_head", "*q_proj*", "*k_proj*", "*v_proj*", "*o_proj*", "*conv1d*");

    static final int BLOCK_ELEMENTS = 1 << 16;
    static final int WINDOW_BLOCKS = 64;
    private static final double TIME_STEP_MIN = 0.001;
    private static final double TIME_STEP_MAX = 0.1;
    private static final double TIME_STEP_FLOOR = 1e-4;

    private static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

    private ModelGenerator() {
    }

    /** {@link #generate(ModelConfig, Path, long, boolean, long, ProgressListener)} with 5 GB shards. */
    public static void generate(ModelConfig config, Path outDir, long seed, boolean fp8, ProgressListener progress) {
        generate(config, outDir, seed, fp8, DEFAULT_MAX_SHARD_BYTES, progress);
    }

    /**
     * Writes a random checkpoint of {@code config}'s shape into {@code outDir} (created if needed). Existing
     * {@code model.safetensors}, {@code model.safetensors.index.json} and {@code model-NNNNN-of-NNNNN.safetensors}
     * files there are replaced. With {@code fp8} the config gets {@code quantization_config} (the config's own, or
     * modelopt FP8 excluding {@link #FP8_EXCLUDE_MODULES}); without, any quantization of {@code config} is dropped.
     */
    public static void generate(ModelConfig config, Path outDir, long seed, boolean fp8, long maxShardBytes,
            ProgressListener progress) {
        if (maxShardBytes <= 0) {
            throw new NemotronException("maxShardBytes must be positive, got " + maxShardBytes);
        }
        ProgressListener listener = progress == null ? ProgressListener.NONE : progress;
        ModelConfig written = fp8
                ? config.withQuantization(Optional.of(config.quantization()
                        .orElse(ModelConfig.Quantization.modeloptFp8(FP8_EXCLUDE_MODULES))))
                : config.withQuantization(Optional.empty());
        List<Entry> entries = plan(written);
        List<List<Entry>> shards = shard(entries, maxShardBytes);
        long total = 0;
        for (Entry e : entries) {
            total += e.spec.byteSize();
        }
        try {
            Files.createDirectories(outDir);
            removeOldWeights(outDir);
            Files.writeString(outDir.resolve(Checkpoint.CONFIG_FILE), written.toJson(), StandardCharsets.UTF_8);
            Files.writeString(outDir.resolve("generation_config.json"), generationConfig(written), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new NemotronException(outDir + ": cannot write checkpoint: " + e.getMessage(), e);
        }
        Progress counter = new Progress(listener, total);
        Map<String, String> weightMap = new TreeMap<>();
        for (int s = 0; s < shards.size(); s++) {
            String fileName = shards.size() == 1
                    ? Checkpoint.SINGLE_FILE
                    : String.format("model-%05d-of-%05d.safetensors", s + 1, shards.size());
            writeShard(outDir.resolve(fileName), shards.get(s), seed, written.convKernel(), counter);
            for (Entry e : shards.get(s)) {
                weightMap.put(e.spec.name(), fileName);
            }
        }
        if (shards.size() > 1) {
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode map = index.putObject("weight_map");
            weightMap.forEach(map::put);
            writeJson(outDir.resolve(Checkpoint.INDEX_FILE), index);
        }
        listener.progress(total, total);
    }

    /** What one file entry holds: a weight's values (BF16 or FP8 codes), its FP8 weight_scale or input_scale. */
    private enum Kind { BF16_VALUES, FP8_CODES, WEIGHT_SCALE, INPUT_SCALE }

    private record Entry(TensorSpec spec, Weight weight, Kind kind) {
    }

    private static List<Entry> plan(ModelConfig config) {
        Optional<ModelConfig.Quantization> q = config.quantization();
        List<Entry> entries = new ArrayList<>();
        for (Weight w : NemotronHLayout.weights(config)) {
            boolean quantize = q.isPresent() && w.role().fp8Capable() && !q.get().excludes(w.module());
            if (quantize) {
                entries.add(new Entry(new TensorSpec(w.name(), DType.F8_E4M3, w.shape()), w, Kind.FP8_CODES));
                entries.add(new Entry(new TensorSpec(w.module() + "." + NemotronHLayout.WEIGHT_SCALE, DType.F32,
                        new long[0]), w, Kind.WEIGHT_SCALE));
                entries.add(new Entry(new TensorSpec(w.module() + "." + NemotronHLayout.INPUT_SCALE, DType.F32,
                        new long[0]), w, Kind.INPUT_SCALE));
            } else {
                entries.add(new Entry(new TensorSpec(w.name(), DType.BF16, w.shape()), w, Kind.BF16_VALUES));
            }
        }
        return entries;
    }

    /** Consecutive entries in files of at most {@code max} data bytes (a larger single tensor gets its own). */
    private static List<List<Entry>> shard(List<Entry> entries, long max) {
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long bytes = 0;
        for (Entry e : entries) {
            long size = e.spec.byteSize();
            if (!current.isEmpty() && bytes + size > max) {
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(e);
            bytes += size;
        }
        shards.add(current);
        return shards;
    }

    private static void removeOldWeights(Path dir) throws IOException {
        Files.deleteIfExists(dir.resolve(Checkpoint.SINGLE_FILE));
        Files.deleteIfExists(dir.resolve(Checkpoint.INDEX_FILE));
        try (DirectoryStream<Path> old = Files.newDirectoryStream(dir, "model-*-of-*.safetensors")) {
            for (Path p : old) {
                if (p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")) {
                    Files.delete(p);
                }
            }
        }
    }

    private static String generationConfig(ModelConfig c) {
        ObjectNode g = JSON.createObjectNode();
        g.put("_from_model_config", true);
        g.put("bos_token_id", c.bosTokenId());
        if (c.eosTokenIds().size() == 1) {
            g.put("eos_token_id", c.eosTokenIds().get(0));
        } else {
            ArrayNode eos = g.putArray("eos_token_id");
            c.eosTokenIds().forEach(eos::add);
        }
        g.put("pad_token_id", c.padTokenId());
        try {
            return JSON.writeValueAsString(g) + "\n";
        } catch (JsonProcessingException e) {
            throw new NemotronException("cannot write generation_config.json: " + e.getMessage(), e);
        }
    }

    private static void writeJson(Path file, ObjectNode node) {
        try {
            Files.writeString(file, JSON.writeValueAsString(node) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new NemotronException(file + ": cannot write: " + e.getMessage(), e);
        }
    }

    private static final class Progress {
        final ProgressListener listener;
        final long total;
        long done;

        Progress(ProgressListener listener, long total) {
            this.listener = listener;
            this.total = total;
        }

        void add(long bytes) {
            done += bytes;
            listener.progress(done, total);
        }
    }

    private static void writeShard(Path file, List<Entry> entries, long seed, int convKernel, Progress progress) {
        List<TensorSpec> specs = entries.stream().map(Entry::spec).toList();
        try (Arena arena = Arena.ofShared();
                SafetensorsWriter writer = SafetensorsWriter.create(file, specs, Map.of("format", "pt"))) {
            // native (not heap) so the file channel writes it without another copy; shared for the parallel fill
            MemorySegment window = arena.allocate((long) BLOCK_ELEMENTS * WINDOW_BLOCKS * 2);
            float weightScale = 1f;
            for (Entry e : entries) {
                String name = e.spec.name();
                switch (e.kind) {
                    case BF16_VALUES -> streamValues(writer, e.weight, sampler(e.weight, convKernel), seed, 0f, window,
                            progress);
                    case FP8_CODES -> {
                        Sampler sampler = sampler(e.weight, convKernel);
                        float max = maxAbs(e.weight, sampler, seed);
                        weightScale = max > 0 ? max / Fp8E4M3.MAX : 1f;
                        streamValues(writer, e.weight, sampler, seed, weightScale, window, progress);
                    }
                    case WEIGHT_SCALE -> writeScalar(writer, name, weightScale, progress);
                    case INPUT_SCALE -> writeScalar(writer, name,
                            (e.weight.role() == Role.MLP_DOWN_PROJ ? 16f : 4f) / Fp8E4M3.MAX, progress);
                }
            }
        }
    }

    private static void writeScalar(SafetensorsWriter writer, String name, float value, Progress progress) {
        writer.write(name, TensorData.scalarF32(name, value).bytes());
        progress.add(4);
    }

    /** Writes the weight's values as BF16 ({@code fp8Scale == 0}) or as E4M3 codes of value / fp8Scale. */
    private static void streamValues(SafetensorsWriter writer, Weight w, Sampler sampler, long seed, float fp8Scale,
            MemorySegment window, Progress progress) {
        String name = w.name();
        boolean fp8 = fp8Scale != 0f;
        int elementBytes = fp8 ? 1 : 2;
        long elements = w.elementCount();
        long blocks = (elements + BLOCK_ELEMENTS - 1) / BLOCK_ELEMENTS;
        long key = tensorKey(seed, name);
        for (long b0 = 0; b0 < blocks; b0 += WINDOW_BLOCKS) {
            long first = b0;
            int count = (int) Math.min(WINDOW_BLOCKS, blocks - b0);
            IntStream range = IntStream.range(0, count);
            (count > 1 ? range.parallel() : range).forEach(k -> {
                long block = first + k;
                long start = block * BLOCK_ELEMENTS;
                int n = (int) Math.min(BLOCK_ELEMENTS, elements - start);
                SplitMix64 rng = new SplitMix64(blockKey(key, block));
                long at = (long) k * BLOCK_ELEMENTS * elementBytes;
                if (fp8) {
                    for (int i = 0; i < n; i++) {
                        window.set(ValueLayout.JAVA_BYTE, at + i, Fp8E4M3.encode(sampler.sample(rng) / fp8Scale));
                    }
                } else {
                    for (int i = 0; i < n; i++) {
                        window.set(TensorInfo.I16, at + 2L * i, BFloat16.fromFloat(sampler.sample(rng)));
                    }
                }
            });
            long windowElements = Math.min((long) count * BLOCK_ELEMENTS, elements - first * BLOCK_ELEMENTS);
            long bytes = windowElements * elementBytes;
            writer.write(name, window.asSlice(0, bytes));
            progress.add(bytes);
        }
        if (elements == 0) {
            progress.add(0);
        }
    }

    /** max |w| over the weight's values, for its FP8 scale (a first pass over the same random streams). */
    private static float maxAbs(Weight w, Sampler sampler, long seed) {
        long elements = w.elementCount();
        long blocks = (elements + BLOCK_ELEMENTS - 1) / BLOCK_ELEMENTS;
        long key = tensorKey(seed, w.name());
        return (float) LongStream.range(0, blocks).parallel().mapToDouble(block -> {
            long start = block * BLOCK_ELEMENTS;
            int n = (int) Math.min(BLOCK_ELEMENTS, elements - start);
            SplitMix64 rng = new SplitMix64(blockKey(key, block));
            float max = 0f;
            for (int i = 0; i < n; i++) {
                max = Math.max(max, Math.abs(sampler.sample(rng)));
            }
            return max;
        }).max().orElse(0);
    }

    /** Draws one element of a tensor. */
    @FunctionalInterface
    private interface Sampler {
        float sample(SplitMix64 rng);
    }

    private static Sampler sampler(Weight w, int convKernel) {
        long[] shape = w.shape();
        return switch (w.role()) {
            case EMBEDDINGS -> rng -> (float) ((rng.nextUnit() + rng.nextUnit() + rng.nextUnit() + rng.nextUnit() - 2.0)
                    * Math.sqrt(3.0));
            case LAYER_NORM, FINAL_NORM, MAMBA_NORM, MAMBA_D -> rng -> (float) (1.0 + 0.1 * rng.nextSigned());
            case MAMBA_CONV_WEIGHT, MAMBA_CONV_BIAS -> {
                double bound = 1.0 / Math.sqrt(convKernel);
                yield rng -> (float) (bound * rng.nextSigned());
            }
            case MAMBA_A_LOG -> rng -> (float) Math.log(1.0 + 15.0 * rng.nextUnit());
            case MAMBA_DT_BIAS -> rng -> {
                double logMin = Math.log(TIME_STEP_MIN);
                double dt = Math.exp(logMin + (Math.log(TIME_STEP_MAX) - logMin) * rng.nextUnit());
                dt = Math.max(dt, TIME_STEP_FLOOR);
                return (float) (dt + Math.log(-Math.expm1(-dt)));
            };
            case LM_HEAD, MAMBA_IN_PROJ, MAMBA_OUT_PROJ, ATTENTION_Q_PROJ, ATTENTION_K_PROJ, ATTENTION_V_PROJ,
                    ATTENTION_O_PROJ, MLP_UP_PROJ, MLP_DOWN_PROJ -> {
                double bound = Math.sqrt(3.0 / shape[1]);
                yield rng -> (float) (bound * rng.nextSigned());
            }
        };
    }

    /** FNV-1a over the UTF-8 name, mixed with the seed: the key of one tensor's random streams. */
    static long tensorKey(long seed, String name) {
        long h = 0xcbf29ce484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xFF;
            h *= 0x100000001b3L;
        }
        return SplitMix64.mix(SplitMix64.mix(seed) ^ h);
    }

    static long blockKey(long tensorKey, long block) {
        return SplitMix64.mix(tensorKey + (block + 1) * SplitMix64.GAMMA);
    }

    /**
     * SplitMix64 (Steele, Lea, Flood 2014): state += 0x9E3779B97F4A7C15, output = mix(state) with the variant-13
     * finaliser {@code z ^= z >>> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >>> 27; z *= 0x94D049BB133111EB;
     * z ^= z >>> 31}. Fixed here (not java.util's generators) so generated checkpoints never change across JDKs.
     */
    static final class SplitMix64 {
        static final long GAMMA = 0x9E3779B97F4A7C15L;
        private long state;

        SplitMix64(long seed) {
            this.state = seed;
        }

        static long mix(long z) {
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        long nextLong() {
            state += GAMMA;
            return mix(state);
        }

        /** Uniform in [0, 1), 53 bits. */
        double nextUnit() {
            return (nextLong() >>> 11) * 0x1.0p-53;
        }

        /** Uniform in [-1, 1). */
        double nextSigned() {
            return 2.0 * nextUnit() - 1.0;
        }
    }
}
