#!/usr/bin/env bash
# Makes the command-line distribution: make-dist.sh VERSION PLATFORM CLI_JAR OUT_DIR
#   OUT_DIR/nemotron4j-VERSION-PLATFORM.tar.gz, holding nemotron4j-VERSION/
#     bin/nemotron4j     the launcher (POSIX sh; runs runtime/bin/java, needs nothing on the PATH but sh/readlink/dirname)
#     lib/nemotron4j.jar the CLI with its dependencies and the native libraries (CPU + CUDA plug-in)
#     runtime/           a Java runtime made by jlink from JLINK_JAVA_HOME (or JAVA_HOME): only the modules it needs
#     LICENSE, README.txt
set -euo pipefail
version=$1 platform=$2 jar=$3 out=$4
jdk=${JLINK_JAVA_HOME:-${JAVA_HOME:?set JAVA_HOME}}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
name="nemotron4j-$version"
stage="$out/dist/$name"
[ -f "$jar" ] || { echo "make-dist.sh: $jar is missing (build java/cli first)" >&2; exit 1; }

rm -rf "$out/dist"
mkdir -p "$stage/bin" "$stage/lib"
# The JDK modules the CLI and its libraries use (jdeps over the jars): java.base; java.desktop (java.beans, for
# Jinjava's expression language); java.logging (Guava, Jinjava); java.management and java.naming (Jinjava's
# dependencies); java.sql (Jackson's optional date types); jdk.unsupported (sun.misc.Signal: Ctrl-C in chat; Guava);
# jdk.zipfs (jar file systems); jdk.httpserver (serve: com.sun.net.httpserver).
modules=java.base,java.desktop,java.logging,java.management,java.naming,java.sql,jdk.unsupported,jdk.zipfs,jdk.httpserver
"$jdk/bin/jlink" --add-modules "$modules" --output "$stage/runtime" --strip-debug --no-header-files \
    --no-man-pages --compress=zip-6
cp "$jar" "$stage/lib/nemotron4j.jar"
cp "$root/LICENSE" "$stage/LICENSE"
cat > "$stage/README.txt" <<TXT
nemotron4j $version ($platform): run NVIDIA Nemotron-H models from Hugging Face checkpoints.

  bin/nemotron4j --help
  bin/nemotron4j run --model /path/to/NVIDIA-Nemotron-Nano-9B-v2 --prompt "Why is the sky blue?"
  bin/nemotron4j run --prompt "And God said"   (the demo: a small base model trained on the King James Bible)

Needs no JDK: runtime/ is the Java runtime it runs on. NEMOTRON4J_JAVA_OPTS adds JVM options (e.g. -Xmx).
Licensed under the Apache License 2.0 (LICENSE).
TXT
cat > "$stage/bin/nemotron4j" <<'SH'
#!/bin/sh
# nemotron4j launcher of the distribution: runs the CLI on the bundled Java runtime (no JDK needed).
# NEMOTRON4J_JAVA_OPTS adds JVM options; NEMOTRON4J_DEMO_MODEL moves the demo model (unpacked on first use into ~/.cache/nemotron4j).
self=$(readlink -f "$0")
home=$(dirname "$(dirname "$self")")
# shellcheck disable=SC2086
exec "$home/runtime/bin/java" --enable-native-access=ALL-UNNAMED ${NEMOTRON4J_JAVA_OPTS:-} \
    -jar "$home/lib/nemotron4j.jar" "$@"
SH
chmod +x "$stage/bin/nemotron4j"
tarball="$out/$name-$platform.tar.gz"
tar -C "$out/dist" -czf "$tarball" "$name"
echo "make-dist.sh: wrote $tarball ($(du -h "$tarball" | cut -f1))"
