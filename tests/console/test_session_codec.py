"""BrowserSessions and SessionAuthenticator on their own: keys, rotation, expiry, revocation, parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ram_middleware import errors
from ram_middleware.credentials.session import (
    BrowserSession,
    BrowserSessions,
    InvalidSession,
    SessionAuthenticator,
    SessionExpired,
    SessionRevoked,
    cookie_value,
    password_time,
)
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard

from .world import Clock, World

OLD, NEW = b"o" * 32, b"n" * 32
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _sessions(keys: list[bytes], guard: MemoryGuard, clock: Clock, **options: float) -> BrowserSessions:
    return BrowserSessions(keys, guard, clock=clock, **options)


def test_key_rotation_newest_signs_all_verify() -> None:
    clock, guard = Clock(T0), MemoryGuard()
    before = _sessions([OLD], guard, clock)
    after = _sessions([NEW, OLD], guard, clock)
    _, old_cookie = before.issue("1" * 16, "alice", lifetime=3600)
    assert after.loads(old_cookie).user_name == "alice"  # issued before the rotation: still valid
    _, new_cookie = after.issue("1" * 16, "alice", lifetime=3600)
    with pytest.raises(InvalidSession):
        before.loads(new_cookie)  # signed with the new key only
    with pytest.raises(InvalidSession):
        _sessions([NEW], guard, clock).loads(old_cookie)  # the old key retired


def test_timeouts_and_future_dates() -> None:
    clock, guard = Clock(T0), MemoryGuard()
    sessions = _sessions([NEW], guard, clock, idle_timeout=600, refresh_after=60)
    session, cookie = sessions.issue("1" * 16, None, lifetime=3600, mfa_time=T0)
    assert session.mfa_present and session.mfa_age(T0 + timedelta(seconds=5)) == 5
    assert not sessions.due_for_refresh(session)
    clock.advance(seconds=599)
    assert sessions.due_for_refresh(session)
    session, cookie = sessions.refresh(session)
    clock.advance(seconds=599)
    assert sessions.loads(cookie).session_id == session.session_id
    clock.advance(seconds=2)
    with pytest.raises(SessionExpired):
        sessions.loads(cookie)
    clock.now = T0 - timedelta(minutes=5)  # our clock behind the issuer's: refused as future-dated
    with pytest.raises(InvalidSession):
        sessions.loads(cookie)


def test_absolute_lifetime_wins_over_refreshes() -> None:
    clock, guard = Clock(T0), MemoryGuard()
    sessions = _sessions([NEW], guard, clock, idle_timeout=600, refresh_after=60)
    _, cookie = sessions.issue("1" * 16, "bob", lifetime=900)
    for _ in range(3):
        clock.advance(seconds=290)
        _, cookie = sessions.refresh(sessions.loads(cookie))
    clock.advance(seconds=100)  # 970 s after logon
    with pytest.raises(SessionExpired):
        sessions.loads(cookie)


def test_revocation_is_shared_through_the_guard() -> None:
    clock, guard = Clock(T0), MemoryGuard()
    first, second = _sessions([NEW], guard, clock), _sessions([NEW], guard, clock)  # two instances
    session, cookie = first.issue("1" * 16, "bob", lifetime=3600)
    rotated, rotated_cookie = first.rotate(session, mfa_time=T0)
    assert rotated.session_id != session.session_id and rotated.mfa_time == T0
    with pytest.raises(SessionRevoked):
        second.loads(cookie)
    second.revoke(rotated)
    with pytest.raises(SessionRevoked):
        first.loads(rotated_cookie)
    assert first.loads(rotated_cookie, check_revoked=False).user_name == "bob"


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(errors.InvalidParameter):
        BrowserSessions([b"short"], MemoryGuard())
    with pytest.raises(errors.InvalidParameter):
        BrowserSessions([NEW], MemoryGuard(), idle_timeout=30, refresh_after=60)


def test_session_and_keys_stay_out_of_reprs() -> None:
    sessions = _sessions([NEW], MemoryGuard(), Clock(T0))
    session, _ = sessions.issue("1" * 16, "bob", lifetime=60)
    assert session.session_id not in repr(session) and "nnnn" not in repr(sessions)


def test_cookie_value_takes_the_first_matching_cookie() -> None:
    facts = RequestFacts(
        "GET", "/", headers=(("Cookie", "a=1; ram_session=first; ram_session=second"), ("cookie", "b=2"))
    )
    assert cookie_value(facts, "ram_session") == "first"
    assert cookie_value(facts, "b") == "2"
    assert cookie_value(facts, "missing") is None
    assert cookie_value(RequestFacts("GET", "/"), "ram_session") is None


def test_authenticator_scheme_order_signature_wins_over_cookie(world: World) -> None:
    from ram_middleware.console import Console

    console = Console(world.ram)
    world.clock.advance(seconds=1)  # a session from the second bob's password was set counts as older
    _, cookie = console.sessions.issue(world.account_id, "bob", lifetime=600)
    session_facts = RequestFacts("GET", "/reports", headers=(("cookie", f"ram_session={cookie}"),))
    principal = world.ram.authenticator.authenticate(session_facts)
    assert principal is not None and principal.auth_method == "session" and principal.mfa_present is False
    bad_signature = RequestFacts(
        "GET", "/reports", query="AccessKeyId=nope&Signature=x",
        headers=(("cookie", f"ram_session={cookie}"),),
    )  # fmt: skip
    with pytest.raises(errors.AuthenticationError) as raised:
        world.ram.authenticator.authenticate(bad_signature)  # a bad signature never falls back to the cookie
    assert not isinstance(raised.value, InvalidSession)


def _check(auth: SessionAuthenticator, cookie: str) -> str:
    """``ok``, or the code a request with ``cookie`` is refused with."""
    try:
        auth.principal(auth.sessions.loads(cookie))
    except InvalidSession as exc:
        return exc.code
    return "ok"


def test_a_change_in_the_same_second_is_told_apart_by_the_password(world: World) -> None:
    service, account = world.ram.service, world.account_id
    world.clock.now = world.clock.now.replace(microsecond=0) + timedelta(hours=1, milliseconds=200)
    auth = SessionAuthenticator(_sessions([NEW], MemoryGuard(), world.clock), world.ram.directory)
    proved = service.get_login_profile(account, "bob").password_changed_date
    _, before = auth.sessions.issue(account, "bob", lifetime=3600, password_changed=proved)
    _, unnamed_before = auth.sessions.issue(account, "bob", lifetime=3600)  # no password named: `at` only
    world.clock.advance(milliseconds=500)  # the same whole second
    changed = service.update_login_profile(account, "bob", password="An0ther-Secret!").password_changed_date
    assert changed is not None and changed.replace(microsecond=0) == world.clock.now.replace(microsecond=0)
    _, after = auth.sessions.issue(account, "bob", lifetime=3600, password_changed=changed)
    _, unnamed_after = auth.sessions.issue(account, "bob", lifetime=3600)
    assert _check(auth, before) == "InvalidSession.Revoked"  # made before the change: refused
    assert _check(auth, after) == "ok"  # made after it, in the same second: kept
    # Without a named password the whole-second `at` decides, and the change's second counts as before it.
    assert _check(auth, unnamed_before) == _check(auth, unnamed_after) == "InvalidSession.Revoked"
    world.clock.advance(seconds=1)
    assert _check(auth, auth.sessions.issue(account, "bob", lifetime=3600)[1]) == "ok"


def test_rotation_for_a_new_password_names_it_and_restarts_the_authentication_time(world: World) -> None:
    sessions = _sessions([NEW], MemoryGuard(), world.clock)
    session, _ = sessions.issue(world.account_id, "bob", lifetime=3600, password_changed=T0)
    world.clock.advance(minutes=5)
    stepped, _ = sessions.rotate(session, mfa_time=world.clock.now)
    assert stepped.auth_time == session.auth_time and stepped.password_time == session.password_time
    renewed, cookie = sessions.rotate(stepped, password_changed=T0 + timedelta(microseconds=7))
    assert renewed.auth_time == world.clock.now and renewed.expires == session.expires
    assert renewed.password_time == (password_time(T0) or 0) + 7
    assert sessions.loads(cookie).password_time == renewed.password_time


def test_password_time_must_be_a_number() -> None:
    sessions = _sessions([NEW], MemoryGuard(), Clock(T0))
    session, _ = sessions.issue("1" * 16, "bob", lifetime=60)
    forged = sessions._serializer.dumps({**_payload(sessions, session), "pv": "x"})
    with pytest.raises(InvalidSession):
        sessions.loads(str(forged))


def _payload(sessions: BrowserSessions, session: BrowserSession) -> dict[str, object]:
    loaded: dict[str, object] = sessions._serializer.loads(sessions.dumps(session))
    return loaded
