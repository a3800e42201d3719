package org.nemotron4j.cli;

import picocli.CommandLine.Model.OptionSpec;

import java.util.List;

/**
 * One option of a command, as picocli's help shows it: its names (the first long name is the key {@link Args}
 * looks it up by), the label of its value ({@code null} for a flag), its help text, and whether it may be given
 * more than once (every value kept, e.g. {@code --stop A --stop B}).
 */
record Opt(List<String> names, String label, String help, boolean repeatable) {
    static Opt value(String names, String label, String help) {
        return new Opt(List.of(names.split(",")), label, help, false);
    }

    static Opt repeatable(String names, String label, String help) {
        return new Opt(List.of(names.split(",")), label, help, true);
    }

    static Opt flag(String names, String help) {
        return new Opt(List.of(names.split(",")), null, help, false);
    }

    /** The picocli option: values are kept as strings, converted (with errors naming the option) by {@link Args}. */
    OptionSpec spec() {
        OptionSpec.Builder b = OptionSpec.builder(names.toArray(String[]::new)).description(help.split("\n"));
        if (label == null) {
            return b.type(boolean.class).arity("0").build();
        }
        b.paramLabel(label).arity("1");
        return repeatable ? b.type(List.class).auxiliaryTypes(String.class).build() : b.type(String.class).build();
    }
}
