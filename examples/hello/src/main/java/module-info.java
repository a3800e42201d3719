/** The example is a named module: nemotron4j, Jackson and Jinjava resolve on the module path. */
module org.nemotron4j.example {
    requires org.nemotron4j;
}
