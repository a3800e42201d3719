package org.nemotron4j;

import org.nemotron4j.runtime.Kernels;

/** What a layer needs during a forward pass: the kernels, the workspace and the config. */
record Forward(Kernels k, Workspace ws, ModelConfig config) {
    float eps() {
        return (float) config.rmsNormEps();
    }
}
