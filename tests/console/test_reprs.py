"""What the console handles never shows a credential in its repr: not the password or MFA code a form posts,
not the session, logon or CSRF cookies a request carries or a reply sets, not the seed a binding page shows.

A repr is what a log line with ``%r``, a debugger, or an error tracker capturing a traceback's locals prints.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from ram_middleware.console.web import ConsoleRequest, Reply
from ram_middleware.facts import RequestFacts

from .apps import VARIANTS, make_app
from .client import Site
from .world import PASSWORD, World


@pytest.mark.parametrize("variant", VARIANTS)
def test_console_requests_and_replies_show_no_credential(variant: str, world: World) -> None:
    app, console = make_app(variant, world.ram)
    handled: list[tuple[ConsoleRequest, Reply]] = []
    real = console.handle

    def spy(name: str, request: ConsoleRequest) -> Reply:
        reply = real(name, request)
        handled.append((request, reply))
        return reply

    console.handle = spy  # type: ignore[method-assign]
    site = Site(variant, app, world)
    alice, bob = site.client(), site.client()
    assert alice.logon("alice").status_code == 303
    code = pyotp.TOTP(world.seeds["alice"]).at(world.clock.now)
    assert alice.logon_mfa(code).status_code == 303 and alice.session
    assert bob.logon("bob").status_code == 303 and bob.session
    setup = bob.submit("/console/mfa-device", {"action": "start"})
    seed = re.search(r'<code id="seed">([A-Z2-7 ]+)</code>', setup.text)
    assert seed is not None

    credentials = {"password": PASSWORD, "MFA code": code, "seed": seed.group(1).replace(" ", "")}
    credentials["seed as shown"] = seed.group(1)
    for _, reply in handled:  # every cookie a reply set, read from the reply itself
        for name, value in reply.headers:
            cookie, _, value = value.partition(";")[0].partition("=")
            if name == "set-cookie" and value:
                credentials[f"{cookie} cookie"] = value
    assert {"ram_session cookie", "ram_csrf cookie", "ram_logon cookie"} <= set(credentials)
    shown: list[Any] = [thing for pair in handled for thing in pair]
    shown += [request.facts for request, _ in handled]
    assert any(isinstance(thing, RequestFacts) and thing.header("cookie") for thing in shown)
    text = "\n".join(map(repr, shown))
    assert "'/console/logon'" in text  # the repr still says what the request was
    assert [label for label, value in credentials.items() if value in text] == []
