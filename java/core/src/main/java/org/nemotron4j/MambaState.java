package org.nemotron4j;

import org.nemotron4j.runtime.Backend;

import java.lang.foreign.MemorySegment;

/**
 * One sequence's recurrent state of one Mamba-2 layer, in backend memory: the conv state [convDim, convKernel]
 * (the last convKernel inputs, oldest first) in the activation dtype, and the SSM state [heads, headDim, stateDim]
 * in F32.
 * Fixed size whatever the sequence length.
 */
final class MambaState {
    final MemorySegment conv;
    final MemorySegment ssm;
    final long convBytes;
    final long ssmBytes;
    /** Bytes of one conv state element: 4 (F32 activations) or 2 (BF16). */
    final int convElementBytes;

    MambaState(Backend backend, ModelConfig c) {
        convElementBytes = backend.activationBytes();
        convBytes = (long) c.convDim() * c.convKernel() * convElementBytes;
        ssmBytes = (long) c.mambaNumHeads() * c.mambaHeadDim() * c.ssmStateSize() * Float.BYTES;
        conv = backend.alloc(convBytes);
        MemorySegment s;
        try {
            s = backend.alloc(ssmBytes);
        } catch (RuntimeException e) {
            backend.free(conv);
            throw e;
        }
        ssm = s;
    }

    /** Bytes of one layer's state with F32 activations (the CPU default). */
    static long bytes(ModelConfig c) {
        return bytes(c, DType.F32);
    }

    /** Bytes of one layer's state with activations of {@code activationDtype} (F32 or BF16). */
    static long bytes(ModelConfig c, DType activationDtype) {
        return (long) c.convDim() * c.convKernel() * activationDtype.byteSize()
                + (long) c.mambaNumHeads() * c.mambaHeadDim() * c.ssmStateSize() * Float.BYTES;
    }

    void free(Backend backend) {
        backend.free(conv);
        backend.free(ssm);
    }
}
