package org.nemotron4j;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nemotron4j.checkpoint.SafetensorsFile;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The golden fixtures (../shared/fixtures/nemotron-h-tiny and -fp8) reproduced on the CPU in fp32: logits after every
 * prompt position within 1e-4 x max|logit|, the 24 greedy ids exactly, final conv/SSM/KV states within 1e-4
 * relative; in one prefill, in prefill chunks of awkward sizes, and token by token; with the fast and the
 * reference kernels.
 */
class GoldenModelTest {
    static final double TOL = 1e-4;

    static Stream<Arguments> cases() {
        return Stream.of("nemotron-h-tiny", "nemotron-h-tiny-fp8").flatMap(m -> Stream.of(
                Arguments.of(m, Device.cpu(), 256),
                Arguments.of(m, Device.cpu(1), 7),
                Arguments.of(m, Device.cpu(2), 16),
                Arguments.of(m, Device.cpu(1).withReferenceKernels(), 256)));
    }

    @ParameterizedTest(name = "{0} {1} chunk {2}: one prefill, then greedy decode")
    @MethodSource("cases")
    void prefillThenDecode(String name, Device device, int chunk) {
        Path dir = Fixtures.path(name);
        try (SafetensorsFile golden = SafetensorsFile.open(Fixtures.path(name + "/golden.safetensors"));
             NemotronModel model = NemotronModel.load(dir, device, LoadOptions.exact().withPrefillChunk(chunk));
             Session s = model.newSession()) {
            int v = model.config().vocabSize();
            int[] prompt = golden.tensor("prompt_ids").toIntArray();
            float[] promptLogits = golden.tensor("prompt_logits").toFloatArray();
            int[] greedy = golden.tensor("greedy_ids").toIntArray();
            float[] greedyLogits = golden.tensor("greedy_logits").toFloatArray();

            float[] all = s.prefillAll(prompt);
            for (int t = 0; t < prompt.length; t++) {
                double err = Fixtures.relError(Fixtures.row(all, t, v), Fixtures.row(promptLogits, t, v));
                assertTrue(err <= TOL, name + ": prompt position " + t + " logits rel error " + err);
            }
            int[] ids = new int[greedy.length];
            float[] logits = Fixtures.row(all, prompt.length - 1, v);
            for (int i = 0; i < greedy.length; i++) {
                ids[i] = Session.argmax(logits);
                assertEquals(greedy[i], ids[i], name + ": greedy id " + i);
                logits = s.decode(greedy[i]);
                double err = Fixtures.relError(logits, Fixtures.row(greedyLogits, i, v));
                assertTrue(err <= TOL, name + ": greedy step " + i + " logits rel error " + err);
            }
            assertArrayEquals(greedy, ids);
            assertStates(name, golden, model.config(), s);
        }
    }

    @ParameterizedTest(name = "{0} {1}: token by token")
    @MethodSource("cases")
    void tokenByToken(String name, Device device, int chunk) {
        if (chunk != 256) {
            return; // decode does not depend on the prefill chunk
        }
        Path dir = Fixtures.path(name);
        try (SafetensorsFile golden = SafetensorsFile.open(Fixtures.path(name + "/golden.safetensors"));
             NemotronModel model = NemotronModel.load(dir, device, LoadOptions.exact());
             Session s = model.newSession()) {
            int v = model.config().vocabSize();
            int[] prompt = golden.tensor("prompt_ids").toIntArray();
            float[] promptLogits = golden.tensor("prompt_logits").toFloatArray();
            int[] greedy = golden.tensor("greedy_ids").toIntArray();
            float[] greedyLogits = golden.tensor("greedy_logits").toFloatArray();
            float[] logits = s.decode(prompt[0]);
            for (int t = 0; t < prompt.length; t++) {
                if (t > 0) {
                    logits = s.decode(prompt[t]);
                }
                double err = Fixtures.relError(logits, Fixtures.row(promptLogits, t, v));
                assertTrue(err <= TOL, name + ": decode position " + t + " rel error " + err);
            }
            for (int i = 0; i < greedy.length; i++) {
                assertEquals(greedy[i], Session.argmax(logits), name + ": greedy id " + i);
                logits = s.decode(greedy[i]);
                double err = Fixtures.relError(logits, Fixtures.row(greedyLogits, i, v));
                assertTrue(err <= TOL, name + ": greedy step " + i + " rel error " + err);
            }
            assertStates(name, golden, model.config(), s);
        }
    }

    static void assertStates(String name, SafetensorsFile golden, ModelConfig c, Session s) {
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            switch (c.layers().get(i)) {
                case MAMBA -> {
                    float[][] st = s.readMambaState(i);
                    double ce = Fixtures.relError(st[0], golden.tensor("state." + i + ".conv").toFloatArray());
                    double se = Fixtures.relError(st[1], golden.tensor("state." + i + ".ssm").toFloatArray());
                    assertTrue(ce <= TOL, name + ": layer " + i + " conv state rel error " + ce);
                    assertTrue(se <= TOL, name + ": layer " + i + " ssm state rel error " + se);
                }
                case ATTENTION -> {
                    float[][] kv = s.readKv(i);
                    double ke = Fixtures.relError(kv[0], golden.tensor("state." + i + ".k").toFloatArray());
                    double ve = Fixtures.relError(kv[1], golden.tensor("state." + i + ".v").toFloatArray());
                    assertTrue(ke <= TOL, name + ": layer " + i + " K cache rel error " + ke);
                    assertTrue(ve <= TOL, name + ": layer " + i + " V cache rel error " + ve + " " + Arrays.toString(golden.tensor("state." + i + ".v").shape()));
                }
                case MLP -> { }
            }
        }
    }
}
