"""Names a database holds: DynamoDB's rule for table names.

Table names never become paths (a table's files are named by its id), but
they follow DynamoDB's rule so a database can be served to DynamoDB's
clients and copied to DynamoDB unchanged.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .errors import ValidationError

__all__ = ["TABLE_NAME", "check_table_name", "default_table_name"]

#: DynamoDB's rule for table names.
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


def check_table_name(name: Any, attribute: str = "name") -> str:
    """Return ``name`` when it is a valid DynamoDB table name.

    Raises:
        ValidationError: with DynamoDB's message otherwise.
    """
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        shown = name if isinstance(name, str) else repr(name)
        raise ValidationError(
            f"1 validation error detected: Value '{shown}' at 'tableName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ "
            "and have length between 3 and 255", attribute=attribute)
    return name


def default_table_name(path: str) -> str:
    """The name of the table ``Dynafile(path)`` makes (or a migration from
    format 1 keeps): the directory's name when DynamoDB accepts it, else
    ``"default"``."""
    base = os.path.basename(os.path.abspath(path).rstrip(os.sep))
    return base if TABLE_NAME.match(base) else "default"
