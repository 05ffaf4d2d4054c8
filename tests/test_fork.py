"""A database or stream opened before os.fork() is refused in the child, and
the child's copies never corrupt the parent's files (issue 12, item 1)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys

import pytest

from dynafile import Dynafile, ForkedProcessError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")


def _in_child(fn) -> int:
    """Run ``fn()`` in a forked child; return its exit status (0: fn returned
    normally and its checks held)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if fn() else 2
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_gets_a_clear_error_and_the_parent_goes_on(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    for i in range(50):
        db.put_item(item={"PK": "p", "SK": i})

    def child() -> bool:
        for use in (lambda: db.put_item(item={"PK": "p", "SK": 999}),
                    lambda: db.get_item(key={"PK": "p", "SK": 1}),
                    lambda: list(db.query("p")),
                    lambda: db.checkpoint()):
            try:
                use()
            except ForkedProcessError as exc:
                assert "fork" in str(exc) and "again in this process" in str(exc)
            else:
                return False
        db.close()  # releases the child's copies, writes nothing
        return True

    assert _in_child(child) == 0
    for i in range(50, 100):  # the parent's handle still works, and so does the log
        db.put_item(item={"PK": "p", "SK": i})
    db.close()
    with Dynafile(path) as again:
        assert [i["SK"] for i in again.query("p")] == list(range(100))
        assert again.check().ok


def test_a_child_opens_the_database_itself_and_both_write(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    db.put_item(item={"PK": "parent", "SK": 0})

    def child() -> bool:
        with Dynafile(path, durability="normal") as own:  # its own files and locks
            for i in range(100):
                own.put_item(item={"PK": "child", "SK": i})
        return True

    assert _in_child(child) == 0
    for i in range(1, 100):
        db.put_item(item={"PK": "parent", "SK": i})
    assert db.count("child") == 100 and db.count("parent") == 100
    db.close()
    with Dynafile(path) as again:
        assert again.check().ok


def _pool_put(args):
    path, n = args
    with Dynafile(path, durability="normal") as own:
        own.put_item(item={"PK": "pool", "SK": n})
    return n


def _pool_use_inherited(n):
    return _GLOBAL.get_item(key={"PK": "p", "SK": 0})


_GLOBAL = None


def test_a_fork_pool_with_a_module_level_table(tmp_path):
    """The common mistake: a module-level table used by a fork() pool. Every
    task gets ForkedProcessError, and nothing is corrupted; a pool whose tasks
    open the table themselves works."""
    global _GLOBAL
    path = str(tmp_path / "db")
    _GLOBAL = Dynafile(path, durability="normal")
    _GLOBAL.put_item(item={"PK": "p", "SK": 0})
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        with pytest.raises(ForkedProcessError):
            pool.map(_pool_use_inherited, range(4))
        assert sorted(pool.map(_pool_put, [(path, n) for n in range(8)])) == list(range(8))
    _GLOBAL.put_item(item={"PK": "p", "SK": 1})
    assert _GLOBAL.count("pool") == 8
    _GLOBAL.close()
    with Dynafile(path) as again:
        assert again.check().ok


def test_a_named_consumer_held_by_the_parent_is_refused_in_the_child(tmp_path):
    path = str(tmp_path / "db")
    db = Dynafile(path, durability="normal")
    for i in range(10):
        db.put_item(item={"PK": "p", "SK": i})
    stream = db.stream(consumer="mailer", from_sequence=0, follow=False)
    first = next(stream)

    def child() -> bool:
        try:
            next(stream)
        except ForkedProcessError:
            stream.close(commit=True)  # stores nothing: the parent's consumer
            return True
        return False

    assert _in_child(child) == 0
    rest = list(stream)  # the parent gets every record, once
    assert [r.new["SK"] for r in [first, *rest]] == list(range(10))
    stream.close(commit=True)
    assert db.consumer_position("mailer") == db.sequence
    db.close()
