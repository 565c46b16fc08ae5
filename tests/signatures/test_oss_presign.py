"""OSS V1 presigned URLs (oss2 ``Bucket.sign_url``): string to sign, expiry, tampering, garbage, live oss2."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock
from urllib.parse import quote

import oss2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.authenticate import Authenticator, detect_scheme
from ram_middleware.credentials.oss import SUBRESOURCES, parse_oss_v1_query
from ram_middleware.facts import RequestFacts
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
    ROOT_AK,
    ROOT_SECRET,
    SECRET,
    STS_AK,
    STS_SECRET,
    STS_TOKEN,
    MemoryResolver,
)
from .sdk_clients import Creds, error_code
from .signing import HOST, NOW, facts_from

LONG_TERM = Creds(AK, SECRET)
TEMPORARY = Creds(STS_AK, STS_SECRET, STS_TOKEN)
EXPIRES = int(NOW.timestamp()) + 60
BUCKET = "examplebucket"


def _auth(creds: Creds) -> oss2.Auth | oss2.StsAuth:
    if creds.token:
        return oss2.StsAuth(creds.access_key_id, creds.secret, creds.token)
    return oss2.Auth(creds.access_key_id, creds.secret)


@contextmanager
def _oss2_clock(when: datetime | None) -> Iterator[None]:
    """oss2 computes Expires from ``time.time()``; pin it for the unit tests (None: the real clock)."""
    if when is None:
        yield
        return
    with mock.patch.object(oss2.auth, "time", SimpleNamespace(time=when.timestamp)):
        yield


def presign(
    creds: Creds,
    key: str = "dir/a+b c.txt",
    *,
    method: str = "GET",
    expires_in: int = 60,
    at: datetime | None = NOW,
    endpoint: str = f"http://{HOST}",
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """The URL oss2 ``Bucket.sign_url`` gives (signed at ``at``; None: now)."""
    bucket = oss2.Bucket(_auth(creds), endpoint, BUCKET)
    with _oss2_clock(at):
        url: str = bucket.sign_url(method, key, expires_in, params=dict(params or {}), headers=headers)
    return url


def url_facts(url: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> RequestFacts:
    return facts_from(method, url, [("host", HOST), *(headers or {}).items()])


def authenticator(at: datetime = NOW) -> Authenticator:
    return Authenticator(MemoryResolver(), MemoryGuard(), clock=lambda: at)


def refused(facts: RequestFacts, code: str, *, at: datetime = NOW, status: int | None = None) -> None:
    with pytest.raises(errors.AuthenticationError) as caught:
        authenticator(at).authenticate(facts)
    assert caught.value.code == code
    assert 400 <= caught.value.status < 500
    assert status is None or caught.value.status == status
    for secret in (SECRET, STS_SECRET, STS_TOKEN):
        assert secret not in str(caught.value)


# --- the string to sign ---------------------------------------------------------------------------------


def test_string_to_sign_has_expires_on_the_date_line() -> None:
    url = presign(LONG_TERM, params={"versionId": "v 1", "unsigned": "x"})
    signed = parse_oss_v1_query(url_facts(url))
    assert signed.string_to_sign == f"GET\n\n\n{EXPIRES}\n/{BUCKET}/dir/a+b c.txt?versionId=v 1"
    assert (signed.scheme, signed.access_key_id, signed.expires_at) == ("oss-v1-query", AK, EXPIRES)
    assert signed.nonce is None and signed.security_token is None
    assert signed.matches(SECRET) and not signed.matches(SECRET[:-1])


def test_string_to_sign_with_signed_headers() -> None:
    headers = {"Content-Type": "text/plain", "x-oss-meta-author": "alice"}
    url = presign(LONG_TERM, "k.txt", method="PUT", headers=headers)
    signed = parse_oss_v1_query(url_facts(url, "PUT", headers))
    assert signed.string_to_sign == f"PUT\n\ntext/plain\n{EXPIRES}\nx-oss-meta-author:alice\n/{BUCKET}/k.txt"
    assert signed.matches(SECRET)


def test_security_token_is_a_signed_subresource() -> None:
    signed = parse_oss_v1_query(url_facts(presign(TEMPORARY, "k.txt")))
    assert signed.string_to_sign == f"GET\n\n\n{EXPIRES}\n/{BUCKET}/k.txt?security-token={STS_TOKEN}"
    assert (signed.access_key_id, signed.security_token) == (STS_AK, STS_TOKEN)
    assert signed.matches(STS_SECRET)


def test_detection() -> None:
    url = presign(LONG_TERM)
    assert detect_scheme(url_facts(url)) == "oss-v1-query"  # not rpc-v1, though it carries Signature
    # An Authorization header wins; the query parameters are then plain (unsigned) parameters.
    assert detect_scheme(url_facts(url, headers={"Authorization": "OSS a:b"})) == "oss-v1"
    # The marker alone is a credential we must verify, never anonymous.
    assert detect_scheme(url_facts(f"http://{HOST}/{BUCKET}/k?OSSAccessKeyId={AK}")) == "oss-v1-query"


# --- verification and expiry ----------------------------------------------------------------------------


@pytest.mark.parametrize(("creds", "principal"), [(LONG_TERM, ALICE), (TEMPORARY, OPS_SESSION)])
def test_presigned_url_authenticates_and_replays_until_it_expires(creds: Creds, principal: Principal) -> None:
    facts = url_facts(presign(creds))
    auth = authenticator()
    for _ in range(3):  # no nonce: the same URL works again and again
        result = auth.authenticate(facts)
        assert result is not None and result.arn == principal.arn
        assert result.auth_method == "oss-v1-query"
    exactly = datetime.fromtimestamp(EXPIRES, UTC)
    assert authenticator(exactly).authenticate(facts) is not None
    refused(facts, "InvalidTimeStamp.Expired", at=exactly + timedelta(seconds=1), status=403)


def test_no_skew_window_only_expires_counts() -> None:
    # Signed two days ago for three days: still valid, although far outside the ±15 min header window.
    old = presign(LONG_TERM, at=NOW - timedelta(days=2), expires_in=3 * 86400)
    assert authenticator().authenticate(url_facts(old)) is not None
    # A URL valid for ten years is accepted (OSS does not cap V1 either; revoke the key to end it).
    assert authenticator().authenticate(url_facts(presign(LONG_TERM, expires_in=10 * 365 * 86400)))


def _tamper(url: str, old: str, new: str) -> str:
    assert old in url
    return url.replace(old, new, 1)


@pytest.mark.parametrize(
    "change",
    [
        lambda url: _tamper(url, "/dir%2F", "/dir2%2F"),
        lambda url: _tamper(url, f"/{BUCKET}/", "/otherbucket/"),
        lambda url: _tamper(url, f"Expires={EXPIRES}", f"Expires={EXPIRES + 3600}"),
        lambda url: _tamper(url, f"Expires={EXPIRES}", f"Expires=0{EXPIRES}"),  # same time, other text
        lambda url: _tamper(url, "Signature=", "Signature=A"),
        lambda url: _tamper(url, "versionId=v%201", "versionId=v%202"),
        lambda url: _tamper(url, "versionId=v%201&", ""),
        lambda url: url + "&acl",
        lambda url: url + "&x-oss-process=image%2Fresize",
    ],
    ids=[
        "path",
        "bucket",
        "expires",
        "expires-spelling",
        "signature",
        "subresource",
        "dropped",
        "acl",
        "process",
    ],
)
def test_tampered_url_is_a_signature_mismatch(change: Callable[[str], str]) -> None:
    url = presign(LONG_TERM, params={"versionId": "v 1"})
    assert authenticator().authenticate(url_facts(url)) is not None
    refused(url_facts(change(url)), "SignatureDoesNotMatch")


def test_method_and_signed_headers_are_bound() -> None:
    url = presign(LONG_TERM)
    refused(url_facts(url, "PUT"), "SignatureDoesNotMatch")
    refused(url_facts(url, headers={"x-oss-meta-added": "1"}), "SignatureDoesNotMatch")
    refused(url_facts(url, headers={"Content-Type": "text/html"}), "SignatureDoesNotMatch")


def test_unsigned_parameters_may_be_added() -> None:
    # As on OSS: V1 signs only the sub-resources, so other parameters ride along unsigned.
    url = presign(LONG_TERM)
    assert authenticator().authenticate(url_facts(url + "&utm_source=mail")) is not None


def test_security_token_problems() -> None:
    url = presign(TEMPORARY)
    swapped = _tamper(url, quote(STS_TOKEN, safe=""), EXPIRED_TOKEN)
    refused(url_facts(swapped), "InvalidSecurityToken.Expired")
    without = _tamper(url, f"security-token={quote(STS_TOKEN, safe='')}&", "")
    refused(url_facts(without), "MissingSecurityToken")
    refused(url_facts(url, headers={"x-oss-security-token": "other"}), "IncompleteSignature")


@pytest.mark.parametrize(
    ("creds", "code"),
    [
        (Creds("LTAI5tNOSUCHKEY00000001", SECRET), "InvalidAccessKeyId.NotFound"),
        (Creds(INACTIVE_AK, INACTIVE_SECRET), "InvalidAccessKeyId.Inactive"),
        (Creds(ROOT_AK, ROOT_SECRET), "Forbidden.RootAccessKey"),
        (Creds(AK, "wrong-secret"), "SignatureDoesNotMatch"),
    ],
)
def test_key_problems(creds: Creds, code: str) -> None:
    refused(url_facts(presign(creds)), code)


@pytest.mark.parametrize(
    ("expires", "code"),
    [
        ("", "MissingParameter"),
        ("abc", "InvalidTimeStamp.Format"),
        ("-1", "InvalidTimeStamp.Format"),
        ("1e10", "InvalidTimeStamp.Format"),
        ("%D9%A1%D9%A2", "InvalidTimeStamp.Format"),  # Arabic-Indic digits: int() would take them
        ("123456789012", "InvalidTimeStamp.Format"),
        ("%201704164765", "InvalidTimeStamp.Format"),
    ],
)
def test_malformed_expires(expires: str, code: str) -> None:
    url = presign(LONG_TERM)
    refused(url_facts(_tamper(url, f"Expires={EXPIRES}", f"Expires={expires}")), code)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda url: _tamper(url, f"&Expires={EXPIRES}", ""), "MissingParameter"),
        (lambda url: url.partition("&Signature=")[0], "MissingParameter"),
        (lambda url: _tamper(url, f"OSSAccessKeyId={AK}", "OSSAccessKeyId="), "MissingParameter"),
        (lambda url: url + f"&OSSAccessKeyId={AK}", "IncompleteSignature"),
        (lambda url: url + f"&Expires={EXPIRES + 9999}", "IncompleteSignature"),
        (lambda url: url + "&Signature=x", "IncompleteSignature"),
    ],
    ids=["no-expires", "no-signature", "empty-key", "key-twice", "expires-twice", "signature-twice"],
)
def test_malformed_query(change: Callable[[str], str], code: str) -> None:
    refused(url_facts(change(presign(LONG_TERM))), code)


def test_x_oss_date_would_leave_expires_unsigned() -> None:
    # oss2 signs x-oss-date instead of Expires when the caller passes it: refused, never half-verified.
    headers = {"x-oss-date": "Tue, 02 Jan 2024 03:04:05 GMT"}
    url = presign(LONG_TERM, headers=headers)
    refused(url_facts(url, headers=headers), "IncompleteSignature")


# --- properties -----------------------------------------------------------------------------------------

# oss2 itself refuses (ClientError before signing) a key that is only whitespace or starts with "?".
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=16).filter(
    lambda key: bool(key.strip()) and not key.startswith("?")
)
subresources = st.dictionaries(
    st.sampled_from(sorted(SUBRESOURCES - {"security-token"})),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8),
    max_size=3,
)


@st.composite
def mutated_urls(draw: st.DrawFn) -> tuple[str, str]:
    creds = draw(st.sampled_from([LONG_TERM, TEMPORARY]))
    params = draw(subresources)
    url = presign(creds, draw(keys), params=params)
    path, _, query = url.partition("?")
    pieces = query.split("&")
    kind = draw(st.sampled_from(["path", "expires", "signature", "param", "added", "dropped"]))
    if kind == "path":
        return url, path + draw(st.sampled_from(["x", "/", "%20", "%2F"])) + "?" + query
    if kind == "expires":
        delta = draw(st.integers(-(10**6), 10**6).filter(bool))
        return url, url.replace(f"Expires={EXPIRES}", f"Expires={EXPIRES + delta}")
    if kind == "signature":
        index = next(i for i, piece in enumerate(pieces) if piece.startswith("Signature="))
        old = pieces[index].partition("=")[2]
        new = draw(st.text("ABCDEFabcdef0123456789%3D", min_size=1, max_size=30).filter(lambda v: v != old))
        pieces[index] = f"Signature={new}"
    elif kind == "dropped" and (params or creds.token):
        signed = [i for i, p in enumerate(pieces) if p.partition("=")[0] in SUBRESOURCES]
        del pieces[draw(st.sampled_from(signed))]
    elif kind == "param" and params:
        name = draw(st.sampled_from(sorted(params)))
        value = draw(st.text("abc xyz", max_size=5).filter(lambda v: v != params[name]))
        pieces = [p for p in pieces if p.partition("=")[0] != name] + [f"{name}={quote(value)}"]
    else:
        name = draw(st.sampled_from(sorted(SUBRESOURCES - set(params) - {"security-token"})))
        pieces.append(f"{name}={draw(st.sampled_from(['', '1', 'a%20b']))}")
    return url, path + "?" + "&".join(pieces)


@settings(max_examples=300, deadline=None)
@given(mutated_urls())
def test_any_mutation_of_a_presigned_url_fails(pair: tuple[str, str]) -> None:
    original, changed = pair
    assume(original != changed)
    assert authenticator().authenticate(url_facts(original)) is not None
    with pytest.raises(errors.RAMError) as caught:
        authenticator().authenticate(url_facts(changed))
    assert 400 <= caught.value.status < 500


garbage = st.one_of(
    st.text(max_size=40).map(lambda text: quote(text, safe="")),
    st.sampled_from(["", "%", "%zz", "%FF", "&", "=", "+", "99999999999", "0"]),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["OSSAccessKeyId", "Expires", "Signature", "security-token"]), garbage)
def test_garbage_in_a_presign_field_is_a_4xx(name: str, value: str) -> None:
    path, _, query = presign(TEMPORARY).partition("?")
    pieces = [p for p in query.split("&") if p.partition("=")[0] != name]
    changed = f"{path}?{'&'.join([*pieces, f'{name}={value}'])}"
    try:
        principal = authenticator().authenticate(url_facts(changed))
    except errors.RAMError as error:
        assert 400 <= error.status < 500
        return
    raise AssertionError(f"garbage authenticated as {principal}")


# --- live: oss2 against the uvicorn test server ---------------------------------------------------------


def live_url(server: LiveServer, creds: Creds, expires_in: int = 60) -> str:
    return presign(creds, at=None, endpoint=server.url, expires_in=expires_in)


def live_get(server: LiveServer, url: str) -> str:
    bucket = oss2.Bucket(oss2.AnonymousAuth(), server.url, BUCKET)
    result = bucket.get_object_with_url(url)
    assert result.read() == b"hello"
    return str(result.headers["x-ram-principal"])


def live_code(server: LiveServer, url: str) -> str:
    with pytest.raises(oss2.exceptions.OssError) as caught:
        live_get(server, url)
    return error_code(caught.value)


@pytest.mark.parametrize(("creds", "arn"), [(LONG_TERM, ALICE.arn), (TEMPORARY, OPS_SESSION.arn)])
def test_live_presigned_get(server: LiveServer, creds: Creds, arn: str) -> None:
    url = live_url(server, creds)
    assert live_get(server, url) == arn
    assert detect_scheme(server.app.recorded[-1]) == "oss-v1-query"
    assert live_get(server, url) == arn  # shared links are replayable until they expire


def test_live_expired_url(server: LiveServer) -> None:
    url = live_url(server, LONG_TERM, expires_in=60)
    server.app.clock_offset = timedelta(minutes=2)
    with pytest.raises(oss2.exceptions.OssError) as caught:
        live_get(server, url)
    assert (caught.value.status, error_code(caught.value)) == (403, "InvalidTimeStamp.Expired")


def test_live_tampered_and_unknown(server: LiveServer) -> None:
    url = live_url(server, LONG_TERM)
    expires = url.partition("Expires=")[2].partition("&")[0]
    assert live_code(server, _tamper(url, "/dir%2F", "/other%2F")) == "SignatureDoesNotMatch"
    later = _tamper(url, f"Expires={expires}", f"Expires={int(expires) + 86400}")
    assert live_code(server, later) == "SignatureDoesNotMatch"
    assert live_code(server, _tamper(url, "Signature=", "Signature=A")) == "SignatureDoesNotMatch"
    unknown = live_url(server, Creds("LTAI5tNOSUCHKEY00000001", SECRET))
    assert live_code(server, unknown) == "InvalidAccessKeyId.NotFound"
