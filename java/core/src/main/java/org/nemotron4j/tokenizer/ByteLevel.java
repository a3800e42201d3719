package org.nemotron4j.tokenizer;

/**
 * The GPT-2 byte-to-unicode alphabet that byte-level BPE vocabularies are written in.
 *
 * <p>Every byte value gets one printable character: the bytes {@code '!'..'~'}, {@code 0xA1..0xAC} and
 * {@code 0xAE..0xFF} stand for themselves (as the Latin-1 code points of the same value), and the remaining 68
 * bytes (controls, space, DEL, {@code 0x80..0xA0}, {@code 0xAD}) are given the code points {@code U+0100},
 * {@code U+0101}, ... in increasing byte order. So the space byte {@code 0x20} is written {@code 'Ġ'} (U+0120) and
 * the newline {@code 0x0A} is {@code 'Ċ'} (U+010A). A vocabulary entry is the string of these characters for the
 * bytes of the token.
 */
final class ByteLevel {
    /** {@code BYTE_TO_CHAR[b]}: the character that stands for byte {@code b} (0..255). */
    static final char[] BYTE_TO_CHAR = new char[256];
    /** {@code CHAR_TO_BYTE[c]}: the byte that character {@code c} stands for, or -1; indexed by char below 0x144. */
    private static final int[] CHAR_TO_BYTE = new int[0x144];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    /** The byte that {@code c} stands for, or -1 when {@code c} is not in the byte-level alphabet. */
    static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /**
     * The bytes a byte-level token string stands for, or {@code null} when some character of it is outside the
     * alphabet (such a token can never come out of byte-level BPE; Hugging Face's ByteLevel decoder then emits the
     * token's own UTF-8 instead).
     */
    static byte[] decodeToken(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = byteOf(token.charAt(i));
            if (b < 0) {
                return null;
            }
            out[i] = (byte) b;
        }
        return out;
    }

    /** The byte-level string of {@code bytes[from..to)}. */
    static String encode(byte[] bytes, int from, int to) {
        char[] chars = new char[to - from];
        for (int i = from; i < to; i++) {
            chars[i - from] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(chars);
    }
}
