package org.nemotron4j;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The version of this nemotron4j library (its Maven version, written into the jar by the build). */
public final class Version {
    private static final String VERSION = read();

    private Version() {
    }

    /** This library's version, e.g. {@code 0.1.0}; {@code "unknown"} when the jar carries none. */
    public static String current() {
        return VERSION;
    }

    private static String read() {
        try (InputStream in = Version.class.getResourceAsStream("nemotron4j.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "unknown");
            return v.startsWith("${") ? "unknown" : v;
        } catch (IOException e) {
            return "unknown";
        }
    }
}
