"""The console's pages for people on a small phone, in a real browser (Debian's Chromium, both apps).

Screenshots of every page go to ``test-artifacts/console/<variant>/narrow/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ram_middleware.credentials.preference import SecurityPreference

# The real browser and the apps on real servers (fixtures), and the logon form's first step.
from .test_browser import Shots, _submit_password, chromium, live  # noqa: F401
from .world import PASSWORD, World

pytestmark = pytest.mark.timeout(120)

NARROW = {"width": 320, "height": 640}  # the smallest common phone width (WCAG 1.4.10 reflow)


def _fits(page: Any, shots: Shots, name: str) -> None:
    """The page needs no sideways scrolling."""
    shots.take(page, name)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: {overflow} px wider than the screen"


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
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_selector("#new-key-secret")  # the new key, and the table listing it with its button
    _fits(page, shots, "access-keys-created")
    page.goto(f"{base}/console/mfa-device")
    page.get_by_role("button", name="Set up a virtual MFA device").click()
    page.wait_for_selector("#seed")
    _fits(page, shots, "bind")
    context.close()
