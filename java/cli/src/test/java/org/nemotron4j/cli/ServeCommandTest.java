package org.nemotron4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code nemotron4j serve} as a user runs it: a separate JVM, requests over HTTP, stopped with SIGTERM. */
class ServeCommandTest {
    private static final Pattern SERVING = Pattern.compile("^serving (\\S+) on (http://\\S+)(.*)$");

    @Test
    void servesOverHttpWithAnApiKeyAndStopsOnSigterm(@TempDir Path tmp) throws Exception {
        Path demo = DemoModel.ensure(tmp.resolve("demo"), new PrintStream(new ByteArrayOutputStream()));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "serve", "--model", demo.toString(), "--port", "0", "--api-key", "s3cret",
                "--served-model-name", "demo", "--max-sequences", "2")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
            String base = null;
            StringBuilder seen = new StringBuilder();
            for (String line; base == null && (line = err.readLine()) != null; ) {
                seen.append(line).append('\n');
                Matcher m = SERVING.matcher(line.strip());
                if (m.matches()) {
                    assertEquals("demo", m.group(1));
                    assertTrue(m.group(3).contains("API key required"), line);
                    base = m.group(2);
                }
            }
            assertNotNull(base, "no 'serving ... on URL' line; stderr:\n" + seen);
            assertTrue(base.startsWith("http://127.0.0.1:"), "loopback by default: " + base);
            Thread.ofVirtual().start(() -> err.lines().forEach(l -> { }));  // keep draining stderr

            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            ObjectMapper json = new ObjectMapper();
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(401, r.statusCode(), r.body());
            assertNotNull(json.readTree(r.body()).path("error").get("message"), r.body());

            r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models"))
                    .header("Authorization", "Bearer s3cret").build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("demo", json.readTree(r.body()).path("data").get(0).path("id").asText());

            String body = """
                    {"model": "demo", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5,
                     "temperature": 0, "chat_template_kwargs": {"enable_thinking": false}}""";
            r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                            .header("Authorization", "Bearer s3cret").header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            JsonNode done = json.readTree(r.body());
            assertEquals("chat.completion", done.path("object").asText(), r.body());
            assertTrue(done.path("usage").path("completion_tokens").asInt() >= 1, r.body());
            assertTrue(List.of("stop", "length").contains(done.path("choices").get(0).path("finish_reason").asText()),
                    r.body());

            r = http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());

            p.destroy();  // SIGTERM: the shutdown hook closes the server
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
            String stopped = base;
            assertFalse(reachable(http, stopped), "still answering after SIGTERM");
        } finally {
            p.destroyForcibly();
        }
    }

    private static boolean reachable(HttpClient http, String base) {
        try {
            http.send(HttpRequest.newBuilder(URI.create(base + "/health")).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    @Test
    void refusesBadOptionsAsUsageErrors() {
        CliTest.Result r = CliTest.run("serve", "--port", "70000");
        assertEquals(Main.USAGE, r.code(), r.err());
        assertTrue(r.err().contains("--port must be in [0, 65535]"), r.err());
        r = CliTest.run("serve", "--max-sequences", "0");
        assertEquals(Main.USAGE, r.code(), r.err());
        assertTrue(r.err().contains("--max-sequences must be >= 1"), r.err());
        r = CliTest.run("serve", "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("--api-key") && r.out().contains("--host"), r.out());
        r = CliTest.run("--help");
        assertTrue(r.out().contains("serve"), r.out());
    }
}
