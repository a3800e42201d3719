package org.nemotron4j;

/**
 * Element types of safetensors files, by the names the format's header uses in {@code "dtype"}.
 * {@link #nativeCode()} maps the ones the native library understands to its {@code N4J_DTYPE_*} values.
 */
public enum DType {
    BOOL("BOOL", 1),
    U8("U8", 1),
    I8("I8", 1),
    F8_E4M3("F8_E4M3", 1),
    F8_E5M2("F8_E5M2", 1),
    F8_E8M0("F8_E8M0", 1),
    I16("I16", 2),
    U16("U16", 2),
    F16("F16", 2),
    BF16("BF16", 2),
    I32("I32", 4),
    U32("U32", 4),
    F32("F32", 4),
    I64("I64", 8),
    U64("U64", 8),
    F64("F64", 8);

    private final String safetensorsName;
    private final int byteSize;

    DType(String safetensorsName, int byteSize) {
        this.safetensorsName = safetensorsName;
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The spelling in a safetensors header, e.g. {@code "BF16"}. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The type a safetensors header names; {@link NemotronException} for a name this enum does not know. */
    public static DType fromSafetensors(String name) {
        for (DType type : values()) {
            if (type.safetensorsName.equals(name)) {
                return type;
            }
        }
        throw new NemotronException("unknown safetensors dtype \"" + name + "\"");
    }

    /**
     * The {@code N4J_DTYPE_*} value of {@code nemotron4j.h}: F32 = 0, BF16 = 1, F16 = 2, F8_E4M3 = 3, I32 = 4.
     * Types the native library does not take throw {@link NemotronException}.
     */
    public int nativeCode() {
        return switch (this) {
            case F32 -> 0;
            case BF16 -> 1;
            case F16 -> 2;
            case F8_E4M3 -> 3;
            case I32 -> 4;
            default -> throw new NemotronException("dtype " + safetensorsName + " has no native nemotron4j code");
        };
    }
}
