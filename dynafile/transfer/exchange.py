"""Export and import in DynamoDB's formats, to and from a local directory.

**Export** writes what DynamoDB's export to S3 writes under its prefix
(``DYNAMODB_JSON``, ``FULL_EXPORT``)::

    DIR/AWSDynamoDB/<export id>/_started
    DIR/AWSDynamoDB/<export id>/manifest-summary.json   (+ .checksum: its MD5, hex)
    DIR/AWSDynamoDB/<export id>/manifest-files.json     (+ .checksum)
    DIR/AWSDynamoDB/<export id>/data/<name>.json.gz     one {"Item": {...}} per line
    DIR/AWSDynamoDB/<export id>/dynafile-table.json     the table definition (dynafile's)

``manifest-files.json`` has one line per data file (``itemCount``,
``md5Checksum`` (base64), ``etag`` (hex MD5), ``dataFileS3Key``);
``manifest-summary.json`` names the table, the times, ``itemCount``,
``billedSizeBytes`` (DynamoDB's item sizes) and ``manifestFilesS3Key``.
Keys are relative to ``DIR``, as S3 keys are relative to the bucket, so
``aws s3 sync DIR s3://bucket/prefix`` gives an export laid out as
DynamoDB's, and a DynamoDB export synced down imports here. The manifests
are written last: an export interrupted midway has none, and import
refuses it.

**Import** reads either such an export (the manifests say which files;
their checksums and item counts are checked) or DynamoDB's import-from-S3
input: files of ``{"Item": {...}}`` lines, plain or gzip-compressed (told
by their first bytes): every file under a directory (names starting with
``.`` or ``_``, manifests and checksums aside), one file, or standard
input (``-``).

Both stream: memory stays bounded by one batch of items whatever the
table's size.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from ..database import Database
from ..errors import DynafileError, TableExistsError, TableNotFoundError
from ..types import item_size
from .common import NO_REPORT, Reporter, TransferError, write_atomically
from .definition import (
    DefinitionError,
    create_in_database,
    definition_from_database,
    key_attributes,
)
from .values import ValueFormatError, item_from_dynamodb, item_to_dynamodb

__all__ = [
    "DEFINITION_FILE",
    "ExportResult",
    "ImportResult",
    "ImportSource",
    "export_table",
    "find_source",
    "import_table",
]

#: The file of an export that holds the table definition (dynafile's own).
DEFINITION_FILE = "dynafile-table.json"
_SKIP = ("manifest-summary.json", "manifest-files.json", DEFINITION_FILE)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def _iso(moment: float) -> str:
    stamp = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _export_id(moment: float) -> str:
    return f"{int(moment * 1000):014d}-{secrets.token_hex(4)}"


def _file_name() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(26)) + ".json.gz"


class _Hashing(io.RawIOBase):
    """A write-only file that counts and hashes what passes to ``raw``."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.md5 = hashlib.md5()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.md5.update(view)
        self.size += len(view)
        self.raw.write(view)
        return len(view)


@dataclass
class ExportResult:
    """What an export wrote."""

    export_id: str
    directory: str          # the export's folder: DIR/AWSDynamoDB/<export id>
    items: int
    files: int
    bytes: int              # compressed bytes of the data files
    seconds: float


def export_table(db: Database, table: str, directory: str | os.PathLike[str], *,
                 items_per_file: int = 250_000, compresslevel: int = 6,
                 region: str = "us-east-1", reporter: Reporter = NO_REPORT) -> ExportResult:
    """Export table ``table`` of an open database into ``directory`` in the
    layout of DynamoDB's export to S3 (see the module's docstring).

    Items expired but not yet swept are left out when the table hides them
    (``ttl_mode="hide"``), as every read does.

    Raises:
        TableNotFoundError: no such table.
        TransferError: an item holds a value of no DynamoDB type (a pickle
            table's ``datetime``, say): the export stops, naming the item.

    Cost: one scan of the table; memory O(one item + compression buffers).
    """
    started = time.time()
    handle = db.table(table)
    definition = definition_from_database(db, table)
    export_id = _export_id(started)
    root = os.path.abspath(os.fspath(directory))
    folder = os.path.join(root, "AWSDynamoDB", export_id)
    data_dir = os.path.join(folder, "data")
    os.makedirs(data_dir)
    open(os.path.join(folder, "_started"), "wb").close()
    prefix = f"AWSDynamoDB/{export_id}"
    described = db.describe_table(table)
    reporter.begin(f"export {table}", described.get("item_count") or None)
    entries: list[dict[str, Any]] = []
    total = billed = written = 0
    pk, sk = handle.pk_attribute, handle.sk_attribute

    def open_file() -> tuple[str, IO[bytes], _Hashing, gzip.GzipFile]:
        name = _file_name()
        raw = open(os.path.join(data_dir, name), "wb")  # noqa: SIM115 - closed in finish
        hashing = _Hashing(raw)
        return name, raw, hashing, gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0,  # type: ignore[arg-type]
                                                 compresslevel=compresslevel)

    def finish(current: tuple[str, IO[bytes], _Hashing, gzip.GzipFile], count: int) -> None:
        nonlocal written
        name, raw, hashing, zipped = current
        zipped.close()
        raw.flush()
        os.fsync(raw.fileno())
        raw.close()
        written += hashing.size
        digest = hashing.md5.digest()
        entries.append({"itemCount": count,
                        "md5Checksum": base64.b64encode(digest).decode("ascii"),
                        "etag": digest.hex(),
                        "dataFileS3Key": f"{prefix}/data/{name}"})

    current = open_file()
    in_file = 0
    lines: list[str] = []
    try:
        for item in handle.scan():
            try:
                encoded = item_to_dynamodb(item)
            except ValueFormatError as error:
                key = {pk: item.get(pk)} if sk is None else {pk: item.get(pk), sk: item.get(sk)}
                raise TransferError(f"table {table}: item {key!r}: {error}; DynamoDB JSON "
                                    "cannot hold it") from None
            lines.append(json.dumps({"Item": encoded}, ensure_ascii=False,
                                    separators=(",", ":")))
            billed += item_size(item)
            in_file += 1
            total += 1
            if len(lines) >= 1000:
                current[3].write(("\n".join(lines) + "\n").encode("utf-8"))
                reporter.advance(len(lines))
                lines = []
            if in_file >= items_per_file:
                if lines:
                    current[3].write(("\n".join(lines) + "\n").encode("utf-8"))
                    reporter.advance(len(lines))
                    lines = []
                finish(current, in_file)
                current = open_file()
                in_file = 0
        if lines:
            current[3].write(("\n".join(lines) + "\n").encode("utf-8"))
            reporter.advance(len(lines))
        finish(current, in_file)
    except BaseException:
        current[3].close()
        current[1].close()
        raise
    finally:
        reporter.end()
    ended = time.time()
    manifest_files = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
    table_arn = f"arn:aws:dynamodb:{region}:000000000000:table/{table}"
    summary = {
        "version": "2020-06-30",
        "exportArn": f"{table_arn}/export/{export_id}",
        "startTime": _iso(started),
        "endTime": _iso(ended),
        "tableArn": table_arn,
        "tableId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{root}#{table}")),
        "exportTime": _iso(started),
        "s3Bucket": None,
        "s3Prefix": None,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{prefix}/manifest-files.json",
        "billedSizeBytes": billed,
        "itemCount": total,
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    }
    write_atomically(os.path.join(folder, DEFINITION_FILE), definition)
    for name, text in (("manifest-files", manifest_files),
                       ("manifest-summary", json.dumps(summary, separators=(",", ":")))):
        raw = text.encode("utf-8")
        write_atomically(os.path.join(folder, f"{name}.json"), raw)
        write_atomically(os.path.join(folder, f"{name}.checksum"),
                         hashlib.md5(raw).hexdigest())
    return ExportResult(export_id, folder, total, len(entries), written, ended - started)


# ------------------------------------------------------------------ import


@dataclass
class _DataFile:
    path: str          # a path, or "-" for standard input
    items: int | None  # what the manifest says it holds
    md5: str | None    # the manifest's md5Checksum (base64)


@dataclass
class ImportSource:
    """The files an import reads, and what came with them."""

    files: list[_DataFile]
    definition: dict[str, Any] | None   # dynafile-table.json, when present
    items: int | None                   # the summary's itemCount (an export)
    export_id: str | None
    description: str


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise TransferError(f"{path}: cannot read: {error}") from None


def _from_export(folder: str, root: str) -> ImportSource:
    summary = _read_json(os.path.join(folder, "manifest-summary.json"))
    if summary.get("outputFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise TransferError(f"{folder}: an export in {summary.get('outputFormat')} format; "
                            "only DYNAMODB_JSON is read")
    if summary.get("exportType", "FULL_EXPORT") != "FULL_EXPORT":
        raise TransferError(f"{folder}: an incremental export; only full exports are read")
    manifest_key = summary.get("manifestFilesS3Key") or ""
    prefix = summary.get("s3Prefix") or ""
    # the keys name the bucket's objects: find where the bucket's root is here
    base = root
    for candidate in (root, os.path.dirname(os.path.dirname(folder))):
        if os.path.exists(os.path.join(candidate, _strip(manifest_key, prefix))):
            base = candidate
            break
    manifest_path = os.path.join(base, _strip(manifest_key, prefix))
    if not os.path.exists(manifest_path):
        manifest_path = os.path.join(folder, "manifest-files.json")
    files = []
    try:
        with open(manifest_path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    key = entry["dataFileS3Key"]
                except (ValueError, KeyError, TypeError):
                    raise TransferError(f"{manifest_path}:{n}: not a manifest entry") from None
                path = os.path.join(base, _strip(key, prefix))
                if not os.path.exists(path):
                    path = os.path.join(folder, "data", os.path.basename(key))
                files.append(_DataFile(path, entry.get("itemCount"), entry.get("md5Checksum")))
    except OSError as error:
        raise TransferError(f"{manifest_path}: cannot read: {error}") from None
    definition_path = os.path.join(folder, DEFINITION_FILE)
    definition = _read_json(definition_path) if os.path.exists(definition_path) else None
    return ImportSource(files, definition, summary.get("itemCount"),
                        os.path.basename(folder), f"export {os.path.basename(folder)}")


def _strip(key: str, prefix: str) -> str:
    if prefix and key.startswith(prefix.rstrip("/") + "/"):
        key = key[len(prefix.rstrip("/")) + 1:]
    return key.replace("/", os.sep)


def find_source(location: str, export_id: str | None = None) -> ImportSource:
    """Resolve what ``dynafile import`` reads at ``location``: ``-``
    (standard input), a file, an export's folder, a directory holding one
    or more exports (``export_id`` picks one), or a directory of data files.

    Raises:
        TransferError: nothing to read, an incomplete export, or several
            exports and no ``export_id``.
    """
    if location == "-":
        return ImportSource([_DataFile("-", None, None)], None, None, None, "standard input")
    path = os.path.abspath(location)
    if os.path.isfile(path):
        return ImportSource([_DataFile(path, None, None)], None, None, None, path)
    if not os.path.isdir(path):
        raise TransferError(f"{location}: no such file or directory")
    if os.path.exists(os.path.join(path, "manifest-summary.json")):
        return _from_export(path, os.path.dirname(os.path.dirname(path)))
    exports_dir = os.path.join(path, "AWSDynamoDB")
    if os.path.isdir(exports_dir):
        found = sorted(name for name in os.listdir(exports_dir)
                       if os.path.isdir(os.path.join(exports_dir, name)))
        complete = [n for n in found
                    if os.path.exists(os.path.join(exports_dir, n, "manifest-summary.json"))]
        if export_id is not None:
            if export_id not in complete:
                state = "is incomplete" if export_id in found else "is not there"
                raise TransferError(f"{location}: export {export_id} {state} "
                                    f"(complete exports: {', '.join(complete) or 'none'})")
            return _from_export(os.path.join(exports_dir, export_id), path)
        if len(complete) == 1:
            return _from_export(os.path.join(exports_dir, complete[0]), path)
        if len(complete) > 1:
            raise TransferError(f"{location}: {len(complete)} exports ({', '.join(complete)}): "
                                "choose one with --export-id")
        if found:
            raise TransferError(f"{location}: the export {found[-1]} is incomplete (no "
                                "manifest-summary.json): it was interrupted or is still "
                                "being written")
    files = []
    for dirpath, dirnames, names in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(names):
            if name.startswith((".", "_")) or name in _SKIP or name.endswith(".checksum"):
                continue
            files.append(_DataFile(os.path.join(dirpath, name), None, None))
    if not files:
        raise TransferError(f"{location}: no data files to import")
    definition_path = os.path.join(path, DEFINITION_FILE)
    definition = _read_json(definition_path) if os.path.exists(definition_path) else None
    return ImportSource(files, definition, None, None, f"{len(files)} files under {path}")


class _HashingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.md5 = hashlib.md5()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.md5.update(data)
        return n


def _lines(data_file: _DataFile) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` of one data file, gzip or plain; checks the
    manifest's checksum once the file is read."""
    raw: IO[bytes]
    if data_file.path == "-":
        raw = sys.stdin.buffer
    else:
        try:
            raw = open(data_file.path, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            raise TransferError(f"{data_file.path}: cannot read: {error}") from None
    hashing = _HashingReader(raw)
    buffered = io.BufferedReader(hashing, 1 << 20)
    try:
        stream: IO[bytes] = buffered
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        try:
            yield from enumerate(stream, 1)
        except (OSError, EOFError) as error:
            raise TransferError(f"{data_file.path}: {error}") from None
        while buffered.read(1 << 20):  # the rest (gzip trailer), for the checksum
            pass
    finally:
        if data_file.path != "-":
            raw.close()
    if data_file.md5 is not None:
        actual = base64.b64encode(hashing.md5.digest()).decode("ascii")
        if actual != data_file.md5:
            raise TransferError(f"{data_file.path}: MD5 checksum {actual} differs from the "
                                f"manifest's {data_file.md5}: the file is damaged")


def read_items(source: ImportSource) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Every item of an import source as ``(file, line number, item)``.

    Raises:
        TransferError: a line that is not ``{"Item": {...}}`` of valid
            DynamoDB JSON (naming the file and line), a damaged file, or a
            count that differs from the manifest's.
    """
    for data_file in source.files:
        count = 0
        for n, line in _lines(data_file):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise TransferError(f"{data_file.path}:{n}: not JSON: {error}") from None
            if not isinstance(record, dict) or set(record) != {"Item"}:
                raise TransferError(f'{data_file.path}:{n}: a line must be {{"Item": {{...}}}} '
                                    "(DynamoDB JSON)")
            try:
                item = item_from_dynamodb(record["Item"])
            except ValueFormatError as error:
                raise TransferError(f"{data_file.path}:{n}: {error}") from None
            count += 1
            yield data_file.path, n, item
        if data_file.items is not None and data_file.items != count:
            raise TransferError(f"{data_file.path}: {count} items, the manifest says "
                                f"{data_file.items}")


@dataclass
class ImportResult:
    """What an import did."""

    table: str
    items: int
    created: bool
    seconds: float


def _key_spec(spec: str) -> tuple[str, str]:
    name, _, kind = spec.rpartition(":")
    if not name:
        name, kind = spec, "S"
    kind = kind.upper()
    if kind not in ("S", "N", "B"):
        raise TransferError(f"key {spec!r}: the type must be S, N or B (NAME:TYPE)")
    return name, kind


def definition_from_keys(pk: str, sk: str | None) -> dict[str, Any]:
    """A minimal definition from ``NAME[:TYPE]`` key specs (type ``S`` by default)."""
    pk_name, pk_type = _key_spec(pk)
    definition: dict[str, Any] = {
        "KeySchema": [{"AttributeName": pk_name, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": pk_name, "AttributeType": pk_type}],
    }
    if sk:
        sk_name, sk_type = _key_spec(sk)
        definition["KeySchema"].append({"AttributeName": sk_name, "KeyType": "RANGE"})
        definition["AttributeDefinitions"].append({"AttributeName": sk_name,
                                                   "AttributeType": sk_type})
    return definition


def import_table(source: ImportSource, db: Database, table: str, *,
                 definition: Mapping[str, Any] | None = None, existing: bool = False,
                 batch: int = 2000, reporter: Reporter = NO_REPORT) -> ImportResult:
    """Import ``source`` into table ``table`` of an open database.

    The table is created from ``definition`` (else the source's
    ``dynafile-table.json``) unless ``existing`` is true and it exists.
    Items are written in batches of ``batch`` (one log record each); an
    item with the key of an earlier one replaces it.

    Raises:
        TransferError: no definition for a new table, the table exists (and
            ``existing`` is false), a bad line, a damaged file, or an item
            the table refuses (naming file and line). Batches written before
            the error stay, and the message says how many items that is
            (and whether the table was created).
    """
    started = time.time()
    created = False
    chosen = dict(definition) if definition is not None else source.definition
    try:
        handle = db.table(table)
        if not existing:
            raise TransferError(f"table {table} exists: import into it with --existing, or "
                                "name a new table")
    except TableNotFoundError:
        if chosen is None:
            raise TransferError(f"{source.description}: no table definition "
                                f"({DEFINITION_FILE}): give the keys (--pk NAME[:TYPE], "
                                "--sk NAME[:TYPE]) or --definition FILE") from None
        try:
            key_attributes(chosen)
            handle = create_in_database(db, table, chosen)
        except (DefinitionError, KeyError, TypeError) as error:
            raise TransferError(f"table definition: {error}") from None
        except TableExistsError:
            raise TransferError(f"table {table} exists") from None
        created = True
    reporter.begin(f"import {table}", source.items)
    count = 0
    written = 0
    pending: list[tuple[str, int, dict[str, Any]]] = []

    def stopped(problem: str) -> TransferError:
        # batches are all or nothing: the items imported are the first `written`
        done = ("nothing was imported" if written == 0 else
                f"the first {written} items were imported, none after")
        if created:
            done += f" (table {table} was created)"
        return TransferError(f"{problem}; {done}")

    def flush() -> None:
        nonlocal written
        try:
            with handle.batch_writer() as writer:
                for where, n, item in pending:
                    try:
                        writer.put_item(item=item)  # checks the item at once
                    except DynafileError as refused:
                        # leaving the block with an error drops the whole batch
                        raise stopped(f"{where}:{n}: {refused}") from None
        except DynafileError as error:  # the batch's commit
            raise stopped(f"{pending[0][0]}:{pending[0][1]}: {error}") from None
        written += len(pending)
        reporter.advance(len(pending))
        pending.clear()

    entries = read_items(source)
    try:
        while True:
            try:
                entry = next(entries, None)
            except TransferError as error:  # a bad line or file
                raise stopped(str(error)) from None
            if entry is None:
                break
            pending.append(entry)
            count += 1
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
    finally:
        reporter.end()
    return ImportResult(table, count, created, time.time() - started)
