package org.nemotron4j.cli;

import org.nemotron4j.NemotronException;

import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The parsed options of one subcommand (picocli's parse result), looked up by long name without dashes, with typed
 * accessors whose errors name the option. Picocli has already refused unknown options, stray arguments and missing
 * values; this class converts values.
 */
final class Args {
    private final String command;
    private final ParseResult result;

    Args(String command, ParseResult result) {
        this.command = command;
        this.result = result;
    }

    /** The option, or null when this command has none of that name (shared code asks for options some lack). */
    private OptionSpec option(String name) {
        return result.commandSpec().findOption("--" + name);
    }

    private boolean matched(OptionSpec o) {
        return o != null && result.hasMatchedOption(o);
    }

    boolean flag(String name) {
        return matched(option(name));
    }

    boolean has(String name) {
        return matched(option(name));
    }

    /** The option's value (the last one given), or {@code def}. */
    String string(String name, String def) {
        OptionSpec o = option(name);
        if (!matched(o)) {
            return def;
        }
        List<String> all = result.matchedOption(o.longestName()).stringValues();
        return all.isEmpty() ? def : all.get(all.size() - 1);
    }

    /** Every value of a repeatable option, in order (empty when absent). */
    List<String> strings(String name) {
        OptionSpec o = option(name);
        return matched(o) ? List.copyOf(result.matchedOption(o.longestName()).stringValues()) : List.of();
    }

    String required(String name) {
        String v = string(name, null);
        if (v == null) {
            throw new UsageException(command + ": missing required option --" + name);
        }
        return v;
    }

    Path path(String name) {
        return Path.of(required(name));
    }

    int integer(String name, int def) {
        String v = string(name, null);
        if (v == null) {
            return def;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(command + ": --" + name + " must be an integer, got '" + v + "'");
        }
    }

    long longValue(String name, long def) {
        String v = string(name, null);
        if (v == null) {
            return def;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(command + ": --" + name + " must be an integer, got '" + v + "'");
        }
    }

    double number(String name, double def) {
        String v = string(name, null);
        if (v == null) {
            return def;
        }
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(command + ": --" + name + " must be a number, got '" + v + "'");
        }
    }

    /** A comma-separated list of integers, e.g. token ids {@code 5,17,42}. */
    int[] ints(String name) {
        String v = required(name);
        String[] parts = v.split("[,\\s]+");
        List<Integer> out = new ArrayList<>();
        for (String p : parts) {
            if (p.isEmpty()) {
                continue;
            }
            try {
                out.add(Integer.parseInt(p));
            } catch (NumberFormatException e) {
                throw new UsageException(command + ": --" + name + " must be comma-separated integers; '" + p + "' is not one");
            }
        }
        if (out.isEmpty()) {
            throw new UsageException(command + ": --" + name + " is empty");
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** A usage error: printed with the command's help, exit code 2. */
    static final class UsageException extends NemotronException {
        UsageException(String message) {
            super(message);
        }
    }
}
