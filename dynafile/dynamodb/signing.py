"""SigV4 request signing checks for ``dynafile serve``.

A :class:`SignatureCheck` holds one configured access key and secret key.
:meth:`SignatureCheck.verify` takes what an HTTP request carries (method,
path, query string, headers, body) and raises DynamoDB's error when the
request is not signed by that key: the expected signature is computed by
botocore's own SigV4 signer (``botocore.auth.SigV4Auth``) over the headers
the client says it signed, then compared in constant time. No cryptography
is written here.

Needs botocore (``pip install dynafile[server]``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from calendar import timegm
from collections.abc import Mapping
from typing import Any

from .errors import (
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)

__all__ = ["MAX_SKEW_SECONDS", "SignatureCheck"]

#: How far a request's ``X-Amz-Date`` may be from the server's clock (15 minutes, as AWS).
MAX_SKEW_SECONDS = 15 * 60

_ALGORITHM = "AWS4-HMAC-SHA256"
_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you "
                  "provided. Check your AWS Secret Access Key and signing method. Consult the "
                  "service documentation for details.")


class SignatureCheck:
    """Checks SigV4 signatures against one access key and secret key.

    Args:
        access_key: the access key id clients must sign with.
        secret_key: its secret access key.
        clock: seconds since the epoch (``time.time``), for the skew check.

    Raises:
        ImportError: botocore is not installed (with the extra to install).

    Example:
        >>> check = SignatureCheck("AKID", "secret")
        >>> check.verify("POST", "/", "", {"host": "localhost"}, b"{}")
        Traceback (most recent call last):
        ...
        dynafile.dynamodb.errors.MissingAuthenticationToken: Request is missing Authentication Token
    """

    def __init__(self, access_key: str, secret_key: str, *,
                 clock: Any = time.time) -> None:
        try:
            from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
            from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
            from botocore.credentials import Credentials  # type: ignore[import-untyped]
        except ImportError as error:  # pragma: no cover - the extra installs it
            raise ImportError("SigV4 checks need botocore: pip install 'dynafile[server]'") \
                from error
        self.access_key = access_key
        self._credentials = Credentials(access_key, secret_key)
        self._signer = SigV4Auth
        self._request = AWSRequest
        self._clock = clock

    def verify(self, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes) -> None:
        """Check one request's signature.

        Args:
            method: the HTTP method (``"POST"``).
            path: the request path as sent (``"/"``).
            query: the raw query string (``""`` when none).
            headers: the request headers, names in lower case (repeated
                headers joined by ``,``).
            body: the whole request body.

        Raises:
            MissingAuthenticationToken: no ``Authorization`` header.
            IncompleteSignature: the header is not a complete SigV4 header,
                or ``X-Amz-Date`` is missing, malformed or unsigned.
            UnrecognizedClient: another access key signed the request.
            InvalidSignature: the signature does not match, or the request
                was signed more than 15 minutes from now.

        Cost: one SHA-256 over the body and a few HMACs (botocore's).
        """
        authorization = headers.get("authorization")
        if not authorization:
            raise MissingAuthenticationToken("Request is missing Authentication Token")
        algorithm, _, rest = authorization.strip().partition(" ")
        fields = dict(_FIELD.findall(rest))
        if algorithm != _ALGORITHM or len(fields) != 3:
            raise IncompleteSignature(
                f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
                f"parameters with algorithm {_ALGORITHM}. Authorization={authorization}")
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise IncompleteSignature(f"Credential should be scoped to a valid region, not "
                                      f"'{fields['Credential']}'.")
        key, day, region, service, _ = scope
        if key != self.access_key:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        signed = fields["SignedHeaders"].lower().split(";")
        amz_date = headers.get("x-amz-date", "")
        if "x-amz-date" not in signed or not _AMZ_DATE.match(amz_date):
            raise IncompleteSignature("Authorization header requires existence of either a "
                                      "'X-Amz-Date' or a 'Date' header.")
        self._check_skew(amz_date)
        declared = headers.get("x-amz-content-sha256")
        if declared and declared not in ("UNSIGNED-PAYLOAD",) \
                and declared != hashlib.sha256(body).hexdigest():
            raise InvalidSignature(_BAD_SIGNATURE)
        if amz_date[:8] != day:
            raise InvalidSignature(_BAD_SIGNATURE)
        host = headers.get("host", "")
        url = f"http://{host}{path}" + (f"?{query}" if query else "")
        request = self._request(method=method, url=url, data=body,
                                headers={name: headers.get(name, "") for name in signed})
        request.context["timestamp"] = amz_date
        signer = self._signer(self._credentials, service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise InvalidSignature(_BAD_SIGNATURE)

    def _check_skew(self, amz_date: str) -> None:
        signed_at = timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        now = self._clock()
        if abs(now - signed_at) > MAX_SKEW_SECONDS:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            if signed_at < now:
                raise InvalidSignature(f"Signature expired: {amz_date} is now earlier than "
                                       f"{stamp} - 15 min.")
            raise InvalidSignature(f"Signature not yet current: {amz_date} is still later "
                                   f"than {stamp} + 15 min.")
