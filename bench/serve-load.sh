#!/usr/bin/env bash
# A bounded load test of `nemotron4j serve` on loopback (not part of the test command; see bench/serve/ServeLoad.java):
#   bench/serve-load.sh [--model DIR] [--streams 64] [--seconds 60] [--max-tokens 48] [--long-tokens 2048]
# Starts two servers on free loopback ports, one with the prefix cache (the one loaded) and one without (the reference
# for "identical output"), runs the client, stops both. Without --model it serves the demo model, as `run` does.
# Exit status 1 when a request was lost, refused or cut. Figures depend on the machine: say which one ran it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/ci/find-jdk.sh"
model_args=()
client_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model_args=(--model "$2"); shift 2 ;;
    *) client_args+=("$1" "$2"); shift 2 ;;
  esac
done
"$root/nemotron4j" --version > /dev/null   # builds the CLI when the sources changed
jar="$root/java/cli/target/nemotron4j.jar"
logs=$(mktemp -d)
cleanup() {
  for f in "$logs"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT

start() {  # start NAME ARGS...: runs a server, waits for its "serving ... on URL" line, prints the URL
  local name=$1; shift
  NEMOTRON4J_SKIP_BUILD=1 "$root/nemotron4j" serve "${model_args[@]}" --port 0 --served-model-name demo \
      --max-sequences 128 --max-queue 512 "$@" 2> "$logs/$name.err" > /dev/null &
  echo $! > "$logs/$name.pid"   # (this runs in a command substitution: the caller collects the pid files)
  for _ in $(seq 600); do
    url=$(sed -n 's/^serving [^ ]* on \(http:[^ ]*\).*/\1/p' "$logs/$name.err")
    if [ -n "$url" ]; then echo "$url"; return; fi
    sleep 0.1
  done
  echo "serve-load.sh: the $name server did not start:" >&2; cat "$logs/$name.err" >&2; exit 1
}
url=$(start cached)
cold=$(start nocache --prefix-cache-mb 0)
echo "servers: $url (prefix cache on), $cold (prefix cache off); $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$JAVA_HOME/bin/java" -cp "$jar" "$root/bench/serve/ServeLoad.java" --url "$url" --cold-url "$cold" "${client_args[@]}"
