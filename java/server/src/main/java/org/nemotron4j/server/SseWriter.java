package org.nemotron4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Server-sent events as OpenAI streams them: {@code text/event-stream}, one {@code data: <json>\n\n} event per
 * chunk, flushed at once (HTTP/1.1 chunked encoding), ended by {@code data: [DONE]}. A write that fails means the
 * client has gone: the caller cancels its work.
 */
final class SseWriter {
    private final HttpExchange exchange;
    private final ObjectMapper json;
    private OutputStream out;

    SseWriter(HttpExchange exchange, ObjectMapper json) {
        this.exchange = exchange;
        this.json = json;
    }

    /** Sends the 200 headers (once). */
    void open() throws IOException {
        if (out == null) {
            var h = exchange.getResponseHeaders();
            h.set("Content-Type", "text/event-stream; charset=utf-8");
            h.set("Cache-Control", "no-cache");
            h.set("X-Accel-Buffering", "no");   // nginx: do not buffer the stream
            exchange.sendResponseHeaders(200, 0);
            out = exchange.getResponseBody();
        }
    }

    void send(JsonNode event) throws IOException {
        write("data: " + json.writeValueAsString(event) + "\n\n");
    }

    void done() throws IOException {
        write("data: [DONE]\n\n");
        out.close();
    }

    private void write(String s) throws IOException {
        open();
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
