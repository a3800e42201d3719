package org.nemotron4j.runtime;

import org.nemotron4j.DecodeStepStats;
import org.nemotron4j.Device;
import org.nemotron4j.NemotronException;
import org.nemotron4j.bindings.n4j_backend_info;
import org.nemotron4j.bindings.n4j_backend_options;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.nemotron4j.bindings.nemotron4j_h.*;

/**
 * A native backend handle ({@code n4j_backend}): the CPU with its worker threads, or a CUDA device with its
 * stream. Owns nothing but the handle; memory allocated through it is returned with {@link #free}.
 * Used by one thread at a time (callers serialize, as the C ABI requires).
 */
public final class Backend implements AutoCloseable {
    private final Device device;
    private MemorySegment handle;
    private final String name;
    private final int activationDtype;

    private Backend(Device device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment info = n4j_backend_info.allocate(a);
            check(n4j_backend_get_info(handle, info), "n4j_backend_get_info");
            this.name = n4j_backend_info.name(info).getString(0);
            this.activationDtype = n4j_backend_info.activation_dtype(info);
        }
    }

    /** Creates the backend for a device with F32 activations; fails with a clear message when it is not available. */
    public static Backend create(Device device) {
        return create(device, org.nemotron4j.DType.F32);
    }

    /**
     * Creates the backend for a device whose activations are {@code activationDtype} (F32 or BF16, the latter with
     * the residual stream in F32: N4J_FLAG_F32_RESIDUAL); fails with a clear message when it is not available.
     */
    public static Backend create(Device device, org.nemotron4j.DType activationDtype) {
        return create(device, activationDtype, activationDtype);
    }

    /**
     * As {@link #create(Device, org.nemotron4j.DType)}, with the type matmuls round their inputs to (F32, or BF16:
     * N4J_FLAG_BF16_MATMUL, BF16 dot products on CPUs with AVX512-BF16).
     */
    public static Backend create(Device device, org.nemotron4j.DType activationDtype, org.nemotron4j.DType matmulDtype) {
        return create(device, activationDtype, matmulDtype, org.nemotron4j.Fp8Activations.WEIGHT_ONLY);
    }

    /**
     * As {@link #create(Device, org.nemotron4j.DType, org.nemotron4j.DType)}, with the FP8 activation mode
     * ({@link org.nemotron4j.Fp8Activations#W8A8}: N4J_FLAG_FP8_W8A8; null is weight-only). W8A8 on a GPU older than
     * compute capability 8.9 fails here with the native message.
     */
    public static Backend create(Device device, org.nemotron4j.DType activationDtype, org.nemotron4j.DType matmulDtype,
                                 org.nemotron4j.Fp8Activations fp8) {
        if (activationDtype != org.nemotron4j.DType.F32 && activationDtype != org.nemotron4j.DType.BF16) {
            throw new NemotronException("activation dtype must be F32 or BF16, got " + activationDtype);
        }
        if (matmulDtype != org.nemotron4j.DType.F32 && matmulDtype != org.nemotron4j.DType.BF16) {
            throw new NemotronException("matmul dtype must be F32 or BF16, got " + matmulDtype);
        }
        NativeLibrary.load();
        String pluginPath = System.getenv("N4J_CUDA_LIBRARY");
        if (device.kind() != Device.Kind.CPU && !NativeLibrary.hasCudaPlugin() && (pluginPath == null || pluginPath.isEmpty())) {
            throw new NemotronException("cannot create the " + device + " backend: the CUDA plug-in "
                    + System.mapLibraryName("nemotron4j_cuda") + " is not next to the native library in "
                    + NativeLibrary.load() + ": add the artifact " + NativeLibrary.artifact(true)
                    + " (Maven: groupId org.nemotron4j, artifactId nemotron4j-native-cuda, classifier "
                    + NativeLibrary.platform() + "), or set N4J_CUDA_LIBRARY to the plug-in's path");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment opts = n4j_backend_options.allocate(a);
            n4j_backend_options.kind(opts, device.kind() == Device.Kind.CPU ? N4J_BACKEND_CPU() : N4J_BACKEND_CUDA());
            n4j_backend_options.device(opts, device.ordinal());
            n4j_backend_options.threads(opts, device.threads());
            // BF16 activations always keep the residual stream in F32 (the engine's BF16 data path)
            n4j_backend_options.flags(opts, (device.referenceKernels() ? N4J_FLAG_REFERENCE_KERNELS() : 0)
                    | (activationDtype == org.nemotron4j.DType.BF16 ? N4J_FLAG_F32_RESIDUAL() : 0)
                    | (matmulDtype == org.nemotron4j.DType.BF16 ? N4J_FLAG_BF16_MATMUL() : 0)
                    | (fp8 == org.nemotron4j.Fp8Activations.W8A8 ? N4J_FLAG_FP8_W8A8() : 0));
            n4j_backend_options.activation_dtype(opts, activationDtype.nativeCode());
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            int status = n4j_backend_create(opts, out);
            if (status != N4J_OK()) {
                throw new NemotronException("cannot create the " + device + " backend: " + lastError());
            }
            return new Backend(device, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The thread-local message of the last failed native call. */
    public static String lastError() {
        MemorySegment msg = n4j_last_error();
        if (msg.equals(MemorySegment.NULL)) {
            return "(no message)";
        }
        return msg.reinterpret(4096).getString(0);
    }

    /** Throws a NemotronException carrying the native message when {@code status} is not N4J_OK. */
    public static void check(int status, String what) {
        if (status != 0) {
            throw new NemotronException(what + " failed (status " + status + "): " + lastError());
        }
    }

    public MemorySegment handle() {
        if (handle == null) {
            throw new NemotronException("the " + device + " backend is closed");
        }
        return handle;
    }

    public Device device() {
        return device;
    }

    public String name() {
        return name;
    }

    public boolean isCpu() {
        return device.kind() == Device.Kind.CPU;
    }

    /** The native code of the activation dtype ({@code N4J_DTYPE_F32} or {@code N4J_DTYPE_BF16}). */
    public int activationDtype() {
        return activationDtype;
    }

    /** Bytes of one activation element: 4 (F32) or 2 (BF16). */
    public int activationBytes() {
        return activationDtype == N4J_DTYPE_BF16() ? 2 : 4;
    }

    /**
     * Allocates {@code bytes} of zeroed backend memory. On the CPU the segment is directly readable from Java;
     * on CUDA it is a device address (sized, but never to be dereferenced from Java).
     */
    public MemorySegment alloc(long bytes) {
        if (bytes <= 0) {
            throw new NemotronException("allocation size must be positive, got " + bytes);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            int status = n4j_alloc(handle(), bytes, out);
            if (status != N4J_OK()) {
                throw new NemotronException("cannot allocate " + bytes + " bytes on " + device + ": " + lastError());
            }
            return out.get(ValueLayout.ADDRESS, 0).reinterpret(bytes);
        }
    }

    public void free(MemorySegment ptr) {
        if (ptr != null && !ptr.equals(MemorySegment.NULL)) {
            check(n4j_free(handle(), ptr), "n4j_free");
        }
    }

    /** Copies host memory into backend memory. */
    public void upload(MemorySegment dst, MemorySegment src, long bytes) {
        check(n4j_copy(handle(), dst, src, bytes, N4J_COPY_HOST_TO_BACKEND()), "n4j_copy (upload)");
    }

    /** Copies backend memory into host memory. */
    public void download(MemorySegment dst, MemorySegment src, long bytes) {
        check(n4j_copy(handle(), dst, src, bytes, N4J_COPY_BACKEND_TO_HOST()), "n4j_copy (download)");
    }

    /** Copies backend memory to backend memory. */
    public void copy(MemorySegment dst, MemorySegment src, long bytes) {
        check(n4j_copy(handle(), dst, src, bytes, N4J_COPY_BACKEND_TO_BACKEND()), "n4j_copy");
    }

    public void fillZero(MemorySegment ptr, long bytes) {
        check(n4j_fill_zero(handle(), ptr, bytes), "n4j_fill_zero");
    }

    public void synchronize() {
        check(n4j_backend_synchronize(handle()), "n4j_backend_synchronize");
    }

    /**
     * Opens a decode step ({@code n4j_step_begin}): on CUDA the calls up to {@link #endStep()} are captured once per
     * ({@code key}, {@code maxContext}) as a CUDA graph and replayed on later steps of that key. {@code key} names the
     * batch shape (same calls, buffers and scalar arguments); {@code maxContext} bounds every KV cache length the step
     * reaches. Inside a step, downloads, synchronize, alloc and free are refused. {@code eager}: this step runs its
     * calls as they come (same work split).
     */
    public void beginStep(long key, int maxContext, boolean eager) {
        check(n4j_step_begin(handle(), key, maxContext, eager ? N4J_STEP_EAGER() : 0), "n4j_step_begin");
    }

    /** Closes the step opened by {@link #beginStep}; on CUDA it launches the step's graph (or its replay). */
    public void endStep() {
        check(n4j_step_end(handle()), "n4j_step_end");
    }

    /** Closes an open step after a failed call inside it, keeping the first failure as the one reported. */
    public void abandonStep() {
        n4j_step_end(handle());
    }

    /** Decode-step counters since this backend was created. */
    public DecodeStepStats stepStats() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_LONG, N4J_STEP_STATS());
            check(n4j_step_stats(handle(), out), "n4j_step_stats");
            return new DecodeStepStats(out.getAtIndex(ValueLayout.JAVA_LONG, 0), out.getAtIndex(ValueLayout.JAVA_LONG, 1),
                    out.getAtIndex(ValueLayout.JAVA_LONG, 2), out.getAtIndex(ValueLayout.JAVA_LONG, 3),
                    out.getAtIndex(ValueLayout.JAVA_LONG, 4));
        }
    }

    /** Bytes of backend memory in all (host RAM on the CPU, device memory on CUDA). */
    public long totalMemory() {
        return info(n4j_backend_info::total_memory);
    }

    /** Bytes currently allocated through this backend (what leak tests and the memory plan compare against). */
    public long allocatedBytes() {
        return info(n4j_backend_info::allocated_bytes);
    }

    /** One field of n4j_backend_info, read now. */
    private long info(java.util.function.ToLongFunction<MemorySegment> field) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment info = n4j_backend_info.allocate(a);
            check(n4j_backend_get_info(handle(), info), "n4j_backend_get_info");
            return field.applyAsLong(info);
        }
    }

    @Override
    public void close() {
        if (handle != null) {
            MemorySegment h = handle;
            handle = null;
            check(n4j_backend_destroy(h), "n4j_backend_destroy");
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
