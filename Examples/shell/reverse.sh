#!/usr/bin/env bash
# The Hello World of Gearman with the gearman command line: a worker that reverses text with
# rev(1), and a client that sends it.
#
#   reverse.sh [-h HOST] [-p PORT] worker          work until interrupted
#   reverse.sh [-h HOST] [-p PORT] client TEXT...  print TEXT reversed
#
# The server is localhost:4730 unless -h and -p set another. GEARMAN_SERVER (host:port, or a
# comma-separated list) takes precedence over both, because gearman itself reads it.
set -euo pipefail

usage() {
    echo "Usage: ${0##*/} [-h HOST] [-p PORT] worker|client [TEXT...]" >&2
    exit 2
}

host=localhost
port=4730
while getopts h:p: option; do
    case $option in
    h) host=$OPTARG ;;
    p) port=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
role=$1
shift

case $role in
worker)
    # -w makes gearman a worker for the function given by -f. It runs the command after -- once
    # per job, with the workload on its standard input, and sends its standard output back as
    # the job's result.
    exec gearman -w -h "$host" -p "$port" -f reverse -- rev
    ;;
client)
    [[ $# -ge 1 ]] || usage
    # Without -w gearman is a client: it submits the argument as the workload of one job and
    # prints the result, without a newline of its own.
    gearman -h "$host" -p "$port" -f reverse "$*"
    echo
    ;;
*)
    usage
    ;;
esac
