package org.nemotron4j.tokenizer;

import java.util.Arrays;

/**
 * The BPE merge rules: pair of token ids {@code (left, right)} to {@code rank << 32 | merged}, where rank is the
 * merge's index in {@code merges} (lower merges first) and merged the id of the token it makes. Ordering these
 * values orders merges by rank.
 *
 * <p>A word that misses the word cache costs a few random reads here, so one read answers a lookup: an
 * open-addressing hash table with key {@code (left << 21 | right) + 1} and value side by side (16 bytes, never
 * split across cache lines), linear probing, at most 3/4 full; and a dense 256 × 256 table for the pairs of
 * single-byte tokens, the first lookups of every word.
 *
 * <p>A pair listed twice keeps its last rank, as in the Hugging Face library (which collects the merges into a hash
 * map).
 */
final class MergeTable {
    static final int ID_BITS = 21;
    static final int MAX_ID = (1 << ID_BITS) - 1;
    /** Value of a pair that has no merge; orders after every merge. */
    static final long NONE = Long.MAX_VALUE;

    private final long[] slots; // key, value, key, value, ...; key 0 = empty
    private final int mask;     // of the slot index (pairs of longs)
    private final int shift;
    private final long[] bytePairs = new long[256 * 256];
    private final int[] byteOfId; // token id -> its byte + 1 for single-byte tokens, else 0 (sized by the vocab)
    private int size;

    /**
     * @param count   number of merges (ranks 0 .. count - 1)
     * @param byteIds the id of each single-byte token, -1 where none
     * @param idLimit one past the largest token id, at most {@link #MAX_ID}
     */
    MergeTable(int count, int[] byteIds, int idLimit) {
        if (idLimit > MAX_ID) {
            throw new IllegalArgumentException("token ids below " + MAX_ID + " are supported, not " + idLimit);
        }
        int cap = Integer.highestOneBit(Math.max(16, count + count / 3)) << 1;
        slots = new long[2 * cap];
        mask = cap - 1;
        shift = 64 - Integer.numberOfTrailingZeros(cap);
        Arrays.fill(bytePairs, NONE);
        byteOfId = new int[idLimit];
        for (int b = 0; b < 256; b++) {
            if (byteIds[b] >= 0 && byteIds[b] < idLimit) {
                byteOfId[byteIds[b]] = b + 1;
            }
        }
    }

    private static long key(int left, int right) {
        return (((long) left << ID_BITS) | right) + 1;
    }

    private int slot(long key) {
        return (int) ((key * 0x9E3779B97F4A7C15L) >>> shift);
    }

    void put(int left, int right, int rank, int merged) {
        long key = key(left, right);
        long value = ((long) rank << 32) | merged;
        int i = slot(key);
        long k;
        while ((k = slots[2 * i]) != 0 && k != key) {
            i = (i + 1) & mask;
        }
        if (k == 0) {
            size++;
        }
        slots[2 * i] = key;
        slots[2 * i + 1] = value;
        int bl = byteOfId[left];
        int br = byteOfId[right];
        if (bl > 0 && br > 0) {
            bytePairs[(bl - 1) * 256 + (br - 1)] = value;
        }
    }

    /** {@code rank << 32 | merged} for the pair {@code (left, right)}, or {@link #NONE}. */
    long get(int left, int right) {
        long key = key(left, right);
        int i = slot(key);
        long k;
        while ((k = slots[2 * i]) != 0) {
            if (k == key) {
                return slots[2 * i + 1];
            }
            i = (i + 1) & mask;
        }
        return NONE;
    }

    /** As {@link #get} for the single-byte tokens of bytes {@code b1} and {@code b2} (0..255). */
    long getBytes(int b1, int b2) {
        return bytePairs[(b1 << 8) | b2];
    }

    int size() {
        return size;
    }
}
