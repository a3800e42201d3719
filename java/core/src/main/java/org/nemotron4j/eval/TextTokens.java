package org.nemotron4j.eval;

import org.nemotron4j.NemotronException;
import org.nemotron4j.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The tokens of a UTF-8 text file, read and tokenized a block at a time so that a long file needs bounded memory.
 *
 * <p>Blocks are cut just after a newline that is followed by a character other than white space. Pre-tokenizers of
 * the byte-level BPE family (GPT-2, Llama 3, GPT-4o, Nemotron) never let a piece span such a place, so the tokens are
 * those of the whole text tokenized at once. No special tokens are added. Invalid UTF-8 is an error that names the
 * file and the byte offset.
 */
public final class TextTokens implements AutoCloseable {
    static final int BLOCK = 1 << 20;

    private final int block;
    private final Path file;
    private final Tokenizer tokenizer;
    private final InputStream in;
    private final long size;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    private byte[] pending = new byte[0];  // bytes read but not yet tokenized
    private long pendingOffset;             // file offset of pending[0]
    private boolean eof;
    private boolean firstBlock = true;
    private int[] ids = new int[0];
    private int idPos;
    private long bytesTokenized;
    private long tokensProduced;

    /** Opens {@code file}; fails with a message naming it when it is missing, not a regular file or unreadable. */
    public TextTokens(Path file, Tokenizer tokenizer) {
        this(file, tokenizer, BLOCK);
    }

    TextTokens(Path file, Tokenizer tokenizer, int block) {
        this.block = block;
        this.file = file;
        this.tokenizer = tokenizer;
        if (!Files.exists(file)) {
            throw new NemotronException("text file not found: " + file);
        }
        if (!Files.isRegularFile(file)) {
            throw new NemotronException("not a regular file: " + file);
        }
        try {
            this.size = Files.size(file);
            this.in = Files.newInputStream(file);
        } catch (IOException e) {
            throw new NemotronException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** The file's size in bytes. */
    public long sizeBytes() {
        return size;
    }

    /** An estimate of the text's length in tokens from what was tokenized so far (exact once all was read). */
    public long estimatedTokens() {
        if (bytesTokenized == 0) {
            return 0;
        }
        if (eof && pending.length == 0) {
            return tokensProduced;
        }
        return Math.round((double) tokensProduced * size / bytesTokenized);
    }

    /** Reads up to {@code max} next tokens into {@code out[off, off + max)}; returns how many (0 at the end). */
    public int read(int[] out, int off, int max) {
        int n = 0;
        while (n < max) {
            if (idPos == ids.length && !nextBlock()) {
                break;
            }
            int take = Math.min(max - n, ids.length - idPos);
            System.arraycopy(ids, idPos, out, off + n, take);
            idPos += take;
            n += take;
        }
        return n;
    }

    private boolean nextBlock() {
        while (true) {
            int cut = eof ? pending.length : cutPoint(pending);
            if (cut > 0) {
                byte[] piece = Arrays.copyOf(pending, cut);
                long offset = pendingOffset;
                pending = Arrays.copyOfRange(pending, cut, pending.length);
                pendingOffset += cut;
                ids = tokenizer.encode(decode(piece, offset), false);
                tokensProduced += ids.length;
                idPos = 0;
                bytesTokenized += cut;
                if (ids.length > 0) {
                    return true;
                }
                continue;
            }
            if (eof) {
                return false;
            }
            fill();
        }
    }

    private void fill() {
        byte[] buf = new byte[block];
        int got;
        try {
            got = in.readNBytes(buf, 0, block);
        } catch (IOException e) {
            throw new NemotronException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (got < block) {
            eof = true;
        }
        int skip = 0;
        if (firstBlock && got >= 3 && (buf[0] & 0xff) == 0xEF && (buf[1] & 0xff) == 0xBB && (buf[2] & 0xff) == 0xBF) {
            skip = 3;  // a UTF-8 byte order mark is not text
            pendingOffset = 3;
        }
        firstBlock = false;
        byte[] joined = Arrays.copyOf(pending, pending.length + got - skip);
        System.arraycopy(buf, skip, joined, pending.length, got - skip);
        pending = joined;
    }

    /** Just after the last '\n' followed by a byte that is not ASCII white space, or 0 when there is none. */
    static int cutPoint(byte[] b) {
        for (int i = b.length - 2; i >= 0; i--) {
            if (b[i] == '\n') {
                byte next = b[i + 1];
                if (next != ' ' && next != '\t' && next != '\n' && next != '\r' && next != 0x0B && next != 0x0C) {
                    return i + 1;
                }
            }
        }
        return 0;
    }

    private String decode(byte[] block, long offset) {
        try {
            decoder.reset();
            CharBuffer chars = decoder.decode(ByteBuffer.wrap(block));
            return chars.toString();
        } catch (MalformedInputException e) {
            long at = offset + firstBadByte(block);
            throw new NemotronException(file + " is not valid UTF-8 text: invalid byte sequence at byte offset " + at);
        } catch (CharacterCodingException e) {
            throw new NemotronException(file + " is not valid UTF-8 text: " + e.getMessage());
        }
    }

    private int firstBadByte(byte[] block) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer src = ByteBuffer.wrap(block);
        CharBuffer dst = CharBuffer.allocate(block.length + 1);
        d.decode(src, dst, true);
        return src.position();
    }

    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException ignored) {
            // closing a read-only stream loses nothing
        }
    }
}
