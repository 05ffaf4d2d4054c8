"""The one exception hierarchy of dynafile.

Every error dynafile raises on purpose derives from :class:`DynafileError`.
Each subclass also derives from the nearest built-in exception, so code that
already catches ``ValueError`` or ``OSError`` keeps working, and uses
DynamoDB's name where DynamoDB has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "CancellationReason",
    "ClosedError",
    "ConditionalCheckFailedError",
    "ConsumerBusyError",
    "CorruptFileError",
    "DecryptionError",
    "DynafileError",
    "EncryptionKeyError",
    "ForkedProcessError",
    "ItemNotFoundError",
    "ItemTooLargeError",
    "LockTimeoutError",
    "MissingDependencyError",
    "ModelTypeError",
    "SchemaMismatchError",
    "StreamTrimmedError",
    "TableExistsError",
    "TableNotFoundError",
    "TransactionCanceledError",
    "TransactionConflictError",
    "UnsafeDataError",
    "UnsupportedFormatError",
    "ValidationError",
]


class DynafileError(Exception):
    """Base class of every error dynafile raises on purpose.

    Attributes:
        dynamodb_name: the exception DynamoDB raises for the same problem
            (``"ValidationException"``, ``"ResourceNotFoundException"``...);
            ``"InternalServerError"`` where DynamoDB has none.
    """

    dynamodb_name: ClassVar[str] = "InternalServerError"


class ValidationError(DynafileError, ValueError):
    """A request is malformed: nothing was read or written.

    Attributes:
        attribute: the attribute (or argument) at fault, when there is one.
        reason: what is wrong with it, in words. Where DynamoDB has a
            message for the problem (every error of ``dynafile.types`` and
            ``dynafile.expressions``), ``reason`` is that message exactly,
            so a DynamoDB-compatible server can return it unchanged.
        position: for expression strings, the 0-based character offset of
            the problem, when known.
        hint: dynafile's advice on fixing it (``"values are :placeholders"``),
            or ``None``. Shown by ``str(err)``, never part of ``reason``.
        dynamodb_name: the exception DynamoDB raises for it
            (``"ValidationException"``).
    """

    dynamodb_name: ClassVar[str] = "ValidationException"

    def __init__(
        self,
        reason: str,
        *,
        attribute: str | None = None,
        position: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.attribute = attribute
        self.position = position
        self.hint = hint
        text = reason
        if attribute is not None and attribute not in reason:
            text = f"{attribute}: {reason}"
        if position is not None:
            text = f"{text} (at position {position})"
        if hint is not None:
            text = f"{text} (hint: {hint})"
        super().__init__(text)


class ItemTooLargeError(ValidationError):
    """An item is larger than the table's ``max_item_size`` (DynamoDB's 400 KB).

    Attributes:
        size: the item's size in bytes (DynamoDB's measure: attribute names
            plus values).
        limit: the limit it exceeds.
    """

    def __init__(self, size: int, limit: int, *, update: bool = False) -> None:
        self.size = size
        self.limit = limit
        # DynamoDB's wording, which differs for the result of an update
        what = "Item size to update" if update else "Item size"
        super().__init__(f"{what} has exceeded the maximum allowed size",
                         hint=f"the item is {size} bytes; the limit is {limit}")


class SchemaMismatchError(DynafileError, ValueError):
    """The directory holds a table whose schema differs from what was asked.

    Raised when opening with other key attributes than ``meta.json`` records,
    or with a conflicting index definition.
    """


class UnsupportedFormatError(SchemaMismatchError):
    """``meta.json`` carries a format version this release cannot read.

    Attributes:
        version: the version found (``1``: a table of dynafile 0.2, which
            ``dynafile migrate`` upgrades).
    """

    def __init__(self, message: str, version: Any = None) -> None:
        self.version = version
        super().__init__(message)


class TableNotFoundError(DynafileError, LookupError):
    """A database holds no table of that name (DynamoDB's ResourceNotFoundException)."""

    dynamodb_name: ClassVar[str] = "ResourceNotFoundException"


class TableExistsError(DynafileError, ValueError):
    """A table of that name exists already (DynamoDB's ResourceInUseException)."""

    dynamodb_name: ClassVar[str] = "ResourceInUseException"


class ConditionalCheckFailedError(DynafileError):
    """A write's condition did not hold; nothing was written.

    Attributes:
        item: the item as it was when the condition was checked, if the
            caller asked for it (``return_values_on_condition_check_failure=
            "ALL_OLD"``), else ``None``.
    """

    dynamodb_name: ClassVar[str] = "ConditionalCheckFailedException"

    def __init__(self, message: str = "The conditional request failed", item: Any = None) -> None:
        self.item = item
        super().__init__(message)


class CancellationReason:
    """Why one action of a cancelled transaction failed (or ``code=None``)."""

    __slots__ = ("code", "item", "message")

    def __init__(self, code: str | None, message: str = "", item: Any = None) -> None:
        self.code = code
        self.message = message
        self.item = item

    def __repr__(self) -> str:
        return f"CancellationReason(code={self.code!r}, message={self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CancellationReason):
            return NotImplemented
        return (self.code, self.message, self.item) == (other.code, other.message, other.item)


class TransactionCanceledError(DynafileError):
    """A transaction was cancelled as a whole; nothing of it was written.

    Attributes:
        reasons: one :class:`CancellationReason` per action, in request order;
            ``reason.code`` is ``None`` for actions that were not at fault.
    """

    dynamodb_name: ClassVar[str] = "TransactionCanceledException"

    def __init__(self, reasons: Sequence[CancellationReason]) -> None:
        self.reasons = list(reasons)
        codes = ", ".join(str(r.code) for r in self.reasons)
        # DynamoDB's own wording
        super().__init__("Transaction cancelled, please refer cancellation reasons for specific "
                         f"reasons [{codes}]")


class TransactionConflictError(DynafileError):
    """An optimistic transaction read something another writer changed."""

    dynamodb_name: ClassVar[str] = "TransactionConflictException"


class LockTimeoutError(DynafileError, TimeoutError):
    """The table's write lock could not be taken within the timeout."""


class ConsumerBusyError(LockTimeoutError):
    """Another stream (in this or another process) is using the consumer name."""


class StreamTrimmedError(DynafileError):
    """The requested stream position is older than the oldest retained log record.

    Attributes:
        position: the ``(sequence, index)`` asked for.
        oldest: the sequence number of the oldest record still on disk.
    """

    def __init__(self, message: str, position: tuple[int, int], oldest: int) -> None:
        self.position = position
        self.oldest = oldest
        super().__init__(message)


class CorruptFileError(DynafileError, OSError):
    """A file of the database fails its checks.

    Attributes:
        path: the file.
        offset: the byte offset of the first bad byte, when known.
    """

    def __init__(self, path: str, offset: int | None, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        where = f"{path}" if offset is None else f"{path} at offset {offset}"
        super().__init__(f"corrupt file {where}: {reason}")


class UnsafeDataError(CorruptFileError):
    """Stored data asks to load a class the serializer does not trust.

    Nothing of the data was executed.
    """


class DecryptionError(CorruptFileError):
    """An encrypted item failed authentication (AES-GCM), before anything of
    it was deserialized: its bytes were changed, it was moved from another
    table, or it was encrypted under a key whose id none of the given keys
    has and the table does not list. Nothing of it is returned.

    ``path`` names the file the ciphertext came from (a partition file or a
    log segment; ``"(stored item)"`` for bytes this process wrote itself).
    """


class EncryptionKeyError(SchemaMismatchError, ValidationError):
    """The keys given do not fit the table: an encrypted table opened
    without a key, or without one of the keys its items are under (during a
    key rotation both are needed); a key given for a table that is not
    encrypted; a write after another process rotated the table to a key this
    process lacks; or a key that is not 16, 24 or 32 bytes.

    Nothing was read or written. It is a :class:`SchemaMismatchError` (the
    opener does not match the table) and a :class:`ValidationError` (code
    that treats an unknown serializer as a validation problem, such as
    ``check_path``, reports it the same way).
    """

    def __init__(self, reason: str, *, attribute: str | None = "encryption_key") -> None:
        super().__init__(reason, attribute=attribute)


class ClosedError(DynafileError, RuntimeError):
    """The table was used after :meth:`Dynafile.close`."""


class ForkedProcessError(ClosedError):
    """A database (or a stream) opened before ``os.fork()`` was used in the
    child process. Its files and locks belong to the parent: the child must
    open the database itself (a ``multiprocessing.Pool`` initializer, or the
    ``"spawn"`` start method). Closing it in the child only releases the
    child's copies of the descriptors; nothing is written."""


class MissingDependencyError(DynafileError, ImportError):
    """An optional feature needs a package that is not installed.

    The message names the extra that installs it
    (``pip install 'dynafile[msgpack]'``).

    Attributes:
        extra: the name of the optional extra, e.g. ``"msgpack"``.
    """

    dynamodb_name: ClassVar[str] = "InternalServerError"

    def __init__(self, message: str, *, extra: str) -> None:
        self.extra = extra
        super().__init__(message)


class ItemNotFoundError(DynafileError, LookupError):
    """A model read (``Model.get``) found no item with that key (or it expired).

    DynamoDB's GetItem answers a missing item with an empty response, not an
    error; the model layer raises this, as PynamoDB's ``DoesNotExist`` does.
    Each model class has its own subclass as ``Model.DoesNotExist``.
    """

    dynamodb_name: ClassVar[str] = "InternalServerError"


class ModelTypeError(DynafileError, ValueError):
    """A stored item belongs to another model than the one asked for.

    Raised when the item's type attribute names no model class registered
    for the table, or a class that is not the model asked for (nor a
    subclass of it).

    Attributes:
        type_name: the type attribute's value in the item (``None`` when absent).
    """

    dynamodb_name: ClassVar[str] = "InternalServerError"

    def __init__(self, message: str, *, type_name: Any = None) -> None:
        self.type_name = type_name
        super().__init__(message)
