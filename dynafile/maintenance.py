"""Schema changes that move data: creating and dropping global secondary indexes.

Both are a change of ``meta.json`` (:meth:`TableCore.change_schema`) plus
logged writes: for a new index one backfill record per item collection, for
a dropped one a drop record that makes every process forget its entries. An
index gets a new id, and so a new space, each time it is created: nothing
of an earlier index of the same name can show through.

A backfill may run in several processes at once (a second opener resumes an
index still being created): each record rewrites one collection's entries
from the items as they are under the write lock, and writes made meanwhile
maintain the index, so the backfills agree and any of them may mark the
index ``ACTIVE`` when it has seen every collection. A backfill that meets an
item the index cannot hold (an index key of a type keys cannot have) removes
the index again and raises: the table stays usable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SchemaMismatchError, TableNotFoundError, ValidationError
from .indexes import Index, index_from_json
from .schema import Schema
from .storage.log import FLAG_DROP_SPACE, Op

if TYPE_CHECKING:  # pragma: no cover
    from .core import TableCore

__all__ = ["create_gsi", "drop_gsi"]


def _drop_record(space: str) -> tuple[list[Op], None]:
    return [Op("", None, None, None, FLAG_DROP_SPACE, space)], None


def create_gsi(core: TableCore, index: Index) -> None:
    """Add a global secondary index and fill it from the table's items.

    Returns once the index is complete. The backfill commits one item
    collection per record, so readers and writers are held up only briefly;
    writes made meanwhile maintain the index. If the process dies, the next
    open resumes it. An index that exists with the same definition is left as
    it is (and finished, if it was still being built).

    Raises:
        SchemaMismatchError: an index of that name exists with another
            definition (or is a local index).
        ValidationError: an item whose index key has a type keys cannot
            have, or another type than the index's key fixed (the index is
            removed again, and the table is as before).

    Cost: one record per item collection of the table.
    """
    active = False

    def declare(schema: Schema) -> bool:
        nonlocal active
        data = schema.gsis.get(index.name)
        if data is not None:
            if index_from_json("gsis", index.name, data) != index:
                raise SchemaMismatchError(
                    f"global index {index.name!r} exists with another definition: {data}")
            active = data.get("state") == "ACTIVE"
            return False
        if index.name in schema.lsis:
            raise SchemaMismatchError(f"{index.name!r} is a local index")
        schema.add_gsi(index.name, index.definition())
        return True

    core.change_schema(declare)
    if active:
        return
    space = core.schema.index_space(core.schema.gsis[index.name])
    try:
        for digest, _ in core.engine.scan(core.space):

            def backfill(digest: str = digest) -> tuple[list[Op], None]:
                collection = core.engine.collection(digest, None, core.space)
                live = core.indexes.indexes.get(index.name)
                if live is None or live.space != space or not collection.items:
                    return [], None  # dropped meanwhile, or emptied
                items = [(sk, core.load(data), data) for sk, data in collection.items.items()]
                return core.indexes.backfill(live, collection.pk, items, core.key_types), None

            core.write(backfill)
    except ValidationError:
        _forget(core, index.name, space)
        raise

    def activate(schema: Schema) -> bool:
        data = schema.gsis.get(index.name)
        if data is None or schema.index_space(data) != space or data.get("state") == "ACTIVE":
            return False
        data["state"] = "ACTIVE"
        return True

    core.change_schema(activate)


def _forget(core: TableCore, name: str, space: str) -> None:
    """Remove index ``name`` whose backfill failed (if it is still that index)."""
    def forget(schema: Schema) -> bool:
        data = schema.gsis.get(name)
        if data is None or schema.index_space(data) != space:
            return False
        del schema.gsis[name]
        return True

    try:
        if core.change_schema(forget):
            core.write(lambda: _drop_record(space))
    except TableNotFoundError:
        pass  # the table went meanwhile: nothing to undo


def drop_gsi(core: TableCore, name: Any) -> None:
    """Remove a global secondary index; its files go at the next checkpoint.

    Raises:
        ValidationError: the table has no global index ``name``.
    """
    spaces: list[str] = []

    def forget(schema: Schema) -> bool:
        if not isinstance(name, str) or name not in schema.gsis:
            raise ValidationError(f"the table has no global index named {name!r}",
                                  attribute="name")
        spaces.append(schema.index_space(schema.gsis.pop(name)))
        return True

    core.change_schema(forget)
    core.write(lambda: _drop_record(spaces[0]))
