package org.nemotron4j.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The shared test fixtures (system property {@code n4j.fixtures}, set by Surefire) and tokenizers loaded once. */
final class Fixtures {
    private static final Map<String, Tokenizer> LOADED = new ConcurrentHashMap<>();

    private Fixtures() {}

    static Path root() {
        String p = System.getProperty("n4j.fixtures");
        Path root = p != null ? Path.of(p) : Path.of("../../../shared/fixtures");
        if (!Files.isDirectory(root.resolve("tokenizers"))) {
            throw new IllegalStateException("test fixtures not found at " + root.toAbsolutePath()
                    + " (system property n4j.fixtures)");
        }
        return root;
    }

    static Path tokenizerDir(String name) {
        return root().resolve("tokenizers").resolve(name);
    }

    /** The fixture tokenizer {@code name} (llama3, qwen3, gpt4o) with its tokenizer_config.json. */
    static Tokenizer tokenizer(String name) {
        return LOADED.computeIfAbsent(name, n -> Tokenizer.fromDirectory(tokenizerDir(n)));
    }
}
