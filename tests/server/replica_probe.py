"""A replica for the runner's tests: reports what it saw, then behaves as it is told.

    python replica_probe.py [--dump] [--ignore-term] [--grandchild] [--flood BYTES]
                            [--wait-file PATH] [--sleep] [--exit CODE]

The steps run in that order:

--dump          print one line ``PROBE {"env": ..., "cwd": ..., "pid": ..., "pgid": ...}``
--ignore-term   ignore SIGTERM (a grandchild forked later ignores it too)
--grandchild    fork a grandchild that waits until it is killed; print ``GRANDCHILD <pid>``
--daemon        double-fork a daemon into a session of its own (it leaves the process
                group); print ``GRANDCHILD <pid>``
--flood BYTES   write about BYTES bytes of numbered lines to stdout, as fast as it can
--wait-file P   wait until the file P exists (how a test releases a replica)
--sleep         wait until killed
--exit CODE     exit with CODE (default 0)

Only the standard library: replicas run in the server's interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading


def _wait_forever() -> None:
    while True:
        signal.pause()


def _daemonize() -> int:
    """Fork, ``setsid``, fork again: the daemon's pid (its parent exits at once)."""
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        daemon = os.fork()
        if daemon == 0:
            os.close(read_end)
            os.close(write_end)
            _wait_forever()
        os.write(write_end, str(daemon).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        pid = int(pipe.read())
    os.wait()
    return pid


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dump", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--grandchild", action="store_true")
    parser.add_argument("--daemon", action="store_true")
    parser.add_argument("--flood", type=int, default=0)
    parser.add_argument("--wait-file")
    parser.add_argument("--sleep", action="store_true")
    parser.add_argument("--exit", type=int, default=0)
    args = parser.parse_args()

    if args.dump:
        report = {
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "pid": os.getpid(),
            "pgid": os.getpgid(0),
            "argv": sys.argv,
            "executable": sys.executable,
        }
        print("PROBE " + json.dumps(report), flush=True)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.grandchild:
        child = os.fork()
        if child == 0:
            _wait_forever()
        print(f"GRANDCHILD {child}", flush=True)
    if args.daemon:
        print(f"GRANDCHILD {_daemonize()}", flush=True)
    if args.flood:
        out = sys.stdout.buffer
        written = 0
        number = 0
        while written < args.flood:
            line = f"flood line {number:08d} " + "x" * 100 + "\n"
            out.write(line.encode())
            written += len(line)
            number += 1
        out.flush()
        print("FLOOD DONE", flush=True)
    if args.wait_file:
        released = threading.Event()
        while not os.path.exists(args.wait_file):
            released.wait(0.01)
    if args.sleep:
        print("SLEEPING", flush=True)
        _wait_forever()
    return int(args.exit)


if __name__ == "__main__":
    sys.exit(main())
