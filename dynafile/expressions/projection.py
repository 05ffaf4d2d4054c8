"""Projections: keep only some document paths of an item."""

from __future__ import annotations

import copy
from typing import Any, Callable

from ..types import MISSING
from .paths import Path, get_path

__all__ = ["projector"]

Item = dict


class _Slots(dict):
    """List elements picked by index while building a projection."""


def _insert(doc: dict, path: Path, value: Any) -> None:
    node: Any = doc
    for element, following in zip(path, path[1:]):
        child = node.get(element)
        if child is None:
            child = _Slots() if isinstance(following, int) else {}
            node[element] = child
        node = child
    node[path[-1]] = copy.deepcopy(value)


def _finish(node: Any) -> Any:
    if isinstance(node, _Slots):
        return [_finish(node[i]) for i in sorted(node)]
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node


def projector(paths: list[Path]) -> Callable[[Item], Item]:
    """A function returning the part of an item the paths name; list
    elements picked by index come back as a shorter list, in index order."""
    if all(len(p) == 1 for p in paths):
        names = [p[0] for p in paths]

        def top_level(item: Item) -> Item:
            return {n: item[n] for n in names if n in item}
        return top_level

    def project(item: Item) -> Item:
        out: dict = {}
        for path in paths:
            value = get_path(item, path)
            if value is not MISSING:
                _insert(out, path, value)
        return _finish(out)
    return project
