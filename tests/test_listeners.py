"""In-process listeners (dynafile/listeners.py): a listener may write through
the table it listens to, and every change is delivered once, in commit order."""

import threading

import pytest

from dynafile import Dynafile


@pytest.mark.timeout(20)
@pytest.mark.parametrize("how", ["put_item", "update_item", "transact_write", "transaction",
                                 "batch_writer"])
def test_a_listener_can_write_through_its_table(db, how):
    seen = []

    def audit(event):
        seen.append((event.action, event.new["PK"], event.new["SK"]))
        if event.new["PK"] != "order":
            return
        key = {"PK": "audit", "SK": event.new["SK"]}
        if how == "put_item":
            db.put_item(item={**key, "n": 1})
        elif how == "update_item":
            db.update_item(key=key, add={"n": 1})
        elif how == "transact_write":
            db.transact_write([{"put": {"item": {**key, "n": 1}}}])
        elif how == "transaction":
            with db.transaction() as tx:
                tx.put_item(item={**key, "n": 1})
        else:
            with db.batch_writer() as w:
                w.put_item(item={**key, "n": 1})

    db.add_stream_listener(audit)
    db.put_item(item={"PK": "order", "SK": "1"})
    db.put_item(item={"PK": "order", "SK": "2"})
    assert seen == [("PUT", "order", "1"), ("PUT", "audit", "1"),
                    ("PUT", "order", "2"), ("PUT", "audit", "2")]
    assert db.get_item(key={"PK": "audit", "SK": "2"})["n"] == 1


@pytest.mark.timeout(20)
def test_listener_writes_keep_commit_order_under_threads(db):
    seen = []
    lock = threading.Lock()

    def counter(event):
        with lock:
            seen.append(event.sequence)
        if event.new is not None and event.new["PK"] == "w":
            db.update_item(key={"PK": "count", "SK": "n"}, add={"n": 1})

    db.add_stream_listener(counter)

    def work(t):
        for i in range(50):
            db.put_item(item={"PK": "w", "SK": f"{t}-{i}"})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.get_item(key={"PK": "count", "SK": "n"})["n"] == 200
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 400


def test_record_listeners_follow_the_tables_view_type(db_path):
    db = Dynafile(db_path, durability="normal", stream_view_type="KEYS_ONLY")
    records = []
    db.add_stream_listener(records.append, records=True)
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    db.update_table(stream_view_type="NEW_IMAGE")
    db.put_item(item={"PK": "a", "SK": "1", "v": 2})
    assert [(r.event_name, r.new, r.old) for r in records] == [
        ("INSERT", None, None), ("MODIFY", {"PK": "a", "SK": "1", "v": 2}, None)]
    db.close()
