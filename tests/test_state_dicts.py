"""State dicts: items read through ``with db.transaction() as tx`` are dicts
whose edits become the transaction's writes at commit, under the same
optimistic checks as every read. What holds on every backend is in
tests/backends/test_state_dicts.py (run on a data directory too); this file
keeps what only a data directory shows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dynafile import Database, Dynafile, TransactionConflictError, ValidationError
from dynafile.transactions import StateDict

K = {"PK": "a", "SK": "1"}


@pytest.fixture
def table(tmp_path):
    db = Dynafile(str(tmp_path / "db"), durability="normal")
    db.put_item(item={**K, "n": 0, "tmp": "x", "tags": {"red"}, "address": {"city": "Bergen"},
                      "list": [1, 2]})
    yield db
    db.close()


def stored(db):
    return db.get_item(key=K)


def test_items_read_through_tx_are_state_dicts(table):
    with table.transaction() as tx:
        item = tx.get_item(key=K)
        assert isinstance(item, StateDict) and isinstance(item, dict)
        assert item == stored(table)
        assert tx.get_item(key=K) is item  # one object per item per transaction
        (again,) = tx.batch_get([K])
        assert again is item
        assert tx.get_item(key={"PK": "nobody", "SK": "x"}) is None
        projected = tx.get_item(key=K, projection=["n"])
        assert type(projected) is dict and projected == {"n": 0}
    # reads outside a transaction are plain dicts, unaffected
    assert type(stored(table)) is dict


@pytest.mark.parametrize("edit,expected", [
    (lambda d: d.__setitem__("n", 1), {"n": 1}),
    (lambda d: d.__delitem__("tmp"), {"tmp": None}),
    (lambda d: d.update({"n": 5, "new": "v"}), {"n": 5, "new": "v"}),
    (lambda d: d.update(n=6), {"n": 6}),
    (lambda d: d.setdefault("fresh", [1]), {"fresh": [1]}),
    (lambda d: d.pop("tmp"), {"tmp": None}),
    (lambda d: d.__ior__({"n": 7}), {"n": 7}),
    (lambda d: d["tags"].add("blue"), {"tags": {"red", "blue"}}),
    (lambda d: d["address"].__setitem__("city", "Oslo"), {"address": {"city": "Oslo"}}),
    (lambda d: d["list"].append(3), {"list": [1, 2, 3]}),
    (lambda d: d.__setitem__("n", d["n"] + 1), {"n": 1}),
], ids=["setitem", "delitem", "update", "update-kwargs", "setdefault", "pop", "ior",
        "nested-set", "nested-map", "nested-list", "increment"])
def test_each_edit_form_is_written_at_commit(table, edit, expected):
    before = stored(table)
    with table.transaction() as tx:
        edit(tx.get_item(key=K))
        assert stored(table) == before  # nothing is written before the commit
    after = stored(table)
    for name, value in expected.items():
        if value is None:
            assert name not in after
        else:
            assert after[name] == value


def test_no_edit_no_write(table):
    seq = table.sequence
    with table.transaction() as tx:
        item = tx.get_item(key=K)
        item["n"] = Decimal(0)  # the same number: DynamoDB's equality
        item["tags"] = {"red"}
    assert table.sequence == seq


def test_key_attributes_are_refused(table):
    with table.transaction() as tx:
        item = tx.get_item(key=K)
        for edit in (lambda: item.__setitem__("PK", "b"), lambda: item.__delitem__("SK"),
                     lambda: item.update({"PK": "b", "n": 4}), lambda: item.pop("PK"),
                     lambda: item.__ior__({"SK": "2"})):
            with pytest.raises(ValidationError, match="Cannot update attribute .K. This "
                                                      "attribute is part of the key"):
                edit()
        with pytest.raises(ValidationError, match="key attributes"):
            item.clear()
        assert item["n"] == 0  # a refused update changed nothing
        assert item["PK"] == "a" and item["SK"] == "1"
        item["PK"] = "a"  # the same value is no change
        item["n"] = 3
    assert stored(table)["n"] == 3


def test_conflict_with_another_writer(table, tmp_path):
    other = Dynafile(table.path, durability="normal")
    try:
        with pytest.raises(TransactionConflictError), table.transaction() as tx:
            item = tx.get_item(key=K)
            other.update_item(key=K, set={"n": 100})
            item["n"] = 1
        assert stored(table)["n"] == 100

        attempts = []

        @table.transaction(retries=3)
        def bump(tx):
            item = tx.get_item(key=K)
            attempts.append(1)
            if len(attempts) == 1:
                other.update_item(key=K, add={"n": 1})
            item["n"] += 1

        bump()
        assert len(attempts) == 2 and stored(table)["n"] == 102
    finally:
        other.close()


def test_state_dicts_across_tables(tmp_path):
    with Database(str(tmp_path / "db")) as app:
        stock = app.create_table("stock", pk_attribute="sku")
        orders = app.create_table("orders", pk_attribute="id")
        stock.put_item(item={"sku": "pen", "qty": 3})
        with app.transaction() as tx:
            pen = tx.get_item(table="stock", key={"sku": "pen"})
            pen["qty"] -= 1
            tx.put_item(table="orders", item={"id": "o1", "sku": "pen"})
        assert stock["pen"]["qty"] == 2 and orders["o1"]["sku"] == "pen"


def test_state_dicts_on_an_encrypted_table(tmp_path):
    key = bytes(32)
    with Dynafile(str(tmp_path / "db"), encryption_key=key) as db:
        db.put_item(item={**K, "n": 1})
        with db.transaction() as tx:
            tx.get_item(key=K)["n"] = 2
        assert db.get_item(key=K)["n"] == 2
