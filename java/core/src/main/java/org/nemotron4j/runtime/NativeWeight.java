package org.nemotron4j.runtime;

import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;
import org.nemotron4j.bindings.n4j_weight;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.quant.QuantType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.nemotron4j.bindings.nemotron4j_h.n4j_convert;

/**
 * A checkpoint tensor as the kernels see it: an {@code n4j_weight} descriptor (data pointer, dtype, rows x cols,
 * FP8 scale) living in the model's arena. On the CPU the data pointer is the memory-mapped checkpoint itself
 * (zero-copy); on other backends the bytes are uploaded once into backend memory. The kernels take BF16, F32 and
 * F8_E4M3 weights; an F16 tensor is widened once, exactly, to F32 in backend memory (twice its bytes), so F16
 * checkpoints load and run rather than failing in the first forward pass.
 *
 * @param descriptor the {@code n4j_weight} struct
 * @param tensor     the checkpoint tensor it describes
 * @param data       where the kernels read the elements (mapped file or backend memory)
 * @param uploaded   true when {@code data} is backend memory owned by the model (freed at close)
 */
public record NativeWeight(MemorySegment descriptor, TensorInfo tensor, MemorySegment data, boolean uploaded) {

    /** rows x cols of a linear weight [out, in]; a 1-D vector is n x 1; [C, 1, K] (conv1d) is C x K. */
    static int[] matrixShape(TensorInfo t) {
        long[] s = t.shape();
        long rows;
        long cols;
        switch (s.length) {
            case 0 -> { rows = 1; cols = 1; }
            case 1 -> { rows = s[0]; cols = 1; }
            case 2 -> { rows = s[0]; cols = s[1]; }
            case 3 -> {
                if (s[1] != 1) {
                    throw new NemotronException("tensor " + t.name() + " in " + t.file() + ": expected [C, 1, K], got a 3-D shape with middle dim " + s[1]);
                }
                rows = s[0];
                cols = s[2];
            }
            default -> throw new NemotronException("tensor " + t.name() + " in " + t.file() + ": unsupported rank " + s.length);
        }
        if (rows > Integer.MAX_VALUE || cols > Integer.MAX_VALUE) {
            throw new NemotronException("tensor " + t.name() + " in " + t.file() + " is too large for one kernel call");
        }
        return new int[] {(int) rows, (int) cols};
    }

    /**
     * Describes {@code tensor} for the kernels. {@code scale} multiplies every element (the FP8 weight_scale;
     * 1 otherwise); {@code inputScale} is the static activation scale (0 when absent).
     */
    public static NativeWeight of(Backend backend, Arena arena, TensorInfo tensor, float scale, float inputScale) {
        DType dtype = tensor.dtype();
        int code = dtype.nativeCode();
        int[] rc = matrixShape(tensor);
        MemorySegment data;
        boolean uploaded;
        if (dtype == DType.F16) {
            data = widenF16(backend, tensor);
            code = DType.F32.nativeCode();
            uploaded = true;
        } else if (backend.isCpu()) {
            data = tensor.data();
            uploaded = false;
        } else {
            data = backend.alloc(tensor.byteSize());
            backend.upload(data, tensor.data(), tensor.byteSize());
            uploaded = true;
        }
        MemorySegment d = n4j_weight.allocate(arena);
        n4j_weight.data(d, data);
        n4j_weight.dtype(d, code);
        n4j_weight.rows(d, rc[0]);
        n4j_weight.cols(d, rc[1]);
        n4j_weight.scale(d, scale);
        n4j_weight.input_scale(d, inputScale);
        n4j_weight.reserved(d, 0);
        return new NativeWeight(d, tensor, data, uploaded);
    }

    /**
     * Describes a block-quantized weight ({@link QuantType}) of logical shape {@code rows x cols} for n4j_matmul: the
     * kernels read one buffer, the quants followed by the scales. When the scales tensor starts where the quants end
     * in the mapped file (as {@code nemotron4j quantize} writes them) that is the file itself, zero-copy; otherwise
     * both are copied into one new buffer. On other backends both are uploaded into one buffer of backend memory.
     */
    public static NativeWeight ofQuantized(Backend backend, Arena arena, TensorInfo quants, TensorInfo scales,
            QuantType type, int rows, int cols) {
        MemorySegment q = quants.data();
        MemorySegment sc = scales.data();
        MemorySegment data;
        boolean uploaded;
        if (!backend.isCpu()) {
            data = backend.alloc(q.byteSize() + sc.byteSize());
            try {
                backend.upload(data, q, q.byteSize());
                backend.upload(data.asSlice(q.byteSize()), sc, sc.byteSize());
            } catch (RuntimeException e) {
                backend.free(data);
                throw e;
            }
            uploaded = true;
        } else if (q.address() + q.byteSize() == sc.address()) {
            data = MemorySegment.ofAddress(q.address()).reinterpret(q.byteSize() + sc.byteSize());
            uploaded = false;
        } else {
            data = backend.alloc(q.byteSize() + sc.byteSize());
            MemorySegment.copy(q, 0, data, 0, q.byteSize());
            MemorySegment.copy(sc, 0, data, q.byteSize(), sc.byteSize());
            uploaded = true;
        }
        return describe(arena, quants, data, uploaded, type.nativeCode(), rows, cols);
    }

    /** A block-quantized weight in backend memory this model owns (quantize-on-load). */
    public static NativeWeight ofQuantizedBuffer(Arena arena, TensorInfo source, MemorySegment data, QuantType type,
            int rows, int cols) {
        return describe(arena, source, data, true, type.nativeCode(), rows, cols);
    }

    private static NativeWeight describe(Arena arena, TensorInfo tensor, MemorySegment data, boolean uploaded, int code,
            int rows, int cols) {
        MemorySegment d = n4j_weight.allocate(arena);
        n4j_weight.data(d, data);
        n4j_weight.dtype(d, code);
        n4j_weight.rows(d, rows);
        n4j_weight.cols(d, cols);
        n4j_weight.scale(d, 1f);
        n4j_weight.input_scale(d, 0f);
        n4j_weight.reserved(d, 0);
        return new NativeWeight(d, tensor, data, uploaded);
    }

    /** An F16 tensor converted to F32 (exactly) in new backend memory, which the caller frees. */
    private static MemorySegment widenF16(Backend backend, TensorInfo tensor) {
        long n = tensor.elementCount();
        MemorySegment f32 = backend.alloc(Math.max(1, n) * Float.BYTES);
        MemorySegment staged = null;
        try {
            MemorySegment src = tensor.data();
            if (!backend.isCpu()) {
                staged = backend.alloc(Math.max(1, tensor.byteSize()));
                backend.upload(staged, src, tensor.byteSize());
                src = staged;
            }
            if (n > 0) {
                Backend.check(n4j_convert(backend.handle(), src, DType.F16.nativeCode(), f32, DType.F32.nativeCode(), n),
                        "n4j_convert(" + tensor.name() + ", F16 -> F32)");
            }
            return f32;
        } catch (RuntimeException e) {
            backend.free(f32);
            throw e;
        } finally {
            if (staged != null) {
                backend.free(staged);
            }
        }
    }

    /** Reads a scalar F32/BF16 tensor (weight_scale, input_scale). */
    public static float scalar(TensorInfo t) {
        if (t.elementCount() != 1) {
            throw new NemotronException("tensor " + t.name() + " in " + t.file() + " must be a scalar, has shape " + java.util.Arrays.toString(t.shape()));
        }
        return switch (t.dtype()) {
            case F32 -> t.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0);
            case BF16 -> Float.intBitsToFloat((t.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, 0) & 0xffff) << 16);
            default -> throw new NemotronException("tensor " + t.name() + " in " + t.file() + ": scale must be F32 or BF16, is " + t.dtype());
        };
    }

    public int rows() {
        return n4j_weight.rows(descriptor);
    }

    public int cols() {
        return n4j_weight.cols(descriptor);
    }
}
