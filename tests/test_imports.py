"""What ``import dynafile`` and a plain get import (issue 17, W6).

A new process that imports dynafile, opens an existing table and gets one
item must not pay for what a plain get does not use: the expression
parser, transactions, the CLI, the DynamoDB server and client, models,
transfer, encryption, msgpack, file watching. These tests run such a
process and look at ``sys.modules``; they time nothing (speed is measured
by ``scripts/bench``, row W6).
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import abandon

from dynafile import Dynafile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Modules (and their submodules) a plain get has no use for.
HEAVY = (
    "dynafile.expressions", "dynafile.transactions", "dynafile.database", "dynafile.check",
    "dynafile.remote", "dynafile.dynamodb", "dynafile.cli", "dynafile.commands",
    "dynafile.models", "dynafile.transfer",
    "filtration", "watchdog", "portalocker", "boto3", "botocore", "click", "rich",
    "cryptography", "msgpack", "uvicorn",
    # standard library modules that cost milliseconds to import
    "logging", "tempfile", "atomicwrites", "hashlib", "signal", "dynafile.encryption",
)

PROGRAM = """
import json, sys
import dynafile
imported = sorted(sys.modules)
table = dynafile.Dynafile(sys.argv[1], **json.loads(sys.argv[2]))
item = table.get_item(key={"PK": "user#1", "SK": "order#00000007"})
got = sorted(sys.modules)
table.close()
print(json.dumps({"import": imported, "get": got, "amount": item and item["amount"]}))
"""


def heavy(modules):
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def run(path, **options):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", PROGRAM, path, json.dumps(options)],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(done.stdout)


@pytest.fixture
def table_path(db_path):
    table = Dynafile(db_path, pk_attribute="PK", sk_attribute="SK", durability="normal")
    with table.batch_writer() as writer:
        for i in range(50):
            writer.put_item(item={"PK": f"user#{i % 3}", "SK": f"order#{i:08d}", "amount": i})
    table.close()  # checkpoints: the get reads a partition file
    return db_path


def test_import_dynafile_leaves_the_heavy_modules_alone(table_path):
    seen = run(table_path)
    assert heavy(seen["import"]) == []


@pytest.mark.parametrize("options", [{}, {"pk_attribute": "PK", "sk_attribute": "SK"}])
def test_open_and_get_on_an_existing_table_leave_them_alone(table_path, options):
    seen = run(table_path, **options)
    assert seen["amount"] == 7
    assert heavy(seen["get"]) == []


def test_get_with_log_records_to_replay_leaves_them_alone(table_path):
    table = Dynafile(table_path, durability="normal")
    table.put_item(item={"PK": "user#1", "SK": "order#00000007", "amount": 70})
    abandon(table)  # as a killed process leaves it: the next open replays the log
    seen = run(table_path)
    assert seen["amount"] == 70
    assert heavy(seen["get"]) == []


def test_the_lazy_names_are_the_public_ones():
    import dynafile

    for name in dynafile.__all__:
        assert getattr(dynafile, name) is not None
    assert set(dynafile.__all__) <= set(dir(dynafile))
    with pytest.raises(AttributeError):
        dynafile.no_such_name  # noqa: B018
