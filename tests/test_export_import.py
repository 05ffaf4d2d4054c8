"""Export in the layout of DynamoDB's export to S3, import of exports and of
DynamoDB's import-from-S3 files: values and table definitions read back
exactly; damaged, incomplete and malformed input is refused, naming where."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import tracemalloc

import pytest
from endpoints import rich_items

from dynafile import GSI, LSI, Database
from dynafile.transfer import TransferError, export_table, find_source, import_table
from dynafile.transfer.exchange import definition_from_keys
from dynafile.transfer.values import item_to_dynamodb


def encoded(table):
    return sorted(json.dumps(item_to_dynamodb(i), sort_keys=True) for i in table.scan())


def make_source(path, n=300):
    db = Database(path, durability="normal")
    table = db.create_table("orders", pk_attribute="pk", sk_attribute="sk",
                            gsis=[GSI("by_status", "status", "total", projection="INCLUDE",
                                      include=["name"])],
                            lsis=[LSI("by_name", "name", projection="KEYS_ONLY")],
                            ttl_attribute="expires", stream_view_type="NEW_IMAGE",
                            tags={"team": "shop"}, properties={"owner": "me"})
    with table.batch_writer() as writer:
        for item in rich_items(n):
            writer.put_item(item=item)
    return db


def test_export_writes_dynamodbs_layout(tmp_path):
    db = make_source(str(tmp_path / "db"))
    result = export_table(db, "orders", tmp_path / "out", items_per_file=128)
    folder = tmp_path / "out" / "AWSDynamoDB" / result.export_id
    assert result.directory == str(folder) and result.items == 300 and result.files == 3
    names = sorted(os.listdir(folder))
    assert names == ["_started", "data", "dynafile-table.json", "manifest-files.checksum",
                     "manifest-files.json", "manifest-summary.checksum",
                     "manifest-summary.json"]
    summary_raw = (folder / "manifest-summary.json").read_bytes()
    assert (folder / "manifest-summary.checksum").read_text() == \
        hashlib.md5(summary_raw).hexdigest()
    summary = json.loads(summary_raw)
    assert summary["version"] == "2020-06-30" and summary["itemCount"] == 300
    assert summary["outputFormat"] == "DYNAMODB_JSON" and summary["exportType"] == "FULL_EXPORT"
    assert summary["exportArn"].endswith(f":table/orders/export/{result.export_id}")
    assert summary["manifestFilesS3Key"] == f"AWSDynamoDB/{result.export_id}/manifest-files.json"
    assert summary["billedSizeBytes"] > 0
    files_raw = (folder / "manifest-files.json").read_bytes()
    assert (folder / "manifest-files.checksum").read_text() == hashlib.md5(files_raw).hexdigest()
    entries = [json.loads(line) for line in files_raw.decode().splitlines()]
    assert [e["itemCount"] for e in entries] == [128, 128, 44]
    lines = []
    for entry in entries:
        assert set(entry) == {"itemCount", "md5Checksum", "etag", "dataFileS3Key"}
        data = (tmp_path / "out" / entry["dataFileS3Key"]).read_bytes()
        assert entry["md5Checksum"] == base64.b64encode(hashlib.md5(data).digest()).decode()
        assert entry["etag"] == hashlib.md5(data).hexdigest()
        assert entry["dataFileS3Key"].endswith(".json.gz") and data[:2] == b"\x1f\x8b"
        lines += gzip.decompress(data).decode().splitlines()
    assert len(lines) == 300 and all(list(json.loads(line)) == ["Item"] for line in lines)
    first = json.loads(lines[0])["Item"]
    assert first["empty"] == {"S": ""} and first["empty_blob"] == {"B": ""}
    assert len(first["n38"]["N"].strip("-").replace(".", "")) == 38
    definition = json.loads((folder / "dynafile-table.json").read_text())
    assert definition["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert definition["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expires"}
    assert definition["GlobalSecondaryIndexes"][0]["Projection"] == {
        "ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]}
    db.close()


def test_export_then_import_loses_nothing(tmp_path):
    db = make_source(str(tmp_path / "db"))
    export_table(db, "orders", tmp_path / "out", items_per_file=100)
    with Database(str(tmp_path / "copy"), durability="normal") as copy:
        result = import_table(find_source(str(tmp_path / "out")), copy, "orders2", batch=64)
        assert result.items == 300 and result.created
        assert encoded(copy.table("orders2")) == encoded(db.table("orders"))
        theirs, ours = db.describe_table("orders"), copy.describe_table("orders2")
        for key in ("pk_attribute", "sk_attribute", "key_types", "ttl_attribute",
                    "stream_view_type", "ttl_mode", "serializer", "tags", "properties"):
            assert ours[key] == theirs[key], key
        strip = {"id", "state"}
        assert {n: {k: v for k, v in i.items() if k not in strip}
                for n, i in ours["indexes"].items()} == \
            {n: {k: v for k, v in i.items() if k not in strip}
             for n, i in theirs["indexes"].items()}
        assert list(copy.table("orders2").query("open", index="by_status")) == \
            list(db.table("orders").query("open", index="by_status"))
        with pytest.raises(TransferError, match="exists"):
            import_table(find_source(str(tmp_path / "out")), copy, "orders2")
        again = import_table(find_source(str(tmp_path / "out")), copy, "orders2", existing=True)
        assert again.items == 300 and not again.created
    db.close()


def test_import_from_s3_input_files_plain_and_gzip(tmp_path):
    items = rich_items(50)
    lines = [json.dumps({"Item": item_to_dynamodb(i)}) + "\n" for i in items]
    source = tmp_path / "in"
    (source / "part").mkdir(parents=True)
    (source / "a.json").write_text("".join(lines[:20]))
    with gzip.open(source / "part" / "b.json.gz", "wt") as f:   # gzip told by its bytes
        f.writelines(lines[20:40])
    with gzip.open(source / "part" / "c", "wt") as f:
        f.writelines(lines[40:])
    (source / "_SUCCESS").write_text("")       # ignored, as are hidden files
    (source / ".hidden").write_text("junk")
    with Database(str(tmp_path / "db"), durability="normal") as db:
        with pytest.raises(TransferError, match="no table definition"):
            import_table(find_source(str(source)), db, "t")
        result = import_table(find_source(str(source)), db, "things",
                              definition=definition_from_keys("pk", "sk:N"))
        assert result.items == 50
        assert db.describe_table("things")["key_types"] == {"pk": "S", "sk": "N"}
        assert encoded(db.table("things")) == sorted(
            json.dumps(item_to_dynamodb(i), sort_keys=True) for i in items)
        one = import_table(find_source(str(source / "a.json")), db, "uuu",
                           definition=definition_from_keys("pk", "sk:N"))
        assert one.items == 20


@pytest.mark.parametrize("line, message", [
    ('{"pk": {"S": "a"}}', 'a line must be {"Item": {...}}'),
    ('{"Item": {"pk": {"S": "a"}, "sk": {"N": "x"}}}', "sk: not a number"),
    ('{"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "s": {"SS": []}}}', "s: SS must hold"),
    ('{"Item": ', "not JSON"),
    ('{"Item": {"pk": {"N": "1"}, "sk": {"N": "1"}}}', "Type mismatch for key pk"),
])
def test_bad_lines_are_refused_naming_file_and_line(tmp_path, line, message):
    good = json.dumps({"Item": {"pk": {"S": "a"}, "sk": {"N": "0"}}})
    path = tmp_path / "items.json"
    path.write_text(good + "\n\n" + line + "\n")
    with Database(str(tmp_path / "db"), durability="normal") as db:
        with pytest.raises(TransferError) as caught:
            import_table(find_source(str(path)), db, "things",
                         definition=definition_from_keys("pk:S", "sk:N"))
        assert f"{path}:3: " in str(caught.value) and message in str(caught.value)


def test_damaged_or_incomplete_exports_are_refused(tmp_path):
    db = make_source(str(tmp_path / "db"), n=50)
    result = export_table(db, "orders", tmp_path / "out", items_per_file=20)
    folder = tmp_path / "out" / "AWSDynamoDB" / result.export_id
    data_files = sorted((folder / "data").iterdir())
    original = data_files[0].read_bytes()
    # the same items, compressed again: only the manifest's MD5 can tell
    data_files[0].write_bytes(gzip.compress(gzip.decompress(original), compresslevel=1))
    with Database(str(tmp_path / "copy"), durability="normal") as copy, \
            pytest.raises(TransferError, match="MD5 checksum .* differs from the manifest's"):
        import_table(find_source(str(tmp_path / "out")), copy, "aaa")
    damaged = bytearray(original)
    damaged[-6] ^= 0xFF   # gzip's CRC of the content
    data_files[0].write_bytes(bytes(damaged))
    with Database(str(tmp_path / "copy"), durability="normal") as copy, \
            pytest.raises(TransferError, match="CRC check failed"):
        import_table(find_source(str(tmp_path / "out")), copy, "bbb")
    # a second export that never finished: no manifest-summary.json
    second = export_table(db, "orders", tmp_path / "out")
    os.unlink(os.path.join(second.directory, "manifest-summary.json"))
    with pytest.raises(TransferError, match=f"export {second.export_id} is incomplete"):
        find_source(str(tmp_path / "out"), second.export_id)
    third = export_table(db, "orders", tmp_path / "out")
    with pytest.raises(TransferError, match="2 exports"):
        find_source(str(tmp_path / "out"))
    assert find_source(str(tmp_path / "out"), third.export_id).items == 50
    assert find_source(third.directory).export_id == third.export_id
    db.close()


def test_a_count_that_differs_from_the_manifest_is_refused(tmp_path):
    db = make_source(str(tmp_path / "db"), n=30)
    result = export_table(db, "orders", tmp_path / "out")
    folder = tmp_path / "out" / "AWSDynamoDB" / result.export_id
    manifest = folder / "manifest-files.json"
    entry = json.loads(manifest.read_text())
    entry["itemCount"] = 31
    manifest.write_text(json.dumps(entry) + "\n")
    with Database(str(tmp_path / "copy"), durability="normal") as copy, \
            pytest.raises(TransferError, match="30 items, the manifest says 31"):
        import_table(find_source(str(tmp_path / "out")), copy, "aaa")
    db.close()


def test_export_and_import_memory_stays_bounded(tmp_path):
    """What export adds to a scan's memory (the engine's cache) stays the
    same when the table grows 4x; import's peak grows far less than 4x."""
    overheads, imports = [], []
    for n in (2_000, 8_000):
        path = str(tmp_path / f"db{n}")
        with Database(path, durability="normal") as db:
            table = db.create_table("things", pk_attribute="pk", sk_attribute="sk")
            with table.batch_writer() as writer:
                for i in range(n):
                    writer.put_item(item={"pk": f"p{i % 50}", "sk": i, "pad": "x" * 200})
        peaks = {}
        for what in ("scan", "export"):
            with Database(path, read_only=True) as db:
                tracemalloc.start()
                if what == "scan":
                    for _ in db.table("things").scan():
                        pass
                else:
                    export_table(db, "things", tmp_path / f"out{n}", items_per_file=1_000)
                peaks[what] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        overheads.append(peaks["export"] - peaks["scan"])
        with Database(str(tmp_path / f"in{n}"), durability="normal") as db:
            tracemalloc.start()
            import_table(find_source(str(tmp_path / f"out{n}")), db, "things", batch=500)
            imports.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    assert all(o < 4 << 20 for o in overheads), overheads
    assert overheads[1] < overheads[0] * 1.5 + (256 << 10), overheads
    assert imports[1] < imports[0] * 2, imports   # 4x the items, not 4x the memory
