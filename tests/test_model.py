"""Model-based test: the table must agree with a dict-of-dicts after every step,
through puts, deletes, batches, checkpoints, reopening and a second instance."""

import os
import shutil
import tempfile

from conftest import abandon
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dynafile import Dynafile

PKS = st.sampled_from(["a", "b", "c", "d"])
SKS = st.one_of(st.text(alphabet="xyz", min_size=1, max_size=3))
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=4), st.none(),
                   st.lists(st.integers(0, 3), max_size=3),
                   st.decimals(min_value=-10, max_value=10, places=2))


class TableModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "db")
        self.db = Dynafile(self.path, durability="normal", checkpoint_bytes=4096)
        self.other = None
        self.model = {}

    def teardown(self):
        self.db.close()
        if self.other is not None:
            self.other.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(pk=PKS, sk=SKS, value=VALUES)
    def put(self, pk, sk, value):
        item = {"PK": pk, "SK": sk, "v": value}
        self.db.put_item(item=item)
        self.model[(pk, sk)] = item

    @rule(pk=PKS, sk=SKS)
    def delete(self, pk, sk):
        self.db.delete_item(key={"PK": pk, "SK": sk})
        self.model.pop((pk, sk), None)

    @rule(ops=st.lists(st.tuples(st.booleans(), PKS, SKS, VALUES), min_size=1, max_size=8))
    def batch(self, ops):
        with self.db.batch_writer(flush_amount=3) as w:
            for is_put, pk, sk, value in ops:
                if is_put:
                    item = {"PK": pk, "SK": sk, "v": value}
                    w.put_item(item=item)
                    self.model[(pk, sk)] = item
                else:
                    w.delete_item(key={"PK": pk, "SK": sk})
                    self.model.pop((pk, sk), None)

    @rule()
    def checkpoint(self):
        self.db.checkpoint()

    @rule()
    def reopen(self):
        self.db.close()
        self.db = Dynafile(self.path, durability="normal", checkpoint_bytes=4096)

    @rule()
    def crash_reopen(self):
        abandon(self.db)  # no checkpoint: the next open replays the log
        self.db = Dynafile(self.path, durability="normal", checkpoint_bytes=4096)

    @precondition(lambda self: self.other is None)
    @rule()
    def open_second(self):
        self.other = Dynafile(self.path, durability="normal", checkpoint_bytes=4096)

    @precondition(lambda self: self.other is not None)
    @rule(pk=PKS, sk=SKS, value=VALUES)
    def put_through_second(self, pk, sk, value):
        item = {"PK": pk, "SK": sk, "v": value}
        self.other.put_item(item=item)
        self.model[(pk, sk)] = item

    @invariant()
    def agrees(self):
        for table in filter(None, (self.db, self.other)):
            got = {(i["PK"], i["SK"]): i for i in table.scan()}
            assert got == self.model
            for pk in {k[0] for k in self.model}:
                sks = [i["SK"] for i in table.query(pk)]
                assert sks == sorted(k[1] for k in self.model if k[0] == pk)
                assert [i["SK"] for i in table.query(pk, scan_index_forward=False)] == sks[::-1]


TableModel.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_table_model = TableModel.TestCase

