"""Migrating a table written by dynafile 0.2 (storage format 1) to format 2:
on the first writable open or with ``dynafile migrate``, all or nothing,
surviving a SIGKILL at every named point of the filesystem layer.

``fixtures/v1-table.tar.gz`` was written by the format 1 code (see
``fixtures/make_v1.py`` for how): the items it holds are spelt out below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
from decimal import Decimal

import pytest
from conftest import snapshot_files

from dynafile import Database, Dynafile, UnsupportedFormatError
from dynafile.cli import main as cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURE = os.path.join(HERE, "fixtures", "v1-table.tar.gz")


def expected_shop() -> dict[tuple[str, str], dict]:
    """The visible items of the fixture's ``shop`` table (make_v1.py's writes)."""
    items = {}
    for c in range(8):
        items[(f"customer#{c}", "profile")] = {
            "PK": f"customer#{c}", "SK": "profile", "name": f"Name {c}", "tags": {"a", "b"},
            "blob": bytes([c]) * 3}
        for o in range(5):
            items[(f"customer#{c}", f"order#{o:03d}")] = {
                "PK": f"customer#{c}", "SK": f"order#{o:03d}",
                "status": "open" if o % 2 else "shipped", "total": Decimal(f"{c}.{o}5"),
                "lines": [o, {"q": o}]}
    items[("tx", "1")] = {"PK": "tx", "SK": "1", "status": "open"}
    # after the checkpoint, in the log only
    items[("customer#1", "order#001")]["status"] = "shipped"
    del items[("customer#2", "order#000")]
    items[("customer#9", "profile")] = {"PK": "customer#9", "SK": "profile", "name": "Late"}
    return items


def unpack(tmp_path) -> tuple[str, str]:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    return str(tmp_path / "shop"), str(tmp_path / "numbers")


def verify_shop(path: str) -> None:
    with Dynafile(path) as db:
        assert db.name == "shop"  # named after its directory
        got = {(i["PK"], i["SK"]): i for i in db.scan()}
        assert got == expected_shop()
        assert (db.pk_attribute, db.sk_attribute, db.ttl_attribute) == ("PK", "SK", "exp")
        assert [i["SK"] for i in db.query("open", index="by_status")] == \
            sorted(sk for (_, sk), i in expected_shop().items() if i.get("status") == "open")
        assert [i["total"] for i in db.query("customer#3", index="by_total")] == \
            [Decimal(f"3.{o}5") for o in range(5)]
        db.put_item(item={"PK": "customer#1", "SK": "profile", "name": "New"})  # writable
        report = db.check()
        assert report.ok, str(report)
        db.delete_item(key={"PK": "customer#1", "SK": "profile"})
        db.put_item(item=expected_shop()[("customer#1", "profile")])


def test_a_format_1_table_is_migrated_at_its_first_writable_open(tmp_path):
    shop, numbers = unpack(tmp_path)
    verify_shop(shop)
    assert sorted(os.listdir(shop)) == ["CHECKPOINT", "LOCK", "data", "log", "meta.json", "streams"]
    with open(os.path.join(shop, "meta.json")) as f:
        assert json.load(f)["format_version"] == 2
    verify_shop(shop)  # and again, from format 2
    with Dynafile(numbers) as db:  # a JSON table keyed by numbers alone
        assert db.sk_attribute is None
        assert sorted(i["n"] for i in db.scan()) == [-3, 1, Decimal("2.5"), 10**20]
        assert db.get_item(key={"n": Decimal("2.5")})["square"] == Decimal("6.25")


def test_streams_and_consumers_go_on_across_the_migration(tmp_path):
    shop, _ = unpack(tmp_path)
    with Dynafile(shop) as db:
        first = list(db.stream(from_sequence=0, follow=False))
        # the whole log came along: every change from the first put
        assert first[0].event_name == "INSERT" and first[0].new["SK"] == "profile"
        assert first[-1].new == {"PK": "customer#9", "SK": "profile", "name": "Late"}
        # the consumer that had read ten records goes on with the eleventh
        with db.stream(consumer="mailer", follow=False) as s:
            rest = list(s)
        assert rest == first[10:]
        db.put_item(item={"PK": "after", "SK": "1"})
        (new,) = db.stream(from_sequence=first[-1], follow=False)
        assert new.new == {"PK": "after", "SK": "1"} and new.table == "shop"


def test_a_read_only_open_refuses_to_migrate_and_changes_nothing(tmp_path):
    shop, _ = unpack(tmp_path)
    before = snapshot_files(shop)
    with pytest.raises(UnsupportedFormatError, match="migrate"):
        Dynafile(shop, read_only=True)
    with pytest.raises(UnsupportedFormatError, match="migrate"):
        Database(shop, read_only=True)
    assert snapshot_files(shop) == before


def test_the_cli_migrates_and_says_so(tmp_path, capsys):
    shop, _ = unpack(tmp_path)
    assert cli(["migrate", shop]) == 0
    assert "migrated" in capsys.readouterr().out
    assert cli(["migrate", shop]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
    assert cli(["check", shop]) == 0
    verify_shop(shop)


MIGRATE = r"""
import sys
from dynafile.migrate import migrate
migrate(sys.argv[1])
"""

POINTS = [
    "checkpoint.write.before", "checkpoint.write.after", "rename.before", "rename.after",
    "dir.fsync.before", "dir.fsync.after", "file.create.before", "file.create.after",
    "dir.remove.before", "dir.remove.after",
]


def _migrate(path: str, crash_at: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DYNAFILE_CRASH_AT", None)
    if crash_at is not None:
        env["DYNAFILE_CRASH_AT"] = crash_at
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", MIGRATE, path], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_during_a_migration_leaves_format_1_or_format_2(tmp_path, point):
    """Kill the migration at several occurrences of each named point; after
    each kill the directory is the old table or the new database, never a
    mix, and the next open finishes the job."""
    killed = 0
    for nth in (1, 2, 3, 5, 8, 13, 21, 34):
        trial = tmp_path / f"{nth}"
        trial.mkdir()
        shop, _ = unpack(trial)
        done = _migrate(shop, f"{point}:{nth}")
        if done.returncode == 0:
            break  # fewer occurrences than nth: the migration finished
        assert done.returncode == -signal.SIGKILL, done.stderr
        killed += 1
        with open(os.path.join(shop, "meta.json")) as f:
            version = json.load(f)["format_version"]
        assert version in (1, 2)
        if version == 1:  # untouched format 1 files
            assert os.path.isdir(os.path.join(shop, "_partitions"))
            assert os.path.isdir(os.path.join(shop, "wal"))
        verify_shop(shop)  # the next open migrates or cleans up, and has everything
        assert not os.path.exists(os.path.join(shop, "_partitions"))
        assert not os.path.exists(os.path.join(shop, ".migrate-v2"))
    assert killed, f"{point} never happened during a migration"
