package org.nemotron4j.tokenizer;

import java.util.Map;

/**
 * Byte-level BPE: the {@code model} of a {@code tokenizer.json} whose {@code type} is {@code "BPE"}, applied to the
 * UTF-8 bytes of one pre-tokenized word.
 *
 * <p>The word starts as one symbol per byte (the vocabulary entry of that byte's byte-level character). Then, as
 * long as some adjacent pair of symbols has a merge rule, the pair whose rule comes first in {@code merges} is
 * replaced by the merged token; among equal pairs the leftmost goes first. The symbols are a doubly linked list,
 * and a merge looks up only the two pairs it changes. The next merge is found with a min-heap of candidates keyed
 * by {@code (rank, position)} ({@code O(n log n)} for a word of {@code n} bytes; a heap entry whose pair has changed
 * since it was pushed is dropped when it comes out), or, for words of at most {@value #SCAN_LIMIT} bytes (nearly
 * all), by a scan of the cached pair ranks of the live symbols, which costs no memory traffic beyond the lookups.
 * With {@code ignore_merges} a word that is itself in the vocabulary is that one token.
 *
 * <p>A byte with no vocabulary entry (never the case for a complete byte-level vocabulary) becomes, as in the
 * Hugging Face library: its {@code <0xXX>} tokens when {@code byte_fallback} is set and they exist, else
 * {@code unk_token} (consecutive ones fused into one when {@code fuse_unk}), else nothing.
 */
final class BpeModel {
    final String[] tokens;           // by id; null where the model has no token of that id
    final Map<String, Integer> ids;  // token string to id
    final byte[][] bytes;            // by id: the bytes the token stands for (ByteLevel), or null
    private final BytesIndex byBytes;
    private final MergeTable merges;
    private final int[] byteIds = new int[256];
    private final boolean ignoreMerges;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean byteFallback;

    /**
     * @param mergeIds the merges by rank: {@code mergeIds[3r]} left id, {@code [3r+1]} right id, {@code [3r+2]}
     *                 merged id
     */
    BpeModel(String[] tokens, Map<String, Integer> ids, int[] mergeIds, boolean ignoreMerges, int unkId,
             boolean fuseUnk, boolean byteFallback) {
        this.tokens = tokens;
        this.ids = ids;
        this.ignoreMerges = ignoreMerges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        bytes = new byte[tokens.length][];
        for (int id = 0; id < tokens.length; id++) {
            if (tokens[id] != null) {
                bytes[id] = ByteLevel.decodeToken(tokens[id]);
            }
        }
        byBytes = new BytesIndex(bytes);
        for (int b = 0; b < 256; b++) {
            Integer id = ids.get(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]));
            byteIds[b] = id == null ? -1 : id;
        }
        int count = mergeIds.length / 3;
        merges = new MergeTable(count, byteIds, tokens.length);
        for (int r = 0; r < count; r++) {
            merges.put(mergeIds[3 * r], mergeIds[3 * r + 1], r, mergeIds[3 * r + 2]);
        }
    }

    int mergeCount() {
        return merges.size();
    }

    /** Scratch arrays of one encode call (one thread). */
    static final class Scratch {
        byte[] word = new byte[256];
        int[] sym = new int[256];
        int[] prev = new int[256];
        int[] next = new int[256];
        long[] heap = new long[768]; // at most n - 1 initial pairs + 2 per merge

        void ensureWord(int n) {
            if (word.length < n) {
                word = new byte[Math.max(n, word.length * 2)];
            }
        }

        void ensureSymbols(int n) {
            if (sym.length < n) {
                int cap = Math.max(n, sym.length * 2);
                sym = new int[cap];
                prev = new int[cap];
                next = new int[cap];
                heap = new long[cap * 3];
            }
        }
    }

    /** Appends the tokens of the word {@code w[0..len)} (UTF-8 bytes) to {@code out}. */
    void encode(byte[] w, int len, IntList out, Scratch s) {
        if (len == 0) {
            return;
        }
        if (ignoreMerges) {
            int id = byBytes.get(w, 0, len);
            if (id >= 0) {
                out.add(id);
                return;
            }
        }
        s.ensureSymbols(2 * len + 1); // byte fallback may give 2 symbols a byte
        int[] sym = s.sym;
        int n = 0;
        boolean lastUnk = false;
        boolean plainBytes = true; // one symbol per byte, each that byte's token
        for (int i = 0; i < len; i++) {
            int b = w[i] & 0xFF;
            int id = byteIds[b];
            if (id >= 0) {
                sym[n++] = id;
                lastUnk = false;
                continue;
            }
            plainBytes = false;
            if (byteFallback) {
                // the byte-level character of this byte, as UTF-8, in <0xXX> tokens
                byte[] utf8 = Utf8.encode(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]));
                int[] fb = new int[utf8.length];
                boolean all = true;
                for (int k = 0; k < utf8.length && all; k++) {
                    Integer f = ids.get(String.format("<0x%02X>", utf8[k] & 0xFF));
                    all = f != null;
                    fb[k] = all ? f : -1;
                }
                if (all) {
                    for (int f : fb) {
                        sym[n++] = f;
                    }
                    lastUnk = false;
                    continue;
                }
            }
            if (unkId >= 0) {
                if (!(fuseUnk && lastUnk)) {
                    sym[n++] = unkId;
                }
                lastUnk = true;
            }
        }
        if (n == 1) {
            out.add(sym[0]);
            return;
        }
        merge(sym, n, plainBytes ? w : null, s);
        for (int i = 0; i < n; i = s.next[i]) {
            out.add(sym[i]);
        }
    }

    /** Words of at most this many symbols are merged by scanning; longer ones with the heap. */
    private static final int SCAN_LIMIT = 48;

    /**
     * Runs the merges over {@code sym[0..n)}; afterwards the live symbols are 0, next[0], next[next[0]], ...
     * {@code bytes}: the word's bytes when sym[i] is the token of bytes[i] for every i (then the first pairs are
     * looked up in the dense byte-pair table), else null.
     */
    private void merge(int[] sym, int n, byte[] bytes, Scratch s) {
        int[] prev = s.prev;
        int[] next = s.next;
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1;
        }
        if (n <= SCAN_LIMIT) {
            mergeByScan(sym, n, bytes, s);
        } else {
            mergeByHeap(sym, n, bytes, s);
        }
    }

    private long initialPair(int[] sym, byte[] bytes, int i) {
        return bytes != null ? merges.getBytes(bytes[i] & 0xFF, bytes[i + 1] & 0xFF) : merges.get(sym[i], sym[i + 1]);
    }

    /**
     * Short words: the merge value ({@code rank << 32 | merged}) of each live symbol and its right neighbour is kept
     * in {@code pair[i]}; each step takes the smallest (the leftmost among equal ones) by a scan of the at most
     * {@value #SCAN_LIMIT} live symbols, and looks up only the two pairs the merge changes. Same order as the heap.
     */
    private void mergeByScan(int[] sym, int n, byte[] bytes, Scratch s) {
        int[] prev = s.prev;
        int[] next = s.next;
        long[] pair = s.heap;
        for (int i = 0; i + 1 < n; i++) {
            pair[i] = initialPair(sym, bytes, i);
        }
        pair[n - 1] = MergeTable.NONE;
        while (true) {
            long best = MergeTable.NONE;
            int pos = -1;
            for (int i = 0; i < n; i = next[i]) {
                if (pair[i] < best) {
                    best = pair[i];
                    pos = i;
                }
            }
            if (pos < 0) {
                return;
            }
            int right = next[pos];
            int after = next[right];
            sym[pos] = (int) best;
            sym[right] = -1;
            next[pos] = after;
            if (after < n) {
                prev[after] = pos;
                pair[pos] = merges.get(sym[pos], sym[after]);
            } else {
                pair[pos] = MergeTable.NONE;
            }
            int before = prev[pos];
            if (before >= 0) {
                pair[before] = merges.get(sym[before], sym[pos]);
            }
        }
    }

    /**
     * Long words: a min-heap of {@code rank << 32 | position} over the candidate pairs; an entry whose pair has
     * changed since it was pushed (its left symbol merged away or its pair now different) is dropped when popped.
     */
    private void mergeByHeap(int[] sym, int n, byte[] bytes, Scratch s) {
        int[] prev = s.prev;
        int[] next = s.next;
        long[] heap = s.heap;
        int size = 0;
        for (int i = 0; i + 1 < n; i++) {
            long m = initialPair(sym, bytes, i);
            if (m != MergeTable.NONE) {
                size = push(heap, size, (m & 0xFFFFFFFF00000000L) | i);
            }
        }
        while (size > 0) {
            long top = heap[0];
            size = pop(heap, size);
            int pos = (int) top;
            int right = next[pos];
            if (sym[pos] < 0 || right >= n) {
                continue; // the left symbol was merged away, or it is now last
            }
            long m = merges.get(sym[pos], sym[right]);
            if ((m & 0xFFFFFFFF00000000L) != (top & 0xFFFFFFFF00000000L)) {
                continue; // stale: the pair at pos changed since this entry was pushed
            }
            sym[pos] = (int) m;
            sym[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after < n) {
                prev[after] = pos;
            }
            int before = prev[pos];
            if (before >= 0) {
                long mb = merges.get(sym[before], sym[pos]);
                if (mb != MergeTable.NONE) {
                    size = push(heap, size, (mb & 0xFFFFFFFF00000000L) | before);
                }
            }
            if (after < n) {
                long ma = merges.get(sym[pos], sym[after]);
                if (ma != MergeTable.NONE) {
                    size = push(heap, size, (ma & 0xFFFFFFFF00000000L) | pos);
                }
            }
        }
    }

    private static int push(long[] heap, int size, long v) {
        int i = size;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            long p = heap[parent];
            if (p <= v) {
                break;
            }
            heap[i] = p;
            i = parent;
        }
        heap[i] = v;
        return size + 1;
    }

    private static int pop(long[] heap, int size) {
        int n = size - 1;
        long v = heap[n];
        int i = 0;
        while (true) {
            int c = 2 * i + 1;
            if (c >= n) {
                break;
            }
            if (c + 1 < n && heap[c + 1] < heap[c]) {
                c++;
            }
            if (heap[c] >= v) {
                break;
            }
            heap[i] = heap[c];
            i = c;
        }
        if (n > 0) {
            heap[i] = v;
        }
        return n;
    }
}
