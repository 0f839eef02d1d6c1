#!/usr/bin/env bash
# Measures HTTP job submission with wrk against our gearmand or the C gearmand 1.1.20, with the
# same libgearman echo worker for both. Everything stays on 127.0.0.1; the script stops only the
# processes it started, by PID.
#
#   Benchmarks/http/run.sh ours|c fg|bg [CONNECTIONS] [SECONDS] [WORKERS]
#
# fg POSTs foreground jobs to the echo function, bg background jobs to noop. Prints wrk's report.
# Our gearmand is taken from GEARMAND (default .build/release/gearmand). SERVER_ARGS adds options
# to the server's command line, such as SERVER_ARGS="-t 1".
set -euo pipefail

server=${1:?usage: run.sh ours|c fg|bg [CONNECTIONS] [SECONDS] [WORKERS]}
mode=${2:?usage: run.sh ours|c fg|bg [CONNECTIONS] [SECONDS] [WORKERS]}
connections=${3:-16}
seconds=${4:-10}
workers=${5:-2}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ours=${GEARMAND:-$here/../../.build/release/gearmand}
work=$(mktemp -d)
pids=()
read -r -a server_args <<<"${SERVER_ARGS:-}"

# Stops the started processes: SIGTERM, then SIGKILL for any still running after 2 s.
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 2
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cc -O2 -o "$work/echo-worker" "$here/echo-worker.c" -lgearman
gear_port=$(free_port)
http_port=$(free_port)
case $server in
ours)
    "$ours" --listen 127.0.0.1 --port "$gear_port" -r http --http-port "$http_port" --log-file none --pid-file= \
        "${server_args[@]}" &
    ;;
c)
    /usr/sbin/gearmand --listen=127.0.0.1 --port="$gear_port" -r http --http-port="$http_port" --log-file=none \
        --pid-file="$work/gearmand.pid" "${server_args[@]}" &
    ;;
*)
    echo "run.sh: unknown server '$server': use ours or c" >&2
    exit 2
    ;;
esac
pids+=($!)
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then break; fi
    sleep 0.05
done
for _ in $(seq "$workers"); do
    "$work/echo-worker" "$gear_port" &
    pids+=($!)
done
sleep 0.5

if [[ $mode == bg ]]; then
    wrk -t 1 -c "$connections" -d "${seconds}s" --timeout 10s -s "$here/post.lua" "http://127.0.0.1:$http_port/noop" -- bg
else
    wrk -t 1 -c "$connections" -d "${seconds}s" --timeout 10s -s "$here/post.lua" "http://127.0.0.1:$http_port/echo"
fi
