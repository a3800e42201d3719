package org.nemotron4j.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.nemotron4j.NemotronException;

/**
 * Writes a safetensors file in one streaming pass: the header (every tensor's name, dtype, shape and
 * {@code data_offsets}, plus optional {@code __metadata__}) is fixed by the specs given to {@link #create}, then
 * each tensor's bytes follow, in declaration order, in as many {@code write} calls per tensor as the caller likes.
 * <pre>
 *   u64 little-endian N | N bytes of JSON header, padded with spaces to a multiple of 8 | data, tensors back to back
 * </pre>
 * Data must be little-endian, row-major. {@link #close()} checks that every declared byte arrived; a file that
 * did not get all its data (or whose writing failed) is deleted and close throws {@link NemotronException}.
 *
 * <p>The rule for files that may be memory-mapped (every checkpoint {@link SafetensorsFile} opens is): never change
 * one in place. A process that has mapped a file and reads a page the file no longer has (it was truncated or
 * rewritten shorter) gets SIGBUS, which kills a JVM. So the bytes go to a temporary file next to {@code file}
 * ({@code .<name>.<random>.tmp}, same directory, so same file system) and {@link #close()} renames it over
 * {@code file} atomically: a reader that mapped the old file keeps the old inode and its bytes, a new reader sees
 * the whole new file, and nobody ever sees a half-written one. Tools that replace checkpoints should do the same.
 */
public final class SafetensorsWriter implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final int STAGING_BYTES = 1 << 20;

    private final Path file;
    private final Path temp;
    private final List<TensorSpec> specs;
    private final FileChannel channel;
    private final ByteBuffer staging = ByteBuffer.allocateDirect(STAGING_BYTES);
    private final long totalDataBytes;
    private int current;
    private long writtenInCurrent;
    private long dataWritten;
    private long stagedBytes;
    private boolean failed;
    private boolean closed;

    private SafetensorsWriter(Path file, Path temp, List<TensorSpec> specs, FileChannel channel, long totalDataBytes) {
        this.file = file;
        this.temp = temp;
        this.specs = specs;
        this.channel = channel;
        this.totalDataBytes = totalDataBytes;
        skipEmpty();
    }

    /**
     * Starts writing {@code file}: a temporary file beside it gets the header now and the data next; {@link #close()}
     * renames it to {@code file}, replacing an existing one atomically (never truncating it: see the class comment).
     * Tensors are laid out back to back in the order of {@code specs}; their data must then be written in that
     * order. {@code metadata} may be null or empty.
     */
    public static SafetensorsWriter create(Path file, List<TensorSpec> specs, Map<String, String> metadata) {
        List<TensorSpec> copy = List.copyOf(specs);
        byte[] header = header(file, copy, metadata);
        long total = 0;
        for (TensorSpec s : copy) {
            total += s.byteSize();
        }
        FileChannel channel;
        Path temp;
        try {
            Path parent = file.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            temp = Files.createTempFile(parent, "." + file.getFileName() + ".", ".tmp");
        } catch (IOException e) {
            throw new NemotronException(file + ": cannot create safetensors file: " + e.getMessage(), e);
        }
        try {
            channel = FileChannel.open(temp, StandardOpenOption.WRITE);
        } catch (IOException e) {
            deleteQuietly(temp);
            throw new NemotronException(file + ": cannot create safetensors file: " + e.getMessage(), e);
        }
        SafetensorsWriter writer = new SafetensorsWriter(file, temp, copy, channel, total);
        ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
        try {
            writeFully(channel, prefix);
            writeFully(channel, ByteBuffer.wrap(header));
        } catch (IOException e) {
            writer.failed = true;
            writer.closeQuietly();
            throw new NemotronException(file + ": cannot write safetensors header: " + e.getMessage(), e);
        }
        return writer;
    }

    /** The JSON header for these specs, space-padded to a multiple of 8 bytes. */
    static byte[] header(Path file, List<TensorSpec> specs, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (TensorSpec s : specs) {
            if (!seen.add(s.name())) {
                throw new NemotronException(file + ": tensor \"" + s.name() + "\" declared twice");
            }
            ObjectNode entry = root.putObject(s.name());
            entry.put("dtype", s.dtype().safetensorsName());
            ArrayNode shape = entry.putArray("shape");
            for (long d : s.shape()) {
                shape.add(d);
            }
            ArrayNode offsets = entry.putArray("data_offsets");
            offsets.add(offset);
            offset += s.byteSize();
            offsets.add(offset);
        }
        byte[] json;
        try {
            json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new NemotronException(file + ": cannot encode safetensors header: " + e.getMessage(), e);
        }
        int padded = (json.length + 7) & ~7;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) {
            out[i] = ' ';
        }
        return out;
    }

    /** Size of the file these specs make: 8 + padded header + all data. */
    public static long fileSize(List<TensorSpec> specs, Map<String, String> metadata) {
        long size = 8 + header(Path.of("size"), specs, metadata).length;
        for (TensorSpec s : specs) {
            size += s.byteSize();
        }
        return size;
    }

    /** Writes a whole file of in-memory tensors (small F32/I32 tensors: test data, logits dumps). */
    public static void writeAll(Path file, Map<String, String> metadata, List<TensorData> tensors) {
        List<TensorSpec> specs = new ArrayList<>(tensors.size());
        for (TensorData t : tensors) {
            specs.add(t.spec());
        }
        try (SafetensorsWriter w = create(file, specs, metadata)) {
            for (TensorData t : tensors) {
                w.write(t.spec().name(), t.bytes());
            }
        }
    }

    /** {@link #writeAll(Path, Map, List)} with varargs. */
    public static void writeAll(Path file, Map<String, String> metadata, TensorData... tensors) {
        writeAll(file, metadata, List.of(tensors));
    }

    /** Writes a file holding one F32 tensor (e.g. a logits dump), row-major {@code values} of {@code shape}. */
    public static void writeF32(Path file, String name, long[] shape, float[] values) {
        writeAll(file, Map.of(), TensorData.f32(name, values, shape));
    }

    /** Writes a file holding one I32 tensor, row-major {@code values} of {@code shape}. */
    public static void writeI32(Path file, String name, long[] shape, int[] values) {
        writeAll(file, Map.of(), TensorData.i32(name, values, shape));
    }

    /** The next bytes of tensor {@code name}, which must be the tensor now due (declaration order). */
    public void write(String name, MemorySegment chunk) {
        checkWritable();
        if (current >= specs.size()) {
            fail(file + ": tensor \"" + name + "\": every declared tensor is already complete, " + chunk.byteSize()
                    + " bytes too many");
        }
        TensorSpec spec = specs.get(current);
        if (!spec.name().equals(name)) {
            fail(file + ": tensor \"" + name + "\" written while tensor \"" + spec.name() + "\" still needs "
                    + (spec.byteSize() - writtenInCurrent) + " bytes (tensors are written in declaration order)");
        }
        long left = spec.byteSize() - writtenInCurrent;
        if (chunk.byteSize() > left) {
            fail(file + ": tensor \"" + name + "\": chunk of " + chunk.byteSize() + " bytes is more than the " + left
                    + " bytes left of its " + spec.byteSize());
        }
        try {
            append(chunk);
        } catch (IOException e) {
            failed = true;
            throw new NemotronException(file + ": writing tensor \"" + name + "\" failed: " + e.getMessage(), e);
        }
        writtenInCurrent += chunk.byteSize();
        dataWritten += chunk.byteSize();
        if (writtenInCurrent == spec.byteSize()) {
            current++;
            writtenInCurrent = 0;
            skipEmpty();
        }
    }

    /** The next bytes of tensor {@code name}, from the buffer's position to its limit (the position advances). */
    public void write(String name, ByteBuffer chunk) {
        MemorySegment seg = MemorySegment.ofBuffer(chunk);
        write(name, seg);
        chunk.position(chunk.limit());
    }

    /** The next bytes of tensor {@code name}. */
    public void write(String name, byte[] chunk, int offset, int length) {
        write(name, MemorySegment.ofArray(chunk).asSlice(offset, length));
    }

    /** The next bytes of tensor {@code name}. */
    public void write(String name, byte[] chunk) {
        write(name, MemorySegment.ofArray(chunk));
    }

    /** The file being written. */
    public Path path() {
        return file;
    }

    /** Data bytes written so far. */
    public long bytesWritten() {
        return dataWritten;
    }

    /** Data bytes the header declares. */
    public long totalBytes() {
        return totalDataBytes;
    }

    private void skipEmpty() {
        while (current < specs.size() && specs.get(current).byteSize() == 0) {
            current++;
        }
    }

    private void append(MemorySegment chunk) throws IOException {
        if (chunk.byteSize() >= STAGING_BYTES) {
            flush();
            for (long off = 0; off < chunk.byteSize(); off += Integer.MAX_VALUE - 7) {
                long n = Math.min(Integer.MAX_VALUE - 7, chunk.byteSize() - off);
                writeFully(channel, chunk.asSlice(off, n).asByteBuffer());
            }
            return;
        }
        MemorySegment stage = MemorySegment.ofBuffer(staging.clear().limit(STAGING_BYTES));
        long off = 0;
        while (off < chunk.byteSize()) {
            long n = Math.min(chunk.byteSize() - off, STAGING_BYTES - stagedBytes);
            MemorySegment.copy(chunk, off, stage, stagedBytes, n);
            stagedBytes += n;
            off += n;
            if (stagedBytes == STAGING_BYTES) {
                flush();
            }
        }
    }

    private void flush() throws IOException {
        if (stagedBytes > 0) {
            writeFully(channel, staging.clear().limit((int) stagedBytes));
            stagedBytes = 0;
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    private void fail(String message) {
        failed = true;
        throw new NemotronException(message);
    }

    private void checkWritable() {
        if (closed) {
            throw new NemotronException(file + ": safetensors writer is closed");
        }
    }

    private void closeQuietly() {
        closed = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // the file is deleted next
        }
        deleteQuietly(temp);
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // nothing more to do
        }
    }

    /**
     * Flushes and closes the file and renames it to {@link #path()}. If any declared byte is missing (or a write
     * failed) the temporary file is deleted, {@link #path()} is left as it was, and a {@link NemotronException}
     * names the first incomplete tensor.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (current < specs.size() || failed) {
            String what = current < specs.size()
                    ? "tensor \"" + specs.get(current).name() + "\" got " + writtenInCurrent + " of its "
                            + specs.get(current).byteSize() + " bytes (" + dataWritten + " of " + totalDataBytes
                            + " data bytes written)"
                    : "a write failed";
            closeQuietly();
            throw new NemotronException(file + ": incomplete safetensors file deleted: " + what);
        }
        try {
            flush();
            channel.close();
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            closed = true;
        } catch (IOException e) {
            closeQuietly();
            throw new NemotronException(file + ": cannot finish safetensors file: " + e.getMessage(), e);
        }
    }
}
