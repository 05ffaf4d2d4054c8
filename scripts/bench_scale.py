#!/usr/bin/env python3
"""How dynafile's costs grow with size, with sqlite3 as the peer in the same run.

At each size (10,000, 100,000 and 1,000,000 items by default: item
collections of 10 items, a customer profile and 9 orders shaped like
``scripts/bench_workloads.py``'s W9 items) and for each store, every step
runs in a fresh process on a fresh directory:

1. load: a batch load of every item (dynafile ``batch_writer()``, sqlite3
   ``executemany`` in one transaction; both at their durable "full"
   setting), then ``close()``, timed apart; bytes on disk after close (for
   dynafile also a copy after a checkpoint with ``retention=0``).
2. open + get, three times: a new process imports the library, opens the
   table and reads one item; its RSS then.
3. scan: a new process opens the table, reads one item, then every item;
   its RSS (and peak RSS) after the scan.
4. checkpoint: one process writes a backlog of updates (a tenth of the
   items, at random) without checkpointing; a writer process then puts one
   new item every millisecond (into 10 existing collections it has read
   first, so its steady state needs no file reads) while the first process
   checkpoints. Reported: the checkpoint's time, and the writer's put
   latency (max, p99) during it and in the second after it, against its p99
   before. sqlite3 (``wal_autocheckpoint=0`` in both
   processes) is measured with ``PRAGMA wal_checkpoint(PASSIVE)``, its own
   automatic mode, and with ``TRUNCATE``, which waits for and blocks writers
   and frees the WAL (as dynafile's checkpoint with ``retention=0`` frees
   its log).

Results go to ``<out>/results.json`` and ``<out>/scale.md`` (a markdown
fragment); ``--out`` defaults to ``bench-out/scale/`` (``bench-out/`` is
git-ignored) and ``bench-out/scale-quick/`` for ``--quick``. Nothing is
written under ``docs/`` unless ``--out`` names it::

    scripts/bench-scale                    # 10,000 / 100,000 / 1,000,000 items
    scripts/bench-scale --sizes 10000,100000
    scripts/bench-scale --quick            # tiny sizes (the smoke test)
    scripts/bench-scale --source HEAD      # dynafile as committed, not the working tree

Times are from one machine at one moment: compare dynafile with sqlite3
within a run, not across runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench import export_source, source_description  # sibling scripts, through sys.path
from bench_workloads import (
    apparent_bytes,
    disk_bytes,
    disk_parts,
    dynafile_retention0,
    std_item,
    std_pk,
    std_sk,
)

PER_COLLECTION = 10
SIZES = [10_000, 100_000, 1_000_000]
QUICK_SIZES = [500, 2_000]
STORES = ["dynafile", "sqlite3"]
SQLITE_MODES = ["PASSIVE", "TRUNCATE"]
COLD_RUNS = 3
PUT_INTERVAL = 0.001  # the checkpoint writer's pace: one put per millisecond
HUGE = 1 << 40  # checkpoint_bytes that never triggers a checkpoint by itself


# ------------------------------------------------------------------ items


def collections_of(items: int) -> int:
    return max(1, items // PER_COLLECTION)


def dataset(items: int) -> list[dict[str, Any]]:
    out = []
    for c in range(collections_of(items)):
        part = [std_item(c, j) for j in range(PER_COLLECTION)]
        part.sort(key=lambda item: item["SK"])
        out.extend(part)
    return out


def middle_key(items: int) -> tuple[str, str]:
    c = collections_of(items) // 2 + 7 if collections_of(items) > 20 else 0
    return std_pk(c), std_sk(c, 3)


def rss() -> dict[str, float]:
    """This process's resident set now and at its peak, in MB."""
    now = peak = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1]) * 1024 / 1e6
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    if now is None or peak is None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
        now = now if now is not None else peak
    return {"rss_mb": now, "peak_mb": peak}


# ----------------------------------------------------------------- stores


class Dyn:
    name = "dynafile"

    def __init__(self, path: str, durability: str = "full", **options: Any) -> None:
        from dynafile import Dynafile

        self.db = Dynafile(path, pk_attribute="PK", sk_attribute="SK", durability=durability,
                           **options)

    def load(self, items: list[dict[str, Any]]) -> None:
        with self.db.batch_writer() as w:
            for item in items:
                w.put_item(item=item)

    def put(self, item: dict[str, Any]) -> None:
        self.db.put_item(item=item)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.db.get_item(key={"PK": pk, "SK": sk})

    def scan(self) -> int:
        return sum(1 for _ in self.db.scan())

    def checkpoint(self, mode: str) -> Any:
        return self.db.checkpoint()

    def check(self) -> bool:
        return not self.db.check().problems

    def close(self) -> None:
        self.db.close()


class Sql:
    """sqlite3 as in scripts/bench_workloads.py: (pk, sk) primary key, WAL, pickled items."""

    name = "sqlite3"

    def __init__(self, path: str, durability: str = "full", autocheckpoint: bool = True) -> None:
        import pickle
        import sqlite3

        self.pickle = pickle
        os.makedirs(path, exist_ok=True)
        self.conn = sqlite3.connect(os.path.join(path, "db.sqlite"), timeout=600)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        if not autocheckpoint:
            self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.conn.execute("CREATE TABLE IF NOT EXISTS items "
                          "(pk TEXT, sk TEXT, data BLOB, PRIMARY KEY(pk, sk))")
        self.conn.commit()

    def load(self, items: list[dict[str, Any]]) -> None:
        dumps = self.pickle.dumps
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?)",
                                  ((i["PK"], i["SK"], dumps(i, 5)) for i in items))

    def put(self, item: dict[str, Any]) -> None:
        self.conn.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?)",
                          (item["PK"], item["SK"], self.pickle.dumps(item, 5)))
        self.conn.commit()

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT data FROM items WHERE pk = ? AND sk = ?",
                                (pk, sk)).fetchone()
        return None if row is None else self.pickle.loads(row[0])

    def scan(self) -> int:
        loads = self.pickle.loads
        return sum(1 for (data,) in self.conn.execute("SELECT data FROM items") if loads(data))

    def checkpoint(self, mode: str) -> Any:
        return list(self.conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone())

    def check(self) -> bool:
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def close(self) -> None:
        self.conn.close()


def open_store(store: str, path: str, **options: Any) -> Dyn | Sql:
    return Dyn(path, **options) if store == "dynafile" else Sql(path, **options)


def writer_options(store: str) -> dict[str, Any]:
    """Options of the checkpoint experiment's processes: nothing checkpoints by itself."""
    if store == "dynafile":
        return {"durability": "normal", "checkpoint_bytes": HUGE}
    return {"durability": "normal", "autocheckpoint": False}


# ---------------------------------------------------------------- workers


def step_load(spec: dict[str, Any]) -> dict[str, Any]:
    items = dataset(spec["items"])
    store = open_store(spec["store"], spec["path"])
    t = time.perf_counter()
    store.load(items)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    store.close()
    close_s = time.perf_counter() - t
    result = {"items": len(items), "load_seconds": load_s, "close_seconds": close_s,
              "disk_bytes": disk_bytes(spec["path"]),
              "apparent_bytes": apparent_bytes(spec["path"]),
              "disk_parts": disk_parts(spec["path"])}
    if spec["store"] == "dynafile":
        result["retention0"] = dynafile_retention0(spec["path"])
    return result


def step_open(spec: dict[str, Any]) -> dict[str, Any]:
    """Import, open, one get (and with spec["scan"] a full scan); RSS after each."""
    before = rss()
    t0 = time.perf_counter()
    __import__("dynafile" if spec["store"] == "dynafile" else "sqlite3")
    t1 = time.perf_counter()
    store = open_store(spec["store"], spec["path"])
    t2 = time.perf_counter()
    pk, sk = middle_key(spec["items"])
    item = store.get(pk, sk)
    t3 = time.perf_counter()
    after_get = rss()
    result: dict[str, Any] = {
        "import_ms": (t1 - t0) * 1e3, "open_ms": (t2 - t1) * 1e3, "get_ms": (t3 - t2) * 1e3,
        "open_get_ms": (t3 - t1) * 1e3, "ok": item is not None and item["SK"] == sk,
        "rss_start_mb": before["rss_mb"], "rss_get_mb": after_get["rss_mb"]}
    if spec.get("scan"):
        t = time.perf_counter()
        count = store.scan()
        result["scan_seconds"] = time.perf_counter() - t
        result["scanned"] = count
        after_scan = rss()
        result["rss_scan_mb"] = after_scan["rss_mb"]
        result["peak_scan_mb"] = after_scan["peak_mb"]
    if spec.get("check"):
        t = time.perf_counter()
        result["check_ok"] = store.check()
        result["check_seconds"] = time.perf_counter() - t
        after_check = rss()
        result["rss_check_mb"] = after_check["rss_mb"]
        result["peak_check_mb"] = after_check["peak_mb"]
    store.close()
    return result


def step_checkpointer(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the backlog (no checkpoint), say "ready"; on "go" checkpoint and
    say when; on "exit" close."""
    log_path = (os.path.join(spec["path"], "log") if spec["store"] == "dynafile"
                else os.path.join(spec["path"], "db.sqlite-wal"))
    store = open_store(spec["store"], spec["path"], **writer_options(spec["store"]))
    log_before = apparent_bytes(log_path) if os.path.isdir(log_path) else (
        os.path.getsize(log_path) if os.path.exists(log_path) else 0)
    rng = random.Random(5)
    collections = collections_of(spec["items"])
    backlog = []
    for _ in range(spec["backlog"]):
        c, j = rng.randrange(collections), rng.randrange(PER_COLLECTION)
        backlog.append({**std_item(c, j), "status": "returned", "note": "updated"})
    t = time.perf_counter()
    store.load(backlog)
    backlog_s = time.perf_counter() - t
    log_after = apparent_bytes(log_path) if os.path.isdir(log_path) else (
        os.path.getsize(log_path) if os.path.exists(log_path) else 0)
    print(json.dumps({"ready": True, "backlog_seconds": backlog_s,
                      "log_bytes": log_after - log_before}),
          flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    outcome = store.checkpoint(spec.get("mode", ""))
    end = time.monotonic()
    print(json.dumps({"start": start, "end": end, "seconds": end - start,
                      "outcome": outcome}), flush=True)
    sys.stdin.readline()
    t = time.perf_counter()
    store.close()
    return {"close_seconds": time.perf_counter() - t}


HOT = 10  # collections the checkpoint experiment's writer puts into


def step_writer(spec: dict[str, Any]) -> dict[str, Any]:
    """Read HOT collections, say "ready"; on "go" put one new item per
    PUT_INTERVAL into them until "stop"; return each put's start and latency.

    The writer keeps to a few collections it has read so that its latency
    before the checkpoint is its steady state: a put into a collection a
    dynafile process has not read yet first loads the partition file holding
    it (a cold cost of its own, not the checkpoint's)."""
    store = open_store(spec["store"], spec["path"], **writer_options(spec["store"]))
    rng = random.Random(9)
    hot = rng.sample(range(collections_of(spec["items"])), min(HOT, collections_of(spec["items"])))
    for c in hot:
        store.get(std_pk(c), std_sk(c, 1))
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    starts, latencies = [], []
    k = 0
    due = time.monotonic()
    while not stop.is_set():
        c = hot[k % len(hot)]
        item = {**std_item(c, 1), "SK": f"ORDER#2099-01-01#w{k:07d}", "order_id": f"w{k}"}
        t = time.monotonic()
        store.put(item)
        done = time.monotonic()
        starts.append(t)
        latencies.append(done - t)
        k += 1
        due = max(due + PUT_INTERVAL, done)
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    store.close()
    return {"starts": starts, "latencies": latencies}


STEPS = {"load": step_load, "open": step_open, "checkpointer": step_checkpointer,
         "writer": step_writer}


def worker(arg: str) -> None:
    spec = json.loads(arg)
    result = STEPS[spec["step"]](spec)
    print(json.dumps(result), flush=True)


# ----------------------------------------------------------------- driver


ENV: dict[str, str] | None = None  # the children's environment (--source sets PYTHONPATH)


def child(spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker",
                             json.dumps(spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(spec["path"]), env=ENV)


def run_step(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                           json.dumps(spec)], capture_output=True, text=True, timeout=timeout,
                          cwd=os.path.dirname(spec["path"]), env=ENV)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['step']} ({spec['store']}, {spec['items']:,}) exited "
                           f"{proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read_json(proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise RuntimeError(f"{what} exited {proc.returncode} without a result")
    return json.loads(line)


def say(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(word + "\n")
    proc.stdin.flush()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def checkpoint_experiment(store: str, path: str, items: int, mode: str, pause: float,
                          timeout: float) -> dict[str, Any]:
    backlog = max(100, items // 10)
    base = {"store": store, "path": path, "items": items}
    cp = child({**base, "step": "checkpointer", "backlog": backlog, "mode": mode})
    writer = None
    try:
        ready = read_json(cp, "checkpointer")
        writer = child({**base, "step": "writer"})
        read_json(writer, "writer")
        say(writer, "go")
        time.sleep(pause)
        say(cp, "go")
        done = read_json(cp, "checkpointer")
        time.sleep(pause)
        say(writer, "stop")
        puts = read_json(writer, "writer")
        say(cp, "exit")
        closed = read_json(cp, "checkpointer")
        for proc in (cp, writer):
            proc.wait(timeout=timeout)
    finally:
        for proc in (cp, writer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    start, end = done["start"], done["end"]
    before, during, after = [], [], []
    for t, lat in zip(puts["starts"], puts["latencies"]):
        if t + lat < start:
            before.append(lat)
        elif t <= end:  # overlaps the checkpoint
            during.append(lat)
        elif t <= end + pause:
            after.append(lat)
    ms = 1e3
    return {
        "mode": mode or "checkpoint()", "backlog": backlog,
        "backlog_seconds": ready["backlog_seconds"], "log_bytes": ready["log_bytes"],
        "checkpoint_seconds": done["seconds"], "outcome": done["outcome"],
        "puts": len(puts["latencies"]), "puts_before": len(before), "puts_during": len(during),
        "before_p50_ms": None if not before else statistics.median(before) * ms,
        "before_p99_ms": None if not before else percentile(before, 0.99) * ms,
        "before_max_ms": None if not before else max(before) * ms,
        "during_p99_ms": None if not during else percentile(during, 0.99) * ms,
        "during_max_ms": None if not during else max(during) * ms,
        "puts_after": len(after),
        "after_p99_ms": None if not after else percentile(after, 0.99) * ms,
        "after_max_ms": None if not after else max(after) * ms,
        "close_seconds": closed["close_seconds"],
    }


def measure(store: str, items: int, tmp: str, quick: bool, timeout: float,
            log: Any) -> dict[str, Any]:
    path = os.path.join(tmp, f"{store}-{items}")
    base = {"store": store, "path": path, "items": items}
    out: dict[str, Any] = {}
    out["load"] = run_step({**base, "step": "load"}, timeout)
    log(f"load {out['load']['items'] / out['load']['load_seconds']:,.0f} items/s, "
        f"close {out['load']['close_seconds']:.2f} s, "
        f"{out['load']['disk_bytes'] / out['load']['items']:.0f} B/item")
    runs = [run_step({**base, "step": "open"}, timeout) for _ in range(1 if quick else COLD_RUNS)]
    out["open_runs"] = runs
    out["open"] = {key: statistics.median(r[key] for r in runs)
                   for key in ("import_ms", "open_ms", "get_ms", "open_get_ms",
                               "rss_start_mb", "rss_get_mb")}
    out["open"]["ok"] = all(r["ok"] for r in runs)
    log(f"open + get {out['open']['open_get_ms']:.1f} ms, RSS {out['open']['rss_get_mb']:.0f} MB")
    out["scan"] = run_step({**base, "step": "open", "scan": True}, timeout)
    log(f"scan {out['scan']['scan_seconds']:.2f} s, RSS {out['scan']['rss_scan_mb']:.0f} MB")
    out["check"] = run_step({**base, "step": "open", "check": True}, timeout)
    log(f"check {out['check']['check_seconds']:.2f} s, peak RSS "
        f"{out['check']['peak_check_mb']:.0f} MB, clean {out['check']['check_ok']}")
    pause = 0.1 if quick else 1.0
    out["checkpoint"] = []
    for mode in ([""] if store == "dynafile" else SQLITE_MODES):
        result = checkpoint_experiment(store, path, items, mode, pause, timeout)
        out["checkpoint"].append(result)
        log(f"checkpoint {result['mode']}: {result['checkpoint_seconds']:.3f} s; writer max "
            f"{fmt(result['during_max_ms'], 1)} ms during, p99 before "
            f"{fmt(result['before_p99_ms'], 2)} ms ({result['puts_during']} puts during)")
    shutil.rmtree(path, ignore_errors=True)
    return out


# ---------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def figures(res: dict[str, Any], store: str) -> dict[str, str]:
    """One store's figures at one size, as text, keyed by row name."""
    load, opened, scan = res["load"], res["open"], res["scan"]
    items = load["items"]
    rows = {
        "load (batch writes), items/s": fmt(items / load["load_seconds"]),
        "load, seconds": fmt(load["load_seconds"], 2),
        "close() after the load, seconds": fmt(load["close_seconds"], 2),
        "cold open + one get, ms (new process; median of runs)": fmt(opened["open_get_ms"], 1),
        "import, ms (apart from the above)": fmt(opened["import_ms"], 0),
        "RSS after open + one get, MB": fmt(opened["rss_get_mb"], 0),
        "full scan, seconds": fmt(scan["scan_seconds"], 2),
        "full scan, items/s": fmt(scan["scanned"] / scan["scan_seconds"]),
        "RSS after the full scan, MB (peak)": (f"{fmt(scan['rss_scan_mb'], 0)} "
                                               f"({fmt(scan['peak_scan_mb'], 0)})"),
        "check (dynafile check(); sqlite3 PRAGMA integrity_check), seconds": fmt(
            res["check"]["check_seconds"], 2) if "check" in res else "—",
        "RSS after the check, MB (peak)": (
            f"{fmt(res['check']['rss_check_mb'], 0)} ({fmt(res['check']['peak_check_mb'], 0)})"
            if "check" in res else "—"),
        "bytes on disk per item after close": fmt(load["disk_bytes"] / items),
        "bytes on disk per item, retention=0 checkpoint": (
            fmt(load["retention0"]["disk_bytes"] / items) if "retention0" in load else "—"),
    }
    for cp in res["checkpoint"]:
        label = "" if store == "dynafile" or cp["mode"] == "PASSIVE" else f" [{cp['mode']}]"
        rows[f"checkpoint of the backlog, seconds{label}"] = fmt(cp["checkpoint_seconds"], 3)
        rows[f"writer put latency during the checkpoint, max ms{label}"] = fmt(
            cp["during_max_ms"], 1)
        rows[f"writer put latency during the checkpoint, p99 ms{label}"] = fmt(
            cp["during_p99_ms"], 2)
        rows[f"writer put latency in the second after it, max ms{label}"] = fmt(
            cp["after_max_ms"], 1)
        rows[f"writer put latency before it, p99 ms{label}"] = fmt(cp["before_p99_ms"], 2)
        rows[f"writer puts during the checkpoint{label}"] = fmt(cp["puts_during"])
    return rows


def growth_value(res: dict[str, Any], key: str) -> float | None:
    load, opened, scan = res["load"], res["open"], res["scan"]
    cp = res["checkpoint"][0] if res["checkpoint"] else {}
    values = {
        "load seconds per item": load["load_seconds"] / load["items"],
        "close() seconds": load["close_seconds"],
        "cold open + one get": opened["open_get_ms"],
        "RSS after open + one get": opened["rss_get_mb"],
        "full scan seconds per item": scan["scan_seconds"] / scan["scanned"],
        "RSS after the full scan": scan["rss_scan_mb"],
        "checkpoint seconds": cp.get("checkpoint_seconds"),
        "check seconds per item": (res["check"]["check_seconds"] / load["items"]
                                   if "check" in res else None),
        "peak RSS during the check": res["check"]["peak_check_mb"] if "check" in res else None,
        "writer's max put latency during the checkpoint": cp.get("during_max_ms"),
        "bytes on disk per item": load["disk_bytes"] / load["items"],
    }
    return values.get(key)


GROWTH = ["load seconds per item", "close() seconds", "cold open + one get",
          "RSS after open + one get", "full scan seconds per item", "RSS after the full scan",
          "checkpoint seconds", "writer's max put latency during the checkpoint",
          "check seconds per item", "peak RSS during the check", "bytes on disk per item"]


def markdown(data: dict[str, Any]) -> str:
    sizes, stores, results, info = data["sizes"], data["stores"], data["results"], data["machine"]
    lines: list[str] = []
    add = lines.append
    add("## Scale: dynafile and sqlite3 from 10,000 to 1,000,000 items")
    add("")
    add(f"Generated by `scripts/bench_scale.py`{' --quick (tiny sizes)' if data['quick'] else ''}"
        f" on {info['cpu_count']} CPUs ({info['cpu']}), {info['implementation']} "
        f"{info['python']}, sqlite {info['sqlite']}; run {info['date']}, total "
        f"{data['total_seconds']:.0f} s. Other work may share the machine: compare the two "
        "stores within this run; absolute times drift between runs. dynafile measured: "
        f"{data['source']}.")
    add("")
    add(f"Items come in collections of {PER_COLLECTION} (a customer profile and 9 orders, "
        "as W9's in `scripts/bench`). Each step runs in a fresh process: the load (batch "
        "writes at the \"full\" durability; sqlite3 `executemany` in one transaction, WAL, "
        "synchronous=FULL), then close; open + one get from a new process "
        f"({COLD_RUNS} runs, median; the OS page cache is warm); a full scan from another "
        "new process; `check()` (sqlite3: `PRAGMA integrity_check`) from another new process, its time and peak RSS; then the checkpoint experiment: a process writes a backlog of "
        "updates (a tenth of the items, at least 100) without checkpointing, a second "
        f"process reads {HOT} collections and then puts one new item per millisecond into "
        "them (durability \"normal\"; sqlite3 one "
        "commit each, synchronous=NORMAL, `wal_autocheckpoint=0`), and after a second the "
        "first process checkpoints. dynafile's checkpoint is `checkpoint()` (default "
        "retention, so the log stays); sqlite3's is `PRAGMA wal_checkpoint(PASSIVE)` "
        "(its automatic mode, which does not block writers) and, marked [TRUNCATE], "
        "`wal_checkpoint(TRUNCATE)` (blocks writers and empties the WAL). "
        "\"During\" counts every put that overlapped the checkpoint. Bytes on disk: "
        "`du` of the directory after the load's close (dynafile's log included, as its "
        "default 24 h retention keeps it; sqlite3's close has checkpointed and removed its "
        "WAL), and for dynafile a copy after a checkpoint with `retention=0`.")
    add("")
    names = [f"{s:,}" for s in sizes]
    add("| figure | " + " | ".join(f"{st} {n}" for n in names for st in stores) + " |")
    add("| --- | " + " | ".join("---:" for _ in names for _ in stores) + " |")
    table: dict[str, dict[tuple[int, str], str]] = {}
    for size in sizes:
        for st in stores:
            res = results.get(st, {}).get(str(size))
            if not res or "error" in res:
                continue
            for row, text in figures(res, st).items():
                table.setdefault(row, {})[(size, st)] = text
    for row, cells in table.items():
        add(f"| {row} | " + " | ".join(cells.get((size, st), "—") for size in sizes
                                       for st in stores) + " |")
    add("")
    errors = [(st, size, results[st][str(size)]["error"]) for st in stores for size in sizes
              if "error" in results.get(st, {}).get(str(size), {})]
    for st, size, error in errors:
        add(f"* {st} at {size:,} items failed: {error}")
    if errors:
        add("")
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        add(f"### Growth from {lo:,} to {hi:,} items ({hi / lo:,.0f}x the items)")
        add("")
        add("The figure at the largest size over the figure at the smallest (per-item "
            "figures stay near 1x when the cost is linear; whole-operation figures grow "
            f"{hi / lo:,.0f}x when linear, 1x when constant).")
        add("")
        add("| figure | " + " | ".join(stores) + " |")
        add("| --- | " + " | ".join("---:" for _ in stores) + " |")
        for key in GROWTH:
            cells = []
            for st in stores:
                a = results.get(st, {}).get(str(lo), {})
                b = results.get(st, {}).get(str(hi), {})
                if "load" not in a or "load" not in b:
                    cells.append("—")
                    continue
                x, y = growth_value(a, key), growth_value(b, key)
                cells.append("—" if x is None or y is None or x == 0 else f"{y / x:,.2f}x")
            add(f"| {key} | " + " | ".join(cells) + " |")
        add("")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    import sqlite3

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        from importlib import metadata

        version = metadata.version("dynafile")
    except metadata.PackageNotFoundError:  # not installed as a distribution
        version = "?"
    return {"cpu_count": os.cpu_count(), "cpu": cpu or "unknown model",
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(), "sqlite": sqlite3.sqlite_version,
            "dynafile": version,
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny sizes ({', '.join(map(str, QUICK_SIZES))} items; smoke test)")
    parser.add_argument("--sizes", help="comma-separated item counts (default "
                                        + ",".join(map(str, SIZES)) + ")")
    parser.add_argument("--stores", default=",".join(STORES),
                        help="comma-separated: dynafile, sqlite3 (default both)")
    parser.add_argument("--out", help="output directory (default bench-out/scale/, "
                                      "bench-out/scale-quick/ with --quick)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds one step's process may take")
    parser.add_argument("--source", metavar="REV",
                        help="measure dynafile as committed at REV (git archive of dynafile/), "
                             "not the working tree")
    args = parser.parse_args(argv)
    sizes = ([int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes
             else QUICK_SIZES if args.quick else SIZES)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if any(s not in STORES for s in stores):
        parser.error(f"--stores: choose from {', '.join(STORES)}")
    out = os.path.abspath(args.out or os.path.join(
        ROOT, "bench-out", "scale-quick" if args.quick else "scale"))
    os.makedirs(out, exist_ok=True)

    def log(text: str) -> None:
        print(f"bench-scale: {text}", file=sys.stderr, flush=True)

    tmp = tempfile.mkdtemp(prefix="dynafile-scale-")
    commit = None
    if args.source:
        global ENV
        try:
            commit = export_source(args.source, os.path.join(tmp, "dynafile-src"))
        except (OSError, subprocess.CalledProcessError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            parser.error(f"--source {args.source}: {exc}")
        ENV = {**os.environ, "PYTHONPATH": os.path.join(tmp, "dynafile-src")}
    data: dict[str, Any] = {"quick": args.quick, "sizes": sizes, "stores": stores,
                            "machine": machine(), "results": {s: {} for s in stores},
                            "source": source_description(commit), "source_commit": commit}
    log(f"dynafile from {data['source']}")
    started = time.perf_counter()
    try:
        for size in sizes:
            for store in stores:
                log(f"{store} at {size:,} items")
                t = time.perf_counter()
                try:
                    res = measure(store, size, tmp, args.quick, args.timeout,
                                  lambda text, s=store: log(f"  {s}: {text}"))
                except (RuntimeError, OSError, ValueError, KeyError,
                        subprocess.SubprocessError) as exc:  # keep the other sizes' figures
                    res = {"error": f"{type(exc).__name__}: {exc}"}
                    log(f"  {store}: FAILED {res['error']}")
                res["wall_seconds"] = time.perf_counter() - t
                data["results"][store][str(size)] = res
                data["total_seconds"] = time.perf_counter() - started
                write(out, data)  # partial results survive an interrupted run
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data["total_seconds"] = time.perf_counter() - started
    write(out, data)
    log(f"wrote {os.path.join(out, 'results.json')} and {os.path.join(out, 'scale.md')}")
    failed = [s for s in stores for r in data["results"][s].values() if "error" in r]
    return 1 if failed else 0


def write(out: str, data: dict[str, Any]) -> None:
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(out, "scale.md"), "w") as f:
        f.write(markdown(data))


if __name__ == "__main__":
    sys.exit(main())
