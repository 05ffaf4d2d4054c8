#!/usr/bin/env python3
"""Measure how long a write takes to reach a change-stream subscriber in
another process.

A subscriber process follows ``db.stream()`` and waits; the writer process
puts items one at a time, a few milliseconds apart (so every write finds the
subscriber waiting: the measure includes the file-notification wake-up), each
item carrying ``time.monotonic()`` taken just before ``put_item``. The
subscriber records when each change arrives. Run for durability ``"normal"``
and ``"full"``::

    .venv/bin/python scripts/bench_stream_latency.py            # 500 writes each
    .venv/bin/python scripts/bench_stream_latency.py -n 2000 --gap 0.001

``time.monotonic()`` is one system-wide clock on Linux and macOS, so the two
processes' readings compare. Prints the median and 99th percentile of
"put_item called -> record delivered", and of "put_item returned -> record
delivered" (negative when the record arrived before the writer's fsync
returned: a record is readable as soon as it is in the log file).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dynafile import Dynafile


def _subscriber(path: str, n: int, ready: mp.synchronize.Event, out: mp.Queue) -> None:
    db = Dynafile(path, durability="normal")
    arrivals: list[tuple[int, float]] = []
    with db.stream(timeout=30, view_type="NEW_IMAGE") as changes:
        ready.set()
        for record in changes:
            arrivals.append((record.new["i"], time.monotonic()))
            if len(arrivals) == n:
                break
    db.close()
    out.put(arrivals)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(durability: str, n: int, gap: float) -> tuple[list[float], list[float]]:
    """Return (called->delivered, returned->delivered) delays in seconds."""
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "db")
        db = Dynafile(path, durability=durability)
        ready, out = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_subscriber, args=(path, n, ready, out))
        proc.start()
        if not ready.wait(30):
            raise SystemExit("subscriber did not start")
        time.sleep(0.2)
        called, returned = [], []
        rng = random.Random(1)
        for i in range(n):
            time.sleep(gap * (0.5 + rng.random()))
            t0 = time.monotonic()
            db.put_item(item={"PK": "bench", "SK": f"{i:06d}", "i": i, "pad": "x" * 100})
            called.append(t0)
            returned.append(time.monotonic())
        arrivals = out.get(timeout=60)
        proc.join(30)
        db.close()
    arrived = dict(arrivals)
    assert sorted(arrived) == list(range(n)), "lost or repeated records"
    return ([arrived[i] - called[i] for i in range(n)],
            [arrived[i] - returned[i] for i in range(n)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=500, help="writes per durability mode")
    parser.add_argument("--gap", type=float, default=0.004,
                        help="mean seconds between writes (default 0.004)")
    args = parser.parse_args()
    print(f"{args.n} single puts per mode, ~{args.gap * 1000:.1f} ms apart; "
          f"subscriber in another process")
    print(f"{'durability':<11} {'called->delivered':>26} {'returned->delivered':>26}")
    print(f"{'':<11} {'median':>12} {'p99':>12}   {'median':>12} {'p99':>12}")
    for durability in ("normal", "full"):
        from_call, from_return = run(durability, args.n, args.gap)
        ms = [1000 * x for x in (statistics.median(from_call), _percentile(from_call, 99),
                                 statistics.median(from_return), _percentile(from_return, 99))]
        print(f"{durability:<11} {ms[0]:>9.3f} ms {ms[1]:>9.3f} ms   "
              f"{ms[2]:>9.3f} ms {ms[3]:>9.3f} ms")


if __name__ == "__main__":
    main()
