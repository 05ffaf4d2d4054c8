"""Document paths: ``a.b[2].c`` as a tuple ``("a", "b", 2, "c")``.

A path element is a ``str`` (a map key) or an ``int`` (a list index).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ValidationError
from ..types import MISSING

__all__ = ["Path", "check_overlaps", "get_path", "parse_plain_path", "path_text"]

Path = tuple[Any, ...]

_INDEX = re.compile(r"\[(\d+)\]")


def parse_plain_path(text: Any, *, attribute: str = "path") -> Path:
    """Split a builder-style path (``Attr("a.b[2]")``, ``set={"a.b": 1}``).

    Dots separate map keys and ``[n]`` selects a list element; every other
    character is part of a name, so no placeholders are needed for names
    with dashes or spaces.

    Raises:
        ValidationError: not a string, empty, or an empty or malformed element.
    """
    if not isinstance(text, str):
        raise ValidationError(f"a path must be a string, got {type(text).__name__}",
                              attribute=attribute)
    if not text:
        raise ValidationError("a path must not be empty", attribute=attribute)
    out: list[Any] = []
    for part in text.split("."):
        bracket = part.find("[")
        name = part if bracket < 0 else part[:bracket]
        if not name:
            raise ValidationError(f"empty name in path {text!r}", attribute=attribute)
        if "]" in name:
            raise ValidationError(f"malformed path {text!r}", attribute=attribute)
        out.append(name)
        rest = "" if bracket < 0 else part[bracket:]
        while rest:
            match = _INDEX.match(rest)
            if match is None:
                raise ValidationError(f"malformed list index in path {text!r}",
                                      attribute=attribute)
            out.append(int(match.group(1)))
            rest = rest[match.end():]
    return tuple(out)


def path_text(path: Sequence[Any]) -> str:
    """The path written back as text: ``a.b[2]``."""
    text = ""
    for element in path:
        if isinstance(element, int):
            text += f"[{element}]"
        else:
            text += element if not text else "." + element
    return text


def get_path(item: Any, path: Path) -> Any:
    """The value at ``path`` in ``item``, or ``MISSING``."""
    value = item
    for element in path:
        if element.__class__ is int:
            if not isinstance(value, (list, tuple)) or element >= len(value):
                return MISSING
            value = value[element]
        else:
            if not isinstance(value, dict):
                return MISSING
            value = value.get(element, MISSING)
            if value is MISSING:
                return MISSING
    return value


def check_overlaps(paths: Iterable[Path], *, attribute: str) -> None:
    """Raise when two paths are the same or one lies inside the other.

    Raises:
        ValidationError: names both paths, as DynamoDB does.
    """
    seen: list[Path] = []
    for path in paths:
        for other in seen:
            short = min(len(path), len(other))
            if path[:short] == other[:short]:
                kind = "conflict" if len(path) == len(other) else "overlap"
                raise ValidationError(
                    f"Two document paths {kind} with each other; must remove or rewrite one "
                    f"of these paths; path one: [{path_text(other)}], path two: "
                    f"[{path_text(path)}]", attribute=attribute)
        seen.append(path)
