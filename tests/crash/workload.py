"""The crash tests' workload and the model that checks what survived it.

A writer runs operations ``i = start, start + 1, ...``; operation ``i`` is a
pure function of ``(seed, i)`` (see :func:`operation`), so the checking side
rebuilds every item it expects from the operation number alone. The writer
reports ``T <i>`` before it starts operation ``i`` and ``A <i> ...`` once
the call returned (acknowledged). :class:`Model` folds those reports and
checks a reopened table against them: every acknowledged write is there,
the one operation in flight at the crash is all there or not at all, no
batch or transaction is partial, no item is partial or unexpected, the
global index agrees with the table and ``check()`` is clean.

The database holds three tables: ``items`` (every operation), ``ledger``
(the items a transaction writes) and ``audit`` (one entry per transaction):
each transaction spans the three, with its counter update in ``items``. Partitions are small (4 KiB), so
checkpoints split them all the time.

Run as a script, this module is the writer (used by the crash tests as a
child process): ``python workload.py PATH SEED START COUNT DURABILITY
[CHECKPOINT_BYTES]``.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

if __name__ == "__main__":  # the child: make `dynafile` importable from the checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from dynafile import GSI, Database, Dynafile

GSIS = [GSI("by_g", "g", "SK")]
COUNTERS = [("ctr", f"c{n}") for n in range(3)]
TX_COUNTER = ("ctr", "tx")


def has_transactions() -> bool:
    """Whether this checkout has ``dynafile/transactions.py`` (transact_write)."""
    import importlib.util

    return importlib.util.find_spec("dynafile.transactions") is not None


TABLE = "items"
LEDGER = "ledger"
AUDIT = "audit"


def open_table(path: str, durability: str = "normal", gsis: Any = None, **kwargs: Any) -> Dynafile:
    """Open the crash tests' table ``items``: one GSI, small checkpoints and
    partitions, and segments that rotate every 6 KiB and are dropped as soon
    as a checkpoint covers them (every process must agree on these: writes
    made while opening, such as a resumed index backfill, rotate too). The
    database's second table, ``ledger``, is created first when missing."""
    options = {"checkpoint_bytes": 12 << 10, "segment_bytes": 6 << 10, "retention": 0,
               "partition_bytes": 4 << 10, "durability": durability}
    options.update(kwargs)
    with Database(path, **options) as database:
        for name in (LEDGER, AUDIT):
            if name not in database.tables():
                database.create_table(name, pk_attribute="PK", sk_attribute="SK")
    return Dynafile(path, gsis=GSIS if gsis is None else gsis, table=TABLE, **options)


def open_ledger(path: str, table: str = LEDGER) -> Dynafile:
    """The ``ledger`` (or ``audit``) table of the crash tests' database."""
    return Dynafile(path, durability="normal", table=table)


# ------------------------------------------------------------------ operations

Key = tuple[str, str]


def _pad(r: random.Random) -> str:
    return "x" * r.choice((0, 10, 100, 700))


def operation(seed: int, i: int, transactions: bool) -> dict[str, Any]:
    """Return operation ``i``: ``{"kind", ...}`` with everything it writes."""
    r = random.Random(f"{seed}:{i}")
    roll = r.random()
    if roll < 0.42:
        key = (f"p{r.randrange(6)}", f"s{r.randrange(40):02d}")
        item = {"PK": key[0], "SK": key[1], "v": i, "pad": _pad(r)}
        if r.random() < 0.8:
            item["g"] = f"g{r.randrange(4)}"
        return {"kind": "put", "key": key, "item": item}
    if roll < 0.50:
        return {"kind": "delete", "key": (f"p{r.randrange(6)}", f"s{r.randrange(40):02d}")}
    if roll < 0.70:
        count = r.randint(2, 12)
        items = [{"PK": f"b{i % 5}", "SK": f"{i:06d}-{j:02d}", "batch": i, "count": count,
                  "g": f"g{r.randrange(4)}", "pad": _pad(r)} for j in range(count)]
        return {"kind": "batch", "items": items}
    if roll < 0.88 or not transactions:
        key = COUNTERS[r.randrange(len(COUNTERS))]
        return {"kind": "update", "key": key, "g": f"g{r.randrange(4)}"}
    count = r.randint(2, 4)
    items = [{"PK": f"t{i % 3}", "SK": f"{i:06d}-{j}", "tx": i, "count": count,
              "g": f"g{r.randrange(4)}"} for j in range(count)]
    return {"kind": "transact", "items": items, "key": TX_COUNTER}


def counter_item(key: Key, n: int, i: int, g: str | None) -> dict[str, Any]:
    item = {"PK": key[0], "SK": key[1], "n": n, "last": i}
    if g is not None:
        item["g"] = g
    return item


def run(db: Dynafile, seed: int, i: int, transactions: bool) -> str:
    """Perform operation ``i`` on ``db``; return the extra text of its ack."""
    op = operation(seed, i, transactions)
    kind = op["kind"]
    if kind == "put":
        db.put_item(item=op["item"])
        return ""
    if kind == "delete":
        db.delete_item(key={"PK": op["key"][0], "SK": op["key"][1]})
        return ""
    if kind == "batch":
        with db.batch_writer(flush_amount=100) as w:
            for item in op["items"]:
                w.put_item(item=item)
        return ""
    if kind == "update":
        new = db.update_item(key={"PK": op["key"][0], "SK": op["key"][1]},
                             set={"last": i, "g": op["g"]}, add={"n": 1},
                             return_values="ALL_NEW")
        return str(new["n"])
    actions: list[dict[str, Any]] = [{"put": {"table": LEDGER, "item": item}}
                                     for item in op["items"]]
    actions.append({"put": {"table": AUDIT, "item": {"PK": "tx", "SK": f"{i:06d}", "tx": i}}})
    actions.append({"update": {"key": {"PK": TX_COUNTER[0], "SK": TX_COUNTER[1]},
                               "set": {"last": i}, "add": {"n": 1}}})
    db.transact_write(actions)
    return ""


def child_main(argv: list[str]) -> None:
    path, seed, start, count, durability = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), \
        argv[4]
    options = {"checkpoint_bytes": int(argv[5])} if len(argv) > 5 else {}
    transactions = has_transactions()
    db = open_table(path, durability, **options)
    out = sys.stdout
    out.write("OPEN\n")
    out.flush()
    for i in range(start, start + count):
        out.write(f"T {i}\n")
        out.flush()
        extra = run(db, seed, i, transactions)
        out.write(f"A {i} {extra}\n")
        out.flush()
    db.close()
    out.write("DONE\n")
    out.flush()


# ----------------------------------------------------------------------- model


class Model:
    """What the table must hold, from the writer's reports."""

    def __init__(self, seed: int, transactions: bool) -> None:
        self.seed = seed
        self.transactions = transactions
        self.keys: dict[Key, dict[str, Any] | None] = {}  # put/delete/update keys
        self.groups: dict[int, int] = {}  # batch / transaction id -> item count, committed
        self.next_i = 0
        self.acked = 0

    # -- effects

    def effect(self, i: int) -> tuple[dict[Key, dict[str, Any] | None], int | None]:
        """Return ``(key changes, group id)`` of operation ``i`` applied to the model."""
        op = operation(self.seed, i, self.transactions)
        kind = op["kind"]
        if kind == "put":
            return {op["key"]: dict(op["item"])}, None
        if kind == "delete":
            return {op["key"]: None}, None
        if kind == "update":
            old = self.keys.get(op["key"])
            n = (old["n"] if old else 0) + 1
            return {op["key"]: counter_item(op["key"], n, i, op["g"])}, None
        if kind == "transact":
            old = self.keys.get(TX_COUNTER)
            n = (old["n"] if old else 0) + 1
            return {TX_COUNTER: counter_item(TX_COUNTER, n, i, None)}, i
        return {}, i

    def group_items(self, i: int) -> list[dict[str, Any]]:
        return operation(self.seed, i, self.transactions)["items"]

    def apply(self, i: int) -> None:
        changes, group = self.effect(i)
        self.keys.update(changes)
        if group is not None:
            self.groups[group] = len(self.group_items(i))

    # -- reports

    def feed(self, lines: list[str]) -> int | None:
        """Apply the acknowledged operations in ``lines``; return the operation
        in flight at the crash (started, not acknowledged), if any."""
        inflight = None
        for line in lines:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "T":
                inflight = int(parts[1])
                assert inflight == self.next_i, (inflight, self.next_i)
            elif parts[0] == "A":
                i = int(parts[1])
                assert i == inflight, (i, inflight)
                changes, _ = self.effect(i)
                if len(parts) > 2:  # an update reports the counter it saw
                    (item,) = changes.values()
                    assert int(parts[2]) == item["n"], (parts, item)
                self.apply(i)
                self.acked += 1
                self.next_i = i + 1
                inflight = None
        if inflight is not None:
            self.next_i = inflight + 1
        return inflight

    # -- verification

    def verify(self, db: Dynafile, inflight: int | None) -> None:
        """Check ``db`` against the model; then resolve the in-flight operation
        (it either happened or not: the model follows what the table says)."""
        items = list(db.scan())
        by_key = {(item["PK"], item["SK"]): item for item in items}
        assert len(by_key) == len(items), "an item is listed twice"
        with open_ledger(db.path) as ledger:
            entries = list(ledger.scan())
        with open_ledger(db.path, AUDIT) as audit:
            audited = {item["tx"] for item in audit.scan()}
        # a transaction is in all three tables or in none
        assert audited == {item["tx"] for item in entries}, "a transaction is partial"
        assert all("tx" in item for item in entries), "an unexpected item in the ledger"
        assert not any("tx" in item for item in items), "a transaction item in the wrong table"
        changes: dict[Key, dict[str, Any] | None] = {}
        group: int | None = None
        if inflight is not None:
            changes, group = self.effect(inflight)
        happened = None  # whether the in-flight operation is visible: all or nothing
        for key, want in self.keys.items():
            have = by_key.get(key)
            if key in changes and have != want:
                assert have == changes[key], (key, have, want, changes[key])
                happened = _same(happened, True, key)
            elif key in changes and want != changes[key]:
                happened = _same(happened, False, key)
            else:
                assert have == want, (key, have, want)
        for key, new in changes.items():
            if key not in self.keys:
                have = by_key.get(key)
                assert have in (None, new), (key, have, new)
                if new is not None:
                    happened = _same(happened, have is not None, key)
        groups: dict[int, list[dict[str, Any]]] = {}
        for item in entries:
            groups.setdefault(item["tx"], []).append(item)
        for key, item in by_key.items():
            gid = item.get("batch", item.get("tx"))
            if gid is not None:
                groups.setdefault(gid, []).append(item)
            else:
                assert key in self.keys or key in changes, ("unexpected item", item)
        for gid in self.groups:
            assert sorted(groups.get(gid, []), key=_key) == self.group_items(gid), \
                f"group {gid} (acknowledged) is partial or missing"
        for gid, present in groups.items():
            if gid in self.groups:
                continue
            assert gid == group, f"group {gid} is present but was never written"
            assert sorted(present, key=_key) == self.group_items(gid), f"group {gid} is partial"
            happened = _same(happened, True, gid)
        if group is not None and group not in groups and group not in self.groups:
            happened = _same(happened, False, group)
        verify_index(db, items)
        report = db.check()
        assert report.ok, str(report)
        if inflight is not None and happened:
            self.apply(inflight)


def _key(item: dict[str, Any]) -> Key:
    return item["PK"], item["SK"]


def _same(happened: bool | None, now: bool, where: Any) -> bool:
    assert happened in (None, now), f"operation in flight half applied (at {where!r})"
    return now


def verify_index(db: Dynafile, items: list[dict[str, Any]]) -> None:
    """The GSI ``by_g`` holds exactly the items that have ``g``, in SK order."""
    expected: dict[Any, list[dict[str, Any]]] = {}
    for item in items:
        if "g" in item:
            expected.setdefault(item["g"], []).append(item)
    for g in set(expected) | {f"g{n}" for n in range(4)}:
        got = list(db.query(g, index="by_g"))
        want = sorted(expected.get(g, []), key=lambda it: (it["SK"], it["PK"]))
        assert sorted(got, key=lambda it: (it["SK"], it["PK"])) == want, f"index by_g for {g!r}"
        assert [it["SK"] for it in got] == sorted(it["SK"] for it in got)


if __name__ == "__main__":
    child_main(sys.argv[1:])
