package org.nemotron4j;

/**
 * The mixer of one Nemotron-H residual block, as spelled by one character of the config's
 * {@code hybrid_override_pattern}: {@code M} Mamba-2, {@code *} attention, {@code -} MLP.
 */
public enum LayerKind {
    MAMBA('M'),
    ATTENTION('*'),
    MLP('-');

    private final char symbol;

    LayerKind(char symbol) {
        this.symbol = symbol;
    }

    /** The character that stands for this kind in {@code hybrid_override_pattern}. */
    public char symbol() {
        return symbol;
    }

    /** The kind a pattern character stands for; {@link NemotronException} for any other character. */
    public static LayerKind fromSymbol(char symbol) {
        for (LayerKind kind : values()) {
            if (kind.symbol == symbol) {
                return kind;
            }
        }
        throw new NemotronException("unknown layer symbol '" + symbol + "' (expected 'M' Mamba-2, '*' attention or '-' MLP)");
    }
}
