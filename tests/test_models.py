"""Models: every field type round-trips, keys come from templates, several
models share one table and a collection query returns each item as its own
class, conditions and updates are written with fields, errors name the field
and nothing is written after one."""

import datetime as dt
import enum
from decimal import Decimal

import pytest

from dynafile import (
    ConditionalCheckFailedError,
    Dynafile,
    SchemaMismatchError,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)
from dynafile.errors import ItemNotFoundError, ModelTypeError
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

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


class Status(enum.Enum):
    OPEN = "open"
    SHIPPED = "shipped"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(Structure):
    street = StringField()
    city = StringField()
    zip = StringField(null=True)


class Line(Structure):
    sku = StringField()
    qty = NumberField(default=1)


class Entity(Model):
    """The single-table family: every item of a customer's collection."""

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
    address = StructField(Address, null=True)
    tags = StringSetField()
    active = BooleanField(default=True)
    by_email = GlobalIndex("GSI1", pk="EMAIL#{email}", sk="CUSTOMER",
                           pk_attribute="GSI1PK", sk_attribute="GSI1SK")


class Order(Entity):
    class Meta:
        sk = "ORDER#{order_id}"
        type_name = "order"
        ttl = dt.timedelta(days=30)

    order_id = StringField()
    total = NumberField(default=0)
    status = EnumField(Status, default=Status.OPEN)
    created = DateTimeField(default=lambda: T0)
    lines = ListField(of=StructField(Line), default=list)
    note = StringField(null=True)
    by_status = GlobalIndex("GSI1", pk="STATUS#{status}", sk="{created}",
                            pk_attribute="GSI1PK", sk_attribute="GSI1SK")


class Clock:
    def __init__(self):
        self.now = 1_000_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def shop(db_path, clock):
    table = Dynafile(db_path, durability="normal", clock=clock, **Entity.table_options())
    Entity.bind(table, clock=clock)
    yield table
    table.close()


def customer(**kw):
    values = {"customer_id": "c1", "name": "Ann", "email": "ann@example.com"}
    values.update(kw)
    return Customer(**values)


# ------------------------------------------------------------ field types


class Everything(Model):
    class Meta:
        pk = "{key}"
        type_attribute = None

    key = StringField()
    s = StringField(null=True)
    n_int = NumberField(null=True)
    n_float = NumberField(null=True)
    n_dec = NumberField(null=True)
    b = BinaryField(null=True)
    flag = BooleanField(null=True)
    when = DateTimeField(null=True)
    when_epoch = DateTimeField(epoch=True, null=True)
    status = EnumField(Status, null=True)
    prio = EnumField(Priority, null=True)
    raw_list = ListField(null=True)
    raw_map = MapField(null=True)
    typed_map = MapField(of=NumberField(), null=True)
    address = StructField(Address, null=True)
    lines = ListField(of=StructField(Line), null=True)
    ss = StringSetField()
    ns = NumberSetField()
    bs = BinarySetField()


EVERY_VALUE = {
    "s": "text é", "n_int": 10**37, "n_float": 0.1, "n_dec": Decimal("1.234567890123456789012345678901234567"),
    "b": b"\x00\xff", "flag": False, "when": T0, "when_epoch": T0,
    "status": Status.SHIPPED, "prio": Priority.HIGH,
    "raw_list": [1, "a", {"x": [b"y"]}, {"s1"}], "raw_map": {"a": {"b": [1, 2.5]}},
    "typed_map": {"x": 1, "y": Decimal("2.5")}, "address": Address(street="Main 1", city="Oslo"),
    "lines": [Line(sku="a", qty=2), Line(sku="b")], "ss": {"x", "y"}, "ns": {1, Decimal("2.5")},
    "bs": {b"a", b"b"},
}


@pytest.mark.parametrize("serializer", ["pickle", "json", "msgpack"])
def test_every_field_type_round_trips(db_path, serializer):
    table = Dynafile(db_path, pk_attribute="PK", sk_attribute=None, serializer=serializer,
                     durability="normal")
    Everything.bind(table)
    Everything(key="k", **EVERY_VALUE).save()
    table.close()
    table = Dynafile(db_path)  # a fresh process's view: the bytes on disk
    Everything.bind(table)
    back = Everything.get("k")
    for name, value in EVERY_VALUE.items():
        got = getattr(back, name)
        assert got == value, name
        assert type(got) is type(value), name
    assert back.n_dec.as_tuple() == EVERY_VALUE["n_dec"].as_tuple()
    assert back.when.tzinfo is not None and back.when == T0
    item = table.get_item(key={"PK": "k"})
    assert item["when"] == "2026-03-01T12:00:00.123456Z"  # sortable text in UTC
    assert item["when_epoch"] == Decimal("1772366400.123456")
    assert item["status"] == "shipped" and item["prio"] == 2
    assert item["address"] == {"street": "Main 1", "city": "Oslo"}  # None fields not stored
    table.close()


def test_empty_sets_are_not_stored_and_read_as_empty(db_path):
    table = Dynafile(db_path, pk_attribute="PK", sk_attribute=None, durability="normal")
    Everything.bind(table)
    Everything(key="k").save()
    assert table.get_item(key={"PK": "k"}) == {"PK": "k", "key": "k"}
    back = Everything.get("k")
    assert back.ss == set() and back.s is None
    table.close()


def test_declared_number_types_convert_and_undeclared_whole_decimals_read_as_int(db_path):
    class Numbers(Model):
        class Meta:
            pk = "{key}"
            type_attribute = None

        key = StringField()
        i = NumberField(int, null=True)
        f = NumberField(float, null=True)
        d = NumberField(Decimal, null=True)
        plain = NumberField(null=True)
        ints = NumberSetField(int)
        raw = MapField(null=True)

    with pytest.raises(ValidationError, match="number_type"):
        NumberField(str)
    n = Numbers(key="k", i=Decimal(4), f=1, d=0.1, plain=Decimal(3), ints=[Decimal(2)],
                raw={"a": [Decimal(5), Decimal("0.5")]})
    assert (type(n.i), type(n.f), n.d) == (int, float, Decimal("0.1"))
    assert type(n.plain) is Decimal  # kept as given until read back
    with pytest.raises(ValidationError, match="whole number") as info:
        n.i = 2.5
    assert info.value.attribute == "i"
    table = Dynafile(db_path, pk_attribute="PK", sk_attribute=None, durability="normal")
    Numbers.bind(table)
    n.save()
    back = Numbers.get("k")
    assert type(back.plain) is int and back.plain == 3  # a whole Decimal reads as int
    assert back.ints == {2} and all(type(x) is int for x in back.ints)
    assert back.raw == {"a": [5, Decimal("0.5")]} and type(back.raw["a"][0]) is int
    assert [x.key for x in Numbers.scan(filter=Numbers.i > 3.5)] == ["k"]
    table.close()


def test_datetimes_keep_their_instant_and_refuse_naive_ones():
    other = dt.timezone(dt.timedelta(hours=5))
    e = Everything(key="k", when=T0.astimezone(other))
    assert e.when == T0 and e.when.tzinfo == UTC
    with pytest.raises(ValidationError, match="naive datetime") as info:
        Everything(key="k", when=dt.datetime(2026, 1, 1))
    assert info.value.attribute == "when"


@pytest.mark.parametrize(("field", "value", "words"), [
    ("s", 5, "expected a str"),
    ("n_int", True, "expected a number"),
    ("n_int", "1", "expected a number"),
    ("n_dec", Decimal("1" * 39), "38 significant digits"),
    ("b", "text", "expected bytes"),
    ("flag", 1, "expected True or False"),
    ("status", "closed", "expected a member of Status"),
    ("raw_list", [dt.date.today()], "DynamoDB"),
    ("typed_map", {"a": "x"}, "expected a number"),
    ("ss", {"a", 1}, "set of str"),
    ("ns", [True], "set of numbers"),
    ("lines", [{"sku": 5}], "expected a str"),
])
def test_a_bad_value_names_the_field(field, value, words):
    with pytest.raises(ValidationError, match=words) as info:
        Everything(key="k", **{field: value})
    assert info.value.attribute.split(".")[0].split("[")[0] == field
    assert f"Everything.{field}" in str(info.value)


def test_nested_errors_name_the_path(db_path):
    with pytest.raises(ValidationError) as info:
        Everything(key="k", lines=[{"sku": "a"}, {"sku": 5}])
    assert info.value.attribute == "lines[1].sku"
    assert "Everything.lines[1].sku: expected a str" in str(info.value)
    table = Dynafile(db_path, pk_attribute="PK", sk_attribute=None, durability="normal")
    before = table.sequence
    Everything.bind(table)
    e = Everything(key="k", address=Address(street="s", city="c"))
    e.address.city = None  # required inside the structure: checked at save
    with pytest.raises(ValidationError, match="is required") as info:
        e.save()
    assert info.value.attribute == "address.city"
    assert table.sequence == before  # nothing logged
    table.close()


def test_unknown_fields_and_reserved_names_are_refused():
    with pytest.raises(ValidationError, match="no field 'nmae'") as info:
        Customer(customer_id="c1", nmae="x")
    assert info.value.attribute == "nmae"
    with pytest.raises(ValidationError, match="cannot be named 'save'"):
        class Bad(Model):
            class Meta:
                pk = "{key}"
            key = StringField()
            save = StringField()


def test_defaults_are_fresh_each_time():
    a, b = Order(customer_id="c", order_id="1"), Order(customer_id="c", order_id="2")
    a.lines.append(Line(sku="x"))
    assert b.lines == [] and a.total == 0 and a.status is Status.OPEN


# ----------------------------------------------------- keys, save, get, delete


def test_key_templates_and_what_is_stored(shop, clock):
    order = Order(customer_id="c1", order_id="o1", total=5)
    order.save()
    assert order.item_key() == {"PK": "CUSTOMER#c1", "SK": "ORDER#o1"}
    item = shop.get_item(key=order.item_key())
    assert item["_type"] == "order"
    assert item["GSI1PK"] == "STATUS#open" and item["GSI1SK"] == "2026-03-01T12:00:00.123456Z"
    assert item["expires"] == int(clock.now) + 30 * 86400  # the model's lifetime
    assert Order.get("c1", "o1") == order
    assert Order.get(customer_id="c1", order_id="o1").total == 5
    assert Order.get("c1", "o1").expires_at == dt.datetime.fromtimestamp(item["expires"], UTC)


def test_get_of_a_missing_item_raises_does_not_exist(shop):
    with pytest.raises(Order.DoesNotExist) as info:
        Order.get("c1", "nope")
    assert isinstance(info.value, ItemNotFoundError) and isinstance(info.value, LookupError)
    assert not issubclass(Order.DoesNotExist, Customer.DoesNotExist)
    assert Order.get_or_none("c1", "nope") is None


def test_key_arguments_are_checked(shop):
    with pytest.raises(ValidationError, match="order_id") as info:
        Order.get("c1")
    assert info.value.attribute == "order_id"
    with pytest.raises(ValidationError, match="3 key values"):
        Order.get("c1", "o1", "x")
    with pytest.raises(ValidationError, match="'total' is not a field of this key"):
        Order.get("c1", "o1", total=5)
    with pytest.raises(ValidationError, match="expected a str"):
        Order.get(5, "o1")


def test_a_missing_required_field_writes_nothing(shop):
    before = shop.sequence
    with pytest.raises(ValidationError, match="Customer.name: is required") as info:
        Customer(customer_id="c1").save()
    assert info.value.attribute == "name"
    with pytest.raises(ValidationError, match="customer_id"):
        Customer(name="x").save()
    assert shop.sequence == before
    assert list(shop.scan()) == []


def test_create_refuses_an_existing_key_and_conditions_use_fields(shop):
    Order.create(customer_id="c1", order_id="o1", total=5)
    with pytest.raises(ConditionalCheckFailedError):
        Order.create(customer_id="c1", order_id="o1", total=7)
    order = Order.get("c1", "o1")
    order.total = 9
    with pytest.raises(ConditionalCheckFailedError):
        order.save(condition=Order.total > 5)
    order.save(condition=(Order.total == 5) & (Order.status == Status.OPEN))
    assert Order.get("c1", "o1").total == 9
    with pytest.raises(ConditionalCheckFailedError):
        order.delete(condition=Order.status == "shipped")  # a value converts like the field
    order.delete(condition=Order.status.is_in(Status.OPEN, Status.SHIPPED))
    assert Order.get_or_none("c1", "o1") is None
    order.delete()  # a missing item is no error


def test_conditions_cannot_be_combined_with_and_or():
    with pytest.raises(TypeError, match=r"& \| ~"):
        _ = (Order.total > 1) and (Order.total < 5)


# ----------------------------------------------------------- single table


def seed(shop):
    customer(address=Address(street="Main 1", city="Oslo"), tags={"vip"}).save()
    for i, total in enumerate([5, 50, 500]):
        Order(customer_id="c1", order_id=f"o{i}", total=total).save()
    Order(customer_id="c2", order_id="o9", total=1).save()
    shop.put_item(item={"PK": "CUSTOMER#c1", "SK": "NOTE#1", "text": "not a model"})


def test_a_collection_query_returns_each_item_as_its_own_model(shop):
    seed(shop)
    everything = list(Entity.query("c1"))
    assert [type(x).__name__ for x in everything] == ["Order", "Order", "Order", "Customer"]
    assert [x.order_id for x in everything[:3]] == ["o0", "o1", "o2"]
    assert everything[3].address.city == "Oslo"
    assert [o.order_id for o in Order.query("c1")] == ["o0", "o1", "o2"]  # only orders
    assert [c.name for c in Customer.query("c1")] == ["Ann"]
    assert Entity.count("c1") == 4
    assert {type(x).__name__ for x in Entity.scan()} == {"Order", "Customer"}
    assert [o.order_id for o in Order.scan(filter=Order.total < 10)] == ["o0", "o9"] or \
        sorted(o.order_id for o in Order.scan(filter=Order.total < 10)) == ["o0", "o9"]


def test_sort_key_conditions_are_on_fields(shop):
    seed(shop)
    ids = lambda results: [o.order_id for o in results]
    assert ids(Order.query("c1", sk=Order.order_id >= "o1")) == ["o1", "o2"]
    assert ids(Order.query("c1", sk=Order.order_id < "o1")) == ["o0"]
    assert ids(Order.query("c1", sk=Order.order_id.between("o1", "o2"))) == ["o1", "o2"]
    assert ids(Order.query("c1", sk=Order.order_id.begins_with("o2"))) == ["o2"]
    assert ids(Order.query("c1", scan_index_forward=False)) == ["o2", "o1", "o0"]
    assert ids(Order.query("c1", filter=Order.total > 10)) == ["o1", "o2"]
    with pytest.raises(ValidationError, match="last field of the sort key"):
        Order.query("c1", sk=Order.total > 1)


def test_pages(shop):
    seed(shop)
    page = Order.query("c1", limit=2)
    assert [o.order_id for o in page] == ["o0", "o1"] and page.last_evaluated_key
    rest = Order.query("c1", limit=2, exclusive_start_key=page.last_evaluated_key)
    assert [o.order_id for o in rest] == ["o2"]


def test_get_as_the_wrong_model_is_a_model_type_error(shop):
    seed(shop)

    class Impostor(Entity):
        class Meta:
            sk = "ORDER#{order_id}"
        order_id = StringField()

    with pytest.raises(ModelTypeError, match="'order'") as info:
        Impostor.get("c1", "o1")
    assert info.value.type_name == "order"


def test_numeric_single_field_sort_keys_sort_numerically(db_path):
    class Reading(Model):
        class Meta:
            pk = "SENSOR#{sensor}"
            sk = "{ts}"
        sensor = StringField()
        ts = NumberField()
        value = NumberField()

    table = Dynafile(db_path, durability="normal", **Reading.table_options())
    Reading.bind(table)
    Reading.save_many(Reading(sensor="s", ts=t, value=t * 2) for t in (10, 9, 100, 1))
    assert [r.ts for r in Reading.query("s")] == [1, 9, 10, 100]
    assert [r.ts for r in Reading.query("s", sk=Reading.ts.between(5, 50))] == [9, 10]
    table.close()


# -------------------------------------------------------------- indexes


def test_global_indexes_with_computed_keys_and_sparseness(shop):
    seed(shop)
    customer(customer_id="c3", name="Bo", email=None).save()  # no email: not in the index
    assert [c.name for c in Customer.by_email.query("ann@example.com")] == ["Ann"]
    assert [c.name for c in Customer.by_email.query(email="ann@example.com")] == ["Ann"]
    assert "GSI1PK" not in shop.get_item(key={"PK": "CUSTOMER#c3", "SK": "PROFILE"})
    opened = Order.by_status.query(Status.OPEN, sk=Order.created <= T0)
    assert sorted((o.customer_id, o.order_id) for o in opened) == [
        ("c1", "o0"), ("c1", "o1"), ("c1", "o2"), ("c2", "o9")]
    assert Order.by_status.count(Status.SHIPPED) == 0
    assert "GSI1" in shop.indexes


def test_bind_creates_missing_global_indexes_and_checks_definitions(db_path):
    table = Dynafile(db_path, durability="normal")  # no GSI1, no TTL attribute
    Entity.bind(table)
    assert table.indexes["GSI1"].pk_attribute == "GSI1PK"
    assert table.ttl_attribute == "expires"  # Order has a lifetime
    table.close()

    class Other(Model):
        class Meta:
            pk = "{key}"
            sk = "X"
        key = StringField()
        email = StringField()
        by_email = GlobalIndex("GSI1", pk="{email}")

    table = Dynafile(db_path)
    with pytest.raises(SchemaMismatchError, match="GSI1"):
        Other.bind(table)
    table.close()


def test_local_indexes_must_exist_and_work(db_path):
    class Item(Model):
        class Meta:
            pk = "{group}"
            sk = "{name}"
        group = StringField()
        name = StringField()
        price = NumberField()
        by_price = LocalIndex("by_price", sk="{price}")

    with pytest.raises(SchemaMismatchError, match="table_options"):
        table = Dynafile(db_path, durability="normal")
        try:
            Item.bind(table)
        finally:
            table.close()
    import shutil
    shutil.rmtree(db_path)
    table = Dynafile(db_path, durability="normal", **Item.table_options())
    Item.bind(table)
    Item.save_many([Item(group="g", name="a", price=30), Item(group="g", name="b", price=10)])
    assert [i.name for i in Item.by_price.query("g")] == ["b", "a"]
    assert [i.name for i in Item.by_price.query("g", sk=Item.price > 20)] == ["a"]
    table.close()


# --------------------------------------------------------------- updates


def test_update_actions_with_fields(shop):
    seed(shop)
    order = Order.get("c1", "o1")
    order.update([Order.total.set(Order.total + 5), Order.note.set("gift"),
                  Order.lines.append([Line(sku="x", qty=3)])])
    assert (order.total, order.note, order.lines) == (55, "gift", [Line(sku="x", qty=3)])
    assert Order.get("c1", "o1") == order
    c = Customer.get("c1")
    c.update([Customer.tags.add({"new"}), Customer.address.city.set("Bergen")])
    assert c.tags == {"vip", "new"} and c.address.city == "Bergen"
    c.update([Customer.tags.delete("vip"), Customer.address.zip.set("5003")])
    assert c.tags == {"new"} and c.address.zip == "5003"
    c.update(Customer.email.remove())
    assert c.email is None


def test_update_with_conditions_and_of_missing_items(shop):
    seed(shop)
    order = Order.get("c1", "o0")
    with pytest.raises(ConditionalCheckFailedError):
        order.update([Order.total.add(1)], condition=Order.total > 100)
    assert Order.get("c1", "o0").total == 5
    ghost = Order(customer_id="c1", order_id="gone")
    with pytest.raises(ConditionalCheckFailedError):
        ghost.update([Order.total.set(1)])  # no partial item without a type appears
    assert Order.get_or_none("c1", "gone") is None


def test_update_rewrites_computed_index_keys_and_refuses_key_fields(shop):
    seed(shop)
    order = Order.get("c1", "o2")
    order.update([Order.status.set(Status.SHIPPED)])
    assert [o.order_id for o in Order.by_status.query(Status.SHIPPED)] == ["o2"]
    assert shop.get_item(key=order.item_key())["GSI1PK"] == "STATUS#shipped"
    with pytest.raises(ValidationError, match="part of the key") as info:
        order.update([Order.order_id.set("o7")])
    assert info.value.attribute == "order_id"
    c = Customer.get("c1")
    c.update([Customer.email.remove()])  # the index attributes go with it: sparse
    assert "GSI1PK" not in shop.get_item(key=c.item_key())
    assert list(Customer.by_email.query("ann@example.com")) == []


def test_update_values_are_checked_before_anything_is_written(shop):
    seed(shop)
    before = shop.sequence
    with pytest.raises(ValidationError, match="expected a number") as info:
        Order.total.set("many")
    assert info.value.attribute == "total"
    with pytest.raises(ValidationError, match="set of str"):
        Customer.tags.add({5})
    assert shop.sequence == before


def test_ttl_is_renewed_and_expired_items_vanish(shop, clock):
    seed(shop)
    clock.now += 29 * 86400
    order = Order.get("c1", "o0")
    order.update([Order.note.set("still here")])  # renews the lifetime
    clock.now += 2 * 86400
    assert Order.get_or_none("c1", "o0") is not None
    assert Order.get_or_none("c1", "o1") is None  # 31 days old
    assert [o.order_id for o in Order.query("c1")] == ["o0"]
    order.expires_at = None  # explicitly forever
    order.save()
    clock.now += 365 * 86400
    assert Order.get("c1", "o0").expires_at is None


# ---------------------------------------------------------------- batches


def test_save_get_delete_many(shop):
    people = [customer(customer_id=f"c{i}", name=f"n{i}") for i in range(5)]
    Entity.save_many([*people, Order(customer_id="c0", order_id="o1")])
    got = Customer.get_many(["c1", ("c4",), {"customer_id": "nobody"}, people[2]])
    assert [None if g is None else g.name for g in got] == ["n1", "n4", None, "n2"]
    Customer.delete_many([people[0], "c1"])
    assert [g is None for g in Customer.get_many(["c0", "c1", "c2"])] == [True, True, False]
    with Order.batch_write() as batch:
        batch.save(Order(customer_id="c9", order_id="a"))
        batch.delete(("c0", "o1"))
    assert Order.get_or_none("c0", "o1") is None and Order.get("c9", "a")


def test_a_bad_instance_in_a_batch_writes_nothing(shop):
    before = shop.sequence
    with pytest.raises(ValidationError, match="name"):
        Entity.save_many([customer(customer_id="ok"), Customer(customer_id="bad")])
    with pytest.raises(RuntimeError), Order.batch_write() as batch:
        batch.save(Order(customer_id="c1", order_id="x"))
        raise RuntimeError("abandon")
    assert shop.sequence == before and list(shop.scan()) == []


# ------------------------------------------------------------ transactions


def test_transact_write_is_all_or_nothing(shop):
    seed(shop)
    with TransactWrite(token="t-1") as tx:
        tx.save(Order(customer_id="c1", order_id="o7", total=7), overwrite=False)
        tx.update(Customer.get("c1"), [Customer.tags.add("buyer")])
        tx.condition_check(Order, "c1", "o0", condition=Order.status == Status.OPEN)
    assert Order.get("c1", "o7").total == 7 and "buyer" in Customer.get("c1").tags
    with pytest.raises(TransactionCanceledError) as info, TransactWrite() as tx:
        tx.save(Order(customer_id="c1", order_id="o8"))
        tx.delete(Order.get("c1", "o0"), condition=Order.total > 1000)
    assert [r.code for r in info.value.reasons] == [None, "ConditionalCheckFailed"]
    assert Order.get_or_none("c1", "o8") is None and Order.get_or_none("c1", "o0")


def test_transact_get_and_optimistic_transactions(shop):
    seed(shop)
    order, person, missing = transact_get([(Order, ("c1", "o1")), (Customer, "c1"),
                                           (Order, {"customer_id": "c1", "order_id": "x"})])
    assert (order.total, person.name, missing) == (50, "Ann", None)

    with Order.transaction() as tx:
        o = tx.get(Order, "c1", "o1")
        o.total -= 10
        tx.save(o)
        tx.update(tx.get(Customer, "c1"), [Customer.tags.add("loyal")])
    assert Order.get("c1", "o1").total == 40 and "loyal" in Customer.get("c1").tags

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


def test_models_of_other_tables_do_not_mix(shop, tmp_path):
    class Lone(Model):
        class Meta:
            pk = "{key}"
            sk = "X"
        key = StringField()

    other = Dynafile(str(tmp_path / "other"), durability="normal")
    Lone.bind(other)
    with pytest.raises(ValidationError, match="another table"), TransactWrite() as tx:
        tx.save(Lone(key="a"))
        tx.save(customer())
    other.close()


def test_unbound_models_say_what_to_do():
    class Floating(Model):
        class Meta:
            pk = "{key}"
        key = StringField()

    with pytest.raises(ValidationError, match=r"Floating.bind\(table\)"):
        Floating.get("a")
    with pytest.raises(ValidationError, match="dict lacks put_item, get_item") as info:
        Floating.bind({"PK": "a"})  # not a table: what is missing is named
    assert info.value.attribute == "table"


def test_the_example_of_the_docs_runs(tmp_path, monkeypatch):
    import os
    import re

    monkeypatch.chdir(tmp_path)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "models.md")) as f:
        example = re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)[0]
    namespace = {}
    exec(example, namespace)  # noqa: S102 - the documentation's own example
    Entity_, Order_ = namespace["Entity"], namespace["Order"]
    assert [type(x).__name__ for x in Entity_.query("c1")] == ["Order", "Customer"]
    assert Order_.get("c1", "o1").lines[0].sku == "tea"
    assert [c.name for c in namespace["Customer"].by_email.query("ann@example.com")] == ["Ann"]
    assert namespace["db"].ttl_attribute == "expires"
    namespace["db"].close()
