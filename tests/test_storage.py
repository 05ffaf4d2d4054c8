"""The engine's files: log framing, torn tails, corruption, checkpoints, rotation.

The format 2 layout (see ``dynafile/storage/layout.py``): ``log/`` segments,
``data/MANIFEST`` naming the partition files ``data/<space>/<n>.part``, each
holding many item collections.
"""

import os
import pickle
import struct
import subprocess
import sys
import zlib
from decimal import Decimal

import pytest
from conftest import abandon, engine
from sortedcontainers import SortedDict

from dynafile import CorruptFileError, Dynafile, UnsafeDataError
from dynafile.check import check_path
from dynafile.keys import partition_digest
from dynafile.storage import fs
from dynafile.storage import log as wal
from dynafile.storage.layout import segment_name
from dynafile.storage.manifest import MIN_BOUND, Manifest
from dynafile.storage.partition import (
    FileIndex,
    decode_block,
    decode_index,
    decode_part,
    encode_part,
)

SPACE = "t1"  # the items of the first (here: only) table of a database


def segment_path(db_path, first=1):
    return os.path.join(db_path, "log", segment_name(first))


def read_manifest(db_path):
    path = os.path.join(db_path, "data", "MANIFEST")
    with open(path, "rb") as f:
        return Manifest.decode(f.read(), path)


def partition_files(db_path):
    """Every ``data/<space>/<n>.part`` on disk, relative to ``db_path``."""
    found = []
    data = os.path.join(db_path, "data")
    for d, _, names in os.walk(data):
        found.extend(os.path.relpath(os.path.join(d, n), db_path) for n in names
                     if n.endswith(".part"))
    return sorted(found)


def frame(lsn, ops, ms=1_700_000_000_000):
    return wal.encode_frame(lsn, wal.WRITE_AT, wal.encode_record(ops, ms))


def part_bytes(body, flags=0):
    """A partition file around ``body`` (the stored body) with a valid checksum."""
    return b"DYP2" + struct.pack("<BIQ", flags, zlib.crc32(body), len(body)) + body


def test_frame_roundtrip_and_checksum():
    ops = [wal.Op("pk", "sk", b"new", None, 0, SPACE),
           wal.Op(5, None, None, b"old", wal.FLAG_EXPIRED, "t1i2")]
    body = wal.encode_record(ops, 1234567)
    data = wal.encode_frame(7, wal.WRITE_AT, body)
    frames, stop, end = wal.parse_frames(data + data[:5])
    assert stop == "short" and end == len(data)
    assert frames[0].lsn == 7 and frames[0].rtype == wal.WRITE_AT
    assert wal.decode_record(frames[0].rtype, frames[0].body) == (1234567, ops)
    # the format 1 record type (no time) still decodes
    old = wal.encode_frame(8, wal.WRITE, wal.encode_write(ops))
    (parsed,), stop, _ = wal.parse_frames(old)
    assert stop is None and wal.decode_record(parsed.rtype, parsed.body) == (None, ops)
    flipped = bytearray(data)
    flipped[-1] ^= 1
    assert wal.parse_frames(bytes(flipped))[1] == "bad"
    with pytest.raises(ValueError, match="trailing bytes"):
        wal.decode_record(wal.WRITE_AT, body + b"x")
    with pytest.raises(ValueError, match="truncated record time"):
        wal.decode_record(wal.WRITE_AT, b"\x01\x02")


def test_torn_tail_is_cut_on_open(db_path):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    db.put_item(item={"PK": "a", "SK": "2"})
    lsn = engine(db).lsn
    abandon(db)
    path = segment_path(db_path)
    good = os.path.getsize(path)
    torn = frame(lsn + 1, [wal.Op("a", "3", pickle.dumps({"PK": "a", "SK": "3"}), None, 0,
                                  SPACE)])
    with open(path, "ab") as f:
        f.write(torn[: len(torn) // 2])  # a write that never finished
    db = Dynafile(db_path)
    assert [i["SK"] for i in db.query("a")] == ["1", "2"]
    assert os.path.getsize(path) == good
    db.put_item(item={"PK": "a", "SK": "3"})
    db.close()
    db = Dynafile(db_path)
    assert [i["SK"] for i in db.query("a")] == ["1", "2", "3"]
    db.close()


def test_flipped_bit_inside_the_log_is_reported(db_path):
    db = Dynafile(db_path, durability="normal")
    for i in range(5):
        db.put_item(item={"PK": "a", "SK": str(i), "pad": "z" * 50})
    abandon(db)
    path = segment_path(db_path)
    data = bytearray(open(path, "rb").read())
    frames, stop, _ = wal.parse_frames(bytes(data))
    assert stop is None and len(frames) == 6  # the table's creation mark, then the puts
    victim = frames[2]  # valid records follow it
    data[(victim.start + victim.end) // 2] ^= 0x10
    open(path, "wb").write(bytes(data))
    with pytest.raises(CorruptFileError) as info:
        Dynafile(db_path)
    assert info.value.path == path and info.value.offset == victim.start
    assert "followed by valid ones" in str(info.value)
    assert open(path, "rb").read() == bytes(data)  # nothing was cut off


def test_corrupt_partition_file_is_reported(db_path):
    db = Dynafile(db_path)
    db.put_item(item={"PK": "a", "SK": "1"})
    db.close()
    (name,) = partition_files(db_path)
    assert name.startswith(os.path.join("data", SPACE, ""))
    path = os.path.join(db_path, name)
    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0xFF
    open(path, "wb").write(bytes(data))
    db = Dynafile(db_path)
    with pytest.raises(CorruptFileError, match="checksum") as info:
        db.get_item(key={"PK": "a", "SK": "1"})
    assert info.value.path == path
    db.close()


def test_partition_file_roundtrip():
    parts = [(partition_digest(pk), pk, SortedDict({"1": b"x", "2": b"yy"}))
             for pk in ("a", "b")]
    parts.sort(key=lambda p: p[0])
    for compress in (True, False):
        data = encode_part(9, parts, compress=compress)
        assert data[:4] == b"DYP3" and data[4] == int(compress)
        lsn, decoded = decode_part(data, "f")
        assert lsn == 9
        assert [(p.digest, p.pk, dict(p.items)) for p in decoded] == [
            (d, pk, {"1": b"x", "2": b"yy"}) for d, pk, _ in parts]
    # format 2, what checkpoints wrote before format 3, still decodes
    body = zlib.compress(pickle.dumps((2, 9, [(d, pk, list(items), list(items.values()))
                                              for d, pk, items in parts]), 5))
    lsn, decoded = decode_part(part_bytes(body, 1), "f")
    assert lsn == 9 and [(p.digest, p.pk, dict(p.items)) for p in decoded] == [
        (d, pk, {"1": b"x", "2": b"yy"}) for d, pk, _ in parts]


def test_partition_file_blocks_and_index():
    """Format 3: many collections in blocks of about BLOCK_BYTES; one
    collection's block is found through the index and decoded alone."""
    pks = [f"c{i}" for i in range(300)]
    parts = sorted((partition_digest(pk), pk, SortedDict({f"{j:03d}": b"v" * 40 + pk.encode()
                                                          for j in range(i % 7 + 1)}))
                   for i, pk in enumerate(pks))
    data = encode_part(5, parts)
    index = decode_index(data, len(data), "f")
    assert isinstance(index, FileIndex) and index.lsn == 5 and len(index.blocks) > 10
    assert decode_index(data[:40], len(data), "f") == index.blocks[0][0]  # read this much
    for digest, pk, items in parts:
        (number,) = index.blocks_of(digest)
        offset, length = index.blocks[number][:2]
        found = [p for p in decode_block(index, number, data[offset:offset + length], "f")
                 if p.digest == digest]
        assert [(p.pk, dict(p.items)) for p in found] == [(pk, dict(items))]
    assert not index.blocks_of(partition_digest("absent"))
    assert not index.holds(partition_digest("absent"))
    assert decode_part(data, "f")[0] == 5
    assert [(p.digest, p.pk, dict(p.items)) for p in decode_part(data, "f")[1]] == [
        (d, pk, dict(items)) for d, pk, items in parts]
    assert decode_part(encode_part(3, []), "f") == (3, [])
    # keys of other types (numbers, an index's tuples, bytes) and odd strings
    odd = [(partition_digest(n), n, SortedDict(keys)) for n, keys in (
        ("n", {1: b"a", Decimal("1.5"): b"b", 10**30: b"c"}),
        ("t", {("x", "p", "1"): b"a", ("y", "p", "0"): b"b"}),
        ("b", {b"\x00": b"a", b"\xff": b"b"}),
        ("s", {"": b"a", "\ud800": b"b", "\u00e9\n": b"c", "r" * 300: b"d"}),
        ("one", {"only": b"a"}))]
    odd.sort(key=lambda p: p[0])
    assert [(p.digest, p.pk, dict(p.items)) for p in decode_part(encode_part(4, odd), "f")[1]] == [
        (d, pk, dict(items)) for d, pk, items in odd]


@pytest.mark.parametrize("damage", ["index", "block", "truncated", "appended", "magic",
                                    "flags"])
def test_damaged_format_3_file_is_corrupt(damage):
    parts = sorted((partition_digest(f"c{i}"), f"c{i}", SortedDict({"1": b"x" * 3000}))
                   for i in range(4))
    data = bytearray(encode_part(5, parts))
    index = decode_index(bytes(data), len(data), "f")
    assert isinstance(index, FileIndex)
    if damage == "index":
        data[30] ^= 1
    elif damage == "block":
        data[index.blocks[1][0] + 3] ^= 1
    elif damage == "truncated":
        del data[-1]
    elif damage == "appended":
        data += b"\0"
    elif damage == "magic":
        data[0] ^= 1
    else:
        data[4] = 7
    with pytest.raises(CorruptFileError) as info:
        decode_part(bytes(data), "the-file")
    assert info.value.path == "the-file"
    if damage == "block":  # the index is intact: only a read of that block fails
        (number,) = index.blocks_of(parts[1][0])
        offset, length = index.blocks[number][:2]
        with pytest.raises(CorruptFileError, match="block checksum"):
            decode_block(index, number, bytes(data[offset:offset + length]), "f")
        (number,) = index.blocks_of(parts[0][0])
        offset, length = index.blocks[number][:2]
        assert decode_block(index, number, bytes(data[offset:offset + length]), "f")


def test_format_2_partition_files_are_read(db_path):
    """A directory checkpointed before format 3 (its partition files format
    2) reads as before, and its next checkpoint writes format 3."""
    db = Dynafile(db_path, durability="normal")
    for i in range(40):
        db.put_item(item={"PK": f"p{i % 4}", "SK": str(i), "v": i})
    db.close()
    for name in partition_files(db_path):
        path = os.path.join(db_path, name)
        lsn, parts = decode_part(open(path, "rb").read(), path)
        body = zlib.compress(pickle.dumps((2, lsn, [(p.digest, p.pk, p.keys,
                                                     [bytes(v) for v in p.values])
                                                    for p in parts]), 5))
        open(path, "wb").write(part_bytes(body, 1))
    db = Dynafile(db_path, durability="normal")
    assert db.get_item(key={"PK": "p1", "SK": "5"}) == {"PK": "p1", "SK": "5", "v": 5}
    assert db.get_item(key={"PK": "p1", "SK": "6"}) is None
    assert len(list(db.query("p2"))) == 10 and len(list(db.scan())) == 40
    db.put_item(item={"PK": "p9", "SK": "x"})
    db.close()
    assert check_path(db_path).ok
    for name in partition_files(db_path):
        assert open(os.path.join(db_path, name), "rb").read(4) == b"DYP3"
    db = Dynafile(db_path)
    assert len(list(db.scan())) == 41
    db.close()


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("where", ["body", "collection", "pk", "compressed"])
def test_partition_file_that_would_run_code_is_refused(tmp_path, where):
    canary = tmp_path / "canary"
    evil = _Evil(f"touch {canary}")
    digest = partition_digest("a")
    if where == "body":
        body = pickle.dumps(evil)
    elif where == "collection":
        body = pickle.dumps((2, 1, [evil]))
    else:
        body = pickle.dumps((2, 1, [(digest, evil if where == "pk" else "a", ["1"], [b"x"]),
                                    (digest + "0", "b", ["1"], [evil])]))
    data = part_bytes(zlib.compress(body), 1) if where == "compressed" else part_bytes(body)
    with pytest.raises(UnsafeDataError) as info:
        decode_part(data, "the-file")
    assert info.value.path == "the-file" and "not allowlisted" in str(info.value)
    assert not canary.exists()


def test_checkpoint_writes_partitions_and_manifest(db_path):
    db = Dynafile(db_path, durability="normal")
    for i in range(10):
        db.put_item(item={"PK": f"p{i % 2}", "SK": str(i)})
    assert not os.path.exists(os.path.join(db_path, "data", "MANIFEST"))
    assert db.checkpoint() == 1  # both collections share one partition file
    assert db.checkpoint() == 0  # nothing dirty
    manifest = read_manifest(db_path)
    (span,) = manifest.spaces[SPACE]
    assert manifest.lsn == engine(db).lsn == span.lsn
    assert span.start == MIN_BOUND and span.item_count == 10
    assert partition_files(db_path) == [os.path.join("data", SPACE, span.file)]
    lsn, parts = decode_part(open(os.path.join(db_path, "data", SPACE, span.file), "rb").read(),
                             span.file)
    assert lsn == manifest.lsn
    assert sorted(p.pk for p in parts) == ["p0", "p1"]
    assert span.size == sum(len(v) for p in parts for v in p.items.values())
    db.delete_item(key={"PK": "p0", "SK": "0"})
    abandon(db)
    db = Dynafile(db_path)
    assert len(list(db.scan())) == 9
    db.close()
    # the close checkpointed: a new file replaced the old one
    manifest = read_manifest(db_path)
    (new,) = manifest.spaces[SPACE]
    assert new.file != span.file and new.item_count == 9
    assert partition_files(db_path) == [os.path.join("data", SPACE, new.file)]


def test_collections_new_to_a_file_are_written_in_key_order(db_path):
    """A checkpoint writes a collection the file does not hold yet from the
    overlay alone: the last write of each key, deletes left out, keys in
    order however they were written."""
    db = Dynafile(db_path, pk_attribute="PK", sk_attribute="n", durability="normal")
    db.put_item(item={"PK": "old", "n": 1})
    db.checkpoint()  # the file exists before the new collections come
    for n in (5, -2, 30, 7, 0, 12):
        db.put_item(item={"PK": "new", "n": n, "v": "first"})
    db.put_item(item={"PK": "new", "n": 7, "v": "second"})
    db.delete_item(key={"PK": "new", "n": 30})
    db.put_item(item={"PK": "gone", "n": 1})
    db.delete_item(key={"PK": "gone", "n": 1})
    db.checkpoint()
    abandon(db)  # read back from the files alone
    db = Dynafile(db_path)
    assert [(i["n"], i["v"]) for i in db.query("new")] == [
        (-2, "first"), (0, "first"), (5, "first"), (7, "second"), (12, "first")]
    assert list(db.query("gone")) == []
    assert [i["n"] for i in db.query("old")] == [1]
    assert sum(span.item_count for span in read_manifest(db_path).spaces[SPACE]) == 6
    assert db.check().ok
    db.close()


def test_large_table_is_split_into_range_partitions(db_path):
    db = Dynafile(db_path, durability="normal", partition_bytes=4096)
    for i in range(200):
        db.put_item(item={"PK": f"p{i % 7}", "SK": f"{i:04d}", "pad": "x" * 60})
    for i in range(80):  # one collection larger than a partition: split by sort key
        db.put_item(item={"PK": "big", "SK": f"{i:04d}", "pad": "y" * 100})
    db.checkpoint()
    spans = read_manifest(db_path).spaces[SPACE]
    assert len(spans) > 4
    assert all(span.size <= 4096 for span in spans)
    assert sum(span.item_count for span in spans) == 280
    assert len(partition_files(db_path)) == len(spans)
    assert len(read_manifest(db_path).covering(SPACE, partition_digest("big"))) > 1
    db.close()
    db = Dynafile(db_path)
    assert len(list(db.scan())) == 280
    assert [i["SK"] for i in db.query("big")] == [f"{i:04d}" for i in range(80)]
    assert db.get_item(key={"PK": "p3", "SK": "0003"})["pad"] == "x" * 60
    assert db.check().ok
    db.close()


def test_empty_partition_is_removed_at_checkpoint(db_path):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "gone", "SK": "1"})
    db.checkpoint()
    assert len(partition_files(db_path)) == 1
    db.delete_item(key={"PK": "gone", "SK": "1"})
    db.checkpoint()
    assert partition_files(db_path) == []
    assert read_manifest(db_path).spaces == {}
    assert list(db.scan()) == []
    db.close()


def test_segments_rotate_and_old_ones_go_after_retention(db_path):
    db = Dynafile(db_path, durability="normal")
    eng = engine(db)
    eng.segment_bytes = 2000
    eng.retention = 0
    for i in range(60):
        db.put_item(item={"PK": "p", "SK": f"{i:03d}", "pad": "x" * 100})
    segments = eng.layout.segments()
    assert len(segments) > 3
    assert sorted(os.listdir(os.path.join(db_path, "log"))) == [segment_name(s)
                                                                for s in segments]
    other = Dynafile(db_path, durability="normal")  # reads across segments
    assert len(list(other.query("p"))) == 60
    db.checkpoint()
    assert len(eng.layout.segments()) == 1
    manifest = read_manifest(db_path)
    assert manifest.segment == eng.layout.segments()[0]
    db.put_item(item={"PK": "p", "SK": "new"})
    assert len(list(other.query("p"))) == 61
    other.close()
    db.close()
    db = Dynafile(db_path)
    assert len(list(db.query("p"))) == 61
    db.close()


def test_reader_behind_removed_segments_recovers(db_path):
    reader = Dynafile(db_path, durability="normal")
    assert reader.get_item(key={"PK": "p", "SK": "000"}) is None
    db = Dynafile(db_path, durability="normal")
    engine(db).segment_bytes = 1500
    engine(db).retention = 0
    for i in range(40):
        db.put_item(item={"PK": "p", "SK": f"{i:03d}", "pad": "x" * 100})
    db.checkpoint()
    assert not os.path.exists(segment_path(db_path))  # the reader's segment is gone
    db.put_item(item={"PK": "q", "SK": "1"})
    assert len(list(reader.query("p"))) == 40
    assert reader.get_item(key={"PK": "q", "SK": "1"}) is not None
    reader.close()
    db.close()


def test_stale_temp_files_and_orphan_partitions_are_removed(db_path):
    db = Dynafile(db_path)
    db.put_item(item={"PK": "a", "SK": "1"})
    db.close()
    (named,) = partition_files(db_path)
    space_dir = os.path.join(db_path, "data", SPACE)
    stale = [os.path.join(space_dir, ".tmp-dynafile-abc"),
             os.path.join(db_path, "data", ".tmp-dynafile-manifest"),
             os.path.join(db_path, "log", ".tmp-dynafile-seg"),
             os.path.join(db_path, ".tmp-dynafile-meta")]
    for path in stale:
        open(path, "wb").write(b"half")
    # a partition file a checkpoint wrote before a crash stopped it short of the manifest
    orphan = os.path.join(space_dir, "000000000099.part")
    open(orphan, "wb").write(encode_part(99, []))
    other_space = os.path.join(db_path, "data", "t7")
    os.mkdir(other_space)
    open(os.path.join(other_space, "000000000098.part"), "wb").write(encode_part(98, []))
    db = Dynafile(db_path)
    assert [p for p in stale + [orphan] if os.path.exists(p)] == []
    assert not os.path.exists(other_space)
    assert partition_files(db_path) == [named]
    assert sorted(os.listdir(db_path)) == ["CHECKPOINT", "LOCK", "data", "log", "meta.json"]
    assert sorted(os.listdir(os.path.join(db_path, "data"))) == ["MANIFEST", SPACE]
    assert db.get_item(key={"PK": "a", "SK": "1"}) == {"PK": "a", "SK": "1"}
    db.close()


KILL_CHILD = r"""
import sys
from dynafile import Dynafile
db = Dynafile(sys.argv[1], checkpoint_bytes=1, partition_bytes=4096)
for i in range(1000):
    db.put_item(item={"PK": f"p{i % 3}", "SK": f"{i:05d}", "pad": "x" * 400})
    print(i, flush=True)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "point",
    ["log.append.before", "log.append.after", "log.fsync.before", "log.fsync.after",
     "checkpoint.write.before", "rename.before", "rename.after", "checkpoint.write.after",
     "dir.fsync.before", "dir.fsync.after", "file.remove.before", "file.remove.after"],
)
def test_kill_at_named_points(db_path, point):
    Dynafile(db_path).close()
    env = dict(os.environ, DYNAFILE_CRASH_AT=f"{point}:25")
    out = subprocess.run([sys.executable, "-c", KILL_CHILD, db_path], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stderr
    acked = [int(x) for x in out.stdout.split()]
    assert len(acked) >= 5
    before = check_path(db_path)  # a crash leaves warnings at most (orphans, a torn tail)
    assert before.ok, str(before)
    db = Dynafile(db_path)
    for i in acked:
        assert db.get_item(key={"PK": f"p{i % 3}", "SK": f"{i:05d}"}) is not None
    total = len(list(db.scan()))
    assert len(acked) <= total <= len(acked) + 1
    # the writable open removed what the crash left: every file is named by the manifest
    named = {os.path.join("data", space, span.file)
             for space, spans in engine(db).manifest.spaces.items() for span in spans}
    assert set(partition_files(db_path)) == named
    report = db.check()
    assert report.ok and report.warnings == [], str(report)
    db.put_item(item={"PK": "after", "SK": "crash"})
    db.close()
    db = Dynafile(db_path)
    assert db.get_item(key={"PK": "after", "SK": "crash"}) is not None
    db.close()


def test_reading_process_overlay_is_pruned_after_foreign_checkpoint(db_path):
    writer = Dynafile(db_path, durability="normal", checkpoint_bytes=10_000)
    reader = Dynafile(db_path, durability="normal", checkpoint_bytes=10_000)
    for i in range(300):
        writer.put_item(item={"PK": f"p{i % 5}", "SK": f"{i:04d}", "pad": "x" * 50})
        if i % 20 == 0:
            reader.get_item(key={"PK": "p0", "SK": "0000"})
    assert reader.get_item(key={"PK": "p1", "SK": "0001"}) is not None
    assert engine(reader)._overlay_bytes < 20_000
    assert len(list(reader.scan())) == 300
    writer.close()
    reader.close()


class Money:
    def __init__(self, cents):
        self.cents = cents

    def __eq__(self, other):
        return isinstance(other, Money) and other.cents == self.cents


def test_objects_the_allowlist_refuses_are_rejected_at_write(db_path):
    import datetime
    import uuid
    from decimal import Decimal

    from dynafile import PickleSerializer, ValidationError

    db = Dynafile(db_path, durability="normal")
    with pytest.raises(ValidationError, match="Unsupported type"):  # not a DynamoDB type
        db.put_item(item={"PK": "a", "SK": "1", "price": Money(5)})
    with pytest.raises(ValidationError, match="Unsupported type 'datetime.datetime'"):
        db.put_item(item={"PK": "a", "SK": "1", "when": datetime.datetime(2026, 1, 2)})
    db.close()
    # Trusting classes stores them; the allowlist still refuses the others.
    path = db_path + "-any"
    any_types = PickleSerializer(trusted=[("datetime", "datetime"), ("uuid", "UUID")])
    db = Dynafile(path, durability="normal", serializer=any_types)
    with pytest.raises(ValidationError, match="would not load back"):
        db.put_item(item={"PK": "a", "SK": "1", "price": Money(5)})
    ok = {"PK": "a", "SK": "2", "when": datetime.datetime(2026, 1, 2, 3, 4),
          "id": uuid.UUID(int=7), "d": Decimal("1.10"), "s": frozenset({1}), "t": (1, 2)}
    db.put_item(item=ok)
    db.close()
    db = Dynafile(path, serializer=any_types)
    assert db.get_item(key={"PK": "a", "SK": "2"}) == ok
    db.close()
    trusted = PickleSerializer(trusted=[(__name__, "Money")])
    db = Dynafile(db_path, serializer=trusted)
    db.put_item(item={"PK": "a", "SK": "3", "price": Money(5)})
    db.close()
    db = Dynafile(db_path, serializer=PickleSerializer(trusted=[(__name__, "Money")]))
    assert db.get_item(key={"PK": "a", "SK": "3"})["price"] == Money(5)
    db.close()


def test_crafted_pickle_in_the_log_runs_nothing(db_path, tmp_path):
    canary = tmp_path / "canary"
    evil = pickle.dumps({"PK": "a", "SK": "2", "x": _Evil(f"touch {canary}")})
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    with open(segment_path(db_path), "ab") as f:
        f.write(frame(engine(db).lsn + 1, [wal.Op("a", "2", evil, None, 0, SPACE)]))
    with pytest.raises(UnsafeDataError):
        db.get_item(key={"PK": "a", "SK": "2"})
    with pytest.raises(UnsafeDataError):
        list(db.query("a"))
    assert db.get_item(key={"PK": "a", "SK": "1"}) == {"PK": "a", "SK": "1"}
    assert not canary.exists()
    abandon(db)


def test_every_file_is_private_to_its_owner(db_path):
    import stat

    from dynafile import GSI
    old = os.umask(0o022)
    try:
        db = Dynafile(db_path, gsis=[GSI("by_g", pk_attribute="s")])
        db.put_item(item={"PK": "a", "SK": "1", "s": "x"})
        list(db.stream(from_sequence=0, consumer="c", follow=False))
        db.checkpoint()
        db.close()
    finally:
        os.umask(old)
    modes = {}
    for d, _, names in os.walk(db_path):
        for n in names:
            path = os.path.join(d, n)
            modes[os.path.relpath(path, db_path)] = stat.S_IMODE(os.stat(path).st_mode)
    assert any(p.startswith("log" + os.sep) for p in modes)
    assert os.path.join("data", "MANIFEST") in modes
    assert any(p.startswith(os.path.join("data", "t1i1", "")) for p in modes)  # the GSI
    assert any(p.startswith("streams" + os.sep) for p in modes)
    assert {p: m for p, m in modes.items() if m != 0o600} == {}


def test_a_get_reads_one_block_of_a_partition_file(db_path, monkeypatch):
    """A read of one collection reads the file's index and the one block
    that holds it, not the whole file; damage in another block does not
    touch it, and a read of the damaged block reports the file."""
    db = Dynafile(db_path, durability="normal")
    with db.batch_writer() as w:
        for c in range(200):
            for j in range(3):
                w.put_item(item={"PK": f"c{c}", "SK": str(j), "pad": "x" * 200})
    db.close()
    (span,) = read_manifest(db_path).spaces[SPACE]
    path = os.path.join(db_path, "data", SPACE, span.file)
    data = open(path, "rb").read()
    index = decode_index(data, len(data), path)
    assert isinstance(index, FileIndex) and len(index.blocks) > 20
    (damaged,) = index.blocks_of(partition_digest("c7"))
    (intact,) = index.blocks_of(partition_digest("c8")) or [damaged]
    assert intact != damaged, "c7 and c8 share a block: pick others"
    raw = bytearray(data)
    raw[index.blocks[damaged][0] + 5] ^= 0x40
    open(path, "wb").write(bytes(raw))
    reads = []
    real = fs.read_range
    monkeypatch.setattr(fs, "read_range", lambda *a: reads.append(a) or real(*a))
    db = Dynafile(db_path)
    assert db.get_item(key={"PK": "c8", "SK": "1"})["pad"] == "x" * 200
    assert len(reads) == 1 and reads[0][2] == index.blocks[intact][1]
    assert db.get_item(key={"PK": "nobody", "SK": "1"}) is None
    with pytest.raises(CorruptFileError, match="block checksum") as info:
        db.get_item(key={"PK": "c7", "SK": "1"})
    assert info.value.path == path
    with pytest.raises(CorruptFileError):
        list(db.scan())
    db.close()
    assert not check_path(db_path).ok


def _format_3_file(digests, body, lsn=1):
    """A format 3 file of one uncompressed block ``body`` listing ``digests``,
    every checksum valid."""
    from array import array
    index_len = 16 + 20 + 8 * len(digests)
    offset = 13 + index_len
    index = (struct.pack("<QII", lsn, 1, len(digests))
             + struct.pack("<QIII", offset, len(body), zlib.crc32(body), 0)
             + array("Q", [int(d[:16], 16) for d in digests]).tobytes())
    return b"DYP3" + struct.pack("<BII", 0, zlib.crc32(index), len(index)) + index + body


def _block(keys_pickle, values=()):
    return (struct.pack("<I", len(keys_pickle)) + keys_pickle
            + b"".join(struct.pack("<I", len(v)) for v in values) + b"".join(values))


@pytest.mark.parametrize("case", ["evil-pk", "evil-keys", "packed-keys-malformed",
                                  "packed-lengths-wrong", "not-a-list", "wrong-count",
                                  "wrong-digest", "item-lengths-wrong"])
def test_crafted_format_3_block_is_refused(tmp_path, case):
    canary = tmp_path / "canary"
    evil = _Evil(f"touch {canary}")
    d = partition_digest("a")
    other = partition_digest("b")
    body = {
        "evil-pk": lambda: _block(pickle.dumps([(d, evil, ["1"])]), [b"x"]),
        "evil-keys": lambda: _block(pickle.dumps([(d, "a", evil)]), [b"x"]),
        "packed-keys-malformed": lambda: _block(pickle.dumps([(d, "a", ("ab", 5))]), [b"x"]),
        "packed-lengths-wrong": lambda: _block(
            pickle.dumps([(d, "a", ("ab", struct.pack("<II", 1, 2)))]), [b"x", b"y"]),
        "not-a-list": lambda: _block(pickle.dumps({d: 1}), [b"x"]),
        "wrong-count": lambda: _block(pickle.dumps([(d, "a", ["1"]), (d, "a", ["2"])]),
                                      [b"x", b"y"]),
        "wrong-digest": lambda: _block(pickle.dumps([(other, "a", ["1"])]), [b"x"]),
        "item-lengths-wrong": lambda: _block(pickle.dumps([(d, "a", ["1"])]), [b"x"]) + b"z",
    }[case]()
    data = _format_3_file([d], body)
    with pytest.raises(CorruptFileError) as info:
        decode_part(data, "the-file")
    assert info.value.path == "the-file"
    if case.startswith("evil"):
        assert isinstance(info.value, UnsafeDataError)
    index = decode_index(data, len(data), "the-file")
    with pytest.raises(CorruptFileError):
        decode_block(index, 0, data[index.blocks[0][0]:], "the-file", d)
    assert not canary.exists()
