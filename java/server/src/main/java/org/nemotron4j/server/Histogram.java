package org.nemotron4j.server;

import java.util.Locale;

/** A Prometheus histogram: cumulative {@code _bucket{le=...}} counts, {@code _sum} and {@code _count}. */
final class Histogram {
    private final String name;
    private final String help;
    private final double[] bounds;
    private final long[] counts;
    private double sum;
    private long count;

    Histogram(String name, String help, double... bounds) {
        this.name = name;
        this.help = help;
        this.bounds = bounds.clone();
        this.counts = new long[bounds.length];
    }

    synchronized void observe(double value) {
        for (int i = 0; i < bounds.length; i++) {
            if (value <= bounds[i]) {
                counts[i]++;
            }
        }
        sum += value;
        count++;
    }

    synchronized long count() {
        return count;
    }

    synchronized void render(StringBuilder out) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" histogram\n");
        for (int i = 0; i < bounds.length; i++) {
            out.append(name).append("_bucket{le=\"").append(format(bounds[i])).append("\"} ").append(counts[i])
                    .append('\n');
        }
        out.append(name).append("_bucket{le=\"+Inf\"} ").append(count).append('\n');
        out.append(name).append("_sum ").append(format(sum)).append('\n');
        out.append(name).append("_count ").append(count).append('\n');
    }

    static String format(double v) {
        return String.format(Locale.ROOT, "%s", v);
    }
}
