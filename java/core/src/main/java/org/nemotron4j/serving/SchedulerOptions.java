package org.nemotron4j.serving;

import org.nemotron4j.NemotronException;

import java.time.Duration;
import java.util.Objects;

/**
 * Limits and caches of a {@link Scheduler}.
 *
 * @param maxSequences      the most requests holding a session at once (prefilling or decoding); further ones wait
 * @param maxQueued         the most requests waiting for a place; one more is refused at once ({@link
 *                          OverloadedException#queueFull()}, HTTP 429)
 * @param maxQueueWait      how long a request may wait for a place before it is refused (HTTP 503)
 * @param prefixCacheBytes  memory budget of the automatic prefix cache (Mamba/conv states + KV of the cached
 *                          prefixes, shared KV blocks counted once per entry); 0 turns the cache off
 * @param prefixBlockTokens the prefix cache's block: prefixes are cached at every multiple of it; 0 means the
 *                          model's SSD chunk ({@code chunk_size}) when the prefill chunk is a multiple of it, else the
 *                          prefill chunk. Must be a multiple of the SSD chunk (or of the prefill chunk), so that a
 *                          request resumed from a cached prefix computes what a cold run does (bitwise identical
 *                          results); a larger block costs fewer state copies and less memory, and leaves more of a
 *                          shared prefix to recompute
 */
public record SchedulerOptions(int maxSequences, int maxQueued, Duration maxQueueWait, long prefixCacheBytes,
                               int prefixBlockTokens) {
    public static final int DEFAULT_MAX_SEQUENCES = 64;
    public static final int DEFAULT_MAX_QUEUED = 256;
    public static final Duration DEFAULT_MAX_QUEUE_WAIT = Duration.ofSeconds(60);
    public static final long DEFAULT_PREFIX_CACHE_BYTES = 1L << 30;

    public SchedulerOptions {
        if (maxSequences < 1) {
            throw new NemotronException("maxSequences must be >= 1, got " + maxSequences);
        }
        if (maxQueued < 0) {
            throw new NemotronException("maxQueued must be >= 0, got " + maxQueued);
        }
        Objects.requireNonNull(maxQueueWait, "maxQueueWait");
        if (maxQueueWait.isNegative()) {
            throw new NemotronException("maxQueueWait must not be negative, got " + maxQueueWait);
        }
        if (prefixCacheBytes < 0) {
            throw new NemotronException("prefixCacheBytes must be >= 0, got " + prefixCacheBytes);
        }
        if (prefixBlockTokens < 0) {
            throw new NemotronException("prefixBlockTokens must be >= 0, got " + prefixBlockTokens);
        }
    }

    /** 64 sequences, 256 queued for at most 60 s, a 1 GiB prefix cache in blocks of one SSD chunk. */
    public static SchedulerOptions defaults() {
        return new SchedulerOptions(DEFAULT_MAX_SEQUENCES, DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUE_WAIT,
                DEFAULT_PREFIX_CACHE_BYTES, 0);
    }

    public SchedulerOptions withMaxSequences(int n) {
        return new SchedulerOptions(n, maxQueued, maxQueueWait, prefixCacheBytes, prefixBlockTokens);
    }

    public SchedulerOptions withMaxQueued(int n) {
        return new SchedulerOptions(maxSequences, n, maxQueueWait, prefixCacheBytes, prefixBlockTokens);
    }

    public SchedulerOptions withMaxQueueWait(Duration d) {
        return new SchedulerOptions(maxSequences, maxQueued, d, prefixCacheBytes, prefixBlockTokens);
    }

    public SchedulerOptions withPrefixCacheBytes(long bytes) {
        return new SchedulerOptions(maxSequences, maxQueued, maxQueueWait, bytes, prefixBlockTokens);
    }

    public SchedulerOptions withPrefixBlockTokens(int tokens) {
        return new SchedulerOptions(maxSequences, maxQueued, maxQueueWait, prefixCacheBytes, tokens);
    }
}
