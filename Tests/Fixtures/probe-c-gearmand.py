#!/usr/bin/env python3
"""Probe a Gearman job server on 127.0.0.1 and print the exact bytes it sends.

Usage: probe-c-gearmand.py PORT

The server should be fresh and started with --job-handle-prefix=H:fixture, as
admin-scenario.sh expects. The output records gearmand 1.1.20 behaviour that
the admin scenario does not cover: ERROR packets for invalid requests, raw
admin replies, STATUS_RES bodies, and how uniques "-" and "" and future epoch
jobs are shown. Every socket operation times out after at most 2 seconds.
"""

import socket
import struct
import sys
import time

HOST = "127.0.0.1"
SOCKET_TIMEOUT = 2.0
# A reply is taken as complete after this many seconds without new bytes.
QUIET_PERIOD = 0.3

CAN_DO = 1
JOB_CREATED = 8
GRAB_JOB = 9
JOB_ASSIGN = 11
WORK_COMPLETE = 13
GET_STATUS = 15
ECHO_REQ = 16
ECHO_RES = 17
SUBMIT_JOB_BG = 18
ERROR = 19
STATUS_RES = 20
SET_CLIENT_ID = 22
ALL_YOURS = 24
WORK_EXCEPTION = 25
OPTION_REQ = 26
WORK_DATA = 28
SUBMIT_JOB_SCHED = 35
SUBMIT_JOB_EPOCH = 36
GET_STATUS_UNIQUE = 41
STATUS_RES_UNIQUE = 42

# 2100-01-01T00:00:00Z, far enough ahead that the job never becomes runnable.
FUTURE_EPOCH = b"4102444800"


def connect(port):
    sock = socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT)
    sock.settimeout(SOCKET_TIMEOUT)
    return sock


def encode(packet_type, *args, magic=b"\0REQ"):
    body = b"\0".join(args)
    return magic + struct.pack(">II", packet_type, len(body)) + body


def send(sock, packet_type, *args, magic=b"\0REQ"):
    sock.sendall(encode(packet_type, *args, magic=magic))


def read_all(sock, deadline=SOCKET_TIMEOUT):
    """Read until the peer is quiet for QUIET_PERIOD, closes, or deadline passes.

    Returns (bytes, closed) where closed is True when the peer sent EOF.
    """
    data = b""
    end = time.monotonic() + deadline
    sock.settimeout(QUIET_PERIOD)
    try:
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                if data:
                    break
                continue
            except ConnectionResetError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
    finally:
        sock.settimeout(SOCKET_TIMEOUT)
    return data, False


def read_packet(sock):
    """Return (type, body) of the next packet, or None on timeout or EOF."""
    header = b""
    try:
        while len(header) < 12:
            chunk = sock.recv(12 - len(header))
            if not chunk:
                return None
            header += chunk
        _, packet_type, size = struct.unpack(">4sII", header)
        body = b""
        while len(body) < size:
            chunk = sock.recv(size - len(body))
            if not chunk:
                return None
            body += chunk
    except (socket.timeout, ConnectionResetError):
        return None
    return packet_type, body


def connection_state(sock):
    """Send ECHO_REQ and report whether the server still serves this connection."""
    try:
        send(sock, ECHO_REQ, b"still-open")
    except OSError as error:
        return f"closed (send failed: {error.__class__.__name__})"
    reply, closed = read_all(sock)
    if reply == encode(ECHO_RES, b"still-open", magic=b"\0RES"):
        return "open"
    if closed:
        return "closed" if not reply else f"closed after {reply!r}"
    return f"unexpected {reply!r}"


def admin(port, line):
    """Send one admin text line on a new connection and return the raw reply."""
    with connect(port) as sock:
        sock.sendall(line)
        reply, closed = read_all(sock)
    return reply + (b" <EOF>" if closed else b"")


def submit_background(sock, function, unique, payload):
    send(sock, SUBMIT_JOB_BG, function, unique, payload)
    packet = read_packet(sock)
    if packet is None or packet[0] != JOB_CREATED:
        raise RuntimeError(f"expected JOB_CREATED for SUBMIT_JOB_BG {function!r} {unique!r}, got {packet!r}")
    return packet[1]


def report(title, value):
    print(f"{title}: {value!r}" if isinstance(value, bytes) else f"{title}: {value}")


def probe_error_packets(port):
    print("## ERROR replies to invalid requests (reply bytes, then connection state)")
    cases = [
        ("RES magic on ECHO_REQ", encode(ECHO_REQ, b"x", magic=b"\0RES")),
        ("type 5", encode(5)),
        ("type 24 ALL_YOURS", encode(ALL_YOURS)),
        ("type 35 SUBMIT_JOB_SCHED",
         encode(SUBMIT_JOB_SCHED, b"sched", b"", b"1", b"2", b"3", b"4", b"5", b"data")),
        ("type 8 JOB_CREATED", encode(JOB_CREATED, b"H:x:1")),
        ("SUBMIT_JOB_BG unique of 65 bytes", encode(SUBMIT_JOB_BG, b"f", b"u" * 65, b"data")),
        ("OPTION_REQ foo", encode(OPTION_REQ, b"foo")),
        ("WORK_COMPLETE unknown handle", encode(WORK_COMPLETE, b"H:x:1", b"result")),
        ("WORK_DATA unknown handle", encode(WORK_DATA, b"H:x:1", b"chunk")),
        ("WORK_EXCEPTION unknown handle", encode(WORK_EXCEPTION, b"H:x:1", b"boom")),
    ]
    for title, packet in cases:
        with connect(port) as sock:
            sock.sendall(packet)
            reply, closed = read_all(sock)
            state = "closed" if closed else connection_state(sock)
        report(title, reply)
        report(f"{title}, connection after reply", state)
    print()


def probe_unique_display(port):
    print("## show unique jobs for uniques '-' and '' (function uniq-fn)")
    with connect(port) as sock:
        dash = submit_background(sock, b"uniq-fn", b"-", b"dash-payload")
        dash_again = submit_background(sock, b"uniq-fn", b"-", b"dash-payload")
        dash_other = submit_background(sock, b"uniq-fn", b"-", b"other-payload")
        empty = submit_background(sock, b"uniq-fn", b"", b"empty-payload")
        empty_again = submit_background(sock, b"uniq-fn", b"", b"empty-payload")
    report("unique '-' payload dash-payload", dash)
    report("unique '-' same payload again", dash_again)
    report("unique '-' other payload", dash_other)
    report("unique '' payload empty-payload", empty)
    report("unique '' same payload again", empty_again)
    report("show unique jobs", admin(port, b"show unique jobs\r\n"))
    with connect(port) as sock:
        send(sock, GET_STATUS_UNIQUE, b"-")
        report("GET_STATUS_UNIQUE '-'", read_packet(sock))
        send(sock, GET_STATUS_UNIQUE, b"dash-payload")
        report("GET_STATUS_UNIQUE 'dash-payload'", read_packet(sock))
    print()


def probe_epoch(port):
    print("## SUBMIT_JOB_EPOCH with a future epoch (function epoch-fn)")
    with connect(port) as sock:
        send(sock, SUBMIT_JOB_EPOCH, b"epoch-fn", b"epoch-1", FUTURE_EPOCH, b"data")
        report("reply", read_packet(sock))
    report("status", admin(port, b"status\r\n"))
    report("prioritystatus", admin(port, b"prioritystatus\r\n"))
    print()


def probe_status_packets(port):
    print("## STATUS_RES and STATUS_RES_UNIQUE (function status-fn)")
    with connect(port) as sock:
        handle = submit_background(sock, b"status-fn", b"status-1", b"data")
        report("known job handle", handle)
        send(sock, GET_STATUS, b"H:fixture:999")
        report("GET_STATUS unknown", read_packet(sock))
        send(sock, GET_STATUS, handle)
        report("GET_STATUS known queued", read_packet(sock))
        send(sock, GET_STATUS_UNIQUE, b"no-such-unique")
        report("GET_STATUS_UNIQUE unknown", read_packet(sock))
        send(sock, GET_STATUS_UNIQUE, b"status-1")
        report("GET_STATUS_UNIQUE known queued", read_packet(sock))
        with connect(port) as worker:
            send(worker, CAN_DO, b"status-fn")
            send(worker, GRAB_JOB)
            report("worker GRAB_JOB", read_packet(worker))
            send(sock, GET_STATUS, handle)
            report("GET_STATUS known running", read_packet(sock))
            send(sock, GET_STATUS_UNIQUE, b"status-1")
            report("GET_STATUS_UNIQUE known running", read_packet(sock))
            send(worker, WORK_COMPLETE, handle, b"done")
            send(worker, ECHO_REQ, b"sync")
            read_packet(worker)
    print()


def probe_workers_lines(port):
    print("## workers lines")
    with connect(port) as plain, connect(port) as named, connect(port) as worker:
        send(named, SET_CLIENT_ID, b"probe-client")
        send(named, ECHO_REQ, b"sync")
        read_packet(named)
        send(worker, SET_CLIENT_ID, b"probe-worker")
        send(worker, CAN_DO, b"probe-fn-1")
        send(worker, CAN_DO, b"probe-fn-2")
        send(worker, ECHO_REQ, b"sync")
        read_packet(worker)
        plain.sendall(b"workers\r\n")
        reply, _ = read_all(plain)
    report("workers (asker, id-only connection, worker with two functions)", reply)
    print()


def probe_admin_replies(port):
    print("## admin replies (each line sent on its own connection)")
    lines = [
        b"status\r\n",
        b"workers\r\n",
        b"show jobs\r\n",
        b"show unique jobs\r\n",
        b"prioritystatus\r\n",
        b"maxqueue f 1\r\n",
        b"maxqueue\r\n",
        b"create function\r\n",
        b"drop function x\r\n",
        b"cancel job H:x:1\r\n",
        b"verbose\r\n",
        b"version\r\n",
        b"getpid\r\n",
        b"show\r\n",
        b"show foo\r\n",
        b"bogus\r\n",
        b"\r\n",
        b"\n",
    ]
    for line in lines:
        report(repr(line), admin(port, line))
    print()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: probe-c-gearmand.py PORT")
    port = int(sys.argv[1])

    # The admin probe runs first, so its list replies show one queued job of
    # admin-fn and no other functions.
    with connect(port) as sock:
        report("setup: admin-fn job handle", submit_background(sock, b"admin-fn", b"admin-1", b"data"))
    print()
    probe_admin_replies(port)
    probe_workers_lines(port)
    probe_status_packets(port)
    probe_unique_display(port)
    probe_epoch(port)
    probe_error_packets(port)


if __name__ == "__main__":
    main()
