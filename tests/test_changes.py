"""Change streams read from the log (dynafile.streams): order, exactly-once
resumption by named consumers across processes, view types, retention,
rotation and waiting."""

import multiprocessing as mp
import os
import threading
import time

import pytest
from conftest import engine, snapshot_files

from dynafile import (
    GSI,
    ConsumerBusyError,
    Dynafile,
    StreamRecord,
    StreamTrimmedError,
    ValidationError,
)
from dynafile.storage import engine as storage_engine
from dynafile.storage import log as wal
from dynafile.storage.layout import segment_lsn, segment_name

CTX = mp.get_context("spawn")


def summary(records):
    return [(r.event_name, r.keys["SK"], (r.new or r.old or {}).get("v")) for r in records]


# ------------------------------------------------------------------ basics


@pytest.mark.timeout(20)
def test_insert_modify_remove_in_commit_order(db):
    b = db.sequence  # creating the table wrote a record
    s = db.stream(timeout=0.2)
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    db.put_item(item={"PK": "a", "SK": "1", "v": 2})
    db.put_item(item={"PK": "a", "SK": "2", "v": 3})
    db.delete_item(key={"PK": "a", "SK": "1"})
    db.delete_item(key={"PK": "a", "SK": "missing"})  # writes nothing
    records = list(s)
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "INSERT", "REMOVE"]
    assert [r.sequence for r in records] == [b + 1, b + 2, b + 3, b + 4]
    assert all(r.index == 0 and r.count == 1 and not r.expired for r in records)
    assert records[1].old == {"PK": "a", "SK": "1", "v": 1}
    assert records[1].new == {"PK": "a", "SK": "1", "v": 2}
    assert records[3].new is None and records[3].old == {"PK": "a", "SK": "1", "v": 2}
    assert records[0].keys == {"PK": "a", "SK": "1"}
    assert abs(records[0].approximate_time - time.time()) < 60
    assert s.position == b + 4
    s.close()


@pytest.mark.timeout(20)
def test_from_sequence_none_only_new_zero_oldest_n_after(db):
    b = db.sequence
    for i in range(5):
        db.put_item(item={"PK": "a", "SK": str(i), "v": i})
    assert list(db.stream(follow=False)) == []  # None: only what comes next
    assert [r.sequence - b for r in db.stream(from_sequence=0, follow=False)] == [1, 2, 3, 4, 5]
    assert [r.sequence - b for r in db.stream(from_sequence=b + 3, follow=False)] == [4, 5]
    assert list(db.stream(from_sequence=b + 5, follow=False)) == []
    with pytest.raises(ValidationError):
        db.stream(from_sequence=b + 6)
    s = db.stream(from_sequence=b + 2, follow=False)
    first = next(s)
    assert first.sequence == b + 3
    assert [r.sequence - b for r in db.stream(from_sequence=first, follow=False)] == [4, 5]
    s.close()


@pytest.mark.timeout(20)
def test_batch_gives_one_record_per_op_in_order(db):
    b = db.sequence
    s = db.stream(timeout=0.2)
    with db.batch_writer() as w:
        for i in range(50):
            w.put_item(item={"PK": f"p{i % 3}", "SK": f"{i:03d}", "v": i})
        w.delete_item(key={"PK": "p0", "SK": "000"})  # put then delete: both are changes
    db.put_item(item={"PK": "x", "SK": "after", "v": 99})
    records = list(s)
    assert len(records) == 52
    batch = records[:51]
    assert {r.sequence for r in batch} == {b + 1}
    assert [r.index for r in batch] == list(range(51))
    assert all(r.count == 51 for r in batch)
    assert [r.new["v"] for r in batch[:50]] == list(range(50))
    assert batch[50].event_name == "REMOVE" and batch[50].old["v"] == 0
    assert records[-1].position == (b + 2, 0) and records[-1].new["v"] == 99
    # resume in the middle of the write
    rest = list(db.stream(from_sequence=(b + 1, 40), follow=False))
    assert [r.position for r in rest] == [(b + 1, i) for i in range(41, 51)] + [(b + 2, 0)]
    s.close()


@pytest.mark.timeout(20)
def test_transaction_like_multi_op_record(db_path):
    db = Dynafile(db_path, durability="normal", gsis=[GSI("by_kind", "kind")])
    s = db.stream(timeout=0.2)
    with db.batch_writer() as w:
        w.put_item(item={"PK": "a", "SK": "1", "kind": "k", "v": 1})
        w.put_item(item={"PK": "b", "SK": "1", "kind": "k", "v": 2})
    db.put_item(item={"PK": "a", "SK": "1", "kind": "j", "v": 3})
    records = list(s)
    # index maintenance (in the same log records) is not a change of its own
    assert summary(records) == [("INSERT", "1", 1), ("INSERT", "1", 2), ("MODIFY", "1", 3)]
    first = records[0].sequence  # creating the index wrote a record too
    assert [r.position for r in records] == [(first, 0), (first, 1), (first + 1, 0)]
    assert [r.count for r in records] == [2, 2, 1]
    s.close()
    db.close()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("view_type,has_new,has_old", [
    ("KEYS_ONLY", False, False),
    ("NEW_IMAGE", True, False),
    ("OLD_IMAGE", False, True),
    ("NEW_AND_OLD_IMAGES", True, True),
])
def test_view_types(db, view_type, has_new, has_old):
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    db.put_item(item={"PK": "a", "SK": "1", "v": 2})
    db.delete_item(key={"PK": "a", "SK": "1"})
    records = list(db.stream(from_sequence=0, follow=False, view_type=view_type))
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert all(r.keys == {"PK": "a", "SK": "1"} for r in records)
    modify = records[1]
    assert (modify.new == {"PK": "a", "SK": "1", "v": 2}) is has_new
    assert (modify.old == {"PK": "a", "SK": "1", "v": 1}) is has_old
    if not has_new:
        assert all(r.new is None for r in records)
    if not has_old:
        assert all(r.old is None for r in records)


@pytest.mark.timeout(20)
def test_keys_of_table_without_sort_key_and_numbers(db_path):
    db = Dynafile(db_path, pk_attribute="id", sk_attribute=None, durability="normal")
    db.put_item(item={"id": 1.5, "v": 1})
    db.put_item(item={"id": 7, "v": 2})
    records = list(db.stream(from_sequence=0, follow=False, view_type="KEYS_ONLY"))
    assert [r.keys for r in records] == [{"id": 1.5}, {"id": 7}]
    db.close()


@pytest.mark.timeout(20)
def test_ttl_sweep_gives_expired_removes(db_path):
    now = [1000.0]
    db = Dynafile(db_path, ttl_attribute="exp", durability="normal", clock=lambda: now[0])
    db.put_item(item={"PK": "a", "SK": "1", "exp": 1500})
    db.put_item(item={"PK": "a", "SK": "2", "exp": 5000})
    s = db.stream(timeout=0.2)
    now[0] = 2000.0
    assert db.sweep_expired() == 1
    db.delete_item(key={"PK": "a", "SK": "2"})
    records = list(s)
    assert [(r.event_name, r.keys["SK"], r.expired) for r in records] == [
        ("REMOVE", "1", True), ("REMOVE", "2", False)]
    assert records[0].old["exp"] == 1500
    s.close()
    db.close()


@pytest.mark.timeout(20)
def test_bad_arguments(db):
    for options in ({"view_type": "ALL"}, {"timeout": -1}, {"batch": 0}, {"from_sequence": -1},
                    {"from_sequence": "3"}, {"from_sequence": (1,)}, {"consumer": "../x"},
                    {"consumer": ""}, {"consumer": 5}):
        with pytest.raises(ValidationError):
            db.stream(**options)


# ---------------------------------------------------- waiting and timeouts


@pytest.mark.timeout(20)
def test_timeout_ends_iteration_and_stream_stays_usable(db):
    s = db.stream(timeout=0.3)
    start = time.monotonic()
    assert list(s) == []
    assert 0.25 <= time.monotonic() - start < 10  # waited its timeout (upper bound: a loaded CI)
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    assert [r.sequence for r in s] == [db.sequence]  # iterating again waits again
    s.close()
    assert list(s) == []


@pytest.mark.timeout(20)
def test_follow_false_stops_at_the_end(db):
    db.put_item(item={"PK": "a", "SK": "1"})
    start = time.monotonic()
    assert len(list(db.stream(from_sequence=0, follow=False))) == 1
    assert time.monotonic() - start < 10  # did not wait for more (a follower never returns)


@pytest.mark.timeout(20)
def test_waiting_reader_is_woken_by_another_instance(db_path):
    """A write through another open table (another file descriptor) wakes
    the waiting reader quickly: file notifications, not the 1 s re-check."""
    writer = Dynafile(db_path, durability="normal")
    reader = Dynafile(db_path, durability="normal")
    s = reader.stream(timeout=5)
    got = []

    def consume():
        for r in s:
            got.append((r.new["v"], time.monotonic()))
            if len(got) == 5:
                return

    t = threading.Thread(target=consume)
    t.start()
    delays = []
    for i in range(5):
        time.sleep(0.15)
        sent = time.monotonic()
        writer.put_item(item={"PK": "a", "SK": str(i), "v": i})
        while len(got) <= i and time.monotonic() - sent < 3:
            time.sleep(0.001)
        delays.append(got[i][1] - sent)
    t.join(5)
    assert [v for v, _ in got] == list(range(5))
    assert sorted(delays)[2] < 0.3, delays
    s.close()
    writer.close()
    reader.close()


@pytest.mark.timeout(20)
def test_close_from_another_thread_ends_a_waiting_stream(db):
    s = db.stream()  # no timeout: would wait forever
    done = threading.Event()

    def consume():
        list(s)
        done.set()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.2)
    assert not done.is_set()
    s.close(commit=False)
    assert done.wait(3)
    t.join(3)


@pytest.mark.timeout(20)
def test_torn_tail_is_not_delivered_and_reading_resumes(db_path):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    b = db.sequence
    s = db.stream(from_sequence=0, timeout=0.3)
    assert [r.sequence for r in s] == [b]
    frame = wal.encode_frame(b + 1, wal.WRITE,
                             wal.encode_write([wal.Op("a", "x", b"junk", None, 0, "t1")]))
    with open(os.path.join(db_path, "log", segment_name(1)), "ab") as f:
        f.write(frame[: len(frame) // 2])  # a writer died mid-append
    assert list(s) == []
    db.put_item(item={"PK": "a", "SK": "2", "v": 2})  # the next writer cuts the torn tail
    assert [(r.sequence, r.new["v"]) for r in s] == [(b + 1, 2)]
    s.close()
    db.close()


# ------------------------------------------------- rotation and retention


@pytest.mark.timeout(30)
def test_events_across_segment_rotation(db):
    engine(db).segment_bytes = 1500
    live = db.stream(timeout=0.3)
    for i in range(200):
        db.put_item(item={"PK": "a", "SK": f"{i:04d}", "v": i, "pad": "x" * 40})
    with db.batch_writer() as w:
        for i in range(200, 230):
            w.put_item(item={"PK": "b", "SK": f"{i:04d}", "v": i})
    segments = [n for n in os.listdir(os.path.join(db.path, "log")) if n.endswith(".log")]
    assert len(segments) > 5
    expected = list(range(230))
    assert [r.new["v"] for r in live] == expected
    # ROTATE records use sequence numbers too: record sequences skip them
    replay = list(db.stream(from_sequence=0, follow=False))
    assert [r.new["v"] for r in replay] == expected
    seqs = [r.sequence for r in replay]
    assert seqs == sorted(seqs) and seqs[-1] > 201
    # start after a record just before a rotation: the next segment is found
    for s in (seqs[50], seqs[51] - 1):
        assert [r.new["v"] for r in db.stream(from_sequence=s, follow=False)] == expected[51:]
    live.close()


@pytest.mark.timeout(30)
def test_trimmed_position_raises(db):
    engine(db).segment_bytes = 1500
    engine(db).retention = 0
    for i in range(100):
        db.put_item(item={"PK": "a", "SK": f"{i:04d}", "v": i, "pad": "x" * 40})
    consumer = db.stream(consumer="slow", from_sequence=0, follow=False)
    first = next(consumer).sequence
    consumer.close(commit=True)
    assert db.consumer_position("slow") == first
    db.checkpoint()  # folds the log; with retention 0 every segment it covers goes
    for i in range(100, 105):
        db.put_item(item={"PK": "a", "SK": f"{i:04d}", "v": i, "pad": "x" * 40})
    firsts = sorted(segment_lsn(n) for n in os.listdir(os.path.join(db.path, "log"))
                    if segment_lsn(n))
    oldest = firsts[0]
    assert oldest > first + 1
    with pytest.raises(StreamTrimmedError) as info:
        db.stream(from_sequence=first)
    assert info.value.oldest == oldest and "retention" in str(info.value)
    with pytest.raises(StreamTrimmedError, match="slow"):
        db.stream(consumer="slow")
    # 0 means the oldest retained record
    replay = list(db.stream(from_sequence=0, follow=False))
    assert replay and replay[0].sequence == oldest
    assert [r.new["v"] for r in replay] == list(range(100, 105))
    assert [r.sequence for r in db.stream(from_sequence=oldest - 1, follow=False)] == \
        [r.sequence for r in replay]


@pytest.mark.timeout(30)
def test_reader_overtaken_by_retention_raises(db):
    engine(db).segment_bytes = 1500
    engine(db).retention = 0
    s = db.stream(from_sequence=0, follow=False)
    for i in range(100):
        db.put_item(item={"PK": "a", "SK": f"{i:04d}", "v": i, "pad": "x" * 40})
    db.checkpoint()
    with pytest.raises(StreamTrimmedError):
        # the open segment is still readable; the next one is gone
        for _ in s:
            pass
    s.close()


# --------------------------------------------------------------- consumers


@pytest.mark.timeout(30)
def test_consumer_resumes_and_commits(db):
    b = db.sequence
    for i in range(10):
        db.put_item(item={"PK": "a", "SK": f"{i:02d}", "v": i})
    new = db.stream(consumer="new")  # a new consumer stores where it starts at once
    assert db.consumer_position("new") == b + 10
    new.close()
    db.put_item(item={"PK": "a", "SK": "x", "v": 100})
    with db.stream(consumer="new", follow=False) as new:
        assert [r.new["v"] for r in new] == [100]  # not lost to "from the end"
    db.delete_item(key={"PK": "a", "SK": "x"})
    s = db.stream(consumer="c", from_sequence=0, follow=False)
    assert s.committed == 0
    got = [next(s).new["v"] for _ in range(4)]
    assert got == [0, 1, 2, 3]
    assert s.committed == b + 3  # asking for record 4 committed record 3
    with pytest.raises(ConsumerBusyError):
        db.stream(consumer="c")
    s.close()  # the last record handed out is not known processed
    assert db.consumer_position("c") == b + 3
    assert os.path.exists(os.path.join(db.path, "streams", "c.json"))
    # a stored position wins over from_sequence
    with db.stream(consumer="c", from_sequence=0, follow=False) as s:
        assert [r.new["v"] for r in s if r.new] == list(range(3, 10)) + [100]
    assert db.consumer_position("c") == b + 12
    db.put_item(item={"PK": "a", "SK": "10", "v": 10})
    with db.stream(consumer="c", timeout=0.2) as s:
        assert [r.new["v"] for r in s] == [10]
    # a clean exit of the with block commits what was handed out
    with db.stream(consumer="c", from_sequence=0, follow=False) as s:
        assert list(s) == []
    assert db.reset_consumer("c") is True
    assert db.consumer_position("c") is None
    assert db.reset_consumer("c") is False
    with db.stream(consumer="c", from_sequence=b + 8, follow=False) as s:
        assert [r.new["v"] for r in s if r.new] == [8, 9, 100, 10]


@pytest.mark.timeout(30)
def test_consumer_manual_commit_and_mid_record_position(db):
    b = db.sequence + 1  # the batch's record
    with db.batch_writer() as w:
        for i in range(10):
            w.put_item(item={"PK": "a", "SK": f"{i:02d}", "v": i})
    s = db.stream(consumer="m", from_sequence=0, follow=False, auto_commit=False)
    records = [next(s) for _ in range(6)]
    s.commit(records[3])
    assert db.consumer_position("m") == (b, 3)
    with pytest.raises(ValidationError):
        s.commit((b, 8))  # not handed out yet
    s.close()
    assert db.consumer_position("m") == (b, 3)
    s = db.stream(consumer="m", follow=False, batch=3)
    assert [r.index for r in s] == [4, 5, 6, 7, 8, 9]
    s.close()
    assert db.consumer_position("m") == b


@pytest.mark.timeout(30)
def test_read_only_table_streams_but_has_no_consumers(db_path):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    db.close()
    ro = Dynafile(db_path, read_only=True)
    assert [r.new["v"] for r in ro.stream(from_sequence=0, follow=False)] == [1]
    with pytest.raises(ValidationError):
        ro.stream(consumer="x")
    ro.close()


@pytest.mark.timeout(20)
def test_stream_function_and_record_type(db):
    db.put_item(item={"PK": "a", "SK": "1"})
    (record,) = db.stream(from_sequence=0, follow=False)
    assert isinstance(record, StreamRecord) and record.position == (db.sequence, 0)


# ------------------------------------------ another process, SIGKILL, restart

N_BATCHES, BATCH, N_SINGLE = 95, 100, 500  # 10,000 changes


def _plan():
    """Return the writes, as ("batch", [(sk, v)...]) or ("put"/"delete", sk, v),
    and the changes they make, as (event, sk, v), in commit order."""
    steps, expected, bkeys = [], [], []
    v = 0
    for b in range(N_BATCHES):
        items = []
        for _ in range(BATCH):
            sk = f"b{v:05d}"
            items.append((sk, v))
            expected.append(("INSERT", sk, v))
            bkeys.append(sk)
            v += 1
        steps.append(("batch", items))
        if b % 19 == 0 or b >= N_BATCHES - 5:
            for j in range(N_SINGLE // 10):
                if j % 5 == 4 and len(bkeys) >= 2 * BATCH:
                    sk = bkeys[-2 * BATCH + j]  # a live item of the batch before
                    steps.append(("delete", sk, v))
                    expected.append(("REMOVE", sk, None))
                elif j % 5 == 3:
                    sk = bkeys[-BATCH + j]  # a live item of the last batch
                    steps.append(("put", sk, v))
                    expected.append(("MODIFY", sk, v))
                else:
                    sk = f"s{v:05d}"
                    steps.append(("put", sk, v))
                    expected.append(("INSERT", sk, v))
                v += 1
    steps.append(("put", "END", v))
    expected.append(("INSERT", "END", v))
    return steps, expected


def _write(db, steps):
    for step in steps:
        if step[0] == "batch":
            with db.batch_writer() as w:
                for sk, v in step[1]:
                    w.put_item(item={"PK": "p", "SK": sk, "v": v})
        elif step[0] == "put":
            db.put_item(item={"PK": "p", "SK": step[1], "v": step[2]})
        else:
            db.delete_item(key={"PK": "p", "SK": step[1]})


def _subscriber(path, out, batch):
    db = Dynafile(path, durability="normal")
    with open(out, "a") as f:
        f.write("RESTART\n")
        f.flush()
        with db.stream(consumer="sub", from_sequence=0, timeout=30, batch=batch) as s:
            for r in s:
                v = (r.new or r.old)["v"] if r.event_name != "REMOVE" else None
                f.write(f"{r.sequence} {r.index} {r.event_name} {r.keys['SK']} {v}\n")
                f.flush()
                if r.keys["SK"] == "END":
                    break
    db.close()


def _lines(out):
    try:
        with open(out) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def _wait_lines(out, n, proc, limit=30):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if len(_lines(out)) >= n or not proc.is_alive():
            return
        time.sleep(0.005)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("batch", [1, 25])
def test_subscriber_in_another_process_gets_every_change_once_in_order(db_path, tmp_path, batch):
    steps, expected = _plan()
    assert len(expected) == 10_001
    db = Dynafile(db_path, durability="normal")
    out = str(tmp_path / "received.txt")
    proc = CTX.Process(target=_subscriber, args=(db_path, out, batch))
    proc.start()
    half = len(steps) // 2
    _write(db, steps[:half])
    _wait_lines(out, 2500, proc)
    proc.kill()  # SIGKILL, mid-stream
    proc.join(10)
    _write(db, steps[half : half + 10])  # written while the subscriber is down
    proc = CTX.Process(target=_subscriber, args=(db_path, out, batch))
    proc.start()
    _wait_lines(out, 6000, proc)
    proc.kill()  # and once more, while it catches up
    proc.join(10)
    proc = CTX.Process(target=_subscriber, args=(db_path, out, batch))
    proc.start()
    _write(db, steps[half + 10 :])
    proc.join(40)
    assert proc.exitcode == 0
    db.close()

    runs, run = [], None
    for line in _lines(out):
        if line == "RESTART":
            run = []
            runs.append(run)
        else:
            seq, index, event, sk, v = line.split()
            run.append(((int(seq), int(index)), event, sk, None if v == "None" else int(v)))
    assert len(runs) == 3
    received, last = [], (0, -1)
    for n, run in enumerate(runs):
        positions = [r[0] for r in run]
        assert positions == sorted(set(positions))  # in order, no repeats within a run
        again = [r for r in run if r[0] <= last]
        # after a SIGKILL only records handed out since the last commit come
        # again, first, as they came before
        assert len(again) <= batch, (n, len(again))
        assert run[: len(again)] == received[len(received) - len(again):]
        received += run[len(again):]
        print(f"run {n}: {len(run)} records, {len(again)} delivered again")
        if run:
            last = run[-1][0]
    assert [(e, sk, v) for _, e, sk, v in received] == expected


# ------------------------------------------------- record listeners, view types

@pytest.mark.parametrize("view,has_new,has_old", [
    ("NEW_AND_OLD_IMAGES", True, True), ("NEW_IMAGE", True, False),
    ("OLD_IMAGE", False, True), ("KEYS_ONLY", False, False)])
def test_record_listeners_follow_the_table_view_type(tmp_path, view, has_new, has_old):
    from dynafile import Dynafile
    db = Dynafile(str(tmp_path / "v"), stream_view_type=view, durability="normal")
    records, events = [], []
    db.add_stream_listener(records.append, records=True)
    db.add_stream_listener(events.append)
    db.put_item(item={"PK": "a", "SK": 1, "v": 1})
    db.put_item(item={"PK": "a", "SK": 1, "v": 2})
    db.put_item(item={"PK": "a", "SK": 1, "v": 2})   # no change: no record
    db.delete_item(key={"PK": "a", "SK": 1})
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert [e.action for e in events] == ["PUT", "PUT", "DELETE"]
    assert all(r.keys == {"PK": "a", "SK": 1} for r in records)
    assert (records[1].new == {"PK": "a", "SK": 1, "v": 2}) is has_new
    assert (records[1].old == {"PK": "a", "SK": 1, "v": 1}) is has_old
    if not has_new:
        assert records[1].new is None
    if not has_old:
        assert records[1].old is None
    # db.stream() defaults to the same view type and yields the same records
    logged = list(db.stream(from_sequence=0, follow=False))
    assert logged == records
    db.remove_stream_listener(records.append)
    db.put_item(item={"PK": "b", "SK": 1})
    assert len(records) == 3 and len(events) == 4
    db.close()


def test_bad_view_type_is_rejected(tmp_path):
    from dynafile import Dynafile, ValidationError
    with pytest.raises(ValidationError, match="stream_view_type"):
        Dynafile(str(tmp_path / "v"), stream_view_type="ALL")
    assert not (tmp_path / "v").exists()


def test_a_write_larger_than_a_log_record_is_refused_and_streams_go_on(db, monkeypatch):
    """A batch whose record would exceed the frame limit (1 GiB; 64 KiB here)
    is refused before anything is written, so no stream ever meets a record
    it cannot read; split by flush_amount it goes through, and streams
    deliver it and what follows (issue 12, item 5)."""
    monkeypatch.setattr(wal, "MAX_PAYLOAD", 64 << 10)
    monkeypatch.setattr(storage_engine, "MAX_PAYLOAD", 64 << 10)
    items = [{"PK": "big", "SK": f"{i:03d}", "pad": "x" * 1000} for i in range(100)]
    s = db.stream(timeout=0.2)
    before = snapshot_files(db.path)
    with pytest.raises(ValidationError, match="larger than a log record"), \
            db.batch_writer() as w:
        for item in items:
            w.put_item(item=item)
    assert snapshot_files(db.path) == before
    with db.batch_writer(flush_amount=20) as w:
        for item in items:
            w.put_item(item=item)
    db.put_item(item={"PK": "after", "SK": "1"})
    got = list(s)
    assert [r.keys["SK"] for r in got] == [i["SK"] for i in items] + ["1"]
    s.close()
