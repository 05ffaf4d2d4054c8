"""Listeners and streams (with named consumers) on every backend."""

from __future__ import annotations

import threading
import time

import pytest

from dynafile import ConsumerBusyError

KEY = {"PK": "u1", "SK": "profile"}


def options(backend):
    """What a named consumer needs besides its name: the remote backend
    keeps positions where the user says (here a directory)."""
    return {"positions": str(backend.tmp_path / "positions")} if backend.remote else {}


def test_listeners(backend, table):
    events, records = [], []
    table.add_stream_listener(events.append)
    table.add_stream_listener(records.append, records=True)
    table.put_item(item={**KEY, "v": 1})
    table.put_item(item={**KEY, "v": 2})
    table.put_item(item={**KEY, "v": 2})  # changes nothing: calls nothing
    table.update_item(key=KEY, add={"v": 1})
    table.delete_item(key=KEY)
    table.delete_item(key=KEY)  # nothing to delete: calls nothing
    assert [(e.action, e.old and e.old["v"], e.new and e.new["v"]) for e in events] == [
        ("PUT", None, 1), ("PUT", 1, 2), ("PUT", 2, 3), ("DELETE", 3, None)]
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "MODIFY", "REMOVE"]
    assert records[0].keys == KEY and records[0].table == table.name
    table.remove_stream_listener(events.append)
    table.put_item(item=KEY)
    assert len(events) == 4


def test_listeners_see_batches_and_transactions(backend, table):
    events = []
    table.add_stream_listener(events.append)
    with table.batch_writer() as writer:
        writer.put_item(item={"PK": "b", "SK": "1"})
        writer.put_item(item={"PK": "b", "SK": "2"})
    table.transact_write([{"put": {"item": {"PK": "t", "SK": "1"}}}])
    with table.transaction() as tx:
        tx.put_item(item={"PK": "x", "SK": "1", "n": 1})
    assert [e.new["PK"] for e in events] == ["b", "b", "t", "x"]


def test_a_listener_may_write(table):
    seen = []

    def audit(event):
        seen.append(event.new["PK"] if event.new else None)
        if event.new and event.new["PK"] == "u1":
            table.put_item(item={"PK": "audit", "SK": "1"})

    table.add_stream_listener(audit)
    table.put_item(item=KEY)
    assert seen == ["u1", "audit"]


def test_stream_from_the_start(table):
    table.put_item(item={**KEY, "v": 1})
    table.update_item(key=KEY, set={"v": 2})
    table.delete_item(key=KEY)
    records = list(table.stream(from_sequence=0, follow=False))
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[1].old["v"] == 1 and records[1].new["v"] == 2
    assert records[2].keys == KEY and records[2].new is None
    assert all(r.table == table.name for r in records)
    keys_only = list(table.stream(from_sequence=0, follow=False, view_type="KEYS_ONLY"))
    assert keys_only[0].new is None and keys_only[0].keys == KEY
    later = list(table.stream(from_sequence=records[0], follow=False))
    assert [r.event_name for r in later] == ["MODIFY", "REMOVE"]


def test_stream_follows_new_writes(backend, table):
    table.put_item(item={"PK": "before", "SK": "1"})
    extra = {} if not backend.remote else {"poll_interval": 0.05}
    stream = table.stream(timeout=5, **extra)  # only what comes after this call

    def write():
        time.sleep(0.3)
        table.put_item(item={"PK": "after", "SK": "1"})

    writer = threading.Thread(target=write)
    writer.start()
    record = next(stream)
    writer.join()
    stream.close()
    assert record.keys == {"PK": "after", "SK": "1"}


def test_named_consumer(backend, table):
    for n in range(3):
        table.put_item(item={"PK": "k", "SK": str(n)})
    extra = options(backend)
    stream = table.stream(consumer="billing", from_sequence=0, follow=False, **extra)
    first, second = next(stream), next(stream)
    with pytest.raises(ConsumerBusyError):
        table.stream(consumer="billing", follow=False, **extra)
    stream.close()  # the last record handed out counts as not yet processed
    assert [first.keys["SK"], second.keys["SK"]] == ["0", "1"]
    assert table.consumer_position("billing", **extra) is not None
    with table.stream(consumer="billing", follow=False, **extra) as again:
        assert [r.keys["SK"] for r in again] == ["1", "2"]
    table.put_item(item={"PK": "k", "SK": "3"})
    with table.stream(consumer="billing", follow=False, **extra) as again:
        assert [r.keys["SK"] for r in again] == ["3"]
    assert table.reset_consumer("billing", **extra) is True
    assert table.consumer_position("billing", **extra) is None


def test_manual_commit(backend, table):
    for n in range(3):
        table.put_item(item={"PK": "k", "SK": str(n)})
    extra = options(backend)
    stream = table.stream(consumer="manual", from_sequence=0, follow=False, auto_commit=False,
                          **extra)
    records = [next(stream) for _ in range(3)]
    stream.commit(records[0])
    stream.close()
    with table.stream(consumer="manual", follow=False, **extra) as again:
        assert [r.keys["SK"] for r in again] == ["1", "2"]


def test_database_stream_of_every_table(backend):
    first = backend.create()
    second = backend.create(sk_attribute=None)
    first.put_item(item=KEY)
    second.put_item(item={"PK": "x"})
    records = list(backend.db.stream(from_sequence=0, follow=False))
    mine = [(r.table, r.event_name) for r in records if r.table in (first.name, second.name)]
    assert sorted(mine) == sorted([(first.name, "INSERT"), (second.name, "INSERT")])


def test_consumer_positions_in_a_dynamodb_table(backend, table):
    backend.only_remote("a data directory keeps consumer positions in its own streams/ folder")
    positions = "dynamodb:" + backend.unique("positions")
    table.put_item(item=KEY)
    with table.stream(consumer="c1", from_sequence=0, follow=False, positions=positions) as s:
        assert len(list(s)) == 1
    with pytest.raises(ConsumerBusyError), table.stream(consumer="c1", positions=positions,
                                                        follow=False):
        table.stream(consumer="c1", positions=positions, follow=False)
    table.put_item(item={**KEY, "v": 1})
    with table.stream(consumer="c1", follow=False, positions=positions) as s:
        assert [r.event_name for r in s] == ["MODIFY"]
    assert table.reset_consumer("c1", positions=positions)
