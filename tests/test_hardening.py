"""Hardening against crafted files and hostile values (issue 12).

Every test here asserts what a user relies on: the error type, that it names
the file, the values that still load, and costs bounded by the input's size
(as an operation count, a memory ratio or a time ratio, never an absolute
time).
"""

from __future__ import annotations

import collections
import datetime
import fractions
import json
import os
import pickle
import random
import struct
import time
import tracemalloc
import uuid
import warnings
import zlib
from decimal import Decimal
from typing import Any

import pytest
from conftest import abandon
from sortedcontainers import SortedDict

from dynafile import (
    GSI,
    CorruptFileError,
    Dynafile,
    JSONSerializer,
    PickleSerializer,
    UnsafeDataError,
    ValidationError,
)
from dynafile.indexes import index_from_json
from dynafile.serialization import Unvetted
from dynafile.storage import log as wal
from dynafile.storage.manifest import Manifest
from dynafile.storage.partition import decode_part, encode_part

# ------------------------------------------------------- crafted pickles (1a)


def _name(module: str, name: str) -> bytes:
    """STACK_GLOBAL of ``module.name`` (two SHORT_BINUNICODE, then \\x93)."""
    return (b"\x8c" + bytes((len(module),)) + module.encode()
            + b"\x8c" + bytes((len(name),)) + name.encode() + b"\x93")


def _text(value: str) -> bytes:
    return b"\x8c" + bytes((len(value),)) + value.encode()


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


# Each is a few dozen bytes. Sizes are kept moderate (tens of MiB before the
# fix, not gigabytes) so that the tests fail, rather than exhaust the machine,
# on an unpickler without the bounds.
BOMBS = {
    # LONG_BINPUT 2**24: the C unpickler grows its memo to 2**25 slots.
    "memo-long-binput": b"\x80\x05Nr" + struct.pack("<I", 1 << 24) + b".",
    # PUT (text) 2**24, the same through protocol 0.
    "memo-put": b"(Np16777216\n.",
    # bytearray(2**26): 64 MiB of zeros (2**31 took 1.9 GB in the report).
    "bytearray-size": b"\x80\x05" + _name("builtins", "bytearray") + _int(1 << 26) + b"\x85R.",
    # set(range(2**21)) and friends: a lazy range fed to a consumer.
    "set-range": b"\x80\x05" + _name("builtins", "set") + _name("builtins", "range")
                 + _int(1 << 21) + b"\x85R\x85R.",
    "frozenset-range": b"\x80\x05" + _name("builtins", "frozenset") + _name("builtins", "range")
                       + _int(1 << 21) + b"\x85R\x85R.",
    "frozenset-range-newobj": b"\x80\x05" + _name("builtins", "frozenset")
                              + _name("builtins", "range") + _int(1 << 21) + b"\x85R\x85\x81.",
    "deque-range": b"\x80\x05" + _name("collections", "deque") + _name("builtins", "range")
                   + _int(1 << 21) + b"K\x01\x86R.",
    # Fraction("1e100000") computes 10**100000; Decimal("1E999999999") loads
    # cheaply but every int() of it would compute 10**999999999.
    "fraction-exponent": b"\x80\x05" + _name("fractions", "Fraction") + _text("1e100000")
                         + b"\x85R.",
    "decimal-exponent": b"\x80\x05" + _name("decimal", "Decimal") + _text("1E999999999")
                        + b"\x85R.",
    # copyreg._reconstructor(bytearray, bytearray, 2**26): bytearray.__init__(2**26).
    "reconstructor-size": b"\x80\x05" + _name("copyreg", "_reconstructor")
                          + _name("builtins", "bytearray") + _name("builtins", "bytearray")
                          + _int(1 << 26) + b"\x87R.",
    # _codecs.encode with another codec than latin-1 (protocols 0-2 spell
    # bytes with latin-1 only).
    "codecs-other": b"\x80\x05" + _name("_codecs", "encode") + _text("x" * 40) + _text("hex")
                    + b"\x86R.",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_crafted_item_pickle_is_refused_at_a_cost_bounded_by_its_size(tmp_path, name):
    data = BOMBS[name]
    source = str(tmp_path / "0.part")
    tracemalloc.start()
    try:
        with pytest.raises(CorruptFileError) as info:
            PickleSerializer().load_stored(Unvetted.at(source)(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.path == source  # names the file the bytes came from
    # Memory in proportion to the input: under 1 MiB for a few dozen bytes
    # (the report: 33 bytes, 1.9 GB).
    assert peak < 1 << 20, f"{len(data)} bytes of pickle took {peak} bytes to refuse"
    assert len(data) < 100


@pytest.mark.parametrize("name", ["memo-long-binput", "bytearray-size", "set-range",
                                  "decimal-exponent"])
def test_crafted_pickle_is_refused_by_loads(name):
    with pytest.raises(UnsafeDataError, match="refusing to load"):
        PickleSerializer().loads(BOMBS[name])


_SUSPECT = "order#\x93\n\x82r".encode()  # "r", a newline, STACK_GLOBAL's and EXT1's bytes
_PLAIN_PREFIX = b"\x8c" + bytes((len(_SUSPECT),)) + _SUSPECT + b"0"  # that string, popped


def _behind_plain_opcodes(data: bytes) -> bytes:
    head = b"\x80\x05" if data.startswith(b"\x80\x05") else b""
    return head + _PLAIN_PREFIX + data[len(head):]


def test_crafted_pickles_behind_plain_opcodes_are_refused_before_and_after_warm_up():
    """A process first walks item pickles in Python; after a few dozen it
    skips runs of plain opcodes (short strings, numbers, lists, dicts) in C.
    A string holding "r", a newline or the STACK_GLOBAL byte, followed by a
    bomb, is refused on either path as the bomb alone is, and plain items
    holding those bytes load as they were, in a fresh process (the warm-up
    is per process)."""
    import subprocess
    import sys

    script = f"""
import pickle
from dynafile.serialization import PickleSerializer
loader = PickleSerializer()
pairs = {[(BOMBS[name], _behind_plain_opcodes(BOMBS[name])) for name in sorted(BOMBS)]!r}
def outcome(data):
    try:
        loader.loads(data)
    except Exception as exc:
        return type(exc).__name__
    return "loaded"
expected = [outcome(plain) for plain, _ in pairs]  # walked in Python: before the warm-up
assert set(expected) == {{"UnsafeDataError", "UnpicklingError", "loaded"}}, expected
def refused_alike():
    for (plain, padded), before in zip(pairs, expected):
        if outcome(plain) != before or outcome(padded) != before:
            raise SystemExit("%r: %s, then %s; %r: %s" % (plain, before, outcome(plain),
                                                          padded, outcome(padded)))
refused_alike()
item = {{"PK": "user#1", "SK": "order#\\x93\\n\\x82r", "n": [1, 2.5, None, True, b"r\\n"]}}
for _ in range(2000):
    assert loader.loads(pickle.dumps(item, 5)) == item
refused_alike()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_memo_bomb_as_a_partition_body_names_the_file(tmp_path):
    body = BOMBS["memo-long-binput"]
    compressed = zlib.compress(body)
    data = struct.pack("<4sBIQ", b"DYP2", 1, zlib.crc32(compressed), len(compressed)) + compressed
    with pytest.raises(UnsafeDataError) as info:
        decode_part(data, "/db/data/t1/7.part")
    assert info.value.path == "/db/data/t1/7.part"


class _Slots:
    __slots__ = ("a",)


VALUES: list[Any] = [
    1, -5, 2**70, -(2**300), 1.5, "abc\nr", "r" * 300, b"x" * 300, b"", "", bytearray(b"ab"),
    bytearray(), {1, 2}, set(), frozenset(), frozenset({"a"}), [None, True, False], (1,),
    (1, 2), (1, 2, 3), (1, 2, 3, 4), {"a": [1, {"b": Decimal("1.5")}]},
    Decimal("-1.5E-130"), Decimal("9.99E+125"), Decimal("1E-6000"), Decimal("NaN"),
    Decimal("-Infinity"), fractions.Fraction(1, 3), fractions.Fraction(-7), complex(1, 2),
    range(5), slice(1, 2, 3), collections.OrderedDict(a=1),
    collections.defaultdict(set, a={1}), collections.defaultdict(None),
    collections.deque([1, 2], 5), collections.deque(), uuid.UUID(int=7),
    datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    datetime.date(2020, 1, 1), datetime.time(1, 2), datetime.timedelta(3),
    [[]] * 300, [f"s{i}" for i in range(400)],
]
_SHARED = [f"x{i}" for i in range(600)]  # memo indexes beyond 255 (LONG_BINPUT)
VALUES.append([_SHARED, _SHARED, list(_SHARED)])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) and a.is_nan():
        return isinstance(b, Decimal) and b.is_nan()
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_value_pickle_writes_loads_back_from_disk(protocol):
    serializer = PickleSerializer(protocol=protocol)
    for value in VALUES:
        data = serializer.dumps({"v": value})
        loaded = serializer.load_stored(Unvetted.at("f")(data))["v"]
        assert _same(loaded, value), (protocol, value, loaded)
        if isinstance(value, collections.defaultdict):
            assert loaded.default_factory is value.default_factory


def test_a_value_the_allowlist_would_refuse_is_refused_on_write():
    # Nothing is stored that a restart could not load: a Decimal beyond the
    # bounds a stored one may have, with a serializer that skips DynamoDB's rules.
    serializer = PickleSerializer(trusted=[("uuid", "UUID")])
    with pytest.raises(ValidationError, match="would not load back"):
        serializer.dumps({"v": Decimal("1E999999")})
    with pytest.raises(ValidationError, match="would not load back"):
        PickleSerializer(protocol=2).dumps({"v": Decimal("1E999999")})


def test_every_item_of_a_table_loads_after_reopening(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, pk_attribute="PK", sk_attribute="SK")
    items = [{"PK": "p", "SK": f"{i:03d}", "v": v} for i, v in enumerate([
        1, Decimal("1.25"), "order", b"raw", {"a", "b"}, {Decimal("1.5"), 2}, {b"x"},
        [1, "two", {"three": [Decimal("3.5")]}], {"m": {"n": None}}, True, None,
        "x" * 5000, Decimal("-9.99E+125"), Decimal("1E-130")])]
    for item in items:
        db.put_item(item=item)
    db.close()
    db = Dynafile(path)
    try:
        assert list(db.scan()) == items
    finally:
        db.close()


def _table_with_one_item(root: str, serializer: str = "pickle") -> tuple[str, str]:
    """A closed table holding one item; its path and the one table partition file."""
    path = os.path.join(root, "db")
    db = Dynafile(path, pk_attribute="PK", sk_attribute="SK", serializer=serializer)
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    db.close()
    manifest = _manifest(path)
    (space,) = [s for s in manifest.spaces if s.startswith("t") and "i" not in s]
    (span,) = manifest.spaces[space]
    return path, os.path.join(path, "data", space, span.file)


def _manifest(path: str) -> Manifest:
    target = os.path.join(path, "data", "MANIFEST")
    with open(target, "rb") as f:
        return Manifest.decode(f.read(), target)


def _replace_items(target: str, value: bytes) -> None:
    """Rewrite a partition file with each item's bytes replaced by ``value``
    (and its size in the manifest)."""
    with open(target, "rb") as f:
        lsn, parts = decode_part(f.read(), target)
    with open(target, "wb") as f:
        f.write(encode_part(lsn, [(p.digest, p.pk, SortedDict({k: value for k in p.items}))
                                  for p in parts]))
    root = os.path.dirname(os.path.dirname(os.path.dirname(target)))
    manifest = _manifest(root)
    space = os.path.basename(os.path.dirname(target))
    spans = [span._replace(size=len(value) * span.item_count)
             if span.file == os.path.basename(target) else span
             for span in manifest.spaces[space]]
    manifest.set_spans(space, spans)
    with open(os.path.join(root, "data", "MANIFEST"), "wb") as f:
        f.write(manifest.encode())


def test_crafted_item_in_a_partition_file_names_the_file(tmp_path):
    path, target = _table_with_one_item(str(tmp_path))
    _replace_items(target, BOMBS["bytearray-size"])
    db = Dynafile(path)
    try:
        with pytest.raises(UnsafeDataError) as info:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == target
        assert target in str(info.value)
        with pytest.raises(UnsafeDataError) as info:
            list(db.scan())
        assert info.value.path == target
    finally:
        abandon(db)


def test_refused_bytes_of_a_log_segment_name_the_file_and_offset(tmp_path):
    # What the engine gets by wrapping a record's item bytes with
    # Unvetted.at(segment path): the refusal names the segment and the
    # offset of the bytes in it.
    segment = tmp_path / "00000000000000000001.log"
    data = BOMBS["set-range"]
    segment.write_bytes(b"\0" * 100 + data + b"\0" * 10)
    with pytest.raises(UnsafeDataError) as info:
        PickleSerializer().load_stored(Unvetted.at(str(segment))(data))
    assert (info.value.path, info.value.offset) == (str(segment), 100)


def test_crafted_item_in_a_log_record_names_the_segment(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, pk_attribute="PK", sk_attribute="SK",
                  serializer=PickleSerializer(trusted=[("x", "y")]))
    db.put_item(item={"PK": "a", "SK": "1", "v": bytearray(b"m" * 30)})
    abandon(db)  # the item stays in the log
    (segment,) = os.listdir(os.path.join(path, "log"))
    segment = os.path.join(path, "log", segment)
    raw = open(segment, "rb").read()
    good = pickle.dumps({"PK": "a", "SK": "1", "v": bytearray(b"m" * 30)}, 5)
    assert good in raw
    # the same length, so the frame stays well-formed; fix the checksum
    evil = BOMBS["bytearray-size"]
    evil = evil[:-1] + b"N" * (len(good) - len(evil)) + b"."
    start = raw.index(good)
    frames, _, _ = wal.parse_frames(raw)
    frame = next(f for f in frames if f.start < start < f.end)
    body = raw[frame.start + wal.HEADER.size:frame.end].replace(good, evil)
    raw = (raw[:frame.start] + wal.encode_frame(frame.lsn, body[0], body[1:])
           + raw[frame.end:])
    open(segment, "wb").write(raw)
    db = Dynafile(path)
    try:
        with pytest.raises(UnsafeDataError) as info:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == segment
    finally:
        abandon(db)


# ------------------------------------------------------ a crafted log tail (1b)


class _CountingZlib:
    """zlib, counting the bytes crc32 reads; past ``limit`` it raises, so a
    scan whose cost is not linear fails at once instead of running for hours."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.crc_bytes = 0

    def crc32(self, data: Any, value: int = 0) -> int:
        self.crc_bytes += len(data)
        if self.crc_bytes > self.limit:
            raise AssertionError(f"checksummed {self.crc_bytes} bytes (limit {self.limit})")
        return zlib.crc32(data, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)


def _junk(kind: str, size: int, next_lsn: int) -> bytes:
    rng = random.Random(size)
    if kind == "random":
        return rng.randbytes(size)
    if kind == "zeros":
        return bytes(size)
    # "headers": every 64 bytes a header with the expected next lsn and a
    # length reaching nearly to the end (each claims a checksum over most of
    # what follows: quadratic for a scan that checks them all).
    parts = []
    for pos in range(0, size, 64):
        parts.append(struct.pack("<IIQ", max(1, size - pos - 100), rng.getrandbits(32),
                                 next_lsn) + rng.randbytes(48))
    return b"".join(parts)[:size]


def _database_with_junk(root: str, kind: str, size: int) -> tuple[str, str, int]:
    path = os.path.join(root, f"{kind}-{size}")
    db = Dynafile(path, pk_attribute="PK", sk_attribute=None)
    for i in range(20):
        db.put_item(item={"PK": f"k{i}", "v": i})
    lsn = db._core.engine.lsn
    db.close()
    log_dir = os.path.join(path, "log")
    segment = os.path.join(log_dir, max(os.listdir(log_dir)))
    end = os.path.getsize(segment)
    with open(segment, "ab") as f:
        f.write(_junk(kind, size, lsn + 1))
    return path, segment, end


def _open_with_junk(path: str, segment: str, end: int, kind: str, size: int,
                    monkeypatch) -> tuple[float, int]:
    counter = _CountingZlib(5 * size + (4 << 20))
    monkeypatch.setattr(wal, "zlib", counter)
    start = time.perf_counter()
    if kind == "headers":
        # Too many plausible headers to check cheaply: reported, not cut.
        with pytest.raises(CorruptFileError) as info:
            Dynafile(path)
        assert info.value.path == segment
        assert os.path.getsize(segment) == end + size
    else:
        db = Dynafile(path)  # a torn tail: cut
        assert len(list(db.scan())) == 20
        db.close()
        assert os.path.getsize(segment) == end
    elapsed = time.perf_counter() - start
    monkeypatch.setattr(wal, "zlib", zlib)
    return elapsed, counter.crc_bytes


@pytest.mark.parametrize("kind", ["random", "zeros", "headers"])
def test_opening_a_log_with_a_crafted_tail_costs_linear_time(tmp_path, monkeypatch, kind):
    # The work is counted, not timed (a loaded machine makes timings noise):
    # the checksums cover a few times the junk at most, at 1 MiB and at 8
    # MiB alike, where the old tail scan was quadratic (1 MiB took 5 s and
    # 18 MiB did not open in 120 s).
    for size in (1 << 20, 8 << 20):
        path, segment, end = _database_with_junk(str(tmp_path / str(size)), kind, size)
        _, crc_bytes = _open_with_junk(path, segment, end, kind, size, monkeypatch)
        assert crc_bytes <= 5 * size + (2 << 20), (kind, size, crc_bytes)


def test_a_valid_record_after_a_damaged_one_is_still_corruption(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, pk_attribute="PK", sk_attribute=None)
    for i in range(30):
        db.put_item(item={"PK": f"k{i}", "v": "x" * (i * 13 % 70)})
    abandon(db)
    (name,) = os.listdir(os.path.join(path, "log"))
    segment = os.path.join(path, "log", name)
    raw = bytearray(open(segment, "rb").read())
    frames, _, _ = wal.parse_frames(bytes(raw))
    for victim in (frames[3], frames[-2]):  # early, and the one before the last
        damaged = bytearray(raw)
        damaged[victim.start + wal.HEADER.size + 2] ^= 0xFF
        open(segment, "wb").write(damaged)
        with pytest.raises(CorruptFileError, match="followed by valid ones") as info:
            Dynafile(path)
        assert info.value.path == segment
    # three damaged records in a row, then valid ones
    damaged = bytearray(raw)
    for victim in frames[10:13]:
        damaged[victim.start + 5] ^= 0xFF
    open(segment, "wb").write(damaged)
    with pytest.raises(CorruptFileError, match="followed by valid ones"):
        Dynafile(path)


@pytest.mark.parametrize("body", [
    struct.pack("<cH", b"N", 3) + b"abc",
    struct.pack("<cH", b"N", 3) + b"NaN",
    struct.pack("<cH", b"N", 11) + b"1E999999999",
    struct.pack("<cH", b"N", 5000) + b"1" * 5000,
    b"T\x01\x00" * 5000 + struct.pack("<cH", b"-", 0),
])
def test_malformed_record_keys_are_value_errors(body):
    ops = struct.pack("<I", 1) + b"\x02t1" + body
    with pytest.raises(ValueError):
        wal.decode_write(ops)


# --------------------------------------------------------------- clear errors (5)


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_json_serializer_refuses_deep_nesting_with_validation_error():
    with pytest.raises(ValidationError, match="Nesting Levels"):
        JSONSerializer().dumps({"v": _deep(100_000)})


def test_deeply_nested_json_item_on_disk_names_the_file(tmp_path):
    path, target = _table_with_one_item(str(tmp_path), serializer="json")
    _replace_items(target, b'{"PK":"a","SK":"1","v":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    db = Dynafile(path)
    try:
        with pytest.raises(CorruptFileError) as info:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == target
        assert "nested too deeply" in str(info.value)
    finally:
        abandon(db)


def test_json_decimal_beyond_bounds_on_disk_names_the_file(tmp_path):
    path, target = _table_with_one_item(str(tmp_path), serializer="json")
    _replace_items(target, b'{"PK":"a","SK":"1","v":{"__decimal__":"1E999999999"}}')
    db = Dynafile(path)
    try:
        with pytest.raises(UnsafeDataError) as info:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert info.value.path == target
    finally:
        abandon(db)


@pytest.mark.parametrize("definition", [
    {"pk_attribute": "g", "projection": "INCLUDE", "include": 5},
    {"pk_attribute": "g", "include": 5},
    {"pk_attribute": "g", "projection": "INCLUDE", "include": {"a": 1}},
    {"projection": "ALL"},
    {"pk_attribute": ["g"]},
    5,
    None,
    "g",
])
def test_malformed_index_definition_is_a_validation_error(definition):
    with pytest.raises(ValidationError):
        index_from_json("gsis", "by_g", definition)


@pytest.mark.parametrize("include", [5, "a", {"a": 1}, [5]])
def test_malformed_index_in_meta_json_names_meta_json(tmp_path, include):
    path = str(tmp_path / "db")
    Dynafile(path, pk_attribute="PK", sk_attribute="SK",
             gsis=[GSI("by_g", "g", projection="INCLUDE", include=["a"])]).close()
    meta_path = os.path.join(path, "meta.json")
    meta = json.load(open(meta_path))
    (table,) = meta["tables"].values()
    table["gsis"]["by_g"]["include"] = include
    json.dump(meta, open(meta_path, "w"))
    with pytest.raises(CorruptFileError) as info:
        Dynafile(path)
    assert info.value.path == meta_path


# ------------------------------------------------------------ TTL values (2)

NON_FINITE = ["NaN", "sNaN", "-NaN", "Infinity", "-Infinity"]


def _ttl_table(path: str, **kwargs: Any) -> Dynafile:
    return Dynafile(path, pk_attribute="PK", sk_attribute=None, ttl_attribute="exp",
                    clock=lambda: 1000.0, **kwargs)


@pytest.mark.parametrize("text", NON_FINITE)
def test_non_finite_ttl_value_is_refused_on_every_write(tmp_path, text):
    db = _ttl_table(str(tmp_path / "db"))
    value = Decimal(text)
    item = {"PK": "a", "exp": value}
    writes = [
        lambda: db.put_item(item=item),
        lambda: db.transact_write([{"put": {"item": item}}]),
    ]
    if text != "sNaN":  # an sNaN placeholder value: see test_snan_placeholder_value
        writes.append(lambda: db.update_item(key={"PK": "a"}, update="SET exp = :v",
                                             values={":v": value}))
        writes.append(lambda: db.transact_write([{"update": {
            "key": {"PK": "a"}, "update": "SET exp = :v", "values": {":v": value}}}]))
    for write in writes:
        with pytest.raises(ValidationError, match="numeric"):
            write()
    with pytest.raises(ValidationError, match="numeric"), db.batch_writer() as batch:
        batch.put_item(item=item)
    with pytest.raises(ValidationError, match="numeric"), db.transaction() as tx:
        tx.put_item(item=item)
    assert list(db.scan()) == []
    db.close()


def test_snan_placeholder_value(tmp_path):
    db = _ttl_table(str(tmp_path / "db"))
    try:
        with pytest.raises(ValidationError):
            db.update_item(key={"PK": "a"}, update="SET exp = :v", values={":v": Decimal("sNaN")})
    finally:
        db.close()


def test_stored_non_finite_ttl_never_expires_and_raises_nothing(tmp_path):
    path = str(tmp_path / "db")
    # A serializer trusting a class skips DynamoDB's value rules: how older
    # data or a crafted file holds such values.
    db = _ttl_table(path, serializer=PickleSerializer(trusted=[("x", "y")]))
    for i, text in enumerate(NON_FINITE):
        db.put_item(item={"PK": f"k{i}", "exp": Decimal(text), "v": 1})
    db.put_item(item={"PK": "old", "exp": 10, "v": 1})
    db.put_item(item={"PK": "inf", "exp": float("-inf"), "v": 1})
    db.close()
    db = _ttl_table(path)
    try:
        keys = [f"k{i}" for i in range(len(NON_FINITE))] + ["inf"]
        for pk in keys:
            assert db.get_item(key={"PK": pk})["v"] == 1, pk  # never expires
        assert db.get_item(key={"PK": "old"}) is None  # an ordinary TTL still does
        assert sorted(i["PK"] for i in db.scan()) == sorted(keys)
        assert db.sweep_expired() == 1  # only "old"
        for pk in keys:
            db.update_item(key={"PK": pk}, update="SET exp = :e", values={":e": 2000})
            assert db.get_item(key={"PK": pk})["exp"] == 2000
        db.close()
        db = _ttl_table(path, serializer=PickleSerializer(trusted=[("x", "y")]))
        for i, text in enumerate(NON_FINITE):
            db.put_item(item={"PK": f"k{i}", "exp": Decimal(text), "v": 1})
        db.close()
        db = _ttl_table(path)
        for i in range(len(NON_FINITE)):
            key = {"PK": f"k{i}"}
            # a write touching only another attribute re-validates the item:
            # a ValidationError, never decimal.InvalidOperation
            with pytest.raises(ValidationError):
                db.update_item(key=key, update="SET v = :v", values={":v": 2})
            db.transact_write([{"condition_check": {"key": key,
                                                     "condition": "attribute_exists(v)"}}])
            db.put_item(item={**key, "v": 3})
            assert db.get_item(key=key) == {**key, "v": 3}
            db.delete_item(key=key)
            assert db.get_item(key=key) is None
    finally:
        db.close()


def test_stored_non_finite_ttl_with_dynamodb_mode_sweeps_nothing(tmp_path):
    path = str(tmp_path / "db")
    db = _ttl_table(path, serializer=PickleSerializer(trusted=[("x", "y")]), ttl_mode="dynamodb")
    for i, text in enumerate(NON_FINITE):
        db.put_item(item={"PK": f"k{i}", "exp": Decimal(text)})
    db.close()
    db = _ttl_table(path)
    try:
        assert db.sweep_expired() == 0
        assert len(list(db.scan())) == len(NON_FINITE)
    finally:
        db.close()


# ------------------------------------------------------- watching limits (4)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def fresh_watcher(monkeypatch):
    """A watcher of its own for the test (the process's one may be watching)."""
    from dynafile import streams
    from dynafile.storage import engine as engine_module
    from dynafile.storage.watch import Watcher

    watcher = Watcher()
    monkeypatch.setattr(engine_module, "watcher", watcher)
    monkeypatch.setattr(streams, "watcher", watcher)
    yield watcher
    if watcher._observer is not None:
        watcher._observer.stop()
        watcher._observer.join()


@pytest.mark.parametrize("failure", ["schedule-ENOSPC", "schedule-EMFILE", "observer-EMFILE"])
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_watch_limit_degrades_to_polling_with_one_warning(tmp_path, monkeypatch, fresh_watcher,
                                                          failure):
    import errno

    import watchdog.observers

    code = errno.ENOSPC if failure.endswith("ENOSPC") else errno.EMFILE
    attempts = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError(code, os.strerror(code))

    if failure.startswith("schedule"):
        monkeypatch.setattr(watchdog.observers.Observer, "schedule", refuse)
    else:
        monkeypatch.setattr(watchdog.observers, "Observer", refuse)
    path = str(tmp_path / "db")
    Dynafile(path, pk_attribute="PK", sk_attribute=None).close()
    before = _open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(5):
            db = Dynafile(path, watch=True)  # opens all the same
            other = Dynafile(str(tmp_path / f"other{i}"), pk_attribute="PK",
                             sk_attribute=None, watch=True)
            stream = db.stream(timeout=5)
            writer = Dynafile(path)  # another writer: seen by polling
            writer.put_item(item={"PK": f"k{i}", "v": i})
            writer.close()
            assert db.get_item(key={"PK": f"k{i}"}) == {"PK": f"k{i}", "v": i}
            assert next(iter(stream)).new == {"PK": f"k{i}", "v": i}
            stream.close()
            other.close()
            db.close()
    ours = [w for w in caught if "polling instead" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]  # once per process
    assert ours[0].category is RuntimeWarning
    assert str(code) in str(ours[0].message)
    assert _open_fds() == before  # nothing leaked by the failed attempts
    assert len(attempts) == 1  # no new attempt within RETRY_AFTER


def test_watching_is_tried_again_after_a_while(tmp_path, monkeypatch, fresh_watcher):
    import errno

    import watchdog.observers

    from dynafile.storage import watch

    calls = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise OSError(errno.ENOSPC, "no space")

    monkeypatch.setattr(watchdog.observers.Observer, "schedule", refuse)
    monkeypatch.setattr(watch, "RETRY_AFTER", 0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            Dynafile(str(tmp_path / str(i)), pk_attribute="PK", sk_attribute=None,
                     watch=True).close()
    assert len(calls) == 3
    assert sum("polling instead" in str(w.message) for w in caught) == 1
