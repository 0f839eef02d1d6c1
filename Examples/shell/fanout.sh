#!/usr/bin/env bash
# A fan-out with the gearman command line: render one newsletter per user in the foreground,
# then submit one background send job per newsletter and return without waiting for the sends.
#
#   fanout.sh [-h HOST] [-p PORT] [-o OUTBOX] worker   work until interrupted
#   fanout.sh [-h HOST] [-p PORT] client [USERS]       render and send USERS newsletters (default 10)
#
# The send worker appends each newsletter to the OUTBOX file (default ./outbox.txt), one line each.
# The server is localhost:4730 unless -h and -p set another; GEARMAN_SERVER takes precedence.
set -euo pipefail

usage() {
    echo "Usage: ${0##*/} [-h HOST] [-p PORT] [-o OUTBOX] worker" >&2
    echo "       ${0##*/} [-h HOST] [-p PORT] client [USERS]" >&2
    exit 2
}

host=localhost
port=4730
outbox=outbox.txt
while getopts h:p:o: option; do
    case $option in
    h) host=$OPTARG ;;
    p) port=$OPTARG ;;
    o) outbox=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
role=$1
shift

case $role in
worker)
    # Two workers, one per function, in the background of this script. Stopping the script
    # stops both.
    gearman -w -h "$host" -p "$port" -f render_newsletter -- sed 's|.*|<p>Newsletter for &</p>|' &
    render_worker=$!
    gearman -w -h "$host" -p "$port" -f send_newsletter -- tee -a "$outbox" &
    send_worker=$!
    trap 'kill "$render_worker" "$send_worker" 2>/dev/null' EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    wait
    ;;
client)
    users=${1:-10}
    [[ $users =~ ^[0-9]+$ ]] || usage
    rendered=$(mktemp)
    trap 'rm -f "$rendered"' EXIT

    # Step 1: -n submits one job per input line and prints its result before it reads the
    # next line. The workload keeps its newline, so each result is one line too.
    seq "$users" | sed 's/^/user-/' | gearman -h "$host" -p "$port" -n -f render_newsletter >"$rendered"
    echo "newsletters rendered: $(wc -l <"$rendered")"

    # Step 2: -b submits background jobs: gearman exits once the server has queued them, and
    # the send worker runs them later.
    gearman -h "$host" -p "$port" -b -n -f send_newsletter <"$rendered"
    echo "send jobs submitted: $(wc -l <"$rendered")"
    ;;
*)
    usage
    ;;
esac
