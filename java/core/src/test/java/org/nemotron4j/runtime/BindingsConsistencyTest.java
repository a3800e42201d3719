package org.nemotron4j.runtime;

import org.nemotron4j.bindings.nemotron4j_h;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.SequenceLayout;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fails when {@code native/include/nemotron4j.h}, the committed jextract-form bindings in
 * {@code org.nemotron4j.bindings} and the native library disagree.
 *
 * <p>The header is read with a small parser written for the subset of C the ABI uses (object-like integer macros,
 * {@code typedef struct} declarations and function prototypes over fixed-width integers, {@code float}, {@code char}
 * arrays and pointers). Anything it does not understand is reported as a failure rather than skipped, so that a
 * header change the parser cannot follow is noticed.
 */
class BindingsConsistencyTest {

    private static final String PACKAGE = "org.nemotron4j.bindings";
    private static final Class<?> HEADER_CLASS = nemotron4j_h.class;

    private static Header header;

    @BeforeAll
    static void setUp() throws IOException {
        header = Header.parse(headerPath());
        NativeLibrary.load();
    }

    // ---------------------------------------------------------------------------------------------------------
    // functions

    @Test
    void everyHeaderFunctionHasAMatchingBinding() {
        List<String> problems = new ArrayList<>();
        for (CFunction f : header.functions.values()) {
            FunctionDescriptor desc;
            try {
                // first use of the holder class: resolves the symbol in the loaded library
                desc = (FunctionDescriptor) invokeStatic(HEADER_CLASS.getMethod(f.name + "$descriptor"));
            } catch (NoSuchMethodException e) {
                problems.add(f.name + ": no binding (no " + f.name + "$descriptor() in nemotron4j_h)");
                continue;
            } catch (LinkageError | RuntimeException e) {
                problems.add(f.name + ": the native library does not export it (" + rootMessage(e) + ")");
                continue;
            }
            String expectedReturn = f.returnType.isVoid() ? "void" : f.returnType.layoutKind();
            String actualReturn = desc.returnLayout().map(BindingsConsistencyTest::layoutKind).orElse("void");
            if (!expectedReturn.equals(actualReturn)) {
                problems.add(f.name + ": returns " + f.returnType + " (" + expectedReturn + ") but the descriptor returns " + actualReturn);
            }
            List<MemoryLayout> args = desc.argumentLayouts();
            if (args.size() != f.params.size()) {
                problems.add(f.name + ": header has " + f.params.size() + " parameters, descriptor has " + args.size());
            } else {
                for (int i = 0; i < args.size(); i++) {
                    CDecl p = f.params.get(i);
                    String expected = p.type.layoutKind();
                    String actual = layoutKind(args.get(i));
                    if (!expected.equals(actual)) {
                        problems.add(f.name + ": parameter " + i + " (" + p + ") is " + expected + " but the descriptor has " + actual);
                    }
                }
            }
            // the invoker method, with the Java carriers jextract derives from the C types
            Class<?>[] javaParams = f.params.stream().map(p -> p.type.carrier()).toArray(Class<?>[]::new);
            try {
                Method invoker = HEADER_CLASS.getMethod(f.name, javaParams);
                Class<?> expectedJavaReturn = f.returnType.isVoid() ? void.class : f.returnType.carrier();
                if (invoker.getReturnType() != expectedJavaReturn) {
                    problems.add(f.name + "(...): Java return type " + invoker.getReturnType() + ", expected " + expectedJavaReturn);
                }
                if (!Modifier.isStatic(invoker.getModifiers())) {
                    problems.add(f.name + "(...) is not static");
                }
            } catch (NoSuchMethodException e) {
                problems.add(f.name + ": no invoker method " + f.name + Stream.of(javaParams).map(Class::getSimpleName)
                        .collect(Collectors.joining(", ", "(", ")")));
            }
            // the method handle must be the descriptor's
            try {
                Object handle = invokeStatic(HEADER_CLASS.getMethod(f.name + "$handle"));
                if (!((java.lang.invoke.MethodHandle) handle).type().equals(desc.toMethodType())) {
                    problems.add(f.name + "$handle() type " + ((java.lang.invoke.MethodHandle) handle).type()
                            + " differs from the descriptor's " + desc.toMethodType());
                }
            } catch (NoSuchMethodException e) {
                problems.add(f.name + ": no " + f.name + "$handle()");
            }
            try {
                MemorySegment address = (MemorySegment) invokeStatic(HEADER_CLASS.getMethod(f.name + "$address"));
                if (address.equals(MemorySegment.NULL)) {
                    problems.add(f.name + "$address() is NULL");
                }
            } catch (NoSuchMethodException e) {
                problems.add(f.name + ": no " + f.name + "$address()");
            }
        }
        assertNoProblems("functions", problems);
    }

    @Test
    void bindingsDeclareNothingTheHeaderDoesNot() {
        List<String> problems = new ArrayList<>();
        Set<String> functions = header.functions.keySet();
        for (Method m : HEADER_CLASS.getDeclaredMethods()) {
            int mod = m.getModifiers();
            if (!Modifier.isPublic(mod) || !Modifier.isStatic(mod)) {
                continue;
            }
            String name = m.getName();
            int dollar = name.indexOf('$');
            if (dollar >= 0) {
                String base = name.substring(0, dollar);
                String suffix = name.substring(dollar);
                if (!Set.of("$descriptor", "$handle", "$address").contains(suffix)) {
                    problems.add("unexpected accessor nemotron4j_h." + name + "()");
                } else if (!functions.contains(base)) {
                    problems.add("nemotron4j_h." + name + "() binds " + base + ", which the header does not declare");
                }
            } else if (functions.contains(name)) {
                // an invoker, checked above
            } else if (m.getParameterCount() == 0) {
                if (!header.constants.containsKey(name)) {
                    problems.add("nemotron4j_h." + name + "() is a constant the header does not #define");
                }
            } else {
                problems.add("nemotron4j_h." + name + " binds a function the header does not declare");
            }
        }
        for (Field field : HEADER_CLASS.getDeclaredFields()) {
            int mod = field.getModifiers();
            if (Modifier.isPublic(mod) && Modifier.isStatic(mod) && !header.stdintTypedefs().contains(field.getName())) {
                problems.add("nemotron4j_h." + field.getName() + " is a typedef the header does not use");
            }
        }
        // nested holder classes: one per function
        for (Class<?> nested : HEADER_CLASS.getDeclaredClasses()) {
            if (!functions.contains(nested.getSimpleName())) {
                problems.add("holder class nemotron4j_h." + nested.getSimpleName() + " has no function in the header");
            }
        }
        assertNoProblems("extra bindings", problems);
    }

    // ---------------------------------------------------------------------------------------------------------
    // constants and typedefs

    @Test
    void everyDefineHasAGetterWithTheSameValue() {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, Long> c : header.constants.entrySet()) {
            try {
                Method getter = HEADER_CLASS.getMethod(c.getKey());
                Object value = invokeStatic(getter);
                if (!(value instanceof Number n) || n.longValue() != c.getValue()) {
                    problems.add(c.getKey() + " is " + c.getValue() + " in the header but " + value + " in the bindings");
                }
            } catch (NoSuchMethodException e) {
                problems.add(c.getKey() + ": no getter nemotron4j_h." + c.getKey() + "()");
            }
        }
        assertNoProblems("constants", problems);
    }

    @Test
    void headerIsFullyUnderstood() {
        assertNoProblems("header parsing", header.problems);
    }

    @Test
    void stdintTypedefsHaveTheirWidth() throws IllegalAccessException {
        List<String> problems = new ArrayList<>();
        for (String typedef : header.stdintTypedefs()) {
            try {
                Field f = HEADER_CLASS.getField(typedef);
                String expected = new CType(typedef, 0).layoutKind();
                String actual = layoutKind((MemoryLayout) f.get(null));
                if (!expected.equals(actual)) {
                    problems.add("nemotron4j_h." + typedef + " is " + actual + ", expected " + expected);
                }
            } catch (NoSuchFieldException e) {
                problems.add("no typedef layout nemotron4j_h." + typedef);
            }
        }
        assertNoProblems("typedefs", problems);
    }

    // ---------------------------------------------------------------------------------------------------------
    // structs

    @Test
    void everyStructMatchesTheHeaderAndTheLibrary() throws Exception {
        List<String> problems = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (CStruct s : header.structs.values()) {
                if (s.opaque) {
                    continue;
                }
                Class<?> cls;
                GroupLayout layout;
                try {
                    cls = Class.forName(PACKAGE + "." + s.name);
                    layout = (GroupLayout) invokeStatic(cls.getMethod("layout"));
                } catch (ClassNotFoundException e) {
                    problems.add("struct " + s.name + ": no class " + PACKAGE + "." + s.name);
                    continue;
                } catch (LinkageError e) {
                    // e.g. a field accessor that selects a name the layout does not have
                    problems.add("struct " + s.name + ": class " + PACKAGE + "." + s.name + " does not initialize ("
                            + rootMessage(e) + ")");
                    continue;
                }
                if (!layout.name().orElse("").equals(s.name)) {
                    problems.add("struct " + s.name + ": layout is named " + layout.name().orElse("(nothing)"));
                }

                // field sets, in declaration order, and their types
                List<MemoryLayout> members = layout.memberLayouts().stream()
                        .filter(m -> !(m instanceof PaddingLayout)).toList();
                List<String> javaFields = members.stream().map(m -> m.name().orElse("?")).toList();
                List<String> cFields = s.fields.stream().map(d -> d.name).toList();
                if (!javaFields.equals(cFields)) {
                    problems.add("struct " + s.name + ": fields " + javaFields + " in the bindings, " + cFields + " in the header");
                }
                for (CDecl field : s.fields) {
                    MemoryLayout member = members.stream().filter(m -> m.name().orElse("").equals(field.name))
                            .findFirst().orElse(null);
                    if (member == null) {
                        continue;
                    }
                    String expected = field.layoutKind();
                    String actual = layoutKind(member);
                    if (!expected.equals(actual)) {
                        problems.add(s.name + "." + field.name + " (" + field + "): " + expected + " in the header, " + actual + " in the bindings");
                    }
                }

                // size and offsets, against the C compiler's sizeof/offsetof as reported by the library
                long nativeSize = nemotron4j_h.n4j_struct_size(arena.allocateFrom(s.name));
                if (nativeSize != layout.byteSize()) {
                    problems.add("struct " + s.name + ": sizeof is " + nativeSize + " in the library, the layout is "
                            + layout.byteSize() + " bytes");
                }
                for (CDecl field : s.fields) {
                    long nativeOffset = nemotron4j_h.n4j_struct_offset(arena.allocateFrom(s.name), arena.allocateFrom(field.name));
                    if (nativeOffset < 0) {
                        problems.add(s.name + "." + field.name + ": the library does not know this field (n4j_struct_offset = " + nativeOffset + ")");
                        continue;
                    }
                    if (!javaFields.contains(field.name)) {
                        continue;
                    }
                    long javaOffset = layout.byteOffset(groupElement(field.name));
                    if (javaOffset != nativeOffset) {
                        problems.add(s.name + "." + field.name + ": offsetof is " + nativeOffset + " in the library, "
                                + javaOffset + " in the layout");
                    }
                    try {
                        long accessorOffset = (Long) invokeStatic(cls.getMethod(field.name + "$offset"));
                        if (accessorOffset != javaOffset) {
                            problems.add(s.name + "." + field.name + "$offset() is " + accessorOffset + ", the layout says " + javaOffset);
                        }
                    } catch (NoSuchMethodException e) {
                        problems.add(s.name + ": no " + field.name + "$offset()");
                    }
                }
                long unknownField = nemotron4j_h.n4j_struct_offset(arena.allocateFrom(s.name), arena.allocateFrom("no_such_field"));
                if (unknownField != -1) {
                    problems.add("n4j_struct_offset(" + s.name + ", no_such_field) = " + unknownField + ", expected -1");
                }
            }
        }
        assertNoProblems("structs", problems);
    }

    @Test
    void everyStructClassIsAHeaderStruct() throws IOException {
        Set<String> expected = header.structs.values().stream().filter(s -> !s.opaque).map(s -> s.name)
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> actual = new TreeSet<>();
        for (String className : bindingClassNames()) {
            if (className.contains("$")) {
                continue;
            }
            try {
                Class<?> cls = Class.forName(PACKAGE + "." + className, false, HEADER_CLASS.getClassLoader());
                Method layout = cls.getMethod("layout");
                if (Modifier.isStatic(layout.getModifiers()) && GroupLayout.class.isAssignableFrom(layout.getReturnType())) {
                    actual.add(className);
                }
            } catch (ClassNotFoundException | NoSuchMethodException e) {
                // not a struct class
            }
        }
        assertEquals(expected, actual, "struct classes in " + PACKAGE + " vs structs defined in nemotron4j.h");
    }

    // ---------------------------------------------------------------------------------------------------------
    // real calls

    @Test
    void abiVersionMatches() {
        assertEquals(nemotron4j_h.N4J_ABI_VERSION(), nemotron4j_h.n4j_abi_version(),
                "n4j_abi_version() of the loaded library vs N4J_ABI_VERSION of the bindings");
        assertEquals(header.constants.get("N4J_ABI_VERSION"), (long) nemotron4j_h.n4j_abi_version(),
                "n4j_abi_version() of the loaded library vs N4J_ABI_VERSION in nemotron4j.h");
    }

    @Test
    void unknownStructIsMinusOne() {
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(-1L, nemotron4j_h.n4j_struct_size(arena.allocateFrom("n4j_no_such_struct")));
            assertEquals(-1L, nemotron4j_h.n4j_struct_offset(arena.allocateFrom("n4j_no_such_struct"), arena.allocateFrom("kind")));
        }
    }

    @Test
    void versionAndLastErrorAreStrings() {
        MemorySegment version = nemotron4j_h.n4j_version();
        assertTrue(!version.equals(MemorySegment.NULL), "n4j_version() returned NULL");
        String v = version.getString(0);
        assertTrue(!v.isBlank(), "n4j_version() is empty");
        MemorySegment lastError = nemotron4j_h.n4j_last_error();
        assertTrue(!lastError.equals(MemorySegment.NULL), "n4j_last_error() returned NULL");
        lastError.getString(0); // readable, "" when no error
    }

    // ---------------------------------------------------------------------------------------------------------
    // helpers

    private static Path headerPath() {
        String root = System.getProperty("n4j.root");
        List<Path> candidates = new ArrayList<>();
        if (root != null && !root.isBlank()) {
            candidates.add(Path.of(root, "native", "include", "nemotron4j.h"));
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            candidates.add(p.resolve("native/include/nemotron4j.h"));
        }
        return candidates.stream().filter(Files::isRegularFile).findFirst()
                .orElseThrow(() -> new AssertionError("cannot find native/include/nemotron4j.h (n4j.root=" + root + ")"));
    }

    private static Object invokeStatic(Method m) {
        try {
            return m.invoke(null);
        } catch (IllegalAccessException e) {
            throw new AssertionError(m + " is not accessible", e);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new AssertionError(cause);
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getClass().getSimpleName() + ": " + root.getMessage();
    }

    private static void assertNoProblems(String what, List<String> problems) {
        if (!problems.isEmpty()) {
            fail(problems.size() + " mismatch(es) between nemotron4j.h, the bindings and the library (" + what + "):\n  "
                    + String.join("\n  ", problems));
        }
    }

    /** A Java layout reduced to what the C ABI cares about: kind and size. */
    static String layoutKind(MemoryLayout layout) {
        return switch (layout) {
            case AddressLayout a -> "pointer";
            case ValueLayout v -> carrierKind(v.carrier()) + v.byteSize() * 8;
            case SequenceLayout s -> layoutKind(s.elementLayout()) + "[" + s.elementCount() + "]";
            case GroupLayout g -> "struct " + g.name().orElse("?");
            case PaddingLayout p -> "padding" + p.byteSize();
        };
    }

    private static String carrierKind(Class<?> carrier) {
        if (carrier == float.class || carrier == double.class) {
            return "f";
        }
        if (carrier == boolean.class) {
            return "bool";
        }
        return "i";
    }

    /** Simple names of the classes of the bindings package, read from its directory or jar. */
    private static Set<String> bindingClassNames() throws IOException {
        Path location;
        try {
            location = Path.of(HEADER_CLASS.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IOException(e);
        }
        String dir = PACKAGE.replace('.', '/');
        Set<String> names = new TreeSet<>();
        if (Files.isDirectory(location)) {
            try (Stream<Path> files = Files.list(location.resolve(dir))) {
                files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".class"))
                        .forEach(n -> names.add(n.substring(0, n.length() - ".class".length())));
            }
        } else {
            try (JarFile jar = new JarFile(location.toFile())) {
                jar.stream().map(e -> e.getName())
                        .filter(n -> n.startsWith(dir + "/") && n.endsWith(".class") && n.indexOf('/', dir.length() + 1) < 0)
                        .forEach(n -> names.add(n.substring(dir.length() + 1, n.length() - ".class".length())));
            }
        }
        return names;
    }

    // ---------------------------------------------------------------------------------------------------------
    // the header model and its parser

    /** A C type as the ABI uses it: a base type name and a pointer depth ({@code const} is irrelevant to layout). */
    record CType(String base, int pointers) {
        boolean isVoid() {
            return pointers == 0 && base.equals("void");
        }

        /** The layout kind jextract gives this type on LP64 Linux (see {@link #layoutKind(MemoryLayout)}). */
        String layoutKind() {
            if (pointers > 0) {
                return "pointer";
            }
            return switch (base) {
                case "int8_t", "uint8_t", "char", "signed char", "unsigned char" -> "i8";
                case "int16_t", "uint16_t", "short", "unsigned short" -> "i16";
                case "int32_t", "uint32_t", "int", "unsigned int", "unsigned" -> "i32";
                case "int64_t", "uint64_t", "long", "unsigned long", "long long", "unsigned long long",
                     "size_t", "ssize_t", "intptr_t", "uintptr_t" -> "i64";
                case "float" -> "f32";
                case "double" -> "f64";
                case "bool", "_Bool" -> "bool8";
                default -> throw new IllegalStateException("the test does not know the layout of C type '" + base + "'");
            };
        }

        /** The Java carrier jextract uses for this type. */
        Class<?> carrier() {
            String kind = layoutKind();
            return switch (kind) {
                case "pointer" -> MemorySegment.class;
                case "i8" -> byte.class;
                case "i16" -> short.class;
                case "i32" -> int.class;
                case "i64" -> long.class;
                case "f32" -> float.class;
                case "f64" -> double.class;
                case "bool8" -> boolean.class;
                default -> throw new IllegalStateException(kind);
            };
        }

        @Override
        public String toString() {
            return base + "*".repeat(pointers);
        }
    }

    /** A named declaration (parameter or field); {@code arrayLength} is -1 unless it is a fixed-size array. */
    record CDecl(String name, CType type, long arrayLength) {
        /** Like {@link CType#layoutKind()}, with the length of an array as a {@link SequenceLayout} has it. */
        String layoutKind() {
            return type.layoutKind() + (arrayLength >= 0 ? "[" + arrayLength + "]" : "");
        }

        @Override
        public String toString() {
            return type + " " + name + (arrayLength >= 0 ? "[" + arrayLength + "]" : "");
        }
    }

    record CFunction(String name, CType returnType, List<CDecl> params) {
    }

    static final class CStruct {
        final String name;
        final boolean opaque;
        final List<CDecl> fields;

        CStruct(String name, boolean opaque, List<CDecl> fields) {
            this.name = name;
            this.opaque = opaque;
            this.fields = fields;
        }
    }

    static final class Header {
        final Map<String, Long> constants = new LinkedHashMap<>();
        final Map<String, CFunction> functions = new LinkedHashMap<>();
        final Map<String, CStruct> structs = new LinkedHashMap<>();
        /** Things the parser could not interpret; reported by a test instead of being silently skipped. */
        final List<String> problems = new ArrayList<>();

        private static final Pattern DEFINE = Pattern.compile("#\\s*define\\s+(\\w+)(\\([^)]*\\))?\\s*(.*)");
        private static final Pattern INTEGER = Pattern.compile("\\(?\\s*(-?)\\s*(0[xX][0-9a-fA-F]+|\\d+)[uUlL]*\\s*\\)?");
        private static final Pattern STRUCT = Pattern.compile(
                "typedef\\s+struct\\s+(\\w+)\\s*(?:\\{(.*)\\})?\\s*(\\w+)", Pattern.DOTALL);
        private static final Pattern ARRAY = Pattern.compile("(.*?)\\[\\s*(\\d+)\\s*\\]\\s*");
        private static final Set<String> STDINT = Set.of("int8_t", "int16_t", "int32_t", "int64_t",
                "uint8_t", "uint16_t", "uint32_t", "uint64_t", "intptr_t", "uintptr_t");

        static Header parse(Path path) throws IOException {
            Header h = new Header();
            String text = stripComments(Files.readString(path));
            String code = h.preprocess(text);
            for (String statement : splitStatements(code)) {
                h.declaration(statement);
            }
            if (h.functions.isEmpty() || h.structs.isEmpty() || h.constants.isEmpty()) {
                throw new AssertionError("parsed nothing useful from " + path + ": " + h.functions.size() + " functions, "
                        + h.structs.size() + " structs, " + h.constants.size() + " constants");
            }
            return h;
        }

        /** The fixed-width typedefs (from {@code <stdint.h>}) that the header's declarations use. */
        Set<String> stdintTypedefs() {
            Set<String> used = new TreeSet<>();
            for (CFunction f : functions.values()) {
                if (STDINT.contains(f.returnType.base)) {
                    used.add(f.returnType.base);
                }
                f.params.stream().map(p -> p.type.base).filter(STDINT::contains).forEach(used::add);
            }
            for (CStruct s : structs.values()) {
                s.fields.stream().map(d -> d.type.base).filter(STDINT::contains).forEach(used::add);
            }
            return used;
        }

        private static String stripComments(String s) {
            StringBuilder out = new StringBuilder(s.length());
            int i = 0;
            while (i < s.length()) {
                if (s.startsWith("/*", i)) {
                    int end = s.indexOf("*/", i + 2);
                    if (end < 0) {
                        throw new AssertionError("unterminated comment in nemotron4j.h");
                    }
                    // keep line structure for the preprocessor
                    s.substring(i, end + 2).chars().filter(c -> c == '\n').forEach(c -> out.append('\n'));
                    out.append(' ');
                    i = end + 2;
                } else if (s.startsWith("//", i)) {
                    int end = s.indexOf('\n', i);
                    i = end < 0 ? s.length() : end;
                } else if (s.charAt(i) == '"') {
                    int end = s.indexOf('"', i + 1);
                    out.append(s, i, end + 1);
                    i = end + 1;
                } else {
                    out.append(s.charAt(i++));
                }
            }
            return out.toString();
        }

        /**
         * Collects {@code #define}s and drops preprocessor lines, keeping the code of active conditional branches.
         * Nothing is predefined, so {@code #ifdef __cplusplus} blocks are inactive, as they are for a C compiler.
         */
        private String preprocess(String text) {
            Set<String> defined = new HashSet<>();
            Deque<boolean[]> conditions = new ArrayDeque<>(); // {active, anyBranchTaken}
            StringBuilder code = new StringBuilder();
            String[] lines = text.replace("\\\n", " ").split("\n");
            for (String raw : lines) {
                String line = raw.strip();
                boolean active = conditions.stream().allMatch(c -> c[0]);
                if (!line.startsWith("#")) {
                    if (active) {
                        code.append(raw).append('\n');
                    }
                    continue;
                }
                String directive = line.substring(1).strip();
                String keyword = directive.split("\\s+", 2)[0];
                String rest = directive.substring(keyword.length()).strip();
                switch (keyword) {
                    case "ifdef" -> conditions.push(new boolean[] {defined.contains(rest), defined.contains(rest)});
                    case "ifndef" -> conditions.push(new boolean[] {!defined.contains(rest), !defined.contains(rest)});
                    case "if" -> {
                        boolean value = !rest.equals("0");
                        conditions.push(new boolean[] {value, value});
                    }
                    case "elif" -> {
                        boolean[] c = conditions.peek();
                        boolean value = !c[1] && !rest.equals("0");
                        c[0] = value;
                        c[1] |= value;
                    }
                    case "else" -> {
                        boolean[] c = conditions.peek();
                        c[0] = !c[1];
                        c[1] = true;
                    }
                    case "endif" -> conditions.pop();
                    case "define" -> {
                        if (active) {
                            define(line, defined);
                        }
                    }
                    case "include", "undef", "pragma", "error", "warning" -> {
                    }
                    default -> problems.add("unknown preprocessor directive: " + line);
                }
            }
            return code.toString();
        }

        private void define(String line, Set<String> defined) {
            Matcher m = DEFINE.matcher(line);
            if (!m.matches()) {
                problems.add("cannot read #define: " + line);
                return;
            }
            String name = m.group(1);
            defined.add(name);
            String value = m.group(3).strip();
            if (m.group(2) != null || value.isEmpty()) {
                return; // function-like or empty macros are not constants (jextract skips them too)
            }
            Matcher num = INTEGER.matcher(value);
            if (num.matches()) {
                String digits = num.group(2);
                long v = digits.startsWith("0x") || digits.startsWith("0X")
                        ? Long.parseUnsignedLong(digits.substring(2), 16) : Long.parseLong(digits);
                constants.put(name, num.group(1).isEmpty() ? v : -v);
            } else {
                problems.add("#define " + name + " has a value this test cannot evaluate: " + value);
            }
        }

        /** Splits code into top-level statements at semicolons outside braces. */
        private static List<String> splitStatements(String code) {
            List<String> out = new ArrayList<>();
            int depth = 0;
            StringBuilder cur = new StringBuilder();
            for (char c : code.toCharArray()) {
                if (c == '{') {
                    depth++;
                } else if (c == '}') {
                    depth--;
                }
                if (c == ';' && depth == 0) {
                    String s = cur.toString().replaceAll("\\s+", " ").strip();
                    if (!s.isEmpty()) {
                        out.add(s);
                    }
                    cur.setLength(0);
                } else {
                    cur.append(c);
                }
            }
            if (!cur.toString().isBlank()) {
                out.add(cur.toString().strip());
            }
            return out;
        }

        private void declaration(String s) {
            if (s.startsWith("typedef")) {
                Matcher m = STRUCT.matcher(s);
                if (m.matches()) {
                    String tag = m.group(1);
                    String typedefName = m.group(3);
                    if (!tag.equals(typedefName)) {
                        problems.add("typedef struct " + tag + " " + typedefName + ": the bindings name classes after"
                                + " the tag; the test expects both names to agree");
                    }
                    if (m.group(2) == null) {
                        structs.putIfAbsent(tag, new CStruct(tag, true, List.of()));
                    } else {
                        List<CDecl> fields = new ArrayList<>();
                        for (String field : m.group(2).split(";")) {
                            if (!field.isBlank()) {
                                CDecl d = namedDecl(field.strip(), "field of " + tag);
                                if (d != null) {
                                    fields.add(d);
                                }
                            }
                        }
                        structs.put(tag, new CStruct(tag, false, fields));
                    }
                } else {
                    problems.add("typedef the test does not understand: " + s);
                }
                return;
            }
            int open = s.indexOf('(');
            if (open > 0 && s.endsWith(")")) {
                String head = s.substring(0, open).strip();
                Matcher nameMatcher = Pattern.compile("(.*?)(\\w+)$").matcher(head);
                if (!nameMatcher.matches()) {
                    problems.add("cannot read function prototype: " + s);
                    return;
                }
                String name = nameMatcher.group(2);
                CType ret = type(nameMatcher.group(1));
                String params = s.substring(open + 1, s.length() - 1).strip();
                List<CDecl> decls = new ArrayList<>();
                if (!params.isEmpty() && !params.equals("void")) {
                    for (String p : params.split(",")) {
                        CDecl d = namedDecl(p.strip(), "parameter of " + name);
                        if (d != null) {
                            decls.add(d);
                        }
                    }
                }
                functions.put(name, new CFunction(name, ret, decls));
                return;
            }
            problems.add("declaration the test does not understand: " + s);
        }

        private CDecl namedDecl(String text, String where) {
            long length = -1;
            Matcher arr = ARRAY.matcher(text);
            if (arr.matches()) {
                text = arr.group(1).strip();
                length = Long.parseLong(arr.group(2));
            }
            Matcher m = Pattern.compile("(.*?)(\\w+)$").matcher(text);
            if (!m.matches() || m.group(1).isBlank()) {
                problems.add("cannot read " + where + ": " + text);
                return null;
            }
            return new CDecl(m.group(2), type(m.group(1)), length);
        }

        private static CType type(String text) {
            int pointers = (int) text.chars().filter(c -> c == '*').count();
            String base = Stream.of(text.replace('*', ' ').strip().split("\\s+"))
                    .filter(w -> !w.isEmpty() && !w.equals("const") && !w.equals("volatile") && !w.equals("restrict")
                            && !w.equals("struct"))
                    .collect(Collectors.joining(" "));
            return new CType(base, pointers);
        }
    }
}
