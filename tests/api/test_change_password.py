"""ChangePassword through alibabacloud-ram20150501: the security preference grants it, policies still decide,
and each call is audited once, naming what decided it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import pytest
from alibabacloud_ram20150501 import models as m  # type: ignore[import-untyped]
from alibabacloud_sts20150401 import models as sts_models  # type: ignore[import-untyped]
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware import errors
from ram_middleware.audit import AuditEvent
from ram_middleware.credentials.preference import SecurityPreference

from .conftest import start_live
from .live import Key, Live, ram_client, sts_client

OLD, NEW = "Old-Passw0rd!", "New-Passw0rd!"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(str(tmp_path_factory.mktemp("change-password")), alias="password-co")


@pytest.fixture(autouse=True)
def _default_preference(live: Live) -> Iterator[None]:
    yield
    live.ram.service.set_security_preference(live.account_id, SecurityPreference())


def person(live: Live, name: str, *policies: Mapping[str, object]) -> Key:
    """A RAM user with a console password, an AccessKey and the given custom policies."""
    service, account = live.ram.service, live.account_id
    service.create_user(account, name)
    service.create_login_profile(account, name, OLD)
    for n, statement in enumerate(policies):
        policy_name = f"{name}-{n}"
        service.create_policy(account, policy_name, json.dumps({"Version": "1", "Statement": [statement]}))
        service.attach_policy(account, "user", name, "Custom", policy_name)
    created = service.create_access_key(account, name)
    return Key(created.key.access_key_id, created.secret)


def events(live: Live, request_id: str) -> list[AuditEvent]:
    return [e for e in live.audit.events if e.request_id == request_id]


def change(live: Live, key: Key) -> str:
    """ChangePassword OLD -> NEW with ``key``; the RequestId of the call (a refusal raises TeaException)."""
    request = m.ChangePasswordRequest(old_password=OLD, new_password=NEW)
    return str(ram_client(live, key).change_password(request).body.request_id)


def refused(live: Live, key: Key) -> TeaException:
    with pytest.raises(TeaException) as failed:
        change(live, key)
    return failed.value


def password_is(live: Live, name: str, password: str) -> bool:
    try:
        live.ram.service.verify_login_password(live.account_id, name, password)
    except errors.RAMError:
        return False
    return True


def test_the_preference_lets_a_user_without_policies_change_its_password_audited_once(live: Live) -> None:
    request_id = change(live, person(live, "plain"))
    assert password_is(live, "plain", NEW)
    [event] = events(live, request_id)
    assert (event.decision, event.status, event.action, event.resource) == (
        "Allow",
        200,
        "ram:ChangePassword",
        live.arn("user/plain"),
    )
    assert event.policy is not None and "AllowUserToChangePassword" in event.policy


def test_an_explicit_deny_beats_the_preference(live: Live) -> None:
    deny = {"Effect": "Deny", "Action": "ram:ChangePassword", "Resource": "*"}
    failure = refused(live, person(live, "frozen", deny))
    assert (failure.code, failure.statusCode) == ("NoPermission", 403)
    assert password_is(live, "frozen", OLD)
    [event] = events(live, failure.data["RequestId"])
    assert (event.decision, event.action) == ("ExplicitDeny", "ram:ChangePassword")
    assert event.policy is not None and "frozen-0" in event.policy


def test_a_policy_grants_it_with_the_preference_off(live: Live) -> None:
    own = {"Effect": "Allow", "Action": "ram:ChangePassword", "Resource": live.arn("user/granted")}
    granted, plain = person(live, "granted", own), person(live, "ungranted")
    live.ram.service.set_security_preference(
        live.account_id, SecurityPreference(allow_user_to_change_password=False)
    )
    [event] = events(live, change(live, granted))
    assert password_is(live, "granted", NEW)
    assert (event.decision, event.policy) == ("Allow", "custom policy granted-0 (user granted)")
    failure = refused(live, plain)
    assert (failure.code, failure.statusCode) == ("NoPermission", 403)
    assert password_is(live, "ungranted", OLD)
    [denial] = events(live, failure.data["RequestId"])
    assert (denial.decision, denial.action) == ("ImplicitDeny", "ram:ChangePassword")


def test_a_role_session_is_told_it_has_no_password_in_one_event(live: Live) -> None:
    account = live.account_id
    trust = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [live.arn("root")]}}
    live.ram.service.create_role(account, "Helper", json.dumps({"Version": "1", "Statement": [trust]}))
    live.ram.service.attach_policy(account, "role", "Helper", "System", "AdministratorAccess")
    assume = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
    caller = person(live, "assumer", assume)
    request = sts_models.AssumeRoleRequest(role_arn=live.arn("role/helper"), role_session_name="helper-1")
    issued = sts_client(live, caller).assume_role(request).body.credentials
    session = Key(issued.access_key_id, issued.access_key_secret, issued.security_token)
    failure = refused(live, session)
    assert (failure.code, failure.statusCode) == ("InvalidParameter.Caller", 400)
    [event] = events(live, failure.data["RequestId"])
    assert (event.decision, event.status, event.code) == ("Rejected", 400, "InvalidParameter.Caller")
