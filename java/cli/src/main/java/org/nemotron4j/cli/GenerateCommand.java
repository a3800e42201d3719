package org.nemotron4j.cli;

import org.nemotron4j.Device;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;

import java.io.PrintStream;
import java.util.List;
import java.util.Arrays;
import java.util.stream.Collectors;

/** {@code generate}: greedy continuation of a prompt given as token ids; prints the generated ids. */
final class GenerateCommand implements Command {
    @Override
    public String name() {
        return "generate";
    }

    @Override
    public String summary() {
        return "greedy continuation of token ids; prints the generated ids";
    }

    @Override
    public List<String> description() {
        return List.of(
                "Prints the N greedy ids, comma-separated, on one line (tokens/s on stderr).");
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "checkpoint directory"),
                Opt.value("--ids", "IDS", "input token ids, comma-separated (e.g. 5,17,42)"),
                Opt.value("--tokens,-n", "N", "how many greedy ids to generate (default 16)"),
                Opt.value("--device", "DEVICE", "cpu (default) or cuda:N"),
                Opt.value("--precision", "fast|exact", "fast (default) or exact (f32, as the golden fixtures)"),
                Opt.value("--kv", "f32|bf16", "KV cache element type"),
                Opt.flag("--check-tensors", "read every weight once at load and refuse NaN or infinite values"),
                Opt.flag("--no-mmap", "read the weights into memory instead of mapping the files"),
                GenerationFlags.FP8,
                GenerationFlags.QUANTIZE,
                GenerationFlags.QUANTIZE_POLICY);
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        int[] ids = a.ints("ids");
        int n = a.integer("tokens", 16);
        Device device = Device.parse(a.string("device", "cpu"));
        try (NemotronModel model = NemotronModel.load(a.path("model"), device, GenerationFlags.loadOptions(a));
             Session session = model.newSession()) {
            long t0 = System.nanoTime();
            int[] generated = session.generateGreedy(ids, n);
            double s = (System.nanoTime() - t0) / 1e9;
            out.println(Arrays.stream(generated).mapToObj(Integer::toString).collect(Collectors.joining(",")));
            err.printf("%d prompt + %d generated tokens in %.2f s%n", ids.length, n, s);
        }
        return 0;
    }
}
