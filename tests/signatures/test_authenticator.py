"""Authenticator checks one by one: scheme detection, each failure's Code/status, STS, root, replay."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from ram_middleware import errors
from ram_middleware.credentials.authenticate import Authenticator, detect_scheme
from ram_middleware.credentials.encoding import ContentMD5Mismatch, MissingCredentialParameter
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard

from .identities import (
    AK,
    ALICE,
    EXPIRED_TOKEN,
    INACTIVE_AK,
    INACTIVE_SECRET,
    OPS_SESSION,
    REVOKED_TOKEN,
    ROOT_AK,
    ROOT_SECRET,
    SECRET,
    STS_AK,
    STS_SECRET,
    STS_TOKEN,
    MemoryResolver,
)
from .signing import HOST, NOW, acs3_facts, acs3_headers, facts_from, oss_v4_facts, roa_facts, signed

SECRETS = (SECRET, STS_SECRET, ROOT_SECRET, INACTIVE_SECRET, STS_TOKEN)


@pytest.fixture
def auth(resolver: MemoryResolver) -> Authenticator:
    return Authenticator(resolver, MemoryGuard(), clock=lambda: NOW)


def refused(
    auth: Authenticator, facts: RequestFacts, kind: type[errors.RAMError], code: str
) -> errors.RAMError:
    """Authenticate, expect ``kind`` with ``code``; check it is a 4xx AuthenticationError without secrets."""
    with pytest.raises(kind) as caught:
        auth.authenticate(facts)
    error = caught.value
    assert error.code == code
    assert 400 <= error.status < 500
    assert isinstance(error, errors.AuthenticationError)
    for secret in SECRETS:
        assert secret not in str(error) and secret not in repr(error.detail)
    return error


# --- detection ------------------------------------------------------------------------------------------


def test_no_credential_is_anonymous(auth: Authenticator, resolver: MemoryResolver) -> None:
    facts = facts_from("GET", f"http://{HOST}/?Action=GetUser&UserName=alice", [("host", HOST)])
    assert detect_scheme(facts) is None
    assert auth.authenticate(facts) is None
    assert resolver.used == []


@pytest.mark.parametrize(
    ("authorization", "scheme"),
    [
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=00", "acs3"),
        ("acs AK:sig", "roa"),
        ("OSS AK:sig", "oss-v1"),
        ("OSS4-HMAC-SHA256 Credential=AK/20240102/r/oss/aliyun_v4_request, Signature=00", "oss-v4"),
        ("Bearer abc", "unknown"),
    ],
)
def test_detection_by_authorization(authorization: str, scheme: str) -> None:
    facts = RequestFacts("GET", "/", "Signature=x&AccessKeyId=y", (("Authorization", authorization),))
    assert detect_scheme(facts) == scheme


def test_x_acs_action_alone_is_not_acs3() -> None:
    facts = RequestFacts("POST", "/", "", (("x-acs-action", "GetUser"), ("x-acs-version", "2015-05-01")))
    assert detect_scheme(facts) is None


@pytest.mark.parametrize("param", ["Signature=x", "AccessKeyId=LTAI", "SecurityToken=t", "BearerToken=b"])
def test_an_rpc_credential_parameter_makes_it_rpc(param: str) -> None:
    assert detect_scheme(RequestFacts("GET", "/", f"Action=GetUser&{param}")) == "rpc-v1"


def test_rpc_credential_in_a_form_body_is_detected() -> None:
    facts = RequestFacts(
        "POST",
        "/",
        "",
        (("Content-Type", "application/x-www-form-urlencoded"),),
        b"AccessKeyId=x&Signature=y",
    )
    assert detect_scheme(facts) == "rpc-v1"


@pytest.mark.parametrize(
    "headers",
    [
        (("Authorization", "Bearer abc"),),
        (("Authorization", "Basic dXNlcjpwYXNz"),),
        (("x-acs-security-token", "tok"),),
        (("x-oss-security-token", "tok"),),
        (("x-acs-bearer-token", "tok"),),
        (("x-acs-zero-trust-idtoken", "tok"),),
        (("Authorization", "acs a:b"), ("Authorization", "acs c:d")),
    ],
)
def test_a_credential_we_cannot_read_is_an_error_never_anonymous(
    auth: Authenticator, headers: tuple[tuple[str, str], ...]
) -> None:
    refused(auth, RequestFacts("GET", "/", "", headers), errors.IncompleteSignature, "IncompleteSignature")


# --- success -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_signed_request_gives_the_principal(
    scheme: str, auth: Authenticator, resolver: MemoryResolver
) -> None:
    principal = auth.authenticate(signed(scheme))
    assert principal is not None
    assert principal.arn == ALICE.arn and principal.groups == ALICE.groups
    assert principal.auth_method == {"acs3": "acs3", "v1": "rpc-v1"}[scheme]
    assert principal.access_key_id == AK
    assert ALICE.auth_method == "none"  # the stored principal is not touched
    assert resolver.used == [(AK, NOW)]


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_a_proxy_that_rewrites_host_breaks_acs3_only(scheme: str, auth: Authenticator) -> None:
    # README "Behind a reverse proxy": ACS3 signs host (and X-Forwarded-Host is not read); v1 does not.
    facts = signed(scheme)
    headers = [(name, "127.0.0.1:8000" if name == "host" else value) for name, value in facts.headers]
    headers.append(("x-forwarded-host", HOST))
    proxied = RequestFacts(facts.method, facts.path, facts.query, tuple(headers), facts.body, "10.0.0.2")
    if scheme == "v1":
        assert auth.authenticate(proxied) is not None
        return
    with pytest.raises(errors.SignatureMismatch):
        auth.authenticate(proxied)


def test_repeated_authentication_of_one_key_returns_equal_principals(auth: Authenticator) -> None:
    first, second = auth.authenticate(signed()), auth.authenticate(signed())
    assert first == second and first is not None and first.auth_method == "acs3"
    roa = auth.authenticate(roa_facts())
    assert roa is not None and roa.auth_method == "roa" and roa.arn == ALICE.arn


# --- RPC v1 parameters -------------------------------------------------------------------------------------


def drop_param(facts: RequestFacts, name: str) -> RequestFacts:
    query = "&".join(p for p in facts.query.split("&") if p.partition("=")[0] != name)
    return RequestFacts(facts.method, facts.path, query, facts.headers, facts.body)


def set_param(facts: RequestFacts, name: str, value: str) -> RequestFacts:
    return RequestFacts(
        facts.method, facts.path, f"{drop_param(facts, name).query}&{name}={value}", facts.headers
    )


@pytest.mark.parametrize(
    "name", ["Signature", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"]
)
def test_rpc_missing_parameter(auth: Authenticator, name: str) -> None:
    error = refused(auth, drop_param(signed("v1"), name), MissingCredentialParameter, "MissingParameter")
    assert f'"{name}"' in error.message
    assert isinstance(error, errors.MissingParameter)


@pytest.mark.parametrize(
    ("name", "value", "kind", "code"),
    [
        ("SignatureMethod", "HMAC-SHA256", errors.UnsupportedSignatureMethod, "InvalidSignatureMethod"),
        ("SignatureVersion", "2.0", errors.UnsupportedSignatureVersion, "InvalidSignatureVersion"),
        ("SignatureType", "BEARERTOKEN", errors.UnsupportedSignatureMethod, "InvalidSignatureMethod"),
        ("Timestamp", "2024-01-02 03:04:05", errors.BadTimestamp, "InvalidTimeStamp.Format"),
        ("Timestamp", "2024-13-02T03:04:05Z", errors.BadTimestamp, "InvalidTimeStamp.Format"),
        ("Timestamp", "1704164645", errors.BadTimestamp, "InvalidTimeStamp.Format"),
        ("SignatureNonce", "n" * 129, errors.IncompleteSignature, "IncompleteSignature"),
    ],
)
def test_rpc_bad_parameter(
    auth: Authenticator, name: str, value: str, kind: type[errors.RAMError], code: str
) -> None:
    refused(auth, set_param(signed("v1"), name, value), kind, code)


def test_rpc_signature_given_twice_is_refused(auth: Authenticator) -> None:
    facts = signed("v1")
    doubled = RequestFacts(facts.method, facts.path, facts.query + "&Signature=AAAA", facts.headers)
    refused(auth, doubled, errors.IncompleteSignature, "IncompleteSignature")


def test_rpc_with_an_opaque_body_is_refused(auth: Authenticator) -> None:
    facts = signed("v1", headers=[("content-type", "application/json")], body=b'{"UserName": "mallory"}')
    refused(auth, facts, errors.IncompleteSignature, "IncompleteSignature")


def test_rpc_form_body_parameters_are_signed(auth: Authenticator) -> None:
    form = [("content-type", "application/x-www-form-urlencoded")]
    facts = signed("v1", headers=form, body=b"DisplayName=Bob+%E4%B8%AD&Comments=x")
    assert auth.authenticate(facts) is not None
    changed = RequestFacts(
        facts.method, facts.path, facts.query, facts.headers, b"DisplayName=Eve&Comments=x"
    )
    refused(auth, changed, errors.SignatureMismatch, "SignatureDoesNotMatch")


# --- keys, tokens, root ------------------------------------------------------------------------------------


def test_unknown_key(auth: Authenticator) -> None:
    error = refused(
        auth,
        signed(access_key_id="LTAI5tNOSUCHKEY00000001"),
        errors.UnknownAccessKey,
        "InvalidAccessKeyId.NotFound",
    )
    assert error.status == 404


def test_inactive_key(auth: Authenticator) -> None:
    facts = signed(access_key_id=INACTIVE_AK, secret=INACTIVE_SECRET)
    refused(auth, facts, errors.InactiveAccessKey, "InvalidAccessKeyId.Inactive")


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_sts_credentials(scheme: str, auth: Authenticator) -> None:
    principal = auth.authenticate(signed(scheme, access_key_id=STS_AK, secret=STS_SECRET, token=STS_TOKEN))
    assert principal is not None
    assert principal.arn == OPS_SESSION.arn and principal.kind == "assumed-role"
    assert principal.access_key_id == STS_AK


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_sts_key_without_token(scheme: str, auth: Authenticator) -> None:
    facts = signed(scheme, access_key_id=STS_AK, secret=STS_SECRET)
    refused(auth, facts, errors.MissingSecurityToken, "MissingSecurityToken")


@pytest.mark.parametrize(
    ("access_key_id", "token", "suffix"),
    [
        (STS_AK, EXPIRED_TOKEN, "Expired"),
        (STS_AK, REVOKED_TOKEN, "Revoked"),
        (STS_AK, "not-a-token", "Malformed"),
        ("STS.NTESTotherKeyId0000001", STS_TOKEN, "MismatchWithAccessKey"),
        (AK, STS_TOKEN, "MismatchWithAccessKey"),
    ],
)
@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_bad_security_token(
    scheme: str, auth: Authenticator, access_key_id: str, token: str, suffix: str
) -> None:
    facts = signed(scheme, access_key_id=access_key_id, secret=STS_SECRET, token=token)
    refused(auth, facts, errors.InvalidSecurityToken, f"InvalidSecurityToken.{suffix}")


def test_resolver_returning_a_key_for_another_id_is_a_mismatch(resolver: MemoryResolver) -> None:
    class Confused(MemoryResolver):
        def verify_security_token(self, access_key_id: str, token: str):  # type: ignore[no-untyped-def]
            return self.tokens[STS_TOKEN]

    auth = Authenticator(Confused(), MemoryGuard(), clock=lambda: NOW)
    facts = signed(access_key_id="STS.someoneElse", secret=STS_SECRET, token="any")
    refused(auth, facts, errors.InvalidSecurityToken, "InvalidSecurityToken.MismatchWithAccessKey")


def test_root_key_is_refused_by_default(auth: Authenticator, resolver: MemoryResolver) -> None:
    facts = signed(access_key_id=ROOT_AK, secret=ROOT_SECRET)
    error = refused(auth, facts, errors.RootAccessKeyRefused, "Forbidden.RootAccessKey")
    assert error.status == 403
    assert resolver.used == []


def test_root_key_allowed_is_logged_without_secrets(
    resolver: MemoryResolver, caplog: pytest.LogCaptureFixture
) -> None:
    auth = Authenticator(resolver, MemoryGuard(), clock=lambda: NOW, allow_root_keys=True)
    with caplog.at_level(logging.WARNING, logger="ram_middleware.credentials.authenticate"):
        principal = auth.authenticate(signed(access_key_id=ROOT_AK, secret=ROOT_SECRET))
    assert principal is not None and principal.kind == "root"
    assert len(caplog.records) == 1 and ROOT_AK in caplog.text
    assert ROOT_SECRET not in caplog.text


def test_a_bad_signature_from_root_is_a_mismatch_not_a_root_refusal(auth: Authenticator) -> None:
    # Refusing root before checking the signature would tell anyone which key ids belong to root.
    refused(
        auth, signed(access_key_id=ROOT_AK, secret="guess"), errors.SignatureMismatch, "SignatureDoesNotMatch"
    )


# --- time and replay ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
@pytest.mark.parametrize("minutes", [16, -16, 60 * 24])
def test_stale_or_future_time(scheme: str, minutes: int, auth: Authenticator) -> None:
    facts = signed(scheme, when=NOW - timedelta(minutes=minutes))
    refused(auth, facts, errors.RequestExpired, "InvalidTimeStamp.Expired")


_SIGNED_AT: dict[str, Callable[[datetime], RequestFacts]] = {
    "acs3": lambda when: signed("acs3", when=when),
    "rpc-v1": lambda when: signed("v1", when=when),
    "roa": lambda when: roa_facts(when=when),
    "oss-v4": lambda when: oss_v4_facts(when=when),
}


@pytest.mark.parametrize("scheme", sorted(_SIGNED_AT))
@pytest.mark.parametrize("seconds", [900, -900])
def test_the_skew_window_includes_its_bounds(scheme: str, seconds: int, auth: Authenticator) -> None:
    # Exactly 15 minutes either way is inside; one second more is outside ("outside ±15 min" refuses).
    assert auth.authenticate(_SIGNED_AT[scheme](NOW + timedelta(seconds=seconds))) is not None
    beyond = _SIGNED_AT[scheme](NOW + timedelta(seconds=seconds + (1 if seconds > 0 else -1)))
    refused(auth, beyond, errors.RequestExpired, "InvalidTimeStamp.Expired")


def test_skew_window_is_configurable(resolver: MemoryResolver) -> None:
    auth = Authenticator(resolver, MemoryGuard(), clock=lambda: NOW, max_skew=60)
    assert auth.authenticate(signed(when=NOW - timedelta(seconds=59))) is not None
    refused(auth, signed(when=NOW - timedelta(seconds=61)), errors.RequestExpired, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_replay_is_refused(scheme: str, auth: Authenticator) -> None:
    facts = signed(scheme)
    assert auth.authenticate(facts) is not None
    refused(auth, facts, errors.NonceReused, "SignatureNonceUsed")


def test_nonce_is_per_access_key(auth: Authenticator) -> None:
    assert auth.authenticate(signed(nonce="same-nonce")) is not None
    sts = signed(access_key_id=STS_AK, secret=STS_SECRET, token=STS_TOKEN, nonce="same-nonce")
    assert auth.authenticate(sts) is not None


def test_a_nonce_is_spent_for_every_scheme_of_its_access_key(auth: Authenticator) -> None:
    # One (AccessKeyId, nonce) claim whatever the scheme: an RPC v1 nonce cannot be reused in ACS3 or ROA.
    assert auth.authenticate(signed("v1", nonce="shared-nonce")) is not None
    refused(auth, signed("acs3", nonce="shared-nonce"), errors.NonceReused, "SignatureNonceUsed")
    roa = roa_facts(extra={"x-acs-signature-nonce": "shared-nonce"})
    refused(auth, roa, errors.NonceReused, "SignatureNonceUsed")


def test_a_bad_signature_does_not_spend_the_nonce(auth: Authenticator) -> None:
    refused(auth, signed(nonce="n-1", secret="wrong"), errors.SignatureMismatch, "SignatureDoesNotMatch")
    assert auth.authenticate(signed(nonce="n-1")) is not None


def test_nonces_are_kept_for_twice_the_skew(resolver: MemoryResolver) -> None:
    seen: list[float] = []

    class Recording(MemoryGuard):
        def claim(self, key: str, ttl_seconds: float) -> bool:
            seen.append(ttl_seconds)
            return super().claim(key, ttl_seconds)

    Authenticator(resolver, Recording(), clock=lambda: NOW).authenticate(signed())
    assert seen == [1800.0 + 120.0]  # the window, plus a margin for instances whose clocks differ


@pytest.mark.parametrize(("skew", "ttl"), [(900, 1000), (0, None), (-5, None), (900, float("inf"))])
def test_bad_configuration(resolver: MemoryResolver, skew: float, ttl: float | None) -> None:
    with pytest.raises(errors.InvalidParameter):
        Authenticator(resolver, MemoryGuard(), max_skew=skew, nonce_ttl=ttl)


# --- ACS3 specifics ----------------------------------------------------------------------------------------

FULL = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
]


def test_acs3_minimal_signed_set_verifies(auth: Authenticator) -> None:
    assert auth.authenticate(acs3_facts(acs3_headers(), FULL)) is not None


@pytest.mark.parametrize("missing", ["host", "x-acs-date", "x-acs-content-sha256", "x-acs-signature-nonce"])
def test_acs3_required_header_not_signed(auth: Authenticator, missing: str) -> None:
    facts = acs3_facts(acs3_headers(), [name for name in FULL if name != missing])
    refused(auth, facts, errors.IncompleteSignature, "IncompleteSignature")


@pytest.mark.parametrize(
    ("extra", "value"),
    [("x-acs-security-token", STS_TOKEN), ("content-type", "application/json"), ("x-acs-action", None)],
)
def test_acs3_header_that_must_be_signed_when_present(
    auth: Authenticator, extra: str, value: str | None
) -> None:
    body = b'{"UserName": "bob"}'
    headers = acs3_headers(body=body)
    if value is not None:
        headers[extra] = value
    facts = acs3_facts(headers, [name for name in FULL if name != extra], body=body)
    refused(auth, facts, errors.IncompleteSignature, "IncompleteSignature")


def test_acs3_content_type_of_a_bodiless_request_need_not_be_signed(auth: Authenticator) -> None:
    # The async Tea client (aiohttp) adds an unsigned Content-Type to every request without a body.
    headers = {**acs3_headers(), "content-type": "application/octet-stream"}
    assert auth.authenticate(acs3_facts(headers, FULL)) is not None


def test_acs3_octet_stream_content_type_need_not_be_signed(auth: Authenticator) -> None:
    # The async Tea client (aiohttp) adds it, unsigned, to a "byte" body: the type of an untyped body.
    body = b"\x00binary"
    headers = {**acs3_headers(body=body), "content-type": "application/octet-stream"}
    assert auth.authenticate(acs3_facts(headers, FULL, body=body)) is not None
    form = {**acs3_headers(body=b"a=1"), "content-type": "application/x-www-form-urlencoded"}
    refused(auth, acs3_facts(form, FULL, body=b"a=1"), errors.IncompleteSignature, "IncompleteSignature")


def test_acs3_signed_header_absent_from_request(auth: Authenticator) -> None:
    facts = acs3_facts({**acs3_headers(), "x-acs-extra": "1"}, [*FULL, "x-acs-extra"])
    stripped = RequestFacts(
        facts.method, facts.path, facts.query, tuple(h for h in facts.headers if h[0] != "x-acs-extra")
    )
    refused(auth, stripped, errors.IncompleteSignature, "IncompleteSignature")


def test_acs3_body_hash_is_checked_against_the_body(auth: Authenticator) -> None:
    body = b"UserName=alice"
    headers = acs3_headers(body=b"other")  # signs the hash of another body
    headers["content-type"] = "application/x-www-form-urlencoded"
    facts = acs3_facts(
        headers, sorted([*FULL, "content-type"]), body=body, payload_hash=headers["x-acs-content-sha256"]
    )
    error = refused(auth, facts, errors.SignatureMismatch, "SignatureDoesNotMatch")
    assert ":" in error.message


def test_acs3_duplicate_control_header(auth: Authenticator) -> None:
    facts = acs3_facts(acs3_headers(), FULL)
    doubled = RequestFacts(
        facts.method, facts.path, facts.query, (*facts.headers, ("x-acs-date", "2024-01-02T03:04:06Z"))
    )
    refused(auth, doubled, errors.IncompleteSignature, "IncompleteSignature")


def with_split_header(facts: RequestFacts, name: str, values: tuple[str, ...]) -> RequestFacts:
    """``facts`` with header ``name`` sent once per value instead (the first one read is values[0])."""
    kept = tuple((n, v) for n, v in facts.headers if n.lower() != name)
    split = (*kept, *((name, value) for value in values))
    return RequestFacts(facts.method, facts.path, facts.query, split, facts.body)


@pytest.mark.parametrize("name", ["x-acs-action", "content-type", "x-acs-meta"])
def test_acs3_signed_header_sent_twice_is_refused(auth: Authenticator, name: str) -> None:
    # Repeated values are signed sorted and joined with ",": a signed "CreateUser,GetUser" re-sent as two
    # headers would verify while the app read one of them, in either order.
    headers = {**acs3_headers(), name: "CreateUser,GetUser"}
    facts = acs3_facts(headers, sorted({*FULL, name}))
    for values in (("GetUser", "CreateUser"), ("CreateUser", "GetUser")):
        split = with_split_header(facts, name, values)
        error = refused(auth, split, errors.IncompleteSignature, "IncompleteSignature")
        assert name in error.message and "more than once" in error.message
    assert auth.authenticate(facts) is not None  # as signed, it verifies


@pytest.mark.parametrize(
    ("authorization", "kind", "code"),
    [
        (
            "ACS3-HMAC-SM3 Credential=LTAI,SignedHeaders=host,Signature=00",
            errors.UnsupportedSignatureMethod,
            "",
        ),
        ("ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host", errors.IncompleteSignature, ""),
        ("ACS3-HMAC-SHA256", errors.IncompleteSignature, ""),
    ],
)
def test_acs3_malformed_authorization(
    auth: Authenticator, authorization: str, kind: type[errors.RAMError], code: str
) -> None:
    facts = RequestFacts("POST", "/", "", tuple({**acs3_headers(), "authorization": authorization}.items()))
    refused(auth, facts, kind, code or kind.default_code)


def test_acs3_accepts_spaces_after_commas(auth: Authenticator) -> None:
    facts = acs3_facts(acs3_headers(), FULL)
    spaced = tuple(
        (name, value.replace(",", ", ") if name == "authorization" else value)
        for name, value in facts.headers
    )
    assert auth.authenticate(RequestFacts(facts.method, facts.path, facts.query, spaced)) is not None


def test_acs3_encoded_slash_in_the_path_is_signed_as_encoded(auth: Authenticator) -> None:
    facts = acs3_facts(acs3_headers(), FULL, path="/repos/a%2Fb/tags", query="q=a%20b+c")
    assert auth.authenticate(facts) is not None
    moved = RequestFacts(facts.method, "/repos/a/b/tags", facts.query, facts.headers)
    refused(auth, moved, errors.SignatureMismatch, "SignatureDoesNotMatch")


@pytest.mark.parametrize("scheme", ["acs3", "roa"])
def test_a_path_with_raw_bytes_is_refused(auth: Authenticator, scheme: str) -> None:
    # A server that passes raw bytes through (gunicorn) gives the path as their latin-1 text, which the
    # verifier would encode as UTF-8: the signature for "/x/%C3%83%C2%A9" (the app reads "Ã©") then verified
    # the raw bytes C3 A9, which the app reads as "é". The SDKs always percent-encode the path.
    encoded = "/x/%C3%83%C2%A9"
    facts = acs3_facts(acs3_headers(), FULL, path=encoded) if scheme == "acs3" else roa_facts(path="/x/Ã©")
    assert facts.path == encoded
    raw = RequestFacts(facts.method, b"/x/\xc3\xa9".decode("latin-1"), facts.query, facts.headers, facts.body)
    with pytest.raises(errors.InvalidParameter) as caught:
        auth.authenticate(raw)
    assert (caught.value.code, caught.value.status) == ("InvalidParameter.Encoding", 400)
    assert auth.authenticate(facts) is not None


def test_acs3_bad_date_format(auth: Authenticator) -> None:
    headers = acs3_headers()
    headers["x-acs-date"] = "Tue, 02 Jan 2024 03:04:05 GMT"
    refused(auth, acs3_facts(headers, FULL), errors.BadTimestamp, "InvalidTimeStamp.Format")


# --- ROA and OSS specifics ----------------------------------------------------------------------------------


def test_roa_content_md5_must_match_the_body(auth: Authenticator) -> None:
    assert auth.authenticate(roa_facts(method="POST", body=b'{"a": 1}')) is not None
    facts = roa_facts(method="POST", body=b'{"a": 1}', md5="1B2M2Y8AsgTpgAmY7PhCfg==")
    refused(auth, facts, ContentMD5Mismatch, "ContentMD5NotMatched")


def test_roa_unsigned_content_type_only_without_a_body(auth: Authenticator) -> None:
    # The async Tea client (aiohttp) adds a Content-Type it did not sign to every bodiless request.
    def with_type(facts: RequestFacts, content_type: str) -> RequestFacts:
        headers = (*((n, v) for n, v in facts.headers if n != "content-type"), ("content-type", content_type))
        return RequestFacts(facts.method, facts.path, facts.query, headers, facts.body)

    assert auth.authenticate(with_type(roa_facts(), "application/octet-stream")) is not None
    with_body = with_type(roa_facts(method="POST", body=b'{"a": 1}'), "application/x-www-form-urlencoded")
    refused(auth, with_body, errors.SignatureMismatch, "SignatureDoesNotMatch")


def test_roa_empty_query_values_in_either_sdk_spelling(auth: Authenticator) -> None:
    assert auth.authenticate(roa_facts(query="acl=&x=1")) is not None
    assert auth.authenticate(roa_facts(query="acl=&x=1", empty_with_equals=True)) is not None


@pytest.mark.parametrize("encoded", [False, True], ids=["core-decoded", "tea-encoded"])
def test_roa_path_in_either_sdk_spelling(auth: Authenticator, encoded: bool) -> None:
    facts = roa_facts(path="/clusters/my cluster (1)/nodes", sign_encoded_path=encoded)
    assert facts.path == "/clusters/my%20cluster%20%281%29/nodes"
    assert auth.authenticate(facts) is not None
    moved = RequestFacts(facts.method, "/clusters/my%20cluster%20%282%29/nodes", facts.query, facts.headers)
    refused(auth, moved, errors.SignatureMismatch, "SignatureDoesNotMatch")


def test_roa_nonce_is_claimed_when_sent(auth: Authenticator) -> None:
    facts = roa_facts(extra={"x-acs-signature-nonce": "roa-nonce-1"})
    assert auth.authenticate(facts) is not None
    refused(auth, facts, errors.NonceReused, "SignatureNonceUsed")


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ({"x-acs-signature-method": "HMAC-SHA256"}, errors.UnsupportedSignatureMethod),
        ({"x-acs-signature-version": "2.0"}, errors.UnsupportedSignatureVersion),
    ],
)
def test_roa_signature_method_and_version(
    auth: Authenticator, extra: dict[str, str], kind: type[errors.RAMError]
) -> None:
    refused(auth, roa_facts(extra=extra), kind, kind.default_code)


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("x-acs-action", ("CreateUser", "GetUser")),
        ("x-acs-meta", ("CreateUser", "GetUser")),
        ("accept", ("application/json", "application/xml")),
        ("content-type", ("application/json", "application/x-www-form-urlencoded")),
        ("content-md5", ("Qre08pIXiOoU2sVWbm8G0A==", "1B2M2Y8AsgTpgAmY7PhCfg==")),
    ],
)
def test_roa_signed_header_sent_twice_is_refused(
    auth: Authenticator, name: str, values: tuple[str, str]
) -> None:
    # x-acs-* values are signed joined with "," (a signed "CreateUser,GetUser" re-sent as two headers would
    # verify while the app read "CreateUser"); of Accept, Content-Type and Content-MD5 only the first is
    # signed, so a second one would travel unsigned. ROA has no nonce: such a request replays for 15 minutes.
    signed_value = ",".join(values) if name.startswith("x-acs-") else values[0]
    facts = roa_facts(method="POST", body=b'{"a": 1}', extra={name: signed_value})
    assert auth.authenticate(facts) is not None
    error = refused(
        auth, with_split_header(facts, name, values), errors.IncompleteSignature, "IncompleteSignature"
    )
    assert name in error.message and "more than once" in error.message


def _without_header(facts: RequestFacts, name: str) -> RequestFacts:
    kept = tuple(h for h in facts.headers if h[0] != name)
    return RequestFacts(facts.method, facts.path, facts.query, kept)


def test_roa_without_date(auth: Authenticator) -> None:
    refused(auth, _without_header(roa_facts(), "date"), MissingCredentialParameter, "MissingParameter")


def test_roa_malformed_authorization(auth: Authenticator) -> None:
    facts = RequestFacts("GET", "/", "", (("authorization", "acs no-colon"), ("date", "x")))
    refused(auth, facts, errors.IncompleteSignature, "IncompleteSignature")


def test_oss_v4_payload_hash_is_checked(auth: Authenticator) -> None:
    body = b"hello"
    assert auth.authenticate(oss_v4_facts(method="PUT", body=body, payload=sha256_of(body))) is not None
    facts = oss_v4_facts(method="PUT", body=b"jello", payload=sha256_of(body))
    refused(auth, facts, errors.SignatureMismatch, "SignatureDoesNotMatch")


def test_oss_v4_scope_date_must_be_the_request_date(auth: Authenticator) -> None:
    refused(auth, oss_v4_facts(scope_date="20240101"), errors.SignatureMismatch, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    "authorization",
    [
        "OSS4-HMAC-SHA256 Credential=AK/20240102/cn-hangzhou/oss/aws4_request, Signature=00",
        "OSS4-HMAC-SHA256 Credential=AK/20240102/cn-hangzhou, Signature=00",
        "OSS4-HMAC-SHA256 Credential=AK/20240102/cn-hangzhou/oss/aliyun_v4_request",
        "OSS no-colon",
    ],
)
def test_oss_malformed_authorization(auth: Authenticator, authorization: str) -> None:
    facts = RequestFacts(
        "GET", "/b/k", "", (("authorization", authorization), ("x-oss-date", "20240102T030405Z"))
    )
    refused(auth, facts, errors.IncompleteSignature, "IncompleteSignature")


def test_oss_v4_without_date(auth: Authenticator) -> None:
    no_date = _without_header(oss_v4_facts(), "x-oss-date")
    refused(auth, no_date, MissingCredentialParameter, "MissingParameter")


def sha256_of(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()
