"""Load and crash tests for `dynafile serve`: 8 client threads and 2 client
processes doing mixed writes and reads for a bounded time; then check() is
clean and every acknowledged write is there. The crash test SIGKILLs the
server mid-load and restarts it on the same port while the clients retry:
nothing acknowledged is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dynafile import Database

from . import load_client
from .conftest import Server, boto_client

SECONDS = float(os.environ.get("DYNAFILE_LOAD_SECONDS", "4"))
THREADS = 8
PROCESSES = 2


def start_load(url: str, tmp_path: Path, *, retry: bool, seconds: float = SECONDS):
    """Start the clients; return a function that waits and returns every result."""
    results: list[load_client.Acked | BaseException] = []

    def thread(name: str) -> None:
        try:
            results.append(load_client.run(url, name, seconds, retry=retry))
        except BaseException as error:
            results.append(error)

    threads = [threading.Thread(target=thread, args=(f"t{i}",)) for i in range(THREADS)]
    outs = [tmp_path / f"p{i}.json" for i in range(PROCESSES)]
    procs = [subprocess.Popen([sys.executable, load_client.__file__, url, f"p{i}", str(seconds),
                               str(out)] + (["--retry"] if retry else []))
             for i, out in enumerate(outs)]
    for t in threads:
        t.start()

    def finish() -> list[dict]:
        for t in threads:
            t.join(seconds + 120)
        for proc in procs:
            assert proc.wait(seconds + 120) == 0
        for result in results:
            if isinstance(result, BaseException):
                raise result
        found = [r.as_json() for r in results if isinstance(r, load_client.Acked)]
        found += [json.loads(out.read_text()) for out in outs]
        assert len(found) == THREADS + PROCESSES
        return found

    return finish


def create_table(url: str) -> None:
    boto_client(url).create_table(
        TableName=load_client.TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")


def verify(path: Path, results: list[dict], *, exact_counters: bool) -> int:
    """check() is clean and every acknowledged write is present; return the item count."""
    with Database(path) as db:
        table = db.table(load_client.TABLE)
        report = table.check()
        assert report.problems == [], report.problems
        acked = 0
        for result in results:
            name = result["name"]
            for pk, sk, value in result["items"]:
                item = table.get_item(key={"pk": pk, "sk": sk})
                assert item is not None and item["v"] == value, (pk, sk, value, item)
                acked += 1
            counter = table.get_item(key={"pk": f"{name}-counter", "sk": "n"})
            count = counter["n"] if counter else 0
            if exact_counters:
                assert count == result["increments"], name
            else:
                assert count >= result["increments"], name
    return acked


def test_load_threads_and_processes(serve, tmp_path):
    server = serve("--quiet")
    create_table(server.url)
    results = start_load(server.url, tmp_path, retry=False)()
    assert server.stop() == 0
    acked = verify(server.path, results, exact_counters=True)
    reads = sum(r["reads"] for r in results)
    assert acked > 100 and reads > 50
    print(f"load: {acked} acknowledged items, {reads} reads in {SECONDS:g} s")


def test_sigkill_mid_load_loses_nothing_acknowledged(tmp_path):
    path = tmp_path / "db"
    server = Server(path, "--durability", "normal", "--quiet").start()
    try:
        create_table(server.url)
        port = server.port
        finish = start_load(server.url, tmp_path, retry=True, seconds=SECONDS + 2)
        time.sleep(SECONDS / 2)
        server.stop(signal.SIGKILL)
        time.sleep(0.3)
        server = Server(path, "--durability", "normal", "--quiet", "--port", str(port)).start()
        assert server.port == port
        results = finish()
        assert server.stop() == 0
    finally:
        server.kill()
    retries = sum(r["retries"] for r in results)
    assert retries > 0  # the clients did see the server go away
    acked = verify(path, results, exact_counters=False)
    print(f"crash: {acked} acknowledged items, {retries} retries through the restart")


@pytest.mark.parametrize("durability", ["full"])
def test_load_with_full_durability(serve, tmp_path, durability):
    server = serve("--quiet", "--durability", durability)
    create_table(server.url)
    results = start_load(server.url, tmp_path, retry=False, seconds=2)()
    assert server.stop() == 0
    assert verify(server.path, results, exact_counters=True) > 20
