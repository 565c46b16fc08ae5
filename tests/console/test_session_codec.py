"""BrowserSessions and SessionAuthenticator on their own: keys, rotation, expiry, revocation, parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ram_middleware import errors
from ram_middleware.credentials.session import (
    BrowserSessions,
    InvalidSession,
    SessionExpired,
    SessionRevoked,
    cookie_value,
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
