"""Which backend ``Database(path, ...)`` / ``Dynafile(path, ...)`` opens: a
data directory, or a DynamoDB endpoint (:mod:`dynafile.remote`).

It lives apart from :mod:`dynafile.remote` so that opening a data directory
never imports that package (and boto3 with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SCHEME", "is_remote"]

SCHEME = "dynamodb://"


def is_remote(path: Any, options: Mapping[str, Any]) -> bool:
    """Whether ``Database(path, **options)`` / ``Dynafile(...)`` means a
    DynamoDB endpoint: a ``dynamodb://`` URL, or a ``client=``."""
    if options.get("client") is not None:
        return True
    return isinstance(path, str) and path.startswith(SCHEME)
