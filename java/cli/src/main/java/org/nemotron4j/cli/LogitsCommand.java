package org.nemotron4j.cli;

import org.nemotron4j.Device;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.checkpoint.SafetensorsWriter;

import java.io.PrintStream;
import java.util.List;
import java.nio.file.Path;

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
    public List<String> description() {
        return List.of(
                "Writes one F32 tensor \"logits\" of shape [tokens, vocab]: the logits after every input position.");
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "checkpoint directory"),
                Opt.value("--ids", "IDS", "input token ids, comma-separated (e.g. 5,17,42)"),
                Opt.value("--out", "FILE", "the safetensors file to write"),
                Opt.flag("--decode", "the first id by prefill, every later one by the recurrent decode step"),
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
