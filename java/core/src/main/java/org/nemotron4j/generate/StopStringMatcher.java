package org.nemotron4j.generate;

import org.nemotron4j.NemotronException;

import java.util.List;

/**
 * Finds stop strings in streamed text, across chunk (token) boundaries, without ever emitting one: text that ends
 * with the beginning of a stop string is held back until the next chunk shows whether the stop string follows. The
 * longest suffix of the text seen so far that is a proper prefix of some stop string is what is held.
 */
public final class StopStringMatcher {
    private final List<String> stops;
    private final int longest;
    private String held = "";
    private String matched;

    public StopStringMatcher(List<String> stops) {
        this.stops = List.copyOf(stops);
        int max = 0;
        for (String s : this.stops) {
            if (s.isEmpty()) {
                throw new NemotronException("stop strings must not be empty");
            }
            max = Math.max(max, s.length());
        }
        this.longest = max;
    }

    /**
     * Adds {@code text}; returns what may be emitted now. Once a stop string is found, returns the text before it
     * and ignores everything after (and all later input).
     */
    public String push(String text) {
        if (matched != null) {
            return "";
        }
        if (stops.isEmpty()) {
            return text;
        }
        String buf = held + text;
        int at = -1;
        String which = null;
        for (String s : stops) {
            int i = buf.indexOf(s);
            if (i >= 0 && (at < 0 || i < at)) {
                at = i;
                which = s;
            }
        }
        if (at >= 0) {
            matched = which;
            held = "";
            return buf.substring(0, at);
        }
        int keep = heldSuffix(buf);
        held = buf.substring(buf.length() - keep);
        return buf.substring(0, buf.length() - keep);
    }

    private int heldSuffix(String buf) {
        for (int len = Math.min(buf.length(), longest - 1); len > 0; len--) {
            int from = buf.length() - len;
            for (String s : stops) {
                if (s.length() > len && buf.startsWith(s.substring(0, len), from)) {
                    return len;
                }
            }
        }
        return 0;
    }

    /** Whether a stop string was found. */
    public boolean matched() {
        return matched != null;
    }

    /** The stop string found, or null. */
    public String matchedStop() {
        return matched;
    }

    /** Text being held (when the stream ends without a match, it is output after all); clears it. */
    public String flush() {
        String s = held;
        held = "";
        return s;
    }
}
