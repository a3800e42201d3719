package org.nemotron4j.cli;

import org.nemotron4j.Device;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
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
    public String usage() {
        return """
                usage: nemotron4j generate --model DIR --ids 5,17,42 -n N [--device cpu|cuda:0] [--precision fast|exact] [--kv f32|bf16] [--check-tensors] [--no-mmap]
                  prints the N greedy ids, comma-separated, on one line (tokens/s on stderr)""";
    }

    @Override
    public int run(String[] argv, PrintStream out, PrintStream err) {
        Args a = Args.parse(name(), argv, 1, Set.of("model", "ids", "tokens", "device", "precision", "kv"), Set.of("check-tensors", "no-mmap"), Map.of("n", "tokens"));
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
