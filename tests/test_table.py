"""The table API: the original 0.1.3 surface plus DynamoDB's key conditions."""

import json
import os
import time
from decimal import Decimal

import pytest
from conftest import abandon, engine, snapshot_files, table_meta

from dynafile import (
    ClosedError,
    Dynafile,
    DynafileError,
    ItemTooLargeError,
    Key,
    SchemaMismatchError,
    UnsupportedFormatError,
    ValidationError,
)


def fill(db, pk="user#1", n=5):
    for i in range(n):
        db.put_item(item={"PK": pk, "SK": f"order#{i:04d}", "total": i * 10})


def sks(items):
    return [i["SK"] for i in items]


def test_put_get_delete_roundtrip(db):
    item = {"PK": "user#1", "SK": "order#0001", "total": 42, "tags": ["a"], "price": Decimal("1.5")}
    assert db.put_item(item=item) is None
    assert db.get_item(key={"PK": "user#1", "SK": "order#0001"}) == item
    assert db.get_item(key={"PK": "user#1", "SK": "missing"}) is None
    db.delete_item(key={"PK": "user#1", "SK": "order#0001"})
    assert db.get_item(key={"PK": "user#1", "SK": "order#0001"}) is None
    db.delete_item(key={"PK": "user#1", "SK": "order#0001"})  # missing: no error


def test_original_api_positional_and_keyword_only(db):
    with pytest.raises(TypeError):
        db.put_item({"PK": "a", "SK": "b"})  # item= is keyword-only
    with pytest.raises(TypeError):
        db.get_item({"PK": "a", "SK": "b"})
    db.put_item(item={"PK": "a", "SK": "b", "x": 1})
    assert list(db.scan(lambda i: i["x"] == 1)) == [{"PK": "a", "SK": "b", "x": 1}]
    assert list(db.scan(_filter=lambda i: i["x"] == 2)) == []
    assert next(iter(db.scan(filter=lambda i: i["x"] == 1)))["SK"] == "b"
    assert next(iter(db.query("a", _filter=lambda i: True)))["SK"] == "b"


def test_default_constructor_matches_original(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = Dynafile()
    assert (db.pk_attribute, db.sk_attribute, db.ttl_attribute) == ("PK", "SK", None)
    assert db.path == str(tmp_path)
    db.close()
    assert os.path.exists(tmp_path / "meta.json")


def test_query_order_and_direction(db):
    for sk in ["c", "a", "e", "b", "d"]:
        db.put_item(item={"PK": "p", "SK": sk})
    db.put_item(item={"PK": "other", "SK": "a"})
    assert sks(db.query("p")) == ["a", "b", "c", "d", "e"]
    assert sks(db.query("p", scan_index_forward=False)) == ["e", "d", "c", "b", "a"]
    assert sks(db.query("missing")) == []


def test_page_iterates_the_same_after_len_and_across_page_sizes(db):
    """len(), list(), two iterators at once and the 1 MB page cut agree."""
    for i in range(30):
        db.put_item(item={"PK": "big", "SK": f"{i:02d}", "pad": "x" * 60_000})
    for i in range(5):
        db.put_item(item={"PK": "small", "SK": str(i)})
    small = db.query("small")
    assert len(small) == 5 and [i["SK"] for i in small] == ["0", "1", "2", "3", "4"]
    assert [i["SK"] for i in small] == ["0", "1", "2", "3", "4"]  # again
    big = db.query("big")
    first, second = iter(big), iter(big)
    assert next(first)["SK"] == "00" and next(second)["SK"] == "00"
    assert big.count < 30 and big.last_evaluated_key is not None  # the page size cut it
    assert [i["SK"] for i in first] == [f"{i:02d}" for i in range(1, 30)]
    assert len(list(second)) == 29
    assert [i["SK"] for i in list(db.query("big"))] == [f"{i:02d}" for i in range(30)]


def test_starts_with_is_inclusive_start_position(db):
    for sk in ["a", "b", "c", "d"]:
        db.put_item(item={"PK": "p", "SK": sk})
    assert sks(db.query("p", starts_with="b")) == ["b", "c", "d"]
    assert sks(db.query("p", starts_with="bb")) == ["c", "d"]
    assert sks(db.query("p", starts_with="c", scan_index_forward=False)) == ["c", "b", "a"]
    assert sks(db.query("p", starts_with="bb", scan_index_forward=False)) == ["b", "a"]


@pytest.mark.parametrize(
    "cond, expected",
    [
        (Key("SK").eq("order#0002"), ["order#0002"]),
        (Key("SK").lt("order#0002"), ["order#0000", "order#0001"]),
        (Key("SK").lte("order#0002"), ["order#0000", "order#0001", "order#0002"]),
        (Key("SK").gt("order#0002"), ["order#0003", "order#0004", "profile"]),
        (Key("SK").gte("order#0003"), ["order#0003", "order#0004", "profile"]),
        (Key("SK").between("order#0001", "order#0003"), ["order#0001", "order#0002", "order#0003"]),
        (Key("SK").begins_with("order#000"), [f"order#{i:04d}" for i in range(5)]),
        (Key("SK").begins_with("order#0003"), ["order#0003"]),
        (Key("SK").begins_with("x"), []),
    ],
)
def test_sort_key_conditions(db, cond, expected):
    fill(db)
    db.put_item(item={"PK": "user#1", "SK": "profile"})
    assert sks(db.query("user#1", sk=cond)) == expected
    assert sks(db.query("user#1", sk=cond, scan_index_forward=False)) == expected[::-1]


def test_begins_with_reverse_stays_inside_prefix(db):
    for sk in ["a", "b#1", "b#2", "b\U0010ffff", "c"]:
        db.put_item(item={"PK": "p", "SK": sk})
    assert sks(db.query("p", sk=Key("SK").begins_with("b"), scan_index_forward=False)) == [
        "b\U0010ffff", "b#2", "b#1"]


def test_condition_on_wrong_attribute_is_rejected(db):
    with pytest.raises(ValidationError, match="not the sort key"):
        db.query("p", sk=Key("other").eq("x"))


def test_numeric_keys_sort_numerically(db_path):
    db = Dynafile(db_path, pk_attribute="PK", sk_attribute="n", durability="normal")
    for n in [10, 2, Decimal("2.5"), 1.25, -3, 100]:
        db.put_item(item={"PK": "p", "n": n})
    assert [i["n"] for i in db.query("p")] == [-3, 1.25, 2, Decimal("2.5"), 10, 100]
    # 1, 1.0 and Decimal("1") are one key
    db.put_item(item={"PK": "p", "n": 1, "v": "int"})
    db.put_item(item={"PK": "p", "n": 1.0, "v": "float"})
    assert db.get_item(key={"PK": "p", "n": Decimal(1)})["v"] == "float"
    assert [i["n"] for i in db.query("p", sk=Key("n").between(1, 2.5))] == [1.0, 1.25, 2,
                                                                           Decimal("2.5")]
    db.close()


def test_table_without_sort_key(db_path):
    db = Dynafile(db_path, pk_attribute="id", sk_attribute=None, durability="normal")
    db.put_item(item={"id": "a", "v": 1})
    db.put_item(item={"id": "b", "v": 2})
    assert db.get_item(key={"id": "a"}) == {"id": "a", "v": 1}
    assert list(db.query("b")) == [{"id": "b", "v": 2}]
    with pytest.raises(ValidationError):
        db.query("a", sk=Key("SK").eq("x"))
    assert sorted(i["id"] for i in db.scan()) == ["a", "b"]
    db.delete_item(key={"id": "a"})
    assert db.get_item(key={"id": "a"}) is None
    db.close()


def test_key_types_are_fixed_on_first_write(db, db_path):
    db.put_item(item={"PK": "a", "SK": "b"})
    with pytest.raises(ValidationError, match="Type mismatch for key PK expected: S actual: N"):
        db.put_item(item={"PK": 1, "SK": "b"})
    with pytest.raises(ValidationError, match="SK"):
        db.put_item(item={"PK": "a", "SK": b"bytes"})
    assert table_meta(db_path)["key_types"] == {"PK": "S", "SK": "S"}
    assert json.load(open(os.path.join(db_path, "meta.json")))["format_version"] == 2
    db2 = Dynafile(db_path, durability="normal")
    with pytest.raises(ValidationError):
        db2.put_item(item={"PK": 5, "SK": "b"})
    db2.close()


def test_key_type_fixed_by_another_instance_is_enforced(db_path):
    a = Dynafile(db_path, durability="normal")
    b = Dynafile(db_path, durability="normal")
    a.put_item(item={"PK": "x", "SK": "y"})
    with pytest.raises(ValidationError):
        b.put_item(item={"PK": 1, "SK": "y"})
    a.close()
    b.close()


@pytest.mark.parametrize(
    "item, match",
    [
        ({"SK": "b"}, "Missing the key PK"),
        ({"PK": "a"}, "Missing the key SK"),
        ({"PK": None, "SK": "b"}, "PK"),
        ({"PK": "", "SK": "b"}, "empty"),
        ({"PK": True, "SK": "b"}, "actual: BOOL"),
        ({"PK": float("nan"), "SK": "b"}, "actual: N"),
        ({"PK": float("inf"), "SK": "b"}, "actual: N"),
        ({"PK": ["a"], "SK": "b"}, "actual: L"),
        ({"PK": "a", "SK": "b", 1: "x"}, "attribute names must be strings"),
        ({"PK": "a" * 5000, "SK": "b"}, "limit"),
        ({"PK": "a", "SK": "b", "n": float("nan")}, "numeric value"),
        ({"PK": "a", "SK": "b", "exp": Decimal("NaN")}, "numeric value"),
    ],
)
def test_bad_items_raise_and_change_nothing(db, db_path, item, match):
    db.put_item(item={"PK": "keep", "SK": "me"})
    before = snapshot_files(db_path)
    with pytest.raises(ValidationError, match=match):
        db.put_item(item=item)
    assert snapshot_files(db_path) == before


def test_non_dict_and_unserializable_items(db, db_path):
    db.put_item(item={"PK": "keep", "SK": "me"})
    before = snapshot_files(db_path)
    for bad in ["text", None, [("PK", "a")], 42]:
        with pytest.raises(ValidationError, match="must be a dict"):
            db.put_item(item=bad)
    with pytest.raises(ValidationError, match="Unsupported type 'function'"):
        db.put_item(item={"PK": "a", "SK": "b", "f": lambda: 1})
    with pytest.raises(ItemTooLargeError):
        db.put_item(item={"PK": "a", "SK": "b", "blob": b"x" * 500_000})
    assert snapshot_files(db_path) == before
    assert db.get_item(key={"PK": "a", "SK": "b"}) is None


def test_item_size_limit_is_configurable(db_path):
    db = Dynafile(db_path, max_item_size=1000, durability="normal")
    db.put_item(item={"PK": "a", "SK": "b", "blob": b"x" * 500})
    with pytest.raises(ItemTooLargeError) as info:
        db.put_item(item={"PK": "a", "SK": "b", "blob": b"x" * 2000})
    assert info.value.limit == 1000
    assert isinstance(info.value, ValidationError) and isinstance(info.value, DynafileError)
    db.close()


def test_key_dict_with_extra_attributes_is_rejected(db):
    with pytest.raises(ValidationError, match="The provided key element does not match the schema"):
        db.get_item(key={"PK": "a", "SK": "b", "extra": 1})


def test_values_are_isolated(db):
    item = {"PK": "a", "SK": "b", "nested": {"list": [1, 2]}}
    db.put_item(item=item)
    item["nested"]["list"].append(3)
    got = db.get_item(key={"PK": "a", "SK": "b"})
    assert got["nested"]["list"] == [1, 2]
    got["nested"]["list"].append(99)
    assert db.get_item(key={"PK": "a", "SK": "b"})["nested"]["list"] == [1, 2]
    q = next(iter(db.query("a")))
    q["nested"]["x"] = 1
    assert "x" not in next(iter(db.scan()))["nested"]


def test_batch_writer_and_last_write_wins(db):
    with db.batch_writer() as w:
        for i in range(50):
            w.put_item(item={"PK": f"p{i % 3}", "SK": f"{i:03d}", "v": i})
        w.put_item(item={"PK": "p0", "SK": "000", "v": "again"})
        w.delete_item(key={"PK": "p1", "SK": "001"})
        w.put_item(item={"PK": "p1", "SK": "001", "v": "back"})
        w.delete_item(key={"PK": "p2", "SK": "002"})
    assert db.get_item(key={"PK": "p0", "SK": "000"})["v"] == "again"
    assert db.get_item(key={"PK": "p1", "SK": "001"})["v"] == "back"
    assert db.get_item(key={"PK": "p2", "SK": "002"}) is None
    assert len(list(db.scan())) == 49


def test_batch_writer_is_one_record_and_flushes_by_size(db, db_path):
    lsn = engine(db).lsn
    with db.batch_writer() as w:
        for i in range(10):
            w.put_item(item={"PK": "p", "SK": str(i)})
    assert engine(db).lsn == lsn + 1
    with db.batch_writer(flush_amount=4) as w:
        for i in range(10):
            w.put_item(item={"PK": "q", "SK": str(i)})
        assert engine(db).lsn == lsn + 3  # two full buffers flushed already
    assert engine(db).lsn == lsn + 4
    assert len(list(db.query("q"))) == 10


def test_batch_writer_bad_item_raises_at_once_and_block_error_discards(db):
    with pytest.raises(ValidationError), db.batch_writer() as w:
        w.put_item(item={"PK": "a", "SK": "1"})
        w.put_item(item={"PK": "a"})
    assert db.get_item(key={"PK": "a", "SK": "1"}) is None


def test_batch_get_order_and_missing(db):
    fill(db)
    keys = [{"PK": "user#1", "SK": "order#0003"}, {"PK": "nobody", "SK": "x"},
            {"PK": "user#1", "SK": "order#0000"}]
    got = db.batch_get(keys)
    assert [g and g["SK"] for g in got] == ["order#0003", None, "order#0000"]
    with pytest.raises(ValidationError):
        db.batch_get([{"PK": "a"}])


def test_stream_listeners(db):
    events = []
    db.add_stream_listener(events.append)
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    db.put_item(item={"PK": "a", "SK": "1", "v": 2})
    db.put_item(item={"PK": "a", "SK": "1", "v": 2})  # changes nothing: no event
    db.delete_item(key={"PK": "a", "SK": "1"})
    db.delete_item(key={"PK": "a", "SK": "1"})  # nothing to delete: no event
    assert [(e.action, e.new and e.new["v"], e.old and e.old["v"]) for e in events] == [
        ("PUT", 1, None), ("PUT", 2, 1), ("DELETE", None, 2)]
    assert [e.event_name for e in events] == ["INSERT", "MODIFY", "REMOVE"]
    assert events[0].sequence < events[1].sequence < events[2].sequence
    action, new, old = events[0][:3]  # field order kept from the original
    assert action == "PUT" and new["v"] == 1 and old is None
    db.remove_stream_listener(events.append)
    db.put_item(item={"PK": "a", "SK": "2"})
    assert len(events) == 3


def test_listener_sees_committed_state_and_errors_do_not_undo(db, caplog):
    seen = []

    def listener(event):
        seen.append(db.get_item(key={"PK": "a", "SK": "1"}))
        raise RuntimeError("boom")

    db.add_stream_listener(listener)
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    assert seen == [{"PK": "a", "SK": "1", "v": 1}]
    assert db.get_item(key={"PK": "a", "SK": "1"})["v"] == 1
    assert "boom" in caplog.text


def test_batch_events_one_per_change(db):
    events = []
    db.add_stream_listener(events.append)
    with db.batch_writer() as w:
        w.put_item(item={"PK": "a", "SK": "1"})
        w.put_item(item={"PK": "b", "SK": "1"})
        w.delete_item(key={"PK": "a", "SK": "1"})
    assert [(e.action, (e.new or e.old)["PK"]) for e in events] == [
        ("PUT", "a"), ("PUT", "b"), ("DELETE", "a")]
    assert len({e.sequence for e in events}) == 1


def test_ttl_hides_expired_items(db_path):
    now = [1000.0]
    db = Dynafile(db_path, ttl_attribute="expires", clock=lambda: now[0], durability="normal")
    db.put_item(item={"PK": "a", "SK": "old", "expires": 999})
    db.put_item(item={"PK": "a", "SK": "later", "expires": 2000})
    db.put_item(item={"PK": "a", "SK": "none"})
    db.put_item(item={"PK": "a", "SK": "zero", "expires": 0})
    db.put_item(item={"PK": "a", "SK": "text", "expires": "yesterday"})
    db.put_item(item={"PK": "a", "SK": "bool", "expires": True})
    db.put_item(item={"PK": "a", "SK": "dec", "expires": Decimal("999.5")})
    visible = ["bool", "later", "none", "text", "zero"]
    assert sks(db.query("a")) == visible
    assert sorted(sks(db.scan())) == visible
    assert db.get_item(key={"PK": "a", "SK": "old"}) is None
    assert db.batch_get([{"PK": "a", "SK": "old"}, {"PK": "a", "SK": "later"}])[0] is None
    now[0] = 3000.0
    assert sks(db.query("a")) == ["bool", "none", "text", "zero"]
    db.close()


def test_ttl_default_clock_expires(db_path):
    db = Dynafile(db_path, ttl_attribute="ttl", durability="normal")
    db.put_item(item={"PK": "1", "SK": "2", "ttl": time.time() - 1000})
    assert list(db.scan()) == []
    db.close()


def test_reopen_sees_everything(db_path):
    db = Dynafile(db_path)
    fill(db, n=20)
    db.delete_item(key={"PK": "user#1", "SK": "order#0005"})
    db.close()
    db = Dynafile(db_path)
    assert len(list(db.query("user#1"))) == 19
    db.close()


def test_reopen_without_close_replays_log(db_path):
    db = Dynafile(db_path, durability="normal")
    fill(db, n=20)
    abandon(db)  # as if the process died: no checkpoint
    db2 = Dynafile(db_path)
    assert len(list(db2.query("user#1"))) == 20
    db2.close()


def test_schema_mismatch_and_unknown_version(db_path):
    Dynafile(db_path, pk_attribute="id", sk_attribute="sort").close()
    with pytest.raises(SchemaMismatchError):
        Dynafile(db_path, pk_attribute="PK", sk_attribute="SK")
    with pytest.raises(SchemaMismatchError):
        Dynafile(db_path, pk_attribute="id", sk_attribute="sort", serializer="json")
    meta_path = os.path.join(db_path, "meta.json")
    meta = json.load(open(meta_path))
    meta["format_version"] = 99
    json.dump(meta, open(meta_path, "w"))
    with pytest.raises(UnsupportedFormatError, match="99"):
        Dynafile(db_path, pk_attribute="id", sk_attribute="sort")


def test_closed_table_raises(db_path):
    with Dynafile(db_path) as db:
        db.put_item(item={"PK": "a", "SK": "b"})
    with pytest.raises(ClosedError):
        db.get_item(key={"PK": "a", "SK": "b"})
    db.close()  # idempotent


def test_a_scan_iterated_after_close_raises_closed_error(db_path):
    db = Dynafile(db_path, durability="normal")
    for i in range(3):
        db.put_item(item={"PK": f"p{i}", "SK": "s"})
    page = db.scan()
    first = iter(page)
    next(first)
    db.close()
    with pytest.raises(ClosedError):
        list(first)
    with pytest.raises(ClosedError):
        list(db.query("p0"))


def test_retention_zero_and_a_checkpoint_free_the_log(db_path):
    db = Dynafile(db_path, durability="normal", retention=0)
    for i in range(200):
        db.put_item(item={"PK": "p", "SK": f"{i:04d}", "pad": "x" * 200})
    wal = os.path.join(db_path, "log")

    def log_bytes():
        return sum(os.path.getsize(os.path.join(wal, n)) for n in os.listdir(wal)
                   if n.endswith(".log"))

    assert log_bytes() > 40_000
    db.checkpoint()
    assert log_bytes() == 0
    db.put_item(item={"PK": "p", "SK": "new"})
    db.close()
    with Dynafile(db_path) as again:
        assert again.count("p") == 201 and again.check().ok


def test_on_disk_layout_matches_design(db_path):
    db = Dynafile(db_path)
    db.put_item(item={"PK": "../../etc/passwd", "SK": "x"})
    db.put_item(item={"PK": "user/1\0", "SK": "x"})
    db.close()
    entries = sorted(os.listdir(db_path))
    assert entries == ["CHECKPOINT", "LOCK", "data", "log", "meta.json"]
    # both item collections share one partition file of the table's space
    assert sorted(os.listdir(os.path.join(db_path, "data"))) == ["MANIFEST", "t1"]
    assert os.listdir(os.path.join(db_path, "data", "t1")) == ["000000000001.part"]
    assert os.listdir(os.path.join(db_path, "log")) == ["00000000000000000001.log"]


def test_json_serializer(db_path):
    db = Dynafile(db_path, serializer="json", durability="normal")
    item = {"PK": "a", "SK": "b", "d": Decimal("1.5"), "raw": b"\x00", "s": {"x"}, "n": None}
    db.put_item(item=item)
    assert db.get_item(key={"PK": "a", "SK": "b"}) == item
    with pytest.raises(ValidationError):
        db.put_item(item={"PK": "a", "SK": "c", "obj": object()})
    db.close()


def test_limit_pagination_and_count(db):
    fill(db, n=10)
    page = db.query("user#1", limit=4)
    assert sks(page.items) == [f"order#{i:04d}" for i in range(4)]
    assert page.last_evaluated_key == {"PK": "user#1", "SK": "order#0003"}
    page2 = db.query("user#1", limit=4, exclusive_start_key=page.last_evaluated_key)
    assert sks(page2) == [f"order#{i:04d}" for i in range(4, 8)]
    page3 = db.query("user#1", limit=4, exclusive_start_key=page2.last_evaluated_key)
    assert sks(page3) == ["order#0008", "order#0009"] and page3.last_evaluated_key is None
    assert db.count("user#1") == 10
    back = db.query("user#1", limit=3, scan_index_forward=False)
    assert sks(back) == ["order#0009", "order#0008", "order#0007"]
    more = db.query("user#1", limit=3, scan_index_forward=False,
                    exclusive_start_key=back.last_evaluated_key)
    assert sks(more) == ["order#0006", "order#0005", "order#0004"]


def test_limit_counts_items_before_filter(db):
    fill(db, n=10)
    page = db.query("user#1", limit=5, filter=lambda i: i["total"] >= 30)
    assert sks(page) == ["order#0003", "order#0004"]
    assert page.scanned_count == 5 and page.count == 2
    assert page.last_evaluated_key == {"PK": "user#1", "SK": "order#0004"}


def test_scan_pagination_covers_everything_once(db):
    for p in range(7):
        fill(db, pk=f"user#{p}", n=6)
    seen = []
    start = None
    while True:
        page = db.scan(limit=5, exclusive_start_key=start)
        seen.extend((i["PK"], i["SK"]) for i in page)
        start = page.last_evaluated_key
        if start is None:
            break
    assert len(seen) == 42 and len(set(seen)) == 42


def test_parallel_scan_segments_partition_the_table(db):
    for p in range(20):
        fill(db, pk=f"user#{p}", n=3)
    total = []
    for segment in range(4):
        total.extend((i["PK"], i["SK"]) for i in db.scan(segment=segment, total_segments=4))
    assert len(total) == 60 and len(set(total)) == 60
    with pytest.raises(ValidationError):
        db.scan(segment=4, total_segments=4)
    with pytest.raises(ValidationError):
        db.scan(segment=0)


def test_bad_arguments(db):
    with pytest.raises(ValidationError):
        db.query("a", limit=0)
    with pytest.raises(ValidationError):
        db.query("a", filter=lambda i: True, _filter=lambda i: True)
    with pytest.raises(ValidationError):
        db.query("a", sk="SK = x")
    with pytest.raises(ValidationError):
        db.put_item(item={"PK": "a", "SK": "b"}, return_values="ALL_NEW")
    with pytest.raises(ValidationError):
        Dynafile(os.path.join(db.path, "x"), durability="sometimes")


def test_sweep_expired_exact(db_path):
    now = [1000.0]
    db = Dynafile(db_path, ttl_attribute="expires", clock=lambda: now[0], durability="normal")
    events = []
    for i in range(5):
        db.put_item(item={"PK": "a", "SK": str(i), "expires": 850 + i * 100})  # 850 950 1050 ...
    db.put_item(item={"PK": "b", "SK": "x", "expires": "never"})
    db.add_stream_listener(events.append)
    assert db.sweep_expired() == 2
    assert [(e.action, e.old["SK"], e.new, e.expired) for e in events] == [
        ("DELETE", "0", None, True), ("DELETE", "1", None, True)]
    assert db.sweep_expired() == 0
    now[0] = 5000
    assert db.sweep_expired() == 3
    assert [i["PK"] for i in db.scan()] == ["b"]
    db.close()
    db = Dynafile(db_path, ttl_attribute="expires", durability="normal")
    assert [i["PK"] for i in db.scan()] == ["b"]
    db.close()


def test_background_sweeper(db_path):
    db = Dynafile(db_path, ttl_attribute="expires", ttl_sweep_interval=0.05, durability="normal")
    events = []
    db.add_stream_listener(events.append)
    db.put_item(item={"PK": "a", "SK": "1", "expires": time.time() - 5})
    deadline = time.time() + 10
    while not any(e.expired for e in events) and time.time() < deadline:
        time.sleep(0.02)
    assert [e.expired for e in events if e.action == "DELETE"] == [True]
    db.close()
