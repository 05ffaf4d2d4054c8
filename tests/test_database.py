"""A database of named tables (dynafile/database.py)."""

import os
import subprocess
import sys

import pytest
from conftest import snapshot_files

from dynafile import (
    GSI,
    Database,
    TableExistsError,
    TableNotFoundError,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)


def test_create_use_list_describe_and_delete_tables(tmp_path):
    path = str(tmp_path / "db")
    with Database(path, durability="normal") as db:
        orders = db.create_table("orders", pk_attribute="customer", sk_attribute="order",
                                 gsis=[GSI("by_status", "status")], tags={"team": "shop"})
        users = db.create_table("Users.v2", pk_attribute="id")
        orders.put_item(item={"customer": "c1", "order": "o1", "status": "open"})
        users.put_item(item={"id": "u1", "name": "Ann"})
        assert db.tables() == ["Users.v2", "orders"]
        described = db.describe_table("orders")
        assert (described["name"], described["pk_attribute"], described["sk_attribute"]) == \
            ("orders", "customer", "order")
        assert described["indexes"]["by_status"]["state"] == "ACTIVE"
        assert described["tags"] == {"team": "shop"}
        db.tag_table("orders", {"env": "test"})
        db.untag_table("orders", ["team"])
        assert db.describe_table("orders")["tags"] == {"env": "test"}
    with Database(path) as db:  # another opener sees the same tables
        assert db.table("Users.v2").get_item(key={"id": "u1"})["name"] == "Ann"
        assert [i["order"] for i in db.table("orders").query("open", index="by_status")] == \
            ["o1"]
        db.delete_table("orders")
        assert db.tables() == ["Users.v2"]
        with pytest.raises(TableNotFoundError):
            db.table("orders")
        with pytest.raises(TableNotFoundError):
            db.delete_table("orders")
        again = db.create_table("orders", pk_attribute="id")  # a fresh table
        assert list(again.scan()) == []


@pytest.mark.parametrize("name", ["ab", "a" * 256, "has space", "slash/name", "..", "é-table",
                                  "", None, 5])
def test_bad_table_names_are_refused_and_change_nothing(tmp_path, name):
    path = str(tmp_path / "db")
    with Database(path) as db:
        db.create_table("keep", pk_attribute="id")
        before = snapshot_files(path)
        with pytest.raises(ValidationError, match="tableName"):
            db.create_table(name, pk_attribute="id")
        assert snapshot_files(path) == before
        assert db.tables() == ["keep"]


def test_an_existing_name_is_refused(tmp_path):
    with Database(str(tmp_path / "db")) as db:
        db.create_table("things", pk_attribute="id")
        with pytest.raises(TableExistsError):
            db.create_table("things", pk_attribute="other")
        assert db.table("things").pk_attribute == "id"


def test_names_never_become_paths(tmp_path):
    path = str(tmp_path / "db")
    with Database(path) as db:
        db.create_table("..-..", pk_attribute="id").put_item(item={"id": "x"})
        db.create_table("LOCK", pk_attribute="id")
    assert sorted(os.listdir(path)) == ["CHECKPOINT", "LOCK", "data", "log", "meta.json"]
    names = {name for _, dirs, files in os.walk(path) for name in dirs + files}
    assert not names & {"..-..", "LOCK-", "tables"}
    assert {n for n in os.listdir(os.path.join(path, "data"))} <= {"MANIFEST", "t1", "t2"}
    with Database(path) as db:
        assert db.tables() == ["..-..", "LOCK"]
        assert db.table("..-..").get_item(key={"id": "x"}) == {"id": "x"}


# ------------------------------------------------------- one log, many tables


def shop(path, **options):
    """A database with an orders table and a stock table."""
    db = Database(path, durability="normal", **options)
    if not db.tables():
        db.create_table("orders", pk_attribute="customer", sk_attribute="order",
                        gsis=[GSI("by_status", "status")])
        db.create_table("stock", pk_attribute="sku")
    return db


def test_a_transaction_across_tables_is_all_or_nothing(tmp_path):
    path = str(tmp_path / "db")
    with shop(path) as db:
        db.table("stock").put_item(item={"sku": "pen", "qty": 1})
        order = {"customer": "c1", "order": "o1", "status": "open"}
        take = {"update": {"table": "stock", "key": {"sku": "pen"},
                           "update": "SET qty = qty - :one", "condition": "qty >= :one",
                           "values": {":one": 1}}}
        db.transact_write([{"put": {"table": "orders", "item": order}}, take])
        assert db.table("stock").get_item(key={"sku": "pen"})["qty"] == 0
        assert db.table("orders").get_item(key={"customer": "c1", "order": "o1"}) == order
        before = snapshot_files(path)
        second = {**order, "order": "o2"}
        with pytest.raises(TransactionCanceledError) as info:
            db.transact_write([{"put": {"table": "orders", "item": second}}, take])
        assert [r.code for r in info.value.reasons] == [None, "ConditionalCheckFailed"]
        assert snapshot_files(path) == before  # nothing of it reached any file
        assert db.table("orders").get_item(key={"customer": "c1", "order": "o2"}) is None
        assert [i["order"] for i in db.table("orders").query("open", index="by_status")] == \
            ["o1"]
        with pytest.raises(TableNotFoundError):
            db.transact_write([{"put": {"table": "nope", "item": {"id": "x"}}}])
        with pytest.raises(ValidationError):  # two actions on one item, across tables too
            db.transact_write([{"put": {"table": "stock", "item": {"sku": "a"}}},
                               {"delete": {"table": "stock", "key": {"sku": "a"}}}])
        # the same key in two tables is two items
        db.transact_write([{"put": {"table": "stock", "item": {"sku": "c1", "qty": 5}}},
                           {"put": {"table": "orders", "item": {**order, "order": "c1"}}}])
        got = db.transact_get([("stock", {"sku": "c1"}), ("orders", {"customer": "c1",
                                                                     "order": "c1"}),
                               ("stock", {"sku": "missing"})])
        assert got[0]["qty"] == 5 and got[1]["order"] == "c1" and got[2] is None
    with shop(path) as db:  # and it is all there after reopening
        assert db.table("stock").get_item(key={"sku": "c1"})["qty"] == 5
        assert db.check().ok


def test_an_optimistic_transaction_across_tables_sees_one_snapshot(tmp_path):
    path = str(tmp_path / "db")
    with shop(path) as db:
        db.table("stock").put_item(item={"sku": "pen", "qty": 2})
        with db.transaction() as tx:
            qty = tx.get_item(table="stock", key={"sku": "pen"})["qty"]
            tx.put_item(table="stock", item={"sku": "pen", "qty": qty - 1})
            tx.put_item(table="orders", item={"customer": "c", "order": "1", "qty": 1})
        assert db.table("stock").get_item(key={"sku": "pen"})["qty"] == 1
        other = Database(path)  # another writer changes what the transaction read
        with pytest.raises(TransactionConflictError), db.transaction() as tx:
            tx.get_item(table="stock", key={"sku": "pen"})
            other.table("stock").put_item(item={"sku": "pen", "qty": 100})
            tx.put_item(table="orders", item={"customer": "c", "order": "2"})
        other.close()
        assert db.table("orders").get_item(key={"customer": "c", "order": "2"}) is None


def test_the_database_stream_names_each_record_s_table(tmp_path):
    path = str(tmp_path / "db")
    with shop(path) as db:
        start = db.sequence
        db.table("stock").put_item(item={"sku": "pen", "qty": 1})
        db.transact_write([
            {"put": {"table": "orders", "item": {"customer": "c", "order": "1"}}},
            {"delete": {"table": "stock", "key": {"sku": "pen"}}}])
        records = list(db.stream(from_sequence=start, follow=False))
        assert [(r.table, r.event_name) for r in records] == [
            ("stock", "INSERT"), ("orders", "INSERT"), ("stock", "REMOVE")]
        assert records[1].sequence == records[2].sequence  # one record, two changes
        # a table's own stream has its changes only
        assert [r.event_name for r in db.table("stock").stream(from_sequence=start,
                                                              follow=False)] == \
            ["INSERT", "REMOVE"]


def test_a_deleted_table_s_files_go_at_the_next_checkpoint(tmp_path):
    path = str(tmp_path / "db")
    with shop(path) as db:
        for i in range(50):
            db.table("stock").put_item(item={"sku": f"s{i}", "qty": i})
        db.checkpoint()
        space = os.path.join(path, "data", "t2")
        assert os.listdir(space)
        db.delete_table("stock")
        assert os.path.exists(space)  # still named by the manifest until a checkpoint
        db.checkpoint()
        assert not os.path.exists(space)
        again = db.create_table("stock", pk_attribute="sku")
        assert list(again.scan()) == []
        assert db.check().ok


CREATE = r"""
import sys
from dynafile import Database, TableExistsError
db = Database(sys.argv[1], durability="normal")
try:
    db.create_table("shared", pk_attribute="id")
    print("created")
except TableExistsError:
    print("exists")
db.close()
"""


@pytest.mark.timeout(120)
def test_processes_racing_to_create_a_table_make_one(tmp_path):
    path = str(tmp_path / "db")
    Database(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", CREATE, path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env())
             for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(out for out, _ in outs) == ["created\n"] + ["exists\n"] * 5
    with Database(path) as db:
        assert db.tables() == ["shared"]
        assert db.check().ok


WRITER = r"""
import sys
from dynafile import Database, TableExistsError
path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = Database(path, durability="normal", checkpoint_bytes=16384, partition_bytes=2048)
try:
    db.create_table(name, pk_attribute="pk", sk_attribute="sk")
except TableExistsError:
    pass
table = db.table(name)
for i in range(count):
    table.put_item(item={"pk": f"p{i % 7}", "sk": i, "by": name, "pad": "x" * 50})
    if i % 10 == 0:
        db.transact_write([
            {"put": {"table": name, "item": {"pk": "tx", "sk": i, "by": name}}},
            {"update": {"table": "counters", "key": {"pk": "all", "sk": 0},
                        "update": "ADD n :one", "values": {":one": 1}}}])
db.close()
"""


@pytest.mark.timeout(180)
def test_processes_writing_different_tables_of_one_database(tmp_path):
    """Several processes, each creating and writing its own table, and all of
    them updating one counter of a shared table in cross-table transactions:
    one log orders it all, and nothing is lost."""
    path = str(tmp_path / "db")
    with Database(path) as db:
        db.create_table("counters", pk_attribute="pk", sk_attribute="sk")
    names, count = [f"table{n}" for n in range(4)], 300
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, name, str(count)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env())
             for name in names]
    outs = [p.communicate(timeout=150) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with Database(path) as db:
        assert db.tables() == sorted(["counters", *names])
        for name in names:
            items = list(db.table(name).scan())
            assert len(items) == count + count // 10
            assert {item["by"] for item in items} == {name}
        assert db.table("counters").get_item(key={"pk": "all", "sk": 0})["n"] == \
            len(names) * (count // 10)
        report = db.check()
        assert report.ok, str(report)
        assert report.stats["partitions"] > len(names)  # small partitions split


DELETER = r"""
import sys
from dynafile import Database
db = Database(sys.argv[1], durability="normal")
db.delete_table("victim")
db.close()
"""


def test_a_table_deleted_by_another_process_is_gone_here(tmp_path):
    path = str(tmp_path / "db")
    with Database(path, durability="normal") as db:
        victim = db.create_table("victim", pk_attribute="id")
        victim.put_item(item={"id": "a"})
        subprocess.run([sys.executable, "-c", DELETER, path], check=True, timeout=60,
                       env=_env())
        with pytest.raises(TableNotFoundError):
            victim.get_item(key={"id": "a"})
        with pytest.raises(TableNotFoundError):
            victim.put_item(item={"id": "b"})
        assert db.tables() == []
        fresh = db.create_table("victim", pk_attribute="id")  # the name is free again
        assert fresh.get_item(key={"id": "a"}) is None
        with pytest.raises(TableNotFoundError):  # the old handle stays gone
            list(victim.scan())
        assert db.check().ok


CHURN = r"""
import sys
from dynafile import Database
db = Database(sys.argv[1], durability="normal", checkpoint_bytes=8192, partition_bytes=1024)
for n in range(int(sys.argv[2])):
    table = db.create_table(f"churn{n:03d}", pk_attribute="id")
    table.put_item(item={"id": "x", "n": n})
    if n % 3:
        db.delete_table(f"churn{n:03d}")
db.close()
"""


@pytest.mark.timeout(180)
def test_tables_created_and_deleted_while_another_process_writes_its_table(tmp_path):
    path = str(tmp_path / "db")
    with Database(path, durability="normal") as db:
        db.create_table("steady", pk_attribute="id", sk_attribute="n")
    churn = subprocess.Popen([sys.executable, "-c", CHURN, path, "60"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_env())
    with Database(path, durability="normal", checkpoint_bytes=8192,
                  partition_bytes=1024) as db:
        steady = db.table("steady")
        n = 0
        while churn.poll() is None or n < 200:
            steady.put_item(item={"id": f"k{n % 13}", "n": n, "pad": "y" * 40})
            n += 1
        _, err = churn.communicate(timeout=60)
        assert churn.returncode == 0, err
        assert sorted(i["n"] for i in steady.scan()) == list(range(n))
        assert db.tables() == sorted(["steady", *(f"churn{k:03d}" for k in range(60)
                                                  if k % 3 == 0)])
        assert db.table("churn003").get_item(key={"id": "x"}) == {"id": "x", "n": 3}
        db.checkpoint()
        report = db.check()
        assert report.ok, str(report)
    # every deleted table's files are gone
    live = {"MANIFEST", "x"}
    with Database(path) as db:
        live |= {f"t{db.describe_table(name)['table_id']}" for name in db.tables()}
    assert set(os.listdir(os.path.join(path, "data"))) <= live


def _env():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env
