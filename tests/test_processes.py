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


def _run_processes(target, arg_lists):
    """Run ``target`` in a process per argument tuple, at once; each must exit 0."""
    procs = [CTX.Process(target=target, args=args) for args in arg_lists]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        assert p.exitcode == 0


def _writer(path, worker, n, durability):
    db = Dynafile(path, durability=durability)
    for i in range(n):
        db.put_item(item={"PK": "shared", "SK": f"{worker}-{i:05d}", "w": worker})
    db.close()


@pytest.mark.timeout(120)
def test_processes_writing_one_partition_lose_nothing(db_path):
    Dynafile(db_path).close()
    _run_processes(_writer, [(db_path, w, 300, "normal") for w in range(4)])
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
    _run_processes(_batch_writer, [(db_path, w, 40) for w in range(3)])
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
path, durability, w = sys.argv[1], sys.argv[2], sys.argv[3]
db = Dynafile(path, durability=durability, checkpoint_bytes=32 << 10)
i = 0
while True:
    if i % 7 == 3:
        with db.batch_writer() as writer:
            for j in range(5):
                writer.put_item(item={"PK": f"b{w}-{i}", "SK": str(j), "pad": "y" * 100})
        print(f"B {w}-{i}", flush=True)
    else:
        db.put_item(item={"PK": f"p{i % 10}", "SK": f"{w}-{i:07d}", "pad": "x" * 100})
        print(f"P {w}-{i}", flush=True)
    i += 1
"""


def _run_and_kill(path, durability, delay, writers):
    """Run ``writers`` writer processes for ``delay`` seconds, SIGKILL them
    all, and return what they acknowledged: ``(kind, worker, i)``."""
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, path, durability, str(w)],
                              stdout=subprocess.PIPE, text=True) for w in range(writers)]
    acked = []

    def read(proc):
        for line in proc.stdout:  # a line is printed after its write returned
            kind, tag = line.split()
            worker, i = tag.split("-")
            acked.append((kind, worker, int(i)))

    readers = [threading.Thread(target=read, args=(p,), daemon=True) for p in procs]
    for t in readers:
        t.start()
    time.sleep(delay)
    for p in procs:
        p.send_signal(signal.SIGKILL)
    for p in procs:
        p.wait()
    for t in readers:
        t.join(10)
    return acked


@pytest.mark.timeout(240)
@pytest.mark.parametrize("durability,writers", [("normal", 1), ("full", 1), ("normal", 3),
                                                ("full", 3)])
def test_sigkill_keeps_every_acknowledged_write(db_path, durability, writers):
    """Writers killed mid-write, alone or several at once (waiting
    ``"normal"`` writers read the log without the lock while another writes)."""
    Dynafile(db_path).close()
    all_acked = []
    for round_ in range(6):
        all_acked += _run_and_kill(db_path, durability, 0.5 + 0.15 * round_, writers)
        db = Dynafile(db_path)
        for kind, w, i in all_acked:
            if kind == "P":
                key = {"PK": f"p{i % 10}", "SK": f"{w}-{i:07d}"}
                assert db.get_item(key=key) is not None, (w, i)
            else:
                assert len(list(db.query(f"b{w}-{i}"))) == 5
        # batches are all-or-nothing even when not acknowledged
        for item in db.scan(lambda it: it["PK"].startswith("b")):
            assert len(list(db.query(item["PK"]))) == 5
        assert db.check().ok
        abandon(db)
    assert len(all_acked) > 20 * writers


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


def _rotating_writer(path, worker, n):
    db = Dynafile(path, durability=("normal", "full")[worker % 2], checkpoint_bytes=32 << 10,
                  segment_bytes=8192, retention=0)
    for i in range(n):
        db.put_item(item={"PK": f"p{i % 5}", "SK": f"{worker}-{i:05d}", "pad": "x" * 100})
    db.close()


@pytest.mark.timeout(120)
def test_waiting_writers_follow_rotations_and_checkpoints(db_path):
    """Writers (two "normal", two "full") waiting for the lock read the log
    without it: segments rotate every few records and checkpoints delete them
    under their feet."""
    Dynafile(db_path).close()
    _run_processes(_rotating_writer, [(db_path, w, 400) for w in range(4)])
    db = Dynafile(db_path)
    assert {i["SK"] for i in db.scan()} == {f"{w}-{i:05d}" for w in range(4) for i in range(400)}
    assert db.check().ok
    db.close()


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_a_writer_waiting_for_the_lock_replays_meanwhile(db_path, durability):
    holder = Dynafile(db_path, pk_attribute="PK", sk_attribute="SK", durability=durability)
    waiter = Dynafile(db_path, durability=durability)
    engine(holder).lock.acquire_exclusive()
    try:
        for i in range(3):
            holder.put_item(item={"PK": "p", "SK": f"h{i}"})  # re-entrant: appended now
        thread = threading.Thread(target=waiter.put_item, kwargs={"item": {"PK": "p", "SK": "w"}})
        thread.start()
        deadline = time.monotonic() + 10
        while engine(waiter).lsn < engine(holder).lsn and time.monotonic() < deadline:
            time.sleep(0.01)
        # Caught up while the holder still holds the lock: only what follows
        # is left to replay once it gets it.
        assert engine(waiter).lsn == engine(holder).lsn
        assert thread.is_alive()
    finally:
        engine(holder).lock.release_exclusive()
    thread.join(10)
    assert [i["SK"] for i in waiter.query("p")] == ["h0", "h1", "h2", "w"]
    assert [i["SK"] for i in holder.query("p")] == ["h0", "h1", "h2", "w"]
    holder.close()
    waiter.close()


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_a_record_read_without_the_lock_then_taken_back_is_forgotten(db_path, durability):
    """A writer whose fsync fails cuts its record off the log. A process that
    read it meanwhile without the lock starts again from the files, and
    never cuts the record written in its place as a torn tail."""
    writer = Dynafile(db_path, pk_attribute="PK", sk_attribute="SK", durability=durability)
    reader = Dynafile(db_path, durability=durability)
    writer.put_item(item={"PK": "p", "SK": "kept"})
    position = engine(writer).position()
    segment = engine(writer).layout.segment_path(position.segment)
    writer.put_item(item={"PK": "p", "SK": "taken back"})
    with engine(reader).lock.thread_lock:
        assert engine(reader).read_ahead()  # applies it, without the lock
    abandon(writer)
    with open(segment, "r+b") as f:  # what the failed writer's truncate leaves
        f.truncate(position.offset)
    other = Dynafile(db_path, durability=durability)
    other.put_item(item={"PK": "p", "SK": "written in its place", "pad": "y" * 50})
    reader.put_item(item={"PK": "p", "SK": "after"})
    expected = ["after", "kept", "written in its place"]
    assert [i["SK"] for i in reader.query("p")] == expected
    assert [i["SK"] for i in other.query("p")] == expected
    reader.close()
    other.close()
    db = Dynafile(db_path)
    assert [i["SK"] for i in db.query("p")] == expected
    assert db.check().ok
    db.close()
