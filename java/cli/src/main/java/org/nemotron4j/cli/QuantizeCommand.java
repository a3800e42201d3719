package org.nemotron4j.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.nemotron4j.quant.QuantPolicy;
import org.nemotron4j.quant.QuantType;
import org.nemotron4j.quant.Quantizer;

/** {@code quantize}: writes a q8 / q4 block-quantized copy of a BF16 or ModelOpt FP8 checkpoint. */
final class QuantizeCommand implements Command {
    @Override
    public String name() {
        return "quantize";
    }

    @Override
    public String summary() {
        return "write a q8 or q4 block-quantized copy of a BF16 or FP8 checkpoint (CPU inference)";
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "the checkpoint to quantize (BF16/F16/F32 or ModelOpt FP8)"),
                Opt.value("--out", "DIR", "output directory (created; must differ from --model)"),
                Opt.value("--type", "TYPE", "q8 (blocks of 32, 8.5 bits/weight) or q4 (super-blocks of 256 with 8-bit"
                        + " sub-block scales and minimums, 4.625 bits/weight)"),
                Opt.value("--policy", "LIST", "which weights (default: Mamba in/out_proj, MLP up/down_proj; 'all' adds"
                        + " attention and lm_head; items like lm_head=q8 or in_proj=keep override)"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        Path in = a.path("model");
        Path dir = a.path("out");
        QuantType type = QuantType.of(a.required("type"));
        QuantPolicy policy = QuantPolicy.parse(a.string("policy", QuantPolicy.DEFAULT), type);
        ProgressBar bar = new ProgressBar(err, "quantizing " + in.getFileName() + " to " + type.id());
        Quantizer.Result r = Quantizer.quantize(in, dir, type, policy, bar::update);
        out.printf("wrote %s: %s, policy \"%s\", %,d -> %,d bytes of tensors%n", dir, type.id(), policy.spec(),
                r.inputBytes(), r.outputBytes());
        r.quantizedWeights().forEach((t, n) -> out.printf("  %s: %,d weights%n", t, n));
        for (String f : r.fallbacks()) {
            out.println("  fallback: " + f);
        }
        return 0;
    }
}
