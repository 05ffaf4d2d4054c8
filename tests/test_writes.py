"""The one write step (dynafile/writes.py): every write path treats an expired
item as absent yet removes the index entries it actually replaced, writes
nothing when nothing changes, and batches are all or nothing."""

from decimal import Decimal

import pytest

from dynafile import GSI, LSI, Dynafile, ValidationError


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


INDEXES = {
    "gsi-all": (GSI("idx", "g", projection="ALL"), None),
    "gsi-keys": (GSI("idx", "g", projection="KEYS_ONLY"), None),
    "lsi-all": (None, LSI("idx", "g", projection="ALL")),
    "lsi-keys": (None, LSI("idx", "g", projection="KEYS_ONLY")),
}


def _put(db, item):
    db.put_item(item=item)


def _update(db, item):
    db.update_item(key={"PK": item["PK"], "SK": item["SK"]},
                   set={k: v for k, v in item.items() if k not in ("PK", "SK")})


def _delete(db, item):
    db.delete_item(key={"PK": item["PK"], "SK": item["SK"]})


def _batch_put(db, item):
    with db.batch_writer() as w:
        w.put_item(item=item)


def _batch_delete(db, item):
    with db.batch_writer() as w:
        w.delete_item(key={"PK": item["PK"], "SK": item["SK"]})


def _transact_put(db, item):
    db.transact_write([{"put": {"item": item}}])


def _transact_update(db, item):
    db.transact_write([{"update": {"key": {"PK": item["PK"], "SK": item["SK"]},
                                   "set": {"g": item["g"]}}}])


def _transact_delete(db, item):
    db.transact_write([{"delete": {"key": {"PK": item["PK"], "SK": item["SK"]}}}])


def _tx_put(db, item):
    with db.transaction() as tx:
        tx.put_item(item=item)


def _tx_update(db, item):
    with db.transaction() as tx:
        tx.update_item(key={"PK": item["PK"], "SK": item["SK"]}, set={"g": item["g"]})


def _tx_delete(db, item):
    with db.transaction() as tx:
        tx.delete_item(key={"PK": item["PK"], "SK": item["SK"]})


# (write, does it leave an item)
PATHS = {
    "put_item": (_put, True), "update_item": (_update, True), "delete_item": (_delete, False),
    "batch-put": (_batch_put, True), "batch-delete": (_batch_delete, False),
    "transact-put": (_transact_put, True), "transact-update": (_transact_update, True),
    "transact-delete": (_transact_delete, False),
    "transaction-put": (_tx_put, True), "transaction-update": (_tx_update, True),
    "transaction-delete": (_tx_delete, False),
}


def _index_items(db, index, g):
    if index == "gsi":
        return [(i["PK"], i["SK"]) for i in db.query(g, index="idx")]
    return [(i["PK"], i["SK"]) for i in db.query("a", index="idx") if i["g"] == g]


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("kind", sorted(INDEXES))
def test_overwriting_an_expired_item_removes_its_index_entry(db_path, path, kind):
    gsi, lsi = INDEXES[kind]
    clock = Clock()
    db = Dynafile(db_path, ttl_attribute="exp", clock=clock, durability="normal",
                  gsis=[gsi] if gsi else None, lsis=[lsi] if lsi else [])
    db.put_item(item={"PK": "a", "SK": "1", "g": "A", "exp": clock.now + 10})
    clock.now += 20  # expired, not swept
    assert db.get_item(key={"PK": "a", "SK": "1"}) is None
    write, leaves_item = PATHS[path]
    write(db, {"PK": "a", "SK": "1", "g": "B"})
    index = kind[:3]
    assert _index_items(db, index, "A") == []
    assert _index_items(db, index, "B") == ([("a", "1")] if leaves_item else [])
    if index == "lsi":  # the item appears once in its collection's index, or not at all
        assert len(list(db.query("a", index="idx"))) == (1 if leaves_item else 0)
    report = db.check()
    assert report.ok, report.problems
    assert db.sweep_expired() == 0
    db.close()
    with Dynafile(db_path, clock=clock) as again:  # the files agree too
        assert _index_items(again, index, "A") == []
        assert again.check().ok


def test_an_expired_item_counts_as_absent_for_conditions_and_return_values(db_path):
    clock = Clock()
    db = Dynafile(db_path, ttl_attribute="exp", clock=clock, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "n": 1, "exp": clock.now + 1})
    clock.now += 5
    events = []
    db.add_stream_listener(events.append)
    old = db.put_item(item={"PK": "a", "SK": "1", "n": 2}, condition="attribute_not_exists(PK)",
                      return_values="ALL_OLD")
    assert old is None
    assert [(e.action, e.old) for e in events] == [("PUT", None)]  # INSERT: no old image
    assert [r.event_name for r in db.stream(from_sequence=db.sequence - 1, follow=False)] == \
        ["INSERT"]
    db.close()


def test_a_write_that_changes_nothing_by_value_writes_nothing(db):
    db.put_item(item={"PK": "a", "SK": "1", "n": 1, "m": {"x": 1, "y": 2}})
    before = db.sequence
    events = []
    db.add_stream_listener(events.append)
    db.put_item(item={"PK": "a", "SK": "1", "n": Decimal(1), "m": {"y": 2, "x": 1.0}})
    db.update_item(key={"PK": "a", "SK": "1"}, set={"n": 1})
    with db.batch_writer() as w:
        w.put_item(item={"m": {"x": 1, "y": 2}, "SK": "1", "PK": "a", "n": 1})
    db.delete_item(key={"PK": "a", "SK": "missing"})
    assert db.sequence == before and events == []
    assert db.get_item(key={"PK": "a", "SK": "1"})["n"] == 1  # kept as written first
    db.put_item(item={"PK": "a", "SK": "1", "n": True, "m": {"x": 1, "y": 2}})
    assert db.sequence == before + 1  # True is not the number 1
    assert db.get_item(key={"PK": "a", "SK": "1"})["n"] is True


def test_a_batch_block_is_one_record_and_all_or_nothing(db):
    start = db.sequence
    with db.batch_writer() as w:
        for i in range(2500):
            w.put_item(item={"PK": f"p{i % 7}", "SK": f"{i:05d}"})
    assert db.sequence == start + 1
    assert db.count("p0") == 358
    with pytest.raises(RuntimeError), db.batch_writer() as w:
        for i in range(1500):
            w.put_item(item={"PK": "q", "SK": f"{i:05d}"})
        raise RuntimeError("the block fails")
    assert db.count("q") == 0 and db.sequence == start + 1


def test_flush_amount_commits_as_it_goes(db):
    with pytest.raises(RuntimeError), db.batch_writer(flush_amount=1000) as w:
        for i in range(1500):
            w.put_item(item={"PK": "q", "SK": f"{i:05d}"})
        raise RuntimeError("the block fails")
    assert db.count("q") == 1000  # the flushed record stays; the other 500 are discarded
    with pytest.raises(ValidationError):
        db.batch_writer(flush_amount=0)


def test_last_write_wins_within_a_batch_and_indexes_follow(db_path):
    db = Dynafile(db_path, durability="normal", gsis=[GSI("idx", "g")])
    with db.batch_writer() as w:
        w.put_item(item={"PK": "a", "SK": "1", "g": "A"})
        w.put_item(item={"PK": "a", "SK": "1", "g": "B"})
        w.delete_item(key={"PK": "a", "SK": "2"})
        w.put_item(item={"PK": "a", "SK": "2", "g": "A"})
    assert [i["SK"] for i in db.query("A", index="idx")] == ["2"]
    assert [i["SK"] for i in db.query("B", index="idx")] == ["1"]
    assert db.check().ok
    db.close()


@pytest.mark.parametrize("kind", sorted(INDEXES))
def test_an_expired_item_is_hidden_from_index_reads_whatever_the_projection(db_path, kind):
    gsi, lsi = INDEXES[kind]
    clock = Clock()
    db = Dynafile(db_path, ttl_attribute="exp", clock=clock, durability="normal",
                  gsis=[gsi] if gsi else None, lsis=[lsi] if lsi else [])
    db.put_item(item={"PK": "a", "SK": "1", "g": "A", "exp": clock.now + 10})
    db.put_item(item={"PK": "a", "SK": "2", "g": "A"})
    index = kind[:3]
    assert _index_items(db, index, "A") == [("a", "1"), ("a", "2")]
    clock.now += 20
    assert _index_items(db, index, "A") == [("a", "2")]
    assert [(i["PK"], i["SK"]) for i in db.scan(index="idx")] == [("a", "2")]
    db.close()


def _doc_blocks():
    """The python code blocks of docs/extending.md."""
    import os
    import re

    path = os.path.join(os.path.dirname(__file__), "..", "docs", "extending.md")
    with open(path) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)


def test_the_serializer_example_of_the_docs_works(tmp_path):
    from dynafile import SchemaMismatchError

    path = str(tmp_path / "db")
    namespace = {"path": path}
    exec(_doc_blocks()[0], namespace)  # noqa: S102 - the documentation's own example
    db = namespace["db"]
    assert db.get_item(key={"PK": "a", "SK": "1"})["text"] == "x" * 1000
    db.close()
    with pytest.raises(SchemaMismatchError, match="zjson"):
        Dynafile(path)


def test_a_new_write_kind_needs_only_new_image(db_path):
    from dynafile import TransactionCanceledError
    from dynafile.writes import Put

    namespace = {}
    exec(_doc_blocks()[1], namespace)  # noqa: S102 - the documentation's own example
    AppendToList = namespace["AppendToList"]
    db = Dynafile(db_path, durability="normal", gsis=[GSI("idx", "g")])
    core = db._core
    key = core.key({"PK": "a", "SK": "1"})
    core.commit([AppendToList(key, "log", 1), AppendToList(key, "log", 2)])  # one record
    assert db.get_item(key={"PK": "a", "SK": "1"}) == {"PK": "a", "SK": "1", "log": [1, 2]}
    other = core.item_key({"PK": "a", "SK": "2", "g": "G"})
    with pytest.raises(TransactionCanceledError) as info:
        core.commit([Put(other, core.dump({"PK": "a", "SK": "2", "g": "G"})),
                     AppendToList(key, "log", 3, condition=lambda item: "nope" in item)],
                    atomic=True)
    assert [r.code for r in info.value.reasons] == [None, "ConditionalCheckFailed"]
    assert db.get_item(key={"PK": "a", "SK": "2"}) is None  # all or nothing
    assert list(db.query("G", index="idx")) == []
    assert db.check().ok
    db.close()
