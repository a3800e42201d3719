package org.nemotron4j.serving;

import org.nemotron4j.NemotronException;

/**
 * The scheduler cannot take a request now: its queue is full (refused at submission; HTTP 429) or the request
 * waited {@link SchedulerOptions#maxQueueWait()} without getting a place (HTTP 503). Either way, trying again after
 * {@link #retryAfterSeconds()} may succeed.
 */
public final class OverloadedException extends NemotronException {
    private final boolean queueFull;
    private final int retryAfterSeconds;

    public OverloadedException(String message, boolean queueFull, int retryAfterSeconds) {
        super(message);
        this.queueFull = queueFull;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** True when the queue was full at submission, false when the request timed out waiting in it. */
    public boolean queueFull() {
        return queueFull;
    }

    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
