#!/usr/bin/env bash
# The distribution on a machine with no JDK, Maven or build tree: run by ci/test.sh's distribution step.
#   ci/dist-nojdk.sh <nemotron4j-*-linux-x86_64.tar.gz> <model dir for inspect> <expected Java version>
# Where a private mount namespace can be made (`unshare --mount`: root, or unprivileged user namespaces), the check
# runs inside one in which no JDK is left: tmpfs is mounted over /usr/lib/jvm, /usr/share/maven, /opt, /work, /root,
# /home and /tmp (the tarball and the model are copied into the new /tmp first); then `find / -xdev` must find no
# executable named java, javac or mvn and no libjvm.so (a JDK elsewhere gets hidden too, then the find runs again),
# and `command -v java` nothing, before the launcher runs `--version`, `inspect` and `run` with
# env -i PATH=/usr/bin:/bin. The mounts are private to the namespace (nothing changes for other processes) and end
# with it. Where unshare is not permitted the same commands run with env -i only, and a warning says that a JDK
# installed on this machine stayed reachable (N4J_DIST_NO_UNSHARE=1 takes that path on purpose).
set -euo pipefail
tarball=$(readlink -f "$1")
model=$(readlink -f "$2")
java_version=$3

# tmpfs over each directory that exists (and is not a mount point already)
hide_all() {
  local d
  for d in "$@"; do
    if [ -d "$d" ] && ! mountpoint -q "$d"; then
      mount -t tmpfs -o size=1m,mode=755 n4j-hidden "$d"
    fi
  done
}

# executables named java, javac or mvn, and any libjvm.so, on the root file system (tmpfs mounts are not searched)
reachable() {
  find / -xdev \( \( -name java -o -name javac -o -name mvn \) -type f -perm /111 -o -name libjvm.so \) -print \
    2>/dev/null || true
}

inner() {
  set -euo pipefail
  local tarball=$1 model=$2 java_version=$3 isolated=$4
  local box
  if [ "$isolated" = 1 ]; then
    mount --make-rprivate /
    mount -t tmpfs -o size=2g n4j-nojdk /tmp
    box=/tmp/box
  else
    box=$(mktemp -d)
    trap "rm -rf '$box'" EXIT  # (expanded now: box is local)
  fi
  mkdir -p "$box/home" "$box/model"
  tar -xzf "$tarball" -C "$box"
  cp "$model/config.json" "$model/model.safetensors" "$box/model/"
  local launcher
  launcher=$(ls "$box"/nemotron4j-*/bin/nemotron4j)
  if [ "$isolated" = 1 ]; then
    local hide=(/usr/lib/jvm /usr/share/maven /opt /work /root /home /usr/local/lib/jvm /usr/java)
    hide_all "${hide[@]}"
    local left
    left=$(reachable)
    if [ -n "$left" ]; then
      # another JDK or JRE somewhere: hide its root (three levels above lib/server/libjvm.so, two above bin/java)
      local f more=()
      for f in $left; do
        case "$f" in
          */libjvm.so) more+=("$(dirname "$(dirname "$(dirname "$f")")")") ;;
          *) more+=("$(dirname "$(dirname "$f")")") ;;
        esac
      done
      hide_all "${more[@]}"
      hide+=("${more[@]}")
      left=$(reachable)
    fi
    if [ -n "$left" ]; then
      echo "ERROR: a Java runtime or build tool is still reachable: $left" >&2
      return 1
    fi
  fi
  # (the JVM takes user.home from the password database, not HOME: the demo model's place is given explicitly)
  local clean=(env -i PATH=/usr/bin:/bin HOME="$box/home" NEMOTRON4J_DEMO_MODEL="$box/home/demo-model")
  if [ "$isolated" = 1 ] && "${clean[@]}" sh -c 'command -v java || command -v javac || command -v mvn'; then
    echo "ERROR: java, javac or mvn is on the PATH" >&2
    return 1
  fi
  echo "no JDK: $( [ "$isolated" = 1 ] && echo "private mount namespace, hidden: ${hide[*]}; find / -xdev finds no java, javac, mvn or libjvm.so" || echo "env -i only")"
  cd "$box/home"
  "${clean[@]}" "$launcher" --version | tee "$box/version.out"
  grep -q "^Java $java_version" "$box/version.out" \
    || { echo "ERROR: the distribution did not run on its bundled runtime" >&2; return 1; }
  "${clean[@]}" "$launcher" inspect --model "$box/model"
  "${clean[@]}" "$launcher" run --prompt "Why is the sky blue?" --max-tokens 8 --seed 1 > "$box/run.out" 2> "$box/run.err"
  [ -s "$box/run.out" ] || { echo "ERROR: the distribution's run printed nothing" >&2; return 1; }
  echo "run: stdout: $(tr '\n' ' ' < "$box/run.out" | head -c 300)"
  echo "run: stderr ends: $(tr '\r' '\n' < "$box/run.err" | grep -v '^$' | tail -2 | tr '\n' ' ' | head -c 400)"
}

if [ "${N4J_DIST_NO_UNSHARE:-0}" != 1 ] && unshare --mount --propagation private true 2>/dev/null; then
  unshare --mount --propagation private bash -c "$(declare -f hide_all reachable inner); inner \"\$@\"" inner \
    "$tarball" "$model" "$java_version" 1
else
  echo "WARNING: unshare --mount is not permitted here: the distribution runs with env -i PATH=/usr/bin:/bin only;" \
    "a JDK installed on this machine (e.g. /usr/bin/java) stays reachable" >&2
  inner "$tarball" "$model" "$java_version" 0
fi
