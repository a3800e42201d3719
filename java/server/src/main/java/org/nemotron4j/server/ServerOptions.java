package org.nemotron4j.server;

import org.nemotron4j.Device;
import org.nemotron4j.LoadOptions;
import org.nemotron4j.NemotronException;
import org.nemotron4j.serving.LogitsHook;
import org.nemotron4j.serving.SchedulerOptions;

import java.nio.file.Path;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * How to run a {@link NemotronServer}.
 *
 * @param modelDir        the checkpoint directory (ignored when the server is started on a loaded model)
 * @param host            the address to bind; loopback by default (put a reverse proxy in front to expose it)
 * @param port            the TCP port; 0 picks a free one ({@link NemotronServer#port()} says which)
 * @param device          where the model runs
 * @param apiKey          when non-null, {@code /v1/*} requires {@code Authorization: Bearer <apiKey>}
 * @param modelName       the id clients send as {@code model}; null: the checkpoint directory's name
 * @param scheduler       batching limits and the prefix cache
 * @param load            how the checkpoint is loaded
 * @param maxN            the largest {@code n} (choices per request) accepted
 * @param logitsProcessor when non-null, a fresh processor per choice sees and may change its logits before each
 *                        sample (constrained decoding experiments; the tests script outputs with it)
 */
public record ServerOptions(Path modelDir, String host, int port, Device device, String apiKey, String modelName,
                            SchedulerOptions scheduler, LoadOptions load, int maxN,
                            Supplier<LogitsHook> logitsProcessor) {
    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 8000;

    public ServerOptions {
        Objects.requireNonNull(host, "host");
        if (port < 0 || port > 65535) {
            throw new NemotronException("port must be in [0, 65535], got " + port);
        }
        device = device == null ? Device.cpu() : device;
        scheduler = scheduler == null ? SchedulerOptions.defaults() : scheduler;
        load = load == null ? LoadOptions.defaults() : load;
        if (maxN < 1) {
            throw new NemotronException("maxN must be >= 1, got " + maxN);
        }
        if (apiKey != null && apiKey.isBlank()) {
            apiKey = null;
        }
    }

    /** Serve {@code modelDir} on 127.0.0.1:8000, CPU, no API key, default scheduler. */
    public static ServerOptions of(Path modelDir) {
        return new ServerOptions(modelDir, DEFAULT_HOST, DEFAULT_PORT, Device.cpu(), null, null, null, null, 16, null);
    }

    public ServerOptions withHost(String h) {
        return new ServerOptions(modelDir, h, port, device, apiKey, modelName, scheduler, load, maxN, logitsProcessor);
    }

    public ServerOptions withPort(int p) {
        return new ServerOptions(modelDir, host, p, device, apiKey, modelName, scheduler, load, maxN, logitsProcessor);
    }

    public ServerOptions withDevice(Device d) {
        return new ServerOptions(modelDir, host, port, d, apiKey, modelName, scheduler, load, maxN, logitsProcessor);
    }

    public ServerOptions withApiKey(String k) {
        return new ServerOptions(modelDir, host, port, device, k, modelName, scheduler, load, maxN, logitsProcessor);
    }

    public ServerOptions withModelName(String n) {
        return new ServerOptions(modelDir, host, port, device, apiKey, n, scheduler, load, maxN, logitsProcessor);
    }

    public ServerOptions withScheduler(SchedulerOptions s) {
        return new ServerOptions(modelDir, host, port, device, apiKey, modelName, s, load, maxN, logitsProcessor);
    }

    public ServerOptions withLoad(LoadOptions l) {
        return new ServerOptions(modelDir, host, port, device, apiKey, modelName, scheduler, l, maxN, logitsProcessor);
    }

    public ServerOptions withLogitsProcessor(Supplier<LogitsHook> p) {
        return new ServerOptions(modelDir, host, port, device, apiKey, modelName, scheduler, load, maxN, p);
    }
}
