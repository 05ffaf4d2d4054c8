"""Items on every backend: put, get, delete, update, conditions, return
values, values and their types, and the errors a user catches."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from dynafile import (
    Attr,
    ConditionalCheckFailedError,
    ItemTooLargeError,
    TableNotFoundError,
    ValidationError,
)
from dynafile.types import equal

KEY = {"PK": "user#1", "SK": "profile"}


def test_put_get_delete(table):
    assert table.get_item(key=KEY) is None
    table.put_item(item={**KEY, "name": "Ann", "visits": 3})
    assert table.get_item(key=KEY) == {**KEY, "name": "Ann", "visits": 3}
    assert table.get_item(key=KEY, projection=["name"]) == {"name": "Ann"}
    assert table.get_item(key=KEY, projection="#n", names={"#n": "name"}) == {"name": "Ann"}
    table.put_item(item={**KEY, "name": "Bob"})
    assert table.get_item(key=KEY) == {**KEY, "name": "Bob"}
    table.delete_item(key=KEY)
    assert table.get_item(key=KEY) is None
    table.delete_item(key=KEY)  # a missing item is no error


def test_values_round_trip(table):
    item = {**KEY, "s": "text", "n": 42, "big": Decimal(12345678901234567890123456789012345678),
            "small": Decimal("-0.000001"), "b": b"\x00\xffbin", "t": True,
            "none": None, "l": [1, "two", [b"3"]], "m": {"a": {"b": [None, False]}},
            "ss": {"a", "b"}, "ns": {1, Decimal("2.5")}, "bs": {b"x", b"y"}}
    table.put_item(item=item)
    got = table.get_item(key=KEY)
    assert got == item
    assert isinstance(got["b"], bytes)
    assert got["big"] == Decimal(12345678901234567890123456789012345678)


def test_numbers_come_back_by_value(backend, table):
    table.put_item(item={**KEY, "n": 42, "d": Decimal("1.50"), "f": 0.1})
    got = table.get_item(key=KEY)
    assert got["n"] == 42 and got["d"] == Decimal("1.5")
    assert equal(got["f"], Decimal("0.1"))  # a float is the decimal it prints as
    if backend.remote:  # boto3's deserializer: every number is a Decimal
        assert isinstance(got["n"], Decimal)


def test_types_dynamodb_has_not_are_refused(backend, table):
    with pytest.raises(ValidationError) as error:
        table.put_item(item={**KEY, "when": datetime.datetime(2024, 1, 1)})
    assert "when" in str(error.value)
    with pytest.raises(ValidationError):
        table.put_item(item={**KEY, "empty": set()})
    assert table.get_item(key=KEY) is None


def test_key_errors(table):
    with pytest.raises(ValidationError):
        table.put_item(item={"PK": "x"})  # no sort key
    with pytest.raises(ValidationError):
        table.get_item(key={"PK": "x"})
    with pytest.raises(ValidationError):
        table.get_item(key={**KEY, "extra": 1})
    with pytest.raises(ValidationError):
        table.put_item(item={"PK": "", "SK": "x"})


def test_item_too_large(table):
    with pytest.raises(ItemTooLargeError):
        table.put_item(item={**KEY, "blob": "x" * (401 * 1024)})


def test_conditions(table):
    table.put_item(item={**KEY, "v": 1}, condition=Attr("PK").not_exists())
    with pytest.raises(ConditionalCheckFailedError) as error:
        table.put_item(item={**KEY, "v": 2}, condition=Attr("PK").not_exists())
    assert error.value.item is None
    with pytest.raises(ConditionalCheckFailedError) as error:
        table.put_item(item={**KEY, "v": 2}, condition="attribute_not_exists(PK)",
                       return_values_on_condition_check_failure="ALL_OLD")
    assert error.value.item == {**KEY, "v": 1}
    table.put_item(item={**KEY, "v": 2}, condition="#v = :one", names={"#v": "v"},
                   values={":one": 1})
    with pytest.raises(ConditionalCheckFailedError):
        table.delete_item(key=KEY, condition=Attr("v").gt(5))
    old = table.delete_item(key=KEY, condition=Attr("v").between(1, 3), return_values="ALL_OLD")
    assert old == {**KEY, "v": 2}


def test_bad_expressions_are_the_file_backends_errors(table):
    with pytest.raises(ValidationError, match="unused"):
        table.put_item(item=KEY, condition="attribute_exists(PK)", values={":x": 1})
    with pytest.raises(ValidationError):
        table.put_item(item=KEY, condition="PK = = :x", values={":x": 1})


def test_callable_conditions_cannot_run_in_dynamodb(backend, table):
    backend.only_remote("the file backend runs callable conditions under its write lock")
    with pytest.raises(ValidationError, match="cannot run there"):
        table.put_item(item=KEY, condition=lambda item: True)
    with pytest.raises(ValidationError, match="cannot run there"):
        table.put_item(item=KEY, condition="v > 1")  # a filtration string


def test_update_expressions_and_return_values(table):
    new = table.update_item(key=KEY, update="SET visits = if_not_exists(visits, :z) + :one",
                            values={":z": 0, ":one": 1}, return_values="ALL_NEW")
    assert new == {**KEY, "visits": 1}
    assert table.update_item(key=KEY, update="ADD visits :n", values={":n": 2},
                             return_values="UPDATED_NEW") == {"visits": 3}
    assert table.update_item(key=KEY, set={"name": "Ann", "tags": {"a"}},
                             return_values="UPDATED_OLD") == {}
    old = table.update_item(key=KEY, remove=["name"], add={"tags": {"b"}},
                            return_values="ALL_OLD")
    assert old == {**KEY, "visits": 3, "name": "Ann", "tags": {"a"}}
    table.update_item(key=KEY, delete={"tags": {"a"}})
    assert table.get_item(key=KEY) == {**KEY, "visits": 3, "tags": {"b"}}
    assert table.update_item(key=KEY, set={"m": {"x": [1]}}) is None
    table.update_item(key=KEY,
                      update="SET m.x[1] = :v, #l = list_append(if_not_exists(#l, :e), :v)",
                      names={"#l": "log"}, values={":v": [2], ":e": []})
    assert table.get_item(key=KEY)["m"] == {"x": [1, [2]]}
    assert table.get_item(key=KEY)["log"] == [2]


def test_update_conditions_and_key_attributes(table):
    table.put_item(item={**KEY, "qty": 5})
    with pytest.raises(ConditionalCheckFailedError):
        table.update_item(key=KEY, update="SET qty = qty - :n", condition="qty >= :n",
                          values={":n": 9})
    table.update_item(key=KEY, update="SET qty = qty - :n", condition="qty >= :n",
                      values={":n": 2})
    assert table.get_item(key=KEY)["qty"] == 3
    with pytest.raises(ValidationError, match="part of the key"):
        table.update_item(key=KEY, set={"SK": "other"})
    with pytest.raises(ValidationError):
        table.update_item(key=KEY, update="SET qty = qty + :s", values={":s": "x"})
    assert table.get_item(key=KEY)["qty"] == 3


def test_table_without_sort_key(backend):
    stock = backend.create(sk_attribute=None, pk_attribute="sku")
    stock.put_item(item={"sku": "pen", "qty": 3})
    assert stock.get_item(key={"sku": "pen"}) == {"sku": "pen", "qty": 3}
    assert stock.sk_attribute is None
    assert [i["sku"] for i in stock.query("pen")] == ["pen"]


def test_numeric_and_binary_keys(backend):
    events = backend.create(key_types={"PK": "B", "SK": "N"})
    for n in (10, 2, 33):
        events.put_item(item={"PK": b"dev", "SK": n, "n": n})
    assert [i["SK"] for i in events.query(b"dev")] == [2, 10, 33]
    assert events.get_item(key={"PK": b"dev", "SK": Decimal("2.0")})["n"] == 2


def test_missing_table(backend):
    with pytest.raises(TableNotFoundError):
        backend.db.table(backend.unique("missing"))


def test_database_tables(backend):
    db = backend.db
    first = backend.create()
    second = backend.create(sk_attribute=None)
    names = db.tables()
    assert first.name in names and second.name in names
    assert db.table(first.name).name == first.name
    described = db.describe_table(first.name)
    assert described["pk_attribute"] == "PK" and described["sk_attribute"] == "SK"
    db.delete_table(second.name)
    assert second.name not in db.tables()
    with pytest.raises(TableNotFoundError):
        db.table(second.name)
