package org.nemotron4j.example;

import org.nemotron4j.ChatRequest;
import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.Message;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.tokenizer.DemoTokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Answers one prompt with nemotron4j: {@code Hello [MODEL_DIR] [PROMPT]}. Without a model directory it writes a small
 * Nemotron-H with random weights (its answer is noise) to a temporary directory first.
 */
public final class Hello {
    private static final String TEMPLATE = """
            {%- for m in messages -%}<SPECIAL_11>{{ m['role'] }}
            {{ m['content'] }}<SPECIAL_12>
            {% endfor -%}<SPECIAL_11>Assistant
            """;

    public static void main(String[] args) throws Exception {
        Path dir = args.length > 0 ? Path.of(args[0]) : randomModel();
        String prompt = args.length > 1 ? args[1] : "Why is the sky blue?";
        try (NemotronModel model = NemotronModel.load(dir, Device.cpu(), LoadOptions.defaults());
             Session session = model.newSession()) {
            ChatRequest request = ChatRequest.of(Message.user(prompt)).maxTokens(16).temperature(0.6).seed(7);
            System.out.println("prompt: " + prompt);
            System.out.print("completion: ");
            try (var stream = session.stream(request)) {
                stream.forEachRemaining(delta -> System.out.print(delta.text()));
            }
            System.out.println();
        }
    }

    /** A small random-weight checkpoint with the demo tokenizer (what the project's tests use). */
    private static Path randomModel() throws Exception {
        Path dir = Files.createTempDirectory("nemotron4j-example-");
        ModelConfig config = ModelConfig.parse("""
                {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
                 "num_hidden_layers": 4, "hybrid_override_pattern": "M*M-", "hidden_size": 64, "vocab_size": %d,
                 "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 16, "n_groups": 1, "conv_kernel": 4,
                 "chunk_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
                 "intermediate_size": 128, "layer_norm_epsilon": 1e-5, "max_position_embeddings": 1024,
                 "use_conv_bias": true, "tie_word_embeddings": false,
                 "bos_token_id": %d, "eos_token_id": %d, "pad_token_id": 0}
                """.formatted(DemoTokenizer.VOCAB_SIZE, DemoTokenizer.BOS_ID, DemoTokenizer.EOS_ID), "example config");
        ModelGenerator.generate(config, dir, 1, false, ModelGenerator.ProgressListener.NONE);
        DemoTokenizer.write(dir, TEMPLATE);
        return dir;
    }

    private Hello() {
    }
}
