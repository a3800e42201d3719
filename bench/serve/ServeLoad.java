import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bounded load test of {@code nemotron4j serve} over loopback (run by bench/serve-load.sh; not a unit test).
 *
 * <ol>
 * <li>References: each of the test prompts once, alone (greedy): the text every later answer to that prompt must
 *     equal.</li>
 * <li>Prefix caching: a request with a new 2k-token prefix (cold), then one sharing it (warm): TTFT of both, the
 *     warm one's output against the same request on a server without prefix cache, the hit-rate metric.</li>
 * <li>Phase A: N concurrent streaming clients for T seconds, each sending one request after the other.</li>
 * <li>Phase B: the same while another client keeps sending 2k-token prompts (random token ids on /v1/completions,
 *     new each time, so no cache hits; one at a time, back to back).</li>
 * </ol>
 * Every stream must answer 200 and end with a finish reason, usage and [DONE] (a request lost, refused or cut is
 * counted and makes the exit status 1). Its tokens are compared with its prompt's batch-1 reference, both with their
 * two most likely tokens ({@code logprobs}, {@code top_logprobs: 2}). Batched decode equals solo decode within 1e-5,
 * not bitwise, so a greedy path may fork from the reference where two tokens nearly tie; anything else is corruption.
 * A stream that differs is therefore accepted only when, at its first differing token, it took the reference's
 * runner-up and the reference's two top log-probabilities are within {@link #TIE_NATS}; otherwise it is counted as
 * corrupted and makes the exit status 1. Prints TTFT and inter-token p50/p99 per phase and the ratio of phase B's
 * p99 inter-token latency to phase A's.
 *
 * <p>{@code java -cp nemotron4j.jar ServeLoad.java --url http://127.0.0.1:8000 --cold-url http://127.0.0.1:8001
 * [--streams 64] [--seconds 60] [--max-tokens 48] [--long-tokens 2048] [--model NAME] [--id-range 100:356]
 * [--prefix-trials 3] [--prefix-only false]}
 * (token ids of the prompts sent as ids: byte tokens of the demo model; take e.g. 1000:30000 for a real checkpoint)
 */
public class ServeLoad {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .executor(Executors.newVirtualThreadPerTaskExecutor()).connectTimeout(Duration.ofSeconds(10)).build();
    static final String[] PROMPTS = {
            "Why is the sky blue?", "Name three prime numbers.", "What is a hybrid Mamba model?",
            "Write a haiku about Java.", "How far is the Moon?", "Explain continuous batching.",
            "What does a KV cache hold?", "Say hello in French."};

    static String url;
    static String coldUrl;
    static String model = "demo";
    static int maxTokens = 48;
    static int prefixTrials = 3;
    static boolean prefixOnly;
    static int idLo = 100;
    static int idHi = 356;

    /**
     * The widest gap (in nats) between the two most likely tokens at which batched decode may take the other one:
     * its logits differ from batch-1 decode's by about 1e-5 of their largest magnitude, orders of magnitude less.
     */
    static final double TIE_NATS = 0.02;

    /** One generated token with its log-probability and the runner-up's (token text as its UTF-8 bytes). */
    record Tok(String bytes, double logprob, String alt, double altLogprob) { }

    /** One finished (or failed) stream; {@code tokens} when it asked for logprobs. */
    record Stream(int prompt, boolean ok, String error, String text, double ttftMs, List<Double> gapsMs,
                  int promptTokens, int cachedTokens, int completionTokens, List<Tok> tokens) { }

    /** How a complete stream compares with its prompt's batch-1 reference. */
    enum Verdict { EQUAL, NEAR_TIE_FORK, STOP_FORK, CORRUPTED }

    /** A verdict with the index of the first differing token (-1 where the tokens are equal). */
    record Comparison(Verdict verdict, int fork) { }

    /**
     * EQUAL: the same tokens. NEAR_TIE_FORK: the first differing token is the reference's runner-up there, and the
     * reference's top two were within {@link #TIE_NATS} (float drift of batched decode flips such ties; from there
     * on the two texts are different continuations). CORRUPTED: anything else (another token than the runner-up, a
     * clear winner not taken, or tokens without their logprobs).
     */
    static Comparison compare(Stream r, Stream ref) {
        if (r.text.equals(ref.text) && r.tokens.equals(ref.tokens)) {
            return new Comparison(Verdict.EQUAL, -1);
        }
        int n = Math.min(r.tokens.size(), ref.tokens.size());
        int k = 0;
        while (k < n && r.tokens.get(k).bytes().equals(ref.tokens.get(k).bytes())) {
            k++;
        }
        if (k == n) {
            // one is a prefix of the other: one of them stopped (end of turn) where the other went on. The stop
            // token's logprob is not reported, so such a fork is counted apart (STOP_FORK), as not verifiable here.
            return new Comparison(r.text.equals(ref.text) ? Verdict.EQUAL : Verdict.STOP_FORK, k);
        }
        Tok mine = r.tokens.get(k);
        Tok theirs = ref.tokens.get(k);
        boolean runnerUp = mine.bytes().equals(theirs.alt()) && theirs.bytes().equals(mine.alt());
        boolean tie = Math.abs(theirs.logprob() - theirs.altLogprob()) <= TIE_NATS;
        return new Comparison(runnerUp && tie ? Verdict.NEAR_TIE_FORK : Verdict.CORRUPTED, k);
    }

    public static void main(String[] args) throws Exception {
        int streams = 64;
        int seconds = 60;
        int longTokens = 2048;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--url" -> url = v;
                case "--cold-url" -> coldUrl = v;
                case "--streams" -> streams = Integer.parseInt(v);
                case "--seconds" -> seconds = Integer.parseInt(v);
                case "--max-tokens" -> maxTokens = Integer.parseInt(v);
                case "--long-tokens" -> longTokens = Integer.parseInt(v);
                case "--model" -> model = v;
                case "--prefix-trials" -> prefixTrials = Integer.parseInt(v);
                case "--prefix-only" -> prefixOnly = Boolean.parseBoolean(v);
                case "--id-range" -> {
                    idLo = Integer.parseInt(v.split(":")[0]);
                    idHi = Integer.parseInt(v.split(":")[1]);
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        System.out.printf("serve load test: %s, %d streams x %d s per phase, max_tokens %d, long prompts %d tokens%n",
                url, streams, seconds, maxTokens, longTokens);

        // references: each prompt alone
        Stream[] reference = new Stream[PROMPTS.length];
        for (int p = 0; p < PROMPTS.length; p++) {
            Stream r = stream(url, p, body(PROMPTS[p], true));
            if (!r.ok) {
                throw new IllegalStateException("reference request failed: " + r.error);
            }
            reference[p] = r;
        }

        boolean ok = prefixCache(longTokens);
        if (prefixOnly) {
            System.out.println(ok ? "RESULT: prefix cache trials complete" : "RESULT: FAILURES (see above)");
            System.exit(ok ? 0 : 1);
        }

        Phase a = phase("A: streams only", streams, seconds, reference, 0);
        Phase b = phase("B: streams + 2k-token prompts arriving", streams, seconds, reference, longTokens);
        double ratio = b.interP99 / a.interP99;
        System.out.printf("p99 inter-token latency with 2k-token prompts arriving / without: %.1f ms / %.1f ms = %.2f"
                + " (goal <= 2: %s)%n", b.interP99, a.interP99, ratio, ratio <= 2 ? "met" : "NOT met");
        ok &= a.failures == 0 && b.failures == 0;
        System.out.println(ok ? "RESULT: no request lost or cut" : "RESULT: FAILURES (see above)");
        System.exit(ok ? 0 : 1);
    }

    record Phase(int requests, int failures, double interP99) { }

    static Phase phase(String name, int streams, int seconds, Stream[] reference, int longTokens) throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        ConcurrentLinkedQueue<Stream> done = new ConcurrentLinkedQueue<>();
        AtomicBoolean stopLong = new AtomicBoolean();
        List<Double> longTtft = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger longFailed = new AtomicInteger();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int s = 0; s < streams; s++) {
                int client = s;
                pool.submit(() -> {
                    for (int n = 0; System.nanoTime() < end; n++) {
                        int p = (client + n) % PROMPTS.length;
                        done.add(stream(url, p, body(PROMPTS[p], true)));
                    }
                    return null;
                });
            }
            if (longTokens > 0) {
                pool.submit(() -> {
                    Random random = new Random(7);
                    while (System.nanoTime() < end && !stopLong.get()) {
                        ObjectNode b = idsBody(randomIds(random, longTokens));
                        b.put("max_tokens", 1);
                        Stream r = stream(url, -1, b);
                        if (r.ok) {
                            longTtft.add(r.ttftMs);
                        } else {
                            longFailed.incrementAndGet();
                        }
                    }
                    return null;
                });
            }
        }
        List<Double> ttft = new ArrayList<>();
        List<Double> gaps = new ArrayList<>();
        List<Double> agreed = new ArrayList<>();
        List<Double> forkGaps = new ArrayList<>();
        int failures = 0;
        int differing = 0;
        int corrupted = 0;
        int stopForks = 0;
        Map<String, Integer> errors = new HashMap<>();
        int tokens = 0;
        for (Stream r : done) {
            if (!r.ok) {
                failures++;
                errors.merge(r.error, 1, Integer::sum);
                continue;
            }
            Stream ref = reference[r.prompt];
            Comparison c = compare(r, ref);
            Verdict v = c.verdict();
            if (v == Verdict.CORRUPTED) {
                corrupted++;
                if (corrupted <= 3) {
                    System.out.printf("  CORRUPTED stream of prompt %d: %s%n    reference: %s%n", r.prompt,
                            JSON.writeValueAsString(r.text), JSON.writeValueAsString(ref.text));
                }
            } else if (v == Verdict.STOP_FORK) {
                stopForks++;
            } else if (v == Verdict.NEAR_TIE_FORK) {
                differing++;
                int k = c.fork();
                agreed.add(100.0 * k / Math.max(1, ref.tokens.size()));
                forkGaps.add(Math.abs(ref.tokens.get(k).logprob() - ref.tokens.get(k).altLogprob()));
            }
            ttft.add(r.ttftMs);
            gaps.addAll(r.gapsMs);
            tokens += r.completionTokens;
        }
        System.out.printf("phase %s: %d requests: %d complete (finish reason, usage, [DONE]), %d failed %s; %d tokens"
                        + " (%.1f tok/s)%n", name, done.size(), done.size() - failures, failures, errors, tokens,
                tokens / (double) seconds);
        System.out.printf("  of the complete ones %d equal their prompt's batch-1 greedy reference token for token; %d"
                        + " fork from it at a near tie (after a median %.0f%% of its tokens; the runner-up taken where"
                        + " the top two were within %.4f nats, largest %.4f: float drift of batched decode); %d"
                        + " stop where the other goes on (not verifiable: a stop token's logprob is not reported); %d"
                        + " corrupted%n",
                done.size() - failures - differing - corrupted - stopForks, differing, pct(agreed, 50),
                pct(forkGaps, 50), pct(forkGaps, 100), stopForks, corrupted);
        failures += corrupted;
        System.out.printf("  TTFT ms p50 %.1f p99 %.1f; inter-token ms p50 %.2f p99 %.2f (%d gaps)%n",
                pct(ttft, 50), pct(ttft, 99), pct(gaps, 50), pct(gaps, 99), gaps.size());
        if (longTokens > 0) {
            System.out.printf("  2k-token prompts: %d answered (TTFT ms p50 %.0f, max %.0f), %d failed%n",
                    longTtft.size(), pct(longTtft, 50), pct(longTtft, 100), longFailed.get());
            failures += longFailed.get();
        }
        return new Phase(done.size(), failures, pct(gaps, 99));
    }

    /**
     * Cold vs warm TTFT for a shared prefix of {@code longTokens} + 16 tokens (token ids on /v1/completions, so the
     * count is exact): the second request, with another 8-token suffix, resumes from the cached prefix (the cache
     * keeps prefixes at multiples of the model's SSD chunk, 64 tokens on the demo model: here {@code longTokens} of
     * them when it is a multiple of 64). Its output is
     * compared with the same request on the server without prefix cache. As many trials go through the chat
     * template with a text prefix of about {@code longTokens} tokens, where the block boundary falls where the text
     * puts it. {@code --prefix-trials} sets the number of trials of each kind; medians are printed.
     */
    static boolean prefixCache(int longTokens) throws Exception {
        boolean ok = true;
        System.out.println("prefix cache trials: load average " + loadAverage());
        List<Double> idRatios = new ArrayList<>();
        List<Double> chatRatios = new ArrayList<>();
        for (int trial = 0; trial < prefixTrials; trial++) {
            Random random = new Random(100 + trial);
            int[] prefix = randomIds(random, longTokens + 16);
            Stream cold = stream(url, -1, idsBody(concat(prefix, randomIds(random, 8))));
            int[] second = concat(prefix, randomIds(random, 8));
            Stream warm = stream(url, -1, idsBody(second));
            Stream noCache = stream(coldUrl, -1, idsBody(second));
            ok &= report("token ids, trial " + (trial + 1), cold, warm, noCache);
            idRatios.add(cold.ttftMs / warm.ttftMs);
        }
        // the chat prefix: a text whose prompt is about longTokens tokens (its characters per token measured once on
        // the no-cache server, with another text of the same kind)
        Stream probe = stream(coldUrl, -1, body(randomText(new Random(99), longTokens), true));
        int chars = probe.ok && probe.promptTokens > 0
                ? (int) Math.ceil((double) longTokens * longTokens / probe.promptTokens) : longTokens;
        for (int trial = 0; trial < prefixTrials; trial++) {
            String text = randomText(new Random(7 + trial), chars);
            Stream cold = stream(url, -1, body(text + "\nFirst question: why?", true));
            Stream warm = stream(url, -1, body(text + "\nSecond question: how?", true));
            Stream noCache = stream(coldUrl, -1, body(text + "\nSecond question: how?", true));
            ok &= report("chat, " + chars + "-character text prefix, trial " + (trial + 1), cold, warm, noCache);
            chatRatios.add(cold.ttftMs / warm.ttftMs);
        }
        System.out.println("prefix cache trials done: load average " + loadAverage());
        System.out.printf("prefix cache TTFT cold/warm: token ids median %.1fx (min %.1fx) of %d trials; chat median"
                        + " %.1fx (min %.1fx) of %d trials%n", pct(idRatios, 50), pct(idRatios, 0), idRatios.size(),
                pct(chatRatios, 50), pct(chatRatios, 0), chatRatios.size());
        String metrics = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        metrics.lines().filter(l -> l.startsWith("n4j_prefix_cache_hit") || l.startsWith("n4j_prompt_tokens_cached")
                || l.startsWith("n4j_prefix_cache_queries")).forEach(l -> System.out.println("  /metrics " + l));
        return ok;
    }

    static boolean report(String what, Stream cold, Stream warm, Stream noCache) {
        boolean same = warm.ok && noCache.ok && warm.text.equals(noCache.text);
        double speedup = cold.ttftMs / warm.ttftMs;
        System.out.printf("prefix cache, %s: prompt %d tokens; TTFT cold %.1f ms (%d cached), warm %.1f ms (%d cached):"
                        + " %.1fx lower (goal >= 10: %s); warm output %s the no-cache server's%n",
                what, warm.promptTokens, cold.ttftMs, cold.cachedTokens, warm.ttftMs, warm.cachedTokens, speedup,
                speedup >= 10 ? "met" : "NOT met", same ? "identical to" : "DIFFERENT from");
        return cold.ok && same;
    }

    /** The 1, 5 and 15 minute load averages of this machine (Linux), or "?". */
    static String loadAverage() {
        try {
            String[] f = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (Exception e) {
            return "?";
        }
    }

    static String randomText(Random random, int tokens) {
        // the demo tokenizer is byte-level (one token per ASCII character); words keep it readable for a real one
        String[] words = {"alpha", "beta", "gamma", "delta", "mamba", "state", "token", "cache", "prefix", "block"};
        StringBuilder sb = new StringBuilder();
        while (sb.length() < tokens) {
            sb.append(words[random.nextInt(words.length)]).append(random.nextInt(100)).append(' ');
        }
        return sb.substring(0, tokens);
    }

    /** A streamed /v1/completions request on token ids (no template: the prompt is exactly these tokens). */
    static ObjectNode idsBody(int[] ids) {
        ObjectNode b = JSON.createObjectNode().put("model", model).put("max_tokens", maxTokens).put("temperature", 0)
                .put("stream", true);
        var prompt = b.putArray("prompt");
        for (int id : ids) {
            prompt.add(id);
        }
        b.putObject("stream_options").put("include_usage", true);
        return b;
    }

    static int[] randomIds(Random random, int n) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = idLo + random.nextInt(idHi - idLo);
        }
        return ids;
    }

    static int[] concat(int[] a, int[] b) {
        int[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    static ObjectNode body(String prompt, boolean stream) {
        ObjectNode b = JSON.createObjectNode().put("model", model).put("max_tokens", maxTokens).put("temperature", 0)
                .put("stream", stream).put("logprobs", true).put("top_logprobs", 2);
        b.putArray("messages").addObject().put("role", "user").put("content", prompt);
        b.putObject("chat_template_kwargs").put("enable_thinking", false);
        if (stream) {
            b.putObject("stream_options").put("include_usage", true);
        }
        return b;
    }

    static HttpRequest post(String base, ObjectNode body) {
        String path = body.has("messages") ? "/v1/chat/completions" : "/v1/completions";
        return HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(5))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                .build();
    }

    /** One streamed request: TTFT (to the first chunk with text), the gaps between text chunks, checks. */
    static Stream stream(String base, int prompt, ObjectNode body) {
        long start = System.nanoTime();
        long last = 0;
        double ttft = -1;
        List<Double> gaps = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        String finish = null;
        boolean sawDone = false;
        int promptTokens = -1;
        int cached = 0;
        int completion = -1;
        List<Tok> tokens = new ArrayList<>();
        try {
            HttpResponse<java.util.stream.Stream<String>> r = HTTP.send(post(base, body),
                    HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                String err;
                try (var lines = r.body()) {
                    err = String.join("", lines.toList());
                }
                return failed(prompt, "HTTP " + r.statusCode() + " " + JSON.readTree(err).path("error").path("type").asText());
            }
            try (var lines = r.body()) {
                Iterator<String> it = lines.iterator();
                while (it.hasNext()) {
                    String line = it.next();
                    if (!line.startsWith("data: ")) {
                        continue;
                    }
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) {
                        sawDone = true;
                        continue;
                    }
                    JsonNode chunk = JSON.readTree(data);
                    if (chunk.has("error")) {
                        return failed(prompt, "stream error " + chunk.path("error").path("type").asText());
                    }
                    JsonNode usage = chunk.path("usage");
                    if (usage.isObject()) {
                        promptTokens = usage.path("prompt_tokens").asInt();
                        completion = usage.path("completion_tokens").asInt();
                        cached = usage.path("prompt_tokens_details").path("cached_tokens").asInt();
                    }
                    JsonNode choices = chunk.path("choices");
                    if (choices.isEmpty()) {
                        continue;
                    }
                    JsonNode choice = choices.get(0);
                    for (JsonNode t : choice.path("logprobs").path("content")) {
                        JsonNode top = t.path("top_logprobs");
                        JsonNode alt = top.size() > 1 ? top.get(1) : null;
                        tokens.add(new Tok(t.path("bytes").toString(), t.path("logprob").asDouble(),
                                alt == null ? "" : alt.path("bytes").toString(),
                                alt == null ? Double.NEGATIVE_INFINITY : alt.path("logprob").asDouble()));
                    }
                    JsonNode delta = choice.path("delta");
                    String piece = delta.path("content").asText("") + delta.path("reasoning_content").asText("")
                            + choice.path("text").asText("");
                    if (!piece.isEmpty()) {
                        long now = System.nanoTime();
                        if (ttft < 0) {
                            ttft = (now - start) / 1e6;
                        } else {
                            gaps.add((now - last) / 1e6);
                        }
                        last = now;
                        text.append(delta.path("content").asText("")).append(choice.path("text").asText(""));
                    }
                    if (!choice.path("finish_reason").isNull() && !choice.path("finish_reason").isMissingNode()) {
                        finish = choice.path("finish_reason").asText();
                    }
                }
            }
        } catch (Exception e) {
            return failed(prompt, e.getClass().getSimpleName());
        }
        if (!sawDone || finish == null || completion < 0) {
            return failed(prompt, "incomplete stream (done " + sawDone + ", finish " + finish + ")");
        }
        if (ttft < 0) {
            ttft = (System.nanoTime() - start) / 1e6;  // no text at all (an immediate end of turn)
        }
        return new Stream(prompt, true, null, text.toString(), ttft, gaps, promptTokens, cached, completion, tokens);
    }

    static Stream failed(int prompt, String why) {
        return new Stream(prompt, false, why, "", -1, List.of(), -1, 0, -1, List.of());
    }

    static double pct(List<Double> values, double p) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> v = new ArrayList<>(values);
        Collections.sort(v);
        int i = (int) Math.ceil(p / 100.0 * v.size()) - 1;
        return v.get(Math.max(0, Math.min(v.size() - 1, i)));
    }
}
