package org.nemotron4j.generate;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A tiny byte-level tokenizer for tests: ids 0-255 are single bytes, then whole-string tokens added with
 * {@link #add}, then raw byte tokens added with {@link #addBytes} (which may be partial UTF-8). Encoding is greedy
 * longest match over the string tokens, falling back to single bytes.
 */
final class FakeCodec implements TextCodec {
    private final List<byte[]> bytes = new ArrayList<>();
    private final List<String> strings = new ArrayList<>();
    private final Map<String, Integer> byString = new HashMap<>();
    private final Set<Integer> special = new HashSet<>();

    FakeCodec() {
        for (int b = 0; b < 256; b++) {
            bytes.add(new byte[] {(byte) b});
            strings.add(null);
        }
    }

    /** Adds a token with this text (or returns the existing id). */
    int add(String token) {
        Integer id = byString.get(token);
        if (id != null) {
            return id;
        }
        int newId = bytes.size();
        bytes.add(token.getBytes(StandardCharsets.UTF_8));
        strings.add(token);
        byString.put(token, newId);
        return newId;
    }

    int addSpecial(String token) {
        int id = add(token);
        special.add(id);
        return id;
    }

    /** Adds a token made of raw bytes; it is never produced by encode. */
    int addBytes(int... raw) {
        byte[] b = new byte[raw.length];
        for (int i = 0; i < raw.length; i++) {
            b[i] = (byte) raw[i];
        }
        bytes.add(b);
        strings.add(null);
        return bytes.size() - 1;
    }

    int id(String token) {
        Integer id = byString.get(token);
        if (id == null) {
            throw new IllegalArgumentException("no token " + token);
        }
        return id;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        List<Integer> out = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            String best = null;
            for (String s : byString.keySet()) {
                if (text.startsWith(s, i) && (best == null || s.length() > best.length())) {
                    best = s;
                }
            }
            if (best != null) {
                out.add(byString.get(best));
                i += best.length();
            } else {
                int cp = text.codePointAt(i);
                for (byte b : new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8)) {
                    out.add(b & 0xFF);
                }
                i += Character.charCount(cp);
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public byte[] tokenBytes(int id) {
        return bytes.get(id).clone();
    }

    @Override
    public OptionalInt tokenId(String token) {
        Integer id = byString.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    @Override
    public boolean isSpecial(int id) {
        return special.contains(id);
    }

    @Override
    public int vocabSize() {
        return bytes.size();
    }

    String decode(int[] ids) {
        var out = new java.io.ByteArrayOutputStream();
        for (int id : ids) {
            out.writeBytes(bytes.get(id));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "FakeCodec" + Arrays.toString(strings.subList(256, strings.size()).toArray());
    }
}
