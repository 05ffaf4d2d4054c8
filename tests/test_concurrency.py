"""Read-modify-write from several processes and threads at once: atomic
updates, conditional puts retried on conflict, transactions. No increment
may be lost or doubled, and no reader may see a counter go backwards."""

from __future__ import annotations

import multiprocessing as mp
import threading
from typing import Any

import pytest

from dynafile import (
    Attr,
    ConditionalCheckFailedError,
    Dynafile,
    TransactionCanceledError,
    TransactionConflictError,
)

CTX = mp.get_context("spawn")
COUNTERS = 3


def _key(k: int) -> dict[str, str]:
    return {"PK": "ctr", "SK": f"c{k}"}


def _atomic(db: Dynafile, k: int) -> int:
    db.update_item(key=_key(k), update="SET n = n + :one", values={":one": 1})
    return 0


def _compare_and_set(db: Dynafile, k: int) -> int:
    """get, then put conditioned on the value read; retry on conflict."""
    retries = 0
    while True:
        item = db.get_item(key=_key(k))
        old = item["n"]
        try:
            db.put_item(item={**item, "n": old + 1, "by": "cas"}, condition=Attr("n").eq(old))
            return retries
        except ConditionalCheckFailedError:
            retries += 1


def _transact(db: Dynafile, k: int) -> int:
    """transact_write conditioned on the value read; retry on cancellation."""
    retries = 0
    while True:
        old = db.get_item(key=_key(k))["n"]
        try:
            db.transact_write([{"update": {"key": _key(k), "update": "SET n = :new",
                                           "condition": "n = :old",
                                           "values": {":new": old + 1, ":old": old}}}])
            return retries
        except TransactionCanceledError:
            retries += 1


def _optimistic(db: Dynafile, k: int) -> int:
    """An optimistic transaction: read, write, commit; retry on conflict."""
    retries = 0
    while True:
        try:
            with db.transaction() as tx:
                item = tx.get_item(key=_key(k))
                tx.put_item(item={**item, "n": item["n"] + 1})
            return retries
        except TransactionConflictError:
            retries += 1


STYLES = [_atomic, _compare_and_set, _transact, _optimistic]


def _hammer(db: Dynafile, seed: int, rounds: int, retries: list[int]) -> None:
    for i in range(rounds):
        style = STYLES[(seed + i) % len(STYLES)]
        retries.append(style(db, (seed * 7 + i) % COUNTERS))


def _process(path: str, seed: int, threads: int, rounds: int, out: Any) -> None:
    db = Dynafile(path, durability="normal", lock_timeout=60)
    retries: list[int] = []
    workers = [threading.Thread(target=_hammer, args=(db, seed * 10 + t, rounds, retries))
               for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    db.close()
    out.put((seed, len(retries), sum(retries)))


def _expected(seeds: list[int], rounds: int) -> dict[int, int]:
    totals = {k: 0 for k in range(COUNTERS)}
    for seed in seeds:
        for i in range(rounds):
            totals[(seed * 7 + i) % COUNTERS] += 1
    return totals


@pytest.mark.timeout(120)
def test_counters_from_processes_and_threads_are_exact(db_path):
    db = Dynafile(db_path, durability="normal")
    for k in range(COUNTERS):
        db.put_item(item={**_key(k), "n": 0})
    processes, threads, rounds = 3, 3, 40
    out = CTX.Queue()
    procs = [CTX.Process(target=_process, args=(db_path, p, threads, rounds, out))
             for p in range(1, processes + 1)]
    for p in procs:
        p.start()
    # this process takes part too, with its own threads, and watches the counters
    local_retries: list[int] = []
    mine = [threading.Thread(target=_hammer, args=(db, 1000 + t, rounds, local_retries))
            for t in range(2)]
    for t in mine:
        t.start()
    seen = {k: 0 for k in range(COUNTERS)}
    errors: list[str] = []
    done = threading.Event()  # (Process objects are not thread-safe: only this thread polls)

    def watch() -> None:
        reader = Dynafile(db_path, durability="normal")
        try:
            while not done.is_set():
                for k in range(COUNTERS):
                    n = reader.get_item(key=_key(k))["n"]
                    if n < seen[k]:
                        errors.append(f"counter {k} went back from {seen[k]} to {n}")
                    seen[k] = n
        finally:
            reader.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    results = [out.get(timeout=100) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    for t in mine:
        t.join(60)
    done.set()
    watcher.join(60)
    assert errors == []
    assert sorted(r[1] for r in results) == [threads * rounds] * processes
    seeds = [p * 10 + t for p in range(1, processes + 1) for t in range(threads)]
    seeds += [1000 + t for t in range(2)]
    want = _expected(seeds, rounds)
    got = {k: db.get_item(key=_key(k))["n"] for k in range(COUNTERS)}
    assert got == want
    assert sum(got.values()) == (processes * threads + 2) * rounds
    assert db.check().ok
    db.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("style", STYLES, ids=lambda f: f.__name__.strip("_"))
def test_each_style_alone_with_threads_is_exact(db_path, style):
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={**_key(0), "n": 0})
    retries: list[int] = []

    def work() -> None:
        for _ in range(50):
            retries.append(style(db, 0))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(50)
    assert not any(t.is_alive() for t in threads)
    assert db.get_item(key=_key(0))["n"] == 200
    db.close()


@pytest.mark.timeout(60)
def test_conditional_create_has_one_winner(db_path):
    """Many threads of two tables race to create one item with a condition:
    exactly one wins; every other gets ConditionalCheckFailedError."""
    a = Dynafile(db_path, durability="normal")
    b = Dynafile(db_path, durability="normal")
    wins: list[int] = []
    losses: list[int] = []

    def race(db: Dynafile, n: int) -> None:
        try:
            db.put_item(item={"PK": "lock", "SK": "1", "owner": n},
                        condition=Attr("PK").not_exists())
            wins.append(n)
        except ConditionalCheckFailedError:
            losses.append(n)

    threads = [threading.Thread(target=race, args=(a if n % 2 else b, n)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(wins) == 1 and len(losses) == 15
    assert a.get_item(key={"PK": "lock", "SK": "1"})["owner"] == wins[0]
    a.close()
    b.close()
