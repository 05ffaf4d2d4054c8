#!/usr/bin/env python3
"""A short tour of dynafile on the sample shop data set (``data/shop.jsonl``).

Loads the data set into a fresh database directory with a batch writer, then
runs a handful of reads (get, query, filters, scan, batch_get, TTL) and a few
writes watched by a stream listener. Run it with ``scripts/demo``::

    scripts/demo                      # database in data/db/shop (git-ignored)
    scripts/demo --path /tmp/shop     # somewhere else

The database directory is wiped and recreated on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from decimal import Decimal

from dynafile import Attr, Dynafile, Event, Key, TransactionCanceledError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CUSTOMER = "CUSTOMER#c0001"


def heading(title: str) -> None:
    print(f"\n== {title}")


def order_line(item: dict) -> str:
    expires = "  (expires)" if "expires" in item else ""
    return (f"  {item['SK']:<26} {item['status']:<9} {item['total']:>8.2f}"
            f"  {item['item_count']:>2} pcs{expires}")


def key_of(item: dict) -> str:
    return f"{item['PK']} / {item['SK']}"


def load_records(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line, parse_float=Decimal) for line in f if line.strip()]


def fresh_directory(path: str) -> None:
    """Remove ``path`` (a previous demo database) so the demo starts clean."""
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.exists(os.path.join(path, "meta.json")):
            sys.exit(f"demo: {path} is not empty and holds no dynafile table; "
                     "refusing to wipe it (choose another --path)")
        shutil.rmtree(path)
    elif os.path.exists(path) and not os.path.isdir(path):
        sys.exit(f"demo: {path} exists and is not a directory")


def count_files(path: str) -> tuple:
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=os.path.join(ROOT, "data", "db", "shop"),
                        help="database directory (wiped and recreated; default %(default)s)")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "shop.jsonl"),
                        help="JSON Lines data set (default %(default)s)")
    args = parser.parse_args(argv)
    path = os.path.abspath(args.path)
    records = load_records(args.data)
    now = time.time()

    fresh_directory(path)
    with Dynafile(path, pk_attribute="PK", sk_attribute="SK", ttl_attribute="expires") as db:
        started = time.perf_counter()
        with db.batch_writer() as writer:
            for record in records:
                writer.put_item(item=record)
        elapsed = time.perf_counter() - started
        print(f"Loaded {len(records)} items from {os.path.relpath(args.data)} "
              f"with a batch writer in {elapsed:.2f} s")

        heading(f"get_item: the profile of {CUSTOMER}")
        profile = db.get_item(key={"PK": CUSTOMER, "SK": "PROFILE"})
        print("  " + ", ".join(f"{k}={profile[k]}" for k in
                               ("name", "email", "city", "created")))

        heading("query: their orders, newest first")
        print('  sk=Key("SK").begins_with("ORDER#"), scan_index_forward=False')
        orders = list(db.query(CUSTOMER, sk=Key("SK").begins_with("ORDER#"),
                               scan_index_forward=False))
        for item in orders:
            print(order_line(item))

        heading("query: their orders in January to March 2026")
        print('  sk=Key("SK").between("ORDER#2026-01-01", "ORDER#2026-03-31~")')
        for item in db.query(CUSTOMER, sk=Key("SK").between("ORDER#2026-01-01",
                                                             "ORDER#2026-03-31~")):
            print(order_line(item))
        first = next(iter(db.query(CUSTOMER, starts_with="ORDER#2026-04")))
        print(f'  original API, starts_with="ORDER#2026-04" -> first is {first["SK"]}')

        heading("query with a callable filter: filter=lambda item: item['total'] > 300")
        for item in db.query(CUSTOMER, sk=Key("SK").begins_with("ORDER#"),
                             filter=lambda item: item["total"] > 300):
            print(order_line(item))

        heading("query with a filtration string: filter='status == \"open\"'")
        for item in db.query(CUSTOMER, sk=Key("SK").begins_with("ORDER#"),
                             filter='status == "open"'):
            print(order_line(item))

        heading("scan with a callable filter: open orders in the whole table")
        open_orders = list(db.scan(filter=lambda item: item.get("type") == "order"
                                   and item.get("status") == "open"))
        value = sum(item["total"] for item in open_orders)
        print(f"  {len(open_orders)} open orders, worth {value} in total")

        heading("batch_get: three keys, the second one missing")
        keys = [{"PK": "PRODUCT#p001", "SK": "PRODUCT"},
                {"PK": "PRODUCT#p999", "SK": "PRODUCT"},
                {"PK": "CUSTOMER#c0002", "SK": "PROFILE"}]
        for key, item in zip(keys, db.batch_get(keys)):
            shown = None if item is None else item.get("name")
            print(f"  {key_of(key):<28} -> {shown}")

        heading("DynamoDB expressions: a conditional update of a product's stock")
        product = {"PK": "PRODUCT#p001", "SK": "PRODUCT"}
        after = db.update_item(key=product, update="SET stock = stock - :n, #s = :now",
                               condition="stock >= :n", names={"#s": "updated"},
                               values={":n": 2, ":now": "2026-07-01"}, return_values="UPDATED_NEW")
        print(f"  SET stock = stock - :n (if stock >= :n) -> {after}")

        heading("a transaction: an order and its stock change, all or nothing")
        try:
            db.transact_write([
                {"put": {"item": {"PK": "ORDER#o09998", "SK": "LINE#001", "qty": 1000},
                         "condition": Attr("PK").not_exists()}},
                {"update": {"key": product, "update": "SET stock = stock - :q",
                            "condition": "stock >= :q", "values": {":q": 1000}}},
            ])
        except TransactionCanceledError as exc:
            print(f"  cancelled: {[r.code for r in exc.reasons]}; "
                  f"order written: {db.get_item(key={'PK': 'ORDER#o09998', 'SK': 'LINE#001'})}")

        heading("a global secondary index: orders by status, newest first")
        db.create_gsi("by_status", pk_attribute="status", sk_attribute="date")
        page = db.query("open", index="by_status", scan_index_forward=False, limit=3,
                        projection=["PK", "date", "total"])
        for item in page:
            print(f"  {item['date']}  {item['PK']:<16} {item['total']:>8.2f}")
        print(f"  next page starts after {page.last_evaluated_key}")

        heading("TTL: items whose 'expires' is in the past are hidden from every read")
        expired = [r for r in records if "expires" in r and r["expires"] < now]
        visible = sum(1 for _ in db.scan())
        print(f"  {len(expired)} of {len(records)} items in the file have a past 'expires'; "
              f"scan returns {visible}")
        mine = [r for r in expired if r["PK"] == CUSTOMER]
        if mine:
            gone = mine[0]
            when = time.strftime("%Y-%m-%d", time.gmtime(int(gone["expires"])))
            print(f"  {gone['SK']} ({gone['status']}, expired {when}):")
            print(f"    get_item -> {db.get_item(key={'PK': gone['PK'], 'SK': gone['SK']})}")
            in_file = sum(1 for r in records
                          if r["PK"] == CUSTOMER and r["SK"].startswith("ORDER#"))
            print(f"    {CUSTOMER} has {in_file} orders in the file; "
                  f"the query above returned {len(orders)}")

        heading("stream listener: each committed change arrives as an Event")

        def on_change(event: Event) -> None:
            item = event.new if event.new is not None else event.old
            status = " -> ".join(str(i["status"]) for i in (event.old, event.new)
                                 if i is not None)
            print(f"  {event.action:<6} {event.event_name:<6} {key_of(item)}  "
                  f"status: {status}")

        db.add_stream_listener(on_change)
        new_order = {"PK": CUSTOMER, "SK": "ORDER#2026-07-01#o09999", "type": "order",
                     "order_id": "o09999", "customer_id": "c0001", "date": "2026-07-01",
                     "status": "open", "total": Decimal("19.99"), "item_count": 1}
        db.put_item(item=new_order)                               # a new item
        db.put_item(item={**new_order, "status": "shipped"})      # update by put
        db.delete_item(key={"PK": CUSTOMER, "SK": new_order["SK"]})
        db.remove_stream_listener(on_change)

        heading("the log stream: the same changes, readable from any process")
        tail = list(db.stream(from_sequence=0, follow=False))[-3:]
        for record in tail:
            print(f"  seq {record.sequence:<5} {record.event_name:<6} {record.keys}")

    heading(f"on disk: {path}")
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            files, size = count_files(full)
            print(f"  {name + '/':<14} {files:>4} files, {size / 1024:8.1f} KiB")
        else:
            print(f"  {name:<14} {os.path.getsize(full) / 1024:19.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
