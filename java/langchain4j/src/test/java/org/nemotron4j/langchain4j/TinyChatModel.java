package org.nemotron4j.langchain4j;

import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.serving.LogitsHook;
import org.nemotron4j.tokenizer.DemoTokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A small random-weight model with the demo tokenizer and Nemotron-Nano-v2's chat template, and a logits processor
 * that makes it say a given text (the generation loop, parsers and adapters stay the real ones).
 */
final class TinyChatModel {
    private TinyChatModel() {
    }

    static NemotronModel load() throws Exception {
        Path dir = Files.createTempDirectory("n4j-lc4j");
        ModelConfig c = ModelConfig.parse("""
                {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
                 "num_hidden_layers": 4, "hybrid_override_pattern": "M*M-", "hidden_size": 64, "vocab_size": %d,
                 "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 16, "n_groups": 2, "conv_kernel": 4,
                 "chunk_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                 "intermediate_size": 96, "layer_norm_epsilon": 1e-5, "max_position_embeddings": 4096,
                 "use_conv_bias": true, "tie_word_embeddings": false, "time_step_limit": [0.0, Infinity],
                 "bos_token_id": 1, "eos_token_id": [2, 12], "pad_token_id": 0}
                """.formatted(DemoTokenizer.VOCAB_SIZE), "test config");
        ModelGenerator.generate(c, dir, 11, false, null);
        Path fixtures = Path.of(System.getProperty("n4j.fixtures", "../../../shared/fixtures"));
        DemoTokenizer.write(dir, Files.readString(fixtures.resolve("chat/nemotron-nano-v2/chat_template.jinja")));
        return NemotronModel.load(dir, Device.cpu(), LoadOptions.exact().withPrefillChunk(64));
    }

    /** Makes the model spell {@code text} byte by byte, then end its turn. */
    static LogitsHook forcing(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        return (step, logits) -> {
            int id = step < bytes.length ? DemoTokenizer.FIRST_BYTE_ID + (bytes[step] & 0xff)
                    : DemoTokenizer.END_OF_TURN_ID;
            Arrays.fill(logits, Float.NEGATIVE_INFINITY);
            logits[id] = 0;
        };
    }
}
