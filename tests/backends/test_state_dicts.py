"""State dicts on every backend: items read through ``with db.transaction()
as tx`` are dicts whose edits become the transaction's writes at commit,
under the same optimistic checks as every read (DynamoDB: conditions of
one TransactWriteItems)."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal

import pytest

from dynafile import TransactionConflictError, ValidationError
from dynafile.statedicts import StateDict

K = {"PK": "a", "SK": "1"}
START = {**K, "n": 0, "tmp": "x", "tags": {"red"}, "address": {"city": "Bergen"},
         "list": [1, 2]}


@pytest.fixture
def items(table):
    table.put_item(item=START)
    return table


def stored(table):
    return table.get_item(key=K)


def test_items_read_through_tx_are_state_dicts(items):
    with items.transaction() as tx:
        item = tx.get_item(key=K)
        assert isinstance(item, StateDict) and isinstance(item, dict)
        assert item == stored(items)
        assert tx.get_item(key=K) is item  # one object per item per transaction
        (again,) = tx.batch_get([K])
        assert again is item
        assert tx.get_item(key={"PK": "nobody", "SK": "x"}) is None
        projected = tx.get_item(key=K, projection=["n"])
        assert type(projected) is dict and projected == {"n": 0}
    assert type(stored(items)) is dict


@pytest.mark.parametrize("edit,expected", [
    (lambda d: d.__setitem__("n", 1), {"n": 1}),
    (lambda d: d.__delitem__("tmp"), {"tmp": None}),
    (lambda d: d.update({"n": 5, "new": "v"}), {"n": 5, "new": "v"}),
    (lambda d: d.setdefault("fresh", [1]), {"fresh": [1]}),
    (lambda d: d.pop("tmp"), {"tmp": None}),
    (lambda d: d["tags"].add("blue"), {"tags": {"red", "blue"}}),
    (lambda d: d["address"].__setitem__("city", "Oslo"), {"address": {"city": "Oslo"}}),
    (lambda d: d["list"].append(3), {"list": [1, 2, 3]}),
    (lambda d: d.__setitem__("n", d["n"] + 1), {"n": 1}),
], ids=["setitem", "delitem", "update", "setdefault", "pop", "nested-set", "nested-map",
        "nested-list", "increment"])
def test_each_edit_form_is_written_at_commit(items, edit, expected):
    before = stored(items)
    with items.transaction() as tx:
        edit(tx.get_item(key=K))
        assert stored(items) == before  # nothing is written before the commit
    after = stored(items)
    for name, value in expected.items():
        if value is None:
            assert name not in after
        else:
            assert after[name] == value


def test_no_edit_no_write(items):
    with items.transaction() as tx:
        item = tx.get_item(key=K)
        item["n"] = Decimal(0)  # the same number: DynamoDB's equality
        item["tags"] = {"red"}
        items.update_item(key=K, set={"other": 1})  # another writer, after the read
    # no write was made: the other writer's change stands and nothing conflicted
    assert stored(items)["other"] == 1


def test_edits_are_seen_by_later_calls_in_the_transaction(items):
    with items.transaction() as tx:
        item = tx.get_item(key=K)
        item["n"] = 10
        assert tx.get_item(key=K, projection=["n"]) == {"n": 10}
        tx.update_item(key=K, update="SET n = n + :one", values={":one": 1})
        assert item["n"] == 11  # an explicit write updates the state dict in place
        item["n"] += 1
        tx.condition_check(key=K, condition="n = :v", values={":v": 12})
    assert stored(items)["n"] == 12


def test_explicit_put_and_delete_after_edits(items):
    with items.transaction() as tx:
        item = tx.get_item(key=K)
        item["n"] = 1
        tx.put_item(item={**K, "replaced": True})
        assert item == {**K, "replaced": True}
    assert stored(items) == {**K, "replaced": True}
    with items.transaction() as tx:
        item = tx.get_item(key=K)
        tx.delete_item(key=K)
        item["ghost"] = 1  # detached: the item is gone in this transaction
        assert tx.get_item(key=K) is None
    assert stored(items) is None


def test_key_attributes_are_refused(items):
    with items.transaction() as tx:
        item = tx.get_item(key=K)
        for edit in (lambda: item.__setitem__("PK", "b"), lambda: item.__delitem__("SK"),
                     lambda: item.update({"PK": "b", "n": 4}), lambda: item.pop("PK")):
            with pytest.raises(ValidationError, match="Cannot update attribute .K. This "
                                                      "attribute is part of the key"):
                edit()
        assert item["n"] == 0
        item["PK"] = "a"  # the same value is no change
        item["n"] = 3
    assert stored(items)["n"] == 3


def test_a_key_change_that_bypasses_the_dict_methods_fails_the_commit(items):
    before = stored(items)
    with pytest.raises(ValidationError, match="Cannot update attribute PK"), \
            items.transaction() as tx:
        item = tx.get_item(key=K)
        item["n"] = 99
        dict.__setitem__(item, "PK", "zzz")
    assert stored(items) == before
    assert items.get_item(key={"PK": "zzz", "SK": "1"}) is None


def test_an_invalid_edit_fails_the_commit_and_writes_nothing(items):
    before = stored(items)
    with pytest.raises(ValidationError), items.transaction() as tx:
        tx.get_item(key=K)["bad"] = float("nan")
    assert stored(items) == before


def test_conflict_with_another_writer_and_retries(items):
    with pytest.raises(TransactionConflictError), items.transaction() as tx:
        item = tx.get_item(key=K)
        items.update_item(key=K, set={"n": 100})
        item["n"] = 1
    assert stored(items)["n"] == 100

    attempts = []

    @items.transaction(retries=3)
    def bump(tx):
        item = tx.get_item(key=K)
        attempts.append(1)
        if len(attempts) == 1:
            items.update_item(key=K, add={"n": 1})
        item["n"] += 1

    bump()
    assert len(attempts) == 2 and stored(items)["n"] == 102


def test_rollback_discards_edits_and_the_dict_is_plain_after(items):
    before = stored(items)
    with pytest.raises(RuntimeError), items.transaction() as tx:
        item = tx.get_item(key=K)
        item["n"] = 50
        raise RuntimeError
    assert stored(items) == before
    with items.transaction() as tx:
        item = tx.get_item(key=K)
    item["n"] = 77  # after the block: an ordinary dict
    item["PK"] = "mine now"
    assert stored(items) == before


def test_copies_are_plain_dicts(items):
    with items.transaction() as tx:
        item = tx.get_item(key=K)
        for made in (item.copy(), dict(item), copy.copy(item), copy.deepcopy(item),
                     pickle.loads(pickle.dumps(item))):
            assert type(made) is dict and made == item
        made["n"] = 123  # editing a copy changes nothing
    assert stored(items)["n"] == 0


def test_state_dicts_across_tables(backend):
    stock = backend.create(pk_attribute="sku", sk_attribute=None)
    orders = backend.create(pk_attribute="id", sk_attribute=None)
    stock.put_item(item={"sku": "pen", "qty": 3})
    with backend.db.transaction() as tx:
        pen = tx.get_item(key={"sku": "pen"}, table=stock.name)
        pen["qty"] -= 1
        tx.put_item(item={"id": "o1", "sku": "pen"}, table=orders.name)
    assert stock.get_item(key={"sku": "pen"})["qty"] == 2
    assert orders.get_item(key={"id": "o1"}) == {"id": "o1", "sku": "pen"}
