package org.nemotron4j.generate;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.nemotron4j.NemotronException;
import org.nemotron4j.sampling.SamplingParams;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.nemotron4j.checkpoint.RegularFiles;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * A checkpoint's generation defaults, from {@code generation_config.json} (Hugging Face's format), plus the stop
 * token ids. Fields the file leaves out are null (or empty).
 *
 * <p>Sampling defaults ({@link #samplingDefaults()}) follow the file: {@code do_sample: false} means greedy; a
 * {@code temperature} given otherwise is used; {@code do_sample: true} without one samples at 1.0; a file that says
 * neither means greedy (Hugging Face's default). {@code top_k}, {@code top_p}, {@code min_p} and
 * {@code repetition_penalty} apply when present (Hugging Face's implicit {@code top_k = 50} is not applied).
 *
 * @param doSample          {@code do_sample}
 * @param temperature       {@code temperature}
 * @param topK              {@code top_k}
 * @param topP              {@code top_p}
 * @param minP              {@code min_p}
 * @param repetitionPenalty {@code repetition_penalty}
 * @param maxNewTokens      {@code max_new_tokens}
 * @param eosTokenIds       {@code eos_token_id} (a number or a list), the stop token ids
 * @param bosTokenId        {@code bos_token_id}
 * @param padTokenId        {@code pad_token_id}
 */
public record GenerationConfig(Boolean doSample, Double temperature, Integer topK, Double topP, Double minP,
                               Double repetitionPenalty, Integer maxNewTokens, Set<Integer> eosTokenIds,
                               Integer bosTokenId, Integer padTokenId) {

    public static final String FILE_NAME = "generation_config.json";

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    public GenerationConfig {
        eosTokenIds = eosTokenIds == null ? Set.of() : Collections.unmodifiableSet(new LinkedHashSet<>(eosTokenIds));
    }

    /** Nothing configured: greedy, no stop ids. */
    public static GenerationConfig defaults() {
        return new GenerationConfig(null, null, null, null, null, null, null, Set.of(), null, null);
    }

    /**
     * Reads {@code generation_config.json} from a checkpoint directory (defaults when absent) and adds the
     * {@code eos_token_id} of its {@code config.json}, if any, to the stop ids.
     */
    public static GenerationConfig load(Path modelDir) {
        GenerationConfig config = read(modelDir.resolve(FILE_NAME));
        Path modelConfig = modelDir.resolve("config.json");
        if (Files.exists(modelConfig)) { // a FIFO or device is refused by readTree
            JsonNode root = readTree(modelConfig);
            Set<Integer> ids = tokenIds(root.get("eos_token_id"), "eos_token_id", modelConfig.toString());
            if (!ids.isEmpty()) {
                config = config.withMoreStopTokenIds(ids);
            }
        }
        return config;
    }

    /** Reads one {@code generation_config.json}; a missing file gives {@link #defaults()}. */
    public static GenerationConfig read(Path file) {
        if (!Files.exists(file)) {
            return defaults();
        }
        return fromTree(readTree(file), file.toString());
    }

    /** Parses the text of a {@code generation_config.json}; {@code source} names it in error messages. */
    public static GenerationConfig parse(String json, String source) {
        try {
            return fromTree(JSON.readTree(json), source);
        } catch (JsonProcessingException e) {
            throw new NemotronException("malformed " + source + ": " + e.getOriginalMessage(), e);
        }
    }

    private static JsonNode readTree(Path file) {
        try {
            JsonNode root = JSON.readTree(RegularFiles.readString(file, "generation config",
                    RegularFiles.MAX_JSON_BYTES));
            if (root == null || !root.isObject()) {
                throw new NemotronException("malformed " + file + ": expected a JSON object");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new NemotronException("malformed " + file + ": " + e.getOriginalMessage(), e);
        } catch (NoSuchFileException e) {
            throw new NemotronException("cannot read " + file + ": no such file", e);
        } catch (IOException e) {
            throw new NemotronException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static GenerationConfig fromTree(JsonNode root, String source) {
        if (root == null || !root.isObject()) {
            throw new NemotronException("malformed " + source + ": expected a JSON object");
        }
        return new GenerationConfig(
                bool(root, "do_sample", source),
                number(root, "temperature", source),
                integer(root, "top_k", source),
                number(root, "top_p", source),
                number(root, "min_p", source),
                number(root, "repetition_penalty", source),
                integer(root, "max_new_tokens", source),
                tokenIds(root.get("eos_token_id"), "eos_token_id", source),
                integer(root, "bos_token_id", source),
                integer(root, "pad_token_id", source));
    }

    /** A token id field that may be a number, a list of numbers or null. */
    static Set<Integer> tokenIds(JsonNode node, String field, String source) {
        Set<Integer> ids = new LinkedHashSet<>();
        if (node == null || node.isNull()) {
            return ids;
        }
        if (node.isArray()) {
            for (JsonNode e : node) {
                ids.add(tokenId(e, field, source));
            }
        } else {
            ids.add(tokenId(node, field, source));
        }
        return ids;
    }

    private static int tokenId(JsonNode n, String field, String source) {
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 0) {
            throw new NemotronException("malformed " + source + ": " + field
                    + " must be a token id or a list of token ids, found " + n);
        }
        return n.intValue();
    }

    private static Boolean bool(JsonNode root, String field, String source) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isBoolean()) {
            throw new NemotronException("malformed " + source + ": " + field + " must be true or false, found " + n);
        }
        return n.booleanValue();
    }

    private static Double number(JsonNode root, String field, String source) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isNumber()) {
            throw new NemotronException("malformed " + source + ": " + field + " must be a number, found " + n);
        }
        return n.doubleValue();
    }

    private static Integer integer(JsonNode root, String field, String source) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new NemotronException("malformed " + source + ": " + field + " must be an integer, found " + n);
        }
        return n.intValue();
    }

    /** A copy whose stop ids also include {@code ids}. */
    public GenerationConfig withMoreStopTokenIds(Collection<Integer> ids) {
        Set<Integer> all = new LinkedHashSet<>(eosTokenIds);
        all.addAll(ids);
        return new GenerationConfig(doSample, temperature, topK, topP, minP, repetitionPenalty, maxNewTokens, all,
                bosTokenId, padTokenId);
    }

    /** The sampling parameters this file implies (see the class comment); no seed. */
    public SamplingParams samplingDefaults() {
        double t;
        if (Boolean.FALSE.equals(doSample)) {
            t = 0;
        } else if (temperature != null) {
            t = temperature;
        } else {
            t = Boolean.TRUE.equals(doSample) ? 1.0 : 0;
        }
        try {
            return new SamplingParams(t,
                    topK != null ? topK : 0,
                    topP != null ? topP : 1.0,
                    minP != null ? minP : 0.0,
                    repetitionPenalty != null ? repetitionPenalty : 1.0,
                    0, 0, java.util.Map.of(), null);
        } catch (NemotronException e) {
            throw new NemotronException("generation config holds an invalid sampling value: " + e.getMessage(), e);
        }
    }
}
