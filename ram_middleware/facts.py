"""RequestFacts: the framework-free description of one HTTP request.

Adapters (ASGI, WSGI, Flask, Starlette) build a :class:`RequestFacts` from their request object; everything
below them — signature verification, the condition context, the authorizer — reads only this. The raw path
and query stay exactly as they were on the wire (percent-encoded), because each signature scheme decodes and
re-encodes them in its own way; :attr:`RequestFacts.params` is the decoded view applications want.

Layer: beside :mod:`ram_middleware.identity` (imports only :mod:`ram_middleware.errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar, overload
from urllib.parse import quote, unquote_to_bytes, urlsplit

from . import errors

__all__ = [
    "RAW_BYTES",
    "SECRET_PARAMETERS",
    "UNREMEMBERED_PARAMETERS",
    "Pairs",
    "RequestFacts",
    "TextMemo",
    "decode_component",
    "decode_path",
    "from_own_pages",
    "from_own_site",
    "parse_pairs",
]

Pairs = tuple[tuple[str, str], ...]

_OWN_SITE = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/~!$&'()*+,;=:@"  # what a path keeps unescaped when it is rebuilt from decoded text
_FORM_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_TYPE = "multipart/form-data"
_T = TypeVar("_T")


def media_type_is(content_type: str, media_type: str) -> bool:
    """Whether a Content-Type names ``media_type``, read as liberally as any framework reads it: the
    frameworks' own parsers disagree on what to strip (python-multipart, for Starlette and FastAPI, strips
    Unicode whitespace such as U+00A0; Werkzeug does not), and a body the check did not take for a form or
    multipart body while the app parses it as one would carry parameters the check never saw."""
    value = content_type.strip()  # str.strip: every Unicode whitespace, as the most liberal parser
    if value[: len(media_type)].lower() == media_type:
        return True
    return value.partition(";")[0].strip().lower() == media_type


class _lazy(Generic[_T]):
    """Compute an attribute once per instance. Like functools.cached_property, but without the lock that
    Python 3.11 takes on every first access (measurable on the authentication hot path)."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self._func = func
        self._name = func.__name__
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _lazy[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _T | _lazy[_T]:
        if obj is None:
            return self
        value = self._func(obj)
        # A non-data descriptor: once stored in the instance dict, later reads never reach __get__.
        obj.__dict__[self._name] = value
        return value


_HEX_DIGITS = "0123456789ABCDEFabcdef"
# "%XX" of an ASCII byte -> its character; other escapes (UTF-8 bytes, malformed) take the bytes path.
_ASCII_ESCAPES = {a + b: chr(int(a + b, 16)) for a in "01234567" for b in _HEX_DIGITS}


def decode_component(raw: str | bytes) -> str:
    """Percent-decode one query/form component (``+`` is a space); the bytes must be UTF-8.

    Raises :class:`errors.InvalidParameter` (400) for bytes that are not UTF-8.
    """
    if isinstance(raw, str):
        if "+" in raw:
            raw = raw.replace("+", " ")
        if "%" not in raw:
            return raw
        # Base64 text (signatures, tokens) escapes only "+", "/" and "=": three C-level replaces decode it,
        # and any other escape ("%" left over) takes the general path from the untouched original.
        quick = raw.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
        if "%" not in quick:
            return quick
        head, *chunks = raw.split("%")
        decoded = [head]
        for chunk in chunks:
            char = _ASCII_ESCAPES.get(chunk[:2])
            if char is None:
                break
            decoded.append(char)
            decoded.append(chunk[2:])
        else:
            return "".join(decoded)
        data = raw.encode("utf-8", "surrogatepass")
    else:
        data = raw.replace(b"+", b" ")
    try:
        return unquote_to_bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidParameter(
            "Encoding", "The request carries percent-encoded bytes that are not UTF-8."
        ) from None


def decode_path(raw: str) -> str:
    """Percent-decode a path (``+`` stays ``+``); the bytes must be UTF-8, else InvalidParameter (400)."""
    if "%" not in raw:
        return raw
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidParameter(
            "Encoding", "The request path carries percent-encoded bytes that are not UTF-8."
        ) from None


RAW_BYTES = "The request {} carries characters that are not percent-encoded; send them as %XX UTF-8 escapes."
"""InvalidParameter.Encoding's message for raw non-ASCII bytes in a request part (``.format(part)``)."""

_RAW_SEMICOLON = (
    "The request form body carries a ';' that is not percent-encoded, which some frameworks read as a "
    "separator between parameters; send it as %3B."
)
"""InvalidParameter.Encoding's message for a raw ``;`` in a url-encoded form body."""

SECRET_PARAMETERS = frozenset(
    {"Password", "NewPassword", "OldPassword", "AuthenticationCode1", "AuthenticationCode2"}
)
"""Parameters whose values no memo keeps: the passwords and MFA codes the RAM API takes in a query or form
body (a one-time code is refused once used, but a wrong one is still the user's guess at a live code)."""

UNREMEMBERED_PARAMETERS = SECRET_PARAMETERS | {"Signature", "SignatureNonce"}
""":data:`SECRET_PARAMETERS`, and the RPC v1 parameters whose values never recur: kept in a memo, a
signature or a nonce would only push out the values that do recur (and make memos fill, and the garbage
collector run, sooner)."""


class TextMemo(dict[str, _T]):
    """``memo[text]`` is ``func(text)``, remembered: a pure function of short texts for the request path.

    A hit is one C-level dict subscript, cheaper than any Python call. Values that recur from request to
    request (parameter names, a user name, a timestamp within its second) hit; one-off values (nonces)
    pass through and are dropped with everything else when ``size`` entries exist. Texts longer than
    ``max_length`` are computed but never kept, so no large value (nor a SecurityToken) stays in memory;
    nor is any text whose result ``keep`` refuses (asked on a miss only). ``func`` may raise; nothing is
    remembered then.

    ``memo.read(text)`` is ``memo[text]`` for hot paths, and can be handed to ``map``: dict's own
    ``__getitem__`` bound once, whereas the ``memo[text]`` syntax on a dict subclass first looks
    ``__getitem__`` up through a Python-level slot on every read.
    """

    __slots__ = ("_func", "_keep", "_max_length", "_size", "read")

    def __init__(
        self,
        func: Callable[[str], _T],
        *,
        size: int = 1024,
        max_length: int = 64,
        keep: Callable[[_T], bool] | None = None,
    ) -> None:
        super().__init__()
        self._func = func
        self._size = size
        self._max_length = max_length
        self._keep = keep
        self.read: Callable[[str], _T] = super().__getitem__

    def __missing__(self, text: str) -> _T:
        value = self._func(text)
        if len(text) <= self._max_length and (self._keep is None or self._keep(value)):
            if len(self) >= self._size:
                self.clear()
            self[text] = value
        return value


def _decode_piece(piece: str) -> tuple[str, str]:
    """``name=value`` (the first ``=`` splits; none means an empty value) -> both decoded."""
    name, _, value = piece.partition("=")
    # Most names and many values need no decoding; skip the call for them.
    if "%" in value or "+" in value:
        value = decode_component(value)
    if "%" in name or "+" in name:
        name = decode_component(name)
    return name, value


def _worth_keeping(pair: tuple[str, str]) -> bool:
    return pair[0] not in UNREMEMBERED_PARAMETERS


# Query pieces recur (the same Action, Version, user name; a timestamp within its second), so their
# decodings are remembered: most of a query then parses with one dict lookup per piece. A password or an
# MFA code is decoded afresh each time rather than left in memory for later requests to find; a signature
# or a nonce too, as it never comes again.
_pieces: TextMemo[tuple[str, str]] = TextMemo(_decode_piece, keep=_worth_keeping)


def parse_pairs(raw: str | bytes) -> Pairs:
    """Split ``a=1&b=&c`` on ``&`` and the first ``=``, decoding names and values; empty pieces vanish."""
    if not raw:
        return ()
    if isinstance(raw, bytes):
        return tuple(
            (decode_component(name), decode_component(value))
            for name, _, value in (piece.partition(b"=") for piece in raw.split(b"&") if piece)
        )
    pieces = raw.split("&")
    if "" in pieces:
        pieces = list(filter(None, pieces))
    return tuple(map(_pieces.read, pieces))  # a C loop over the pieces


@dataclass(frozen=True)
class RequestFacts:
    """One request as received.

    ``path`` and ``query`` are raw (percent-encoded, as on the wire, without the ``?``); ``headers`` are the
    (name, value) pairs in the order received, names in any case; ``peer`` is the client IP text, ``scheme``
    ``"http"`` or ``"https"``; ``root_path`` is where the app is mounted (ASGI ``root_path``, WSGI
    ``SCRIPT_NAME``), percent-encoded like ``path`` and without a trailing ``/``: ``""`` at the host's root.
    Derived views are computed once, on first use.
    """

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)
    peer: str | None = None
    scheme: str = "http"
    root_path: str = ""

    def __repr__(self) -> str:
        # The query and the headers carry credentials (Signature, SecurityToken, the passwords and MFA codes
        # of the RAM API, Authorization, the console's cookies), and so may the body: a repr, as a log line
        # or a traceback's locals print it, names the parameters and headers without their values.
        names = [piece.partition("=")[0] for piece in self.query.split("&") if piece]
        return (
            f"RequestFacts(method={self.method!r}, path={self.path!r}, query_names={names!r}, "
            f"header_names={[name for name, _ in self.headers]!r}, body_bytes={len(self.body)}, "
            f"peer={self.peer!r}, scheme={self.scheme!r}, root_path={self.root_path!r})"
        )

    # --- headers ---------------------------------------------------------------------------------------

    @_lazy
    def header_map(self) -> Mapping[str, tuple[str, ...]]:
        """Lower-cased header name -> its values in the order received."""
        # A plain loop: cheaper than a comprehension (a call of its own) for a request's few headers.
        index = {}
        for name, value in self.headers:
            index[name.lower()] = (value,)
        if len(index) != len(self.headers):  # a repeated header: keep every value
            index = {}
            for name, value in self.headers:
                key = name.lower()
                index[key] = (*index.get(key, ()), value)
        return MappingProxyType(index)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        found = self.header_map.get(name.lower())
        return None if found is None else found[0]

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive), in the order received."""
        return self.header_map.get(name.lower(), ())

    @property
    def content_type(self) -> str:
        """The Content-Type header, or ``""``."""
        return self.header("content-type") or ""

    @property
    def is_form(self) -> bool:
        """Whether the body is ``application/x-www-form-urlencoded``."""
        return self._media_type_is(_FORM_TYPE)

    @property
    def is_multipart(self) -> bool:
        """Whether the body is ``multipart/form-data`` (which the check never parses)."""
        return self._media_type_is(_MULTIPART_TYPE)

    def _media_type_is(self, media_type: str) -> bool:
        return media_type_is(self.content_type, media_type)

    # --- decoded views ---------------------------------------------------------------------------------

    @_lazy
    def decoded_path(self) -> str:
        """The path percent-decoded (``+`` stays ``+`` in a path)."""
        return decode_path(self.path)

    @_lazy
    def query_pairs(self) -> Pairs:
        """Decoded (name, value) pairs of the query string, in order; InvalidParameter.Encoding (400) for
        a character that is not percent-encoded ASCII, which frameworks decode differently (Werkzeug as
        UTF-8, Starlette as Latin-1): the check and the app must read the same value."""
        if not self.query.isascii():
            raise errors.InvalidParameter("Encoding", RAW_BYTES.format("query"))
        return parse_pairs(self.query)

    @_lazy
    def form_pairs(self) -> Pairs:
        """Decoded (name, value) pairs of a form body; empty unless the body is form-encoded. Raw non-ASCII
        bytes are refused as in the query, and so is a raw ``;``: python-multipart (Starlette's and
        FastAPI's form parser) splits fields on it too in releases still in use (0.0.20 does), so
        ``Id=1;Id=2`` would reach the app as a second ``Id`` the check never read. Clients percent-encode
        it (``%3B``) in form bodies."""
        if not self.body or not self.is_form:
            return ()
        if not self.body.isascii():
            raise errors.InvalidParameter("Encoding", RAW_BYTES.format("form body"))
        if b";" in self.body:
            raise errors.InvalidParameter("Encoding", _RAW_SEMICOLON)
        return parse_pairs(self.body)

    @_lazy
    def param_pairs(self) -> Pairs:
        """Query pairs followed by form-body pairs (duplicates kept)."""
        if not self.body:
            return self.query_pairs
        form = self.form_pairs
        return self.query_pairs + form if form else self.query_pairs

    @_lazy
    def params(self) -> Mapping[str, str]:
        """Decoded parameters from the query and a form body; the first occurrence of a name wins."""
        # Without a body (nearly every signed request) param_pairs is query_pairs: set here rather than
        # through a lookup of its own.
        pairs = self.param_pairs if self.body else self.__dict__.setdefault("param_pairs", self.query_pairs)
        merged = dict(pairs)
        if len(merged) != len(pairs):  # a repeated name: keep its first value
            merged = {}
            for name, value in pairs:
                merged.setdefault(name, value)
        return MappingProxyType(merged)

    @property
    def full_path(self) -> str:
        """The path as the browser addressed it: :attr:`path`, with :attr:`root_path` in front when the
        server received it without the mount (a proxy that strips the mount and tells the server so)."""
        root, path = self.root_path, self.path
        if not root or (path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/")):
            return path
        return root + path

    # --- builders --------------------------------------------------------------------------------------

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any], body: bytes = b"") -> RequestFacts:
        """Facts from an ASGI HTTP ``scope`` and the full request ``body``."""
        raw_path = scope.get("raw_path")
        if raw_path and isinstance(raw_path, bytes):
            path = raw_path.decode("latin-1")
            if "?" in path:
                path = path.partition("?")[0]
        else:
            path = quote(str(scope.get("path") or "/"), safe=_PATH_SAFE)
        client = scope.get("client")
        method = scope.get("method", "GET")
        return _new_facts(
            cls,
            method if method.__class__ is str and method in _METHODS else str(method).upper(),
            path,
            bytes(scope.get("query_string") or b"").decode("latin-1"),
            _decode_headers(scope.get("headers") or ()),
            body,
            str(client[0]) if client else None,
            "https" if scope.get("scheme") in ("https", "wss") else "http",
            _root_path(root, "utf-8") if (root := scope.get("root_path")) else "",
        )

    @classmethod
    def from_wsgi(cls, environ: Mapping[str, Any], body: bytes = b"") -> RequestFacts:
        """Facts from a WSGI ``environ`` and the full request ``body``.

        The standard library's server (wsgiref) reports ``CONTENT_TYPE`` ``text/plain`` for a request that
        sent no Content-Type, which ACS3 and AWS SigV4 would then find unsigned and ROA would sign into its
        string. Under wsgiref a ``text/plain`` is therefore taken as absent on a bodiless request, and on a
        request with a body whose ``SignedHeaders`` (ACS3, SigV4) leave content-type out (decided here: a
        client that signs that exact header on a bodiless request is refused there, and no SDK does).
        """
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if isinstance(raw_uri, str) and raw_uri.startswith("/"):
            path = raw_uri.partition("?")[0]
        else:
            # PATH_INFO is the decoded path as latin-1 text of the original bytes (PEP 3333).
            decoded = (str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))) or "/"
            path = quote(decoded.encode("latin-1"), safe=_PATH_SAFE)
        headers = [
            (key[5:].replace("_", "-").lower(), str(value))
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
            if environ.get(key) and not (key == "CONTENT_TYPE" and _invented_content_type(environ)):
                headers.append((name, str(environ[key])))
        return _new_facts(
            cls,
            str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path,
            str(environ.get("QUERY_STRING", "")),
            tuple(headers),
            body,
            str(environ["REMOTE_ADDR"]) if environ.get("REMOTE_ADDR") else None,
            "https" if environ.get("wsgi.url_scheme") == "https" else "http",
            _root_path(root, "latin-1") if (root := environ.get("SCRIPT_NAME")) else "",
        )


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def from_own_site(facts: RequestFacts, *, unmarked: bool) -> bool:
    """Whether the browser says this request came from the site's own pages (``Sec-Fetch-Site:
    same-origin``) or from the user (``none``: an address typed or bookmarked); ``unmarked`` when it says
    nothing (a browser from before Fetch Metadata, or no browser). ``same-site`` is another origin — a
    sibling subdomain — and counts as another site: SameSite cookies do not keep it out."""
    site = facts.header("sec-fetch-site")
    return unmarked if site is None else site in _OWN_SITE


def from_own_pages(facts: RequestFacts, *, secure: bool) -> bool:
    """Whether a state-changing request with a browser credential (a session cookie, a console form) comes
    from this site's own pages: :func:`from_own_site` when the browser sends ``Sec-Fetch-Site``; else
    (a browser from before Fetch Metadata) its ``Origin``, or without one its ``Referer``'s origin, must be
    the request's own: ``https`` when ``secure`` (the public scheme, trusted proxies' reports included),
    else ``http``, with the ``Host`` header's host and port (default ports dropped).

    Decisions: a request saying none of the three is refused, failing closed: every browser sends
    ``Origin`` on a cross-origin POST and the console's pages send their ``Referer`` to themselves, so
    only a non-browser client is left, and one holding a session cookie can send ``Origin`` (API clients
    sign with an AccessKey and never come here). ``Origin: null`` (a sandboxed frame, a redirect across
    sites) is not this site. The host is the ``Host`` header's, which proxies pass on (the public scheme
    is all they are trusted to report), so a proxy that rewrites ``Host`` must also pass ``Sec-Fetch-Site``.
    """
    site = facts.header("sec-fetch-site")
    if site is not None:
        return site in _OWN_SITE
    host = _single(facts, "host")
    own = None if host is None else _origin_of(f"{'https' if secure else 'http'}://{host}", bare=True)
    if own is None:
        return False
    origins = facts.header_values("origin")
    if origins:
        return len(origins) == 1 and _origin_of(origins[0], bare=True) == own
    referer = _single(facts, "referer")
    return referer is not None and _origin_of(referer, bare=False) == own


def _single(facts: RequestFacts, name: str) -> str | None:
    """Header ``name``'s value when sent exactly once (a repeated one is not to be trusted), else None."""
    values = facts.header_values(name)
    return values[0] if len(values) == 1 else None


def _origin_of(url: str, *, bare: bool) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) ``url``; None when it is not one (``null`` included), names a
    user, or (``bare``: an ``Origin`` or a host) carries anything after the host and port."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:  # a port out of range or not a number, a malformed IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if bare and (parts.path or parts.query or parts.fragment):
        return None
    return scheme, host, _DEFAULT_PORTS[scheme] if port is None else port


def _invented_content_type(environ: Mapping[str, Any]) -> bool:
    """wsgiref's stand-in ``text/plain``: on a request without a body, or whose ``SignedHeaders`` leave
    content-type out (see :meth:`RequestFacts.from_wsgi`)."""
    if environ.get("CONTENT_TYPE") != "text/plain":
        return False
    if not str(environ.get("SERVER_SOFTWARE", "")).startswith("WSGIServer/"):
        return False
    if str(environ.get("CONTENT_LENGTH") or "0").strip() == "0" and "HTTP_TRANSFER_ENCODING" not in environ:
        return True  # no body
    signed = str(environ.get("HTTP_AUTHORIZATION", "")).partition("SignedHeaders=")[2].partition(",")[0]
    return bool(signed) and "content-type" not in signed.strip().split(";")


def _root_path(root: object, encoding: str) -> str:
    """A mount point as servers give it (decoded text: UTF-8 in ASGI, the latin-1 text of the bytes in
    WSGI) percent-encoded like a raw path, without a trailing ``/``."""
    text = str(root)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:  # a WSGI server that passed real text rather than PEP 3333's latin-1
        data = text.encode("utf-8", "surrogatepass")
    return quote(data, safe=_PATH_SAFE).rstrip("/")


def _new_facts(
    cls: type[RequestFacts], method: str, path: str, query: str, headers: tuple[tuple[str, str], ...],
    body: bytes, peer: str | None, scheme: str, root_path: str,
) -> RequestFacts:  # fmt: skip
    """A RequestFacts without the frozen dataclass ``__init__`` (one ``object.__setattr__`` per field
    costs more than the rest of building it); the fields are the same, so eq/hash/repr are unchanged."""
    if cls is not RequestFacts:  # a subclass may have its own __init__ / __post_init__
        return cls(method, path, query, headers, body, peer, scheme, root_path)
    facts = object.__new__(cls)
    facts.__dict__.update(
        method=method, path=path, query=query, headers=headers, body=body, peer=peer, scheme=scheme,
        root_path=root_path,
    )  # fmt: skip
    return facts


def _decode_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple([(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw])
