package org.nemotron4j.cli;

import java.io.PrintStream;
import java.util.List;

/** One subcommand of the CLI; {@link Main#COMMANDS} is where they are all registered. */
interface Command {
    /** The word that selects it: {@code nemotron4j NAME ...}. */
    String name();

    /** One line for the command list of {@code nemotron4j --help}. */
    String summary();

    /** Lines printed under the usage line of {@code nemotron4j NAME --help} (optional). */
    default List<String> description() {
        return List.of();
    }

    /** Its options, in the order of its help (picocli adds --help and --debug). */
    List<Opt> options();

    /**
     * Runs with the parsed options; returns the exit code. Throw {@link Args.UsageException} for a usage error
     * (exit 2) and {@link org.nemotron4j.NemotronException} for a failure (exit 1).
     */
    int run(Args a, PrintStream out, PrintStream err);
}
