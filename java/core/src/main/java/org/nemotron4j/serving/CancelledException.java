package org.nemotron4j.serving;

import org.nemotron4j.NemotronException;

/** A request was cancelled before its generation could start or while its prompt was being prefilled. */
public final class CancelledException extends NemotronException {
    public CancelledException(String message) {
        super(message);
    }
}
