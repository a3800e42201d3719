package org.nemotron4j.cli;

import org.nemotron4j.NemotronException;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The demo checkpoint {@code run}, {@code chat} and {@code perplexity} use when no {@code --model} is given:
 * nemotron-h-demo, a 3.9M-parameter Nemotron-H base model trained by the project on the King James Bible
 * ({@code tools/demo-model}). It continues English text in the Bible's style; it is not an assistant.
 *
 * <p>The checkpoint travels inside this jar and is copied out once into the demo directory (the repository's
 * {@code models/nemotron-h-demo} when run by its launcher, already complete; else ~/.cache/nemotron4j/).
 */
final class DemoModel {
    /** Changes whenever the packaged checkpoint changes, so an older copy is replaced. */
    static final String VERSION = "nemotron-h-demo kjv 1";
    static final String RESOURCE_DIR = "demo-model/";
    static final List<String> FILES = List.of("config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "generation_config.json", "README.md");

    private DemoModel() {
    }

    /** Where the launcher (or the environment) says the demo lives; else ~/.cache/nemotron4j/nemotron-h-demo. */
    static Path defaultDirectory() {
        String env = System.getenv("NEMOTRON4J_DEMO_MODEL");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "nemotron4j", "nemotron-h-demo");
    }

    /**
     * Returns {@code dir} once it holds the demo checkpoint: a directory with the checkpoint's files that was not
     * made by this class (the repository's copy) is used as it is; otherwise the packaged files are copied there.
     */
    static Path ensure(Path dir, PrintStream err) {
        Path marker = dir.resolve(".complete");
        try {
            if (Files.isRegularFile(marker)) {
                if (Files.readString(marker, StandardCharsets.UTF_8).strip().equals(VERSION)) {
                    return dir;
                }
            } else if (FILES.stream().allMatch(f -> Files.isRegularFile(dir.resolve(f)))) {
                return dir;
            }
        } catch (IOException e) {
            throw new NemotronException("cannot read " + marker + ": " + e.getMessage(), e);
        }
        err.println("unpacking the demo model (a small base model trained on the King James Bible) into " + dir);
        Path parent = dir.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(parent);
            tmp = Files.createTempDirectory(parent, dir.getFileName() + ".tmp");
            for (String name : FILES) {
                try (InputStream in = DemoModel.class.getResourceAsStream(RESOURCE_DIR + name)) {
                    if (in == null) {
                        throw new NemotronException("the demo model's " + name + " is missing from the nemotron4j jar");
                    }
                    Files.copy(in, tmp.resolve(name));
                }
            }
            Files.writeString(tmp.resolve(".complete"), VERSION + "\n");
            if (Files.exists(dir)) {
                deleteTree(dir);       // an older or partial copy
            }
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir);
            }
            tmp = null;
        } catch (IOException e) {
            throw new NemotronException("cannot write the demo model in " + dir + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    deleteTree(tmp);
                } catch (IOException ignored) {
                    // a stray temporary directory beside the demo; the next run makes a new one
                }
            }
        }
        return dir;
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
