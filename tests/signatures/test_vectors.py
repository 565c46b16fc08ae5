"""Every captured SDK request verifies through the server-side verifier, intermediate strings included."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ram_middleware import errors
from ram_middleware.credentials import acs3, aws4
from ram_middleware.credentials.authenticate import Authenticator
from ram_middleware.credentials.coverage import body_covered, signed_view
from ram_middleware.credentials.encoding import b64_hmac_sha1, sha256_hex
from ram_middleware.credentials.oss import v4_signing_key
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard
from ram_middleware.identity import SigningKey

from .identities import ALICE, OPS_SESSION, STS_AK, MemoryResolver
from .vectors import Vector, load_all

ALL = load_all()
# Intermediate strings each scheme exposes, under the vector's own names.
INTERMEDIATES = {
    "rpc-v1": {"canonicalized_query_string", "string_to_sign"},
    "roa": {"canonicalized_headers", "canonicalized_resource", "string_to_sign"},
    "acs3": {"signed_headers", "canonical_request", "string_to_sign"},
    "oss-v1": {"canonicalized_oss_headers", "canonicalized_resource", "string_to_sign"},
    "oss-v4": {"canonical_request", "scope", "string_to_sign"},
    "aws-v4": {"canonical_request", "scope", "string_to_sign"},
}


def authenticator_at(
    vector: Vector, resolver: MemoryResolver, skew: timedelta = timedelta(0)
) -> Authenticator:
    return Authenticator(resolver, MemoryGuard(), clock=lambda: vector.signed_at + skew)


def test_all_signature_vectors_are_loaded() -> None:
    assert len(ALL) == 16
    assert {v.name.split("[")[0] for v in ALL} == {
        "rpc-v1",
        "roa",
        "acs3-hmac-sha256",
        "sts-token-request",
        "oss-v1",
        "oss-v4",
        "aws-sigv4",
    }


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_vector_authenticates_with_clock_pinned(vector: Vector, resolver: MemoryResolver) -> None:
    principal = authenticator_at(vector, resolver).authenticate(vector.facts())
    assert principal is not None
    expected = OPS_SESSION if vector.data["access_key_id"] == STS_AK else ALICE
    assert principal.arn == expected.arn
    assert principal.access_key_id == vector.data["access_key_id"]
    assert principal.auth_method in INTERMEDIATES
    assert resolver.used[-1][0] == vector.data["access_key_id"]


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_vector_intermediate_strings(vector: Vector, resolver: MemoryResolver) -> None:
    signed = authenticator_at(vector, resolver).parse(vector.facts())
    assert signed is not None
    names = INTERMEDIATES[signed.scheme] & vector.expected.keys()
    assert "string_to_sign" in names and len(names) >= 2
    for name in sorted(names):
        assert signed.parts[name] == vector.expected[name], name
    assert signed.string_to_sign == vector.expected["string_to_sign"]
    assert signed.signer(vector.secret, signed.string_to_sign) == vector.expected["signature"]
    assert signed.signature == vector.expected["signature"]


@pytest.mark.parametrize("vector", [v for v in ALL if "hmac_key" in v.expected], ids=lambda v: v.name)
def test_vector_hmac_key(vector: Vector) -> None:
    key = vector.expected["hmac_key"]
    assert b64_hmac_sha1(key, vector.expected["string_to_sign"]) == vector.expected["signature"]
    rpc = vector.data.get("style") != "ROA"
    assert key == vector.secret + ("&" if rpc else "")


@pytest.mark.parametrize("vector", [v for v in ALL if "signing_key_hex" in v.expected], ids=lambda v: v.name)
def test_vector_v4_signing_key(vector: Vector) -> None:
    scope = vector.expected["scope"].split("/")
    derive = aws4.signing_key if scope[3] == aws4.TERMINATOR else v4_signing_key
    key = derive(vector.secret, scope[0], scope[1], scope[2])
    assert key.hex() == vector.expected["signing_key_hex"]


@pytest.mark.parametrize("vector", [v for v in ALL if "hashed_payload" in v.expected], ids=lambda v: v.name)
def test_vector_acs3_header_fields(vector: Vector) -> None:
    facts = vector.facts()
    algorithm, credential, signed_headers, signature = acs3.parse_authorization(
        facts.header("authorization") or ""
    )
    assert algorithm == vector.expected["algorithm"]
    assert credential == vector.expected["credential"]
    assert signed_headers == vector.expected["signed_headers"]
    assert signature == vector.expected["signature"]
    assert sha256_hex(facts.body) == vector.expected["hashed_payload"]
    assert vector.expected["canonical_request"].endswith("\n" + vector.expected["hashed_payload"])


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_vector_outside_the_skew_window_is_expired(vector: Vector, resolver: MemoryResolver) -> None:
    for skew in (timedelta(minutes=16), -timedelta(minutes=16)):
        with pytest.raises(errors.RequestExpired) as caught:
            authenticator_at(vector, resolver, skew).authenticate(vector.facts())
        assert caught.value.code == "InvalidTimeStamp.Expired"
    # Just inside the window both ways.
    for skew in (timedelta(minutes=14, seconds=59), -timedelta(minutes=14, seconds=59)):
        assert authenticator_at(vector, MemoryResolver(), skew).authenticate(vector.facts()) is not None


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_vector_with_another_secret_does_not_match(vector: Vector, resolver: MemoryResolver) -> None:
    access_key_id = vector.data["access_key_id"]
    if access_key_id == STS_AK:
        token, key = next(iter(resolver.tokens.items()))
        resolver.tokens[token] = SigningKey(key.access_key_id, key.secret + "x", key.principal)
    else:
        key = resolver.keys[access_key_id]
        resolver.keys[access_key_id] = SigningKey(access_key_id, key.secret[:-1], key.principal)
    with pytest.raises(errors.SignatureMismatch) as caught:
        authenticator_at(vector, resolver).authenticate(vector.facts())
    assert caught.value.code == "SignatureDoesNotMatch"
    assert ":" in caught.value.message
    assert vector.expected["string_to_sign"] not in caught.value.message  # only in debug mode
    assert resolver.used == []


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_vector_replay_is_refused_when_it_has_a_nonce(vector: Vector, resolver: MemoryResolver) -> None:
    authenticator = authenticator_at(vector, resolver)
    signed = authenticator.parse(vector.facts())
    assert signed is not None
    assert authenticator.authenticate(vector.facts()) is not None
    if signed.nonce is None:
        # ROA from aliyun-python-sdk-core and OSS send no nonce: nothing to claim (see the report).
        assert authenticator.authenticate(vector.facts()) is not None
        return
    with pytest.raises(errors.NonceReused) as caught:
        authenticator.authenticate(vector.facts())
    assert caught.value.code == "SignatureNonceUsed"


def test_debug_mode_appends_the_server_string_to_sign(resolver: MemoryResolver) -> None:
    vector = ALL[0]
    resolver.keys[vector.data["access_key_id"]] = SigningKey(vector.data["access_key_id"], "wrong", ALICE)
    authenticator = Authenticator(
        resolver, MemoryGuard(), clock=lambda: vector.signed_at, debug_string_to_sign=True
    )
    with pytest.raises(errors.SignatureMismatch) as caught:
        authenticator.authenticate(vector.facts())
    prefix, _, server_string = caught.value.message.partition(":")
    assert prefix == "Specified signature is not matched with our calculation. server string to sign is"
    assert server_string == vector.expected["string_to_sign"]


def test_debug_mode_redacts_the_security_token(resolver: MemoryResolver) -> None:
    vector = next(v for v in ALL if v.name == "sts-token-request[0]")
    token, key = next(iter(resolver.tokens.items()))
    resolver.tokens[token] = SigningKey(key.access_key_id, "wrong", key.principal)
    authenticator = Authenticator(
        resolver, MemoryGuard(), clock=lambda: vector.signed_at, debug_string_to_sign=True
    )
    with pytest.raises(errors.SignatureMismatch) as caught:
        authenticator.authenticate(vector.facts())
    message = caught.value.message
    assert "%26SecurityToken%3D<redacted>%26SignatureMethod" in message
    assert "CAIS" not in message and "Security%253DToken" not in message


@pytest.mark.parametrize("scheme", ["roa", "oss-v1", "oss-v4"])
def test_a_form_body_outside_the_signature_decides_nothing(scheme: str) -> None:
    # Without Content-MD5 (OSS V4: with UNSIGNED-PAYLOAD) these signatures leave the body open: its form
    # parameters are not what the rule is resolved from (they could choose the RPC Action unsigned).
    vector = next(v for v in ALL if v.name.startswith(scheme + "["))
    facts = vector.facts()
    kept = tuple((n, v) for n, v in facts.headers if n.lower() not in ("content-md5", "content-type"))
    form_type = ("Content-Type", "application/x-www-form-urlencoded")
    form = RequestFacts(facts.method, facts.path, facts.query, (*kept, form_type), b"Action=X", facts.peer)
    scheme_name = scheme  # the vector files are named after the schemes' auth_method
    assert not body_covered(form, scheme_name)
    view = signed_view(form, scheme_name)
    assert view.body == b"" and dict(view.params) == dict(form.query_pairs)
    with pytest.raises(errors.InvalidParameter, match="form body the signature does not cover"):
        view.params.get("Action")  # the app would read it from the form: another value than the one checked
    with_md5 = RequestFacts(
        form.method, form.path, form.query, (*form.headers, ("Content-MD5", "x")), form.body
    )
    assert body_covered(with_md5, scheme_name)
    assert signed_view(with_md5, scheme_name).params.get("Action") == "X"
    for covered in ("rpc-v1", "acs3"):  # they cover the body
        assert signed_view(form, covered).params.get("Action") == "X"


def test_roa_strings_that_would_stand_for_two_requests_are_refused(resolver: MemoryResolver) -> None:
    # The ROA string joins the decoded path and query with "?", "&" and "=" unescaped.
    vector = next(v for v in ALL if v.name.startswith("roa["))
    facts = vector.facts()
    authenticator = authenticator_at(vector, resolver)

    def variant(path: str, query: str) -> RequestFacts:
        return RequestFacts(facts.method, path, query, facts.headers, facts.body, facts.peer)

    for path, query in (("/x%3Facl", ""), ("/x", "InstanceId=i-1%26RegionId%3Dcn"), ("/x", "a%3Db=1")):
        with pytest.raises(errors.IncompleteSignature, match="ROA-signed"):
            authenticator.parse(variant(path, query))
    # "/a%252D" decodes to "/a%2D", which the app reads; it must not verify as the string of "/a%2D".
    signed = authenticator.parse(variant("/notes/a%252D", ""))
    assert signed is not None
    candidates = (signed.string_to_sign, *signed.alternatives)
    assert not any(s.endswith("\n/notes/a%2D") for s in candidates)
    assert any(s.endswith("\n/notes/a%252D") for s in candidates)
