"""SigV4 checks (dynafile.dynamodb.signing): requests signed by botocore's
signer pass; every way a request can be unsigned, mis-signed, tampered with
or stale is refused with DynamoDB's error.

DynamoDB's documentation for what these tests assert:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html
"""

from __future__ import annotations

import time
from calendar import timegm

import pytest

pytest.importorskip("botocore")

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dynafile.dynamodb.errors import (
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)
from dynafile.dynamodb.signing import SignatureCheck

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
BODY = b'{"TableName": "orders"}'


def signed(body: bytes = BODY, *, key: str = KEY, secret: str = SECRET,
           region: str = "eu-west-1", service: str = "dynamodb",
           query: str = "") -> dict[str, str]:
    """Headers (lower-case) of a request botocore signed."""
    url = "http://localhost:8000/" + (f"?{query}" if query else "")
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"X-Amz-Target": "DynamoDB_20120810.DescribeTable",
                                  "Content-Type": "application/x-amz-json-1.0",
                                  "Host": "localhost:8000"})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.fixture
def check() -> SignatureCheck:
    return SignatureCheck(KEY, SECRET)


def test_a_request_signed_with_the_key_passes(check):
    check.verify("POST", "/", "", signed(), BODY)
    check.verify("POST", "/", "a=1&b=2", signed(query="a=1&b=2"), BODY)
    check.verify("POST", "/", "", signed(region="us-west-2", service="dynamodb"), BODY)


def test_unsigned_and_malformed_authorization(check):
    headers = signed()
    with pytest.raises(MissingAuthenticationToken):
        check.verify("POST", "/", "", {k: v for k, v in headers.items()
                                       if k != "authorization"}, BODY)
    for bad in ("AWS4-HMAC-SHA256", "Basic dXNlcjpwYXNz",
                ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200101/x/aws4_request, "
                 "SignedHeaders=host;x-amz-date, Signature=00")):
        with pytest.raises(IncompleteSignature):
            check.verify("POST", "/", "", {**headers, "authorization": bad}, BODY)
    unsigned_date = headers["authorization"].replace("x-amz-date;", "").replace(
        ";x-amz-date", "")
    with pytest.raises(IncompleteSignature):
        check.verify("POST", "/", "", {**headers, "authorization": unsigned_date}, BODY)


def test_another_key_or_secret(check):
    with pytest.raises(UnrecognizedClient):
        check.verify("POST", "/", "", signed(key="AKIDOTHER"), BODY)
    with pytest.raises(InvalidSignature):
        check.verify("POST", "/", "", signed(secret="not-the-secret"), BODY)


def test_tampering_is_refused(check):
    headers = signed()
    with pytest.raises(InvalidSignature):  # another body
        check.verify("POST", "/", "", headers, BODY.replace(b"orders", b"others"))
    with pytest.raises(InvalidSignature):  # a signed header changed
        check.verify("POST", "/", "", {**headers, "x-amz-target":
                                       "DynamoDB_20120810.DeleteTable"}, BODY)
    with pytest.raises(InvalidSignature):  # another path or query
        check.verify("POST", "/other", "", headers, BODY)
    with pytest.raises(InvalidSignature):
        check.verify("POST", "/", "x=1", headers, BODY)
    with pytest.raises(InvalidSignature):  # a declared payload hash that is not the body's
        check.verify("POST", "/", "", {**headers, "x-amz-content-sha256": "0" * 64}, BODY)


def test_requests_signed_too_far_from_now(check):
    headers = signed()
    signed_at = timegm(time.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ"))
    late = SignatureCheck(KEY, SECRET, clock=lambda: signed_at + 16 * 60)
    with pytest.raises(InvalidSignature, match="Signature expired"):
        late.verify("POST", "/", "", headers, BODY)
    early = SignatureCheck(KEY, SECRET, clock=lambda: signed_at - 16 * 60)
    with pytest.raises(InvalidSignature, match="not yet current"):
        early.verify("POST", "/", "", headers, BODY)
    SignatureCheck(KEY, SECRET, clock=lambda: signed_at + 14 * 60).verify(
        "POST", "/", "", headers, BODY)


def test_errors_have_dynamodbs_shape():
    body = InvalidSignature("x").body()
    assert body == {"__type": "com.amazon.coral.service#InvalidSignatureException",
                    "message": "x"}
    assert MissingAuthenticationToken("x").status == 400
