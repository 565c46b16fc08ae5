"""An HTTP client for the console tests: the same httpx API over the Flask (WSGI) or Starlette (ASGI) app.

Flask runs through ``httpx.WSGITransport``, Starlette through its ``TestClient`` (httpx over ASGI). Cookies
are kept like a browser keeps them; redirects are not followed, so tests see every hop.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import httpx

from ram_middleware.credentials.session import HOST_PREFIX

from .apps import make_app
from .world import ALIAS, PASSWORD, World

HTML = {"accept": "text/html,application/xhtml+xml"}
JSON = {"accept": "application/json"}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _test_client(app: Any, base_url: str, peer: str | None = None) -> httpx.Client:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient
    address = ("testclient", 50000) if peer is None else (peer, 50000)
    client: httpx.Client = TestClient(app, base_url=base_url, follow_redirects=False, client=address)
    return client


@dataclass
class Site:
    """One variant's app, console and world."""

    variant: str
    app: Any
    world: World
    mount: str = ""  # where the app sits on its host ("": at the root)

    def client(self, base_url: str = "http://testserver", peer: str | None = None) -> Browser:
        """A browser; ``peer`` is the TCP peer address the app sees (default: each client's own)."""
        if self.variant == "flask":
            transport = httpx.WSGITransport(app=self.app, remote_addr=peer or "127.0.0.1")
            http = httpx.Client(transport=transport, base_url=base_url, follow_redirects=False)
        else:
            http = _test_client(self.app, base_url, peer)
        return Browser(http, self.mount)


def make_site(variant: str, world: World) -> Site:
    app, _ = make_app(variant, world.ram)
    return Site(variant, app, world)


class Browser:
    """A cookie-keeping client with console helpers."""

    def __init__(self, http: httpx.Client, mount: str = "") -> None:
        self.http = http
        self.mount = mount

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", HTML)
        return self.http.get(path, **kwargs)

    @property
    def origin(self) -> str:
        """The site's origin, as a browser sends it in ``Origin``."""
        url = self.http.base_url
        return f"{url.scheme}://{url.netloc.decode('ascii')}"

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        """POST a form like a browser from one of the site's pages: with its ``Origin`` (unless the
        ``headers`` given name another)."""
        kwargs["headers"] = {"origin": self.origin, **kwargs.get("headers", HTML)}
        return self.http.post(path, data=data, **kwargs)

    def token(self, path: str) -> str:
        """The CSRF token of the form on page ``path``."""
        page = self.get(path)
        found = _TOKEN.search(page.text)
        assert found is not None, f"no form on {path}: {page.status_code} {page.text[:300]}"
        return found.group(1)

    def submit(self, path: str, data: dict[str, str], form_page: str | None = None) -> httpx.Response:
        """GET the form page (``path`` unless given), then POST ``data`` with its CSRF token."""
        return self.post(path, {"csrf_token": self.token(form_page or path), **data})

    def logon(
        self, user: str, password: str = PASSWORD, *, account: str = ALIAS, next_url: str = ""
    ) -> httpx.Response:
        data = {"account": account, "user_name": user, "password": password, "next": next_url}
        return self.submit(f"{self.mount}/console/logon", data)

    def logon_mfa(self, code: str) -> httpx.Response:
        return self.submit(f"{self.mount}/console/logon/mfa", {"code": code})

    @property
    def session(self) -> str | None:
        """The session cookie kept for this site (``__Host-ram_session`` over HTTPS)."""
        cookies = self.http.cookies
        return cookies.get("ram_session") or cookies.get(HOST_PREFIX + "ram_session")

    def set_cookie(self, name: str, value: str, path: str = "/") -> None:
        """Plant a cookie as if the server had set it (``testserver`` is stored as ``testserver.local``)."""
        self.http.cookies.set(name, value, domain="testserver.local", path=path)

    def with_session(self, path: str, value: str, headers: dict[str, str] = HTML) -> httpx.Response:
        """GET ``path`` presenting ``value`` as the session cookie (and no other cookie)."""
        fresh = httpx.Client(transport=self.http._transport, base_url=self.http.base_url)
        with fresh:
            return fresh.get(path, headers={**headers, "cookie": f"ram_session={value}"})
