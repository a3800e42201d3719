package org.nemotron4j.cli;

import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Ctrl-C in {@code chat}: the first SIGINT during an answer stops that answer (the conversation goes on); another one
 * (a second during the same answer, or one while waiting for input) exits. Installed with {@code sun.misc.Signal}
 * (module jdk.unsupported), the supported way for a Java program to handle SIGINT without exiting; where the JVM
 * refuses it (e.g. started with -Xrs), Ctrl-C keeps its default meaning (exit).
 */
final class ChatInterrupts implements AutoCloseable {
    private final AtomicBoolean answering = new AtomicBoolean();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Runnable exit;
    private SignalHandler previous;
    private boolean receives;

    /** @param exit what the second Ctrl-C does (the CLI: exit with status 130) */
    ChatInterrupts(Runnable exit) {
        this.exit = exit;
    }

    /** Handles SIGINT from now until {@link #close()}; returns this. */
    ChatInterrupts install() {
        try {
            previous = Signal.handle(new Signal("INT"), s -> onInterrupt());
            // A process started with SIGINT ignored (a background job of a non-interactive shell, nohup) keeps it
            // ignored: the JVM then accepts the handler but never calls it, and no Ctrl-C reaches the process.
            receives = previous != SignalHandler.SIG_IGN;
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            previous = null;  // SIGINT is not ours to handle: Ctrl-C exits as usual
            receives = false;
        }
        return this;
    }

    /** Whether SIGINT reaches {@link #onInterrupt()} (false where the process ignores it or the JVM keeps it). */
    boolean receivesSignals() {
        return receives;
    }

    /** An answer starts: Ctrl-C now stops it. */
    void beginAnswer() {
        stop.set(false);
        answering.set(true);
    }

    /** The answer ended (or was stopped): Ctrl-C now exits. */
    void endAnswer() {
        answering.set(false);
    }

    /** Whether Ctrl-C asked the current answer to stop. */
    boolean stopRequested() {
        return stop.get();
    }

    /** One SIGINT. */
    void onInterrupt() {
        if (answering.get() && stop.compareAndSet(false, true)) {
            return;
        }
        exit.run();
    }

    @Override
    public void close() {
        if (previous != null) {
            Signal.handle(new Signal("INT"), previous);
            previous = null;
        }
    }
}
