package org.nemotron4j.serving;

import org.nemotron4j.LayerKind;
import org.nemotron4j.ModelConfig;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Automatic prefix caching for a hybrid model: at every multiple of {@code blockTokens} of a prompt's prefill, a
 * fork of the session ({@link Session#fork}: the Mamba conv/SSM states copied, the KV blocks shared copy-on-write) is
 * kept under the key of the tokens so far; a later prompt that starts with the same tokens resumes from the longest
 * cached prefix instead of prefilling it. A hybrid's recurrent state is fixed-size, so an entry costs the Mamba states
 * (constant) plus its KV blocks.
 *
 * <p>Exactness: blocks are multiples of the model's SSD chunk ({@code chunk_size}, the finest split at which Mamba-2's
 * chunked scan gives bitwise the same state; see {@link Scheduler#prefixBlock}) or of the prefill chunk, and the
 * scheduler feeds every prompt in pieces ending at block boundaries, so a resumed request computes from the same
 * state what a cold run does: greedy ids and logits are bitwise identical to a cold run. At least one prompt token is
 * always left to prefill (its logits start the generation). With blocks of one SSD chunk (64 tokens on the demo
 * model, 128 on Nemotron-Nano-9B-v2), a request sharing a prefix with an earlier one recomputes at most one SSD chunk
 * of it, where whole prefill chunks (256 tokens) left up to 255.
 *
 * <p>When the entries' bytes exceed the budget, entries are evicted (their forks closed) in this order: first those
 * that are not a prefix of the entry just inserted (the prompt being prefilled keeps its whole chain, so the request
 * after it, sharing it, finds its longest prefix), least recently used first, among them first the "fine" ones (not
 * at a prefill-chunk boundary: a coarse entry at most one prefill chunk earlier covers the same prompts at a higher
 * cost); then the chain's own fine entries, then the rest. An entry's bytes are its Mamba states plus its KV for its
 * length (KV blocks shared with other entries or with running sessions are counted in each, so the budget is an upper
 * bound).
 * Not thread-safe: the scheduler's step thread owns it.
 */
final class PrefixCache implements AutoCloseable {
    /** Key of a cached prefix: a 64-bit rolling hash of its tokens and its length; entries keep the tokens to verify. */
    private record Key(long hash, int length) { }

    private record Entry(int[] tokens, Session session, long bytes) { }

    /** A cached prefix found for a prompt: fork {@code session} and continue after {@code length} tokens. */
    record Hit(int length, Session session) { }

    private final int blockTokens;
    private final int coarseTokens;
    private final long budgetBytes;
    private final long stateBytes;
    private final long kvBytesPerToken;
    private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long usedBytes;
    private long lookups;
    private long hits;
    private long hitTokens;
    private long evictions;

    /**
     * @param blockTokens  prefixes are cached at every multiple of it
     * @param coarseTokens the prefill chunk: entries at its multiples are evicted after the others
     */
    PrefixCache(NemotronModel model, int blockTokens, long budgetBytes, int coarseTokens) {
        this.blockTokens = blockTokens;
        this.coarseTokens = coarseTokens;
        this.budgetBytes = budgetBytes;
        ModelConfig c = model.config();
        long conv = (long) c.convDim() * c.convKernel() * model.activationDtype().byteSize();
        long ssm = (long) c.mambaNumHeads() * c.mambaHeadDim() * c.ssmStateSize() * Float.BYTES;
        this.stateBytes = c.count(LayerKind.MAMBA) * (conv + ssm);
        this.kvBytesPerToken = 2L * c.count(LayerKind.ATTENTION) * c.numKeyValueHeads() * c.attentionHeadDim()
                * model.kvCacheDtype().byteSize();
    }

    int blockTokens() {
        return blockTokens;
    }

    boolean enabled() {
        return budgetBytes > 0;
    }

    /** Rolling hash: h(t[0..n)) = h(t[0..n-1)) * P + t[n-1] + 1 (mod 2^64). */
    private static long extend(long hash, int[] tokens, int from, int to) {
        long h = hash;
        for (int i = from; i < to; i++) {
            h = h * 0x100000001B3L + tokens[i] + 1;
        }
        return h;
    }

    /**
     * The longest cached prefix of {@code prompt} no longer than {@code maxLength} whose length {@code usable}
     * accepts, or null. Counts a lookup.
     */
    Hit lookup(int[] prompt, int maxLength, java.util.function.IntPredicate usable) {
        if (!enabled()) {
            return null;
        }
        lookups++;
        Entry best = null;
        long h = 0;
        for (int end = blockTokens; end <= maxLength; end += blockTokens) {
            h = extend(h, prompt, end - blockTokens, end);
            Entry e = entries.get(new Key(h, end));   // touches it (access order)
            if (e != null && usable.test(end) && Arrays.equals(e.tokens(), 0, end, prompt, 0, end)) {
                best = e;
            }
        }
        if (best == null) {
            return null;
        }
        hits++;
        hitTokens += best.tokens().length;
        return new Hit(best.tokens().length, best.session());
    }

    /** Whether a prefix of {@code length} tokens is a block boundary worth caching. */
    boolean isBoundary(int length) {
        return enabled() && length > 0 && length % blockTokens == 0;
    }

    /** The first block boundary after {@code position}. */
    int nextBoundary(int position) {
        return (position / blockTokens + 1) * blockTokens;
    }

    /** Caches a fork of {@code session}, which holds exactly {@code prompt[0, length)}, unless already cached. */
    void insert(int[] prompt, int length, Session session) {
        long h = extend(0, prompt, 0, length);
        Key key = new Key(h, length);
        Entry old = entries.get(key);
        if (old != null && Arrays.equals(old.tokens(), 0, length, prompt, 0, length)) {
            return;
        }
        long bytes = stateBytes + kvBytesPerToken * length;
        if (bytes > budgetBytes) {
            return;
        }
        Entry e = new Entry(Arrays.copyOf(prompt, length), session.fork(), bytes);
        Entry replaced = entries.put(key, e);
        if (replaced != null) {   // a hash collision with other tokens: the newer prefix wins
            usedBytes -= replaced.bytes();
            replaced.session().close();
        }
        usedBytes += bytes;
        evict(e, true, true);    // other prompts' fine entries
        evict(e, false, true);   // other prompts' entries
        evict(e, true, false);   // this prompt's fine entries
        evict(e, false, false);  // anything but the new entry
    }

    /**
     * Evicts least recently used entries other than {@code keep} while over budget: only fine ones when
     * {@code fineOnly}, only those that are not a prefix of {@code keep} when {@code othersOnly}.
     */
    private void evict(Entry keep, boolean fineOnly, boolean othersOnly) {
        Iterator<Map.Entry<Key, Entry>> it = entries.entrySet().iterator();
        while (usedBytes > budgetBytes && it.hasNext()) {
            Entry victim = it.next().getValue();
            int n = victim.tokens().length;
            if (victim == keep || fineOnly && n % coarseTokens == 0
                    || othersOnly && n < keep.tokens().length && Arrays.equals(victim.tokens(), 0, n, keep.tokens(), 0, n)) {
                continue;
            }
            it.remove();
            usedBytes -= victim.bytes();
            victim.session().close();
            evictions++;
        }
    }

    /** The number of cached prefixes. */
    int entries() {
        return entries.size();
    }

    long usedBytes() {
        return usedBytes;
    }

    long lookups() {
        return lookups;
    }

    long hits() {
        return hits;
    }

    long hitTokens() {
        return hitTokens;
    }

    long evictions() {
        return evictions;
    }

    /** KV blocks (of {@code kvBlock} tokens, over all attention layers) the entries hold, shared ones per holder. */
    long kvBlocks(int kvBlock, int attentionLayers) {
        long n = 0;
        for (Entry e : entries.values()) {
            n += ((long) e.tokens().length + kvBlock - 1) / kvBlock * attentionLayers;
        }
        return n;
    }

    /** Closes every cached fork. */
    @Override
    public void close() {
        for (Entry e : entries.values()) {
            e.session().close();
        }
        entries.clear();
        usedBytes = 0;
    }
}
