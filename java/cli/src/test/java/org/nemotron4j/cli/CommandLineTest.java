package org.nemotron4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.Version;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line itself (picocli): help, version, usage errors and their exit codes, option forms, Ctrl-C. */
class CommandLineTest {
    private static CliTest.Result run(String... args) {
        return CliTest.run(args);
    }

    @Test
    void helpListsEveryCommandAndVersionNamesTheLibrary() {
        CliTest.Result r = run("--help");
        assertEquals(0, r.code(), r.err());
        for (Command c : Main.COMMANDS) {
            assertTrue(r.out().contains(c.name()), c.name() + " missing from: " + r.out());
        }
        assertTrue(r.out().contains("Exit status"), r.out());
        assertFalse(r.out().contains("\u001b["), "no escape codes when not on a terminal");

        r = run("run", "--help");
        assertEquals(0, r.code(), r.err());
        for (String o : List.of("--prompt", "--prompt-file", "--stop", "--precision", "--kv", "--activations",
                "--matmul", "--check-tensors", "--no-mmap", "--debug")) {
            assertTrue(r.out().contains(o), o + " missing from: " + r.out());
        }

        r = run("--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("nemotron4j " + Version.current()), r.out());
        assertFalse(Version.current().equals("unknown"), "the build writes the version");
        assertTrue(r.out().contains("ABI 1"), r.out());

        r = run();
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("Usage"), r.err());
    }

    /** Issue 18: {@code run --prompt Why is the sky blue?} ran "Why"; stray words are now a usage error. */
    @Test
    void strayArgumentsAreAUsageError() {
        CliTest.Result r = run("run", "--prompt", "Why", "is", "the", "sky", "blue?");
        assertEquals(Main.USAGE, r.code(), r.out());
        assertTrue(r.err().contains("'is'") && r.err().contains("quoted"), r.err());
        assertEquals("", r.out());

        r = run("inspect", "--model");
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("--model"), r.err());

        r = run("run", "--prompt", "a", "--prompt-file", "b");
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("not both"), r.err());
    }

    @Test
    void repeatedStopKeepsEveryValue() {
        var pr = Main.commandLine(new PrintStream(new ByteArrayOutputStream()), new PrintStream(new ByteArrayOutputStream()))
                .parseArgs("run", "--prompt", "x", "--stop", "A", "--stop=B", "--seed", "1", "--seed", "2");
        Args a = new Args("run", pr.subcommand());
        assertEquals(List.of("A", "B"), a.strings("stop"));
        assertEquals(2, a.integer("seed", 0), "a single-valued option given twice: the last one");
        assertFalse(a.has("max-tokens"));
        assertFalse(a.flag("no-such-option"), "options a command lacks read as absent");
    }

    @Test
    void promptFromStdinOrFile(@TempDir Path tmp) throws Exception {
        Path demo = DemoModel.ensure(tmp.resolve("demo"), new PrintStream(new ByteArrayOutputStream()));
        var stdin = System.in;
        CliTest.Result fromStdin;
        try {
            System.setIn(new ByteArrayInputStream("Hello\n".getBytes(StandardCharsets.UTF_8)));
            fromStdin = run("run", "--model", demo.toString(), "--prompt", "-", "--max-tokens", "5", "--seed", "3",
                    "--stop", "zzz", "--stop", "yyy");
        } finally {
            System.setIn(stdin);
        }
        assertEquals(0, fromStdin.code(), fromStdin.err());
        Path file = tmp.resolve("prompt.txt");
        Files.writeString(file, "Hello");
        CliTest.Result fromFile = run("run", "--model", demo.toString(), "--prompt-file", file.toString(),
                "--max-tokens", "5", "--seed", "3", "--stop", "zzz", "--stop", "yyy");
        assertEquals(0, fromFile.code(), fromFile.err());
        CliTest.Result inline = run("run", "--model", demo.toString(), "-p", "Hello", "--max-tokens", "5", "--seed", "3");
        assertEquals(inline.out(), fromFile.out());
        assertEquals(inline.out(), fromStdin.out());
        assertFalse(inline.err().contains("\u001b["), "no escape codes when stderr is not a terminal: " + inline.err());

        CliTest.Result missing = run("run", "--model", demo.toString(), "--prompt-file", tmp.resolve("none.txt").toString());
        assertEquals(Main.FAILURE, missing.code());
        assertTrue(missing.err().contains("none.txt"), missing.err());
    }

    @Test
    void ctrlCStopsTheAnswerThenExits() {
        AtomicInteger exits = new AtomicInteger();
        ChatInterrupts i = new ChatInterrupts(exits::incrementAndGet);
        i.onInterrupt();
        assertEquals(1, exits.get(), "Ctrl-C at the prompt exits");
        i.beginAnswer();
        i.onInterrupt();
        assertTrue(i.stopRequested(), "the first Ctrl-C during an answer stops it");
        assertEquals(1, exits.get(), "... and does not exit");
        i.onInterrupt();
        assertEquals(2, exits.get(), "a second Ctrl-C during the same answer exits");
        i.endAnswer();
        i.beginAnswer();
        assertFalse(i.stopRequested(), "the next answer starts afresh");
    }

    /** The handler is really installed for SIGINT (raised in this JVM) and removed again. */
    @Test
    void sigintReachesTheChatHandler() throws Exception {
        CountDownLatch exited = new CountDownLatch(1);
        try (ChatInterrupts i = new ChatInterrupts(exited::countDown).install()) {
            // the handler's logic: the first interrupt stops the answer, one outside an answer exits
            i.beginAnswer();
            i.onInterrupt();
            assertTrue(i.stopRequested(), "an interrupt stopped the answer");
            assertEquals(1, exited.getCount(), "without exiting");
            i.endAnswer();
            i.beginAnswer();
            assertTrue(!i.stopRequested(), "a new answer starts unstopped");
            i.endAnswer();
            if (!i.receivesSignals()) {
                // started with SIGINT ignored (a background job of a non-interactive shell, nohup): no Ctrl-C can
                // reach this process, and the JVM keeps the signal ignored
                System.out.println("sigintReachesTheChatHandler: SIGINT is ignored in this process; signal delivery"
                        + " not checked");
                return;
            }
            // the real signal, through sun.misc.Signal
            i.beginAnswer();
            sun.misc.Signal.raise(new sun.misc.Signal("INT"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!i.stopRequested() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(i.stopRequested(), "SIGINT stopped the answer");
            assertEquals(1, exited.getCount(), "without exiting");
            i.endAnswer();
            sun.misc.Signal.raise(new sun.misc.Signal("INT"));
            assertTrue(exited.await(10, TimeUnit.SECONDS), "the next SIGINT exits");
        }
    }
}
