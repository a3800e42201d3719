package org.nemotron4j.bench;

import org.nemotron4j.DType;
import org.nemotron4j.Device;
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
 * The CPU kernels of the native library on model-sized shapes, one call per operation, next to two ceilings of
 * the machine they run on.
 *
 * <ul>
 *   <li>{@code kernel}: the case named by {@code -p workload=...}, a {@link KernelWorkload} constant (all of them
 *       by default): matmul for decode (1 row: BF16 and FP8 weights streamed once), batched decode (8 rows) and
 *       prefill (512 rows), the SSD chunk scan and the recurrent SSM step, the conv1d, attention prefill (512
 *       tokens) and decode (4096 positions of BF16 KV), and the small kernels (RMSNorm, gated RMSNorm, relu^2,
 *       add, embedding, argmax). {@link KernelWorkload} says what each case counts as its work.</li>
 *   <li>{@code copy}: the memory ceiling, a copy of {@value #COPY_MIB} MiB split over {@code threads} threads,
 *       each slice through the {@code n4j_copy} (memmove) of its own single-threaded backend. Its bandwidth is
 *       2 * bytes / time (read and write).</li>
 *   <li>{@code gemmCeiling}: the compute ceiling, an F32 matmul of {@value #GEMM_ROWS} rows by
 *       [{@value #GEMM_OUT}, {@value #GEMM_IN}] (eight tasks of 64 weight rows, so the threads stay balanced) whose
 *       operands stay in the L2 cache: the rate the FMA units reach with this library's matmul kernel, with
 *       nothing waiting on memory.</li>
 * </ul>
 * Every case allocates its inputs from a fixed seed in native memory (up to ~0.6 GB; the forked JVM's heap is
 * 256 MB) and frees it all at the end of the trial. {@code threads} is the backend's worker count (default 2).
 * {@link KernelReport} runs all of this and prints rates and the fraction of the ceilings.
 *
 * <pre>
 * NEMOTRON4J_LIBRARY_DIR=build/native java --enable-native-access=ALL-UNNAMED \
 *     -jar java/bench/target/nemotron4j-benchmarks.jar KernelBenchmark -p threads=2 -p workload=SSM_DECODE_9B
 * </pre>
 * Without {@code NEMOTRON4J_LIBRARY_DIR} (or {@code -Dnemotron4j.library.dir}) the library packaged in the jar
 * is used; when none can be loaded every case fails in its setup with the loader's message.
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

    /** Bytes the copy benchmark reads and writes per operation. */
    static double copyTraffic() {
        return 2.0 * COPY_MIB * (1 << 20);
    }

    /** FLOPs of one gemmCeiling operation. */
    static double gemmFlops() {
        return 2.0 * GEMM_ROWS * GEMM_IN * GEMM_OUT;
    }

    /** One {@link KernelWorkload}: its buffers and the calls that cycle through its replicas. */
    @State(Scope.Thread)
    public static class Workload {
        @Param("2")
        public int threads;

        @Param
        public KernelWorkload workload;

        private KernelFixture fixture;
        private Runnable[] calls;
        private int next;

        @Setup
        public void setUp() {
            fixture = new KernelFixture(threads);
            calls = workload.calls(fixture);
        }

        void run() {
            calls[next].run();
            next = next + 1 == calls.length ? 0 : next + 1;
        }

        @TearDown
        public void tearDown() {
            fixture.close();
        }
    }

    /** Two {@value #COPY_MIB} MiB buffers and one single-threaded backend per copying thread. */
    @State(Scope.Thread)
    public static class CopyBuffers {
        @Param("2")
        public int threads;

        private Arena arena;
        private final List<Backend> backends = new ArrayList<>();
        private ExecutorService pool;
        private final List<Callable<Void>> slices = new ArrayList<>();

        @Setup
        public void setUp() {
            arena = Arena.ofShared();
            long bytes = (long) COPY_MIB << 20;
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

        @TearDown
        public void tearDown() {
            pool.shutdownNow();
            backends.forEach(Backend::close);
            arena.close();
        }
    }

    /** The F32 operands of the compute ceiling, small enough for the L2 cache. */
    @State(Scope.Thread)
    public static class GemmOperands {
        @Param("2")
        public int threads;

        private KernelFixture fixture;
        private Kernels kernels;
        private MemorySegment x;
        private NativeWeight w;
        private MemorySegment y;

        @Setup
        public void setUp() {
            fixture = new KernelFixture(threads);
            kernels = fixture.kernels();
            x = fixture.floats((long) GEMM_ROWS * GEMM_IN);
            w = fixture.weight("weight", DType.F32, -1f, 1f, GEMM_OUT, GEMM_IN);
            y = fixture.zeros((long) GEMM_ROWS * GEMM_OUT * Float.BYTES);
        }

        @TearDown
        public void tearDown() {
            fixture.close();
        }
    }

    @Benchmark
    public void kernel(Workload w) {
        w.run();
    }

    @Benchmark
    public void copy(CopyBuffers c) throws InterruptedException, ExecutionException {
        for (Future<Void> f : c.pool.invokeAll(c.slices)) {
            f.get();
        }
    }

    @Benchmark
    public void gemmCeiling(GemmOperands g) {
        g.kernels.matmul(g.x, GEMM_IN, GEMM_ROWS, g.w, g.y, GEMM_OUT, false);
    }
}
