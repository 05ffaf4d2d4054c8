"""DynamoDB's errors on the wire: the exception a request gets, its
``__type``, its message member and its HTTP status.

Every error the handler answers is a :class:`DynamoDBError` (an ordinary
:class:`~dynafile.errors.DynafileError`, so code that catches dynafile's
errors catches these too). :func:`from_dynafile` turns the native API's
errors into them, so the whole of dynafile's error hierarchy reaches the
wire with DynamoDB's names.

The ``__type`` prefixes and the message member's spelling are DynamoDB's,
as recorded against DynamoDB by dynalite's tests: validation errors come
from ``com.amazon.coral.validate``, request-level ones (unknown operation,
malformed body) from ``com.amazon.coral.service``, and the rest from
``com.amazonaws.dynamodb.v20120810``; most errors carry ``message``, but
``TransactionCanceledException`` and ``SerializationException`` carry
``Message``. SDKs read the name after ``#`` and accept either spelling.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import (
    ConditionalCheckFailedError,
    DynafileError,
    ItemTooLargeError,
    LockTimeoutError,
    StreamTrimmedError,
    TableExistsError,
    TableNotFoundError,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)

__all__ = [
    "ConditionalCheckFailed",
    "DuplicateItem",
    "DynamoDBError",
    "IncompleteSignature",
    "InternalServerError",
    "InvalidSignature",
    "MethodNotAllowed",
    "MissingAuthenticationToken",
    "RequestTimeout",
    "RequestTooLarge",
    "ResourceInUse",
    "ResourceNotFound",
    "SerializationError",
    "TransactionCanceled",
    "UnknownOperation",
    "UnrecognizedClient",
    "Validation",
    "from_dynafile",
]

_DYNAMODB = "com.amazonaws.dynamodb.v20120810"
_SERVICE = "com.amazon.coral.service"
_VALIDATE = "com.amazon.coral.validate"


class DynamoDBError(DynafileError):
    """An error answered in DynamoDB's shape.

    Attributes:
        name: DynamoDB's exception name (``"ValidationException"``).
        message: the message text (``None``: the body has no message, as
            DynamoDB sends for a few request-level errors).
        status: the HTTP status (400, or 500 for internal errors).
        namespace: the ``__type`` prefix before ``#``.
        message_key: ``"message"`` or ``"Message"``.
        extra: other members of the error body (``CancellationReasons``, ``Item``).
    """

    name: ClassVar[str] = "InternalServerError"
    namespace: ClassVar[str] = _DYNAMODB
    status: ClassVar[int] = 400
    message_key: ClassVar[str] = "message"

    def __init__(self, message: str | None, **extra: Any) -> None:
        self.message = message
        self.extra = extra
        super().__init__(message or self.name)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.dynamodb_name = cls.name

    def body(self) -> dict[str, Any]:
        """The JSON body DynamoDB sends for this error."""
        out: dict[str, Any] = {"__type": f"{self.namespace}#{self.name}"}
        if self.message is not None:
            out[self.message_key] = self.message
        out.update(self.extra)
        return out


class Validation(DynamoDBError):
    """``ValidationException``: the request is malformed (nothing was done)."""

    name = "ValidationException"
    namespace = _VALIDATE


class SerializationError(DynamoDBError):
    """``SerializationException``: the body is not JSON, or a member has the
    wrong JSON type."""

    name = "SerializationException"
    namespace = _SERVICE
    message_key = "Message"


class UnknownOperation(DynamoDBError):
    """``UnknownOperationException``: the target names no operation."""

    name = "UnknownOperationException"
    namespace = _SERVICE


class RequestTooLarge(DynamoDBError):
    """The body is larger than DynamoDB accepts (16 MB): HTTP 413."""

    name = "RequestEntityTooLarge"
    namespace = _SERVICE
    status = 413


class MethodNotAllowed(DynamoDBError):
    """An HTTP method other than POST (and GET ``/``, the health check): HTTP 405."""

    name = "UnknownOperationException"
    namespace = _SERVICE
    status = 405


class RequestTimeout(DynamoDBError):
    """The client sent its body too slowly: HTTP 408, then the connection closes."""

    name = "RequestTimeoutException"
    namespace = _SERVICE
    status = 408


class MissingAuthenticationToken(DynamoDBError):
    """``MissingAuthenticationTokenException``: signing is required and the
    request carries no ``Authorization`` header."""

    name = "MissingAuthenticationTokenException"
    namespace = _SERVICE


class IncompleteSignature(DynamoDBError):
    """``IncompleteSignatureException``: the ``Authorization`` header is not
    a SigV4 header (``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
    Signature=...``) or lacks a signed ``X-Amz-Date``."""

    name = "IncompleteSignatureException"
    namespace = _SERVICE


class UnrecognizedClient(DynamoDBError):
    """``UnrecognizedClientException``: the access key is not the configured one."""

    name = "UnrecognizedClientException"
    namespace = _SERVICE


class InvalidSignature(DynamoDBError):
    """``InvalidSignatureException``: the signature does not match, or the
    request is signed too far from now."""

    name = "InvalidSignatureException"
    namespace = _SERVICE


class ResourceNotFound(DynamoDBError):
    """``ResourceNotFoundException``: no such table, index or stream."""

    name = "ResourceNotFoundException"


class ResourceInUse(DynamoDBError):
    """``ResourceInUseException``: the table exists already."""

    name = "ResourceInUseException"


class ConditionalCheckFailed(DynamoDBError):
    """``ConditionalCheckFailedException`` (with ``Item`` when asked for)."""

    name = "ConditionalCheckFailedException"


class TransactionCanceled(DynamoDBError):
    """``TransactionCanceledException`` with ``CancellationReasons``."""

    name = "TransactionCanceledException"
    message_key = "Message"


class TransactionConflict(DynamoDBError):
    """``TransactionConflictException``."""

    name = "TransactionConflictException"


class IdempotentParameterMismatch(DynamoDBError):
    """``IdempotentParameterMismatchException``: a ClientRequestToken reused
    for a different request."""

    name = "IdempotentParameterMismatchException"


class DuplicateItem(DynamoDBError):
    """``DuplicateItemException``: a PartiQL INSERT of an item that exists."""

    name = "DuplicateItemException"


class ExpiredIterator(DynamoDBError):
    """``ExpiredIteratorException`` (Streams): the iterator's records were trimmed."""

    name = "ExpiredIteratorException"


class TrimmedDataAccess(DynamoDBError):
    """``TrimmedDataAccessException`` (Streams): the position is no longer retained."""

    name = "TrimmedDataAccessException"


class LimitExceeded(DynamoDBError):
    """``LimitExceededException``."""

    name = "LimitExceededException"


class InternalServerError(DynamoDBError):
    """``InternalServerError``: HTTP 500."""

    name = "InternalServerError"
    status = 500


def from_dynafile(error: DynafileError, *, conditional_item: Any = None) -> DynamoDBError:
    """Return the wire error for an error of the native API.

    A :class:`~dynafile.errors.ValidationError` keeps its ``reason`` (which
    is DynamoDB's message wherever DynamoDB has one); an item over the
    table's limit gets DynamoDB's "Item size has exceeded the maximum
    allowed size" (or "Item size to update ..." for an update's result). ``conditional_item`` is the ``Item`` member of a
    ConditionalCheckFailedException, already in DynamoDB JSON.
    """
    if isinstance(error, DynamoDBError):
        return error
    if isinstance(error, ItemTooLargeError):
        return Validation(error.reason)  # DynamoDB's message (an update's has its own)
    if isinstance(error, ValidationError):
        if error.reason.startswith("IdempotentParameterMismatch"):
            return IdempotentParameterMismatch(
                "Request token already used for a different request within the last 10 "
                "minutes")
        return Validation(error.reason)
    if isinstance(error, TableNotFoundError):
        return ResourceNotFound(str(error))
    if isinstance(error, TableExistsError):
        return ResourceInUse(str(error))
    if isinstance(error, ConditionalCheckFailedError):
        if conditional_item is not None:
            return ConditionalCheckFailed("The conditional request failed", Item=conditional_item)
        return ConditionalCheckFailed("The conditional request failed")
    if isinstance(error, TransactionCanceledError):
        return TransactionCanceled(str(error))
    if isinstance(error, TransactionConflictError):
        return TransactionConflict(str(error) or "Transaction is ongoing for the item")
    if isinstance(error, StreamTrimmedError):
        return TrimmedDataAccess(str(error))
    if isinstance(error, LockTimeoutError):
        return InternalServerError(f"Internal server error: {error}")
    return InternalServerError(f"Internal server error: {type(error).__name__}: {error}")
