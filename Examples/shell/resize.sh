#!/usr/bin/env bash
# An image-resize service with the gearman command line: the worker runs ImageMagick's convert
# once per job, and the client sends a JPEG file and writes the thumbnail.
#
#   resize.sh [-h HOST] [-p PORT] [-s WxH] worker           work until interrupted
#   resize.sh [-h HOST] [-p PORT] client INPUT.jpg OUTPUT.jpg
#
# -s sets the box the thumbnails fit in, keeping their aspect ratio (default 160x160). The size
# belongs to the worker here, because `gearman -w` passes the workload to the command unchanged:
# a client that needs other sizes would use one function per size, or a worker that parses a
# header as Examples/resize does.
#
# The server is localhost:4730 unless -h and -p set another; GEARMAN_SERVER takes precedence.
set -euo pipefail

usage() {
    echo "Usage: ${0##*/} [-h HOST] [-p PORT] [-s WxH] worker" >&2
    echo "       ${0##*/} [-h HOST] [-p PORT] client INPUT.jpg OUTPUT.jpg" >&2
    exit 2
}

host=localhost
port=4730
size=160x160
while getopts h:p:s: option; do
    case $option in
    h) host=$OPTARG ;;
    p) port=$OPTARG ;;
    s) size=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
role=$1
shift

case $role in
worker)
    # The JPEG arrives on convert's standard input ("-"), and the thumbnail it writes to its
    # standard output ("jpg:-") becomes the result. Binary data passes through unchanged.
    exec gearman -w -h "$host" -p "$port" -f resize -- /usr/bin/convert - -resize "$size" jpg:-
    ;;
client)
    [[ $# -eq 2 ]] || usage
    # With no data arguments, gearman reads the workload from its standard input.
    gearman -h "$host" -p "$port" -f resize <"$1" >"$2"
    echo "wrote $2 ($(wc -c <"$2") bytes)"
    ;;
*)
    usage
    ;;
esac
