package org.nemotron4j.server;

import org.nemotron4j.Device;
import org.nemotron4j.Fp8Activations;
import org.nemotron4j.NemotronException;
import org.nemotron4j.serving.SchedulerOptions;

import java.nio.file.Path;
import java.time.Duration;

/**
 * {@code java -cp ... org.nemotron4j.server.ServeMain --model DIR [--host 127.0.0.1] [--port 8000] [--device cpu]
 * [--api-key KEY] [--served-model-name NAME] [--max-sequences 64] [--max-queue 256] [--max-queue-wait-s 60]
 * [--prefix-cache-mb 1024] [--fp8 weight-only|w8a8]}: runs a {@link NemotronServer} until the process is stopped. The API key may also come
 * from the environment ({@code NEMOTRON4J_API_KEY}) so it does not show in the process list.
 */
public final class ServeMain {
    private ServeMain() {
    }

    public static void main(String[] args) throws Exception {
        ServerOptions o;
        try {
            o = parse(args);
        } catch (NemotronException | IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
            return;
        }
        NemotronServer server = NemotronServer.start(o);
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        System.err.println("serving " + server.modelName() + " on " + server.baseUrl()
                + (o.apiKey() != null ? " (API key required)" : ""));
        server.awaitClose();
    }

    static ServerOptions parse(String[] args) {
        Path model = null;
        ServerOptions o = ServerOptions.of(null).withApiKey(System.getenv("NEMOTRON4J_API_KEY"));
        SchedulerOptions s = SchedulerOptions.defaults();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                throw new NemotronException("usage: ServeMain --model DIR [--host 127.0.0.1] [--port 8000]"
                        + " [--device cpu|cuda:N] [--api-key KEY] [--served-model-name NAME] [--max-sequences N]"
                        + " [--max-queue N] [--max-queue-wait-s S] [--prefix-cache-mb MB] [--fp8 weight-only|w8a8]");
            }
            if (i + 1 >= args.length) {
                throw new NemotronException("option " + a + " needs a value");
            }
            String v = args[++i];
            switch (a) {
                case "--model" -> model = Path.of(v);
                case "--host" -> o = o.withHost(v);
                case "--port" -> o = o.withPort(Integer.parseInt(v));
                case "--device" -> o = o.withDevice(Device.parse(v));
                case "--api-key" -> o = o.withApiKey(v);
                case "--served-model-name" -> o = o.withModelName(v);
                case "--max-sequences" -> s = s.withMaxSequences(Integer.parseInt(v));
                case "--max-queue" -> s = s.withMaxQueued(Integer.parseInt(v));
                case "--max-queue-wait-s" -> s = s.withMaxQueueWait(Duration.ofSeconds(Long.parseLong(v)));
                case "--prefix-cache-mb" -> s = s.withPrefixCacheBytes(Long.parseLong(v) << 20);
                case "--fp8" -> o = o.withLoad(o.load().withFp8Activations(Fp8Activations.parse(v)));
                default -> throw new NemotronException("unknown option " + a);
            }
        }
        if (model == null) {
            throw new NemotronException("--model DIR is required");
        }
        return new ServerOptions(model, o.host(), o.port(), o.device(), o.apiKey(), o.modelName(), s, o.load(),
                o.maxN(), null);
    }
}
