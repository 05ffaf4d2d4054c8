"""``check()`` at scale: it reads a snapshot instead of holding the lock, and
its memory does not grow with the database (issue 12, item 16).

* a writer in another process keeps putting while ``check()`` runs, and
  waits only a moment (its longest put is a small part of the check's
  duration, where it used to wait for the whole check);
* the peak memory of ``check_path`` stays flat when the database grows 4x;
* a checkpoint (or a removed log segment) by another process during the
  check starts it again from a new snapshot, and the report is right;
  checkpoints that keep coming make it hold the lock, with a warning;
* indexes that disagree, split collections merged with the log after the
  checkpoint, and this process's view are reported as before.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from conftest import abandon, engine
from sortedcontainers import SortedDict  # type: ignore[import-untyped]

import dynafile.check as check_module
from dynafile import GSI, Dynafile
from dynafile.check import check_path
from dynafile.keys import partition_digest
from dynafile.storage import log as wal
from dynafile.storage.manifest import Manifest
from dynafile.storage.partition import decode_part, encode_part

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str, *args: str, **popen: Any) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            **popen)


def _run(code: str, *args: str) -> str:
    proc = _python(code, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def _build(path: str, n: int, **options: Any) -> None:
    """``n`` small items in collections of 10, with a GSI, checkpointed.
    (A large checkpoint_bytes while loading: nothing is folded before close.)"""
    db = Dynafile(path, durability="normal", gsis=[GSI("by_g", "g")], checkpoint_bytes=1 << 30,
                  **options)
    with db.batch_writer(flush_amount=1000) as batch:
        for i in range(n):
            batch.put_item(item={"PK": f"p{i // 10}", "SK": f"{i:07d}", "g": f"g{i % 97}",
                                 "v": i})
    db.close()


def _read_manifest(path: str) -> Manifest:
    target = os.path.join(path, "data", "MANIFEST")
    with open(target, "rb") as f:
        return Manifest.decode(f.read(), target)


def _space(path: str, index: str | None = None) -> str:
    with open(os.path.join(path, "meta.json")) as f:
        (entry,) = json.load(f)["tables"].values()
    if index is None:
        return f"t{entry['id']}"
    return f"t{entry['id']}i{entry['gsis'][index]['id']}"


# ------------------------------------------------------- writers go on


WRITER = """
    import json, os, sys, time
    from dynafile import Dynafile
    path, stop = sys.argv[1], sys.argv[2]
    db = Dynafile(path, durability="normal")
    for j in range(100):  # load the collections it writes to
        db.put_item(item={"PK": f"w{j % 20}", "SK": "warm", "g": "w"})
    print("ready", flush=True)
    puts = []
    i = 0
    while not os.path.exists(stop):
        start = time.time()
        db.put_item(item={"PK": f"w{i % 20}", "SK": f"{os.getpid()}-{i}", "g": "w"})
        puts.append((start, time.time() - start))
        i += 1
    db.close()
    print(json.dumps(puts))
"""


def test_a_writer_goes_on_while_check_runs(tmp_path):
    path = str(tmp_path / "db")
    _build(path, 60_000)
    db = Dynafile(path, durability="normal")
    stop = str(tmp_path / "stop")
    writer = _python(WRITER, path, stop, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        began = time.time()
        report = db.check()
        ended = time.time()
    finally:
        open(stop, "w").close()
        out, _ = writer.communicate(timeout=120)
    db.close()
    assert report.ok, str(report)
    assert report.stats["items"] >= 60_000
    duration = ended - began
    during = [took for start, took in json.loads(out) if began <= start <= ended]
    assert len(during) >= 20, (len(during), duration)  # the writer went on meanwhile
    longest = max(during)
    # Before: the writer waited for the whole check (longest / duration ~ 1).
    assert longest < 0.25 * duration, (longest, duration)
    # The writer changed the log: this process's view was compared only up to then.
    assert any("the database changed during the check" in w for w in report.warnings)
    assert check_path(path).ok


# ------------------------------------------------------- bounded memory


MEASURE = """
    import gc, json, os, resource, sys
    from dynafile.check import check_path
    gc.collect()
    with open("/proc/self/statm") as f:  # the resident set now, in pages
        before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    report = check_path(sys.argv[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ok": report.ok, "items": report.stats["items"],
                      "growth_kb": after - before}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB, as Linux gives it")
def test_check_memory_stays_flat_when_the_database_grows(tmp_path):
    growth = {}
    for n in (12_000, 48_000):
        path = str(tmp_path / f"db{n}")
        _build(path, n)
        result = json.loads(_run(MEASURE, path))
        assert result["ok"] and result["items"] == n
        growth[n] = result["growth_kb"]
    small, large = growth[12_000], growth[48_000]
    # Before: ~1.8 KiB per item, so 4x the items gave ~4x the growth
    # (~21 MiB -> ~85 MiB); now one partition file and a log chunk at a time.
    assert large < 1.5 * small + 6 * 1024, growth


# ------------------------------------------------------- files replaced meanwhile


CHECKPOINTER = """
    import sys
    from dynafile import Dynafile
    path, tag, retention = sys.argv[1], sys.argv[2], float(sys.argv[3])
    db = Dynafile(path, durability="normal", partition_bytes=4096, retention=retention)
    with db.batch_writer() as batch:
        for i in range(400):  # every collection changes: every partition is replaced
            batch.put_item(item={"PK": f"p{i // 10}", "SK": f"{i:07d}", "g": tag, "v": -i})
        batch.put_item(item={"PK": "new", "SK": tag, "g": tag})
    db.close()
"""


def _small(tmp_path: Any) -> str:
    path = str(tmp_path / "db")
    _build(path, 400, partition_bytes=4096)
    assert len(_read_manifest(path).spaces[_space(path)]) > 3
    return path


def _count_snapshots(monkeypatch: Any) -> list[bool]:
    """Record each snapshot the check takes (``True``: under the lock throughout)."""
    taken: list[bool] = []
    original = check_module._Checker.snapshot

    def snapshot(self: Any) -> None:
        taken.append(self.locked)
        original(self)

    monkeypatch.setattr(check_module._Checker, "snapshot", snapshot)
    return taken


@pytest.mark.parametrize("when", ["reading partitions", "reading the log"])
def test_a_checkpoint_by_another_process_during_the_check(tmp_path, monkeypatch, when):
    path = _small(tmp_path)
    taken = _count_snapshots(monkeypatch)
    name = "read_partition" if when == "reading partitions" else "read_log"
    original = getattr(check_module._Checker, name)
    fired: list[str] = []

    def meanwhile(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(when)  # retention 0: the checkpoint also removes the old log
            _run(CHECKPOINTER, path, "g-new", "0" if when == "reading the log" else "86400")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(check_module._Checker, name, meanwhile)
    report = check_path(path)
    assert fired
    assert report.ok, str(report)
    assert taken == [False, False]  # the first snapshot lost a file: a second one
    assert report.warnings == []
    assert report.stats["items"] == 401
    assert report.stats["index_entries"] == {"by_g": 401}
    assert report.stats["partition_files"] == report.stats["partitions"]


def test_checkpoints_that_keep_coming_make_the_check_hold_the_lock(tmp_path, monkeypatch):
    path = _small(tmp_path)
    taken = _count_snapshots(monkeypatch)
    original = check_module._Checker.read_partition
    tags = iter(range(100))

    def meanwhile(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.locked and not getattr(self, "_fired", False):
            self._fired = True
            _run(CHECKPOINTER, path, f"g{next(tags)}", "86400")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(check_module._Checker, "read_partition", meanwhile)
    report = check_path(path)
    assert taken == [False] * check_module._ATTEMPTS + [True]
    assert report.ok, str(report)
    assert report.stats["items"] == 401 + check_module._ATTEMPTS - 1  # one "new" item per tag
    (warning,) = report.warnings
    assert warning.startswith("data: checkpoints replaced files") and "shared lock" in warning


def test_a_torn_tail_cut_by_a_writer_during_the_check(tmp_path, monkeypatch):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    abandon(db)
    segment = os.path.join(path, "log", "00000000000000000001.log")
    frame = wal.encode_frame(99, wal.WRITE_AT, wal.encode_record(
        [wal.Op("a", "2", b"x", None, 0, "t1")], 0))
    with open(segment, "ab") as f:
        f.write(frame[:20])
    original = check_module._Checker.read_log
    fired: list[bool] = []

    def meanwhile(self: Any) -> None:
        if not fired:
            fired.append(True)
            writer = Dynafile(path, durability="normal")  # cuts the tail, then appends
            for i in range(5):
                writer.put_item(item={"PK": "b", "SK": str(i), "pad": "x" * 40})
            abandon(writer)
        original(self)

    monkeypatch.setattr(check_module._Checker, "read_log", meanwhile)
    report = check_path(path)
    assert fired and report.ok, str(report)
    assert 1 <= report.stats["items"] <= 6


# ------------------------------------------------------- indexes that disagree


def _rewrite(path: str, space: str, index: int, edit: Any) -> str:
    """Rewrite partition ``index`` of ``space`` with ``edit(parts)`` (a list of
    ``[digest, pk, SortedDict]``), fixing the manifest's count and size."""
    manifest = _read_manifest(path)
    span = manifest.spaces[space][index]
    target = os.path.join(path, "data", space, span.file)
    with open(target, "rb") as f:
        lsn, decoded = decode_part(f.read(), target)
    editable = [[p.digest, p.pk, SortedDict({k: bytes(v) for k, v in p.items.items()})]
                for p in decoded]
    edit(editable)
    parts = [(d, pk, items) for d, pk, items in editable if items]
    with open(target, "wb") as f:
        f.write(encode_part(lsn, parts))
    size = sum(len(v) for _, _, items in parts for v in items.values())
    count = sum(len(items) for _, _, items in parts)
    spans = list(manifest.spaces[space])
    spans[index] = span._replace(size=size, item_count=count)
    manifest.set_spans(space, spans)
    with open(os.path.join(path, "data", "MANIFEST"), "wb") as f:
        f.write(manifest.encode())
    return os.path.relpath(target, path)


def _table_file_of(path: str, pk: str) -> str:
    manifest = _read_manifest(path)
    space = _space(path)
    (span,) = manifest.covering(space, partition_digest(pk))
    return os.path.join("data", space, span.file)


def test_an_index_that_disagrees_is_reported_entry_by_entry(tmp_path):
    path = str(tmp_path / "db")
    _build(path, 3000, partition_bytes=16 << 10)
    space = _space(path, "by_g")
    assert len(_read_manifest(path).spaces[space]) > 2
    assert check_path(path).ok
    changed: dict[str, Any] = {}

    def edit(parts: list[list[Any]]) -> None:
        first, second = parts[0], parts[-1]
        (lost, data), (other, _) = list(first[2].items())[:2]
        del first[2][lost]
        item = pickle.loads(data)
        changed["lost"] = (first[1], lost, item)
        first[2][other] = pickle.dumps({**pickle.loads(first[2][other]), "v": -1})
        changed["differs"] = (first[1], other, pickle.loads(first[2][other]))
        (same, raw) = next(iter(second[2].items()))
        second[2][same] = pickle.dumps(pickle.loads(raw), protocol=2)  # other bytes, same value
        assert second[2][same] != raw
        second[2][("zz", "stray")] = pickle.dumps({"PK": "zz", "SK": "stray", "g": second[1]})
        changed["stray"] = ("zz", "stray")

    where = _rewrite(path, space, 1, edit)
    report = check_path(path)
    _, lost, item = changed["lost"]
    _, other, differs = changed["differs"]
    # slot by slot in digest order (the first and the last collection of the
    # file); in a slot: missing entries, stray ones, differing ones
    index_dir = os.path.join("data", space)
    assert report.problems == [
        f"{index_dir}: index 'by_g' lacks the entry {lost!r} of the item at "
        + _table_file_of(path, item["PK"]),
        f"{where}: index 'by_g' entry {other!r} differs from the item at "
        + _table_file_of(path, differs["PK"]),
        f"{where}: index 'by_g' holds entry {changed['stray']!r} that no table item implies",
    ], report.problems
    assert report.stats["index_entries"]["by_g"] == 3000


def test_an_index_that_lost_a_partition_lists_twenty_entries(tmp_path):
    path = str(tmp_path / "db")
    _build(path, 3000, partition_bytes=16 << 10)
    space = _space(path, "by_g")
    _rewrite(path, space, 0, lambda parts: parts.clear())
    report = check_path(path)
    lacks = [p for p in report.problems if "index 'by_g' lacks the entry" in p]
    assert len(lacks) == 20
    assert all(p.startswith(f"{os.path.join('data', space)}: ") for p in lacks)
    (summary,) = [p for p in report.problems if p.startswith("... and ")]
    assert summary.endswith("more problems like the above (index by_g)")
    assert len(report.problems) == 21


# ------------------------------------------------------- split collections and the view


def test_split_collections_with_a_log_after_the_checkpoint(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal", partition_bytes=4096, gsis=[GSI("by_g", "g")])
    model: dict[tuple[str, str], dict] = {}

    def put(item: dict) -> None:
        db.put_item(item=item)
        model[(item["PK"], item["SK"])] = item

    for i in range(300):  # one collection over many partitions, and small ones
        put({"PK": "big", "SK": f"{i:04d}", "g": f"g{i % 5}", "pad": "y" * 60})
    for i in range(60):
        put({"PK": f"s{i % 12}", "SK": f"{i:04d}", "g": "small"})
    db.checkpoint()
    table = _space(path)
    spans = _read_manifest(path).spaces[table]
    big = partition_digest("big")
    inner = [s.start[2] for s in spans if s.start[0] == big and s.start[1] == 1]
    assert len(inner) >= 3  # the big collection is cut by sort key
    # after the checkpoint: a whole piece deleted, keys added on both sides of cuts
    lo, hi = inner[1], inner[2]
    for sk in [k for (pk, k) in model if pk == "big" and lo <= k < hi]:
        db.delete_item(key={"PK": "big", "SK": sk})
        del model[("big", sk)]
    for sk in (f"{int(inner[0]) - 1:04d}" + "x", inner[0] + "x", "9999", "0000x"):
        put({"PK": "big", "SK": sk, "g": "g-new"})
    put({"PK": "s3", "SK": "new", "g": "small"})
    db.delete_item(key={"PK": "s4", "SK": "0004"})
    del model[("s4", "0004")]
    report = db.check()
    assert report.ok, str(report)
    assert report.warnings == []
    assert report.stats["items"] == len(model)
    assert report.stats["collections"] == len({pk for pk, _ in model})
    assert report.stats["index_entries"] == {"by_g": len(model)}
    assert report.stats["replayed_records"] > 0
    # this process's view of the split collection: a key in the deleted piece
    part = engine(db).collection(big, "big", table)
    part.items[lo] = pickle.dumps({"PK": "big", "SK": lo})
    problems = db.check().problems
    assert len(problems) == 1 and f"this process's view of collection {big} differs" in \
        problems[0] and f"extra [{lo!r}]" in problems[0], problems
    abandon(db)
    after = check_path(path)
    assert after.ok and after.stats["items"] == len(model)


def test_the_view_is_compared_only_while_nothing_changes(tmp_path, monkeypatch):
    path = str(tmp_path / "db")
    _build(path, 500, partition_bytes=4096)
    db = Dynafile(path, durability="normal")
    original = check_module._Checker.read_partition
    fired: list[bool] = []

    def meanwhile(self: Any, *args: Any, **kwargs: Any) -> Any:
        parts = original(self, *args, **kwargs)
        if self.view is not None and self.view.compared >= 5 and not fired:
            fired.append(True)
            other = Dynafile(path, durability="normal")  # another writer (its own lock)
            other.put_item(item={"PK": "late", "SK": "1", "g": "x"})
            abandon(other)
        return parts

    monkeypatch.setattr(check_module._Checker, "read_partition", meanwhile)
    report = db.check()
    assert fired and report.ok, str(report)
    (warning,) = report.warnings
    assert warning.startswith(os.path.join("log") + ": the database changed during the check")
    compared = int(warning.split("for the first ")[1].split()[0])
    assert 5 <= compared < 50
    assert report.stats["items"] == 500  # the snapshot's state
    db.close()
