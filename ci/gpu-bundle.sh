#!/usr/bin/env bash
# Prepares .gpu/, what ci/gpu-test.sh and ci/gpu-bench.sh need on a GPU machine that has the CUDA toolkit but no JDK,
# no Maven and no network (the device machines of this project's workplace). Run it on a build machine, then carry
# .gpu along with the working tree (it is git-ignored, about 45 MB):
#   .gpu/jre.tar.xz        a Java 25 runtime made by jlink from this machine's JDK (only the modules the jars use)
#   .gpu/lib/nemotron4j.jar             the CLI's shaded jar without its packaged native libraries
#                                       (the GPU machine builds its own, ci/gpu-test.sh points Java at them)
#   .gpu/lib/nemotron4j-core-tests.jar  the core module's compiled tests (the GPU-tagged JUnit tests among them)
#   .gpu/lib/junit-platform-console-standalone-*.jar   runs those tests without Maven
#   .gpu/lib/bench/        the JMH kernel benchmarks (thin jar) and JMH's own jars, for KernelReport --device cuda:0
#   .gpu/fixtures/         the golden models and configs from ../shared/fixtures (../shared does not travel)
# Usage: ci/gpu-bundle.sh   (builds the Java modules first, unless N4J_BUNDLE_NO_BUILD=1; N4J_MAVEN_REPO=<dir> uses
#        that Maven local repository instead of ~/.m2/repository)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/find-jdk.sh

junit_platform=1.11.4
m2=${N4J_MAVEN_REPO:-$HOME/.m2/repository}
out=.gpu
mkdir -p "$out/lib" "$out/fixtures"

if [ "${N4J_BUNDLE_NO_BUILD:-0}" != 1 ]; then
  echo "== Maven: building the Java modules (tests compiled, not run; N4J_BUNDLE_NO_BUILD=1 skips this)"
  mvn -B -ntp -q -Dstyle.color=never "-Dmaven.repo.local=$m2" -Dn4j.skipNative=true -DskipTests install
fi
for f in java/cli/target/nemotron4j.jar java/core/target/test-classes java/bench/target/nemotron4j-bench-*.jar; do
  [ -e "$f" ] || { echo "ERROR: $f is missing: build the Java modules first" >&2; exit 1; }
done

echo "== runtime image (jlink) -> $out/jre.tar.xz"
# The modules the jars use at run time (jdeps), java.desktop for Jinjava's java.beans, jdk.zipfs for JUnit's jar scan.
modules=java.base,java.logging,java.management,java.naming,java.sql,java.xml,java.desktop,jdk.unsupported,jdk.zipfs
stamp="$("$JAVA_HOME/bin/java" -version 2>&1 | head -2 | tr '\n' ' ') $modules"
if [ -f "$out/jre.tar.xz" ] && [ "$(cat "$out/jre.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "   up to date ($stamp)"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$JAVA_HOME/bin/jlink" --add-modules "$modules" \
    --strip-debug --no-man-pages --no-header-files --output "$tmp/jre"
  tar -C "$tmp" -cJf "$out/jre.tar.xz" jre
  echo "$stamp" > "$out/jre.stamp"
fi

echo "== jars -> $out/lib"
cp java/cli/target/nemotron4j.jar "$out/lib/nemotron4j.jar"
zip -q -d "$out/lib/nemotron4j.jar" 'org/nemotron4j/native/*' >/dev/null || true
rm -f "$out/lib/nemotron4j-core-tests.jar"
"$JAVA_HOME/bin/jar" --create --file "$out/lib/nemotron4j-core-tests.jar" -C java/core/target/test-classes .
console="junit-platform-console-standalone-$junit_platform.jar"
if [ ! -f "$out/lib/$console" ]; then
  local_copy="$m2/org/junit/platform/junit-platform-console-standalone/$junit_platform/$console"
  if [ ! -f "$local_copy" ]; then
    mvn -B -ntp -q "-Dmaven.repo.local=$m2" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
      -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit_platform"
  fi
  cp "$local_copy" "$out/lib/$console"
fi

mkdir -p "$out/lib/bench"
rm -f "$out/lib/bench/"*.jar
cp java/bench/target/nemotron4j-bench-*.jar "$out/lib/bench/"
for dep in org/openjdk/jmh/jmh-core/1.37/jmh-core-1.37.jar net/sf/jopt-simple/jopt-simple/5.0.4/jopt-simple-5.0.4.jar \
           org/apache/commons/commons-math3/3.6.1/commons-math3-3.6.1.jar; do
  if [ ! -f "$m2/$dep" ]; then
    echo "ERROR: $m2/$dep is missing (the Maven build of java/bench fetches it)" >&2
    exit 1
  fi
  cp "$m2/$dep" "$out/lib/bench/"
done

echo "== fixtures -> $out/fixtures"
if [ ! -d ../shared/fixtures ]; then
  echo "ERROR: ../shared/fixtures is missing" >&2
  exit 1
fi
for f in nemotron-h-tiny nemotron-h-tiny-fp8 configs README.md; do
  rm -rf "${out:?}/fixtures/$f"
  cp -r "../shared/fixtures/$f" "$out/fixtures/$f"
done

# It travels to the GPU machine with the working tree (a device run carries at most 64 MiB in all).
bytes=$(du -sb "$out" | cut -f1)
echo "bundle: $out is $bytes bytes ($((bytes / 1048576)) MiB; the limit is 64 MiB)"
if [ "$bytes" -ge $((64 * 1048576)) ]; then
  echo "ERROR: $out is 64 MiB or more: it would not travel to the GPU machine" >&2
  exit 1
fi
echo "carry it: device run with carry [\".gpu\"], command: bash ci/gpu-test.sh"
