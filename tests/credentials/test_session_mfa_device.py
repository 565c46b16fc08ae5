"""Console sessions end when their identity's MFA device is bound or unbound, also by another instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.credentials.session import (
    BrowserSession,
    BrowserSessions,
    SessionAuthenticator,
    SessionRevoked,
    binding_time,
)
from ram_middleware.guard import MemoryGuard
from ram_middleware.service import RamService
from ram_middleware.store import Store
from ram_middleware.store.cache import Directory

KEY = b"k" * 32


def _bind(svc: RamService, account: str, name: str) -> datetime:
    """Bind a new device to bob (two consecutive codes, as an app shows them); returns its ActivateDate."""
    created = svc.create_virtual_mfa_device(account, name)
    step = time_step(datetime.now(UTC))
    seed = created.base32_seed
    device = svc.bind_mfa_device(
        account, created.device.serial_number, "bob", code_at(seed, step - 1), code_at(seed, step)
    )
    assert device.activate_date is not None
    return device.activate_date


def _authenticator(store: Store) -> SessionAuthenticator:
    return SessionAuthenticator(BrowserSessions([KEY], MemoryGuard()), Directory(store, refresh_interval=0))


def _signed_in(svc: RamService, auth: SessionAuthenticator, account: str, **named: object) -> BrowserSession:
    """A session of bob as a logon on ``auth``'s instance issues it (``named``: what it names)."""
    proved = svc.get_login_profile(account, "bob").password_changed_date
    session, _ = auth.sessions.issue(account, "bob", lifetime=600, password_changed=proved, **named)  # type: ignore[arg-type]
    return session


def test_an_unbinding_on_another_instance_ends_the_session(
    bob_account: str, two_instances: tuple[RamService, Store]
) -> None:
    svc, other_store = two_instances
    bound = _bind(svc, bob_account, "bob-phone")
    other = _authenticator(other_store)
    now = datetime.now(UTC)
    session = _signed_in(svc, other, bob_account, mfa_time=now, mfa_binding=binding_time(bound))
    assert other.principal(session).mfa_present is True
    svc.unbind_mfa_device(bob_account, "bob")  # the phone was lost
    with pytest.raises(SessionRevoked, match="MFA device was changed"):
        other.principal(session)
    _bind(svc, bob_account, "bob-new-phone")  # and a new one bound: the old session stays ended
    with pytest.raises(SessionRevoked, match="MFA device was changed"):
        other.principal(session)


def test_a_binding_on_another_instance_ends_password_only_sessions(
    bob_account: str,
    two_instances: tuple[RamService, Store],
) -> None:
    svc, other_store = two_instances
    other = _authenticator(other_store)
    session = _signed_in(svc, other, bob_account, mfa_binding=binding_time(None))
    assert other.principal(session).mfa_present is False
    bound = _bind(svc, bob_account, "bob-phone")
    with pytest.raises(SessionRevoked, match="MFA device was changed"):
        other.principal(session)
    after = _signed_in(svc, other, bob_account, mfa_time=datetime.now(UTC), mfa_binding=binding_time(bound))
    assert other.principal(after).mfa_present is True


def test_an_unbinding_while_a_request_is_decided_ends_the_session_there_too(
    bob_account: str,
    two_instances: tuple[RamService, Store],
) -> None:
    # Checked in one snapshot, policies read in a later one: the session signed in with the removed device
    # must not meet a grant made after the removal.
    svc, store = two_instances
    bound = _bind(svc, bob_account, "bob-phone")
    auth = _authenticator(store)
    session = _signed_in(svc, auth, bob_account, mfa_time=datetime.now(UTC), mfa_binding=binding_time(bound))
    principal = auth.principal(session)
    directory = auth._directory
    assert directory.policy_set(principal).statement_count == 0
    svc.unbind_mfa_device(bob_account, "bob")
    svc.attach_policy_to_user(bob_account, "System", "AdministratorAccess", "bob")
    with pytest.raises(SessionRevoked, match="MFA device was changed"):
        directory.policy_set(principal)


def test_a_session_that_names_no_binding_fails_closed(
    bob_account: str, two_instances: tuple[RamService, Store]
) -> None:
    # Cookies issued before sessions named their MFA binding: judged by their whole-second times.
    svc, store = two_instances
    auth = _authenticator(store)
    password_only = _signed_in(svc, auth, bob_account)
    with_mfa = _signed_in(svc, auth, bob_account, mfa_time=datetime.now(UTC))
    assert auth.principal(password_only).mfa_present is False
    with pytest.raises(SessionRevoked):  # MFA, but no device is bound: it was removed
        auth.principal(with_mfa)
    bound = _bind(svc, bob_account, "bob-phone")
    with pytest.raises(SessionRevoked):  # a device bound in or after the session's authentication second
        auth.principal(password_only)
    later = _signed_in(svc, auth, bob_account, mfa_time=bound, auth_time=bound + timedelta(seconds=1))
    assert auth.principal(later).mfa_present is True
