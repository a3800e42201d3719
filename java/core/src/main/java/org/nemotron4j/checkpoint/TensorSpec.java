package org.nemotron4j.checkpoint;

import java.util.Arrays;
import org.nemotron4j.DType;
import org.nemotron4j.NemotronException;

/** A tensor declared in a safetensors header before its data is written: name, element type and shape. */
public record TensorSpec(String name, DType dtype, long[] shape) {
    public TensorSpec {
        if (name == null || name.isEmpty()) {
            throw new NemotronException("tensor name must not be empty");
        }
        if (name.equals("__metadata__")) {
            throw new NemotronException("\"__metadata__\" is reserved in safetensors headers, not a tensor name");
        }
        if (dtype == null) {
            throw new NemotronException("tensor \"" + name + "\": no dtype");
        }
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) {
                throw new NemotronException("tensor \"" + name + "\": negative dimension in " + Arrays.toString(shape));
            }
        }
        try {
            Math.multiplyExact(TensorInfo.elementCount(shape), (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new NemotronException("tensor \"" + name + "\": shape " + Arrays.toString(shape) + " is too large");
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long elementCount() {
        return TensorInfo.elementCount(shape);
    }

    /** Bytes of data: elementCount * dtype size. */
    public long byteSize() {
        return elementCount() * dtype.byteSize();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec s && s.name.equals(name) && s.dtype == dtype && Arrays.equals(s.shape, shape);
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype.safetensorsName() + " " + Arrays.toString(shape);
    }
}
