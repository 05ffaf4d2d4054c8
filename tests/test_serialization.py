"""Serializers: exact round trips of DynamoDB's types, refusals that name the
attribute, corrupt bytes reported as CorruptFileError (never RecursionError),
and the registry that lets every opener find a table's serializer by name."""

import json
import math
import os
import subprocess
import sys
import textwrap
import zlib
from decimal import Decimal

import pytest
from conftest import table_meta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynafile import (
    CorruptFileError,
    Dynafile,
    SchemaMismatchError,
    Serializer,
    ValidationError,
)
from dynafile.check import check_path
from dynafile.errors import MissingDependencyError
from dynafile.serialization import (
    MAX_DEPTH,
    JSONSerializer,
    MsgpackSerializer,
    PickleSerializer,
    Unvetted,
    get_serializer,
    register_serializer,
    serializer_names,
    unregister_serializer,
)

ROOT = os.path.join(os.path.dirname(__file__), "..")
BUILT_IN = ["pickle", "json", "msgpack"]


class CompressedJSON(Serializer):
    """A serializer of the application's own, for the registry tests."""

    name = "zjson"

    def __init__(self):
        self.inner = JSONSerializer()

    def dumps(self, obj):
        return zlib.compress(self.inner.dumps(obj))

    def loads(self, data):
        try:
            return self.inner.loads(zlib.decompress(data))
        except zlib.error as exc:
            raise CorruptFileError("(stored item)", None, str(exc)) from None


@pytest.fixture
def registered():
    register_serializer("zjson", CompressedJSON)
    yield
    unregister_serializer("zjson")


# ---------------------------------------------------------------- strategies

TAG_KEYS = ["__set__", "__decimal__", "__bytes__", "__dynafile.map__", "__map__"]
names = st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(TAG_KEYS))
big_ints = st.one_of(st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
                     st.sampled_from([2**63, 2**64, 2**64 - 1, -(2**63) - 1, 10**38 - 1]))
floats = st.floats(allow_nan=False, allow_infinity=False)
decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.builds(lambda digits, exp: Decimal(f"{digits}E{exp}"),
              st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
              st.integers(min_value=-130, max_value=125)),
)
numbers = st.one_of(big_ints, floats, decimals)
scalars = st.one_of(st.text(max_size=10), numbers, st.binary(max_size=10), st.booleans(),
                    st.none())
sets = st.one_of(st.frozensets(st.text(max_size=5), min_size=1, max_size=5).map(set),
                 st.frozensets(numbers, min_size=1, max_size=5).map(set),
                 st.frozensets(st.binary(max_size=5), min_size=1, max_size=5).map(set))
values = st.recursive(st.one_of(scalars, sets),
                      lambda inner: st.one_of(st.lists(inner, max_size=4),
                                              st.dictionaries(names, inner, max_size=4)),
                      max_leaves=20)
items = st.dictionaries(names, values, max_size=6)


def same(a, b):
    """Equal with the same Python types: 1, 1.0, True and Decimal("1.0") all differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, set):
        return {_token(x) for x in a} == {_token(x) for x in b}
    return a == b


def _token(x):
    if isinstance(x, Decimal):
        return ("Decimal", x.as_tuple())
    if isinstance(x, float):
        return ("float", repr(x))
    return (type(x).__name__, x)


def nested(levels, leaf="x", kind="map"):
    value = leaf
    for _ in range(levels):
        value = {"a": value} if kind == "map" else [value]
    return value


# -------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", BUILT_IN)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=items)
def test_every_dynamodb_type_round_trips_exactly(name, item):
    serializer = get_serializer(name)
    data = serializer.dumps(item)
    assert isinstance(data, bytes)
    assert same(serializer.loads(data), item)
    assert same(serializer.load_stored(Unvetted(data)), item)  # as read from disk


@settings(max_examples=50, deadline=None)
@given(item=items)
def test_an_application_serializer_round_trips(item):
    serializer = CompressedJSON()
    assert same(serializer.loads(serializer.dumps(item)), item)


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_hard_values(name):
    serializer = get_serializer(name)
    item = {
        "digits38": Decimal("1.234567890123456789012345678901234567"),
        "exp": Decimal("-9.9E+125"), "trailing": Decimal("1.10"), "zero": Decimal("-0"),
        "big": 10**40, "negbig": -(2**70), "u64": 2**64 - 1, "tiny": 5e-324, "neg0": -0.0,
        "bytes": b"\x00\xff" * 3, "empty": b"", "text": "é, \x00, \U0001f600",
        "bool": True, "int": 1, "float": 1.0, "none": None,
        "ss": {"a", "b"}, "ns": {1, Decimal("2.5"), 3.5, 10**40}, "bs": {b"x", b""},
        "looks_like_tags": {"__set__": [1]}, "tag2": {"__decimal__": "1"},
        "tag3": {"__bytes__": "AA=="}, "tag4": {"__dynafile.map__": [["a", 1]]},
        "deep": nested(31), "deeplist": nested(31, kind="list"),
    }
    back = serializer.loads(serializer.dumps(item))
    assert same(back, item)
    assert back["looks_like_tags"] == {"__set__": [1]}


def test_lone_surrogates_json_keeps_them_msgpack_refuses_them():
    assert JSONSerializer().loads(JSONSerializer().dumps({"s": "\ud800"})) == {"s": "\ud800"}
    with pytest.raises(ValidationError, match="lone surrogate"):
        MsgpackSerializer().dumps({"s": "\ud800"})


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_conversions_that_are_documented(name):
    serializer = get_serializer(name)
    back = serializer.loads(serializer.dumps({"t": (1, 2), "f": frozenset({"a"}),
                                              "ba": bytearray(b"ab")}))
    assert back == {"t": [1, 2], "f": {"a"}, "ba": b"ab"}
    assert type(back["f"]) is set and type(back["ba"]) is bytes


def test_json_reads_what_the_earlier_json_serializer_wrote():
    old = json.dumps({"d": {"__decimal__": "1.50"}, "b": {"__bytes__": "AAE="},
                      "s": {"__set__": ["a", "b"]}, "n": [1, 2.5, None, True]}).encode()
    assert same(JSONSerializer().loads(old),
                {"d": Decimal("1.50"), "b": b"\x00\x01", "s": {"a", "b"},
                 "n": [1, 2.5, None, True]})


def test_same_item_same_bytes():
    """Sets are written in a fixed order, so equal items give equal bytes."""
    for name in BUILT_IN[1:]:
        serializer = get_serializer(name)
        a = serializer.dumps({"s": {"b", "a", "c", "d", "e"}, "n": {3, 1, 2.5, 10**40}})
        b = serializer.dumps({"s": {"e", "d", "c", "a", "b"}, "n": {10**40, 2.5, 3, 1}})
        assert a == b


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("name", ["json", "msgpack"])
@pytest.mark.parametrize(("value", "path", "words"), [
    ({"x": float("nan")}, "x", "not a number"),
    ({"x": [1, float("inf")]}, "x[1]", "not a number"),
    ({"x": Decimal("NaN")}, "x", "not a number"),
    ({"m": {1: "a"}}, "m", "map keys must be str"),
    ({"s": {(1, 2)}}, "s", "a set may hold"),
    ({"s": {True}}, "s", "a set may hold"),
    ({"when": __import__("datetime").date(2026, 1, 1)}, "when", "not one of DynamoDB's types"),
    ({"l": [{"o": object()}]}, "l[0].o", "not one of DynamoDB's types"),
    ({"e": __import__("enum").IntEnum("E", "A").A}, "e", "subclass of a DynamoDB type"),
])
def test_values_outside_the_data_model_are_refused_naming_the_path(name, value, path, words):
    with pytest.raises(ValidationError, match=words) as info:
        get_serializer(name).dumps(value)
    assert info.value.attribute == path


@pytest.mark.parametrize("name", ["json", "msgpack"])
@pytest.mark.parametrize("kind", ["map", "list"])
def test_deep_nesting_is_a_validation_error_not_a_recursion_error(name, kind):
    serializer = get_serializer(name)
    serializer.dumps({"v": nested(MAX_DEPTH - 1, kind=kind)})
    with pytest.raises(ValidationError, match=f"nested more than {MAX_DEPTH} levels"):
        serializer.dumps({"v": nested(MAX_DEPTH + 1, kind=kind)})
    with pytest.raises(ValidationError, match="nested more than"):
        serializer.dumps({"v": nested(50_000, kind=kind)})


@pytest.mark.parametrize(("name", "data"), [
    ("json", b"[" * 100_000),
    ("json", b"{\"a\":" * 100_000),
    ("json", b"not json"),
    ("json", b"{\"__decimal__\": \"x\"}"),
    ("json", b"{\"__set__\": [[1]]}"),
    ("json", b"{\"__bytes__\": \"***\"}"),
    ("json", b"{\"__dynafile.map__\": 5}"),
    ("json", b"\xff\xfe"),
    ("msgpack", b"\x91" * 100_000 + b"\xc0"),
    ("msgpack", b"\xc1"),
    ("msgpack", b"\xd4\x07\x00"),   # an unknown extension type
    ("msgpack", b"\xd6\x01\xff\xff\xff\xff"),   # a Decimal that is not text
    ("msgpack", b"\x81\x01\x02"),  # a map with an int key
])
def test_bytes_that_do_not_decode_are_corrupt_file_errors(name, data):
    with pytest.raises(CorruptFileError, match="do not decode"):
        get_serializer(name).loads(data)


def test_a_refused_item_writes_nothing(db_path):
    db = Dynafile(db_path, serializer="msgpack", durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "v": 1})
    before = db.sequence
    with pytest.raises(ValidationError) as info:
        db.put_item(item={"PK": "a", "SK": "1", "v": {"deep": nested(200)}})
    assert info.value.attribute.startswith("v.deep")
    assert db.get_item(key={"PK": "a", "SK": "1"}) == {"PK": "a", "SK": "1", "v": 1}
    assert db.sequence == before  # nothing logged
    db.close()


# --------------------------------------------------------------- the tables


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_a_table_records_its_serializer_and_every_opener_finds_it(db_path, name):
    item = {"PK": "a", "SK": "1", "n": Decimal("3.14"), "b": b"\x00", "s": {"x", "y"},
            "m": {"__set__": "not a tag"}}
    db = Dynafile(db_path, serializer=name, durability="normal")
    db.put_item(item=item)
    db.close()
    db = Dynafile(db_path)  # no serializer given: meta.json names it
    assert db.describe()["serializer"] == name
    assert same(db.get_item(key={"PK": "a", "SK": "1"}), item)
    assert [same(r.new, item) for r in db.stream(from_sequence=0, follow=False)] == [True]
    assert db.check().ok
    db.close()
    assert check_path(db_path).ok
    with pytest.raises(SchemaMismatchError, match="serializer"):
        Dynafile(db_path, serializer="pickle")


def test_a_registered_serializer_is_found_by_name(db_path, registered):
    assert "zjson" in serializer_names()
    db = Dynafile(db_path, serializer="zjson", durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "text": "x" * 1000})
    db.close()
    assert table_meta(db_path)["serializer"] == "zjson"
    db = Dynafile(db_path)
    assert isinstance(db._core.serializer, CompressedJSON)
    assert db.get_item(key={"PK": "a", "SK": "1"})["text"] == "x" * 1000
    db.close()
    report = check_path(db_path)
    assert report.ok and not [w for w in report.warnings if "not built in" in str(w)]


def test_without_its_registration_a_table_says_what_to_do(db_path, registered):
    Dynafile(db_path, serializer="zjson", durability="normal").close()
    unregister_serializer("zjson")
    with pytest.raises(SchemaMismatchError, match="zjson"):
        Dynafile(db_path)
    Dynafile(db_path, serializer=CompressedJSON()).close()  # passing it still works


def test_registry_rules(registered):
    with pytest.raises(ValidationError, match="built-in"):
        register_serializer("json", CompressedJSON)
    with pytest.raises(ValidationError, match="registered already"):
        register_serializer("zjson", JSONSerializer)
    register_serializer("zjson", CompressedJSON)  # the same factory again is no error
    with pytest.raises(ValidationError, match="name"):
        register_serializer("no spaces", CompressedJSON)
    with pytest.raises(ValidationError, match="name"):
        register_serializer("", CompressedJSON)
    with pytest.raises(ValidationError, match="callable"):
        register_serializer("x1", "not a factory")
    register_serializer("wrongname", CompressedJSON)
    try:
        with pytest.raises(ValidationError, match="named 'zjson'"):
            get_serializer("wrongname")  # a table would record the wrong name
    finally:
        unregister_serializer("wrongname")
    register_serializer("notone", dict)
    try:
        with pytest.raises(ValidationError, match="not a Serializer"):
            get_serializer("notone")
    finally:
        unregister_serializer("notone")
    with pytest.raises(ValidationError, match="unknown serializer 'yaml'"):
        get_serializer("yaml")
    assert get_serializer(CompressedJSON).name == "zjson"  # a class is instantiated
    inst = CompressedJSON()
    assert get_serializer(inst) is inst
    assert unregister_serializer("zjson") is True
    assert unregister_serializer("zjson") is False


def test_an_entry_point_makes_a_name_known_to_every_process(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "epcodec-1.0.dist-info").mkdir(parents=True)
    (site / "epcodec-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: epcodec\nVersion: 1.0\n")
    (site / "epcodec-1.0.dist-info" / "entry_points.txt").write_text(
        "[dynafile.serializers]\nepjson = epcodec:EPJSON\n")
    (site / "epcodec.py").write_text(textwrap.dedent("""
        from dynafile.serialization import JSONSerializer

        class EPJSON(JSONSerializer):
            name = "epjson"
    """))
    monkeypatch.syspath_prepend(str(site))
    assert "epjson" in serializer_names()
    path = str(tmp_path / "db")
    db = Dynafile(path, serializer="epjson", durability="normal")
    db.put_item(item={"PK": "a", "SK": "1", "v": Decimal("1.5")})
    db.close()
    script = ("import sys; from dynafile.check import check_path; from dynafile import Dynafile\n"
              f"r = check_path({path!r}); db = Dynafile({path!r}, read_only=True)\n"
              "print(r.ok, db.get_item(key={'PK': 'a', 'SK': '1'})['v'])")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), ROOT]))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split() == ["True", "1.5"], out.stderr


def test_msgpack_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "msgpack", None)  # import msgpack now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'dynafile\[msgpack\]'") as info:
        get_serializer("msgpack")
    assert info.value.extra == "msgpack"
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError):
        MsgpackSerializer()


def test_pickle_still_refuses_globals_outside_its_allowlist():
    import pickle

    from dynafile import UnsafeDataError

    with pytest.raises(UnsafeDataError):
        PickleSerializer().loads(pickle.dumps({"f": os.getcwd}))


def test_the_registry_example_of_the_docs_works(tmp_path):
    """The ```py block of docs/extending.md registers a serializer by name."""
    import re

    with open(os.path.join(ROOT, "docs", "extending.md")) as f:
        (block,) = re.findall(r"```py\n(.*?)```", f.read(), re.DOTALL)
    namespace = {"path": str(tmp_path / "db")}
    first = {"path": namespace["path"]}
    with open(os.path.join(ROOT, "docs", "extending.md")) as f:
        exec(re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)[0], first)  # noqa: S102
    first["db"].close()
    try:
        namespace["CompressedJSON"] = first["CompressedJSON"]
        exec(block, namespace)  # noqa: S102 - the documentation's own example
        assert namespace["db"].get_item(key={"PK": "a", "SK": "1"})["text"] == "x" * 1000
        namespace["db"].close()
    finally:
        unregister_serializer("zjson")
