package org.nemotron4j.bench;

import org.nemotron4j.DType;
import org.nemotron4j.Device;
import org.nemotron4j.NemotronException;
import org.nemotron4j.Precision;
import org.nemotron4j.checkpoint.BFloat16;
import org.nemotron4j.checkpoint.Fp8E4M3;
import org.nemotron4j.checkpoint.TensorInfo;
import org.nemotron4j.runtime.Backend;
import org.nemotron4j.runtime.Kernels;
import org.nemotron4j.runtime.NativeWeight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What a kernel benchmark runs on: a backend with its kernels, the case's buffers and weights filled from a
 * fixed-seed generator (the same inputs in every run, on every device), and an arena for the host-side
 * descriptors. {@link #close} frees it all. Native memory is used throughout, not the Java heap, so the forked
 * JVM's heap stays small.
 *
 * <p>On the CPU every buffer, weight and descriptor lives in the arena, and a weight's descriptor points straight
 * at its values there. On a CUDA backend the buffers handed out ({@link #zeros}, {@link #floats}, {@link #values},
 * {@link #ints}) and the weights' elements are device memory: zeroed by {@link Backend#alloc}, then the values are
 * generated into a temporary host arena, uploaded, and the host copy is freed. What the C ABI reads on the host
 * stays in the arena even then: the pointer tables ({@link #pointers}), the {@code n4j_kv_cache},
 * {@code n4j_ssm_dims} and {@code n4j_attn_dims} structs and the {@code n4j_weight} descriptors, holding device
 * addresses. Device memory is never read or written from Java. Kernels on CUDA run asynchronously on the backend's
 * stream; {@link #synchronize} waits for them.
 */
final class KernelFixture implements AutoCloseable {
    /** Alignment of every host buffer: a cache line, as {@code n4j_alloc} gives. */
    private static final long ALIGN = 64;
    /** The {@code file} of the in-memory weights, named in native error messages. */
    private static final Path SOURCE = Path.of("random-weights");

    private final Arena arena = Arena.ofShared();
    private final SplittableRandom random = new SplittableRandom(2024);
    private final Backend backend;
    private final Kernels kernels;
    /** Device memory allocated here (buffers and uploaded weights), freed by {@link #close}; empty on the CPU. */
    private final List<MemorySegment> deviceMemory = new ArrayList<>();

    /** A CPU fixture with {@code threads} worker threads. */
    KernelFixture(int threads) {
        this(Device.cpu(threads));
    }

    /** A fixture of {@code device} in {@link Precision#EXACT} mode. */
    KernelFixture(Device device) {
        this(device, Precision.EXACT);
    }

    /**
     * Creates the backend of {@code device} with F32 activations; in {@link Precision#FAST} mode its matmuls round
     * their inputs to BF16 ({@code N4J_FLAG_BF16_MATMUL}: the VDPBF16PS kernels on a CPU with AVX512-BF16, the exact
     * kernels elsewhere), as a model loaded with {@code LoadOptions.withPrecision(FAST)} does. A missing or
     * unloadable native library, or a CUDA device that is not there, fails here with the library's message.
     */
    KernelFixture(Device device, Precision precision) {
        try {
            backend = Backend.create(device, DType.F32, precision == Precision.FAST ? DType.BF16 : DType.F32);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        kernels = new Kernels(backend);
    }

    /**
     * The device of the JMH parameters: {@code spec} as {@link Device#parse} reads it ({@code cpu}, {@code cuda:0},
     * ...), where a CPU runs {@code threads} worker threads. A CPU spec naming another thread count is refused, so
     * the two parameters cannot disagree.
     */
    static Device device(String spec, int threads) {
        Device d = Device.parse(spec);
        if (d.kind() != Device.Kind.CPU) {
            return d;
        }
        if (d.threads() != 0 && d.threads() != threads) {
            throw new NemotronException("device '" + spec + "' names " + d.threads() + " threads but threads is "
                    + threads + "; use device cpu and set the worker count with threads");
        }
        return Device.cpu(threads);
    }

    Kernels kernels() {
        return kernels;
    }

    Backend backend() {
        return backend;
    }

    /** Whether the buffers are backend (device) memory rather than host memory. */
    boolean onDevice() {
        return !backend.isCpu();
    }

    /** The host arena: descriptors, pointer tables, and on the CPU every buffer and weight. */
    Arena arena() {
        return arena;
    }

    /** Waits for the work enqueued on the backend (a no-op on the CPU). */
    void synchronize() {
        backend.synchronize();
    }

    /** {@code bytes} of zeroed memory of the backend, 64-byte aligned. */
    MemorySegment zeros(long bytes) {
        if (!onDevice()) {
            return arena.allocate(bytes, ALIGN);
        }
        MemorySegment s = backend.alloc(bytes);
        deviceMemory.add(s);
        return s;
    }

    /** {@code n} F32 values uniform in [lo, hi). */
    MemorySegment floats(long n, float lo, float hi) {
        return values(DType.F32, n, lo, hi, 1f);
    }

    /** {@code n} F32 values uniform in [-1, 1). */
    MemorySegment floats(long n) {
        return floats(n, -1f, 1f);
    }

    /**
     * {@code n} elements of {@code dtype} whose real values are uniform in [lo, hi): F32 and BF16 hold them directly
     * (BF16 rounded to nearest even), F8_E4M3 holds them divided by {@code scale} (the weight scale that multiplies
     * them back). Backend memory.
     */
    MemorySegment values(DType dtype, long n, float lo, float hi, float scale) {
        if (!onDevice()) {
            return fill(arena.allocate(n * dtype.byteSize(), ALIGN), dtype, n, lo, hi, scale);
        }
        try (Arena host = Arena.ofConfined()) {
            return upload(fill(host.allocate(n * dtype.byteSize(), ALIGN), dtype, n, lo, hi, scale));
        }
    }

    /** {@code n} int32 values uniform in [0, bound). Backend memory. */
    MemorySegment ints(long n, int bound) {
        if (!onDevice()) {
            return fillInts(arena.allocate(n * Integer.BYTES, ALIGN), n, bound);
        }
        try (Arena host = Arena.ofConfined()) {
            return upload(fillInts(host.allocate(n * Integer.BYTES, ALIGN), n, bound));
        }
    }

    /** A host array of the given (backend) pointers: per-sequence state tables, KV block tables. */
    MemorySegment pointers(MemorySegment... targets) {
        MemorySegment s = arena.allocate(ValueLayout.ADDRESS, targets.length);
        for (int i = 0; i < targets.length; i++) {
            s.setAtIndex(ValueLayout.ADDRESS, i, targets[i]);
        }
        return s;
    }

    /**
     * A weight of {@code shape} with real values uniform in [lo, hi), stored as {@link #values} does, and
     * {@code scale} in its descriptor. On CUDA, {@link NativeWeight#of} uploads the elements into device memory
     * (freed by {@link #close}) and the generated host copy is freed at once.
     */
    NativeWeight scaledWeight(String name, DType dtype, float scale, float lo, float hi, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        long bytes = n * dtype.byteSize();
        if (!onDevice()) {
            MemorySegment data = fill(arena.allocate(bytes, ALIGN), dtype, n, lo, hi, scale);
            return NativeWeight.of(backend, arena, new TensorInfo(name, dtype, shape, data, SOURCE), scale, 0f);
        }
        try (Arena host = Arena.ofConfined()) {
            MemorySegment data = fill(host.allocate(bytes, ALIGN), dtype, n, lo, hi, scale);
            NativeWeight w = NativeWeight.of(backend, arena, new TensorInfo(name, dtype, shape, data, SOURCE), scale,
                    0f);
            if (w.uploaded()) {
                deviceMemory.add(w.data());
            }
            return w;
        }
    }

    /** A weight with real values uniform in [lo, hi) and scale 1 (F32, BF16). */
    NativeWeight weight(String name, DType dtype, float lo, float hi, long... shape) {
        return scaledWeight(name, dtype, 1f, lo, hi, shape);
    }

    /** Frees the device memory allocated here, then the backend, then the arena (each even when one fails). */
    @Override
    public void close() {
        RuntimeException failure = null;
        for (MemorySegment s : deviceMemory) {
            try {
                backend.free(s);
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        deviceMemory.clear();
        try {
            backend.close();
        } catch (RuntimeException e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        } finally {
            arena.close();
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** A device copy of the host segment {@code host}; the caller may free {@code host} on return. */
    private MemorySegment upload(MemorySegment host) {
        MemorySegment d = zeros(host.byteSize());
        backend.upload(d, host, host.byteSize());
        return d;
    }

    private MemorySegment fill(MemorySegment s, DType dtype, long n, float lo, float hi, float scale) {
        for (long i = 0; i < n; i++) {
            float v = lo + (hi - lo) * random.nextFloat();
            switch (dtype) {
                case F32 -> s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, BFloat16.fromFloat(v));
                case F8_E4M3 -> s.set(ValueLayout.JAVA_BYTE, i, Fp8E4M3.encode(v / scale));
                default -> throw new IllegalArgumentException("no random values of type " + dtype);
            }
        }
        return s;
    }

    private MemorySegment fillInts(MemorySegment s, long n, int bound) {
        for (long i = 0; i < n; i++) {
            s.setAtIndex(ValueLayout.JAVA_INT, i, random.nextInt(bound));
        }
        return s;
    }
}
