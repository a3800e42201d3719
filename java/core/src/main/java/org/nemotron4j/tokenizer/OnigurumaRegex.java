package org.nemotron4j.tokenizer;

import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Translates a pre-tokenizer regex written for the Hugging Face library (Oniguruma, Ruby syntax, UTF-8, no
 * options; or {@code fancy-regex}, which agrees on everything below) into a {@link java.util.regex.Pattern} that
 * matches the same strings.
 *
 * <p>What differs between the dialects, and what is done about it:
 * <ul>
 *   <li>{@code \s \S \d \D \w \W \b \B} are Unicode in Oniguruma ({@code \s} is White_Space: U+0009..U+000D,
 *       U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000; {@code \d} is
 *       Decimal_Number) but ASCII in Java unless {@link Pattern#UNICODE_CHARACTER_CLASS} is set, which it is.
 *       {@code (?i)} folds case by Unicode rules in Oniguruma ({@code 's} also matches {@code 'ſ}, U+017F):
 *       {@link Pattern#UNICODE_CASE}. Neither flag changes {@code \p{L}}, {@code \p{Lu}} and the like, which are
 *       general categories in both.</li>
 *   <li>{@code .} stops only at {@code \n} in Oniguruma and {@code ^ $} are always line anchors (Ruby):
 *       {@link Pattern#UNIX_LINES} and {@link Pattern#MULTILINE}. Ruby's {@code (?m)} is Java's {@code (?s)}.</li>
 *   <li>{@code \h \H} are hex digits in Oniguruma (horizontal space in Java); {@code \v} is U+000B (a class in
 *       Java); {@code \p{^X}} is {@code \P{X}}; {@code [[:alpha:]]} POSIX brackets; {@code {,n}} is
 *       {@code {0,n}}; script and binary property names need Java's {@code Is} prefix.</li>
 *   <li>Constructs Java lacks ({@code \K}, absent-operator {@code (?~...)}, subexpression calls {@code \g<...>},
 *       conditionals) are refused with an error naming them.</li>
 *   <li>A look-behind {@code (?<=...)} or {@code (?<!...)} must have a bounded length in Oniguruma ("invalid
 *       pattern in look-behind"); Java accepts {@code *}, {@code +} and {@code {n,}} there and then scans back over
 *       the whole text at every position (seconds per line). Such a look-behind is refused, as Oniguruma does.</li>
 * </ul>
 */
final class OnigurumaRegex {
    static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS | Pattern.UNICODE_CASE | Pattern.UNIX_LINES
            | Pattern.MULTILINE;

    private static final Map<String, String> POSIX = Map.ofEntries(
            Map.entry("alpha", "\\p{IsAlphabetic}"),
            Map.entry("digit", "\\p{Nd}"),
            Map.entry("alnum", "\\p{IsAlphabetic}\\p{Nd}"),
            Map.entry("upper", "\\p{IsUppercase}"),
            Map.entry("lower", "\\p{IsLowercase}"),
            Map.entry("space", "\\s"),
            Map.entry("blank", "\\p{Zs}\\t"),
            Map.entry("punct", "\\p{IsPunctuation}"),
            Map.entry("cntrl", "\\p{Cc}"),
            Map.entry("xdigit", "0-9a-fA-F"),
            Map.entry("word", "\\w"),
            Map.entry("ascii", "\\x00-\\x7F"),
            Map.entry("graph", "\\p{Graph}"),
            Map.entry("print", "\\p{Print}"));

    private static final Map<String, String> LONG_CATEGORY = Map.ofEntries(
            Map.entry("letter", "L"), Map.entry("uppercaseletter", "Lu"), Map.entry("lowercaseletter", "Ll"),
            Map.entry("titlecaseletter", "Lt"), Map.entry("modifierletter", "Lm"), Map.entry("otherletter", "Lo"),
            Map.entry("mark", "M"), Map.entry("nonspacingmark", "Mn"), Map.entry("spacingmark", "Mc"),
            Map.entry("enclosingmark", "Me"), Map.entry("number", "N"), Map.entry("decimalnumber", "Nd"),
            Map.entry("letternumber", "Nl"), Map.entry("othernumber", "No"), Map.entry("punctuation", "P"),
            Map.entry("symbol", "S"), Map.entry("separator", "Z"), Map.entry("spaceseparator", "Zs"),
            Map.entry("other", "C"), Map.entry("control", "Cc"), Map.entry("format", "Cf"));

    private OnigurumaRegex() {}

    /** Compiles {@code onig}; throws {@link IllegalArgumentException} naming the construct when it cannot. */
    static Pattern compile(String onig) {
        String java = translate(onig);
        try {
            return Pattern.compile(java, FLAGS);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("regex " + quote(onig) + " does not compile as " + quote(java)
                    + ": " + e.getDescription(), e);
        }
    }

    /** Compiles a literal string pattern ({"String": ...}). */
    static Pattern literal(String s) {
        return Pattern.compile(Pattern.quote(s));
    }

    static String translate(String p) {
        StringBuilder out = new StringBuilder(p.length() + 16);
        java.util.ArrayDeque<Boolean> groups = new java.util.ArrayDeque<>(); // open groups: is each a look-behind?
        int lookBehinds = 0;
        int classDepth = 0;
        int i = 0;
        int n = p.length();
        while (i < n) {
            char c = p.charAt(i);
            if (c == '\\') {
                if (i + 1 >= n) {
                    throw new IllegalArgumentException("regex " + quote(p) + " ends with a lone backslash");
                }
                i = escape(p, i, out, classDepth > 0);
                continue;
            }
            if (classDepth > 0) {
                if (c == '[' && p.startsWith("[:", i)) {
                    int close = p.indexOf(":]", i + 2);
                    if (close > 0) {
                        String name = p.substring(i + 2, close);
                        boolean negated = name.startsWith("^");
                        String key = negated ? name.substring(1) : name;
                        String cls = POSIX.get(key);
                        if (cls == null) {
                            throw new IllegalArgumentException("regex " + quote(p) + ": unknown POSIX bracket [:"
                                    + name + ":]");
                        }
                        out.append(negated ? "[^" + cls + "]" : "[" + cls + "]");
                        i = close + 2;
                        continue;
                    }
                }
                if (c == '[') {
                    classDepth++;
                    out.append(c);
                    i++;
                    if (i < n && p.charAt(i) == '^') {
                        out.append('^');
                        i++;
                    }
                    continue;
                }
                if (c == ']') {
                    classDepth--;
                }
                out.append(c);
                i++;
                continue;
            }
            switch (c) {
                case '[' -> {
                    classDepth = 1;
                    out.append('[');
                    i++;
                    if (i < n && p.charAt(i) == '^') {
                        out.append('^');
                        i++;
                    }
                    // a ']' first in a class is a literal in Oniguruma
                    if (i < n && p.charAt(i) == ']') {
                        out.append("\\]");
                        i++;
                    }
                }
                case '(' -> {
                    boolean lookBehind = p.startsWith("(?<=", i) || p.startsWith("(?<!", i);
                    groups.push(lookBehind);
                    lookBehinds += lookBehind ? 1 : 0;
                    i = group(p, i, out);
                }
                case ')' -> {
                    if (!groups.isEmpty() && groups.pop()) {
                        lookBehinds--;
                    }
                    out.append(c);
                    i++;
                }
                case '*', '+' -> {
                    if (lookBehinds > 0) {
                        throw unboundedLookBehind(p, c);
                    }
                    out.append(c);
                    i++;
                }
                case '{' -> {
                    // {,n} means {0,n}; a '{' that starts no interval is a literal in Oniguruma
                    int close = p.indexOf('}', i);
                    String body = close > 0 ? p.substring(i + 1, close) : "";
                    if (lookBehinds > 0 && close > 0 && body.matches("\\d+,")) {
                        throw unboundedLookBehind(p, "{" + body + "}");
                    }
                    if (close > 0 && body.matches("\\d+(,\\d*)?")) {
                        out.append(p, i, close + 1);
                        i = close + 1;
                    } else if (close > 0 && body.matches(",\\d+")) {
                        out.append("{0").append(body).append('}');
                        i = close + 1;
                    } else {
                        out.append("\\{");
                        i++;
                    }
                }
                default -> {
                    out.append(c);
                    i++;
                }
            }
        }
        if (classDepth != 0) {
            throw new IllegalArgumentException("regex " + quote(p) + " has an unclosed character class");
        }
        return out.toString();
    }

    private static IllegalArgumentException unboundedLookBehind(String p, Object quantifier) {
        return new IllegalArgumentException("regex " + quote(p) + ": look-behind with the unbounded quantifier "
                + quantifier + " (Oniguruma, the engine Hugging Face uses, refuses it: invalid pattern in look-behind)");
    }

    private static int group(String p, int i, StringBuilder out) {
        if (!p.startsWith("(?", i)) {
            out.append('(');
            return i + 1;
        }
        if (p.startsWith("(?~", i)) {
            throw new IllegalArgumentException("regex " + quote(p) + ": the absent operator (?~...) is not supported");
        }
        if (p.startsWith("(?(", i)) {
            throw new IllegalArgumentException("regex " + quote(p) + ": conditionals (?(...)...) are not supported");
        }
        // inline options (?imx-imx) or (?imx-imx:...): Ruby's m is dot-all, Java's s
        int j = i + 2;
        while (j < p.length() && "imx-".indexOf(p.charAt(j)) >= 0) {
            j++;
        }
        if (j > i + 2 && j < p.length() && (p.charAt(j) == ')' || p.charAt(j) == ':')) {
            out.append("(?").append(p.substring(i + 2, j).replace('m', 's'));
            return j;
        }
        out.append("(?");
        return i + 2;
    }

    /** Translates the escape at {@code p[i]} (a backslash); returns the index after it. */
    private static int escape(String p, int i, StringBuilder out, boolean inClass) {
        char e = p.charAt(i + 1);
        switch (e) {
            case 'h' -> out.append(inClass ? "0-9a-fA-F" : "[0-9a-fA-F]");
            case 'H' -> {
                if (inClass) {
                    throw new IllegalArgumentException("regex " + quote(p) + ": \\H inside a class is not supported");
                }
                out.append("[^0-9a-fA-F]");
            }
            case 'v' -> out.append("\\x0B");
            case 'N' -> {
                if (i + 2 < p.length() && p.charAt(i + 2) == '{') {
                    throw new IllegalArgumentException("regex " + quote(p) + ": \\N{...} is not supported");
                }
                out.append(inClass ? "\\x00-\\x09\\x0B-\\x{10FFFF}" : "[^\\n]");
            }
            case 'K' -> throw new IllegalArgumentException("regex " + quote(p) + ": \\K is not supported");
            case 'g' -> throw new IllegalArgumentException("regex " + quote(p) + ": subexpression calls \\g are "
                    + "not supported");
            case 'p', 'P' -> {
                if (i + 2 < p.length() && p.charAt(i + 2) == '{') {
                    int close = p.indexOf('}', i + 3);
                    if (close < 0) {
                        throw new IllegalArgumentException("regex " + quote(p) + ": unclosed \\" + e + "{");
                    }
                    String name = p.substring(i + 3, close);
                    boolean negate = e == 'P';
                    if (name.startsWith("^")) {
                        negate = !negate;
                        name = name.substring(1);
                    }
                    if (name.equalsIgnoreCase("any")) {
                        if (negate || inClass) {
                            throw new IllegalArgumentException("regex " + quote(p) + ": \\p{Any} negated or inside "
                                    + "a class is not supported");
                        }
                        out.append("[\\x{0}-\\x{10FFFF}]");
                        return close + 1;
                    }
                    out.append(negate ? "\\P{" : "\\p{").append(property(p, name)).append('}');
                    return close + 1;
                }
                out.append('\\').append(e);
            }
            case '0' -> {
                // Oniguruma: \0 then up to two octal digits; Java needs at least one digit after \0
                int j = i + 2;
                int v = 0;
                while (j < p.length() && j < i + 4 && p.charAt(j) >= '0' && p.charAt(j) <= '7') {
                    v = v * 8 + (p.charAt(j) - '0');
                    j++;
                }
                out.append(String.format("\\x%02X", v));
                return j;
            }
            default -> out.append('\\').append(e);
        }
        return i + 2;
    }

    /** The Java name of Unicode property {@code name} as Oniguruma spells it. */
    private static String property(String p, String name) {
        String key = name.replace("_", "").replace(" ", "").replace("-", "").toLowerCase(Locale.ROOT);
        if (name.matches("[A-Z][a-z&]?") || name.equals("L&") || name.equals("LC")) {
            return name.equals("L&") ? "LC" : name;
        }
        String cat = LONG_CATEGORY.get(key);
        if (cat != null) {
            return cat;
        }
        try {
            Character.UnicodeScript.forName(name);
            return "Is" + name;
        } catch (IllegalArgumentException ignored) {
            // not a script
        }
        switch (key) {
            case "alpha", "alphabetic" -> { return "IsAlphabetic"; }
            case "upper", "uppercase" -> { return "IsUppercase"; }
            case "lower", "lowercase" -> { return "IsLowercase"; }
            case "space", "whitespace" -> { return "IsWhite_Space"; }
            case "digit" -> { return "Nd"; }
            case "punct", "punctuation" -> { return "IsPunctuation"; }
            case "cntrl", "control" -> { return "Cc"; }
            case "alnum" -> { return "Alnum"; }
            case "xdigit", "hexdigit", "asciihexdigit" -> { return "XDigit"; }
            case "ideographic" -> { return "IsIdeographic"; }
            case "emoji" -> { return "IsEmoji"; }
            case "joincontrol" -> { return "IsJoin_Control"; }
            case "assigned" -> { return "IsAssigned"; }
            case "graph" -> { return "Graph"; }
            case "print" -> { return "Print"; }
            case "word" -> { return "IsWord"; }
            case "ascii" -> { return "ASCII"; }
            default -> throw new IllegalArgumentException("regex " + quote(p) + ": unknown Unicode property \\p{"
                    + name + "}");
        }
    }

    private static String quote(String s) {
        return "'" + s + "'";
    }
}
