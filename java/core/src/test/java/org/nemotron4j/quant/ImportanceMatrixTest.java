package org.nemotron4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.checkpoint.BFloat16;
import org.nemotron4j.checkpoint.SafetensorsFile;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.eval.TextTokens;

/**
 * The calibration statistics of {@link ImportanceMatrix} on the demo model: the first layer's in_proj input is
 * RMSNorm(embedding) of each token whatever its context, so its mean squares are computed here independently and
 * must match; the second moments' diagonal equals the mean squares; the file form round-trips and a file that is
 * not one, or one made for another model, is refused.
 */
class ImportanceMatrixTest {
    private static final String IN_PROJ = "backbone.layers.0.mixer.in_proj.weight";

    @TempDir
    Path dir;

    static Path demoModel() {
        String p = System.getProperty("n4j.demoModel");
        return p != null ? Path.of(p) : Path.of("../../models/nemotron-h-demo");
    }

    private Path text() throws Exception {
        Path t = dir.resolve("calibration.txt");
        Files.writeString(t, Files.readString(demoModel().resolve("heldout.txt")).substring(0, 4000));
        return t;
    }

    @Test
    void firstLayerMeanSquaresMatchRmsNormOfTheEmbeddings() throws Exception {
        Path text = text();
        ImportanceMatrix m;
        int[] ids = new int[200];
        try (NemotronModel model = NemotronModel.load(demoModel(), Device.cpu(), LoadOptions.exact())) {
            m = ImportanceMatrix.collect(model, text, 64, 200, true, null);
            try (TextTokens src = new TextTokens(text, model.tokenizer())) {
                int n = 0;
                while (n < ids.length) {
                    n += src.read(ids, n, ids.length - n);
                }
            }
        }
        assertEquals(200, m.tokens());
        for (String w : new String[] {IN_PROJ, "backbone.layers.0.mixer.out_proj.weight",
                "backbone.layers.1.mixer.up_proj.weight", "backbone.layers.1.mixer.down_proj.weight",
                "backbone.layers.3.mixer.q_proj.weight", "lm_head.weight"}) {
            assertTrue(m.of(w).isPresent(), w + " measured: " + m.meanSquares().keySet());
        }
        float[] expected;
        try (SafetensorsFile f = SafetensorsFile.open(demoModel().resolve("model.safetensors"))) {
            TensorInfo emb = f.tensor("backbone.embeddings.weight");
            TensorInfo norm = f.tensor("backbone.layers.0.norm.weight");
            int h = (int) emb.dim(1);
            expected = new float[h];
            for (int id : ids) {
                double ss = 0;
                float[] x = new float[h];
                for (int c = 0; c < h; c++) {
                    x[c] = BFloat16.toFloat(emb.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, ((long) id * h + c) * 2));
                    ss += (double) x[c] * x[c];
                }
                double inv = 1 / Math.sqrt(ss / h + 1e-5);
                for (int c = 0; c < h; c++) {
                    double v = x[c] * inv * BFloat16.toFloat(norm.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, c * 2L));
                    expected[c] += (float) (v * v / ids.length);
                }
            }
        }
        float[] got = m.of(IN_PROJ).orElseThrow();
        for (int c = 0; c < expected.length; c++) {
            assertEquals(expected[c], got[c], 1e-4 * Math.max(1e-3, expected[c]), "column " + c);
        }
        // E[x x^T]'s diagonal is the mean squares
        for (var e : m.meanSquares().entrySet()) {
            float[] a = e.getValue();
            float[] g = m.secondMoment(e.getKey()).orElseThrow();
            for (int c = 0; c < a.length; c++) {
                assertEquals(a[c], g[c * a.length + c], 1e-5 * Math.max(1e-6, a[c]), e.getKey() + " column " + c);
            }
        }

        Path file = dir.resolve("imatrix.safetensors");
        m.save(file);
        ImportanceMatrix back = ImportanceMatrix.load(file);
        assertEquals(m.tokens(), back.tokens());
        assertEquals(m.meanSquares().keySet(), back.meanSquares().keySet());
        assertArrayEquals(got, back.of(IN_PROJ).orElseThrow());
        assertArrayEquals(m.secondMoment(IN_PROJ).orElseThrow(), back.secondMoment(IN_PROJ).orElseThrow());
    }

    @Test
    void badFilesAndMatricesOfAnotherModelAreRefused() throws Exception {
        String e = assertThrows(NemotronException.class,
                () -> ImportanceMatrix.load(demoModel().resolve("model.safetensors"))).getMessage();
        assertTrue(e.contains("is not an importance matrix"), e);

        e = assertThrows(NemotronException.class,
                () -> new ImportanceMatrix(Map.of("a.weight", new float[] {1, Float.NaN}), 1, "t")).getMessage();
        assertTrue(e.contains("\"a.weight\" holds NaN"), e);

        // an imatrix of the demo model whose in_proj entry is missing, then one whose in_proj is too narrow
        Map<String, float[]> m = new HashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(demoModel().resolve("model.safetensors"))) {
            for (TensorInfo t : f.tensors()) {
                if (t.rank() == 2 && !t.name().contains("embeddings") && !t.name().contains("conv1d")) {
                    m.put(t.name(), new float[(int) t.dim(1)]);
                }
            }
        }
        m.remove(IN_PROJ);
        ImportanceMatrix missing = new ImportanceMatrix(m, 10, "missing.txt");
        e = assertThrows(NemotronException.class, () -> Quantizer.quantize(demoModel(), dir.resolve("q1"), QuantType.Q4,
                QuantPolicy.parse("default", QuantType.Q4), missing, null)).getMessage();
        assertTrue(e.contains("has no entry for weight \"" + IN_PROJ + "\""), e);
        m.put(IN_PROJ, new float[8]);
        ImportanceMatrix narrow = new ImportanceMatrix(m, 10, "narrow.txt");
        e = assertThrows(NemotronException.class, () -> Quantizer.quantize(demoModel(), dir.resolve("q2"), QuantType.Q4,
                QuantPolicy.parse("default", QuantType.Q4), narrow, null)).getMessage();
        assertTrue(e.contains("has 8 columns for weight \"" + IN_PROJ + "\", which has 256"), e);

        e = assertThrows(NemotronException.class, () -> new ImportanceMatrix(Map.of("a.weight", new float[2]),
                Map.of("a.weight", new float[3]), 1, "t")).getMessage();
        assertTrue(e.contains("not the square of its 2 mean squares"), e);
    }
}
