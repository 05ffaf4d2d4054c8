"""Schema changes racing with other processes' reads and opens (issue 12,
items 2, 6, 7, 9): an index is ACTIVE only when complete, every read sees
the index state as of its start, a failed backfill leaves the table usable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest

from dynafile import GSI, Dynafile, SchemaMismatchError, ValidationError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 3000


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _load(path, n=N):
    db = Dynafile(path, durability="normal")
    with db.batch_writer() as w:
        for i in range(n):
            w.put_item(item={"PK": f"p{i}", "SK": "s", "g": f"g{i % 3}"})
    return db


def _state(path, name):
    with open(os.path.join(path, "meta.json")) as f:
        (table,) = json.load(f)["tables"].values()
    entry = table["gsis"].get(name)
    return None if entry is None else entry["state"]


BACKFILL = r"""
import sys
from dynafile import GSI, Dynafile
db = Dynafile(sys.argv[1], durability="normal")
db.create_gsi("by_g", pk_attribute="g")
print("DONE", flush=True)
db.close()
"""


def _wait_creating(path, proc):
    deadline = time.monotonic() + 60
    while _state(path, "by_g") != "CREATING":
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.005)


@pytest.mark.timeout(120)
def test_a_second_opener_resuming_a_backfill_leaves_the_index_complete(tmp_path):
    path = str(tmp_path / "db")
    _load(path).close()
    proc = subprocess.Popen([sys.executable, "-c", BACKFILL, path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    _wait_creating(path, proc)
    with Dynafile(path, durability="normal") as db:  # resumes the backfill alongside
        counts = [db.count(f"g{k}", index="by_g") for k in range(3)]
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert _state(path, "by_g") == "ACTIVE"
    assert sum(counts) == N
    with Dynafile(path) as db:
        assert sum(db.count(f"g{k}", index="by_g") for k in range(3)) == N
        assert db.check().ok


@pytest.mark.timeout(120)
def test_an_index_stays_complete_when_a_second_backfiller_dies(tmp_path):
    path = str(tmp_path / "db")
    _load(path).close()
    first = subprocess.Popen([sys.executable, "-c", BACKFILL, path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_env())
    _wait_creating(path, first)
    second = subprocess.Popen([sys.executable, "-c", BACKFILL, path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env())
    time.sleep(0.3)
    second.send_signal(signal.SIGKILL)
    second.wait(30)
    _, err = first.communicate(timeout=90)
    assert first.returncode == 0, err
    with Dynafile(path) as db:
        assert _state(path, "by_g") == "ACTIVE"
        assert sum(db.count(f"g{k}", index="by_g") for k in range(3)) == N
        assert db.check().ok


def test_readers_see_the_index_state_as_of_each_read(tmp_path, monkeypatch):
    path = str(tmp_path / "db")
    writer = _load(path, 200)
    reader = Dynafile(path)
    list(reader.query("p1"))  # the reader has loaded the schema (no index)
    engine = writer._core.engine
    original = engine.scan
    paused, release = threading.Event(), threading.Event()

    def pausing_scan(space, after=None):
        for n, pair in enumerate(original(space, after)):
            if n == 50:  # the backfill pauses halfway, between two of its writes
                paused.set()
                release.wait(30)
            yield pair

    monkeypatch.setattr(engine, "scan", pausing_scan)
    builder = threading.Thread(target=writer.create_gsi, args=("by_g",),
                               kwargs={"pk_attribute": "g"})
    builder.start()
    assert paused.wait(30)
    with pytest.raises(ValidationError, match="still being created"):
        list(reader.query("g1", index="by_g"))
    release.set()
    builder.join(30)
    # ACTIVE now: the same reader sees it complete, not "still being created"
    assert reader.count("g1", index="by_g") == len([i for i in range(200) if i % 3 == 1])
    writer.drop_gsi("by_g")
    with pytest.raises(ValidationError, match="no index"):
        list(reader.query("g1", index="by_g"))  # not an empty answer
    writer.create_gsi("by_g", pk_attribute="g", projection="KEYS_ONLY")
    assert reader.count("g1", index="by_g") == len([i for i in range(200) if i % 3 == 1])
    reader.close()
    writer.close()


def test_an_opener_with_another_ttl_attribute_is_refused(tmp_path):
    path = str(tmp_path / "db")
    now = time.time()
    with Dynafile(path, ttl_attribute="exp", durability="normal") as db:
        db.put_item(item={"PK": "live", "SK": "1", "exp": now + 3600, "other": now - 3600})
    with pytest.raises(SchemaMismatchError, match="ttl_attribute"):
        Dynafile(path, ttl_attribute="other")
    with Dynafile(path) as db:
        assert db.sweep_expired() == 0  # by the stored attribute: live
        assert db.get_item(key={"PK": "live", "SK": "1"}) is not None


def _with_a_list_in_g(path):
    db = _load(path, 50)
    db.put_item(item={"PK": "bad", "SK": "s", "g": ["a", "list"]})  # fine: no index yet
    return db


def test_a_backfill_that_meets_a_bad_key_type_removes_the_index(tmp_path):
    path = str(tmp_path / "db")
    db = _with_a_list_in_g(path)
    with pytest.raises(ValidationError, match="g"):
        db.create_gsi("by_g", pk_attribute="g")
    assert "by_g" not in db.describe()["indexes"]
    with pytest.raises(ValidationError):
        list(db.query("g1", index="by_g"))
    db.put_item(item={"PK": "after", "SK": "s", "g": ["still", "fine"]})  # usable
    db.close()
    with Dynafile(path, gsis=[]) as again:  # opens for writing
        again.put_item(item={"PK": "x", "SK": "s"})
        assert again.check().ok
    with pytest.raises(ValidationError):  # asking for the index again fails again, cleanly
        Dynafile(path, gsis=[GSI("by_g", "g")])
    with Dynafile(path) as again:
        assert "by_g" not in again.describe()["indexes"]


def test_an_interrupted_backfill_that_cannot_finish_is_removed_at_open(tmp_path):
    path = str(tmp_path / "db")
    _with_a_list_in_g(path).close()
    meta_path = os.path.join(path, "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    (table,) = meta["tables"].values()
    table["gsis"]["by_g"] = {"id": table["next_index_id"], "pk_attribute": "g",
                             "sk_attribute": None, "projection": "ALL", "include": [],
                             "state": "CREATING"}  # as a killed create_gsi leaves it
    table["next_index_id"] += 1
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = Dynafile(path)
    assert any("could not be built and was removed" in str(w.message) for w in caught)
    assert _state(path, "by_g") is None
    db.put_item(item={"PK": "y", "SK": "s"})
    assert db.check().ok
    db.close()
