package org.nemotron4j.checkpoint;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.nemotron4j.DType;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.checkpoint.NemotronHLayout.Weight;
import org.nemotron4j.quant.QuantType;

/**
 * A Hugging Face checkpoint directory: {@code config.json} plus the weights, either one {@code model.safetensors}
 * or shards listed by {@code model.safetensors.index.json}:
 * <pre>
 *   { "metadata": { "total_size": 17800000000 },
 *     "weight_map": { "backbone.embeddings.weight": "model-00001-of-00004.safetensors", ... } }
 * </pre>
 * Every file is memory-mapped into one shared {@link Arena} owned by this object; {@link #close()} unmaps them all
 * (tensor slices are unusable afterwards). When both a single file and an index exist the single file is used,
 * as Hugging Face does. For a sharded checkpoint every shard the index names must exist, every tensor must be in
 * the shard the index names, no tensor may be in two shards, and no shard may hold a tensor the index omits.
 *
 * <p>If {@code config.json} has no {@code quantization_config} but the directory has ModelOpt's
 * {@code hf_quant_config.json} ({@code {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8",
 * "exclude_modules": [...]}}}), the quantization is taken from there.
 */
public final class Checkpoint implements AutoCloseable {
    public static final String CONFIG_FILE = "config.json";
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String HF_QUANT_CONFIG_FILE = "hf_quant_config.json";

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path directory;
    private final ModelConfig config;
    private final Arena arena;
    private final List<SafetensorsFile> files;
    private final Map<String, TensorInfo> tensors;
    private volatile boolean closed;

    private Checkpoint(Path directory, ModelConfig config, Arena arena, List<SafetensorsFile> files,
            Map<String, TensorInfo> tensors) {
        this.directory = directory;
        this.config = config;
        this.arena = arena;
        this.files = files;
        this.tensors = tensors;
    }

    /** Reads {@code config.json} and maps the weights of the checkpoint directory {@code dir}. */
    public static Checkpoint open(Path dir) {
        return open(dir, SafetensorsFile.Access.MAP);
    }

    /**
     * Reads {@code config.json} and the weights of the checkpoint directory {@code dir}, mapping the safetensors
     * files or reading them into native memory as {@code access} says.
     */
    public static Checkpoint open(Path dir, SafetensorsFile.Access access) {
        if (!Files.isDirectory(dir)) {
            throw new NemotronException(dir + ": not a checkpoint directory (it does not exist or is not a directory)");
        }
        ModelConfig config = ModelConfig.read(dir.resolve(CONFIG_FILE));
        if (config.quantization().isEmpty() && Files.isRegularFile(dir.resolve(HF_QUANT_CONFIG_FILE))) {
            config = config.withQuantization(readHfQuantConfig(dir.resolve(HF_QUANT_CONFIG_FILE)));
        }
        Arena arena = Arena.ofShared();
        try {
            Path single = dir.resolve(SINGLE_FILE);
            Path index = dir.resolve(INDEX_FILE);
            List<SafetensorsFile> files = new ArrayList<>();
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            if (Files.exists(single)) {
                SafetensorsFile f = SafetensorsFile.open(single, arena, access);
                files.add(f);
                for (TensorInfo t : f.tensors()) {
                    tensors.put(t.name(), t);
                }
            } else if (Files.exists(index)) {
                readSharded(dir, index, arena, access, files, tensors);
            } else {
                throw new NemotronException(dir + ": no " + SINGLE_FILE + " and no " + INDEX_FILE
                        + ": not a safetensors checkpoint");
            }
            return new Checkpoint(dir, config, arena, List.copyOf(files), Collections.unmodifiableMap(tensors));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static void readSharded(Path dir, Path index, Arena arena, SafetensorsFile.Access access,
            List<SafetensorsFile> files,
            Map<String, TensorInfo> tensors) {
        JsonNode root;
        try {
            root = JSON.readTree(RegularFiles.readString(index, "shard index", RegularFiles.MAX_JSON_BYTES));
        } catch (IOException e) {
            throw new NemotronException(index + ": cannot read the shard index: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new NemotronException(index + ": no \"weight_map\" object");
        }
        // tensor -> shard file name, and the shards in first-mention order
        Map<String, String> weightMap = new LinkedHashMap<>();
        Map<String, String> firstTensorOfShard = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new NemotronException(index + ": weight_map entry of tensor \"" + e.getKey()
                        + "\" is not a file name: " + e.getValue());
            }
            weightMap.put(e.getKey(), e.getValue().textValue());
            firstTensorOfShard.putIfAbsent(e.getValue().textValue(), e.getKey());
        }
        Path base = dir.toAbsolutePath().normalize();
        for (Map.Entry<String, String> shard : firstTensorOfShard.entrySet()) {
            Path file = base.resolve(shard.getKey()).normalize();
            if (!file.startsWith(base) || file.equals(base)) {
                throw new NemotronException(index + ": shard \"" + shard.getKey() + "\" (of tensor \""
                        + shard.getValue() + "\") is outside the checkpoint directory");
            }
            RegularFiles.require(file, "shard");
            if (!Files.isRegularFile(file)) {
                throw new NemotronException(index + ": shard \"" + shard.getKey() + "\" (listed for tensor \""
                        + shard.getValue() + "\") does not exist in " + dir);
            }
        }
        for (String shardName : firstTensorOfShard.keySet()) {
            SafetensorsFile f = SafetensorsFile.open(dir.resolve(shardName), arena, access);
            files.add(f);
            for (TensorInfo t : f.tensors()) {
                TensorInfo previous = tensors.putIfAbsent(t.name(), t);
                if (previous != null) {
                    throw new NemotronException(dir + ": tensor \"" + t.name() + "\" is in two shards: "
                            + previous.file().getFileName() + " and " + t.file().getFileName());
                }
                String listed = weightMap.get(t.name());
                if (listed == null) {
                    throw new NemotronException(index + ": tensor \"" + t.name() + "\" of shard " + shardName
                            + " is not listed in weight_map");
                }
                if (!listed.equals(shardName)) {
                    throw new NemotronException(index + ": weight_map puts tensor \"" + t.name() + "\" in " + listed
                            + " but it is in " + shardName);
                }
            }
        }
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            if (!tensors.containsKey(e.getKey())) {
                throw new NemotronException(index + ": weight_map puts tensor \"" + e.getKey() + "\" in "
                        + e.getValue() + " but that shard does not contain it");
            }
        }
    }

    private static Optional<ModelConfig.Quantization> readHfQuantConfig(Path file) {
        try {
            JsonNode root = JSON.readTree(RegularFiles.readString(file, "quantization config",
                    RegularFiles.MAX_JSON_BYTES));
            JsonNode q = root == null ? null : root.get("quantization");
            if (q == null || !q.isObject()) {
                return Optional.empty();
            }
            JsonNode producer = root.path("producer").path("name");
            String method = producer.isTextual() ? producer.textValue() : "modelopt";
            JsonNode algo = q.get("quant_algo");
            if (algo == null || algo.isNull()) {
                return Optional.empty();
            }
            List<String> exclude = new ArrayList<>();
            q.path("exclude_modules").forEach(n -> exclude.add(n.asText()));
            return Optional.of(new ModelConfig.Quantization(method, algo.asText(), exclude));
        } catch (IOException e) {
            throw new NemotronException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The parsed {@code config.json}. */
    public ModelConfig config() {
        return config;
    }

    /** The checkpoint directory. */
    public Path directory() {
        return directory;
    }

    /** The safetensors files, in the order they were mapped. */
    public List<Path> files() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    /** Bytes of tensor data in all files (what uploading every tensor would copy). */
    public long totalBytes() {
        long total = 0;
        for (TensorInfo t : tensors.values()) {
            total += t.byteSize();
        }
        return total;
    }

    /** Every tensor of every file. */
    public Collection<TensorInfo> tensors() {
        checkOpen();
        return tensors.values();
    }

    /**
     * The named tensor, if present. {@code backbone.embeddings.weight} and the legacy
     * {@code backbone.embedding.weight} are the same tensor: asking for either finds whichever the file has.
     */
    public Optional<TensorInfo> find(String name) {
        checkOpen();
        TensorInfo t = tensors.get(name);
        if (t == null && name.equals(NemotronHLayout.EMBEDDINGS)) {
            t = tensors.get(NemotronHLayout.LEGACY_EMBEDDINGS);
        } else if (t == null && name.equals(NemotronHLayout.LEGACY_EMBEDDINGS)) {
            t = tensors.get(NemotronHLayout.EMBEDDINGS);
        }
        return Optional.ofNullable(t);
    }

    /** The named tensor; {@link NemotronException} naming it and the checkpoint when missing. */
    public TensorInfo tensor(String name) {
        return find(name).orElseThrow(() -> new NemotronException(directory + ": no tensor \"" + name
                + "\" in " + describeFiles()));
    }

    /**
     * The named tensor, checked to have exactly {@code expectedShape}; a mismatch is a {@link NemotronException}
     * naming the tensor, its file, both shapes and {@code config.json}.
     */
    public TensorInfo require(String name, long... expectedShape) {
        Optional<TensorInfo> found = find(name);
        if (found.isEmpty()) {
            throw new NemotronException(directory + ": no tensor \"" + name + "\" in " + describeFiles()
                    + ", but " + configPath() + " implies one of shape " + TensorInfo.formatShape(expectedShape));
        }
        TensorInfo t = found.get();
        if (!t.hasShape(expectedShape)) {
            throw new NemotronException(shapeMismatch(t, expectedShape));
        }
        return t;
    }

    private String shapeMismatch(TensorInfo t, long[] expected) {
        return "tensor \"" + t.name() + "\" in " + t.file() + " has shape " + TensorInfo.formatShape(t.shape())
                + " but " + configPath() + " implies " + TensorInfo.formatShape(expected)
                + ": the checkpoint disagrees with config.json";
    }

    private Path configPath() {
        return directory.resolve(CONFIG_FILE);
    }

    private String describeFiles() {
        return files.size() == 1 ? files.get(0).path().getFileName().toString() : files.size() + " shards";
    }

    /**
     * Checks that every tensor the config implies ({@link NemotronHLayout#weights}) exists with the right shape and
     * an allowed dtype: BF16, F16 or F32; or F8_E4M3 for Mamba in/out_proj and MLP up/down_proj when
     * {@code config.json} declares ModelOpt FP8, in which case {@code <module>.weight_scale} must be a positive
     * finite F32 scalar (shape {@code []} or {@code [1]}) and {@code <module>.input_scale}, if present, too.
     * With nemotron4j block quantization ({@code quant_method "nemotron4j"}), every module listed in
     * {@code quantization_config.modules} must be a Linear weight whose column count the block divides, stored as
     * {@link QuantType}'s quants {@code <module>.weight} and scales {@code <module>.weight_scales} (dtypes and shapes
     * checked), and no listed module may be unknown to the model.
     * All problems are reported together in one {@link NemotronException}.
     */
    public void validate() {
        checkOpen();
        List<String> problems = new ArrayList<>();
        boolean fp8 = config.quantization().map(ModelConfig.Quantization::isModeloptFp8).orElse(false);
        Optional<ModelConfig.Quantization> block = config.quantization().filter(ModelConfig.Quantization::isBlock);
        java.util.Set<String> blockModules = new java.util.HashSet<>(block.map(q -> q.modules().keySet())
                .orElse(java.util.Set.of()));
        for (Weight w : NemotronHLayout.weights(config)) {
            Optional<TensorInfo> found = find(w.name());
            long[] expected = w.shape();
            Optional<String> blockType = block.flatMap(q -> q.blockType(w.module()));
            if (blockType.isPresent() && w.name().endsWith(".weight")) {
                blockModules.remove(w.module());
                validateBlock(w, QuantType.of(blockType.get()), found, problems);
                continue;
            }
            if (found.isEmpty()) {
                problems.add("missing tensor \"" + w.name() + "\" of shape " + TensorInfo.formatShape(expected)
                        + (w.layer() >= 0 ? " (layer " + w.layer() + " is " + config.layer(w.layer()) + ")" : ""));
                continue;
            }
            TensorInfo t = found.get();
            if (!t.hasShape(expected)) {
                problems.add(shapeMismatch(t, expected));
            }
            DType dtype = t.dtype();
            if (dtype == DType.F8_E4M3) {
                if (!w.role().fp8Capable()) {
                    problems.add("tensor \"" + t.name() + "\" in " + t.file() + " is F8_E4M3, which is allowed only for"
                            + " in_proj, out_proj, up_proj and down_proj weights");
                } else if (!fp8) {
                    problems.add("tensor \"" + t.name() + "\" in " + t.file() + " is F8_E4M3 but " + configPath()
                            + " has no quantization_config (modelopt FP8)");
                } else {
                    checkScale(w.module() + "." + NemotronHLayout.WEIGHT_SCALE, true, problems);
                    checkScale(w.module() + "." + NemotronHLayout.INPUT_SCALE, false, problems);
                }
            } else if (dtype != DType.BF16 && dtype != DType.F16 && dtype != DType.F32) {
                problems.add("tensor \"" + t.name() + "\" in " + t.file() + " has dtype " + dtype.safetensorsName()
                        + " (allowed: BF16, F16, F32" + (w.role().fp8Capable() && fp8 ? ", F8_E4M3" : "") + ")");
            }
        }
        for (String module : blockModules) {
            problems.add(configPath() + ": quantization_config.modules names \"" + module + "\", which is not a"
                    + " Linear weight of this model");
        }
        if (!problems.isEmpty()) {
            int shown = Math.min(problems.size(), 20);
            StringBuilder sb = new StringBuilder(directory + ": checkpoint disagrees with " + configPath() + ": "
                    + problems.size() + (problems.size() == 1 ? " problem" : " problems"));
            for (String p : problems.subList(0, shown)) {
                sb.append("\n  - ").append(p);
            }
            if (shown < problems.size()) {
                sb.append("\n  ... and ").append(problems.size() - shown).append(" more");
            }
            throw new NemotronException(sb.toString());
        }
    }

    /**
     * Reads every floating-point tensor (F32, F16, BF16, F8_E4M3, F8_E5M2, F64) once and refuses the first NaN or
     * infinite element with a {@link NemotronException} naming the tensor, its file, the element and its value:
     * such a weight makes every logit NaN, which no sampler can turn into a token (llama.cpp's
     * {@code --check-tensors}). Non-finite is, by the formats: F32 exponent bits all ones ({@code 0x7F800000});
     * F16 {@code 0x7C00}; BF16 {@code 0x7F80}; F8_E4M3 {@code S.1111.111} (NaN only; it has no infinity);
     * F8_E5M2 exponent {@code 0x7C}. Integer tensors have nothing to check.
     */
    public void checkTensors() {
        checkOpen();
        for (TensorInfo t : tensors.values()) {
            long bad = firstNonFinite(t);
            if (bad >= 0) {
                throw new NemotronException("tensor \"" + t.name() + "\" in " + t.file() + " ("
                        + t.dtype().safetensorsName() + " " + TensorInfo.formatShape(t.shape()) + ") holds "
                        + valueAt(t, bad) + " at element " + bad + ": the checkpoint is corrupt (found by the tensor"
                        + " check, --check-tensors)");
            }
        }
    }

    private static String valueAt(TensorInfo t, long i) {
        java.lang.foreign.MemorySegment d = t.data();
        return switch (t.dtype()) {
            case F32 -> Float.toString(d.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4));
            case F64 -> Double.toString(d.get(java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED, i * 8));
            case BF16 -> Float.toString(BFloat16.toFloat(d.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i * 2)));
            case F16 -> Float.toString(Float.float16ToFloat(d.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED,
                    i * 2)));
            default -> String.format("a NaN or infinity (byte 0x%02X)", d.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i));
        };
    }

    /** The index of the first NaN or infinite element of {@code t}, or -1. */
    static long firstNonFinite(TensorInfo t) {
        java.lang.foreign.MemorySegment d = t.data();
        long n = t.elementCount();
        switch (t.dtype()) {
            case F32 -> {
                for (long i = 0; i < n; i++) {
                    if ((d.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, i * 4) & 0x7F800000) == 0x7F800000) {
                        return i;
                    }
                }
            }
            case F64 -> {
                for (long i = 0; i < n; i++) {
                    if (!Double.isFinite(d.get(java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED, i * 8))) {
                        return i;
                    }
                }
            }
            case BF16, F16 -> {
                short mask = (short) (t.dtype() == DType.BF16 ? 0x7F80 : 0x7C00);
                for (long i = 0; i < n; i++) {
                    if ((d.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i * 2) & mask) == mask) {
                        return i;
                    }
                }
            }
            case F8_E4M3, F8_E5M2 -> {
                int mask = t.dtype() == DType.F8_E4M3 ? 0x7F : 0x7C;
                for (long i = 0; i < n; i++) {
                    if ((d.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) & mask) == mask) {
                        return i;
                    }
                }
            }
            default -> {
                // integer and other types: nothing to check
            }
        }
        return -1;
    }

    /**
     * A block-quantized weight ({@link QuantType}): a Linear weight whose column count is a multiple of the type's
     * block, {@code <module>.weight} with the type's quants dtype and shape, {@code <module>.weight_scales} with the
     * scales dtype and shape.
     */
    private void validateBlock(Weight w, QuantType type, Optional<TensorInfo> quants, List<String> problems) {
        long rows = w.shape()[0];
        long cols = w.shape().length == 2 ? w.shape()[1] : 0;
        String field = "quantization_config.modules[\"" + w.module() + "\"] = \"" + type.id() + "\"";
        if (!w.role().isLinear()) {
            problems.add(configPath() + ": " + field + ", but " + w.name() + " is not a Linear weight (only"
                    + " in/out/up/down/q/k/v/o_proj and lm_head can be block-quantized)");
            return;
        }
        if (cols % type.columnMultiple() != 0) {
            problems.add(configPath() + ": " + field + ", but the block size " + type.columnMultiple()
                    + " does not divide the row of " + w.name() + " (" + cols + " columns)");
            return;
        }
        long[] qShape = type.quantsShape(rows, cols);
        if (quants.isEmpty()) {
            problems.add("missing tensor \"" + w.name() + "\" (" + type.id() + " quants, "
                    + type.quantsDType().safetensorsName() + " " + TensorInfo.formatShape(qShape) + ")");
        } else if (quants.get().dtype() != type.quantsDType() || !quants.get().hasShape(qShape)) {
            TensorInfo t = quants.get();
            problems.add("tensor \"" + t.name() + "\" in " + t.file() + " is " + t.dtype().safetensorsName() + " "
                    + TensorInfo.formatShape(t.shape()) + " but " + field + " implies the quants "
                    + type.quantsDType().safetensorsName() + " " + TensorInfo.formatShape(qShape));
        }
        String scalesName = w.module() + "." + QuantType.SCALES_SUFFIX;
        long[] sShape = type.scalesShape(rows, cols);
        TensorInfo scales = tensors.get(scalesName);
        if (scales == null) {
            problems.add("missing tensor \"" + scalesName + "\": the " + type.id() + " scales of " + w.name() + " ("
                    + type.scalesDType().safetensorsName() + " " + TensorInfo.formatShape(sShape) + ")");
        } else if (scales.dtype() != type.scalesDType() || !scales.hasShape(sShape)) {
            problems.add("tensor \"" + scalesName + "\" in " + scales.file() + " is "
                    + scales.dtype().safetensorsName() + " " + TensorInfo.formatShape(scales.shape()) + " but the "
                    + type.id() + " scales of " + w.name() + " " + TensorInfo.formatShape(w.shape()) + " must be "
                    + type.scalesDType().safetensorsName() + " " + TensorInfo.formatShape(sShape));
        }
    }

    private void checkScale(String name, boolean required, List<String> problems) {
        TensorInfo s = tensors.get(name);
        if (s == null) {
            if (required) {
                problems.add("missing tensor \"" + name + "\" (F32 scalar): an F8_E4M3 weight needs its weight_scale");
            }
            return;
        }
        if (s.dtype() != DType.F32 || s.elementCount() != 1 || s.rank() > 1) {
            problems.add("tensor \"" + name + "\" in " + s.file() + " is " + s.dtype().safetensorsName() + " "
                    + TensorInfo.formatShape(s.shape()) + ", expected an F32 scalar (shape [] or [1])");
            return;
        }
        float v = s.scalar();
        if (!(v > 0) || Float.isInfinite(v)) {
            problems.add("tensor \"" + name + "\" in " + s.file() + " is " + v + ", expected a positive finite scale");
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new NemotronException(directory + ": checkpoint is closed");
        }
    }

    /** Unmaps every file; tensors obtained from this checkpoint must not be used afterwards. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "Checkpoint[" + directory + ", " + tensors.size() + " tensors in " + describeFiles() + "]";
    }
}
