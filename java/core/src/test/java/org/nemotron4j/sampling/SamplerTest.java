package org.nemotron4j.sampling;

import org.junit.jupiter.api.Test;
import org.nemotron4j.NemotronException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {

    private static SamplingParams sampled(double temperature) {
        return SamplingParams.ofTemperature(temperature).withSeed(1234L);
    }

    /** Logits whose softmax is {@code probs}. */
    private static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            l[i] = (float) Math.log(probs[i]);
        }
        return l;
    }

    private static int[] counts(Sampler s, float[] logits, int draws) {
        int[] n = new int[logits.length];
        for (int i = 0; i < draws; i++) {
            n[s.sample(logits.clone())]++;
        }
        return n;
    }

    // ---- greedy ----

    @Test
    void greedyTakesTheFirstLargest() {
        Sampler s = new Sampler(SamplingParams.GREEDY, 5);
        assertEquals(2, s.sample(new float[] {1, 3, 7, 7, 0}));
        assertEquals(1, s.sample(new float[] {-1, 2, Float.NEGATIVE_INFINITY, 1, 0}));
    }

    /** Fuzzing finding: NaN logits (from NaN weights) gave id 0 forever; now no token comes from them. */
    @Test
    void nanLogitsAreAnErrorNotAToken() {
        for (SamplingParams p : new SamplingParams[] {SamplingParams.GREEDY, sampled(1), sampled(1).withTopK(2)}) {
            NemotronException all = assertThrows(NemotronException.class,
                    () -> new Sampler(p, 4).sample(new float[] {Float.NaN, Float.NaN, Float.NaN, Float.NaN}));
            assertTrue(all.getMessage().contains("NaN logits (4 of 4"), all.getMessage());
            assertTrue(all.getMessage().contains("--check-tensors"), all.getMessage());
            NemotronException one = assertThrows(NemotronException.class,
                    () -> new Sampler(p, 4).sample(new float[] {1, 3, Float.NaN, 2}));
            assertTrue(one.getMessage().contains("1 of 4, the first for token id 2"), one.getMessage());
        }
    }

    @Test
    void noFiniteLogitIsAClearError() {
        float[] l = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
        assertThrows(NemotronException.class, () -> new Sampler(SamplingParams.GREEDY, 2).sample(l.clone()));
        NemotronException e = assertThrows(NemotronException.class,
                () -> new Sampler(sampled(1), 2).sample(l.clone()));
        assertTrue(e.getMessage().contains("no token can be sampled"), e.getMessage());
    }

    @Test
    void onlyTheVocabularyPartOfTheRowCounts() {
        Sampler s = new Sampler(SamplingParams.GREEDY, 3);
        assertEquals(1, s.sample(new float[] {0, 5, 1, 100})); // entry 3 is padding
    }

    // ---- candidate sets by construction ----

    @Test
    void topKKeepsTheKLargest() {
        float[] l = {0.1f, 3f, -2f, 2.5f, 2.9f, 1f, 2.95f};
        Sampler s = new Sampler(sampled(1).withTopK(3), l.length);
        assertArrayEquals(new int[] {1, 4, 6}, s.candidateIds(l.clone()));
        int[] n = counts(s, l, 3000);
        assertTrue(n[1] > 0 && n[4] > 0 && n[6] > 0);
        assertEquals(3000, n[1] + n[4] + n[6]);
    }

    @Test
    void topKLargerThanTheHeapLimitUsesQuickselect() {
        int vocab = 20_000;
        float[] l = new float[vocab];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < vocab; i++) {
            l[i] = (float) r.nextGaussian();
        }
        int k = 5000;
        Integer[] order = IntStream.range(0, vocab).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -l[i]));
        TreeSet<Integer> expected = new TreeSet<>(Arrays.asList(order).subList(0, k));
        int[] got = new Sampler(sampled(1).withTopK(k), vocab).candidateIds(l.clone());
        assertEquals(expected.stream().mapToInt(Integer::intValue).boxed().toList(),
                Arrays.stream(got).boxed().toList());
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        float[] l = logitsOf(0.05, 0.5, 0.15, 0.3);
        assertArrayEquals(new int[] {1, 3}, new Sampler(sampled(1).withTopP(0.75), 4).candidateIds(l.clone()));
        assertArrayEquals(new int[] {1, 2, 3}, new Sampler(sampled(1).withTopP(0.85), 4).candidateIds(l.clone()));
        assertArrayEquals(new int[] {1}, new Sampler(sampled(1).withTopP(0.3), 4).candidateIds(l.clone()));
        assertArrayEquals(new int[] {0, 1, 2, 3}, new Sampler(sampled(1), 4).candidateIds(l.clone()));
        // Draw frequencies follow the renormalized nucleus: 0.5/0.8 and 0.3/0.8.
        int[] n = counts(new Sampler(sampled(1).withTopP(0.75), 4), l, 20_000);
        assertEquals(0, n[0] + n[2]);
        assertEquals(0.625, n[1] / 20_000.0, 0.02);
    }

    @Test
    void minPKeepsTokensAtLeastMinPTimesTheTop() {
        float[] l = logitsOf(0.6, 0.25, 0.1, 0.05);
        assertArrayEquals(new int[] {0, 1}, new Sampler(sampled(1).withMinP(0.2), 4).candidateIds(l.clone()));
        assertArrayEquals(new int[] {0, 1, 2}, new Sampler(sampled(1).withMinP(0.1), 4).candidateIds(l.clone()));
    }

    @Test
    void temperatureSharpensAndFlattens() {
        float[] l = logitsOf(0.75, 0.25);
        int[] n1 = counts(new Sampler(sampled(1), 2), l, 20_000);
        assertEquals(0.75, n1[0] / 20_000.0, 0.015);
        // T = 0.5 squares the odds: 9:1.
        int[] n2 = counts(new Sampler(sampled(0.5), 2), l, 20_000);
        assertEquals(0.9, n2[0] / 20_000.0, 0.015);
        // T = 2 takes their square root: sqrt(3):1.
        int[] n3 = counts(new Sampler(sampled(2), 2), l, 20_000);
        assertEquals(Math.sqrt(3) / (1 + Math.sqrt(3)), n3[0] / 20_000.0, 0.015);
    }

    /** Brute force: sort by probability (double), keep the shortest prefix reaching p, then min-p. */
    private static int[] reference(float[] l, double t, int k, double p, double minP) {
        int n = l.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float v : l) {
            max = Math.max(max, v);
        }
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            w[i] = Math.exp((l[i] - max) / t);
        }
        // Descending logit (= descending weight), ties by ascending id: sort (order-preserving bits of -l, id).
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            int b = Float.floatToRawIntBits(-l[i]);
            b ^= (b >> 31) & 0x7FFFFFFF;
            keys[i] = ((long) b << 32) | i;
        }
        Arrays.sort(keys);
        int[] order = new int[n];
        for (int r = 0; r < n; r++) {
            order[r] = (int) keys[r];
        }
        int keep = k > 0 ? Math.min(k, n) : n;
        double total = 0;
        for (int r = 0; r < keep; r++) {
            total += w[order[r]];
        }
        List<Integer> out = new ArrayList<>();
        double acc = 0;
        for (int r = 0; r < keep; r++) {
            int i = order[r];
            if (w[i] >= minP) {
                out.add(i);
            }
            acc += w[i];
            if (acc >= p * total) {
                break;
            }
        }
        return out.stream().mapToInt(Integer::intValue).sorted().toArray();
    }

    @Test
    void nucleusOverTheFullVocabularyMatchesABruteForceReference() {
        int vocab = 131_072;
        SplittableRandom r = new SplittableRandom(99);
        for (int trial = 0; trial < 6; trial++) {
            float[] l = new float[vocab];
            double spread = trial < 3 ? 3.0 : 0.05; // peaked rows and nearly flat ones (deep histogram refinement)
            for (int i = 0; i < vocab; i++) {
                l[i] = (float) (r.nextGaussian() * spread);
            }
            for (int i = 0; i < 20 && trial % 3 != 2; i++) {
                l[r.nextInt(vocab)] += (float) (8 + r.nextDouble() * 6);
            }
            double t = trial % 2 == 0 ? 0.7 : 1.0;
            double p = 0.9;
            int[] expected = reference(l, t, 0, p, 0);
            int[] got = new Sampler(sampled(t).withTopP(p), vocab).candidateIds(l.clone());
            assertNearlySameSet(expected, got, "trial " + trial);
        }
    }

    /** The fast exp differs from Math.exp by ~1e-7 relative, which may move one token at the nucleus edge. */
    private static void assertNearlySameSet(int[] expected, int[] got, String what) {
        TreeSet<Integer> a = new TreeSet<>();
        for (int i : expected) {
            a.add(i);
        }
        TreeSet<Integer> b = new TreeSet<>();
        for (int i : got) {
            b.add(i);
        }
        TreeSet<Integer> onlyA = new TreeSet<>(a);
        onlyA.removeAll(b);
        TreeSet<Integer> onlyB = new TreeSet<>(b);
        onlyB.removeAll(a);
        assertTrue(onlyA.size() + onlyB.size() <= 2, what + ": " + expected.length + " expected, " + got.length
                + " got, differing " + onlyA + " / " + onlyB);
    }

    @Test
    void topKTopPAndMinPTogetherMatchTheReference() {
        int vocab = 50_000;
        SplittableRandom r = new SplittableRandom(7);
        float[] l = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            l[i] = (float) (r.nextGaussian() * 2.5);
        }
        int[] expected = reference(l, 0.8, 400, 0.8, 0.001);
        int[] got = new Sampler(sampled(0.8).withTopK(400).withTopP(0.8).withMinP(0.001), vocab)
                .candidateIds(l.clone());
        assertNearlySameSet(expected, got, "k+p+min-p");
        assertTrue(got.length > 10 && got.length < 400, "got " + got.length);
    }

    @Test
    void tiesAtTheNucleusEdgeTakeTheLowestIds() {
        float[] l = {1, 1, 1, 1}; // each 0.25: p = 0.5 needs two of them
        assertArrayEquals(new int[] {0, 1}, new Sampler(sampled(1).withTopP(0.5), 4).candidateIds(l.clone()));
        float[] flat = new float[1000];
        assertEquals(300, new Sampler(sampled(1).withTopP(0.3), 1000).candidateIds(flat.clone()).length);
    }

    @Test
    void nonFiniteLogitsAreNeverCandidates() {
        float[] l = {0, -31, -1000, Float.NEGATIVE_INFINITY, Float.NaN};
        // -1000 is more than 60 (temperature-scaled) below the top: relative probability < 1e-26, never drawn.
        assertArrayEquals(new int[] {0, 1}, new Sampler(sampled(1), 5).candidateIds(l.clone()));
        assertArrayEquals(new int[] {0, 1, 2}, new Sampler(sampled(50), 5).candidateIds(l.clone()));
        assertArrayEquals(new int[] {0, 1}, new Sampler(sampled(1).withTopK(2), 5).candidateIds(l.clone()));
        l[4] = Float.NEGATIVE_INFINITY; // a NaN row is refused by sample (nanLogitsAreAnErrorNotAToken)
        int[] n = counts(new Sampler(sampled(50), 5), l, 3000); // a hot temperature spreads the mass
        assertEquals(0, n[3] + n[4]);
        assertTrue(n[0] > 0 && n[1] > 0);
    }

    @Test
    void infiniteLogitTakesAllTheMass() {
        float[] l = {0, Float.POSITIVE_INFINITY, 3};
        assertEquals(1, new Sampler(sampled(1), 3).sample(l.clone()));
    }

    @Test
    void fastExpIsAccurate() {
        int n = 60_001;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = i * 0.001f;
        }
        float[] w = new float[n];
        Sampler.expNeg(x, w, new float[n], new int[n], n);
        for (int i = 0; i < n; i++) {
            double exact = Math.exp(-x[i]);
            assertEquals(exact, w[i], exact * (2.5e-7 + 7e-8 * x[i]), "x=" + x[i]);
        }
        assertEquals(1f, w[0]);
    }

    @Test
    void drawsOverTheFullVocabularyStayInTheNucleusWithTheRightFrequencies() {
        int vocab = 131_072;
        SplittableRandom r = new SplittableRandom(21);
        float[] l = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            l[i] = (float) r.nextGaussian();
        }
        l[17] += 9;
        l[40_000] += 8;
        int[] nucleus = reference(l, 1.0, 0, 0.5, 0);
        TreeSet<Integer> allowed = new TreeSet<>();
        for (int i : nucleus) {
            allowed.add(i);
        }
        Sampler s = new Sampler(sampled(1).withTopP(0.5), vocab);
        int draws = 1000;
        int top = 0;
        for (int d = 0; d < draws; d++) {
            int t = s.sample(l); // no penalties or bias: the row is left as it is
            assertTrue(allowed.contains(t), "token " + t + " is outside the nucleus of " + nucleus.length);
            top += t == 17 ? 1 : 0;
        }
        double w17 = Math.exp(l[17] - l[17]);
        double nucleusMass = 0;
        for (int i : nucleus) {
            nucleusMass += Math.exp(l[i] - l[17]);
        }
        double expected = w17 / nucleusMass;
        assertTrue(expected > 0.02, "the check needs a token of noticeable probability, got " + expected);
        assertEquals(expected, top / (double) draws, 4 * Math.sqrt(expected * (1 - expected) / draws));
    }

    @Test
    void tinyTopPOnAFlatRowFallsBackToTheExactNucleus() {
        int vocab = 131_072;
        SplittableRandom r = new SplittableRandom(8);
        float[] l = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            l[i] = (float) (r.nextGaussian() * 0.01);
        }
        int[] nucleus = reference(l, 1.0, 0, 0.001, 0);
        TreeSet<Integer> allowed = new TreeSet<>();
        for (int i : nucleus) {
            allowed.add(i);
        }
        Sampler s = new Sampler(sampled(1).withTopP(0.001), vocab);
        for (int d = 0; d < 50; d++) {
            assertTrue(allowed.contains(s.sample(l)));
        }
    }

    // ---- penalties and bias ----

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        Sampler s = new Sampler(SamplingParams.GREEDY.withRepetitionPenalty(2), 4);
        s.observePrompt(0);
        s.accept(1);
        float[] l = {4f, -1f, 1.5f, 0f};
        assertEquals(0, argmaxBefore(l));
        int chosen = s.sample(l);
        assertArrayEquals(new float[] {2f, -2f, 1.5f, 0f}, l);
        assertEquals(0, chosen);
        float[] l2 = {2.5f, -1f, 1.5f, 0f};
        assertEquals(2, s.sample(l2)); // 2.5 / 2 = 1.25 < 1.5
    }

    private static int argmaxBefore(float[] l) {
        return Sampler.argmax(l.clone(), l.length);
    }

    @Test
    void presenceAndFrequencyPenaltiesCountGeneratedTokens() {
        Sampler s = new Sampler(SamplingParams.GREEDY.withPresencePenalty(0.5).withFrequencyPenalty(0.25), 3);
        s.observePrompt(2); // prompt tokens do not count for these
        s.accept(0);
        s.accept(0);
        s.accept(1);
        float[] l = {3f, 3f, 3f};
        s.sample(l);
        assertArrayEquals(new float[] {3f - 0.5f - 0.5f, 3f - 0.5f - 0.25f, 3f}, l);
    }

    @Test
    void logitBiasShiftsAndBans() {
        float[] l = {5f, 1f, 0f};
        assertEquals(2, new Sampler(SamplingParams.GREEDY.withLogitBias(Map.of(2, 10f)), 3).sample(l.clone()));
        assertEquals(1, new Sampler(SamplingParams.GREEDY.withLogitBias(Map.of(0, Float.NEGATIVE_INFINITY)), 3)
                .sample(l.clone()));
        int[] n = counts(new Sampler(sampled(1).withLogitBias(Map.of(0, Float.NEGATIVE_INFINITY)), 3), l, 2000);
        assertEquals(0, n[0]);
        assertThrows(NemotronException.class,
                () -> new Sampler(SamplingParams.GREEDY.withLogitBias(Map.of(3, 1f)), 3));
    }

    // ---- reproducibility and validation ----

    @Test
    void sameSeedSameDrawsOtherSeedOtherDraws() {
        float[] l = new float[1000];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < l.length; i++) {
            l[i] = (float) r.nextGaussian();
        }
        SamplingParams p = SamplingParams.ofTemperature(1).withTopP(0.9).withSeed(11L);
        int[] a = draws(new Sampler(p, 1000), l);
        int[] b = draws(new Sampler(p, 1000), l);
        int[] c = draws(new Sampler(p.withSeed(12L), 1000), l);
        assertArrayEquals(a, b);
        assertFalse(Arrays.equals(a, c));
        Sampler unseeded = new Sampler(p.withSeed(null), 1000);
        assertArrayEquals(draws(unseeded, l), draws(new Sampler(p.withSeed(unseeded.seed()), 1000), l));
    }

    private static int[] draws(Sampler s, float[] l) {
        int[] out = new int[50];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.sample(l.clone());
        }
        return out;
    }

    @Test
    void invalidParametersAreRejected() {
        assertThrows(NemotronException.class, () -> SamplingParams.ofTemperature(-1));
        assertThrows(NemotronException.class, () -> SamplingParams.GREEDY.withTopP(0));
        assertThrows(NemotronException.class, () -> SamplingParams.GREEDY.withTopP(1.5));
        assertThrows(NemotronException.class, () -> SamplingParams.GREEDY.withTopK(-1));
        assertThrows(NemotronException.class, () -> SamplingParams.GREEDY.withMinP(1));
        assertThrows(NemotronException.class, () -> SamplingParams.GREEDY.withRepetitionPenalty(0));
        assertThrows(NemotronException.class, () -> SamplingParams.GREEDY.withLogitBias(Map.of(-1, 1f)));
        assertThrows(NemotronException.class, () -> SamplingParams.GREEDY.withLogitBias(Map.of(1, Float.NaN)));
        assertThrows(NemotronException.class, () -> new Sampler(SamplingParams.GREEDY, 3).accept(3));
        assertThrows(NemotronException.class, () -> new Sampler(SamplingParams.GREEDY, 3).sample(new float[2]));
    }
}
