package org.nemotron4j.bench;

import org.nemotron4j.DType;
import org.nemotron4j.Device;
import org.nemotron4j.Precision;
import org.nemotron4j.runtime.Backend;
import org.nemotron4j.runtime.Kernels;
import org.nemotron4j.runtime.NativeWeight;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The kernels of the native library on model-sized shapes, one call per operation, next to two ceilings of the
 * device they run on: the CPU (default) or a CUDA GPU ({@code -p device=cuda:0}).
 *
 * <ul>
 *   <li>{@code kernel}: the case named by {@code -p workload=...}, a {@link KernelWorkload} constant (all of them
 *       by default): matmul for decode (1 row: BF16 and FP8 weights streamed once), batched decode (8 rows) and
 *       prefill (512 rows), the SSD chunk scan and the recurrent SSM step, the conv1d, attention prefill (512
 *       tokens) and decode (4096 positions of BF16 KV), and the small kernels (RMSNorm, gated RMSNorm, relu^2,
 *       add, embedding, argmax). {@link KernelWorkload} says what each case counts as its work.</li>
 *   <li>{@code copy}: the memory ceiling. On the CPU, a copy of {@value #COPY_MIB} MiB split over {@code threads}
 *       threads, each slice through the {@code n4j_copy} (memmove) of its own single-threaded backend. On CUDA, one
 *       device-to-device {@code n4j_copy} of the same {@value #COPY_MIB} MiB on the GPU's stream, then a
 *       synchronize. Its bandwidth is 2 * bytes / time (read and write) on both.</li>
 *   <li>{@code gemmCeiling}: the compute ceiling. On the CPU, an F32 matmul of {@value #GEMM_ROWS} rows by
 *       [{@value #GEMM_OUT}, {@value #GEMM_IN}] (eight tasks of 64 weight rows, so the threads stay balanced) whose
 *       operands stay in the L2 cache: the rate the FMA units reach with this library's matmul kernel, with
 *       nothing waiting on memory. On CUDA, F32 activations of {@value #CUDA_GEMM_ROWS} rows by BF16 weights
 *       [{@value #CUDA_GEMM_OUT}, {@value #CUDA_GEMM_IN}]: this library's own tensor-core GEMM at a size with
 *       nothing waiting on memory (about 1400 FLOPs per byte of operands, far above what HBM needs to keep up).
 *       With F32 activations the GEMM splits x into two BF16 halves and runs twice the tensor-core products; the
 *       rate counts the algorithm's 2 * rows * in * out only, as every matmul case does, so the cases and the
 *       ceiling compare like with like, but not with the GPU's datasheet peak.</li>
 *   <li>{@code gemmCeilingBf16}: the compute ceiling of {@code fast} precision. On the CPU the same L2-resident
 *       shape with BF16 weights on a backend in fast mode (N4J_FLAG_BF16_MATMUL: x rounded to BF16, the VDPBF16PS
 *       kernels on a CPU with AVX512-BF16, the exact BF16-weight kernels elsewhere); on CUDA the same GEMM as
 *       {@code gemmCeiling}, which has BF16 weights already.</li>
 * </ul>
 * {@code precision} ({@code exact} by default, or {@code fast}) is the mode of the {@code kernel} cases' backend:
 * only the matmul and decode-attention cases run another kernel in {@code fast} mode
 * ({@link KernelWorkload#dependsOnPrecision}), so {@link KernelReport} runs every case in {@code exact} and those
 * once more in {@code fast}
 * ({@code -p precision=exact,fast -p workload=MATMUL_...} does it with the JMH command line).
 * Every case allocates its inputs from a fixed seed in native memory (up to ~0.6 GB; the forked JVM's heap is
 * 256 MB) and frees it all at the end of the trial. {@code threads} is the CPU backend's worker count (default 2);
 * a CUDA backend ignores it. {@link KernelReport} runs all of this and prints rates and the fraction of the ceilings.
 *
 * <p>On CUDA the buffers and weights are device memory (see {@link KernelFixture}), and every operation ends with
 * {@link Backend#synchronize}: kernels are only enqueued on the backend's stream, so without it JMH would time the
 * launch. A time per call is therefore the kernel itself plus the host side of one launch and one stream
 * synchronization (a few microseconds), which dominates the smallest cases (decode argmax, SSM and conv1d steps).
 *
 * <pre>
 * NEMOTRON4J_LIBRARY_DIR=build/native java --enable-native-access=ALL-UNNAMED \
 *     -jar java/bench/target/nemotron4j-benchmarks.jar KernelBenchmark -p threads=2 -p workload=SSM_DECODE_9B
 * NEMOTRON4J_LIBRARY_DIR=build/native java --enable-native-access=ALL-UNNAMED \
 *     -jar java/bench/target/nemotron4j-benchmarks.jar KernelBenchmark -p device=cuda:0
 * </pre>
 * Without {@code NEMOTRON4J_LIBRARY_DIR} (or {@code -Dnemotron4j.library.dir}) the library packaged in the jar
 * is used; when none can be loaded every case fails in its setup with the loader's message, and so does every case
 * on a CUDA device that the library cannot open (no CUDA plug-in, driver or GPU).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xms256m", "-Xmx256m"})
@Threads(1)
public class KernelBenchmark {
    static final int COPY_MIB = 256;
    static final int GEMM_ROWS = 192;
    static final int GEMM_IN = 256;
    static final int GEMM_OUT = 512;
    static final int CUDA_GEMM_ROWS = 4096;
    static final int CUDA_GEMM_IN = 8192;
    static final int CUDA_GEMM_OUT = 8192;

    /** Bytes the copy benchmark reads and writes per operation: the same {@value #COPY_MIB} MiB on every device. */
    static double copyTraffic(Device device) {
        return 2.0 * COPY_MIB * (1 << 20);
    }

    /** FLOPs of one gemmCeiling operation on {@code device}: the F32 CPU matmul or the BF16-weight CUDA one. */
    static double gemmFlops(Device device) {
        return device.kind() == Device.Kind.CPU
                ? 2.0 * GEMM_ROWS * GEMM_IN * GEMM_OUT
                : 2.0 * CUDA_GEMM_ROWS * CUDA_GEMM_IN * CUDA_GEMM_OUT;
    }

    /** One {@link KernelWorkload}: its buffers and the calls that cycle through its replicas. */
    @State(Scope.Thread)
    public static class Workload {
        @Param("2")
        public int threads;

        @Param("cpu")
        public String device;

        @Param
        public KernelWorkload workload;

        /** {@code exact} or {@code fast}: the backend's precision mode (see the class comment). */
        @Param("exact")
        public String precision;

        private KernelFixture fixture;
        private Runnable[] calls;
        private boolean synchronize;
        private int next;

        @Setup
        public void setUp() {
            fixture = new KernelFixture(KernelFixture.device(device, threads), Precision.parse(precision));
            synchronize = fixture.onDevice();
            try {
                calls = workload.calls(fixture);
                if (synchronize) {
                    fixture.synchronize();
                }
            } catch (RuntimeException e) {
                closeAfter(fixture, e);
                throw e;
            }
        }

        void run() {
            calls[next].run();
            if (synchronize) {
                fixture.synchronize();
            }
            next = next + 1 == calls.length ? 0 : next + 1;
        }

        @TearDown
        public void tearDown() {
            fixture.close();
        }
    }

    /**
     * The copy's buffers. On the CPU, two {@value #COPY_MIB} MiB host buffers and one single-threaded backend per
     * copying thread; on CUDA, two {@value #COPY_MIB} MiB device buffers of one backend.
     */
    @State(Scope.Thread)
    public static class CopyBuffers {
        @Param("2")
        public int threads;

        @Param("cpu")
        public String device;

        private Arena arena;
        private final List<Backend> backends = new ArrayList<>();
        private ExecutorService pool;
        private final List<Callable<Void>> slices = new ArrayList<>();
        private KernelFixture gpu;
        private MemorySegment gpuSrc;
        private MemorySegment gpuDst;

        @Setup
        public void setUp() {
            long bytes = (long) COPY_MIB << 20;
            Device d = KernelFixture.device(device, threads);
            if (d.kind() != Device.Kind.CPU) {
                gpu = new KernelFixture(d);
                try {
                    gpuSrc = gpu.zeros(bytes);
                    gpuDst = gpu.zeros(bytes);
                    gpu.synchronize();
                } catch (RuntimeException e) {
                    closeAfter(gpu, e);
                    throw e;
                }
                return;
            }
            arena = Arena.ofShared();
            MemorySegment src = arena.allocate(bytes, 64);
            MemorySegment dst = arena.allocate(bytes, 64);
            src.fill((byte) 1);
            pool = Executors.newFixedThreadPool(threads);
            long slice = Math.ceilDiv(bytes / threads, 64) * 64;
            for (long offset = 0; offset < bytes; offset += slice) {
                Backend b = Backend.create(Device.cpu(1));
                backends.add(b);
                MemorySegment from = src.asSlice(offset, Math.min(slice, bytes - offset));
                MemorySegment to = dst.asSlice(offset, from.byteSize());
                slices.add(() -> {
                    b.copy(to, from, from.byteSize());
                    return null;
                });
            }
        }

        /** One device-to-device copy of the whole buffer on the GPU's stream, waited for. */
        void copyOnDevice() {
            Backend b = gpu.backend();
            b.copy(gpuDst, gpuSrc, gpuSrc.byteSize());
            b.synchronize();
        }

        @TearDown
        public void tearDown() {
            if (gpu != null) {
                gpu.close();
                return;
            }
            pool.shutdownNow();
            backends.forEach(Backend::close);
            arena.close();
        }
    }

    /**
     * The operands of a compute ceiling: on the CPU small enough for the L2 cache, F32 weights ({@code gemmCeiling})
     * or BF16 weights in fast mode ({@code gemmCeilingBf16}); on CUDA F32 activations and BF16 weights large enough
     * to keep the tensor cores busy (see the class comment), for both.
     */
    static final class Gemm {
        private final KernelFixture fixture;
        private final Kernels kernels;
        private final boolean synchronize;
        private final int rows;
        private final int in;
        private final int out;
        private final MemorySegment x;
        private final NativeWeight w;
        private final MemorySegment y;

        Gemm(String device, int threads, boolean bf16) {
            Device d = KernelFixture.device(device, threads);
            fixture = new KernelFixture(d, bf16 && d.kind() == Device.Kind.CPU ? Precision.FAST : Precision.EXACT);
            kernels = fixture.kernels();
            synchronize = fixture.onDevice();
            try {
                if (synchronize) {
                    rows = CUDA_GEMM_ROWS;
                    in = CUDA_GEMM_IN;
                    out = CUDA_GEMM_OUT;
                    x = fixture.floats((long) rows * in);
                    w = fixture.weight("weight", DType.BF16, -1f, 1f, out, in);
                    y = fixture.zeros((long) rows * out * Float.BYTES);
                    fixture.synchronize();
                } else {
                    rows = GEMM_ROWS;
                    in = GEMM_IN;
                    out = GEMM_OUT;
                    x = fixture.floats((long) rows * in);
                    w = fixture.weight("weight", bf16 ? DType.BF16 : DType.F32, -1f, 1f, out, in);
                    y = fixture.zeros((long) rows * out * Float.BYTES);
                }
            } catch (RuntimeException e) {
                closeAfter(fixture, e);
                throw e;
            }
        }

        void run() {
            kernels.matmul(x, in, rows, w, y, out, false);
            if (synchronize) {
                fixture.synchronize();
            }
        }

        void close() {
            fixture.close();
        }
    }

    /** The operands of {@code gemmCeiling}: F32 weights on the CPU, in exact mode. */
    @State(Scope.Thread)
    public static class GemmOperands {
        @Param("2")
        public int threads;

        @Param("cpu")
        public String device;

        private Gemm gemm;

        @Setup
        public void setUp() {
            gemm = new Gemm(device, threads, false);
        }

        @TearDown
        public void tearDown() {
            gemm.close();
        }
    }

    /** The operands of {@code gemmCeilingBf16}: BF16 weights on the CPU, in fast mode. */
    @State(Scope.Thread)
    public static class Bf16GemmOperands {
        @Param("2")
        public int threads;

        @Param("cpu")
        public String device;

        private Gemm gemm;

        @Setup
        public void setUp() {
            gemm = new Gemm(device, threads, true);
        }

        @TearDown
        public void tearDown() {
            gemm.close();
        }
    }

    /** Closes {@code fixture} after a failed setup, keeping {@code failure} as the error that is reported. */
    private static void closeAfter(KernelFixture fixture, RuntimeException failure) {
        try {
            fixture.close();
        } catch (RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    @Benchmark
    public void kernel(Workload w) {
        w.run();
    }

    @Benchmark
    public void copy(CopyBuffers c) throws InterruptedException, ExecutionException {
        if (c.gpu != null) {
            c.copyOnDevice();
            return;
        }
        for (Future<Void> f : c.pool.invokeAll(c.slices)) {
            f.get();
        }
    }

    @Benchmark
    public void gemmCeiling(GemmOperands g) {
        g.gemm.run();
    }

    @Benchmark
    public void gemmCeilingBf16(Bf16GemmOperands g) {
        g.gemm.run();
    }
}
