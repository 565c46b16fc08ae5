"""Return-URL checks, CSRF tokens and form parsing."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from ram_middleware.console import starlette as console_starlette
from ram_middleware.console.safety import CsrfRejected, CsrfTokens, is_browser, safe_next
from ram_middleware.console.web import FormTooLarge, parse_form
from ram_middleware.facts import RequestFacts
from tests.live_server import stalling_receive

from .apps import make_app
from .world import World

HOME = "/console/"
MOUNTED_HOME = "/app/console/"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "target",
    ["/reports", "/reports?x=1&y=%2F%2F", "/a/b#frag", "/%2F%2Fevil.example", "/console/mfa?next=%2Fdanger"],
)
def test_same_origin_paths_are_kept(target: str) -> None:
    assert safe_next(target, HOME) == target


@pytest.mark.parametrize(
    "target",
    [None, "", "reports", "//evil.example", "///evil.example", "https://evil.example/", "http:evil.example",
     "/\\evil.example", "\\/evil.example", "/\t/evil.example", "/\n/evil.example", "/x\r\nSet-Cookie: a=b",
     " /reports", "javascript:alert(1)", "data:text/html,x", "/" + "a" * 3000, "/\x00", "/a b",
     "/..//evil.example", "/x/./..//evil.example", "/.%2E//evil.example", "/%2e/x"],
)  # fmt: skip
def test_everything_else_falls_back(target: str | None) -> None:
    assert safe_next(target, HOME) == HOME


def test_safe_next_below_a_mount() -> None:
    for kept in ("/app", "/app?x=1", "/app/", "/app/reports?next=%2Fx", "/app/a..b/c"):
        assert safe_next(kept, MOUNTED_HOME, "/app") == kept
    for refused in ("/", "/ap", "/apple", "/app/..", "/app/./x", "/app/%2e%2E/x", "//app", "/\\app"):
        assert safe_next(refused, MOUNTED_HOME, "/app") == MOUNTED_HOME
    assert safe_next("/anything", HOME) == "/anything"  # no mount: any same-origin path, as before


def test_csrf_token_is_bound_to_cookie_and_session() -> None:
    tokens = CsrfTokens(b"k" * 32)
    nonce = tokens.new_nonce()
    token = tokens.token(nonce, "sid-1")
    tokens.check(nonce, token, "sid-1")
    for cookie, submitted, session in (
        (nonce, token, "sid-2"),  # the session rotated
        (tokens.new_nonce(), token, "sid-1"),  # another browser's cookie
        (None, token, "sid-1"),  # no cookie
        ("short", tokens.token("short", "sid-1"), "sid-1"),  # a cookie we never issue
        (nonce, "", "sid-1"),
        (nonce, token + "é", "sid-1"),
    ):
        with pytest.raises(CsrfRejected):
            tokens.check(cookie, submitted, session)
    assert "k" * 8 not in repr(tokens)


def test_browser_detection() -> None:
    html = (("accept", "text/html,*/*"),)
    assert is_browser(RequestFacts("GET", "/", headers=html))
    assert not is_browser(RequestFacts("GET", "/", headers=(("accept", "application/json"),)))
    assert not is_browser(RequestFacts("GET", "/", headers=(*html, ("authorization", "ACS3-HMAC-SHA256 x"))))
    assert not is_browser(RequestFacts("GET", "/", query="Signature=x&AccessKeyId=y", headers=html))


def test_form_parsing_limits() -> None:
    assert parse_form(b"a=1&b=2&a=3", FORM) == {"a": "1", "b": "2"}
    assert parse_form(b"a=%FF", FORM) == {"a": "\ufffd"}
    assert parse_form(b"a=1", "application/json") == {}
    assert parse_form(b"&".join(b"f%d=1" % i for i in range(50)), FORM) == {}  # too many fields
    with pytest.raises(FormTooLarge):
        parse_form(b"a=" + b"x" * 20000, FORM)


def test_a_logon_form_that_stops_arriving_gets_408(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The console's pages are public, so the middleware's body_timeout does not cover them.
    monkeypatch.setattr(console_starlette, "FORM_SECONDS", 0.2)
    app, _ = make_app("starlette", world.ram)
    sent: list[dict[str, Any]] = []
    receive = stalling_receive(b"account=company-x&user_")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/console/logon", "raw_path": b"/console/logon", "query_string": b"",
             "root_path": "", "client": ("203.0.113.7", 1), "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", b"1000")]}  # fmt: skip
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    assert sent[0]["status"] == 408
