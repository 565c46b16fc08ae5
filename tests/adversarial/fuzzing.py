"""What every front-door fuzz case must satisfy, the hypothesis settings, and the request strategies.

Invariants (:func:`check_reply`): never a 5xx or an exception, never a hang; a refusal by the middleware (it
carries ``x-acs-request-id``) is a 4xx whose body is well-formed JSON — or XML when asked for — with
``RequestId`` (equal to the header), ``Code`` and ``Message``; a request without a valid signature never
reaches a protected handler; and a change to any signed part of a valid request is always refused.

Profiles: the default (``ci``) is derandomized and sized for CI; ``RAM_FUZZ_PROFILE=long`` multiplies every
example budget by 25 with fresh randomness each run (see fuzz/README.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit
from xml.etree import ElementTree

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.adapters.harness import VARIANTS
from tests.adapters.world import World

from .drivers import AsgiDriver, RawReply, RawRequest, WsgiDriver
from .tally import TALLY

PROFILE = os.environ.get("RAM_FUZZ_PROFILE", "ci")
_SCALE = {"ci": 1, "long": 25}


def fuzz_timeout(seconds: float) -> float:
    """A per-test timeout that grows with the profile's example budget (a hang still fails the test)."""
    return seconds * _SCALE.get(PROFILE, 1)


def fuzz_settings(examples: int) -> settings:
    """Settings for one fuzz test: ``examples`` cases in CI, 25x that with ``RAM_FUZZ_PROFILE=long``."""
    if PROFILE not in _SCALE:
        raise ValueError(f"RAM_FUZZ_PROFILE must be one of {sorted(_SCALE)}")
    return settings(
        max_examples=examples * _SCALE[PROFILE],
        deadline=None,
        derandomize=PROFILE == "ci",
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


# --- targets and invariants ---------------------------------------------------------------------------------


@dataclass
class Target:
    """One protected app under fuzz: how to call it, which paths are public, how to see a handler ran."""

    name: str
    driver: AsgiDriver | WsgiDriver
    public_paths: frozenset[str]
    handler_ran: Callable[[RawReply], bool]

    def send(self, request: RawRequest) -> RawReply:
        return self.driver.send(request)


def make_target(name: str, world: World) -> Target:
    kind, builder, defaults = VARIANTS[name]
    app = builder(world.ram, **defaults)
    driver = AsgiDriver(app) if kind == "asgi" else WsgiDriver(app)
    return Target(name, driver, frozenset({"/health"}), echo_handler_ran)


def echo_handler_ran(reply: RawReply) -> bool:
    """The test apps of tests/adapters answer every handled request with a JSON echo holding "principal"."""
    data = _json(reply.body)
    return isinstance(data, dict) and "principal" in data


def control_plane_handler_ran(reply: RawReply) -> bool:
    data = _json(reply.body)
    return 200 <= reply.status < 300 and isinstance(data, dict) and "Code" not in data


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def from_middleware(reply: RawReply) -> bool:
    """A refusal the RAM layer wrote (the framework's own 404/405 pages carry no request id)."""
    return reply.status >= 400 and "x-acs-request-id" in reply.headers


def check_error_body(reply: RawReply) -> dict[str, str]:
    """The Alibaba-style error fields of ``reply``; fails the test when the body is not well-formed."""
    content_type = reply.headers.get("content-type", "")
    if "xml" in content_type:
        root = ElementTree.fromstring(reply.body)
        # Alibaba's and S3's <Error>, or <ErrorResponse><Error>…</Error><RequestId/> (AWS SigV4 callers)
        assert root.tag in ("Error", "ErrorResponse"), reply.describe()
        inner = root.find("Error") if root.tag == "ErrorResponse" else None
        fields = {child.tag: child.text or "" for child in (*root, *(inner if inner is not None else ()))}
    else:
        assert content_type.startswith("application/json"), reply.describe()
        data = json.loads(reply.body)
        assert isinstance(data, dict), reply.describe()
        fields = data
    for name in ("RequestId", "Code", "Message"):
        assert isinstance(fields.get(name), str) and fields[name], f"{name} missing: {reply.describe()}"
    assert fields["RequestId"] == reply.headers["x-acs-request-id"], reply.describe()
    return {name: str(fields[name]) for name in ("RequestId", "Code", "Message")}


def _code(reply: RawReply) -> str | None:
    data = _json(reply.body)
    if isinstance(data, dict):
        return str(data.get("Code"))
    try:
        root = ElementTree.fromstring(reply.body)
    except ElementTree.ParseError:
        return None
    found = root.find("Code") if root.tag != "ErrorResponse" else root.find("Error/Code")
    return None if found is None else found.text


def _slash_redirect(request: RawRequest, reply: RawReply) -> bool:
    """The framework's own trailing-slash redirect (307/308, no body, to the path with its slash toggled):
    the middleware lets it through unchecked, since it carries no data and the request that follows it is
    checked as any other."""
    if reply.status not in (307, 308) or reply.body:
        return False
    path = decoded_path(request)
    toggled = path.rstrip("/") if path.endswith("/") else path + "/"
    return unquote(urlsplit(reply.headers.get("location", "")).path) == toggled


def decoded_path(request: RawRequest) -> str:
    return unquote_to_bytes(request.raw_path).decode("utf-8", "replace")


def check_reply(
    target: Target,
    request: RawRequest,
    reply: RawReply,
    *,
    signed: bool,
    must_fail: bool = False,
) -> None:
    """Assert the front-door invariants for one case (and count it)."""
    refused = from_middleware(reply)
    TALLY.record(target.name, reply.status, _code(reply) if refused else None)
    assert reply.error is None, f"{target.name}: the app raised for {request!r}: {reply.describe()}"
    assert reply.status < 500, f"{target.name}: 5xx for {request!r}: {reply.describe()}"
    if refused and request.method != "HEAD":
        check_error_body(reply)
    if must_fail:
        assert refused or _slash_redirect(request, reply), (
            f"{target.name}: a tampered signed request got through: {request!r} {reply.describe()}"
        )
    if not signed and not refused and target.handler_ran(reply):
        assert decoded_path(request) in target.public_paths, (
            f"{target.name}: an unsigned request reached a protected handler: {request!r} {reply.describe()}"
        )


# --- building blocks ----------------------------------------------------------------------------------------

PERCENT_GARBAGE = (
    b"%",
    b"%%",
    b"%G0",
    b"%0",
    b"%ff",
    b"%FE%FF",
    b"%C3%28",
    b"%E2%82",
    b"%ED%A0%80",
    b"%00",
    b"%u0041",
    b"+",
    b"%2B",
    b"%25",
    b"%20",
    b"%2F",
    b"%3D",
    b"%26",
    b"\xff",
    b"\xc3\x28",
    b"%F0%9F%98%80",
    b"=",
    b"&",
)

RPC_PARAMS = (
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
    "BearerToken",
    "RegionId",
    "InstanceId",
    "Bucket",
    "Key",
    "UserName",
    "security-token",
    "acl",
    "x-oss-process",
)

HEADER_NAMES = (
    "authorization",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
    "x-acs-accesskey-id",
    "x-acs-action",
    "x-acs-version",
    "x-acs-bearer-token",
    "x-acs-signature-method",
    "x-acs-signature-version",
    "x-oss-date",
    "x-oss-security-token",
    "x-oss-content-sha256",
    "date",
    "content-md5",
    "content-type",
    "content-length",
    "transfer-encoding",
    "cookie",
    "x-forwarded-for",
    "forwarded",
    "x-forwarded-proto",
    "host",
    "accept",
    "user-agent",
    "x-csrf-token",
    "origin",
)

CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "application/json",
    "text/xml",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
    ";;;",
    "application/x-www-form-urlencodedX",
)

PEERS = (
    "127.0.0.1",
    "203.0.113.7",
    "198.51.100.9",
    "192.0.2.10",
    "192.0.2.254",
    "::1",
    "2001:db8::1",
    "::ffff:203.0.113.7",
    "::ffff:192.0.2.10",
    "not-an-ip",
    "",
    "fe80::1%eth0",
    "10.0.0.1",
)

SCHEMES = (
    "ACS3-HMAC-SHA256",
    "acs",
    "OSS",
    "OSS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256",
    "ACS3-HMAC-SM3",
    "Bearer",
    "Basic",
    "Digest",
    "Negotiate",
    "acs3-hmac-sha256",
    "",
)

TIMES = (
    "2030-03-04T02:00:00Z",
    "2030-03-04T02:00:00.123456Z",
    "2030-03-04T02:00:00+08:00",
    "2024-01-02T03:04:05Z",
    "2030-02-30T25:61:61Z",
    "Tue, 04 Mar 2030 02:00:00 GMT",
    "Mon, 99 Foo 2030 99:99:99 GMT",
    "20300304T020000Z",
    "0",
    "-1",
    "99999999999999999999",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "now",
)


def garbage(max_size: int = 64) -> st.SearchStrategy[bytes]:
    """Bytes an attacker might send: random, UTF-8 text, broken percent escapes, or a mix."""
    escapes = st.lists(
        st.one_of(st.sampled_from(PERCENT_GARBAGE), st.binary(max_size=4)), max_size=max(1, max_size // 4)
    ).map(b"".join)
    text = st.text(max_size=max_size).map(lambda s: s.encode("utf-8", "surrogatepass"))
    return st.one_of(st.binary(max_size=max_size), text, escapes)


def visible(data: bytes) -> bytes:
    """Bytes an HTTP/1.1 request line can carry (visible ASCII); the rest percent-encoded."""
    return b"".join(bytes([b]) if 0x21 <= b <= 0x7E else f"%{b:02X}".encode() for b in data)


def header_safe(data: bytes) -> bytes:
    """Bytes a header value can carry through a server's parser (no CR, LF or NUL)."""
    return data.replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\0", b" ")


@dataclass(frozen=True)
class Seeds:
    """Real values (ids, tokens) random requests mix in, so parsers get past their first checks."""

    access_key_ids: Sequence[str]
    tokens: Sequence[str] = ()
    cookies: Sequence[str] = ()
    paths: Sequence[str] = ("/",)
    extra_params: Sequence[str] = field(default=())
    now: datetime = datetime(2030, 3, 4, 2, 0, 0, tzinfo=UTC)  # the tests/adapters world's clock


def token_values(seeds: Seeds) -> st.SearchStrategy[bytes]:
    real = [t.encode() for t in seeds.tokens] or [b"v1.AAAA.BBBB"]

    def flip(token: bytes, index: int, byte: int) -> bytes:
        i = index % len(token)
        return token[:i] + bytes([byte]) + token[i + 1 :]

    mutated = st.builds(flip, st.sampled_from(real), st.integers(0, 10_000), st.integers(0, 255))
    shaped = st.builds(
        lambda a, b, c: b"v1." + a + b"." + b + (b"." + c if c else b""),
        garbage(40),
        garbage(40),
        st.one_of(st.just(b""), garbage(20)),
    )
    # A sealed token's clear header (version, a real key id) before random bytes: reaches the AEAD check.
    sealed = st.builds(
        lambda t, body: base64.urlsafe_b64encode(_header(t) + body).rstrip(b"="),
        st.sampled_from(real),
        st.binary(max_size=200),
    )
    truncated = st.builds(lambda t, n: t[: n % (len(t) + 1)], st.sampled_from(real), st.integers(0, 10_000))
    return st.one_of(st.sampled_from(real), mutated, shaped, sealed, truncated, garbage(200))


def _header(token: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + b"=" * (-len(token) % 4))[:5]
    except ValueError:  # a seed of the previous (signed) format
        return b"\x02\0\0\0\0"


def key_ids(seeds: Seeds) -> st.SearchStrategy[bytes]:
    real = [key.encode() for key in seeds.access_key_ids]
    return st.one_of(st.sampled_from(real), st.just(b"STS.NOPE"), garbage(40))


def authorization_values(seeds: Seeds) -> st.SearchStrategy[bytes]:
    ak = key_ids(seeds)
    hexsig = st.one_of(st.text("0123456789abcdef", min_size=0, max_size=70).map(str.encode), garbage(40))
    sep = st.sampled_from([b",", b", ", b" ,", b";", b"", b",,"])
    acs3 = st.builds(
        lambda scheme, a, s1, h, s2, sig: (
            scheme + b" Credential=" + a + s1 + b"SignedHeaders=" + h + s2 + b"Signature=" + sig
        ),
        st.sampled_from([b"ACS3-HMAC-SHA256", b"ACS3-HMAC-SM3", b"ACS3-RSA-SHA256", b"ACS3-"]),
        ak,
        sep,
        st.one_of(
            st.sampled_from([b"host;x-acs-date", b"", b";;", b"HOST;X-ACS-DATE", b"x-acs-date;host"]),
            garbage(40),
        ),
        sep,
        hexsig,
    )
    colon = st.builds(
        lambda scheme, a, sig: scheme + b" " + a + b":" + sig,
        st.sampled_from([b"acs", b"OSS", b"ACS"]),
        ak,
        garbage(40),
    )
    v4 = st.builds(
        lambda scheme, a, date, region, sig, extra: (
            scheme
            + b" Credential="
            + a
            + b"/"
            + date
            + b"/"
            + region
            + b"/oss/aliyun_v4_request, Signature="
            + sig
            + extra
        ),
        st.sampled_from([b"OSS4-HMAC-SHA256", b"AWS4-HMAC-SHA256"]),
        ak,
        st.sampled_from([b"20300304", b"20241399", b"", b"x"]),
        st.sampled_from([b"cn-hangzhou", b"", b"../"]),
        hexsig,
        st.one_of(st.just(b""), garbage(30).map(lambda g: b", AdditionalHeaders=" + g)),
    )
    other = st.builds(lambda s, rest: s.encode() + b" " + rest, st.sampled_from(SCHEMES), garbage(60))
    return st.one_of(acs3, colon, v4, other, garbage(80)).map(header_safe)


def header_value(name: str, seeds: Seeds) -> st.SearchStrategy[bytes]:
    if name == "authorization":
        return authorization_values(seeds)
    if name in ("x-acs-security-token", "x-oss-security-token"):
        return token_values(seeds).map(header_safe)
    if name == "x-acs-accesskey-id":
        return key_ids(seeds).map(header_safe)
    if name in ("x-acs-date", "date", "x-oss-date"):
        return st.one_of(st.sampled_from(TIMES).map(str.encode), garbage(30)).map(header_safe)
    if name == "content-type":
        return st.one_of(st.sampled_from(CONTENT_TYPES).map(str.encode), garbage(30)).map(header_safe)
    if name == "content-length":
        numbers = st.sampled_from([b"0", b"1", b"-1", b"99999999999", b"abc", b" 5 ", b"", b"1e3", b"0x10"])
        return st.one_of(numbers, st.integers(0, 2**40).map(lambda n: str(n).encode()))
    if name == "cookie":
        real = [c.encode() for c in seeds.cookies] or [b"session=x"]
        return st.one_of(st.sampled_from(real), garbage(200)).map(header_safe)
    if name in ("x-forwarded-for", "forwarded"):
        hops = st.lists(st.one_of(st.sampled_from(PEERS).map(str.encode), garbage(20)), max_size=6)
        forwarded = hops.map(
            lambda items: b", ".join((b"for=" if name == "forwarded" else b"") + i for i in items)
        )
        return forwarded.map(header_safe)
    return garbage(80).map(header_safe)


def headers(seeds: Seeds) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    known = st.one_of([st.tuples(st.just(name.encode()), header_value(name, seeds)) for name in HEADER_NAMES])
    odd = st.tuples(
        st.one_of(st.sampled_from([b"x-acs-", b"x-oss-", b"Authorization", b"AUTHORIZATION"]), garbage(20)),
        garbage(40).map(header_safe),
    )
    return st.lists(st.one_of(known, known, odd), max_size=10)


def query_strings(seeds: Seeds) -> st.SearchStrategy[bytes]:
    """Mostly well-encoded parameters with real-looking values (so parsers go deep), some raw garbage."""
    known = st.sampled_from(RPC_PARAMS + tuple(seeds.extra_params)).map(str.encode)
    names = st.one_of(known, known, known, st.text(max_size=12).map(str.encode))
    real = [key.encode() for key in seeds.access_key_ids] + [token.encode() for token in seeds.tokens]
    values = st.one_of(
        st.sampled_from(real),
        st.sampled_from(TIMES).map(str.encode),
        st.text(max_size=40).map(str.encode),
        st.sampled_from([b"XML", b"xml", b"JSON", b"HMAC-SHA1", b"1.0", b"2.0", b"", b"DescribeInstances"]),
    )
    encoded = st.builds(lambda n, v: quote(n, safe="") + "=" + quote(v, safe=""), names, values).map(
        str.encode
    )
    raw = st.builds(
        lambda n, sep, v: visible(n + sep + v), names, st.sampled_from([b"=", b"==", b"", b"=%"]), garbage(60)
    )
    joiner = st.sampled_from([b"&", b"&", b"&&", b";", b"&=&"])
    # At most one raw pair: one bad escape already decides the whole request (InvalidParameter.Encoding).
    none: list[bytes] = []
    extra = st.one_of(st.just(none), st.just(none), st.just(none), raw.map(lambda pair: [pair]))
    return st.builds(
        lambda items, more, j: j.join(items + more), st.lists(encoded, max_size=12), extra, joiner
    )


HUGE_SIZES = (70_000, 1_048_577, 3_000_000)


def bodies() -> st.SearchStrategy[bytes]:
    form = st.lists(st.tuples(garbage(16), garbage(40)), max_size=8).map(
        lambda pairs: b"&".join(name + b"=" + value for name, value in pairs)
    )
    huge = st.tuples(st.sampled_from(HUGE_SIZES), st.sampled_from([b"A", b"\xff", b"%", b"a=b&"])).map(
        lambda spec: (spec[1] * spec[0])[: spec[0]]
    )
    return st.one_of(st.just(b""), garbage(300), form, st.binary(min_size=1, max_size=4000), huge)


def paths(seeds: Seeds) -> st.SearchStrategy[bytes]:
    known = st.sampled_from([p.encode() for p in seeds.paths])
    suffixed = st.builds(lambda p, g: p + g, known, garbage(24))
    return st.one_of(known, known, suffixed, garbage(40).map(lambda g: b"/" + g)).map(visible)


def raw_paths_with_high_bytes(seeds: Seeds) -> st.SearchStrategy[bytes]:
    """Paths some servers pass through unescaped (obs-text bytes)."""
    return st.builds(
        lambda p, g: p + g, st.sampled_from([p.encode() for p in seeds.paths]), st.binary(max_size=8)
    )


METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def raw_requests(seeds: Seeds) -> st.SearchStrategy[RawRequest]:
    """Random requests at the front door (none carries a valid signature)."""
    return st.builds(
        RawRequest,
        method=st.one_of(st.sampled_from(METHODS), st.sampled_from(["get", "PROPFIND", "X" * 40, "GET\x00"])),
        raw_path=st.one_of(paths(seeds), raw_paths_with_high_bytes(seeds)),
        query=query_strings(seeds),
        headers=headers(seeds).map(tuple),
        body=bodies(),
        peer=st.sampled_from(PEERS),
        scheme=st.sampled_from(["http", "https"]),
        chunks=st.integers(1, 4),
    )


# --- near-valid credentials: complete and well-formed, wrong in one or two places ---------------------------

SKEWS = (0, 1, -1, 899, -899, 901, -901, 86_400 * 365)


def near_valid_requests(seeds: Seeds) -> st.SearchStrategy[RawRequest]:
    """A request carrying a complete credential of one scheme (real AccessKeyIds and tokens, fresh times)
    whose signature cannot be right; one or two of its fields are then swapped for junk. These reach the
    checks random bytes never get to: skew, key lookup and status, token integrity, signature comparison."""
    tokens = st.one_of(st.none(), token_values(seeds).map(lambda t: t.decode("latin-1")))
    junk = garbage(40)
    some_path = paths(seeds)
    return _near_valid(seeds, tokens, junk, some_path)


@st.composite
def _near_valid(
    draw: st.DrawFn,
    seeds: Seeds,
    tokens: st.SearchStrategy[str | None],
    junk: st.SearchStrategy[bytes],
    some_path: st.SearchStrategy[bytes],
) -> RawRequest:
    scheme = draw(st.sampled_from(["rpc", "acs3", "roa", "oss-v1", "oss-v4"]))
    when = seeds.now + timedelta(seconds=draw(st.sampled_from(SKEWS)))
    key = draw(st.sampled_from(list(seeds.access_key_ids)))
    token = draw(tokens)
    nonce = draw(st.text("0123456789abcdef", min_size=32, max_size=32))
    body = draw(st.one_of(st.just(b""), st.binary(max_size=200)))
    fields: dict[str, str] = {}  # "q:<name>" query parameters, "h:<name>" headers
    if scheme == "rpc":
        fields.update(
            {
                "q:Action": "DescribeInstances",
                "q:Version": "2014-05-26",
                "q:Format": "JSON",
                "q:AccessKeyId": key,
                "q:SignatureMethod": "HMAC-SHA1",
                "q:SignatureVersion": "1.0",
                "q:SignatureNonce": nonce,
                "q:Timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "q:Signature": "dGhpcyBpcyBub3QgaXQ=",
                "q:RegionId": "cn-hangzhou",
            }
        )
        if token is not None:
            fields["q:SecurityToken"] = token
    elif scheme == "acs3":
        signed = "host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce"
        fields.update(
            {
                "h:host": "testserver",
                "h:x-acs-date": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "h:x-acs-signature-nonce": nonce,
                "h:x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
                "h:x-acs-action": "DescribeInstances",
                "h:x-acs-version": "2014-05-26",
            }
        )
        if token is not None:
            fields.update({"h:x-acs-security-token": token, "h:x-acs-accesskey-id": key})
            signed += ";x-acs-accesskey-id;x-acs-security-token"
        fields["h:authorization"] = (
            f"ACS3-HMAC-SHA256 Credential={key},SignedHeaders={signed},Signature={'ab' * 32}"
        )
    elif scheme == "roa":
        fields.update(
            {
                "h:date": format_datetime(when, usegmt=True),
                "h:accept": "application/json",
                "h:x-acs-signature-method": "HMAC-SHA1",
                "h:x-acs-signature-version": "1.0",
                "h:x-acs-signature-nonce": nonce,
                "h:authorization": f"acs {key}:dGhpcyBpcyBub3QgaXQ=",
            }
        )
        if body:
            fields["h:content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        if token is not None:
            fields["h:x-acs-security-token"] = token
    elif scheme == "oss-v1":
        fields.update(
            {"h:date": format_datetime(when, usegmt=True), "h:authorization": f"OSS {key}:bm9wZQ=="}
        )
        if token is not None:
            fields["h:x-oss-security-token"] = token
    else:
        day = when.strftime("%Y%m%d")
        fields.update(
            {
                "h:x-oss-date": when.strftime("%Y%m%dT%H%M%SZ"),
                "h:x-oss-content-sha256": "UNSIGNED-PAYLOAD",
                "h:authorization": f"OSS4-HMAC-SHA256 Credential={key}/{day}/cn-hangzhou/oss/"
                f"aliyun_v4_request, Signature={'cd' * 32}",
            }
        )
        if token is not None:
            fields["h:x-oss-security-token"] = token
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)):
        fields[name] = draw(junk).decode("latin-1")
    query = "&".join(
        f"{quote(k[2:], safe='')}={quote(v, safe='', encoding='latin-1')}"
        for k, v in fields.items()
        if k.startswith("q:")
    )
    headers = tuple(
        (k[2:].encode(), header_safe(v.encode("latin-1"))) for k, v in fields.items() if k.startswith("h:")
    )
    content_type = draw(
        st.sampled_from([None, "application/octet-stream", "application/x-www-form-urlencoded"])
    )
    if content_type and body:
        headers += ((b"content-type", content_type.encode()),)
    return RawRequest(
        method=draw(st.sampled_from(["GET", "POST", "DELETE"])),
        raw_path=draw(some_path),
        query=query.encode(),
        headers=headers,
        body=body,
        peer=draw(st.sampled_from(PEERS)),
    )
