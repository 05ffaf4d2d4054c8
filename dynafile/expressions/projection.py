"""Projections: keep only some document paths of an item."""

from __future__ import annotations

import copy
from typing import Any, Callable

from ..types import MISSING
from .paths import Path, get_path

__all__ = ["Projection", "projector"]

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


class Projection:
    """A compiled projection: call it with an item for the part of it the
    paths name; list elements picked by index come back as a shorter list,
    in index order.

    Attributes:
        attributes: the top-level attribute names the paths start with.
    """

    __slots__ = ("_project", "attributes")

    def __init__(self, paths: list[Path]) -> None:
        self.attributes = frozenset(str(p[0]) for p in paths)
        self._project: Callable[[Item], Item]
        if all(len(p) == 1 for p in paths):
            names = [p[0] for p in paths]

            def top_level(item: Item) -> Item:
                return {n: item[n] for n in names if n in item}
            self._project = top_level
        else:
            def project(item: Item) -> Item:
                out: dict = {}
                for path in paths:
                    value = get_path(item, path)
                    if value is not MISSING:
                        _insert(out, path, value)
                return _finish(out)
            self._project = project

    def __call__(self, item: Item) -> Item:
        return self._project(item)


def projector(paths: list[Path]) -> Projection:
    """The :class:`Projection` of ``paths``."""
    return Projection(paths)
