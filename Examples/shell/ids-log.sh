#!/usr/bin/env bash
# Fire-and-forget logging with the gearman command line. The client submits each request line
# of its standard input as a background job and exits at once. The worker appends the lines to
# a log file whenever it gets to them.
#
#   ids-log.sh [-h HOST] [-p PORT] -l LOG worker   work until interrupted
#   ids-log.sh [-h HOST] [-p PORT] client <REQUESTS
#
# The server is localhost:4730 unless -h and -p say otherwise; GEARMAN_SERVER takes precedence.
set -euo pipefail

usage() {
    echo "Usage: ${0##*/} [-h HOST] [-p PORT] -l LOG worker" >&2
    echo "       ${0##*/} [-h HOST] [-p PORT] client <REQUESTS" >&2
    exit 2
}

host=localhost
port=4730
log=
while getopts h:p:l: option; do
    case $option in
    h) host=$OPTARG ;;
    p) port=$OPTARG ;;
    l) log=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -eq 1 ]] || usage

case $1 in
worker)
    [[ -n $log ]] || usage
    # Each workload is one request line with its newline; tee appends it to the log. The
    # worker runs one job at a time, so lines never interleave.
    exec gearman -w -h "$host" -p "$port" -f ids_log -- tee -a "$log"
    ;;
client)
    # -b -n: one background job per line. -L queues them at low priority, behind any normal or
    # high-priority work for the same function.
    gearman -h "$host" -p "$port" -b -L -n -f ids_log
    ;;
*)
    usage
    ;;
esac
