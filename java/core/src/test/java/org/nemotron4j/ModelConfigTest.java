package org.nemotron4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTest {
    static final Path FIXTURES = Path.of(System.getProperty("n4j.fixtures", "../../../shared/fixtures"));

    /** The tiny fixture's config with no optional keys, standard spellings. */
    static final String MINIMAL = """
            {
              "hidden_size": 64, "vocab_size": 320, "num_hidden_layers": 8, "hybrid_override_pattern": "M*M-M-*-",
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 96,
              "mamba_num_heads": 6, "mamba_head_dim": 20, "ssm_state_size": 16, "n_groups": 2,
              "time_step_limit": [0.0, Infinity], "other": [NaN, -Infinity]
            }
            """;

    static String without(String key) {
        return MINIMAL.replaceAll("\"" + key + "\": [^,]*,", "");
    }

    static String with(String key, String value) {
        return MINIMAL.replaceAll("\"" + key + "\": [^,]*,", "\"" + key + "\": " + value + ",");
    }

    static NemotronException error(String json) {
        return assertThrows(NemotronException.class, () -> ModelConfig.parse(json, "/some/dir/config.json"));
    }

    static void assertMessage(NemotronException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "message \"" + e.getMessage() + "\" lacks \"" + p + "\"");
        }
    }

    @Test
    void tinyFixture() {
        ModelConfig c = ModelConfig.read(FIXTURES.resolve("nemotron-h-tiny/config.json"));
        assertEquals(64, c.hiddenSize());
        assertEquals(320, c.vocabSize());
        assertEquals("M*M-M-*-", c.hybridOverridePattern());
        assertEquals(List.of(LayerKind.MAMBA, LayerKind.ATTENTION, LayerKind.MAMBA, LayerKind.MLP, LayerKind.MAMBA,
                LayerKind.MLP, LayerKind.ATTENTION, LayerKind.MLP), c.layers());
        assertEquals(3, c.count(LayerKind.MAMBA));
        assertEquals(2, c.count(LayerKind.ATTENTION));
        assertEquals(3, c.count(LayerKind.MLP));
        assertEquals(List.of(1, 6), c.layerIndices(LayerKind.ATTENTION));
        assertEquals(120, c.mambaDInner()); // heads * head_dim, not expand * hidden = 128
        assertEquals(184, c.convDim());
        assertEquals(310, c.inProjDim());
        assertEquals(4, c.numAttentionHeads());
        assertEquals(2, c.numKeyValueHeads());
        assertEquals(16, c.attentionHeadDim());
        assertEquals(96, c.intermediateSize());
        assertEquals(16, c.ssmStateSize());
        assertEquals(2, c.nGroups());
        assertEquals(4, c.convKernel());
        assertEquals(16, c.chunkSize());
        assertTrue(c.useConvBias());
        assertEquals(1e-5, c.rmsNormEps());
        assertEquals(4096, c.maxPositionEmbeddings());
        assertEquals(1, c.bosTokenId());
        assertEquals(List.of(2), c.eosTokenIds());
        assertEquals(0, c.padTokenId());
        assertFalse(c.tieWordEmbeddings());
        assertTrue(c.quantization().isEmpty());
        // counted from the fixture's model.safetensors with python: 188,710 elements
        assertEquals(188_710L, c.parameterCount());
    }

    @Test
    void fp8Fixture() {
        ModelConfig c = ModelConfig.read(FIXTURES.resolve("nemotron-h-tiny-fp8/config.json"));
        ModelConfig.Quantization q = c.quantization().orElseThrow();
        assertEquals("modelopt", q.method());
        assertEquals("FP8", q.algo());
        assertEquals(List.of("lm_head", "*q_proj*", "*k_proj*", "*v_proj*", "*o_proj*", "*conv1d*"), q.excludeModules());
        assertTrue(q.excludes("backbone.layers.1.mixer.q_proj"));
        assertTrue(q.excludes("lm_head"));
        assertFalse(q.excludes("backbone.layers.0.mixer.in_proj"));
    }

    @Test
    void realShapes() {
        ModelConfig nano = ModelConfig.read(FIXTURES.resolve("configs/nemotron-nano-9b-v2.json"));
        assertEquals(56, nano.numHiddenLayers());
        assertEquals(27, nano.count(LayerKind.MAMBA));
        assertEquals(4, nano.count(LayerKind.ATTENTION));
        assertEquals(25, nano.count(LayerKind.MLP));
        assertEquals(10240, nano.mambaDInner());
        assertEquals(12288, nano.convDim());
        assertEquals(2 * 10240 + 2 * 8 * 128 + 128, nano.inProjDim());
        assertEquals(List.of(12), nano.eosTokenIds());
        assertEquals(131072, nano.maxPositionEmbeddings());
        // 17.8 GB of bf16 weights (sum over the layout, computed independently with python)
        assertEquals(8_888_227_328L, nano.parameterCount());

        ModelConfig medium = ModelConfig.read(FIXTURES.resolve("configs/bench-medium.json"));
        assertEquals(23, medium.numHiddenLayers());
        assertEquals(656_977_792L, medium.parameterCount());
    }

    @Test
    void alternativeSpellings() {
        String alt = MINIMAL.replace("\"ssm_state_size\"", "\"mamba_state_dim\"")
                .replace("\"n_groups\"", "\"mamba_num_groups\"")
                .replace("\"head_dim\"", "\"attention_head_dim\"")
                .replace("\"mamba_num_heads\": 6,", "\"mamba_num_heads\": 6, \"rms_norm_eps\": 1e-6,"
                        + " \"eos_token_id\": [2, 11], \"conv_kernel\": 3, \"chunk_size\": 64,"
                        + " \"use_conv_bias\": false, \"tie_word_embeddings\": true,");
        ModelConfig c = ModelConfig.parse(alt, "alt.json");
        ModelConfig standard = ModelConfig.parse(MINIMAL, "standard.json");
        assertEquals(standard.ssmStateSize(), c.ssmStateSize());
        assertEquals(standard.nGroups(), c.nGroups());
        assertEquals(standard.attentionHeadDim(), c.attentionHeadDim());
        assertEquals(1e-6, c.rmsNormEps());
        assertEquals(List.of(2, 11), c.eosTokenIds());
        assertEquals(3, c.convKernel());
        assertEquals(64, c.chunkSize());
        assertFalse(c.useConvBias());
        assertTrue(c.tieWordEmbeddings());
        // defaults where the config is silent
        assertEquals(4, standard.convKernel());
        assertEquals(128, standard.chunkSize());
        assertTrue(standard.useConvBias());
        assertFalse(standard.tieWordEmbeddings());
        assertEquals(1e-5, standard.rmsNormEps());
        assertEquals(List.of(2), standard.eosTokenIds());
        ModelConfig fromTypes = ModelConfig.parse(MINIMAL.replace("\"hybrid_override_pattern\": \"M*M-M-*-\"",
                "\"layers_block_type\": [\"mamba\", \"attention\", \"mamba\", \"mlp\", \"mamba\", \"mlp\","
                        + " \"attention\", \"mlp\"]"), "types.json");
        assertEquals(standard, fromTypes);
        assertMessage(error(MINIMAL.replace("\"n_groups\": 2,", "\"n_groups\": 2, \"layers_block_type\": [\"mamba\"],")),
                "hybrid_override_pattern", "layers_block_type", "disagree");
        // both spellings agreeing is fine, disagreeing is an error naming both
        ModelConfig.parse(MINIMAL.replace("\"n_groups\": 2,", "\"n_groups\": 2, \"mamba_num_groups\": 2,"), "x");
        assertMessage(error(MINIMAL.replace("\"n_groups\": 2,", "\"n_groups\": 2, \"mamba_num_groups\": 3,")),
                "/some/dir/config.json", "n_groups", "mamba_num_groups", "disagree");
    }

    @Test
    void toJsonRoundTrips() {
        for (String f : List.of("nemotron-h-tiny/config.json", "nemotron-h-tiny-fp8/config.json",
                "configs/nemotron-nano-9b-v2.json", "configs/bench-medium.json")) {
            ModelConfig c = ModelConfig.read(FIXTURES.resolve(f));
            String json = c.toJson();
            assertEquals(c, ModelConfig.parse(json, f + " (rewritten)"), f);
            assertTrue(json.contains("Infinity") && !json.contains("\"Infinity\""), "time_step_limit as Python writes it");
            assertTrue(json.contains("\"model_type\" : \"nemotron_h\""), json);
        }
        ModelConfig alt = ModelConfig.parse(with("eos_token_id", "[2, 11]").replace("\"head_dim\"", "\"attention_head_dim\""), "x");
        assertEquals(alt, ModelConfig.parse(alt.toJson(), "y"));
    }

    @Test
    void missingRequiredFields() {
        for (String key : List.of("hidden_size", "vocab_size", "num_hidden_layers", "hybrid_override_pattern",
                "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size", "mamba_num_heads",
                "mamba_head_dim", "ssm_state_size", "n_groups")) {
            assertMessage(error(without(key)), "/some/dir/config.json", "missing required field", "\"" + key + "\"");
        }
        // a mixer the pattern does not use needs no sizes
        String mambaOnly = without("num_attention_heads").replace("\"M*M-M-*-\"", "\"MMMMMMMM\"")
                .replace("\"intermediate_size\": 96,", "");
        ModelConfig c = ModelConfig.parse(mambaOnly, "mamba-only.json");
        assertEquals(0, c.numAttentionHeads());
        assertEquals(0, c.intermediateSize());
    }

    @Test
    void patternErrors() {
        assertMessage(error(with("num_hidden_layers", "7")), "/some/dir/config.json", "hybrid_override_pattern",
                "num_hidden_layers is 7", "8 layers");
        assertMessage(error(with("hybrid_override_pattern", "\"M*M-X-*-\"")), "/some/dir/config.json",
                "hybrid_override_pattern", "unknown character 'X'", "layer 4");
    }

    @Test
    void divisibility() {
        assertMessage(error(with("n_groups", "4")), "/some/dir/config.json", "mamba_num_heads 6",
                "not divisible by n_groups 4");
        assertMessage(error(with("num_key_value_heads", "3")), "/some/dir/config.json", "num_attention_heads 4",
                "not divisible by num_key_value_heads 3");
    }

    @Test
    void nonPositiveSizes() {
        for (String key : List.of("hidden_size", "vocab_size", "head_dim", "intermediate_size", "mamba_num_heads",
                "mamba_head_dim", "ssm_state_size", "n_groups", "num_key_value_heads")) {
            assertMessage(error(with(key, "0")), "/some/dir/config.json", key, "must be positive, got 0");
            assertMessage(error(with(key, "-3")), "/some/dir/config.json", key);
        }
        assertMessage(error(MINIMAL.replace("\"n_groups\": 2,", "\"n_groups\": 2, \"conv_kernel\": 0,")),
                "conv_kernel must be positive");
        assertMessage(error(MINIMAL.replace("\"n_groups\": 2,", "\"n_groups\": 2, \"layer_norm_epsilon\": -1,")),
                "layer_norm_epsilon");
        assertMessage(error(with("hidden_size", "64.5")), "/some/dir/config.json", "\"hidden_size\"", "integer");
        assertMessage(error(with("hidden_size", "\"64\"")), "\"hidden_size\"", "integer");
    }

    @Test
    void tokenIds() {
        assertMessage(error(MINIMAL.replace("\"n_groups\": 2,", "\"n_groups\": 2, \"eos_token_id\": 320,")),
                "/some/dir/config.json", "eos_token_id 320", "vocabulary");
    }

    @Test
    void quantization() {
        String fp8 = MINIMAL.replace("\"n_groups\": 2,", "\"n_groups\": 2, \"quantization_config\": "
                + "{\"quant_method\": \"modelopt\", \"quant_algo\": \"FP8\", \"kv_cache_scheme\": null},");
        ModelConfig c = ModelConfig.parse(fp8, "fp8.json");
        assertEquals(Optional.of(new ModelConfig.Quantization("modelopt", "FP8", List.of())), c.quantization());
        assertMessage(error(fp8.replace("modelopt", "gptq")), "/some/dir/config.json", "unsupported quantization",
                "gptq");
        assertMessage(error(fp8.replace("\"FP8\"", "\"NVFP4\"")), "/some/dir/config.json", "unsupported quantization",
                "NVFP4");
        assertMessage(error(fp8.replace("\"quant_method\": \"modelopt\",", "")), "/some/dir/config.json",
                "quant_method");
    }

    @Test
    void notJson(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("config.json");
        Files.writeString(f, "{\"hidden_size\": 64,");
        NemotronException e = assertThrows(NemotronException.class, () -> ModelConfig.read(f));
        assertMessage(e, f.toString(), "not valid JSON");
        Files.writeString(f, "[1, 2]");
        assertMessage(assertThrows(NemotronException.class, () -> ModelConfig.read(f)), f.toString(), "not a JSON object");
        Path missing = dir.resolve("nope/config.json");
        assertMessage(assertThrows(NemotronException.class, () -> ModelConfig.read(missing)), missing.toString(),
                "not found");
    }

    @Test
    void recordValidatesDirectConstruction() {
        ModelConfig c = ModelConfig.parse(MINIMAL, "x");
        NemotronException e = assertThrows(NemotronException.class, () -> new ModelConfig(64, 320, 8, "M*M-M-*-",
                List.of(LayerKind.MAMBA), 4, 2, 16, 96, 6, 20, 16, 2, 4, 128, true, 1e-5, 4096, 1, List.of(2), 0, false,
                Optional.empty()));
        assertMessage(e, "disagree");
        assertEquals(c, new ModelConfig(64, 320, 8, "M*M-M-*-", null, 4, 2, 16, 96, 6, 20, 16, 2, 4, 128, true, 1e-5,
                4096, 1, List.of(2), 0, false, Optional.empty()));
    }
}
