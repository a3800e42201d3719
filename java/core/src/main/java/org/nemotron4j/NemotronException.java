package org.nemotron4j;

/**
 * The one exception type nemotron4j throws for bad input (a malformed checkpoint, a wrong argument, a closed
 * session) and for failures reported by the native library. The message names what was wrong: the file, the
 * tensor, the config field or the argument.
 */
public class NemotronException extends RuntimeException {
    public NemotronException(String message) {
        super(message);
    }

    public NemotronException(String message, Throwable cause) {
        super(message, cause);
    }
}
