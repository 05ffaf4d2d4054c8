"""Corrupt and hostile files.

Every kind of file of a table (log segment, table partition, meta.json,
checkpoint.json, global and local index partition) is truncated and has a
bit flipped at 30 seeded places each. Opening the copy and reading
everything (every key, a scan, every index) must then either raise
:class:`CorruptFileError` naming the file, or give exactly the data the
intact bytes hold (for the log: the state after the last valid record);
never a raw exception, never wrong data. ``check()`` must notice what the
engine tolerates (a flip in the checkpointed part of the log, say).

Hostile files carry a valid checksum around crafted content: pickles that
would run code (a canary file must not appear), malformed snapshots and
item bytes, and ``meta.json`` files of the wrong shape.

(``tests/test_storage.py`` covers one torn tail, one flipped log bit, one
corrupt partition and one crafted partition at the decoder level; this file
goes wider and through the table.)
"""

from __future__ import annotations

import copyreg
import json
import os
import pickle
import random
import shutil
import struct
import zlib
from typing import Any

import pytest
from conftest import abandon, engine, snapshot_files

from dynafile import (
    GSI,
    LSI,
    CorruptFileError,
    Dynafile,
    DynafileError,
    PickleSerializer,
    UnsafeDataError,
)
from dynafile.check import check_path
from dynafile.cli import main as cli_main
from dynafile.keys import partition_digest
from dynafile.storage import log as wal
from dynafile.storage.layout import segment_name

N_PLACES = 30
Key = tuple[str, str]
State = dict[Key, dict]


# --------------------------------------------------------------- the table


class Pristine:
    """A table with checkpointed partitions and a log after the checkpoint,
    and the state after every record of that log."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, "pristine")
        db = Dynafile(self.path, durability="normal", gsis=[GSI("by_g", "g", "SK")],
                      lsis=[LSI("by_v", "v")])
        for i in range(40):
            db.put_item(item={"PK": f"p{i % 4}", "SK": f"{i:03d}", "g": f"g{i % 3}", "v": i,
                              "pad": "x" * (i * 7 % 50)})
        db.checkpoint()
        self.states: list[State] = [self._state(db)]
        writes = [
            lambda: db.put_item(item={"PK": "p0", "SK": "100", "g": "g1", "v": 100}),
            lambda: db.put_item(item={"PK": "p1", "SK": "001", "g": "g2", "v": 1, "new": True}),
            lambda: db.delete_item(key={"PK": "p2", "SK": "002"}),
            lambda: db.update_item(key={"PK": "p3", "SK": "003"}, set={"v": 303}),
            lambda: self._batch(db),
            lambda: db.put_item(item={"PK": "p4", "SK": "000", "v": 7}),
            lambda: db.put_item(item={"PK": "p0", "SK": "101", "g": "g0", "v": 101}),
            lambda: db.delete_item(key={"PK": "p1", "SK": "005"}),
            lambda: db.put_item(item={"PK": "p2", "SK": "006", "g": "g0", "v": 6,
                                      "pad": "y" * 200}),
        ]
        for write in writes:
            write()
            self.states.append(self._state(db))
        self.keys = sorted({key for state in self.states for key in state})
        abandon(db)  # keep the log after the checkpoint
        self.segment = os.path.join(self.path, "wal", segment_name(1))
        marker = json.loads(open(os.path.join(self.path, "wal", "checkpoint.json")).read())
        self.marker_offset = marker["offset"]
        frames, stop, _ = wal.parse_frames(open(self.segment, "rb").read())
        assert stop is None
        self.record_ends = [f.end for f in frames if f.start >= self.marker_offset]
        assert len(self.record_ends) == len(writes)
        part = os.path.join(self.path, "_partitions", partition_digest("p1"))
        self.files = {
            "log": self.segment,
            "partition": os.path.join(part, "data.pickle"),
            "meta": os.path.join(self.path, "meta.json"),
            "checkpoint": os.path.join(self.path, "wal", "checkpoint.json"),
            "gsi": os.path.join(self.path, "_gsi-by_g", "_partitions", partition_digest("g2"),
                                "data.pickle"),
            "lsi": os.path.join(part, "lsi-by_v.pickle"),
        }
        for path in self.files.values():
            assert os.path.exists(path), path

    @staticmethod
    def _batch(db: Dynafile) -> None:
        with db.batch_writer() as w:
            for j in range(3):
                w.put_item(item={"PK": "p3", "SK": f"b{j}", "g": "g2", "v": 200 + j})

    @staticmethod
    def _state(db: Dynafile) -> State:
        return {(i["PK"], i["SK"]): i for i in db.scan()}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Pristine:
    return Pristine(str(tmp_path_factory.mktemp("corruption")))


def _close(db: Dynafile) -> None:
    abandon(db)  # never let a checkpoint paper over what was read


# ------------------------------------------------------------------- probes


class Outcome:
    """What opening and reading a mutated copy gave."""

    def __init__(self) -> None:
        self.open_error: BaseException | None = None
        self.items: dict[Key, Any] = {}  # key -> item, None, or the exception get_item raised
        self.scan: Any = None  # list of items, or the exception
        self.index: dict[tuple[str, Any], Any] = {}  # (index, pk) -> sorted keys, or exception
        self.report: Any = None


def read_everything(path: str, pristine: Pristine) -> Outcome:
    out = Outcome()
    try:
        # Name the key schema: a flipped bit in meta.json may leave another
        # valid schema, which an opener that omits it would take as stored.
        db = Dynafile(path, pk_attribute="PK", sk_attribute="SK")
    except Exception as exc:
        out.open_error = exc
        return out
    try:
        for key in pristine.keys:
            try:
                out.items[key] = db.get_item(key={"PK": key[0], "SK": key[1]})
            except Exception as exc:
                out.items[key] = exc
        try:
            out.scan = list(db.scan())
        except Exception as exc:
            out.scan = exc
        for g in ("g0", "g1", "g2"):
            try:
                out.index[("by_g", g)] = sorted((i["PK"], i["SK"])
                                                for i in db.query(g, index="by_g"))
            except Exception as exc:
                out.index[("by_g", g)] = exc
        for pk in sorted({k[0] for k in pristine.keys}):
            try:
                out.index[("by_v", pk)] = sorted((i["PK"], i["SK"])
                                                 for i in db.query(pk, index="by_v"))
            except Exception as exc:
                out.index[("by_v", pk)] = exc
        try:
            out.report = db.check()
        except Exception as exc:
            out.report = exc
    finally:
        _close(db)
    return out


def _raw(exc: Any) -> bool:
    return isinstance(exc, BaseException) and not isinstance(exc, DynafileError)


def _names(exc: BaseException, *paths: str) -> bool:
    return isinstance(exc, CorruptFileError) and any(
        exc.path == p or p in str(exc) for p in paths)


def judge(out: Outcome, pristine: Pristine, kind: str, victim: str,
          allowed_states: list[int]) -> str | None:
    """Return what is wrong with an outcome, or ``None``."""
    exceptions = [out.open_error, out.scan, out.report, *out.items.values(), *out.index.values()]
    raw = [e for e in exceptions if _raw(e)]
    if raw:
        return f"raw exception {type(raw[0]).__name__}: {raw[0]}"
    if out.open_error is not None:
        if kind == "meta":
            return None  # a DynafileError at open (CorruptFileError, SchemaMismatchError...)
        # a bad checkpoint marker shows as an inconsistency of the log it points into
        also = os.path.join(os.path.dirname(victim), segment_name(1)) \
            if kind == "checkpoint" else victim
        if _names(out.open_error, victim, also):
            return None
        return f"open raised {out.open_error!r}, which does not name {victim}"
    # it opened: every answer is right, or a CorruptFileError naming the victim
    bad_file = [e for e in exceptions if isinstance(e, DynafileError)
                and not _names(e, victim)]
    if bad_file and kind != "meta":
        return f"error that does not name {victim}: {bad_file[0]!r}"
    got = {key: item for key, item in out.items.items()
           if isinstance(item, dict)}
    failed = {key for key, item in out.items.items() if isinstance(item, BaseException)}
    for j in allowed_states:
        want = pristine.states[j]
        if all(got.get(key) == want.get(key) for key in pristine.keys if key not in failed):
            break
    else:
        return f"items match none of the states {allowed_states}"
    want = pristine.states[j]
    if failed and (kind != "partition" or any(key[0] != "p1" for key in failed)):
        return f"get_item failed for {sorted(failed)[:3]}"
    if not isinstance(out.scan, BaseException):
        if {(i["PK"], i["SK"]): i for i in out.scan} != want:
            return "scan returned other items than get_item"
    for (index, pk), keys in out.index.items():
        if isinstance(keys, BaseException):
            if kind == "meta" or (kind, index) in (("gsi", "by_g"), ("lsi", "by_v")):
                continue
            return f"index {index} {pk}: {keys!r}"
        if index == "by_g":
            expect = sorted(k for k, i in want.items() if i.get("g") == pk)
        else:
            expect = sorted(k for k, i in want.items() if k[0] == pk and "v" in i)
        if keys != expect and kind != "meta":
            return f"index {index} {pk} disagrees with the table: {keys} != {expect}"
    return None


def mutate(pristine: Pristine, dest: str, victim_kind: str, how: str, where: int,
           bit: int = 0) -> str:
    shutil.copytree(pristine.path, dest)
    victim = pristine.files[victim_kind].replace(pristine.path, dest)
    data = bytearray(open(victim, "rb").read())
    if how == "flip":
        data[where] ^= 1 << bit
    else:
        del data[where:]
    with open(victim, "wb") as f:
        f.write(bytes(data))
    return victim


def _places(size: int, seed: str) -> list[int]:
    rng = random.Random(seed)
    return sorted(rng.sample(range(size), min(N_PLACES, size)))


def _log_states(pristine: Pristine, how: str, where: int) -> list[int]:
    """Which states a reader may see after mutating the log at ``where``."""
    final = len(pristine.states) - 1
    if where < pristine.marker_offset:
        if how == "flip":
            return [final]  # the engine never reads the checkpointed part
        return [0]  # the log lost everything after the checkpoint (at best)
    intact = sum(1 for end in pristine.record_ends if end <= where)
    return [intact]


DAMAGE = [(kind, how) for kind in ("log", "partition", "meta", "checkpoint", "gsi", "lsi")
          for how in ("flip", "truncate")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind,how", [
    (k, h) for k, h in DAMAGE])
def test_damaged_file_is_reported_or_recovered(pristine, tmp_path, kind, how):
    size = os.path.getsize(pristine.files[kind])
    failures = []
    for n, where in enumerate(_places(size, f"{kind}-{how}")):
        if kind == "log" and how == "truncate" and where < pristine.marker_offset:
            continue  # see test_log_truncated_before_the_checkpoint
        if kind == "checkpoint" and how == "flip":
            continue  # see test_flipped_checkpoint_marker
        bit = random.Random(f"{kind}-{where}").randrange(8)
        dest = str(tmp_path / f"{n}")
        victim = mutate(pristine, dest, kind, how, where, bit)
        report = check_path(dest)
        allowed = _log_states(pristine, how, where) if kind == "log" else [
            len(pristine.states) - 1]
        out = read_everything(dest, pristine)
        problem = judge(out, pristine, kind, victim, allowed)
        rel = os.path.relpath(victim, dest)
        noticed = any(rel in line for line in report.problems + report.warnings)
        if problem is None and kind not in ("meta", "checkpoint") and not noticed:
            if not (kind == "log" and how == "truncate" and where in pristine.record_ends):
                problem = f"check_path did not notice: {report}"
        if problem is None and out.open_error is None and kind not in ("meta",):
            final = isinstance(out.report, BaseException) or out.report.ok
            if kind in ("partition", "gsi", "lsi") and final:
                problem = "check() on the open table did not notice"
            if kind == "log" and how == "flip" and where < pristine.marker_offset and final:
                problem = "check() did not notice a flip in the checkpointed log"
        if problem is not None:
            failures.append(f"{how} at {where} (bit {bit}): {problem}")
        shutil.rmtree(dest)
    assert not failures, f"{len(failures)} of {N_PLACES} failed:\n" + "\n".join(failures[:10])


def test_log_truncated_before_the_checkpoint(pristine, tmp_path):
    failures = []
    for n, where in enumerate(_places(pristine.marker_offset, "log-before-marker")):
        dest = str(tmp_path / f"{n}")
        victim = mutate(pristine, dest, "log", "truncate", where)
        problem = judge(read_everything(dest, pristine), pristine, "log", victim, [0])
        if problem:
            failures.append(f"truncate at {where}: {problem}")
        assert not check_path(dest).ok
    assert not failures, "\n".join(failures[:5])


def test_flipped_checkpoint_marker(pristine, tmp_path):
    size = os.path.getsize(pristine.files["checkpoint"])
    failures = []
    for where in range(size):
        for bit in range(8):
            dest = str(tmp_path / f"{where}-{bit}")
            victim = mutate(pristine, dest, "checkpoint", "flip", where, bit)
            report = check_path(dest)
            out = read_everything(dest, pristine)
            problem = judge(out, pristine, "checkpoint", victim, [len(pristine.states) - 1])
            if problem is None and report.ok and out.open_error is None:
                text = open(victim, "rb").read()
                problem = f"check_path found nothing wrong with {text!r}"
            if problem:
                failures.append(f"flip at {where} bit {bit}: {problem}")
            shutil.rmtree(dest)
    assert not failures, f"{len(failures)} failed:\n" + "\n".join(failures[:10])


def test_check_names_the_damaged_file_and_offset(pristine, tmp_path):
    dest = str(tmp_path / "d")
    where = (pristine.record_ends[2] + pristine.record_ends[3]) // 2
    mutate(pristine, dest, "log", "flip", where, 3)
    report = check_path(dest)
    assert not report.ok
    assert any(line.startswith(f"wal/{segment_name(1)} at offset {pristine.record_ends[2]}")
               for line in report.problems), report.problems
    assert "problem" in str(report) and segment_name(1) in str(report)
    assert cli_main(["check", dest]) == 1
    with pytest.raises(CorruptFileError) as info:
        Dynafile(dest)
    assert info.value.path == os.path.join(dest, "wal", segment_name(1))
    assert info.value.offset == pristine.record_ends[2]


# ------------------------------------------------------------------ hostile


def _partition_bytes(body: bytes) -> bytes:
    return b"DYNP" + struct.pack("<IQ", zlib.crc32(body), len(body)) + body


def _table_with_one_item(root: str, **kwargs: Any) -> tuple[str, str]:
    path = os.path.join(root, "db")
    db = Dynafile(path, durability="normal", gsis=[GSI("by_g", "g")],
                  lsis=[LSI("by_v", "v")], **kwargs)
    db.put_item(item={"PK": "a", "SK": "1", "g": "x", "v": 1})
    db.close()
    return path, partition_digest("a")


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _spy(*args):  # reached only if the allowlist is bypassed
    _spy.calls.append(args)
    return {"PK": "a", "SK": "1"}


_spy.calls = []  # type: ignore[attr-defined]


@pytest.mark.parametrize("place", ["snapshot", "item", "gsi", "lsi"])
def test_crafted_pickle_in_a_partition_file_runs_nothing(tmp_path, place):
    canary = tmp_path / "canary"
    evil = _Evil(f"touch {canary}")
    path, digest = _table_with_one_item(str(tmp_path))
    if place == "snapshot":  # the snapshot tuple itself reduces to os.system
        target = os.path.join(path, "_partitions", digest, "data.pickle")
        body = pickle.dumps(evil, 5)
    elif place == "item":  # an item's bytes inside a well-formed snapshot
        target = os.path.join(path, "_partitions", digest, "data.pickle")
        body = pickle.dumps((1, 1, "a", ["1"], [pickle.dumps({"PK": "a", "SK": "1", "x": evil})]))
    elif place == "gsi":
        target = os.path.join(path, "_gsi-by_g", "_partitions", partition_digest("x"),
                              "data.pickle")
        body = pickle.dumps((1, 1, "x", [("a", "1")], [pickle.dumps({"x": evil})]))
    else:
        target = os.path.join(path, "_partitions", digest, "lsi-by_v.pickle")
        body = pickle.dumps((1, 1, "a", [(1, "1")], [pickle.dumps({"x": evil})]))
    with open(target, "wb") as f:
        f.write(_partition_bytes(body))
    db = Dynafile(path)
    with pytest.raises(UnsafeDataError) as info:
        if place == "gsi":
            list(db.query("x", index="by_g"))
        elif place == "lsi":
            list(db.query("a", index="by_v"))
        else:
            db.get_item(key={"PK": "a", "SK": "1"})
    assert info.value.path == target or target in str(info.value) or place != "snapshot"
    with pytest.raises(UnsafeDataError):
        if place in ("gsi", "lsi"):
            list(db.scan(index="by_g" if place == "gsi" else "by_v"))
        else:
            list(db.scan())
    report = db.check()
    assert not report.ok and any("refus" in p for p in report.problems), report.problems
    _close(db)
    assert not check_path(path).ok
    assert cli_main(["check", path]) == 1
    assert not canary.exists()


@pytest.mark.parametrize("payload", [
    pytest.param(b"cos\nsystem\n(S'touch CANARY'\ntR.", id="GLOBAL-os.system"),
    pytest.param(b"(S'touch CANARY'\nios\nsystem\n.", id="INST-os.system"),
    pytest.param(b"cbuiltins\neval\n(S'open(\"CANARY\", \"w\")'\ntR.", id="GLOBAL-eval"),
    pytest.param(b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'__subclasses__'\ntR.",
                 id="GLOBAL-getattr"),
    pytest.param(b"ccopyreg\n_reconstructor\n(cos\n_wrap_close\ncbuiltins\nobject\nNtR.",
                 id="reconstructor-other-class"),
    pytest.param(b"\x80\x04\x8c\x08builtins\x8c\x15object.__subclasses__\x93)R.",
                 id="STACK_GLOBAL-dotted-name"),
    pytest.param(b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c\x0ctouch CANARY\x85R.",
                 id="STACK_GLOBAL-posix.system"),
    pytest.param(b"csubprocess\nPopen\n((S'touch'\nS'CANARY'\nltR.", id="GLOBAL-Popen"),
])
def test_allowlist_refuses_crafted_pickles(tmp_path, payload):
    canary = str(tmp_path / "canary")
    data = payload.replace(b"CANARY", canary.encode())
    # fix the length prefix of the short-binunicode argument after substitution
    if b"\x0ctouch " in payload:
        arg = f"touch {canary}".encode()
        data = payload.split(b"\x0ctouch CANARY")[0] + bytes((len(arg),)) + arg + b"\x85R."
    with pytest.raises(UnsafeDataError, match="not allowlisted"):
        PickleSerializer().loads(data)
    assert not os.path.exists(canary)


def test_extension_opcode_does_not_bypass_the_allowlist():
    copyreg.add_extension(__name__, "_spy", 0xF0)
    try:
        data = b"\x80\x02\x82\xf0)R."  # PROTO 2, EXT1 240, EMPTY_TUPLE, REDUCE, STOP
        _spy.calls.clear()
        with pytest.raises(UnsafeDataError):
            PickleSerializer().loads(data)
    finally:
        copyreg.remove_extension(__name__, "_spy", 0xF0)
        assert _spy.calls == [], "the stored pickle called a function the allowlist refuses"


def test_json_table_loads_no_code(tmp_path):
    canary = tmp_path / "canary"
    path, digest = _table_with_one_item(str(tmp_path), serializer="json")
    target = os.path.join(path, "_partitions", digest, "data.pickle")
    evil = pickle.dumps(_Evil(f"touch {canary}"))
    with open(target, "wb") as f:
        f.write(_partition_bytes(pickle.dumps((1, 1, "a", ["1"], [evil]))))
    db = Dynafile(path, serializer="json")
    with pytest.raises(Exception) as info:
        db.get_item(key={"PK": "a", "SK": "1"})
    assert not isinstance(info.value, UnsafeDataError)  # JSON never unpickles
    assert not db.check().ok
    _close(db)
    assert not canary.exists()


SNAPSHOTS = {
    "mixed-type-keys": (1, 1, "a", ["1", 2], [b"x", b"y"]),
    "keys-not-a-list": (1, 1, "a", 5, [b"x"]),
    "values-not-bytes": (1, 1, "a", ["1"], [5]),
    "values-str": (1, 1, "a", ["1"], ["zz"]),
}


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_malformed_snapshot_with_valid_checksum_is_corrupt(tmp_path, name):
    path, digest = _table_with_one_item(str(tmp_path))
    target = os.path.join(path, "_partitions", digest, "data.pickle")
    with open(target, "wb") as f:
        f.write(_partition_bytes(pickle.dumps(SNAPSHOTS[name], 5)))
    db = Dynafile(path)
    try:
        with pytest.raises(CorruptFileError) as info:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == target
    finally:
        _close(db)
    report = check_path(path)
    assert not report.ok


ITEM_BYTES = {
    "not-a-pickle": b"garbage",
    "truncated": pickle.dumps({"PK": "a", "SK": "1"})[:-3],
    "empty": b"",
    "unregistered-extension": b"\x80\x02\x82\xf0)R.",
    "not-a-dict": pickle.dumps([1, 2]),
}


@pytest.mark.parametrize("name", sorted(ITEM_BYTES))
def test_malformed_item_bytes_with_valid_checksum_are_corrupt(tmp_path, name):
    path, digest = _table_with_one_item(str(tmp_path))
    target = os.path.join(path, "_partitions", digest, "data.pickle")
    with open(target, "wb") as f:
        f.write(_partition_bytes(pickle.dumps((1, 1, "a", ["1"], [ITEM_BYTES[name]]))))
    db = Dynafile(path)
    try:
        with pytest.raises(CorruptFileError):
            db.get_item(key={"PK": "a", "SK": "1"})
        with pytest.raises(CorruptFileError):
            list(db.scan())
    finally:
        _close(db)


@pytest.mark.parametrize("name", sorted(ITEM_BYTES))
def test_check_reports_malformed_item_bytes(tmp_path, name):
    path, digest = _table_with_one_item(str(tmp_path))
    target = os.path.join(path, "_partitions", digest, "data.pickle")
    with open(target, "wb") as f:
        f.write(_partition_bytes(pickle.dumps((1, 1, "a", ["1"], [ITEM_BYTES[name]]))))
    report = check_path(path)
    assert not report.ok
    assert any(p.startswith(f"_partitions/{digest}/data.pickle: item") for p in report.problems)


def _meta(path: str) -> dict:
    with open(os.path.join(path, "meta.json")) as f:
        return json.load(f)


META_SHAPES = {
    "array": lambda m: [1],
    "key-types-str": lambda m: {**m, "key_types": "S"},
    "key-types-list": lambda m: {**m, "key_types": ["S"]},
    "gsis-list": lambda m: {**m, "gsis": ["by_g"]},
    "gsi-not-an-object": lambda m: {**m, "gsis": {"by_g": 5}},
    "gsi-without-pk": lambda m: {**m, "gsis": {"by_g": {"state": "ACTIVE"}}},
    "gsi-bad-projection": lambda m: {**m, "gsis": {"by_g": {**m["gsis"]["by_g"],
                                                            "projection": "X"}}},
    "gsi-bad-name": lambda m: {**m, "gsis": {"by g!": m["gsis"]["by_g"]}},
    "lsis-str": lambda m: {**m, "lsis": "x"},
    "pk-attribute-int": lambda m: {**m, "pk_attribute": 5},
    "format-version-str": lambda m: {**m, "format_version": "1"},
    "format-version-2": lambda m: {**m, "format_version": 2},
    "no-pk-attribute": lambda m: {k: v for k, v in m.items() if k != "pk_attribute"},
}
@pytest.mark.parametrize("name", [
    n for n in sorted(META_SHAPES)])
def test_meta_json_of_the_wrong_shape_is_a_dynafile_error(tmp_path, name):
    path, _ = _table_with_one_item(str(tmp_path))
    meta = META_SHAPES[name](_meta(path))
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump(meta, f)
    with pytest.raises(DynafileError):
        db = Dynafile(path)
        _close(db)
    assert not check_path(path).ok


# ------------------------------------------------ check() and the command line




def _rich_table(path: str) -> Dynafile:
    db = Dynafile(path, durability="normal", gsis=[GSI("by_g", "g", "SK"),
                                                  GSI("keys", "g", projection="KEYS_ONLY")],
                  lsis=[LSI("by_v", "v")])
    for i in range(30):
        db.put_item(item={"PK": f"p{i % 4}", "SK": f"{i:03d}", "g": f"g{i % 3}", "v": i})
    db.checkpoint()
    db.put_item(item={"PK": "p9", "SK": "x", "v": 99})  # no g: not in the GSIs
    db.delete_item(key={"PK": "p0", "SK": "000"})
    db.transact_write([{"put": {"item": {"PK": "t", "SK": "1", "g": "g0"}}}], token="tok-1")
    return db


def test_check_on_a_sound_table(tmp_path):
    db = _rich_table(str(tmp_path / "db"))
    report = db.check()
    assert report.ok, str(report)
    assert report.problems == []
    stats = report.stats
    assert stats["items"] == 31 and stats["partitions"] == 6
    assert stats["index_entries"] == {"by_g": 30, "keys": 30, "by_v": 30}
    assert stats["segments"] == 1 and stats["records"] == stats["lsn"] > stats["checkpoint_lsn"]
    assert stats["replayed_records"] == 3
    text = str(report)
    assert text.startswith(f"dynafile check {db.path}: OK") and "index by_g: 30 entries" in text
    db.close()
    assert check_path(str(tmp_path / "db")).ok


def test_check_finds_an_index_that_disagrees(tmp_path):
    path = str(tmp_path / "db")
    db = _rich_table(path)
    db.close()
    shutil.rmtree(os.path.join(path, "_gsi-by_g", "_partitions", partition_digest("g1")))
    report = check_path(path)
    assert not report.ok
    assert any("index 'by_g' lacks the entry" in p for p in report.problems), report.problems
    assert sum("by_g" in p for p in report.problems) <= 21  # listed, then summed up


def test_check_finds_an_index_entry_no_item_implies(tmp_path):
    path = str(tmp_path / "db")
    db = _rich_table(path)
    engine(db).write(lambda: ([wal.Op("g2", ("zzz", "p1", "nope"), pickle.dumps({"x": 1}), None,
                                      0, "g:by_g")], None))
    report = db.check()
    assert any("holds entry" in p and "no table item implies" in p for p in report.problems)
    assert any(p.startswith(f"wal/{segment_name(1)} at offset") for p in report.problems)
    db.close()


def test_check_finds_key_types_meta_json_does_not_fix(tmp_path):
    path = str(tmp_path / "db")
    _rich_table(path).close()
    meta = _meta(path)
    meta["key_types"]["SK"] = "N"
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump(meta, f)
    report = check_path(path)
    assert any("sort key" in p and "meta.json fixes 'SK' to 'N'" in p for p in report.problems)


def test_check_finds_a_partition_in_the_wrong_directory(tmp_path):
    path = str(tmp_path / "db")
    _rich_table(path).close()
    parts = os.path.join(path, "_partitions")
    os.rename(os.path.join(parts, partition_digest("p1")), os.path.join(parts, "0" * 32))
    report = check_path(path)
    assert any(p.startswith(f"_partitions/{'0' * 32}/data.pickle at offset 16: partition key 'p1' "
                            "does not belong") for p in report.problems), report.problems


def test_check_finds_unsorted_keys_and_a_bad_marker(tmp_path):
    path, digest = _table_with_one_item(str(tmp_path))
    target = os.path.join(path, "_partitions", digest, "data.pickle")
    items = [pickle.dumps({"PK": "a", "SK": sk}) for sk in ("2", "1")]
    with open(target, "wb") as f:
        f.write(_partition_bytes(pickle.dumps((1, 1, "a", ["2", "1"], items))))
    marker = os.path.join(path, "wal", "checkpoint.json")
    data = json.loads(open(marker).read())
    data["offset"] += 1
    with open(marker, "w") as f:
        json.dump(data, f)
    problems = check_path(path).problems
    assert any("sort keys out of order" in p for p in problems), problems
    assert any(p.startswith("wal/checkpoint.json at offset 0: offset") and "not a record boundary"
               in p for p in problems), problems


def test_check_finds_a_gap_in_the_log(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    lsn = engine(db).lsn
    abandon(db)
    segment = os.path.join(path, "wal", segment_name(1))
    start = os.path.getsize(segment)
    with open(segment, "ab") as f:
        f.write(wal.encode_frame(lsn + 2, wal.WRITE, wal.encode_write([])))
    problems = check_path(path).problems
    assert f"wal/{segment_name(1)} at offset {start}: log sequence jumps from {lsn} to " \
           f"{lsn + 2}" in problems


def test_check_warns_about_a_torn_tail_and_changes_nothing(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    abandon(db)
    segment = os.path.join(path, "wal", segment_name(1))
    frame = wal.encode_frame(99, wal.WRITE, wal.encode_write([wal.Op("a", "2", b"x", None)]))
    with open(segment, "ab") as f:
        f.write(frame[:20])
    before = snapshot_files(path)
    report = check_path(path)
    assert report.ok and any("torn tail of 20 bytes" in w for w in report.warnings)
    assert cli_main(["check", path]) == 0
    assert cli_main(["scan", path]) == 0  # read-only: the tail stays for the next writer
    assert snapshot_files(path) == before


def test_check_compares_this_process_view(tmp_path):
    db = _rich_table(str(tmp_path / "db"))
    db.get_item(key={"PK": "p1", "SK": "001"})  # now cached
    part = engine(db).partition(partition_digest("p1"), "p1")
    part.items["001"] = pickle.dumps({"PK": "p1", "SK": "001", "g": "g1", "v": -1})
    report = db.check()
    assert any("this process's view of the partition differs" in p for p in report.problems)
    abandon(db)


def test_cli(tmp_path, capsys):
    path = str(tmp_path / "db")
    db = _rich_table(path)
    db.close()
    before = snapshot_files(path)
    assert cli_main(["check", path]) == 0
    assert "OK" in capsys.readouterr().out
    assert cli_main(["get", path, "--pk", "p1", "--sk", "001"]) == 0
    assert json.loads(capsys.readouterr().out) == {"PK": "p1", "SK": "001", "g": "g1", "v": 1}
    assert cli_main(["get", path, "--pk", "p1", "--sk", "nope"]) == 1
    assert capsys.readouterr().out.strip() == "null"
    assert cli_main(["get", path, "--pk", "p1"]) == 2
    assert "give --sk" in capsys.readouterr().err
    assert cli_main(["scan", path, "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(isinstance(json.loads(line), dict) for line in lines)
    assert cli_main(["scan", path]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 31
    assert cli_main(["info", path]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["meta"]["pk_attribute"] == "PK" and info["counts"]["items"] == 31
    assert info["counts"]["indexes"]["by_g"] == {"kind": "GSI", "state": "ACTIVE", "entries": 30}
    assert cli_main(["scan", path, "--limit", "x"]) == 2
    assert cli_main(["check", str(tmp_path / "nothing")]) == 2
    assert cli_main(["get", str(tmp_path / "nothing"), "--pk", "a"]) == 2
    os.mkdir(tmp_path / "empty")
    assert cli_main(["info", str(tmp_path / "empty")]) == 2
    assert cli_main([]) == 2
    assert snapshot_files(path) == before  # the command never writes


def test_cli_number_and_bytes_keys_and_json_output(tmp_path, capsys):
    from decimal import Decimal

    path = str(tmp_path / "n")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": 7, "SK": Decimal("1.5"), "d": Decimal("2.25"), "b": b"\x00",
                      "s": {"x"}})
    db.close()
    assert cli_main(["get", path, "--pk", "7", "--sk", "1.50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["PK"] == 7 and out["d"] == "2.25" and out["b"] == "b'\\x00'"
    assert cli_main(["get", path, "--pk", "seven", "--sk", "1"]) == 2
    path = str(tmp_path / "b")
    db = Dynafile(path, durability="normal", sk_attribute=None)
    db.put_item(item={"PK": b"\x01\x02", "v": 1})
    db.close()
    assert cli_main(["get", path, "--pk", "base64:AQI="]) == 0
    assert json.loads(capsys.readouterr().out)["v"] == 1
    assert cli_main(["get", path, "--pk", "x", "--sk", "y"]) == 2


def test_cli_check_on_a_table_that_cannot_open(tmp_path, capsys):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    for i in range(4):
        db.put_item(item={"PK": "a", "SK": str(i), "pad": "z" * 40})
    abandon(db)
    segment = os.path.join(path, "wal", segment_name(1))
    data = bytearray(open(segment, "rb").read())
    data[30] ^= 1
    open(segment, "wb").write(bytes(data))
    assert cli_main(["scan", path]) == 2  # the table cannot be opened...
    assert "CorruptFileError" in capsys.readouterr().err
    assert cli_main(["check", path]) == 1  # ...but it can be checked
    assert f"wal/{segment_name(1)} at offset 0" in capsys.readouterr().out
