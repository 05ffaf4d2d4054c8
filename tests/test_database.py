"""A database of named tables (dynafile/database.py)."""

import os

import pytest
from conftest import snapshot_files

from dynafile import GSI, Database, TableExistsError, TableNotFoundError, ValidationError


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
    assert sorted(os.listdir(path)) == ["LOCK", "catalog.json", "tables"]
