package org.nemotron4j.cli;

import org.nemotron4j.NemotronException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Command-line options of one subcommand: {@code --name value}, {@code --name=value}, boolean flags, and short
 * aliases. Unknown options, missing values and malformed numbers are errors naming the option.
 */
final class Args {
    private final String command;
    private final Map<String, String> values = new HashMap<>();
    private final Set<String> flags = new HashSet<>();
    private final List<String> positional = new ArrayList<>();

    private Args(String command) {
        this.command = command;
    }

    /**
     * @param valued options that take a value (long names without dashes)
     * @param booleans options that are flags
     * @param aliases short form -> long name (e.g. "n" -> "tokens")
     */
    static Args parse(String command, String[] argv, int from, Set<String> valued, Set<String> booleans, Map<String, String> aliases) {
        Args a = new Args(command);
        for (int i = from; i < argv.length; i++) {
            String arg = argv[i];
            if (arg.startsWith("-") && arg.length() > 1 && !isNumber(arg)) {
                String name = arg.startsWith("--") ? arg.substring(2) : arg.substring(1);
                String inline = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    inline = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                name = aliases.getOrDefault(name, name);
                if (booleans.contains(name)) {
                    if (inline != null) {
                        throw new UsageException(command + ": option --" + name + " takes no value");
                    }
                    a.flags.add(name);
                } else if (valued.contains(name)) {
                    String v = inline;
                    if (v == null) {
                        if (i + 1 >= argv.length) {
                            throw new UsageException(command + ": option --" + name + " needs a value");
                        }
                        v = argv[++i];
                    }
                    a.values.put(name, v);
                } else {
                    throw new UsageException(command + ": unknown option " + arg);
                }
            } else {
                a.positional.add(arg);
            }
        }
        return a;
    }

    private static boolean isNumber(String s) {
        try {
            Double.parseDouble(s);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    boolean flag(String name) {
        return flags.contains(name);
    }

    boolean has(String name) {
        return values.containsKey(name);
    }

    String string(String name, String def) {
        return values.getOrDefault(name, def);
    }

    String required(String name) {
        String v = values.get(name);
        if (v == null) {
            throw new UsageException(command + ": missing required option --" + name);
        }
        return v;
    }

    Path path(String name) {
        return Path.of(required(name));
    }

    int integer(String name, int def) {
        String v = values.get(name);
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
        String v = values.get(name);
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
        String v = values.get(name);
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

    List<String> positional() {
        return positional;
    }

    /** A usage error: printed with the command's help, exit code 2. */
    static final class UsageException extends NemotronException {
        UsageException(String message) {
            super(message);
        }
    }
}
