package org.nemotron4j.cli;

import org.nemotron4j.Device;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.server.NemotronServer;
import org.nemotron4j.server.ServerOptions;
import org.nemotron4j.serving.SchedulerOptions;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * {@code serve}: the OpenAI-compatible HTTP server ({@link NemotronServer}: JDK HTTP server on virtual threads, the
 * continuous-batching scheduler with its prefix cache) until the process is stopped (Ctrl-C, SIGTERM). Prints
 * {@code serving NAME on http://HOST:PORT} to stderr once it accepts requests.
 */
final class ServeCommand implements Command {
    @Override
    public String name() {
        return "serve";
    }

    @Override
    public String summary() {
        return "serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, ...)";
    }

    @Override
    public List<String> description() {
        return List.of("Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health,",
                "GET /metrics (Prometheus). Bound to loopback unless --host says otherwise; the API key may also",
                "come from NEMOTRON4J_API_KEY. Stop it with Ctrl-C (running requests end with an error).");
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--model", "DIR", "checkpoint directory (default: the demo model, random weights)"),
                Opt.value("--host", "ADDR", "address to bind (default 127.0.0.1)"),
                Opt.value("--port", "PORT", "TCP port (default 8000; 0 picks a free one)"),
                Opt.value("--device", "DEVICE", "cpu (default) or cuda:N"),
                Opt.value("--api-key", "KEY", "require 'Authorization: Bearer KEY' on /v1/* (default: none)"),
                Opt.value("--served-model-name", "NAME", "the model id clients send (default: the directory's name)"),
                Opt.value("--precision", "fast|exact", "fast (default) or exact, as for run"),
                Opt.value("--kv", "f32|bf16", "KV cache element type"),
                GenerationFlags.FP8,
                GenerationFlags.QUANTIZE,
                GenerationFlags.QUANTIZE_POLICY,
                Opt.flag("--no-cuda-graphs", "cuda: decode steps run eagerly instead of as CUDA graphs (debugging)"),
                Opt.value("--max-sequences", "N", "requests decoded at once (default "
                        + SchedulerOptions.DEFAULT_MAX_SEQUENCES + ")"),
                Opt.value("--max-queue", "N", "requests waiting for a place before 429 (default "
                        + SchedulerOptions.DEFAULT_MAX_QUEUED + ")"),
                Opt.value("--max-queue-wait-s", "S", "seconds a request may wait before 503 (default "
                        + SchedulerOptions.DEFAULT_MAX_QUEUE_WAIT.toSeconds() + ")"),
                Opt.value("--prefix-cache-mb", "MB", "prefix cache budget, 0 turns it off (default "
                        + (SchedulerOptions.DEFAULT_PREFIX_CACHE_BYTES >> 20) + ")"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        ServerOptions o = options(a);
        try (NemotronModel model = GenerationFlags.load(a, err);
             NemotronServer server = NemotronServer.start(model, o)) {
            Thread hook = new Thread(server::close, "nemotron4j-serve-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            err.println("serving " + server.modelName() + " on " + server.baseUrl()
                    + (o.apiKey() != null ? " (API key required)" : ""));
            err.flush();
            try {
                server.awaitClose();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException ignored) {
                    // the JVM is shutting down: the hook is what closed the server
                }
            }
        }
        return Main.OK;
    }

    /** The server options from the command line (the model itself is loaded by {@link GenerationFlags#load}). */
    static ServerOptions options(Args a) {
        Path dir = a.has("model") ? a.path("model") : null;
        int port = a.integer("port", ServerOptions.DEFAULT_PORT);
        if (port < 0 || port > 65535) {
            throw new Args.UsageException("serve: --port must be in [0, 65535], got " + port);
        }
        SchedulerOptions s = SchedulerOptions.defaults();
        if (a.has("max-sequences")) {
            s = s.withMaxSequences(positive(a, "max-sequences"));
        }
        if (a.has("max-queue")) {
            s = s.withMaxQueued(positive(a, "max-queue"));
        }
        if (a.has("max-queue-wait-s")) {
            s = s.withMaxQueueWait(Duration.ofSeconds(positive(a, "max-queue-wait-s")));
        }
        if (a.has("prefix-cache-mb")) {
            long mb = a.longValue("prefix-cache-mb", 0);
            if (mb < 0) {
                throw new Args.UsageException("serve: --prefix-cache-mb must be >= 0, got " + mb);
            }
            s = s.withPrefixCacheBytes(mb << 20);
        }
        String key = a.string("api-key", System.getenv("NEMOTRON4J_API_KEY"));
        return ServerOptions.of(dir).withHost(a.string("host", ServerOptions.DEFAULT_HOST)).withPort(port)
                .withDevice(Device.parse(a.string("device", "cpu"))).withApiKey(key)
                .withModelName(a.string("served-model-name", null)).withScheduler(s);
    }

    private static int positive(Args a, String name) {
        int v = a.integer(name, 1);
        if (v < 1) {
            throw new Args.UsageException("serve: --" + name + " must be >= 1, got " + v);
        }
        return v;
    }
}
