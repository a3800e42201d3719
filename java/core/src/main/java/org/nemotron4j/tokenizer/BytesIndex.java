package org.nemotron4j.tokenizer;

import java.util.Arrays;

/**
 * Token byte strings to token ids, without a {@code String} per lookup: the bytes of every token live in one
 * pool, and an open-addressing table of ids is probed with a hash of the query bytes. Used to look a whole
 * pre-tokenized word up in the vocabulary ({@code ignore_merges}) straight from its UTF-8 bytes.
 */
final class BytesIndex {
    private final byte[] pool;
    private final int[] offset; // by id; -1 when the id has no entry
    private final int[] length;
    private final long[] table; // hash << 32 | (id + 1), 0 = empty: the hash is compared before the bytes
    private final int mask;

    /** {@code bytesById[id]} (null entries are skipped); later ids do not replace earlier equal byte strings. */
    BytesIndex(byte[][] bytesById) {
        int total = 0;
        int count = 0;
        for (byte[] b : bytesById) {
            if (b != null) {
                total += b.length;
                count++;
            }
        }
        pool = new byte[total];
        offset = new int[bytesById.length];
        length = new int[bytesById.length];
        int cap = Integer.highestOneBit(Math.max(16, count * 2 - 1)) << 1;
        table = new long[cap];
        mask = cap - 1;
        int pos = 0;
        for (int id = 0; id < bytesById.length; id++) {
            byte[] b = bytesById[id];
            if (b == null) {
                offset[id] = -1;
                continue;
            }
            System.arraycopy(b, 0, pool, pos, b.length);
            offset[id] = pos;
            length[id] = b.length;
            pos += b.length;
            if (get(b, 0, b.length) < 0) {
                int h = hash(b, 0, b.length);
                int i = h & mask;
                while (table[i] != 0) {
                    i = (i + 1) & mask;
                }
                table[i] = ((long) h << 32) | (id + 1);
            }
        }
    }

    static int hash(byte[] b, int off, int len) {
        int h = 0x811C9DC5;
        for (int i = off; i < off + len; i++) {
            h = (h ^ b[i]) * 0x01000193;
        }
        return h ^ (h >>> 15);
    }

    /** The id of the token whose bytes are {@code b[off..off+len)}, or -1. */
    int get(byte[] b, int off, int len) {
        int h = hash(b, off, len);
        int i = h & mask;
        long e;
        while ((e = table[i]) != 0) {
            if ((int) (e >>> 32) == h) {
                int id = (int) e - 1;
                if (length[id] == len && Arrays.equals(pool, offset[id], offset[id] + len, b, off, off + len)) {
                    return id;
                }
            }
            i = (i + 1) & mask;
        }
        return -1;
    }
}
