"""Table properties belong to the table (meta.json): an opener that omits one
gets the stored value, one that names another value is refused and changes
nothing, and changing one is an explicit operation seen by every process."""

import subprocess
import sys
import time

import pytest
from conftest import edit_table_meta, snapshot_files, table_meta

from dynafile import LSI, Dynafile, SchemaMismatchError, ValidationError
from dynafile.cli import main as cli_main


class Clock:
    def __init__(self):
        self.now = time.time()  # near the real time: the CLI reads with the real clock

    def __call__(self):
        return self.now


def _expired_table(path, clock):
    db = Dynafile(path, "id", "at", ttl_attribute="exp", clock=clock, durability="normal",
                  serializer="json", stream_view_type="NEW_IMAGE", lsis=[LSI("by_v", "v")])
    db.put_item(item={"id": "a", "at": 1, "v": 1, "exp": clock.now - 10})
    db.put_item(item={"id": "a", "at": 2, "v": 2, "exp": clock.now + 1000})
    db.close()


def test_an_opener_that_omits_properties_gets_the_stored_ones(db_path, capsys):
    clock = Clock()
    _expired_table(db_path, clock)
    db = Dynafile(db_path, clock=clock)
    assert (db.pk_attribute, db.sk_attribute, db.ttl_attribute, db.stream_view_type) == \
        ("id", "at", "exp", "NEW_IMAGE")
    assert db.describe()["serializer"] == "json"
    assert [i["at"] for i in db.query("a")] == [2]  # the expired item is hidden
    assert db.get_item(key={"id": "a", "at": 1}) is None
    assert [i["at"] for i in db.query("a", index="by_v")] == [2]
    assert db.sweep_expired() == 1
    db.close()
    assert cli_main(["get", db_path, "--pk", "a", "--sk", "2"]) == 0
    assert cli_main(["get", db_path, "--pk", "a", "--sk", "1"]) == 1  # swept


@pytest.mark.parametrize("option,value", [
    ("pk_attribute", "PK"), ("sk_attribute", None), ("ttl_attribute", "other"),
    ("ttl_attribute", None), ("stream_view_type", "KEYS_ONLY"), ("serializer", "pickle"),
    ("lsis", []), ("lsis", [LSI("by_v", "w")]),
])
def test_an_opener_that_names_another_value_is_refused(db_path, option, value):
    clock = Clock()
    _expired_table(db_path, clock)
    before = snapshot_files(db_path)
    with pytest.raises(SchemaMismatchError) as info:
        Dynafile(db_path, clock=clock, **{option: value})
    assert snapshot_files(db_path) == before
    if option in ("ttl_attribute", "stream_view_type"):
        assert "update_" in str(info.value)  # says how to change it


def test_update_time_to_live_reaches_every_process(db_path):
    clock = Clock()
    db = Dynafile(db_path, clock=clock, durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "until": clock.now - 1})
    other = Dynafile(db_path, clock=clock)
    assert other.get_item(key={"PK": "a", "SK": "1"}) is not None
    db.update_time_to_live("until")
    assert db.ttl_attribute == "until"
    assert other.get_item(key={"PK": "a", "SK": "1"}) is None  # its next read reloads
    assert other.ttl_attribute == "until"
    code = ("import sys; from dynafile import Dynafile\n"
            "db = Dynafile(sys.argv[1])\n"
            "print(db.ttl_attribute, db.sweep_expired())\n"
            "db.close()\n")
    out = subprocess.run([sys.executable, "-c", code, db_path], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["until", "1"]
    db.update_time_to_live(None)
    assert other.ttl_attribute is None
    with pytest.raises(ValidationError):
        db.update_time_to_live("")
    other.close()
    db.close()
    assert table_meta(db_path)["ttl_attribute"] is None


def test_stream_view_type_is_stored_and_changed_explicitly(db_path):
    db = Dynafile(db_path, durability="normal", stream_view_type="OLD_IMAGE")
    db.put_item(item={"PK": "a", "SK": "1"})
    db.put_item(item={"PK": "a", "SK": "1", "x": 1})
    (record,) = db.stream(from_sequence=db.sequence - 1, follow=False)
    assert record.old == {"PK": "a", "SK": "1"} and record.new is None
    db.update_table(stream_view_type="NEW_AND_OLD_IMAGES")
    db.close()
    db = Dynafile(db_path)
    assert db.stream_view_type == "NEW_AND_OLD_IMAGES"
    with pytest.raises(ValidationError):
        db.update_table(stream_view_type="ALL")
    db.close()


def test_a_table_from_before_stream_view_types_were_stored_records_the_first_one(db_path):
    Dynafile(db_path, durability="normal").close()
    edit_table_meta(db_path, lambda entry: entry.pop("stream_view_type", None))
    with Dynafile(db_path, stream_view_type="KEYS_ONLY") as db:
        assert db.stream_view_type == "KEYS_ONLY"
    assert table_meta(db_path)["stream_view_type"] == "KEYS_ONLY"
    with pytest.raises(SchemaMismatchError):
        Dynafile(db_path, stream_view_type="NEW_IMAGE")
