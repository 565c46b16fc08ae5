"""Valid signed requests for the test apps, and mutations of them that the signature does or does not cover.

A request is signed by the project's own signers (:class:`~ram_middleware.client.RequestSigner` for ACS3 and
RPC v1, the ROA and OSS V4 builders of tests/signatures for those schemes) with the keys of the
tests/adapters world, then turned into a :class:`RawRequest`. Each mutation says whether the scheme's
signature covers what it changed: a covered change must always be refused by the middleware.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, unquote_to_bytes, urlencode, urlsplit

from ram_middleware.facts import RequestFacts
from tests.adapters.world import Key, World
from tests.signatures.signing import oss_v4_facts, roa_facts

from .drivers import RawRequest
from .fuzzing import header_safe, visible

CALLERS = ("alice", "bob", "eve", "root", "session")
SCHEMES = ("acs3", "v1", "roa", "oss-v4")
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Template:
    """A request to one of the test apps, before signing."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None


TEMPLATES = (
    Template("GET", "/instances/i-1"),
    Template("DELETE", "/instances/i-protected"),
    Template("GET", "/objects", (("Bucket", "rnd-bucket"), ("Key", "dir/a b*~+é.txt"))),
    Template("POST", "/buckets/rnd-bucket/objects", (), b"hello \xff\xfe world", "application/octet-stream"),
    Template("POST", "/rpc", (), b"Action=DescribeInstances&RegionId=cn-hangzhou&Note=a%20b", FORM),
    Template("GET", "/rpc", (("Action", "StopInstance"), ("InstanceId", "i-9"), ("RegionId", "cn-hangzhou"))),
)


def key_of(world: World, caller: str, session: Key) -> Key:
    return session if caller == "session" else world.keys[caller]


def sign(world: World, key: Key, scheme: str, template: Template) -> RawRequest:
    """``template`` signed with ``key`` by ``scheme`` at the world's current time."""
    query = urlencode(list(template.query), quote_via=quote)
    if scheme in ("acs3", "v1"):
        url = f"http://testserver{template.path}" + (f"?{query}" if query else "")
        headers = [("content-type", template.content_type)] if template.content_type else []
        signed = key.signer(world.clock, scheme).sign(template.method, url, headers, template.body)
        parts = urlsplit(signed.url)
        all_headers = [*headers, *signed.headers.items()]
        return RawRequest(
            template.method,
            parts.path.encode(),
            parts.query.encode(),
            tuple((name.lower().encode(), value.encode()) for name, value in all_headers),
            template.body,
        )
    if scheme == "roa":
        extra = {"x-acs-security-token": key.security_token} if key.security_token else {}
        facts = roa_facts(
            method=template.method,
            path=template.path,
            query=query,
            body=template.body,
            extra=extra,
            access_key_id=key.access_key_id,
            secret=key.secret,
            when=world.clock.now,
        )
    else:
        facts = oss_v4_facts(
            method=template.method,
            path=template.path,
            query=query,
            body=template.body,
            access_key_id=key.access_key_id,
            secret=key.secret,
            when=world.clock.now,
        )
    return _raw(facts)


def _raw(facts: RequestFacts) -> RawRequest:
    return RawRequest(
        facts.method,
        facts.path.encode(),
        facts.query.encode(),
        tuple((name.lower().encode(), value.encode()) for name, value in facts.headers),
        facts.body,
    )


# --- mutations ----------------------------------------------------------------------------------------------

Mutation = Callable[[RawRequest, str, int, bytes], "tuple[RawRequest, bool] | None"]
"""(request, scheme, a number, some bytes) -> (mutated request, covered by the signature), or None when the
mutation does not apply to this request."""


def _pairs(query: bytes) -> list[bytes]:
    return [piece for piece in query.split(b"&") if piece]


def _signed_header_names(request: RawRequest, scheme: str) -> list[bytes]:
    names = [name for name, _ in request.headers]
    if scheme == "acs3":
        auth = (request.header(b"authorization") or b"").decode()
        listed = auth.partition("SignedHeaders=")[2].partition(",")[0]
        return [name.encode() for name in listed.split(";") if name]
    if scheme == "roa":
        fixed = (b"accept", b"content-md5", b"content-type", b"date")
        return [n for n in names if n.startswith(b"x-acs-") or n in fixed]
    if scheme == "oss-v4":
        return [n for n in names if n.startswith(b"x-oss-") or n in (b"content-type", b"content-md5")]
    return []


def flip_signature(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool] | None:
    if scheme == "v1":
        pairs = _pairs(request.query)
        index = next(i for i, p in enumerate(pairs) if p.startswith(b"Signature="))
        value = pairs[index][len(b"Signature=") :]
        pairs[index] = b"Signature=" + _change(value, n, b"ABCD")
        return request.replace(query=b"&".join(pairs)), True
    auth = request.header(b"authorization") or b""
    return _set_header(request, b"authorization", _change(auth, n, b"0123456789abcdef", tail=12)), True


def change_path(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool]:
    suffix = [b"x", b"/", b"%2F", b"..", b"%20"][n % 5]
    return request.replace(raw_path=request.raw_path + suffix), True


def change_method(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool]:
    others = [m for m in ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH") if m != request.method]
    return request.replace(method=others[n % len(others)]), True


def change_query_value(
    request: RawRequest, scheme: str, n: int, junk: bytes
) -> tuple[RawRequest, bool] | None:
    pairs = _pairs(request.query)
    candidates = [i for i, p in enumerate(pairs) if not p.startswith(b"Signature=")]
    if not candidates:
        return None
    index = candidates[n % len(candidates)]
    pairs[index] = pairs[index] + b"Z"
    return request.replace(query=b"&".join(pairs)), True


def add_query_param(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool]:
    extra = [b"zz=1", b"Action=DeleteInstance", b"RegionId=evil", b"x-oss-process=1", b"acl"][n % 5]
    query = request.query + b"&" + extra if request.query else extra
    return request.replace(query=query), True


def drop_query_param(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool] | None:
    pairs = _pairs(request.query)
    if not pairs:
        return None
    del pairs[n % len(pairs)]
    return request.replace(query=b"&".join(pairs)), True


def change_signed_header(
    request: RawRequest, scheme: str, n: int, junk: bytes
) -> tuple[RawRequest, bool] | None:
    names = [name for name in _signed_header_names(request, scheme) if name != b"authorization"]
    if not names:
        return None
    name = names[n % len(names)]
    value = request.header(name) or b""
    return _set_header(request, name, value + b"1"), True


def drop_signed_header(
    request: RawRequest, scheme: str, n: int, junk: bytes
) -> tuple[RawRequest, bool] | None:
    names = [name for name in _signed_header_names(request, scheme) if name != b"authorization"]
    if not names:
        return None
    name = names[n % len(names)]
    return request.replace(headers=tuple(h for h in request.headers if h[0] != name)), True


def change_body(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool]:
    form = (request.header(b"content-type") or b"").startswith(FORM.encode())
    # ROA covers the body only through a Content-MD5 header; OSS V4 sends UNSIGNED-PAYLOAD.
    md5 = request.header(b"content-md5") is not None
    covered = scheme == "acs3" or (scheme == "v1" and form) or (scheme == "roa" and md5)
    body = request.body + (b"&Action=DeleteInstance" if form else b"X")
    return request.replace(body=body), covered


def swap_access_key(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool] | None:
    # Another real AccessKeyId in the same request: the signature was made with a different secret.
    other = junk.decode() if junk else ""
    if not other:
        return None
    if scheme == "v1":
        swapped = b"AccessKeyId=" + other.encode()
        if swapped in _pairs(request.query):
            return None  # the same key: nothing would change
        pairs = [swapped if p.startswith(b"AccessKeyId=") else p for p in _pairs(request.query)]
        return request.replace(query=b"&".join(pairs)), True
    auth = (request.header(b"authorization") or b"").decode()
    current = _credential(auth, scheme)
    if not current or current == other:
        return None
    return _set_header(request, b"authorization", auth.replace(current, other, 1).encode()), True


def duplicate_authorization(
    request: RawRequest, scheme: str, n: int, junk: bytes
) -> tuple[RawRequest, bool] | None:
    # The same credential twice changes nothing signed (a WSGI server merges the copies into one value);
    # two different credentials are an attack of their own (test_targeted_signatures).
    auth = request.header(b"authorization")
    if auth is None:
        return None
    return request.replace(headers=(*request.headers, (b"authorization", auth))), False


def garble_signed_field(
    request: RawRequest, scheme: str, n: int, junk: bytes
) -> tuple[RawRequest, bool] | None:
    """Replace one query value or signed header value with junk (every scheme signs the whole query)."""
    signed_headers = set(_signed_header_names(request, scheme)) - {b"authorization"}
    fields = [("q", i) for i, _ in enumerate(_pairs(request.query))]
    fields += [("h", i) for i, (name, _) in enumerate(request.headers) if name in signed_headers]
    if not fields:
        return None
    where, index = fields[n % len(fields)]
    if where == "q":
        pairs = _pairs(request.query)
        name, _, old = pairs[index].partition(b"=")
        new = visible(junk)
        if unquote_to_bytes(new) == unquote_to_bytes(old):
            return None
        pairs[index] = name + b"=" + new
        return request.replace(query=b"&".join(pairs)), True
    headers = list(request.headers)
    name, old = headers[index]
    new = header_safe(junk)
    if new.strip() == old.strip():
        return None
    headers[index] = (name, new)
    return request.replace(headers=tuple(headers)), True


def garble_unsigned_header(
    request: RawRequest, scheme: str, n: int, junk: bytes
) -> tuple[RawRequest, bool] | None:
    """Replace the value of a header the scheme does not sign (never covered)."""
    signed_headers = set(_signed_header_names(request, scheme)) | {b"authorization"}
    indexes = [i for i, (name, _) in enumerate(request.headers) if name not in signed_headers]
    if not indexes:
        return None
    index = indexes[n % len(indexes)]
    headers = list(request.headers)
    headers[index] = (headers[index][0], header_safe(junk))
    return request.replace(headers=tuple(headers)), False


def add_unsigned_header(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool]:
    name = [b"x-custom", b"user-agent", b"x-request-id", b"cookie", b"x-forwarded-for"][n % 5]
    value = junk.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"") or b"1"
    return request.replace(headers=(*request.headers, (name, value))), False


def change_peer(request: RawRequest, scheme: str, n: int, junk: bytes) -> tuple[RawRequest, bool]:
    peers = ("203.0.113.9", "198.51.100.1", "192.0.2.10", "::1", "2001:db8::7")
    return request.replace(peer=peers[n % len(peers)], scheme="https" if n % 2 else "http"), False


COVERED: Sequence[Mutation] = (
    flip_signature,
    change_path,
    change_method,
    change_query_value,
    add_query_param,
    drop_query_param,
    change_signed_header,
    drop_signed_header,
    swap_access_key,
    garble_signed_field,
)
"""Each changes something the scheme signs. At most one is applied per case (two could cancel out), after
the others, which touch nothing it could restore: unsigned headers, the peer, or an appended body."""
NEUTRAL_OR_SCHEME_DEPENDENT: Sequence[Mutation] = (
    change_body,
    add_unsigned_header,
    change_peer,
    duplicate_authorization,
    garble_unsigned_header,
)


def _credential(auth: str, scheme: str) -> str:
    if scheme in ("roa",):
        return auth.partition(" ")[2].partition(":")[0]
    return auth.partition("Credential=")[2].partition(",")[0].partition("/")[0]


def _change(value: bytes, n: int, alphabet: bytes, tail: int = 0) -> bytes:
    """``value`` with one character replaced by a different one (within the last ``tail`` if given)."""
    if not value:
        return alphabet[:1]
    start = max(0, len(value) - tail) if tail else 0
    index = start + n % (len(value) - start)
    replacement = next(c for c in alphabet if c != value[index])
    return value[:index] + bytes([replacement]) + value[index + 1 :]


def _set_header(request: RawRequest, name: bytes, value: bytes) -> RawRequest:
    return request.replace(headers=tuple((k, value if k == name else v) for k, v in request.headers))


def later(world: World, seconds: float) -> None:
    """Move the world's clock (used between seeds so timestamps stay fresh)."""
    world.clock.now += timedelta(seconds=seconds)
