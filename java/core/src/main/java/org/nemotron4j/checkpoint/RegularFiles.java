package org.nemotron4j.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.nemotron4j.NemotronException;

/**
 * The rule for every file of a checkpoint directory (config.json, the safetensors files and their index, the
 * tokenizer and generation files): it is read only if it is a regular file, and a JSON file only up to a bound.
 * A FIFO would block the reader forever, a device such as {@code /dev/zero} (a symbolic link to one is followed)
 * never ends, and an absurdly large file would end in an {@link OutOfMemoryError}; each is refused instead with a
 * {@link NemotronException} naming the file.
 */
public final class RegularFiles {
    /** The most bytes read from a small JSON file (config.json, the index, tokenizer_config.json, ...): 64 MiB. */
    public static final long MAX_JSON_BYTES = 64L << 20;
    /** The most bytes read from tokenizer.json (a large vocabulary and merges take tens of MiB): 1 GiB. */
    public static final long MAX_TOKENIZER_BYTES = 1L << 30;

    private RegularFiles() {}

    /**
     * Refuses {@code file} when it exists but is not a regular file (after following links); {@code what} names
     * its role in the message ("config file", "tokenizer file"). A missing file passes: callers report that their
     * own way.
     */
    public static void require(Path file, String what) {
        if (Files.exists(file) && !Files.isRegularFile(file)) {
            throw new NemotronException(file + ": " + what + " is not a regular file (" + kind(file)
                    + "): refused, it could block or never end");
        }
    }

    /**
     * Checks {@code file} as {@link #require} does and that it holds at most {@code maxBytes}; returns its size.
     * A missing file is a {@link NoSuchFileException}.
     */
    public static long requireSize(Path file, String what, long maxBytes) throws IOException {
        require(file, what);
        long size = Files.size(file);
        if (size > maxBytes) {
            throw new NemotronException(file + ": " + what + " is " + size + " bytes, more than the " + maxBytes
                    + " read from such a file: refused");
        }
        return size;
    }

    /**
     * The UTF-8 text of {@code file}, a regular file of at most {@code maxBytes} (checked before and while reading,
     * in case it grows). A missing file is a {@link NoSuchFileException}.
     */
    public static String readString(Path file, String what, long maxBytes) throws IOException {
        requireSize(file, what, maxBytes);
        try (InputStream in = Files.newInputStream(file)) {
            byte[] bytes = in.readNBytes((int) Math.min(maxBytes + 1, Integer.MAX_VALUE - 8));
            if (bytes.length > maxBytes) {
                throw new NemotronException(file + ": " + what + " grew past " + maxBytes + " bytes while being read:"
                        + " refused");
            }
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(buffer).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                // (the decoder's own message is "Input length = 1"; the buffer stops at the bad sequence)
                throw new NemotronException(file + ": " + what + " is not valid UTF-8: a malformed byte sequence at"
                        + " byte offset " + buffer.position());
            }
        }
    }

    private static String kind(Path file) {
        if (Files.isDirectory(file)) {
            return "a directory";
        }
        try {
            Object fifo = Files.readAttributes(file, "unix:mode").get("mode");
            if (fifo instanceof Integer mode) {
                return switch (mode & 0xF000) {
                    case 0x1000 -> "a FIFO";
                    case 0x2000 -> "a character device";
                    case 0x6000 -> "a block device";
                    case 0xC000 -> "a socket";
                    default -> "not a regular file";
                };
            }
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            // no unix attributes: say less
        }
        return "a special file";
    }
}
