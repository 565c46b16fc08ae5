"""AWS SigV4: whatever botocore's signer signs verifies; what it does not cover is refused."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from unittest import mock
from urllib.parse import quote, urlencode, urlsplit

import botocore.session
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.adapters.common import body_is_signed
from ram_middleware.credentials.authenticate import Authenticator, aws_service, detect_scheme
from ram_middleware.credentials.coverage import signed_view
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard

from .identities import AK, ALICE, OPS_SESSION, SECRET, STS_AK, STS_SECRET, STS_TOKEN, MemoryResolver

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
HOST = "127.0.0.1:18765"


def botocore_facts(
    method: str,
    target: str,
    *,
    service: str = "sts",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    token: str | None = None,
    secret: str = SECRET,
    key: str = AK,
    unsigned_payload: bool = False,
    when: datetime = NOW,
) -> RequestFacts:
    """What the server receives for a request botocore's own signer signed at ``when``."""
    request = AWSRequest(method=method, url=f"http://{HOST}{target}", data=body, headers=headers or {})
    if unsigned_payload:  # S3 only: botocore then signs UNSIGNED-PAYLOAD instead of the body's hash
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    with mock.patch(
        "botocore.auth.get_current_datetime", return_value=when.astimezone(UTC).replace(tzinfo=None)
    ):
        auth(Credentials(key, secret, token), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    split = urlsplit(prepared.url)
    sent = [("Host", HOST), *((name, str(value)) for name, value in prepared.headers.items())]
    return RequestFacts(method, split.path or "/", split.query, tuple(sent), body, "127.0.0.1")


def authenticate(facts: RequestFacts) -> object:
    return Authenticator(MemoryResolver(), MemoryGuard(), clock=lambda: NOW).authenticate(facts)


def refused(facts: RequestFacts, error: type[errors.RAMError], text: str) -> None:
    with pytest.raises(error) as caught:
        authenticate(facts)
    assert text in caught.value.message


_segment = st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)
_query = st.lists(st.tuples(st.text(min_size=1, max_size=6), st.text(max_size=6)), max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    service=st.sampled_from(["s3", "sts", "execute-api"]),
    segments=st.lists(_segment, min_size=1, max_size=4),
    safe=st.sampled_from(["~", "~:@!$&'()*+,;="]),  # sub-delimiters percent-encoded, or sent as they are
    query=_query,
    body=st.binary(max_size=40),
)
def test_any_request_botocore_signs_verifies(
    service: str, segments: list[str], safe: str, query: list[tuple[str, str]], body: bytes
) -> None:
    path = "/" + "/".join(quote(segment, safe=safe) for segment in segments)
    target = path + ("?" + urlencode(query, quote_via=quote, safe="~") if query else "")
    facts = botocore_facts("POST", target, service=service, body=body)
    assert authenticate(facts) == dataclasses.replace(ALICE, auth_method="aws-v4", access_key_id=AK)


def test_sts_credentials_and_their_token() -> None:
    facts = botocore_facts("GET", "/", token=STS_TOKEN, key=STS_AK, secret=STS_SECRET)
    principal = authenticate(facts)
    assert getattr(principal, "arn", None) == OPS_SESSION.arn


def test_form_body_is_signed_and_buffered() -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    facts = botocore_facts("POST", "/", body=body, headers=form)
    assert authenticate(facts) is not None
    changed = RequestFacts(facts.method, facts.path, facts.query, facts.headers, body + b"0", facts.peer)
    refused(changed, errors.SignatureMismatch, "not matched")
    auth = facts.header("authorization")
    for payload in (None, "e3b0c4"):  # a body an adapter must read: its hash is signed
        assert body_is_signed(authorization=auth, content_type="", content_md5=False, oss_payload=None,
                              query="", amz_payload=payload)  # fmt: skip
    assert not body_is_signed(authorization=auth, content_type="", content_md5=False, oss_payload=None,
                              query="", amz_payload="UNSIGNED-PAYLOAD")  # fmt: skip


def test_unsigned_payload_verifies_and_streaming_is_refused() -> None:
    facts = botocore_facts("PUT", "/bucket/key", service="s3", body=b"data", unsigned_payload=True)
    assert facts.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    assert authenticate(facts) is not None
    streaming = _with(facts, drop="x-amz-content-sha256", add=("X-Amz-Content-SHA256", "STREAMING-UNSIGNED"))
    refused(streaming, errors.IncompleteSignature, "STREAMING")


def test_a_path_the_signature_does_not_bind_is_refused() -> None:
    # botocore normalises a non-S3 path before signing: "/a//b/./c" and "/a/b/c" share one signature.
    refused(botocore_facts("GET", "/a//b/./c"), errors.IncompleteSignature, "segments")
    refused(botocore_facts("GET", "/x/../admin"), errors.IncompleteSignature, "segments")
    assert authenticate(botocore_facts("GET", "/a//b/./c", service="s3")) is not None  # S3 signs it as sent


def _with(facts: RequestFacts, *, drop: str = "", add: tuple[str, str] | None = None,
          authorization: str | None = None) -> RequestFacts:  # fmt: skip
    headers = [(n, v) for n, v in facts.headers if n.lower() != drop]
    if authorization is not None:
        headers = [(n, authorization if n.lower() == "authorization" else v) for n, v in headers]
    if add is not None:
        headers.append(add)
    return RequestFacts(facts.method, facts.path, facts.query, tuple(headers), facts.body, facts.peer)


def test_headers_that_must_be_signed() -> None:
    facts = botocore_facts("GET", "/")
    refused(_with(facts, add=("x-acs-action", "DeleteUser")), errors.IncompleteSignature, "x-acs-action")
    refused(
        _with(facts, add=("X-Amz-Security-Token", STS_TOKEN)), errors.IncompleteSignature, "security-token"
    )
    auth = facts.header("authorization") or ""
    unsorted = auth.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date;host")
    refused(_with(facts, authorization=unsorted), errors.IncompleteSignature, "sorted")
    without_host = auth.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date")
    refused(_with(facts, authorization=without_host), errors.IncompleteSignature, '"host" must be signed')


@pytest.mark.parametrize("name", ["X-Amz-Meta-A", "Content-Type"])
def test_a_signed_header_sent_twice_is_refused(name: str) -> None:
    # Signed joined with ",": "1,2" re-sent as two headers would verify while the app read "1".
    facts = botocore_facts("PUT", "/b/k", service="s3", headers={name: "1,2"})
    assert authenticate(facts) is not None
    split = _with(facts, drop=name.lower(), add=(name, "1"))
    split = _with(split, add=(name, "2"))
    refused(split, errors.IncompleteSignature, f'"{name.lower()}" appears more than once')


def test_malformed_authorization_headers() -> None:
    facts = botocore_facts("GET", "/")
    auth = facts.header("authorization") or ""
    for bad in (
        auth + ", Signature=00",  # a field twice: two joined headers
        auth.replace("/aws4_request", "/aliyun_v4_request"),
        auth.replace("Credential=", "Credentials="),
        "AWS4-HMAC-SHA256 ",
    ):
        refused(_with(facts, authorization=bad), errors.IncompleteSignature, "AWS4-HMAC-SHA256")
    other_day = auth.replace("/20240102/", "/20240103/")
    refused(_with(facts, authorization=other_day), errors.SignatureMismatch, "scope date")


def test_a_form_body_the_signature_does_not_cover_decides_nothing() -> None:
    # UNSIGNED-PAYLOAD leaves the body open: as a form it must not choose the RPC Action or the resource.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b"Action=DescribeInstances"
    facts = botocore_facts("POST", "/b/k", service="s3", body=body, headers=form, unsigned_payload=True)
    assert facts.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    assert authenticate(facts) is not None  # the signature is good for what it covers
    with pytest.raises(errors.InvalidParameter, match="form body the signature does not cover"):
        signed_view(facts, "aws-v4").params.get("Action")
    signed = botocore_facts("POST", "/b/k", service="s3", body=body, headers=form)
    assert signed_view(signed, "aws-v4").params["Action"] == "DescribeInstances"


def test_an_aws_presigned_url_is_a_credential_not_anonymous() -> None:
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20240102%2Fus-east-1%2Fs3%2Faws4_request"
    facts = RequestFacts("GET", "/b/k", query + "&X-Amz-Signature=00", (("host", HOST),), b"", "127.0.0.1")
    refused(facts, errors.IncompleteSignature, "AWS4-HMAC-SHA256")


def botocore_presigned(signature_version: str | None) -> RequestFacts:
    """The URL botocore's S3 client presigns for GetObject (its default for S3 is Signature Version 2's
    query form, ``AWSAccessKeyId``/``Signature``/``Expires``)."""
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=f"http://{HOST}", region_name="us-east-1", aws_access_key_id=AK,
        aws_secret_access_key=SECRET, config=Config(signature_version=signature_version),
    )  # fmt: skip
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    split = urlsplit(url)
    return RequestFacts("GET", split.path, split.query, (("host", HOST),), b"", "127.0.0.1")


@pytest.mark.parametrize("version", [None, "s3v4"])
def test_botocore_presigned_urls_are_refused_as_such(version: str | None) -> None:
    facts = botocore_presigned(version)
    assert ("X-Amz-Signature=" in facts.query) == (version == "s3v4")
    assert detect_scheme(facts) == "aws-presigned"
    refused(facts, errors.IncompleteSignature, "AWS presigned URLs")


def test_aws_signature_version_2_headers_are_refused_as_such() -> None:
    facts = botocore_facts("GET", "/b/k", service="s3")
    v2 = _with(facts, authorization=f"AWS {AK}:c2lnbmF0dXJl")
    assert detect_scheme(v2) == "aws-v2"
    refused(v2, errors.IncompleteSignature, "Signature Version 2")


def test_the_service_whose_xml_error_shape_a_refusal_takes() -> None:
    facts = botocore_facts("GET", "/")
    auth = facts.header("authorization") or ""
    assert aws_service(facts) == "sts"
    assert aws_service(_with(facts, add=("Authorization", auth))) == "sts"  # two headers: refused, as STS
    assert aws_service(botocore_facts("GET", "/b/k", service="s3")) == "s3"
    assert aws_service(_with(facts, authorization=f"AWS {AK}:c2ln")) == "s3"
    for version in (None, "s3v4"):
        assert aws_service(botocore_presigned(version)) == "s3"
    assert aws_service(_with(facts, authorization="OSS a:b")) is None
    assert aws_service(RequestFacts("GET", "/", "Action=GetUser&AccessKeyId=a&Signature=b")) is None


def test_an_rpc_request_with_an_aws_access_key_id_parameter_stays_rpc() -> None:
    facts = RequestFacts("GET", "/", "Action=GetUser&AccessKeyId=LTAI&Signature=x&AWSAccessKeyId=y")
    assert detect_scheme(facts) == "rpc-v1"
