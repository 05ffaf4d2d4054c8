"""Global and local secondary indexes: maintenance, queries, backfill, drop."""

import json
import os
import random
import subprocess
import sys

import pytest
from conftest import snapshot_files

from dynafile import GSI, LSI, Dynafile, Key, SchemaMismatchError, ValidationError


def users(db):
    db.put_item(item={"PK": "u#1", "SK": "profile", "email": "a@x", "city": "Oslo", "age": 30})
    db.put_item(item={"PK": "u#2", "SK": "profile", "email": "b@x", "city": "Oslo", "age": 25})
    db.put_item(item={"PK": "u#3", "SK": "profile", "email": "c@x", "city": "Rome", "age": 41})
    db.put_item(item={"PK": "u#4", "SK": "profile", "city": "Oslo"})  # no email, no age


@pytest.fixture
def idb(db_path):
    db = Dynafile(db_path, durability="normal",
                  gsis=[GSI("by_email", pk_attribute="email"),
                        GSI("by_city", pk_attribute="city", sk_attribute="age"),
                        GSI("city_keys", pk_attribute="city", projection="KEYS_ONLY"),
                        GSI("city_inc", pk_attribute="city", sk_attribute="age",
                            projection="INCLUDE", include=["email"])],
                  lsis=[LSI("by_age", sk_attribute="age")])
    yield db
    db.close()


def test_gsi_query_and_sparse(idb):
    users(idb)
    assert [i["PK"] for i in idb.query("b@x", index="by_email")] == ["u#2"]
    assert [i["PK"] for i in idb.query("Oslo", index="by_city")] == ["u#2", "u#1"]  # u#4 sparse
    assert [i["age"] for i in idb.query("Oslo", index="by_city", scan_index_forward=False)] == [
        30, 25]
    assert [i["PK"] for i in idb.query("Oslo", index="by_city", sk=Key("age").gt(26))] == ["u#1"]
    assert list(idb.query("nobody", index="by_email")) == []


def test_gsi_projections(idb):
    users(idb)
    keys = list(idb.query("Oslo", index="city_keys"))
    assert sorted(keys, key=lambda k: k["PK"]) == [
        {"PK": "u#1", "SK": "profile", "city": "Oslo"},
        {"PK": "u#2", "SK": "profile", "city": "Oslo"},
        {"PK": "u#4", "SK": "profile", "city": "Oslo"}]
    inc = list(idb.query("Oslo", index="city_inc"))
    assert inc[0] == {"PK": "u#2", "SK": "profile", "city": "Oslo", "age": 25, "email": "b@x"}


def test_gsi_follows_updates_and_deletes(idb):
    users(idb)
    idb.put_item(item={"PK": "u#1", "SK": "profile", "email": "new@x", "city": "Rome", "age": 30})
    assert list(idb.query("a@x", index="by_email")) == []
    assert [i["PK"] for i in idb.query("new@x", index="by_email")] == ["u#1"]
    assert [i["PK"] for i in idb.query("Rome", index="by_city")] == ["u#1", "u#3"]
    idb.delete_item(key={"PK": "u#3", "SK": "profile"})
    assert [i["PK"] for i in idb.query("Rome", index="by_city")] == ["u#1"]
    with idb.batch_writer() as w:
        w.delete_item(key={"PK": "u#1", "SK": "profile"})
    assert list(idb.query("Rome", index="by_city")) == []


def test_equal_index_keys_are_kept_apart(idb):
    for i in range(5):
        idb.put_item(item={"PK": f"u#{i}", "SK": "x", "email": "same@x"})
    assert [i["PK"] for i in idb.query("same@x", index="by_email")] == [f"u#{i}" for i in range(5)]


def test_lsi_query(idb):
    for i, age in enumerate([40, 10, 30, 20]):
        idb.put_item(item={"PK": "fam", "SK": f"m{i}", "age": age})
    idb.put_item(item={"PK": "fam", "SK": "pet"})
    assert [i["age"] for i in idb.query("fam", index="by_age")] == [10, 20, 30, 40]
    assert [i["SK"] for i in idb.query("fam", index="by_age", sk=Key("age").between(15, 35))] == [
        "m3", "m2"]
    assert [i["age"] for i in idb.query("fam", index="by_age", sk=Key("age").lte(20),
                                        scan_index_forward=False)] == [20, 10]


def test_index_pagination(idb):
    for i in range(10):
        idb.put_item(item={"PK": f"u#{i:02d}", "SK": "p", "city": "Oslo", "age": i % 4})
    seen, start = [], None
    while True:
        page = idb.query("Oslo", index="by_city", limit=3, exclusive_start_key=start)
        seen += [(i["age"], i["PK"]) for i in page]
        start = page.last_evaluated_key
        if start is None:
            break
        assert set(start) == {"PK", "SK", "city", "age"}
    assert seen == sorted(seen) and len(seen) == 10
    scanned, start = [], None
    while True:
        page = idb.scan(index="by_city", limit=4, exclusive_start_key=start)
        scanned += [i["PK"] for i in page]
        start = page.last_evaluated_key
        if start is None:
            break
    assert sorted(scanned) == [f"u#{i:02d}" for i in range(10)]


def test_index_key_of_wrong_type_is_rejected(idb, db_path):
    users(idb)
    before = snapshot_files(db_path)
    with pytest.raises(ValidationError, match="age"):
        idb.put_item(item={"PK": "u#9", "SK": "p", "city": "Oslo", "age": "old"})
    with pytest.raises(ValidationError, match="email"):
        idb.put_item(item={"PK": "u#9", "SK": "p", "email": ["list"]})
    assert snapshot_files(db_path) == before
    assert idb.get_item(key={"PK": "u#9", "SK": "p"}) is None


def _index_dir(path, name):
    """The data directory of index ``name`` of the database's one table."""
    with open(os.path.join(path, "meta.json")) as f:
        (table,) = json.load(f)["tables"].values()
    entry = table["gsis"].get(name) or table["lsis"][name]
    return os.path.join(path, "data", f"t{table['id']}i{entry['id']}")


def test_layout_on_disk(idb, db_path):
    users(idb)
    idb.checkpoint()
    names = ["by_email", "by_city", "city_keys", "city_inc", "by_age"]
    spaces = sorted(os.listdir(os.path.join(db_path, "data")))
    assert spaces == sorted(["MANIFEST", "t1", *(os.path.basename(_index_dir(db_path, n))
                                                 for n in names)])
    # a handful of items: one partition file per space, however many collections
    for space in spaces[1:]:
        assert len(os.listdir(os.path.join(db_path, "data", space))) == 1


def test_create_gsi_backfills_and_drop_removes(db_path):
    db = Dynafile(db_path, durability="normal")
    users(db)
    with pytest.raises(ValidationError, match="S, N or B") as info:
        db.create_gsi("by_city", pk_attribute="city", key_types={"city": "STRING"})
    assert info.value.attribute == "key_types"
    # key_types, as the DynamoDB backend takes them (a data directory needs none)
    db.create_gsi("by_city", pk_attribute="city", sk_attribute="age", projection="KEYS_ONLY",
                  key_types={"city": "S", "age": "N"})
    assert [i["PK"] for i in db.query("Oslo", index="by_city")] == ["u#2", "u#1"]
    db.create_gsi("by_city", pk_attribute="city", sk_attribute="age", projection="KEYS_ONLY")
    with pytest.raises(SchemaMismatchError):
        db.create_gsi("by_city", pk_attribute="email")
    db.checkpoint()
    first = _index_dir(db_path, "by_city")
    assert os.path.isdir(first)
    db.drop_gsi("by_city")
    with pytest.raises(ValidationError, match="no index"):
        db.query("Oslo", index="by_city")
    db.put_item(item={"PK": "u#5", "SK": "profile", "city": "Oslo", "age": 1})
    db.checkpoint()  # the drop's files go with the next checkpoint
    assert not os.path.exists(first)
    # re-created: holds exactly the current items
    db.delete_item(key={"PK": "u#2", "SK": "profile"})
    db.create_gsi("by_city", pk_attribute="city", sk_attribute="age")
    assert [i["PK"] for i in db.query("Oslo", index="by_city")] == ["u#5", "u#1"]
    with pytest.raises(ValidationError):
        db.drop_gsi("nope")
    db.close()
    db = Dynafile(db_path)
    assert [i["PK"] for i in db.query("Oslo", index="by_city")] == ["u#5", "u#1"]
    db.close()


def test_index_definitions_are_checked_at_open(db_path):
    Dynafile(db_path, gsis=[GSI("by_g", pk_attribute="a")],
             lsis=[LSI("by_l", sk_attribute="b")]).close()
    with pytest.raises(SchemaMismatchError):
        Dynafile(db_path, gsis=[GSI("by_g", pk_attribute="other")])
    with pytest.raises(SchemaMismatchError):
        Dynafile(db_path, lsis=[LSI("by_l", sk_attribute="c")])
    with pytest.raises(SchemaMismatchError):
        Dynafile(db_path, lsis=[])
    db = Dynafile(db_path)  # without arguments: the stored indexes apply
    assert sorted(db.indexes) == ["by_g", "by_l"]
    db.close()
    with pytest.raises(ValidationError):
        Dynafile(db_path, gsis=[LSI("by_y", sk_attribute="y")])


def test_index_created_by_another_instance_is_maintained(db_path):
    a = Dynafile(db_path, durability="normal")
    b = Dynafile(db_path, durability="normal")
    a.put_item(item={"PK": "1", "SK": "x", "tag": "red"})
    b.create_gsi("by_tag", pk_attribute="tag")
    a.put_item(item={"PK": "2", "SK": "x", "tag": "red"})
    assert [i["PK"] for i in b.query("red", index="by_tag")] == ["1", "2"]
    assert [i["PK"] for i in a.query("red", index="by_tag")] == ["1", "2"]
    b.drop_gsi("by_tag")
    a.put_item(item={"PK": "3", "SK": "x", "tag": "red"})
    a.checkpoint()
    assert not os.path.exists(os.path.join(db_path, "_gsi-by_tag"))
    a.close()
    b.close()


def expected_index(db, attr, sk_attr=None):
    out = {}
    for item in db.scan():
        if attr in item and (sk_attr is None or sk_attr in item):
            out.setdefault(item[attr], []).append(
                ((item[sk_attr],) if sk_attr else ()) + (item["PK"], item["SK"]))
    return {k: sorted(v) for k, v in out.items()}


def actual_index(db, name, attr, sk_attr=None):
    out = {}
    for item in db.scan(index=name):
        out.setdefault(item[attr], []).append(
            ((item[sk_attr],) if sk_attr else ()) + (item["PK"], item["SK"]))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_index_agrees_with_table_model_based(db_path, seed):
    rng = random.Random(seed)
    db = Dynafile(db_path, durability="normal", checkpoint_bytes=20_000,
                  gsis=[GSI("by_c", pk_attribute="c", sk_attribute="n")],
                  lsis=[LSI("by_n", sk_attribute="n")])
    model = {}
    for step in range(1000):
        pk, sk = f"p{rng.randrange(8)}", f"s{rng.randrange(12)}"
        action = rng.random()
        if action < 0.5:
            item = {"PK": pk, "SK": sk}
            if rng.random() < 0.8:
                item["c"] = rng.choice("xyz")
            if rng.random() < 0.8:
                item["n"] = rng.randrange(5)
            db.put_item(item=item)
            model[(pk, sk)] = item
        elif action < 0.75:
            db.delete_item(key={"PK": pk, "SK": sk})
            model.pop((pk, sk), None)
        else:
            with db.batch_writer() as w:
                for _ in range(3):
                    k = (f"p{rng.randrange(8)}", f"s{rng.randrange(12)}")
                    item = {"PK": k[0], "SK": k[1], "c": rng.choice("xy"), "n": rng.randrange(3)}
                    w.put_item(item=item)
                    model[k] = item
        if step % 100 == 99:
            assert {(i["PK"], i["SK"]): i for i in db.scan()} == model
            assert actual_index(db, "by_c", "c", "n") == expected_index(db, "c", "n")
            for p in {k[0] for k in model}:
                lsi = [(i["n"], i["SK"]) for i in db.query(p, index="by_n")]
                assert lsi == sorted((v["n"], v["SK"]) for k, v in model.items()
                                     if k[0] == p and "n" in v)
    db.close()
    db = Dynafile(db_path)
    assert actual_index(db, "by_c", "c", "n") == expected_index(db, "c", "n")
    db.close()


BACKFILL_CHILD = r"""
import sys
from dynafile import Dynafile
db = Dynafile(sys.argv[1])
db.create_gsi("by_v", pk_attribute="v")
"""


@pytest.mark.timeout(120)
def test_killed_backfill_resumes_on_open(db_path):
    db = Dynafile(db_path, durability="normal")
    with db.batch_writer() as w:
        for i in range(300):
            w.put_item(item={"PK": f"p{i % 30}", "SK": str(i), "v": i % 7})
    db.close()
    env = dict(os.environ, DYNAFILE_CRASH_AT="log.append.after:10")
    out = subprocess.run([sys.executable, "-c", BACKFILL_CHILD, db_path], env=env, timeout=60)
    assert out.returncode == -9
    db = Dynafile(db_path)  # resumes the backfill
    assert db.indexes["by_v"].pk_attribute == "v"
    got = sorted((i["v"], i["PK"], i["SK"]) for i in db.scan(index="by_v"))
    assert got == sorted((i["v"], i["PK"], i["SK"]) for i in db.scan())
    assert len(got) == 300
    db.close()


def test_index_names_follow_dynamodb_and_never_become_paths(db_path):
    """DynamoDB's rule (3-255 of a-z A-Z 0-9 _ . -), at its limits: stored under
    numeric ids, so a 255-character name is no longer a path than a short one
    (issue 12, item 8); a name DynamoDB refuses changes nothing."""
    db = Dynafile(db_path, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "g": "x"})
    before = snapshot_files(db_path)
    for bad in ("ab", "é" * 127, "a" * 256, "has space"):
        with pytest.raises(ValidationError, match="indexName"):
            db.create_gsi(bad, pk_attribute="g")
    assert snapshot_files(db_path) == before
    long_name = "n" * 255
    db.create_gsi(long_name, pk_attribute="g")
    db.checkpoint()
    db.close()
    with Dynafile(db_path) as again:
        assert [i["SK"] for i in again.query("x", index=long_name)] == ["1"]
        assert again.check().ok
    assert max(len(n) for _, dirs, files in os.walk(db_path) for n in dirs + files) <= 24


def test_a_legacy_short_index_name_still_loads(db_path):
    """dynafile 0.2 accepted 1-2 character index names: a table that has one opens."""
    db = Dynafile(db_path, durability="normal", gsis=[GSI("by_g", pk_attribute="g")])
    db.put_item(item={"PK": "a", "SK": "1", "g": "x"})
    db.close()
    with open(os.path.join(db_path, "meta.json")) as f:
        meta = json.load(f)
    (table,) = meta["tables"].values()
    table["gsis"]["g"] = table["gsis"].pop("by_g")
    with open(os.path.join(db_path, "meta.json"), "w") as f:
        json.dump(meta, f)
    with Dynafile(db_path) as again:
        assert [i["SK"] for i in again.query("x", index="g")] == ["1"]
