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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Runs {@link KernelBenchmark} (every case and both ceilings) through the JMH API on one device, the CPU or a CUDA
 * GPU, and prints a markdown table: per case its shape, its time per call (JMH score, the mean of the measurement
 * iterations, with its 99.9% confidence half-width), its rate and the fraction of the device's ceiling that rate
 * reaches.
 *
 * <p>The ceilings are the rates of the fastest measurement iteration of {@code copy} and {@code gemmCeiling} (the
 * best the machine reached; on a busy machine the mean understates it). A case is memory-bound or compute-bound by
 * the roofline of those ceilings: its bytes at the copy bandwidth against its FLOPs at the gemm rate, whichever
 * takes longer. The rate is GB/s for a memory-bound case and GFLOP/s for a compute-bound one, the fraction is that
 * rate over the matching ceiling. Caches make fractions above 100% possible for memory-bound cases: a kernel that
 * only reads (decode matmul), or whose activations stay in the last-level cache, can beat a DRAM copy; a large
 * matmul can beat the small gemm by amortizing its per-call packing and dispatch over more work.
 *
 * <p>With {@code --device cuda:0} every benchmark runs on that GPU ({@code -p device=cuda:0}) and the table is
 * titled "CUDA kernels" and names the GPU. The ceilings are then the GPU's: a device-to-device copy of HBM and this
 * library's tensor-core GEMM on a large BF16-weight matmul; the roofline and the fractions are computed the same
 * way. Each time per call includes one launch and one stream synchronization, so the smallest cases sit far below
 * either ceiling, and a decode GEMV that only reads its weights can exceed the copy, which reads and writes.
 *
 * <pre>
 * NEMOTRON4J_LIBRARY_DIR=build/native java --enable-native-access=ALL-UNNAMED \
 *     -cp java/bench/target/nemotron4j-benchmarks.jar org.nemotron4j.bench.KernelReport [THREADS] \
 *     [--device cpu|cuda:N] [--precision exact|fast|both] [--quick] [-wi N] [-i N]
 * </pre>
 * {@code THREADS}: CPU backend worker threads (default 2); {@code --device}: the device, as {@link
 * org.nemotron4j.Device#parse} reads it (default {@code cpu}; a GPU that cannot be opened ends the report before any
 * benchmark runs); {@code --quick}: 1 warmup and 3 measurement iterations (default: the annotations' 2 and 5, 1 s
 * each); {@code -wi}/{@code -i}: explicit counts; {@code --precision}: the mode of the cases (CPU only; default
 * {@code both}): {@code exact} runs every case with F32 matmul inputs, {@code fast} every case in fast mode
 * (N4J_FLAG_BF16_MATMUL: matmul inputs rounded to BF16, VDPBF16PS kernels where the CPU has AVX512-BF16),
 * {@code both} every case in exact mode and the cases whose kernel changes (the matmuls and decode attention) in fast
 * mode too. A fast-mode matmul is held to {@code gemmCeilingBf16} (the same L2-resident shape with BF16 weights in fast
 * mode), an exact one, and every other compute-bound case, to the F32 {@code gemmCeiling}. The header names the CPU
 * and its flags that decide the kernels (AVX2, AVX-512, AVX512-BF16, AMX). The forked JVMs inherit the environment (so
 * {@code NEMOTRON4J_LIBRARY_DIR}) and this JVM's options.
 */
public final class KernelReport {
    private static final String USAGE = "usage: KernelReport [THREADS] [--device cpu|cuda:N] "
            + "[--precision exact|fast|both] [--quick] [-wi WARMUP_ITERATIONS] [-i ITERATIONS]";
    /** The /proc/cpuinfo flags that decide which CPU kernels run, in the order printed. */
    private static final List<String> KERNEL_FLAGS = List.of("avx2", "fma", "f16c", "avx512f", "avx512bw",
            "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8");

    private KernelReport() {
    }

    /**
     * The command line: worker threads, the device as given (the benchmarks' {@code device} parameter) and the
     * iteration counts (-1: the annotations' default).
     */
    private record Settings(int threads, String device, String precision, int warmups, int iterations) {
        static Settings parse(String[] args) {
            int threads = 2;
            String device = "cpu";
            String precision = null;
            int warmups = -1;
            int iterations = -1;
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--quick" -> {
                        warmups = 1;
                        iterations = 3;
                    }
                    case "--device" -> {
                        if (++i >= args.length) {
                            throw new IllegalArgumentException("--device needs a device (cpu, cuda:0, ...)");
                        }
                        device = args[i];
                    }
                    case "--precision" -> {
                        if (++i >= args.length || !List.of("exact", "fast", "both").contains(args[i])) {
                            throw new IllegalArgumentException("--precision needs exact, fast or both");
                        }
                        precision = args[i];
                    }
                    case "-wi" -> warmups = count(args, ++i, 0);
                    case "-i" -> iterations = count(args, ++i, 1);
                    default -> threads = count(args, i, 1);
                }
            }
            boolean cpu;
            try {
                cpu = KernelFixture.device(device, threads).kind() == Device.Kind.CPU;
            } catch (NemotronException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
            if (precision == null) {
                precision = cpu ? "both" : "exact";
            } else if (!cpu && !precision.equals("exact")) {
                throw new IllegalArgumentException("--precision " + precision + " is a CPU mode; on " + device
                        + " only exact runs");
            }
            return new Settings(threads, device, precision, warmups, iterations);
        }

        /** The device the benchmarks will open: {@link KernelFixture#device} of the same parameters. */
        Device parsedDevice() {
            try {
                return KernelFixture.device(device, threads);
            } catch (NemotronException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
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

    /**
     * The measured ceilings: bytes/s of the copy, FLOP/s of the F32 ceiling matmul and of the BF16 one in fast mode
     * (NaN when missing).
     */
    private record Ceilings(double bytesPerSecond, double flopsPerSecond, double bf16FlopsPerSecond) {
    }

    public static void main(String[] args) throws RunnerException {
        Settings settings;
        Device device;
        try {
            settings = Settings.parse(args);
            device = settings.parsedDevice();
        } catch (IllegalArgumentException e) {
            System.err.println("KernelReport: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        String backend;
        try (Backend b = Backend.create(device)) {
            backend = b.name();
        } catch (NemotronException e) {
            System.err.println("KernelReport: " + e.getMessage());
            if (device.kind() == Device.Kind.CPU) {
                System.err.println("Set NEMOTRON4J_LIBRARY_DIR to the directory holding libnemotron4j.so.");
            } else {
                System.err.println("The " + device + " benchmarks need an NVIDIA GPU of compute capability 8.0 or "
                        + "newer with its driver, and libnemotron4j_cuda.so next to libnemotron4j.so "
                        + "(NEMOTRON4J_LIBRARY_DIR).");
            }
            System.exit(1);
            return;
        }

        List<RunResult> results = new ArrayList<>();
        switch (settings.precision()) {
            case "exact" -> results.addAll(run(settings, "copy|gemmCeiling|kernel", "exact", null));
            case "fast" -> results.addAll(run(settings, "copy|gemmCeiling|gemmCeilingBf16|kernel", "fast", null));
            default -> {
                results.addAll(run(settings, "copy|gemmCeiling|kernel", "exact", null));
                String[] changed = Arrays.stream(KernelWorkload.values()).filter(KernelWorkload::dependsOnPrecision)
                        .map(Enum::name).toArray(String[]::new);
                results.addAll(run(settings, "gemmCeilingBf16|kernel", "fast", changed));
            }
        }
        System.out.println();
        System.out.print(report(results, device, backend));
    }

    /**
     * One JMH run of the benchmark methods named by {@code methods} (a regex alternation) with the cases in
     * {@code precision} mode, restricted to {@code workloads} when not null.
     */
    private static Collection<RunResult> run(Settings settings, String methods, String precision, String[] workloads)
            throws RunnerException {
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include(Pattern.quote(KernelBenchmark.class.getName()) + "\\.(" + methods + ")$")
                .param("threads", Integer.toString(settings.threads()))
                .param("device", settings.device())
                .param("precision", precision)
                .timeUnit(TimeUnit.MICROSECONDS)
                .shouldFailOnError(true);
        if (workloads != null) {
            options.param("workload", workloads);
        }
        if (settings.warmups() >= 0) {
            options.warmupIterations(settings.warmups());
        }
        if (settings.iterations() >= 0) {
            options.measurementIterations(settings.iterations());
        }
        return new Runner(options.build()).run();
    }

    /** The table for {@code results}, all run on {@code device}, whose backend is named {@code backend}. */
    static String report(Collection<RunResult> results, Device device, String backend) {
        boolean cpu = device.kind() == Device.Kind.CPU;
        RunResult copy = find(results, "copy");
        RunResult gemm = find(results, "gemmCeiling");
        RunResult gemmBf16 = find(results, "gemmCeilingBf16");
        Ceilings ceilings = new Ceilings(
                copy == null ? Double.NaN : KernelBenchmark.copyTraffic(device) / fastestSeconds(copy),
                gemm == null ? Double.NaN : KernelBenchmark.gemmFlops(device) / fastestSeconds(gemm),
                gemmBf16 == null ? Double.NaN : KernelBenchmark.gemmFlops(device) / fastestSeconds(gemmBf16));

        StringBuilder out = new StringBuilder();
        if (cpu) {
            out.append("### nemotron4j CPU kernels\n\n");
            out.append(String.format(Locale.ROOT, "Machine: %d cores, %s, %s; backend: %s; JDK %s%n%n",
                    Runtime.getRuntime().availableProcessors(), System.getProperty("os.arch"), cpuModel(), backend,
                    Runtime.version()));
            List<String> flags = cpuFlags();
            out.append(String.format(Locale.ROOT, "CPU flags: %s%s%n%n",
                    flags.isEmpty() ? "none of " + String.join(", ", KERNEL_FLAGS) : String.join(" ", flags),
                    flags.stream().anyMatch(f -> f.startsWith("amx")) ? "" : " (no AMX)"));
            boolean dot = flags.contains("avx512_bf16");
            out.append("Modes: exact = F32 matmul inputs; fast = matmul inputs rounded to BF16 "
                    + "(N4J_FLAG_BF16_MATMUL), " + (dot ? "VDPBF16PS kernels (this CPU has avx512_bf16), or their sums "
                            + "as F32 FMAs where that is faster (" + (cpuModel().contains("Intel")
                                    ? "this Intel CPU" : "Intel CPUs") + " unless N4J_CPU_BF16_DOT says otherwise)"
                            : "the exact kernels (this CPU has no avx512_bf16)")
                    + "; only matmuls differ between the modes.\n\n");
        } else {
            out.append("### nemotron4j CUDA kernels\n\n");
            out.append(String.format(Locale.ROOT, "GPU: %s (%s); host: %d cores, %s, %s; JDK %s%n%n", backend,
                    device, Runtime.getRuntime().availableProcessors(), System.getProperty("os.arch"), cpuModel(),
                    Runtime.version()));
        }
        results.stream().findFirst().map(RunResult::getParams).ifPresent(p -> out.append(String.format(Locale.ROOT,
                "JMH: %d warmup + %d measurement iterations of %s, %d fork per case; time: mean ± 99.9%% CI "
                        + "per call%n%n", p.getWarmup().getCount(), p.getMeasurement().getCount(),
                p.getMeasurement().getTime(), p.getForks())));
        out.append("Rate: GB/s where the case's bytes at the copy bandwidth take longer than its FLOPs at the gemm rate "
                + "(memory-bound), GFLOP/s otherwise; of ceiling: that rate over the copy or gemm ceiling, each the rate of its "
                + "fastest iteration (the F32 gemm for exact cases, the BF16 gemm in fast mode for fast matmuls).");
        if (!cpu) {
            out.append(" Times include one kernel launch and one stream synchronization per call.");
        }
        out.append("\n\n");
        out.append("| case | mode | shape | time | rate | of ceiling |\n");
        out.append("|---|---|---|---:|---:|---:|\n");
        if (copy != null) {
            String shape = cpu
                    ? String.format(Locale.ROOT, "%d MiB memmove, %s threads", KernelBenchmark.COPY_MIB,
                            copy.getParams().getParam("threads"))
                    : String.format(Locale.ROOT, "%d MiB device-to-device copy", KernelBenchmark.COPY_MIB);
            row(out, "copy (memory ceiling)", "-", shape, copy, gigabytes(ceilings.bytesPerSecond()),
                    "ceiling (best iteration)");
        }
        if (gemm != null) {
            String shape = cpu
                    ? String.format(Locale.ROOT, "F32 x[%d,%d] W[%d,%d], L2-resident", KernelBenchmark.GEMM_ROWS,
                            KernelBenchmark.GEMM_IN, KernelBenchmark.GEMM_OUT, KernelBenchmark.GEMM_IN)
                    : String.format(Locale.ROOT, "F32 x[%d,%d] W[%d,%d] BF16, tensor cores",
                            KernelBenchmark.CUDA_GEMM_ROWS, KernelBenchmark.CUDA_GEMM_IN,
                            KernelBenchmark.CUDA_GEMM_OUT, KernelBenchmark.CUDA_GEMM_IN);
            row(out, "gemm (compute ceiling)", "exact", shape, gemm, gigaflops(ceilings.flopsPerSecond()),
                    "ceiling (best iteration)");
        }
        if (gemmBf16 != null) {
            String shape = cpu
                    ? String.format(Locale.ROOT, "F32 x[%d,%d] W[%d,%d] BF16, L2-resident", KernelBenchmark.GEMM_ROWS,
                            KernelBenchmark.GEMM_IN, KernelBenchmark.GEMM_OUT, KernelBenchmark.GEMM_IN)
                    : "as the gemm above";
            row(out, "gemm bf16 (compute ceiling, fast)", "fast", shape, gemmBf16,
                    gigaflops(ceilings.bf16FlopsPerSecond()), "ceiling (best iteration)");
        }
        results.stream()
                .filter(r -> r.getParams().getBenchmark().endsWith(".kernel"))
                .sorted(Comparator.comparing(KernelReport::workload).thenComparing(KernelReport::precision))
                .forEach(r -> caseRow(out, r, ceilings));
        return out.toString();
    }

    private static void caseRow(StringBuilder out, RunResult r, Ceilings ceilings) {
        KernelWorkload w = workload(r);
        String mode = precision(r);
        boolean bf16Gemm = w.isMatmul() && mode.equals("fast") && !Double.isNaN(ceilings.bf16FlopsPerSecond());
        double s = seconds(r);
        double memoryTime = w.bytes() / ceilings.bytesPerSecond();
        double computeTime = w.flops() / (bf16Gemm ? ceilings.bf16FlopsPerSecond() : ceilings.flopsPerSecond());
        boolean memoryBound = w.flops() == 0 || memoryTime >= computeTime;
        String rate = memoryBound ? gigabytes(w.bytes() / s) : gigaflops(w.flops() / s);
        double bound = memoryBound ? memoryTime : computeTime;
        String fraction = Double.isNaN(bound) ? "-" : String.format(Locale.ROOT, "%.0f%% of %s", 100 * bound / s,
                memoryBound ? "copy" : bf16Gemm ? "gemm bf16" : "gemm");
        row(out, w.name(), mode, w.shape(), r, rate, fraction);
    }

    private static void row(StringBuilder out, String name, String mode, String shape, RunResult r, String rate,
                            String fraction) {
        out.append("| ").append(name).append(" | ").append(mode).append(" | ").append(shape).append(" | ")
                .append(time(r.getPrimaryResult()))
                .append(" | ").append(rate).append(" | ").append(fraction).append(" |\n");
    }

    private static RunResult find(Collection<RunResult> results, String method) {
        return results.stream().filter(r -> r.getParams().getBenchmark().endsWith("." + method)).findFirst()
                .orElse(null);
    }

    /** The case's precision mode: the {@code precision} parameter ({@code exact} where absent). */
    private static String precision(RunResult r) {
        String p = r.getParams().getParam("precision");
        return p == null ? "exact" : p;
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

    /** Which of {@link #KERNEL_FLAGS} the first "flags" line of /proc/cpuinfo lists (empty where unreadable). */
    private static List<String> cpuFlags() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            Set<String> flags = lines.filter(l -> l.startsWith("flags"))
                    .map(l -> Set.of(l.substring(l.indexOf(':') + 1).trim().split("\\s+")))
                    .findFirst().orElse(Set.of());
            return KERNEL_FLAGS.stream().filter(flags::contains).toList();
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
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
