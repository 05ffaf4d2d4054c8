import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from dynafile import Dynafile


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "db")


@pytest.fixture
def db(db_path):
    table = Dynafile(db_path, pk_attribute="PK", sk_attribute="SK", durability="normal")
    yield table
    table.close()


def snapshot_files(root):
    """Return {relative path: bytes} of every file under ``root``."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def engine(db):
    """The storage engine of an open table (tests inspect it and set its limits)."""
    return db._core.engine


def abandon(db):
    """Release a table's files and locks without a checkpoint, leaving its log
    to replay, as a process that is killed does."""
    db._core.engine.abandon()


def table_meta(path, name=None):
    """The ``meta.json`` entry of table ``name`` (default: the only table)
    of the database in ``path``."""
    with open(os.path.join(path, "meta.json")) as f:
        tables = json.load(f)["tables"]
    if name is None:
        (name,) = tables
    return tables[name]


def edit_table_meta(path, change, name=None):
    """Rewrite ``meta.json`` with ``change(entry)`` applied to a table's entry
    (as an older release or a hand edit would leave it)."""
    meta_path = os.path.join(path, "meta.json")
    with open(meta_path) as f:
        data = json.load(f)
    if name is None:
        (name,) = data["tables"]
    change(data["tables"][name])
    with open(meta_path, "w") as f:
        json.dump(data, f)
