package org.nemotron4j.server;

import org.nemotron4j.serving.SchedulerStats;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * The server's Prometheus metrics ({@code GET /metrics}, text exposition format 0.0.4): the scheduler's state
 * (queue depth, running, KV blocks, prefix-cache hit rate), token counters and the generation rate over the last
 * 10 s, and histograms of the time to first token and of the time between tokens of streamed responses.
 */
final class ServerMetrics {
    private static final int WINDOW_SECONDS = 10;

    final Histogram ttft = new Histogram("n4j_time_to_first_token_seconds",
            "Time from receiving a request to its first generated token.",
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60);
    final Histogram interToken = new Histogram("n4j_inter_token_latency_seconds",
            "Time between consecutive tokens of one response.",
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5);
    final Histogram e2e = new Histogram("n4j_request_duration_seconds", "Time from receiving a request to its end.",
            0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300);
    private final LongAdder requests = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder cancelled = new LongAdder();
    private final AtomicLongArray perSecond = new AtomicLongArray(64);
    private final long[] secondOf = new long[64];

    void requestStarted() {
        requests.increment();
    }

    void requestFailed() {
        failed.increment();
    }

    void requestCancelled() {
        cancelled.increment();
    }

    /** Counts {@code n} tokens delivered now (for the tokens/s gauge). */
    void tokens(int n) {
        long sec = System.nanoTime() / 1_000_000_000L;
        int i = (int) (sec % perSecond.length());
        synchronized (secondOf) {
            if (secondOf[i] != sec) {
                secondOf[i] = sec;
                perSecond.set(i, 0);
            }
        }
        perSecond.addAndGet(i, n);
    }

    /** Tokens per second over the last {@value #WINDOW_SECONDS} whole seconds. */
    double tokensPerSecond() {
        long now = System.nanoTime() / 1_000_000_000L;
        long total = 0;
        synchronized (secondOf) {
            for (long s = now - WINDOW_SECONDS; s < now; s++) {
                int i = (int) (s % perSecond.length());
                if (secondOf[i] == s) {
                    total += perSecond.get(i);
                }
            }
        }
        return (double) total / WINDOW_SECONDS;
    }

    String render(SchedulerStats s) {
        StringBuilder out = new StringBuilder(4096);
        gauge(out, "n4j_queue_depth", "Requests waiting for a place.", s.queued());
        gauge(out, "n4j_requests_running", "Requests holding a session (prefilling or decoding).", s.running());
        gauge(out, "n4j_requests_decoding", "Running requests past their prompt.", s.decoding());
        gauge(out, "n4j_generation_tokens_per_second", "Generated tokens per second over the last 10 s.",
                tokensPerSecond());
        counter(out, "n4j_requests_total", "Requests received by the generation endpoints.", requests.sum());
        counter(out, "n4j_requests_failed_total", "Requests that ended with an error.", failed.sum());
        counter(out, "n4j_requests_cancelled_total", "Requests cancelled (client disconnects).", cancelled.sum());
        counter(out, "n4j_requests_rejected_total", "Requests refused because the queue was full (429).",
                s.rejected());
        counter(out, "n4j_requests_queue_timeout_total", "Requests that waited too long for a place (503).",
                s.timedOut());
        counter(out, "n4j_prompt_tokens_total", "Prompt tokens prefilled.", s.promptTokensComputed());
        counter(out, "n4j_prompt_tokens_cached_total", "Prompt tokens served from the prefix cache.",
                s.promptTokensCached());
        counter(out, "n4j_generation_tokens_total", "Tokens decoded.", s.generatedTokens());
        counter(out, "n4j_scheduler_steps_total", "Scheduler steps (a decode batch and at most one prefill chunk).",
                s.steps());
        counter(out, "n4j_prefix_cache_queries_total", "Prompts looked up in the prefix cache.", s.prefixLookups());
        counter(out, "n4j_prefix_cache_hits_total", "Lookups that found a cached prefix.", s.prefixHits());
        gauge(out, "n4j_prefix_cache_hit_rate", "Prefix cache hits over lookups since start.", s.prefixHitRate());
        gauge(out, "n4j_prefix_cache_entries", "Cached prefixes.", s.prefixEntries());
        gauge(out, "n4j_prefix_cache_bytes", "Bytes of the cached prefixes (shared KV counted per entry).",
                s.prefixBytes());
        gauge(out, "n4j_kv_blocks_used", "KV blocks (256 tokens x one attention layer) held by running requests and"
                + " cached prefixes; a shared block counts once per holder.", s.kvBlocksUsed());
        ttft.render(out);
        interToken.render(out);
        e2e.render(out);
        return out.toString();
    }

    private static void gauge(StringBuilder out, String name, String help, double v) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" gauge\n");
        out.append(name).append(' ').append(String.format(Locale.ROOT, "%s", v)).append('\n');
    }

    private static void counter(StringBuilder out, String name, String help, long v) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n");
        out.append(name).append(' ').append(v).append('\n');
    }
}
