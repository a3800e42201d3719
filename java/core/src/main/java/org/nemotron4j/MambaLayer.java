package org.nemotron4j;

import org.nemotron4j.bindings.n4j_ssm_dims;
import org.nemotron4j.runtime.NativeWeight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;


/**
 * A Mamba-2 mixer block:
 * <pre>
 *   zxbcdt = in_proj(RMSNorm(h))                 split as z [dInner] | xBC [convDim] | dt [heads]
 *   xBC    = silu(conv1d(xBC))                   causal depthwise, kernel convKernel, with bias
 *   x, B, C = xBC split as [dInner] | [groups*state] | [groups*state]
 *   y      = SSD scan (x, dt, A = -exp(A_log), B, C) + D*x
 *   h     += out_proj(RMSNorm_grouped(y * silu(z)) * norm.weight)
 * </pre>
 */
final class MambaLayer implements Layer {
    private final int index;
    private final NativeWeight norm;
    private final NativeWeight inProj;
    private final NativeWeight convWeight;
    private final NativeWeight convBias;
    private final NativeWeight dtBias;
    private final NativeWeight aLog;
    private final NativeWeight d;
    private final NativeWeight gateNorm;
    private final NativeWeight outProj;
    private final MemorySegment dims;
    private final int dInner;
    private final int convDim;
    private final int inProjDim;
    private final int groupState;

    MambaLayer(int index, ModelConfig c, Arena arena, NativeWeight norm, NativeWeight inProj, NativeWeight convWeight,
               NativeWeight convBias, NativeWeight dtBias, NativeWeight aLog, NativeWeight d, NativeWeight gateNorm,
               NativeWeight outProj) {
        this.index = index;
        this.norm = norm;
        this.inProj = inProj;
        this.convWeight = convWeight;
        this.convBias = convBias;
        this.dtBias = dtBias;
        this.aLog = aLog;
        this.d = d;
        this.gateNorm = gateNorm;
        this.outProj = outProj;
        this.dInner = c.mambaDInner();
        this.convDim = c.convDim();
        this.inProjDim = c.inProjDim();
        this.groupState = c.nGroups() * c.ssmStateSize();
        this.dims = n4j_ssm_dims.allocate(arena);
        n4j_ssm_dims.heads(dims, c.mambaNumHeads());
        n4j_ssm_dims.head_dim(dims, c.mambaHeadDim());
        n4j_ssm_dims.groups(dims, c.nGroups());
        n4j_ssm_dims.state_dim(dims, c.ssmStateSize());
        n4j_ssm_dims.chunk_size(dims, c.chunkSize());
        n4j_ssm_dims.reserved(dims, 0);
    }

    @Override
    public int index() {
        return index;
    }

    /** Normalizes and projects rows [0, rows) of the residual stream; returns nothing, fills ws.proj. */
    private void project(Forward f, int rows) {
        Workspace ws = f.ws();
        int h = f.config().hiddenSize();
        f.k().rmsnormMatmul(ws.hidden, h, rows, norm, f.eps(), ws.normed, h, inProj, ws.proj, inProjDim);
    }

    private void scanOutput(Forward f, int rows) {
        Workspace ws = f.ws();
        int h = f.config().hiddenSize();
        MemorySegment z = ws.proj;
        f.k().gatedRmsnorm(ws.y, dInner, z, inProjDim, rows, dInner, f.config().nGroups(), gateNorm, f.eps(), ws.gated, dInner);
        f.addToResidual(ws.gated, dInner, rows, outProj);
    }

    @Override
    public void prefill(Forward f, Session session, int tokens) {
        Workspace ws = f.ws();
        MambaState st = session.mambaState(index);
        project(f, tokens);
        MemorySegment xbc = ws.proj.asSlice(dInner * ws.act);
        MemorySegment dt = ws.proj.asSlice((long) (dInner + convDim) * ws.act);
        f.k().conv1dPrefill(xbc, inProjDim, tokens, convDim, convWeight, convBias, st.conv, true, ws.conv, convDim);
        f.k().ssdChunkScan(dims, tokens, ws.conv, convDim, ws.conv.asSlice(dInner * ws.act), convDim,
                ws.conv.asSlice((long) (dInner + groupState) * ws.act), convDim, dt, inProjDim, dtBias, aLog, d, st.ssm, ws.y, dInner);
        scanOutput(f, tokens);
    }

    @Override
    public void decode(Forward f, Session[] batch) {
        Workspace ws = f.ws();
        int n = batch.length;
        for (int b = 0; b < n; b++) {
            MambaState st = batch[b].mambaState(index);
            ws.convPtrs.setAtIndex(ValueLayout.ADDRESS, b, st.conv);
            ws.ssmPtrs.setAtIndex(ValueLayout.ADDRESS, b, st.ssm);
        }
        project(f, n);
        // conv step, SSM step and gated norm in one call (one kernel on CUDA; bit-identical to the three ops)
        f.k().mambaDecode(dims, n, ws.proj, inProjDim, convWeight, convBias, dtBias, aLog, d, gateNorm, f.eps(),
                ws.convPtrs, ws.ssmPtrs, ws.y, dInner, ws.gated, dInner);
        f.addToResidual(ws.gated, dInner, n, outProj);
    }
}
