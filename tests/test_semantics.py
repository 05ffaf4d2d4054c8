"""DynamoDB's semantics through the table API: one number type, DynamoDB's
types, limits, pages, expression rules, update results and the two TTL modes.

Each rule cites the DynamoDB documentation page it follows:
- Naming rules and data types:
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
- Item size: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
- Service quotas (key sizes, nesting, expressions, transactions):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
- Query/Scan pagination: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html
- Local secondary indexes (fetches):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html
- Filter expressions on key attributes:
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.FilterExpression.html
- TTL: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
"""

import datetime
import time
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
    ValidationError,
)

K = {"PK": "a", "SK": "1"}


# ------------------------------------------------------------------ numbers


def test_a_float_is_the_decimal_it_prints_as_everywhere(db):
    db.put_item(item={**K, "x": 0.1, "s": {0.1, 2}, "l": [0.1]})
    assert db.get_item(key=K)["x"] == 0.1  # read back as written
    db.put_item(item={**K, "x": 0.1, "s": {0.1, 2}, "l": [0.1]},
                condition="x = :v", values={":v": Decimal("0.1")})
    assert not list(db.scan(filter="x > :v", values={":v": Decimal("0.1")}))
    assert list(db.scan(filter=Attr("s").contains(Decimal("0.1"))))
    assert list(db.scan(filter=Attr("l").contains(Decimal("0.10"))))
    new = db.update_item(key=K, update="SET y = x + :n", values={":n": 0.2},
                         return_values="ALL_NEW")
    assert new["y"] == 0.3 and type(new["y"]) is float  # not 0.30000000000000004


def test_ints_stay_ints_and_arithmetic_has_38_digits(db):
    db.put_item(item={**K, "n": 1, "big": 10**30})
    new = db.update_item(key=K, update="SET big = big + :one ADD n :one",
                         values={":one": 1}, return_values="ALL_NEW")
    assert new["n"] == 2 and type(new["n"]) is int
    assert new["big"] == 10**30 + 1  # 31 digits, exact
    db.put_item(item={**K, "d": Decimal("1" * 31 + ".5")})
    new = db.update_item(key=K, update="SET d = d + :h", values={":h": Decimal("0.5")},
                         return_values="ALL_NEW")
    assert new["d"] == Decimal("1" * 30 + "2")


@pytest.mark.parametrize("value,message", [
    (Decimal("1" * 39), "more than 38 significant digits"),
    (Decimal("1E+126"), "Number overflow"),
    (Decimal("1E-131"), "Number underflow"),
    (float("nan"), "cannot be converted to a numeric value"),
    (float("inf"), "cannot be converted to a numeric value"),
    (Decimal("NaN"), "cannot be converted to a numeric value"),
])
def test_numbers_dynamodb_refuses_are_refused_and_change_nothing(db, db_path, value, message):
    db.put_item(item={**K, "n": 1})
    before = snapshot_files(db_path)
    with pytest.raises(ValidationError, match=message):
        db.put_item(item={**K, "n": value})
    with pytest.raises(ValidationError):
        db.update_item(key=K, set={"n": value})
    assert snapshot_files(db_path) == before
    assert db.get_item(key=K)["n"] == 1


def test_update_results_out_of_range_are_refused(db):
    db.put_item(item={**K, "n": Decimal("9E+125")})
    with pytest.raises(ValidationError, match="Number overflow"):
        db.update_item(key=K, update="SET n = n + n")
    assert db.get_item(key=K)["n"] == Decimal("9E+125")


def test_numbers_are_stored_as_dynamodb_stores_them(db):
    db.put_item(item={**K, "a": Decimal("1.50"), "b": Decimal("1E+2"), "c": Decimal("-0")})
    got = db.get_item(key=K)
    assert (got["a"], got["b"], got["c"]) == (Decimal("1.5"), Decimal(100), Decimal(0))
    assert str(got["a"]) == "1.5" and str(got["b"]) == "100" and str(got["c"]) == "0"


# -------------------------------------------------------------------- types


@pytest.mark.parametrize("item,path", [
    ({"when": datetime.datetime(2026, 1, 1)}, "when"),
    ({"t": (1, 2)}, "t"),
    ({"m": {"deep": [1, {"x": object()}]}}, "m.deep[1].x"),
    ({"s": set()}, "s"),
    ({"s": {"a", 1}}, "s"),
    ({"m": {1: "x"}}, "m.1"),
])
def test_values_that_are_not_dynamodb_types_name_their_attribute(db, item, path):
    with pytest.raises(ValidationError) as info:
        db.put_item(item={**K, **item})
    assert info.value.attribute == path
    assert db.get_item(key=K) is None


def test_nesting_deeper_than_32_levels_is_refused(db):
    def nested(depth):
        value = 1
        for _ in range(depth):
            value = {"n": value}
        return value

    db.put_item(item={**K, "v": nested(31)})  # the item is level 1
    with pytest.raises(ValidationError, match="Nesting Levels have exceeded"):
        db.put_item(item={**K, "v": nested(32)})


# ------------------------------------------------------------------- limits


def test_item_size_is_dynamodbs_not_the_pickle_size(db):
    floats = [1.5] * 45_000  # ~135 KB by DynamoDB's measure, ~405 KB pickled
    db.put_item(item={**K, "f": floats})
    assert len(db.get_item(key=K)["f"]) == 45_000
    shared = "x" * 10_000  # pickled once, counted 100 times by DynamoDB
    with pytest.raises(ItemTooLargeError, match="Item size has exceeded the maximum allowed size"):
        db.put_item(item={**K, "l": [shared] * 100})
    exact = 400 * 1024 - len("PK") - 1 - len("SK") - 1 - len("v")
    db.put_item(item={**K, "v": "x" * exact})  # exactly 400 KB
    with pytest.raises(ItemTooLargeError):
        db.put_item(item={**K, "v": "x" * (exact + 1)})


def test_key_size_limits_are_dynamodbs(db):
    db.put_item(item={"PK": "p" * 2048, "SK": "s" * 1024})
    with pytest.raises(ValidationError, match="Size of hashkey has exceeded"):
        db.put_item(item={"PK": "p" * 2049, "SK": "s"})
    with pytest.raises(ValidationError, match="Aggregated size of all range keys"):
        db.put_item(item={"PK": "p", "SK": "s" * 1025})


def test_a_transaction_holds_at_most_4_mb_of_items(db):
    big = "x" * 350_000
    actions = [{"put": {"item": {"PK": "t", "SK": str(i), "v": big}}} for i in range(13)]
    with pytest.raises(ValidationError, match="cannot exceed 4 MB"):
        db.transact_write(actions)
    assert db.count("t") == 0
    db.transact_write(actions[:11])
    assert db.count("t") == 11


def test_pages_stop_at_1_mb_and_iteration_fetches_the_rest(db):
    pad = "x" * 50_000
    with db.batch_writer() as w:
        for i in range(60):  # ~3 MB in one item collection
            w.put_item(item={"PK": "big", "SK": f"{i:03d}", "pad": pad})
    page = db.query("big")
    assert 15 <= page.count <= 25 and page.last_evaluated_key is not None
    assert len(list(db.query("big"))) == 60
    assert db.count("big") == 60
    following = db.query("big", exclusive_start_key=page.last_evaluated_key)
    assert following.items[0]["SK"] == f"{page.count:03d}"
    scan = db.scan()
    assert scan.last_evaluated_key is not None and len(list(db.scan())) == 60
    assert len(list(db.query("big", limit=30))) == 30  # a limit still limits iteration


# -------------------------------------------------------------- expressions


def test_reserved_words_need_placeholders_but_builders_do_not(db):
    db.put_item(item={**K, "status": "open"})
    with pytest.raises(ValidationError, match="reserved keyword; reserved keyword: status"):
        db.put_item(item={**K, "status": "x"}, condition="status = :v", values={":v": "open"})
    db.put_item(item={**K, "status": "x"}, condition=Attr("status").eq("open"))
    assert db.get_item(key=K)["status"] == "x"


def test_a_query_filter_may_not_read_key_attributes(db_path):
    db = Dynafile(db_path, durability="normal", gsis=[GSI("by_g", "g", "n")])
    db.put_item(item={**K, "g": "G", "n": 1, "v": 2})
    with pytest.raises(ValidationError, match="Primary key attribute: SK"):
        list(db.query("a", filter=Attr("SK").eq("1")))
    with pytest.raises(ValidationError, match="Primary key attribute: n"):
        list(db.query("G", index="by_g", filter="n = :n", values={":n": 1}))
    assert list(db.query("G", index="by_g", filter=Attr("v").eq(2)))  # not a key: fine
    assert list(db.scan(filter=Attr("SK").eq("1")))  # scans may
    assert list(db.query("a", filter=lambda item: item["SK"] == "1"))  # callables cannot be read
    db.close()


def test_updated_old_and_new_return_the_updated_paths(db):
    db.put_item(item={**K, "a": {"b": 1, "c": 2}, "d": 3})
    old = db.update_item(key=K, update="SET a.b = :v", values={":v": 5},
                         return_values="UPDATED_OLD")
    assert old == {"a": {"b": 1}}
    new = db.update_item(key=K, update="SET a.b = :v", values={":v": 6},
                         return_values="UPDATED_NEW")
    assert new == {"a": {"b": 6}}


def test_an_update_of_a_missing_item_that_only_removes_creates_nothing(db):
    before = db.sequence
    db.update_item(key=K, remove=["x"])
    assert db.get_item(key=K) is None and db.sequence == before


def test_a_failed_update_changes_nothing(db):
    db.put_item(item={**K, "s": "text", "n": 1})
    with pytest.raises(ValidationError):
        db.update_item(key=K, update="SET n = :two ADD s :one", values={":one": 1, ":two": 2})
    assert db.get_item(key=K) == {**K, "s": "text", "n": 1}


def test_conditional_failure_says_what_dynamodb_says(db):
    with pytest.raises(ConditionalCheckFailedError, match="The conditional request failed"):
        db.put_item(item=K, condition="attribute_exists(PK)")


# ----------------------------------------------------------- local indexes


@pytest.mark.parametrize("projection,include", [("KEYS_ONLY", None), ("INCLUDE", ["a"])])
def test_a_local_index_fetches_what_it_does_not_project(db_path, projection, include):
    db = Dynafile(db_path, durability="normal",
                  lsis=[LSI("by_n", "n", projection=projection, include=include)])
    db.put_item(item={**K, "n": 1, "a": "A", "b": "B"})
    db.put_item(item={"PK": "a", "SK": "2", "n": 2, "a": "A2", "b": "other"})
    projected = db.query("a", index="by_n").items[0]
    assert "b" not in projected  # as projected
    assert [i["b"] for i in db.query("a", index="by_n", projection=["SK", "b"])] == ["B", "other"]
    assert [i["SK"] for i in db.query("a", index="by_n", filter=Attr("b").eq("B"))] == ["1"]
    db.close()


# --------------------------------------------------------------------- TTL


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


def test_dynamodb_ttl_mode_keeps_expired_items_until_the_sweep(db_path):
    clock = Clock()
    db = Dynafile(db_path, ttl_attribute="exp", ttl_mode="dynamodb", clock=clock,
                  durability="normal")
    db.put_item(item={**K, "exp": clock.now - 10})
    assert db.get_item(key=K) is not None  # still there, as in DynamoDB
    with pytest.raises(ConditionalCheckFailedError):  # and present for conditions
        db.put_item(item={**K, "v": 1}, condition="attribute_not_exists(PK)")
    assert db.sweep_expired() == 1
    assert db.get_item(key=K) is None
    (record,) = list(db.stream(from_sequence=db.sequence - 1, follow=False))
    assert record.event_name == "REMOVE" and record.expired
    assert record.user_identity == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    db.close()
    with Dynafile(db_path, clock=clock) as again:
        assert again.ttl_mode == "dynamodb"
        again.update_table(ttl_mode="hide")
        assert again.ttl_mode == "hide"
