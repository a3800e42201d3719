package org.nemotron4j.checkpoint;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nemotron4j.ModelConfig;

/**
 * The tensors a Nemotron-H config implies, with the Hugging Face names and shapes ({@code [out, in]} for Linear
 * weights):
 * <pre>
 *   backbone.embeddings.weight                [vocab, hidden]     (older files: backbone.embedding.weight)
 *   backbone.layers.{i}.norm.weight           [hidden]
 *   Mamba-2 layer, backbone.layers.{i}.mixer.:
 *     in_proj.weight    [2*dInner + 2*groups*state + heads, hidden]     z | xBC | dt
 *     conv1d.weight     [convDim, 1, convKernel]   conv1d.bias [convDim] (when use_conv_bias)
 *     dt_bias [heads]   A_log [heads]   D [heads]   norm.weight [dInner]
 *     out_proj.weight   [hidden, dInner]
 *   attention layer:    q_proj.weight [heads*headDim, hidden]   k_proj.weight, v_proj.weight [kvHeads*headDim, hidden]
 *                       o_proj.weight [hidden, heads*headDim]
 *   MLP layer:          up_proj.weight [intermediate, hidden]   down_proj.weight [hidden, intermediate]
 *   backbone.norm_f.weight                    [hidden]
 *   lm_head.weight                            [vocab, hidden]     (absent when tie_word_embeddings)
 * </pre>
 * An FP8 (ModelOpt) checkpoint adds, next to each quantized {@code <module>.weight}, a scalar F32
 * {@code <module>.weight_scale} and optionally {@code <module>.input_scale}.
 */
public final class NemotronHLayout {
    public static final String EMBEDDINGS = "backbone.embeddings.weight";
    /** The embedding's name in older Nemotron-H exports; {@link Checkpoint} answers either name. */
    public static final String LEGACY_EMBEDDINGS = "backbone.embedding.weight";
    public static final String NORM_F = "backbone.norm_f.weight";
    public static final String LM_HEAD = "lm_head.weight";
    public static final String WEIGHT_SCALE = "weight_scale";
    public static final String INPUT_SCALE = "input_scale";

    /** What a tensor is for; decides its allowed dtypes and how {@link ModelGenerator} initialises it. */
    public enum Role {
        EMBEDDINGS, LAYER_NORM, FINAL_NORM, LM_HEAD,
        MAMBA_IN_PROJ, MAMBA_CONV_WEIGHT, MAMBA_CONV_BIAS, MAMBA_DT_BIAS, MAMBA_A_LOG, MAMBA_D, MAMBA_NORM,
        MAMBA_OUT_PROJ,
        ATTENTION_Q_PROJ, ATTENTION_K_PROJ, ATTENTION_V_PROJ, ATTENTION_O_PROJ,
        MLP_UP_PROJ, MLP_DOWN_PROJ;

        /** The Linear weights a ModelOpt FP8 checkpoint stores as F8_E4M3: in/out_proj and up/down_proj. */
        public boolean fp8Capable() {
            return this == MAMBA_IN_PROJ || this == MAMBA_OUT_PROJ || this == MLP_UP_PROJ || this == MLP_DOWN_PROJ;
        }

        /** Linear weights, {@code [out, in]}. */
        public boolean isLinear() {
            return fp8Capable() || this == LM_HEAD || this == ATTENTION_Q_PROJ || this == ATTENTION_K_PROJ
                    || this == ATTENTION_V_PROJ || this == ATTENTION_O_PROJ;
        }
    }

    /** One tensor the config implies. {@code layer} is -1 outside the residual blocks. */
    public record Weight(String name, long[] shape, Role role, int layer) {
        public Weight {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }

        /** The module's name: the tensor name without its last component ({@code .weight}, {@code .bias}...). */
        public String module() {
            int dot = name.lastIndexOf('.');
            return dot < 0 ? name : name.substring(0, dot);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Weight w && w.name.equals(name) && Arrays.equals(w.shape, shape) && w.role == role
                    && w.layer == layer;
        }

        @Override
        public int hashCode() {
            return name.hashCode() * 31 + Arrays.hashCode(shape);
        }

        @Override
        public String toString() {
            return name + " " + TensorInfo.formatShape(shape) + " " + role;
        }
    }

    private NemotronHLayout() {
    }

    /** {@code backbone.layers.{layer}.} */
    public static String layerPrefix(int layer) {
        return "backbone.layers." + layer + ".";
    }

    /** {@code backbone.layers.{layer}.mixer.{suffix}} */
    public static String mixer(int layer, String suffix) {
        return layerPrefix(layer) + "mixer." + suffix;
    }

    /** Every tensor the config implies, in model order (embeddings, each layer's norm and mixer, norm_f, lm_head). */
    public static List<Weight> weights(ModelConfig c) {
        long hidden = c.hiddenSize();
        List<Weight> w = new ArrayList<>();
        w.add(new Weight(EMBEDDINGS, new long[] {c.vocabSize(), hidden}, Role.EMBEDDINGS, -1));
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            w.add(new Weight(layerPrefix(i) + "norm.weight", new long[] {hidden}, Role.LAYER_NORM, i));
            switch (c.layer(i)) {
                case MAMBA -> {
                    long heads = c.mambaNumHeads();
                    long dInner = c.mambaDInner();
                    long convDim = c.convDim();
                    w.add(new Weight(mixer(i, "in_proj.weight"), new long[] {c.inProjDim(), hidden}, Role.MAMBA_IN_PROJ, i));
                    w.add(new Weight(mixer(i, "conv1d.weight"), new long[] {convDim, 1, c.convKernel()}, Role.MAMBA_CONV_WEIGHT, i));
                    if (c.useConvBias()) {
                        w.add(new Weight(mixer(i, "conv1d.bias"), new long[] {convDim}, Role.MAMBA_CONV_BIAS, i));
                    }
                    w.add(new Weight(mixer(i, "dt_bias"), new long[] {heads}, Role.MAMBA_DT_BIAS, i));
                    w.add(new Weight(mixer(i, "A_log"), new long[] {heads}, Role.MAMBA_A_LOG, i));
                    w.add(new Weight(mixer(i, "D"), new long[] {heads}, Role.MAMBA_D, i));
                    w.add(new Weight(mixer(i, "norm.weight"), new long[] {dInner}, Role.MAMBA_NORM, i));
                    w.add(new Weight(mixer(i, "out_proj.weight"), new long[] {hidden, dInner}, Role.MAMBA_OUT_PROJ, i));
                }
                case ATTENTION -> {
                    long q = (long) c.numAttentionHeads() * c.attentionHeadDim();
                    long kv = (long) c.numKeyValueHeads() * c.attentionHeadDim();
                    w.add(new Weight(mixer(i, "q_proj.weight"), new long[] {q, hidden}, Role.ATTENTION_Q_PROJ, i));
                    w.add(new Weight(mixer(i, "k_proj.weight"), new long[] {kv, hidden}, Role.ATTENTION_K_PROJ, i));
                    w.add(new Weight(mixer(i, "v_proj.weight"), new long[] {kv, hidden}, Role.ATTENTION_V_PROJ, i));
                    w.add(new Weight(mixer(i, "o_proj.weight"), new long[] {hidden, q}, Role.ATTENTION_O_PROJ, i));
                }
                case MLP -> {
                    long inter = c.intermediateSize();
                    w.add(new Weight(mixer(i, "up_proj.weight"), new long[] {inter, hidden}, Role.MLP_UP_PROJ, i));
                    w.add(new Weight(mixer(i, "down_proj.weight"), new long[] {hidden, inter}, Role.MLP_DOWN_PROJ, i));
                }
            }
        }
        w.add(new Weight(NORM_F, new long[] {hidden}, Role.FINAL_NORM, -1));
        if (!c.tieWordEmbeddings()) {
            w.add(new Weight(LM_HEAD, new long[] {c.vocabSize(), hidden}, Role.LM_HEAD, -1));
        }
        return List.copyOf(w);
    }
}
