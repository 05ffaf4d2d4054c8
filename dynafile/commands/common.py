"""What every command shares: errors and exit codes, opening databases and
tables, reading keys, items and expression values from the command line."""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import click

from ..database import Database
from ..errors import DynafileError
from ..schema import Catalog, Schema
from ..storage.layout import Layout
from ..transfer.values import ValueFormatError, item_from_dynamodb, loads_typed

#: Exit codes (docs/cli.md): success; the answer is no (no such item,
#: problems found, a condition failed); the command could not run.
EXIT_OK = 0
EXIT_NO = 1
EXIT_CANNOT = 2


class CommandError(Exception):
    """Stops a command: ``dynafile: <message>`` on stderr, exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_CANNOT) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ------------------------------------------------------------ databases


def catalog_of(path: str) -> Catalog:
    """The catalog of the database at ``path`` (read without opening it)."""
    if not os.path.isdir(path):
        raise CommandError(f"{path}: no such directory")
    catalog = Catalog.read(Layout(path).meta)
    if catalog is None:
        raise CommandError(f"{path}: not a dynafile database (no meta.json)")
    return catalog


def pick_schema(path: str, catalog: Catalog, table: str | None) -> Schema:
    """The schema of ``table``, or of the only table when none is named."""
    if table is not None:
        if table not in catalog.tables:
            raise CommandError(f"{path}: no table named {table!r} (tables: "
                               f"{', '.join(sorted(catalog.tables)) or 'none'})")
        return catalog.tables[table]
    if len(catalog.tables) != 1:
        names = ", ".join(sorted(catalog.tables)) or "none"
        raise CommandError(f"{path}: the database has {len(catalog.tables)} tables "
                           f"({names}): name one (TABLE, or --table)")
    return next(iter(catalog.tables.values()))


def serializer_for(schema: Schema, trust: Sequence[str]) -> Any:
    """The serializer to read ``schema``'s items with (``--trust`` adds
    classes to the pickle allowlist)."""
    from ..serialization import PickleSerializer, get_serializer

    if not trust:
        try:
            return get_serializer(schema.serializer)
        except DynafileError:
            raise CommandError(f"serializer {schema.serializer!r} is neither built in nor "
                               "registered (dynafile.register_serializer, or the "
                               "'dynafile.serializers' entry points)") from None
    pairs = []
    for spec in trust:
        module, sep, name = spec.partition(":")
        if not sep or not module or not name:
            raise CommandError(f"--trust takes MODULE:NAME, got {spec!r}")
        pairs.append((module, name))
    if schema.serializer != "pickle":
        raise CommandError("--trust applies to pickle tables only")
    return PickleSerializer(trusted=pairs)


class Opened:
    """An open database and one of its tables, closed on exit."""

    def __init__(self, path: str, table: str | None, *, write: bool = False,
                 trust: Sequence[str] = (), need_table: bool = True) -> None:
        self.path = os.path.abspath(path)
        catalog = catalog_of(self.path)
        self.schema = pick_schema(self.path, catalog, table) if need_table else None
        serializer = serializer_for(self.schema, trust) if self.schema is not None else None
        self.db = Database(self.path, read_only=not write)
        try:
            self.table = (self.db.table(self.schema.name, serializer=serializer)
                          if self.schema is not None else None)
        except BaseException:
            self.db.close()
            raise

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def open_database(path: str, *, write: bool, create: bool = False) -> Database:
    """Open the database at ``path`` (``create``: make it when missing)."""
    path = os.path.abspath(path)
    if not create:
        catalog_of(path)
    return Database(path, read_only=not write)


@contextmanager
def new_database(path: str) -> Iterator[Database]:
    """Open the database at ``path`` for writing, making it when missing.

    When the block raises and the directories were made here and hold no
    table, they are removed again: a command that fails leaves no trace.
    """
    path = os.path.abspath(path)
    made = first_missing(path)
    done = False
    database = None
    try:
        database = Database(path, read_only=False)
        yield database
        done = True
    finally:
        if database is not None:
            database.close()
        if not done:
            remove_if_empty(made)


def remove_if_empty(made: str | None) -> None:
    """Remove ``made`` (directories a failed command created, see
    :func:`first_missing`) unless the database in it holds a table."""
    if made is None or not os.path.isdir(made):
        return
    for dirpath, _, names in os.walk(made):
        if "meta.json" in names:
            catalog = Catalog.read(Layout(dirpath).meta)
            if catalog is None or catalog.tables:
                return
    shutil.rmtree(made, ignore_errors=True)


def first_missing(path: str) -> str | None:
    """The outermost directory of ``path`` that does not exist yet (what
    making ``path`` creates), or ``None`` when ``path`` exists."""
    missing = None
    while not os.path.exists(path):
        missing = path
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def check_new_table_name(name: str) -> None:
    """Refuse a name DynamoDB would refuse, before anything is made."""
    from ..names import check_table_name

    try:
        check_table_name(name, "TABLE")
    except DynafileError:
        raise CommandError(f"{name!r} is not a table name: 3 to 255 characters of "
                           "a-z A-Z 0-9 _ . - (DynamoDB's rule)") from None


def table_names(path: str) -> list[str]:
    try:
        return sorted(catalog_of(os.path.abspath(path)).tables)
    except Exception:  # noqa: BLE001 - completion offers nothing then
        return []


def complete_table(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of a TABLE argument: the tables of the DB argument."""
    from click.shell_completion import CompletionItem

    db = ctx.params.get("db")
    if not db:
        return []
    return [CompletionItem(n) for n in table_names(db) if n.startswith(incomplete)]


# --------------------------------------------------------------- values


def parse_json_object(text: str, what: str, mode: str) -> dict[str, Any]:
    """A map of values from the command line: typed JSON, or DynamoDB JSON
    (``mode="dynamodb"``: ``{"name": {"S": "x"}}``)."""
    try:
        if mode == "dynamodb":
            try:
                data = json.loads(text)
            except ValueError as error:
                raise ValueFormatError(f"not JSON: {error}") from None
            value = item_from_dynamodb(data)
        else:
            value = loads_typed(text)
    except ValueFormatError as error:
        raise CommandError(f"{what}: {error}") from None
    if not isinstance(value, dict):
        raise CommandError(f"{what}: must be a JSON object")
    return value


def parse_item_line(text: str, where: str, mode: str) -> dict[str, Any]:
    """An item: typed JSON, or ``{"Item": {...}}`` in DynamoDB JSON."""
    if mode != "dynamodb":
        return parse_json_object(text, where, mode)
    try:
        data = json.loads(text)
    except ValueError as error:
        raise CommandError(f"{where}: not JSON: {error}") from None
    if not isinstance(data, dict) or set(data) != {"Item"}:
        raise CommandError(f'{where}: DynamoDB JSON items are {{"Item": {{...}}}}')
    try:
        return item_from_dynamodb(data["Item"])
    except ValueFormatError as error:
        raise CommandError(f"{where}: {error}") from None


def parse_names(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        names = json.loads(text)
    except ValueError as error:
        raise CommandError(f"--names: not JSON: {error}") from None
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise CommandError('--names: must be a JSON object of strings: {"#s": "status"}')
    return names


def parse_values(text: str | None, mode: str) -> dict[str, Any] | None:
    if text is None:
        return None
    return parse_json_object(text, "--values", mode)


def key_from_text(text: str, code: str | None, what: str) -> Any:
    """A key value given as text (``--pk``/``--sk``), converted to the type
    the table fixed: ``N`` a number, ``B`` the UTF-8 bytes (or ``base64:...``)."""
    if code == "N":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise CommandError(f"{what} must be a number for this table, got {text!r}") from None
        if not number.is_finite():
            raise CommandError(f"{what} must be a finite number, got {text!r}")
        return int(number) if number == number.to_integral_value() else number
    if code == "B":
        if text.startswith("base64:"):
            try:
                return base64.b64decode(text[7:], validate=True)
            except (binascii.Error, ValueError):
                raise CommandError(f"{what}: invalid base64") from None
        return text.encode("utf-8", "surrogateescape")
    return text


def key_from_options(opened: Opened, key: str | None, pk: str | None, sk: str | None,
                     mode: str) -> dict[str, Any]:
    """The key a command names: ``--key JSON``, or ``--pk`` / ``--sk`` text."""
    table = opened.table
    assert table is not None
    if key is not None:
        if pk is not None or sk is not None:
            raise CommandError("give --key or --pk/--sk, not both")
        return parse_json_object(key, "--key", mode)
    if pk is None:
        raise CommandError("name the item: --key JSON, or --pk (and --sk)")
    types = table.describe()["key_types"]
    result = {table.pk_attribute: key_from_text(pk, types.get(table.pk_attribute), "--pk")}
    if table.sk_attribute is not None:
        if sk is None:
            raise CommandError(f"this table has a sort key ({table.sk_attribute!r}): give --sk")
        result[table.sk_attribute] = key_from_text(sk, types.get(table.sk_attribute), "--sk")
    elif sk is not None:
        raise CommandError("this table has no sort key: --sk is not allowed")
    return result


def input_lines(sources: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``(where, text)`` of the items given as arguments, or of standard
    input's lines (no argument, or ``-``)."""
    if sources and list(sources) != ["-"]:
        for i, text in enumerate(sources, 1):
            yield f"item {i}", text
        return
    for n, line in enumerate(sys.stdin, 1):
        if line.strip():
            yield f"stdin:{n}", line
