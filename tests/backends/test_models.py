"""Models on every backend: every field type round-trips through every read
(get, query, scan, batch get, transact get) with its Python type, keys and
single-table collections, global indexes, conditional writes and their
errors, batches and transactions. The same model classes are bound to a
table of each backend in turn."""

from __future__ import annotations

import datetime as dt
import enum
import time
from decimal import Decimal
from typing import Any

import pytest

from dynafile import (
    ConditionalCheckFailedError,
    SchemaMismatchError,
    TransactionCanceledError,
    ValidationError,
)
from dynafile.errors import TransactionConflictError
from dynafile.models import (
    BinaryField,
    BinarySetField,
    BooleanField,
    DateTimeField,
    EnumField,
    GlobalIndex,
    ListField,
    LocalIndex,
    MapField,
    Model,
    NumberField,
    NumberSetField,
    StringField,
    StringSetField,
    StructField,
    Structure,
    TransactWrite,
    transact_get,
)
from dynafile.types import equal

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Ratio(enum.Enum):
    TENTH = 0.1
    HALF = 0.5


class Address(Structure):
    street = StringField()
    city = StringField()
    zip = StringField(null=True)
    floor = NumberField(int, null=True)


class Everything(Model):
    """One field of every type (numbers with and without a declared type)."""

    class Meta:
        pk = "THING#{key}"
        sk = "V"
        type_attribute = None

    key = StringField()
    s = StringField(null=True)
    n_int = NumberField(int, null=True)
    n_float = NumberField(float, null=True)
    n_dec = NumberField(Decimal, null=True)
    n_plain = NumberField(null=True)
    b = BinaryField(null=True)
    flag = BooleanField(null=True)
    when = DateTimeField(null=True)
    when_epoch = DateTimeField(epoch=True, null=True)
    colour = EnumField(Colour, null=True)
    prio = EnumField(Priority, null=True)
    ratio = EnumField(Ratio, null=True)
    raw_list = ListField(null=True)
    raw_map = MapField(null=True)
    floats = MapField(of=NumberField(float), null=True)
    ints = ListField(of=NumberField(int), null=True)
    address = StructField(Address, null=True)
    addresses = ListField(of=StructField(Address), null=True)
    ss = StringSetField()
    ns = NumberSetField(int)
    fs = NumberSetField(float)
    bs = BinarySetField()


EVERY_VALUE: dict[str, Any] = {
    "s": "text é ✓", "n_int": 10**37, "n_float": 0.1, "n_dec": Decimal("1.234567890123456789"),
    "n_plain": 42, "b": b"\x00\xff", "flag": False, "when": T0, "when_epoch": T0,
    "colour": Colour.BLUE, "prio": Priority.HIGH, "ratio": Ratio.TENTH,
    # untyped values come back as DynamoDB keeps them: whole numbers as int,
    # others as Decimal on both backends when written as Decimal
    "raw_list": [1, "a", {"x": [b"y", None, True]}, {"s1"}, Decimal("2.5")],
    "raw_map": {"a": {"b": [1, Decimal("-0.25")]}, "c": {7, 8}},
    "floats": {"x": 1.5, "y": 0.1, "z": 3.0}, "ints": [3, 1, 2],
    "address": Address(street="Main 1", city="Oslo", floor=3),
    "addresses": [Address(street="A", city="B"), Address(street="C", city="D", zip="0150")],
    "ss": {"x", "y"}, "ns": {1, 2, 30}, "fs": {0.1, 2.5}, "bs": {b"a", b"\x00"},
}


def same(got: Any, want: Any, where: str = "") -> None:
    """Equal, and of the same Python type, all the way down."""
    assert type(got) is type(want), (where, got, want)
    if isinstance(want, Structure):
        for name in type(want).model_fields:
            same(getattr(got, name), getattr(want, name), f"{where}.{name}")
    elif isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for k in want:
            same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{where}[{i}]")
    elif isinstance(want, (set, frozenset)):
        assert got == want, where
        assert {type(v) for v in got} == {type(v) for v in want}, where
    else:
        assert got == want, where


def check_everything(got: Everything | None) -> None:
    assert got is not None
    for name, value in EVERY_VALUE.items():
        same(getattr(got, name), value, name)


@pytest.fixture
def things(backend):
    table = backend.create(**Everything.table_options(key_types=True))
    Everything.bind(table)
    return table


def test_every_field_type_round_trips_through_every_read(backend, things):
    Everything(key="k1", **EVERY_VALUE).save()
    Everything.save_many([Everything(key=f"k{i}", **EVERY_VALUE) for i in (2, 3)])
    check_everything(Everything.get("k1"))
    check_everything(next(iter(Everything.query("k1"))))
    scanned = list(Everything.scan())
    assert sorted(t.key for t in scanned) == ["k1", "k2", "k3"]
    for found in scanned:
        check_everything(found)
    for found in Everything.get_many(["k1", "k2", "k3"]):
        check_everything(found)
    for found in transact_get([(Everything, "k2"), (Everything, "k3")]):
        check_everything(found)
    # what is stored is DynamoDB's types, the same on both backends
    item = things.get_item(key={"PK": "THING#k1", "SK": "V"})
    assert item["when"] == "2026-03-01T12:00:00.123456Z"
    assert item["when_epoch"] == Decimal("1772366400.123456")
    assert (item["colour"], item["prio"]) == ("blue", 2)
    assert equal(item["ratio"], Decimal("0.1"))  # a float is the decimal it prints as
    assert item["address"] == {"street": "Main 1", "city": "Oslo", "floor": 3}


def test_missing_and_empty_values_read_as_defaults(backend, things):
    Everything(key="bare").save()
    got = Everything.get("bare")
    assert got.s is None and got.n_int is None and got.address is None
    assert got.ss == set() and got.ns == set() and got.bs == set()
    item = things.get_item(key={"PK": "THING#bare", "SK": "V"})
    assert set(item) == {"PK", "SK", "key"}  # no empty sets, no None fields


def test_number_types_are_the_declared_ones(backend, things):
    Everything(key="n", n_int=Decimal(7), n_float=2, n_dec=0.1, n_plain=Decimal("2.50"),
               ns=[Decimal(4)], fs={1}).save()
    got = Everything.get("n")
    same(got.n_int, 7)
    same(got.n_float, 2.0)
    same(got.n_dec, Decimal("0.1"))
    assert got.n_plain == Decimal("2.5") and isinstance(got.n_plain, Decimal)
    same(got.ns, {4})
    same(got.fs, {1.0})
    with pytest.raises(ValidationError) as info:
        Everything(key="n", n_int=2.5)
    assert info.value.attribute == "n_int"
    # conditions compare with any number, whatever the field's type
    assert [t.key for t in Everything.scan(filter=Everything.n_int > 6.5)] == ["n"]


# ------------------------------------------------------- single-table models


class Entity(Model):
    class Meta:
        abstract = True
        pk = "CUSTOMER#{customer_id}"

    customer_id = StringField()


class Customer(Entity):
    class Meta:
        sk = "PROFILE"
        type_name = "customer"

    name = StringField()
    email = StringField(null=True)
    tags = StringSetField()
    visits = NumberField(int, default=0)
    by_email = GlobalIndex("GSI1", pk="EMAIL#{email}", sk="CUSTOMER",
                           pk_attribute="GSI1PK", sk_attribute="GSI1SK")


class Order(Entity):
    class Meta:
        sk = "ORDER#{order_id}"
        type_name = "order"
        ttl = dt.timedelta(days=30)

    order_id = StringField()
    total = NumberField(int, default=0)
    status = EnumField(Colour, default=Colour.RED)
    created = DateTimeField(default=lambda: T0)
    note = StringField(null=True)
    by_status = GlobalIndex("GSI1", pk="STATUS#{status}", sk="{created}",
                            pk_attribute="GSI1PK", sk_attribute="GSI1SK")


class Clock:
    """A clock that stands still (at the real time: the file backend hides
    items whose TTL lies in the past by its own clock)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def shop(backend, clock):
    table = backend.create(**Entity.table_options(key_types=True))
    Entity.bind(table, clock=clock)
    return table


def seed() -> None:
    Customer(customer_id="c1", name="Ann", email="ann@example.com", tags={"vip"}).save()
    Customer(customer_id="c2", name="Bob", email="bob@example.com").save()
    for i, colour in enumerate([Colour.RED, Colour.BLUE, Colour.RED]):
        Order(customer_id="c1", order_id=f"o{i}", total=10 * (i + 1), status=colour,
              created=T0 + dt.timedelta(minutes=i)).save()


def wait_for_index(read: Any, want: Any, backend: Any) -> Any:
    """A global index is eventually consistent on DynamoDB: read it again
    until it shows what the table holds (at once on file, serve and moto)."""
    got = read()
    for _ in range(100):
        if got == want or not backend.remote:
            break
        time.sleep(0.1)
        got = read()
    return got


def test_key_types_follow_the_templates():
    assert Entity.key_types() == {"PK": "S", "SK": "S", "GSI1PK": "S", "GSI1SK": "S"}
    assert Everything.key_types() == {"PK": "S", "SK": "S"}


def test_bind_refuses_a_table_whose_key_types_differ(backend):
    class Tick(Model):
        class Meta:
            pk = "{feed}"
            sk = "{seq}"
            type_attribute = None

        feed = StringField()
        seq = NumberField(int)

    table = backend.create(pk_attribute="PK", sk_attribute="SK", key_types={"SK": "S"})
    with pytest.raises(SchemaMismatchError, match="'SK' is of type S"):
        Tick.bind(table)


def test_a_collection_query_returns_each_item_as_its_own_model(backend, shop):
    seed()
    got = list(Entity.query("c1"))
    assert [type(x).__name__ for x in got] == ["Order", "Order", "Order", "Customer"]
    assert [x.order_id for x in got if isinstance(x, Order)] == ["o0", "o1", "o2"]
    assert got[-1].name == "Ann" and got[-1].tags == {"vip"}
    assert [type(x) for x in Order.query("c1")] == [Order] * 3
    assert [o.order_id for o in Order.query("c1", sk=Order.order_id >= "o1",
                                            filter=Order.total > 20)] == ["o2"]
    assert Order.count("c1", filter=Order.status == Colour.RED) == 2
    assert [o.order_id for o in Order.query("c1", scan_index_forward=False, limit=1)] == ["o2"]
    scanned = list(Entity.scan())
    assert sorted(type(x).__name__ for x in scanned) == ["Customer", "Customer"] + ["Order"] * 3
    assert {type(x) for x in Customer.scan()} == {Customer}


def test_numeric_sort_keys_sort_numerically(backend):
    class Sensor(Model):
        class Meta:
            pk = "{sensor}"
            sk = "{ts}"
            type_attribute = None

        sensor = StringField()
        ts = NumberField(int)
        value = NumberField(float)

    options = Sensor.table_options(key_types=True)
    assert options["key_types"] == {"PK": "S", "SK": "N"}
    Sensor.bind(backend.create(**options))
    for ts in (100, 9, 20):
        Sensor(sensor="s", ts=ts, value=ts / 4).save()
    got = list(Sensor.query("s"))
    assert [r.ts for r in got] == [9, 20, 100]
    same(got[0].value, 2.25)
    assert [r.ts for r in Sensor.query("s", sk=Sensor.ts.between(10, 100))] == [20, 100]
    same(Sensor.get("s", 20).value, 5.0)


def test_pages_continue_where_the_last_one_stopped(backend, shop):
    seed()
    page = Order.query("c1", limit=2)
    assert [o.order_id for o in page] == ["o0", "o1"] and page.last_evaluated_key
    rest = Order.query("c1", limit=2, exclusive_start_key=page.last_evaluated_key)
    assert [o.order_id for o in rest] == ["o2"]
    halves = [list(Entity.scan(segment=i, total_segments=2)) for i in (0, 1)]
    assert sorted(type(x).__name__ for half in halves for x in half) == \
        ["Customer", "Customer", "Order", "Order", "Order"]


def test_local_index_with_a_numeric_sort_key(backend):
    class Product(Model):
        class Meta:
            pk = "{group}"
            sk = "{name}"

        group = StringField()
        name = StringField()
        price = NumberField(float)
        by_price = LocalIndex("by_price", sk="{price}", projection="KEYS_ONLY")

    options = Product.table_options(key_types=True)
    assert options["key_types"] == {"PK": "S", "SK": "S", "price": "N"}
    Product.bind(backend.create(**options))
    Product.save_many([Product(group="g", name="a", price=30), Product(group="g", name="b",
                                                                        price=9.5)])
    found = list(Product.by_price.query("g"))
    assert [p.price for p in found] == [9.5, 30.0]
    same(found[1].price, 30.0)  # the index key: a float again
    assert all(type(p) is Product and p.name is None for p in found)  # keys only (and type)
    assert [p.price for p in Product.by_price.query("g", sk=Product.price > 20)] == [30.0]
    same(Product.get("g", "b").price, 9.5)


def test_binary_and_enum_keys(backend):
    class Blob(Model):
        class Meta:
            pk = "{digest}"
            sk = "{prio}"
            type_attribute = None

        digest = BinaryField()
        prio = EnumField(Priority)
        body = StringField()

    options = Blob.table_options(key_types=True)
    assert options["key_types"] == {"PK": "B", "SK": "N"}
    Blob.bind(backend.create(**options))
    Blob(digest=b"\x00\x01", prio=Priority.HIGH, body="hi").save()
    Blob(digest=b"\x00\x01", prio=Priority.LOW, body="lo").save()
    assert [(b.prio, b.body) for b in Blob.query(b"\x00\x01")] == \
        [(Priority.LOW, "lo"), (Priority.HIGH, "hi")]
    got = Blob.get(b"\x00\x01", Priority.HIGH)
    same(got.digest, b"\x00\x01")
    assert got.prio is Priority.HIGH


def test_global_indexes(backend, shop):
    seed()
    got = wait_for_index(lambda: [c.name for c in Customer.by_email.query("bob@example.com")],
                         ["Bob"], backend)
    assert got == ["Bob"]
    red = wait_for_index(lambda: [o.order_id for o in Order.by_status.query(Colour.RED)],
                         ["o0", "o2"], backend)
    assert red == ["o0", "o2"]
    assert all(type(o) is Order for o in Order.by_status.query(Colour.RED))
    later = wait_for_index(
        lambda: [o.order_id for o in Order.by_status.query(Colour.RED, sk=Order.created > T0)],
        ["o2"], backend)
    assert later == ["o2"]
    # an update of a templated field moves the item in the index
    Order.get("c1", "o1").update([Order.status.set(Colour.RED)])
    red = wait_for_index(lambda: [o.order_id for o in Order.by_status.query(Colour.RED)],
                         ["o0", "o1", "o2"], backend)
    assert red == ["o0", "o1", "o2"]


def test_bind_creates_a_missing_global_index(backend):
    table = backend.create(pk_attribute="PK", sk_attribute="SK")
    assert "GSI1" not in table.indexes
    Entity.bind(table, clock=Clock())
    assert "GSI1" in table.indexes
    Customer(customer_id="c9", name="Cy", email="cy@example.com").save()
    got = wait_for_index(lambda: [c.name for c in Customer.by_email.query("cy@example.com")],
                         ["Cy"], backend)
    assert got == ["Cy"]


def test_bind_creates_a_global_index_with_a_numeric_sort_key(backend):
    class Score(Model):
        class Meta:
            pk = "PLAYER#{player}"
            sk = "GAME#{game}"

        player = StringField()
        game = StringField()
        points = NumberField(int)
        board = GlobalIndex("by_points", pk="{game}", sk="{points}")

    assert Score.key_types() == {"PK": "S", "SK": "S", "game": "S", "points": "N"}
    table = backend.create(pk_attribute="PK", sk_attribute="SK")
    Score.bind(table)
    assert table.describe()["indexes"]["by_points"]["sk_attribute"] == "points"
    Score.save_many([Score(player=p, game="g1", points=n) for p, n in
                     [("ann", 100), ("bob", 9), ("cy", 20)]])
    got = wait_for_index(lambda: [(s.player, s.points) for s in Score.board.query("g1")],
                         [("bob", 9), ("cy", 20), ("ann", 100)], backend)
    assert got == [("bob", 9), ("cy", 20), ("ann", 100)]  # numerically, as ints
    assert all(type(s.points) is int for s in Score.board.query("g1"))


# ------------------------------------------------------------------- writes


def test_conditional_writes_and_their_errors(backend, shop):
    seed()
    order = Order.get("c1", "o0")
    order.update([Order.total.set(Order.total + 5), Order.note.set("gift")],
                 condition=Order.total == 10)
    assert (order.total, order.note) == (15, "gift")
    same(Order.get("c1", "o0").total, 15)
    with pytest.raises(ConditionalCheckFailedError):
        order.update([Order.total.set(0)], condition=Order.total > 100)
    assert Order.get("c1", "o0").total == 15
    with pytest.raises(ConditionalCheckFailedError):
        Order(customer_id="c1", order_id="gone").update([Order.total.set(1)])
    assert Order.get_or_none("c1", "gone") is None
    with pytest.raises(ConditionalCheckFailedError):
        Order.create(customer_id="c1", order_id="o0")
    with pytest.raises(ConditionalCheckFailedError):
        Order(customer_id="c1", order_id="o1", total=1).save(condition=Order.total == 999)
    assert Order.get("c1", "o1").total == 20
    with pytest.raises(ConditionalCheckFailedError):
        order.delete(condition=Order.status == Colour.BLUE)
    Customer.get("c1").update([Customer.tags.add("buyer"), Customer.visits.add(2)])
    ann = Customer.get("c1")
    assert ann.tags == {"vip", "buyer"}
    same(ann.visits, 2)
    order.delete(condition=Order.status == Colour.RED)
    assert Order.get_or_none("c1", "o0") is None
    with pytest.raises(Order.DoesNotExist):
        Order.get("c1", "o0")


def test_lifetimes_set_the_ttl_attribute(backend, shop, clock):
    seed()
    order = Order.get("c1", "o0")
    expires = order.expires_at
    assert expires == dt.datetime.fromtimestamp(clock.now, UTC) + dt.timedelta(days=30)
    item = shop.get_item(key={"PK": "CUSTOMER#c1", "SK": "ORDER#o0"})
    assert item[shop.ttl_attribute] == int(clock.now + 30 * 86400)
    assert Customer.get("c1").expires_at is None


def test_batch_save_get_delete(backend, shop):
    orders = [Order(customer_id="c3", order_id=f"b{i:02}", total=i) for i in range(30)]
    Entity.save_many([*orders, Customer(customer_id="c3", name="Cat")])
    got = Order.get_many([("c3", "b00"), ("c3", "b29"), ("c3", "nope")])
    assert [o.total if o else None for o in got] == [0, 29, None]
    assert all(type(o.total) is int for o in got if o)
    Order.delete_many(orders[:20])
    assert [o.order_id for o in Order.query("c3")] == [f"b{i:02}" for i in range(20, 30)]
    with Order.batch_write() as batch:
        batch.save(Order(customer_id="c3", order_id="new", total=1))
        batch.delete(orders[25])
    assert Order.count("c3") == 10


def test_transactions_with_models(backend, shop):
    seed()
    with TransactWrite(token="tok-1") as tx:
        tx.save(Order(customer_id="c1", order_id="o7", total=7), overwrite=False)
        tx.update(Customer.get("c1"), [Customer.tags.add("buyer")])
        tx.condition_check(Order, "c1", "o0", condition=Order.status == Colour.RED)
    assert Order.get("c1", "o7").total == 7 and "buyer" in Customer.get("c1").tags
    with pytest.raises(TransactionCanceledError) as info, TransactWrite() as tx:
        tx.save(Order(customer_id="c1", order_id="o8"))
        tx.delete(Order.get("c1", "o0"), condition=Order.total > 1000)
    assert [r.code for r in info.value.reasons] == [None, "ConditionalCheckFailed"]
    assert Order.get_or_none("c1", "o8") is None and Order.get_or_none("c1", "o0")

    order, person, missing = transact_get([(Order, ("c1", "o1")), (Customer, "c1"),
                                           (Order, ("c1", "x"))])
    assert (order.total, person.name, missing) == (20, "Ann", None)
    same(order.total, 20)


def test_optimistic_transactions_with_models(backend, shop):
    seed()
    with Order.transaction() as tx:
        o = tx.get(Order, "c1", "o1")
        o.total -= 5
        tx.save(o)
        tx.update(tx.get(Customer, "c1"), [Customer.visits.add(1)])
    assert Order.get("c1", "o1").total == 15 and Customer.get("c1").visits == 1

    with pytest.raises(TransactionConflictError), Order.transaction() as tx:
        o = tx.get(Order, "c1", "o1")
        Order(customer_id="c1", order_id="o1", total=1).save()  # another writer
        o.total = 2
        tx.save(o)
    assert Order.get("c1", "o1").total == 1

    calls = []

    @Order.transaction(retries=3)
    def bump(tx, order_id):
        calls.append(1)
        o = tx.get(Order, "c1", order_id)
        if len(calls) == 1:
            Order(customer_id="c1", order_id=order_id, total=100).save()
        o.total += 1
        tx.save(o)

    bump("o2")
    assert Order.get("c1", "o2").total == 101 and len(calls) == 2


def test_the_example_of_the_docs_runs(backend):
    """docs/models.md's first example, with its table made on this backend."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "models.md").read_text(encoding="utf-8")
    example = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0]
    line = 'db = Dynafile("data/shop", **Entity.table_options())'
    assert line in example
    example = example.replace(line, "db = make(**Entity.table_options(key_types=True))")
    namespace: dict[str, Any] = {"make": backend.create}
    exec(example, namespace)  # noqa: S102 - the documentation's own example
    entity, order, customer = namespace["Entity"], namespace["Order"], namespace["Customer"]
    assert [type(x).__name__ for x in entity.query("c1")] == ["Order", "Customer"]
    got = order.get("c1", "o1")
    assert got.lines[0].sku == "tea" and got.total == 42 and type(got.total) is int
    assert wait_for_index(lambda: [c.name for c in customer.by_email.query("ann@example.com")],
                          ["Ann"], backend) == ["Ann"]
    assert namespace["db"].ttl_attribute == "expires"
