package org.nemotron4j.cli;

import org.nemotron4j.Channel;
import org.nemotron4j.DType;
import org.nemotron4j.ChatRequest;
import org.nemotron4j.Device;
import org.nemotron4j.GenerationDelta;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Fp8Activations;
import org.nemotron4j.Precision;
import org.nemotron4j.Usage;
import org.nemotron4j.generate.GenerationStream;
import org.nemotron4j.quant.QuantPolicy;
import org.nemotron4j.quant.QuantType;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.BooleanSupplier;

/** The model and sampling options {@code run} and {@code chat} share, and how a reply is streamed to the terminal. */
final class GenerationFlags {
    /** --quantize: quantize-on-load. */
    static final Opt QUANTIZE = Opt.value("--quantize", "q8|q4|q6", "quantize the Linear weights while loading (a bf16, f16,\n"
            + "f32 or FP8 checkpoint); 'nemotron4j quantize' does it once, ahead");
    /** --quantize-policy: which weights quantize-on-load quantizes. */
    static final Opt QUANTIZE_POLICY = Opt.value("--quantize-policy", "SPEC", "with --quantize: which weights, as quantize\n"
            + "--policy (default: as quantize's for the type)");

    /** --fp8: what matmuls over FP8 weights do with their activations. */
    static final Opt FP8 = Opt.value("--fp8", "weight-only|w8a8", "FP8 (ModelOpt) checkpoints: weight-only (default: the\n"
            + "activations keep their precision) or w8a8 (activations quantized to e4m3 with\n"
            + "the checkpoint's input_scale; FP8 tensor cores on cuda, compute capability 8.9+)");

    /** The options {@code run} and {@code chat} share. */
    static final List<Opt> OPTIONS = List.of(
            Opt.value("--model", "DIR", "checkpoint directory (default: the demo model, a small base model trained on the KJV Bible)"),
            Opt.value("--device", "DEVICE", "cpu (default) or cuda:N"),
            Opt.value("--precision", "fast|exact", "fast (default): matmul inputs rounded to bf16 (bf16 dot products on CPUs\n"
                    + "with AVX512-BF16) and a bf16 KV cache; exact: f32, as the golden fixtures"),
            Opt.value("--kv", "f32|bf16", "KV cache element type (default: bf16, or f32 with --precision exact on cpu)"),
            Opt.value("--activations", "f32|bf16", "activation element type (default f32 on cpu, bf16 on cuda)"),
            Opt.value("--matmul", "f32|bf16", "what matmul inputs are rounded to (default: bf16 in fast mode, else the\n"
                    + "activation type)"),
            FP8,
            Opt.flag("--check-tensors", "read every weight once at load and refuse NaN or infinite values"),
            Opt.flag("--no-mmap", "read the weights into memory instead of mapping the files"),
            QUANTIZE,
            QUANTIZE_POLICY,
            Opt.flag("--no-cuda-graphs", "cuda: run each decode step's kernels eagerly instead of replaying a CUDA\n"
                    + "graph per batch shape (for debugging; slower)"),
            Opt.value("--system", "TEXT", "system message"),
            Opt.value("--max-tokens", "N", "stop after N generated tokens (default 512)"),
            Opt.flag("--no-think", "reasoning off (as /no_think in the system message)"),
            Opt.value("--thinking-budget", "N", "end the reasoning after about N tokens (at the next newline)"),
            Opt.value("--temperature", "T", "sampling temperature (0: greedy; default: the checkpoint's)"),
            Opt.value("--top-p", "P", "nucleus sampling"),
            Opt.value("--top-k", "K", "sample among the K most likely tokens"),
            Opt.value("--min-p", "P", "drop tokens below P x the most likely one's probability"),
            Opt.value("--seed", "S", "random seed (the same seed, the same output)"),
            Opt.value("--repetition-penalty", "R", "penalty on tokens already present"),
            Opt.value("--presence-penalty", "P", "OpenAI-style presence penalty"),
            Opt.value("--frequency-penalty", "F", "OpenAI-style frequency penalty"),
            Opt.repeatable("--stop", "TEXT", "stop string (not printed); repeat for several"),
            Opt.flag("--hide-reasoning", "do not print the reasoning (it goes to stderr, dimmed on a terminal)"));

    /** {@link #OPTIONS} after {@code first}. */
    static List<Opt> options(Opt... first) {
        List<Opt> all = new ArrayList<>(List.of(first));
        all.addAll(OPTIONS);
        return all;
    }

    static NemotronModel load(Args a, PrintStream err) {
        Path dir = a.has("model") ? a.path("model") : DemoModel.ensure(DemoModel.defaultDirectory(), err);
        Device device = Device.parse(a.string("device", "cpu"));
        ProgressBar bar = new ProgressBar(err, "loading " + dir.getFileName());
        return NemotronModel.load(dir, device, loadOptions(a).withProgress(bar));
    }

    /**
     * LoadOptions from --precision, --kv, --activations, --matmul and --fp8 (each absent one takes its default), and, where
     * the command accepts them, --check-tensors and --no-mmap.
     */
    static LoadOptions loadOptions(Args a) {
        return fileOptions(a, LoadOptions.defaults()).withPrecision(precision(a)).withKvCacheDtype(kvCacheDtype(a, null))
                .withActivationDtype(activationDtype(a, null)).withMatmulDtype(matmulDtype(a))
                .withCudaGraphs(!a.flag("no-cuda-graphs")).withQuantize(quantize(a), quantizePolicy(a))
                .withFp8Activations(fp8(a));
    }

    /** --fp8 weight-only|w8a8, or null (the default, weight-only) when absent; a usage error names the option. */
    static Fp8Activations fp8(Args a) {
        if (!a.has("fp8")) {
            return null;
        }
        String v = a.string("fp8", "");
        return switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "weight-only" -> Fp8Activations.WEIGHT_ONLY;
            case "w8a8" -> Fp8Activations.W8A8;
            default -> throw new Args.UsageException("--fp8 must be weight-only or w8a8, got " + v);
        };
    }

    /** --quantize-policy, or the --quantize type's default policy (as {@code quantize}); null without --quantize. */
    static String quantizePolicy(Args a) {
        QuantType type = quantize(a);
        return type == null ? null : a.string("quantize-policy", QuantPolicy.defaultFor(type));
    }

    /** --quantize q8|q4|q6, or null when absent; --quantize-policy without --quantize is a usage error. */
    static QuantType quantize(Args a) {
        if (!a.has("quantize")) {
            if (a.has("quantize-policy")) {
                throw new Args.UsageException("--quantize-policy needs --quantize q8|q4|q6");
            }
            return null;
        }
        String v = a.string("quantize", "");
        return QuantType.find(v.toLowerCase(java.util.Locale.ROOT)).orElseThrow(
                () -> new Args.UsageException("--quantize must be q8, q4 or q6, got " + v));
    }

    /** {@code options} with the --check-tensors and --no-mmap flags applied. */
    static LoadOptions fileOptions(Args a, LoadOptions options) {
        return options.withCheckTensors(a.flag("check-tensors")).withMemoryMap(!a.flag("no-mmap"));
    }

    /** --precision fast|exact, or null (the default, fast) when absent; a usage error names the option. */
    static Precision precision(Args a) {
        if (!a.has("precision")) {
            return null;
        }
        String v = a.string("precision", "");
        return switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "fast" -> Precision.FAST;
            case "exact" -> Precision.EXACT;
            default -> throw new Args.UsageException("--precision must be fast or exact, got " + v);
        };
    }

    /** --matmul f32|bf16 (what matmuls round their inputs to), or null (the activation type) when absent. */
    static DType matmulDtype(Args a) {
        return f32OrBf16(a, "matmul", null);
    }

    /** --activations f32|bf16 (the engine's activation element type), or {@code def} when absent. */
    static DType activationDtype(Args a, DType def) {
        return f32OrBf16(a, "activations", def);
    }

    /** The --kv option as a KV cache element type: {@code def} when absent; a usage error names the option. */
    static DType kvCacheDtype(Args a, DType def) {
        return f32OrBf16(a, "kv", def);
    }

    private static DType f32OrBf16(Args a, String option, DType def) {
        if (!a.has(option)) {
            return def;
        }
        return switch (a.string(option, "").toLowerCase(java.util.Locale.ROOT)) {
            case "bf16" -> DType.BF16;
            case "f32" -> DType.F32;
            default -> throw new Args.UsageException("--" + option + " must be bf16 or f32, got " + a.string(option, ""));
        };
    }

    /** Applies the sampling and reasoning options to a request. */
    static ChatRequest apply(Args a, ChatRequest r, boolean reasoning) {
        r = r.maxTokens(a.integer("max-tokens", 512)).reasoning(reasoning);
        if (a.has("thinking-budget")) {
            r = r.thinkingBudget(a.integer("thinking-budget", 0));
        }
        if (a.has("temperature")) {
            r = r.temperature(a.number("temperature", 0));
        }
        if (a.has("top-p")) {
            r = r.topP(a.number("top-p", 1));
        }
        if (a.has("top-k")) {
            r = r.topK(a.integer("top-k", 0));
        }
        if (a.has("min-p")) {
            r = r.minP(a.number("min-p", 0));
        }
        if (a.has("seed")) {
            r = r.seed(a.longValue("seed", 0));
        }
        if (a.has("repetition-penalty")) {
            r = r.repetitionPenalty(a.number("repetition-penalty", 1));
        }
        if (a.has("presence-penalty")) {
            r = r.presencePenalty(a.number("presence-penalty", 0));
        }
        if (a.has("frequency-penalty")) {
            r = r.frequencyPenalty(a.number("frequency-penalty", 0));
        }
        if (a.has("stop")) {
            r = r.stopStrings(a.strings("stop").toArray(String[]::new));
        }
        return r;
    }

    /**
     * Streams a reply: answer text to {@code out}, reasoning to {@code err} (dimmed on a terminal) unless hidden;
     * returns the answer text. Prints prompt and generation speed to {@code err} at the end.
     */
    static String stream(GenerationStream stream, PrintStream out, PrintStream err, boolean showReasoning) {
        return stream(stream, out, err, showReasoning, () -> false);
    }

    /**
     * As {@link #stream(GenerationStream, PrintStream, PrintStream, boolean)}, stopping early (the answer so far
     * kept) when {@code stop} turns true, e.g. after Ctrl-C in {@code chat}. {@code stream} is a session's
     * {@link GenerationStream} or a scheduler's request.
     */
    static String stream(Iterator<GenerationDelta> stream, PrintStream out, PrintStream err, boolean showReasoning,
                         BooleanSupplier stop) {
        boolean tty = Terminal.ansi();
        StringBuilder answer = new StringBuilder();
        Usage usage = null;
        boolean inReasoning = false;
        while (stream.hasNext()) {
            if (stop.getAsBoolean()) {
                err.print(inReasoning && tty ? "\u001b[0m\n" : inReasoning ? "\n" : "");
                out.println();
                err.println("[stopped]");
                break;
            }
            GenerationDelta d = stream.next();
            if (!d.text().isEmpty()) {
                if (d.channel() == Channel.REASONING) {
                    if (showReasoning) {
                        if (!inReasoning) {
                            err.print(tty ? "\u001b[2m" : "");
                            inReasoning = true;
                        }
                        err.print(d.text());
                        err.flush();
                    }
                } else {
                    if (inReasoning) {
                        err.print(tty ? "\u001b[0m\n" : "\n");
                        err.flush();
                        inReasoning = false;
                    }
                    out.print(d.text());
                    out.flush();
                    answer.append(d.text());
                }
            }
            if (d.isLast()) {
                usage = d.usage();
                if (inReasoning) {
                    err.print(tty ? "\u001b[0m\n" : "\n");
                }
                out.println();
                err.printf("[%s; prompt %d tokens, %.1f tok/s; generated %d tokens (%d reasoning), %.1f tok/s]%n",
                        d.finishReason().toString().toLowerCase(), usage.promptTokens(), usage.promptTokensPerSecond(),
                        usage.generatedTokens(), usage.reasoningTokens(), usage.generationTokensPerSecond());
            }
        }
        return answer.toString();
    }
}
