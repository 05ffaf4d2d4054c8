"""What model reads and batches hand back: :class:`Results` (instances from
a query or scan, and the page they came from) and :class:`BatchWrite`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from .. import Page

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["BatchWrite", "Results"]

M = TypeVar("M", bound="Model")


class Results(Generic[M]):
    """Model instances from a query or scan; iterate it, or read a page.

    Attributes:
        items: the instances, as a list.
        last_evaluated_key: pass it as ``exclusive_start_key`` for the next
            page (``None`` when there is nothing more).
        count: how many items matched.
    """

    def __init__(self, page: Page, load: Callable[[dict[str, Any]], M]) -> None:
        self.page = page
        self._load = load

    def __iter__(self) -> Iterator[M]:
        for item in self.page:
            yield self._load(item)

    @property
    def items(self) -> list[M]:
        """Every instance of the page, loaded."""
        return list(self)

    @property
    def last_evaluated_key(self) -> dict[str, Any] | None:
        """The table key to continue from, or ``None``."""
        return self.page.last_evaluated_key

    @property
    def count(self) -> int:
        """How many items matched (after filters)."""
        return self.page.count

    def first(self) -> M | None:
        """The first instance, or ``None``."""
        for instance in self:
            return instance
        return None

    def __repr__(self) -> str:
        return f"<Results {self.page!r}>"


class BatchWrite:
    """Buffered saves and deletes of model instances (:meth:`Model.batch_write`)."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self._writes: list[tuple[str, dict[str, Any]]] = []

    def save(self, instance: Model) -> None:
        """Buffer a save (validated now).

        Raises:
            ValidationError: the instance is invalid.
        """
        self._writes.append(("put", instance.to_item()))

    def delete(self, instance_or_key: Any) -> None:
        """Buffer a delete of an instance or a key of the model."""
        self._writes.append(("delete", self.model.key_of(instance_or_key)))

    def __enter__(self) -> BatchWrite:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None or not self._writes:
            return
        with self.model.table().batch_writer() as writer:
            for kind, body in self._writes:
                if kind == "put":
                    writer.put_item(item=body)
                else:
                    writer.delete_item(key=body)
