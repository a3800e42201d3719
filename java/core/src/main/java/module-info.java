/**
 * nemotron4j: Nemotron-H models in Java. Exports the API; {@code org.nemotron4j.runtime} (backends, kernels, the native
 * library loader) and the bindings stay internal.
 *
 * <p>At run time the native library comes from the artifact {@code org.nemotron4j:nemotron4j-native} with the
 * platform's classifier (on the class path or module path; see {@code NativeLibrary}); grant native access with
 * {@code --enable-native-access=org.nemotron4j,org.nemotron4j.bindings} (or {@code ALL-UNNAMED} on the class path).
 */
module org.nemotron4j {
    requires org.nemotron4j.bindings;
    requires com.fasterxml.jackson.databind;
    // Jinjava (chat templates) has no module descriptor: it is the automatic module named after its jar, "jinjava".
    requires jinjava;
    // Jinjava's expression language uses java.beans; automatic modules do not pull in the JDK modules they need.
    requires java.desktop;

    exports org.nemotron4j;
    exports org.nemotron4j.chat;
    exports org.nemotron4j.checkpoint;
    exports org.nemotron4j.eval;
    exports org.nemotron4j.generate;
    exports org.nemotron4j.quant;
    exports org.nemotron4j.sampling;
    exports org.nemotron4j.serving;
    exports org.nemotron4j.tokenizer;
}
