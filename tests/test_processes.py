"""Several processes and threads on one directory: nothing lost, reads see writes."""

import multiprocessing as mp
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import abandon, engine

from dynafile import Dynafile

CTX = mp.get_context("spawn")


def _writer(path, worker, n, durability):
    db = Dynafile(path, durability=durability)
    for i in range(n):
        db.put_item(item={"PK": "shared", "SK": f"{worker}-{i:05d}", "w": worker})
    db.close()


@pytest.mark.timeout(120)
def test_processes_writing_one_partition_lose_nothing(db_path):
    Dynafile(db_path).close()
    procs = [CTX.Process(target=_writer, args=(db_path, w, 300, "normal")) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        assert p.exitcode == 0
    db = Dynafile(db_path)
    items = list(db.query("shared"))
    assert len(items) == 1200
    assert {i["SK"] for i in items} == {f"{w}-{i:05d}" for w in range(4) for i in range(300)}
    db.close()


def _batch_writer(path, worker, rounds):
    db = Dynafile(path, durability="normal", checkpoint_bytes=64 << 10)
    for r in range(rounds):
        with db.batch_writer() as w:
            for i in range(20):
                w.put_item(item={"PK": f"p{i % 3}", "SK": f"{worker}-{r}-{i}", "pad": "x" * 200})
    db.close()


@pytest.mark.timeout(120)
def test_processes_with_batches_and_checkpoints(db_path):
    """Small checkpoint threshold: processes checkpoint under each other's feet."""
    Dynafile(db_path).close()
    procs = [CTX.Process(target=_batch_writer, args=(db_path, w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        assert p.exitcode == 0
    db = Dynafile(db_path)
    assert len(list(db.scan())) == 3 * 40 * 20
    db.close()


def test_reads_see_writes_of_another_instance(db_path):
    a = Dynafile(db_path, durability="normal")
    b = Dynafile(db_path, durability="normal")
    assert b.get_item(key={"PK": "x", "SK": "1"}) is None
    a.put_item(item={"PK": "x", "SK": "1", "v": 1})
    assert b.get_item(key={"PK": "x", "SK": "1"}) == {"PK": "x", "SK": "1", "v": 1}
    a.put_item(item={"PK": "x", "SK": "1", "v": 2})
    a.put_item(item={"PK": "x", "SK": "2", "v": 3})
    assert [i["v"] for i in b.query("x")] == [2, 3]
    b.delete_item(key={"PK": "x", "SK": "1"})
    assert [i["v"] for i in a.scan()] == [3]
    a.checkpoint()
    a.put_item(item={"PK": "x", "SK": "3", "v": 4})
    assert [i["v"] for i in b.query("x")] == [3, 4]
    a.close()
    b.close()


def test_reads_see_writes_of_another_process(db_path):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "x", "SK": "0"})
    code = (
        "import sys; from dynafile import Dynafile\n"
        "db = Dynafile(sys.argv[1], durability='normal')\n"
        "db.put_item(item={'PK': 'x', 'SK': '1', 'from': 'child'})\n"
        "db.checkpoint()\n"
        "db.put_item(item={'PK': 'y', 'SK': '1'})\n"
        "db._core.engine.abandon()\n"
    )
    subprocess.run([sys.executable, "-c", code, db_path], check=True, timeout=60)
    assert db.get_item(key={"PK": "x", "SK": "1"})["from"] == "child"
    assert sorted(i["PK"] for i in db.scan()) == ["x", "x", "y"]
    db.close()


def test_threads_share_one_table(db):
    errors = []

    def work(t):
        try:
            for i in range(200):
                db.put_item(item={"PK": f"t{i % 5}", "SK": f"{t}-{i}"})
                assert db.get_item(key={"PK": f"t{i % 5}", "SK": f"{t}-{i}"}) is not None
                if i % 50 == 0:
                    list(db.scan())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(list(db.scan())) == 1200


def test_listener_events_in_commit_order_across_threads(db):
    seen = []
    db.add_stream_listener(lambda e: seen.append(e.sequence))

    def work(t):
        for i in range(100):
            db.put_item(item={"PK": "p", "SK": f"{t}-{i}"})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(seen) == 400
    assert seen == sorted(seen)


CHILD = r"""
import sys
from dynafile import Dynafile
path, durability = sys.argv[1], sys.argv[2]
db = Dynafile(path, durability=durability, checkpoint_bytes=32 << 10)
i = 0
while True:
    if i % 7 == 3:
        with db.batch_writer() as w:
            for j in range(5):
                w.put_item(item={"PK": f"b{i}", "SK": str(j), "pad": "y" * 100})
        print(f"B {i}", flush=True)
    else:
        db.put_item(item={"PK": f"p{i % 10}", "SK": f"{i:07d}", "pad": "x" * 100})
        print(f"P {i}", flush=True)
    i += 1
"""


def _run_and_kill(path, durability, delay):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, path, durability],
                            stdout=subprocess.PIPE, text=True)
    acked = []
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked.append(line.split())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return acked


@pytest.mark.timeout(240)
@pytest.mark.parametrize("durability", ["normal", "full"])
def test_sigkill_keeps_every_acknowledged_write(db_path, durability):
    Dynafile(db_path).close()
    all_acked = []
    for round_ in range(6):
        all_acked += _run_and_kill(db_path, durability, 0.3 + 0.15 * round_)
        db = Dynafile(db_path)
        for kind, i in all_acked:
            i = int(i)
            if kind == "P":
                assert db.get_item(key={"PK": f"p{i % 10}", "SK": f"{i:07d}"}) is not None, i
            else:
                assert len(list(db.query(f"b{i}"))) == 5
        # batches are all-or-nothing even when not acknowledged
        for item in db.scan(lambda it: it["PK"].startswith("b")):
            assert len(list(db.query(item["PK"]))) == 5
        abandon(db)
    assert len(all_acked) > 20


def test_watching_applies_foreign_writes_before_the_next_read(db_path):
    watcher = Dynafile(db_path, durability="normal", watch=True)
    writer = Dynafile(db_path, durability="normal")
    writer.put_item(item={"PK": "w", "SK": "1"})
    deadline = time.monotonic() + 10
    while engine(watcher).lsn < engine(writer).lsn and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine(watcher).lsn == engine(writer).lsn  # caught up without being asked
    assert watcher.get_item(key={"PK": "w", "SK": "1"}) == {"PK": "w", "SK": "1"}
    writer.close()
    watcher.close()
