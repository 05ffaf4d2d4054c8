"""Kill a writing process (SIGKILL) at random moments and at every named
point of ``dynafile.storage.fs``, and during recovery itself; after each
crash the reopened table must hold every acknowledged write, no partial
item, batch or transaction, an index that agrees with the table, and pass
``check()``. See ``workload.py`` for the writer and the model."""

from __future__ import annotations

import copy
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import engine

from dynafile import GSI, Database, Dynafile

from .workload import Model, has_transactions, open_table, verify_index

WORKLOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNBOUNDED = 10**7


def _env(crash_at: str | None) -> dict:
    env = dict(os.environ)
    env.pop("DYNAFILE_CRASH_AT", None)
    if crash_at is not None:
        env["DYNAFILE_CRASH_AT"] = crash_at
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def spawn(path: str, seed: int, start: int, count: int, durability: str,
          crash_at: str | None = None, checkpoint_bytes: int | None = None
          ) -> subprocess.Popen:
    args = [sys.executable, WORKLOAD, path, str(seed), str(start), str(count), durability]
    if checkpoint_bytes is not None:
        args.append(str(checkpoint_bytes))
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(crash_at))


def kill_after(proc: subprocess.Popen, acks: int, delay: float) -> list[str]:
    """Read reports until ``acks`` writes were acknowledged, wait ``delay``
    seconds, SIGKILL the writer; return every report it made."""
    lines: list[str] = []
    seen = 0
    while seen < acks:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        seen += line.startswith("A ")
    if delay:
        time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    lines += proc.stdout.read().splitlines()  # read() also returns what readline() buffered
    err = proc.stderr.read()
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, err
    return lines


def wait_killed(proc: subprocess.Popen) -> list[str]:
    """Wait for a writer that kills itself at a named point."""
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"not killed (rc {proc.returncode}): {err}"
    return out.splitlines()


def reopen_and_verify(path: str, model: Model, inflight: int | None,
                      durability: str = "normal") -> None:
    db = open_table(path, durability)
    try:
        model.verify(db, inflight)
    finally:
        db.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("durability,seed", [("normal", 11), ("full", 12)])
def test_sigkill_at_random_moments(tmp_path, durability, seed):
    path = str(tmp_path / "db")
    rng = random.Random(seed)
    model = Model(seed, has_transactions())
    for _ in range(9):
        proc = spawn(path, seed, model.next_i, UNBOUNDED, durability)
        lines = kill_after(proc, rng.choice((0, 3, 20, 60, 150)), rng.random() * 0.004)
        inflight = model.feed(lines)
        reopen_and_verify(path, model, inflight, durability)
    assert model.acked > 100


POINTS = [
    "log.append.before", "log.append.after", "log.fsync.before", "log.fsync.after",
    "checkpoint.write.before", "checkpoint.write.after", "rename.before", "rename.after",
    "dir.fsync.before", "dir.fsync.after", "file.create.before", "file.create.after",
    "file.remove.before", "file.remove.after",
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_named_points(tmp_path, point):
    """Two crashes per point, at a seeded occurrence of it, then a third run
    that must work on the recovered table."""
    seed = POINTS.index(point) + 100
    rng = random.Random(seed)
    path = str(tmp_path / "db")
    durability = "full" if point.startswith("log.") else "normal"
    model = Model(seed, has_transactions())
    for _ in range(2):
        top = 120 if point.startswith("log.") else 25
        nth = rng.randint(1, top)
        proc = spawn(path, seed, model.next_i, 400, durability, crash_at=f"{point}:{nth}")
        inflight = model.feed(wait_killed(proc))
        reopen_and_verify(path, model, inflight, durability)
    proc = spawn(path, seed, model.next_i, 30, durability)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert model.feed(out.splitlines()) is None
    reopen_and_verify(path, model, None, durability)


def _crashed_table(tmp_path, seed: int) -> tuple[str, Model, int | None]:
    """A table whose writer died with a long log not yet checkpointed."""
    path = str(tmp_path / "crashed")
    model = Model(seed, has_transactions())
    proc = spawn(path, seed, 0, UNBOUNDED, "normal", checkpoint_bytes=64 << 20)
    inflight = model.feed(kill_after(proc, 700, 0.001))
    return path, model, inflight


RECOVER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from workload import open_table
print("OPENING", flush=True)
db = open_table(sys.argv[1])
print("OPENED", flush=True)
db.close()
print("CLOSED", flush=True)
"""


def _recover(path: str, crash_at: str | None = None, kill_delay: float | None = None
             ) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-c", RECOVER, path, os.path.dirname(WORKLOAD)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(crash_at))
    out = ""
    if kill_delay is not None:
        out = proc.stdout.readline()
        assert out == "OPENING\n"
        time.sleep(kill_delay)
        proc.send_signal(signal.SIGKILL)
    out += proc.stdout.read() + proc.stderr.read()
    proc.wait(60)
    return proc.returncode, out


@pytest.mark.timeout(150)
def test_sigkill_during_recovery(tmp_path):
    """Open a crashed table in a child and kill it while it replays the log
    and checkpoints; the next open must give the same table."""
    seed = 7
    crashed, model, inflight = _crashed_table(tmp_path, seed)
    assert len(os.listdir(os.path.join(crashed, "log"))) > 5  # a long log to replay
    reference = str(tmp_path / "reference")
    shutil.copytree(crashed, reference)
    db = open_table(reference)
    expected = sorted(db.scan(), key=lambda it: (it["PK"], it["SK"]))
    reference_model = copy.deepcopy(model)
    reference_model.verify(db, inflight)
    db.close()
    rng = random.Random(seed)
    trials = [("checkpoint.write.before", n) for n in (1, 7)] + \
             [("rename.after", n) for n in (2, 15)] + \
             [("dir.fsync.after", 4), ("rename.before", 5), ("checkpoint.write.after", 30)]
    trials += [(None, rng.random() * 0.25) for _ in range(4)]
    killed = 0
    for i, (point, arg) in enumerate(trials):
        path = str(tmp_path / f"trial{i}")
        shutil.copytree(crashed, path)
        if point is None:
            rc, out = _recover(path, kill_delay=arg)
        else:
            rc, out = _recover(path, crash_at=f"{point}:{arg}")
        killed += rc == -signal.SIGKILL
        assert rc in (0, -signal.SIGKILL), out
        if i % 2:  # and a second crash during the recovery of the first
            rc, out = _recover(path, kill_delay=rng.random() * 0.1)
            assert rc in (0, -signal.SIGKILL), out
        db = open_table(path)
        try:
            got = sorted(db.scan(), key=lambda it: (it["PK"], it["SK"]))
            assert got == expected, f"trial {i} ({point}:{arg})"
            copy.deepcopy(model).verify(db, inflight)
        finally:
            db.close()
    assert killed >= len(trials) // 2


BACKFILL = r"""
import sys
sys.path.insert(0, sys.argv[2])
from dynafile import GSI, Database, Dynafile
from workload import open_table
db = open_table(sys.argv[1])
print("OPENED", flush=True)
db.create_gsi(GSI("by_v", "g", "v"))
print("CREATED", flush=True)
db.close()
"""


@pytest.mark.timeout(120)
def test_sigkill_during_index_backfill(tmp_path):
    """Kill ``create_gsi`` mid-backfill; the next open that asks for the index
    finishes it, and the index agrees with the table."""
    seed = 8
    crashed, model, inflight = _crashed_table(tmp_path, seed)
    db = open_table(crashed)
    copy.deepcopy(model).verify(db, inflight)
    db.close()
    for i, crash_at in enumerate(["log.append.after:3", "log.append.after:9",
                                  "rename.after:2", "checkpoint.write.before:1", None]):
        path = str(tmp_path / f"trial{i}")
        shutil.copytree(crashed, path)
        proc = subprocess.Popen([sys.executable, "-c", BACKFILL, path, os.path.dirname(WORKLOAD)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env(crash_at))
        if crash_at is None:
            assert proc.stdout.readline() == "OPENED\n"
            time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
        proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(60)
        assert proc.returncode in (0, -signal.SIGKILL), err
        db = open_table(path, gsis=[GSI("by_g", "g", "SK"), GSI("by_v", "g", "v")])
        try:
            items = list(db.scan())
            verify_index(db, items)
            want = sorted((it["g"], it["v"], it["PK"], it["SK"]) for it in items
                           if "g" in it and "v" in it)
            got = sorted((it["g"], it["v"], it["PK"], it["SK"])
                         for g in {w[0] for w in want} for it in db.query(g, index="by_v"))
            assert got == want, f"trial {i} ({crash_at})"
            report = db.check()
            assert report.ok, str(report)
        finally:
            db.close()


ROTATING_WRITER = r"""
import sys
from dynafile import Dynafile
db = Dynafile(sys.argv[1], durability="normal", segment_bytes=4096, checkpoint_bytes=1 << 30)
for i in range(1000):
    db.put_item(item={"PK": "a", "SK": f"{i:04d}", "pad": "x" * 200})
"""


@pytest.mark.timeout(60)
def test_interrupted_rotation_then_a_writer_with_larger_segments(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "first"})  # key types fixed: no meta.json writes below
    db.close()
    # the child's only directory fsync is its first rotation's new segment: die right after
    proc = subprocess.run([sys.executable, "-c", ROTATING_WRITER, path], env=_env(
        "dir.fsync.after:1"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    db = Dynafile(path, durability="normal")  # default 64 MiB segments
    before = engine(db).lsn
    for i in range(5):
        db.put_item(item={"PK": "b", "SK": str(i)})
    try:
        report = db.check()
        records = [r.sequence for r in db.stream(from_sequence=before + 1, follow=False)]
        assert records == list(range(before + 2, before + 6))
        assert report.ok, str(report)
    finally:
        db.close()


SCHEMA_CHANGE = r"""
import sys
from dynafile import Dynafile
db = Dynafile(sys.argv[1], durability="full")
print("OPENED", flush=True)
db.update_time_to_live("exp")
db.update_table(stream_view_type="KEYS_ONLY")
print("CHANGED", flush=True)
db.close()
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("crash_at", ["rename.before:1", "rename.after:1", "dir.fsync.after:2",
                                      "log.append.after:1", "log.fsync.after:1",
                                      "rename.after:2", "log.append.before:2"])
def test_sigkill_during_a_schema_change(tmp_path, crash_at):
    """Kill update_time_to_live / update_table at a named point: the table
    opens with the old or the new property, never without one, and is sound."""
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="full")
    db.put_item(item={"PK": "a", "SK": "1", "exp": 1})  # expired under the new TTL
    db.close()
    proc = subprocess.run([sys.executable, "-c", SCHEMA_CHANGE, path], env=_env(crash_at),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Dynafile(path) as db:
        assert db.ttl_attribute in (None, "exp")
        assert db.stream_view_type in ("NEW_AND_OLD_IMAGES", "KEYS_ONLY")
        expected = None if db.ttl_attribute == "exp" else {"PK": "a", "SK": "1", "exp": 1}
        assert db.get_item(key={"PK": "a", "SK": "1"}) == expected
        assert db.check().ok
        db.update_time_to_live("exp")  # and it can be finished
        assert db.get_item(key={"PK": "a", "SK": "1"}) is None


LIFECYCLE = r"""
import sys
from dynafile import GSI, Database
path, start = sys.argv[1], int(sys.argv[2])
db = Database(path, durability="full", checkpoint_bytes=8192, partition_bytes=1024)
if "keep" not in db.tables():
    db.create_table("keep", pk_attribute="id")
for n in range(start, start + 60):
    name = f"tmp{n:03d}"
    print(f"T {n}", flush=True)
    db.create_table(name, pk_attribute="id", gsis=[GSI("by_g", "g")])
    print(f"C {n}", flush=True)
    db.transact_write([{"put": {"table": name, "item": {"id": "a", "g": "x", "n": n,
                                                        "pad": "p" * 300}}},
                       {"put": {"table": "keep", "item": {"id": f"k{n}", "n": n}}}])
    print(f"X {n}", flush=True)
    if n % 2:
        db.delete_table(name)
        print(f"D {n}", flush=True)
db.close()
print("DONE", flush=True)
"""


def _lifecycle_verify(path: str, acks: dict[str, set[int]], inflight: int | None) -> None:
    """Tables and items after a kill: every acknowledged step is there, the
    step in flight all or nothing, each transaction in both tables or neither."""
    with Database(path) as db:
        tables = set(db.tables())
        keep = {item["id"]: item for item in db.table("keep").scan()} if "keep" in tables \
            else {}
        for n in set().union(*acks.values()) | ({inflight} if inflight is not None else set()):
            name = f"tmp{n:03d}"
            created, done, deleted = n in acks["C"], n in acks["X"], n in acks["D"]
            if deleted:
                assert name not in tables, name
            elif created and not (n == inflight and done and n % 2):  # not being deleted
                assert name in tables, name
            has_tx = f"k{n}" in keep
            if done:
                assert has_tx, name
            if name in tables:
                table = db.table(name)
                items = list(table.scan())
                assert items == ([] if not has_tx else [
                    {"id": "a", "g": "x", "n": n, "pad": "p" * 300}]), name
                assert [i["id"] for i in table.query("x", index="by_g")] == \
                    [i["id"] for i in items], name
        report = db.check()
        assert report.ok, str(report)
        if inflight is not None:  # what happened to the step in flight, for later checks
            if f"tmp{inflight:03d}" in tables:
                acks["C"].add(inflight)
            if f"k{inflight}" in keep:
                acks["X"].add(inflight)
            if inflight in acks["X"] and inflight % 2 and f"tmp{inflight:03d}" not in tables:
                acks["D"].add(inflight)
        db.checkpoint()
        live = {f"t{db.describe_table(t)['table_id']}" for t in tables}
    spaces = {s for s in os.listdir(os.path.join(path, "data")) if s != "MANIFEST"}
    # a deleted table's files are gone once a checkpoint ran
    assert {s.split("i")[0] for s in spaces} - {"x"} <= live, (spaces, live)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_while_creating_writing_and_deleting_tables(tmp_path, point):
    """Create a table, write one transaction across it and a long-lived
    table, delete every other one; killed at a named point (twice), the
    database holds every acknowledged step and the one in flight wholly or
    not at all."""
    path = str(tmp_path / "db")
    rng = random.Random(POINTS.index(point))
    acks: dict[str, set[int]] = {"C": set(), "X": set(), "D": set()}
    start = 0
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", LIFECYCLE, path, str(start)],
                              env=_env(f"{point}:{rng.randint(1, 40)}"), capture_output=True,
                              text=True, timeout=120)
        inflight = None
        for line in proc.stdout.splitlines():
            kind, n = line.split()[0], int(line.split()[1]) if " " in line else None
            if kind == "T":
                inflight = n
            elif kind in acks:
                acks[kind].add(n)
        if "DONE" in proc.stdout:
            inflight = None
        else:
            assert proc.returncode == -signal.SIGKILL, proc.stderr
        _lifecycle_verify(path, acks, inflight)
        start = (inflight if inflight is not None else max(acks["C"], default=-1)) + 1
