"""The client signer: SDK-identical v1 output, ACS3 headers, requests/httpx plumbing, no secrets in reprs."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import httpx
import pytest
import requests

from ram_middleware import errors
from ram_middleware.client import RamAuth, RequestSigner
from ram_middleware.credentials.authenticate import Authenticator
from ram_middleware.facts import parse_pairs
from ram_middleware.guard import MemoryGuard

from .identities import AK, SECRET, STS_AK, STS_SECRET, STS_TOKEN, MemoryResolver
from .signing import HOST, NOW, facts_from
from .vectors import load_all


def test_v1_signature_is_the_sdk_signature() -> None:
    # rpc-v1[2] was sent by alibabacloud-tea-openapi (signature_algorithm="v2"): same inputs, same output.
    vector = next(v for v in load_all() if v.name == "rpc-v1[2]")
    sent = dict(parse_pairs(vector.data["request"]["raw_query"]))
    business = "&".join(
        f"{name}={sent[name]}"
        for name in ("Action", "Format", "Version", "DurationSeconds", "RoleSessionName")
    )
    url = f"http://{HOST}/?{business}&RoleArn=acs%3Aram%3A%3A1234567890123456%3Arole%2Fops"
    signer = RequestSigner(
        AK, SECRET, scheme="v1", clock=lambda: vector.signed_at, nonce=lambda: sent["SignatureNonce"]
    )
    result = signer.sign("post", url, [], b"")
    assert dict(parse_pairs(urlsplit(result.url).query))["Signature"] == vector.expected["signature"]
    assert result.headers == {}


def test_v1_resigning_replaces_the_old_credentials() -> None:
    signer = RequestSigner(STS_AK, STS_SECRET, security_token=STS_TOKEN, scheme="v1", clock=lambda: NOW)
    first = signer.sign("GET", f"http://{HOST}/?Action=GetUser&UserName=a%20b", [], b"")
    second = signer.sign("GET", first.url, [], b"")
    names = [name for name, _ in parse_pairs(urlsplit(second.url).query)]
    assert sorted(names) == sorted(
        ["Action", "UserName", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce",
         "Timestamp", "SecurityToken", "Signature"]
    )  # fmt: skip
    auth = Authenticator(MemoryResolver(), MemoryGuard(), clock=lambda: NOW)
    assert auth.authenticate(facts_from("GET", second.url, [("host", HOST)])) is not None


def test_acs3_headers() -> None:
    signer = RequestSigner(
        STS_AK, STS_SECRET, security_token=STS_TOKEN, clock=lambda: NOW, nonce=lambda: "n0"
    )
    result = signer.sign(
        "PUT", "http://user@example.com:8080/a%2Fb?x=1", [("Content-Type", "text/plain")], b"hi"
    )
    headers = result.headers
    assert headers["host"] == "example.com:8080"
    assert headers["x-acs-date"] == "2024-01-02T03:04:05Z" and headers["x-acs-signature-nonce"] == "n0"
    assert (
        headers["x-acs-content-sha256"] == "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
    )
    assert headers["x-acs-security-token"] == STS_TOKEN and headers["x-acs-accesskey-id"] == STS_AK
    assert headers["authorization"].startswith(
        f"ACS3-HMAC-SHA256 Credential={STS_AK},SignedHeaders=content-type;host;x-acs-accesskey-id;"
        "x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce,Signature="
    )
    assert result.url == "http://user@example.com:8080/a%2Fb?x=1"


def test_no_secret_in_reprs() -> None:
    auth = RamAuth(AK, SECRET, security_token=STS_TOKEN)
    signed = auth.signer.sign("GET", f"http://{HOST}/", [], b"")
    for text in (repr(auth), repr(auth.signer), repr(signed)):
        assert SECRET not in text and STS_TOKEN not in text
    assert AK in repr(auth)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(errors.InvalidParameter):
        RequestSigner(AK, SECRET, scheme="v3")  # type: ignore[arg-type]


def test_requests_str_body_is_sent_as_the_bytes_that_were_hashed() -> None:
    prepared = requests.Request("POST", f"http://{HOST}/", data="Comments=ü").prepare()
    RamAuth(AK, SECRET)(prepared)
    assert prepared.body == "Comments=ü".encode()
    assert prepared.headers["Content-Length"] == str(len("Comments=ü".encode()))
    assert prepared.headers["Host"] == HOST  # requests merges case-insensitively


def test_requests_streamed_body_cannot_be_signed() -> None:
    prepared = requests.Request("POST", f"http://{HOST}/", data=io.BytesIO(b"x")).prepare()
    with pytest.raises(errors.InvalidParameter):
        RamAuth(AK, SECRET)(prepared)


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_httpx_and_requests_requests_verify(scheme: str) -> None:
    auth = Authenticator(MemoryResolver(), MemoryGuard(), clock=lambda: NOW)
    ram_auth = RamAuth(AK, SECRET, scheme=scheme, clock=lambda: NOW)  # type: ignore[arg-type]
    data = {"UserName": "alice smith", "Comments": "a&b=c ü"}
    built = httpx.Request("POST", f"http://{HOST}/api/users?x=1", data=data)
    flow = ram_auth.sync_auth_flow(built)
    sent = next(flow)
    facts = facts_from(sent.method, str(sent.url), sent.headers.multi_items(), sent.content)
    assert auth.authenticate(facts) is not None
    prepared = requests.Request("POST", f"http://{HOST}/api/users?x=1", data=data).prepare()
    ram_auth(prepared)
    body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body).encode()
    facts = facts_from("POST", prepared.url or "", prepared.headers.items(), body)
    assert auth.authenticate(facts) is not None
