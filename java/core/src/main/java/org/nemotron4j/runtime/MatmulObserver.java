package org.nemotron4j.runtime;

import java.lang.foreign.MemorySegment;

/**
 * Sees the input of every matrix multiplication before it runs (after it, for a multiplication fused with the RMSNorm
 * that produces its input: n4j_rmsnorm_matmul; the values are the same) (calibration for quantization: the importance of each
 * input column, {@link org.nemotron4j.quant.ImportanceMatrix}). Called on the forward pass's thread with host memory
 * (the CPU backend only), never on the ordinary inference path.
 */
@FunctionalInterface
public interface MatmulObserver {
    /**
     * {@code x} holds {@code rows} rows of {@code cols} activations, {@code ldX} elements apart, each
     * {@code elementBytes} wide (4: F32, 2: BF16), the input of a multiplication by weight tensor {@code weight}.
     */
    void input(String weight, MemorySegment x, long ldX, int rows, int cols, long elementBytes);
}
