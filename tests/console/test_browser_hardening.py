"""What markup slipped into a console page could do, in a real browser (Debian's Chromium, both apps).

The pages escape every value they show; these tests check the second line of defence, the pages'
Content-Security-Policy, as a browser applies it: markup an injection would add stays inert.
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_browser import chromium, live  # noqa: F401  (the real browser and the apps on real servers)

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
