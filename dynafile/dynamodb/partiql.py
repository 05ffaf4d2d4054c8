"""PartiQL placeholder (being written)."""
from typing import Any

from .context import Context
from .errors import Validation


def execute_statement(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    raise Validation("not yet")

def batch_execute_statement(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    raise Validation("not yet")

def execute_transaction(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    raise Validation("not yet")
