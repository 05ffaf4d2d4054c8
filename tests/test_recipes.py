"""docs/recipes.md: its code blocks run as written, in order, and what they
promise holds (across processes for the cache)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


def blocks():
    with open(os.path.join(ROOT, "docs", "recipes.md")) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)


@pytest.fixture
def recipes(tmp_path):
    """The namespace after running every block of the page (each asserts itself)."""
    namespace = {"path": str(tmp_path)}
    for block in blocks():
        exec(block, namespace)  # noqa: S102 - the documentation's own examples
    yield namespace
    for name in ("ts", "events", "users", "shop"):
        namespace[name].close()


def test_the_page_has_the_four_recipes():
    assert len(blocks()) == 4


def test_time_series(recipes):
    extend, range_, missing = recipes["extend"], recipes["range_"], recipes["missing"]
    extend("temp", *[(t, t / 10) for t in range(0, 1000, 10) if t != 500])
    assert recipes["first"]("temp") == (0, 0.0)
    assert recipes["last"]("temp") == (990, 99.0)
    assert [t for t, _ in range_("temp", 480, 520)] == [480, 490, 510, 520]
    assert missing("temp", 0, 990, 10) == [500]
    assert recipes["first"]("nothing") is None and range_("nothing", 0, 10) == []
    assert range_("cpu", 1700000000, 1700000180)[-1] == (1700000180, 0.9)  # series apart


def test_event_sourcing_resumes_after_a_restart(recipes):
    apply, project, events = recipes["apply"], recipes["project"], recipes["events"]
    views = project({})
    apply("cart-8", "plums", value=1)
    apply("cart-8", "plums", "add", 1)
    assert project(views)["cart-8"] == {"plums": 2}
    assert events.consumer_position("projector") == events.sequence
    again = project({})  # a restarted projector with nothing new: applies nothing
    assert again == {}
    assert recipes["current"]("cart-8") == {"plums": 2}


def test_unique_alternate_keys(recipes):
    from dynafile import TransactionCanceledError

    User, create_user = recipes["User"], recipes["create_user"]
    create_user(User(user_id="u3", email="bo@example.com", name="Bo"))
    with pytest.raises(TransactionCanceledError):
        create_user(User(user_id="u3", email="other@example.com", name="Bo again"))
    assert recipes["EmailOwner"].get_or_none("other@example.com") is None
    with pytest.raises(TransactionCanceledError):  # the email is taken by u1
        recipes["change_email"](User.get("u3"), "ann@new.example")
    assert User.get("u3").email == "bo@example.com"
    assert recipes["user_by_email"]("bo@example.com").user_id == "u3"


def test_the_cache_sees_another_process_write(recipes):
    cache, shop = recipes["cache"], recipes["shop"]
    key = {"PK": "p1", "SK": "price"}
    assert cache.get(key)["amount"] == 12
    hits = cache.hits
    assert cache.get(key)["amount"] == 12 and cache.hits == hits + 1
    script = ("from dynafile import Dynafile\n"
              f"db = Dynafile({shop.path!r})\n"
              "db.put_item(item={'PK': 'p1', 'SK': 'price', 'amount': 99})\n"
              "db.put_item(item={'PK': 'p2', 'SK': 'price', 'amount': 1})\n"
              "db.close()\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert cache.get(key)["amount"] == 99  # invalidated by the other process's record
    assert cache.get({"PK": "p2", "SK": "price"})["amount"] == 1
    assert cache.get({"PK": "nope", "SK": "x"}) is None
    item = cache.get(key)
    item["amount"] = 0  # callers get copies: the cache is not changed through them
    assert cache.get(key)["amount"] == 99
