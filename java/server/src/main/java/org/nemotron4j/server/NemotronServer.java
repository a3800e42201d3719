package org.nemotron4j.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.serving.CancelledException;
import org.nemotron4j.serving.OverloadedException;
import org.nemotron4j.serving.PromptTooLongException;
import org.nemotron4j.serving.Scheduler;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * An OpenAI-compatible HTTP server over one model: {@code POST /v1/chat/completions}, {@code POST /v1/completions},
 * {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics}. It runs on the JDK's HTTP server
 * ({@code com.sun.net.httpserver}: HTTP/1.1 keep-alive, chunked responses for server-sent events) with a virtual
 * thread per exchange; generation is done by a {@link Scheduler}.
 *
 * <pre>{@code
 * try (NemotronServer server = NemotronServer.start(ServerOptions.of(Path.of("/models/nano")).withPort(8000))) {
 *     server.awaitClose();
 * }
 * }</pre>
 */
public final class NemotronServer implements AutoCloseable {
    /** Request bodies larger than this are refused (413). */
    static final int MAX_BODY_BYTES = 32 << 20;

    private final ServerOptions options;
    private final NemotronModel model;
    private final boolean ownsModel;
    private final String modelName;
    private final Scheduler scheduler;
    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final ObjectMapper json = new ObjectMapper();
    private final ServerMetrics metrics = new ServerMetrics();
    private final ChatCompletions chat;
    private final Completions completions;
    private final long started = System.currentTimeMillis() / 1000;
    private final Object closeLock = new Object();
    private boolean closed;

    private NemotronServer(ServerOptions options, NemotronModel model, boolean ownsModel) throws IOException {
        this.options = options;
        this.model = model;
        this.ownsModel = ownsModel;
        this.modelName = options.modelName() != null ? options.modelName()
                : model.directory() != null ? model.directory().getFileName().toString() : "nemotron";
        this.scheduler = new Scheduler(model, options.scheduler());
        this.chat = new ChatCompletions(this, json);
        this.completions = new Completions(this, json);
        this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 0);
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Loads {@code options.modelDir()} and serves it; {@link #close()} also closes the model. */
    public static NemotronServer start(ServerOptions options) {
        Objects.requireNonNull(options.modelDir(), "modelDir");
        NemotronModel model = NemotronModel.load(options.modelDir(), options.device(), options.load());
        try {
            return new NemotronServer(options, model, true);
        } catch (IOException | RuntimeException e) {
            model.close();
            throw new NemotronException("cannot start the server on " + options.host() + ":" + options.port() + ": "
                    + e.getMessage(), e);
        }
    }

    /** Serves an already loaded model (which the caller keeps and closes). */
    public static NemotronServer start(NemotronModel model, ServerOptions options) {
        try {
            return new NemotronServer(options, model, false);
        } catch (IOException e) {
            throw new NemotronException("cannot start the server on " + options.host() + ":" + options.port() + ": "
                    + e.getMessage(), e);
        }
    }

    /** The port it listens on (the chosen one when started with port 0). */
    public int port() {
        return http.getAddress().getPort();
    }

    /** {@code http://host:port}. */
    public String baseUrl() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return "http://" + host + ":" + port();
    }

    public String modelName() {
        return modelName;
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    public NemotronModel model() {
        return model;
    }

    ServerOptions options() {
        return options;
    }

    ServerMetrics metrics() {
        return metrics;
    }

    /** Blocks until {@link #close()} is called (from another thread or a shutdown hook). */
    public void awaitClose() throws InterruptedException {
        synchronized (closeLock) {
            while (!closed) {
                closeLock.wait();
            }
        }
    }

    /** Stops accepting requests, cancels the running ones and frees everything. */
    @Override
    public void close() {
        synchronized (closeLock) {
            if (closed) {
                return;
            }
            closed = true;
            closeLock.notifyAll();
        }
        http.stop(0);
        scheduler.close();
        executor.shutdownNow();
        if (ownsModel) {
            model.close();
        }
    }

    // ---- routing ----

    private void handle(HttpExchange ex) {
        long arrival = System.nanoTime();
        try (ex) {
            try {
                route(ex, arrival);
            } catch (ApiError e) {
                if (e.status >= 400 && e.status != 404 && e.status != 405 && e.status != 401) {
                    metrics.requestFailed();
                }
                sendError(ex, e);
            } catch (IOException e) {
                // the client went away; nothing to answer
            } catch (RuntimeException e) {
                metrics.requestFailed();
                sendError(ex, ApiError.internal(e.toString()));
            }
        } catch (IOException | RuntimeException ignored) {
            // the client went away while the error was written
        }
    }

    private void route(HttpExchange ex, long arrival) throws IOException {
        String path = ex.getRequestURI().getPath();
        switch (path) {
            case "/health" -> {
                requireMethod(ex, "GET");
                sendBytes(ex, 200, "text/plain; charset=utf-8", "ok\n".getBytes(StandardCharsets.UTF_8));
            }
            case "/metrics" -> {
                requireMethod(ex, "GET");
                sendBytes(ex, 200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render(scheduler.stats()).getBytes(StandardCharsets.UTF_8));
            }
            case "/v1/models" -> {
                authorize(ex);
                requireMethod(ex, "GET");
                ObjectNode root = JsonNodeFactory.instance.objectNode();
                root.put("object", "list");
                ObjectNode m = root.putArray("data").addObject();
                m.put("id", modelName);
                m.put("object", "model");
                m.put("created", started);
                m.put("owned_by", "nemotron4j");
                m.put("max_model_len", model.config().maxPositionEmbeddings());
                sendJson(ex, 200, root);
            }
            case "/v1/chat/completions" -> {
                authorize(ex);
                requireMethod(ex, "POST");
                metrics.requestStarted();
                chat.handle(ex, readJson(ex), arrival);
                metrics.e2e.observe((System.nanoTime() - arrival) / 1e9);
            }
            case "/v1/completions" -> {
                authorize(ex);
                requireMethod(ex, "POST");
                metrics.requestStarted();
                completions.handle(ex, readJson(ex), arrival);
                metrics.e2e.observe((System.nanoTime() - arrival) / 1e9);
            }
            default -> {
                authorize(ex);
                throw ApiError.notFound(path);
            }
        }
    }

    private static void requireMethod(HttpExchange ex, String method) {
        if (!method.equals(ex.getRequestMethod())) {
            ex.getResponseHeaders().set("Allow", method);
            throw ApiError.methodNotAllowed(ex.getRequestMethod(), ex.getRequestURI().getPath());
        }
    }

    /** With an API key configured, {@code Authorization: Bearer <key>} (compared in constant time). */
    private void authorize(HttpExchange ex) {
        if (options.apiKey() == null) {
            return;
        }
        String h = ex.getRequestHeaders().getFirst("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : "";
        if (!MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8),
                options.apiKey().getBytes(StandardCharsets.UTF_8))) {
            throw ApiError.unauthorized();
        }
    }

    private JsonNode readJson(HttpExchange ex) throws IOException {
        byte[] body;
        try (InputStream in = ex.getRequestBody()) {
            body = in.readNBytes(MAX_BODY_BYTES + 1);
        }
        if (body.length > MAX_BODY_BYTES) {
            throw new ApiError(413, "invalid_request_error", "the request body exceeds " + MAX_BODY_BYTES + " bytes",
                    null, "request_too_large", 0);
        }
        try {
            JsonNode n = json.readTree(body);
            if (n == null || !n.isObject()) {
                throw ApiError.invalid("the request body must be a JSON object", null);
            }
            return n;
        } catch (JsonProcessingException e) {
            throw ApiError.invalid("malformed JSON in the request body: " + e.getOriginalMessage(), null,
                    "invalid_json");
        }
    }

    // ---- shared by the endpoints ----

    void checkModel(String requested) {
        if (!modelName.equals(requested)) {
            throw ApiError.modelNotFound(requested);
        }
    }

    /** The API error for a failure of the engine. */
    ApiError translate(Throwable t) {
        if (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return switch (t) {
            case ApiError e -> e;
            case OverloadedException e -> e.queueFull() ? ApiError.queueFull(e.getMessage(), e.retryAfterSeconds())
                    : ApiError.overloaded(e.getMessage(), e.retryAfterSeconds());
            case PromptTooLongException e -> ApiError.invalid(e.getMessage(), "messages", "context_length_exceeded");
            case CancelledException e -> new ApiError(499, "invalid_request_error", e.getMessage(), null,
                    "cancelled", 0);
            case NemotronException e when isInputError(e) -> ApiError.invalid(e.getMessage(), null);
            default -> ApiError.internal(t.getMessage() != null ? t.getMessage() : t.toString());
        };
    }

    /** Errors of the request's content (template, options) rather than of the engine. */
    private static boolean isInputError(NemotronException e) {
        for (StackTraceElement f : e.getStackTrace()) {
            String c = f.getClassName();
            if (c.startsWith("org.nemotron4j.chat.") || c.equals("org.nemotron4j.ChatRequest")
                    || c.equals("org.nemotron4j.Message") || c.startsWith("org.nemotron4j.sampling.")
                    || c.startsWith("org.nemotron4j.generate.")) {
                return true;
            }
        }
        return false;
    }

    void sendJson(HttpExchange ex, int status, JsonNode body) throws IOException {
        sendBytes(ex, status, "application/json", json.writeValueAsBytes(body));
    }

    private void sendError(HttpExchange ex, ApiError e) throws IOException {
        if (e.retryAfterSeconds > 0) {
            ex.getResponseHeaders().set("Retry-After", Integer.toString(e.retryAfterSeconds));
        }
        if (e.status == 401) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
        }
        sendJson(ex, e.status, e.toJson());
    }

    private static void sendBytes(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }
}
