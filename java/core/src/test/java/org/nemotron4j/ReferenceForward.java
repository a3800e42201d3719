package org.nemotron4j;

import org.nemotron4j.checkpoint.Checkpoint;
import org.nemotron4j.checkpoint.TensorInfo;

import java.util.ArrayList;
import java.util.List;

/**
 * An independent float64 oracle of the Nemotron-H forward pass, written from the equations (DESIGN.md, the
 * fixtures README), token by token: the sequential Mamba-2 recurrence, softmax attention over a growing cache,
 * relu^2 MLP. Weights are dequantized exactly (FP8 value x weight_scale). Slow and simple on purpose: it is what
 * the engine is compared against on models other than the golden fixtures.
 */
final class ReferenceForward {
    private final ModelConfig c;
    private final double[] emb;
    private final double[] normF;
    private final double[] lmHead;
    private final List<Object> layers = new ArrayList<>();
    // per-sequence state
    final double[][] conv;   // [layer][convDim * K], oldest first
    final double[][] ssm;    // [layer][H * P * N]
    final List<List<double[]>> keys = new ArrayList<>();
    final List<List<double[]>> values = new ArrayList<>();

    private record Mamba(double[] norm, double[] inProj, double[] convW, double[] convB, double[] dtBias, double[] aLog,
                         double[] d, double[] gateNorm, double[] outProj) { }

    private record Attn(double[] norm, double[] q, double[] k, double[] v, double[] o) { }

    private record Mlp(double[] norm, double[] up, double[] down) { }

    ReferenceForward(Checkpoint ckpt) {
        c = ckpt.config();
        emb = w(ckpt, "backbone.embeddings.weight");
        normF = w(ckpt, "backbone.norm_f.weight");
        lmHead = c.tieWordEmbeddings() ? emb : w(ckpt, "lm_head.weight");
        int n = c.numHiddenLayers();
        conv = new double[n][];
        ssm = new double[n][];
        for (int i = 0; i < n; i++) {
            String p = "backbone.layers." + i + ".";
            String m = p + "mixer.";
            double[] norm = w(ckpt, p + "norm.weight");
            keys.add(new ArrayList<>());
            values.add(new ArrayList<>());
            switch (c.layers().get(i)) {
                case MAMBA -> {
                    layers.add(new Mamba(norm, w(ckpt, m + "in_proj.weight"), w(ckpt, m + "conv1d.weight"),
                            c.useConvBias() ? w(ckpt, m + "conv1d.bias") : new double[c.convDim()],
                            w(ckpt, m + "dt_bias"), w(ckpt, m + "A_log"), w(ckpt, m + "D"), w(ckpt, m + "norm.weight"),
                            w(ckpt, m + "out_proj.weight")));
                    conv[i] = new double[c.convDim() * c.convKernel()];
                    ssm[i] = new double[c.mambaNumHeads() * c.mambaHeadDim() * c.ssmStateSize()];
                }
                case ATTENTION -> layers.add(new Attn(norm, w(ckpt, m + "q_proj.weight"), w(ckpt, m + "k_proj.weight"),
                        w(ckpt, m + "v_proj.weight"), w(ckpt, m + "o_proj.weight")));
                case MLP -> layers.add(new Mlp(norm, w(ckpt, m + "up_proj.weight"), w(ckpt, m + "down_proj.weight")));
            }
        }
    }

    private static double[] w(Checkpoint ckpt, String name) {
        TensorInfo t = ckpt.tensor(name);
        float[] f = t.toFloatArray();
        double scale = 1;
        if (t.dtype() == DType.F8_E4M3) {
            scale = ckpt.tensor(name.substring(0, name.length() - "weight".length()) + "weight_scale").scalar();
        }
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i] * scale;
        }
        return d;
    }

    /** y[o] = sum_i W[o, i] x[i] for W [out, in]. */
    private static double[] matvec(double[] w, double[] x, int out) {
        int in = x.length;
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < in; i++) {
                s += w[o * in + i] * x[i];
            }
            y[o] = s;
        }
        return y;
    }

    private double[] rmsnorm(double[] x, double[] w) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double r = 1 / Math.sqrt(ss / x.length + c.rmsNormEps());
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * r * w[i];
        }
        return y;
    }

    private static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    private static double softplus(double x) {
        return x > 20 ? x : Math.log1p(Math.exp(x));
    }

    /** Feeds one token; returns the logits after it. */
    double[] step(int token) {
        int hs = c.hiddenSize();
        double[] h = new double[hs];
        System.arraycopy(emb, token * hs, h, 0, hs);
        for (int i = 0; i < layers.size(); i++) {
            Object l = layers.get(i);
            double[] out = switch (l) {
                case Mamba m -> mamba(i, m, rmsnorm(h, m.norm()));
                case Attn a -> attention(i, a, rmsnorm(h, a.norm()));
                case Mlp m -> mlp(m, rmsnorm(h, m.norm()));
                default -> throw new IllegalStateException();
            };
            for (int j = 0; j < hs; j++) {
                h[j] += out[j];
            }
        }
        return matvec(lmHead, rmsnorm(h, normF), c.vocabSize());
    }

    private double[] mamba(int layer, Mamba m, double[] xn) {
        int dI = c.mambaDInner();
        int convDim = c.convDim();
        int k = c.convKernel();
        int heads = c.mambaNumHeads();
        int p = c.mambaHeadDim();
        int n = c.ssmStateSize();
        int g = c.nGroups();
        double[] zx = matvec(m.inProj(), xn, c.inProjDim());
        double[] st = conv[layer];
        double[] xbc = new double[convDim];
        for (int ch = 0; ch < convDim; ch++) {
            System.arraycopy(st, ch * k + 1, st, ch * k, k - 1);
            st[ch * k + k - 1] = zx[dI + ch];
            double s = m.convB()[ch];
            for (int j = 0; j < k; j++) {
                s += m.convW()[ch * k + j] * st[ch * k + j];
            }
            xbc[ch] = silu(s);
        }
        double[] y = new double[dI];
        double[] s = ssm[layer];
        for (int hd = 0; hd < heads; hd++) {
            int grp = hd / (heads / g);
            double dt = softplus(zx[dI + convDim + hd] + m.dtBias()[hd]);
            double a = -Math.exp(m.aLog()[hd]);
            double decay = Math.exp(dt * a);
            for (int pp = 0; pp < p; pp++) {
                double x = xbc[hd * p + pp];
                double acc = 0;
                for (int nn = 0; nn < n; nn++) {
                    int idx = (hd * p + pp) * n + nn;
                    s[idx] = decay * s[idx] + dt * x * xbc[dI + grp * n + nn];
                    acc += s[idx] * xbc[dI + g * n + grp * n + nn];
                }
                y[hd * p + pp] = acc + m.d()[hd] * x;
            }
        }
        int gs = dI / g;
        double[] gated = new double[dI];
        for (int grp = 0; grp < g; grp++) {
            double ss = 0;
            for (int j = grp * gs; j < (grp + 1) * gs; j++) {
                gated[j] = y[j] * silu(zx[j]);
                ss += gated[j] * gated[j];
            }
            double r = 1 / Math.sqrt(ss / gs + c.rmsNormEps());
            for (int j = grp * gs; j < (grp + 1) * gs; j++) {
                gated[j] *= r * m.gateNorm()[j];
            }
        }
        return matvec(m.outProj(), gated, c.hiddenSize());
    }

    private double[] attention(int layer, Attn a, double[] xn) {
        int hd = c.attentionHeadDim();
        int heads = c.numAttentionHeads();
        int kvHeads = c.numKeyValueHeads();
        double[] q = matvec(a.q(), xn, heads * hd);
        keys.get(layer).add(matvec(a.k(), xn, kvHeads * hd));
        values.get(layer).add(matvec(a.v(), xn, kvHeads * hd));
        List<double[]> ks = keys.get(layer);
        List<double[]> vs = values.get(layer);
        double[] out = new double[heads * hd];
        double scale = 1 / Math.sqrt(hd);
        for (int h = 0; h < heads; h++) {
            int kh = h / (heads / kvHeads);
            double[] sc = new double[ks.size()];
            double max = Double.NEGATIVE_INFINITY;
            for (int t = 0; t < ks.size(); t++) {
                double s = 0;
                for (int j = 0; j < hd; j++) {
                    s += q[h * hd + j] * ks.get(t)[kh * hd + j];
                }
                sc[t] = s * scale;
                max = Math.max(max, sc[t]);
            }
            double sum = 0;
            for (int t = 0; t < sc.length; t++) {
                sc[t] = Math.exp(sc[t] - max);
                sum += sc[t];
            }
            for (int t = 0; t < sc.length; t++) {
                for (int j = 0; j < hd; j++) {
                    out[h * hd + j] += sc[t] / sum * vs.get(t)[kh * hd + j];
                }
            }
        }
        return matvec(a.o(), out, c.hiddenSize());
    }

    private double[] mlp(Mlp m, double[] xn) {
        double[] u = matvec(m.up(), xn, c.intermediateSize());
        for (int i = 0; i < u.length; i++) {
            double r = Math.max(u[i], 0);
            u[i] = r * r;
        }
        return matvec(m.down(), u, c.hiddenSize());
    }
}
