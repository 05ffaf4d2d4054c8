"""Corrupt and hostile files.

Every kind of file of a database (log segment, table partition file,
``meta.json``, ``data/MANIFEST``, global and local index partition file) is
truncated and has a bit flipped at 30 seeded places each. Opening the copy
and reading everything (every key, a scan, every index) must then either
raise :class:`CorruptFileError` naming the file, or give exactly the data
the intact bytes hold (for the log: the state after the last valid record);
never a raw exception, never wrong data. ``check()`` must notice what the
engine tolerates (a flip in the checkpointed part of the log, say).

Hostile files carry a valid checksum around crafted content (rebuilt with
the real encoders: ``encode_part``, ``Manifest.encode``, ``encode_frame``):
pickles that would run code (a canary file must not appear), malformed
partition bodies, manifests and item bytes, and ``meta.json`` files of the
wrong shape.

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
from collections.abc import Callable
from typing import Any

import pytest
from conftest import abandon, engine, snapshot_files
from sortedcontainers import SortedDict

from dynafile import (
    GSI,
    LSI,
    CorruptFileError,
    Database,
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
from dynafile.storage.manifest import MIN_BOUND, Manifest, Span, collection_start
from dynafile.storage.partition import decode_index, decode_part, encode_part

N_PLACES = 30
SEGMENT = os.path.join("log", segment_name(1))
MANIFEST = os.path.join("data", "MANIFEST")
Key = tuple[str, str]
State = dict[Key, dict]


# ------------------------------------------------------------ file helpers


def read_manifest(path: str) -> Manifest:
    target = os.path.join(path, MANIFEST)
    with open(target, "rb") as f:
        return Manifest.decode(f.read(), target)


def write_manifest(path: str, manifest: Manifest) -> None:
    with open(os.path.join(path, MANIFEST), "wb") as f:
        f.write(manifest.encode())


def raw_manifest(path: str, body: Any) -> None:
    """Write ``data/MANIFEST`` around a pickle of ``body``, with a valid checksum."""
    data = pickle.dumps(body, 5)
    with open(os.path.join(path, MANIFEST), "wb") as f:
        f.write(b"DYM2" + struct.pack("<IQ", zlib.crc32(data), len(data)) + data)


def raw_part(body: Any, *, compress: bool = True, flags: int | None = None) -> bytes:
    """Partition file bytes around a pickle of ``body`` (or ``body`` itself when
    it is bytes), with a valid checksum, compressed as the engine writes them."""
    data = body if isinstance(body, bytes) else pickle.dumps(body, 5)
    if compress:
        data = zlib.compress(data, 1)
    if flags is None:
        flags = int(compress)
    return b"DYP2" + struct.pack("<BIQ", flags, zlib.crc32(data), len(data)) + data


def table_id(path: str, table: str) -> int:
    return _meta(path)["tables"][table]["id"]


def space_of(path: str, table: str, index: str | None = None) -> str:
    """The space of ``table``'s items, or of its index ``index``, from meta.json."""
    entry = _meta(path)["tables"][table]
    if index is None:
        return f"t{entry['id']}"
    definition = entry["gsis"].get(index) or entry["lsis"][index]
    return f"t{entry['id']}i{definition['id']}"


def span_file(path: str, space: str, span: Span) -> str:
    return os.path.join(path, "data", space, span.file)


def covering(path: str, space: str, pk: Any) -> tuple[int, Span]:
    """The (first) partition of ``space`` holding collection ``pk``, and its index."""
    manifest = read_manifest(path)
    span = manifest.covering(space, partition_digest(pk))[0]
    return manifest.spaces[space].index(span), span


def read_span(path: str, space: str, span: Span) -> tuple[int, list[Any]]:
    target = span_file(path, space, span)
    with open(target, "rb") as f:
        return decode_part(f.read(), target)


def rewrite_span(path: str, space: str, index: int,
                 edit: Callable[[list[tuple[str, Any, Any]]], list[tuple[str, Any, Any]]]
                 ) -> str:
    """Rewrite partition ``index`` of ``space`` in place with ``edit(parts)``
    (``(digest, pk, items)`` in file order), encoded by ``encode_part``, and fix
    its size and count in the manifest; return the file's path."""
    manifest = read_manifest(path)
    span = manifest.spaces[space][index]
    lsn, parts = read_span(path, space, span)
    parts = edit([(p.digest, p.pk, SortedDict({k: bytes(v) for k, v in p.items.items()}))
                  for p in parts])
    target = span_file(path, space, span)
    with open(target, "wb") as f:
        f.write(encode_part(lsn, parts))
    size = sum(len(v) for _, _, items in parts for v in items.values())
    count = sum(len(items) for _, _, items in parts)
    spans = list(manifest.spaces[space])
    spans[index] = span._replace(size=size, item_count=count)
    manifest.set_spans(space, spans)
    write_manifest(path, manifest)
    return target


def rel(path: str, root: str) -> str:
    return os.path.relpath(path, root)


# --------------------------------------------------------------- the table


class Pristine:
    """A table split over several partition files per space, checkpointed,
    with a log after the checkpoint, and the state after every record of
    that log."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, "pristine")
        db = Dynafile(self.path, durability="normal", gsis=[GSI("by_g", "g", "SK")],
                      lsis=[LSI("by_v", "v")], partition_bytes=4096)
        for i in range(48):
            db.put_item(item={"PK": f"p{i % 6}", "SK": f"{i:03d}", "g": f"g{i % 3}", "v": i,
                              "pad": "x" * (i * 7 % 50 + 30)})
        db.checkpoint()
        self.states: list[State] = [self._state(db)]
        writes = [
            lambda: db.put_item(item={"PK": "p0", "SK": "100", "g": "g1", "v": 100}),
            lambda: db.put_item(item={"PK": "p1", "SK": "001", "g": "g2", "v": 1, "new": True}),
            lambda: db.delete_item(key={"PK": "p2", "SK": "002"}),
            lambda: db.update_item(key={"PK": "p3", "SK": "003"}, set={"v": 303}),
            lambda: self._batch(db),
            lambda: db.put_item(item={"PK": "p6", "SK": "000", "v": 7}),
            lambda: db.put_item(item={"PK": "p0", "SK": "101", "g": "g0", "v": 101}),
            lambda: db.delete_item(key={"PK": "p1", "SK": "007"}),
            lambda: db.put_item(item={"PK": "p2", "SK": "006", "g": "g0", "v": 6,
                                      "pad": "y" * 200}),
        ]
        for write in writes:
            write()
            self.states.append(self._state(db))
        self.keys = sorted({key for state in self.states for key in state})
        abandon(db)  # keep the log after the checkpoint
        self.segment = os.path.join(self.path, SEGMENT)
        manifest = read_manifest(self.path)
        assert manifest.segment == 1
        self.marker_offset = manifest.offset
        frames, stop, _ = wal.parse_frames(open(self.segment, "rb").read())
        assert stop is None
        self.record_ends = [f.end for f in frames if f.start >= self.marker_offset]
        assert len(self.record_ends) == len(writes)
        table, gsi, lsi = (space_of(self.path, "pristine", index)
                           for index in (None, "by_g", "by_v"))
        assert all(len(manifest.spaces[s]) > 1 for s in (table, gsi, lsi))
        self.files = {
            "log": self.segment,
            "partition": span_file(self.path, table, covering(self.path, table, "p1")[1]),
            "meta": os.path.join(self.path, "meta.json"),
            "manifest": os.path.join(self.path, MANIFEST),
            "gsi": span_file(self.path, gsi, covering(self.path, gsi, "g2")[1]),
            "lsi": span_file(self.path, lsi, covering(self.path, lsi, "p1")[1]),
        }
        # the partition keys whose items a damaged table partition file makes
        # unreadable: every key in the file's range, in the file or only in the log
        victim_span = covering(self.path, table, "p1")[1]
        self.victim_pks = {pk for pk, _ in self.keys
                           if victim_span in manifest.covering(table, partition_digest(pk))}
        _, parts = read_span(self.path, table, victim_span)
        assert {p.pk for p in parts} <= self.victim_pks
        assert "p1" in self.victim_pks and len(self.victim_pks) < 6
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
        if _names(out.open_error, victim):
            return None
        return f"open raised {out.open_error!r}, which does not name {victim}"
    if kind == "manifest":
        return "opened with a damaged manifest"  # it has a checksum: never silently read
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
    if failed and (kind != "partition" or any(key[0] not in pristine.victim_pks
                                              for key in failed)):
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


DAMAGE = [(kind, how) for kind in ("log", "partition", "meta", "manifest", "gsi", "lsi")
          for how in ("flip", "truncate")]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind,how", DAMAGE)
def test_damaged_file_is_reported_or_recovered(pristine, tmp_path, kind, how):
    size = os.path.getsize(pristine.files[kind])
    places = _places(size, f"{kind}-{how}")
    if kind == "log":  # as many again in the records after the checkpoint
        start = pristine.marker_offset
        places = sorted(set(places) | {start + p for p in _places(size - start,
                                                                   f"{kind}-{how}-after")})
    failures = []
    for n, where in enumerate(places):
        if kind == "log" and how == "truncate" and where < pristine.marker_offset:
            continue  # see test_log_truncated_before_the_checkpoint
        bit = random.Random(f"{kind}-{where}").randrange(8)
        dest = str(tmp_path / f"{n}")
        victim = mutate(pristine, dest, kind, how, where, bit)
        report = check_path(dest)
        before = snapshot_files(dest)
        allowed = _log_states(pristine, how, where) if kind == "log" else [
            len(pristine.states) - 1]
        out = read_everything(dest, pristine)
        problem = judge(out, pristine, kind, victim, allowed)
        noticed = any(rel(victim, dest) in line for line in report.problems + report.warnings)
        if problem is None and kind != "meta" and not noticed:
            if not (kind == "log" and how == "truncate" and where in pristine.record_ends):
                problem = f"check_path did not notice: {report}"
        if problem is None and out.open_error is not None and kind != "meta":
            after = snapshot_files(dest)
            changed = sorted(p for p in set(before) | set(after)
                             if before.get(p) != after.get(p))
            if changed:
                problem = f"an open that failed changed files: {changed}"
        if problem is None and out.open_error is None and kind != "meta":
            final = isinstance(out.report, BaseException) or out.report.ok
            if kind in ("partition", "gsi", "lsi") and final:
                problem = "check() on the open table did not notice"
            if kind == "log" and how == "flip" and where < pristine.marker_offset and final:
                problem = "check() did not notice a flip in the checkpointed log"
        if problem is not None:
            failures.append(f"{how} at {where} (bit {bit}): {problem}")
        shutil.rmtree(dest)
    assert not failures, f"{len(failures)} of {len(places)} failed:\n" + "\n".join(failures[:10])


def test_log_truncated_before_the_checkpoint(pristine, tmp_path):
    failures = []
    for n, where in enumerate(_places(pristine.marker_offset, "log-before-marker")):
        dest = str(tmp_path / f"{n}")
        victim = mutate(pristine, dest, "log", "truncate", where)
        out = read_everything(dest, pristine)
        problem = judge(out, pristine, "log", victim, [0])
        if problem:
            failures.append(f"truncate at {where}: {problem}")
        report = check_path(dest)
        assert not report.ok
        assert any(p.startswith((SEGMENT, MANIFEST)) for p in report.problems)
    assert not failures, "\n".join(failures[:5])


def test_flipped_manifest_header(pristine, tmp_path):
    """Every bit of the manifest's header (magic, checksum, length): the open
    refuses, naming the manifest, and changes nothing; check reports it."""
    failures = []
    for where in range(16):
        for bit in range(8):
            dest = str(tmp_path / f"{where}-{bit}")
            victim = mutate(pristine, dest, "manifest", "flip", where, bit)
            before = snapshot_files(dest)
            report = check_path(dest)
            out = read_everything(dest, pristine)
            problem = judge(out, pristine, "manifest", victim, [len(pristine.states) - 1])
            if problem is None and not any(p.startswith(MANIFEST) for p in report.problems):
                problem = f"check_path did not report the manifest: {report.problems}"
            if problem is None and snapshot_files(dest) != before:
                problem = "the failed open changed files"
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
    assert any(line.startswith(f"{SEGMENT} at offset {pristine.record_ends[2]}")
               for line in report.problems), report.problems
    assert "problem" in str(report) and segment_name(1) in str(report)
    assert cli_main(["check", dest]) == 1
    with pytest.raises(CorruptFileError) as info:
        Dynafile(dest)
    assert info.value.path == os.path.join(dest, SEGMENT)
    assert info.value.offset == pristine.record_ends[2]


# -------------------------------------------------------- crafted manifests


def _manifest_body(m: Manifest, **change: Any) -> tuple:
    """The tuple ``Manifest.encode`` pickles, with fields changed."""
    fields = {"format": 2, "lsn": m.lsn, "segment": m.segment, "offset": m.offset,
              "next_file": m.next_file, "spaces": _spaces(m)}
    fields.update(change)
    return tuple(fields.values())


def _spaces(m: Manifest) -> dict[str, list[tuple]]:
    return {s: [tuple(span) for span in spans] for s, spans in m.spaces.items()}


def _table_spans(m: Manifest, t: str, edit: Callable[[list[tuple]], list[tuple]]) -> tuple:
    """The manifest's body with the partitions of space ``t`` edited."""
    spaces = _spaces(m)
    return _manifest_body(m, spaces={**spaces, t: edit(spaces[t])})


MANIFESTS: dict[str, Callable[[Manifest, str, int], Any]] = {
    # each takes (manifest, table space, log size) and returns the body to pickle
    "not-a-tuple": lambda m, t, size: [1, 2],
    "format-3": lambda m, t, size: _manifest_body(m, format=3),
    "format-1-marker": lambda m, t, size: {"lsn": m.lsn, "segment": 1, "offset": m.offset},
    "lsn-str": lambda m, t, size: _manifest_body(m, lsn=str(m.lsn)),
    "negative-offset": lambda m, t, size: _manifest_body(m, offset=-1),
    "spaces-not-a-dict": lambda m, t, size: _manifest_body(m, spaces=[t]),
    "bad-space-name": lambda m, t, size: _manifest_body(
        m, spaces={**_spaces(m), "../t1": _spaces(m)[t]}),
    "file-outside-its-space": lambda m, t, size: _table_spans(
        m, t, lambda spans: [(MIN_BOUND, "../../meta.json", m.lsn, 0, 0)]),
    "span-of-3": lambda m, t, size: _table_spans(m, t, lambda spans: [(MIN_BOUND, "x", 1)]),
    "first-span-not-at-the-start": lambda m, t, size: _table_spans(
        m, t, lambda spans: [(collection_start("0" * 32), *spans[0][1:]), *spans[1:]]),
    "spans-out-of-order": lambda m, t, size: _table_spans(
        m, t, lambda spans: [spans[0], spans[2], spans[1], *spans[3:]]),
    "file-newer-than-manifest": lambda m, t, size: _manifest_body(m, lsn=m.lsn - 1),
    "segment-missing": lambda m, t, size: _manifest_body(m, segment=2),
    "offset-not-a-boundary": lambda m, t, size: _manifest_body(m, offset=m.offset + 1),
    "lsn-of-another-record": lambda m, t, size: _manifest_body(m, lsn=m.lsn + 1),
    "offset-beyond-the-log": lambda m, t, size: _manifest_body(m, offset=size + 10),
    "lsn-beyond-the-log": lambda m, t, size: _manifest_body(m, lsn=m.lsn + 100, offset=size),
}
#: Manifests the engine opens as they are: a position at the very end of the
#: log with an lsn the log never reached. Telling would mean reading the
#: segment from its start at every open; the partition files are read as
#: they are and the records after the true checkpoint are not replayed.
TRUSTED_MANIFESTS = {"lsn-beyond-the-log"}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_crafted_manifest_with_valid_checksum(pristine, tmp_path, name):
    dest = str(tmp_path / "d")
    shutil.copytree(pristine.path, dest)
    table = space_of(dest, "pristine")
    raw_manifest(dest, MANIFESTS[name](read_manifest(dest), table,
                                       os.path.getsize(os.path.join(dest, SEGMENT))))
    report = check_path(dest)
    assert any(p.startswith(MANIFEST) for p in report.problems), report.problems
    before = snapshot_files(dest)
    out = read_everything(dest, pristine)
    raw = [e for e in [out.open_error, out.scan, out.report, *out.items.values()] if _raw(e)]
    assert not raw, raw[0]
    if name in TRUSTED_MANIFESTS:
        return  # only check can tell (see TRUSTED_MANIFESTS)
    assert _names(out.open_error, os.path.join(dest, MANIFEST), os.path.join(dest, SEGMENT)), \
        out.open_error
    assert snapshot_files(dest) == before  # refused: nothing was deleted or cut


def test_manifest_missing_with_the_whole_log_is_recovered(pristine, tmp_path):
    dest = str(tmp_path / "d")
    shutil.copytree(pristine.path, dest)
    os.remove(os.path.join(dest, MANIFEST))
    report = check_path(dest)  # the log from lsn 1 holds everything
    assert report.ok, str(report)
    assert report.stats["checkpoint_lsn"] == 0 and report.stats["partitions"] == 0
    assert len(report.warnings) == report.stats["partition_files"] > 3
    assert all("not named by the manifest" in w for w in report.warnings)
    out = read_everything(dest, pristine)
    assert judge(out, pristine, "log", os.path.join(dest, SEGMENT),
                 [len(pristine.states) - 1]) is None
    assert out.report.ok
    assert not any(p.endswith(".part") for p in snapshot_files(dest))  # orphans removed


def test_manifest_missing_after_the_log_was_trimmed_is_refused(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal", retention=0)
    for i in range(5):
        db.put_item(item={"PK": "a", "SK": str(i)})
    db.checkpoint()  # retention 0: the log before the checkpoint goes
    db.put_item(item={"PK": "a", "SK": "x"})
    abandon(db)
    assert not os.path.exists(os.path.join(path, SEGMENT))
    os.remove(os.path.join(path, MANIFEST))
    report = check_path(path)
    assert any("no manifest, and the log starts at lsn" in p for p in report.problems)
    before = snapshot_files(path)
    try:
        with pytest.raises(CorruptFileError):
            _close(Dynafile(path))
    finally:
        assert snapshot_files(path) == before  # at least: no partition file deleted


# ------------------------------------------------------------------ hostile


def _table_with_one_item(root: str, **kwargs: Any) -> tuple[str, str]:
    """A table ``default`` holding one item, closed (checkpointed): its path
    and its table partition file."""
    path = os.path.join(root, "db")
    db = Dynafile(path, durability="normal", gsis=[GSI("by_g", "g")],
                  lsis=[LSI("by_v", "v")], **kwargs)
    db.put_item(item={"PK": "a", "SK": "1", "g": "x", "v": 1})
    db.close()
    table = space_of(path, "default")
    (span,) = read_manifest(path).spaces[table]
    return path, span_file(path, table, span)


def _one_part(path: str, space: str, values: Callable[[bytes], bytes]) -> str:
    """Rewrite the single partition of ``space`` with every item's bytes
    replaced by ``values(old)``."""
    return rewrite_span(path, space, 0, lambda parts: [
        (d, pk, SortedDict({k: values(v) for k, v in items.items()})) for d, pk, items in parts])


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _spy(*args):  # reached only if the allowlist is bypassed
    _spy.calls.append(args)
    return {"PK": "a", "SK": "1"}


_spy.calls = []  # type: ignore[attr-defined]


@pytest.mark.parametrize("place", ["body", "collection", "pk", "item", "gsi", "lsi",
                                   "manifest"])
def test_crafted_pickle_in_a_data_file_runs_nothing(tmp_path, place):
    canary = tmp_path / "canary"
    evil = _Evil(f"touch {canary}")
    path, target = _table_with_one_item(str(tmp_path))
    digest = partition_digest("a")
    if place == "body":  # the partition body itself reduces to os.system
        open(target, "wb").write(raw_part(evil))
    elif place == "collection":
        open(target, "wb").write(raw_part((2, 1, [evil])))
    elif place == "pk":
        open(target, "wb").write(raw_part((2, 1, [(digest, evil, ["1"], [b"x"])])))
    elif place == "item":  # an item's bytes inside a well-formed partition
        target = _one_part(path, space_of(path, "default"),
                           lambda old: pickle.dumps({"PK": "a", "SK": "1", "x": evil}))
    elif place in ("gsi", "lsi"):
        index = "by_g" if place == "gsi" else "by_v"
        target = _one_part(path, space_of(path, "default", index),
                           lambda old: pickle.dumps({"x": evil}))
    else:
        target = os.path.join(path, MANIFEST)
        raw_manifest(path, evil)
    if place == "manifest":
        with pytest.raises(UnsafeDataError) as info:
            Dynafile(path)
        assert info.value.path == target
    else:
        db = Dynafile(path)
        with pytest.raises(UnsafeDataError) as info:
            if place == "gsi":
                list(db.query("x", index="by_g"))
            elif place == "lsi":
                list(db.query("a", index="by_v"))
            else:
                db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == target or place in ("item", "gsi", "lsi")
        with pytest.raises(UnsafeDataError):
            if place in ("gsi", "lsi"):
                list(db.scan(index="by_g" if place == "gsi" else "by_v"))
            else:
                list(db.scan())
        report = db.check()
        assert not report.ok and any("refus" in p for p in report.problems), report.problems
        assert any(p.startswith(rel(target, path)) for p in report.problems), report.problems
        _close(db)
    report = check_path(path)
    assert not report.ok and any("not allowlisted" in p for p in report.problems)
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
    with pytest.raises(UnsafeDataError, match="not allowlisted"):  # as a partition body
        decode_part(raw_part(data), "f")
    assert not os.path.exists(canary)


def test_extension_opcode_does_not_bypass_the_allowlist():
    copyreg.add_extension(__name__, "_spy", 0xF0)
    try:
        data = b"\x80\x02\x82\xf0)R."  # PROTO 2, EXT1 240, EMPTY_TUPLE, REDUCE, STOP
        _spy.calls.clear()
        with pytest.raises(UnsafeDataError):
            PickleSerializer().loads(data)
        with pytest.raises(UnsafeDataError):
            decode_part(raw_part(data), "f")
    finally:
        copyreg.remove_extension(__name__, "_spy", 0xF0)
        assert _spy.calls == [], "the stored pickle called a function the allowlist refuses"


def test_json_table_loads_no_code(tmp_path):
    canary = tmp_path / "canary"
    path, _ = _table_with_one_item(str(tmp_path), serializer="json")
    evil = pickle.dumps(_Evil(f"touch {canary}"))
    _one_part(path, space_of(path, "default"), lambda old: evil)
    db = Dynafile(path, serializer="json")
    with pytest.raises(CorruptFileError) as info:
        db.get_item(key={"PK": "a", "SK": "1"})
    assert not isinstance(info.value, UnsafeDataError)  # JSON never unpickles
    assert "do not decode" in str(info.value)
    report = db.check()
    assert any("item data cannot be decoded" in p for p in report.problems), report.problems
    _close(db)
    assert not canary.exists()


def _d(pk: str = "a") -> str:
    return partition_digest(pk)


BODIES: dict[str, Callable[[], bytes]] = {
    # the whole file, each with a valid checksum
    "not-a-tuple": lambda: raw_part([1]),
    "v1-snapshot": lambda: raw_part((1, 1, "a", ["1"], [b"x"])),
    "unknown-format": lambda: raw_part((3, 1, [(_d(), "a", ["1"], [b"x"])])),
    "lsn-not-int": lambda: raw_part((2, "1", [(_d(), "a", ["1"], [b"x"])])),
    "collections-not-a-list": lambda: raw_part((2, 1, ((_d(), "a", ["1"], [b"x"]),))),
    "collection-not-a-tuple": lambda: raw_part((2, 1, [[_d(), "a", ["1"], [b"x"]]])),
    "collection-of-3": lambda: raw_part((2, 1, [(_d(), "a", ["1"])])),
    "digest-not-str": lambda: raw_part((2, 1, [(5, "a", ["1"], [b"x"])])),
    "mixed-type-keys": lambda: raw_part((2, 1, [(_d(), "a", ["1", 2], [b"x", b"y"])])),
    "keys-not-a-list": lambda: raw_part((2, 1, [(_d(), "a", 5, [b"x"])])),
    "values-not-bytes": lambda: raw_part((2, 1, [(_d(), "a", ["1"], [5])])),
    "values-str": lambda: raw_part((2, 1, [(_d(), "a", ["1"], ["zz"])])),
    "lengths-differ": lambda: raw_part((2, 1, [(_d(), "a", ["1", "2"], [b"x"])])),
    "repeated-sort-key": lambda: raw_part((2, 1, [(_d(), "a", ["1", "1"], [b"x", b"y"])])),
    "collections-out-of-order": lambda: raw_part((2, 1, sorted(
        [(_d(), "a", ["1"], [b"x"]), (_d("b"), "b", ["1"], [b"y"])], reverse=True))),
    "collection-repeated": lambda: raw_part((2, 1, [(_d(), "a", ["1"], [b"x"]),
                                                    (_d(), "a", ["2"], [b"y"])])),
    "unknown-flags": lambda: raw_part((2, 1, []), flags=3),
    "not-zlib": lambda: raw_part((2, 1, [(_d(), "a", ["1"], [b"x"])]), compress=False,
                                 flags=1),
    "trailing-garbage-in-zlib": lambda: raw_part(
        zlib.compress(pickle.dumps((2, 1, []), 5))[:-2], compress=False, flags=1),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_malformed_partition_body_with_valid_checksum_is_corrupt(tmp_path, name):
    path, target = _table_with_one_item(str(tmp_path))
    with open(target, "wb") as f:
        f.write(BODIES[name]())
    db = Dynafile(path)
    try:
        with pytest.raises(CorruptFileError) as info:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == target
        with pytest.raises(CorruptFileError):
            list(db.scan())
    finally:
        _close(db)
    report = check_path(path)
    assert not report.ok
    assert any(p.startswith(rel(target, path)) for p in report.problems), report.problems


ITEM_BYTES = {
    "not-a-pickle": b"garbage",
    "truncated": pickle.dumps({"PK": "a", "SK": "1"})[:-3],
    "empty": b"",
    "unregistered-extension": b"\x80\x02\x82\xf0)R.",
    "not-a-dict": pickle.dumps([1, 2]),
}


@pytest.mark.parametrize("name", sorted(ITEM_BYTES))
def test_malformed_item_bytes_with_valid_checksum_are_corrupt(tmp_path, name):
    path, _ = _table_with_one_item(str(tmp_path))
    _one_part(path, space_of(path, "default"), lambda old: ITEM_BYTES[name])
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
    path, _ = _table_with_one_item(str(tmp_path))
    target = _one_part(path, space_of(path, "default"), lambda old: ITEM_BYTES[name])
    report = check_path(path)
    assert not report.ok
    assert any(p.startswith(f"{rel(target, path)}: item") for p in report.problems), \
        report.problems


def _meta(path: str) -> dict:
    with open(os.path.join(path, "meta.json")) as f:
        return json.load(f)


def _table(m: dict, **change: Any) -> dict:
    """``m`` with table ``default``'s entry changed (``None`` removes a key)."""
    m = json.loads(json.dumps(m))
    entry = m["tables"]["default"]
    for key, value in change.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    return m


def _gsi(m: dict, **change: Any) -> dict:
    return _table(m, gsis={"by_g": {**m["tables"]["default"]["gsis"]["by_g"], **change}})


META_SHAPES: dict[str, Callable[[dict], Any]] = {
    "array": lambda m: [1],
    "not-json": lambda m: "{",
    "tables-list": lambda m: {**m, "tables": ["default"]},
    "table-not-an-object": lambda m: {**m, "tables": {"default": 5}},
    "no-next-table-id": lambda m: {k: v for k, v in m.items() if k != "next_table_id"},
    "table-id-not-below-next": lambda m: {**m, "next_table_id": 1},
    "table-id-str": lambda m: _table(m, id="1"),
    "dropped-list": lambda m: {**m, "dropped": [1]},
    "key-types-str": lambda m: _table(m, key_types="S"),
    "key-types-list": lambda m: _table(m, key_types=["S"]),
    "key-type-unknown": lambda m: _table(m, key_types={"PK": "X"}),
    "gsis-list": lambda m: _table(m, gsis=["by_g"]),
    "gsi-not-an-object": lambda m: _table(m, gsis={"by_g": 5}),
    "gsi-without-pk": lambda m: _table(m, gsis={"by_g": {"state": "ACTIVE", "id": 2}}),
    "gsi-without-id": lambda m: _table(m, gsis={"by_g": {
        k: v for k, v in m["tables"]["default"]["gsis"]["by_g"].items() if k != "id"}}),
    "index-id-repeated": lambda m: _gsi(m, id=m["tables"]["default"]["lsis"]["by_v"]["id"]),
    "include-str": lambda m: _gsi(m, projection="INCLUDE", include="abc"),
    "gsi-bad-projection": lambda m: _gsi(m, projection="X"),
    "gsi-bad-name": lambda m: _table(m, gsis={"by g!": m["tables"]["default"]["gsis"]["by_g"]}),
    "lsis-str": lambda m: _table(m, lsis="x"),
    "pk-attribute-int": lambda m: _table(m, pk_attribute=5),
    "no-pk-attribute": lambda m: _table(m, pk_attribute=None),
    "no-sk-attribute": lambda m: _table(m, sk_attribute=None),
    "sk-attribute-is-pk": lambda m: _table(m, sk_attribute="PK"),
    "serializer-int": lambda m: _table(m, serializer=5),
    "ttl-mode-unknown": lambda m: _table(m, ttl_mode="never"),
    "format-version-str": lambda m: {**m, "format_version": "2"},
    "format-version-3": lambda m: {**m, "format_version": 3},
    "format-version-1": lambda m: {**m, "format_version": 1},
    "no-format-version": lambda m: {k: v for k, v in m.items() if k != "format_version"},
}
@pytest.mark.parametrize("name", sorted(META_SHAPES))
def test_meta_json_of_the_wrong_shape_is_a_dynafile_error(tmp_path, name):
    path, _ = _table_with_one_item(str(tmp_path))
    target = os.path.join(path, "meta.json")
    meta = META_SHAPES[name](_meta(path))
    with open(target, "w") as f:
        f.write(meta if isinstance(meta, str) else json.dumps(meta))
    before = snapshot_files(path)
    try:
        with pytest.raises(DynafileError) as info:
            _close(Dynafile(path))
        assert getattr(info.value, "path", None) == target or target in str(info.value), \
            repr(info.value)
        report = check_path(path)
        assert not report.ok and any(p.startswith("meta.json") for p in report.problems), \
            report.problems
    finally:
        assert snapshot_files(path) == before  # a refused open changes nothing


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
    assert report.problems == [] and report.warnings == []
    stats = report.stats
    assert stats["items"] == 31 and stats["tables"] == {"default": 31}
    assert stats["collections"] == 6  # p0-p3, p9, t
    assert stats["partitions"] == stats["partition_files"] == 4  # the table and 3 indexes
    assert stats["index_entries"] == {"by_g": 30, "keys": 30, "by_v": 30}
    assert stats["segments"] == 1 and stats["records"] == stats["lsn"] > stats["checkpoint_lsn"]
    assert stats["checkpoint_lsn"] == read_manifest(db.path).lsn
    assert stats["replayed_records"] == 3
    assert stats["log_bytes"] == os.path.getsize(os.path.join(db.path, SEGMENT))
    text = str(report)
    assert text.startswith(f"dynafile check {db.path}: OK") and "index by_g: 30 entries" in text
    assert "table default: 31 items" in text
    db.close()
    after = check_path(str(tmp_path / "db"))
    assert after.ok and after.stats["replayed_records"] == 0
    assert after.stats["items"] == 31 and after.stats["index_entries"] == stats["index_entries"]


def test_check_finds_an_index_that_disagrees(tmp_path):
    path = str(tmp_path / "db")
    db = _rich_table(path)
    db.close()
    space = space_of(path, "default", "by_g")
    rewrite_span(path, space, 0, lambda parts: [])  # the index loses its 30 entries
    report = check_path(path)
    assert not report.ok
    lacks = [p for p in report.problems if "index 'by_g' lacks the entry" in p]
    assert len(lacks) == 20, report.problems  # listed, then summed up
    assert all(p.startswith(f"{os.path.join('data', space)}: ") for p in lacks), lacks
    assert "... and 10 more problems like the above (index by_g)" in report.problems
    assert len(report.problems) == 21, report.problems
    assert report.stats["index_entries"]["by_g"] == 0


def test_check_finds_an_index_entry_no_item_implies(tmp_path):
    path = str(tmp_path / "db")
    db = _rich_table(path)
    space = space_of(path, "default", "by_g")
    engine(db).write(lambda: ([wal.Op("g2", ("zzz", "p1", "nope"), pickle.dumps({"x": 1}),
                                      None, 0, space)], None))
    report = db.check()
    assert any("holds entry" in p and "no table item implies" in p for p in report.problems)
    assert any(p.startswith(f"{SEGMENT} at offset") and "holds entry" in p
               for p in report.problems), report.problems
    db.close()


def test_check_finds_key_types_meta_json_does_not_fix(tmp_path):
    path = str(tmp_path / "db")
    _rich_table(path).close()
    meta = _meta(path)
    meta["tables"]["default"]["key_types"]["SK"] = "N"
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump(meta, f)
    report = check_path(path)
    assert any("sort key" in p and "meta.json fixes 'SK' to 'N'" in p for p in report.problems)


def test_check_finds_a_collection_under_the_wrong_digest(tmp_path):
    path = str(tmp_path / "db")
    _rich_table(path).close()
    table = space_of(path, "default")
    wrong = "0" * 32  # sorts first: the file stays in digest order
    target = rewrite_span(path, table, 0, lambda parts: sorted(
        (wrong if pk == "p1" else d, pk, items) for d, pk, items in parts))
    report = check_path(path)
    assert any(p.startswith(f"{rel(target, path)} at offset 0: partition key 'p1' does not "
                            f"belong under digest {wrong} (its digest is {_d('p1')})")
               for p in report.problems), report.problems


def test_check_finds_unsorted_keys_and_a_bad_manifest_offset(tmp_path):
    path, target = _table_with_one_item(str(tmp_path))
    items = {sk: pickle.dumps({"PK": "a", "SK": sk}) for sk in ("2", "1")}
    with open(target, "wb") as f:  # encode_part keeps the order it is given
        f.write(encode_part(read_manifest(path).lsn, [(_d(), "a", items)]))
    manifest = read_manifest(path)
    manifest.offset += 1
    write_manifest(path, manifest)
    problems = check_path(path).problems
    with open(target, "rb") as f:
        data = f.read()
    block = decode_index(data, len(data), target).blocks[0][0]  # where the keys are
    assert any(p.startswith(f"{rel(target, path)} at offset {block}: sort keys of collection "
                            f"{_d()} out of order") for p in problems), problems
    assert any(p.startswith(f"{MANIFEST} at offset 0: offset {manifest.offset} is not a record "
                            f"boundary of segment {segment_name(1)}") for p in problems), problems


def test_check_finds_a_gap_in_the_log(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    lsn = engine(db).lsn
    abandon(db)
    segment = os.path.join(path, SEGMENT)
    start = os.path.getsize(segment)
    with open(segment, "ab") as f:
        f.write(wal.encode_frame(lsn + 2, wal.WRITE_AT, wal.encode_record([], 0)))
    problems = check_path(path).problems
    assert f"{SEGMENT} at offset {start}: log sequence jumps from {lsn} to {lsn + 2}" \
        in problems
    with pytest.raises(CorruptFileError) as info:
        Dynafile(path)
    assert info.value.path == segment and info.value.offset == start


def test_check_warns_about_a_torn_tail_and_changes_nothing(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    abandon(db)
    segment = os.path.join(path, SEGMENT)
    frame = wal.encode_frame(99, wal.WRITE_AT, wal.encode_record(
        [wal.Op("a", "2", b"x", None, 0, "t1")], 0))
    with open(segment, "ab") as f:
        f.write(frame[:20])
    before = snapshot_files(path)
    report = check_path(path)
    assert report.ok and any(w.startswith(SEGMENT) and "torn tail of 20 bytes" in w
                             for w in report.warnings)
    assert cli_main(["check", path]) == 0
    assert cli_main(["scan", path]) == 0  # read-only: the tail stays for the next writer
    assert snapshot_files(path) == before


def test_check_compares_this_process_view(tmp_path):
    db = _rich_table(str(tmp_path / "db"))
    db.get_item(key={"PK": "p1", "SK": "001"})  # now cached
    digest = _d("p1")
    part = engine(db).collection(digest, "p1", space_of(db.path, "default"))
    part.items["001"] = pickle.dumps({"PK": "p1", "SK": "001", "g": "g1", "v": -1})
    report = db.check()
    assert any(f"this process's view of collection {digest} differs" in p and "'001'" in p
               for p in report.problems), report.problems
    abandon(db)


# ------------------------------------------------------ format 2 specifics


def test_missing_partition_file_is_a_problem(tmp_path):
    path, target = _table_with_one_item(str(tmp_path))
    os.remove(target)
    report = check_path(path)
    assert f"{rel(target, path)}: named by the manifest but missing" in report.problems
    assert cli_main(["check", path]) == 1


def test_missing_partition_file_is_a_corrupt_file_error(tmp_path):
    path, target = _table_with_one_item(str(tmp_path))
    os.remove(target)
    db = Dynafile(path)
    try:
        with pytest.raises(CorruptFileError) as info:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == target
    finally:
        _close(db)


def test_unnamed_partition_file_is_a_warning_and_a_writable_open_removes_it(tmp_path):
    path, target = _table_with_one_item(str(tmp_path))
    space_dir = os.path.dirname(target)
    orphan = os.path.join(space_dir, "000000000777.part")
    shutil.copy(target, orphan)
    report = check_path(path)
    assert report.ok and report.stats["partition_files"] == report.stats["partitions"] + 1
    warning = (f"{rel(orphan, path)}: not named by the manifest: left by a checkpoint a crash "
               "interrupted (removed at the next writable open)")
    assert [w for w in report.warnings if w.startswith(rel(orphan, path))] == [warning]
    reader = Dynafile(path, read_only=True)
    assert reader.get_item(key={"PK": "a", "SK": "1"}) is not None
    reader.close()
    assert os.path.exists(orphan)  # a read-only open changes nothing
    db = Dynafile(path)
    assert not os.path.exists(orphan) and os.path.exists(target)
    assert db.get_item(key={"PK": "a", "SK": "1"}) == {"PK": "a", "SK": "1", "g": "x", "v": 1}
    db.close()
    assert check_path(path).warnings == []


def test_check_finds_manifest_counts_that_disagree(tmp_path):
    path, target = _table_with_one_item(str(tmp_path))
    manifest = read_manifest(path)
    table = space_of(path, "default")
    (span,) = manifest.spaces[table]
    manifest.set_spans(table, [span._replace(item_count=span.item_count + 2)])
    write_manifest(path, manifest)
    problems = check_path(path).problems
    where = f"{rel(target, path)} at offset 0"
    assert problems == [f"{where}: holds 1 items of {span.size} bytes, the manifest says 3 of "
                        + str(span.size)]
    manifest.set_spans(table, [span._replace(size=span.size - 1)])
    write_manifest(path, manifest)
    assert check_path(path).problems == [
        f"{where}: holds 1 items of {span.size} bytes, the manifest says 1 of {span.size - 1}"]


def test_check_finds_ids_the_next_index_or_partition_file_would_reuse(tmp_path):
    path, _ = _table_with_one_item(str(tmp_path))
    manifest = read_manifest(path)
    highest = max(int(name[:-5]) for _, name in manifest.files())
    manifest.next_file = highest  # the next checkpoint would overwrite a named file
    write_manifest(path, manifest)
    problems = check_path(path).problems
    assert any(p.startswith(MANIFEST) and "at or above next_file" in p for p in problems), problems
    manifest.next_file = highest + 1
    write_manifest(path, manifest)
    assert check_path(path).ok
    meta = _meta(path)
    meta["tables"]["default"]["next_index_id"] = 2  # the GSI has id 2
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump(meta, f)
    problems = check_path(path).problems
    assert any(p.startswith("meta.json") and "next_index_id is not above" in p
               for p in problems), problems


def test_manifest_whose_next_file_is_taken_loses_nothing(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal", partition_bytes=4096)
    for i in range(48):
        db.put_item(item={"PK": f"p{i % 6}", "SK": f"{i:03d}", "pad": "x" * 100})
    db.close()
    manifest = read_manifest(path)
    assert len(manifest.spaces[space_of(path, "default")]) > 1
    manifest.next_file = 1
    write_manifest(path, manifest)
    before = snapshot_files(path)
    try:
        db = Dynafile(path, durability="normal", partition_bytes=4096)
    except CorruptFileError as exc:  # refusing the manifest (changing nothing) is one fix...
        assert exc.path == os.path.join(path, MANIFEST)
        assert snapshot_files(path) == before
        return
    db.put_item(item={"PK": "p5", "SK": "new"})  # ...numbering files past it another
    db.checkpoint()
    count = len(list(db.scan()))
    db.close()
    assert count == 49


def test_meta_json_whose_next_index_id_is_taken_loses_nothing(tmp_path):
    path, _ = _table_with_one_item(str(tmp_path))
    target = os.path.join(path, "meta.json")
    meta = _meta(path)
    meta["tables"]["default"]["next_index_id"] = 1
    with open(target, "w") as f:
        json.dump(meta, f)
    before = snapshot_files(path)
    try:
        db = Dynafile(path, gsis=[GSI("by_g", "g"), GSI("by_h", "h")])
    except DynafileError as exc:  # refusing meta.json (changing nothing) is one fix...
        assert getattr(exc, "path", None) == target or target in str(exc)
        assert snapshot_files(path) == before
        return
    db.close()  # ...giving the new index an unused id another
    db = Dynafile(path)
    assert [i["SK"] for i in db.query("a", index="by_v")] == ["1"]
    db.close()
    assert check_path(path).ok


def test_check_a_database_of_two_tables(tmp_path):
    path = str(tmp_path / "two")
    database = Database(path, durability="normal")
    orders = database.create_table("orders", pk_attribute="customer", sk_attribute="order",
                                   gsis=[GSI("by_status", "status", "order")])
    users = database.create_table("users", pk_attribute="id", gsis=[GSI("by_city", "city")])
    for i in range(12):
        orders.put_item(item={"customer": f"c{i % 3}", "order": f"o{i:02d}",
                              "status": "open" if i % 2 else "shipped"})
    for i in range(5):
        users.put_item(item={"id": f"u{i}", "city": f"city{i % 2}"})
    database.checkpoint()
    orders.put_item(item={"customer": "c9", "order": "o99"})  # no status: not indexed
    users.delete_item(key={"id": "u0"})
    report = database.check()
    assert report.ok, str(report)
    stats = report.stats
    assert stats["tables"] == {"orders": 13, "users": 4} and stats["items"] == 17
    assert stats["collections"] == 4 + 4
    assert stats["index_entries"] == {"orders.by_status": 12, "users.by_city": 4}
    assert stats["partitions"] == stats["partition_files"] == 4
    text = str(report)
    assert "17 items in 2 table(s)" in text and "table orders: 13 items" in text
    assert "index users.by_city: 4 entries" in text
    database.close()
    assert check_path(path).stats["index_entries"] == stats["index_entries"]
    # one table's index loses its entries: the problem names that table's index
    space = space_of(path, "users", "by_city")
    rewrite_span(path, space, 0, lambda parts: [])
    report = check_path(path)
    assert not report.ok and report.stats["index_entries"]["users.by_city"] == 0
    assert report.stats["index_entries"]["orders.by_status"] == 12
    assert all("'by_city' lacks the entry" in p for p in report.problems), report.problems
    assert len(report.problems) == 4


def test_check_a_table_split_over_partitions(tmp_path):
    path = str(tmp_path / "split")
    db = Dynafile(path, durability="normal", partition_bytes=4096, gsis=[GSI("by_g", "g")])
    for i in range(300):
        db.put_item(item={"PK": f"p{i % 17}", "SK": f"{i:04d}", "g": f"g{i % 2}",
                          "pad": "x" * 40})
    db.close()
    table = space_of(path, "split")
    manifest = read_manifest(path)
    spans = manifest.spaces[table]
    assert len(spans) > 3
    # the GSI's two collections are each larger than a partition: split by sort key
    assert len(manifest.covering(space_of(path, "split", "by_g"), _d("g0"))) > 1
    report = check_path(path)
    assert report.ok and report.warnings == [], str(report)
    assert report.stats["items"] == 300 and report.stats["collections"] == 17
    assert report.stats["partitions"] == report.stats["partition_files"] == sum(
        len(s) for s in manifest.spaces.values())
    assert report.stats["index_entries"] == {"by_g": 300}
    # move the first collection of the second partition into the first one:
    # the file stays well formed (digest order), but the collection is outside its range
    _, parts = read_span(path, table, spans[1])
    moved = parts[0]
    rewrite_span(path, table, 1, lambda ps: ps[1:])
    target = rewrite_span(path, table, 0, lambda ps: [*ps, (moved.digest, moved.pk, SortedDict(
        {k: bytes(v) for k, v in moved.items.items()}))])
    report = check_path(path)
    outside = (f"{rel(target, path)} at offset 0: collection {moved.digest} lies outside the "
               "partition's key range")
    assert report.problems == [outside], report.problems
    db = Dynafile(path)
    assert db.get_item(key={"PK": moved.pk, "SK": moved.items.keys()[0]}) is None  # unreachable
    assert not db.check().ok
    _close(db)


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
    assert info["meta"]["tables"]["default"]["pk_attribute"] == "PK"
    assert info["counts"]["items"] == 31
    assert info["counts"]["indexes"]["by_g"] == {"kind": "GSI", "state": "ACTIVE", "entries": 30}
    assert cli_main(["scan", path, "--limit", "x"]) == 2
    assert cli_main(["check", str(tmp_path / "nothing")]) == 2
    assert cli_main(["get", str(tmp_path / "nothing"), "--pk", "a"]) == 2
    os.mkdir(tmp_path / "empty")
    assert cli_main(["info", str(tmp_path / "empty")]) == 2
    assert cli_main([]) == 2
    assert snapshot_files(path) == before  # the command never writes


def test_cli_on_a_database_of_two_tables(tmp_path, capsys):
    path = str(tmp_path / "two")
    with Database(path, durability="normal") as database:
        database.create_table("orders", pk_attribute="customer", sk_attribute="order") \
            .put_item(item={"customer": "c1", "order": "o1"})
        database.create_table("users", pk_attribute="id").put_item(item={"id": "u1", "n": 1})
    capsys.readouterr()
    before = snapshot_files(path)
    assert cli_main(["check", path]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "table orders: 1 items" in out and "table users: 1 items" in out
    assert cli_main(["get", path, "--pk", "u1"]) == 2
    assert "--table" in capsys.readouterr().err
    assert cli_main(["get", path, "--table", "users", "--pk", "u1"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": "u1", "n": 1}
    assert cli_main(["scan", path, "--table", "orders"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"customer": "c1", "order": "o1"}]
    assert cli_main(["info", path, "--table", "nope"]) == 2
    assert "no table named 'nope'" in capsys.readouterr().err
    assert snapshot_files(path) == before


def test_cli_number_and_bytes_keys_and_json_output(tmp_path, capsys):
    from decimal import Decimal

    path = str(tmp_path / "n")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": 7, "SK": Decimal("1.5"), "d": Decimal("2.25"), "b": b"\x00",
                      "s": {"x"}})
    db.close()
    assert cli_main(["get", path, "--pk", "7", "--sk", "1.50"]) == 0
    out = json.loads(capsys.readouterr().out, parse_float=Decimal)  # typed JSON: reads back
    assert out["PK"] == 7 and out["d"] == Decimal("2.25") and out["b"] == {"$b": "AA=="}
    assert out["s"] == {"$ss": ["x"]}
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
    segment = os.path.join(path, SEGMENT)
    data = bytearray(open(segment, "rb").read())
    data[30] ^= 1  # inside the first record; valid ones follow
    open(segment, "wb").write(bytes(data))
    assert cli_main(["scan", path]) == 2  # the table cannot be opened...
    assert "CorruptFileError" in capsys.readouterr().err
    assert cli_main(["check", path]) == 1  # ...but it can be checked
    assert f"{SEGMENT} at offset 0" in capsys.readouterr().out
