"""The session cookie against other sites: a cross-site request is refused without signing the user out,
logout and logon forms come only from the console's pages, and over HTTPS the cookie is ``__Host-``."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from ram_middleware.client import RamAuth
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.errors import CrossSiteRequest, EntityNotExist

from .apps import VARIANTS
from .client import HTML, JSON, Browser, Site, make_site
from .test_sessions import _signed_in
from .world import PASSWORD, make_world

HOST_COOKIE = "__Host-ram_session"
OTHER_SITES = ("cross-site", "same-site")  # same-site: a sibling subdomain, which SameSite=Lax lets in
PROXY_NET = "192.0.2.0/24"


def _session_cookies(reply: httpx.Response) -> list[str]:
    """The response's Set-Cookie values for the session cookie, under either name."""
    return [
        value
        for value in reply.headers.get_list("set-cookie")
        if value.startswith(("ram_session=", HOST_COOKIE + "="))
    ]


def _attributes(cookie: str) -> set[str]:
    return set(cookie.split("; ")[1:])


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
    # Sec-Fetch-Site decides over Origin (a browser without it: the tests below).
    marked = {**JSON, "sec-fetch-site": "same-origin", "origin": "http://evil.example"}
    assert browser.http.post("/danger", headers=marked).status_code == 200


# A browser from before Fetch Metadata (no Sec-Fetch-Site): its Origin, else its Referer, must be this site's.
NOT_THIS_ORIGIN: list[list[tuple[str, str]]] = [
    [("origin", "http://evil.example")],
    [("origin", "http://sub.testserver")],  # a sibling subdomain, which SameSite=Lax lets in
    [("origin", "https://testserver")],  # another scheme is another origin
    [("origin", "http://testserver:8080")],
    [("origin", "null")],  # a sandboxed frame, a redirect from another site
    [("origin", "http://testserver/console")],  # not an origin
    [("origin", "http://testserver"), ("origin", "http://evil.example")],
    [("origin", "http://evil.example"), ("referer", "http://testserver/console/")],  # Origin decides
    [("referer", "http://evil.example/console/")],
    [("referer", "http://evil.example/?back=http://testserver/")],
    [("referer", "http://testserver@evil.example/")],
    [("referer", "not a url")],
    [],  # neither (decision: refused; every browser sends Origin on another site's POST)
]
THIS_ORIGIN: list[list[tuple[str, str]]] = [
    [("origin", "http://testserver")],
    [("origin", "HTTP://TestServer:80")],  # the default port and the case name the same origin
    [("referer", "http://testserver/console/?x=1")],  # Firefox before 70 sent no Origin to its own site
]


def test_without_fetch_metadata_a_post_must_name_this_origin(site: Site) -> None:
    browser = _signed_in(site, "alice")  # MFA: /danger would allow her POST
    cookie = browser.session
    for headers in NOT_THIS_ORIGIN:
        refused = browser.http.post("/danger", headers=[*JSON.items(), *headers])
        assert refused.status_code == 403, headers
        assert refused.json()["Code"] == "NoPermission"
        assert refused.json()["Message"] == CrossSiteRequest.default_message
        assert _session_cookies(refused) == []  # refused, not signed out
    page = browser.http.post("/danger", headers={**HTML, "origin": "http://evil.example"})
    assert page.status_code == 403 and "only from this site&#x27;s own pages" in page.text
    assert browser.session == cookie
    for headers in THIS_ORIGIN:
        assert browser.http.post("/danger", headers=[*JSON.items(), *headers]).status_code == 200, headers


def test_without_fetch_metadata_console_forms_must_name_this_origin(site: Site) -> None:
    browser = _signed_in(site)
    cookie = browser.session
    token = browser.token("/console/logout")
    for headers in NOT_THIS_ORIGIN:
        refused = browser.http.post(
            "/console/logout", data={"csrf_token": token}, headers=[*HTML.items(), *headers]
        )
        assert refused.status_code == 403 and "not sent from this site" in refused.text, headers
        assert _session_cookies(refused) == []
    assert browser.session == cookie
    # The logon form too: a sibling subdomain must not sign the victim in as itself.
    victim = site.client()
    form = {"csrf_token": victim.token("/console/logon"), "account": "company-x", "user_name": "bob",
            "password": PASSWORD}  # fmt: skip
    logon = victim.http.post("/console/logon", data=form, headers={**HTML, "origin": "http://sub.testserver"})
    assert logon.status_code == 403 and victim.session is None
    assert victim.http.post("/console/logon", data=form, headers=HTML).status_code == 403
    referred = {**HTML, "referer": "http://testserver/console/logon"}
    assert (
        victim.http.post("/console/logon", data=form, headers=referred).status_code == 303 and victim.session
    )
    out = browser.http.post(
        "/console/logout", data={"csrf_token": token}, headers={**HTML, "origin": browser.origin}
    )
    assert out.status_code == 303 and browser.session is None


def _alice_over_https(site: Site) -> str:
    """Alice's session cookie value, signed in over HTTPS (its forms post with Origin https://testserver)."""
    browser = site.client("https://testserver")
    assert browser.logon("alice").status_code == 303
    assert browser.logon_mfa(site.world.code("alice")).status_code == 303
    return browser.http.cookies[HOST_COOKIE]


def test_over_https_this_origin_is_https(site: Site) -> None:
    value = _alice_over_https(site)
    https = site.client("https://testserver").http
    headers = {**JSON, "cookie": f"{HOST_COOKIE}={value}"}
    assert https.post("/danger", headers={**headers, "origin": "https://testserver"}).status_code == 200
    assert https.post("/danger", headers={**headers, "origin": "https://testserver:443"}).status_code == 200
    for origin in ("http://testserver", "https://testserver:8443"):
        refused = https.post("/danger", headers={**headers, "origin": origin})
        assert refused.status_code == 403 and refused.json()["Message"] == CrossSiteRequest.default_message


def test_behind_a_trusted_proxy_this_origin_takes_its_scheme(proxied: Site) -> None:
    value = _alice_over_https(proxied)
    forwarded = {**JSON, "x-forwarded-proto": "https", "origin": "https://testserver"}
    behind = proxied.client(peer="192.0.2.10").http
    assert (
        behind.post("/danger", headers={**forwarded, "cookie": f"{HOST_COOKIE}={value}"}).status_code == 200
    )
    plain = behind.post(
        "/danger", headers={**forwarded, "origin": "http://testserver", "cookie": f"{HOST_COOKIE}={value}"}
    )
    assert plain.status_code == 403 and plain.json()["Message"] == CrossSiteRequest.default_message
    # The same report from anyone else says nothing: the request is plain HTTP, not https://testserver's.
    spoofed = proxied.client(peer="198.51.100.7").http
    refused = spoofed.post("/danger", headers={**forwarded, "cookie": f"ram_session={value}"})
    assert refused.status_code == 403 and refused.json()["Message"] == CrossSiteRequest.default_message


def test_signed_api_calls_need_no_origin(site: Site) -> None:
    """AccessKey calls are not cookie sessions: neither Origin nor Fetch Metadata applies to them, whatever
    cookie rides along."""
    key_id, secret = site.world.keys["bob"]
    auth = RamAuth(key_id, secret, clock=site.world.clock)
    client = _signed_in(site, "alice").http  # alice's session cookie goes along; the signature decides
    call = "/rpc?Action=DescribeInstances&Version=2014-05-26"
    for headers in ({}, {"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}):
        reply = client.post(call, headers={**JSON, **headers}, auth=auth)
        assert reply.status_code == 200 and site.world.arn("bob") in reply.text, headers


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


def test_https_issues_a_host_prefixed_session_cookie(site: Site) -> None:
    browser = site.client("https://testserver")
    reply = browser.logon("bob")
    assert reply.status_code == 303
    (cookie,) = _session_cookies(reply)
    assert cookie.startswith(HOST_COOKIE + "=")
    # What __Host- requires (Secure, Path=/, no Domain), and no Max-Age: the browser forgets it on exit.
    assert _attributes(cookie) == {"Path=/", "HttpOnly", "SameSite=Lax", "Secure"}
    assert site.world.arn("bob") in browser.get("/reports").text
    site.world.clock.advance(minutes=2)
    renewed = browser.get("/reports")  # the rolling refresh keeps the prefixed name
    (refreshed,) = _session_cookies(renewed)
    assert refreshed.startswith(HOST_COOKIE + "=") and _attributes(refreshed) == _attributes(cookie)
    out = browser.submit("/console/logout", {}, form_page="/console/")
    (cleared,) = _session_cookies(out)
    assert cleared.startswith(HOST_COOKIE + "=;") and {"Secure", "Max-Age=0"} <= _attributes(cleared)
    assert browser.session is None


def test_https_reads_only_the_prefixed_name(site: Site) -> None:
    """An unprefixed cookie may have been planted by a sibling subdomain or a plain-HTTP page."""
    value = _signed_in(site).session  # issued over HTTP: the value is the same, only the name differs
    https = site.client("https://testserver")
    planted = https.with_session("/reports", value or "", JSON)
    assert planted.status_code == 401 and planted.json()["Code"] == "MissingAuthentication"
    http = https.http
    own = http.get("/reports", headers={**JSON, "cookie": f"{HOST_COOKIE}={value}"})
    assert own.status_code == 200


def test_http_keeps_the_plain_name(site: Site) -> None:
    browser = _signed_in(site)
    assert browser.http.cookies.get("ram_session") == browser.session
    host = browser.http.get("/reports", headers={**JSON, "cookie": f"{HOST_COOKIE}={browser.session}"})
    assert host.status_code == 401  # over HTTP only the plain name is the session cookie


@pytest.fixture(params=VARIANTS)
def proxied(request: pytest.FixtureRequest) -> Iterator[Site]:
    world = make_world(trusted_proxies=(PROXY_NET,))
    yield make_site(request.param, world)
    world.ram.close()


def test_https_behind_a_trusted_proxy_uses_the_prefix(proxied: Site) -> None:
    value = proxied.client("https://testserver").logon("bob").cookies[HOST_COOKIE]
    proxied.world.clock.advance(minutes=2)
    headers = {**JSON, "x-forwarded-proto": "https", "cookie": f"{HOST_COOKIE}={value}"}
    behind: Browser = proxied.client(peer="192.0.2.10")
    renewed = behind.http.get("/reports", headers=headers)
    assert renewed.status_code == 200
    (cookie,) = _session_cookies(renewed)
    assert cookie.startswith(HOST_COOKIE + "=") and "Secure" in _attributes(cookie)
    # The same header from anyone else says nothing: plain HTTP, where only the plain name counts.
    spoofed = proxied.client(peer="198.51.100.7").http.get("/reports", headers=headers)
    assert spoofed.status_code == 401 and spoofed.json()["Code"] == "MissingAuthentication"


def test_a_logon_step_planted_by_a_sibling_site_never_takes_over_a_logon_over_https(site: Site) -> None:
    # A sibling subdomain can plant a plain-named cookie for this host, with a path more specific than the
    # console's, which browsers then send first. Planted in the victim's browser, the attacker's logon in
    # progress (carol, who must bind MFA) would replace the victim's own: the victim would bind their phone
    # to carol and be signed in as carol. Over HTTPS the logon step cookie is __Host-: no other site sets it.
    world = site.world
    service, account = world.ram.service, world.account_id
    service.create_user(account, "erin")
    service.create_login_profile(account, "erin", PASSWORD, mfa_bind_required=True)
    attacker = site.client("https://testserver")
    started = attacker.logon("carol")
    assert started.status_code == 303 and started.headers["location"] == "/console/logon/bind"
    (step_cookie,) = [c for c in started.headers.get_list("set-cookie") if "ram_logon=" in c]
    planted = step_cookie.split(";")[0].partition("=")[2]
    victim = site.client("https://testserver")
    victim.set_cookie("ram_logon", planted, path="/console/logon/bind")
    assert victim.logon("erin").headers["location"] == "/console/logon/bind"
    page = victim.get("/console/logon/bind")
    found = re.search(r'id="seed">([A-Z2-7 ]+)<', page.text)
    assert found is not None, page.text[:300]
    seed, step = found.group(1).replace(" ", ""), time_step(world.clock.now)
    form = dict(re.findall(r'name="(csrf_token|binding)" value="([^"]+)"', page.text))
    codes = {"code1": code_at(seed, step - 1), "code2": code_at(seed, step)}
    assert victim.post("/console/logon/bind", {**form, **codes}).status_code == 303
    signed_in_as = re.search(r'id="who">([^<]*)<', victim.get("/console/").text)
    assert signed_in_as is not None and signed_in_as.group(1) == "erin@company-x"
    assert service.get_user_mfa_info(account, "erin").serial_number
    with pytest.raises(EntityNotExist):
        service.get_user_mfa_info(account, "carol")
    assert step_cookie.startswith("__Host-ram_logon=") and {"Secure", "Path=/"} <= _attributes(step_cookie)


def _csrf_cookies(reply: httpx.Response) -> list[str]:
    return [value for value in reply.headers.get_list("set-cookie") if "ram_csrf=" in value.partition(";")[0]]


def test_https_issues_a_host_prefixed_csrf_cookie(site: Site) -> None:
    """A plain-named CSRF cookie could be planted by a sibling subdomain with a nonce whose token it knows."""
    browser = site.client("https://testserver")
    (cookie,) = _csrf_cookies(browser.get("/console/logon"))
    assert cookie.startswith("__Host-ram_csrf=")
    assert _attributes(cookie) == {"Path=/", "HttpOnly", "SameSite=Strict", "Secure"}
    assert browser.logon("bob").status_code == 303  # the form's token checks against the prefixed cookie
    # A planted plain-named cookie (the attacker's nonce, with its token) is not read over HTTPS.
    attacker = site.client()
    token = attacker.token("/console/logon")
    nonce = attacker.http.cookies["ram_csrf"]
    victim = site.client("https://testserver")
    victim.set_cookie("ram_csrf", nonce, path="/console")
    form = {"csrf_token": token, "account": "company-x", "user_name": "bob", "password": PASSWORD}
    refused = victim.post("/console/logon", form)
    assert refused.status_code == 403 and victim.session is None


def test_http_keeps_the_plain_csrf_cookie_below_the_console(site: Site) -> None:
    browser = site.client()
    (cookie,) = _csrf_cookies(browser.get("/console/logon"))
    assert cookie.startswith("ram_csrf=")
    assert _attributes(cookie) == {"Path=/console", "HttpOnly", "SameSite=Strict"}
    assert browser.logon("bob").status_code == 303


def test_https_behind_a_trusted_proxy_uses_the_prefixed_csrf_cookie(proxied: Site) -> None:
    behind = proxied.client(peer="192.0.2.10")
    page = behind.get("/console/logon", headers={**HTML, "x-forwarded-proto": "https"})
    (cookie,) = _csrf_cookies(page)
    assert cookie.startswith("__Host-ram_csrf=") and "Secure" in _attributes(cookie)
