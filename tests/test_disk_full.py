"""Disk full and I/O errors.

``OSError(ENOSPC)`` / ``OSError(EIO)`` is injected at each file operation of
:mod:`dynafile.storage.fs` (through its named points, and as short writes)
while a put, a batch, an update, a transaction, a checkpoint or a table's
first write runs: the call must raise, the table must be as it was before
the call (in this process and after reopening), and once the fault is gone
the same call must work. A read-only directory can still be read.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from typing import Any, Callable

import pytest
from conftest import abandon, engine, snapshot_files

from dynafile import GSI, Dynafile, DynafileError
from dynafile.storage import fs

Key = tuple[Any, Any]


class Fault:
    """An ``fs.hook`` that raises ``OSError(err)`` at the ``nth`` named point."""

    def __init__(self, nth: int, err: int) -> None:
        self.nth = nth
        self.err = err
        self.seen: list[str] = []

    def __call__(self, point: str, path: str) -> None:
        self.seen.append(point)
        if len(self.seen) == self.nth:
            raise OSError(self.err, os.strerror(self.err), path)


def _state(db: Dynafile) -> dict[Key, dict]:
    return {(i["PK"], i["SK"]): i for i in db.scan()}


def _index_state(db: Dynafile) -> list[Key]:
    return sorted((i["PK"], i["SK"]) for g in ("g0", "g1", "g2") for i in db.query(g, index="by_g"))


def _batch(db: Dynafile) -> None:
    with db.batch_writer() as w:
        for j in range(8):
            w.put_item(item={"PK": f"new{j % 3}", "SK": f"{j}", "g": "g2"})


def _transact(db: Dynafile) -> None:
    db.transact_write([{"put": {"item": {"PK": "tx", "SK": "1", "g": "g2"}}},
                       {"update": {"key": {"PK": "p0", "SK": "000"}, "add": {"n": 1}}},
                       {"delete": {"key": {"PK": "p1", "SK": "001"}}}])


OPERATIONS: dict[str, Callable[[Dynafile], Any]] = {
    "put": lambda db: db.put_item(item={"PK": "p0", "SK": "new", "g": "g1"}),
    "put-new-partition": lambda db: db.put_item(item={"PK": "fresh", "SK": "1", "g": "g2"}),
    "delete": lambda db: db.delete_item(key={"PK": "p1", "SK": "004"}),
    "update": lambda db: db.update_item(key={"PK": "p2", "SK": "002"}, add={"n": 5},
                                        set={"g": "g2"}),
    "batch": _batch,
    "transact": _transact,
    "checkpoint": lambda db: db.checkpoint(),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    """A table with checkpointed partitions and a log after the checkpoint."""
    path = str(tmp_path_factory.mktemp("disk-full") / "base")
    db = Dynafile(path, durability="full", gsis=[GSI("by_g", "g")])
    for i in range(12):
        db.put_item(item={"PK": f"p{i % 3}", "SK": f"{i:03d}", "g": f"g{i % 2}"})
    db.checkpoint()
    for i in range(12, 16):
        db.put_item(item={"PK": f"p{i % 3}", "SK": f"{i:03d}", "g": f"g{i % 2}"})
    abandon(db)
    return path


def _count_events(base: str, tmp: str, operation: str, **options: Any) -> int:
    path = os.path.join(tmp, f"count-{operation}")
    shutil.copytree(base, path)
    db = Dynafile(path, **options)
    fault = Fault(0, errno.ENOSPC)
    fs.hook = fault
    try:
        OPERATIONS[operation](db)
    finally:
        fs.hook = None
        abandon(db)
    return len(fault.seen)


def _run_faults(base: str, tmp: str, operation: str, **options: Any) -> list[str]:
    """Fail ``operation`` at every fs event in turn; return what went wrong."""
    events = _count_events(base, tmp, operation, **options)
    assert events > 0
    failures: list[str] = []
    for nth in range(1, events + 1):
        for err in (errno.ENOSPC, errno.EIO):
            path = os.path.join(tmp, f"{operation}-{nth}-{err}")
            shutil.copytree(base, path)
            problem = _one_fault(path, operation, nth, err, options)
            if problem:
                failures.append(f"{operation}: fault {errno.errorcode[err]} at event {nth}: "
                                f"{problem}")
            shutil.rmtree(path, ignore_errors=True)
    return failures


def _one_fault(path: str, operation: str, nth: int, err: int, options: dict[str, Any]
               ) -> str | None:
    db = Dynafile(path, **options)
    try:
        before = _state(db)
        before_index = _index_state(db)
        fault = Fault(nth, err)
        fs.hook = fault
        try:
            OPERATIONS[operation](db)
        except OSError as exc:
            if exc.errno != err:
                return f"raised {exc!r}, not errno {err}"
        except DynafileError as exc:
            if not isinstance(exc.__cause__ or exc.__context__, OSError):
                return f"raised {exc!r}, which does not wrap the OSError"
        else:
            fs.hook = None
            point = fault.seen[nth - 1]
            if "log.append.after" not in fault.seen[: nth - 1]:
                return f"did not raise (fault at {point})"
            # The record was appended (and synced) before the fault: the write is
            # committed, and only the checkpoint it triggered failed, which must
            # not make a committed write raise. It must be visible and last.
            after = _state(db)
            if after == before:
                return f"returned but the write is not visible (fault at {point})"
            other = Dynafile(path, **options)
            try:
                if _state(other) != after:
                    return f"returned but the write did not last (fault at {point})"
            finally:
                abandon(other)
            return None
        finally:
            fs.hook = None
        point = fault.seen[nth - 1]
        if _state(db) != before or _index_state(db) != before_index:
            return f"the table changed although the call raised (at {point})"
        other = Dynafile(path, **options)  # what a restart would see
        try:
            if _state(other) != before:
                return f"after reopening, the table changed although the call raised (at {point})"
        finally:
            abandon(other)
        # the fault is gone: the same call works now, and lasts
        OPERATIONS[operation](db)
        after = _state(db)
        db.close()
        db = Dynafile(path, **options)
        if _state(db) != after:
            return "the retried call did not last"
        report = db.check()
        if not report.ok:
            return f"check() after the retry: {report.problems[:2]}"
    finally:
        fs.hook = None
        db.close()
    return None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("operation", ["put", "put-new-partition", "delete", "update", "batch",
                                       "transact", "checkpoint"])
def test_fault_at_each_file_operation_leaves_the_table_as_it_was(base, tmp_path, operation):
    failures = _run_faults(base, str(tmp_path), operation, durability="full")
    assert not failures, "\n".join(failures[:10])


@pytest.mark.timeout(120)
def test_fault_in_the_checkpoint_a_put_triggers(base, tmp_path):
    failures = _run_faults(base, str(tmp_path), "put-new-partition", durability="full",
                           checkpoint_bytes=1)
    assert not failures, "\n".join(failures[:10])


@pytest.mark.timeout(60)
def test_fault_while_the_first_write_fixes_key_types(tmp_path):
    failures = []
    for nth in range(1, 5):  # checkpoint.write.before .. rename.after of meta.json
        path = str(tmp_path / f"t{nth}")
        db = Dynafile(path, durability="full")
        fs.hook = Fault(nth, errno.ENOSPC)
        try:
            with pytest.raises(OSError):
                db.put_item(item={"PK": "a", "SK": "1"})
        finally:
            fs.hook = None
        assert db.get_item(key={"PK": "a", "SK": "1"}) is None
        db.put_item(item={"PK": "a", "SK": "1"})
        db.close()
        db = Dynafile(path)
        report = db.check()
        if not report.ok:
            failures.append(f"fault at event {nth}: {report.problems}")
        db.close()
    assert not failures, "\n".join(failures)


class _ShortWrites:
    """Stands in for ``os`` inside ``fs``: ``write`` stores half the bytes, then ENOSPC."""

    def __init__(self) -> None:
        self.armed = True

    def write(self, fd: int, data: Any) -> int:
        if self.armed:
            self.armed = False
            os.write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


@pytest.mark.parametrize("operation", ["put", "batch", "transact"])
def test_short_write_of_a_log_record_is_undone(base, tmp_path, monkeypatch, operation):
    path = str(tmp_path / "t")
    shutil.copytree(base, path)
    db = Dynafile(path, durability="normal")
    before = _state(db)
    segment = engine(db).layout.segment_path(engine(db).position().segment)
    size = os.path.getsize(segment)
    monkeypatch.setattr(fs, "os", _ShortWrites())
    with pytest.raises(OSError) as info:
        OPERATIONS[operation](db)
    assert info.value.errno == errno.ENOSPC
    assert os.path.getsize(segment) == size  # the half record was cut off
    assert _state(db) == before
    OPERATIONS[operation](db)  # the short write happens once
    after = _state(db)
    db.close()
    db = Dynafile(path)
    assert _state(db) == after
    assert db.check().ok
    db.close()


class _FullDiskFile:
    """A temporary file of ``fs.atomic_write_bytes`` that takes half the data, then ENOSPC."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def write(self, data: bytes) -> int:
        self._f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _FullDiskFile:
        self._f.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._f.__exit__(*exc)


def test_short_write_of_a_checkpoint_file_changes_nothing(base, tmp_path, monkeypatch):
    path = str(tmp_path / "t")
    shutil.copytree(base, path)
    files_before = sorted(os.path.relpath(os.path.join(d, n), path)
                          for d, _, names in os.walk(path) for n in names)
    db = Dynafile(path, durability="full")
    before = _state(db)
    original = fs._Writer.get_fileobject
    monkeypatch.setattr(fs._Writer, "get_fileobject",
                        lambda self, **kw: _FullDiskFile(original(self, **kw)))
    with pytest.raises(OSError) as info:
        db.checkpoint()
    assert info.value.errno == errno.ENOSPC
    monkeypatch.setattr(fs._Writer, "get_fileobject", original)
    stray = [n for d, _, names in os.walk(path) for n in names if n.startswith(fs.TEMP_PREFIX)]
    assert stray == []  # atomicwrites removed the half-written temporary file
    assert _state(db) == before
    db.checkpoint()
    db.close()
    db = Dynafile(path)
    assert _state(db) == before
    assert db.check().ok
    db.close()
    assert files_before  # sanity


def _read_everything(path: str, **options: Any) -> dict[Key, dict]:
    db = Dynafile(path, **options)
    try:
        state = _state(db)
        assert db.get_item(key={"PK": "p0", "SK": "000"}) is not None
        assert _index_state(db)
        assert db.check().ok
        assert db.read_only
        with pytest.raises(DynafileError):
            db.put_item(item={"PK": "x", "SK": "y"})
        return state
    finally:
        db.close()




def _stopped_table(base: str, path: str) -> dict[Key, dict]:
    """A copy of ``base`` whose last writer stopped without a checkpoint."""
    shutil.copytree(base, path)
    db = Dynafile(path)
    expected = _state(db)
    abandon(db)  # leave a log to replay
    return expected


def test_read_only_open_reads_everything_and_writes_nothing(base, tmp_path):
    path = str(tmp_path / "t")
    expected = _stopped_table(base, path)
    before = snapshot_files(path)
    assert _read_everything(path, read_only=True) == expected
    assert snapshot_files(path) == before  # not even a checkpoint at close


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions (read_only=True is "
                                              "tested by the test above)")
def test_read_only_directory_can_be_read(base, tmp_path):
    path = str(tmp_path / "t")
    expected = _stopped_table(base, path)
    before = snapshot_files(path)
    modes = {}
    for d, dirs, names in os.walk(path):
        for n in names:
            p = os.path.join(d, n)
            modes[p] = os.stat(p).st_mode
            os.chmod(p, 0o444)
        modes[d] = os.stat(d).st_mode
    try:
        for d in modes:
            if os.path.isdir(d):
                os.chmod(d, 0o555)
        assert _read_everything(path) == expected  # read-only detected from permissions
        assert _read_everything(path, read_only=True) == expected
    finally:
        for p, mode in sorted(modes.items(), key=lambda kv: -len(kv[0])):
            os.chmod(p, stat.S_IMODE(mode) | stat.S_IWUSR)
    assert snapshot_files(path) == before
