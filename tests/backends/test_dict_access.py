"""Tables as dicts on every backend: table[key], table[key] = item,
del table[key], key in table, len(table), iteration over keys."""

from __future__ import annotations

import pytest

from dynafile import ValidationError


def test_get_set_delete(table):
    table["user#1", "profile"] = {"name": "Ann"}
    assert table["user#1", "profile"] == {"PK": "user#1", "SK": "profile", "name": "Ann"}
    assert table[{"PK": "user#1", "SK": "profile"}]["name"] == "Ann"
    table["user#1", "profile"] = {"PK": "user#1", "SK": "profile", "name": "Bo"}
    assert table.get_item(key={"PK": "user#1", "SK": "profile"})["name"] == "Bo"
    assert ("user#1", "profile") in table and ("user#1", "x") not in table
    del table["user#1", "profile"]
    with pytest.raises(KeyError) as err:
        table["user#1", "profile"]
    assert err.value.args == (("user#1", "profile"),)
    with pytest.raises(KeyError):
        del table["user#1", "profile"]
    assert len(table) == 0 and list(table) == [] and bool(table)


def test_bad_keys_and_items_change_nothing(table):
    table["a", "1"] = {"v": 1}
    for bad in ["just-pk", ("a",), ("a", "b", "c")]:
        with pytest.raises(ValidationError, match=r"table\[pk, sk\]"):
            table[bad]
    with pytest.raises(ValidationError, match="the key's is"):
        table["a", "1"] = {"PK": "b", "v": 2}
    with pytest.raises(ValidationError, match="dict"):
        table["a", "1"] = ["not", "an", "item"]
    assert table["a", "1"] == {"PK": "a", "SK": "1", "v": 1}
    assert len(table) == 1


def test_len_and_keys(table):
    for pk in "abc":
        for sk in "12":
            table[pk, sk] = {"v": pk + sk}
    assert len(table) == 6
    assert sorted(table) == [(pk, sk) for pk in "abc" for sk in "12"]
    assert all(table[k]["v"] == k[0] + k[1] for k in table)


def test_a_table_without_a_sort_key(backend):
    stock = backend.create(pk_attribute="sku", sk_attribute=None)
    stock["pen"] = {"qty": 3}
    assert stock["pen"]["qty"] == 3 and stock[("pen",)] == stock[{"sku": "pen"}]
    assert "pen" in stock and "ink" not in stock
    assert list(stock) == ["pen"]
    with pytest.raises(ValidationError, match="no sort key"):
        stock["pen", "x"]
    del stock["pen"]
    assert len(stock) == 0
