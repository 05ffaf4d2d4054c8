"""Moving tables in and out: export and import in DynamoDB's formats
(:mod:`.exchange`), copies between data directories and DynamoDB endpoints
(:mod:`.copy`), table definitions (:mod:`.definition`) and values as text
that reads back exactly (:mod:`.values`). The ``dynafile`` command's
``export``, ``import`` and ``copy`` run these; docs/cli.md describes the
formats.

This package sits above the public API (it imports ``Database`` and
nothing below it but value rules); boto3 is needed only for endpoints.
"""

from __future__ import annotations

from .common import NO_REPORT, Reporter, TransferError
from .copy import CopyResult, copy, default_progress_path
from .definition import DefinitionError, create_in_database, definition_from_database
from .exchange import (
    DEFINITION_FILE,
    ExportResult,
    ImportResult,
    export_table,
    find_source,
    import_table,
)
from .values import ValueFormatError, dumps_typed, item_from_dynamodb, item_to_dynamodb, loads_typed

__all__ = [
    "DEFINITION_FILE",
    "NO_REPORT",
    "CopyResult",
    "DefinitionError",
    "ExportResult",
    "ImportResult",
    "Reporter",
    "TransferError",
    "ValueFormatError",
    "copy",
    "create_in_database",
    "default_progress_path",
    "definition_from_database",
    "dumps_typed",
    "export_table",
    "find_source",
    "import_table",
    "item_from_dynamodb",
    "item_to_dynamodb",
    "loads_typed",
]
