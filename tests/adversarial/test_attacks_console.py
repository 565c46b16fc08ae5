"""Attacks on the console logon, on the Flask and the Starlette app of tests/console: forged and duplicated
session cookies, session fixation, CSRF on every form, user enumeration by message and timing (real argon2
cost), TOTP brute force across parallel logons, secrets in logs — and a fuzz of the console's pages."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from ram_middleware.credentials import password as password_module
from ram_middleware.credentials.session import BrowserSessions
from ram_middleware.guard import MemoryGuard
from tests.console.apps import VARIANTS, make_app
from tests.console.client import HTML, JSON, Browser, Site, make_site
from tests.console.world import ALIAS, PASSWORD, World, make_world

from .drivers import AsgiDriver, RawReply, RawRequest, WsgiDriver
from .fuzzing import Target, check_reply, fuzz_settings, fuzz_timeout, garbage, header_safe, visible

pytestmark = pytest.mark.timeout(fuzz_timeout(120))

REPORTS = "/reports"
FORMS = (
    "/console/logon",
    "/console/logon/mfa",
    "/console/logon/bind",
    "/console/logon/password",
    "/console/mfa",
    "/console/logout",
    "/console/password",
    "/console/mfa-device",
    "/console/access-keys",
)


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost, for the tests that are not about timing."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(password_module, "_HASHER", cheap)
    monkeypatch.setattr(password_module, "DUMMY_HASH", cheap.hash("nobody knows this password"))


@pytest.fixture
def console_world() -> Iterator[World]:
    made = make_world()
    yield made
    made.ram.close()


@pytest.fixture(params=VARIANTS)
def site(request: pytest.FixtureRequest, console_world: World) -> Site:
    return make_site(request.param, console_world)


def signed_in(site: Site, user: str) -> Browser:
    browser = site.client()
    assert browser.logon(user).status_code == 303
    if user == "alice":
        assert browser.logon_mfa(site.world.code("alice")).status_code == 303
    assert browser.session
    return browser


def who(reply: httpx.Response) -> str | None:
    found = re.search(r'<p id="who">([^<]*)</p>', reply.text)
    return found.group(1) if reply.status_code == 200 and found else None


def with_cookie_header(
    browser: Browser, path: str, cookie: str, headers: dict[str, str] = HTML
) -> httpx.Response:
    fresh = httpx.Client(transport=browser.http._transport, base_url=browser.http.base_url)
    with fresh:
        return fresh.get(path, headers={**headers, "cookie": cookie})


# --- forged and duplicated session cookies ------------------------------------------------------------------


@pytest.mark.usefixtures("cheap_argon2")
def test_forged_and_smuggled_session_cookies_never_become_someone_else(site: Site) -> None:
    world = site.world
    bob = signed_in(site, "bob")
    genuine = bob.session or ""
    foreign = BrowserSessions([b"guessed-key-" * 4], MemoryGuard(), clock=world.clock)
    _, forged_alice = foreign.issue(world.account_id, "alice", lifetime=3600, mfa_time=world.clock.now)
    _, forged_root = foreign.issue(world.account_id, None, lifetime=3600, mfa_time=world.clock.now)
    attempts = [
        f"ram_session={forged_alice}",
        f"ram_session={forged_root}",
        f"ram_session={genuine}; ram_session={forged_alice}",  # two cookies of the same name, both orders
        f"ram_session={forged_alice}; ram_session={genuine}",
        f"RAM_SESSION={forged_alice}",
        f"ram_session={genuine[: len(genuine) // 2]}",
        f'ram_session="{genuine}"x',
        f"ram_session={genuine}\x00",
        "ram_session=" + "A" * 5000,
        "ram_session=%00%ff%fe",
        f"ram_session={genuine.replace('.', '..', 1)}",
    ]
    for cookie in attempts:
        for headers in (HTML, JSON):
            reply = with_cookie_header(bob, REPORTS, cookie, headers)
            assert reply.status_code < 500, (cookie[:80], reply.status_code)
            assert who(reply) in (None, world.arn("bob")), (cookie[:80], reply.text[:200])
            if headers is JSON and reply.status_code >= 400:
                body = reply.json()
                assert body["Code"] and body["Message"] and body["RequestId"]
    assert who(with_cookie_header(bob, REPORTS, f"ram_session={genuine}")) == world.arn("bob")


@pytest.mark.usefixtures("cheap_argon2")
def test_a_bad_signature_never_falls_back_to_the_session_cookie(site: Site) -> None:
    # A genuine cookie presented together with a bad signature: the signature is checked and fails; a
    # credential that is present but wrong never falls back to another one.
    bob = signed_in(site, "bob")
    reply = bob.http.get(
        REPORTS,
        headers={**JSON, "authorization": "ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host,Signature=0"},
    )
    assert reply.status_code in (400, 401, 403), reply.text
    assert who(reply) is None


# --- session fixation ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("cheap_argon2")
def test_planted_session_is_not_promoted_by_the_victims_logon(site: Site) -> None:
    world = site.world
    attacker = signed_in(site, "bob")
    planted = attacker.session or ""
    victim = site.client()
    victim.set_cookie("ram_session", planted)
    assert victim.logon("alice").status_code == 303
    assert victim.logon_mfa(world.code("alice")).status_code == 303
    after = victim.session
    assert after and after != planted
    assert who(victim.get(REPORTS)) == world.arn("alice")
    # The attacker's copy never became alice (it was rotated away: refused, or at most still bob).
    assert who(with_cookie_header(attacker, REPORTS, f"ram_session={planted}")) in (None, world.arn("bob"))
    # An attacker-chosen value planted before the victim's logon is replaced too.
    other = site.client()
    other.set_cookie("ram_session", "attacker-chosen-value")
    assert other.logon("bob").status_code == 303
    assert other.session not in (None, "attacker-chosen-value")


@pytest.mark.usefixtures("cheap_argon2")
def test_a_pending_logon_planted_in_another_browser_gives_no_session(site: Site) -> None:
    world = site.world
    attacker = site.client()
    assert attacker.logon("alice").status_code == 303  # password right, MFA pending
    pending = {name: value for name, value in attacker.http.cookies.items() if name != "ram_session"}
    victim = site.client()
    for name, value in pending.items():
        victim.set_cookie(name, value)
    # Without the attacker's own CSRF cookie the form cannot even be posted by the victim's page...
    refused = victim.post("/console/logon/mfa", {"code": world.code("alice")})
    assert refused.status_code in (303, 400, 403) and victim.session is None
    # ...and the pending logon finishes only once, in the browser that holds it.
    assert attacker.logon_mfa(world.code("alice")).status_code == 303


# --- CSRF on every form -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("cheap_argon2")
def test_no_console_form_accepts_a_post_without_this_sessions_token(site: Site) -> None:
    world = site.world
    service, account = world.ram.service, world.account_id
    alice = signed_in(site, "alice")
    bob = signed_in(site, "bob")
    bobs_token = bob.token("/console/")
    keys_before = len(service.list_access_keys(account, "alice"))
    for path in FORMS:
        for token in (None, "", "A" * 43, bobs_token):
            data = {
                "action": "create",
                "old_password": PASSWORD,
                "new_password": "N3w-Passw0rd!x",
                "confirm": "N3w-Passw0rd!x",
                "code": world.code("alice"),
                "account": ALIAS,
                "user_name": "alice",
                "password": PASSWORD,
            }
            if token is not None:
                data["csrf_token"] = token
            reply = alice.post(path, data, headers={**HTML, "origin": "https://evil.example"})
            assert reply.status_code in (303, 400, 403, 404, 405), (path, token, reply.status_code)
            assert reply.status_code != 303 or "/console/logon" in reply.headers.get("location", ""), path
    # Nothing changed: still signed in, same password, same keys, device still bound.
    assert who(alice.get(REPORTS)) == world.arn("alice")
    service.verify_login_password(account, "alice", PASSWORD)
    assert len(service.list_access_keys(account, "alice")) == keys_before
    assert service.get_user_mfa_info(account, "alice").serial_number


# --- enumeration --------------------------------------------------------------------------------------------


def _alert(text: str) -> str:
    found = re.search(r'role="alert"[^>]*>(.*?)<', text, re.S)
    return found.group(1).strip() if found else ""


def test_logon_for_an_unknown_user_looks_and_takes_the_same(site: Site) -> None:
    """Real argon2 cost (no cheap hasher): the time must not tell a wrong password from an unknown user."""
    browser = site.client()
    cases = {
        "wrong password": (ALIAS, "bob"),
        "unknown user": (ALIAS, "mallory"),
        "no login profile": (ALIAS, "eve-has-none"),
        "unknown account": ("no-such-account", "bob"),
    }
    site.world.ram.service.create_user(site.world.account_id, "eve-has-none")
    timings: dict[str, list[float]] = {label: [] for label in cases}
    shapes: dict[str, tuple[int, str, tuple[str, ...]]] = {}
    token = browser.token("/console/logon")
    for _ in range(5):
        for label, (account, user) in cases.items():
            data = {"csrf_token": token, "account": account, "user_name": user, "password": "Wrong-passw0rd!"}
            started = time.process_time()
            reply = browser.post("/console/logon", data)
            timings[label].append(time.process_time() - started)
            cookies = tuple(sorted(c.split("=", 1)[0] for c in reply.headers.get_list("set-cookie")))
            shapes[label] = (reply.status_code, _alert(reply.text), cookies)
    assert len(set(shapes.values())) == 1, shapes
    # CPU time (all the process's threads: the hash's too), the fastest of each: wall time on a loaded
    # machine measures the scheduler, while a path that skipped the hash would cost a fraction of the work.
    fastest = {label: min(values) for label, values in timings.items()}
    shown = ", ".join(f"{label} {value * 1000:.0f} ms" for label, value in fastest.items())
    print(f"\nadversarial: console logon failure CPU time, fastest of 5 ({site.variant}): {shown}")
    assert max(fastest.values()) / min(fastest.values()) < 1.5, shown


# --- TOTP brute force ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("cheap_argon2")
def test_totp_guessing_is_locked_out_even_across_parallel_logons(site: Site) -> None:
    world = site.world
    limit = world.ram.service.get_password_policy(world.account_id).max_login_attempts
    browsers = [site.client() for _ in range(3)]
    for browser in browsers:
        assert browser.logon("alice").status_code == 303  # the attacker knows the password
    right = world.code("alice")
    wrong = [f"{(int(right) + offset) % 1_000_000:06d}" for offset in range(1, 40)]
    locked_after = None
    for guesses, guess in enumerate(wrong, start=1):
        browser = browsers[guesses % len(browsers)]
        reply = browser.logon_mfa(guess)
        assert reply.status_code != 303 or browser.session is None, "a wrong code signed in"
        if reply.status_code == 429 or "Too many failed logon attempts" in reply.text:
            locked_after = guesses
            break
    assert locked_after is not None and locked_after <= limit + 1, (locked_after, limit)
    # Locked: the right code, and even a fresh logon with the right password, are refused now.
    assert browsers[0].logon_mfa(right).status_code != 303 or browsers[0].session is None
    fresh = site.client()
    assert fresh.logon("alice").status_code == 429
    print(f"\nadversarial: TOTP guessing locked after {locked_after} guesses (MaxLoginAttemps {limit})")


# --- secrets in logs ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("cheap_argon2")
def test_console_logon_leaves_no_secret_in_logs_or_audit(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    world = site.world
    caplog.set_level(logging.DEBUG)
    browser = site.client()
    browser.logon("alice", "Wrong-passw0rd!")
    code = world.code("alice")
    browser.logon("alice")
    browser.logon_mfa("000000")
    browser.logon_mfa(code)
    cookie = browser.session or "no-session"
    browser.get(REPORTS)
    server = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    audit = "\n".join(event.to_json() for event in world.audit.events)
    assert len(world.audit.events) >= 3
    for secret in (PASSWORD, "Wrong-passw0rd!", world.seeds["alice"], cookie, code):
        assert secret not in server and secret not in audit, secret[:4]


# --- fuzzing the console's pages ----------------------------------------------------------------------------


def console_target(variant: str, world: World) -> Target:
    app, _ = make_app(variant, world.ram)
    driver = AsgiDriver(app) if variant == "starlette" else WsgiDriver(app)

    def handler_ran(reply: RawReply) -> bool:
        body = reply.body
        return b'<p id="who">' in body and b'<p id="who">nobody</p>' not in body

    return Target(f"console-{variant}", driver, frozenset({"/"}), handler_ran)


@pytest.mark.parametrize("variant", VARIANTS)
def test_random_requests_at_the_console(variant: str, console_world: World, cheap_argon2: None) -> None:
    target = console_target(variant, console_world)
    paths = st.sampled_from(
        [p.encode() for p in (*FORMS, "/console/", "/console", REPORTS, "/danger", "/pay", "/")]
    )
    fields = st.lists(
        st.tuples(
            st.sampled_from(
                [
                    b"csrf_token",
                    b"account",
                    b"user_name",
                    b"password",
                    b"code",
                    b"next",
                    b"action",
                    b"binding",
                    b"code1",
                    b"code2",
                    b"access_key_id",
                ]
            ),
            garbage(40),
        ),
        max_size=6,
    ).map(lambda pairs: b"&".join(name + b"=" + visible(value) for name, value in pairs))
    cookies = st.lists(
        st.tuples(st.sampled_from([b"ram_session", b"ram_csrf", b"ram_logon", b"x"]), garbage(60)), max_size=3
    ).map(lambda pairs: b"; ".join(name + b"=" + header_safe(value) for name, value in pairs))

    @fuzz_settings(250)
    @given(
        method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
        path=paths,
        query=st.one_of(st.just(b""), garbage(40).map(lambda g: b"next=" + visible(g))),
        body=fields,
        cookie=cookies,
        accept=st.sampled_from([b"text/html", b"application/json", b"*/*", b""]),
        content_type=st.sampled_from(
            [b"application/x-www-form-urlencoded", b"multipart/form-data", b"text/plain"]
        ),
    )
    def run(
        method: str, path: bytes, query: bytes, body: bytes, cookie: bytes, accept: bytes, content_type: bytes
    ) -> None:
        headers = (
            (b"cookie", cookie),
            (b"accept", accept),
            (b"content-type", content_type),
            (b"host", b"testserver"),
        )
        request = RawRequest(method, path, query, headers, body if method != "GET" else b"")
        check_reply(target, request, target.send(request), signed=False)

    try:
        run()
    finally:
        target.driver.close()
