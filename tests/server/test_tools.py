"""The tools people use, against `dynafile serve` started by each test: the
AWS CLI, the AWS SDK for JavaScript v3, PynamoDB models, and the
dynamodb-admin web GUI driven in headless Chromium.

Marked `tools`: each skips, naming what is missing, when its program is not
there (`.ci/run` installs Chromium; `scripts/tools` installs the npm
packages from tests/tools/package-lock.json; the AWS CLI and PynamoDB come
with the `test` extra)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest

from .conftest import ACCESS_KEY, REGION, SECRET_KEY, boto_client, make_table

pytestmark = pytest.mark.tools

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tests" / "tools"


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """tests/tools/node_modules, installed by scripts/tools when missing."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed")
    done = subprocess.run([str(ROOT / "scripts" / "tools")], capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        pytest.fail(f"scripts/tools failed:\n{done.stderr}")
    return TOOLS


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.skip(f"Chromium is not installed at {path} (Debian's chromium package)")
    return path


def aws_cli() -> str | None:
    local = Path(sys.executable).parent / "aws"
    return str(local) if local.exists() else shutil.which("aws")


def tool_env(tmp_path: Path, **more: str) -> dict[str, str]:
    """An environment with test credentials and no user configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"), **more)
    return env


# ------------------------------------------------------------------ AWS CLI


def test_aws_cli(serve, tmp_path):
    aws = aws_cli()
    if aws is None:
        pytest.skip("the AWS CLI is not installed (awscli, in the test extra)")
    server = serve("--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
    env = tool_env(tmp_path)

    def run(*args: str) -> dict:
        done = subprocess.run([aws, "dynamodb", *args, "--endpoint-url", server.url,
                               "--output", "json"], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    created = run("create-table", "--table-name", "clitable",
                  "--attribute-definitions", "AttributeName=id,AttributeType=S",
                  "--key-schema", "AttributeName=id,KeyType=HASH",
                  "--billing-mode", "PAY_PER_REQUEST")
    assert created["TableDescription"]["TableStatus"] == "ACTIVE"
    run("wait", "table-exists", "--table-name", "clitable")
    assert run("list-tables")["TableNames"] == ["clitable"]
    run("put-item", "--table-name", "clitable",
        "--item", '{"id": {"S": "k1"}, "n": {"N": "41"}, "tags": {"SS": ["x", "y"]}}')
    run("update-item", "--table-name", "clitable", "--key", '{"id": {"S": "k1"}}',
        "--update-expression", "ADD n :one", "--expression-attribute-values",
        '{":one": {"N": "1"}}')
    item = run("get-item", "--table-name", "clitable", "--key", '{"id": {"S": "k1"}}')["Item"]
    assert item["n"] == {"N": "42"} and sorted(item["tags"]["SS"]) == ["x", "y"]
    scanned = run("scan", "--table-name", "clitable")
    assert scanned["Count"] == 1
    run("delete-table", "--table-name", "clitable")
    assert run("list-tables")["TableNames"] == []
    # a wrong secret is refused with DynamoDB's error, as the CLI reports it
    bad = subprocess.run([aws, "dynamodb", "list-tables", "--endpoint-url", server.url],
                         capture_output=True, text=True, timeout=120,
                         env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert bad.returncode != 0 and "InvalidSignatureException" in bad.stderr


# ------------------------------------------------------- JavaScript SDK v3


def test_javascript_sdk_v3(serve, node_tools, tmp_path):
    server = serve("--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
    done = subprocess.run(["node", str(node_tools / "sdk_smoke.mjs"), server.url],
                          capture_output=True, text=True, timeout=120, cwd=node_tools,
                          env=tool_env(tmp_path))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["tables"] == ["jsorders"]
    assert seen["item"]["name"] == {"S": "Grace"}
    assert sorted(seen["item"]["tags"]["SS"]) == ["a", "b"]
    assert seen["item"]["nested"]["M"]["list"]["L"] == [{"N": "1"}, {"BOOL": True},
                                                       {"NULL": True}]
    assert seen["blob"] == [1, 2, 3]
    assert seen["query"] == ["4", "3", "2"]
    assert seen["updated"] == "Grace Hopper"
    assert seen["conditional"] == "ConditionalCheckFailedException"
    assert seen["missing"] == "ResourceNotFoundException"
    assert seen["after"] == ["1", "2"]
    assert "PutItem jsorders 200" in server.text()


# ---------------------------------------------------------------- PynamoDB


def test_pynamodb_models(server):
    pynamodb = pytest.importorskip("pynamodb", reason="PynamoDB is not installed")
    from pynamodb.attributes import (
        ListAttribute,
        NumberAttribute,
        UnicodeAttribute,
        UnicodeSetAttribute,
    )
    from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
    from pynamodb.models import Model

    class ByCity(GlobalSecondaryIndex):
        class Meta:
            index_name = "by-city"
            projection = AllProjection()
        city = UnicodeAttribute(hash_key=True)

    class User(Model):
        class Meta:
            table_name = "users"
            host = server.url
            region = REGION
            aws_access_key_id = ACCESS_KEY
            aws_secret_access_key = SECRET_KEY
            billing_mode = "PAY_PER_REQUEST"
        org = UnicodeAttribute(hash_key=True)
        email = UnicodeAttribute(range_key=True)
        name = UnicodeAttribute()
        city = UnicodeAttribute()
        logins = NumberAttribute(default=0)
        roles = UnicodeSetAttribute(default=set)
        history = ListAttribute(default=list)
        by_city = ByCity()

    assert pynamodb.__version__
    User.create_table(wait=True)
    assert User.exists()
    User("acme", "ada@acme", name="Ada", city="London", roles={"admin"}).save()
    with User.batch_write() as batch:
        for i in range(5):
            batch.save(User("acme", f"u{i}@acme", name=f"user {i}", city="Paris"))
    ada = User.get("acme", "ada@acme")
    assert ada.name == "Ada" and ada.roles == {"admin"}
    ada.update(actions=[User.logins.add(1), User.history.set(["signed in"])])
    assert User.get("acme", "ada@acme").logins == 1
    assert [u.email for u in User.query("acme", User.email.startswith("u"), limit=2)] == [
        "u0@acme", "u1@acme"]
    assert User.count("acme") == 6
    assert {u.email for u in User.by_city.query("Paris")} == {f"u{i}@acme" for i in range(5)}
    assert len(list(User.scan(User.city == "London"))) == 1
    from pynamodb.exceptions import PutError

    with pytest.raises(PutError):
        User("acme", "ada@acme", name="x", city="y").save(User.email.does_not_exist())
    ada.delete()
    with pytest.raises(User.DoesNotExist):
        User.get("acme", "ada@acme")


# ------------------------------------------------------ dynamodb-admin GUI


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a valid PNG (signature, IHDR and its CRC checked)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    ihdr = data[16:29]
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(b"IHDR" + ihdr)
    assert data.endswith(b"IEND\xaeB`\x82")
    width, height = struct.unpack(">II", ihdr[:8])
    return width, height


def test_dynamodb_admin_gui(server, node_tools, chromium, tmp_path):
    ddb = boto_client(server.url)
    make_table(ddb, "people")
    ddb.put_item(TableName="people", Item={"pk": {"S": "ada"}, "sk": {"S": "profile"},
                                           "name": {"S": "Ada Lovelace"}})
    admin_bin = node_tools / "node_modules" / "dynamodb-admin" / "dist" / "dynamodb-admin.js"
    admin = subprocess.Popen(
        ["node", str(admin_bin), "--host", "127.0.0.1", "--port", "0",
         "--dynamo-endpoint", server.url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=tool_env(tmp_path))
    try:
        url = _admin_url(admin)
        shots = ROOT / "tests" / "tools" / "out" / "dynamodb-admin"
        shutil.rmtree(shots, ignore_errors=True)
        shots.mkdir(parents=True)
        done = subprocess.run(["node", str(node_tools / "admin_smoke.mjs"), url, "people",
                               str(shots)], capture_output=True, text=True, timeout=180,
                              cwd=node_tools, env={**tool_env(tmp_path), "CHROMIUM": chromium})
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        admin.terminate()
        try:
            admin.wait(10)
        except subprocess.TimeoutExpired:
            admin.kill()
            admin.wait()
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "people" in seen["tablesPage"]
    assert "Ada Lovelace" in seen["tablePage"]
    assert json.loads(seen["created"])["name"] == "Made in the GUI"
    assert json.loads(seen["edited"])["name"] == "Edited in the GUI"
    assert "Edited in the GUI" in seen["finalPage"] and "Ada Lovelace" in seen["finalPage"]
    for step in seen["steps"]:
        width, height = png_size(shots / f"{step}.png")
        assert width >= 800 and height >= 400
        assert (shots / f"{step}.png").stat().st_size > 5000
    assert len(seen["steps"]) == 5
    # what the GUI wrote is in the data directory, through the server
    item = ddb.get_item(TableName="people", Key={"pk": {"S": "gui"}, "sk": {"S": "created"}})
    assert item["Item"]["name"] == {"S": "Edited in the GUI"}
    assert item["Item"]["count"] == {"N": "2"}


def _admin_url(admin: subprocess.Popen[str]) -> str:
    """Wait for dynamodb-admin's 'listening on http://...' line."""
    found: list[str] = []
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert admin.stdout is not None
        for line in admin.stdout:
            lines.append(line)
            if "listening on" in line and not found:
                found.append(line.split("listening on", 1)[1].split()[0])
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(60)
    if not found:
        raise RuntimeError("dynamodb-admin did not start:\n" + "".join(lines))
    return found[0]
