"""The engine's files: log framing, torn tails, corruption, checkpoints, rotation."""

import os
import subprocess
import sys

import pytest
from conftest import abandon, engine

from dynafile import CorruptFileError, Dynafile, UnsafeDataError
from dynafile.storage import log as wal
from dynafile.storage.layout import segment_name
from dynafile.storage.partition import decode_partition, encode_partition


def segment_path(db_path, first=1):
    return os.path.join(db_path, "wal", segment_name(first))


def test_frame_roundtrip_and_checksum():
    ops = [wal.Op("pk", "sk", b"new", None), wal.Op(5, None, None, b"old", wal.FLAG_EXPIRED)]
    body = wal.encode_write(ops)
    frame = wal.encode_frame(7, wal.WRITE, body)
    frames, stop, end = wal.parse_frames(frame + frame[:5])
    assert stop == "short" and end == len(frame)
    assert frames[0].lsn == 7 and wal.decode_write(frames[0].body) == ops
    flipped = bytearray(frame)
    flipped[-1] ^= 1
    assert wal.parse_frames(bytes(flipped))[1] == "bad"


def test_torn_tail_is_cut_on_open(db_path):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    db.put_item(item={"PK": "a", "SK": "2"})
    abandon(db)
    path = segment_path(db_path)
    good = os.path.getsize(path)
    frame = wal.encode_frame(3, wal.WRITE, wal.encode_write([wal.Op("a", "3", b"x", None)]))
    with open(path, "ab") as f:
        f.write(frame[: len(frame) // 2])  # a write that never finished
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
    data[40] ^= 0x10  # inside the first record: valid records follow it
    open(path, "wb").write(bytes(data))
    with pytest.raises(CorruptFileError) as info:
        Dynafile(db_path)
    assert info.value.path == path and info.value.offset == 0
    assert len(open(path, "rb").read()) == len(data)  # nothing was cut off


def test_corrupt_partition_file_is_reported(db_path):
    db = Dynafile(db_path)
    db.put_item(item={"PK": "a", "SK": "1"})
    db.close()
    part_dir = os.path.join(db_path, "_partitions")
    (digest,) = os.listdir(part_dir)
    path = os.path.join(part_dir, digest, "data.pickle")
    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0xFF
    open(path, "wb").write(bytes(data))
    db = Dynafile(db_path)
    with pytest.raises(CorruptFileError, match="checksum"):
        db.get_item(key={"PK": "a", "SK": "1"})
    db.close()


def test_partition_file_that_would_run_code_is_refused(tmp_path):
    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    from sortedcontainers import SortedDict

    data = encode_partition("a", SortedDict({"1": b"x"}), 1)
    import pickle
    import struct
    import zlib

    body = pickle.dumps((1, 1, "a", ["1"], [Evil()]))
    data = b"DYNP" + struct.pack("<IQ", zlib.crc32(body), len(body)) + body
    with pytest.raises(UnsafeDataError):
        decode_partition(data, "x")
    assert not canary.exists()


def test_checkpoint_writes_partitions_and_marker(db_path):
    db = Dynafile(db_path, durability="normal")
    for i in range(10):
        db.put_item(item={"PK": f"p{i % 2}", "SK": str(i)})
    assert db.checkpoint() == 2
    assert db.checkpoint() == 0  # nothing dirty
    db.delete_item(key={"PK": "p0", "SK": "0"})
    abandon(db)
    db = Dynafile(db_path)
    assert len(list(db.scan())) == 9
    db.close()


def test_empty_partition_is_removed_at_checkpoint(db_path):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "gone", "SK": "1"})
    db.checkpoint()
    db.delete_item(key={"PK": "gone", "SK": "1"})
    db.checkpoint()
    assert os.listdir(os.path.join(db_path, "_partitions")) == []
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
    other = Dynafile(db_path, durability="normal")  # reads across segments
    assert len(list(other.query("p"))) == 60
    db.checkpoint()
    assert len(eng.layout.segments()) == 1
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
    db.put_item(item={"PK": "q", "SK": "1"})
    assert len(list(reader.query("p"))) == 40
    assert reader.get_item(key={"PK": "q", "SK": "1"}) is not None
    reader.close()
    db.close()


def test_stale_temp_files_are_removed(db_path):
    db = Dynafile(db_path)
    db.put_item(item={"PK": "a", "SK": "1"})
    db.close()
    (digest,) = os.listdir(os.path.join(db_path, "_partitions"))
    stale = os.path.join(db_path, "_partitions", digest, ".tmp-dynafile-abc")
    open(stale, "wb").write(b"half")
    open(os.path.join(db_path, "CHECKPOINTING"), "wb").close()
    open(os.path.join(db_path, ".tmp-dynafile-meta"), "wb").close()
    db = Dynafile(db_path)
    assert not os.path.exists(stale)
    assert sorted(os.listdir(db_path)) == ["LOCK", "_partitions", "meta.json", "wal"]
    db.close()


KILL_CHILD = r"""
import sys
from dynafile import Dynafile
db = Dynafile(sys.argv[1], checkpoint_bytes=1)
for i in range(1000):
    db.put_item(item={"PK": f"p{i % 3}", "SK": f"{i:05d}"})
    print(i, flush=True)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "point",
    ["log.append.before", "log.append.after", "log.fsync.before", "log.fsync.after",
     "checkpoint.write.before", "rename.before", "rename.after", "checkpoint.write.after",
     "dir.fsync.before", "dir.fsync.after"],
)
def test_kill_at_named_points(db_path, point):
    Dynafile(db_path).close()
    env = dict(os.environ, DYNAFILE_CRASH_AT=f"{point}:5")
    out = subprocess.run([sys.executable, "-c", KILL_CHILD, db_path], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == -9
    acked = [int(x) for x in out.stdout.split()]
    db = Dynafile(db_path)
    for i in acked:
        assert db.get_item(key={"PK": f"p{i % 3}", "SK": f"{i:05d}"}) is not None
    total = len(list(db.scan()))
    assert len(acked) <= total <= len(acked) + 1
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
    import pickle

    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1"})
    evil = pickle.dumps({"PK": "a", "SK": "2", "x": Evil()})
    frame = wal.encode_frame(engine(db).lsn + 1, wal.WRITE,
                             wal.encode_write([wal.Op("a", "2", evil, None)]))
    with open(segment_path(db_path), "ab") as f:
        f.write(frame)
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
        db = Dynafile(db_path, gsis=[GSI("g", pk_attribute="s")])
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
    assert any(p.startswith("wal") for p in modes) and any("_gsi-g" in p for p in modes)
    assert {p: m for p, m in modes.items() if m != 0o600} == {}
