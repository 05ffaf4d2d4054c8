"""Bad input: every malformed request raises its documented exception, with a
useful message, and leaves every file of the table byte-identical; odd but
valid keys round-trip and never become paths."""

from __future__ import annotations

import os
import re
from decimal import Decimal

import pytest
from conftest import snapshot_files

from dynafile import (
    GSI,
    LSI,
    Attr,
    ConditionalCheckFailedError,
    Dynafile,
    ItemTooLargeError,
    Key,
    Page,
    SchemaMismatchError,
    TransactionCanceledError,
    ValidationError,
)

ITEM = {"PK": "a", "SK": "b", "n": 1, "s": "text", "g": "g0", "tags": {"x"}}


class Custom:
    """A class the pickle allowlist does not know."""

    def __init__(self, v):
        self.v = v


def _local_instance():
    class Local:
        pass

    return Local()


def _open_file(db, path):
    with open(os.path.join(path, "meta.json"), "rb") as f:
        return db.put_item(item={"PK": "a", "SK": "f", "fh": f})


def _batch_with_bad_item(db, path):
    with db.batch_writer() as w:
        w.put_item(item={"PK": "a", "SK": "fine"})
        w.put_item(item={"PK": 1, "SK": "bad"})


def _put(item):
    return lambda db, path: db.put_item(item=item)


V = ValidationError
CASES = [
    # --- items that are not items
    ("item-list", _put([("PK", "a"), ("SK", "b")]), V, "item must be a dict"),
    ("item-none", _put(None), V, "item must be a dict"),
    ("item-str", _put("PK=a"), V, "item must be a dict"),
    ("item-no-pk", _put({"SK": "b"}), V, "Missing the key PK in the item"),
    ("item-no-sk", _put({"PK": "a"}), V, "Missing the key SK in the item"),
    ("pk-none", _put({"PK": None, "SK": "b"}), V, "Type mismatch for key PK expected: S actual: NULL"),
    ("pk-empty", _put({"PK": "", "SK": "b"}), V, "cannot contain an empty string value. Key: PK"),
    ("sk-empty", _put({"PK": "a", "SK": ""}), V, "cannot contain an empty string value. Key: SK"),
    ("pk-empty-bytes", _put({"PK": b"", "SK": "b"}), V, "Type mismatch for key PK expected: S actual: B"),
    ("pk-wrong-type-n", _put({"PK": 1, "SK": "b"}), V, "Type mismatch for key PK expected: S actual: N"),
    ("pk-wrong-type-b", _put({"PK": b"a", "SK": "b"}), V, "Type mismatch for key PK expected: S actual: B"),
    ("sk-wrong-type", _put({"PK": "a", "SK": 2.5}), V, "Type mismatch for key SK expected: S actual: N"),
    ("pk-bool", _put({"PK": True, "SK": "b"}), V, "expected: S actual: BOOL"),
    ("sk-bool", _put({"PK": "a", "SK": False}), V, "expected: S actual: BOOL"),
    ("pk-nan", _put({"PK": float("nan"), "SK": "b"}), V, "expected: S actual: N"),
    ("pk-inf", _put({"PK": float("-inf"), "SK": "b"}), V, "expected: S actual: N"),
    ("pk-decimal-nan", _put({"PK": Decimal("NaN"), "SK": "b"}), V, "expected: S actual: N"),
    ("pk-decimal-snan", _put({"PK": Decimal("sNaN"), "SK": "b"}), V, "expected: S actual: N"),
    ("pk-list", _put({"PK": ["a"], "SK": "b"}), V, "expected: S actual: L"),
    ("pk-dict", _put({"PK": {"a": 1}, "SK": "b"}), V, "expected: S actual: M"),
    ("pk-too-long", _put({"PK": "x" * 2049, "SK": "b"}), V,
     "Size of hashkey has exceeded the maximum size limit of 2048 bytes"),
    ("sk-too-long-utf8", _put({"PK": "a", "SK": "\u00e9" * 513}), V,
     "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"),
    ("attr-name-int", _put({"PK": "a", "SK": "b", 1: "x"}), V, "attribute names must be"),
    ("attr-name-empty", _put({"PK": "a", "SK": "b", "": "x"}), V, "Attribute name must not be empty"),
    ("item-too-large", _put({"PK": "a", "SK": "b", "big": "x" * 500_000}), ItemTooLargeError,
     "Item size has exceeded the maximum allowed size"),
    ("value-lambda", _put({"PK": "a", "SK": "b", "f": lambda: 1}), V, "Unsupported type"),
    ("value-open-file", _open_file, V, "Unsupported type"),
    ("value-custom-class", _put({"PK": "a", "SK": "b", "c": Custom(1)}), V,
     "Unsupported type"),
    ("value-local-class", _put({"PK": "a", "SK": "b", "c": _local_instance()}), V,
     "Unsupported type"),
    ("value-nan", _put({"PK": "a", "SK": "b", "n": float("nan")}), V,
     "cannot be converted to a numeric value"),
    ("value-39-digits", _put({"PK": "a", "SK": "b", "n": Decimal("1" * 39)}), V,
     "more than 38 significant digits"),
    ("value-empty-set", _put({"PK": "a", "SK": "b", "s": set()}), V, "may not be empty"),
    ("value-tuple", _put({"PK": "a", "SK": "b", "t": (1, 2)}), V, "Unsupported type"),
    ("gsi-key-wrong-type", _put({"PK": "a", "SK": "z", "g": 5}), V,
     "Type mismatch for key g expected: S actual: N"),
    ("gsi-key-bool", _put({"PK": "a", "SK": "z", "g": True}), V, "expected: S actual: BOOL"),
    ("lsi-key-wrong-type", _put({"PK": "a", "SK": "z", "v": "text"}), V,
     "Type mismatch for key v expected: N actual: S"),
    # --- keys
    ("get-no-sk", lambda db, p: db.get_item(key={"PK": "a"}), V,
     "The provided key element does not match the schema"),
    ("get-extra-attr", lambda db, p: db.get_item(key={"PK": "a", "SK": "b", "x": 1}), V,
     "The provided key element does not match the schema"),
    ("get-key-str", lambda db, p: db.get_item(key="a"), V, "key must be a dict"),
    ("delete-wrong-type", lambda db, p: db.delete_item(key={"PK": 1, "SK": "b"}), V,
     "Type mismatch for key PK expected: S actual: N"),
    ("update-pk", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"}, update="SET PK = :v",
                                               values={":v": "z"}), V,
     "Cannot update attribute PK"),
    ("update-sk-plain", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                     set={"SK": "x"}), V,
     "Cannot update attribute SK"),
    ("update-too-large", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                      set={"big": "x" * 500_000}),
     ItemTooLargeError, "Item size to update has exceeded the maximum allowed size"),
    ("update-add-to-string", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                          update="ADD s :one",
                                                          values={":one": 1}), V, "ADD"),
    ("update-plus-string", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                        update="SET n = n + :v",
                                                        values={":v": "x"}), V,
     "incorrect data type"),
    ("update-both-forms", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                       update="SET n = :a", set={"x": 1},
                                                       values={":a": 1}), V, "not both"),
    # --- malformed expressions
    ("cond-syntax", lambda db, p: db.put_item(item=ITEM, condition="attribute_exists("), V,
     "Syntax error"),
    ("cond-unknown-function", lambda db, p: db.put_item(item=ITEM, condition="foo(#a)",
                                                        names={"#a": "x"}), V,
     "Invalid function name"),
    ("cond-missing-value", lambda db, p: db.put_item(item=ITEM, condition="x = :v"), V,
     "attribute value used in expression is not defined"),
    ("cond-unused-value", lambda db, p: db.put_item(item=ITEM, condition="x = :v",
                                                    values={":v": 1, ":w": 2}), V,
     "unused in expressions"),
    ("cond-missing-name", lambda db, p: db.put_item(item=ITEM, condition="#x = :v",
                                                    values={":v": 1}), V,
     "attribute name used in the document path is not defined"),
    ("cond-unused-name", lambda db, p: db.put_item(item=ITEM, condition="x = :v",
                                                   values={":v": 1}, names={"#y": "z"}), V,
     "unused in expressions"),
    ("cond-double-operator", lambda db, p: db.put_item(item=ITEM, condition="x = = :v",
                                                       values={":v": 1}), V, "Syntax error"),
    ("cond-between-incomplete", lambda db, p: db.put_item(item=ITEM, condition="x BETWEEN :a",
                                                          values={":a": 1}), V,
     "Syntax error"),
    ("cond-empty", lambda db, p: db.put_item(item=ITEM, condition=""), V, "can not be empty"),
    ("cond-int", lambda db, p: db.put_item(item=ITEM, condition=42), V,
     "a condition must be a callable"),
    ("update-syntax", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"}, update="SET"), V,
     "Syntax error"),
    ("update-unknown-clause", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                           update="FROB n"), V,
     "Syntax error"),
    ("update-missing-value", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                          update="SET n = n + :one"), V,
     "not defined"),
    ("update-overlapping-paths", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                              update="SET n = :a REMOVE n",
                                                              values={":a": 1}), V,
     "Two document paths conflict"),
    ("filter-syntax", lambda db, p: db.query("a", filter="n >"), V, "Syntax error"),
    ("filter-dangling-and", lambda db, p: db.scan(filter="n > :v AND", values={":v": 1}), V,
     "Syntax error"),
    ("filter-contains-one-arg", lambda db, p: db.scan(filter="contains(x)"), V,  # DynamoDB's words
     "Incorrect number of operands for operator or function; operator or function: contains"),
    ("filter-combine-int", lambda db, p: db.scan(filter=Attr("n").eq(1) & 5), V,
     "cannot combine"),
    ("key-condition-missing-value", lambda db, p: db.query(
        key_condition="PK = :p AND SK > :s", values={":p": "a"}), V, "not defined"),
    ("key-condition-not-a-key", lambda db, p: db.query(key_condition="n = :p",
                                                       values={":p": "a"}), V,
     "not supported"),
    ("projection-syntax", lambda db, p: db.scan(projection="a,,b"), V, "Syntax error"),
    ("projection-empty", lambda db, p: db.scan(projection=""), V, "can not be empty"),
    # --- wrong argument types and values
    ("limit-str", lambda db, p: db.scan(limit="x"), V, "must be a positive int"),
    ("limit-zero", lambda db, p: db.scan(limit=0), V, "must be a positive int"),
    ("limit-bool", lambda db, p: db.query("a", limit=True), V, "must be a positive int"),
    ("put-return-values", lambda db, p: db.put_item(item=ITEM, return_values="BAD"), V,
     "must be one of NONE, ALL_OLD"),
    ("update-return-values", lambda db, p: db.update_item(key={"PK": "a", "SK": "b"},
                                                          set={"n": 2}, return_values="ALL"),
     V, "must be one of"),
    ("delete-return-on-failure", lambda db, p: db.delete_item(
        key={"PK": "a", "SK": "b"}, return_values_on_condition_check_failure="X"), V,
     "must be one of"),
    ("segment-alone", lambda db, p: db.scan(segment=0), V, "go together"),
    ("total-segments-alone", lambda db, p: db.scan(total_segments=2), V, "go together"),
    ("segment-out-of-range", lambda db, p: db.scan(segment=2, total_segments=2), V,
     "must be an int from 0"),
    ("total-segments-zero", lambda db, p: db.scan(segment=0, total_segments=0), V,
     "must be an int from 1"),
    ("unknown-index", lambda db, p: db.scan(index="nope"), V, "no index named 'nope'"),
    ("index-not-a-name", lambda db, p: db.query("a", index=5), V, "must be an index name"),
    ("flush-amount-zero", lambda db, p: db.batch_writer(flush_amount=0), V,
     "must be a positive int"),
    ("batch-get-dict", lambda db, p: db.batch_get({"PK": "a", "SK": "b"}), V,
     "must be a list"),
    ("batch-get-bad-key", lambda db, p: db.batch_get([{"PK": "a"}]), V,
     "The provided key element does not match the schema"),
    ("query-no-pk", lambda db, p: db.query(), V, "needs a partition key value"),
    ("query-pk-wrong-type", lambda db, p: db.query(1), V, "expected: S actual: N"),
    ("query-between-reversed", lambda db, p: db.query("a", sk=Key("SK").between("z", "a")), V,
     "wrong order"),
    ("query-sk-other-attribute", lambda db, p: db.query("a", sk=Key("XX").eq("z")), V,
     "not the sort key"),
    ("query-sk-string", lambda db, p: db.query("a", sk="SK = 1"), V,
     "must be a Key(...) condition"),
    ("query-start-key-other-partition", lambda db, p: db.query(
        "a", exclusive_start_key={"PK": "b", "SK": "x"}), V, "another partition"),
    ("query-key-condition-and-pk", lambda db, p: db.query(
        "a", key_condition="PK = :p", values={":p": "a"}), V, "either key_condition"),
    ("scan-filter-twice", lambda db, p: db.scan(lambda i: True, filter=lambda i: True), V,
     "give the filter once"),
    ("batch-writer-bad-item", _batch_with_bad_item, V, "expected: S actual: N"),
    ("condition-fails", lambda db, p: db.put_item(item=ITEM, condition=Attr("PK").not_exists()),
     ConditionalCheckFailedError, "conditional request failed"),
    # --- transactions
    ("tx-empty", lambda db, p: db.transact_write([]), V, "at least one action"),
    ("tx-unknown-action", lambda db, p: db.transact_write([{"frob": {}}]), V,
     "unknown action"),
    ("tx-same-item-twice", lambda db, p: db.transact_write(
        [{"put": {"item": ITEM}}, {"delete": {"key": {"PK": "a", "SK": "b"}}}]), V,
     "multiple operations on one item"),
    ("tx-bad-key", lambda db, p: db.transact_write([{"put": {"item": {"PK": 1, "SK": "x"}}}]), V,
     "expected: S actual: N"),
    ("tx-bad-token", lambda db, p: db.transact_write([{"put": {"item": ITEM}}], token=""), V,
     "1 to 36"),
    ("tx-condition-fails", lambda db, p: db.transact_write(
        [{"put": {"item": {"PK": "a", "SK": "new"}}},
         {"condition_check": {"key": {"PK": "a", "SK": "b"}, "condition": Attr("n").eq(99)}}]),
     TransactionCanceledError, "ConditionalCheckFailed"),
    # --- opening with bad arguments
    ("open-durability", lambda db, p: Dynafile(p, durability="bogus"), V,
     "must be 'full' or 'normal'"),
    ("open-empty-pk-attribute", lambda db, p: Dynafile(p, pk_attribute=""), V, "non-empty"),
    ("open-same-key-attributes", lambda db, p: Dynafile(p, sk_attribute="PK"), V,
     "must differ"),
    ("open-other-keys", lambda db, p: Dynafile(p, pk_attribute="id"), SchemaMismatchError,
     "table has keys"),
    ("open-unknown-serializer", lambda db, p: Dynafile(p, serializer="yaml"), V,
     "unknown serializer"),
    ("open-other-serializer", lambda db, p: Dynafile(p, serializer="json"), SchemaMismatchError,
     "serializer"),
    ("open-max-item-size", lambda db, p: Dynafile(p, max_item_size=0), V, "positive int"),
    ("open-gsi-redefined", lambda db, p: Dynafile(p, gsis=[GSI("by_g", "other")]),
     SchemaMismatchError, "another definition"),
    ("open-lsi-added", lambda db, p: Dynafile(p, lsis=[LSI("by_v", "v"), LSI("by_w", "w")]),
     SchemaMismatchError, "LSIs cannot be added"),
    ("open-gsis-str", lambda db, p: Dynafile(p, gsis="by_g"), V, "must be a list of GSI"),
    ("open-cache-bytes-text", lambda db, p: Dynafile(p, cache_bytes="big"), V, "cache_bytes"),
    ("open-max-item-size-bool", lambda db, p: Dynafile(p, max_item_size=True), V,
     "positive int"),
    ("open-checkpoint-bytes-zero", lambda db, p: Dynafile(p, checkpoint_bytes=0), V,
     "checkpoint_bytes"),
    ("open-segment-bytes-small", lambda db, p: Dynafile(p, segment_bytes=100), V,
     "segment_bytes"),
    ("open-lock-timeout-text", lambda db, p: Dynafile(p, lock_timeout="soon"), V,
     "lock_timeout"),
    ("open-lock-timeout-negative", lambda db, p: Dynafile(p, lock_timeout=-1), V,
     "lock_timeout"),
    ("open-retention-nan", lambda db, p: Dynafile(p, retention=float("nan")), V, "retention"),
    ("open-read-only-text", lambda db, p: Dynafile(p, read_only="yes"), V, "read_only"),
    ("open-watch-int", lambda db, p: Dynafile(p, watch=1), V, "watch"),
    ("open-clock-number", lambda db, p: Dynafile(p, clock=5), V, "clock"),
    ("open-path-number", lambda db, p: Dynafile(5), V, "path"),
    ("open-ttl-other", lambda db, p: Dynafile(p, ttl_attribute="exp"), SchemaMismatchError,
     "update_time_to_live"),
    ("open-view-type", lambda db, p: Dynafile(p, stream_view_type="ALL"), V, "stream_view_type"),
    ("gsi-bad-name", lambda db, p: GSI("bad name!", "g"), V, "at 'indexName' failed to satisfy"),
    ("gsi-short-name", lambda db, p: GSI("ab", "g"), V, "length between 3 and 255"),
    ("gsi-bad-projection", lambda db, p: GSI("okay", "g", projection="SOME"), V,
     "must be one of ALL"),
]


@pytest.fixture
def table(db_path):
    db = Dynafile(db_path, durability="normal", gsis=[GSI("by_g", "g", "SK")],
                  lsis=[LSI("by_v", "v")])
    db.put_item(item=ITEM)
    db.put_item(item={"PK": "a", "SK": "c", "v": 1, "g": "g1"})
    db.checkpoint()
    db.put_item(item={"PK": "b", "SK": "x", "v": 2})  # and some log after the checkpoint
    yield db
    db.close()


@pytest.mark.parametrize("call,exc,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_and_changes_no_file(table, db_path, tmp_path, call, exc, fragment):
    before = snapshot_files(db_path)
    siblings = sorted(os.listdir(tmp_path))
    with pytest.raises(exc) as info:
        result = call(table, db_path)
        if isinstance(result, Page):
            list(result)
        if isinstance(result, Dynafile):  # pragma: no cover - opened although it should not
            result.close()
    assert fragment in str(info.value)
    assert snapshot_files(db_path) == before
    assert sorted(os.listdir(tmp_path)) == siblings
    # and the table still works
    assert table.get_item(key={"PK": "a", "SK": "b"}) == ITEM
    assert table.check().ok


def test_at_least_sixty_cases():
    assert len(CASES) >= 60


def test_bad_ttl_sweep_interval_changes_no_file(table, db_path):
    before = snapshot_files(db_path)
    with pytest.raises(ValidationError, match="positive number of seconds"):
        Dynafile(db_path, ttl_sweep_interval=-1)
    assert snapshot_files(db_path) == before


ODD_TEXT_KEYS = [
    "../../../../etc/passwd", "..", ".", "/", "a/b/c", "/absolute", "\\", "a\\..\\b", "\x00",
    "a\x00b", "~", "~root", "CON", "nul", "LOCK", "meta.json", "wal", "_partitions",
    "_gsi-x", ".tmp-dynafile-x", " ", "\n", "\t\r", "%2e%2e%2f", "\u202e", "\ud800",
    "x" * 2048, "\u00e9" * 1024, "\U0001f600" * 512, "*", "?", "$HOME", "`id`",
]


def _names_under(root):
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            out.add(name)
    return out


def _allowed_name(name):
    return (name in {"meta.json", "LOCK", "CHECKPOINT", "log", "data", "MANIFEST"}
            or re.fullmatch(r"t[0-9]+(i[0-9]+)?|x|[0-9]{12}\.part|[0-9]{20}\.log", name)
            is not None)


def _sort_key(key):
    """``key`` within DynamoDB's 1,024-byte sort key limit (halved when over)."""
    return key if len(key.encode("utf-8", "surrogatepass")) <= 1024 else key[:len(key) // 2]


@pytest.mark.parametrize("durability", ["normal"])
def test_odd_valid_text_keys_round_trip_and_never_become_paths(tmp_path, durability):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability=durability, gsis=[GSI("by_g", "g", "SK")],
                  lsis=[LSI("by_v", "v")])
    for n, key in enumerate(ODD_TEXT_KEYS):
        db.put_item(item={"PK": key, "SK": _sort_key(key), "g": key, "v": n})
    for n, key in enumerate(ODD_TEXT_KEYS):
        assert db.get_item(key={"PK": key, "SK": _sort_key(key)}) == {
            "PK": key, "SK": _sort_key(key), "g": key, "v": n}
        assert [i["v"] for i in db.query(key, index="by_g")] == [n]
        assert [i["v"] for i in db.query(key, index="by_v")] == [n]
    db.close()
    db = Dynafile(path)
    for n, key in enumerate(ODD_TEXT_KEYS):
        assert db.get_item(key={"PK": key, "SK": _sort_key(key)})["v"] == n
    assert len(list(db.scan())) == len(ODD_TEXT_KEYS)
    assert db.check().ok
    db.close()
    assert sorted(os.listdir(tmp_path)) == ["db"]  # nothing escaped the directory
    assert {n for n in _names_under(path) if not _allowed_name(n)} == set()


def test_odd_valid_bytes_and_number_keys_round_trip(tmp_path):
    path = str(tmp_path / "b")
    keys = [b"/", b"..", b"\x00", b"\x00" * 10, b"\xff" * 2048, b"../x", b"\x80abc"]
    db = Dynafile(path, durability="normal")
    for n, key in enumerate(keys):
        db.put_item(item={"PK": key, "SK": key[:1024], "n": n})
    db.close()
    db = Dynafile(path)
    for n, key in enumerate(keys):
        assert db.get_item(key={"PK": key, "SK": key[:1024]})["n"] == n
    assert db.check().ok
    db.close()
    assert {n for n in _names_under(path) if not _allowed_name(n)} == set()

    path = str(tmp_path / "n")
    numbers = [0, -0.0, 1, -1, 1.5, Decimal("1E+125"), Decimal("-1E-130"), 10**37, 2**53 + 1,
               Decimal("0.1")]
    db = Dynafile(path, durability="normal")
    for n, key in enumerate(numbers):
        db.put_item(item={"PK": key, "SK": key, "n": n})
    db.close()
    db = Dynafile(path)
    # 0 and -0.0 are one key: the later put wins
    assert db.get_item(key={"PK": 0, "SK": 0})["n"] == 1
    for n, key in enumerate(numbers[2:], start=2):
        assert db.get_item(key={"PK": key, "SK": key})["n"] == n
    assert db.get_item(key={"PK": 1.0, "SK": Decimal("1.00")})["n"] == 2
    assert [i["n"] for i in db.query(1.5)] == [4]
    assert db.check().ok
    db.close()
