package org.nemotron4j.cli;

import org.nemotron4j.LoadOptions;

import java.io.PrintStream;

/** A one-line progress bar on stderr, redrawn at most every 100 ms, finished with a newline. */
final class ProgressBar implements LoadOptions.Progress {
    private final PrintStream err;
    private final String label;
    private long lastDraw;
    private boolean finished;

    ProgressBar(PrintStream err, String label) {
        this.err = err;
        this.label = label;
    }

    @Override
    public void update(long done, long total) {
        long now = System.nanoTime();
        boolean complete = total > 0 && done >= total;
        if (finished || (!complete && now - lastDraw < 100_000_000L)) {
            return;
        }
        lastDraw = now;
        double f = total > 0 ? Math.min(1.0, (double) done / total) : 1.0;
        int width = 30;
        int filled = (int) Math.round(f * width);
        err.printf("\r%s [%s%s] %3d%% %s / %s", label, "#".repeat(filled), ".".repeat(width - filled),
                Math.round(f * 100), human(done), human(total));
        if (complete) {
            err.println();
            finished = true;
        }
        err.flush();
    }

    static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format("%.1f %s", v, units[u]);
    }
}
