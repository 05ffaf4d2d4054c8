"""The ``dynafile`` command: look at a table from the shell.

::

    dynafile check PATH            verify every file; exit 0 clean, 1 problems, 2 cannot open
    dynafile get PATH --pk X [--sk Y]   print one item as JSON; exit 0 found, 1 not found
    dynafile scan PATH [--limit N]      print items as JSON lines
    dynafile info PATH             print meta.json and counts as JSON
    dynafile migrate PATH          move a dynafile 1 table to this release's format
    dynafile serve PATH [--host H] [--port P]   DynamoDB's HTTP API (dynafile.dynamodb.server)

``get``, ``scan`` and ``info`` take ``--table NAME`` in a database of
several tables. Databases are opened read-only by every command but
``migrate``: they never write to the directory (a torn tail a crash left
stays for the next writer to cut). Key values on the
command line are text; they are converted to the type ``meta.json`` fixed
for the key attribute (``N``: a number; ``B``: the UTF-8 bytes of the text,
or ``base64:...``). Values JSON cannot hold are printed with ``str()``
(``Decimal`` as ``"1.5"``, bytes as ``"b'...'"``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import itertools
import json
import os
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from .errors import DynafileError
from .schema import Catalog, Schema
from .storage.fs import read_file as fs_read
from .storage.layout import Layout

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_CANNOT_OPEN = 2


class _CannotOpen(Exception):
    """The path holds no table this command can open."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynafile",
        description="Inspect a dynafile table directory (read-only).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("path", metavar="PATH", help="the database directory")
        p.add_argument("--trust", action="append", default=[], metavar="MODULE:NAME",
                       help="a class the pickle allowlist should also load (repeatable)")
        p.add_argument("--table", metavar="NAME",
                       help="the table (needed when the database has several)")
        return p

    add("check", "verify every file of the table (exit 0 clean, 1 problems, 2 cannot open)")
    get = add("get", "print one item as JSON (exit 0 found, 1 not found)")
    get.add_argument("--pk", required=True, help="partition key value")
    get.add_argument("--sk", help="sort key value (tables with a sort key)")
    scan = add("scan", "print every item as one JSON line each")
    scan.add_argument("--limit", type=_positive_int, metavar="N", help="print at most N items")
    add("info", "print meta.json and counts as JSON")
    migrate = sub.add_parser("migrate", help="move a dynafile 1 table to this release's format",
                             description="move a dynafile 1 table to this release's format "
                                         "(what opening it writable does)")
    migrate.add_argument("path", metavar="PATH", help="the table directory")
    sub.add_parser("serve", add_help=False,
                   help="serve DynamoDB's HTTP API over a data directory (dynafile serve -h)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _serializer(schema: Schema, trust: Sequence[str]) -> Any:
    from .serialization import PickleSerializer, get_serializer

    if not trust:
        try:  # built in, registered, or found through the dynafile.serializers entry points
            return get_serializer(schema.serializer)
        except DynafileError:
            return None
    pairs = []
    for spec in trust:
        module, sep, name = spec.partition(":")
        if not sep or not module or not name:
            raise _CannotOpen(f"--trust takes MODULE:NAME, got {spec!r}")
        pairs.append((module, name))
    if schema.serializer != "pickle":
        raise _CannotOpen("--trust applies to pickle tables only")
    return PickleSerializer(trusted=pairs)


def _read_schema(path: str, table: str | None) -> Schema:
    if not os.path.isdir(path):
        raise _CannotOpen(f"{path}: no such directory")
    catalog = Catalog.read(Layout(path).meta)  # CorruptFileError / UnsupportedFormatError
    if catalog is None:
        raise _CannotOpen(f"{path}: not a dynafile database (no meta.json)")
    if table is not None:
        if table not in catalog.tables:
            raise _CannotOpen(f"{path}: no table named {table!r} (tables: "
                              f"{', '.join(sorted(catalog.tables)) or 'none'})")
        return catalog.tables[table]
    if len(catalog.tables) != 1:
        raise _CannotOpen(f"{path}: the database has {len(catalog.tables)} tables "
                          f"({', '.join(sorted(catalog.tables))}): name one with --table")
    return next(iter(catalog.tables.values()))


def _open(path: str, trust: Sequence[str], table: str | None) -> Any:
    """Open a table read-only with the attributes its meta.json records."""
    from .table import Dynafile

    schema = _read_schema(path, table)
    serializer = _serializer(schema, trust)
    if serializer is None:
        raise _CannotOpen(f"{path}: serializer {schema.serializer!r} is neither built in nor "
                          "registered (dynafile.register_serializer, or the "
                          "'dynafile.serializers' entry points)")
    return Dynafile(path, serializer=serializer, read_only=True, table=schema.name)


def _key_value(text: str, code: str | None, what: str) -> Any:
    if code == "N":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _BadArgument(f"{what} must be a number for this table, got {text!r}") from None
        if not number.is_finite():
            raise _BadArgument(f"{what} must be a finite number, got {text!r}")
        return int(number) if number == number.to_integral_value() else number
    if code == "B":
        if text.startswith("base64:"):
            try:
                return base64.b64decode(text[7:], validate=True)
            except (binascii.Error, ValueError):
                raise _BadArgument(f"{what}: invalid base64") from None
        return text.encode("utf-8", "surrogateescape")
    return text


class _BadArgument(Exception):
    pass


def _dump(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .check import check_path

    path = os.path.abspath(args.path)
    if not os.path.isdir(path):
        print(f"dynafile: {path}: no such directory", file=err)
        return EXIT_CANNOT_OPEN
    if not os.path.exists(Layout(path).meta):
        print(f"dynafile: {path}: not a dynafile database (no meta.json)", file=err)
        return EXIT_CANNOT_OPEN
    serializer = None
    if args.trust:
        schema = _read_schema(path, args.table)
        serializer = _serializer(schema, args.trust)
    report = check_path(path, serializer=serializer)
    print(report, file=out)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _cmd_get(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    db = _open(os.path.abspath(args.path), args.trust, args.table)
    try:
        types = db.describe()["key_types"]
        key = {db.pk_attribute: _key_value(args.pk, types.get(db.pk_attribute), "--pk")}
        if db.sk_attribute is not None:
            if args.sk is None:
                raise _BadArgument(f"this table has a sort key ({db.sk_attribute!r}): give --sk")
            key[db.sk_attribute] = _key_value(args.sk, types.get(db.sk_attribute), "--sk")
        elif args.sk is not None:
            raise _BadArgument("this table has no sort key: --sk is not allowed")
        item = db.get_item(key=key)
    finally:
        db.close()
    print(_dump(item), file=out)
    return EXIT_OK if item is not None else EXIT_PROBLEMS


def _cmd_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    db = _open(os.path.abspath(args.path), args.trust, args.table)
    try:
        items = db.scan()
        out.writelines(_dump(item) + "\n" for item in itertools.islice(items, args.limit))
    finally:
        db.close()
    return EXIT_OK


def _cmd_info(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path = os.path.abspath(args.path)
    db = _open(path, args.trust, args.table)
    try:
        meta = json.loads(fs_read(Layout(path).meta))
        described = db.describe()
        items = 0
        collections = set()
        for item in db.scan():
            items += 1
            collections.add(repr(item.get(db.pk_attribute)))
        indexes = {}
        for name, index in sorted(described["indexes"].items()):
            entry = {"kind": index["kind"], "state": index["state"]}
            if index["state"] == "ACTIVE":
                entry["entries"] = sum(1 for _ in db.scan(index=name))
            indexes[name] = entry
        layout = Layout(path)
        segments = layout.segments()
        counts = {
            "items": items,
            "partitions": len(collections),
            "indexes": indexes,
            "segments": len(segments),
            "log_bytes": sum(os.path.getsize(layout.segment_path(n)) for n in segments),
            "lsn": db.sequence,
        }
    finally:
        db.close()
    print(json.dumps({"path": path, "meta": meta, "counts": counts}, indent=2, default=str,
                     ensure_ascii=False), file=out)
    return EXIT_OK


def _cmd_migrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .migrate import migrate, needs_migration

    path = os.path.abspath(args.path)
    if not os.path.isdir(path):
        raise _CannotOpen(f"{path}: no such directory")
    if not needs_migration(path):
        print(f"{path}: nothing to migrate", file=out)
        return EXIT_OK
    migrate(path)
    print(f"{path}: migrated to this release's format", file=out)
    return EXIT_OK


_COMMANDS = {"check": _cmd_check, "get": _cmd_get, "scan": _cmd_scan, "info": _cmd_info,
             "migrate": _cmd_migrate}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dynafile`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 success (a clean check, an item found), 1 a
    check found problems or ``get`` found no item, 2 the table cannot be
    opened (no such directory, no ``meta.json``, a corrupt file for
    ``get``/``scan``/``info``) or the arguments are wrong. Never raises for
    those; output goes to stdout, errors to stderr.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:  # the server parses its own options
        from .dynamodb.server import main as serve

        return serve(args_list[1:])
    parser = _parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse reports usage errors (and --help) this way
        return exc.code if isinstance(exc.code, int) else EXIT_CANNOT_OPEN
    out, err = sys.stdout, sys.stderr
    try:
        return _COMMANDS[args.command](args, out, err)
    except (_CannotOpen, _BadArgument) as exc:
        print(f"dynafile: {exc}", file=err)
        return EXIT_CANNOT_OPEN
    except DynafileError as exc:
        print(f"dynafile: {type(exc).__name__}: {exc}", file=err)
        return EXIT_CANNOT_OPEN
    except BrokenPipeError:  # `dynafile scan ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
        except OSError:  # pragma: no cover
            pass
        return EXIT_OK
    except OSError as exc:
        print(f"dynafile: {exc}", file=err)
        return EXIT_CANNOT_OPEN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
