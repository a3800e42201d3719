package org.nemotron4j.generate;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns a stream of byte chunks (one per token) into text without ever splitting a character: bytes of an
 * incomplete UTF-8 sequence at the end of a chunk are held until the chunk that completes it. Malformed bytes
 * become U+FFFD, one per maximal ill-formed subpart (as Python's {@code errors="replace"} does);
 * {@link #flush()} turns a sequence left incomplete at the end into U+FFFD.
 */
public final class Utf8StreamDecoder {
    private byte[] pending = new byte[0];

    /** The text completed by {@code bytes} (possibly empty). */
    public String decode(byte[] bytes) {
        byte[] buf;
        if (pending.length == 0) {
            buf = bytes;
        } else {
            buf = Arrays.copyOf(pending, pending.length + bytes.length);
            System.arraycopy(bytes, 0, buf, pending.length, bytes.length);
        }
        int end = completeLength(buf);
        pending = end == buf.length ? new byte[0] : Arrays.copyOfRange(buf, end, buf.length);
        return end == 0 ? "" : new String(buf, 0, end, StandardCharsets.UTF_8);
    }

    /** Whether bytes of an unfinished character are held. */
    public boolean hasPending() {
        return pending.length > 0;
    }

    /** Text for whatever is held (U+FFFD for an unfinished sequence), clearing it. */
    public String flush() {
        String s = pending.length == 0 ? "" : new String(pending, StandardCharsets.UTF_8);
        pending = new byte[0];
        return s;
    }

    /**
     * Length of the longest prefix that does not end inside a sequence that could still be completed: the last
     * lead byte within three bytes of the end is held when fewer bytes than it announces follow it.
     */
    static int completeLength(byte[] buf) {
        int n = buf.length;
        for (int k = 1; k <= Math.min(3, n); k++) {
            int b = buf[n - k] & 0xFF;
            if ((b & 0xC0) == 0x80) {
                continue; // continuation byte: look further back for its lead
            }
            int need = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 1;
            return need > k ? n - k : n;
        }
        return n;
    }
}
