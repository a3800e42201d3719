package org.nemotron4j.cli;

import org.nemotron4j.NemotronException;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;

/** The {@code nemotron4j} command: dispatches to one subcommand per verb. Exit 0 on success, 2 on any error. */
public final class Main {
    private static final Map<String, Command> COMMANDS = new LinkedHashMap<>();

    static {
        register(new CreateModelCommand());
        register(new InspectCommand());
        register(new LogitsCommand());
        register(new GenerateCommand());
        register(new PlanCommand());
        register(new BenchCommand());
        register(new RunCommand());
        register(new ChatCommand());
        register(new TokenizeCommand());
    }

    private static void register(Command c) {
        COMMANDS.put(c.name(), c);
    }

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command line; returns the exit code (for tests). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
            usage(args.length == 0 ? err : out);
            return args.length == 0 ? 2 : 0;
        }
        Command c = COMMANDS.get(args[0]);
        if (c == null) {
            err.println("nemotron4j: unknown command '" + args[0] + "'");
            usage(err);
            return 2;
        }
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--help") || args[i].equals("-h")) {
                out.println(c.usage());
                return 0;
            }
        }
        try {
            return c.run(args, out, err);
        } catch (Args.UsageException e) {
            err.println("error: " + e.getMessage());
            err.println(c.usage());
            return 2;
        } catch (NemotronException e) {
            err.println("error: " + e.getMessage());
            return 2;
        } catch (RuntimeException e) {
            err.println("error: " + e);
            return 2;
        }
    }

    private static void usage(PrintStream out) {
        out.println("nemotron4j: run NVIDIA Nemotron-H models (Mamba-2/Transformer hybrids) from Hugging Face checkpoints");
        out.println();
        out.println("usage: nemotron4j COMMAND [OPTIONS]   (nemotron4j COMMAND --help for its options)");
        out.println();
        for (Command c : COMMANDS.values()) {
            out.printf("  %-14s %s%n", c.name(), c.summary());
        }
    }
}
