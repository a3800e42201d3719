package org.nemotron4j.cli;

import org.nemotron4j.DType;
import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.MemoryPlan;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronException;
import org.nemotron4j.quant.QuantPolicy;
import org.nemotron4j.quant.QuantType;

import java.io.PrintStream;
import java.util.List;

/** {@code plan}: bytes per component for a context length and batch, before loading anything. */
final class PlanCommand implements Command {
    @Override
    public String name() {
        return "plan";
    }

    @Override
    public String summary() {
        return "print the memory a model needs at a context length and batch (weights, KV, states, workspace)";
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--config", "FILE", "a Nemotron-H config.json"),
                Opt.value("--context", "N", "tokens of context per sequence (default: max_position_embeddings)"),
                Opt.value("--batch", "B", "sequences decoded together (default 1)"),
                Opt.value("--weights", "bf16|fp8|f32|q8|q4|q6", "bf16 (default), fp8 (NVIDIA's FP8 checkpoints: projections in\n"
                        + "e4m3), or q8/q4/q6 (block-quantized Linear weights, as 'quantize' or --quantize make them;\n"
                        + "a quantized checkpoint's config.json is planned as stored)"),
                Opt.value("--quantize-policy", "SPEC", "with --weights q8|q4|q6: which weights, as quantize --policy"),
                Opt.value("--kv", "bf16|f32", "KV cache dtype: bf16 (GPU, default) or f32 (the CPU engine)"),
                Opt.value("--activations", "bf16|f32", "activation dtype: bf16 (GPU) or f32 (the CPU engine); default: the --kv one"),
                Opt.value("--device", "cpu|cuda", "the defaults of that device: the prefill chunk (cpu "
                        + LoadOptions.DEFAULT_PREFILL_CHUNK + ", cuda " + LoadOptions.DEFAULT_GPU_PREFILL_CHUNK
                        + ") and the activation dtype (cpu f32, cuda bf16)"),
                Opt.value("--chunk", "T", "prefill chunk, the workspace's rows (default: the device's, else "
                        + LoadOptions.DEFAULT_PREFILL_CHUNK + ")"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        ModelConfig config = ModelConfig.read(a.path("config"));
        String w = a.string("weights", "bf16").toLowerCase(java.util.Locale.ROOT);
        QuantPolicy quantize = null;
        DType weights = switch (w) {
            case "bf16", "q8", "q4", "q6" -> DType.BF16;
            case "fp8" -> DType.F8_E4M3;
            case "f32" -> DType.F32;
            default -> throw new Args.UsageException("plan: --weights must be bf16, fp8, f32, q8, q4 or q6, got " + w);
        };
        if (w.startsWith("q")) {
            QuantType qt = QuantType.find(w).orElseThrow();
            quantize = QuantPolicy.parse(a.string("quantize-policy", QuantPolicy.defaultFor(qt)), qt);
        } else if (a.has("quantize-policy")) {
            throw new Args.UsageException("plan: --quantize-policy needs --weights q8, q4 or q6");
        }
        Device device;
        try {
            device = a.has("device") ? Device.parse(a.string("device", "")) : null;
        } catch (NemotronException e) {
            throw new Args.UsageException("plan: --device: " + e.getMessage());
        }
        boolean cuda = device != null && device.kind() == Device.Kind.CUDA;
        DType kv = GenerationFlags.kvCacheDtype(a, DType.BF16);
        // the engine's defaults: f32 activations on the cpu, bf16 on cuda; without --device, those of the KV dtype
        DType act = GenerationFlags.activationDtype(a, device == null ? kv : cuda ? DType.BF16 : DType.F32);
        int context = a.integer("context", config.maxPositionEmbeddings());
        int chunk = a.integer("chunk", cuda ? LoadOptions.DEFAULT_GPU_PREFILL_CHUNK : LoadOptions.DEFAULT_PREFILL_CHUNK);
        MemoryPlan plan = MemoryPlan.of(config, context, a.integer("batch", 1), weights, quantize, kv, act, chunk);
        out.print(plan.table());
        return 0;
    }
}
