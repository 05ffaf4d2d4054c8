"""DynamoDB's errors, raised as dynafile's.

:func:`translate` turns a botocore ``ClientError`` into the exception the
file backend raises for the same problem, so code written against one
backend catches the same classes on the other:

===========================================  =============================================
DynamoDB                                     dynafile
===========================================  =============================================
``ConditionalCheckFailedException``          :class:`~dynafile.errors.ConditionalCheckFailedError` (``item`` with ALL_OLD)
``TransactionCanceledException``             :class:`~dynafile.errors.TransactionCanceledError` (``reasons``)
``TransactionConflictException``             :class:`~dynafile.errors.TransactionConflictError`
``ResourceNotFoundException``                :class:`~dynafile.errors.TableNotFoundError`
``ResourceInUseException``                   :class:`~dynafile.errors.TableExistsError`
``ValidationException``                      :class:`~dynafile.errors.ValidationError` (DynamoDB's message as ``reason``)
``IdempotentParameterMismatchException``     :class:`~dynafile.errors.ValidationError` (``attribute="token"``)
``TrimmedDataAccessException``               :class:`~dynafile.errors.StreamTrimmedError`
throttling (after botocore's retries)        :class:`ThrottledError`
anything else                                :class:`RemoteError`
no connection, no credentials (botocore)     :class:`EndpointError`
===========================================  =============================================

The botocore exception is kept as ``__cause__``.
"""

from __future__ import annotations

from typing import Any

from ..errors import (
    CancellationReason,
    ConditionalCheckFailedError,
    DynafileError,
    StreamTrimmedError,
    TableExistsError,
    TableNotFoundError,
    TransactionCanceledError,
    TransactionConflictError,
    ValidationError,
)
from .values import item_from_wire

__all__ = ["EndpointError", "RemoteError", "ThrottledError", "translate"]

_THROTTLED = ("ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded", "LimitExceededException")


class RemoteError(DynafileError):
    """A DynamoDB error with no closer dynafile class.

    Attributes:
        code: DynamoDB's error code (``"InternalServerError"``...).
        message: its message.
        status: the HTTP status, when there was a response.
    """

    def __init__(self, message: str, *, code: str = "InternalServerError",
                 status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.dynamodb_name = code  # type: ignore[misc]
        super().__init__(f"{code}: {message}" if message else code)


class ThrottledError(RemoteError):
    """DynamoDB kept refusing for capacity after botocore's retries
    (``ProvisionedThroughputExceededException``, ``ThrottlingException``...),
    or unprocessed batch items stayed unprocessed after dynafile's backoff."""


class EndpointError(RemoteError, ConnectionError):
    """The endpoint could not be reached, or no credentials were found
    (a botocore error with no DynamoDB response)."""


def _reasons(response: dict[str, Any], message: str) -> list[CancellationReason]:
    out = []
    for entry in response.get("CancellationReasons") or []:
        code = entry.get("Code")
        item = entry.get("Item")
        out.append(CancellationReason(None if code in (None, "None") else code,
                                      entry.get("Message") or "",
                                      item_from_wire(item) if item else None))
    if out:
        return out
    # Some servers put the codes in the message only: "... [None, ConditionalCheckFailed]"
    if "[" in message and message.endswith("]"):
        codes = message[message.rindex("[") + 1:-1].split(",")
        return [CancellationReason(None if c.strip() in ("None", "") else c.strip())
                for c in codes]
    return out


def translate(error: BaseException) -> DynafileError:
    """The dynafile exception for a botocore error (see the module's table).

    A dynafile error is returned unchanged.
    """
    if isinstance(error, DynafileError):
        return error
    response = getattr(error, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return EndpointError(str(error), code=type(error).__name__)
    info = response.get("Error") or {}
    code = str(info.get("Code") or "InternalServerError")
    message = str(info.get("Message") or info.get("message") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code.endswith("ConditionalCheckFailedException"):
        item = response.get("Item")
        return ConditionalCheckFailedError(message or "The conditional request failed",
                                           item_from_wire(item) if item else None)
    if code.endswith("TransactionCanceledException"):
        return TransactionCanceledError(_reasons(response, message))
    if code.endswith("TransactionConflictException"):
        return TransactionConflictError(message)
    if code.endswith("ResourceNotFoundException"):
        return TableNotFoundError(message)
    if code.endswith("ResourceInUseException"):
        return TableExistsError(message)
    if code.endswith("ValidationException"):
        return ValidationError(message)
    if code.endswith("IdempotentParameterMismatchException"):
        return ValidationError(f"IdempotentParameterMismatch: {message}", attribute="token")
    if code.endswith("TrimmedDataAccessException"):
        return StreamTrimmedError(message, (0, 0), 0)
    if code in _THROTTLED:
        return ThrottledError(message, code=code, status=status)
    return RemoteError(message, code=code, status=status)
