package org.nemotron4j;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * The byte format of a session snapshot: everything a session needs to resume, independent of the backend.
 * <pre>
 *   "N4JSNAP1"                 8 bytes magic
 *   u32 version (1)
 *   32 bytes                   the model fingerprint (config + tensor names, dtypes, shapes and sampled bytes)
 *   u32 layers, u32 position
 *   per layer: u8 kind (0 Mamba, 1 attention, 2 MLP), then
 *     Mamba:     u32 n, n f32 conv state;  u32 m, m f32 SSM state
 *     attention: u32 tokens, u32 floats per token, K [tokens, floats] f32, V [tokens, floats] f32
 *   u32 CRC-32 of every preceding byte
 * </pre>
 * Integers big-endian, floats little-endian IEEE-754.
 */
final class SessionSnapshot {
    private static final byte[] MAGIC = "N4JSNAP1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final int VERSION = 1;

    private SessionSnapshot() {
    }

    /** Mamba state or KV cache of one layer, on the host. */
    record LayerState(LayerKind kind, float[] a, float[] b, int tokens) { }

    static void write(OutputStream sink, byte[] fingerprint, int position, LayerState[] layers) throws IOException {
        CRC32 crc = new CRC32();
        DataOutputStream out = new DataOutputStream(new CheckedOutputStream(new BufferedOutputStream(sink, 1 << 16), crc));
        out.write(MAGIC);
        out.writeInt(VERSION);
        out.write(fingerprint);
        out.writeInt(layers.length);
        out.writeInt(position);
        for (LayerState l : layers) {
            out.writeByte(l.kind().ordinal());
            switch (l.kind()) {
                case MAMBA -> {
                    floats(out, l.a());
                    floats(out, l.b());
                }
                case ATTENTION -> {
                    out.writeInt(l.tokens());
                    out.writeInt(l.tokens() == 0 ? 0 : l.a().length / l.tokens());
                    rawFloats(out, l.a());
                    rawFloats(out, l.b());
                }
                case MLP -> { }
            }
        }
        out.flush();
        new DataOutputStream(sink).writeInt((int) crc.getValue());
        sink.flush();
    }

    private static void floats(DataOutputStream out, float[] v) throws IOException {
        out.writeInt(v.length);
        rawFloats(out, v);
    }

    private static void rawFloats(DataOutputStream out, float[] v) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; ) {
            buf.clear();
            int n = Math.min(v.length - i, buf.capacity() / Float.BYTES);
            buf.asFloatBuffer().put(v, i, n);
            out.write(buf.array(), 0, n * Float.BYTES);
            i += n;
        }
    }

    /** Reads and checks a snapshot against the model it is restored into; every problem is a clear error. */
    static LayerState[] read(InputStream source, byte[] fingerprint, ModelConfig c, int[] positionOut) {
        CRC32 crc = new CRC32();
        InputStream buffered = new BufferedInputStream(source, 1 << 16);
        DataInputStream in = new DataInputStream(new CheckedInputStream(buffered, crc));
        try {
            byte[] magic = in.readNBytes(MAGIC.length);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new NemotronException("not a nemotron4j session snapshot (bad magic)");
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new NemotronException("unsupported snapshot version " + version + " (this build reads " + VERSION + ")");
            }
            byte[] fp = new byte[32];
            in.readFully(fp);
            if (!Arrays.equals(fp, fingerprint)) {
                throw new NemotronException("the snapshot was taken from another model (fingerprint "
                        + HexFormat.of().formatHex(fp, 0, 8) + "..., this model " + HexFormat.of().formatHex(fingerprint, 0, 8) + "...)");
            }
            int layers = in.readInt();
            if (layers != c.numHiddenLayers()) {
                throw new NemotronException("snapshot has " + layers + " layers, the model " + c.numHiddenLayers());
            }
            int position = in.readInt();
            if (position < 0 || position > c.maxPositionEmbeddings()) {
                throw new NemotronException("snapshot position " + position + " is outside [0, " + c.maxPositionEmbeddings() + "]");
            }
            LayerState[] out = new LayerState[layers];
            long convFloats = (long) c.convDim() * c.convKernel();
            long ssmFloats = (long) c.mambaNumHeads() * c.mambaHeadDim() * c.ssmStateSize();
            long kvFloats = (long) c.numKeyValueHeads() * c.attentionHeadDim();
            for (int i = 0; i < layers; i++) {
                int kind = in.readUnsignedByte();
                LayerKind expected = c.layers().get(i);
                if (kind != expected.ordinal()) {
                    throw new NemotronException("snapshot layer " + i + " has kind " + kind + ", the model's is " + expected);
                }
                switch (expected) {
                    case MAMBA -> {
                        float[] conv = floats(in, convFloats, "layer " + i + " conv state");
                        float[] ssm = floats(in, ssmFloats, "layer " + i + " SSM state");
                        out[i] = new LayerState(expected, conv, ssm, 0);
                    }
                    case ATTENTION -> {
                        int tokens = in.readInt();
                        int per = in.readInt();
                        if (tokens != position || (tokens > 0 && per != kvFloats)) {
                            throw new NemotronException("snapshot layer " + i + " KV cache has " + tokens + " tokens of " + per
                                    + " floats; expected " + position + " of " + kvFloats);
                        }
                        long n = tokens * kvFloats;
                        out[i] = new LayerState(expected, rawFloats(in, n), rawFloats(in, n), tokens);
                    }
                    case MLP -> out[i] = new LayerState(expected, null, null, 0);
                }
            }
            int expectedCrc = (int) crc.getValue();
            int stored = new DataInputStream(buffered).readInt();
            if (stored != expectedCrc) {
                throw new NemotronException("the snapshot is corrupted (CRC-32 mismatch)");
            }
            positionOut[0] = position;
            return out;
        } catch (EOFException e) {
            throw new NemotronException("the snapshot is truncated", e);
        } catch (IOException e) {
            throw new NemotronException("cannot read the snapshot: " + e.getMessage(), e);
        }
    }

    private static float[] floats(DataInputStream in, long expected, String what) throws IOException {
        int n = in.readInt();
        if (n != expected) {
            throw new NemotronException("snapshot " + what + " has " + n + " values, the model needs " + expected);
        }
        return rawFloats(in, n);
    }

    private static float[] rawFloats(DataInputStream in, long n) throws IOException {
        if (n > Integer.MAX_VALUE - 8) {
            throw new NemotronException("snapshot section of " + n + " values is too large");
        }
        float[] v = new float[(int) n];
        byte[] chunk = new byte[1 << 16];
        for (int i = 0; i < v.length; ) {
            int count = Math.min(v.length - i, chunk.length / Float.BYTES);
            in.readFully(chunk, 0, count * Float.BYTES);
            ByteBuffer.wrap(chunk, 0, count * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v, i, count);
            i += count;
        }
        return v;
    }
}
