"""One way to send a (signed) request to any of the test apps: Starlette's TestClient or WebTest."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import webtest

from ram_middleware.client import RequestSigner

from . import apps
from .world import World

Pairs = Sequence[tuple[str, str]]


def client_class() -> Any:
    """Starlette's TestClient; it warns about httpx vs httpx2 once, at import (not our concern here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient
    return TestClient


def websocket_denial_class() -> Any:
    """``WebSocketDenialResponse``: what TestClient raises when a handshake is answered with an HTTP error."""
    client_class()  # imported once with its warning silenced; this import then finds it loaded
    from starlette.testclient import WebSocketDenialResponse

    return WebSocketDenialResponse


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        data = self.json()
        return data.get("Code") if isinstance(data, dict) else None


@dataclass
class Harness:
    """Sends requests to one app. ``kind`` is ``asgi`` or ``wsgi``; ``name`` the variant."""

    name: str
    kind: str
    app: Any
    world: World
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        *,
        signer: RequestSigner | None = None,
        query: Pairs = (),
        body: bytes = b"",
        content_type: str | None = None,
        headers: Pairs = (),
        peer: str = "127.0.0.1",
        scheme: str = "http",
    ) -> Reply:
        host = (
            "testserver" if self.kind == "asgi" else ("localhost:80" if scheme == "http" else "localhost:443")
        )
        url = f"{scheme}://{host}{path}"
        if query:
            url += "?" + urlencode(list(query), quote_via=quote)
        sent = list(headers)
        if content_type is not None:
            sent.append(("Content-Type", content_type))
        if signer is not None:
            signed = signer.sign(method, url, sent, body)
            url = signed.url
            sent += [(name, value) for name, value in signed.headers.items() if name != "host"]
        if self.kind == "asgi":
            return self._asgi(method, url, sent, body, peer, scheme)
        return self._wsgi(method, url, sent, body, peer)

    def _asgi(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes, peer: str, scheme: str
    ) -> Reply:
        client = self.client(peer, scheme)
        # A redirect comes back as it is, as WebTest returns it: a test follows it with a signed request.
        response = client.request(method, url, headers=headers, content=body, follow_redirects=False)
        return Reply(
            response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
        )

    def client(self, peer: str = "127.0.0.1", scheme: str = "http") -> Any:
        key = (peer, scheme)
        if key not in self._clients:
            self._clients[key] = client_class()(
                self.app, base_url=f"{scheme}://testserver", client=(peer, 50000)
            )
        return self._clients[key]

    def _wsgi(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes, peer: str) -> Reply:
        test_app = webtest.TestApp(self.app, extra_environ={"REMOTE_ADDR": peer})
        response = test_app.request(url, method=method, headers=headers, body=body, expect_errors=True)
        return Reply(response.status_int, {k.lower(): v for k, v in response.headerlist}, response.body)


Builder = Callable[..., Any]
VARIANTS: dict[str, tuple[str, Builder, dict[str, Any]]] = {
    "starlette": ("asgi", apps.starlette_app, {}),
    "starlette-offload": ("asgi", apps.starlette_app, {"offload": True}),
    "fastapi": ("asgi", apps.fastapi_app, {}),
    "flask": ("wsgi", apps.flask_app, {}),
    "wsgi-table": ("wsgi", apps.wsgi_app, {}),
}


def make_harness(name: str, world: World, **options: Any) -> Harness:
    kind, builder, defaults = VARIANTS[name]
    return Harness(name, kind, builder(world.ram, **{**defaults, **options}), world)
