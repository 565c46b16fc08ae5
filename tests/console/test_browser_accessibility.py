"""The console's pages for people on a small phone or using only the keyboard, in a real browser
(Debian's Chromium, both apps).

Screenshots go to ``test-artifacts/console/<variant>/narrow/`` and ``.../keyboard/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ram_middleware.credentials.preference import SecurityPreference

# The real browser and the apps on real servers (fixtures), and the logon form's first step.
from .test_browser import Shots, _focus_lands_on, _submit_password, chromium, live  # noqa: F401
from .world import ALIAS, PASSWORD, World, bind_device

pytestmark = pytest.mark.timeout(120)

NARROW = {"width": 320, "height": 640}  # the smallest common phone width (WCAG 1.4.10 reflow)


def _fits(page: Any, shots: Shots, name: str) -> None:
    """The page needs no sideways scrolling, and its text is readable."""
    shots.take(page, name)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: {overflow} px wider than the screen"
    _readable(page, name)


def test_every_page_fits_a_320_px_wide_screen(
    chromium: Any,  # noqa: F811
    live: tuple[str, str],  # noqa: F811
    world: World,
) -> None:
    variant, base = live
    world.ram.service.set_security_preference(
        world.account_id, SecurityPreference(allow_user_to_manage_access_keys=True)
    )
    shots = Shots(variant, "narrow")
    context = chromium.new_context(viewport=NARROW)
    page = context.new_page()
    page.goto(f"{base}/console/logon")
    _fits(page, shots, "logon")
    _submit_password(page, "bob")
    page.wait_for_url(f"{base}/console/")
    _fits(page, shots, "home")
    for name in ("password", "mfa-device", "access-keys"):
        page.goto(f"{base}/console/{name}")
        _fits(page, shots, name)
    page.fill("#password", "Wrong-passw0rd!")
    page.press("#password", "Enter")
    page.wait_for_selector("#error")
    _fits(page, shots, "access-keys-refused")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_selector("#new-key-secret")  # the new key, and the table listing it with its button
    _fits(page, shots, "access-keys-created")
    page.goto(f"{base}/console/mfa-device")
    page.get_by_role("button", name="Set up a virtual MFA device").click()
    page.wait_for_selector("#seed")
    _fits(page, shots, "bind")
    context.close()


# The lowest contrast between any text on the page and the background behind it (WCAG 2 formula).
_LOWEST_CONTRAST = """() => {
    const rgb = text => text.match(/[\\d.]+/g).map(Number);
    const channel = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const background = element => {
        for (let e = element; e; e = e.parentElement) {
            const colour = rgb(getComputedStyle(e).backgroundColor);
            if (colour.length < 4 || colour[3] > 0) return colour;
        }
        return [255, 255, 255];
    };
    let lowest = [21, ""];
    for (const element of document.body.querySelectorAll("*")) {
        const own = [...element.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || !element.getClientRects().length) continue;
        const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(background(element))];
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < lowest[0]) lowest = [ratio, element.tagName + " " + element.textContent.trim()];
    }
    return lowest;
}"""
_FOCUS_RING = (
    "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }"
)


def _readable(page: Any, name: str) -> None:
    """All text stands out from its background by at least 4.5:1 (WCAG 1.4.3, level AA)."""
    ratio, where = page.evaluate(_LOWEST_CONTRAST)
    assert ratio >= 4.5, f"{name}: {where!r} has contrast {ratio:.2f}:1"


def _tab_to(page: Any, element_id: str) -> None:
    """Tab moves the focus to ``element_id``, and the focus is visible there."""
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == element_id
    style, width = page.evaluate(_FOCUS_RING)
    assert style != "none" and float(width.removesuffix("px")) >= 2, (element_id, style, width)


def test_logon_mfa_new_password_with_the_keyboard_only(
    chromium: Any,  # noqa: F811
    live: tuple[str, str],  # noqa: F811
    world: World,
) -> None:
    """dave must change his password at logon and has an MFA device: the whole way to his account page
    with the keyboard, each page opening on its first field, in readable colours."""
    variant, base = live
    bind_device(world, "dave")
    shots = Shots(variant, "keyboard")
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{base}/console/logon")
    _focus_lands_on(page, "account")
    _readable(page, "logon")
    page.keyboard.type(ALIAS)
    _tab_to(page, "user_name")
    page.keyboard.type("dave")
    _tab_to(page, "password")
    page.keyboard.type(PASSWORD)
    shots.take(page, "logon")
    page.keyboard.press("Enter")

    page.wait_for_url(f"{base}/console/logon/mfa")
    _focus_lands_on(page, "code")
    _readable(page, "totp")
    page.keyboard.type(world.code("dave"))
    page.keyboard.press("Enter")

    page.wait_for_url(f"{base}/console/logon/password")
    _focus_lands_on(page, "new_password")
    _readable(page, "new password")
    page.keyboard.type("An0ther-Secret!")
    _tab_to(page, "confirm")
    page.keyboard.type("An0ther-Secret!")
    shots.take(page, "new-password")
    page.keyboard.press("Enter")

    page.wait_for_url(f"{base}/console/")
    assert page.inner_text("h1") == "Your account" and page.inner_text("#mfa-state") == "yes"
    _readable(page, "home")
    shots.take(page, "home")
    context.close()
