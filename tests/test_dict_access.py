"""Dict-like access on a table: table[key], table[key] = item, del table[key],
key in table, len(table), iteration over keys."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dynafile import Database, Dynafile, ValidationError


@pytest.fixture
def table(tmp_path):
    db = Dynafile(str(tmp_path / "db"), durability="normal")
    yield db
    db.close()


@pytest.fixture
def simple(tmp_path):
    with Database(str(tmp_path / "app")) as app:
        yield app.create_table("stock", pk_attribute="sku")


def test_get_set_delete_with_tuples_and_dicts(table):
    table["user#1", "profile"] = {"name": "Ann"}
    assert table["user#1", "profile"] == {"PK": "user#1", "SK": "profile", "name": "Ann"}
    assert table[{"PK": "user#1", "SK": "profile"}]["name"] == "Ann"
    assert table.get_item(key={"PK": "user#1", "SK": "profile"})["name"] == "Ann"
    table["user#1", "profile"] = {"PK": "user#1", "SK": "profile", "name": "Bo"}  # keys may be in
    assert table["user#1", "profile"]["name"] == "Bo"
    table[{"PK": "user#1", "SK": "order"}] = {"total": 5}
    del table["user#1", "profile"]
    with pytest.raises(KeyError) as err:
        table["user#1", "profile"]
    assert err.value.args == (("user#1", "profile"),)
    with pytest.raises(KeyError):
        del table["user#1", "profile"]
    del table[{"PK": "user#1", "SK": "order"}]
    assert len(table) == 0


def test_items_handed_out_are_copies(table):
    table["a", "1"] = {"n": [1]}
    item = table["a", "1"]
    item["n"].append(2)
    assert table["a", "1"]["n"] == [1]


def test_contains(table):
    table["a", "1"] = {}
    assert ("a", "1") in table
    assert ("a", "2") not in table
    assert {"PK": "a", "SK": "1"} in table


def test_a_table_without_a_sort_key(simple):
    simple["pen"] = {"qty": 3}
    assert simple["pen"] == {"sku": "pen", "qty": 3}
    assert simple[("pen",)] == simple["pen"] == simple[{"sku": "pen"}]
    assert "pen" in simple and "ink" not in simple
    assert list(simple) == ["pen"]
    del simple["pen"]
    assert len(simple) == 0
    with pytest.raises(ValidationError, match="no sort key"):
        simple["pen", "x"]


def test_malformed_keys_and_items(table):
    for bad in ["just-pk", ("a",), ("a", "b", "c"), ["a", "b"]]:
        with pytest.raises(ValidationError, match=r"table\[pk, sk\]"):
            table[bad]
        with pytest.raises(ValidationError):
            bad in table  # noqa: B015 - the check raises
    with pytest.raises(ValidationError, match="the key's is"):
        table["a", "1"] = {"PK": "b", "n": 1}
    with pytest.raises(ValidationError, match="dict"):
        table["a", "1"] = ["not", "an", "item"]
    table["a", 1] = {"PK": "a"}  # the first write fixes SK to numbers
    with pytest.raises(ValidationError):
        table["a", "1"] = {}  # SK is fixed to numbers now
    assert len(table) == 1


def test_numbers_normalise(tmp_path):
    with Database(str(tmp_path / "app")) as app:
        t = app.create_table("numbers", pk_attribute="id")
        t[1] = {"v": 1}
        assert t[Decimal("1.0")]["v"] == 1 and 1.0 in t
        t[Decimal(1)] = {"id": 1.0, "v": 2}  # the same key by value
        assert len(t) == 1 and list(t) == [1]


def test_len_and_iteration(table):
    for pk in ("a", "b", "c"):
        for sk in ("1", "2"):
            table[pk, sk] = {"v": pk + sk}
    assert len(table) == 6
    keys = list(table)
    assert sorted(keys) == [(pk, sk) for pk in "abc" for sk in "12"]
    assert keys == [(i["PK"], i["SK"]) for i in table.scan()]  # scan order
    assert all(table[k]["v"] == k[0] + k[1] for k in table)
    with Dynafile(table.path + "-empty") as empty:
        assert len(empty) == 0 and list(empty) == []
        assert bool(empty) and bool(table)  # truth never counts items


def test_expired_items_are_not_counted(tmp_path):
    now = [1000.0]
    with Dynafile(str(tmp_path / "db"), ttl_attribute="exp", clock=lambda: now[0]) as db:
        db["a", "1"] = {"exp": 2000}
        db["a", "2"] = {"exp": 500}  # already expired
        db["a", "3"] = {}
        assert len(db) == 2 and list(db) == [("a", "1"), ("a", "3")]
        assert ("a", "2") not in db
        with pytest.raises(KeyError):
            db["a", "2"]
        with pytest.raises(KeyError):
            del db["a", "2"]  # an expired item counts as missing


def test_writes_go_through_the_normal_path(table):
    events = []
    table.add_stream_listener(events.append)
    table["a", "1"] = {"n": 1}
    table["a", "1"] = {"n": 1}  # the same item: nothing written, no event
    del table["a", "1"]
    assert [e.action for e in events] == ["PUT", "DELETE"]
