#!/usr/bin/env python3
"""A Gearman worker that runs the steps listed in each job's workload, for testing clients.

Usage: scripted-worker.py PORT FUNCTION [JOBS]

Each workload line is one step, sent for the job in order:
  status N D     WORK_STATUS with numerator N and denominator D
  data TEXT      WORK_DATA with TEXT
  warning TEXT   WORK_WARNING with TEXT
  complete TEXT  WORK_COMPLETE with TEXT, which ends the job
  fail           WORK_FAIL, which ends the job
  exception TEXT WORK_EXCEPTION with TEXT, which ends the job
  sleep SECONDS  a pause
A job whose steps do not end it gets an empty WORK_COMPLETE. In TEXT, \\n stands for a newline.
The worker exits after JOBS jobs (default: runs until the server closes the connection).
It connects to 127.0.0.1 only.
"""
import socket
import struct
import sys
import time

CAN_DO, PRE_SLEEP, NOOP, GRAB_JOB, NO_JOB, JOB_ASSIGN = 1, 4, 6, 9, 10, 11
WORK_STATUS, WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION, WORK_DATA, WORK_WARNING = 12, 13, 14, 25, 28, 29


def send(sock, kind, *arguments):
    body = b"\0".join(arguments)
    sock.sendall(b"\0REQ" + struct.pack(">II", kind, len(body)) + body)


def receive_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


def receive(sock):
    header = receive_exactly(sock, 12)
    kind, length = struct.unpack(">II", header[4:])
    return kind, receive_exactly(sock, length)


def run_job(sock, handle, workload):
    for line in workload.decode().splitlines():
        word, _, rest = line.partition(" ")
        text = rest.replace("\\n", "\n").encode()
        if word == "status":
            numerator, denominator = rest.split()
            send(sock, WORK_STATUS, handle, numerator.encode(), denominator.encode())
        elif word == "data":
            send(sock, WORK_DATA, handle, text)
        elif word == "warning":
            send(sock, WORK_WARNING, handle, text)
        elif word == "sleep":
            time.sleep(float(rest))
        elif word == "complete":
            send(sock, WORK_COMPLETE, handle, text)
            return
        elif word == "fail":
            send(sock, WORK_FAIL, handle)
            return
        elif word == "exception":
            send(sock, WORK_EXCEPTION, handle, text)
            return
    send(sock, WORK_COMPLETE, handle, b"")


def main():
    port, function = int(sys.argv[1]), sys.argv[2].encode()
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    send(sock, CAN_DO, function)
    done = 0
    while jobs == 0 or done < jobs:
        send(sock, GRAB_JOB)
        kind, body = receive(sock)
        if kind == NO_JOB:
            send(sock, PRE_SLEEP)
            while True:
                try:
                    kind, body = receive(sock)
                except socket.timeout:
                    continue
                if kind == NOOP:
                    break
            continue
        if kind != JOB_ASSIGN:
            continue
        handle, _, workload = body.split(b"\0", 2)
        run_job(sock, handle, workload)
        done += 1


if __name__ == "__main__":
    try:
        main()
    except (EOFError, ConnectionError):
        pass
