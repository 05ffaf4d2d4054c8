"""Property-based checks of the expression language (Hypothesis).

Random conditions are built three ways: with the builder, rendered as a
DynamoDB string with placeholders, and evaluated by an independent oracle
written here from DynamoDB's documented rules. All three must agree on
random items, numbers compared by decimal value whatever their Python type
(``0.1`` is ``Decimal("0.1")``). A string DynamoDB would refuse (an
ordering comparison with a BOOL, a BETWEEN whose bounds are out of order)
must be refused. The builder's own rendering (``to_expression``) parses
back to the same condition. Random text must never make the parser raise
anything but ValidationError.
"""

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynafile import Attr, ValidationError
from dynafile.expressions import compile_projection, compile_update, to_predicate

ATTRS = ["a", "b", "n", "m"]

scalars = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([0.5, -1.5, 2.0, 0.1, 0.3]),
    st.sampled_from([Decimal(1), Decimal("2.5"), Decimal("0.1"), Decimal("0.10"),
                     Decimal("0.30"), Decimal("2.000")]),
    st.sampled_from(["", "a", "ab", "b", "abc"]),
    st.sampled_from([b"", b"a", b"ab"]),
    st.booleans(),
    st.none(),
)
values_ = st.one_of(
    scalars,
    st.lists(st.integers(0, 3), max_size=3),
    st.lists(st.sampled_from(["a", "b"]), max_size=3),
    st.frozensets(st.sampled_from(["a", "b", "c"]), min_size=1).map(set),
    st.frozensets(st.integers(0, 3), min_size=1).map(set),
    st.frozensets(st.sampled_from([0.1, 2.5, Decimal(1)]), min_size=1).map(set),
    st.lists(st.sampled_from([0.1, Decimal("0.1"), 1, Decimal("2.5")]), max_size=3),
    st.fixed_dictionaries({"x": st.integers(0, 2)}),
)
items = st.dictionaries(st.sampled_from(ATTRS), values_, max_size=4)
operands = st.one_of(scalars, st.sampled_from([["a"], [1], {"x": 1}, {"a"}]))

COMPARATORS = ["=", "<>", "<", "<=", ">", ">="]
TYPES = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"]

leaf = st.one_of(
    st.tuples(st.just("cmp"), st.sampled_from(COMPARATORS), st.sampled_from(ATTRS), operands),
    st.tuples(st.just("between"), st.sampled_from(ATTRS), scalars, scalars),
    st.tuples(st.just("in"), st.sampled_from(ATTRS), st.lists(scalars, min_size=1, max_size=3)),
    st.tuples(st.just("exists"), st.sampled_from(ATTRS)),
    st.tuples(st.just("not_exists"), st.sampled_from(ATTRS)),
    st.tuples(st.just("begins_with"), st.sampled_from(ATTRS), st.sampled_from(["", "a", b"a"])),
    st.tuples(st.just("contains"), st.sampled_from(ATTRS),
              st.sampled_from(["a", "b", 1, b"a", Decimal("0.1"), 0.1, 2.5, Decimal(1)])),
    st.tuples(st.just("size"), st.sampled_from(COMPARATORS), st.sampled_from(ATTRS),
              st.integers(0, 3)),
    st.tuples(st.just("type"), st.sampled_from(ATTRS), st.sampled_from(TYPES)),
    st.tuples(st.just("nested"), st.sampled_from(COMPARATORS), st.integers(0, 2)),
)
conditions = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.tuples(st.just("and"), inner, inner),
        st.tuples(st.just("or"), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=6,
)


# --------------------------------------------------------------- the oracle

def dtype(v):
    if isinstance(v, bool):
        return "BOOL"
    if isinstance(v, (int, float, Decimal)):
        return "N"
    if isinstance(v, str):
        return "S"
    if isinstance(v, bytes):
        return "B"
    if v is None:
        return "NULL"
    if isinstance(v, list):
        return "L"
    if isinstance(v, dict):
        return "M"
    if isinstance(v, set):
        if all(isinstance(x, str) for x in v):
            return "SS"
        if all(isinstance(x, bytes) for x in v):
            return "BS"
        return "NS"
    raise AssertionError(v)


MISSING = object()


def dec(n):
    """A number as DynamoDB reads it: the decimal its text says."""
    return Decimal(str(n))


def same(a, b):
    if a is MISSING or b is MISSING or dtype(a) != dtype(b):
        return False
    if dtype(a) == "N":
        return dec(a) == dec(b)
    if dtype(a) == "NS":
        return {dec(x) for x in a} == {dec(y) for y in b}
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def comparable(a, b):
    return (a is not MISSING and b is not MISSING and dtype(a) in ("N", "S", "B")
            and dtype(a) == dtype(b))


def less_equal(a, b):
    return dec(a) <= dec(b) if dtype(a) == "N" else a <= b


def compare(op, a, b):
    if op == "=":
        return same(a, b)
    if op == "<>":
        return not same(a, b)
    if not comparable(a, b):
        return False
    if dtype(a) == "N":
        a, b = dec(a), dec(b)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def size(v):
    if v is MISSING or dtype(v) in ("N", "BOOL", "NULL"):
        return MISSING
    return len(v)


def oracle(cond, item):
    kind = cond[0]
    get = lambda name: item.get(name, MISSING)
    if kind == "cmp":
        return compare(cond[1], get(cond[2]), cond[3])
    if kind == "between":
        x, lo, hi = get(cond[1]), cond[2], cond[3]
        return comparable(x, lo) and comparable(x, hi) and less_equal(lo, x) and \
            less_equal(x, hi)
    if kind == "in":
        return any(same(get(cond[1]), v) for v in cond[2])
    if kind == "exists":
        return cond[1] in item
    if kind == "not_exists":
        return cond[1] not in item
    if kind == "begins_with":
        x, p = get(cond[1]), cond[2]
        return x is not MISSING and type(x) is type(p) and isinstance(p, (str, bytes)) and \
            x.startswith(p)
    if kind == "contains":
        x, v = get(cond[1]), cond[2]
        if isinstance(x, (str, bytes)) and not isinstance(x, bool):
            return type(x) is type(v) and v in x
        if isinstance(x, (set, list)):
            return any(same(e, v) for e in x)
        return False
    if kind == "size":
        return compare(cond[1], size(get(cond[2])), cond[3])
    if kind == "type":
        x = get(cond[1])
        return x is not MISSING and dtype(x) == cond[2]
    if kind == "nested":
        m = get("m")
        x = m.get("x", MISSING) if isinstance(m, dict) else MISSING
        return compare(cond[1], x, cond[2])
    if kind == "and":
        return oracle(cond[1], item) and oracle(cond[2], item)
    if kind == "or":
        return oracle(cond[1], item) or oracle(cond[2], item)
    return not oracle(cond[1], item)


def refused(cond):
    """True when DynamoDB refuses the condition's text outright: an ordering
    comparison or BETWEEN with a value that has no order (BOOL, NULL, a set,
    list or map), or BETWEEN bounds of two types or out of order."""
    kind = cond[0]
    if kind == "cmp":
        return cond[1] not in ("=", "<>") and dtype(cond[3]) not in ("N", "S", "B")
    if kind == "between":
        lo, hi = cond[2], cond[3]
        if dtype(lo) not in ("N", "S", "B") or dtype(hi) not in ("N", "S", "B"):
            return True
        return dtype(lo) != dtype(hi) or not less_equal(lo, hi)
    if kind in ("and", "or"):
        return refused(cond[1]) or refused(cond[2])
    if kind == "not":
        return refused(cond[1])
    return False


# -------------------------------------------------------------- the builder

BUILD_OPS = {"=": "eq", "<>": "ne", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def build(cond):
    kind = cond[0]
    if kind == "cmp":
        return getattr(Attr(cond[2]), BUILD_OPS[cond[1]])(cond[3])
    if kind == "between":
        return Attr(cond[1]).between(cond[2], cond[3])
    if kind == "in":
        return Attr(cond[1]).is_in(cond[2])
    if kind == "exists":
        return Attr(cond[1]).exists()
    if kind == "not_exists":
        return Attr(cond[1]).not_exists()
    if kind == "begins_with":
        return Attr(cond[1]).begins_with(cond[2])
    if kind == "contains":
        return Attr(cond[1]).contains(cond[2])
    if kind == "size":
        return getattr(Attr(cond[2]).size(), BUILD_OPS[cond[1]])(cond[3])
    if kind == "type":
        return Attr(cond[1]).attribute_type(cond[2])
    if kind == "nested":
        return getattr(Attr("m.x"), BUILD_OPS[cond[1]])(cond[2])
    if kind == "and":
        return build(cond[1]) & build(cond[2])
    if kind == "or":
        return build(cond[1]) | build(cond[2])
    return ~build(cond[1])


# ------------------------------------------------------------- the renderer

def render(cond, names, values):
    def name(attr):
        key = f"#{attr}"
        names[key] = attr
        return key

    def value(v):
        key = f":v{len(values)}"
        values[key] = v
        return key

    kind = cond[0]
    if kind == "cmp":
        return f"{name(cond[2])} {cond[1]} {value(cond[3])}"
    if kind == "between":
        return f"{name(cond[1])} BETWEEN {value(cond[2])} AND {value(cond[3])}"
    if kind == "in":
        return f"{name(cond[1])} IN ({', '.join(value(v) for v in cond[2])})"
    if kind == "exists":
        return f"attribute_exists({name(cond[1])})"
    if kind == "not_exists":
        return f"attribute_not_exists({name(cond[1])})"
    if kind == "begins_with":
        return f"begins_with({name(cond[1])}, {value(cond[2])})"
    if kind == "contains":
        return f"contains({name(cond[1])}, {value(cond[2])})"
    if kind == "size":
        return f"size({name(cond[2])}) {cond[1]} {value(cond[3])}"
    if kind == "type":
        return f"attribute_type({name(cond[1])}, {value(cond[2])})"
    if kind == "nested":
        return f"{name('m')}.x {cond[1]} {value(cond[2])}"
    if kind == "and":
        return f"({render(cond[1], names, values)}) AND ({render(cond[2], names, values)})"
    if kind == "or":
        return f"({render(cond[1], names, values)}) or ({render(cond[2], names, values)})"
    return f"NOT ({render(cond[1], names, values)})"


GRAMMAR_WORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "size", "attribute_exists",
                 "attribute_not_exists", "attribute_type", "begins_with", "contains"}


@settings(max_examples=500, deadline=None)
@given(conditions, st.lists(items, min_size=1, max_size=5))
def test_builder_string_and_oracle_agree(cond, sample):
    names, values = {}, {}
    text = render(cond, names, values)
    from_builder = build(cond)
    rendered, rendered_names, rendered_values = from_builder.to_expression()
    # every name is a placeholder: a builder never meets the reserved-word rule
    words = set(re.findall(r"(?<![#:\w])[A-Za-z_]\w*", rendered))
    assert words <= GRAMMAR_WORDS, rendered
    if refused(cond):
        with pytest.raises(ValidationError):
            to_predicate(text, names, values)
        with pytest.raises(ValidationError):
            to_predicate(rendered, rendered_names, rendered_values)
        from_string = from_rendering = None
    else:
        from_string = to_predicate(text, names, values)
        from_rendering = to_predicate(rendered, rendered_names, rendered_values)
    for item in sample:
        expected = oracle(cond, item)
        assert from_builder(item) is expected, (text, item)
        assert from_builder.compile()(item) is expected, (text, item)
        if from_string is not None:
            assert bool(from_string(item)) is expected, (text, item)
            assert bool(from_rendering(item)) is expected, (rendered, item)


TOKENS = ["a", "#n", ":v", ":w", "(", "((", ")", ",", ".", "[", "]", "0", "=", "<>", "<", ">=",
          "status", "COUNT", " size(", "1.5", "'x'",
          "+", "-", " AND ", " OR ", " NOT ", " BETWEEN ", " IN ", "SET ", " REMOVE ",
          " ADD ", " DELETE ", "size", "attribute_exists", "begins_with", "contains",
          "if_not_exists", "list_append", "==", "=~", "/x/", '"s"', "10.5", "$", " "]
expression_text = st.one_of(st.text(max_size=40),
                            st.lists(st.sampled_from(TOKENS), max_size=14).map("".join))


@settings(max_examples=600, deadline=None)
@given(expression_text)
def test_random_text_raises_only_validation_errors(text):
    names, values = {"#n": "n"}, {":v": 1, ":w": [1]}
    for call in (
        lambda: to_predicate(text, names, values),
        lambda: to_predicate(text, None, None),
        lambda: compile_update(text, names, values),
        lambda: compile_projection(text, names),
    ):
        try:
            result = call()
        except ValidationError:
            continue
        if callable(result):
            try:
                result({"n": 1, "a": [1, 2]})
            except ValidationError:
                pass
        elif hasattr(result, "apply"):
            try:
                result.apply({"n": 1, "a": [1, 2]})
            except ValidationError:
                pass


def test_cached_parse_keeps_types_and_values_apart():
    item = {"a": 1, "l": [1]}
    assert to_predicate("a = :v", None, {":v": 1})(item) is True
    assert to_predicate("a = :v", None, {":v": True})(item) is False  # not the cached tree
    assert to_predicate("a = :v", None, {":v": 1.0})(item) is True
    mine = [1]
    assert to_predicate("l = :v", None, {":v": mine})(item) is True
    mine.append(2)  # mutating the caller's value cannot change the cached tree
    assert to_predicate("l = :v", None, {":v": mine})(item) is False
    assert to_predicate("l = :v", None, {":v": [1]})(item) is True
