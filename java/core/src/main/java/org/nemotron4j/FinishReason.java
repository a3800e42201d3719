package org.nemotron4j;

/** Why a generation ended. */
public enum FinishReason {
    /** A stop token id was sampled or a stop string was produced. */
    STOP,
    /** The token limit of the request or the model's context was reached. */
    LENGTH,
    /** {@code cancel()} was called (possibly from another thread). */
    CANCELLED
}
