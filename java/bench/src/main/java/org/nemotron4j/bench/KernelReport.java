package org.nemotron4j.bench;

import org.nemotron4j.Device;
import org.nemotron4j.NemotronException;
import org.nemotron4j.runtime.Backend;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Comparator;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Runs {@link KernelBenchmark} (every case and both ceilings) through the JMH API and prints a markdown table: per
 * case its shape, its time per call (JMH score, the mean of the measurement iterations, with its 99.9% confidence
 * half-width), its rate and the fraction of the machine's ceiling that rate reaches.
 *
 * <p>The ceilings are the rates of the fastest measurement iteration of {@code copy} and {@code gemmCeiling} (the
 * best the machine reached; on a busy machine the mean understates it). A case is memory-bound or compute-bound by
 * the roofline of those ceilings: its bytes at the copy bandwidth against its FLOPs at the gemm rate, whichever
 * takes longer. The rate is GB/s for a memory-bound case and GFLOP/s for a compute-bound one, the fraction is that
 * rate over the matching ceiling. Caches make fractions above 100% possible for memory-bound cases: a kernel that
 * only reads (decode matmul), or whose activations stay in the last-level cache, can beat a DRAM copy; a large
 * matmul can beat the small gemm by amortizing its per-call packing and dispatch over more work.
 *
 * <pre>
 * NEMOTRON4J_LIBRARY_DIR=build/native java --enable-native-access=ALL-UNNAMED \
 *     -cp java/bench/target/nemotron4j-benchmarks.jar org.nemotron4j.bench.KernelReport [THREADS] [--quick] [-wi N] [-i N]
 * </pre>
 * {@code THREADS}: CPU backend worker threads (default 2); {@code --quick}: 1 warmup and 3 measurement iterations
 * (default: the annotations' 2 and 5, 1 s each); {@code -wi}/{@code -i}: explicit counts. The forked JVMs inherit the
 * environment (so {@code NEMOTRON4J_LIBRARY_DIR}) and this JVM's options.
 */
public final class KernelReport {
    private static final String USAGE = "usage: KernelReport [THREADS] [--quick] [-wi WARMUP_ITERATIONS] [-i ITERATIONS]";

    private KernelReport() {
    }

    /** The command line: worker threads and the iteration counts (-1: the annotations' default). */
    private record Settings(int threads, int warmups, int iterations) {
        static Settings parse(String[] args) {
            int threads = 2;
            int warmups = -1;
            int iterations = -1;
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--quick" -> {
                        warmups = 1;
                        iterations = 3;
                    }
                    case "-wi" -> warmups = count(args, ++i, 0);
                    case "-i" -> iterations = count(args, ++i, 1);
                    default -> threads = count(args, i, 1);
                }
            }
            return new Settings(threads, warmups, iterations);
        }

        private static int count(String[] args, int i, int min) {
            if (i >= args.length) {
                throw new IllegalArgumentException(args[i - 1] + " needs a number");
            }
            try {
                int n = Integer.parseInt(args[i]);
                if (n < min) {
                    throw new IllegalArgumentException("expected a number >= " + min + ", got " + n);
                }
                return n;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a number: " + args[i]);
            }
        }
    }

    /** The measured ceilings: bytes/s of the copy and FLOP/s of the L2-resident matmul (NaN when missing). */
    private record Ceilings(double bytesPerSecond, double flopsPerSecond) {
    }

    public static void main(String[] args) throws RunnerException {
        Settings settings;
        try {
            settings = Settings.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("KernelReport: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        String backend;
        try (Backend b = Backend.create(Device.cpu(settings.threads()))) {
            backend = b.name();
        } catch (NemotronException e) {
            System.err.println("KernelReport: " + e.getMessage());
            System.err.println("Set NEMOTRON4J_LIBRARY_DIR to the directory holding libnemotron4j.so.");
            System.exit(1);
            return;
        }

        ChainedOptionsBuilder options = new OptionsBuilder()
                .include(Pattern.quote(KernelBenchmark.class.getName()) + "\\.")
                .param("threads", Integer.toString(settings.threads()))
                .timeUnit(TimeUnit.MICROSECONDS)
                .shouldFailOnError(true);
        if (settings.warmups() >= 0) {
            options.warmupIterations(settings.warmups());
        }
        if (settings.iterations() >= 0) {
            options.measurementIterations(settings.iterations());
        }
        Collection<RunResult> results = new Runner(options.build()).run();
        System.out.println();
        System.out.print(report(results, backend));
    }

    static String report(Collection<RunResult> results, String backend) {
        RunResult copy = find(results, "copy");
        RunResult gemm = find(results, "gemmCeiling");
        Ceilings ceilings = new Ceilings(
                copy == null ? Double.NaN : KernelBenchmark.copyTraffic() / fastestSeconds(copy),
                gemm == null ? Double.NaN : KernelBenchmark.gemmFlops() / fastestSeconds(gemm));

        StringBuilder out = new StringBuilder();
        out.append("### nemotron4j CPU kernels\n\n");
        out.append(String.format(Locale.ROOT, "Machine: %d cores, %s, %s; backend: %s; JDK %s%n%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.arch"), cpuModel(), backend,
                Runtime.version()));
        results.stream().findFirst().map(RunResult::getParams).ifPresent(p -> out.append(String.format(Locale.ROOT,
                "JMH: %d warmup + %d measurement iterations of %s, %d fork per case; time: mean ± 99.9%% CI "
                        + "per call%n%n", p.getWarmup().getCount(), p.getMeasurement().getCount(),
                p.getMeasurement().getTime(), p.getForks())));
        out.append("Rate: GB/s where the case's bytes at the copy bandwidth take longer than its FLOPs at the gemm rate "
                + "(memory-bound), GFLOP/s otherwise; of ceiling: that rate over the copy or gemm ceiling, each the rate of its "
                + "fastest iteration.\n\n");
        out.append("| case | shape | time | rate | of ceiling |\n");
        out.append("|---|---|---:|---:|---:|\n");
        if (copy != null) {
            row(out, "copy (memory ceiling)", String.format(Locale.ROOT, "%d MiB memmove, %s threads",
                    KernelBenchmark.COPY_MIB, copy.getParams().getParam("threads")), copy,
                    gigabytes(ceilings.bytesPerSecond()), "ceiling (best iteration)");
        }
        if (gemm != null) {
            row(out, "gemm (compute ceiling)", String.format(Locale.ROOT, "F32 x[%d,%d] W[%d,%d], L2-resident",
                    KernelBenchmark.GEMM_ROWS, KernelBenchmark.GEMM_IN, KernelBenchmark.GEMM_OUT,
                    KernelBenchmark.GEMM_IN), gemm, gigaflops(ceilings.flopsPerSecond()), "ceiling (best iteration)");
        }
        results.stream()
                .filter(r -> r.getParams().getBenchmark().endsWith(".kernel"))
                .sorted(Comparator.comparing(KernelReport::workload))
                .forEach(r -> caseRow(out, r, ceilings));
        return out.toString();
    }

    private static void caseRow(StringBuilder out, RunResult r, Ceilings ceilings) {
        KernelWorkload w = workload(r);
        double s = seconds(r);
        double memoryTime = w.bytes() / ceilings.bytesPerSecond();
        double computeTime = w.flops() / ceilings.flopsPerSecond();
        boolean memoryBound = w.flops() == 0 || memoryTime >= computeTime;
        String rate = memoryBound ? gigabytes(w.bytes() / s) : gigaflops(w.flops() / s);
        double bound = memoryBound ? memoryTime : computeTime;
        String fraction = Double.isNaN(bound) ? "-" : String.format(Locale.ROOT, "%.0f%% of %s", 100 * bound / s,
                memoryBound ? "copy" : "gemm");
        row(out, w.name(), w.shape(), r, rate, fraction);
    }

    private static void row(StringBuilder out, String name, String shape, RunResult r, String rate, String fraction) {
        out.append("| ").append(name).append(" | ").append(shape).append(" | ").append(time(r.getPrimaryResult()))
                .append(" | ").append(rate).append(" | ").append(fraction).append(" |\n");
    }

    private static RunResult find(Collection<RunResult> results, String method) {
        return results.stream().filter(r -> r.getParams().getBenchmark().endsWith("." + method)).findFirst()
                .orElse(null);
    }

    private static KernelWorkload workload(RunResult r) {
        return KernelWorkload.valueOf(r.getParams().getParam("workload"));
    }

    /** Seconds per call (the runner reports microseconds per operation). */
    private static double seconds(RunResult r) {
        return r.getPrimaryResult().getScore() * 1e-6;
    }

    /** Seconds per call in the fastest measurement iteration: the least disturbed by other work on the machine. */
    private static double fastestSeconds(RunResult r) {
        return r.getPrimaryResult().getStatistics().getMin() * 1e-6;
    }

    /** {@code 5.22 ± 0.10 ms} or {@code 183.2 ± 4.1 µs}; no error part when JMH gives none (too few iterations). */
    private static String time(Result<?> result) {
        double us = result.getScore();
        double err = result.getScoreError();
        boolean ms = us >= 1000;
        double scale = ms ? 1e-3 : 1;
        String format = ms ? "%.2f" : "%.1f";
        String t = String.format(Locale.ROOT, format, us * scale);
        if (!Double.isNaN(err)) {
            t += " ± " + String.format(Locale.ROOT, format, err * scale);
        }
        return t + (ms ? " ms" : " µs");
    }

    private static String gigabytes(double bytesPerSecond) {
        return String.format(Locale.ROOT, "%.1f GB/s", bytesPerSecond * 1e-9);
    }

    private static String gigaflops(double flopsPerSecond) {
        return String.format(Locale.ROOT, "%.1f GFLOP/s", flopsPerSecond * 1e-9);
    }

    /** The CPU's model name from /proc/cpuinfo, or "unknown CPU" where that is not readable. */
    private static String cpuModel() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst().orElse("unknown CPU");
        } catch (IOException | RuntimeException e) {
            return "unknown CPU";
        }
    }
}
