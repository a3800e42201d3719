package org.nemotron4j.cli;

import java.io.PrintStream;

/** One subcommand of the CLI. */
interface Command {
    String name();

    String summary();

    String usage();

    /** Runs with the whole argv (argv[0] is the command name); returns the exit code. */
    int run(String[] argv, PrintStream out, PrintStream err);
}
