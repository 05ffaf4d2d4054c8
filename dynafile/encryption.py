"""Encryption at rest: AES-GCM around a table's serializer.

A table opened with a key (``Dynafile(path, encryption_key=key)``,
``Database(path, encryption_key=key)``, or a serializer
``EncryptedSerializer(inner, key)``) serializes each item with its inner
serializer (pickle, JSON, msgpack or one you registered) and encrypts the
bytes with AES-GCM (``cryptography``'s, the optional extra
``pip install 'dynafile[encryption]'``). Every copy of an item value the
table writes goes through it: the item in the log and in partition files,
and the projected entries of its indexes.

Each stored value is::

    u8 format (1) | key id (4 bytes) | u32 table id | nonce (12 random bytes) | ciphertext + 16-byte tag

The associated data (authenticated, not encrypted) is the first 9 bytes:
the format, the key id and the table id. So a value:

* changed by a single bit fails authentication (:class:`DecryptionError`,
  a :class:`~dynafile.errors.CorruptFileError` naming the file) before
  anything of it is deserialized;
* moved from another table (or another database's table of another id)
  fails too: the table id is bound;
* moved to another item of the same table decrypts to the item it was,
  with its own key attributes (they are inside the ciphertext); the reads
  that know where they looked (``get_item``, ``batch_get``, ``table[key]``,
  reads inside transactions) check them and raise :class:`DecryptionError`,
  and ``check()`` reports it ("item key");
* under a key the opener lacks is never decrypted with another: the key id
  selects the key.

The key id is the first 4 bytes of a keyed BLAKE2b of a constant (it tells
which key, and nothing usable about it). The table records, in its
``meta.json`` entry (``properties["encryption"]``), the cipher and the ids
of the keys its items may be under, first the one it writes with; an opener
must hold every one of them (:class:`~dynafile.errors.EncryptionKeyError`
otherwise, before anything is read). A key is 32 random bytes
(:func:`generate_key`; 16 and 24 work too).

Key rotation (:func:`rotate_key`, ``Dynafile.rotate_encryption_key``)
records the new key as the table's writing key, re-encrypts every value of
the table and its indexes in bounded batches (each batch one log record,
all or nothing), checkpoints, and then records that only the new key
remains. Killed at any point, the table reads with both keys, and running
the rotation again finishes it: each value's key id is its own progress
mark. Re-encryption never deserializes: it decrypts with the old key and
encrypts the same plaintext with the new one.

What stays in clear: see SECURITY.md ("Encryption at rest").
"""

from __future__ import annotations

import copy
import hashlib
import os
import struct
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Union

from .errors import (
    DecryptionError,
    DynafileError,
    EncryptionKeyError,
    MissingDependencyError,
    ValidationError,
)
from .keys import normalize_key
from .serialization import (
    ENCRYPTED_PREFIX,
    Serializer,
    SerializerSpec,
    Unvetted,
    data_origin,
    get_serializer,
)
from .storage import fs
from .storage.log import FLAG_REWRITE, Op

if TYPE_CHECKING:  # pragma: no cover
    from .core import DatabaseCore, TableCore
    from .schema import Schema

__all__ = [
    "CIPHER",
    "ENCRYPTED_PREFIX",
    "OVERHEAD",
    "PROPERTY",
    "EncryptedSerializer",
    "KeyRing",
    "encryption_status",
    "generate_key",
    "key_id",
    "rotate_key",
    "with_encryption",
]

#: The cipher, as the table records it.
CIPHER = "AES-GCM"
#: The format byte every encrypted value starts with.
FORMAT = 1
#: ``format | key id | table id | nonce``.
_HEAD = struct.Struct(">B4sI12s")
#: The bytes the associated data covers at the start of a value.
_BOUND = 9
_TAG = 16
#: Bytes an encrypted value has beyond its plaintext (37).
OVERHEAD = _HEAD.size + _TAG
#: The key of the table's ``properties`` entry in ``meta.json``.
PROPERTY = "encryption"
_AD = b"dynafile encrypted item\x00"
_KEY_SIZES = (16, 24, 32)

#: A key or several (the first writes new tables; all are read).
KeySpec = Union[bytes, bytearray, memoryview, Sequence[Union[bytes, bytearray]], "KeyRing"]


def generate_key() -> bytes:
    """A new random 256-bit key (``os.urandom(32)``). Keep it somewhere
    safe: without it the table cannot be read, by anyone."""
    return os.urandom(32)


def key_id(key: bytes) -> str:
    """The id of ``key`` as the table records it: 8 hex digits (a keyed
    BLAKE2b of a constant, so it says which key and nothing usable about it)."""
    return _kid(bytes(key)).hex()


def _kid(key: bytes) -> bytes:
    return hashlib.blake2b(b"dynafile key id", key=key, digest_size=4).digest()


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise MissingDependencyError(
            "encryption needs the cryptography package: pip install 'dynafile[encryption]'",
            extra="encryption") from None
    return AESGCM


def _invalid_tag() -> type[Exception]:
    from cryptography.exceptions import InvalidTag

    return InvalidTag  # type: ignore[no-any-return]


class KeyRing:
    """The keys an opener holds, by id; the first is the one a new table is
    written with (an existing table writes with the key its ``meta.json``
    names first).

    Args:
        keys: a key (16, 24 or 32 bytes) or a sequence of keys.

    Raises:
        EncryptionKeyError: no key, a key of another length or type (a
            ``str`` is a password, not a key), or the same key twice.
    """

    def __init__(self, keys: KeySpec) -> None:
        if isinstance(keys, KeyRing):
            self._ciphers: dict[bytes, Any] = dict(keys._ciphers)
            return
        if isinstance(keys, (bytes, bytearray, memoryview)):
            keys = [bytes(keys)]
        elif isinstance(keys, str) or not isinstance(keys, Iterable):
            raise EncryptionKeyError(
                "must be a key of 16, 24 or 32 bytes (e.g. dynafile.encryption.generate_key()) "
                f"or a list of keys, got {type(keys).__name__}")
        self._ciphers = {}
        for key in keys:
            self.add(key)
        if not self._ciphers:
            raise EncryptionKeyError("needs at least one key")

    def add(self, key: Any) -> str:
        """Add ``key`` (if new) and return its id."""
        if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) not in _KEY_SIZES:
            raise EncryptionKeyError(
                "a key is 16, 24 or 32 bytes (AES-128/192/256; "
                f"dynafile.encryption.generate_key() makes one), got {_describe(key)}")
        raw = bytes(key)
        kid = _kid(raw)
        if kid not in self._ciphers:
            self._ciphers[kid] = _aesgcm()(raw)
        return kid.hex()

    @property
    def ids(self) -> list[str]:
        """The keys' ids, in the order given."""
        return [kid.hex() for kid in self._ciphers]

    def cipher(self, kid: bytes) -> Any:
        """The AES-GCM object of key id ``kid`` (4 bytes), or ``None``."""
        return self._ciphers.get(kid)

    def __contains__(self, kid: object) -> bool:
        if isinstance(kid, str):
            kid = bytes.fromhex(kid)
        return kid in self._ciphers

    def __len__(self) -> int:
        return len(self._ciphers)

    def __repr__(self) -> str:  # never the keys themselves
        return f"<KeyRing ids={self.ids}>"


def _describe(key: Any) -> str:
    if isinstance(key, str):
        return "a str (a password is not a key: use 32 random bytes)"
    if isinstance(key, (bytes, bytearray, memoryview)):
        return f"{len(key)} bytes"
    return type(key).__name__


class EncryptedSerializer(Serializer):
    """A table's serializer, encrypted: ``inner``'s bytes under AES-GCM.

    The table records its name as ``"encrypted:<inner name>"``, so an opener
    without a key is told the table is encrypted (and which serializer is
    inside) instead of reading ciphertext.

    Args:
        inner: the serializer inside (a name, a :class:`Serializer`, or
            ``None`` for pickle).
        key: a key (16, 24 or 32 bytes), or several (during a rotation: the
            new and the old one), or a :class:`KeyRing`.

    Raises:
        EncryptionKeyError: a bad key.
        ValidationError: an unknown inner serializer, an encrypted one, or a
            name too long to prefix.
        MissingDependencyError: ``cryptography`` is not installed.

    Example:
        >>> import tempfile
        >>> from dynafile import Dynafile
        >>> key = generate_key()
        >>> db = Dynafile(tempfile.mkdtemp(), serializer=EncryptedSerializer("json", key))
        >>> db.put_item(item={"PK": "a", "SK": "b", "secret": "swordfish"})
        >>> db.get_item(key={"PK": "a", "SK": "b"})["secret"]
        'swordfish'
        >>> db.describe()["serializer"]
        'encrypted:json'
        >>> db.close()
    """

    def __init__(self, inner: SerializerSpec = None, key: KeySpec | None = None) -> None:
        if key is None:
            raise EncryptionKeyError("an EncryptedSerializer needs a key")
        self.keys = KeyRing(key)
        self.inner = get_serializer(inner)
        if isinstance(self.inner, EncryptedSerializer):
            raise ValidationError("the inner serializer is encrypted already",
                                  attribute="serializer")
        self.name = ENCRYPTED_PREFIX + self.inner.name
        if len(self.name) > 64:
            raise ValidationError(f"serializer name {self.inner.name!r} is too long to encrypt "
                                  "under (54 characters at most)", attribute="serializer")
        self.strict_types = self.inner.strict_types
        self._inner_dumps = self.inner.dumps
        self._inner_loads = self.inner.loads
        self._inner_load_stored = self.inner.load_stored
        # Bound state (see for_table): unbound, values carry table id 0 and
        # any table id is accepted on load.
        self._table_id: int | None = None
        self._table_name = ""
        self._database: DatabaseCore | None = None
        self._record: dict[str, Any] | None = None
        self._meta_sig: Any = None
        self._writer: tuple[bytes, Any] = self._first_key()
        self._key_attributes: tuple[str, str | None] | None = None
        self._lock = threading.Lock()

    def _first_key(self) -> tuple[bytes, Any]:
        kid = next(iter(self.keys._ciphers))
        return kid, self.keys._ciphers[kid]

    # ------------------------------------------------------------ binding

    def for_table(self, database: DatabaseCore, schema: Schema) -> EncryptedSerializer:
        """A copy of this serializer bound to one table (the table core calls
        this when it opens the table): values carry and must carry the
        table's id, writes use the key the table records first, and the
        table's ``meta.json`` entry gets its encryption record when it has
        none (a new table).

        Raises:
            EncryptionKeyError: the table records keys the opener lacks.
        """
        bound = copy.copy(self)
        bound.keys = KeyRing(self.keys)
        bound._lock = threading.Lock()
        bound._table_id = schema.table_id
        bound._table_name = schema.name
        bound._database = database
        bound._key_attributes = (schema.pk_attribute, schema.sk_attribute)
        record = schema.properties.get(PROPERTY)
        if record is None and not database.read_only:
            fresh = record = _record(self.keys.ids[:1])

            def add(catalog: Any) -> bool:
                entry = catalog.tables.get(schema.name)
                if entry is None or entry.table_id != schema.table_id:
                    return False
                if PROPERTY in entry.properties:
                    return False  # another opener recorded it meanwhile
                entry.properties[PROPERTY] = dict(fresh)
                return True

            database.change_catalog(add)
            record = database.catalog.tables[schema.name].properties.get(PROPERTY, record)
        bound._meta_sig = fs.signature(database.layout.meta)
        bound._take(record)
        return bound

    def _take(self, record: dict[str, Any] | None) -> None:
        """Adopt the table's encryption record: check the keys, choose the
        writing key."""
        if record is None:  # a read-only opener of a table never written with a key
            self._record = None
            self._writer = self._first_key()
            return
        if not isinstance(record, dict) or record.get("cipher") != CIPHER or not isinstance(
                record.get("keys"), list) or not record["keys"]:
            raise EncryptionKeyError(f"table {self._table_name}: its encryption record in "
                                     f"meta.json is not one this release knows: {record!r}")
        missing = [kid for kid in record["keys"] if kid not in self.keys]
        if missing:
            rotating = " (a key rotation is in progress: pass the new and the old key, " \
                       "then run rotate_encryption_key again to finish it)" \
                if record.get("rotating") else ""
            raise EncryptionKeyError(
                f"table {self._table_name} is encrypted under key id(s) {record['keys']}; "
                f"the keys given have id(s) {self.keys.ids}, lacking {missing}{rotating}")
        self._record = record
        kid = bytes.fromhex(record["keys"][0])
        self._writer = (kid, self.keys.cipher(kid))

    def _fresh_writer(self) -> tuple[bytes, Any]:
        """The key to write with now: the one the table records first, as of
        the last change of ``meta.json`` (one ``stat``), so a process that
        slept through a rotation writes under the new key (or refuses)."""
        database = self._database
        if database is None:
            return self._writer
        sig = fs.signature(database.layout.meta)
        if sig != self._meta_sig:
            with self._lock:
                catalog = database.current_catalog()
                schema = catalog.tables.get(self._table_name)
                if schema is not None and schema.table_id == self._table_id:
                    record = schema.properties.get(PROPERTY)
                    if record is not None and record != self._record:
                        kid = bytes.fromhex(record["keys"][0])
                        if kid not in self.keys:
                            raise EncryptionKeyError(
                                f"table {self._table_name} was rotated to key id "
                                f"{kid.hex()}, which this opener lacks: reopen it with the "
                                "new key")
                        self._record = record
                        self._writer = (kid, self.keys.cipher(kid))
                self._meta_sig = sig
        return self._writer

    # ----------------------------------------------------------- the cipher

    def seal(self, plain: bytes) -> bytes:
        """Encrypt serialized bytes under the table's writing key."""
        kid, aead = self._fresh_writer()
        nonce = os.urandom(12)
        head = _HEAD.pack(FORMAT, kid, self._table_id or 0, nonce)
        return head + aead.encrypt(nonce, plain, _AD + head[:_BOUND])

    def open(self, data: bytes) -> bytes:
        """Authenticate and decrypt a stored value; return the serialized
        bytes inside.

        Raises:
            DecryptionError: not an encrypted value, another table's, a key
                id neither the keys given nor the table know, or failed
                authentication (tampered).
            EncryptionKeyError: under a key the table records but this
                opener lacks (another process rotated the table).
        """
        if len(data) < OVERHEAD or data[0] != FORMAT:
            raise self._error(data, "not an encrypted value (too short, or an unknown format "
                                    "byte): written without the key, or damaged")
        _, kid, table_id, nonce = _HEAD.unpack_from(data)
        if self._table_id is not None and table_id != self._table_id:
            raise self._error(data, f"the value is bound to table id {table_id}, not to this "
                                    f"table ({self._table_id}): moved from another table")
        aead = self.keys.cipher(kid)
        if aead is None:
            if kid.hex() in self._listed():
                raise EncryptionKeyError(
                    f"an item of table {self._table_name} is under key id {kid.hex()}, which "
                    "this opener lacks (the table was rotated meanwhile?): reopen with it")
            raise self._error(data, f"encrypted under key id {kid.hex()}, which none of the "
                                    f"keys given ({self.keys.ids}) has and the table does not "
                                    "list: a wrong key, or a changed key id")
        try:
            return aead.decrypt(nonce, data[_HEAD.size:], _AD + data[:_BOUND])  # type: ignore[no-any-return]
        except _invalid_tag():
            raise self._error(data, "authentication failed (AES-GCM tag): the value was "
                                    "changed, or it is not this table's") from None

    def _listed(self) -> list[str]:
        """The key ids the table lists, as this process last read ``meta.json``
        (reads catch up with it) or adopted them."""
        ids = list((self._record or {}).get("keys", ()))
        database = self._database
        if database is not None:
            schema = database.catalog.tables.get(self._table_name)
            if schema is not None and schema.table_id == self._table_id:
                ids += (schema.properties.get(PROPERTY) or {}).get("keys", [])
        return ids

    def _error(self, data: bytes, reason: str) -> DecryptionError:
        path, offset = data_origin(data)
        table = f"table {self._table_name}: " if self._table_name else ""
        return DecryptionError(path, offset, f"{table}{reason}")

    def reseal(self, data: bytes, kid: bytes) -> bytes:
        """The same plaintext under key id ``kid`` (rotation); the value is
        authenticated first, never deserialized."""
        plain = self.open(data)
        aead = self.keys.cipher(kid)
        _, _, table_id, _ = _HEAD.unpack_from(data)
        nonce = os.urandom(12)
        head = _HEAD.pack(FORMAT, kid, table_id, nonce)
        return head + aead.encrypt(nonce, plain, _AD + head[:_BOUND])  # type: ignore[no-any-return]

    # ------------------------------------------------------- the serializer

    def dumps(self, obj: Any) -> bytes:
        """The inner serializer's bytes of ``obj``, encrypted.

        Raises:
            ValidationError: as the inner serializer.
            EncryptionKeyError: the table was rotated to a key this process lacks.
        """
        return self.seal(self._inner_dumps(obj))

    def loads(self, data: bytes) -> Any:
        """Authenticate, decrypt, then load with the inner serializer.

        Raises:
            DecryptionError: see :meth:`open` (nothing is deserialized).
            CorruptFileError: the inner serializer's refusal.
        """
        return self._inner_loads(self.open(data))

    def load_stored(self, data: bytes) -> Any:
        """As :meth:`loads`; plaintext of bytes from disk stays "unvetted"
        for the inner serializer (the pickle allowlist still checks it once)."""
        plain = self.open(data)
        if data.__class__ is bytes:
            return self._inner_load_stored(plain)
        path = getattr(data, "path", "")
        return self._inner_load_stored(Unvetted.at(path)(plain) if path else Unvetted(plain))

    def load_at(self, data: bytes, npk: Any, nsk: Any) -> Any:
        """:meth:`load_stored` for a value read under the normalised key
        ``(npk, nsk)``: its key attributes must be that key.

        Raises:
            DecryptionError: the value is another item's (moved).
        """
        item = self.load_stored(data)
        names = self._key_attributes
        if names is not None and isinstance(item, dict):
            pk_name, sk_name = names
            try:
                same = normalize_key(item[pk_name]) == npk and (
                    sk_name is None or normalize_key(item[sk_name]) == nsk)
            except (KeyError, TypeError, ValueError, DynafileError):
                same = False
            if not same:
                raise self._error(data, f"the value read under key ({npk!r}, {nsk!r}) is the "
                                        "item of another key: moved between items")
        return item

    def __repr__(self) -> str:
        return f"<EncryptedSerializer {self.name!r} keys={self.keys.ids}>"


def _record(ids: list[str], rotating: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {"cipher": CIPHER, "format": FORMAT, "keys": list(ids)}
    if rotating:
        record["rotating"] = True
    return record


def with_encryption(serializer: Serializer | None, keys: KeySpec,
                    stored: str | None) -> EncryptedSerializer:
    """The serializer an opener given ``encryption_key=keys`` uses:
    ``serializer`` (or the one inside the table's stored name ``stored``,
    or pickle for a new table), encrypted.

    Raises:
        EncryptionKeyError: the table exists and is not encrypted (dynafile
            does not encrypt a table in place: copy its items into a new,
            encrypted one), or a bad key.
        SchemaMismatchError: (later, when the table is opened) ``serializer``
            differs from the one inside the table.
    """
    if isinstance(serializer, EncryptedSerializer):
        return serializer
    if stored is not None and not stored.startswith(ENCRYPTED_PREFIX):
        raise EncryptionKeyError(
            f"the table is not encrypted (serializer {stored!r}): open it without "
            "encryption_key; to encrypt its items, copy them into a new table created with "
            "a key")
    inner: SerializerSpec = serializer
    if inner is None and stored is not None:
        inner = stored[len(ENCRYPTED_PREFIX):]
    return EncryptedSerializer(inner, keys)


def opener_serializer(database: DatabaseCore, table: str | None, serializer: Serializer | None,
                      keys: KeySpec) -> EncryptedSerializer:
    """:func:`with_encryption` for ``Dynafile(path, table=table,
    encryption_key=keys)``: the table it will open is ``table``, or the
    database's only one (a new table when it has none of that name)."""
    names = database.table_names()
    target = table if table is not None else (names[0] if len(names) == 1 else None)
    schema = database.catalog.tables.get(target) if target in names else None  # type: ignore[arg-type]
    return with_encryption(serializer, keys, None if schema is None else schema.serializer)


# ------------------------------------------------------------ rotation


def encryption_status(core: TableCore) -> dict[str, Any] | None:
    """The table's encryption record as of now (``None``: not encrypted):
    ``{"cipher", "format", "keys": [ids, writing key first], "rotating"?}``."""
    record = core.current_schema().properties.get(PROPERTY)
    return None if record is None else copy.deepcopy(record)


def _bound(core: TableCore) -> EncryptedSerializer:
    serializer = core.serializer
    if not isinstance(serializer, EncryptedSerializer) or serializer._table_id is None:
        raise EncryptionKeyError(f"table {core.name} is not encrypted: there is no key to "
                                 "rotate")
    return serializer


def rotate_key(core: TableCore, new_key: bytes, *, batch_size: int = 1000) -> int:
    """Re-encrypt every value of a table and its indexes under ``new_key``;
    return how many values this call rewrote.

    Steps, each safe to be killed after: (1) ``meta.json`` records
    ``new_key`` as the writing key, the old ones still listed (``rotating``):
    from here every writer in every process uses the new key; (2) every
    space of the table is walked and the values under another key are
    re-encrypted, ``batch_size`` per log record (all or nothing), until a
    walk finds none; (3) a checkpoint puts the result in partition files;
    (4) ``meta.json`` lists the new key alone. Run it again (with both keys)
    to finish an interrupted rotation: what is done is skipped (each value's
    key id says), reading it but not rewriting it.

    The rewrites change no item: change streams and listeners see nothing
    of them (their log operations carry :data:`~dynafile.storage.log.FLAG_REWRITE`).
    An optimistic transaction that read an item a batch rewrote meanwhile
    conflicts (retry it). Log segments written before the rotation keep the
    old key's values until the retention period removes them: a stream
    reader that reads them needs the old key.

    Raises:
        EncryptionKeyError: the table is not encrypted, or a bad key.
        ValidationError: a bad ``batch_size``.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValidationError("must be a positive int", attribute="batch_size")
    serializer = _bound(core)
    database = core.database
    if database.read_only:
        raise DynafileError("the database is open read-only")
    new_id = serializer.keys.add(new_key)
    name = core.name

    def start(entry: Schema) -> bool:
        old = entry.properties.get(PROPERTY) or _record(serializer.keys.ids[:1])
        missing = [kid for kid in old["keys"] if kid not in serializer.keys]
        if missing:
            raise EncryptionKeyError(f"table {name} has values under key id(s) {missing}, "
                                     "which this opener lacks: it cannot re-encrypt them")
        ids = [new_id] + [kid for kid in old["keys"] if kid != new_id]
        wanted = _record(ids, rotating=len(ids) > 1)
        if old == wanted:
            return False
        entry.properties[PROPERTY] = wanted
        return True

    core.change_schema(start)
    serializer._meta_sig = None  # write with the new key from now on
    kid = bytes.fromhex(new_id)
    rewritten = 0
    while True:
        done = _pass(core, serializer, kid, batch_size)
        rewritten += done
        if done == 0:
            break
    database.checkpoint()
    # A write prepared before step 1 by a process that had not seen it may
    # have landed after the walk: one more walk, then retire the old keys.
    rewritten += _pass(core, serializer, kid, batch_size)

    def finish(entry: Schema) -> bool:
        record = entry.properties.get(PROPERTY) or {}
        if record.get("keys", [None])[0] != new_id:
            return False  # another rotation took over
        wanted = _record([new_id])
        if record == wanted:
            return False
        entry.properties[PROPERTY] = wanted
        return True

    core.change_schema(finish)
    serializer._meta_sig = None
    return rewritten


def _pass(core: TableCore, serializer: EncryptedSerializer, kid: bytes,
          batch_size: int) -> int:
    """Walk every space of the table once; re-encrypt what is under another
    key, ``batch_size`` values per record. Returns how many it rewrote."""
    engine = core.engine
    pending: list[tuple[str, str, Any, Any]] = []
    rewritten = 0
    for space in sorted(core.current_schema().spaces()):
        for digest, collection in engine.scan(space):
            with engine.lock.thread_lock:
                stale = [sk for sk, data in collection.items.items() if data[1:5] != kid]
                pk = collection.pk
            pending.extend((space, digest, pk, sk) for sk in stale)
            while len(pending) >= batch_size:
                rewritten += _rewrite(core, serializer, kid, pending[:batch_size])
                del pending[:batch_size]
    if pending:
        rewritten += _rewrite(core, serializer, kid, pending)
    return rewritten


def _rewrite(core: TableCore, serializer: EncryptedSerializer, kid: bytes,
             slots: list[tuple[str, str, Any, Any]]) -> int:
    """One record re-encrypting ``slots`` that are still under another key."""
    engine = core.engine

    def build() -> tuple[list[Op], int]:
        core.check_open()
        ops = []
        for space, digest, pk, sk in slots:
            current = engine.collection(digest, pk, space).items.get(sk)
            if current is None or current[1:5] == kid:
                continue  # deleted or rewritten meanwhile
            ops.append(Op(pk, sk, serializer.reseal(current, kid), current, FLAG_REWRITE,
                          space))
        return ops, len(ops)

    return core.write(build)
