package org.nemotron4j.cli;

import org.nemotron4j.DType;
import org.nemotron4j.LayerKind;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.checkpoint.Checkpoint;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.quant.QuantType;

import java.io.PrintStream;
import java.util.Map;
import java.util.List;
import java.util.TreeMap;

/** {@code inspect}: the config summary, layer pattern, parameter count and dtypes of a checkpoint. */
final class InspectCommand implements Command {
    @Override
    public String name() {
        return "inspect";
    }

    @Override
    public String summary() {
        return "print a checkpoint's config summary, layer pattern, parameter count and dtypes";
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "checkpoint directory"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        try (Checkpoint ckpt = Checkpoint.open(a.path("model"))) {
            ckpt.validate();
            ModelConfig c = ckpt.config();
            out.println("model:        " + ckpt.directory());
            out.printf("layers:       %d (%d Mamba-2, %d attention, %d MLP)%n", c.numHiddenLayers(),
                    c.count(LayerKind.MAMBA), c.count(LayerKind.ATTENTION), c.count(LayerKind.MLP));
            out.println("pattern:      " + c.hybridOverridePattern());
            out.printf("hidden:       %d, vocab %d, context %d, rms eps %g%n", c.hiddenSize(), c.vocabSize(),
                    c.maxPositionEmbeddings(), c.rmsNormEps());
            out.printf("mamba-2:      %d heads x %d, state %d, %d groups, conv %d, chunk %d (d_inner %d)%n",
                    c.mambaNumHeads(), c.mambaHeadDim(), c.ssmStateSize(), c.nGroups(), c.convKernel(), c.chunkSize(), c.mambaDInner());
            out.printf("attention:    %d query heads, %d KV heads, head dim %d, no positional encoding%n",
                    c.numAttentionHeads(), c.numKeyValueHeads(), c.attentionHeadDim());
            out.printf("mlp:          %d (relu^2, no gate)%n", c.intermediateSize());
            out.printf("parameters:   %,d%n", c.parameterCount());
            out.println("quantization: " + c.quantization().map(q -> q.method() + " " + q.algo()).orElse("none"));
            Map<DType, long[]> byType = new TreeMap<>();
            for (TensorInfo t : ckpt.tensors()) {
                long[] acc = byType.computeIfAbsent(t.dtype(), k -> new long[3]);
                acc[0]++;
                acc[1] += t.elementCount();
                acc[2] += t.byteSize();
            }
            for (Map.Entry<DType, long[]> e : byType.entrySet()) {
                out.printf("dtype %-8s %5d tensors, %,15d elements, %s%n", e.getKey(), e.getValue()[0], e.getValue()[1],
                        ProgressBar.human(e.getValue()[2]));
            }
            // block-quantized modules: quants + scales per type, and what that is per weight
            var block = c.quantization().filter(ModelConfig.Quantization::isBlock);
            if (block.isPresent()) {
                Map<String, long[]> byQuant = new TreeMap<>();
                for (Map.Entry<String, String> m : block.get().modules().entrySet()) {
                    TensorInfo q = ckpt.tensor(m.getKey() + ".weight");
                    TensorInfo sc = ckpt.tensor(m.getKey() + "." + QuantType.SCALES_SUFFIX);
                    QuantType type = QuantType.of(m.getValue());
                    long weights = q.shape()[0] * type.cols(q.shape()[1]);
                    long[] acc = byQuant.computeIfAbsent(m.getValue(), k -> new long[3]);
                    acc[0]++;
                    acc[1] += weights;
                    acc[2] += q.byteSize() + sc.byteSize();
                }
                for (Map.Entry<String, long[]> e : byQuant.entrySet()) {
                    long[] v = e.getValue();
                    out.printf("%-13s %d modules, %,d weights, %s (%.3f bits/weight, quants + scales)%n",
                            e.getKey() + ":", v[0], v[1], ProgressBar.human(v[2]), 8.0 * v[2] / Math.max(1, v[1]));
                }
                out.println("policy:       " + block.get().policy());
            }
            out.println("file bytes:   " + ProgressBar.human(ckpt.totalBytes()));
        }
        return 0;
    }
}
