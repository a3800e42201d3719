package org.nemotron4j.cli;

import java.io.Console;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether to write ANSI escape codes (dimmed reasoning, coloured help): only to a terminal. Since JDK 22
 * {@code System.console()} is non-null even when redirected, so {@link Console#isTerminal()} decides; stderr, where
 * the codes go, must be a terminal too (checked through /proc on Linux); {@code NO_COLOR} turns them off.
 */
final class Terminal {
    private Terminal() {
    }

    static boolean ansi() {
        String noColor = System.getenv("NO_COLOR");
        if (noColor != null && !noColor.isEmpty()) {
            return false;
        }
        Console console = System.console();
        return console != null && console.isTerminal() && stderrIsTerminal();
    }

    private static boolean stderrIsTerminal() {
        Path fd = Path.of("/proc/self/fd/2");
        try {
            String target = Files.readSymbolicLink(fd).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (Exception e) {
            return true;  // not Linux: trust Console.isTerminal()
        }
    }
}
