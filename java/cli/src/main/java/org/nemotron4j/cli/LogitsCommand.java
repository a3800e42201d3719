package org.nemotron4j.cli;

import org.nemotron4j.Device;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.checkpoint.SafetensorsWriter;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/** {@code logits}: the logits after every input position, by one prefill or token by token, to a safetensors file. */
final class LogitsCommand implements Command {
    @Override
    public String name() {
        return "logits";
    }

    @Override
    public String summary() {
        return "write the logits after every input position to a safetensors file";
    }

    @Override
    public String usage() {
        return """
                usage: nemotron4j logits --model DIR --ids 5,17,42 --out FILE [--decode] [--device cpu|cuda:0] [--precision fast|exact] [--kv f32|bf16] [--check-tensors] [--no-mmap]
                  writes one F32 tensor "logits" of shape [tokens, vocab]: one prefill of all ids, or with --decode
                  the first id by prefill and every later one by the recurrent decode step""";
    }

    @Override
    public int run(String[] argv, PrintStream out, PrintStream err) {
        Args a = Args.parse(name(), argv, 1, Set.of("model", "ids", "out", "device", "precision", "kv"), Set.of("decode", "check-tensors", "no-mmap"), Map.of());
        int[] ids = a.ints("ids");
        Path file = a.path("out");
        Device device = Device.parse(a.string("device", "cpu"));
        try (NemotronModel model = NemotronModel.load(a.path("model"), device, GenerationFlags.loadOptions(a));
             Session session = model.newSession()) {
            int v = model.config().vocabSize();
            float[] logits;
            if (a.flag("decode")) {
                logits = new float[ids.length * v];
                System.arraycopy(session.prefill(ids[0]), 0, logits, 0, v);
                for (int i = 1; i < ids.length; i++) {
                    System.arraycopy(session.decode(ids[i]), 0, logits, i * v, v);
                }
            } else {
                logits = session.prefillAll(ids);
            }
            SafetensorsWriter.writeF32(file, "logits", new long[] {ids.length, v}, logits);
        }
        out.println("wrote " + file + ": logits [" + ids.length + ", vocab]");
        return 0;
    }
}
