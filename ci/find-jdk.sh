# Sourced by the project's scripts: makes JAVA_HOME point at a JDK >= 22 (nemotron4j uses the finalized FFM API).
# Keeps JAVA_HOME when it already is one; otherwise looks in the usual install locations.
n4j_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2; exit}' | cut -d. -f1
}
n4j_find_jdk() {
  local candidate major
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*  /opt/java/* /opt/jdk*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    major=$(n4j_java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 22 ] 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v javac >/dev/null 2>&1; then
    candidate=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    major=$(n4j_java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 22 ] 2>/dev/null; then echo "$candidate"; return 0; fi
  fi
  return 1
}
if ! N4J_JDK=$(n4j_find_jdk); then
  echo "nemotron4j needs a JDK 22 or later (for example Temurin 25); none found in JAVA_HOME or /usr/lib/jvm." >&2
  return 1 2>/dev/null || exit 1
fi
export JAVA_HOME="$N4J_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
