"""The long torture tier: kill, corrupt and feed garbage for many minutes.

Not part of the normal suite (it is skipped unless ``DYNAFILE_LONG_MINUTES``
is set); run it with ``scripts/torture [MINUTES]`` (30 by default). Two
lanes run side by side, each on its own tables. Every cycle of a lane:

* starts the crash workload (puts, deletes, updates, batches and
  transactions on a table with a GSI) in a child process and SIGKILLs it,
  at a random moment or at a named point of ``dynafile.storage.fs``;
* now and then also kills a process while it recovers the crashed table;
* reopens the table and checks it against the model: every acknowledged
  write, no partial item, batch or transaction, the index agrees with the
  table, ``check()`` is clean;
* every few cycles damages a copy of the table (a flipped byte or a
  truncation in a random file) and checks that opening and reading it
  either works or raises a ``DynafileError`` (never a raw exception);
* runs a handful of random bad inputs against a small table: each must
  raise a ``DynafileError`` and change no file.

The counts go to stdout and to ``DYNAFILE_LONG_REPORT`` (JSON) when set.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest
from conftest import abandon

from dynafile import Dynafile, DynafileError

from .test_crash import POINTS, RECOVER, UNBOUNDED, WORKLOAD, _env, spawn
from .workload import Model, has_transactions, open_table

MINUTES = float(os.environ.get("DYNAFILE_LONG_MINUTES", "0") or 0)
pytestmark = pytest.mark.skipif(
    not MINUTES, reason="the long tier runs through scripts/torture (DYNAFILE_LONG_MINUTES)")

LANES = 2
KILLS_PER_TABLE = 40  # then a fresh table, so verification stays quick


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, int] = {
            "kills": 0, "kills_at_named_points": 0, "kills_during_recovery": 0,
            "acknowledged_writes_checked": 0, "distinct_acknowledged_writes": 0,
            "verifications": 0, "corruptions_tried": 0,
            "corruptions_reported": 0, "bad_inputs_tried": 0, "tables": 0}
        self.failures: list[str] = []

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.data[key] += n

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)


def _kill_random(proc: subprocess.Popen, rng: random.Random) -> list[str]:
    acks = rng.choice((0, 2, 10, 40, 120))
    lines: list[str] = []
    seen = 0
    deadline = time.monotonic() + 20
    while seen < acks and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        seen += line.startswith("A ")
    time.sleep(rng.random() * 0.005)
    proc.send_signal(signal.SIGKILL)
    lines += proc.stdout.read().splitlines()
    proc.stderr.read()
    proc.wait(30)
    return lines


def _kill_at_point(proc: subprocess.Popen) -> list[str]:
    """The child kills itself at its named point; kill it anyway after 3 s
    (a point a short run does not reach, such as a checkpoint)."""
    timer = threading.Timer(3.0, lambda: proc.poll() is None and proc.send_signal(signal.SIGKILL))
    timer.start()
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        timer.cancel()
    return out.splitlines()


def _recover_and_kill(path: str, rng: random.Random) -> bool:
    proc = subprocess.Popen([sys.executable, "-c", RECOVER, path, os.path.dirname(WORKLOAD)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(None))
    proc.stdout.readline()
    time.sleep(rng.random() * 0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode == -signal.SIGKILL


def _snapshot(root: str) -> dict[str, bytes]:
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), root)] = f.read()
    return out


def _corrupt(source: str, target: str, rng: random.Random) -> None:
    shutil.copytree(source, target)
    files = [os.path.join(d, n) for d, _, names in os.walk(target) for n in names
             if n != "LOCK" and os.path.getsize(os.path.join(d, n)) > 0]
    victim = rng.choice(files)
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        if rng.random() < 0.6:
            where = rng.randrange(size)
            f.seek(where)
            byte = f.read(1)[0]
            f.seek(where)
            f.write(bytes((byte ^ (1 << rng.randrange(8)),)))
        else:
            f.truncate(rng.randrange(size))


def _read_everything(path: str) -> None:
    db = open_table(path)
    try:
        list(db.scan())
        list(db.scan(index="by_g"))
        db.check()
    finally:
        abandon(db)


BAD_ITEMS: list[Any] = [
    None, 5, "text", [1], {"PK": "a"}, {"SK": "a"}, {"PK": None, "SK": "a"}, {"PK": "", "SK": "a"},
    {"PK": True, "SK": "a"}, {"PK": float("nan"), "SK": "a"}, {"PK": math.inf, "SK": "a"},
    {"PK": ["a"], "SK": "a"}, {"PK": "a", "SK": {"x": 1}}, {"PK": "a", "SK": "b", "f": lambda: 0},
    {"PK": "a", "SK": "b", "big": "x" * 500_000}, {"PK": "a", "SK": "b", 5: "int name"},
    {"PK": "a" * 3000, "SK": "b"}, {"PK": 1, "SK": "b"}, {"PK": "a", "SK": b"b"},
]
BAD_EXPRESSIONS = ["SET", "SET a = :missing", "SET a = :v, a = :v", "REMOVE", "ADD a :s",
                   "SET a = b +", "DELETE a :v", "SET #x = :v", "SET a = frob(:v)", "a = = b",
                   "SET SK = :v", "x in [1,2]", "amount < 10.5", "(a = :v", "size(a) > :v AND"]


def _bad_call(db: Dynafile, rng: random.Random) -> Callable[[], Any]:
    kind = rng.randrange(6)
    if kind == 0:
        item = rng.choice(BAD_ITEMS)
        return lambda: db.put_item(item=item)
    if kind == 1:
        key = rng.choice(BAD_ITEMS)
        return lambda: db.get_item(key=key)
    if kind == 2:
        expression = rng.choice(BAD_EXPRESSIONS)
        return lambda: db.update_item(key={"PK": "a", "SK": "b"}, update=expression,
                                      values={":v": 1, ":s": "text"})
    if kind == 3:
        expression = rng.choice(BAD_EXPRESSIONS)
        return lambda: db.put_item(item={"PK": "a", "SK": "b"}, condition=expression)
    if kind == 4:
        limit = rng.choice((0, -1, "5", 2.5, True))
        return lambda: list(db.query("a", limit=limit))
    actions = rng.choice(([], [{"put": {"item": {"PK": "a"}}}],
                          [{"delete": {"key": {"PK": "a", "SK": "b"}}}] * 2,
                          [{"nope": {}}], [{"update": {"key": {"PK": "a", "SK": "b"},
                                                       "update": "SET"}}]))
    return lambda: db.transact_write(actions)


def _bad_inputs(path: str, rng: random.Random, counts: Counts, n: int) -> None:
    db = Dynafile(path, durability="normal")
    try:
        if db.get_item(key={"PK": "a", "SK": "b"}) is None:
            db.put_item(item={"PK": "a", "SK": "b", "n": 1, "s": {"x"}})
            db.checkpoint()
        before = _snapshot(path)
        for _ in range(n):
            call = _bad_call(db, rng)
            try:
                call()
            except DynafileError:
                pass
            except Exception as exc:
                counts.fail(f"bad input raised {type(exc).__name__}: {exc}")
            else:
                counts.fail("a bad input was accepted")
            counts.add("bad_inputs_tried")
        if _snapshot(path) != before:
            counts.fail("a rejected bad input changed a file")
        if db.get_item(key={"PK": "a", "SK": "b"}) != {"PK": "a", "SK": "b", "n": 1, "s": {"x"}}:
            counts.fail("a rejected bad input changed the item")
    finally:
        db.close()


def _lane(lane: int, root: str, deadline: float, counts: Counts) -> None:
    rng = random.Random(1000 + lane)
    table = 0
    while time.monotonic() < deadline and len(counts.failures) < 5:
        table += 1
        counts.add("tables")
        seed = lane * 100_000 + table
        path = os.path.join(root, f"lane{lane}-t{table}")
        durability = rng.choice(("normal", "full"))
        model = Model(seed, has_transactions())
        for kill in range(KILLS_PER_TABLE):
            if time.monotonic() >= deadline:
                break
            try:
                if rng.random() < 0.25:
                    point = rng.choice(POINTS)
                    proc = spawn(path, seed, model.next_i, UNBOUNDED, durability,
                                 crash_at=f"{point}:{rng.randint(1, 40)}")
                    lines = _kill_at_point(proc)
                    counts.add("kills_at_named_points")
                else:
                    proc = spawn(path, seed, model.next_i, UNBOUNDED, durability)
                    lines = _kill_random(proc, rng)
                counts.add("kills")
                inflight = model.feed(lines)
                if rng.random() < 0.1 and _recover_and_kill(path, rng):
                    counts.add("kills")
                    counts.add("kills_during_recovery")
                db = open_table(path, durability)
                try:
                    model.verify(db, inflight)
                finally:
                    db.close()
                counts.add("verifications")
                counts.add("acknowledged_writes_checked", model.acked)
                if kill % 8 == 7:
                    target = os.path.join(root, f"lane{lane}-corrupt")
                    shutil.rmtree(target, ignore_errors=True)
                    _corrupt(path, target, rng)
                    try:
                        _read_everything(target)
                    except DynafileError:
                        counts.add("corruptions_reported")
                    except Exception as exc:
                        counts.fail(f"corruption gave {type(exc).__name__}: {exc}")
                    counts.add("corruptions_tried")
                    shutil.rmtree(target, ignore_errors=True)
                _bad_inputs(os.path.join(root, f"lane{lane}-bad"), rng, counts, 5)
            except Exception as exc:
                counts.fail(f"lane {lane} table {table} kill {kill}: "
                            f"{type(exc).__name__}: {exc}")
                return
        counts.add("distinct_acknowledged_writes", model.acked)
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(0)
def test_long_tier(tmp_path):
    counts = Counts()
    deadline = time.monotonic() + MINUTES * 60
    started = time.monotonic()
    lanes = [threading.Thread(target=_lane, args=(n, str(tmp_path), deadline, counts))
             for n in range(LANES)]
    for thread in lanes:
        thread.start()
    for thread in lanes:
        thread.join()
    report = dict(counts.data, minutes=round((time.monotonic() - started) / 60, 1),
                  failures=counts.failures)
    print("\nlong tier:", json.dumps(report, indent=2))
    out = os.environ.get("DYNAFILE_LONG_REPORT")
    if out:
        with open(out, "w") as f:
            json.dump(report, f, indent=2)
    assert not counts.failures, counts.failures
    assert counts.data["kills"] > 0
