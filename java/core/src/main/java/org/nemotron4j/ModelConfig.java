package org.nemotron4j;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.nemotron4j.checkpoint.RegularFiles;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import org.nemotron4j.checkpoint.NemotronHLayout;
import org.nemotron4j.quant.QuantType;

/**
 * The architecture of a Nemotron-H checkpoint, read from its Hugging Face {@code config.json}.
 *
 * <p>Keys read (the first spelling is the one {@link #toJson()} writes; the others are accepted on input):
 * <pre>
 *   hidden_size, vocab_size, num_hidden_layers, hybrid_override_pattern        always required
 *     (or layers_block_type: ["mamba", "attention", "mlp", ...], equivalent)
 *   mamba_num_heads, mamba_head_dim, ssm_state_size | mamba_state_dim,
 *   n_groups | mamba_num_groups | mamba_n_groups                               required when the pattern has 'M'
 *   num_attention_heads, num_key_value_heads, head_dim | attention_head_dim    required when the pattern has '*'
 *   intermediate_size                                                          required when the pattern has '-'
 *   conv_kernel | mamba_d_conv (4), chunk_size | mamba_chunk_size (128), use_conv_bias | mamba_conv_bias (true),
 *   layer_norm_epsilon | rms_norm_eps (1e-5), max_position_embeddings (4096), bos_token_id (1),
 *   eos_token_id: int or list (2), pad_token_id (0), tie_word_embeddings (false)        optional, default in ()
 *   quantization_config: { "quant_method": "modelopt", "quant_algo": "FP8", "exclude_modules": [...] }
 * </pre>
 * Mamba-2's inner width is {@code mamba_num_heads * mamba_head_dim}; the config's {@code expand} is ignored
 * (it disagrees with the weights of the published checkpoints). The JSON literals {@code Infinity},
 * {@code -Infinity} and {@code NaN} that Python writes (e.g. in {@code time_step_limit}) are accepted.
 * Sizes of mixers the pattern does not use are 0 when absent.
 *
 * <p>{@link Quantization} is nested here: {@code ModelConfig.Quantization}.
 */
public record ModelConfig(
        int hiddenSize,
        int vocabSize,
        int numHiddenLayers,
        String hybridOverridePattern,
        List<LayerKind> layers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int attentionHeadDim,
        int intermediateSize,
        int mambaNumHeads,
        int mambaHeadDim,
        int ssmStateSize,
        int nGroups,
        int convKernel,
        int chunkSize,
        boolean useConvBias,
        double rmsNormEps,
        int maxPositionEmbeddings,
        int bosTokenId,
        List<Integer> eosTokenIds,
        int padTokenId,
        boolean tieWordEmbeddings,
        Optional<Quantization> quantization) {

    /**
     * A checkpoint's quantization, from {@code quantization_config}. Two schemes run:
     * <ul>
     * <li>NVIDIA ModelOpt FP8 ({@code quant_method "modelopt"}, {@code quant_algo "FP8"}): Linear weights stored as
     * {@code F8_E4M3} with a per-tensor F32 {@code weight_scale} (and optionally {@code input_scale});
     * {@code exclude_modules} lists glob patterns ({@code *} = any run of characters) of modules kept in BF16.</li>
     * <li>nemotron4j block quantization ({@code quant_method "nemotron4j"}, {@code quant_algo "q8"}, {@code "q4"} or
     * {@code "q6"}, written by {@code nemotron4j quantize}): {@code "modules"} maps every quantized module to its type
     * ({@code "q8"}, {@code "q4"} or {@code "q6"}); the layout of its tensors is
     * {@link org.nemotron4j.quant.QuantType}'s. Other modules keep their stored dtype.</li>
     * </ul>
     *
     * @param modules module name to block type, for the nemotron4j scheme (empty otherwise)
     * @param policy  the policy the quantizer applied (informational; empty for other schemes)
     */
    public record Quantization(String method, String algo, List<String> excludeModules, Map<String, String> modules,
                               String policy) {
        /** The quant_method of nemotron4j's own block-quantized checkpoints. */
        public static final String BLOCK_METHOD = "nemotron4j";

        public Quantization {
            if (method == null || algo == null) {
                throw new NemotronException("quantization_config needs quant_method and quant_algo");
            }
            excludeModules = excludeModules == null ? List.of() : List.copyOf(excludeModules);
            modules = modules == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(modules));
            policy = policy == null ? "" : policy;
        }

        public Quantization(String method, String algo, List<String> excludeModules) {
            this(method, algo, excludeModules, Map.of(), "");
        }

        /** ModelOpt FP8 with the given excluded modules. */
        public static Quantization modeloptFp8(List<String> excludeModules) {
            return new Quantization("modelopt", "FP8", excludeModules);
        }

        /** nemotron4j block quantization: {@code algo} (q8, q4 or q6) and each quantized module's type. */
        public static Quantization block(String algo, Map<String, String> modules, String policy) {
            return new Quantization(BLOCK_METHOD, algo, List.of(), modules, policy);
        }

        /** Whether this is ModelOpt FP8. */
        public boolean isModeloptFp8() {
            return method.equalsIgnoreCase("modelopt") && algo.equalsIgnoreCase("FP8");
        }

        /** Whether this is nemotron4j's block quantization (q8 / q4 / q6 modules). */
        public boolean isBlock() {
            return method.equals(BLOCK_METHOD);
        }

        /** The block type of {@code module} ("q8", "q4", "q6"), if this scheme quantizes it. */
        public Optional<String> blockType(String module) {
            return isBlock() ? Optional.ofNullable(modules.get(module)) : Optional.empty();
        }

        /** Whether {@code module} (e.g. {@code backbone.layers.3.mixer.q_proj}) matches an exclude pattern. */
        public boolean excludes(String module) {
            for (String glob : excludeModules) {
                StringBuilder regex = new StringBuilder();
                for (String part : glob.split("\\*", -1)) {
                    if (!regex.isEmpty()) {
                        regex.append(".*");
                    }
                    regex.append(Pattern.quote(part));
                }
                if (module.matches(regex.toString())) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * Checks every invariant the engine relies on. Messages name the {@code config.json} field;
     * {@link #parse} prefixes them with the file.
     */
    public ModelConfig {
        positive("hidden_size", hiddenSize);
        positive("vocab_size", vocabSize);
        positive("num_hidden_layers", numHiddenLayers);
        if (hybridOverridePattern == null) {
            throw new NemotronException("missing required field \"hybrid_override_pattern\"");
        }
        if (hybridOverridePattern.length() != numHiddenLayers) {
            throw new NemotronException("hybrid_override_pattern \"" + hybridOverridePattern + "\" has "
                    + hybridOverridePattern.length() + " layers but num_hidden_layers is " + numHiddenLayers);
        }
        List<LayerKind> fromPattern = layersOf(hybridOverridePattern);
        if (layers == null) {
            layers = fromPattern;
        } else if (!layers.equals(fromPattern)) {
            throw new NemotronException("layers " + layers + " disagree with hybrid_override_pattern \""
                    + hybridOverridePattern + "\"");
        } else {
            layers = List.copyOf(layers);
        }
        boolean hasMamba = fromPattern.contains(LayerKind.MAMBA);
        boolean hasAttention = fromPattern.contains(LayerKind.ATTENTION);
        boolean hasMlp = fromPattern.contains(LayerKind.MLP);
        if (hasAttention) {
            positive("num_attention_heads", numAttentionHeads);
            positive("num_key_value_heads", numKeyValueHeads);
            positive("head_dim", attentionHeadDim);
            if (numAttentionHeads % numKeyValueHeads != 0) {
                throw new NemotronException("num_attention_heads " + numAttentionHeads
                        + " is not divisible by num_key_value_heads " + numKeyValueHeads);
            }
        } else {
            notNegative("num_attention_heads", numAttentionHeads);
            notNegative("num_key_value_heads", numKeyValueHeads);
            notNegative("head_dim", attentionHeadDim);
        }
        if (hasMlp) {
            positive("intermediate_size", intermediateSize);
        } else {
            notNegative("intermediate_size", intermediateSize);
        }
        if (hasMamba) {
            positive("mamba_num_heads", mambaNumHeads);
            positive("mamba_head_dim", mambaHeadDim);
            positive("ssm_state_size", ssmStateSize);
            positive("n_groups", nGroups);
            if (mambaNumHeads % nGroups != 0) {
                throw new NemotronException("mamba_num_heads " + mambaNumHeads + " is not divisible by n_groups " + nGroups);
            }
        } else {
            notNegative("mamba_num_heads", mambaNumHeads);
            notNegative("mamba_head_dim", mambaHeadDim);
            notNegative("ssm_state_size", ssmStateSize);
            notNegative("n_groups", nGroups);
        }
        // every width the engine computes in int (tensor rows, activation strides) must fit in one
        fitsInt("num_attention_heads x head_dim", (long) numAttentionHeads * attentionHeadDim);
        fitsInt("num_key_value_heads x head_dim", (long) numKeyValueHeads * attentionHeadDim);
        long dInner = (long) mambaNumHeads * mambaHeadDim;
        fitsInt("mamba_num_heads x mamba_head_dim", dInner);
        long groupsState = 2L * nGroups * ssmStateSize;
        fitsInt("2 x n_groups x ssm_state_size", groupsState);
        fitsInt("the Mamba conv1d width (mamba_num_heads x mamba_head_dim + 2 x n_groups x ssm_state_size)",
                dInner + groupsState);
        fitsInt("the Mamba in_proj rows (2 x mamba_num_heads x mamba_head_dim + 2 x n_groups x ssm_state_size"
                + " + mamba_num_heads)", 2 * dInner + groupsState + mambaNumHeads);
        positive("conv_kernel", convKernel);
        positive("chunk_size", chunkSize);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (!(rmsNormEps > 0) || Double.isInfinite(rmsNormEps)) {
            throw new NemotronException("layer_norm_epsilon must be a positive finite number, got " + rmsNormEps);
        }
        tokenId("bos_token_id", bosTokenId, vocabSize);
        tokenId("pad_token_id", padTokenId, vocabSize);
        if (eosTokenIds == null || eosTokenIds.isEmpty()) {
            throw new NemotronException("eos_token_id must name at least one token");
        }
        eosTokenIds = List.copyOf(eosTokenIds);
        for (int eos : eosTokenIds) {
            tokenId("eos_token_id", eos, vocabSize);
        }
        if (quantization == null) {
            quantization = Optional.empty();
        }
        quantization.ifPresent(q -> {
            if (q.isBlock()) {
                if (QuantType.find(q.algo()).isEmpty()) {
                    throw new NemotronException("quantization_config.quant_algo \"" + q.algo()
                            + "\" is not a nemotron4j block type (" + QuantType.ids() + ")");
                }
                q.modules().forEach((module, type) -> {
                    if (QuantType.find(type).isEmpty()) {
                        throw new NemotronException("quantization_config.modules[\"" + module + "\"] is \"" + type
                                + "\", an unknown block type (known: " + QuantType.ids() + ")");
                    }
                });
            } else if (!q.isModeloptFp8()) {
                throw new NemotronException("unsupported quantization in quantization_config: quant_method \""
                        + q.method() + "\", quant_algo \"" + q.algo()
                        + "\" (supported: quant_method \"modelopt\" with quant_algo \"FP8\", quant_method \"nemotron4j\""
                        + " with quant_algo \"q8\", \"q4\" or \"q6\")");
            }
        });
    }

    private static void positive(String field, long value) {
        if (value <= 0) {
            throw new NemotronException(field + " must be positive, got " + value);
        }
    }

    private static void fitsInt(String what, long value) {
        if (value > Integer.MAX_VALUE) {
            throw new NemotronException(what + " = " + value + " overflows a 32-bit int (at most "
                    + Integer.MAX_VALUE + "): not a real model");
        }
    }

    private static void notNegative(String field, long value) {
        if (value < 0) {
            throw new NemotronException(field + " must not be negative, got " + value);
        }
    }

    private static void tokenId(String field, int id, int vocabSize) {
        if (id < 0 || id >= vocabSize) {
            throw new NemotronException(field + " " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        }
    }

    /** The layer kinds a {@code hybrid_override_pattern} spells, one per character. */
    public static List<LayerKind> layersOf(String pattern) {
        List<LayerKind> kinds = new ArrayList<>(pattern.length());
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            try {
                kinds.add(LayerKind.fromSymbol(c));
            } catch (NemotronException e) {
                throw new NemotronException("hybrid_override_pattern \"" + pattern + "\" has unknown character '" + c
                        + "' at layer " + i + " (expected 'M' Mamba-2, '*' attention or '-' MLP)");
            }
        }
        return List.copyOf(kinds);
    }

    // ---- derived sizes ---------------------------------------------------------------------------------------

    /** Mamba-2 inner width: {@code mamba_num_heads * mamba_head_dim} (never {@code expand * hidden_size}). */
    public int mambaDInner() {
        return mambaNumHeads * mambaHeadDim;
    }

    /** Channels of the Mamba-2 causal conv1d: x, B and C, {@code dInner + 2 * n_groups * ssm_state_size}. */
    public int convDim() {
        return mambaDInner() + 2 * nGroups * ssmStateSize;
    }

    /** Rows of the Mamba-2 {@code in_proj}: z | xBC | dt = {@code 2 * dInner + 2 * n_groups * state + heads}. */
    public int inProjDim() {
        return 2 * mambaDInner() + 2 * nGroups * ssmStateSize + mambaNumHeads;
    }

    /** The mixer of layer {@code i}. */
    public LayerKind layer(int i) {
        return layers.get(i);
    }

    /** How many layers have this mixer. */
    public int count(LayerKind kind) {
        int n = 0;
        for (LayerKind k : layers) {
            if (k == kind) {
                n++;
            }
        }
        return n;
    }

    /** Indices of the layers with this mixer, ascending. */
    public List<Integer> layerIndices(LayerKind kind) {
        List<Integer> indices = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            if (layers.get(i) == kind) {
                indices.add(i);
            }
        }
        return List.copyOf(indices);
    }

    /** Number of weights (elements of every tensor the config implies, FP8 scales not counted). */
    public long parameterCount() {
        long total = 0;
        for (NemotronHLayout.Weight w : NemotronHLayout.weights(this)) {
            total += w.elementCount();
        }
        return total;
    }

    /** This config with another quantization. */
    public ModelConfig withQuantization(Optional<Quantization> q) {
        return new ModelConfig(hiddenSize, vocabSize, numHiddenLayers, hybridOverridePattern, layers,
                numAttentionHeads, numKeyValueHeads, attentionHeadDim, intermediateSize, mambaNumHeads, mambaHeadDim,
                ssmStateSize, nGroups, convKernel, chunkSize, useConvBias, rmsNormEps, maxPositionEmbeddings,
                bosTokenId, eosTokenIds, padTokenId, tieWordEmbeddings, q);
    }

    // ---- reading ---------------------------------------------------------------------------------------------

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    /** Reads and validates a {@code config.json}; errors name the file and the field. */
    public static ModelConfig read(Path configJson) {
        String text;
        try {
            text = RegularFiles.readString(configJson, "config file", RegularFiles.MAX_JSON_BYTES);
        } catch (NoSuchFileException e) {
            throw new NemotronException(configJson + ": config file not found");
        } catch (IOException e) {
            throw new NemotronException(configJson + ": cannot read config file: " + e.getMessage(), e);
        }
        return parse(text, configJson.toString());
    }

    /** Parses and validates config JSON; {@code sourceName} (a path, usually) starts every error message. */
    public static ModelConfig parse(String json, String sourceName) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new NemotronException(sourceName + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new NemotronException(sourceName + ": not a JSON object");
        }
        try {
            return fromJson(new Fields(root));
        } catch (NemotronException e) {
            throw new NemotronException(sourceName + ": " + e.getMessage(), e);
        }
    }

    private static ModelConfig fromJson(Fields f) {
        String pattern = f.pattern();
        int layers = f.requiredInt("num_hidden_layers");
        List<LayerKind> kinds = layersOf(pattern);
        boolean mamba = kinds.contains(LayerKind.MAMBA);
        boolean attention = kinds.contains(LayerKind.ATTENTION);
        boolean mlp = kinds.contains(LayerKind.MLP);
        return new ModelConfig(
                f.requiredInt("hidden_size"),
                f.requiredInt("vocab_size"),
                layers,
                pattern,
                null,
                f.intIf(attention, "num_attention_heads"),
                f.intIf(attention, "num_key_value_heads"),
                f.intIf(attention, "head_dim", "attention_head_dim"),
                f.intIf(mlp, "intermediate_size"),
                f.intIf(mamba, "mamba_num_heads"),
                f.intIf(mamba, "mamba_head_dim"),
                f.intIf(mamba, "ssm_state_size", "mamba_state_dim"),
                f.intIf(mamba, "n_groups", "mamba_num_groups", "mamba_n_groups"),
                f.optionalInt(4, "conv_kernel", "mamba_d_conv"),
                f.optionalInt(128, "chunk_size", "mamba_chunk_size"),
                f.optionalBoolean(true, "use_conv_bias", "mamba_conv_bias"),
                f.optionalDouble(1e-5, "layer_norm_epsilon", "rms_norm_eps"),
                f.optionalInt(4096, "max_position_embeddings"),
                f.optionalInt(1, "bos_token_id"),
                f.intList(List.of(2), "eos_token_id"),
                f.optionalInt(0, "pad_token_id"),
                f.optionalBoolean(false, "tie_word_embeddings"),
                f.quantization());
    }

    /** Typed access to the config's JSON object with alias handling and field-naming errors. */
    private record Fields(JsonNode root) {
        /** The value under the first present alias; two aliases with different values are an error. */
        JsonNode find(String... keys) {
            JsonNode found = null;
            String foundKey = null;
            for (String key : keys) {
                JsonNode v = root.get(key);
                if (v == null || v.isNull()) {
                    continue;
                }
                if (found != null && !found.equals(v)) {
                    throw new NemotronException("fields \"" + foundKey + "\" (" + found + ") and \"" + key + "\" ("
                            + v + ") disagree");
                }
                if (found == null) {
                    found = v;
                    foundKey = key;
                }
            }
            return found;
        }

        static String spelled(String... keys) {
            return keys.length == 1 ? "\"" + keys[0] + "\"" : "\"" + String.join("\" (or \"", keys) + "\")";
        }

        static int asInt(JsonNode v, String key) {
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw new NemotronException("field \"" + key + "\" must be an integer, got " + v);
            }
            return v.intValue();
        }

        int requiredInt(String... keys) {
            JsonNode v = find(keys);
            if (v == null) {
                throw new NemotronException("missing required field " + spelled(keys));
            }
            return asInt(v, keys[0]);
        }

        int intIf(boolean required, String... keys) {
            if (required) {
                return requiredInt(keys);
            }
            JsonNode v = find(keys);
            return v == null ? 0 : asInt(v, keys[0]);
        }

        int optionalInt(int fallback, String... keys) {
            JsonNode v = find(keys);
            return v == null ? fallback : asInt(v, keys[0]);
        }

        boolean optionalBoolean(boolean fallback, String... keys) {
            JsonNode v = find(keys);
            if (v == null) {
                return fallback;
            }
            if (!v.isBoolean()) {
                throw new NemotronException("field \"" + keys[0] + "\" must be true or false, got " + v);
            }
            return v.booleanValue();
        }

        double optionalDouble(double fallback, String... keys) {
            JsonNode v = find(keys);
            if (v == null) {
                return fallback;
            }
            if (!v.isNumber()) {
                throw new NemotronException("field \"" + keys[0] + "\" must be a number, got " + v);
            }
            return v.doubleValue();
        }

        String string(String key) {
            JsonNode v = find(key);
            if (v == null) {
                throw new NemotronException("missing required field \"" + key + "\"");
            }
            if (!v.isTextual()) {
                throw new NemotronException("field \"" + key + "\" must be a string, got " + v);
            }
            return v.textValue();
        }

        /**
         * {@code hybrid_override_pattern}, or the same spelled as {@code layers_block_type}
         * ({@code ["mamba", "attention", "mlp", ...]}, what newer transformers configs carry); both must agree.
         */
        String pattern() {
            JsonNode types = find("layers_block_type");
            String fromTypes = null;
            if (types != null) {
                if (!types.isArray()) {
                    throw new NemotronException("field \"layers_block_type\" must be a list of strings, got " + types);
                }
                StringBuilder sb = new StringBuilder();
                for (JsonNode t : types) {
                    String type = t.isTextual() ? t.textValue() : String.valueOf(t);
                    sb.append(switch (type) {
                        case "mamba" -> 'M';
                        case "attention" -> '*';
                        case "mlp" -> '-';
                        default -> throw new NemotronException("field \"layers_block_type\" has unknown layer type \""
                                + type + "\" (expected mamba, attention or mlp)");
                    });
                }
                fromTypes = sb.toString();
            }
            if (find("hybrid_override_pattern") == null && fromTypes != null) {
                return fromTypes;
            }
            String pattern = string("hybrid_override_pattern");
            if (fromTypes != null && !fromTypes.equals(pattern)) {
                throw new NemotronException("fields \"hybrid_override_pattern\" (\"" + pattern
                        + "\") and \"layers_block_type\" (\"" + fromTypes + "\") disagree");
            }
            return pattern;
        }

        List<Integer> intList(List<Integer> fallback, String key) {
            JsonNode v = find(key);
            if (v == null) {
                return fallback;
            }
            if (v.isArray()) {
                List<Integer> ids = new ArrayList<>();
                for (JsonNode e : v) {
                    ids.add(asInt(e, key));
                }
                return ids;
            }
            return List.of(asInt(v, key));
        }

        Optional<Quantization> quantization() {
            JsonNode q = find("quantization_config");
            if (q == null) {
                return Optional.empty();
            }
            if (!q.isObject()) {
                throw new NemotronException("field \"quantization_config\" must be an object, got " + q);
            }
            Fields qf = new Fields(q);
            JsonNode method = q.get("quant_method");
            if (method == null || !method.isTextual()) {
                throw new NemotronException("quantization_config is missing the string field \"quant_method\"");
            }
            JsonNode algo = q.get("quant_algo");
            if (algo == null || !algo.isTextual()) {
                throw new NemotronException("unsupported quantization in quantization_config: quant_method \""
                        + method.textValue() + "\" without a string \"quant_algo\""
                        + " (supported: quant_method \"modelopt\" with quant_algo \"FP8\")");
            }
            List<String> exclude = new ArrayList<>();
            JsonNode ex = qf.find("exclude_modules", "ignore");
            if (ex != null) {
                if (!ex.isArray()) {
                    throw new NemotronException("quantization_config.exclude_modules must be a list of strings");
                }
                for (JsonNode e : ex) {
                    if (!e.isTextual()) {
                        throw new NemotronException("quantization_config.exclude_modules must be a list of strings, got " + e);
                    }
                    exclude.add(e.textValue());
                }
            }
            Map<String, String> modules = new LinkedHashMap<>();
            String policy = "";
            if (method.textValue().equals(Quantization.BLOCK_METHOD)) {
                JsonNode m = q.get("modules");
                if (m == null || !m.isObject()) {
                    throw new NemotronException("quantization_config (quant_method \"nemotron4j\") is missing the object"
                            + " field \"modules\" (module name -> \"q8\", \"q4\" or \"q6\")");
                }
                for (var it = m.fields(); it.hasNext(); ) {
                    var e = it.next();
                    if (!e.getValue().isTextual()) {
                        throw new NemotronException("quantization_config.modules[\"" + e.getKey()
                                + "\"] must be a string (\"q8\", \"q4\" or \"q6\"), got " + e.getValue());
                    }
                    modules.put(e.getKey(), e.getValue().textValue());
                }
                JsonNode version = q.get("format_version");
                if (version == null || !version.isInt() || version.intValue() != 1) {
                    throw new NemotronException("quantization_config.format_version must be 1 (the block layout this"
                            + " version reads), got " + version);
                }
                JsonNode p = q.get("policy");
                policy = p != null && p.isTextual() ? p.textValue() : "";
            }
            return Optional.of(new Quantization(method.textValue(), algo.textValue(), exclude, modules, policy));
        }
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    /**
     * A {@code config.json} in the layout of the published Nemotron-H checkpoints (keys as NVIDIA's
     * {@code NemotronHConfig} names them), readable by {@link #parse} and by Hugging Face {@code transformers}.
     * Keys this record does not model are written with the published checkpoints' values (time-step
     * initialisation range, activations, no biases besides conv1d); {@code expand} is written as
     * {@code dInner / hidden_size} when that divides, else 2, and is informational only.
     */
    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("NemotronHForCausalLM");
        o.put("model_type", "nemotron_h");
        o.put("num_hidden_layers", numHiddenLayers);
        o.put("layer_norm_epsilon", rmsNormEps);
        o.put("residual_in_fp32", false);
        o.put("use_conv_bias", useConvBias);
        o.put("use_bias", false);
        o.put("mlp_bias", false);
        o.put("attention_bias", false);
        o.put("mamba_hidden_act", "silu");
        o.put("mlp_hidden_act", "relu2");
        int dInner = mambaDInner();
        o.put("expand", dInner > 0 && dInner % hiddenSize == 0 ? dInner / hiddenSize : 2);
        o.put("time_step_min", 0.001);
        o.put("time_step_max", 0.1);
        o.put("time_step_floor", 1e-4);
        ArrayNode limit = o.putArray("time_step_limit");
        limit.add(0.0);
        limit.add(Double.POSITIVE_INFINITY);
        o.put("tie_word_embeddings", tieWordEmbeddings);
        o.put("max_position_embeddings", maxPositionEmbeddings);
        o.put("bos_token_id", bosTokenId);
        if (eosTokenIds.size() == 1) {
            o.put("eos_token_id", eosTokenIds.get(0));
        } else {
            ArrayNode eos = o.putArray("eos_token_id");
            eosTokenIds.forEach(eos::add);
        }
        o.put("pad_token_id", padTokenId);
        o.put("torch_dtype", "bfloat16");
        o.put("rescale_prenorm_residual", true);
        o.put("mamba_proj_bias", false);
        o.put("hidden_size", hiddenSize);
        o.put("hybrid_override_pattern", hybridOverridePattern);
        o.put("vocab_size", vocabSize);
        o.put("num_attention_heads", numAttentionHeads);
        o.put("num_key_value_heads", numKeyValueHeads);
        o.put("head_dim", attentionHeadDim);
        o.put("intermediate_size", intermediateSize);
        o.put("mamba_num_heads", mambaNumHeads);
        o.put("mamba_head_dim", mambaHeadDim);
        o.put("ssm_state_size", ssmStateSize);
        o.put("n_groups", nGroups);
        o.put("conv_kernel", convKernel);
        o.put("chunk_size", chunkSize);
        quantization.ifPresent(q -> {
            ObjectNode qc = o.putObject("quantization_config");
            qc.put("quant_method", q.method());
            qc.put("quant_algo", q.algo());
            if (q.isBlock()) {
                qc.put("format_version", 1);
                qc.put("policy", q.policy());
                qc.put("layout", "see org.nemotron4j.quant.QuantType: <module>.weight holds the quants (q8: I8 [rows, cols];"
                        + " q4: U8 [rows, cols/2]; q6: U8 [rows, cols*3/4]), <module>.weight_scales the scales (q8, q6:"
                        + " F16 [rows, cols/32]; q4: U8 [rows, ceil(cols/256), 20] records of F16 d, F16 dmin, u8 sc[8],"
                        + " u8 m[8])");
                ObjectNode m = qc.putObject("modules");
                q.modules().forEach(m::put);
            } else {
                ArrayNode ex = qc.putArray("exclude_modules");
                q.excludeModules().forEach(ex::add);
            }
        });
        try {
            return JSON.writeValueAsString(o) + "\n";
        } catch (JsonProcessingException e) {
            throw new NemotronException("cannot write config JSON: " + e.getMessage(), e);
        }
    }
}
