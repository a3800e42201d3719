package org.nemotron4j.cli;

import org.nemotron4j.ModelConfig;
import org.nemotron4j.checkpoint.ModelGenerator;

import java.io.PrintStream;
import java.util.List;
import java.nio.file.Path;

/** {@code create-model}: writes a random-weight checkpoint in the Hugging Face layout. */
final class CreateModelCommand implements Command {
    @Override
    public String name() {
        return "create-model";
    }

    @Override
    public String summary() {
        return "write a random-weight checkpoint (config.json + model.safetensors) for tests and benchmarks";
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--config", "FILE", "a Nemotron-H config.json (e.g. ../shared/fixtures/configs/bench-medium.json)"),
                Opt.value("--out", "DIR", "output directory (created; existing model files are replaced)"),
                Opt.value("--seed", "N", "random seed (default 0); the same seed writes the same bytes"),
                Opt.flag("--fp8", "store in/out/up/down projections as FP8 e4m3 with per-tensor scales (ModelOpt form)"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        ModelConfig config = ModelConfig.read(a.path("config"));
        Path dir = a.path("out");
        long seed = a.longValue("seed", 0);
        ProgressBar bar = new ProgressBar(err, "writing " + dir.getFileName());
        ModelGenerator.generate(config, dir, seed, a.flag("fp8"), bar::update);
        out.printf("wrote %s: %,d parameters, %s%n", dir, config.parameterCount(), a.flag("fp8") ? "FP8 (ModelOpt)" : "BF16");
        return 0;
    }
}
