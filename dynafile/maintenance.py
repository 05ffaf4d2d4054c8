"""Schema and housekeeping operations: creating and dropping global secondary
indexes, and sweeping expired items (mixed into :class:`Dynafile`)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from typing import Any

from .errors import SchemaMismatchError, ValidationError
from .indexes import GSI, index_from_json
from .storage.log import FLAG_DROP_SPACE, FLAG_EXPIRED, Op
from .ttl import is_expired

__all__ = ["MaintenanceMixin"]

log = logging.getLogger("dynafile")


class MaintenanceMixin:
    """Index creation and drop, TTL sweeping."""

    # ------------------------------------------------------------- indexes

    def create_gsi(self, name: str | GSI, pk_attribute: str | None = None,
                   sk_attribute: str | None = None, projection: str = "ALL",
                   include: Sequence[str] | None = None) -> None:
        """Add a global secondary index and fill it from the table's items.

        Takes a :class:`~dynafile.indexes.GSI` or its arguments. Returns once
        the index is complete. The backfill commits one partition at a time,
        so readers and writers are held up only briefly; writes made meanwhile
        maintain the index. If the process dies, the next open resumes it.
        Creating an index that exists with the same definition does nothing.

        Raises:
            SchemaMismatchError: an index of that name exists with another
                definition (or is a local index).
            ValidationError: bad arguments, or an item whose index key has a
                type keys cannot have (the index is then left being created).
        """
        self._check_open()
        index = name if isinstance(name, GSI) else GSI(name, pk_attribute,  # type: ignore[arg-type]
                                                       sk_attribute, projection, include)
        engine = self._engine
        with engine.maintenance():
            gsis = self._schema.extra.setdefault("gsis", {})
            data = gsis.get(index.name)
            if data is not None:
                if index_from_json("g", index.name, data) != index:
                    raise SchemaMismatchError(
                        f"global index {index.name!r} exists with another definition: {data}")
                if data.get("state") == "ACTIVE":
                    return
            if index.name in self._schema.extra.get("lsis", {}):
                raise SchemaMismatchError(f"{index.name!r} is a local index")
            shutil.rmtree(os.path.join(self.path, f"_gsi-{index.name}"), ignore_errors=True)
            gsis[index.name] = {**index.definition(), "state": "CREATING"}
            self._schema.write(self.path)
            self._meta_sig = self._stat_meta()
            self._load_indexes()
        # Start from nothing (a half-built or re-created index), then add every item.
        engine.write(lambda: ([Op("", None, None, None, FLAG_DROP_SPACE, index.space)], None))
        with engine.lock.thread_lock:
            engine.refresh()
            digests = engine.digests()
        for digest in digests:

            def prepare(digest: str = digest) -> tuple[list[Op], None]:
                part = engine.partition(digest)
                live = self._indexes.indexes.get(index.name)
                if live is None or not part.items:
                    return [], None  # dropped meanwhile, or emptied
                return self._indexes.backfill_ops(live, part.pk, list(part.items.items())), None

            engine.write(prepare)
        with engine.maintenance():
            data = self._schema.extra.get("gsis", {}).get(index.name)
            if data is not None:
                data["state"] = "ACTIVE"
                self._schema.write(self.path)
                self._meta_sig = self._stat_meta()

    def drop_gsi(self, name: str) -> None:
        """Remove a global secondary index and its files.

        Raises:
            ValidationError: the table has no global index ``name``.
        """
        self._check_open()
        engine = self._engine
        with engine.maintenance():
            gsis = self._schema.extra.get("gsis", {})
            if name not in gsis:
                raise ValidationError(f"the table has no global index named {name!r}",
                                      attribute="name")
            del gsis[name]
            self._schema.write(self.path)
            self._meta_sig = self._stat_meta()
            self._load_indexes()
        engine.write(lambda: ([Op("", None, None, None, FLAG_DROP_SPACE, f"g:{name}")], None))
        with engine.maintenance():
            if name not in self._schema.extra.get("gsis", {}):
                shutil.rmtree(os.path.join(self.path, f"_gsi-{name}"), ignore_errors=True)

    @property
    def indexes(self) -> dict[str, Any]:
        """The table's secondary indexes by name (GSI and LSI objects)."""
        with self._engine.lock.thread_lock:
            self._refresh_schema()
        return dict(self._indexes.indexes)

    # ------------------------------------------------------------------ TTL

    def sweep_expired(self, batch_size: int = 1000) -> int:
        """Delete every expired item for real and return how many were deleted.

        The deletes are ordinary logged writes (``batch_size`` per record);
        their events are ``DELETE`` with ``expired=True`` (DynamoDB's
        service-identity REMOVE records). A table without ``ttl_attribute``
        sweeps nothing. Cost: a full scan.
        """
        self._check_open()
        if self.ttl_attribute is None:
            return 0
        engine = self._engine
        now = self._clock()
        expired: list[tuple[Any, Any]] = []
        with engine.lock.thread_lock:
            engine.refresh()
            digests = engine.digests()
        for digest in digests:
            with engine.lock.thread_lock:
                part = engine.partition(digest)
                pairs = list(part.items.items())
                pk = part.pk
            for sk, data in pairs:
                if is_expired(self._load_held(data), self.ttl_attribute, now):
                    expired.append((pk, sk))
        deleted = 0
        for start in range(0, len(expired), batch_size):
            chunk = expired[start : start + batch_size]

            def prepare(chunk: list[tuple[Any, Any]] = chunk) -> tuple[list[Op], int]:
                ops = []
                for npk, nsk in chunk:
                    current = engine.partition(engine.digest(npk), npk).items.get(nsk)
                    # Re-check under the lock: it may have been rewritten since.
                    if current is not None and is_expired(self._load_held(current),
                                                          self.ttl_attribute, now):
                        ops.append(Op(npk, nsk, None, current, FLAG_EXPIRED))
                return ops, len(ops)

            deleted += engine.write(prepare)
        return deleted

    def _sweep_loop(self, interval: float) -> None:
        while not self._sweeper_stop.wait(interval):
            if self._engine.closed:
                return
            try:
                self.sweep_expired()
            except Exception:  # keep sweeping; report through logging
                import logging

                logging.getLogger("dynafile").exception("TTL sweep failed")
