package org.nemotron4j.checkpoint;

import java.lang.foreign.MemorySegment;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;

/**
 * A small tensor held in memory, ready for {@link SafetensorsWriter#writeAll}: its spec and its little-endian bytes.
 * The factories copy Java arrays; a shape left out means one dimension of the array's length.
 */
public record TensorData(TensorSpec spec, MemorySegment bytes) {
    public TensorData {
        if (bytes.byteSize() != spec.byteSize()) {
            throw new NemotronException("tensor \"" + spec.name() + "\": " + bytes.byteSize() + " bytes for "
                    + spec + " (" + spec.byteSize() + " expected)");
        }
    }

    public static TensorData of(TensorSpec spec, MemorySegment bytes) {
        return new TensorData(spec, bytes);
    }

    /** F32 tensor of these values; {@code shape} defaults to {@code [values.length]}. */
    public static TensorData f32(String name, float[] values, long... shape) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, seg, TensorInfo.F32, 0, values.length);
        return new TensorData(new TensorSpec(name, DType.F32, shapeOf(values.length, shape)), seg);
    }

    /** I32 tensor of these values; {@code shape} defaults to {@code [values.length]}. */
    public static TensorData i32(String name, int[] values, long... shape) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, seg, TensorInfo.I32, 0, values.length);
        return new TensorData(new TensorSpec(name, DType.I32, shapeOf(values.length, shape)), seg);
    }

    /** BF16 tensor of these values rounded to nearest even; {@code shape} defaults to {@code [values.length]}. */
    public static TensorData bf16(String name, float[] values, long... shape) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 2]);
        for (int i = 0; i < values.length; i++) {
            seg.setAtIndex(TensorInfo.I16, i, BFloat16.fromFloat(values[i]));
        }
        return new TensorData(new TensorSpec(name, DType.BF16, shapeOf(values.length, shape)), seg);
    }

    /** A scalar (shape {@code []}) F32 tensor. */
    public static TensorData scalarF32(String name, float value) {
        return new TensorData(new TensorSpec(name, DType.F32, new long[0]), f32(name, new float[] {value}).bytes());
    }

    private static long[] shapeOf(int length, long[] shape) {
        long[] s = shape.length == 0 ? new long[] {length} : shape;
        if (TensorInfo.elementCount(s) != length) {
            throw new NemotronException("shape " + TensorInfo.formatShape(s) + " does not hold " + length + " values");
        }
        return s;
    }
}
