package org.nemotron4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * The BPE merge loop (the scan for short words, the heap for long ones) against the plainest implementation of the
 * rule: while some adjacent pair has a merge, merge the leftmost pair of lowest rank.
 */
class BpeModelTest {

    private static BpeModel model(Tokenizer t) throws ReflectiveOperationException {
        Field f = Tokenizer.class.getDeclaredField("model");
        f.setAccessible(true);
        return (BpeModel) f.get(t);
    }

    private static MergeTable merges(BpeModel m) throws ReflectiveOperationException {
        Field f = BpeModel.class.getDeclaredField("merges");
        f.setAccessible(true);
        return (MergeTable) f.get(m);
    }

    /** The rule, quadratic and obvious. */
    private static int[] reference(BpeModel model, MergeTable merges, byte[] word) {
        List<Integer> sym = new ArrayList<>();
        for (byte b : word) {
            sym.add(model.ids.get(String.valueOf(ByteLevel.BYTE_TO_CHAR[b & 0xFF])));
        }
        while (true) {
            long best = MergeTable.NONE;
            int at = -1;
            for (int i = 0; i + 1 < sym.size(); i++) {
                long m = merges.get(sym.get(i), sym.get(i + 1));
                if (m < best) {
                    best = m;
                    at = i;
                }
            }
            if (at < 0) {
                return sym.stream().mapToInt(Integer::intValue).toArray();
            }
            sym.set(at, (int) best);
            sym.remove(at + 1);
        }
    }

    private static byte[] randomWord(Random r) {
        StringBuilder sb = new StringBuilder();
        int len = r.nextInt(4) == 0 ? 40 + r.nextInt(120) : 1 + r.nextInt(20);
        String alphabet = "aaabcdeeefghiiijklmnooopqrstuuuvwxyz  ..,,!!--__ 00112233\n\n\t";
        for (int i = 0; i < len; i++) {
            int k = r.nextInt(10);
            if (k < 7) {
                sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
            } else if (k < 9) {
                sb.appendCodePoint(0xA0 + r.nextInt(0x3000));
            } else {
                sb.appendCodePoint(0x1F300 + r.nextInt(0x300));
            }
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void mergeLoopFollowsTheRule() throws ReflectiveOperationException {
        Random r = new Random(99);
        // qwen3 and gpt4o: no ignore_merges, so every word goes through the merge loop
        for (String name : List.of("qwen3", "gpt4o")) {
            BpeModel model = model(Fixtures.tokenizer(name));
            MergeTable merges = merges(model);
            BpeModel.Scratch scratch = new BpeModel.Scratch();
            for (int i = 0; i < 3000; i++) {
                byte[] word = randomWord(r);
                IntList out = new IntList(16);
                model.encode(word, word.length, out, scratch);
                assertArrayEquals(reference(model, merges, word), out.toArray(),
                        () -> name + ": " + new String(word, StandardCharsets.UTF_8));
            }
        }
    }
}
