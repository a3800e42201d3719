package org.nemotron4j.bench;

import org.nemotron4j.sampling.Sampler;
import org.nemotron4j.sampling.SamplingParams;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * One sampling step over a 131072-entry logits row (NVIDIA-Nemotron-Nano-9B-v2's vocabulary), to set against a
 * decode step (~5 ms on a GPU). Each op copies the row first (the sampler modifies it in place): {@code copyOnly}
 * measures that copy alone.
 *
 * <p>Rows: {@code peaked} is Gaussian noise (sigma 2.5) with 32 tokens lifted by 10 to 16, so at temperature 0.6
 * about a fifth of the vocabulary lies within the candidate cutoff and the nucleus is a handful of tokens;
 * {@code flat} is Gaussian noise (sigma 1) alone: every token is a candidate and the top-p nucleus holds most of
 * the vocabulary, the worst case for the histogram search.
 *
 * <pre>java -jar java/bench/target/nemotron4j-benchmarks.jar SamplerBenchmark</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class SamplerBenchmark {
    private static final int VOCAB = 131_072;

    @Param({"peaked", "flat"})
    public String row;

    @Param({"greedy", "t0.6_p0.95", "t0.6_k20_p0.95", "t1.0_p0.95_minp0.05", "t1.0_p0.9_rep1.1"})
    public String params;

    private float[] logits;
    private float[] work;
    private Sampler sampler;

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom r = new SplittableRandom(2024);
        logits = new float[VOCAB];
        boolean peaked = row.equals("peaked");
        for (int i = 0; i < VOCAB; i++) {
            logits[i] = (float) (r.nextGaussian() * (peaked ? 2.5 : 1.0));
        }
        if (peaked) {
            for (int i = 0; i < 32; i++) {
                logits[r.nextInt(VOCAB)] += (float) (10 + r.nextDouble() * 6);
            }
        }
        work = new float[VOCAB];
        SamplingParams p = switch (params) {
            case "greedy" -> SamplingParams.GREEDY;
            case "t0.6_p0.95" -> SamplingParams.ofTemperature(0.6).withTopP(0.95);
            case "t0.6_k20_p0.95" -> SamplingParams.ofTemperature(0.6).withTopK(20).withTopP(0.95);
            case "t1.0_p0.95_minp0.05" -> SamplingParams.ofTemperature(1.0).withTopP(0.95).withMinP(0.05);
            case "t1.0_p0.9_rep1.1" -> SamplingParams.ofTemperature(1.0).withTopP(0.9).withRepetitionPenalty(1.1);
            default -> throw new IllegalArgumentException(params);
        };
        sampler = new Sampler(p.withSeed(7L).withLogitBias(Map.of()), VOCAB);
        for (int i = 0; i < 2000; i++) { // a context's worth of history for the repetition penalty
            sampler.accept(r.nextInt(VOCAB));
        }
    }

    @Benchmark
    public int sample() {
        System.arraycopy(logits, 0, work, 0, VOCAB);
        return sampler.sample(work);
    }

    @Benchmark
    public float copyOnly() {
        System.arraycopy(logits, 0, work, 0, VOCAB);
        return work[VOCAB - 1];
    }
}
