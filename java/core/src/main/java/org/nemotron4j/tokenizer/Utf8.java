package org.nemotron4j.tokenizer;

/**
 * UTF-8 conversions with exactly the error handling the Hugging Face library has.
 *
 * <p>Decoding is lossy the way Rust's {@code String::from_utf8_lossy} is: each maximal ill-formed subpart (the
 * longest prefix of a well-formed sequence that is cut short, or one stray byte) becomes one U+FFFD, the
 * "substitution of maximal subparts" practice of Unicode §3.9 (Table 3-7 below). Encoding turns an unpaired
 * surrogate, which a Java string may hold but a Rust string cannot, into U+FFFD.
 */
final class Utf8 {
    private Utf8() {}

    /** Most bytes {@code n} chars can take: a surrogate pair is 2 chars and 4 bytes, any other char at most 3. */
    static int maxBytes(int chars) {
        return chars * 3;
    }

    /** Encodes {@code s[start..end)} into {@code dst} from 0; returns the byte count. */
    static int encode(CharSequence s, int start, int end, byte[] dst) {
        int n = 0;
        for (int i = start; i < end; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                dst[n++] = (byte) c;
            } else if (c < 0x800) {
                dst[n++] = (byte) (0xC0 | (c >> 6));
                dst[n++] = (byte) (0x80 | (c & 0x3F));
            } else if (Character.isSurrogate(c)) {
                int cp;
                if (Character.isHighSurrogate(c) && i + 1 < end && Character.isLowSurrogate(s.charAt(i + 1))) {
                    cp = Character.toCodePoint(c, s.charAt(++i));
                    dst[n++] = (byte) (0xF0 | (cp >> 18));
                    dst[n++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                    dst[n++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                    dst[n++] = (byte) (0x80 | (cp & 0x3F));
                } else {
                    dst[n++] = (byte) 0xEF; // U+FFFD
                    dst[n++] = (byte) 0xBF;
                    dst[n++] = (byte) 0xBD;
                }
            } else {
                dst[n++] = (byte) (0xE0 | (c >> 12));
                dst[n++] = (byte) (0x80 | ((c >> 6) & 0x3F));
                dst[n++] = (byte) (0x80 | (c & 0x3F));
            }
        }
        return n;
    }

    /** The UTF-8 bytes of {@code s} (unpaired surrogates as U+FFFD). */
    static byte[] encode(String s) {
        byte[] buf = new byte[maxBytes(s.length())];
        int n = encode(s, 0, s.length(), buf);
        return java.util.Arrays.copyOf(buf, n);
    }

    /**
     * Decodes {@code b[off..off+len)}, replacing each maximal ill-formed subpart with U+FFFD.
     *
     * <pre>
     * Table 3-7. Well-formed UTF-8 byte sequences
     *   U+0000..U+007F     00..7F
     *   U+0080..U+07FF     C2..DF  80..BF
     *   U+0800..U+0FFF     E0      A0..BF  80..BF
     *   U+1000..U+CFFF     E1..EC  80..BF  80..BF
     *   U+D000..U+D7FF     ED      80..9F  80..BF
     *   U+E000..U+FFFF     EE..EF  80..BF  80..BF
     *   U+10000..U+3FFFF   F0      90..BF  80..BF  80..BF
     *   U+40000..U+FFFFF   F1..F3  80..BF  80..BF  80..BF
     *   U+100000..U+10FFFF F4      80..8F  80..BF  80..BF
     * </pre>
     */
    static String decodeLossy(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder(len);
        int i = off;
        int end = off + len;
        while (i < end) {
            int b0 = b[i] & 0xFF;
            if (b0 < 0x80) {
                // ASCII run: the common case
                int j = i;
                while (j < end && b[j] >= 0) {
                    j++;
                }
                for (int k = i; k < j; k++) {
                    sb.append((char) b[k]);
                }
                i = j;
                continue;
            }
            int need;     // continuation bytes after the lead
            int lo = 0x80; // allowed range of the first continuation byte
            int hi = 0xBF;
            int cp;
            if (b0 >= 0xC2 && b0 <= 0xDF) {
                need = 1;
                cp = b0 & 0x1F;
            } else if (b0 >= 0xE0 && b0 <= 0xEF) {
                need = 2;
                cp = b0 & 0x0F;
                if (b0 == 0xE0) {
                    lo = 0xA0;
                } else if (b0 == 0xED) {
                    hi = 0x9F;
                }
            } else if (b0 >= 0xF0 && b0 <= 0xF4) {
                need = 3;
                cp = b0 & 0x07;
                if (b0 == 0xF0) {
                    lo = 0x90;
                } else if (b0 == 0xF4) {
                    hi = 0x8F;
                }
            } else {
                sb.append('\uFFFD');
                i++;
                continue;
            }
            int j = i + 1;
            boolean ok = true;
            for (int k = 0; k < need; k++, j++) {
                if (j >= end) {
                    ok = false;
                    break;
                }
                int bk = b[j] & 0xFF;
                int min = k == 0 ? lo : 0x80;
                int max = k == 0 ? hi : 0xBF;
                if (bk < min || bk > max) {
                    ok = false;
                    break;
                }
                cp = (cp << 6) | (bk & 0x3F);
            }
            if (ok) {
                sb.appendCodePoint(cp);
            } else {
                sb.append('\uFFFD');
            }
            i = j;
        }
        return sb.toString();
    }
}
