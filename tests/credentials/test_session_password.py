"""Console sessions end on a password change made by another instance, at the cost of a cached lookup."""

from __future__ import annotations

import pytest

from ram_middleware import errors
from ram_middleware.credentials.session import BrowserSessions, SessionAuthenticator, SessionRevoked
from ram_middleware.guard import MemoryGuard
from ram_middleware.service import RamService
from ram_middleware.store import Store
from ram_middleware.store.cache import Directory
from tests.credentials.session_users import PASSWORD

NEW_PASSWORD = "An0ther-Secret!"
KEY = b"k" * 32


def _authenticator(store: Store, refresh_interval: float) -> SessionAuthenticator:
    directory = Directory(store, refresh_interval=refresh_interval)
    return SessionAuthenticator(BrowserSessions([KEY], MemoryGuard()), directory)


def test_a_change_on_another_instance_ends_the_session(
    bob_account: str, two_instances: tuple[RamService, Store]
) -> None:
    svc, other_store = two_instances
    other = _authenticator(other_store, refresh_interval=0)
    proved = svc.get_login_profile(bob_account, "bob").password_changed_date
    session, _ = other.sessions.issue(bob_account, "bob", lifetime=600, password_changed=proved)
    assert other.principal(session).name == "bob"
    svc.change_password(bob_account, "bob", PASSWORD, NEW_PASSWORD)
    with pytest.raises(SessionRevoked, match="password was changed"):
        other.principal(session)
    svc.delete_login_profile(bob_account, "bob")
    with pytest.raises(SessionRevoked, match="Console access was removed"):
        other.principal(session)


def test_a_known_session_costs_no_store_read(
    bob_account: str, two_instances: tuple[RamService, Store]
) -> None:
    svc, store = two_instances
    auth = _authenticator(store, refresh_interval=3600)
    proved = svc.get_login_profile(bob_account, "bob").password_changed_date
    session, _ = auth.sessions.issue(bob_account, "bob", lifetime=600, password_changed=proved)
    auth.principal(session)  # warms the directory

    def no_reads() -> None:
        raise errors.ServiceUnavailable("the store was read")

    store.read = no_reads  # type: ignore[method-assign,assignment]
    for _ in range(3):
        assert auth.principal(session).name == "bob"


def test_a_password_changed_while_a_request_is_decided_ends_the_session_there_too(
    bob_account: str,
    two_instances: tuple[RamService, Store],
) -> None:
    # The session is checked in one snapshot and the policies are read in a later one: a password change
    # and a new grant landing between the two must not meet (the old session with the new rights).
    svc, store = two_instances
    auth = _authenticator(store, refresh_interval=0)
    proved = svc.get_login_profile(bob_account, "bob").password_changed_date
    session, _ = auth.sessions.issue(bob_account, "bob", lifetime=600, password_changed=proved)
    principal = auth.principal(session)
    directory = auth._directory
    assert directory.policy_set(principal).statement_count == 0  # unchanged: the set comes back
    svc.change_password(bob_account, "bob", PASSWORD, NEW_PASSWORD)
    svc.attach_policy_to_user(bob_account, "System", "AdministratorAccess", "bob")
    with pytest.raises(SessionRevoked, match="password was changed"):
        directory.policy_set(principal)
    svc.delete_login_profile(bob_account, "bob")
    with pytest.raises(SessionRevoked, match="Console access was removed"):
        directory.policy_set(principal)
