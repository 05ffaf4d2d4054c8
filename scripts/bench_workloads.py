#!/usr/bin/env python3
"""One benchmark workload against one store, in this (fresh) process.

Run by ``scripts/bench.py``, never imported by it: the driver starts this
file with the python of the right venv (the original dynafile 0.1.3 lives in
``.bench-venv-orig`` because its package name is ours) and passes one JSON
spec as the only argument::

    python scripts/bench_workloads.py '{"store": "sqlite3", "workload": "W3", ...}'

The last line printed on stdout is a JSON object with the result. Store
libraries are imported lazily (inside the adapters), so this file runs in a
venv that has only one of them, and W6 can time the import itself.

Items look like ``{"PK": "user#<i % 100>", "SK": "order#<i:08d>", "amount":
i, "status": "open" if i % 3 else "closed", "tags": ["a", "b"]}``; W9's
single-table design has a customer profile and its orders in each item
collection (see ``std_item``); SHOP loads ``data/shop.jsonl`` as
``scripts/demo.py`` does.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable

PARTITIONS = 100
PICKLE = pickle.HIGHEST_PROTOCOL


def make_item(i: int) -> dict[str, Any]:
    return {"PK": f"user#{i % PARTITIONS}", "SK": f"order#{i:08d}", "amount": i,
            "status": "open" if i % 3 else "closed", "tags": ["a", "b"]}


def is_open(item: dict[str, Any]) -> bool:
    return item["status"] == "open"


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def kv_key(pk: str, sk: str) -> str:
    return pk + "\x00" + sk


# W9 (and scripts/bench_scale.py): a single-table design. Item collection c
# holds a customer profile (SK "PROFILE") and std_sizes()[c] - 1 orders (SK
# "ORDER#<date>#<order id>", sorting before "PROFILE").
STD_SEED = 20260101
CITIES = ("Berlin", "Lisbon", "Oslo", "Tokyo", "Lima", "Austin", "Lagos", "Pune")
STATUSES = ("open", "shipped", "delivered", "cancelled")


def std_sizes(collections: int, seed: int = STD_SEED) -> list[int]:
    """Items per collection, 1 to 20, the same for every store and run."""
    rng = random.Random(seed)
    return [rng.randint(1, 20) for _ in range(collections)]


def std_pk(c: int) -> str:
    return f"CUSTOMER#{c:07d}"


def std_sk(c: int, j: int) -> str:
    if j == 0:
        return "PROFILE"
    return f"ORDER#{2025 + j % 2}-{1 + (c + j) % 12:02d}-{1 + (c * 7 + j) % 28:02d}#o{c:07d}{j:02d}"


def std_item(c: int, j: int) -> dict[str, Any]:
    """Item j of collection c: the profile (j == 0) or an order."""
    if j == 0:
        return {"PK": std_pk(c), "SK": "PROFILE", "type": "customer", "name": f"Customer {c}",
                "email": f"customer{c}@example.com", "city": CITIES[c % len(CITIES)],
                "created": f"2024-{1 + c % 12:02d}-{1 + c % 28:02d}"}
    sk = std_sk(c, j)
    return {"PK": std_pk(c), "SK": sk, "type": "order", "order_id": sk[-10:],
            "date": sk[6:16], "status": STATUSES[(c + j) % len(STATUSES)],
            "total_cents": (c * 7919 + j * 104729) % 50_000, "item_count": 1 + (c + j) % 5}


def std_dataset(sizes: list[int]) -> list[dict[str, Any]]:
    """Every item, collection after collection (each in sort-key order)."""
    out = []
    for c, size in enumerate(sizes):
        items = [std_item(c, j) for j in range(size)]
        items.sort(key=lambda item: item["SK"])
        out.extend(items)
    return out


# ----------------------------------------------------------------- stores


class Store:
    """Common interface. ``durability`` is "full" (durable on return, fsync)
    or "normal" (survives a killed process)."""

    persistent = True

    def __init__(self, path: str, durability: str) -> None:
        self.path = path
        self.durability = durability

    def put(self, item: dict[str, Any]) -> None:
        raise NotImplementedError

    def load(self, items: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        """Every item of partition key ``pk``, in sort-key order."""
        raise NotImplementedError

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        raise NotImplementedError

    def scan_expr(self) -> Iterable[dict[str, Any]] | None:
        """Items with status == "open" through the store's own filter
        language, or None when it has none."""
        return None

    def close(self) -> None:
        pass


class DynafileStore(Store):
    """This repository's dynafile (or the original 0.1.3 in its own venv: see OrigStore)."""

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        # Key and Attr are imported by the methods that use them: W6 times a
        # new process's import, open and first get, which need neither.
        from dynafile import Dynafile

        self.db = Dynafile(path, pk_attribute="PK", sk_attribute="SK", durability=durability)

    def put(self, item: dict[str, Any]) -> None:
        self.db.put_item(item=item)

    def load(self, items: list[dict[str, Any]]) -> None:
        with self.db.batch_writer() as w:
            for item in items:
                w.put_item(item=item)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.db.get_item(key={"PK": pk, "SK": sk})

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        from dynafile import Key

        return list(self.db.query(pk, sk=Key("SK").begins_with(prefix)))

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        return list(self.db.query(pk))

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        return self.db.scan(pred)

    def scan_expr(self) -> Iterable[dict[str, Any]] | None:
        from dynafile import Attr

        return self.db.scan(filter=Attr("status").eq("open"))

    def close(self) -> None:
        self.db.close()


class OrigStore(Store):
    """dynafile 0.1.3 from PyPI: one pickle file per partition, loaded and
    rewritten (atomicwrites: fsync) by every put; no locking, no log.

    Its batch writer groups *consecutive* actions by partition key into a
    dict, so interleaved partitions overwrite each other's groups (items are
    lost): ``load`` sorts the items by partition key first.
    """

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        from dynafile import Dynafile

        self.db = Dynafile(path, pk_attribute="PK", sk_attribute="SK")

    def put(self, item: dict[str, Any]) -> None:
        self.db.put_item(item=item)

    def load(self, items: list[dict[str, Any]]) -> None:
        ordered = sorted(items, key=lambda item: item["PK"])  # stable: SK order kept
        with self.db.batch_writer() as w:
            for item in ordered:
                w.put_item(item=item)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.db.get_item(key={"PK": pk, "SK": sk})

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        # 0.1.3 only has an inclusive start position: stop at the prefix's end.
        out = []
        for item in self.db.query(pk, starts_with=prefix):
            if not item["SK"].startswith(prefix):
                break
            out.append(item)
        return out

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        return list(self.db.query(pk))

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        return self.db.scan(pred)

    def scan_expr(self) -> Iterable[dict[str, Any]] | None:
        try:
            import filtration  # noqa: F401
        except ImportError:
            return None
        return self.db.scan('status == "open"')  # a filtration string


class SqliteStore(Store):
    """sqlite3: one table (pk, sk, data BLOB, PRIMARY KEY(pk, sk)), WAL, pickled items."""

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        import sqlite3

        os.makedirs(path, exist_ok=True)
        self.conn = sqlite3.connect(os.path.join(path, "db.sqlite"), timeout=120)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self.conn.execute("CREATE TABLE IF NOT EXISTS items "
                          "(pk TEXT, sk TEXT, data BLOB, PRIMARY KEY(pk, sk))")
        self.conn.commit()

    def put(self, item: dict[str, Any]) -> None:
        self.conn.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?)",
                          (item["PK"], item["SK"], pickle.dumps(item, PICKLE)))
        self.conn.commit()

    def load(self, items: list[dict[str, Any]]) -> None:
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?)",
                                  ((i["PK"], i["SK"], pickle.dumps(i, PICKLE)) for i in items))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT data FROM items WHERE pk = ? AND sk = ?",
                                (pk, sk)).fetchone()
        return None if row is None else pickle.loads(row[0])

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT data FROM items WHERE pk = ? AND sk >= ? AND sk < ? ORDER BY sk",
            (pk, prefix, prefix_end(prefix)))
        return [pickle.loads(row[0]) for row in rows]

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT data FROM items WHERE pk = ? ORDER BY sk", (pk,))
        return [pickle.loads(row[0]) for row in rows]

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        loads = pickle.loads
        for (data,) in self.conn.execute("SELECT data FROM items"):
            item = loads(data)
            if pred(item):
                yield item

    def close(self) -> None:
        self.conn.close()


class LmdbStore(Store):
    """LMDB: key "pk\\0sk" (sorted, so prefix queries are a cursor range), pickled items."""

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        import lmdb

        full = durability == "full"
        os.makedirs(path, exist_ok=True)
        self.env = lmdb.open(path, map_size=8 << 30, sync=full, metasync=full)

    def put(self, item: dict[str, Any]) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(kv_key(item["PK"], item["SK"]).encode(), pickle.dumps(item, PICKLE))

    def load(self, items: list[dict[str, Any]]) -> None:
        with self.env.begin(write=True) as txn:
            for item in items:
                txn.put(kv_key(item["PK"], item["SK"]).encode(), pickle.dumps(item, PICKLE))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        with self.env.begin() as txn:
            data = txn.get(kv_key(pk, sk).encode())
        return None if data is None else pickle.loads(data)

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        lo, hi = kv_key(pk, prefix).encode(), kv_key(pk, prefix_end(prefix)).encode()
        out = []
        with self.env.begin() as txn:
            cur = txn.cursor()
            if cur.set_range(lo):
                for key, data in cur:
                    if key >= hi:
                        break
                    out.append(pickle.loads(data))
        return out

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        lo, hi = (pk + "\x00").encode(), (pk + "\x01").encode()
        out = []
        with self.env.begin() as txn:
            cur = txn.cursor()
            if cur.set_range(lo):
                for key, data in cur:
                    if key >= hi:
                        break
                    out.append(pickle.loads(data))
        return out

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        loads = pickle.loads
        with self.env.begin() as txn:
            for data in txn.cursor().iternext(keys=False, values=True):
                item = loads(data)
                if pred(item):
                    yield item

    def close(self) -> None:
        self.env.close()


class DiskcacheStore(Store):
    """diskcache.Cache (sqlite + WAL underneath), key (pk, sk). No range
    queries: a prefix query walks every key."""

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        import diskcache

        self.cache = diskcache.Cache(path, sqlite_synchronous=2 if durability == "full" else 1,
                                     size_limit=1 << 40)

    def put(self, item: dict[str, Any]) -> None:
        self.cache.set((item["PK"], item["SK"]), item)

    def load(self, items: list[dict[str, Any]]) -> None:
        with self.cache.transact():
            for item in items:
                self.cache.set((item["PK"], item["SK"]), item)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.cache.get((pk, sk))

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        keys = sorted(k for k in self.cache.iterkeys() if k[0] == pk and k[1].startswith(prefix))
        return [self.cache.get(k) for k in keys]

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        keys = sorted(k for k in self.cache.iterkeys() if k[0] == pk)
        return [self.cache.get(k) for k in keys]

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        get = self.cache.get
        for key in self.cache.iterkeys():
            item = get(key)
            if pred(item):
                yield item

    def close(self) -> None:
        self.cache.close()


class SqlitedictStore(Store):
    """sqlitedict (autocommit; sqlite's default rollback journal, synchronous
    FULL), key "pk\\0sk". Prefix queries walk every item."""

    def __init__(self, path: str, durability: str, autocommit: bool = True) -> None:
        super().__init__(path, durability)
        from sqlitedict import SqliteDict

        os.makedirs(path, exist_ok=True)
        self.d = SqliteDict(os.path.join(path, "db.sqlite"), autocommit=autocommit)

    def put(self, item: dict[str, Any]) -> None:
        self.d[kv_key(item["PK"], item["SK"])] = item

    def load(self, items: list[dict[str, Any]]) -> None:
        # one transaction, the natural bulk way
        self.d.autocommit = False
        self.d.update((kv_key(i["PK"], i["SK"]), i) for i in items)
        self.d.commit()

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.d.get(kv_key(pk, sk))

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        start = kv_key(pk, prefix)
        return [v for k, v in sorted(self.d.items(), key=lambda kv: kv[0]) if k.startswith(start)]

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        start = pk + "\x00"
        return [v for k, v in sorted(self.d.items(), key=lambda kv: kv[0]) if k.startswith(start)]

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        return (v for v in self.d.values() if pred(v))

    def close(self) -> None:
        self.d.close()


class TinydbStore(Store):
    """TinyDB with its default JSON storage: every write rewrites the whole
    file (no fsync), every read parses it."""

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        from tinydb import Query, TinyDB

        os.makedirs(path, exist_ok=True)
        self.q = Query()
        self.db = TinyDB(os.path.join(path, "db.json"))

    def put(self, item: dict[str, Any]) -> None:
        self.db.insert(item)  # every key is new in these workloads: insert, not upsert

    def load(self, items: list[dict[str, Any]]) -> None:
        self.db.insert_multiple(items)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        q = self.q
        return self.db.get((q.PK == pk) & (q.SK == sk))

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        q = self.q
        found = self.db.search((q.PK == pk) & q.SK.test(lambda s: s.startswith(prefix)))
        return sorted(found, key=lambda item: item["SK"])

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        return sorted(self.db.search(self.q.PK == pk), key=lambda item: item["SK"])

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        return [item for item in self.db.all() if pred(item)]

    def scan_expr(self) -> Iterable[dict[str, Any]] | None:
        return self.db.search(self.q.status == "open")

    def close(self) -> None:
        self.db.close()


class ShelveStore(Store):
    """shelve (on whatever dbm this Python has), key "pk\\0sk", pickled
    values, no fsync. Prefix queries walk every key."""

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        import shelve

        os.makedirs(path, exist_ok=True)
        self.sh = shelve.open(os.path.join(path, "db"), protocol=PICKLE)

    def put(self, item: dict[str, Any]) -> None:
        self.sh[kv_key(item["PK"], item["SK"])] = item

    def load(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.sh[kv_key(item["PK"], item["SK"])] = item
        self.sh.sync()

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.sh.get(kv_key(pk, sk))

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        start = kv_key(pk, prefix)
        return [self.sh[k] for k in sorted(k for k in self.sh if k.startswith(start))]

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        start = pk + "\x00"
        return [self.sh[k] for k in sorted(k for k in self.sh if k.startswith(start))]

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        return (v for v in self.sh.values() if pred(v))

    def close(self) -> None:
        self.sh.close()


class MotoStore(Store):
    """boto3's DynamoDB Table against moto's in-memory DynamoDB (mock_aws)."""

    persistent = False

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", "us-east-1")):
            os.environ[name] = value
        import boto3
        from boto3.dynamodb.conditions import Attr, Key
        from moto import mock_aws

        self._key, self._attr = Key, Attr
        self._mock = mock_aws()
        self._mock.start()
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        self.table = ddb.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")

    def put(self, item: dict[str, Any]) -> None:
        self.table.put_item(Item=item)

    def load(self, items: list[dict[str, Any]]) -> None:
        with self.table.batch_writer() as w:
            for item in items:
                w.put_item(Item=item)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"PK": pk, "SK": sk}).get("Item")

    def _pages(self, call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            response = call(**kwargs)
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        cond = self._key("PK").eq(pk) & self._key("SK").begins_with(prefix)
        return list(self._pages(self.table.query, KeyConditionExpression=cond))

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        return list(self._pages(self.table.query, KeyConditionExpression=self._key("PK").eq(pk)))

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterable[dict[str, Any]]:
        return (item for item in self._pages(self.table.scan) if pred(item))

    def scan_expr(self) -> Iterable[dict[str, Any]] | None:
        return self._pages(self.table.scan, FilterExpression=self._attr("status").eq("open"))

    def close(self) -> None:
        self._mock.stop()


class PyLimitStore(Store):
    """Python's limit: a dict per partition key (sort key -> pickled item) in
    memory and an append-only log of length-prefixed pickled records, with
    an fdatasync per write in "full" mode; a new process replays the log on
    open. No validation, no locking, no indexes, no checkpoint: what any
    pure-Python store pays at least (the pickling, the syscalls, dict work)."""

    _LEN = struct.Struct("<I")

    def __init__(self, path: str, durability: str) -> None:
        super().__init__(path, durability)
        os.makedirs(path, exist_ok=True)
        log = os.path.join(path, "log")
        self.data: dict[str, dict[str, bytes]] = {}
        if os.path.exists(log):
            with open(log, "rb") as f:
                buf = f.read()
            pos = 0
            while pos + 4 <= len(buf):
                (n,) = self._LEN.unpack_from(buf, pos)
                if pos + 4 + n > len(buf):
                    break  # a torn tail
                pk, sk, data = pickle.loads(buf[pos + 4:pos + 4 + n])
                self.data.setdefault(pk, {})[sk] = data
                pos += 4 + n
        self.fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _record(self, item: dict[str, Any]) -> bytes:
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        pk, sk = item["PK"], item["SK"]
        self.data.setdefault(pk, {})[sk] = data
        body = pickle.dumps((pk, sk, data), protocol=pickle.HIGHEST_PROTOCOL)
        return self._LEN.pack(len(body)) + body

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        if self.durability == "full":
            os.fdatasync(self.fd)

    def put(self, item: dict[str, Any]) -> None:
        self._append(self._record(item))

    def load(self, items: list[dict[str, Any]]) -> None:
        self._append(b"".join([self._record(item) for item in items]))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        data = self.data.get(pk, {}).get(sk)
        return None if data is None else pickle.loads(data)

    def query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        part = self.data.get(pk, {})
        return [pickle.loads(part[sk]) for sk in sorted(part) if sk.startswith(prefix)]

    def query_collection(self, pk: str) -> list[dict[str, Any]]:
        part = self.data.get(pk, {})
        return [pickle.loads(part[sk]) for sk in sorted(part)]

    def scan_callable(self, pred: Callable[[dict[str, Any]], bool]) -> Iterator[dict[str, Any]]:
        for part in self.data.values():
            for data in part.values():
                item = pickle.loads(data)
                if pred(item):
                    yield item

    def close(self) -> None:
        os.close(self.fd)


STORES = {
    "dynafile": DynafileStore,
    "dynafile-0.1.3": OrigStore,
    "sqlite3": SqliteStore,
    "lmdb": LmdbStore,
    "diskcache": DiskcacheStore,
    "sqlitedict": SqlitedictStore,
    "tinydb": TinydbStore,
    "shelve": ShelveStore,
    "moto": MotoStore,
    "pylimit": PyLimitStore,
}


def open_store(spec: dict[str, Any], durability: str | None = None) -> Store:
    return STORES[spec["store"]](spec["path"], durability or spec.get("durability", "normal"))


# -------------------------------------------------------------- helpers


def disk_bytes(path: str) -> int:
    """Bytes allocated on disk under ``path`` (what ``du`` counts)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            total += st.st_blocks * 512
    return total


def apparent_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def disk_parts(path: str) -> dict[str, int]:
    """``disk_bytes`` of each top-level entry of ``path`` (log/, data/, db.sqlite, ...)."""
    parts = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            parts[name + "/"] = disk_bytes(full)
        else:
            parts[name] = os.lstat(full).st_blocks * 512
    return parts


def dynafile_retention0(path: str) -> dict[str, Any]:
    """The size of a copy of the database at ``path`` after a checkpoint with
    ``retention=0`` (which frees the log the checkpoint covers); the copy is
    removed, ``path`` is left as it was."""
    import shutil

    from dynafile import Dynafile

    copy = path.rstrip(os.sep) + "-retention0"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(path, copy)
    try:
        db = Dynafile(copy, retention=0)
        db.checkpoint()
        db.close()
        return {"disk_bytes": disk_bytes(copy), "apparent_bytes": apparent_bytes(copy),
                "parts": disk_parts(copy)}
    finally:
        shutil.rmtree(copy, ignore_errors=True)


class Profile:
    """pyinstrument around the timed section when the spec asks for it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.out = spec.get("profile")
        self.profiler = None

    def __enter__(self) -> Profile:
        if self.out:
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.0005)
            self.profiler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            with open(self.out, "w") as f:
                f.write(self.profiler.output_text(unicode=False, color=False, show_all=False))


def dataset(n: int) -> list[dict[str, Any]]:
    return [make_item(i) for i in range(n)]


def prepared(spec: dict[str, Any]) -> Store:
    """Open the dataset store of a read workload; load it first for an in-memory store."""
    store = open_store(spec)
    if not store.persistent:
        store.load(dataset(spec["dataset"]))
    return store


# ------------------------------------------------------------ workloads


def w_puts(spec: dict[str, Any]) -> dict[str, Any]:
    """W1: single puts, each durable on return at the spec's durability."""
    n = spec["n"]
    items = dataset(n)
    store = open_store(spec)
    with Profile(spec):
        t = time.perf_counter()
        for item in items:
            store.put(item)
        elapsed = time.perf_counter() - t
    check = store.get(items[-1]["PK"], items[-1]["SK"])
    store.close()
    return {"ops": n, "seconds": elapsed, "ok": check is not None and check["amount"] == n - 1}


def w_load(spec: dict[str, Any]) -> dict[str, Any]:
    """W2: a batch load of n items (the store's bulk path), then close."""
    n = spec["n"]
    items = dataset(n)
    store = open_store(spec)
    with Profile(spec):
        t = time.perf_counter()
        store.load(items)
        elapsed = time.perf_counter() - t
    t = time.perf_counter()
    store.close()
    close_s = time.perf_counter() - t
    result = {"ops": n, "seconds": elapsed, "close_seconds": close_s}
    result.update(sizes_after_close(spec))
    return result


def sizes_after_close(spec: dict[str, Any]) -> dict[str, Any]:
    """Bytes on disk of a closed store (for dynafile also with retention=0)."""
    if not STORES[spec["store"]].persistent:
        return {}
    path = spec["path"]
    out: dict[str, Any] = {"disk_bytes": disk_bytes(path), "apparent_bytes": apparent_bytes(path),
                           "disk_parts": disk_parts(path)}
    if spec["store"] == "dynafile":
        out["retention0"] = dynafile_retention0(path)
    return out


def w_gets(spec: dict[str, Any]) -> dict[str, Any]:
    """W3: n point gets of random existing keys."""
    n, size = spec["n"], spec["dataset"]
    rng = random.Random(42)
    keys = [(f"user#{i % PARTITIONS}", f"order#{i:08d}")
            for i in (rng.randrange(size) for _ in range(n))]
    store = prepared(spec)
    found = 0
    get = store.get
    with Profile(spec):
        t = time.perf_counter()
        for pk, sk in keys:
            if get(pk, sk) is not None:
                found += 1
        elapsed = time.perf_counter() - t
    # The same gets again: the process's caches are warm now.
    t = time.perf_counter()
    for pk, sk in keys:
        get(pk, sk)
    warm = time.perf_counter() - t
    store.close()
    return {"ops": n, "seconds": elapsed, "found": found, "warm_seconds": warm}


def w_queries(spec: dict[str, Any]) -> dict[str, Any]:
    """W4: n queries of one partition by sort-key prefix."""
    n, prefix = spec["n"], spec["prefix"]
    store = prepared(spec)
    matched = 0
    with Profile(spec):
        t = time.perf_counter()
        for q in range(n):
            matched += len(store.query_prefix(f"user#{q % PARTITIONS}", prefix))
        elapsed = time.perf_counter() - t
    t = time.perf_counter()  # the same queries again, caches warm
    for q in range(n):
        store.query_prefix(f"user#{q % PARTITIONS}", prefix)
    warm = time.perf_counter() - t
    store.close()
    return {"ops": n, "seconds": elapsed, "matched": matched, "warm_seconds": warm}


def w_scan(spec: dict[str, Any]) -> dict[str, Any]:
    """W5: one scan of the dataset filtering status == "open"; ops = items scanned."""
    store = prepared(spec)
    with Profile(spec):
        t = time.perf_counter()
        if spec["how"] == "expr":
            result = store.scan_expr()
            if result is None:
                store.close()
                return {"skipped": "no filter expression language"}
        else:
            result = store.scan_callable(is_open)
        matched = sum(1 for _ in result)
        elapsed = time.perf_counter() - t
    store.close()
    return {"ops": spec["dataset"], "seconds": elapsed, "matched": matched}


def w_cold(spec: dict[str, Any]) -> dict[str, Any]:
    """W6, in a fresh process that ``bench_cold.py`` started: it imported the
    store's library first (``spec["import_ms"]``); open the store, get one item."""
    cls = STORES[spec["store"]]
    i = spec["dataset"] // 2 + 7
    opening = time.perf_counter()
    store = cls(spec["path"], "normal")
    opened = time.perf_counter()
    item = store.get(f"user#{i % PARTITIONS}", f"order#{i:08d}")
    got = time.perf_counter()
    store.close()
    return {"import_ms": spec["import_ms"], "open_ms": (opened - opening) * 1e3,
            "get_ms": (got - opened) * 1e3, "first_get_ms": (got - opening) * 1e3,
            "ok": item is not None and item["amount"] == i, "ops": 1,
            "seconds": got - opening, "module": spec["module"]}


def w_grow(spec: dict[str, Any]) -> dict[str, Any]:
    """W7: n puts into one partition that already holds spec["size"] items."""
    n, size = spec["n"], spec["size"]
    hot = "user#hot"
    store = open_store(spec)
    store.load([{**make_item(j), "PK": hot} for j in range(size)])
    if store.persistent:  # start from the loaded state as a new process finds it
        store.close()
        store = open_store(spec)
    items = [{**make_item(size + j), "PK": hot} for j in range(n)]
    with Profile(spec):
        t = time.perf_counter()
        for item in items:
            store.put(item)
        elapsed = time.perf_counter() - t
    last = store.get(hot, items[-1]["SK"])
    first = store.get(hot, f"order#{0:08d}")
    store.close()
    return {"ops": n, "seconds": elapsed, "size": size,
            "ok": last is not None and first is not None}


def w_concurrent(spec: dict[str, Any]) -> dict[str, Any]:
    """W8: spec["procs"] processes putting spec["n"] items each at once."""
    procs, n = spec["procs"], spec["n"]
    store = open_store(spec)  # create the store before the writers race to
    store.close()
    children = []
    for p in range(procs):
        child = {**spec, "workload": "W8-child", "proc": p}
        children.append(subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                          json.dumps(child)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True))
    for c in children:  # every writer has opened the store
        line = c.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"W8 child failed to start: {line!r}")
    for c in children:
        c.stdin.write("go\n")
        c.stdin.flush()
    results = []
    for c in children:
        out, _ = c.communicate(timeout=600)
        if c.returncode != 0:
            raise RuntimeError(f"W8 child exited {c.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    store = open_store(spec)
    missing = 0
    for p in range(procs):
        for j in range(0, n, max(1, n // 50)):
            item = make_item(j)
            if store.get(item["PK"], f"{item['SK']}-p{p}") is None:
                missing += 1
    store.close()
    return {"ops": procs * n, "seconds": end - start, "procs": procs, "missing": missing,
            "per_process_seconds": [r["end"] - r["start"] for r in results]}


def w_concurrent_child(spec: dict[str, Any]) -> dict[str, Any]:
    p, n = spec["proc"], spec["n"]
    items = [{**make_item(j), "SK": f"{make_item(j)['SK']}-p{p}"} for j in range(n)]
    store = open_store(spec)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    for item in items:
        store.put(item)
    end = time.monotonic()
    store.close()
    return {"start": start, "end": end}


def std_prepared(spec: dict[str, Any]) -> tuple[Store, list[int]]:
    """Open W9's store (loading it first when in memory) and its collection sizes."""
    sizes = std_sizes(spec["collections"])
    store = open_store(spec)
    if not store.persistent:
        store.load(std_dataset(sizes))
    return store, sizes


def w_std_load(spec: dict[str, Any]) -> dict[str, Any]:
    """W9-load: batch load of spec["collections"] item collections of 1-20
    items (a profile and orders), then close; ops = items."""
    sizes = std_sizes(spec["collections"])
    items = std_dataset(sizes)
    store = open_store(spec)
    with Profile(spec):
        t = time.perf_counter()
        store.load(items)
        elapsed = time.perf_counter() - t
    t = time.perf_counter()
    store.close()
    close_s = time.perf_counter() - t
    result = {"ops": len(items), "seconds": elapsed, "close_seconds": close_s,
              "collections": len(sizes)}
    result.update(sizes_after_close(spec))
    return result


def w_std_get(spec: dict[str, Any]) -> dict[str, Any]:
    """W9-get: n gets of random existing items (a random collection, a random item of it)."""
    n = spec["n"]
    store, sizes = std_prepared(spec)
    rng = random.Random(7)
    keys = []
    for _ in range(n):
        c = rng.randrange(len(sizes))
        keys.append((std_pk(c), std_sk(c, rng.randrange(sizes[c]))))
    found = 0
    get = store.get
    with Profile(spec):
        t = time.perf_counter()
        for pk, sk in keys:
            item = get(pk, sk)
            if item is not None and item["SK"] == sk:
                found += 1
        elapsed = time.perf_counter() - t
    t = time.perf_counter()  # the same gets again, caches warm
    for pk, sk in keys:
        get(pk, sk)
    warm = time.perf_counter() - t
    store.close()
    return {"ops": n, "seconds": elapsed, "found": found, "warm_seconds": warm}


def w_std_query(spec: dict[str, Any]) -> dict[str, Any]:
    """W9-query: n queries, each for every item of a random collection, in sort-key order."""
    n = spec["n"]
    store, sizes = std_prepared(spec)
    rng = random.Random(11)
    chosen = [rng.randrange(len(sizes)) for _ in range(n)]
    matched = 0
    ordered = True
    with Profile(spec):
        t = time.perf_counter()
        for c in chosen:
            items = store.query_collection(std_pk(c))
            matched += len(items)
            sks = [item["SK"] for item in items]
            ordered = ordered and sks == sorted(sks)
        elapsed = time.perf_counter() - t
    t = time.perf_counter()  # the same queries again, caches warm
    for c in chosen:
        store.query_collection(std_pk(c))
    warm = time.perf_counter() - t
    store.close()
    return {"ops": n, "seconds": elapsed, "matched": matched,
            "expected": sum(sizes[c] for c in chosen), "ordered": ordered,
            "warm_seconds": warm}


def w_shop(spec: dict[str, Any]) -> dict[str, Any]:
    """SHOP (dynafile only): load data/shop.jsonl as scripts/demo.py does (its
    key schema and TTL attribute, a batch writer, then its by_status GSI),
    close; sizes of data/ and of the whole directory, after close and after a
    checkpoint with retention=0."""
    from decimal import Decimal

    from dynafile import Dynafile

    if spec["store"] != "dynafile":
        return {"skipped": "dynafile only"}
    source, path = spec["data"], spec["path"]
    with open(source, encoding="utf-8") as f:
        records = [json.loads(line, parse_float=Decimal) for line in f if line.strip()]
    db = Dynafile(path, pk_attribute="PK", sk_attribute="SK", ttl_attribute="expires",
                  durability=spec.get("durability", "full"))
    with Profile(spec):
        t = time.perf_counter()
        with db.batch_writer() as writer:
            for record in records:
                writer.put_item(item=record)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        db.create_gsi("by_status", pk_attribute="status", sk_attribute="date")
        index_s = time.perf_counter() - t
        t = time.perf_counter()
        db.close()
        close_s = time.perf_counter() - t
    after_close = {"disk_bytes": disk_bytes(path), "apparent_bytes": apparent_bytes(path),
                   "parts": disk_parts(path)}
    data_dir = os.path.join(path, "data")
    data = {"disk_bytes": disk_bytes(data_dir), "apparent_bytes": apparent_bytes(data_dir)}
    db = Dynafile(path, retention=0)
    db.checkpoint()
    db.close()
    retention0 = {"disk_bytes": disk_bytes(path), "apparent_bytes": apparent_bytes(path),
                  "parts": disk_parts(path)}
    db = Dynafile(path)  # the data is all there
    count = sum(1 for _ in db.scan())
    db.close()
    return {"ops": len(records), "seconds": load_s, "load_seconds": load_s,
            "index_seconds": index_s, "close_seconds": close_s,
            "source_bytes": os.path.getsize(source), "items": len(records),
            "collections": len({r["PK"] for r in records}), "data": data,
            "after_close": after_close, "retention0": retention0, "scanned": count,
            "ok": count > 0}


WORKLOADS = {
    "W1": w_puts, "W2": w_load, "W3": w_gets, "W4": w_queries, "W5": w_scan,
    "W6": w_cold, "W7": w_grow, "W8": w_concurrent, "W8-child": w_concurrent_child,
    "W9-load": w_std_load, "W9-get": w_std_get, "W9-query": w_std_query, "SHOP": w_shop,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = WORKLOADS[spec["workload"]](spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
