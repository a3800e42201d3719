#!/usr/bin/env bash
# Scale-out with existing parts: two `nemotron4j serve` replicas on loopback behind nginx, with prefix-affinity
# routing, and one replica killed under load. Not part of the test command (it needs nginx and curl):
#   apt-get install nginx curl; bench/nginx-replicas.sh [--model DIR]
# Checks, each printed as "ok: ..." (exit status 1 at the first failure):
#  1. affinity by header: requests with the same X-Prefix-Key go to the same replica (nginx `hash ... consistent`),
#     and different keys reach both replicas;
#  2. affinity by the leading prompt: without the header, requests whose JSON body starts alike (model and system
#     prompt first) go to the same replica, so the replica's prefix cache gets the hits (its /metrics show them);
#  3. a replica killed (SIGKILL) under load: its in-flight streams end with an error (cut stream, no [DONE]) within
#     the time limit, the other replica's streams complete, and new requests, also those whose key hashed to the dead
#     replica, are answered by the survivor; nothing hangs (every curl has --max-time).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v nginx > /dev/null || { echo "nginx-replicas.sh: needs nginx (apt-get install nginx)" >&2; exit 2; }
command -v curl > /dev/null || { echo "nginx-replicas.sh: needs curl" >&2; exit 2; }
model_args=()
[ "${1:-}" = "--model" ] && model_args=(--model "$2")
"$root/nemotron4j" --version > /dev/null   # builds the CLI when the sources changed
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

start_replica() {  # start_replica NAME: prints the port
  NEMOTRON4J_SKIP_BUILD=1 "$root/nemotron4j" serve "${model_args[@]}" --port 0 --served-model-name demo \
      2> "$work/$1.err" > /dev/null &
  echo $! > "$work/$1.pid"
  for _ in $(seq 600); do
    port=$(sed -n 's/^serving [^ ]* on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/$1.err")
    if [ -n "$port" ]; then echo "$port"; return; fi
    sleep 0.1
  done
  cat "$work/$1.err" >&2; fail "replica $1 did not start"
}
port_a=$(start_replica a); pids+=("$(cat "$work/a.pid")")
port_b=$(start_replica b); pids+=("$(cat "$work/b.pid")")
pid_a=$(cat "$work/a.pid")

# nginx on a free port, in the foreground of a background job (no root-owned paths, no daemon)
lb_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  client_body_buffer_size 1m;   # the whole request body in memory, so \$request_body can be hashed
  client_max_body_size 8m;

  # Prefix affinity: the client's X-Prefix-Key (e.g. a hash of its system prompt or a conversation id), else the
  # first 256 bytes of the JSON body (model, then the system prompt / first message, as OpenAI clients send them).
  map \$request_body \$body_lead {
    "~^(?s)(?<lead>.{1,256})" \$lead;
    default "";
  }
  map \$http_x_prefix_key \$affinity {
    "" \$body_lead;
    default \$http_x_prefix_key;
  }
  upstream replicas {
    hash \$affinity consistent;
    server 127.0.0.1:$port_a max_fails=1 fail_timeout=30s;
    server 127.0.0.1:$port_b max_fails=1 fail_timeout=30s;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$lb_port;
    location / {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;            # SSE: pass every event on at once
      proxy_request_buffering on;     # read the body first (the hash needs it)
      proxy_read_timeout 300s;
      # a refused connection or a dead replica before any byte of the answer: try the other one. non_idempotent:
      # nginx does not retry a POST once it was sent (a kept-alive connection to a replica that died is found dead
      # only then); a completion has no side effect, so it may be sent again
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 2;
      add_header X-Upstream \$upstream_addr always;
    }
  }
}
CONF
nginx -t -q -c "$work/nginx.conf" -p "$work/nginx" 2> "$work/nginx/test.err" || { cat "$work/nginx/test.err" >&2; fail "nginx -t"; }
nginx -c "$work/nginx.conf" -p "$work/nginx" &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$lb_port/health" && break; sleep 0.1; done
lb="http://127.0.0.1:$lb_port"
echo "replicas 127.0.0.1:$port_a (a) and 127.0.0.1:$port_b (b) behind nginx $(nginx -v 2>&1 | cut -d/ -f2) on $lb"

body() {  # body SYSTEM USER MAX_TOKENS STREAM
  printf '{"model": "demo", "messages": [{"role": "system", "content": "%s"}, {"role": "user", "content": "%s"}], "max_tokens": %s, "temperature": 0, "stream": %s, "chat_template_kwargs": {"enable_thinking": false}}' "$1" "$2" "$3" "$4"
}
upstream_of() {  # upstream_of KEY-HEADER-OR-EMPTY SYSTEM USER: prints the replica port that answered
  local hdr=()
  [ -n "$1" ] && hdr=(-H "X-Prefix-Key: $1")
  curl -s --max-time 120 -D - -o /dev/null "${hdr[@]}" -H 'Content-Type: application/json' \
      -d "$(body "$2" "$3" 4 false)" "$lb/v1/chat/completions" | tr -d '\r' | sed -n 's/^X-Upstream: .*:\([0-9]*\)$/\1/Ip'
}

# 1. affinity by header
declare -A seen=()
for key in conv-1 conv-2 conv-3 conv-4 conv-5 conv-6; do
  first=$(upstream_of "$key" "Be brief." "Hello")
  second=$(upstream_of "$key" "Be brief." "Something else entirely")
  [ -n "$first" ] && [ "$first" = "$second" ] || fail "key $key went to $first then $second"
  seen[$first]=1
  echo "  X-Prefix-Key $key -> replica port $first (twice)"
done
[ "${#seen[@]}" = 2 ] || fail "six keys all went to one replica"
echo "ok: the same X-Prefix-Key always reaches the same replica; different keys reach both"

# 2. affinity by the leading prompt, and the replica's prefix cache hits
system_prompt=$(printf 'You are a careful assistant for the documentation of nemotron4j. %.0s' $(seq 12))
hits_before() { curl -s "http://127.0.0.1:$1/metrics" | sed -n 's/^n4j_prefix_cache_hits_total //p'; }
first=$(upstream_of "" "$system_prompt" "First question?")
h0=$(hits_before "$first")
second=$(upstream_of "" "$system_prompt" "A different second question?")
h1=$(hits_before "$first")
[ "$first" = "$second" ] || fail "the same leading prompt went to $first then $second"
[ "${h1%.*}" -gt "${h0%.*}" ] || fail "no prefix-cache hit on replica $first ($h0 -> $h1)"
echo "ok: the same leading prompt (no header) reaches replica $first twice; its n4j_prefix_cache_hits_total $h0 -> $h1"

# 3. kill replica a under load
keys_a=() keys_b=()
for i in $(seq 1 40); do
  p=$(upstream_of "load-$i" "Be brief." "Hi")
  if [ "$p" = "$port_a" ] && [ "${#keys_a[@]}" -lt 4 ]; then keys_a+=("load-$i"); fi
  if [ "$p" = "$port_b" ] && [ "${#keys_b[@]}" -lt 4 ]; then keys_b+=("load-$i"); fi
  [ "${#keys_a[@]}" = 4 ] && [ "${#keys_b[@]}" = 4 ] && break
done
[ "${#keys_a[@]}" = 4 ] && [ "${#keys_b[@]}" = 4 ] || fail "could not find keys for both replicas"
stream_pids=()
for key in "${keys_a[@]}" "${keys_b[@]}"; do
  ( set +e
    curl -sN --max-time 180 -D "$work/stream-$key.hdr" -H "X-Prefix-Key: $key" -H 'Content-Type: application/json' \
        -d "$(body "Be brief." "Tell me a long story." 400 true)" "$lb/v1/chat/completions" > "$work/stream-$key.out" 2>&1
    echo $? > "$work/stream-$key.rc" ) &
  stream_pids+=($!)
done
sleep 3
kill -9 "$pid_a"
killed_at=$(date +%s)
echo "  killed replica a (pid $pid_a) with 8 streams running (4 on each replica)"
# new requests right after the kill, half of them with keys that hashed to the dead replica
for key in "${keys_a[@]}" new-1 new-2; do
  rc=0
  out=$(curl -s --max-time 120 -D - -H "X-Prefix-Key: $key" -H 'Content-Type: application/json' \
      -d "$(body "Be brief." "Hello again" 4 false)" "$lb/v1/chat/completions") || rc=$?
  code=$(head -1 <<< "$out" | awk '{print $2}')
  up=$(tr -d '\r' <<< "$out" | sed -n 's/^X-Upstream: //Ip' | tail -1)
  [ "$rc" = 0 ] && [ "$code" = 200 ] || fail "new request $key after the kill: curl $rc, HTTP $code"
  echo "  new request $key after the kill -> 200 via $up"
done
for p in "${stream_pids[@]}"; do wait "$p"; done
ended=$(( $(date +%s) - killed_at ))
for key in "${keys_a[@]}"; do
  if grep -q '^data: \[DONE\]' "$work/stream-$key.out"; then
    # nginx retries on the other replica only when the dead one had sent nothing yet
    grep -qi "^X-Upstream: .*:$port_b" "$work/stream-$key.hdr" || fail "stream $key on the killed replica completed"
    echo "  stream $key (replica a, killed before it answered): retried by nginx on replica b, complete"
  else
    echo "  stream $key (replica a, killed): curl exit $(cat "$work/stream-$key.rc"), no [DONE]"
  fi
done
for key in "${keys_b[@]}"; do
  grep -q '^data: \[DONE\]' "$work/stream-$key.out" || fail "stream $key on the surviving replica did not complete"
  echo "  stream $key (replica b): complete, $(grep -c '^data: {' "$work/stream-$key.out") events, [DONE]"
done
echo "ok: in-flight streams of the killed replica ended with an error, the survivor's completed, new requests went to the survivor; all streams over ${ended} s after the kill"
