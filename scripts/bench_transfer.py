#!/usr/bin/env python3
"""Rates of moving a table out and in: export, import and copy, in items per
second, on the shop sample (``data/shop.jsonl``) and on N generated items.

Run from the project's venv (``scripts/bench-transfer``), which has boto3,
moto's server mode and dynafile serve::

    scripts/bench-transfer                       # the shop sample only
    scripts/bench-transfer --items 1000000       # and 1,000,000 generated items
    scripts/bench-transfer --items 2000 --no-shop --out /tmp/t   # a smoke run

For each data set: the source directory is loaded with a batch writer
(not timed), then each step is timed alone:

* ``export``: ``dynafile.transfer.export_table`` to DynamoDB's S3 export
  layout (gzip-compressed DynamoDB JSON lines and manifests);
* ``import``: ``import_table`` of that export into a new directory;
* ``copy -> dir``: ``dynafile.transfer.copy`` into a new data directory;
* ``copy -> moto``: into moto's server mode (``python -m moto.server``);
* ``copy -> serve``: into ``dynafile serve`` (normal durability);
* ``copy serve -> dir``: back from ``dynafile serve`` into a directory.

Every endpoint runs on this machine, so the figures are what the code and
the local servers cost, not network latency. Writes ``transfer.md`` and
``transfer.json`` into ``--out`` (default ``bench-out/transfer``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench_server import Process, free_port  # a sibling script, through sys.path

from dynafile import Database
from dynafile.transfer import copy, export_table, find_source, import_table


class Server(Process):
    """A local DynamoDB endpoint in a child process, on a free port."""

    def __init__(self, command: list[str]) -> None:
        port = free_port()
        super().__init__([*command, str(port)], port)
        self.url = f"http://127.0.0.1:{port}"

    @property
    def endpoint(self) -> str:
        return f"dynamodb://us-east-1?endpoint={self.url}"


def shop_items() -> list[dict[str, Any]]:
    with open(os.path.join(ROOT, "data", "shop.jsonl"), encoding="utf-8") as f:
        return [json.loads(line, parse_float=Decimal) for line in f if line.strip()]


def generated_items(n: int) -> list[dict[str, Any]]:
    """Single-table items of about 200 bytes: collections of 1-20 items."""
    rng = random.Random(20261202)
    items: list[dict[str, Any]] = []
    collection = 0
    while len(items) < n:
        size = rng.randint(1, 20)
        for k in range(min(size, n - len(items))):
            items.append({"PK": f"CUSTOMER#{collection:08d}", "SK": f"ORDER#{k:04d}",
                          "status": rng.choice(["open", "paid", "shipped"]),
                          "total": Decimal(rng.randint(100, 99999)) / 100,
                          "tags": {"a", f"t{k}"}, "note": "x" * rng.randint(20, 120)})
        collection += 1
    return items


def load(path: str, items: list[dict[str, Any]]) -> int:
    """Load ``items``; return how many a read sees (the shop's expired orders
    are hidden, and every step leaves them out)."""
    with Database(path, durability="normal") as db:
        table = db.create_table("shop", pk_attribute="PK", sk_attribute="SK",
                                ttl_attribute="expires")
        with table.batch_writer() as writer:
            for item in items:
                writer.put_item(item=item)
        return len(table)


def timed(step: str, n: int, fn: Any) -> dict[str, Any]:
    """Time ``fn`` (an export, import or copy); its result must count ``n`` items."""
    started = time.perf_counter()
    moved = fn().items
    seconds = time.perf_counter() - started
    if moved != n:
        raise SystemExit(f"{step}: {moved:,} items moved, {n:,} expected")
    rate = n / seconds if seconds else 0.0
    print(f"  {step:<20} {n:>10,} items {seconds:9.2f} s {rate:12,.0f} items/s", flush=True)
    return {"step": step, "items": n, "seconds": seconds, "rate": rate}


def run_set(name: str, items: list[dict[str, Any]], tmp: str,
            servers: dict[str, Server]) -> list[dict[str, Any]]:
    base = os.path.join(tmp, name)
    source = os.path.join(base, "source")
    n = load(source, items)
    print(f"{name}: {len(items):,} items, {n:,} of them not expired", flush=True)
    del items
    rows = []

    def export() -> Any:
        with Database(source, read_only=True) as db:
            return export_table(db, "shop", os.path.join(base, "export"))

    def import_() -> Any:
        with Database(os.path.join(base, "imported"), durability="normal") as db:
            return import_table(find_source(os.path.join(base, "export")), db, "shop")

    rows.append(timed("export", n, export))
    rows.append(timed("import", n, import_))
    rows.append(timed("copy -> dir", n, lambda: copy(
        source, os.path.join(base, "copied"), progress_path=os.path.join(base, "p-dir.json"))))
    for label, server in servers.items():
        rows.append(timed(f"copy -> {label}", n, lambda s=server, label=label: copy(
            source, s.endpoint, tables=["shop"], rename=f"{name}-{label}",
            progress_path=os.path.join(base, f"p-{label}.json"))))
    if "serve" in servers:
        rows.append(timed("copy serve -> dir", n, lambda: copy(
            servers["serve"].endpoint, os.path.join(base, "back"), tables=[f"{name}-serve"],
            rename="shop", progress_path=os.path.join(base, "p-back.json"))))
    shutil.rmtree(base, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=0, help="also N generated items")
    parser.add_argument("--no-shop", action="store_true", help="skip the shop sample")
    parser.add_argument("--no-servers", action="store_true",
                        help="no moto or dynafile serve (directories only)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench-out", "transfer"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="dynafile-transfer-") as tmp:
        servers: dict[str, Server] = {}
        try:
            if not args.no_servers:
                servers["moto"] = Server([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                          "-p"])
                servers["serve"] = Server([sys.executable, "-m", "dynafile.dynamodb",
                                           os.path.join(tmp, "served"), "--durability", "normal",
                                           "--quiet", "--port"])
            if not args.no_shop:
                results["shop"] = run_set("shop", shop_items(), tmp, servers)
            if args.items:
                results[f"{args.items}"] = run_set(f"gen{args.items}", generated_items(args.items),
                                                   tmp, servers)
        finally:
            for server in servers.values():
                server.stop()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(os.path.join(args.out, "transfer.json"), "w", encoding="utf-8") as f:
        json.dump({"when": when, "results": results}, f, indent=1)
    lines = [f"Run {when}, {os.cpu_count()} CPUs, Python {platform.python_version()}.", "",
             "| data set | step | items | seconds | items/s |", "| --- | --- | ---: | ---: | ---: |"]
    for name, rows in results.items():
        for row in rows:
            lines.append(f"| {name} | {row['step']} | {row['items']:,} | {row['seconds']:.2f} | "
                         f"{row['rate']:,.0f} |")
    with open(os.path.join(args.out, "transfer.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
