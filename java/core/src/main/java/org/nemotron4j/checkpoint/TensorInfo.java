package org.nemotron4j.checkpoint;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;

/**
 * One tensor of a safetensors file: its name, element type, shape (row-major, outermost first) and its bytes,
 * a read-only slice of the file's memory mapping (little-endian, not necessarily aligned). The slice is valid as
 * long as the arena that maps the file is open.
 */
public record TensorInfo(String name, DType dtype, long[] shape, MemorySegment data, Path file) {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public TensorInfo {
        shape = shape.clone();
        long bytes = Math.multiplyExact(elementCount(shape), (long) dtype.byteSize());
        if (data.byteSize() != bytes) {
            throw new NemotronException(file + ": tensor \"" + name + "\": " + data.byteSize() + " bytes of data for "
                    + dtype.safetensorsName() + " " + formatShape(shape) + " (" + bytes + " expected)");
        }
    }

    /** The shape (a copy). */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int axis) {
        return shape[axis];
    }

    /** Whether the shape is exactly {@code expected}. */
    public boolean hasShape(long... expected) {
        return Arrays.equals(shape, expected);
    }

    /** Product of the dimensions (1 for a scalar, shape {@code []}). */
    public long elementCount() {
        return elementCount(shape);
    }

    public long byteSize() {
        return data.byteSize();
    }

    static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** {@code [310, 64]}; {@code []} for a scalar. */
    public static String formatShape(long[] shape) {
        return Arrays.toString(shape);
    }

    /**
     * The elements as floats, converted exactly from F32, BF16, F16 and F8_E4M3 (raw FP8 values, no scale applied)
     * and rounded from F64. For tests and small tensors; at most 2^31 - 9 elements.
     */
    public float[] toFloatArray() {
        int n = smallCount();
        float[] out = new float[n];
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, 0, out, 0, n);
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) data.getAtIndex(F64, i);
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = BFloat16.toFloat(data.getAtIndex(I16, i));
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(data.getAtIndex(I16, i));
                }
            }
            case F8_E4M3 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Fp8E4M3.decode(data.get(ValueLayout.JAVA_BYTE, i));
                }
            }
            default -> throw new NemotronException(file + ": tensor \"" + name + "\" is " + dtype.safetensorsName()
                    + ", not a floating point type");
        }
        return out;
    }

    /** The elements as ints, from I32, I16, I8, U8, U16, BOOL, or I64/U32 values that fit in an int. */
    public int[] toIntArray() {
        int n = smallCount();
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = switch (dtype) {
                case I32 -> data.getAtIndex(I32, i);
                case I16 -> data.getAtIndex(I16, i);
                case U16 -> data.getAtIndex(I16, i) & 0xFFFF;
                case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
                case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
                case U32, I64 -> {
                    long v = dtype == DType.U32 ? data.getAtIndex(I32, i) & 0xFFFFFFFFL : data.getAtIndex(I64, i);
                    if (v != (int) v) {
                        throw new NemotronException(file + ": tensor \"" + name + "\" element " + i + " = " + v
                                + " does not fit in an int");
                    }
                    yield (int) v;
                }
                default -> throw new NemotronException(file + ": tensor \"" + name + "\" is "
                        + dtype.safetensorsName() + ", not an integer type");
            };
        }
        return out;
    }

    /** The value of a one-element floating point tensor (shape {@code []} or {@code [1]}), e.g. an FP8 scale. */
    public float scalar() {
        if (elementCount() != 1) {
            throw new NemotronException(file + ": tensor \"" + name + "\" has shape " + formatShape(shape)
                    + ", not a single value");
        }
        return toFloatArray()[0];
    }

    private int smallCount() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new NemotronException(file + ": tensor \"" + name + "\" has " + n + " elements, too many for a Java array");
        }
        return (int) n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && t.name.equals(name) && t.dtype == dtype && Arrays.equals(t.shape, shape)
                && t.data.equals(data) && t.file.equals(file);
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    /** {@code name DTYPE [d0, d1] file} */
    @Override
    public String toString() {
        return name + " " + dtype.safetensorsName() + " " + formatShape(shape) + " " + file;
    }
}
