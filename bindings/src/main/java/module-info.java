/**
 * The jextract-form bindings of {@code nemotron4j.h} (generated code; see bindings/README.md). Exported to the
 * library only: applications use the API of module {@code org.nemotron4j}, never the raw C ABI.
 */
module org.nemotron4j.bindings {
    exports org.nemotron4j.bindings to org.nemotron4j;
}
