"""Send raw requests straight into an ASGI or WSGI app, bypassing every HTTP client's own validation.

A real server hands an app whatever bytes a client managed to send (within the server's own parser), so the
front door is fuzzed with scopes and environs built by hand: raw paths and query strings with broken percent
escapes and non-UTF-8 bytes, repeated headers, bodies that do not match their declared length. A driver never
raises: an exception escaping the app is reported as a 500 reply carrying it, so a fuzz invariant sees it.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

HANG_SECONDS = 20.0
"""A request the app has not answered within this long counts as a hang (an invariant failure)."""


@dataclass(frozen=True)
class RawRequest:
    """One HTTP request as bytes on the wire (after the server's framing): nothing is normalised."""

    method: str
    raw_path: bytes
    query: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = field(default=b"", repr=False)
    peer: str = "127.0.0.1"
    scheme: str = "http"
    chunks: int = 1  # how many http.request messages (ASGI) the body arrives in

    def header(self, name: bytes) -> bytes | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def replace(self, **changes: Any) -> RawRequest:
        return RawRequest(**{**self.__dict__, **changes})


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes
    error: BaseException | None = None  # what escaped the app, if anything

    def describe(self) -> str:
        shown = self.body[:300]
        return f"{self.status} {self.headers.get('content-type', '')} {shown!r} error={self.error!r}"


class AsgiDriver:
    """Calls an ASGI app on a private event loop (one per driver; close it when done)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def send(self, request: RawRequest) -> RawReply:
        return self.loop.run_until_complete(self._send(request))

    async def _send(self, request: RawRequest) -> RawReply:
        sent: list[Message] = []
        pieces = _split(request.body, request.chunks)

        async def receive() -> Message:
            if pieces:
                chunk = pieces.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(pieces)}
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        error: BaseException | None = None
        try:
            await asyncio.wait_for(self.app(asgi_scope(request), receive, send), HANG_SECONDS)
        except TimeoutError as exc:
            error = exc
        except Exception as exc:  # reported through the reply: the invariant decides
            error = exc
        return _asgi_reply(sent, error)


def asgi_scope(request: RawRequest) -> dict[str, Any]:
    """The scope a server like uvicorn builds: ``path`` decoded, ``raw_path`` as received.

    A client always frames a body (Content-Length or chunked); when the request names neither, the length
    is added as a client would. Whatever framing headers the request does carry are passed on unchanged.
    """
    headers = [(name.lower(), value) for name, value in request.headers]
    framed = any(name in (b"content-length", b"transfer-encoding") for name, _ in headers)
    if request.body and not framed:
        headers.append((b"content-length", str(len(request.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": unquote(request.raw_path.decode("latin-1")),
        "raw_path": request.raw_path,
        "query_string": request.query,
        "root_path": "",
        "headers": headers,
        "client": (request.peer, 50000) if request.peer else None,
        "server": ("testserver", 80),
        "state": {},
    }


def _split(body: bytes, chunks: int) -> list[bytes]:
    if chunks <= 1 or len(body) < chunks:
        return [body]
    size = -(-len(body) // chunks)
    return [body[i : i + size] for i in range(0, len(body), size)]


def _asgi_reply(sent: list[Message], error: BaseException | None) -> RawReply:
    start = next((m for m in sent if m.get("type") == "http.response.start"), None)
    if start is None:
        return RawReply(500, {}, b"", error or RuntimeError("the app sent no response"))
    headers = {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in start["headers"]}
    body = b"".join(bytes(m.get("body", b"")) for m in sent if m.get("type") == "http.response.body")
    status = int(start["status"])
    # A response started, then the app raised: the server would cut the connection; treat it as a 500.
    return RawReply(500 if error is not None else status, headers, body, error)


class WsgiDriver:
    """Calls a WSGI app with an environ built like a PEP 3333 server builds it."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def close(self) -> None:
        pass

    def send(self, request: RawRequest) -> RawReply:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started.append((status, headers))
            return lambda data: None

        try:
            result = self.app(wsgi_environ(request), start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if callable(close):
                    close()
        except Exception as exc:
            return RawReply(500, {}, b"", exc)
        if not started:
            return RawReply(500, {}, b"", RuntimeError("start_response was never called"))
        status, headers = started[-1]
        return RawReply(int(status.split(" ", 1)[0]), {k.lower(): v for k, v in headers}, body)


def wsgi_environ(request: RawRequest) -> dict[str, Any]:
    """PEP 3333 environ: PATH_INFO is the decoded path as latin-1 text; headers joined like servers do."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(request.raw_path).decode("latin-1"),
        "QUERY_STRING": request.query.decode("latin-1"),
        "RAW_URI": request.raw_path.decode("latin-1")
        + ("?" + request.query.decode("latin-1") if request.query else ""),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if request.peer:
        environ["REMOTE_ADDR"] = request.peer
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT_LENGTH":
            continue  # a server frames the body itself and reports its real length below
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["CONTENT_LENGTH"] = str(len(request.body)) if request.body else ""
    return environ
