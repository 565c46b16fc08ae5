"""Logout as a browser sees it, both apps: the browser is told to drop the pages the session saw."""

from __future__ import annotations

from .client import HTML, Site

CLEAR_CACHE = '"cache"'


def test_logout_clears_the_browsers_cache_of_the_site(site: Site) -> None:
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    assert browser.get("/reports").status_code == 200  # a page the browser may keep for Back
    out = browser.submit("/console/logout", {}, form_page="/console/logout")
    assert out.status_code == 303 and out.headers.get("clear-site-data") == CLEAR_CACHE
    assert browser.session is None


def test_a_logout_after_the_session_timed_out_still_clears_the_cache(site: Site) -> None:
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    token = browser.token("/console/logout")
    site.world.clock.advance(hours=1)  # idle for longer than the idle timeout: the pages are still cached
    out = browser.post("/console/logout", {"csrf_token": token})
    assert out.status_code == 303 and out.headers.get("clear-site-data") == CLEAR_CACHE


def test_a_logout_another_site_sent_clears_nothing(site: Site) -> None:
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    token = browser.token("/console/logout")
    headers = {**HTML, "origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    refused = browser.post("/console/logout", {"csrf_token": token}, headers=headers)
    assert refused.status_code == 403 and "clear-site-data" not in refused.headers
    assert browser.session is not None
