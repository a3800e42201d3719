package org.nemotron4j.tokenizer;

/**
 * Hand-written matchers for the pre-tokenizer regexes that real byte-level tokenizers use, returning exactly what
 * {@link java.util.regex.Pattern} returns for the {@link OnigurumaRegex} translation of the same regex (a test
 * compares the two on random text), several times faster. A regex is served here only when it is, character for
 * character, one of these families; any other goes to java.util.regex.
 *
 * <pre>
 * GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * CL100K:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*
 *          |\s*[\r\n]+|\s+(?!\S)|\s+                                  (Llama 3 D = 3; Qwen: \p{N} alone)
 * O200K:   [^\r\n\p{L}\p{N}]?UP*LO+C?|[^\r\n\p{L}\p{N}]?UP+LO*C?|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n/]*
 *          |\s*[\r\n]+|\s+(?!\S)|\s+            UP = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], LO = [\p{Ll}\p{Lm}\p{Lo}\p{M}],
 *                                               C = (?i:'s|'t|'re|'ve|'m|'ll|'d) (GPT-4o), or no C (Tekken-style)
 * </pre>
 *
 * Each alternative is matched the way a backtracking engine does it (leftmost alternative first, greedy
 * quantifiers giving back one character at a time), worked out per alternative in the comments below. Character
 * classes are those of java.util.regex with UNICODE_CHARACTER_CLASS: general categories from
 * {@link Character#getType(int)}, {@code \s} = Zs, Zl, Zp, U+0009..U+000D, U+0085.
 */
final class FastSplitPattern {
    private enum Family { GPT2, CL100K, O200K }

    private final Family family;
    private final int maxDigits;        // \p{N}{1,D}; 1 for \p{N}; Integer.MAX_VALUE for \p{N}+
    private final boolean contractions; // O200K only: the optional (?i:'s|...) after letters

    private FastSplitPattern(Family family, int maxDigits, boolean contractions) {
        this.family = family;
        this.maxDigits = maxDigits;
        this.contractions = contractions;
    }

    private static final String CONTRACTIONS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    private static final String UP = "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]";
    private static final String LO = "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]";
    private static final String SPACES = "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    static String cl100k(String digits) {
        return CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" + digits + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" + SPACES;
    }

    static String o200k(String digits, boolean contractions) {
        String c = contractions ? CONTRACTIONS + "?" : "";
        return "[^\\r\\n\\p{L}\\p{N}]?" + UP + "*" + LO + "+" + c + "|[^\\r\\n\\p{L}\\p{N}]?" + UP + "+" + LO + "*" + c
                + "|" + digits + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*" + SPACES;
    }

    /** The matcher for {@code regex} (tokenizer.json spelling), or null when it is not one of the families. */
    static FastSplitPattern recognize(String regex) {
        if (regex.equals(PreTokenizer.ByteLevelSplit.GPT2_PATTERN)) {
            return new FastSplitPattern(Family.GPT2, Integer.MAX_VALUE, true);
        }
        String[] digits = {"\\p{N}{1,3}", "\\p{N}", "\\p{N}+"};
        int[] max = {3, 1, Integer.MAX_VALUE};
        for (int k = 0; k < digits.length; k++) {
            if (regex.equals(cl100k(digits[k]))) {
                return new FastSplitPattern(Family.CL100K, max[k], true);
            }
            for (boolean c : new boolean[] {true, false}) {
                if (regex.equals(o200k(digits[k], c))) {
                    return new FastSplitPattern(Family.O200K, max[k], c);
                }
            }
        }
        return null;
    }

    // ---- character classes (code points) ----

    private static final int L = 1;      // \p{L}
    private static final int N = 2;      // \p{N}
    private static final int WS = 4;     // \s
    private static final int CRLF = 8;   // \r \n
    private static final int UPC = 16;   // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
    private static final int LOC = 32;   // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
    private static final byte[] ASCII = new byte[128];

    static {
        for (int c = 0; c < 128; c++) {
            ASCII[c] = (byte) compute(c);
        }
    }

    private static int compute(int cp) {
        int t = Character.getType(cp);
        int f = 0;
        switch (t) {
            case Character.UPPERCASE_LETTER, Character.TITLECASE_LETTER -> f = L | UPC;
            case Character.LOWERCASE_LETTER -> f = L | LOC;
            case Character.MODIFIER_LETTER, Character.OTHER_LETTER -> f = L | UPC | LOC;
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK ->
                    f = UPC | LOC;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> f = N;
            case Character.SPACE_SEPARATOR, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> f = WS;
            default -> { }
        }
        if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) {
            f |= WS;
        }
        if (cp == '\r' || cp == '\n') {
            f |= CRLF;
        }
        return f;
    }

    private static int flags(int cp) {
        return cp < 128 ? ASCII[cp] : compute(cp);
    }

    /** Length in chars of the code point at {@code i} (as java.util.regex reads it within {@code [.., end)}). */
    private static int width(String s, int i, int end) {
        return Character.isHighSurrogate(s.charAt(i)) && i + 1 < end && Character.isLowSurrogate(s.charAt(i + 1))
                ? 2 : 1;
    }

    private static int cpAt(String s, int i, int end) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c) && i + 1 < end) {
            char d = s.charAt(i + 1);
            if (Character.isLowSurrogate(d)) {
                return Character.toCodePoint(c, d);
            }
        }
        return c;
    }

    /** End of the longest run from {@code i} of code points that have any of the flags in {@code mask}. */
    private static int run(String s, int i, int end, int mask) {
        while (i < end) {
            int cp = cpAt(s, i, end);
            if ((flags(cp) & mask) == 0) {
                break;
            }
            i += Character.charCount(cp);
        }
        return i;
    }

    /** Whether the code point at i is in the class [^\s\p{L}\p{N}] ("other"). */
    private static boolean isOther(int f) {
        return (f & (WS | L | N)) == 0;
    }

    /**
     * Case-insensitive match of the ASCII lowercase letter {@code p} as java.util.regex does it with UNICODE_CASE:
     * {@code c == p} or {@code toLowerCase(toUpperCase(c)) == p} (so 's' also matches 'S' and U+017F 'ſ').
     */
    private static boolean ci(int c, char p) {
        return c == p || Character.toLowerCase(Character.toUpperCase(c)) == p;
    }

    /**
     * End of {@code 's|'t|'re|'ve|'m|'ll|'d} at {@code i} (case-insensitive or not), or -1. The alternatives
     * differ in their second character, so at most one can match and their order does not matter.
     */
    private static int contraction(String s, int i, int end, boolean caseless) {
        if (i + 1 >= end || s.charAt(i) != '\'') {
            return -1;
        }
        int c1 = cpAt(s, i + 1, end);
        int w1 = Character.charCount(c1);
        int j = i + 1 + w1;
        if (eq(c1, 's', caseless) || eq(c1, 't', caseless) || eq(c1, 'm', caseless) || eq(c1, 'd', caseless)) {
            return j;
        }
        char second;
        if (eq(c1, 'r', caseless) || eq(c1, 'v', caseless)) {
            second = 'e';
        } else if (eq(c1, 'l', caseless)) {
            second = 'l';
        } else {
            return -1;
        }
        if (j >= end) {
            return -1;
        }
        int c2 = cpAt(s, j, end);
        return eq(c2, second, caseless) ? j + Character.charCount(c2) : -1;
    }

    private static boolean eq(int c, char p, boolean caseless) {
        return caseless ? ci(c, p) : c == p;
    }

    /** End of the match that java.util.regex's find() would report starting exactly at {@code i}, or -1. */
    int match(String s, int i, int end) {
        return switch (family) {
            case GPT2 -> gpt2(s, i, end);
            case CL100K -> cl100k(s, i, end);
            case O200K -> o200k(s, i, end);
        };
    }

    private int gpt2(String s, int i, int end) {
        int e = contraction(s, i, end, false);
        if (e >= 0) {
            return e;
        }
        int c = cpAt(s, i, end);
        int f = flags(c);
        // " ?X+" for X = \p{L}, \p{N}, other: with the space if one X follows it, else from i itself
        int afterSpace = -1;
        int fn = 0;
        if (c == ' ' && i + 1 < end) {
            afterSpace = i + 1;
            fn = flags(cpAt(s, afterSpace, end));
        }
        if (afterSpace >= 0 && (fn & L) != 0) {
            return run(s, afterSpace, end, L);
        }
        if ((f & L) != 0) {
            return run(s, i, end, L);
        }
        if (afterSpace >= 0 && (fn & N) != 0) {
            return run(s, afterSpace, end, N);
        }
        if ((f & N) != 0) {
            return run(s, i, end, N);
        }
        if (afterSpace >= 0 && isOther(fn)) {
            return otherRun(s, afterSpace, end);
        }
        if (isOther(f)) {
            return otherRun(s, i, end);
        }
        return spaces(s, i, end, false);
    }

    private int cl100k(String s, int i, int end) {
        int e = contraction(s, i, end, true);
        if (e >= 0) {
            return e;
        }
        int c = cpAt(s, i, end);
        int w = Character.charCount(c);
        int f = flags(c);
        // [^\r\n\p{L}\p{N}]?\p{L}+ : take the optional char when a letter follows it; else the letters from i
        if ((f & (CRLF | L | N)) == 0 && i + w < end && (flags(cpAt(s, i + w, end)) & L) != 0) {
            return run(s, i + w, end, L);
        }
        if ((f & L) != 0) {
            return run(s, i, end, L);
        }
        return common(s, i, end, c, f, '\0');
    }

    /**
     * The alternatives shared by CL100K and O200K after the letter ones: \p{N}{1,D}, then
     * " ?[^\s\p{L}\p{N}]+[\r\n(extra)]*", then the three whitespace ones.
     */
    private int common(String s, int i, int end, int c, int f, char extra) {
        if ((f & N) != 0) {
            int j = i;
            for (int k = 0; k < maxDigits && j < end; k++) {
                int cp = cpAt(s, j, end);
                if ((flags(cp) & N) == 0) {
                    break;
                }
                j += Character.charCount(cp);
            }
            return j;
        }
        int from = -1;
        if (c == ' ' && i + 1 < end && isOther(flags(cpAt(s, i + 1, end)))) {
            from = i + 1;
        } else if (isOther(f)) {
            from = i;
        }
        if (from >= 0) {
            int j = otherRun(s, from, end);
            // then [\r\n]* (or [\r\n/]*), greedy; '/' is "other" so the run above already took those before
            while (j < end) {
                char ch = s.charAt(j);
                if (ch == '\r' || ch == '\n' || (extra != '\0' && ch == extra)) {
                    j++;
                } else {
                    break;
                }
            }
            return j;
        }
        return spaces(s, i, end, true);
    }

    /** End of the run of [^\s\p{L}\p{N}] from {@code i} (at least one there). */
    private static int otherRun(String s, int i, int end) {
        while (i < end) {
            int cp = cpAt(s, i, end);
            if (!isOther(flags(cp))) {
                break;
            }
            i += Character.charCount(cp);
        }
        return i;
    }

    /**
     * The whitespace alternatives at {@code i}: (with {@code newlines}) \s*[\r\n]+ ; then \s+(?!\S) ; then \s+.
     * With W = [i, j) the whitespace run at i:
     * <ul>
     *   <li>\s*[\r\n]+ gives back whitespace until [\r\n]+ can start, i.e. it ends just after the last \r or \n of
     *       W (the [\r\n]+ run from there cannot go on: the next char is other whitespace or past W);</li>
     *   <li>\s+(?!\S) is W when W reaches the end, else W less its last char (which is whitespace, so the
     *       look-ahead holds) when that leaves at least one char;</li>
     *   <li>\s+ is W.</li>
     * </ul>
     */
    private static int spaces(String s, int i, int end, boolean newlines) {
        int j = run(s, i, end, WS);
        if (j == i) {
            return -1;
        }
        if (newlines) {
            for (int k = j - 1; k >= i; k--) {
                char ch = s.charAt(k);
                if (ch == '\r' || ch == '\n') {
                    return k + 1;
                }
            }
        }
        if (j == end) {
            return j;
        }
        // whitespace code points are all in the BMP: the last one is one char
        return j - 1 > i ? j - 1 : j;
    }

    private int o200k(String s, int i, int end) {
        int c = cpAt(s, i, end);
        int w = Character.charCount(c);
        int f = flags(c);
        boolean prefix = (f & (CRLF | L | N)) == 0; // [^\r\n\p{L}\p{N}] (marks, symbols, spaces, ...)
        // 1: [^\r\n\p{L}\p{N}]? UP* LO+ C?  (with the optional char first, then without it)
        int e = prefix && i + w < end ? upStarLoPlus(s, i + w, end) : -1;
        if (e < 0) {
            e = upStarLoPlus(s, i, end);
        }
        if (e >= 0) {
            return withContraction(s, e, end);
        }
        // 2: [^\r\n\p{L}\p{N}]? UP+ LO* C?
        if (prefix && i + w < end && (flags(cpAt(s, i + w, end)) & UPC) != 0) {
            return withContraction(s, run(s, run(s, i + w, end, UPC), end, LOC), end);
        }
        if ((f & UPC) != 0) {
            return withContraction(s, run(s, run(s, i, end, UPC), end, LOC), end);
        }
        return common(s, i, end, c, f, '/');
    }

    private int withContraction(String s, int e, int end) {
        if (!contractions) {
            return e;
        }
        int k = contraction(s, e, end, true);
        return k >= 0 ? k : e;
    }

    /**
     * UP* LO+ at {@code a}, or -1. UP* first takes the whole UP run [a, b). If the char at b is LO (then it is Ll,
     * as it is not UP), LO+ runs on from b. Otherwise UP* gives back one code point at a time, and LO+ starts at the
     * last t in [a, b) whose code point is LO (Lm, Lo or a mark) and takes just that one: the code points after t
     * in the run are UP but not LO, and the one at b is not LO.
     */
    private static int upStarLoPlus(String s, int a, int end) {
        int b = run(s, a, end, UPC);
        if (b < end && (flags(cpAt(s, b, end)) & LOC) != 0) {
            return run(s, b, end, LOC);
        }
        int t = b;
        while (t > a) {
            int prev = Character.isLowSurrogate(s.charAt(t - 1)) && t - 2 >= a
                    && Character.isHighSurrogate(s.charAt(t - 2)) ? t - 2 : t - 1;
            if ((flags(cpAt(s, prev, end)) & LOC) != 0) {
                return t;
            }
            t = prev;
        }
        return -1;
    }
}
