package org.nemotron4j.cli;

import org.nemotron4j.NemotronException;
import org.nemotron4j.Version;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.UnmatchedArgumentException;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The {@code nemotron4j} command: one subcommand per verb, parsed by picocli (generated help, {@code --version},
 * errors for unknown options and stray arguments). Exit codes: {@value #OK} success, {@value #FAILURE} a runtime
 * failure (a bad file, a model error), {@value #USAGE} a usage error, 130 interrupted (Ctrl-C).
 */
public final class Main {
    static final int OK = 0;
    static final int FAILURE = 1;
    static final int USAGE = 2;

    /** Every subcommand, in the order of the help: register a new one here (and only here). */
    static final List<Command> COMMANDS = List.of(
            new RunCommand(),
            new ChatCommand(),
            new ServeCommand(),
            new InspectCommand(),
            new PlanCommand(),
            new BenchCommand(),
            new CreateModelCommand(),
            new TokenizeCommand(),
            new GenerateCommand(),
            new LogitsCommand(),
            new PerplexityCommand(),
            new QuantizeCommand());

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command line; returns the exit code (for tests). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return commandLine(out, err).execute(args);
    }

    static CommandLine commandLine(PrintStream out, PrintStream err) {
        CommandSpec root = CommandSpec.create().name("nemotron4j").mixinStandardHelpOptions(true)
                .version("nemotron4j " + Version.current(),
                        "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")",
                        "native library: " + NativeInfo.describe());
        root.usageMessage()
                .description("Run NVIDIA Nemotron-H models (Mamba-2/Transformer hybrids) from Hugging Face checkpoints.")
                .footerHeading("%nExit status:%n")
                .footer("  0 success, 1 a runtime failure (file, model, device), 2 a usage error, 130 interrupted.",
                        "Run 'nemotron4j COMMAND --help' for a command's options.");
        root.addOption(debugOption());
        CommandLine cl = new CommandLine(root);
        for (Command c : COMMANDS) {
            CommandSpec spec = CommandSpec.wrapWithoutInspection(c).name(c.name()).mixinStandardHelpOptions(true);
            spec.usageMessage().description(c.summary()).sortOptions(false).abbreviateSynopsis(true);
            if (!c.description().isEmpty()) {
                spec.usageMessage().description(
                        java.util.stream.Stream.concat(java.util.stream.Stream.of(c.summary(), ""), c.description().stream())
                                .toArray(String[]::new));
            }
            for (Opt o : c.options()) {
                spec.addOption(o.spec());
            }
            cl.addSubcommand(c.name(), spec);
        }
        Help.Ansi ansi = Terminal.ansi() ? Help.Ansi.ON : Help.Ansi.OFF;
        cl.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        cl.setColorScheme(Help.defaultColorScheme(ansi));
        cl.setExpandAtFiles(false);             // "@file" is text, not an argument file
        cl.setOverwrittenOptionsAllowed(true);  // a single-valued option given twice: the last one wins
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((e, args) -> usageError(e, err));
        cl.setExecutionStrategy(pr -> execute(pr, out, err));
        return cl;
    }

    /** --debug: on the root command and inherited by every subcommand. */
    private static OptionSpec debugOption() {
        return OptionSpec.builder("--debug").type(boolean.class).arity("0").scopeType(ScopeType.INHERIT)
                .description("print the stack trace of an error").build();
    }

    private static int usageError(ParameterException e, PrintStream err) {
        CommandLine cmd = e.getCommandLine();
        if (cmd.getCommandSpec().parent() == null && e instanceof UnmatchedArgumentException u
                && !u.getUnmatched().isEmpty() && !u.getUnmatched().getFirst().startsWith("-")) {
            err.println("error: unknown command '" + u.getUnmatched().getFirst() + "'");
            err.println("Commands: " + String.join(", ", COMMANDS.stream().map(Command::name).toList())
                    + ". Run 'nemotron4j --help' for more.");
            return USAGE;
        }
        err.println("error: " + e.getMessage());
        if (e instanceof UnmatchedArgumentException u && !u.getUnmatched().isEmpty()
                && !u.getUnmatched().getFirst().startsWith("-")) {
            err.println("  (text with spaces must be quoted: --prompt \"Why is the sky blue?\")");
        }
        UnmatchedArgumentException.printSuggestions(e, err);
        err.println("Run '" + cmd.getCommandSpec().qualifiedName() + " --help' for its options.");
        return USAGE;
    }

    private static int execute(ParseResult root, PrintStream out, PrintStream err) {
        Integer help = CommandLine.executeHelpRequest(root);
        if (help != null) {
            return help;
        }
        if (!root.hasSubcommand()) {
            root.commandSpec().commandLine().usage(err);
            return USAGE;
        }
        ParseResult sub = root.subcommand();
        Command c = (Command) sub.commandSpec().userObject();
        boolean debug = sub.hasMatchedOption("--debug") || root.hasMatchedOption("--debug");
        try {
            return c.run(new Args(c.name(), sub), out, err);
        } catch (Args.UsageException e) {
            err.println("error: " + e.getMessage());
            err.println("Run 'nemotron4j " + c.name() + " --help' for its options.");
            trace(e, debug, err);
            return USAGE;
        } catch (NemotronException e) {
            err.println("error: " + e.getMessage());
            trace(e, debug, err);
            return FAILURE;
        } catch (RuntimeException | Error e) {
            err.println("error: " + e + (debug ? "" : " (--debug prints the stack trace)"));
            trace(e, debug, err);
            return FAILURE;
        }
    }

    private static void trace(Throwable e, boolean debug, PrintStream err) {
        if (debug) {
            e.printStackTrace(err);
        }
    }
}
