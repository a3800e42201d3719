package org.nemotron4j.chat;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.strftime} for the directives chat templates use (Hugging Face's {@code strftime_now},
 * e.g. {@code "%d %b %Y"}), in the C locale, with glibc's {@code %-d} style for unpadded numbers.
 */
final class PythonStrftime {
    private PythonStrftime() {
    }

    static String format(String pattern, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            if (c != '%' || i + 1 >= pattern.length()) {
                sb.append(c);
                continue;
            }
            char d = pattern.charAt(++i);
            boolean pad = true;
            if (d == '-' && i + 1 < pattern.length()) {
                pad = false;
                d = pattern.charAt(++i);
            }
            switch (d) {
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b', 'h' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'd' -> num(sb, t.getDayOfMonth(), 2, pad);
                case 'e' -> sb.append(pad ? String.format("%2d", t.getDayOfMonth()) : t.getDayOfMonth());
                case 'm' -> num(sb, t.getMonthValue(), 2, pad);
                case 'y' -> num(sb, t.getYear() % 100, 2, pad);
                case 'Y' -> sb.append(t.getYear());
                case 'H' -> num(sb, t.getHour(), 2, pad);
                case 'I' -> num(sb, t.getHour() % 12 == 0 ? 12 : t.getHour() % 12, 2, pad);
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'M' -> num(sb, t.getMinute(), 2, pad);
                case 'S' -> num(sb, t.getSecond(), 2, pad);
                case 'f' -> num(sb, t.getNano() / 1000, 6, true);
                case 'j' -> num(sb, t.getDayOfYear(), 3, pad);
                case 'w' -> sb.append(t.getDayOfWeek().getValue() % 7);
                case 'u' -> sb.append(t.getDayOfWeek().getValue());
                case 'z' -> {
                    int secs = t.getOffset().getTotalSeconds();
                    sb.append(secs < 0 ? '-' : '+');
                    secs = Math.abs(secs);
                    num(sb, secs / 3600, 2, true);
                    num(sb, secs / 60 % 60, 2, true);
                }
                case 'Z' -> sb.append(t.getZone().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'F' -> sb.append(format("%Y-%m-%d", t));
                case 'T' -> sb.append(format("%H:%M:%S", t));
                case 'D' -> sb.append(format("%m/%d/%y", t));
                case 'R' -> sb.append(format("%H:%M", t));
                case 'c' -> sb.append(format("%a %b %e %H:%M:%S %Y", t));
                case 'x' -> sb.append(format("%m/%d/%y", t));
                case 'X' -> sb.append(format("%H:%M:%S", t));
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case '%' -> sb.append('%');
                default -> sb.append('%').append(pad ? "" : "-").append(d);
            }
        }
        return sb.toString();
    }

    private static void num(StringBuilder sb, int v, int width, boolean pad) {
        String s = Integer.toString(v);
        if (pad) {
            sb.append("0".repeat(Math.max(0, width - s.length())));
        }
        sb.append(s);
    }
}
