"""A long return address, both apps: a logon with more steps than the password carries it to the end."""

from __future__ import annotations

import random
import string

from .client import Site

LONG_QUERY = 1990  # with "/reports?q=", close to the 2048 characters a return address may have


def _query(length: int, alphabet: str) -> str:
    """``length`` characters of ``alphabet`` drawn at random (repeatably): text that hardly compresses."""
    draw = random.Random(length)
    return "".join(draw.choice(alphabet) for _ in range(length))


def test_an_mfa_logon_returns_to_a_long_address(site: Site) -> None:
    """A link a browser followed to a protected page (a search with many filters, say): after the
    password and the MFA code the browser is back on it, rather than told its sign-in was interrupted."""
    browser = site.client()
    target = "/reports?q=" + _query(LONG_QUERY, string.ascii_letters + string.digits + "-._~")
    sent = browser.get(target)
    assert sent.status_code == 303 and sent.headers["location"].startswith("/console/logon?next=")
    browser.get(sent.headers["location"])
    assert browser.logon("alice", next_url=target).headers["location"] == "/console/logon/mfa"
    done = browser.logon_mfa(site.world.code("alice"))
    assert done.status_code == 303 and done.headers["location"] == target
    assert browser.get(target).status_code == 200


def test_a_return_address_too_long_to_carry_leads_home_instead(site: Site) -> None:
    """One the logon step cookie cannot hold (non-ASCII text takes several bytes a character), though the
    logon page takes it: the logon still finishes, on the console's home page."""
    browser = site.client()
    target = "/reports?q=" + _query(1700, "".join(map(chr, range(0x4E00, 0xA000))))  # CJK: 3 bytes each
    assert browser.logon("alice", next_url=target).headers["location"] == "/console/logon/mfa"
    done = browser.logon_mfa(site.world.code("alice"))
    assert done.status_code == 303 and done.headers["location"] == "/console/"
    assert browser.session is not None
