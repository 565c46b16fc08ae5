"""Browser vs API, both apps: redirects vs JSON errors, safe return URLs, step-up MFA on sensitive routes."""

from __future__ import annotations

import pytest

from ram_middleware.client import RamAuth

from .client import HTML, JSON, Browser, Site
from .world import PASSWORD

EVIL = ["//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
        "javascript:alert(1)", "http:/evil.example", " /reports", "/reports\r\nSet-Cookie: x=1"]  # fmt: skip


def _alice(site: Site) -> Browser:
    browser = site.client()
    browser.logon("alice")
    assert browser.logon_mfa(site.world.code("alice")).status_code == 303
    return browser


def test_browser_without_session_is_sent_to_logon_and_api_gets_json(site: Site) -> None:
    browser = site.client()
    page = browser.get("/reports?region=cn-hangzhou&x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/logon?next=%2Freports%3Fregion%3Dcn-hangzhou%26x%3D1"
    api = browser.get("/reports", headers=JSON)
    assert api.status_code == 401 and api.json()["Code"] == "MissingAuthentication"
    assert "RequestId" in api.json()
    plain = browser.http.get("/reports")  # no Accept header at all: an API caller
    assert plain.status_code == 401 and plain.headers["content-type"].startswith("application/json")
    # The logon page carries the return URL through its form.
    form = browser.get(page.headers["location"]).text
    assert 'name="next" value="/reports?region=cn-hangzhou&amp;x=1"' in form


def test_signed_api_call_keeps_json_even_when_it_accepts_html(site: Site) -> None:
    key_id, secret = site.world.keys["bob"]
    auth = RamAuth(key_id, secret, clock=site.world.clock)
    client = site.client().http
    assert client.get("/reports", headers=HTML, auth=auth).status_code == 200
    denied = client.get("/danger", headers=HTML, auth=auth)
    assert denied.status_code == 403 and denied.json()["Code"] == "NoPermission"
    # AccessKey calls carry no acs:MFAPresent, so a policy on it is a plain denial, not an MFA prompt.
    pay = client.get("/pay", headers=HTML, auth=auth)
    assert pay.status_code == 403 and pay.json()["Code"] == "NoPermission"


def test_policy_denial_for_a_signed_in_browser_is_an_html_page(site: Site) -> None:
    browser = site.client()
    browser.logon("bob")
    denied = browser.get("/danger")
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in denied.text and "AccessDeniedDetail" not in denied.text
    assert denied.headers["x-frame-options"] == "DENY"  # like every console page: never framed
    assert "frame-ancestors 'none'" in denied.headers["content-security-policy"]
    assert browser.get("/danger", headers=JSON).json()["Code"] == "NoPermission"


@pytest.mark.parametrize("target", EVIL)
def test_open_redirects_are_refused_at_logon(site: Site, target: str) -> None:
    reply = site.client().logon("bob", next_url=target)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/"


def test_open_redirects_are_refused_by_step_up_and_the_form(site: Site) -> None:
    browser = _alice(site)
    form = browser.get("/console/logon?next=//evil.example")
    assert 'name="next" value=""' in form.text
    site.world.clock.advance(seconds=30)
    token = browser.token("/console/mfa?next=//evil.example")
    reply = browser.post(
        "/console/mfa", {"csrf_token": token, "code": site.world.code("alice"), "next": "//evil.example"}
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/console/"
    assert site.client().logon("bob", next_url="/reports?x=1").headers["location"] == "/reports?x=1"


def test_require_mfa_sends_a_stale_session_to_step_up_and_back(site: Site) -> None:
    world = site.world
    browser = _alice(site)
    fresh = browser.get("/danger")
    assert fresh.status_code == 200 and "Danger zone" in fresh.text
    world.clock.advance(minutes=6)  # older than max_age=300
    stale = browser.get("/danger")
    assert stale.status_code == 303 and stale.headers["location"] == "/console/mfa?next=%2Fdanger"
    api = browser.get("/danger", headers=JSON)
    assert api.status_code == 403 and api.json()["Code"] == "Forbidden.MFARequired"
    posted = browser.http.post("/danger", headers={**HTML, "origin": browser.origin})
    assert posted.status_code == 303 and posted.headers["location"] == "/console/mfa"
    step_up = browser.get(stale.headers["location"])
    assert step_up.status_code == 200 and 'name="next" value="/danger"' in step_up.text
    before = browser.session
    wrong = browser.submit("/console/mfa", {"code": "12345x", "next": "/danger"})
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    done = browser.submit("/console/mfa", {"code": world.code("alice"), "next": "/danger"})
    assert done.status_code == 303 and done.headers["location"] == "/danger"
    assert browser.session != before  # step-up rotates the session id
    assert browser.get("/danger").status_code == 200
    assert browser.with_session("/reports", before or "", JSON).json()["Code"] == "InvalidSession.Revoked"
    # The step-up is audited, the code that gave the session its MFA as much as the wrong one.
    step_ups = [
        (e.decision, e.code, e.principal_arn) for e in world.audit.events if e.action == "console:MFAStepUp"
    ]
    assert step_ups == [
        ("Rejected", "InvalidAuthenticationCode", world.arn("alice")),
        ("Allow", None, world.arn("alice")),
    ]
    refused = [e for e in world.audit.events if e.code == "Forbidden.MFARequired"]
    assert refused, "MFA refusals are audited"
    assert {e.principal_arn for e in refused} == {world.arn("alice")}  # naming whose MFA was too old


def test_a_require_mfa_refusal_is_audited_under_the_request_id_the_caller_got(site: Site) -> None:
    world = site.world
    browser = _alice(site)
    world.clock.advance(minutes=6)  # older than max_age=300: the policy allows, require_mfa refuses
    world.audit.clear()
    api = browser.get("/danger", headers=JSON)
    assert api.status_code == 403 and api.json()["Code"] == "Forbidden.MFARequired"
    request_id = api.json()["RequestId"]
    assert api.headers["x-acs-request-id"] == request_id
    # One request, one request id: the policy's Allow and the refusal that followed it (as a control-plane
    # handler's refusal is), the refusal naming what was refused.
    events = world.audit.events
    assert [(e.request_id, e.decision, e.code) for e in events] == [
        (request_id, "Allow", None),
        (request_id, "Rejected", "Forbidden.MFARequired"),
    ]
    assert events[1].action == "ecs:DeleteInstance" and events[1].resource == events[0].resource
    assert events[1].principal_arn == world.arn("alice")


def test_policy_on_mfa_present_sends_browser_to_step_up(site: Site) -> None:
    browser = site.client()
    browser.logon("bob")
    page = browser.get("/pay")
    assert page.status_code == 303 and page.headers["location"] == "/console/mfa?next=%2Fpay"
    api = browser.get("/pay", headers=JSON)
    assert api.status_code == 403 and api.json()["Code"] == "Forbidden.MFARequired"
    detail = api.json()["AccessDeniedDetail"]  # a policy refused it, as with NoPermission
    assert detail["NoPermissionType"] == "ImplicitDeny" and detail["AuthPrincipalDisplayName"]
    no_device = browser.get(page.headers["location"])
    assert no_device.status_code == 403 and "no MFA device is bound" in no_device.text
    assert 'href="/console/mfa-device"' in no_device.text
    assert _alice(site).get("/pay").status_code == 200  # signed in with MFA: allowed


def test_step_up_without_session_goes_to_logon_first(site: Site) -> None:
    reply = site.client().get("/console/mfa?next=%2Fdanger")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/logon?next=%2Fconsole%2Fmfa%3Fnext%3D%252Fdanger"


def test_password_logon_session_has_no_mfa_for_require_mfa(site: Site) -> None:
    world = site.world
    world.ram.service.attach_policy_to_user(world.account_id, "System", "AliyunECSFullAccess", "bob")
    browser = site.client()
    assert browser.logon("bob", PASSWORD).status_code == 303
    reply = browser.get("/danger")
    assert reply.status_code == 303 and reply.headers["location"] == "/console/mfa?next=%2Fdanger"
    # The refusal's audit event names who was refused, as the console's other refusals do.
    refused = [e for e in world.audit.events if e.path == "/danger" and e.decision == "Rejected"]
    assert [(e.decision, e.code, e.principal_arn) for e in refused] == [
        ("Rejected", "Forbidden.MFARequired", world.arn("bob"))
    ]
    assert refused[0].principal_type == "SubUser" and refused[0].auth_method == "session"


def test_a_console_session_calls_an_rpc_api_only_from_the_site_itself(site: Site) -> None:
    """An RPC call by GET may change state, and SameSite=Lax sends the cookie on another site's link."""
    browser = _alice(site)
    call = "/rpc?Action=StopInstance&Version=2014-05-26&InstanceId=i-1"
    for own in ("same-origin", "none"):  # a page of this site; an address typed or bookmarked
        assert browser.get(call, headers={**JSON, "sec-fetch-site": own}).status_code == 200
    for other in ({"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"}, {}):
        refused = browser.get(call, headers={**JSON, **other})
        assert refused.status_code == 403 and refused.json()["Code"] == "NoPermission"
    page = browser.get(call, headers={**HTML, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"})
    assert page.status_code == 403 and "Access denied" in page.text
    assert "set-cookie" not in page.headers  # refused, not signed out
    assert browser.get("/reports").status_code == 200
    # Pages declared with an action stay reachable from a link on another site.
    linked = browser.get("/reports", headers={**HTML, "sec-fetch-site": "cross-site"})
    assert linked.status_code == 200
