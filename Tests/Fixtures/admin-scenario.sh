#!/usr/bin/env bash
# Build a fixed job-server state on 127.0.0.1:PORT and record gearadmin's output
# for every admin option into OUTDIR.
#
# Usage: admin-scenario.sh PORT OUTDIR
#
# The server must be fresh (no jobs, no functions, handle counter at 1) and
# started with --job-handle-prefix=H:fixture, so job handles are H:fixture:<n>
# on every host. Needs gearman and gearadmin (Debian gearman-tools) and python3.
#
# For each admin step NAME the script writes NAME.txt (gearadmin stdout),
# NAME.stderr and NAME.exit (gearadmin exit status).
#
# Jobs created, in handle order:
#   H:fixture:1  alpha    high    unique alpha-high-1
#   H:fixture:2  alpha    high    unique alpha-high-2
#   H:fixture:3  alpha    normal  unique alpha-normal-1
#   H:fixture:4  alpha    low     unique alpha-low-1
#   H:fixture:5  beta     high    unique beta-high-1
#   H:fixture:6  beta     normal  unique beta-normal-1
#   H:fixture:7  beta     low     unique beta-low-1
#   H:fixture:8  beta     normal  unique "-" (payload is the coalescing key)
#   H:fixture:9  busy-fn  normal  unique busy-1, taken by the busy worker
#   H:fixture:10 beta     normal  empty unique (raw SUBMIT_JOB_BG)
#   H:fixture:11 beta     epoch 4102444800 (2100-01-01), unique beta-epoch-1
# A resubmission of alpha-normal-1 is coalesced and creates no handle.
#
# Connections kept open by the python helper while outputs are taken:
#   client       no client id, no functions (submitted jobs 10 and 11)
#   idle worker  client id fixture-idle-worker, CAN_DO idle-fn, no job
#   busy worker  client id fixture-busy-worker, CAN_DO busy-fn, holds H:fixture:9
# The function empty-fn is made with "create function" and has no jobs.

set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 PORT OUTDIR" >&2
    exit 2
fi

readonly port=$1
readonly outdir=$2
readonly host=127.0.0.1
# Upper bound, in seconds, for each tool run and for the helper's lifetime.
readonly step_timeout=10
readonly helper_lifetime=300

mkdir -p "$outdir"
workdir=$(mktemp -d)
background_pids=()

cleanup() {
    local pid
    for pid in "${background_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${background_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$workdir"
}
trap cleanup EXIT

# Run gearadmin with the given options and store its stdout, stderr and exit
# status under OUTDIR/NAME.*. gearadmin exits 0 even on ERR replies, so the
# status is recorded rather than checked.
record_admin() {
    local name=$1
    shift
    local status=0
    timeout "$step_timeout" gearadmin -h "$host" -p "$port" "$@" \
        >"$outdir/$name.txt" 2>"$outdir/$name.stderr" || status=$?
    echo "$status" >"$outdir/$name.exit"
}

# Submit one background job with the gearman CLI. The arguments are gearman
# options followed by the payload. gearman 1.1.20 exits 0 even when it cannot
# connect, so any output on stderr is treated as a failure.
submit_background() {
    local errors
    errors=$(timeout "$step_timeout" gearman -h "$host" -p "$port" -b "$@" </dev/null 2>&1 >/dev/null)
    if [[ -n $errors ]]; then
        echo "error: gearman -b $* failed: $errors" >&2
        exit 1
    fi
}

# 1. A function with no jobs and no workers. gearadmin exits non-zero only
# when it cannot reach the server, so this also checks the port.
record_admin create-function --create-function empty-fn
if [[ $(<"$outdir/create-function.exit") != 0 ]]; then
    echo "error: gearadmin failed on $host:$port: $(<"$outdir/create-function.stderr")" >&2
    exit 1
fi

# 2. Background jobs at every priority for two functions.
submit_background -I -f alpha -u alpha-high-1 payload-alpha-high-1
submit_background -I -f alpha -u alpha-high-2 payload-alpha-high-2
submit_background -f alpha -u alpha-normal-1 payload-alpha-normal-1
submit_background -L -f alpha -u alpha-low-1 payload-alpha-low-1
submit_background -I -f beta -u beta-high-1 payload-beta-high-1
submit_background -f beta -u beta-normal-1 payload-beta-normal-1
submit_background -L -f beta -u beta-low-1 payload-beta-low-1
submit_background -f beta -u - payload-beta-dash
submit_background -f busy-fn -u busy-1 payload-busy-1
# Same function and unique as H:fixture:3, so the server coalesces it.
submit_background -f alpha -u alpha-normal-1 payload-alpha-normal-dup

# 3. Raw-protocol steps that the C tools cannot do. These are an empty unique
# (libgearman replaces it with a UUID), an epoch job, SET_CLIENT_ID and a
# worker that keeps a job. The helper creates the ready file once the server
# has processed every request, then keeps its connections open until killed.
ready_file=$workdir/ready
python3 - "$port" "$ready_file" "$helper_lifetime" <<'PYTHON' &
import socket
import struct
import sys
import time

port = int(sys.argv[1])
ready_file = sys.argv[2]
lifetime = float(sys.argv[3])

REQ = b"\0REQ"
CAN_DO, GRAB_JOB, JOB_CREATED, JOB_ASSIGN = 1, 9, 8, 11
ECHO_REQ, ECHO_RES, SUBMIT_JOB_BG = 16, 17, 18
SET_CLIENT_ID, SUBMIT_JOB_EPOCH = 22, 36


def connect():
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.settimeout(2)
    return sock


def send(sock, packet_type, *args):
    body = b"\0".join(args)
    sock.sendall(REQ + struct.pack(">II", packet_type, len(body)) + body)


def read_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    return data


def receive(sock, expected_type):
    magic, packet_type, size = struct.unpack(">4sII", read_exact(sock, 12))
    body = read_exact(sock, size)
    if packet_type != expected_type:
        raise RuntimeError(f"expected packet type {expected_type}, got {packet_type}: {body!r}")
    return body


def sync(sock):
    # ECHO_RES arrives only after the server has handled all earlier requests.
    send(sock, ECHO_REQ, b"sync")
    receive(sock, ECHO_RES)


client = connect()
send(client, SUBMIT_JOB_BG, b"beta", b"", b"payload-beta-empty-unique")
receive(client, JOB_CREATED)
send(client, SUBMIT_JOB_EPOCH, b"beta", b"beta-epoch-1", b"4102444800", b"payload-beta-epoch")
receive(client, JOB_CREATED)
# The client connection stays open because, if it closed right before the
# workers connect, whether the server reuses its fd would depend on timing.

idle_worker = connect()
send(idle_worker, SET_CLIENT_ID, b"fixture-idle-worker")
send(idle_worker, CAN_DO, b"idle-fn")
sync(idle_worker)

busy_worker = connect()
send(busy_worker, SET_CLIENT_ID, b"fixture-busy-worker")
send(busy_worker, CAN_DO, b"busy-fn")
send(busy_worker, GRAB_JOB)
receive(busy_worker, JOB_ASSIGN)

with open(ready_file, "w") as ready:
    ready.write("ready\n")
time.sleep(lifetime)
PYTHON
background_pids+=($!)

for _ in $(seq 100); do
    [[ -e $ready_file ]] && break
    if ! kill -0 "${background_pids[-1]}" 2>/dev/null; then
        echo "error: the python helper exited before the state was ready, see its traceback above" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ ! -e $ready_file ]]; then
    echo "error: timed out after 10 s waiting for the python helper" >&2
    exit 1
fi

# 4. Read-only admin output of the full state.
record_admin status --status
record_admin workers --workers
record_admin show-jobs --show-jobs
record_admin show-unique-jobs --show-unique-jobs
record_admin priority-status --priority-status
record_admin getpid --getpid
record_admin server-version --server-version

# 5. State-changing admin commands, then the status they leave behind.
record_admin cancel-job-known --cancel-job H:fixture:4
record_admin cancel-job-unknown --cancel-job H:fixture:999
record_admin drop-function-ok --drop-function empty-fn
record_admin drop-function-missing --drop-function no-such-fn
record_admin drop-function-busy --drop-function busy-fn
record_admin status-after --status
record_admin show-jobs-after --show-jobs
record_admin priority-status-after --priority-status
