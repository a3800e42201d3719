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
     * The residual update of a layer, residual += x W^T for {@code rows} rows: one accumulating matmul with F32
     * activations; with BF16 activations the output projection writes the bf16 layer output and an add folds it
     * into the F32 residual stream (N4J_FLAG_F32_RESIDUAL).
     */
    void addToResidual(MemorySegment x, long ldX, int rows, NativeWeight w) {
        int h = config.hiddenSize();
        if (ws.branch == null) {
            k.matmul(x, ldX, rows, w, ws.hidden, h, true);
            return;
        }
        k.matmul(x, ldX, rows, w, ws.branch, h, false);
        k.add(ws.hidden, ws.branch, ws.hidden, (long) rows * h);
    }
}
