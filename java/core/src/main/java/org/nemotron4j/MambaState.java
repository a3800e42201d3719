package org.nemotron4j;

import org.nemotron4j.runtime.Backend;

import java.lang.foreign.MemorySegment;

/**
 * One sequence's recurrent state of one Mamba-2 layer, in backend memory: the conv state [convDim, convKernel]
 * (the last convKernel inputs, oldest first) and the SSM state [heads, headDim, stateDim], both F32.
 * Fixed size whatever the sequence length.
 */
final class MambaState {
    final MemorySegment conv;
    final MemorySegment ssm;
    final long convBytes;
    final long ssmBytes;

    MambaState(Backend backend, ModelConfig c) {
        convBytes = (long) c.convDim() * c.convKernel() * Float.BYTES;
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

    static long bytes(ModelConfig c) {
        return (long) c.convDim() * c.convKernel() * Float.BYTES
                + (long) c.mambaNumHeads() * c.mambaHeadDim() * c.ssmStateSize() * Float.BYTES;
    }

    void free(Backend backend) {
        backend.free(conv);
        backend.free(ssm);
    }
}
