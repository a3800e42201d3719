package org.nemotron4j;

/**
 * Which part of an assistant turn a piece of generated text belongs to. Nemotron-Nano-v2 first reasons (the text
 * between {@code <think>} and {@code </think>}) and then answers; with reasoning off the whole output is the answer.
 */
public enum Channel {
    /** Text inside the {@code <think>} ... {@code </think>} block. */
    REASONING,
    /** Text after {@code </think>} (or everything, when reasoning is off). */
    ANSWER
}
