package org.nemotron4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.chat.ChatTemplate;
import org.nemotron4j.generate.GenerationConfig;
import org.nemotron4j.tokenizer.Tokenizer;

/**
 * Fuzzing findings: a FIFO as {@code model.safetensors} or {@code config.json} blocked the loader forever, and
 * {@code config.json} as a link to {@code /dev/zero} ended in an OutOfMemoryError. Every file of a checkpoint
 * directory must be a regular file of bounded size; anything else is refused at once, naming the file.
 */
class RegularFilesTest {
    static final Path TINY = SafetensorsFileTest.FIXTURES.resolve("nemotron-h-tiny");

    @TempDir
    Path dir;

    /** Makes a FIFO at {@code p} with mkfifo(1). */
    static Path mkfifo(Path p) throws Exception {
        Process proc = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
        if (proc.waitFor() != 0) {
            throw new IllegalStateException("mkfifo " + p + " failed");
        }
        return p;
    }

    /** A copy of the tiny fixture model in {@link #dir}. */
    private Path copyOfTiny() throws Exception {
        Path model = dir.resolve("model");
        Files.createDirectories(model);
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(TINY.resolve(f), model.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        return model;
    }

    /** {@code call} fails quickly (no hang) with a NemotronException whose message holds every part. */
    private static void refused(Executable call, String... parts) {
        NemotronException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(NemotronException.class, call));
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "message \"" + e.getMessage() + "\" lacks \"" + p + "\"");
        }
    }

    private static void replaceWithFifo(Path file) throws Exception {
        Files.deleteIfExists(file);
        mkfifo(file);
    }

    private static void replaceWithDevZero(Path file) throws Exception {
        Files.deleteIfExists(file);
        Files.createSymbolicLink(file, Path.of("/dev/zero"));
    }

    @Test
    void configJsonFifoOrDevZeroIsRefused() throws Exception {
        Path model = copyOfTiny();
        Path config = model.resolve("config.json");
        replaceWithFifo(config);
        refused(() -> ModelConfig.read(config), config.toString(), "FIFO");
        refused(() -> Checkpoint.open(model), config.toString(), "not a regular file");
        replaceWithDevZero(config);
        refused(() -> ModelConfig.read(config), config.toString(), "character device");
        refused(() -> GenerationConfig.load(model), config.toString(), "not a regular file");
    }

    @Test
    void oversizedConfigJsonIsRefusedUnread() throws Exception {
        Path model = copyOfTiny();
        Path config = model.resolve("config.json");
        try (RandomAccessFile f = new RandomAccessFile(config.toFile(), "rw")) {
            f.setLength(RegularFiles.MAX_JSON_BYTES + 1); // sparse: no disk, but the size of a hostile file
        }
        refused(() -> ModelConfig.read(config), config.toString(), "more than the " + RegularFiles.MAX_JSON_BYTES);
    }

    /** Campaign finding (mutation 379): invalid UTF-8 was refused as "cannot read config file: Input length = 1". */
    @Test
    void invalidUtf8InAJsonFileIsRefusedSayingSo() throws Exception {
        Path model = copyOfTiny();
        Path config = model.resolve("config.json");
        byte[] text = Files.readAllBytes(config);
        byte[] bad = java.util.Arrays.copyOf(text, text.length + 2);
        bad[text.length] = (byte) 0xC3; // a two-byte sequence whose second byte is not a continuation byte
        bad[text.length + 1] = '(';
        Files.write(config, bad);
        refused(() -> ModelConfig.read(config), config.toString(), "config file is not valid UTF-8",
                "byte offset " + text.length);
        Files.write(config, text);
        Path generation = model.resolve("generation_config.json");
        Files.write(generation, new byte[] {'{', (byte) 0x80, '}'});
        refused(() -> GenerationConfig.load(model), generation.toString(), "not valid UTF-8", "byte offset 1");
    }

    @Test
    void weightFilesFifoIsRefused() throws Exception {
        Path model = copyOfTiny();
        Path weights = model.resolve("model.safetensors");
        replaceWithFifo(weights);
        refused(() -> Checkpoint.open(model), weights.toString(), "FIFO");
        replaceWithDevZero(weights);
        refused(() -> Checkpoint.open(model), weights.toString(), "character device");

        Files.delete(weights);
        Files.writeString(model.resolve(Checkpoint.INDEX_FILE),
                "{\"weight_map\": {\"backbone.norm_f.weight\": \"shard.safetensors\"}}");
        mkfifo(model.resolve("shard.safetensors"));
        refused(() -> Checkpoint.open(model), "shard.safetensors", "FIFO");
        replaceWithFifo(model.resolve(Checkpoint.INDEX_FILE));
        refused(() -> Checkpoint.open(model), Checkpoint.INDEX_FILE, "FIFO");
    }

    @Test
    void tokenizerFilesFifoOrDevZeroAreRefused() throws Exception {
        Path model = copyOfTiny();
        Path tokenizer = model.resolve("tokenizer.json");
        Path tokenizerConfig = model.resolve("tokenizer_config.json");
        mkfifo(tokenizer);
        refused(() -> Tokenizer.load(tokenizer), tokenizer.toString(), "FIFO");
        replaceWithDevZero(tokenizer);
        refused(() -> Tokenizer.load(tokenizer), tokenizer.toString(), "character device");
        mkfifo(tokenizerConfig);
        refused(() -> ChatTemplate.fromDirectory(model), tokenizerConfig.toString(), "FIFO");
        Path generation = model.resolve("generation_config.json");
        replaceWithDevZero(generation);
        refused(() -> GenerationConfig.load(model), generation.toString(), "character device");
    }
}
