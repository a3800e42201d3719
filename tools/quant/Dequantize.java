// Diagnostic: writes a BF16 copy of a nemotron4j block-quantized checkpoint (every q8/q4/q6 weight dequantized by the
// format's definition, BlockQuantizer.dequantize, then rounded to BF16). Run through the ordinary BF16 path it gives
// the error of the weight quantization alone (activations as in bf16 fast mode, not int8):
//   java -cp java/cli/target/nemotron4j.jar tools/quant/Dequantize.java QUANTIZED_DIR OUT_DIR
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.nemotron4j.DType;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.checkpoint.BFloat16;
import org.nemotron4j.checkpoint.Checkpoint;
import org.nemotron4j.checkpoint.SafetensorsWriter;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.checkpoint.TensorSpec;
import org.nemotron4j.quant.BlockQuantizer;
import org.nemotron4j.quant.QuantType;

public class Dequantize {
    public static void main(String[] args) throws Exception {
        Path in = Path.of(args[0]);
        Path out = Path.of(args[1]);
        Files.createDirectories(out);
        try (Checkpoint ckpt = Checkpoint.open(in)) {
            ModelConfig config = ckpt.config();
            ModelConfig.Quantization q = config.quantization().orElseThrow();
            List<TensorSpec> specs = new ArrayList<>();
            List<TensorInfo> tensors = new ArrayList<>();
            for (TensorInfo t : ckpt.tensors()) {
                if (t.name().endsWith("." + QuantType.SCALES_SUFFIX)) {
                    continue;
                }
                String module = t.name().endsWith(".weight") ? t.name().substring(0, t.name().length() - 7) : "";
                Optional<String> type = q.blockType(module);
                if (type.isPresent()) {
                    long rows = t.shape()[0];
                    long cols = QuantType.of(type.get()).cols(t.shape()[1]);
                    specs.add(new TensorSpec(t.name(), DType.BF16, new long[] {rows, cols}));
                } else {
                    specs.add(new TensorSpec(t.name(), t.dtype(), t.shape()));
                }
                tensors.add(t);
            }
            try (SafetensorsWriter sw = SafetensorsWriter.create(out.resolve("model.safetensors"), specs, Map.of("format", "pt"))) {
                for (int k = 0; k < tensors.size(); k++) {
                    TensorInfo t = tensors.get(k);
                    TensorSpec s = specs.get(k);
                    String module = t.name().endsWith(".weight") ? t.name().substring(0, t.name().length() - 7) : "";
                    Optional<String> type = q.blockType(module);
                    if (type.isEmpty()) {
                        sw.write(t.name(), t.data());
                        continue;
                    }
                    QuantType qt = QuantType.of(type.get());
                    int rows = (int) s.shape()[0];
                    int cols = (int) s.shape()[1];
                    TensorInfo sc = ckpt.tensor(module + "." + QuantType.SCALES_SUFFIX);
                    int qRow = (int) qt.quantsRowBytes(cols);
                    int sRow = (int) qt.scalesRowBytes(cols);
                    byte[] qb = new byte[qRow];
                    byte[] sb = new byte[sRow];
                    byte[] row = new byte[2 * cols];
                    for (int r = 0; r < rows; r++) {
                        MemorySegment.copy(t.data(), java.lang.foreign.ValueLayout.JAVA_BYTE, (long) r * qRow, qb, 0, qRow);
                        MemorySegment.copy(sc.data(), java.lang.foreign.ValueLayout.JAVA_BYTE, (long) r * sRow, sb, 0, sRow);
                        for (int i = 0; i < cols; i++) {
                            short h = BFloat16.fromFloat(BlockQuantizer.dequantize(qt, qb, 0, sb, 0, cols, i));
                            row[2 * i] = (byte) h;
                            row[2 * i + 1] = (byte) (h >> 8);
                        }
                        sw.write(t.name(), row);
                    }
                }
            }
            Files.writeString(out.resolve("config.json"), config.withQuantization(Optional.empty()).toJson());
            try (var files = Files.list(in)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    String n = f.getFileName().toString();
                    if (Files.isRegularFile(f) && !n.equals("config.json") && !n.endsWith(".safetensors")) {
                        Files.copy(f, out.resolve(n), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
        }
        System.out.println("wrote " + out);
    }
}
