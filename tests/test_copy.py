"""`dynafile copy` between data directories and DynamoDB endpoints: moto's
server mode (an independent DynamoDB) and `dynafile serve`, both ways, with
definitions, and a copy killed midway (SIGKILL) that resumes to the same
result as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("boto3", reason="copies to DynamoDB use boto3")
pytest.importorskip("flask", reason="moto's server mode needs moto[server]")

from endpoints import boto_client, dynafile_server, moto_server, rich_items

from dynafile import GSI, LSI, Database
from dynafile.transfer import TransferError, copy
from dynafile.transfer.values import item_to_dynamodb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def moto():
    server = moto_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = dynafile_server(tmp_path_factory.mktemp("served") / "db")
    yield server
    server.stop()


@pytest.fixture(params=["moto", "dynafile serve"])
def endpoint(request, moto, served):
    return moto if request.param == "moto" else served


def encoded(table):
    return sorted(json.dumps(item_to_dynamodb(i), sort_keys=True) for i in table.scan())


def make_source(path, name="orders", n=200):
    with Database(path, durability="normal") as db:
        table = db.create_table(name, pk_attribute="pk", sk_attribute="sk",
                                gsis=[GSI("by_status", "status", "total",
                                          projection="INCLUDE", include=["name"])],
                                lsis=[LSI("by_name", "name", projection="KEYS_ONLY")],
                                ttl_attribute="expires", stream_view_type="NEW_IMAGE",
                                tags={"team": "shop"})
        with table.batch_writer() as writer:
            for item in rich_items(n):
                writer.put_item(item=item)


_COUNTER = iter(range(1_000_000))


def unique(prefix):
    return f"{prefix}-{os.getpid()}-{next(_COUNTER)}"


def test_round_trip_directory_endpoint_directory_loses_nothing(tmp_path, endpoint):
    source = str(tmp_path / "src")
    make_source(source)
    remote = unique("orders")
    result = copy(source, endpoint.endpoint, tables=["orders"], rename=remote,
                  progress_path=str(tmp_path / "p1.json"))
    assert result.tables == {"orders": 200} and not result.resumed
    assert not os.path.exists(tmp_path / "p1.json")   # removed once complete
    ddb = boto_client(endpoint.url)
    described = ddb.describe_table(TableName=remote)["Table"]
    assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                      {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert {a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]} \
        == {"pk": "S", "sk": "N", "status": "S", "total": "N", "name": "S"}
    gsi, = described["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by_status" and gsi["Projection"] == {
        "ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]}
    assert described["LocalSecondaryIndexes"][0]["IndexName"] == "by_name"
    assert described["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    ttl = ddb.describe_time_to_live(TableName=remote)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires"
    assert ddb.scan(TableName=remote, Select="COUNT")["Count"] == 200

    back = str(tmp_path / "back")
    result = copy(endpoint.endpoint, back, tables=[remote], rename="orders",
                  progress_path=str(tmp_path / "p2.json"), segments=3)
    assert result.tables == {remote: 200}
    with Database(source, read_only=True) as src, Database(back, read_only=True) as dst:
        assert encoded(dst.table("orders")) == encoded(src.table("orders"))
        theirs, ours = src.describe_table("orders"), dst.describe_table("orders")
        for key in ("pk_attribute", "sk_attribute", "ttl_attribute", "stream_view_type",
                    "ttl_mode", "serializer", "tags"):
            assert ours[key] == theirs[key], key
        assert ours["key_types"] == {k: v for k, v in theirs["key_types"].items() if v}
        assert sorted(ours["indexes"]) == ["by_name", "by_status"]
        assert list(dst.table("orders").query("open", index="by_status")) == \
            list(src.table("orders").query("open", index="by_status"))


def _progress_items(path):
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return 0
    return sum(p["items"] for t in state["tables"].values() for p in t["positions"].values())


def _copy_command(*args):
    return [sys.executable, "-m", "dynafile.cli", "copy", *args, "--no-progress", "-o", "json"]


def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")


def _kill_midway(command, progress_path, total):
    """Start a copy, SIGKILL it once some but not all items are recorded."""
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _progress_items(progress_path) >= 60:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the copy ended before it could be killed: {proc.stderr}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _progress_items(progress_path)
    assert 0 < done < total, done
    return done


def _resume(command):
    finished = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


@pytest.mark.parametrize("direction", ["to the endpoint", "from the endpoint"])
def test_a_killed_copy_resumes_to_the_same_result(tmp_path, endpoint, direction):
    n = 600
    source = str(tmp_path / "src")
    make_source(source, n=n)
    remote = unique("killed")
    progress = str(tmp_path / "progress.json")
    if direction == "to the endpoint":
        command = _copy_command(source, endpoint.endpoint, "--table", "orders", "--to-table",
                                remote, "--progress-file", progress, "--page-size", "5",
                                "--workers", "2")
    else:
        copy(source, endpoint.endpoint, tables=["orders"], rename=remote,
             progress_path=str(tmp_path / "first.json"))
        command = _copy_command(endpoint.endpoint, str(tmp_path / "back"), "--table", remote,
                                "--to-table", "orders", "--progress-file", progress,
                                "--page-size", "5", "--segments", "2")
    _kill_midway(command, progress, n)
    summary = _resume(command)
    assert summary["resumed"] is True and summary["items"] == n
    assert not os.path.exists(progress)
    if direction == "to the endpoint":
        back = str(tmp_path / "back")
        copy(endpoint.endpoint, back, tables=[remote], rename="orders",
             progress_path=str(tmp_path / "check.json"))
    with Database(source, read_only=True) as src, \
            Database(str(tmp_path / "back"), read_only=True) as dst:
        assert encoded(dst.table("orders")) == encoded(src.table("orders"))
        assert sorted(dst.describe_table("orders")["indexes"]) == ["by_name", "by_status"]


def test_refusals(tmp_path, moto):
    source = str(tmp_path / "src")
    make_source(source, n=5)
    remote = unique("refused")
    copy(source, moto.endpoint, tables=["orders"], rename=remote,
         progress_path=str(tmp_path / "p.json"))
    with pytest.raises(TransferError, match=f"table {remote} exists"):
        copy(source, moto.endpoint, tables=["orders"], rename=remote,
             progress_path=str(tmp_path / "p.json"))
    again = copy(source, moto.endpoint, tables=["orders"], rename=remote, existing=True,
                 progress_path=str(tmp_path / "p.json"))
    assert again.items == 5
    with pytest.raises(TransferError, match="no table nothere"):
        copy(source, moto.endpoint, tables=["nothere"], progress_path=str(tmp_path / "q.json"))
    with pytest.raises(TransferError, match="not a dynafile database"):
        copy(str(tmp_path / "nothing"), moto.endpoint, progress_path=str(tmp_path / "q.json"))
    with pytest.raises(TransferError, match="unknown parameter"):
        copy(source, "dynamodb://us-east-1?endpoint=http://x&color=red",
             progress_path=str(tmp_path / "q.json"))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "dynafile-copy-progress/1", "source": "/elsewhere",
                                 "destination": "x", "tables": {}}))
    with pytest.raises(TransferError, match="not this one"):
        copy(source, moto.endpoint, tables=["orders"], rename=unique("x"),
             progress_path=str(other))
    with pytest.raises(TransferError, match="--to-table renames one table"):
        copy(source, str(tmp_path / "d2"), rename="abc", progress_path=str(tmp_path / "r.json"))


def test_directory_to_directory_and_the_default_progress_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = str(tmp_path / "src")
    make_source(source, n=40)
    with Database(source) as db:
        db.create_table("users", pk_attribute="id").put_item(item={"id": "u1", "s": {"x"}})
    result = copy(source, str(tmp_path / "dst"))
    assert result.tables == {"orders": 40, "users": 1}
    assert result.progress_path.startswith(str(tmp_path / "cache" / "dynafile"))
    assert not os.path.exists(result.progress_path)
    with Database(source, read_only=True) as src, \
            Database(str(tmp_path / "dst"), read_only=True) as dst:
        assert dst.tables() == ["orders", "users"]
        for name in dst.tables():
            assert encoded(dst.table(name)) == encoded(src.table(name))
