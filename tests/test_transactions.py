"""Transactions: transact_write / transact_get and optimistic `with db.transaction()`."""

import json
import multiprocessing as mp
import os
import random
import signal
import threading
import time

import pytest
from conftest import snapshot_files

from dynafile import (
    GSI,
    Attr,
    ConditionalCheckFailedError,
    Dynafile,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)

CTX = mp.get_context("spawn")


def k(sk, pk="p"):
    return {"PK": pk, "SK": sk}


@pytest.fixture
def shop(db):
    db.put_item(item={**k("stock"), "qty": 5})
    db.put_item(item={**k("user"), "status": "active"})
    db.put_item(item={**k("cart"), "lines": 2})
    return db


def checkout(db, n=2, token=None, status="active"):
    return db.transact_write([
        {"put": {"item": {**k("order#1"), "n": n}, "condition": Attr("PK").not_exists()}},
        {"update": {"key": k("stock"), "update": "SET qty = qty - :n", "condition": "qty >= :n",
                    "values": {":n": n}}},
        {"delete": {"key": k("cart")}},
        {"condition_check": {"key": k("user"), "condition": Attr("status").eq(status)}},
    ], token=token)


def test_transact_write_applies_every_action(shop):
    events = []
    shop.add_stream_listener(events.append)
    checkout(shop)
    assert shop.get_item(key=k("order#1")) == {**k("order#1"), "n": 2}
    assert shop.get_item(key=k("stock"))["qty"] == 3
    assert shop.get_item(key=k("cart")) is None
    # listeners see the whole transaction, in request order, after commit
    assert [(e.action, (e.new or e.old)["SK"]) for e in events] == [
        ("PUT", "order#1"), ("PUT", "stock"), ("DELETE", "cart")]
    assert len({e.sequence for e in events}) == 1


def test_failed_condition_cancels_everything_with_reasons(shop, db_path):
    events = []
    shop.add_stream_listener(events.append)
    before = snapshot_files(db_path)
    with pytest.raises(TransactionCanceledError) as err:
        shop.transact_write([
            {"put": {"item": {**k("order#1"), "n": 9}}},
            {"update": {"key": k("stock"), "update": "SET qty = qty - :n",
                        "condition": "qty >= :n", "values": {":n": 9},
                        "return_values_on_condition_check_failure": "ALL_OLD"}},
            {"condition_check": {"key": k("user"), "condition": Attr("status").eq("banned")}},
        ])
    codes = [r.code for r in err.value.reasons]
    assert codes == [None, "ConditionalCheckFailed", "ConditionalCheckFailed"]
    assert err.value.reasons[1].item == {**k("stock"), "qty": 5}
    assert err.value.reasons[2].item is None
    assert snapshot_files(db_path) == before
    assert shop.get_item(key=k("order#1")) is None
    assert events == []


def test_runtime_validation_error_is_a_cancellation_reason(shop):
    shop.put_item(item={**k("text"), "qty": "many"})
    with pytest.raises(TransactionCanceledError) as err:
        shop.transact_write([
            {"delete": {"key": k("cart")}},
            {"update": {"key": k("text"), "update": "SET qty = qty + :one",
                        "values": {":one": 1}}},
        ])
    assert [r.code for r in err.value.reasons] == [None, "ValidationError"]
    assert "incorrect data type" in err.value.reasons[1].message
    assert shop.get_item(key=k("cart")) is not None


@pytest.mark.parametrize("actions,fragment", [
    ([], "at least one action"),
    ([{"delete": {"key": k("a")}}, {"put": {"item": k("a")}}], "multiple operations on one item"),
    ([{"frobnicate": {"key": k("a")}}], "unknown action"),
    ([{"put": {"key": k("a")}}], "unknown arguments"),
    ([{"condition_check": {"key": k("a")}}], "needs condition"),
    ([{"update": {"key": k("a"), "update": "SET SK = :v", "values": {":v": 1}}}], "part of the key"),
    ([{"update": {"key": k("a"), "update": "SET x = :v"}}], "not defined"),
    ([{"put": {"item": {"PK": "p"}}}], "SK"),
    ([{"delete": {"key": k("a")}, "put": {"item": k("b")}}], "one key"),
    ([{"put": {"item": k("a"), "condition": "a = :v", "values": {":v": 1, ":w": 2}}}], "unused"),
])
def test_malformed_requests_raise_validation_errors_and_change_nothing(shop, db_path, actions,
                                                                        fragment):
    before = snapshot_files(db_path)
    with pytest.raises(ValidationError, match=fragment):
        shop.transact_write(actions)
    assert snapshot_files(db_path) == before


def test_action_limit_default_and_configurable(db):
    actions = [{"put": {"item": k(f"{i:03d}")}} for i in range(101)]
    with pytest.raises(ValidationError, match="at most 100"):
        db.transact_write(actions)
    db.transact_write(actions, max_actions=200)
    assert db.count("p") == 101
    with pytest.raises(ValidationError, match="at most 2"):
        db.transact_write(actions[:3], max_actions=2)


def test_idempotency_token(shop, db_path):
    clock = [1000.0]
    db = Dynafile(db_path, clock=lambda: clock[0])
    checkout(db, token="checkout-8812")
    assert db.get_item(key=k("stock"))["qty"] == 3
    # The same request again: a no-op that succeeds, although its conditions
    # would now fail (the order exists, the cart is gone).
    checkout(db, token="checkout-8812")
    assert db.get_item(key=k("stock"))["qty"] == 3
    # Another process sees the token too.
    other = Dynafile(db_path, clock=lambda: clock[0])
    checkout(other, token="checkout-8812")
    other.close()
    with pytest.raises(ValidationError, match="IdempotentParameterMismatch"):
        checkout(db, n=1, token="checkout-8812")
    # After 10 minutes the token is forgotten: the request runs again (and fails).
    clock[0] += 601
    with pytest.raises(TransactionCanceledError):
        checkout(db, token="checkout-8812")
    assert db.get_item(key=k("stock"))["qty"] == 3
    db.close()


def test_token_survives_checkpoint_and_reopen(shop, db_path):
    checkout(shop, token="t-1")
    shop.checkpoint()
    shop.close()
    db = Dynafile(db_path)
    checkout(db, token="t-1")  # remembered: no cancellation
    assert db.get_item(key=k("stock"))["qty"] == 3
    assert os.listdir(os.path.join(db_path, "data", "x"))  # the tokens' space
    db.close()


def test_transaction_keeps_indexes_in_step(db_path):
    db = Dynafile(db_path, gsis=[GSI("by_status", pk_attribute="status")])
    db.transact_write([
        {"put": {"item": {**k("a"), "status": "open"}}},
        {"put": {"item": {**k("b"), "status": "open"}}},
    ])
    db.transact_write([
        {"update": {"key": k("a"), "set": {"status": "closed"}}},
        {"delete": {"key": k("b")}},
    ])
    assert [i["SK"] for i in db.query("closed", index="by_status")] == ["a"]
    assert list(db.query("open", index="by_status")) == []
    db.close()


def test_transact_get(shop):
    assert shop.transact_get([k("stock"), k("missing"), k("user")]) == [
        {**k("stock"), "qty": 5}, None, {**k("user"), "status": "active"}]
    with pytest.raises(ValidationError, match="multiple operations"):
        shop.transact_get([k("stock"), k("stock")])
    with pytest.raises(ValidationError, match="at most 100"):
        shop.transact_get([k(str(i)) for i in range(101)])


# ------------------------------------------------------- with db.transaction()


def test_transaction_reads_its_own_writes_and_commits_on_exit(shop):
    with shop.transaction() as tx:
        stock = tx.get_item(key=k("stock"))
        tx.update_item(key=k("stock"), set={"qty": stock["qty"] - 1})
        assert tx.get_item(key=k("stock"))["qty"] == 4
        assert shop.get_item(key=k("stock"))["qty"] == 5  # not visible outside yet
        tx.put_item(item={**k("order#2"), "n": 1})
        tx.delete_item(key=k("cart"))
        assert tx.get_item(key=k("cart")) is None
    assert shop.get_item(key=k("stock"))["qty"] == 4
    assert shop.get_item(key=k("order#2"))["n"] == 1
    assert shop.get_item(key=k("cart")) is None


def test_exception_in_block_writes_nothing(shop, db_path):
    before = snapshot_files(db_path)
    with pytest.raises(RuntimeError), shop.transaction() as tx:
        tx.put_item(item={**k("order#3")})
        raise RuntimeError("boom")
    assert snapshot_files(db_path) == before
    assert shop.get_item(key=k("order#3")) is None


def test_conflicting_write_makes_commit_raise(shop, db_path):
    other = Dynafile(db_path)
    with pytest.raises(TransactionConflictError), shop.transaction() as tx:
        qty = tx.get_item(key=k("stock"))["qty"]
        other.put_item(item={**k("stock"), "qty": 100})
        tx.put_item(item={**k("stock"), "qty": qty - 1})
    assert shop.get_item(key=k("stock"))["qty"] == 100
    other.close()


def test_read_after_conflicting_write_raises_early(shop):
    with pytest.raises(TransactionConflictError), shop.transaction() as tx:
        tx.get_item(key=k("stock"))
        shop.put_item(item={**k("stock"), "qty": 1})
        tx.get_item(key=k("user"))  # the snapshot is no longer consistent


def test_unrelated_concurrent_write_does_not_conflict(shop):
    with shop.transaction() as tx:
        tx.get_item(key=k("stock"))
        shop.put_item(item={**k("elsewhere"), "x": 1})
        tx.update_item(key=k("stock"), update="SET qty = qty + :one", values={":one": 1})
    assert shop.get_item(key=k("stock"))["qty"] == 6


def test_decorator_retries_on_conflict(shop):
    attempts = []

    @shop.transaction(retries=3)
    def bump(tx, amount):
        qty = tx.get_item(key=k("stock"))["qty"]
        if not attempts:
            shop.put_item(item={**k("stock"), "qty": qty + 10})  # a concurrent writer
        attempts.append(qty)
        tx.put_item(item={**k("stock"), "qty": qty + amount})
        return qty + amount

    assert bump(1) == 16
    assert attempts == [5, 15]
    assert shop.get_item(key=k("stock"))["qty"] == 16

    @shop.transaction(retries=0)
    def always_conflicts(tx):
        tx.get_item(key=k("stock"))
        shop.update_item(key=k("stock"), add={"qty": 1})
        tx.put_item(item=k("x"))

    with pytest.raises(TransactionConflictError):
        always_conflicts()
    assert shop.get_item(key=k("x")) is None


def test_nesting_and_reuse_are_errors(shop):
    with shop.transaction() as tx:
        with pytest.raises(ValidationError, match="do not nest"), shop.transaction():
            pass
        tx.put_item(item=k("n1"))
    with pytest.raises(ValidationError, match="inside its with block"):
        tx.put_item(item=k("n2"))
    assert shop.get_item(key=k("n1")) is not None
    assert shop.get_item(key=k("n2")) is None


def test_conditions_inside_a_transaction(shop):
    with pytest.raises(ConditionalCheckFailedError), shop.transaction() as tx:
        tx.put_item(item=k("user"), condition=Attr("PK").not_exists())
    with shop.transaction() as tx:
        tx.condition_check(key=k("user"), condition="#s = :a", names={"#s": "status"},
                           values={":a": "active"})
        tx.update_item(key=k("cart"), update="ADD #l :one", names={"#l": "lines"},
                       values={":one": 1},
                       condition=Attr("lines").gte(1))
    assert shop.get_item(key=k("cart"))["lines"] == 3


def test_threads_transfer_without_losing_money(db_path):
    db = Dynafile(db_path, durability="normal")
    for a in range(5):
        db.put_item(item={**k(f"acct{a}"), "balance": 100})

    def worker(seed):
        rng = random.Random(seed)

        @db.transaction(retries=1000)
        def transfer(tx, src, dst, amount):
            s = tx.get_item(key=k(src))
            d = tx.get_item(key=k(dst))
            if s["balance"] < amount:
                return
            tx.put_item(item={**s, "balance": s["balance"] - amount})
            tx.put_item(item={**d, "balance": d["balance"] + amount})

        for _ in range(100):
            src, dst = rng.sample(range(5), 2)
            transfer(f"acct{src}", f"acct{dst}", rng.randint(1, 30))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    balances = [db.get_item(key=k(f"acct{a}"))["balance"] for a in range(5)]
    assert sum(balances) == 500 and min(balances) >= 0
    db.close()


# --------------------------------------------------------------- processes

ACCOUNTS = 20


def _bank_worker(path, seed, n, mode):
    db = Dynafile(path, durability="normal")
    rng = random.Random(seed)

    @db.transaction(retries=10_000)
    def transfer(tx, src, dst, amount):
        s = tx.get_item(key=k(f"acct{src:02d}", "bank"))
        d = tx.get_item(key=k(f"acct{dst:02d}", "bank"))
        if s["balance"] < amount:
            return
        tx.update_item(key=k(f"acct{src:02d}", "bank"), set={"balance": s["balance"] - amount})
        tx.update_item(key=k(f"acct{dst:02d}", "bank"), set={"balance": d["balance"] + amount})

    for _ in range(n):
        src, dst = rng.sample(range(ACCOUNTS), 2)
        amount = rng.randint(1, 60)
        if mode == "tx":
            transfer(src, dst, amount)
        else:
            try:
                db.transact_write([
                    {"update": {"key": k(f"acct{src:02d}", "bank"),
                                "update": "SET balance = balance - :a",
                                "condition": "balance >= :a", "values": {":a": amount}}},
                    {"update": {"key": k(f"acct{dst:02d}", "bank"),
                                "update": "SET balance = balance + :a", "values": {":a": amount}}},
                ])
            except TransactionCanceledError:
                pass
    db.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["tx", "transact_write"])
def test_bank_transfers_across_processes(db_path, mode):
    db = Dynafile(db_path, durability="normal")
    with db.batch_writer() as w:
        for a in range(ACCOUNTS):
            w.put_item(item={**k(f"acct{a:02d}", "bank"), "balance": 100})
    procs = [CTX.Process(target=_bank_worker, args=(db_path, seed, 250, mode))
             for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(200)
        assert p.exitcode == 0
    balances = [item["balance"] for item in db.query("bank")]
    assert len(balances) == ACCOUNTS
    assert sum(balances) == 100 * ACCOUNTS
    assert min(balances) >= 0
    assert balances != [100] * ACCOUNTS  # money did move
    db.close()


def _crash_loop(path, seed):
    """Commit transfers that also bump a counter and log the transfer, forever."""
    db = Dynafile(path, durability="full")
    rng = random.Random(seed)
    while True:
        n = db.get_item(key=k("counter", "bank"))["n"]
        src, dst = rng.sample(range(5), 2)
        try:
            db.transact_write([
                {"update": {"key": k(f"acct{src}", "bank"), "update": "SET balance = balance - :a",
                            "condition": "balance >= :a", "values": {":a": 7}}},
                {"update": {"key": k(f"acct{dst}", "bank"), "update": "SET balance = balance + :a",
                            "values": {":a": 7}}},
                {"update": {"key": k("counter", "bank"), "set": {"n": n + 1}}},
                {"put": {"item": {**k(f"log{n + 1:06d}", "bank"), "src": src, "dst": dst}}},
            ])
        except TransactionCanceledError:
            pass


@pytest.mark.timeout(240)
def test_sigkill_during_transactions_is_all_or_nothing(db_path):
    db = Dynafile(db_path)
    with db.batch_writer() as w:
        for a in range(5):
            w.put_item(item={**k(f"acct{a}", "bank"), "balance": 50})
        w.put_item(item={**k("counter", "bank"), "n": 0})
    db.close()
    rng = random.Random(7)
    committed = 0
    for round_ in range(200):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                _crash_loop(db_path, round_)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.002, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        db = Dynafile(db_path)
        items = {i["SK"]: i for i in db.query("bank")}
        n = items["counter"]["n"]
        logs = sorted(sk for sk in items if sk.startswith("log"))
        assert logs == [f"log{i:06d}" for i in range(1, n + 1)]
        assert sum(items[f"acct{a}"]["balance"] for a in range(5)) == 250
        assert min(items[f"acct{a}"]["balance"] for a in range(5)) >= 0
        assert n >= committed
        committed = n
        db.close()
    assert committed > 50  # the loop did commit transactions between the kills


# ------------------------------------------------------- token cost (issue 12: 3)


def _token_space(db):
    """The token space's two collections: ``{token: record}`` and
    ``{expiry key: record}``."""
    core = db._core.database
    with core.reading() as engine:
        return ({k: json.loads(bytes(v)) for k, v in
                 engine.collection(engine.digest("tokens"), "tokens", "x").items.items()},
                {k: json.loads(bytes(v)) for k, v in
                 engine.collection(engine.digest("expiry"), "expiry", "x").items.items()})


def _seed_tokens(db, count, time_):
    """Record ``count`` live tokens at ``time_`` in one log record, as that
    many transactions would have (both collections of the token space)."""
    from dynafile.storage.log import Op

    record = json.dumps({"request": "seeded", "time": time_}).encode()
    ops = []
    for i in range(count):
        token = f"seed-{i:06d}"
        ops.append(Op("tokens", token, record, None, 0, "x"))
        ops.append(Op("expiry", f"{int(time_ * 1_000_000):020d} {token}", record, None, 0, "x"))
    db._core.database.write(lambda: (ops, None))


class _CountingJson:
    """The json module, counting loads (each is one token record decoded)."""

    def __init__(self):
        self.loads_calls = 0

    def loads(self, *args, **kwargs):
        self.loads_calls += 1
        return json.loads(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(json, name)


def _token_transactions(db, count, prefix):
    for i in range(count):
        db.transact_write([{"put": {"item": {**k(f"{prefix}{i}"), "n": i}}}],
                          token=f"{prefix}-{i}")


@pytest.mark.parametrize("live", [1_000, 20_000])
def test_token_work_per_transaction_does_not_grow_with_live_tokens(db_path, monkeypatch, live):
    from dynafile import transactions

    clock = [10_000.0]
    db = Dynafile(db_path, clock=lambda: clock[0])
    _seed_tokens(db, live, clock[0])
    counter = _CountingJson()
    monkeypatch.setattr(transactions, "json", counter)
    _token_transactions(db, 50, "t")
    # a few records decoded per transaction (the token's own, the oldest
    # one or two), never one per live token (before: every live token)
    assert counter.loads_calls <= 50 * 4, counter.loads_calls
    db.close()


def test_token_cost_per_transaction_at_20k_tokens_is_close_to_1k(tmp_path):
    costs = {}
    for live in (1_000, 20_000):
        db = Dynafile(str(tmp_path / str(live)), clock=lambda: 10_000.0)
        _seed_tokens(db, live, 10_000.0)
        _token_transactions(db, 20, "warm")  # caches loaded, as in steady state
        best = None
        for attempt in range(3):  # best of three: timing noise only ever adds
            start = time.perf_counter()
            _token_transactions(db, 200, f"r{attempt}")
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
        costs[live] = best
        db.close()
    # before: 1.9 ms at 1k tokens, 47.9 ms at 20k (a walk of every token)
    assert costs[20_000] / costs[1_000] < 3, costs


def test_expired_tokens_are_forgotten_a_few_per_transaction(db_path):
    clock = [10_000.0]
    db = Dynafile(db_path, clock=lambda: clock[0])
    _seed_tokens(db, 30, clock[0])
    clock[0] += 601  # all 30 expired
    _token_transactions(db, 1, "a")
    tokens, expiry = _token_space(db)
    assert len(tokens) == 30 + 1 - 8 and len(expiry) == len(tokens)
    _token_transactions(db, 3, "b")
    tokens, expiry = _token_space(db)
    assert sorted(tokens) == ["a-0", "b-0", "b-1", "b-2"]
    # the two collections mirror each other: one "expiry" entry per token,
    # keyed by the record's time (microseconds) and the token
    assert sorted(expiry) == sorted(f"{int(r['time'] * 1_000_000):020d} {t}"
                                    for t, r in tokens.items())
    assert all(expiry[f"{int(r['time'] * 1_000_000):020d} {t}"] == r
               for t, r in tokens.items())
    assert db.check().ok
    db.close()


def test_reused_token_after_expiry_keeps_one_expiry_entry(shop, db_path):
    clock = [1000.0]
    db = Dynafile(db_path, clock=lambda: clock[0])
    checkout(db, token="t-1")
    clock[0] += 601
    with pytest.raises(TransactionCanceledError):  # forgotten: runs again, and fails
        checkout(db, token="t-1")
    db.transact_write([{"put": {"item": {**k("x"), "n": 1}}}], token="t-1")
    tokens, expiry = _token_space(db)
    assert list(tokens) == ["t-1"] and tokens["t-1"]["time"] == 1601.0
    assert list(expiry) == [f"{1601 * 1_000_000:020d} t-1"]
    clock[0] += 100
    db.transact_write([{"put": {"item": {**k("x"), "n": 1}}}], token="t-1")  # remembered
    with pytest.raises(ValidationError, match="IdempotentParameterMismatch"):
        db.transact_write([{"put": {"item": {**k("x"), "n": 2}}}], token="t-1")
    db.close()


def test_tokens_without_expiry_entries_get_them_and_expire(db_path):
    # Tokens recorded before the token space had its "expiry" collection.
    from dynafile.storage.log import Op

    clock = [10_000.0]
    db = Dynafile(db_path, clock=lambda: clock[0])
    record = json.dumps({"request": "old", "time": clock[0]}).encode()
    db._core.database.write(lambda: ([Op("tokens", f"old-{i}", record, None, 0, "x")
                                      for i in range(5)], None))
    _token_transactions(db, 1, "a")
    tokens, expiry = _token_space(db)
    assert len(tokens) == len(expiry) == 6
    clock[0] += 601
    _token_transactions(db, 1, "b")
    tokens, _ = _token_space(db)
    assert sorted(tokens) == ["b-0"]
    db.close()


def test_tokens_migrated_from_format_1_expire(tmp_path):
    import tarfile

    fixture = os.path.join(os.path.dirname(__file__), "fixtures", "v1-table.tar.gz")
    with tarfile.open(fixture) as tar:
        tar.extractall(tmp_path, filter="data")
    path = str(tmp_path / "shop")
    clock = [0.0]
    db = Dynafile(path, clock=lambda: clock[0])  # migrates
    tokens, expiry = _token_space(db)
    assert "order-token-1" in tokens
    recorded = tokens["order-token-1"]["time"]
    assert expiry == {f"{int(recorded * 1_000_000):020d} order-token-1": tokens["order-token-1"]}
    clock[0] = recorded + 601
    db.transact_write([{"put": {"item": {**k("new"), "n": 1}}}], token="after")
    tokens, expiry = _token_space(db)
    assert sorted(tokens) == ["after"] and len(expiry) == 1
    db.close()
