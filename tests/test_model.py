"""Model-based test: the table must agree with a dict-of-dicts after every step,
through puts, updates, deletes, batches, transactions, TTL with a moving
clock, sweeps, a global and a local index, checkpoints that split tiny
partitions, reopening, a crash and a second instance; and ``check()`` must
find nothing wrong."""

import os
import shutil
import tempfile

from conftest import abandon
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dynafile import GSI, LSI, Dynafile

PKS = st.sampled_from(["a", "b", "c", "d"])
SKS = st.one_of(st.text(alphabet="xyz", min_size=1, max_size=3))
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=4), st.none(),
                   st.lists(st.integers(0, 3), max_size=3),
                   st.decimals(min_value=-10, max_value=10, places=2))
GROUPS = st.one_of(st.none(), st.sampled_from(["g1", "g2"]))
# partitions this small split at most checkpoints, collections by sort key too
PARTITION = 512
# an expiry relative to the clock: None never expires
EXPIRY = st.one_of(st.none(), st.integers(-5, 20))


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


class TableModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "db")
        self.clock = Clock()
        self.db = Dynafile(self.path, ttl_attribute="exp", durability="normal",
                           checkpoint_bytes=4096, clock=self.clock, partition_bytes=PARTITION,
                           gsis=[GSI("by_g", "g", "SK", projection="KEYS_ONLY")],
                           lsis=[LSI("by_v", "n")])
        self.other = None
        self.model = {}  # (pk, sk) -> item, expired ones included until swept

    def open(self):
        return Dynafile(self.path, durability="normal", checkpoint_bytes=4096, clock=self.clock,
                        partition_bytes=PARTITION)

    def teardown(self):
        self.db.close()
        if self.other is not None:
            self.other.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def item(self, pk, sk, value, group, expiry, n=None):
        item = {"PK": pk, "SK": sk, "v": value}
        if group is not None:
            item["g"] = group
        if expiry is not None:
            item["exp"] = self.clock.now + expiry
        if n is not None:
            item["n"] = n
        return item

    def visible(self):
        now = self.clock.now
        return {k: i for k, i in self.model.items() if not ("exp" in i and i["exp"] < now)}

    @rule(pk=PKS, sk=SKS, value=VALUES, group=GROUPS, expiry=EXPIRY,
          n=st.one_of(st.none(), st.integers(0, 3)))
    def put(self, pk, sk, value, group, expiry, n):
        item = self.item(pk, sk, value, group, expiry, n)
        self.db.put_item(item=item)
        self.model[(pk, sk)] = item

    @rule(pk=PKS, sk=SKS, group=GROUPS)
    def update(self, pk, sk, group):
        key = {"PK": pk, "SK": sk}
        new = self.db.update_item(key=key, set={"g": group} if group else {"v": 0},
                                  add={"n": 1}, return_values="ALL_NEW")
        base = dict(self.visible().get((pk, sk), key))
        base["n"] = base.get("n", 0) + 1
        base.update({"g": group} if group else {"v": 0})
        assert new == base
        self.model[(pk, sk)] = base

    @rule(pk=PKS, sk=SKS)
    def delete(self, pk, sk):
        self.db.delete_item(key={"PK": pk, "SK": sk})
        self.model.pop((pk, sk), None)

    @rule(ops=st.lists(st.tuples(st.booleans(), PKS, SKS, VALUES, GROUPS, EXPIRY),
                       min_size=1, max_size=8),
          flush=st.one_of(st.none(), st.just(3)))
    def batch(self, ops, flush):
        with self.db.batch_writer(flush_amount=flush) as w:
            for is_put, pk, sk, value, group, expiry in ops:
                if is_put:
                    item = self.item(pk, sk, value, group, expiry)
                    w.put_item(item=item)
                    self.model[(pk, sk)] = item
                else:
                    w.delete_item(key={"PK": pk, "SK": sk})
                    self.model.pop((pk, sk), None)

    @rule(pk=PKS, sks=st.lists(SKS, min_size=1, max_size=3, unique=True), group=GROUPS)
    def transact(self, pk, sks, group):
        actions = [{"put": {"item": self.item(pk, sk, "tx", group, None)}} for sk in sks]
        self.db.transact_write(actions)
        for sk in sks:
            self.model[(pk, sk)] = self.item(pk, sk, "tx", group, None)

    @rule(pk=PKS, sk=SKS)
    def optimistic(self, pk, sk):
        with self.db.transaction() as tx:
            current = tx.get_item(key={"PK": pk, "SK": sk})
            if current is None:
                tx.put_item(item={"PK": pk, "SK": sk, "v": "opt"})
            else:
                tx.delete_item(key={"PK": pk, "SK": sk})
        if current is None:
            self.model[(pk, sk)] = {"PK": pk, "SK": sk, "v": "opt"}
        else:
            self.model.pop((pk, sk))

    @rule(seconds=st.integers(1, 10))
    def advance_clock(self, seconds):
        self.clock.now += seconds

    @rule()
    def sweep(self):
        expired = len(self.model) - len(self.visible())
        assert self.db.sweep_expired() == expired
        self.model = self.visible()

    @rule()
    def checkpoint(self):
        self.db.checkpoint()

    @rule()
    def reopen(self):
        self.db.close()
        self.db = self.open()

    @rule()
    def crash_reopen(self):
        abandon(self.db)  # no checkpoint: the next open replays the log
        self.db = self.open()

    @precondition(lambda self: self.other is None)
    @rule()
    def open_second(self):
        self.other = self.open()

    @precondition(lambda self: self.other is not None)
    @rule(pk=PKS, sk=SKS, value=VALUES, group=GROUPS)
    def put_through_second(self, pk, sk, value, group):
        item = self.item(pk, sk, value, group, None)
        self.other.put_item(item=item)
        self.model[(pk, sk)] = item

    @invariant()
    def agrees(self):
        visible = self.visible()
        for table in filter(None, (self.db, self.other)):
            got = {(i["PK"], i["SK"]): i for i in table.scan()}
            assert got == visible
            for pk in {k[0] for k in visible}:
                sks = [i["SK"] for i in table.query(pk)]
                assert sks == sorted(k[1] for k in visible if k[0] == pk)
                assert [i["SK"] for i in table.query(pk, scan_index_forward=False)] == sks[::-1]
                by_n = [(i["n"], i["SK"]) for i in table.query(pk, index="by_v")]
                assert by_n == sorted((i["n"], k[1]) for k, i in visible.items()
                                      if k[0] == pk and "n" in i)
            for group in ("g1", "g2"):
                keys = [(i["SK"], i["PK"]) for i in table.query(group, index="by_g")]
                assert keys == sorted((k[1], k[0]) for k, i in visible.items()
                                      if i.get("g") == group)
        report = self.db.check()
        assert report.ok, report.problems


TableModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_table_model = TableModel.TestCase
