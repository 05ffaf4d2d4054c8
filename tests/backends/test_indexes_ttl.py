"""Secondary indexes and TTL on every backend."""

from __future__ import annotations

import time

import pytest

from dynafile import GSI, LSI, Attr, Key, ValidationError


def test_gsi_at_creation(backend):
    table = backend.create(gsis=[GSI("by_status", "status", "total")],
                           key_types={"total": "N"})
    for n in range(6):
        table.put_item(item={"PK": f"o{n}", "SK": "order", "status": "open" if n % 2 else "done",
                             "total": n})
    table.put_item(item={"PK": "sparse", "SK": "order"})  # no index keys: not in the index
    got = list(table.query("open", index="by_status"))
    assert [int(i["total"]) for i in got] == [1, 3, 5]
    got = list(table.query("open", index="by_status", sk=Key("total").gt(1),
                           scan_index_forward=False))
    assert [int(i["total"]) for i in got] == [5, 3]
    assert len(list(table.scan(index="by_status"))) == 6
    page = table.query("open", index="by_status", limit=2)
    assert set(page.last_evaluated_key) == {"PK", "SK", "status", "total"}
    rest = table.query("open", index="by_status", exclusive_start_key=page.last_evaluated_key)
    assert [int(i["total"]) for i in rest] == [5]
    assert table.indexes["by_status"] == GSI("by_status", "status", "total")


def test_lsi_and_projections(backend):
    table = backend.create(lsis=[LSI("by_total", "total", projection="KEYS_ONLY")],
                           gsis=[GSI("by_kind", "kind", projection="INCLUDE", include=["total"])],
                           key_types={"total": "N"})
    for n in (30, 10, 20):
        table.put_item(item={"PK": "u1", "SK": f"o{n}", "total": n, "kind": "k", "extra": "x"})
    got = list(table.query("u1", index="by_total"))
    assert [int(i["total"]) for i in got] == [10, 20, 30]
    assert set(got[0]) == {"PK", "SK", "total"}
    assert [int(i["total"]) for i in table.query("u1", index="by_total",
                                                 sk=Key("total").between(15, 25))] == [20]
    included = list(table.query("k", index="by_kind"))
    assert len(included) == 3 and all("extra" not in i and "total" in i for i in included)


def test_create_and_drop_gsi(backend):
    table = backend.create()
    for n in range(4):
        table.put_item(item={"PK": f"p{n}", "SK": "x", "colour": "red" if n < 3 else "blue"})
    table.create_gsi("by_colour", "colour")
    assert "by_colour" in table.indexes
    assert table.describe()["indexes"]["by_colour"]["state"] == "ACTIVE"
    deadline = time.monotonic() + 10
    while len(list(table.query("red", index="by_colour"))) != 3:  # eventually consistent
        assert time.monotonic() < deadline
        time.sleep(0.1)
    table.drop_gsi("by_colour")
    assert "by_colour" not in table.indexes
    with pytest.raises(ValidationError):
        table.query("red", index="by_colour")
    with pytest.raises(ValidationError):
        table.drop_gsi("by_colour")


def test_ttl_attribute(backend):
    table = backend.create(ttl_attribute="expires", ttl_mode="dynamodb")
    assert table.ttl_attribute == "expires"
    table.update_time_to_live(None)
    assert table.ttl_attribute is None
    table.update_time_to_live("expires")
    assert table.ttl_attribute == "expires"


def test_sweep_expired(backend):
    table = backend.create(ttl_attribute="expires", ttl_mode="dynamodb")
    past, future = int(time.time()) - 100, int(time.time()) + 3600
    table.put_item(item={"PK": "old", "SK": "1", "expires": past})
    table.put_item(item={"PK": "new", "SK": "1", "expires": future})
    table.put_item(item={"PK": "never", "SK": "1"})
    # ttl_mode="dynamodb": an expired item stays readable until it is deleted
    assert table.get_item(key={"PK": "old", "SK": "1"}) is not None
    assert table.sweep_expired() == 1
    assert table.get_item(key={"PK": "old", "SK": "1"}) is None
    assert table.get_item(key={"PK": "new", "SK": "1"}) is not None
    assert table.get_item(key={"PK": "never", "SK": "1"}) is not None
    # what DynamoDB recommends until its own sweep: a filter on the TTL attribute
    live = list(table.scan(filter=Attr("expires").not_exists() | Attr("expires").gt(time.time())))
    assert len(live) == 2


def test_hidden_expired_items(backend):
    backend.only_file("DynamoDB keeps expired items readable until it deletes them: the remote "
                      "backend has ttl_mode='dynamodb' only")
    table = backend.create(ttl_attribute="expires")
    table.put_item(item={"PK": "old", "SK": "1", "expires": int(time.time()) - 100})
    assert table.get_item(key={"PK": "old", "SK": "1"}) is None


def test_hide_mode_is_refused_remotely(backend):
    backend.only_remote("the file backend hides expired items")
    with pytest.raises(ValidationError, match="ttl_mode"):
        backend.create(ttl_attribute="expires", ttl_mode="hide")
