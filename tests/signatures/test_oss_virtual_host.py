"""OSS virtual-hosted-style requests with ``oss_domains`` (oss2's default for a host-name endpoint:
``http://<bucket>.<domain>/key``) and CNAME-addressed ones with ``oss_cnames`` (oss2 ``is_cname=True``:
``http://<cname-host>/key``): header-signed V1 and V4, V1 and V4 presigned URLs, Host edge cases,
properties, live oss2. Clocks and credentials come from the presign tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import oss2
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.authenticate import Authenticator
from ram_middleware.credentials.oss import (
    resource_path,
    signed_resource_path,
    validated_cnames,
    validated_domains,
)
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard
from tests.live_server import sdk_environment, serve_asgi

from .app import SignatureApp
from .conftest import LiveServer
from .identities import ALICE, OPS_SESSION, MemoryResolver
from .sdk_clients import Creds, error_code
from .signing import NOW, facts_from, signed
from .test_oss_presign import BUCKET, LONG_TERM, TEMPORARY, _oss2_clock
from .test_oss_presign_v4 import _oss2_v4_clock

DOMAIN = "oss.example.com"
ENDPOINT = f"http://{DOMAIN}"
VHOST = f"{BUCKET}.{DOMAIN}"
KEY = "dir/a+b c.txt"
CNAME = "files.example.com"  # a bucket's own host name, under neither DOMAIN nor any other domain here
CNAMES = {CNAME: BUCKET}


def authenticator(
    domains: tuple[str, ...] = (DOMAIN,), at: datetime | None = NOW, cnames: Mapping[str, str] | None = None
) -> Authenticator:
    """An Authenticator over the test identities with ``domains`` and ``cnames`` (``at`` None: the real
    clock)."""
    clock = (lambda: datetime.now(UTC)) if at is None else (lambda: at)
    return Authenticator(MemoryResolver(), MemoryGuard(), clock=clock, oss_domains=domains, oss_cnames=cnames)


def refused(
    facts: RequestFacts,
    code: str,
    *,
    domains: tuple[str, ...] = (DOMAIN,),
    at: datetime | None = NOW,
    cnames: Mapping[str, str] | None = None,
) -> errors.AuthenticationError:
    with pytest.raises(errors.AuthenticationError) as caught:
        authenticator(domains, at, cnames).authenticate(facts)
    assert caught.value.code == code
    assert 400 <= caught.value.status < 500
    return caught.value


def with_host(facts: RequestFacts, *hosts: str) -> RequestFacts:
    """``facts`` with its Host header(s) replaced by ``hosts`` (none: no Host at all)."""
    kept = tuple((name, value) for name, value in facts.headers if name.lower() != "host")
    return RequestFacts(
        facts.method, facts.path, facts.query, kept + tuple(("host", host) for host in hosts), facts.body
    )


# --- capturing what oss2 sends (no DNS, no network) ------------------------------------------------------


class _Sent(Exception):
    """Raised by the capturing adapter once it has the request (not a requests error: oss2 won't retry)."""


class _Capture(requests.adapters.BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        raise _Sent

    def close(self) -> None:
        pass


def _auth(creds: Creds, version: str) -> Any:
    provider = oss2.credentials.StaticCredentialsProvider(creds.access_key_id, creds.secret, creds.token)
    return oss2.ProviderAuthV4(provider) if version == "v4" else oss2.ProviderAuth(provider)


def _bucket(
    creds: Creds, version: str, endpoint: str, name: str = BUCKET, *, is_cname: bool = False, **options: Any
) -> oss2.Bucket:
    return oss2.Bucket(
        _auth(creds, version), endpoint, name, is_cname=is_cname, region="cn-hangzhou", **options
    )


def sent_by_oss2(
    call: Callable[[oss2.Bucket], object],
    creds: Creds = LONG_TERM,
    version: str = "v1",
    *,
    endpoint: str = ENDPOINT,
    bucket: str = BUCKET,
    is_cname: bool = False,
) -> RequestFacts:
    """The request oss2 sends for ``call(bucket)``, as the server would see it (Host from the URL)."""
    capture = _Capture()
    session = oss2.Session(adapter=capture)
    target = _bucket(creds, version, endpoint, bucket, is_cname=is_cname, session=session)
    with pytest.raises(_Sent):
        call(target)
    (prepared,) = capture.sent
    url = str(prepared.url)
    raw: Any = prepared.body or b""  # bytes, text, or oss2's file adapter for an upload
    body = raw if isinstance(raw, bytes) else raw.encode() if isinstance(raw, str) else bytes(raw.read())
    headers = [("host", urlsplit(url).netloc), *prepared.headers.items()]
    return facts_from(str(prepared.method), url, headers, body)


def presigned(
    version: str, creds: Creds = LONG_TERM, *, endpoint: str = ENDPOINT, is_cname: bool = False
) -> RequestFacts:
    """A V1 or V4 URL for KEY signed at NOW by oss2 ``Bucket.sign_url`` for ``endpoint`` (default
    virtual-hosted)."""
    with _oss2_clock(NOW), _oss2_v4_clock(NOW):
        url = _bucket(creds, version, endpoint, is_cname=is_cname).sign_url("GET", KEY, 60)
    return facts_from("GET", url, [("host", urlsplit(url).netloc)])


_HEADER_CALLS: dict[str, Callable[[oss2.Bucket], object]] = {
    "get-object": lambda b: b.get_object(KEY),
    "put-object": lambda b: b.put_object(KEY, b"hello", headers={"x-oss-meta-author": "alice"}),
    "get-bucket-acl": lambda b: b.get_bucket_acl(),  # path "/", ?acl
    "list-objects": lambda b: b.list_objects(prefix="dir/"),  # path "/", unsigned query (V1)
}


CASES = [f"{version}-{op}" for version in ("v1", "v4") for op in (*_HEADER_CALLS, "presigned")]


# Per addressing style: oss2's endpoint and is_cname, the Host it sends, and the Authenticator settings
# that verify it (domains, cnames).
STYLES: dict[str, tuple[dict[str, Any], str, tuple[tuple[str, ...], Mapping[str, str] | None]]] = {
    "virtual-hosted": ({}, VHOST, ((DOMAIN,), None)),
    "cname": ({"endpoint": f"http://{CNAME}", "is_cname": True}, CNAME, ((), CNAMES)),
}


def case(name: str, style: str = "virtual-hosted") -> tuple[RequestFacts, datetime | None, str]:
    """The request, the time to verify it at (None: now, oss2's own clock) and its scheme."""
    version, _, op = name.partition("-")
    addressing = STYLES[style][0]
    if op == "presigned":
        return presigned(version, **addressing), NOW, f"oss-{version}-query"
    return sent_by_oss2(_HEADER_CALLS[op], version=version, **addressing), None, f"oss-{version}"


# --- oss2 virtual-hosted or CNAME: verifies with its setting, not without -------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", CASES)
def test_oss2_request_authenticates_only_with_its_host_configured(name: str, style: str) -> None:
    facts, at, scheme = case(name, style)
    _, host, (domains, cnames) = STYLES[style]
    assert facts.header("host") == host
    assert not facts.path.startswith(f"/{BUCKET}")  # the bucket is in the Host only
    principal = authenticator(domains, at, cnames).authenticate(facts)
    assert principal is not None and (principal.arn, principal.auth_method) == (ALICE.arn, scheme)
    refused(facts, "SignatureDoesNotMatch", domains=(), at=at)  # neither configured: path style, as before
    refused(facts, "SignatureDoesNotMatch", domains=("other.example.com",), at=at)
    refused(facts, "SignatureDoesNotMatch", domains=(), at=at, cnames={"other.example.com": BUCKET})
    # The Host as a CNAME of another bucket: the CNAME wins, the signature was for BUCKET.
    refused(facts, "SignatureDoesNotMatch", domains=domains, at=at, cnames={host: "otherbucket"})
    # Among several domains, the Host's own one counts (a parent domain does not swallow its label), and
    # a CNAME wins over the virtual-host rule (example.com would read files.example.com as bucket "files").
    assert authenticator(("example.com", DOMAIN), at, cnames).authenticate(facts) is not None


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_sts_credentials(version: str) -> None:
    facts = sent_by_oss2(lambda b: b.get_object(KEY), TEMPORARY, version)
    principal = authenticator(at=None).authenticate(facts)
    assert principal is not None and principal.arn == OPS_SESSION.arn
    presign = presigned(version, TEMPORARY)
    principal = authenticator().authenticate(presign)
    assert principal is not None and principal.arn == OPS_SESSION.arn


def test_the_signed_resource_is_bucket_and_key() -> None:
    auth = authenticator()
    v1 = auth.parse(presigned("v1"))
    assert v1 is not None and v1.string_to_sign.endswith(f"\n/{BUCKET}/{KEY}")
    v4 = auth.parse(presigned("v4"))
    assert v4 is not None and v4.parts["canonical_request"].startswith(f"GET\n/{BUCKET}/dir/a%2Bb%20c.txt\n")
    acl = auth.parse(sent_by_oss2(lambda b: b.get_bucket_acl()))
    assert acl is not None and acl.parts["canonicalized_resource"] == f"/{BUCKET}/?acl"
    acl4 = auth.parse(sent_by_oss2(lambda b: b.get_bucket_acl(), version="v4"))
    assert acl4 is not None and acl4.parts["canonical_request"].startswith(f"GET\n/{BUCKET}/\nacl\n")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("path", "resource"),
    [("/", f"/{BUCKET}/"), ("", f"/{BUCKET}/"), ("/k", f"/{BUCKET}/k"), ("//k/", f"/{BUCKET}//k/")],
)
def test_resource_from_host_and_path(path: str, resource: str, style: str) -> None:
    _, host, (domains, cnames) = STYLES[style]
    facts = RequestFacts("GET", path, "", (("Host", host),))
    assert signed_resource_path(facts, frozenset(domains), cnames or {}) == resource
    assert signed_resource_path(facts) == resource_path(path)  # neither: path style, as before


# --- the Host header ------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("form", ["{}:8080", "{upper}", "{title}:443", "{}:", "{}.", "{upper}.:80"])
def test_host_port_case_and_a_trailing_dot_do_not_matter(version: str, form: str, style: str) -> None:
    _, name, (domains, cnames) = STYLES[style]
    host = form.format(name, upper=name.upper(), title=name.title())
    for op in ("presigned", "get-object"):
        facts, at, _ = case(f"{version}-{op}", style)
        assert authenticator(domains, at, cnames).authenticate(with_host(facts, host)) is not None


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize(
    "hosts",
    [
        (f"{BUCKET}.other.example.com",),  # not a configured domain: path style
        (DOMAIN,),  # the domain itself: path style
        (f"otherbucket.{DOMAIN}",),  # another bucket than the one signed
        (f"x.{VHOST}",),  # a label under the bucket host
        (f"[{BUCKET}]:80",),
        (VHOST.replace("k", "\u212a"),),  # KELVIN SIGN lower-cases to "k": not folded into a bucket
        ("127.0.0.1:18765",),
        (),  # no Host at all: path style
    ],
)
def test_another_host_breaks_the_signature(version: str, hosts: tuple[str, ...]) -> None:
    refused(with_host(presigned(version), *hosts), "SignatureDoesNotMatch")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_two_host_headers_are_refused(version: str) -> None:
    error = refused(with_host(presigned(version), VHOST, VHOST), "IncompleteSignature")
    assert error.status == 400 and "Host" in error.message


@pytest.mark.parametrize("label", ["ab", "a" * 64, "-bucket", "bucket-", "my_bucket", "bück", "", "a.b", "*"])
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_a_label_that_is_no_bucket_name_leaves_the_request_path_style(label: str, version: str) -> None:
    # Signed path style (oss2 against an IP endpoint, path /examplebucket/key): it still verifies.
    path_style = presigned(version, endpoint="http://127.0.0.1:18765")
    assert path_style.path.startswith(f"/{BUCKET}/")
    host = f"{label}.{DOMAIN}"
    assert authenticator().authenticate(with_host(path_style, host)) is not None
    assert signed_resource_path(with_host(path_style, host), frozenset({DOMAIN})).startswith(f"/{BUCKET}/")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_path_style_is_unchanged_with_domains(version: str) -> None:
    path_style = presigned(version, endpoint="http://127.0.0.1:18765")
    for hosts in (("127.0.0.1:18765",), (DOMAIN,), ("storage.internal",), ()):
        assert authenticator().authenticate(with_host(path_style, *hosts)) is not None
    # Sent path style to a bucket host instead: the resource becomes /bucket/bucket/key, which was not signed.
    refused(with_host(path_style, VHOST), "SignatureDoesNotMatch")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_the_addressing_style_is_not_signed(version: str) -> None:
    # As at OSS: the same bucket and key re-addressed path style verify too (the app then sees the bucket).
    facts = presigned(version)
    moved = RequestFacts("GET", f"/{BUCKET}{facts.path}", facts.query, (("host", "127.0.0.1:18765"),))
    assert authenticator().authenticate(moved) is not None
    assert authenticator(()).authenticate(moved) is not None


def test_other_schemes_ignore_the_host() -> None:
    # RPC does not sign the Host: with domains configured, any Host (even two) still changes nothing.
    for hosts in ((VHOST,), (VHOST, VHOST), ()):
        assert authenticator().authenticate(with_host(signed("v1"), *hosts)) is not None
    assert authenticator().authenticate(signed("acs3")) is not None


# --- configuration --------------------------------------------------------------------------------------


def test_domains_are_lower_cased_and_deduplicated() -> None:
    assert validated_domains([" OSS.Example.com", "oss.example.com", "oss.test", "localhost"]) == (
        "oss.example.com",
        "oss.test",
        "localhost",
    )
    auth = Authenticator(MemoryResolver(), MemoryGuard(), oss_domains=["OSS.Example.COM"])
    assert auth.oss_domains == (DOMAIN,)
    assert Authenticator(MemoryResolver(), MemoryGuard()).oss_domains == ()


def test_cnames_from_a_map_or_text_hosts_lower_cased() -> None:
    wanted = {CNAME: BUCKET, "cdn.example.com": "pub"}
    assert validated_cnames(" Files.Example.COM = examplebucket,, cdn.example.com=pub ") == wanted
    assert validated_cnames({"FILES.example.com": BUCKET, "cdn.example.com": "pub"}) == wanted
    auth = Authenticator(
        MemoryResolver(), MemoryGuard(), oss_domains=[DOMAIN], oss_cnames={"Files.Example.com": BUCKET}
    )
    assert auth.oss_cnames == CNAMES
    assert Authenticator(MemoryResolver(), MemoryGuard()).oss_cnames == {}


@pytest.mark.parametrize(
    "entries",
    [
        {CNAME: "ab"},  # no bucket name
        {CNAME: "Examplebucket"},
        {CNAME: "my_bucket"},
        {CNAME: ""},
        {CNAME: BUCKET, CNAME.upper(): "pub"},  # the same host twice
        f"{CNAME}=pub, {CNAME}={BUCKET}",
        f"{CNAME.upper()}=pub,{CNAME}={BUCKET}",
        f"{CNAME}",  # no "="
        f"{CNAME}=pub,cdn.example.com",
        {DOMAIN: BUCKET},  # also an OSS domain
        f"{DOMAIN.upper()}={BUCKET}",
    ],
)
def test_a_bad_cname_is_refused_at_start_up(entries: Mapping[str, str] | str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        validated_cnames(entries, [DOMAIN])
    assert caught.value.code == "InvalidParameter.OssCnames"
    if not isinstance(entries, str):
        with pytest.raises(errors.InvalidParameter):
            Authenticator(MemoryResolver(), MemoryGuard(), oss_domains=[DOMAIN.upper()], oss_cnames=entries)


@pytest.mark.parametrize("kind", ["domain", "cname"])
@pytest.mark.parametrize(
    "entry",
    [
        "",
        "http://oss.example.com",
        "oss.example.com:80",
        "*.oss.example.com",
        ".oss.example.com",
        "oss.example.com.",
        "oss..example.com",
        "127.0.0.1",
        "[::1]",
        "-oss.example.com",
        "oss-.example.com",
        "oss_example.com",
        "oss.example.com/path",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
    ],
)
def test_a_bad_domain_or_cname_host_is_refused_at_start_up(entry: str, kind: str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        if kind == "domain":
            Authenticator(MemoryResolver(), MemoryGuard(), oss_domains=["oss.test", entry])
        else:
            Authenticator(MemoryResolver(), MemoryGuard(), oss_cnames={"files.test": BUCKET, entry: BUCKET})
    assert caught.value.code == (
        "InvalidParameter.OssDomains" if kind == "domain" else "InvalidParameter.OssCnames"
    )


# --- properties -----------------------------------------------------------------------------------------

_labels = st.from_regex(r"[a-z0-9][a-z0-9-]{1,10}[a-z0-9]", fullmatch=True)
_hosts = st.one_of(
    st.text(max_size=40),
    st.builds(lambda label, domain: f"{label}.{domain}", st.text(max_size=12), st.sampled_from([DOMAIN])),
    st.builds(
        lambda label, domain, port: f"{label}.{domain}{port}",
        st.one_of(_labels, st.just(BUCKET), st.just(BUCKET.upper())),
        st.sampled_from([DOMAIN, DOMAIN.upper(), "example.com", "oss.example.co"]),
        st.sampled_from(["", ":80", ":x", ":"]),
    ),
)
_SIGNED = {version: presigned(version) for version in ("v1", "v4")}


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from(["v1", "v4"]), hosts=st.lists(_hosts, max_size=2))
def test_any_host_is_a_4xx_unless_it_names_the_signed_bucket(version: str, hosts: list[str]) -> None:
    facts = with_host(_SIGNED[version], *hosts)
    genuine = len(hosts) == 1 and hosts[0].isascii() and hosts[0].partition(":")[0].lower() == VHOST
    try:
        principal = authenticator().authenticate(facts)
    except errors.AuthenticationError as error:
        assert 400 <= error.status < 500
        assert not genuine
        return
    assert genuine and principal is not None


@settings(max_examples=60, deadline=None)
@given(version=st.sampled_from(["v1", "v4"]), signed_for=_labels)
def test_a_request_signed_for_another_bucket_never_authenticates(version: str, signed_for: str) -> None:
    facts = sent_by_oss2(lambda b: b.get_object(KEY), version=version, bucket=signed_for)
    assert facts.header("host") == f"{signed_for}.{DOMAIN}"
    assert authenticator(at=None).authenticate(facts) is not None
    if signed_for != BUCKET:
        refused(with_host(facts, VHOST), "SignatureDoesNotMatch", at=None)


# --- live: oss2 over HTTP, Host <bucket>.oss.test ------------------------------------------------------

LIVE_DOMAIN = "oss.test"
LIVE_CNAME = "files.test"


class _ToLoopback(requests.adapters.HTTPAdapter):
    """Sends every request to 127.0.0.1 on the URL's port, keeping the URL's host in the Host header
    (stands in for DNS resolving *.oss.test)."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(request.url))
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))
        return super().send(request, *args, **kwargs)


@pytest.fixture(scope="module")
def vhost_server() -> Iterator[LiveServer]:
    """A live SignatureApp whose Authenticator knows the ``oss.test`` domain and the ``files.test`` CNAME
    (the shared one knows neither)."""
    resolver = MemoryResolver()
    app = SignatureApp(resolver)
    app.authenticator = Authenticator(
        resolver,
        MemoryGuard(),
        clock=lambda: datetime.now(UTC),
        oss_domains=[LIVE_DOMAIN],
        oss_cnames={LIVE_CNAME: BUCKET},
    )
    with sdk_environment(), serve_asgi(app) as address:
        host, port = address.rsplit(":", 1)
        yield LiveServer(app, resolver, host, int(port))


def _live_bucket(
    server: LiveServer, version: str, domain: str = LIVE_DOMAIN, *, is_cname: bool = False
) -> oss2.Bucket:
    session = oss2.Session(adapter=_ToLoopback())
    session.session.trust_env = False  # no proxy from the environment for *.oss.test
    endpoint = f"http://{domain}:{server.port}"
    return _bucket(LONG_TERM, version, endpoint, is_cname=is_cname, session=session)


@pytest.mark.parametrize("is_cname", [False, True], ids=["virtual-hosted", "cname"])
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_live_oss2(vhost_server: LiveServer, version: str, is_cname: bool) -> None:
    host = LIVE_CNAME if is_cname else f"{BUCKET}.{LIVE_DOMAIN}"
    bucket = _live_bucket(vhost_server, version, LIVE_CNAME if is_cname else LIVE_DOMAIN, is_cname=is_cname)
    result = bucket.get_object(KEY)
    assert result.read() == b"hello" and result.headers["x-ram-principal"] == ALICE.arn
    received = vhost_server.app.recorded[-1]
    assert received.header("host") == f"{host}:{vhost_server.port}"
    assert received.path == "/dir%2Fa%2Bb%20c.txt"  # oss2 escapes the key whole; no bucket in the path
    assert bucket.put_object(KEY, b"data").status == 200
    url = bucket.sign_url("GET", KEY, 60)
    assert url.startswith(f"http://{host}:")
    fetched = bucket.get_object_with_url(url)
    assert fetched.read() == b"hello" and fetched.headers["x-ram-principal"] == ALICE.arn


@pytest.mark.parametrize("is_cname", [False, True], ids=["virtual-hosted", "cname"])
def test_live_unknown_domain_is_a_mismatch(vhost_server: LiveServer, is_cname: bool) -> None:
    bucket = _live_bucket(vhost_server, "v1", domain="elsewhere.test", is_cname=is_cname)
    with pytest.raises(oss2.exceptions.OssError) as caught:
        bucket.get_object(KEY)
    assert error_code(caught.value) == "SignatureDoesNotMatch"
