"""OSS V4 presigned URLs (oss2 ``ProviderAuthV4`` + ``Bucket.sign_url``): canonical request, expiry, the
future-date guard, tampering, garbage, live oss2. Shared helpers come from the V1 presign tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import quote

import oss2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.authenticate import Authenticator, detect_scheme
from ram_middleware.credentials.oss import parse_oss_v4_query
from ram_middleware.guard import MemoryGuard
from ram_middleware.identity import Principal

from .conftest import LiveServer
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
from .sdk_clients import Creds
from .signing import HOST, NOW
from .test_oss_presign import (
    BUCKET,
    LONG_TERM,
    TEMPORARY,
    _tamper,
    authenticator,
    keys,
    live_code,
    live_get,
    refused,
    url_facts,
)

REGION = "cn-hangzhou"
DATE = NOW.strftime("%Y%m%dT%H%M%SZ")  # 20240102T030405Z
SCOPE = f"{NOW:%Y%m%d}/{REGION}/oss/aliyun_v4_request"
WEEK = 7 * 24 * 3600


@contextmanager
def _oss2_v4_clock(when: datetime | None) -> Iterator[None]:
    """oss2 V4 takes x-oss-date from ``datetime.utcnow()`` in oss2.auth; pin it (None: the real clock)."""
    if when is None:
        yield
        return
    naive_utc = when.astimezone(UTC).replace(tzinfo=None)
    with mock.patch.object(oss2.auth, "datetime", SimpleNamespace(utcnow=lambda: naive_utc)):
        yield


def v4_bucket(creds: Creds, endpoint: str = f"http://{HOST}") -> oss2.Bucket:
    provider = oss2.credentials.StaticCredentialsProvider(creds.access_key_id, creds.secret, creds.token)
    return oss2.Bucket(oss2.ProviderAuthV4(provider), endpoint, BUCKET, region=REGION)


def presign(
    creds: Creds,
    key: str = "dir/a+b c.txt",
    *,
    at: datetime | None = NOW,
    expires_in: int = 60,
    **options: Any,
) -> str:
    """The V4 URL oss2 ``Bucket.sign_url`` gives, signed at ``at`` (None: now). ``options``: ``method``,
    ``endpoint``, and sign_url's ``params``, ``headers`` and ``additional_headers``."""
    bucket = v4_bucket(creds, options.pop("endpoint", f"http://{HOST}"))
    method = options.pop("method", "GET")
    options["params"] = dict(options.get("params") or {})  # oss2 adds its fields to the dict it is given
    with _oss2_v4_clock(at):
        url: str = bucket.sign_url(method, key, expires_in, **options)
    return url


def query_field(url: str, name: str) -> str:
    """The raw (still escaped) value of one query parameter."""
    return next(p.partition("=")[2] for p in url.partition("?")[2].split("&") if p.startswith(name + "="))


def _set(url: str, name: str, raw_value: str) -> str:
    """``url`` with parameter ``name`` set to ``raw_value`` (already escaped) in place."""
    return _tamper(url, f"{name}={query_field(url, name)}", f"{name}={raw_value}")


def _drop(url: str, name: str) -> str:
    path, _, query = url.partition("?")
    return path + "?" + "&".join(p for p in query.split("&") if p.partition("=")[0] != name)


# --- the canonical request -------------------------------------------------------------------------------


def test_canonical_request_signs_the_whole_query_but_the_signature() -> None:
    url = presign(LONG_TERM, params={"versionId": "v 1"})
    signed = parse_oss_v4_query(url_facts(url))
    credential = quote(f"{AK}/{SCOPE}", safe="")
    assert signed.parts["canonical_request"] == (
        f"GET\n/{BUCKET}/dir/a%2Bb%20c.txt\nversionId=v%201&x-oss-credential={credential}"
        f"&x-oss-date={DATE}&x-oss-expires=60&x-oss-signature-version=OSS4-HMAC-SHA256"
        "\n\n\nUNSIGNED-PAYLOAD"
    )
    assert signed.string_to_sign.startswith(f"OSS4-HMAC-SHA256\n{DATE}\n{SCOPE}\n")
    assert (signed.scheme, signed.access_key_id, signed.security_token) == ("oss-v4-query", AK, None)
    assert (signed.signed_at, signed.expires_at) == (NOW.timestamp(), NOW.timestamp() + 60)
    assert signed.nonce is None
    assert signed.matches(SECRET) and not signed.matches(SECRET[:-1])


def test_security_token_is_a_signed_parameter() -> None:
    signed = parse_oss_v4_query(url_facts(presign(TEMPORARY, "k.txt")))
    assert f"&x-oss-security-token={quote(STS_TOKEN, safe='')}" in signed.parts["canonical_request"]
    assert (signed.access_key_id, signed.security_token) == (STS_AK, STS_TOKEN)
    assert signed.matches(STS_SECRET)


def test_signed_and_additional_headers() -> None:
    headers = {"Content-Type": "text/plain", "x-oss-meta-author": "alice", "x-custom": "z"}
    url = presign(LONG_TERM, "k.txt", method="PUT", headers=headers, additional_headers=["x-custom"])
    signed = parse_oss_v4_query(url_facts(url, "PUT", headers))
    assert signed.parts["canonical_request"].endswith(
        "&x-oss-signature-version=OSS4-HMAC-SHA256\n"
        "content-type:text/plain\nx-custom:z\nx-oss-meta-author:alice\n\nx-custom\nUNSIGNED-PAYLOAD"
    )
    assert authenticator().authenticate(url_facts(url, "PUT", headers)) is not None
    for name in headers:
        refused(url_facts(url, "PUT", {**headers, name: "other"}), "SignatureDoesNotMatch")
    refused(url_facts(url, "PUT", {**headers, "x-oss-meta-added": "1"}), "SignatureDoesNotMatch")
    refused(url_facts(_drop(url, "x-oss-additional-headers"), "PUT", headers), "SignatureDoesNotMatch")


def test_detection() -> None:
    url = presign(LONG_TERM)
    assert detect_scheme(url_facts(url)) == "oss-v4-query"
    assert detect_scheme(url_facts(presign(TEMPORARY))) == "oss-v4-query"
    # An Authorization header wins; the query parameters are then plain (signed) parameters.
    assert detect_scheme(url_facts(url, headers={"Authorization": "OSS a:b"})) == "oss-v1"
    # Either marker alone is a credential we must verify, never anonymous.
    for marker in ("x-oss-credential", "x-oss-signature-version"):
        assert detect_scheme(url_facts(f"http://{HOST}/{BUCKET}/k?{marker}=x")) == "oss-v4-query"
    # Other x-oss-* parameters are no credential.
    assert detect_scheme(url_facts(f"http://{HOST}/{BUCKET}/k?x-oss-process=image%2Fresize")) is None


# --- verification and expiry ----------------------------------------------------------------------------


@pytest.mark.parametrize(("creds", "principal"), [(LONG_TERM, ALICE), (TEMPORARY, OPS_SESSION)])
def test_presigned_url_authenticates_and_replays_until_it_expires(creds: Creds, principal: Principal) -> None:
    facts = url_facts(presign(creds))
    auth = authenticator()
    callers = [auth.authenticate(facts) for _ in range(3)]  # no nonce: one link, used again and again
    assert {(p.arn, p.auth_method) if p else None for p in callers} == {(principal.arn, "oss-v4-query")}
    last_second = NOW + timedelta(seconds=60)
    assert authenticator(last_second).authenticate(facts) is not None
    refused(facts, "InvalidTimeStamp.Expired", at=last_second + timedelta(seconds=1), status=403)


def test_no_skew_window_only_expiry_counts() -> None:
    # Signed six days ago for seven: still valid, although far outside the ±15 min header window.
    old = presign(LONG_TERM, at=NOW - timedelta(days=6), expires_in=WEEK)
    assert authenticator().authenticate(url_facts(old)) is not None
    refused(url_facts(old), "InvalidTimeStamp.Expired", at=NOW + timedelta(days=1, seconds=1), status=403)


@pytest.mark.parametrize(
    ("ahead", "accepted"),
    [
        (timedelta(minutes=14), True),  # a signer's clock a little fast: within max_skew (15 min)
        (timedelta(minutes=16), False),
        (timedelta(days=30), False),
    ],
)
def test_x_oss_date_in_the_future_is_refused(ahead: timedelta, accepted: bool) -> None:
    # Otherwise a key holder could date a link next year and stretch the 7-day limit at will.
    facts = url_facts(presign(LONG_TERM, at=NOW + ahead, expires_in=WEEK))
    if accepted:
        assert authenticator().authenticate(facts) is not None
    else:
        refused(facts, "InvalidTimeStamp.Expired", status=403)
    # It does become valid once its x-oss-date is near enough.
    assert authenticator(NOW + ahead).authenticate(facts) is not None


def test_the_whole_week_is_allowed() -> None:
    facts = url_facts(presign(LONG_TERM, expires_in=WEEK))
    assert authenticator(NOW + timedelta(seconds=WEEK)).authenticate(facts) is not None


@pytest.mark.parametrize(
    ("expires", "code"),
    [
        ("", "MissingParameter"),
        ("0", "InvalidTimeStamp.Format"),
        (str(WEEK + 1), "InvalidTimeStamp.Format"),
        ("9999999", "InvalidTimeStamp.Format"),
        ("abc", "InvalidTimeStamp.Format"),
        ("-1", "InvalidTimeStamp.Format"),
        ("1e3", "InvalidTimeStamp.Format"),
        ("6.5", "InvalidTimeStamp.Format"),
        ("%D9%A1%D9%A2", "InvalidTimeStamp.Format"),  # Arabic-Indic digits: int() would take them
        ("%2060", "InvalidTimeStamp.Format"),
    ],
)
def test_malformed_or_out_of_range_expires(expires: str, code: str) -> None:
    refused(url_facts(_set(presign(LONG_TERM), "x-oss-expires", expires)), code, status=400)


def _credential(url: str, old: str, new: str) -> str:
    return _set(url, "x-oss-credential", _tamper(query_field(url, "x-oss-credential"), old, new))


@pytest.mark.parametrize(
    "change",
    [
        lambda url: _tamper(url, "/dir%2F", "/dir2%2F"),
        lambda url: _tamper(url, f"/{BUCKET}/", "/otherbucket/"),
        lambda url: _set(url, "x-oss-date", DATE[:-3] + "06Z"),  # a second later, same day
        lambda url: _set(url, "x-oss-expires", "3600"),
        lambda url: _set(url, "x-oss-expires", "060"),  # same number, other text
        lambda url: _credential(url, REGION, "cn-beijing"),
        lambda url: _credential(url, "%2Foss%2F", "%2Fecs%2F"),
        lambda url: _credential(url, f"{NOW:%Y%m%d}", f"{NOW + timedelta(days=1):%Y%m%d}"),
        lambda url: _set(url, "x-oss-signature", "0" * 64),
        lambda url: _tamper(url, "x-oss-signature=", "x-oss-signature=a"),
        lambda url: _set(url, "versionId", "v%202"),
        lambda url: _drop(url, "versionId"),
        lambda url: url + "&utm_source=mail",  # V4 signs the whole query: nothing rides along unsigned
        lambda url: url + "&acl",
    ],
    ids=[
        "path",
        "bucket",
        "date",
        "expires",
        "expires-spelling",
        "region",
        "product",
        "scope-date",
        "signature",
        "signature-longer",
        "parameter",
        "dropped",
        "added",
        "acl",
    ],
)
def test_tampered_url_is_a_signature_mismatch(change: Callable[[str], str]) -> None:
    url = presign(LONG_TERM, params={"versionId": "v 1"})
    assert authenticator().authenticate(url_facts(url)) is not None
    refused(url_facts(change(url)), "SignatureDoesNotMatch")


def test_method_and_headers_are_bound() -> None:
    url = presign(LONG_TERM)
    refused(url_facts(url, "PUT"), "SignatureDoesNotMatch")
    refused(url_facts(url, "HEAD"), "SignatureDoesNotMatch")
    refused(url_facts(url, headers={"x-oss-meta-added": "1"}), "SignatureDoesNotMatch")
    refused(url_facts(url, headers={"Content-Type": "text/html"}), "SignatureDoesNotMatch")
    # Headers outside x-oss-*, Content-Type and Content-MD5 are not signed (as on OSS).
    assert authenticator().authenticate(url_facts(url, headers={"User-Agent": "curl"})) is not None


def test_another_date_in_the_scope_is_refused_before_the_key_is_looked_up() -> None:
    url = presign(Creds("LTAI5tNOSUCHKEY00000001", SECRET))
    later = f"{NOW + timedelta(days=1):%Y%m%d}"
    refused(url_facts(_credential(url, f"{NOW:%Y%m%d}", later)), "SignatureDoesNotMatch")


def test_security_token_problems() -> None:
    url = presign(TEMPORARY)
    token = quote(STS_TOKEN, safe="")
    refused(url_facts(_set(url, "x-oss-security-token", EXPIRED_TOKEN)), "InvalidSecurityToken.Expired")
    refused(url_facts(_set(url, "x-oss-security-token", REVOKED_TOKEN)), "InvalidSecurityToken.Revoked")
    refused(url_facts(_drop(url, "x-oss-security-token")), "MissingSecurityToken")
    refused(url_facts(url, headers={"x-oss-security-token": "other"}), "IncompleteSignature")
    refused(url_facts(url + f"&x-oss-security-token={token}"), "IncompleteSignature")


@pytest.mark.parametrize(
    ("creds", "code"),
    [
        (Creds(STS_AK, STS_SECRET), "MissingSecurityToken"),  # an STS. key signing without its token
        (Creds(AK, SECRET, STS_TOKEN), "InvalidSecurityToken.MismatchWithAccessKey"),
        (Creds(AK, "wrong-secret"), "SignatureDoesNotMatch"),
        (Creds(INACTIVE_AK, INACTIVE_SECRET), "InvalidAccessKeyId.Inactive"),
        (Creds("LTAI5tNOSUCHKEY00000001", SECRET), "InvalidAccessKeyId.NotFound"),
        (Creds(ROOT_AK, ROOT_SECRET), "Forbidden.RootAccessKey"),  # unless allowed: below
    ],
)
def test_key_problems(creds: Creds, code: str) -> None:
    refused(url_facts(presign(creds)), code)


def test_root_key_only_when_allowed() -> None:
    facts = url_facts(presign(Creds(ROOT_AK, ROOT_SECRET)))
    allowing = Authenticator(MemoryResolver(), MemoryGuard(), clock=lambda: NOW, allow_root_keys=True)
    principal = allowing.authenticate(facts)
    assert principal is not None and principal.kind == "root"
    assert principal.auth_method == "oss-v4-query"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda url: _drop(url, "x-oss-signature-version"), "MissingParameter"),
        (lambda url: _set(url, "x-oss-signature-version", "OSS2"), "InvalidSignatureMethod"),
        (lambda url: _drop(url, "x-oss-credential"), "MissingParameter"),
        (lambda url: _drop(url, "x-oss-date"), "MissingParameter"),
        (lambda url: _drop(url, "x-oss-expires"), "MissingParameter"),
        (lambda url: _drop(url, "x-oss-signature"), "MissingParameter"),
        (lambda url: _set(url, "x-oss-signature", ""), "MissingParameter"),
        (lambda url: _set(url, "x-oss-credential", AK), "IncompleteSignature"),
        (lambda url: _credential(url, "aliyun_v4_request", "aws4_request"), "IncompleteSignature"),
        (lambda url: _credential(url, "%2Foss%2F", "%2F%2F"), "IncompleteSignature"),
        (lambda url: _set(url, "x-oss-date", "2024-01-02T03:04:05Z"), "InvalidTimeStamp.Format"),
        (lambda url: _set(url, "x-oss-date", "20241302T030405Z"), "InvalidTimeStamp.Format"),
        (lambda url: url + "&x-oss-date=" + DATE, "IncompleteSignature"),
        (lambda url: url + "&x-oss-expires=60", "IncompleteSignature"),
        (lambda url: url + "&x-oss-signature=00", "IncompleteSignature"),
        (lambda url: url + "&x-oss-credential=x", "IncompleteSignature"),
        (lambda url: url + "&x-oss-signature-version=OSS4-HMAC-SHA256", "IncompleteSignature"),
        (lambda url: url + "&x-oss-additional-headers=host", "IncompleteSignature"),
    ],
    ids=[
        "no-version",
        "v2-version",
        "no-credential",
        "no-date",
        "no-expires",
        "no-signature",
        "empty-signature",
        "bare-key",
        "other-terminator",
        "empty-product",
        "iso-date",
        "bad-month",
        "date-twice",
        "expires-twice",
        "signature-twice",
        "credential-twice",
        "version-twice",
        "additional-twice",
    ],
)
def test_malformed_query(change: Callable[[str], str], code: str) -> None:
    url = presign(LONG_TERM, headers={"x-custom": "1"}, additional_headers=["x-custom"])
    refused(url_facts(change(url), headers={"x-custom": "1"}), code, status=400)


def test_the_header_form_is_unchanged_by_the_query_form() -> None:
    # An OSS4 Authorization header still reads its fields from the headers, even beside presign fields.
    url = presign(LONG_TERM)
    header = f"OSS4-HMAC-SHA256 Credential={AK}/{SCOPE}, Signature={query_field(url, 'x-oss-signature')}"
    assert detect_scheme(url_facts(url, headers={"Authorization": header})) == "oss-v4"
    refused(url_facts(url, headers={"Authorization": header}), "MissingParameter")  # no x-oss-date header


# --- properties -----------------------------------------------------------------------------------------

param_names = st.sampled_from(["versionId", "response-content-type", "x-oss-process", "utm_source", "acl"])
params = st.dictionaries(
    param_names, st.text(st.characters(codec="utf-8", exclude_categories=["Cs"])), max_size=3
)
FIELDS = [
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-date",
    "x-oss-expires",
    "x-oss-signature",
    "x-oss-security-token",
]


@st.composite
def mutated_urls(draw: st.DrawFn) -> tuple[str, str]:
    creds = draw(st.sampled_from([LONG_TERM, TEMPORARY]))
    url = presign(creds, draw(keys), params=draw(params))
    path, _, query = url.partition("?")
    pieces = query.split("&")
    kind = draw(st.sampled_from(["path", "field", "dropped", "added", "swapped-case"]))
    if kind == "path":
        return url, path + draw(st.sampled_from(["x", "/", "%20", "%2F"])) + "?" + query
    index = draw(st.integers(0, len(pieces) - 1))
    name, _, value = pieces[index].partition("=")
    if kind == "field":
        new = draw(st.text("0123456789abcdefTZ%2F/-.", max_size=70).filter(lambda v: v != value))
        pieces[index] = f"{name}={new}"
    elif kind == "dropped":
        del pieces[index]
    elif kind == "swapped-case":
        assume(name != name.upper())
        pieces[index] = f"{name.upper()}={value}"
    else:
        pieces.append(f"{draw(param_names)}={draw(st.sampled_from(['', '1', 'a%20b']))}")
    return url, path + "?" + "&".join(pieces)


def _decoded(url: str) -> tuple[str, list[tuple[str, str]]] | str:
    """The request as V4 signs it (``%30`` is ``0``, the query sorted), or the error reading it gives."""
    try:
        facts = url_facts(url)
        return facts.decoded_path, sorted(facts.query_pairs)
    except errors.RAMError as error:
        return error.code


def assert_refused_4xx(url: str) -> None:
    """An AuthenticationError with a 4xx status; or, for escapes that are not UTF-8, RequestFacts' own
    400 ``InvalidParameter.Encoding`` (raised reading the query, before any scheme: as for V1)."""
    with pytest.raises(errors.RAMError) as caught:
        authenticator().authenticate(url_facts(url))
    error = caught.value
    assert isinstance(error, errors.AuthenticationError) or error.code == "InvalidParameter.Encoding"
    assert 400 <= error.status < 500


@settings(max_examples=300, deadline=None)
@given(mutated_urls())
def test_any_mutation_of_a_presigned_url_fails(pair: tuple[str, str]) -> None:
    original, changed = pair
    assume(_decoded(original) != _decoded(changed))  # one request spelled two ways verifies alike
    assert authenticator().authenticate(url_facts(original)) is not None
    assert_refused_4xx(changed)


garbage = st.one_of(
    st.text(max_size=40).map(lambda text: quote(text, safe="")),
    st.sampled_from(["", "%", "%zz", "%FF", "&", "=", "+", "99999999999", "0", "/////", "a/b/c/d/e"]),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([*FIELDS, "x-oss-additional-headers"]), garbage)
def test_garbage_in_a_presign_field_is_a_4xx(name: str, value: str) -> None:
    url = presign(TEMPORARY)
    path, _, query = url.partition("?")
    pieces = [p for p in query.split("&") if p.partition("=")[0] != name]
    changed = f"{path}?{'&'.join([*pieces, f'{name}={value}'])}"
    assume(_decoded(url) != _decoded(changed))  # the same value moved last is the same request
    assert_refused_4xx(changed)


# --- live: oss2 against the uvicorn test server ---------------------------------------------------------


def live_url(server: LiveServer, creds: Creds, expires_in: int = 60) -> str:
    return presign(creds, at=None, endpoint=server.url, expires_in=expires_in)


@pytest.mark.parametrize(("creds", "arn"), [(LONG_TERM, ALICE.arn), (TEMPORARY, OPS_SESSION.arn)])
def test_live_presigned_get(server: LiveServer, creds: Creds, arn: str) -> None:
    url = live_url(server, creds)
    assert live_get(server, url) == arn
    assert detect_scheme(server.app.recorded[-1]) == "oss-v4-query"
    assert live_get(server, url) == arn  # shared links are replayable until they expire


def test_live_expired_and_future_urls(server: LiveServer) -> None:
    url = live_url(server, LONG_TERM, expires_in=60)
    server.app.clock_offset = timedelta(minutes=2)
    with pytest.raises(oss2.exceptions.OssError) as caught:
        live_get(server, url)
    assert (caught.value.status, caught.value.code) == (403, "InvalidTimeStamp.Expired")
    server.app.clock_offset = -timedelta(hours=1)  # the link's x-oss-date is an hour ahead of the server
    with pytest.raises(oss2.exceptions.OssError) as caught:
        live_get(server, url)
    assert (caught.value.status, caught.value.code) == (403, "InvalidTimeStamp.Expired")


def test_live_tampered_and_unknown(server: LiveServer) -> None:
    url = live_url(server, LONG_TERM)
    assert live_code(server, _tamper(url, "/dir%2F", "/other%2F")) == "SignatureDoesNotMatch"
    assert live_code(server, _set(url, "x-oss-expires", "3600")) == "SignatureDoesNotMatch"
    assert live_code(server, url + "&utm_source=mail") == "SignatureDoesNotMatch"
    assert live_code(server, _tamper(url, "x-oss-signature=", "x-oss-signature=a")) == "SignatureDoesNotMatch"
    assert live_code(server, _set(url, "x-oss-expires", str(WEEK + 1))) == "InvalidTimeStamp.Format"
    unknown = live_url(server, Creds("LTAI5tNOSUCHKEY00000001", SECRET))
    assert live_code(server, unknown) == "InvalidAccessKeyId.NotFound"
