package org.nemotron4j.chat;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Python's {@code str} methods for templates written for Jinja2, where strings are Python strings:
 * {@code startswith}, {@code endswith}, {@code strip}/{@code lstrip}/{@code rstrip}, {@code split}/{@code rsplit},
 * {@code splitlines}, {@code replace}, {@code upper}, {@code lower}, {@code title}, {@code capitalize},
 * {@code find}, {@code rfind}, {@code count}, {@code join}, {@code isdigit}, {@code isspace}, {@code isalpha},
 * {@code isalnum}. Java's own {@code strip} and {@code split} exist but differ ({@code split} takes a regular
 * expression and drops trailing empty strings), so these resolve first. Other calls fall through to Jinjava.
 */
final class PythonStringMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || !(method instanceof String name)) {
            return null;
        }
        Object[] a = params == null ? new Object[0] : params;
        Object result;
        switch (name) {
            case "startswith" -> result = anyAffix(s, a, true);
            case "endswith" -> result = anyAffix(s, a, false);
            case "strip" -> result = strip(s, arg(a, 0), true, true);
            case "lstrip" -> result = strip(s, arg(a, 0), true, false);
            case "rstrip" -> result = strip(s, arg(a, 0), false, true);
            case "split" -> result = split(s, arg(a, 0), a.length > 1 ? toInt(a[1]) : -1);
            case "rsplit" -> result = rsplit(s, arg(a, 0), a.length > 1 ? toInt(a[1]) : -1);
            case "splitlines" -> result = splitlines(s);
            case "replace" -> result = replace(s, str(a, 0), str(a, 1), a.length > 2 ? toInt(a[2]) : -1);
            case "upper" -> result = s.toUpperCase(Locale.ROOT);
            case "lower" -> result = s.toLowerCase(Locale.ROOT);
            case "title" -> result = title(s);
            case "capitalize" -> result = s.isEmpty() ? s
                    : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "find" -> result = (long) s.indexOf(str(a, 0));
            case "rfind" -> result = (long) s.lastIndexOf(str(a, 0));
            case "count" -> result = (long) count(s, str(a, 0));
            case "join" -> result = join(s, a.length > 0 ? a[0] : null);
            case "isdigit" -> result = !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isspace" -> result = !s.isEmpty() && s.chars().allMatch(c -> isSpace((char) c));
            case "isalpha" -> result = !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isalnum" -> result = !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
            default -> {
                return null;
            }
        }
        context.setPropertyResolved(true);
        return result;
    }

    /** Python's {@code str.isspace} characters. */
    static boolean isSpace(char c) {
        return Character.isWhitespace(c) || c == '\u00A0' || c == '\u2007' || c == '\u202F' || c == '\u0085';
    }

    private static String arg(Object[] a, int i) {
        return i < a.length && a[i] != null ? a[i].toString() : null;
    }

    private static String str(Object[] a, int i) {
        if (i >= a.length || a[i] == null) {
            throw new IllegalArgumentException("missing string argument " + (i + 1));
        }
        return a[i].toString();
    }

    private static int toInt(Object o) {
        return o instanceof Number n ? n.intValue() : Integer.parseInt(o.toString());
    }

    private static boolean anyAffix(String s, Object[] a, boolean prefix) {
        if (a.length == 0 || a[0] == null) {
            throw new IllegalArgumentException((prefix ? "startswith" : "endswith") + " needs an argument");
        }
        List<String> affixes = new ArrayList<>();
        if (a[0] instanceof Collection<?> c) {
            c.forEach(x -> affixes.add(String.valueOf(x)));
        } else if (a[0] instanceof Object[] arr) {
            for (Object x : arr) {
                affixes.add(String.valueOf(x));
            }
        } else {
            affixes.add(a[0].toString());
        }
        for (String x : affixes) {
            if (prefix ? s.startsWith(x) : s.endsWith(x)) {
                return true;
            }
        }
        return false;
    }

    static String strip(String s, String chars, boolean left, boolean right) {
        int from = 0;
        int to = s.length();
        if (left) {
            while (from < to && stripped(s.charAt(from), chars)) {
                from++;
            }
        }
        if (right) {
            while (to > from && stripped(s.charAt(to - 1), chars)) {
                to--;
            }
        }
        return s.substring(from, to);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    static List<String> split(String s, String sep, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(s.substring(i));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    static List<String> rsplit(String s, String sep, int maxSplit) {
        if (maxSplit < 0) {
            return split(s, sep, -1);
        }
        if (sep == null) {
            List<String> out = new ArrayList<>();
            int j = s.length();
            while (true) {
                while (j > 0 && isSpace(s.charAt(j - 1))) {
                    j--;
                }
                if (j == 0) {
                    break;
                }
                if (out.size() == maxSplit) {
                    out.add(0, s.substring(0, j));
                    break;
                }
                int i = j;
                while (i > 0 && !isSpace(s.charAt(i - 1))) {
                    i--;
                }
                out.add(0, s.substring(i, j));
                j = i;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        List<String> out = new ArrayList<>();
        int to = s.length();
        while (out.size() < maxSplit) {
            int at = s.lastIndexOf(sep, to - sep.length());
            if (at < 0) {
                break;
            }
            out.add(0, s.substring(at + sep.length(), to));
            to = at;
        }
        out.add(0, s.substring(0, to));
        return out;
    }

    private static List<String> splitlines(String s) {
        List<String> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            boolean eol = c == '\n' || c == '\r' || c == '\u000B' || c == '\u000C' || c == '\u001C' || c == '\u001D'
                    || c == '\u001E' || c == '\u0085' || c == '\u2028' || c == '\u2029';
            if (eol) {
                out.add(s.substring(start, i));
                i += c == '\r' && i + 1 < n && s.charAt(i + 1) == '\n' ? 2 : 1;
                start = i;
            } else {
                i++;
            }
        }
        if (start < n) {
            out.add(s.substring(start));
        }
        return out;
    }

    private static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        int done = 0;
        if (old.isEmpty()) {
            // Python inserts the replacement between characters (and at both ends), up to count times.
            for (int i = 0; i <= s.length(); i++) {
                if (done < count) {
                    sb.append(replacement);
                    done++;
                }
                if (i < s.length()) {
                    sb.append(s.charAt(i));
                }
            }
            return sb.toString();
        }
        while (done < count) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            sb.append(s, from, at).append(replacement);
            from = at + old.length();
            done++;
        }
        return sb.append(s.substring(from)).toString();
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            sb.append(prevCased ? Character.toLowerCase(c) : Character.toTitleCase(c));
            prevCased = Character.isLetter(c);
        }
        return sb.toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1;
        }
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String sep, Object items) {
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) {
            it.forEach(x -> parts.add(String.valueOf(x)));
        } else if (items instanceof Object[] arr) {
            for (Object x : arr) {
                parts.add(String.valueOf(x));
            }
        } else if (items instanceof String str) {
            str.chars().forEach(c -> parts.add(String.valueOf((char) c)));
        } else {
            throw new IllegalArgumentException("join needs a list");
        }
        return String.join(sep, parts);
    }

    // Property access is left to the other resolvers.

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
