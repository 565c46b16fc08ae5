"""What markup slipped into a console page could do, in a real browser (Debian's Chromium, both apps).

The pages escape every value they show; these tests check the second line of defence, the pages'
Content-Security-Policy, as a browser applies it: markup an injection would add stays inert.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

# The real browser and the apps on real servers (fixtures), and the logon form's first step.
from .test_browser import _submit_password, chromium, live  # noqa: F401

pytestmark = pytest.mark.timeout(120)

_CONSOLE_GREEN = "rgb(22, 101, 52)"  # the console's own style for its buttons (base.html)
_INJECTED = """() => {
    const style = document.createElement("style");
    style.textContent = "button { background: rgb(255, 0, 0) !important }";
    document.head.append(style);
    document.querySelector("main").insertAdjacentHTML(
        "beforeend", '<p id="injected" style="color: rgb(255, 0, 0)">injected</p>');
}"""


def _button_background(page: Any) -> str:
    return str(page.eval_on_selector("button[type=submit]", "b => getComputedStyle(b).backgroundColor"))


def test_only_the_consoles_own_styles_apply(chromium: Any, live: tuple[str, str]) -> None:  # noqa: F811
    """Injected styles could restyle the page into a phishing form or leak its CSRF token through CSS
    selectors: only the console's own stylesheet applies."""
    _, base = live
    context = chromium.new_context()
    page = context.new_page()
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))
    response = page.goto(f"{base}/console/logon")
    assert response is not None and "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert _button_background(page) == _CONSOLE_GREEN
    assert not refusals  # the page's own style is not refused

    page.evaluate(_INJECTED)  # what markup slipped into the page would add
    assert _button_background(page) == _CONSOLE_GREEN
    assert page.eval_on_selector("#injected", "p => getComputedStyle(p).color") != "rgb(255, 0, 0)"
    context.close()


@pytest.mark.parametrize(
    "target", ["/..//evil.example/", "/reports/../..//evil.example", "/%2e%2E//evil.example"]
)
def test_a_return_address_never_resolves_to_a_scheme_relative_path(
    chromium: Any,  # noqa: F811
    live: tuple[str, str],  # noqa: F811
    target: str,
) -> None:
    """``/..//evil.example`` is a same-origin path, but the browser resolves it to the path
    ``//evil.example``: an app page redirecting to its own path (a common pattern) would then send the
    person to evil.example. Signing in with such a return address lands on the console's home instead."""
    _, base = live
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{base}/console/logon?{urlencode({'next': target})}")
    _submit_password(page, "bob")
    page.wait_for_url(lambda url: "/console/logon" not in url)
    assert page.url == f"{base}/console/"
    context.close()
