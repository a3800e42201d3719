package org.nemotron4j.serving;

/**
 * A snapshot of a {@link Scheduler}'s state and counters (counters count from its start).
 *
 * @param queued              requests waiting for a place
 * @param running             requests holding a session (prefilling or decoding)
 * @param decoding            of those, the ones past their prompt
 * @param steps               scheduler steps run (each: one batched decode and at most one prefill chunk)
 * @param promptTokensComputed prompt tokens prefilled
 * @param promptTokensCached  prompt tokens taken from the prefix cache instead
 * @param generatedTokens     tokens decoded (rows of the batched decode steps)
 * @param prefixLookups       prompts looked up in the prefix cache
 * @param prefixHits          lookups that found a cached prefix
 * @param prefixEntries       prefixes cached now
 * @param prefixBytes         their bytes (the budget's measure)
 * @param kvBlocksUsed        KV blocks held by running sequences and cached prefixes (256 tokens of one attention
 *                            layer each; a block shared copy-on-write is counted once per holder)
 * @param rejected            requests refused because the queue was full
 * @param timedOut            requests that waited too long for a place
 */
public record SchedulerStats(int queued, int running, int decoding, long steps, long promptTokensComputed,
                             long promptTokensCached, long generatedTokens, long prefixLookups, long prefixHits,
                             int prefixEntries, long prefixBytes, long kvBlocksUsed, long rejected, long timedOut) {

    /** Hits over lookups; 0 before the first lookup. */
    public double prefixHitRate() {
        return prefixLookups == 0 ? 0 : (double) prefixHits / prefixLookups;
    }
}
