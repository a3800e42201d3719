package org.nemotron4j.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.quant.ImportanceMatrix;
import org.nemotron4j.quant.QuantPolicy;
import org.nemotron4j.quant.QuantType;
import org.nemotron4j.quant.Quantizer;

/** {@code quantize}: writes a q8 / q4 / q6 block-quantized copy of a BF16 or ModelOpt FP8 checkpoint. */
final class QuantizeCommand implements Command {
    @Override
    public String name() {
        return "quantize";
    }

    @Override
    public String summary() {
        return "write a q8, q4 or q6 block-quantized copy of a BF16 or FP8 checkpoint (CPU inference)";
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "the checkpoint to quantize (BF16/F16/F32 or ModelOpt FP8)"),
                Opt.value("--out", "DIR", "output directory (created; must differ from --model)"),
                Opt.value("--type", "TYPE", "q8 (blocks of 32, 8.5 bits/weight), q4 (super-blocks of 256 with 8-bit"
                        + " sub-block scales and minimums, 4.625 bits/weight) or q6 (blocks of 32, 6.5 bits/weight)"),
                Opt.value("--policy", "LIST", "which weights: 'default' Mamba in/out_proj, MLP up/down_proj; 'mixed'"
                        + " the same with out_proj, attention and lm_head at q8; 'mixed6' (q4's default) those at q6;"
                        + " 'all' (q8's and q6's default) adds attention and lm_head; items like lm_head=q8 or"
                        + " in_proj=keep override"),
                Opt.value("--calibration", "TEXT", "fit each weight to its input columns' importance, measured by running"
                        + " --model over this text (not the text the result will be judged on)"),
                Opt.value("--calibration-tokens", "N", "tokens of --calibration text to run (default "
                        + DEFAULT_CALIBRATION_TOKENS + "; 0: all of it)"),
                Opt.value("--calibration-ctx", "N", "tokens per calibration window, each in a fresh session (default "
                        + DEFAULT_CALIBRATION_CTX + ")"),
                Opt.flag("--error-feedback", "with --calibration: also measure the inputs' second moments and round"
                        + " each row's columns in order, moving the rest to compensate (GPTQ; inputs up to "
                        + ImportanceMatrix.MAX_SECOND_MOMENT_COLUMNS + " wide)"),
                Opt.value("--save-imatrix", "FILE", "also write the importance measured with --calibration to FILE"),
                Opt.value("--imatrix", "FILE", "fit to the importance saved by an earlier --save-imatrix (instead of"
                        + " --calibration)"));
    }

    static final long DEFAULT_CALIBRATION_TOKENS = 65536;
    static final int DEFAULT_CALIBRATION_CTX = 512;

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        Path in = a.path("model");
        Path dir = a.path("out");
        QuantType type = QuantType.of(a.required("type"));
        QuantPolicy policy = QuantPolicy.parse(a.string("policy", QuantPolicy.defaultFor(type)), type);
        ImportanceMatrix imatrix = importance(a, in, out, err);
        ProgressBar bar = new ProgressBar(err, "quantizing " + in.getFileName() + " to " + type.id());
        Quantizer.Result r = Quantizer.quantize(in, dir, type, policy, imatrix, bar::update);
        out.printf("wrote %s: %s, policy \"%s\", %,d -> %,d bytes of tensors%n", dir, type.id(), policy.spec(),
                r.inputBytes(), r.outputBytes());
        if (imatrix != null) {
            out.printf("  fitted to the importance of %,d tokens of %s%s%n", imatrix.tokens(), imatrix.source(),
                    imatrix.hasSecondMoments() ? ", rounded with error feedback" : "");
        }
        r.quantizedWeights().forEach((t, n) -> out.printf("  %s: %,d weights%n", t, n));
        for (String f : r.fallbacks()) {
            out.println("  fallback: " + f);
        }
        return 0;
    }

    /** The importance matrix the options ask for: measured (--calibration), read (--imatrix), or none. */
    private static ImportanceMatrix importance(Args a, Path model, PrintStream out, PrintStream err) {
        boolean calibrate = a.has("calibration");
        if (calibrate && a.has("imatrix")) {
            throw new Args.UsageException("quantize: --calibration and --imatrix are alternatives: give one");
        }
        for (String o : new String[] {"calibration-tokens", "calibration-ctx", "save-imatrix", "error-feedback"}) {
            if (!calibrate && (o.equals("error-feedback") ? a.flag(o) : a.has(o))) {
                throw new Args.UsageException("quantize: --" + o + " needs --calibration TEXT");
            }
        }
        if (a.has("imatrix")) {
            return ImportanceMatrix.load(a.path("imatrix"));
        }
        if (!calibrate) {
            return null;
        }
        Path text = a.path("calibration");
        if (!Files.isRegularFile(text)) {
            throw new Args.UsageException("quantize: --calibration " + text + " is not a readable text file");
        }
        long tokens = a.longValue("calibration-tokens", DEFAULT_CALIBRATION_TOKENS);
        if (tokens < 0) {
            throw new Args.UsageException("quantize: --calibration-tokens must be >= 0 (0: the whole text), got " + tokens);
        }
        int ctx = a.integer("calibration-ctx", DEFAULT_CALIBRATION_CTX);
        if (ctx < 1) {
            throw new Args.UsageException("quantize: --calibration-ctx must be >= 1, got " + ctx);
        }
        ImportanceMatrix m;
        try (NemotronModel nm = NemotronModel.load(model, Device.cpu(), LoadOptions.exact())) {
            ProgressBar bar = new ProgressBar(err, "calibrating on " + text.getFileName());
            m = ImportanceMatrix.collect(nm, text, ctx, tokens, a.flag("error-feedback"), bar::update);
        }
        out.printf("calibration: %,d tokens of %s, %d weights measured%n", m.tokens(), text, m.meanSquares().size());
        if (a.has("save-imatrix")) {
            m.save(a.path("save-imatrix"));
            out.println("  importance matrix written to " + a.path("save-imatrix"));
        }
        return m;
    }
}
