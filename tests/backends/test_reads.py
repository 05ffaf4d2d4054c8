"""Query, scan, count, pages and filters, and batch reads, on every backend."""

from __future__ import annotations

import pytest

from dynafile import Attr, Key, ValidationError


@pytest.fixture
def orders(backend):
    table = backend.create(key_types={"SK": "N"})
    with table.batch_writer() as writer:
        for user in ("u1", "u2"):
            for n in range(1, 11):
                writer.put_item(item={"PK": user, "SK": n, "total": n * 10,
                                      "status": "open" if n % 2 else "closed",
                                      "tags": {"vip"} if n == 3 else {"std"}})
    return table


def sks(items):
    return [int(i["SK"]) for i in items]


def test_query_key_conditions(orders):
    assert sks(orders.query("u1")) == list(range(1, 11))
    assert sks(orders.query("u1", scan_index_forward=False))[:3] == [10, 9, 8]
    assert sks(orders.query("u1", sk=Key("SK").between(3, 5))) == [3, 4, 5]
    assert sks(orders.query("u1", sk=Key("SK").gt(8))) == [9, 10]
    assert sks(orders.query("u1", sk=Key("SK").lte(2))) == [1, 2]
    assert sks(orders.query("u1", starts_with=9)) == [9, 10]
    assert sks(orders.query("u1", starts_with=2, scan_index_forward=False)) == [2, 1]
    assert sks(orders.query(key_condition=Key("PK").eq("u2") & Key("SK").lt(3))) == [1, 2]
    assert sks(orders.query(key_condition="PK = :p AND SK >= :s",
                            values={":p": "u2", ":s": 9})) == [9, 10]
    assert list(orders.query("nobody")) == []


def test_query_filters(orders):
    open_ = [1, 3, 5, 7, 9]
    assert sks(orders.query("u1", filter=Attr("status").eq("open"))) == open_
    assert sks(orders.query("u1", filter="#s = :o", names={"#s": "status"},
                            values={":o": "open"})) == open_
    assert sks(orders.query("u1", lambda item: item["status"] == "open")) == open_
    assert sks(orders.query("u1", 'status == "open"')) == open_  # filtration
    assert sks(orders.query("u1", filter=Attr("tags").contains("vip"))) == [3]
    with pytest.raises(ValidationError, match="non-primary key"):
        orders.query("u1", filter=Attr("SK").gt(1))


def test_projection(orders):
    assert orders.query("u1", sk=Key("SK").eq(1), projection=["total"]).items == [{"total": 10}]
    assert orders.query("u1", sk=Key("SK").eq(1), projection="#t", names={"#t": "total"}
                        ).items == [{"total": 10}]
    # with a filter that runs in this process, the projection is applied after it
    assert orders.query("u1", lambda i: i["SK"] == 2, projection=["total"]).items == [
        {"total": 20}]


def test_pages_and_limits(orders):
    page = orders.query("u1", limit=4)
    assert sks(page.items) == [1, 2, 3, 4]
    assert page.count == 4 and page.scanned_count == 4
    assert page.last_evaluated_key == {"PK": "u1", "SK": 4}
    following = orders.query("u1", limit=4, exclusive_start_key=page.last_evaluated_key)
    assert sks(following) == [5, 6, 7, 8]
    # limit counts evaluated items, before the filter
    filtered = orders.query("u1", limit=4, filter=Attr("status").eq("open"))
    assert sks(filtered.items) == [1, 3] and filtered.scanned_count == 4
    # walk every page
    seen, start = [], None
    while True:
        page = orders.query("u1", limit=3, exclusive_start_key=start)
        seen += sks(page.items)
        start = page.last_evaluated_key
        if start is None:
            break
    assert seen == list(range(1, 11))


def test_count(orders):
    assert orders.count("u1") == 10
    assert orders.count("u1", filter=Attr("total").gt(50)) == 5
    assert orders.count("u1", lambda i: i["total"] > 50) == 5
    assert orders.count("u1", sk=Key("SK").lt(4)) == 3
    assert orders.count("u1", limit=4) == 4


def test_scan(orders):
    assert len(list(orders.scan())) == 20
    assert sorted(sks(orders.scan(filter=Attr("total").gte(100)))) == [10, 10]
    assert len(list(orders.scan(lambda i: i["PK"] == "u2"))) == 10
    assert len(list(orders.scan("total > 90"))) == 2
    pages, start, total = 0, None, 0
    while True:
        page = orders.scan(limit=7, exclusive_start_key=start)
        total += page.count
        pages += 1
        start = page.last_evaluated_key
        if start is None:
            break
    assert total == 20 and pages >= 3
    parts = [list(orders.scan(segment=s, total_segments=3)) for s in range(3)]
    assert sum(len(p) for p in parts) == 20


def test_scan_projection(orders):
    items = list(orders.scan(projection=["PK", "total"], filter=Attr("SK").eq(1)))
    assert sorted(i["PK"] for i in items) == ["u1", "u2"]
    assert all(set(i) == {"PK", "total"} for i in items)


def test_large_items_page_at_one_megabyte(backend):
    table = backend.create(key_types={"SK": "N"})
    blob = "x" * 100_000
    with table.batch_writer() as writer:
        for n in range(25):
            writer.put_item(item={"PK": "big", "SK": n, "blob": blob})
    page = table.query("big")
    assert 0 < page.count < 25 and page.last_evaluated_key is not None
    assert len(list(table.query("big"))) == 25  # iterating follows the pages
    assert table.count("big") == 25


def test_batch_get(orders):
    keys = [{"PK": "u1", "SK": n} for n in (3, 1)] + [{"PK": "nobody", "SK": 1}]
    got = orders.batch_get(keys)
    assert [None if g is None else int(g["SK"]) for g in got] == [3, 1, None]
    many = [{"PK": user, "SK": n} for user in ("u1", "u2") for n in range(1, 11)] * 6
    assert len(many) == 120
    assert all(item is not None for item in orders.batch_get(many))
    projected = orders.batch_get(keys[:1], projection=["total"])
    assert projected == [{"total": 30}]
    with pytest.raises(ValidationError):
        orders.batch_get([{"PK": "u1"}])


def test_query_errors(orders):
    with pytest.raises(ValidationError):
        orders.query("u1", limit=0)
    with pytest.raises(ValidationError):
        orders.query("u1", sk=Key("total").eq(1))
    with pytest.raises(ValidationError):
        orders.query(5)  # the partition key is a string
    with pytest.raises(ValidationError):
        orders.query("u1", filter="#x = :y", values={":y": 1})
    with pytest.raises(ValidationError):
        orders.query("u1", index="no_such_index")
