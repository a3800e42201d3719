package org.nemotron4j.cli;

import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.checkpoint.ModelGenerator;
import org.nemotron4j.tokenizer.DemoTokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The demo checkpoint {@code run} and {@code chat} use when no {@code --model} is given: a small random-weight
 * Nemotron-H (its output is noise) with a byte-level BPE tokenizer carrying Nemotron's special tokens and a chat
 * template of the project's own in the Nemotron turn format. It exists to exercise the whole pipeline: template,
 * tokenizer, prefill, decode, sampling, reasoning channel, streaming. Created on first use.
 */
final class DemoModel {
    /** Where the launcher (or the environment) says the demo lives; else ~/.cache/nemotron4j/demo-model. */
    static Path defaultDirectory() {
        String env = System.getenv("NEMOTRON4J_DEMO_MODEL");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "nemotron4j", "demo-model");
    }

    static final String CONFIG = """
            {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
             "num_hidden_layers": 8, "hybrid_override_pattern": "M-M*M-M-", "hidden_size": 256, "vocab_size": %d,
             "mamba_num_heads": 8, "mamba_head_dim": 32, "ssm_state_size": 32, "n_groups": 2, "conv_kernel": 4,
             "chunk_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
             "intermediate_size": 512, "layer_norm_epsilon": 1e-5, "max_position_embeddings": 8192,
             "use_conv_bias": true, "tie_word_embeddings": false, "time_step_limit": [0.0, Infinity],
             "bos_token_id": %d, "eos_token_id": [%d, %d], "pad_token_id": 0}
            """.formatted(DemoTokenizer.VOCAB_SIZE, DemoTokenizer.BOS_ID, DemoTokenizer.EOS_ID, DemoTokenizer.END_OF_TURN_ID);

    private DemoModel() {
    }

    /** Returns {@code dir}, creating the demo checkpoint there first if it is not complete. */
    static Path ensure(Path dir, PrintStream err) {
        Path done = dir.resolve(".complete");
        if (Files.exists(done)) {
            return dir;
        }
        err.println("creating the demo model in " + dir + " (random weights: its output is noise)");
        ModelConfig config = ModelConfig.parse(CONFIG, "demo config");
        ProgressBar bar = new ProgressBar(err, "demo model");
        ModelGenerator.generate(config, dir, 2026, false, bar::update);
        DemoTokenizer.write(dir, template());
        try {
            Files.writeString(dir.resolve("generation_config.json"), """
                    {"bos_token_id": %d, "eos_token_id": [%d, %d], "pad_token_id": 0, "do_sample": true,
                     "temperature": 0.6, "top_p": 0.95}
                    """.formatted(DemoTokenizer.BOS_ID, DemoTokenizer.EOS_ID, DemoTokenizer.END_OF_TURN_ID));
            Files.writeString(dir.resolve("README.txt"), """
                    nemotron4j demo model: a small Nemotron-H with RANDOM weights. Its output is noise; it exists to
                    exercise the whole pipeline (chat template, tokenizer, prefill, decode, sampling, streaming).
                    Point --model at a real checkpoint directory (e.g. NVIDIA-Nemotron-Nano-9B-v2) for real answers.
                    """);
            Files.writeString(done, "ok\n");
        } catch (IOException e) {
            throw new NemotronException("cannot write the demo model in " + dir + ": " + e.getMessage(), e);
        }
        return dir;
    }

    static String template() {
        try (InputStream in = DemoModel.class.getResourceAsStream("demo_chat_template.jinja")) {
            if (in == null) {
                throw new NemotronException("the demo chat template is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new NemotronException("cannot read the demo chat template: " + e.getMessage(), e);
        }
    }
}
