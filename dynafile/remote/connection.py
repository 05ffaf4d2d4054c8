"""The connection to a DynamoDB endpoint: the ``dynamodb://`` URL, the boto3
clients, every call (with its errors translated) and the backoff.

The URL::

    dynamodb://REGION[?endpoint=URL][&profile=NAME][&positions=WHERE]

* ``REGION``: the AWS region (``us-east-1``); empty (``dynamodb://``) takes
  boto3's default (``AWS_DEFAULT_REGION``, the profile's).
* ``endpoint``: another endpoint than AWS's: ``dynafile serve``, DynamoDB
  Local, moto's server (``http://127.0.0.1:8000``).
* ``profile``: a profile of the AWS config files.
* ``positions``: where named stream consumers keep their positions (see
  :mod:`dynafile.remote.positions`).

Credentials come from boto3's usual chain. For an endpoint on this machine
(``localhost``, ``127.x``, ``::1``), when the chain finds none, the
placeholder key ``local`` / ``local`` is used: local servers accept any key
unless told to check one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from ..endpoints import SCHEME, is_remote
from ..errors import MissingDependencyError, ValidationError
from .errors import translate

__all__ = ["SCHEME", "Connection", "backoff", "is_remote", "parse_url"]

T = TypeVar("T")

#: Seconds to wait before each retry of unprocessed batch items (then
#: jittered): DynamoDB asks for exponential backoff.
BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0)
_LOCAL_HOSTS = ("localhost", "127.", "[::1]", "::1")
_OPTIONS = ("endpoint", "profile", "positions", "region")


def parse_url(url: str) -> dict[str, str | None]:
    """``{"region", "endpoint", "profile", "positions"}`` of a ``dynamodb://`` URL.

    Raises:
        ValidationError: not a ``dynamodb://`` URL, an unknown option, or an
            option given twice.
    """
    if not isinstance(url, str) or not url.startswith(SCHEME):
        raise ValidationError(f"a DynamoDB URL starts with {SCHEME}: {url!r}", attribute="path")
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.fragment:
        raise ValidationError(f"a DynamoDB URL is {SCHEME}REGION?endpoint=URL&profile=NAME: "
                              f"{url!r}", attribute="path")
    found: dict[str, str | None] = {name: None for name in _OPTIONS}
    found["region"] = parts.netloc or None
    for name, given in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in _OPTIONS:
            raise ValidationError(f"unknown option {name!r} in {url!r}; known: "
                                  f"{', '.join(_OPTIONS)}", attribute="path")
        if len(given) != 1 or (name == "region" and found["region"] is not None):
            raise ValidationError(f"option {name!r} given twice in {url!r}", attribute="path")
        found[name] = given[0] or None
    return found


def _boto3() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependencyError("the DynamoDB backend needs boto3: "
                                     "pip install 'dynafile[boto3]'", extra="boto3") from None
    return boto3


def backoff(attempt: int) -> float:
    """Seconds to sleep before retry ``attempt`` (0-based): exponential,
    with full jitter on its upper half."""
    base = BACKOFF[min(attempt, len(BACKOFF) - 1)]
    return base / 2 + random.random() * base / 2


class Connection:
    """The boto3 clients of one remote database, and every call through them.

    Args:
        url: a ``dynamodb://`` URL, or ``None`` with ``client``.
        client: a boto3 ``dynamodb`` client to use as is.
        streams_client: a boto3 ``dynamodbstreams`` client (made from the
            same endpoint, region and credentials when omitted).
        region, endpoint, profile: as in the URL (the URL's win).
    """

    def __init__(self, url: str | None = None, *, client: Any = None,
                 streams_client: Any = None, region: str | None = None,
                 endpoint: str | None = None, profile: str | None = None) -> None:
        options: dict[str, str | None] = {"region": region, "endpoint": endpoint,
                                          "profile": profile, "positions": None}
        if url is not None:
            options.update({k: v for k, v in parse_url(url).items() if v is not None})
        self.options = options
        self.url = url if url is not None else (
            f"{SCHEME}{options['region'] or ''}" + (f"?endpoint={options['endpoint']}"
                                                  if options["endpoint"] else ""))
        self._streams = streams_client
        self._session: Any = None
        if client is not None:
            if url is not None:
                raise ValidationError("give a dynamodb:// URL or a client, not both",
                                      attribute="client")
            meta = getattr(client, "meta", None)
            if meta is None or getattr(meta, "service_model", None) is None or (
                    meta.service_model.service_name != "dynamodb"):
                raise ValidationError("must be a boto3 client of the dynamodb service",
                                      attribute="client")
            self.client = client
            self.options["region"] = meta.region_name
            self.options["endpoint"] = meta.endpoint_url
            self.url = f"{SCHEME}{meta.region_name}?endpoint={meta.endpoint_url}"
        else:
            self.client = self._make("dynamodb")

    def _make(self, service: str) -> Any:
        boto3 = _boto3()
        from botocore.config import Config  # type: ignore[import-untyped]

        if self._session is None:
            self._session = boto3.session.Session(profile_name=self.options["profile"])
        session = self._session
        endpoint = self.options["endpoint"]
        extra: dict[str, Any] = {}
        if endpoint and session.get_credentials() is None and any(
                (urlsplit(endpoint).hostname or "").startswith(h.strip("[]"))
                for h in _LOCAL_HOSTS):
            extra = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        config = Config(retries={"mode": "standard", "max_attempts": 8},
                        max_pool_connections=32)
        return session.client(service, region_name=self.options["region"],
                              endpoint_url=endpoint, config=config, **extra)

    @property
    def streams(self) -> Any:
        """The ``dynamodbstreams`` client (made on first use)."""
        if self._streams is None:
            if self._session is not None:
                self._streams = self._make("dynamodbstreams")
            else:  # a client was given: same endpoint, region and credentials
                boto3 = _boto3()
                meta = self.client.meta
                signer = getattr(self.client, "_request_signer", None)
                creds = getattr(signer, "_credentials", None)
                extra: dict[str, Any] = {}
                if creds is not None:
                    frozen = creds.get_frozen_credentials()
                    extra = {"aws_access_key_id": frozen.access_key,
                             "aws_secret_access_key": frozen.secret_key,
                             "aws_session_token": frozen.token}
                self._streams = boto3.client("dynamodbstreams", region_name=meta.region_name,
                                             endpoint_url=meta.endpoint_url,
                                             config=meta.config, **extra)
        return self._streams

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        """Call a DynamoDB operation (``"PutItem"`` as ``put_item``);
        botocore's errors come out as dynafile's (:func:`translate`)."""
        return self._call(self.client, operation, request)

    def stream_call(self, operation: str, **request: Any) -> dict[str, Any]:
        """Call a DynamoDB Streams operation."""
        return self._call(self.streams, operation, request)

    @staticmethod
    def _call(client: Any, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
        )

        try:
            return getattr(client, operation)(**request)  # type: ignore[no-any-return]
        except (ClientError, BotoCoreError) as error:
            raise translate(error) from error

    def until_processed(self, request: T, send: Callable[[T], T | None], what: str) -> None:
        """Send ``request``; ``send`` returns what is left of it (DynamoDB's
        ``UnprocessedItems`` / ``UnprocessedKeys`` as a new request) or
        ``None``; what is left is sent again after :func:`backoff`.

        Raises:
            ThrottledError: something was still left after every retry.
        """
        from .errors import ThrottledError

        attempt = 0
        left = send(request)
        while left is not None:
            if attempt >= len(BACKOFF):
                raise ThrottledError(f"{what} stayed unprocessed after {attempt} retries",
                                     code="ProvisionedThroughputExceededException")
            time.sleep(backoff(attempt))
            attempt += 1
            left = send(left)

    def close(self) -> None:
        """Close the HTTP connections of the clients made here."""
        for client in (self.client if self._session is not None else None, self._streams):
            closer = getattr(client, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception:  # noqa: BLE001, S110 - closing is best effort
                    pass
