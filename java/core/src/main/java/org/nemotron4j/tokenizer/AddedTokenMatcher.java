package org.nemotron4j.tokenizer;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens in text, as the Hugging Face library's {@code AddedVocabulary} does: non-overlapping matches,
 * leftmost first and longest among those starting at the same place (Aho-Corasick {@code LeftmostLongest}), a
 * {@code single_word} token dropped where a word character touches it, {@code lstrip}/{@code rstrip} widening a
 * match over the white space beside it. Implemented as a character trie tried only at characters that start some
 * token.
 */
final class AddedTokenMatcher {
    /** Receives the text between tokens and the tokens, in order. */
    interface Sink {
        void text(String s, int start, int end);

        void token(int id);
    }

    private static final class Node {
        final Map<Character, Node> children = new HashMap<>(4);
        AddedToken token;
    }

    private final Node root = new Node();
    private final boolean[] startsToken = new boolean[65536];
    private final boolean empty;

    /** {@code patterns}: each token with the text to find for it (its content, normalized for normalized ones). */
    AddedTokenMatcher(List<Map.Entry<String, AddedToken>> patterns) {
        int count = 0;
        for (Map.Entry<String, AddedToken> e : patterns) {
            String text = e.getKey();
            if (text.isEmpty()) {
                continue;
            }
            Node node = root;
            for (int i = 0; i < text.length(); i++) {
                node = node.children.computeIfAbsent(text.charAt(i), c -> new Node());
            }
            if (node.token == null) {
                node.token = e.getValue();
            }
            startsToken[text.charAt(0)] = true;
            count++;
        }
        empty = count == 0;
    }

    /** Cuts {@code s[start..end)} into text and tokens. */
    void split(String s, int start, int end, Sink sink) {
        if (empty) {
            sink.text(s, start, end);
            return;
        }
        int pos = start; // end of the last match (HF: start_offset)
        int i = start;
        while (i < end) {
            if (!startsToken[s.charAt(i)]) {
                i++;
                continue;
            }
            Node node = root;
            AddedToken best = null;
            int bestEnd = -1;
            for (int j = i; j < end; j++) {
                node = node.children.get(s.charAt(j));
                if (node == null) {
                    break;
                }
                if (node.token != null) {
                    best = node.token;
                    bestEnd = j + 1;
                }
            }
            if (best == null) {
                i++;
                continue;
            }
            int a = i;
            int b = bestEnd;
            i = bestEnd; // the search goes on after this match even if it is not taken
            if (best.singleWord()) {
                boolean wordBefore = a > start && Chars.isWordChar(s.codePointBefore(a));
                boolean wordAfter = b < end && Chars.isWordChar(s.codePointAt(b));
                if (wordBefore || wordAfter) {
                    continue;
                }
            }
            if (best.lstrip()) {
                int k = a;
                while (k > start && Chars.isWhiteSpace(s.charAt(k - 1))) {
                    k--;
                }
                a = Math.max(k, pos);
            }
            if (best.rstrip()) {
                while (b < end && Chars.isWhiteSpace(s.charAt(b))) {
                    b++;
                }
                i = b;
            }
            if (pos < a) {
                sink.text(s, pos, a);
            }
            sink.token(best.id());
            pos = b;
        }
        if (pos < end) {
            sink.text(s, pos, end);
        }
    }
}
