"""The session cookie against other sites: a cross-site request is refused without signing the user out,
and logout and logon forms come only from the console's pages."""

from __future__ import annotations

import httpx

from ram_middleware.errors import CrossSiteRequest

from .client import HTML, JSON, Site
from .test_sessions import _signed_in

OTHER_SITES = ("cross-site", "same-site")  # same-site: a sibling subdomain, which SameSite=Lax lets in


def _session_cookies(reply: httpx.Response) -> list[str]:
    """The response's Set-Cookie values for the session cookie."""
    return [value for value in reply.headers.get_list("set-cookie") if value.startswith("ram_session=")]


def test_cross_site_post_is_refused_and_leaves_the_session_alone(site: Site) -> None:
    browser = _signed_in(site, "alice")  # MFA: /danger would allow her POST
    cookie = browser.session
    for where in OTHER_SITES:
        api = browser.http.post("/danger", headers={**JSON, "sec-fetch-site": where})
        assert api.status_code == 403
        assert api.json()["Code"] == "NoPermission"
        assert api.json()["Message"] == CrossSiteRequest.default_message
        page = browser.http.post("/danger", headers={**HTML, "sec-fetch-site": where})
        assert page.status_code == 403 and "only from this site&#x27;s own pages" in page.text
        assert _session_cookies(api) == _session_cookies(page) == []  # refused, not signed out
    refusals = [event for event in site.world.audit.events if event.path == "/danger"]
    assert [(event.decision, event.code) for event in refusals] == [("Rejected", "NoPermission")] * 4
    assert browser.session == cookie
    own = browser.http.post("/danger", headers={**JSON, "sec-fetch-site": "same-origin"})
    assert own.status_code == 200
    # A browser from before Fetch Metadata says nothing; SameSite=Lax keeps the cookie off other sites'
    # POSTs there, so such a request is its own site's.
    assert browser.http.post("/danger", headers=JSON).status_code == 200


def test_a_bad_session_is_still_cleared_on_a_cross_site_post(site: Site) -> None:
    browser = _signed_in(site, "alice")
    site.world.clock.advance(hours=2)  # past the idle timeout
    reply = browser.http.post("/danger", headers={**HTML, "sec-fetch-site": "cross-site"})
    assert reply.status_code == 303 and reply.headers["location"] == "/console/logon"
    cleared = _session_cookies(reply)
    assert len(cleared) == 1 and cleared[0].startswith("ram_session=;") and "Max-Age=0" in cleared[0]


def test_same_origin_logout_signs_out(site: Site) -> None:
    browser = _signed_in(site)
    cookie = browser.session
    token = browser.token("/console/logout")
    out = browser.post(
        "/console/logout", {"csrf_token": token}, headers={**HTML, "sec-fetch-site": "same-origin"}
    )
    assert out.status_code == 303 and out.headers["location"] == "/console/logon?signed_out=1"
    assert browser.session is None
    replay = browser.with_session("/reports", cookie or "", JSON)
    assert replay.status_code == 401 and replay.json()["Code"] == "InvalidSession.Revoked"


def test_logout_from_another_site_is_refused(site: Site) -> None:
    browser = _signed_in(site)
    cookie = browser.session
    token = browser.token("/console/logout")  # even with the form's token, as if the other site had it
    for where in OTHER_SITES:
        for form in ({"csrf_token": token}, {}):
            refused = browser.post("/console/logout", form, headers={**HTML, "sec-fetch-site": where})
            assert refused.status_code == 403 and "not sent from this site" in refused.text
            assert _session_cookies(refused) == []
    assert browser.session == cookie
    assert browser.get("/reports").status_code == 200  # still signed in
    assert not [event for event in site.world.audit.events if event.action == "console:Logout"]


def test_logon_form_from_another_site_is_refused(site: Site) -> None:
    """A sibling subdomain could plant a CSRF cookie it knows the token of and sign the user in as itself."""
    browser = site.client()
    form = {"csrf_token": browser.token("/console/logon"), "account": "company-x", "user_name": "bob"}
    refused = browser.post(
        "/console/logon", {**form, "password": "irrelevant"}, headers={**HTML, "sec-fetch-site": "same-site"}
    )
    assert refused.status_code == 403 and _session_cookies(refused) == []
    assert browser.session is None
