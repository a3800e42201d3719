package org.nemotron4j;

import org.nemotron4j.runtime.Kernels;
import org.nemotron4j.runtime.NativeWeight;

import java.lang.foreign.MemorySegment;

/** What a layer needs during a forward pass: the kernels, the workspace and the config. */
record Forward(Kernels k, Workspace ws, ModelConfig config) {
    float eps() {
        return (float) config.rmsNormEps();
    }

    /**
     * The residual update of a layer, residual += x W^T for {@code rows} rows: one matmul whose epilogue adds into the
     * residual stream (F32 activations: an accumulate; BF16 activations: the bf16 layer output added into the F32
     * residual, N4J_FLAG_F32_RESIDUAL), no separate add and no layer-output buffer.
     */
    void addToResidual(MemorySegment x, long ldX, int rows, NativeWeight w) {
        k.matmulAddToResidual(x, ldX, rows, w, ws.hidden, config.hiddenSize());
    }
}
