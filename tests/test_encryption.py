"""Encryption at rest (dynafile.encryption): no plaintext on disk, tamper and
wrong-key detection naming the file, ciphertexts bound to their table and
item, key rotation (in process, concurrent, and SIGKILLed at named points
of dynafile.storage.fs, then resumed)."""

from __future__ import annotations

import glob
import os
import signal
import struct
import subprocess
import sys
import threading
import zlib
from decimal import Decimal

import pytest
from conftest import abandon, edit_table_meta, table_meta
from sortedcontainers import SortedDict

from dynafile import GSI, LSI, CorruptFileError, Database, Dynafile, SchemaMismatchError
from dynafile.encryption import (
    OVERHEAD,
    EncryptedSerializer,
    KeyRing,
    key_id,
)
from dynafile.errors import DecryptionError, EncryptionKeyError, UnsafeDataError, ValidationError
from dynafile.storage.manifest import Manifest
from dynafile.storage.partition import decode_index, decode_part, encode_part

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K1 = bytes(range(32))
K2 = bytes(range(100, 132))
K3 = bytes(range(200, 232))

SECRETS = {
    "text": "SECRET-TEXT-0xC0FFEE",
    "bytes": b"SECRET-BYTES-\x01\x02\x03",
    "number": Decimal(31415926535897932384),
    "nested": {"deep": ["SECRET-NESTED-LIST"], "more": {"SECRET-MAP-KEY": "SECRET-MAP-VALUE"}},
    "set": {"SECRET-SET-A", "SECRET-SET-B"},
}
NEEDLES = [b"SECRET-", b"31415926535897932384", b"hidden_attribute_name", b"C0FFEE"]


def part_plain(data: bytes, name: str) -> bytes:
    """A partition file's stored bytes decompressed: every block of a format
    3 file (its index, which holds no item data, left out), the body of a
    format 2 one."""
    if data[:4] == b"DYP2":
        return zlib.decompress(data[17:])
    index = decode_index(data, len(data), name)
    assert not isinstance(index, int) and index is not None
    return b"".join(zlib.decompress(data[offset:offset + length])
                    for offset, length, _, _ in index.blocks)


def all_files(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def secret_item(pk: str, sk: str, **more) -> dict:
    return {"PK": pk, "SK": sk, "hidden_attribute_name": SECRETS["text"], **SECRETS,
            "g": "grp", "v": 7, **more}


def manifest(path: str) -> Manifest:
    target = os.path.join(path, "data", "MANIFEST")
    with open(target, "rb") as f:
        return Manifest.decode(f.read(), target)


def table_space(path: str, name: str | None = None) -> str:
    return f"t{table_meta(path, name)['id']}"


def part_files(path: str, space: str) -> list[str]:
    return [os.path.join(path, "data", space, span.file)
            for span in manifest(path).spaces[space]]


def rewrite_part(target: str, edit) -> None:
    """Rewrite a partition file with ``edit(parts)`` applied to ``[(digest, pk,
    SortedDict of sk -> bytes)]``, valid checksum and all: a deliberate tamperer."""
    with open(target, "rb") as f:
        lsn, parts = decode_part(f.read(), target)
    parts = edit([(p.digest, p.pk, SortedDict({k: bytes(v) for k, v in p.items.items()}))
                  for p in parts])
    with open(target, "wb") as f:
        f.write(encode_part(lsn, parts))


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def fix_log_checksums(segment: str) -> None:
    """Recompute every frame's checksum, as a tamperer who knows the format would."""
    with open(segment, "rb") as f:
        buf = bytearray(f.read())
    pos = 0
    while pos + 16 <= len(buf):
        length, _crc, lsn = struct.unpack_from("<IIQ", buf, pos)
        payload = bytes(buf[pos + 16:pos + 16 + length])
        crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", lsn)))
        struct.pack_into("<I", buf, pos + 4, crc)
        pos += 16 + length
    with open(segment, "wb") as f:
        f.write(bytes(buf))


def stored_values(db: Dynafile, space: str | None = None):
    core = db._core
    return [data for _, pairs in core.each_partition(space) for _, data in pairs]


def key_ids(values) -> set[str]:
    return {bytes(v[1:5]).hex() for v in values}


# ------------------------------------------------------------------ basics


@pytest.mark.parametrize("inner", ["pickle", "json", "msgpack"])
def test_round_trip_and_what_the_table_records(tmp_path, inner):
    path = str(tmp_path / "db")
    with Dynafile(path, encryption_key=K1, serializer=inner) as db:
        item = {"PK": "a", "SK": "1", "n": Decimal("1.5"), "b": b"\x00\xff", "s": {"x", "y"},
                "l": [1, "two", None, True], "m": {"k": {"deep": 1}}}
        db.put_item(item=item)
        assert db.get_item(key={"PK": "a", "SK": "1"}) == item
        assert db.describe()["serializer"] == f"encrypted:{inner}"
        assert db.encryption() == {"cipher": "AES-GCM", "format": 1, "keys": [key_id(K1)]}
        (value,) = stored_values(db)
        assert value[0] == 1 and bytes(value[1:5]).hex() == key_id(K1)
    with Dynafile(path, encryption_key=K1) as db:  # the inner serializer comes from meta.json
        assert db.get_item(key={"PK": "a", "SK": "1"}) == item
    assert table_meta(path)["serializer"] == f"encrypted:{inner}"
    assert table_meta(path)["properties"]["encryption"]["keys"] == [key_id(K1)]


def test_encrypted_serializer_spelling_and_database(tmp_path):
    path = str(tmp_path / "db")
    with Database(path) as app:
        plain = app.create_table("plain", pk_attribute="k")
        plain.put_item(item={"k": "p", "v": "visible"})
        enc = app.create_table("sealed", pk_attribute="k",
                               serializer=EncryptedSerializer("json", K1))
        enc.put_item(item={"k": "s", "v": "SECRET-SEALED"})
    with Database(path, encryption_key=K1) as app:
        assert app.table("plain")["p"] == {"k": "p", "v": "visible"}  # plain stays plain
        assert app.table("sealed")["s"]["v"] == "SECRET-SEALED"
        assert app.describe_table("sealed")["serializer"] == "encrypted:json"
        made = app.create_table("made", pk_attribute="k")  # a keyed database encrypts new tables
        assert made.describe()["serializer"] == "encrypted:pickle"
        made["m"] = {"v": "SECRET-MADE"}
        assert {r.table for r in app.stream(from_sequence=0, follow=False)} >= {"sealed", "made"}
    with Database(path) as app, pytest.raises(EncryptionKeyError, match="encrypted.*'json'"):
        app.table("sealed")
    assert_no_plaintext_except(path, b"visible")


def assert_no_plaintext_except(path: str, allowed: bytes) -> None:
    for name, data in all_files(path).items():
        assert b"SECRET-" not in data, name
        if name.endswith(".part"):
            assert b"SECRET-" not in part_plain(data, name), name


def test_no_plaintext_in_any_file(tmp_path):
    """After writing known values (items, GSI entries of every projection,
    LSI entries, updates, a transaction, a batch), no file of the directory
    holds their bytes: not the log, not a partition file (decompressed), not
    meta.json, the manifest or a stream consumer's file."""
    path = str(tmp_path / "db")
    gsis = [GSI("all", "g", "SK"), GSI("keys", "g", projection="KEYS_ONLY"),
            GSI("inc", "g", projection="INCLUDE", include=["text"])]
    db = Dynafile(path, encryption_key=K1, gsis=gsis, lsis=[LSI("by_v", "v")],
                  durability="normal", ttl_attribute="exp", stream_view_type="NEW_AND_OLD_IMAGES")
    for i in range(20):
        db.put_item(item=secret_item("p", f"{i:03}"))
    db.update_item(key={"PK": "p", "SK": "000"}, set={"text": "SECRET-UPDATED"})
    db.transact_write([{"put": {"item": secret_item("q", "1")}}], token="tok-1")
    with db.transaction() as tx:
        it = tx.get_item(key={"PK": "p", "SK": "001"})
        it["text"] = "SECRET-IN-TX"
    with db.batch_writer() as w:
        w.put_item(item=secret_item("r", "1"))
    for _ in db.stream(from_sequence=0, follow=False, consumer="reader"):
        pass
    before = all_files(path)
    assert any(name.startswith("log") for name in before)
    for name, data in before.items():
        for needle in NEEDLES:
            assert needle not in data, f"{needle!r} in {name}"
    db.checkpoint()
    assert db.check().ok
    db.close()
    files = all_files(path)
    assert any(name.endswith(".part") for name in files)
    for name, data in files.items():
        if name.startswith("log"):
            continue  # checked above; a checkpoint does not rewrite the log
        body = part_plain(data, name) if name.endswith(".part") else data
        for needle in NEEDLES:
            assert needle not in body, f"{needle!r} in {name}"
    # What stays in clear, as SECURITY.md says: key values and index key values.
    everything = b"".join(part_plain(d, n) if n.endswith(".part") else d
                          for n, d in files.items())
    assert b"grp" in everything and b"p" in everything


def test_indexes_streams_listeners_and_check_see_plain_items(tmp_path):
    path = str(tmp_path / "db")
    with Dynafile(path, encryption_key=K1, gsis=[GSI("by_g", "g", projection="KEYS_ONLY")],
                  durability="normal") as db:
        events = []
        db.add_stream_listener(events.append)
        db.put_item(item={"PK": "a", "SK": "1", "g": "x", "secret": "s"})
        assert [e.new["secret"] for e in events] == ["s"]
        assert list(db.query("x", index="by_g")) == [{"PK": "a", "SK": "1", "g": "x"}]
        (record,) = list(db.stream(from_sequence=0, follow=False))
        assert record.new["secret"] == "s"
        for value in stored_values(db, table_space(path) + "i1"):
            assert value[0] == 1  # index entries are encrypted too
        db.checkpoint()
        assert db.check().ok


# ---------------------------------------------------------------- keys


def test_opening_without_the_key_or_with_another(tmp_path):
    path = str(tmp_path / "db")
    with Dynafile(path, encryption_key=K1, serializer="json") as db:
        db.put_item(item={"PK": "a", "SK": "1", "secret": "SECRET"})
    with pytest.raises(EncryptionKeyError, match="encrypted.*'json'.*encryption_key"):
        Dynafile(path)
    with pytest.raises(SchemaMismatchError):  # it is one, and a ValidationError too
        Dynafile(path)
    with pytest.raises(EncryptionKeyError, match=f"lacking \\['{key_id(K1)}'\\]"):
        Dynafile(path, encryption_key=K2)
    with pytest.raises(EncryptionKeyError, match=f"lacking \\['{key_id(K1)}'\\]"):
        Dynafile(path, encryption_key=K2, read_only=True)
    with Dynafile(path, encryption_key=[K2, K1]) as db:  # a ring holding it works
        assert db.get_item(key={"PK": "a", "SK": "1"})["secret"] == "SECRET"


def test_key_for_a_plain_table_and_bad_keys(tmp_path):
    path = str(tmp_path / "db")
    Dynafile(path).close()
    with pytest.raises(EncryptionKeyError, match="not encrypted"):
        Dynafile(path, encryption_key=K1)
    for bad in ["a password", b"short", 42, [], [K1, "x"]]:
        with pytest.raises(EncryptionKeyError):
            Dynafile(str(tmp_path / "other"), encryption_key=bad)
    assert not os.path.exists(str(tmp_path / "other"))  # refused before anything was made
    assert "K1" not in repr(KeyRing(K1)) and key_id(K1) in repr(KeyRing(K1))


def test_a_wrong_key_never_returns_garbage(tmp_path):
    """Even when meta.json is edited to list the opener's (wrong) key, every
    read of an item under the real key is a DecryptionError naming the file."""
    path = str(tmp_path / "db")
    with Dynafile(path, encryption_key=K1) as db:
        db.put_item(item={"PK": "a", "SK": "1", "secret": "SECRET"})
    edit_table_meta(path, lambda t: t["properties"]["encryption"].update(keys=[key_id(K2)]))
    with Dynafile(path, encryption_key=K2) as db:
        with pytest.raises(DecryptionError, match=r"key id .* none of the keys") as err:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert err.value.path.endswith(".part")
        with pytest.raises(DecryptionError):
            list(db.scan())


def test_a_changed_key_id_fails_authentication(tmp_path):
    """A tamperer who sets a value's key id to the opener's key gets an
    authentication failure, not the other key's decryption of it."""
    path = str(tmp_path / "db")
    with Dynafile(path, encryption_key=[K1, K2]) as db:
        db.put_item(item={"PK": "a", "SK": "1", "secret": "SECRET"})
    (target,) = part_files(path, table_space(path))
    k2 = bytes.fromhex(key_id(K2))
    rewrite_part(target, lambda parts: [
        (d, pk, SortedDict({k: v[:1] + k2 + v[5:] for k, v in items.items()}))
        for d, pk, items in parts])
    with Dynafile(path, encryption_key=[K1, K2]) as db:
        with pytest.raises(DecryptionError, match="authentication failed") as err:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert err.value.path == target


# --------------------------------------------------------------- tamper


def test_tampered_partition_file(tmp_path):
    path = str(tmp_path / "db")
    with Dynafile(path, encryption_key=K1) as db:
        for i in range(5):
            db.put_item(item={"PK": "a", "SK": str(i), "secret": f"SECRET-{i}"})
    (target,) = part_files(path, table_space(path))
    with open(target, "rb") as f:
        original = f.read()
    # a flipped byte anywhere in the file: its checksum says so
    with open(target, "wb") as f:
        f.write(flip(original, len(original) - 5))
    with Dynafile(path, encryption_key=K1) as db:
        with pytest.raises(CorruptFileError) as err:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert err.value.path == target
    # a flipped byte in one ciphertext, checksum fixed: AES-GCM says so, and
    # only that item fails
    with open(target, "wb") as f:
        f.write(original)
    rewrite_part(target, lambda parts: [
        (d, pk, SortedDict({k: flip(v, len(v) - 20) if k == "3" else v
                            for k, v in items.items()})) for d, pk, items in parts])
    with Dynafile(path, encryption_key=K1) as db:
        with pytest.raises(DecryptionError, match="authentication failed") as err:
            db.get_item(key={"PK": "a", "SK": "3"})
        assert err.value.path == target
        assert isinstance(err.value, CorruptFileError)
        assert db.get_item(key={"PK": "a", "SK": "2"})["secret"] == "SECRET-2"
        report = db.check()
        (problem,) = report.problems
        assert os.path.relpath(target, path) in problem and "authentication failed" in problem


def test_tampered_log(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, encryption_key=K1, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "secret": "SECRET-LOG"})
    with db._core.reading():
        (value,) = stored_values(db)
    abandon(db)  # no checkpoint: the item lives in the log only
    (segment,) = glob.glob(os.path.join(path, "log", "*.log"))
    with open(segment, "rb") as f:
        data = f.read()
    at = data.index(bytes(value))
    with open(segment, "wb") as f:
        f.write(flip(data, at + len(value) - 3))
    fix_log_checksums(segment)
    with Dynafile(path, encryption_key=K1) as db:
        with pytest.raises(DecryptionError, match="authentication failed") as err:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert err.value.path == segment and err.value.offset == at


def test_a_ciphertext_moved_to_another_item_or_table(tmp_path):
    path = str(tmp_path / "db")
    with Database(path, encryption_key=K1) as app:
        one = app.create_table("one", pk_attribute="PK", sk_attribute="SK")
        two = app.create_table("two", pk_attribute="PK", sk_attribute="SK")
        for table in (one, two):
            table["a", "1"] = {"balance": 1}
            table["a", "2"] = {"balance": 1000}
    (target,) = part_files(path, table_space(path, "one"))
    rewrite_part(target, lambda parts: [
        (d, pk, SortedDict({"1": items["2"], "2": items["2"]})) for d, pk, items in parts])
    with Database(path, encryption_key=K1) as app:
        one = app.table("one")
        with pytest.raises(DecryptionError, match="another key: moved") as err:
            one["a", "1"]
        assert err.value.path == target
        with pytest.raises(DecryptionError):
            one.batch_get([{"PK": "a", "SK": "1"}])
        with pytest.raises(DecryptionError), one.transaction() as tx:
            tx.get_item(key={"PK": "a", "SK": "1"})
        assert one["a", "2"]["balance"] == 1000
        report = one.check()
        assert any("item key" in str(p) or "has key" in str(p) for p in report.problems)
    # from another table: the table id is bound
    (source,) = part_files(path, table_space(path, "two"))
    with open(source, "rb") as f:
        _, parts = decode_part(f.read(), source)
    foreign = bytes(parts[0].values[0])
    rewrite_part(target, lambda parts: [
        (d, pk, SortedDict({**items, "1": foreign})) for d, pk, items in parts])
    with Database(path, encryption_key=K1) as app, pytest.raises(DecryptionError,
                                                                 match="bound to table id"):
        app.table("one")["a", "1"]


def test_the_allowlist_still_checks_decrypted_pickles(tmp_path):
    """Defence in depth: a pickle naming os.system, encrypted properly (a key
    holder gone rogue), is still refused by the allowlist, naming the file."""
    path = str(tmp_path / "db")
    with Dynafile(path, encryption_key=K1) as db:
        db.put_item(item={"PK": "a", "SK": "1"})
        sealer = db._core.serializer
        evil = sealer.seal(b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94.")
    (target,) = part_files(path, table_space(path))
    rewrite_part(target, lambda parts: [
        (d, pk, SortedDict({k: evil for k in items})) for d, pk, items in parts])
    with Dynafile(path, encryption_key=K1) as db:
        with pytest.raises(UnsafeDataError) as err:
            db.get_item(key={"PK": "a", "SK": "1"})
        assert err.value.path == target


def test_overhead_is_fixed():
    ser = EncryptedSerializer("json", K1)
    item = {"PK": "a", "SK": "b", "v": "x" * 100}
    assert len(ser.dumps(item)) == len(ser.inner.dumps(item)) + OVERHEAD
    assert ser.loads(ser.dumps(item)) == item
    assert ser.dumps(item) != ser.dumps(item)  # a fresh nonce each time


# ------------------------------------------------------------- rotation


def fill(path: str, keys, n: int = 60) -> dict:
    model = {}
    with Dynafile(path, encryption_key=keys, durability="normal",
                  gsis=[GSI("by_g", "g"), GSI("keys", "g", projection="KEYS_ONLY")],
                  lsis=[LSI("by_v", "v")]) as db:
        with db.batch_writer() as w:
            for i in range(n):
                item = {"PK": f"p{i % 7}", "SK": f"{i:04}", "g": f"g{i % 3}", "v": i,
                        "secret": f"SECRET-{i}"}
                w.put_item(item=item)
                model[(item["PK"], item["SK"])] = item
        db.checkpoint()
        for i in range(0, n, 5):  # some only in the log
            key = (f"p{i % 7}", f"{i:04}")
            model[key] = {**model[key], "secret": f"SECRET-NEW-{i}"}
            db.put_item(item=model[key])
    return model


def verify(path: str, keys, model: dict) -> None:
    with Dynafile(path, encryption_key=keys) as db:
        got = {(i["PK"], i["SK"]): i for i in db.scan()}
        assert got == model
        for g in ("g0", "g1", "g2"):
            assert sorted(i["SK"] for i in db.query(g, index="by_g")) == sorted(
                sk for (_, sk), item in model.items() if item["g"] == g)
            assert len(list(db.query(g, index="keys"))) == sum(
                1 for item in model.values() if item["g"] == g)
        assert db.get_item(key={"PK": "p0", "SK": "0000"}) == model[("p0", "0000")]
        assert db.check().ok, db.check().problems


def all_key_ids(path: str, keys) -> set[str]:
    with Dynafile(path, encryption_key=keys) as db:
        schema = db._core.current_schema()
        return set().union(*(key_ids(stored_values(db, space)) for space in schema.spaces()))


def test_rotation(tmp_path):
    path = str(tmp_path / "db")
    model = fill(path, K1)
    with Dynafile(path, encryption_key=K1) as db:
        events = []
        db.add_stream_listener(events.append)
        before = db.sequence
        rewritten = db.rotate_encryption_key(K2, batch_size=7)
        assert rewritten == 60 * 4  # the items, and their entries in two GSIs and an LSI
        assert events == []  # a rotation changes no item
        assert list(db.stream(from_sequence=before + 1, follow=False)) == []
        assert db.encryption()["keys"] == [key_id(K2)]
        assert db.rotate_encryption_key(K2) == 0  # done already: nothing to do
    assert all_key_ids(path, K2) == {key_id(K2)}
    verify(path, K2, model)
    with pytest.raises(EncryptionKeyError):
        Dynafile(path, encryption_key=K1)
    # streams of records older than the rotation need the old key
    with Dynafile(path, encryption_key=[K2, K1]) as db:
        assert len(list(db.stream(from_sequence=0, follow=False))) == 60 + 12


def test_rotation_refuses_what_it_cannot_do(tmp_path):
    path = str(tmp_path / "db")
    with Dynafile(path) as db, pytest.raises(EncryptionKeyError, match="not encrypted"):
        db.rotate_encryption_key(K2)
    path = str(tmp_path / "enc")
    with Dynafile(path, encryption_key=K1) as db:
        with pytest.raises(ValidationError):
            db.rotate_encryption_key(K2, batch_size=0)
        with pytest.raises(EncryptionKeyError):
            db.rotate_encryption_key(b"short")
        assert db.encryption()["keys"] == [key_id(K1)]


def test_rotation_with_a_concurrent_writer_and_a_stale_process(tmp_path):
    """Writes during the rotation land under the new key (or are rewritten);
    a process that opened with the old key only is refused writes once the
    table moved on, and cannot read the new key's values."""
    path = str(tmp_path / "db")
    model = fill(path, K1, n=200)
    stale = Dynafile(path, encryption_key=K1, durability="normal")
    db = Dynafile(path, encryption_key=[K1, K2], durability="normal")
    writer = Dynafile(path, encryption_key=[K1, K2], durability="normal")
    stop = threading.Event()
    errors = []

    def write():
        i = 0
        while not stop.is_set():
            item = {"PK": f"w{i % 5}", "SK": f"{i:05}", "g": "g0", "v": i, "secret": f"SECRET-W{i}"}
            try:
                writer.put_item(item=item)
            except Exception as exc:
                errors.append(exc)
                return
            model[(item["PK"], item["SK"])] = item
            i += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        db.rotate_encryption_key(K2, batch_size=25)
    finally:
        stop.set()
        thread.join()
    assert not errors
    with pytest.raises(EncryptionKeyError, match="rotated to key id"):
        stale.put_item(item={"PK": "s", "SK": "1", "g": "g0", "v": 0})
    with pytest.raises(EncryptionKeyError, match="lacks"):
        stale.get_item(key={"PK": "p0", "SK": "0000"})
    for table in (stale, db, writer):
        table.close()
    assert all_key_ids(path, K2) == {key_id(K2)}
    verify(path, K2, model)


def test_an_interrupted_rotation_needs_both_keys_and_resumes(tmp_path):
    path = str(tmp_path / "db")
    model = fill(path, K1)
    edit_table_meta(path, lambda t: t["properties"]["encryption"].update(
        keys=[key_id(K2), key_id(K1)], rotating=True))  # as a kill after step 1 leaves it
    with pytest.raises(EncryptionKeyError, match="rotation is in progress"):
        Dynafile(path, encryption_key=K2)
    with pytest.raises(EncryptionKeyError, match="rotation is in progress"):
        Dynafile(path, encryption_key=K1)
    verify(path, [K2, K1], model)
    with Dynafile(path, encryption_key=[K2, K1]) as db:
        db.put_item(item={**model[("p0", "0000")], "secret": "SECRET-DURING"})
        model[("p0", "0000")] = db.get_item(key={"PK": "p0", "SK": "0000"})
        assert key_ids(stored_values(db)) == {key_id(K1), key_id(K2)}
        db.rotate_encryption_key(K2)
    verify(path, K2, model)


# ------------------------------------------------ rotation killed midway

CHILD = """
import sys
from dynafile import Dynafile
path, new, old, batch = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3]), int(sys.argv[4])
with Dynafile(path, encryption_key=[new, old], durability="full") as db:
    print("rotated", db.rotate_encryption_key(new, batch_size=batch), flush=True)
"""

# (point, n): SIGKILL at the n-th time the rotating process reaches the point
# (negative: counted from the last, as a dry run on a copy finds them).
KILL_POINTS = [
    ("rename.before", 1),          # replacing meta.json at the start: nothing changed yet
    ("log.append.after", 1),       # meta.json says "rotating", its mark just logged
    ("log.append.before", 3),      # before the second batch record (one batch done)
    ("log.fsync.after", 6),        # five batch records synced, more to come
    ("checkpoint.write.before", 2),  # every value rewritten; the checkpoint's first file
    ("rename.before", -2),         # the checkpoint's manifest
    ("file.remove.before", 1),     # the checkpoint installed, old partition files not removed
    ("rename.before", -1),         # meta.json listing the new key alone
    ("log.append.before", -1),     # ...replaced, its mark not logged yet
]


def count_points(path: str, tmp: str) -> dict[str, int]:
    """How often a rotation of (a copy of) ``path`` reaches each named point."""
    import shutil

    from dynafile.storage import fs

    copy = os.path.join(tmp, "dry")
    shutil.copytree(path, copy)
    counts: dict[str, int] = {}
    db = Dynafile(copy, encryption_key=[K2, K1], durability="full")
    fs.hook = lambda point, _path: counts.__setitem__(point, counts.get(point, 0) + 1)
    try:
        db.rotate_encryption_key(K2, batch_size=9)
    finally:
        fs.hook = None
        db.close()
    return counts


def spawn_rotation(path: str, crash_at: str | None, batch: int = 9) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DYNAFILE_CRASH_AT", None)
    if crash_at is not None:
        env["DYNAFILE_CRASH_AT"] = crash_at
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", CHILD, path, K2.hex(), K1.hex(), str(batch)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("point,nth", KILL_POINTS)
def test_rotation_killed_at_named_points_then_resumed(tmp_path, point, nth):
    path = str(tmp_path / "db")
    model = fill(path, K1)
    if nth < 0:
        nth += count_points(path, str(tmp_path))[point] + 1
    done = spawn_rotation(path, f"{point}:{nth}")
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
    # every item is readable with both keys, through every index, and check() is clean
    verify(path, [K2, K1], model)
    ids = all_key_ids(path, [K2, K1])
    assert ids <= {key_id(K1), key_id(K2)}
    # resumed (killed again, later, for the first points), it finishes
    again = spawn_rotation(path, None)
    assert again.returncode == 0, again.stderr
    assert all_key_ids(path, K2) == {key_id(K2)}
    verify(path, K2, model)  # only the new key is needed now
    with Dynafile(path, encryption_key=K2) as db:
        assert db.encryption() == {"cipher": "AES-GCM", "format": 1, "keys": [key_id(K2)]}
