"""Checkpoints do not hold up writers, are not redone by every process, and
an earlier log segment that lost records is refused (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import abandon, engine

from dynafile import CorruptFileError, Dynafile
from dynafile.storage import log as wal
from dynafile.storage.layout import segment_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHECKPOINTER = r"""
import sys, time
from dynafile import Dynafile
db = Dynafile(sys.argv[1], durability="normal", checkpoint_bytes=1 << 30, partition_bytes=65536)
print("READY", flush=True)
sys.stdin.readline()
start = time.perf_counter()
files = db.checkpoint()
print(f"DONE {time.perf_counter() - start} {files}", flush=True)
db.close()
"""


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.timeout(180)
def test_writers_do_not_wait_for_another_process_s_checkpoint(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal", checkpoint_bytes=1 << 30, partition_bytes=65536)
    with db.batch_writer(flush_amount=5000) as w:
        for i in range(40_000):
            w.put_item(item={"PK": f"c{i % 10_000:05d}", "SK": i, "pad": "x" * 100})
    child = subprocess.Popen([sys.executable, "-c", CHECKPOINTER, path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_env())
    assert child.stdout.readline() == "READY\n"  # it replayed the log: its checkpoint is big
    child.stdin.write("go\n")
    child.stdin.flush()
    waits = []
    deadline = time.monotonic() + 120
    n = 0
    while child.poll() is None and time.monotonic() < deadline:
        start = time.perf_counter()
        db.put_item(item={"PK": "writer", "SK": n})
        waits.append(time.perf_counter() - start)
        n += 1
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    _, seconds, files = out.split()
    assert int(files) > 10
    # the writer was never held for long: before, it waited for the whole checkpoint
    assert max(waits) < 0.5 * float(seconds), (max(waits), seconds)
    assert db.count("writer") == n
    db.close()
    with Dynafile(path) as again:
        assert again.count("writer") == n and again.check().ok


def test_a_checkpoint_another_process_made_is_not_made_again(tmp_path):
    path = str(tmp_path / "db")
    a = Dynafile(path, durability="normal", checkpoint_bytes=1 << 30)
    b = Dynafile(path, durability="normal", checkpoint_bytes=1 << 30)
    for i in range(3000):
        a.put_item(item={"PK": f"p{i % 300}", "SK": i})
    assert b.count("p7") == 10  # b has caught up: the records are in its overlay too
    assert a.checkpoint() > 0
    assert b.checkpoint() == 0  # a's manifest holds them already
    b.put_item(item={"PK": "p7", "SK": 10_000})
    assert b.checkpoint() == 1  # only the partition b's write changed
    a.close()
    b.close()


def test_an_earlier_segment_cut_at_a_record_boundary_is_refused(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal", segment_bytes=4096)
    for i in range(200):
        db.put_item(item={"PK": "p", "SK": i, "pad": "y" * 100})
    abandon(db)  # no checkpoint: the open replays the log from its first segment
    first = os.path.join(path, "log", segment_name(1))
    with open(first, "rb") as f:
        data = f.read()
    frames, _, _ = wal.parse_frames(data)
    assert len(frames) > 5 and frames[-1].rtype == wal.ROTATE
    with open(first, "r+b") as f:
        f.truncate(frames[3].end)  # exactly at a record boundary, ROTATE and more lost
    with pytest.raises(CorruptFileError, match="later segments"):
        Dynafile(path)
    with pytest.raises(CorruptFileError, match="later segments"):
        Dynafile(path, read_only=True)


def test_a_put_that_fills_the_overlay_checkpoints_after_releasing_the_lock(tmp_path):
    """The put that triggers a checkpoint does not hold the write lock while
    the files are written: another thread's write goes through meanwhile."""
    import threading

    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal", checkpoint_bytes=200_000, partition_bytes=8192)
    eng = engine(db)
    seen = []
    original = eng._write_partitions  # observe the file-writing step

    def writing(plan):
        other = threading.Thread(target=lambda: db.put_item(item={"PK": "other", "SK": 1}))
        other.start()
        other.join(10)
        seen.append(not other.is_alive())
        return original(plan)

    eng._write_partitions = writing
    for i in range(3000):
        db.put_item(item={"PK": f"p{i % 50}", "SK": i, "pad": "z" * 100})
        if seen:
            break
    assert seen == [True]  # the other thread's put completed while files were written
    eng._write_partitions = original
    assert db.get_item(key={"PK": "other", "SK": 1}) is not None
    db.close()


SCAN_RSS = r"""
import sys
from dynafile import Dynafile
mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "write":
    db = Dynafile(path, durability="normal")
    with db.batch_writer(flush_amount=5000) as w:
        for i in range(n):
            w.put_item(item={"PK": f"c{i // 10:06d}", "SK": i, "pad": "x" * 200})
    db.close()
    sys.exit()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
db = Dynafile(path, cache_bytes=4 << 20)
base = peak = rss()
for count, item in enumerate(db.scan()):
    if count % 5000 == 0:
        peak = max(peak, rss())
print(count + 1, peak - base)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS from /proc (Linux)")
@pytest.mark.timeout(180)
def test_iterating_a_scan_holds_bounded_memory(tmp_path):
    """A scan's memory is the cache and one partition, not what it returned:
    4x the items costs about the same (issue 12, item 11)."""
    growth = {}
    for n in (20_000, 80_000):
        path = str(tmp_path / f"db{n}")
        subprocess.run([sys.executable, "-c", SCAN_RSS, "write", path, str(n)], check=True,
                       env=_env(), timeout=150)
        out = subprocess.run([sys.executable, "-c", SCAN_RSS, "scan", path, str(n)],
                             check=True, env=_env(), timeout=150, capture_output=True,
                             text=True).stdout.split()
        assert int(out[0]) == n
        growth[n] = int(out[1])
    assert growth[80_000] < 1.5 * growth[20_000] + (8 << 20), growth
