package org.nemotron4j.eval;

import org.nemotron4j.NemotronException;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The reference distributions {@code perplexity --save-logits} writes and {@code --kl-base} reads: one row per scored
 * token, so that KL-divergence against another run needs no second pass of the reference model.
 *
 * <p>Layout (little-endian): the 8 bytes {@code N4JLOGP1}, then int32 vocab, ctx and stride; then per scored token:
 * int32 target id, int32 argmax id, float32 log-probability of the target, float32 {@code lo}, float32 {@code step},
 * and {@code vocab} uint16 {@code q}: the log-probability of token i is {@code lo + q[i] * step} (the row's log-softmax
 * quantized over its range [min, max] in 65535 steps; the exact target log-probability and argmax are kept apart).
 * A row takes {@code 20 + 2 * vocab} bytes.
 */
public final class LogitsFile {
    static final byte[] MAGIC = {'N', '4', 'J', 'L', 'O', 'G', 'P', '1'};
    static final int HEADER = 20;

    private LogitsFile() {
    }

    /** One row read back: the target, the argmax, the exact target log-probability, the dequantized log-softmax. */
    public record Row(int target, int argmax, float targetLogProb, float[] logProbs) {
    }

    /** Writes rows to a temporary file beside the destination, renamed into place by {@link #close()}. */
    public static final class Writer implements AutoCloseable {
        private final Path path;
        private final Path tmp;
        private final OutputStream out;
        private final int vocab;
        private final ByteBuffer row;
        private boolean done;

        public Writer(Path path, int vocab, int ctx, int stride) {
            this.path = path;
            this.vocab = vocab;
            Path dir = path.toAbsolutePath().getParent();
            try {
                this.tmp = Files.createTempFile(dir, path.getFileName().toString(), ".tmp");
                this.out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20);
                ByteBuffer h = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
                h.put(MAGIC).putInt(vocab).putInt(ctx).putInt(stride);
                out.write(h.array());
            } catch (IOException e) {
                throw new NemotronException("cannot write " + path + ": " + e.getMessage(), e);
            }
            this.row = ByteBuffer.allocate(HEADER + 2 * vocab).order(ByteOrder.LITTLE_ENDIAN);
        }

        /** Appends the row for {@code logProbs} (a log-softmax over the vocabulary) scoring {@code target}. */
        public void write(int target, float[] logProbs, int off) {
            float min = Float.POSITIVE_INFINITY;
            float max = Float.NEGATIVE_INFINITY;
            int argmax = 0;
            for (int i = 0; i < vocab; i++) {
                float v = logProbs[off + i];
                if (v > max) {
                    max = v;
                    argmax = i;
                }
                min = Math.min(min, v);
            }
            if (min == Float.NEGATIVE_INFINITY) {
                min = max - 100f;  // masked tokens: stored as the row's floor
            }
            float step = max > min ? (max - min) / 65535f : 0f;
            row.clear();
            row.putInt(target).putInt(argmax).putFloat(logProbs[off + target]).putFloat(min).putFloat(step);
            for (int i = 0; i < vocab; i++) {
                float v = Math.max(logProbs[off + i], min);
                int q = step == 0f ? 0 : Math.round((v - min) / step);
                row.putShort((short) Math.min(65535, q));
            }
            try {
                out.write(row.array(), 0, row.position());
            } catch (IOException e) {
                throw new NemotronException("cannot write " + path + ": " + e.getMessage(), e);
            }
        }

        /** Finishes the file; without a call (after a failure) the partial file is deleted instead. */
        public void commit() {
            try {
                out.close();
                Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                done = true;
            } catch (IOException e) {
                throw new NemotronException("cannot write " + path + ": " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            if (!done) {
                try {
                    out.close();
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the temporary file may be left behind; the destination was never touched
                }
            }
        }
    }

    /** Reads the rows in order. */
    public static final class Reader implements AutoCloseable {
        private final Path path;
        private final InputStream in;
        private final int vocab;
        private final int ctx;
        private final int stride;
        private final byte[] raw;
        private final ByteBuffer row;
        private long rows;

        public Reader(Path path) {
            this.path = path;
            if (!Files.isRegularFile(path)) {
                throw new NemotronException("--kl-base file not found (or not a regular file): " + path);
            }
            try {
                this.in = new BufferedInputStream(Files.newInputStream(path), 1 << 20);
                byte[] h = in.readNBytes(20);
                ByteBuffer hb = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
                byte[] magic = new byte[8];
                if (h.length < 20) {
                    throw new NemotronException(path + " is not a logits file written by --save-logits (too short)");
                }
                hb.get(magic);
                if (!java.util.Arrays.equals(magic, MAGIC)) {
                    throw new NemotronException(path + " is not a logits file written by --save-logits (bad magic)");
                }
                this.vocab = hb.getInt();
                this.ctx = hb.getInt();
                this.stride = hb.getInt();
                if (vocab <= 0 || ctx <= 1 || stride <= 0) {
                    throw new NemotronException(path + ": corrupt header (vocab " + vocab + ", ctx " + ctx
                            + ", stride " + stride + ")");
                }
            } catch (IOException e) {
                throw new NemotronException("cannot read " + path + ": " + e.getMessage(), e);
            }
            this.raw = new byte[HEADER + 2 * vocab];
            this.row = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        }

        public int vocab() {
            return vocab;
        }

        public int ctx() {
            return ctx;
        }

        public int stride() {
            return stride;
        }

        /** The next row, or null at the end of the file; a truncated row is an error. */
        public Row next() {
            int got;
            try {
                got = in.readNBytes(raw, 0, raw.length);
            } catch (IOException e) {
                throw new NemotronException("cannot read " + path + ": " + e.getMessage(), e);
            }
            if (got == 0) {
                return null;
            }
            if (got < raw.length) {
                throw new NemotronException(path + " is truncated: row " + rows + " has " + got + " of "
                        + raw.length + " bytes");
            }
            rows++;
            row.clear();
            int target = row.getInt();
            int argmax = row.getInt();
            float targetLp = row.getFloat();
            float lo = row.getFloat();
            float step = row.getFloat();
            float[] lp = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                lp[i] = lo + (row.getShort() & 0xffff) * step;
            }
            return new Row(target, argmax, targetLp, lp);
        }

        @Override
        public void close() {
            try {
                in.close();
            } catch (IOException ignored) {
                // read-only
            }
        }
    }
}
