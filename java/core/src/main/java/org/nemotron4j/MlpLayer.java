package org.nemotron4j;

import org.nemotron4j.runtime.NativeWeight;

/** An MLP block without gate: {@code h += down_proj(relu(up_proj(RMSNorm(h)))^2)}. */
final class MlpLayer implements Layer {
    private final int index;
    private final NativeWeight norm;
    private final NativeWeight up;
    private final NativeWeight down;
    private final int inter;

    MlpLayer(int index, ModelConfig c, NativeWeight norm, NativeWeight up, NativeWeight down) {
        this.index = index;
        this.norm = norm;
        this.up = up;
        this.down = down;
        this.inter = c.intermediateSize();
    }

    @Override
    public int index() {
        return index;
    }

    private void run(Forward f, int rows) {
        Workspace ws = f.ws();
        int h = f.config().hiddenSize();
        // the norm in the up projection's prologue, relu^2 in its epilogue
        f.k().rmsnormMatmulReluSquared(ws.hidden, h, rows, norm, f.eps(), ws.normed, h, up, ws.proj, inter);
        f.addToResidual(ws.proj, inter, rows, down);
    }

    @Override
    public void prefill(Forward f, Session session, int tokens) {
        run(f, tokens);
    }

    @Override
    public void decode(Forward f, Session[] batch) {
        run(f, batch.length);
    }
}
