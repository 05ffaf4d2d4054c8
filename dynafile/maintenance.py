"""Schema changes that move data: creating and dropping global secondary indexes.

Both are a change of ``meta.json`` (:meth:`TableCore.change_schema`) plus
logged writes: a drop record that makes every process forget the index's
entries, and for a new index one backfill record per partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SchemaMismatchError, ValidationError
from .indexes import GSI
from .schema import Schema
from .storage import fs
from .storage.layout import TABLE, gsi_space
from .storage.log import FLAG_DROP_SPACE, Op

if TYPE_CHECKING:  # pragma: no cover
    from .core import TableCore

__all__ = ["create_gsi", "drop_gsi"]


def _drop_record(space: str) -> tuple[list[Op], None]:
    return [Op("", None, None, None, FLAG_DROP_SPACE, space)], None


def create_gsi(core: TableCore, index: GSI) -> None:
    """Add a global secondary index and fill it from the table's items.

    Returns once the index is complete. The backfill commits one partition
    per record, so readers and writers are held up only briefly; writes
    made meanwhile maintain the index. If the process dies, the next open
    resumes it. An index that exists with the same definition is left as
    it is (and finished, if it was still being built).

    Raises:
        SchemaMismatchError: an index of that name exists with another
            definition (or is a local index).
        ValidationError: an item whose index key has a type keys cannot
            have (the index is then left being created).

    Cost: one record per partition of the table.
    """
    active = False

    def declare(schema: Schema) -> bool:
        nonlocal active
        data = schema.gsis.get(index.name)
        if data is not None:
            if GSI.from_json(index.name, data) != index:
                raise SchemaMismatchError(
                    f"global index {index.name!r} exists with another definition: {data}")
            active = data.get("state") == "ACTIVE"
            if active:
                return False
        if index.name in schema.lsis:
            raise SchemaMismatchError(f"{index.name!r} is a local index")
        directory = core.layout.index_dir(index.space)
        if directory is not None:
            fs.remove_tree(directory)  # what an earlier index of that name left
        schema.gsis[index.name] = {**index.definition(), "state": "CREATING"}
        return True

    core.change_schema(declare)
    if active:
        return
    # Start from nothing (a half-built or re-created index), then add every item.
    core.write(lambda: _drop_record(index.space))
    with core.reading() as engine:
        digests = engine.digests(TABLE)
    for digest in digests:

        def backfill(digest: str = digest) -> tuple[list[Op], None]:
            part = core.engine.partition(digest)
            live = core.indexes.indexes.get(index.name)
            if live is None or not part.items:
                return [], None  # dropped meanwhile, or emptied
            items = [(sk, core.load(data), data) for sk, data in part.items.items()]
            return core.indexes.backfill(live, part.pk, items, core.key_types), None

        core.write(backfill)

    def activate(schema: Schema) -> bool:
        data = schema.gsis.get(index.name)
        if data is None or data.get("state") == "ACTIVE":
            return False
        data["state"] = "ACTIVE"
        return True

    core.change_schema(activate)


def drop_gsi(core: TableCore, name: Any) -> None:
    """Remove a global secondary index and its files.

    Raises:
        ValidationError: the table has no global index ``name``.
    """

    def forget(schema: Schema) -> bool:
        if not isinstance(name, str) or name not in schema.gsis:
            raise ValidationError(f"the table has no global index named {name!r}",
                                  attribute="name")
        del schema.gsis[name]
        return True

    core.change_schema(forget)
    space = gsi_space(name)
    core.write(lambda: _drop_record(space))
    with core.engine.exclusive():
        core.reload_schema()
        directory = core.layout.index_dir(space)
        if name not in core.schema.gsis and directory is not None:
            fs.remove_tree(directory)
