"""Upgrading a store the previous release wrote (schema version 1) to the current schema.

The fixtures in ``tests/store/fixtures/`` were made by the previous release's own code (commit e5dd38e) with
``make_v1.py`` (its docstring says how to make them again): an organisation in a SQLite file (``v1.db``)
and in a PostgreSQL schema dumped as plain SQL (``v1_postgres.sql``), each with the credentials that code
handed out (``v1.json``, ``v1_postgres.json``): AccessKey secrets, passwords, MFA seeds, two STS tokens of a
role whose sessions were revoked between them, and a console session cookie. Each test opens a copy with
the current runtime (``build``: the store migrates on opening) on the clock the fixture was made at, and
checks through the current service and authenticator that everything the old code wrote and issued still
works as it did, or is refused as it was.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ram_middleware import errors
from ram_middleware.config import Ram, RamConfig, build
from ram_middleware.console.core import Console
from ram_middleware.credentials import sts
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.facts import RequestFacts
from ram_middleware.identity import Principal, SessionRevocation
from ram_middleware.store.schema import SCHEMA_VERSION
from tests.scaleout.servers import pg_schema_url, require_shared_postgres
from tests.signatures.signing import HOST, signed

from .backends import FakeClock, expect_code

FIXTURES = Path(__file__).parent / "fixtures"
PG_FIXTURE_SCHEMA = "ram_v1_fixture"
# The tests run at 09:40 on the fixture's day: after both STS tokens and the console logon (09:10, 09:30,
# 09:32), before the live token expires (11:30) and within the console session's idle timeout.
MINUTES_AFTER_START = 40


@dataclass
class Upgraded:
    """The current runtime over a migrated copy of a fixture, with what the old code handed out."""

    ram: Ram
    facts: dict[str, Any]
    clock: FakeClock

    @property
    def account(self) -> str:
        return str(self.facts["account_id"])

    def sign(self, key: dict[str, str], scheme: str = "acs3") -> RequestFacts:
        """A request signed now with an AccessKey or STS credentials of the fixture."""
        return signed(
            scheme,
            access_key_id=key["AccessKeyId"],
            secret=key["AccessKeySecret"],
            token=key.get("SecurityToken"),
            when=self.clock.now,
        )

    def authenticate(self, facts: RequestFacts) -> Principal:
        principal = self.ram.authenticator.authenticate(facts)
        assert principal is not None
        return principal


def _load_postgres_dump(url: str) -> None:
    """Run the old release's ``pg_dump`` in the schema of ``url`` (the dump names its own schema)."""
    schema = url.rpartition("%3D")[2]
    dump = (FIXTURES / "v1_postgres.sql").read_text()
    dump = dump.replace(f"CREATE SCHEMA {PG_FIXTURE_SCHEMA};", "").replace(
        f"{PG_FIXTURE_SCHEMA}.", f"{schema}."
    )
    assert PG_FIXTURE_SCHEMA not in dump
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(dump.encode())  # no parameters: the simple query protocol runs the statements in turn


@pytest.fixture(params=["sqlite", "postgres"])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Upgraded]:
    kind: str = request.param
    name = "v1" if kind == "sqlite" else "v1_postgres"
    facts = json.loads((FIXTURES / f"{name}.json").read_text())
    assert facts["schema_version"] == 1
    clock = FakeClock(datetime.fromisoformat(facts["start"]) + timedelta(minutes=MINUTES_AFTER_START))
    with ExitStack() as stack:
        if kind == "sqlite":
            shutil.copyfile(FIXTURES / "v1.db", tmp_path / "ram.db")
            url, guard_url = f"sqlite:///{tmp_path}/ram.db", None
        else:
            require_shared_postgres()
            url = stack.enter_context(pg_schema_url())
            _load_postgres_dump(url)
            # A guard on a file, not Redis: a fresh Redis guard refuses requests signed before it started
            # (it cannot tell them from replays), and this clock is months in the past.
            guard_url = f"sqlite:///{tmp_path}/guard.db"
        config = RamConfig(
            store_url=url,
            guard_url=guard_url,
            master_keys=(facts["master_key"],),
            clock=clock,
            audit="memory:",
        )
        ram = build(config)
        stack.callback(ram.close)
        yield Upgraded(ram, facts, clock)


def test_the_store_is_migrated_to_the_current_version(upgraded: Upgraded) -> None:
    assert upgraded.ram.store.schema_version() == SCHEMA_VERSION == 3


def test_sqlite_fixture_is_version_1_and_its_copy_is_migrated_in_place(tmp_path: Path) -> None:
    with closing(sqlite3.connect(FIXTURES / "v1.db")) as raw:
        assert raw.execute("SELECT version FROM ram_schema_version").fetchall() == [(1,)]
    shutil.copyfile(FIXTURES / "v1.db", tmp_path / "ram.db")
    facts = json.loads((FIXTURES / "v1.json").read_text())
    build(RamConfig(store_url=f"sqlite:///{tmp_path}/ram.db", master_keys=(facts["master_key"],))).close()
    with closing(sqlite3.connect(tmp_path / "ram.db")) as raw:
        assert raw.execute("SELECT version FROM ram_schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "ram_password_history" in tables


def test_every_entity_is_there(upgraded: Upgraded) -> None:
    svc, account = upgraded.ram.service, upgraded.account
    assert svc.find_account("company-x").account_id == account
    assert svc.get_password_policy(account).password_reuse_prevention == 3
    assert [u.user_name for u in svc.list_users(account).items] == ["admin", "alice", "bob", "carol"]
    assert svc.get_user(account, "carol").email == "carol@example.com"
    assert [g.group_name for g in svc.list_groups(account).items] == ["Developers", "Operators"]
    assert [m.user.user_name for m in svc.list_users_for_group(account, "Developers").items] == [
        "alice",
        "bob",
    ]
    assert [g.group.group_name for g in svc.list_groups_for_user(account, "admin")] == ["Operators"]
    assert {r.role_name: r.max_session_duration for r in svc.list_roles(account).items} == {
        "Auditor": 3600,
        "Deployer": 7200,
    }
    auditor = svc.get_role(account, "Auditor")
    assert "audit-2026" in auditor.trust_policy and f"acs:ram::{account}:user/admin" in auditor.trust_policy
    assert svc.get_login_profile(account, "carol").mfa_bind_required
    assert svc.get_login_profile(account, None).user_name is None  # the root's console logon

    def attached(items: list[Any]) -> set[tuple[str, str]]:
        return {(a.entity.policy_type, a.entity.policy_name) for a in items}

    assert attached(svc.list_policies_for_user(account, "admin")) == {
        ("Custom", "AssumeRoles"),
        ("System", "AliyunRAMFullAccess"),
    }
    assert attached(svc.list_policies_for_group(account, "Developers")) == {("Custom", "NotesAccess")}
    assert attached(svc.list_policies_for_group(account, "Operators")) == {("Custom", "NoDeletes")}
    assert attached(svc.list_policies_for_role(account, "Deployer")) == {("Custom", "NotesAccess")}
    assert attached(svc.list_policies_for_role(account, "Auditor")) == {("System", "AliyunRAMReadOnlyAccess")}
    keys = {
        k.access_key_id: k.status for name in ("admin", "bob") for k in svc.list_access_keys(account, name)
    }
    expected = upgraded.facts["access_keys"]
    assert keys == {
        expected["admin"]["AccessKeyId"]: "Active",
        expected["bob"]["AccessKeyId"]: "Active",
        expected["bob_inactive"]["AccessKeyId"]: "Inactive",
    }


def test_policy_versions_are_intact(upgraded: Upgraded) -> None:
    svc, account = upgraded.ram.service, upgraded.account
    documents = upgraded.facts["notes_versions"]
    versions = svc.list_policy_versions(account, "NotesAccess")
    assert sorted((v.version_id, v.is_default, v.document) for v in versions) == [
        ("v1", False, documents[0]),
        ("v2", True, documents[1]),
        ("v3", False, documents[2]),
    ]
    note = f"acs:notes:*:{account}:note/n1"
    # v2 (the default) grants reading only; making v3 the default grants the rest of it.
    assert svc.simulate(account, "alice", "notes:ListNotes", note).allowed
    assert not svc.simulate(account, "alice", "notes:UpdateNote", note).allowed
    svc.set_default_policy_version(account, "NotesAccess", "v3")
    assert svc.simulate(account, "alice", "notes:UpdateNote", note).allowed
    assert svc.simulate(account, "carol", "notes:DeleteNote", note).effect == "ExplicitDeny"


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_access_keys_authenticate_when_active_only(upgraded: Upgraded, scheme: str) -> None:
    keys, account = upgraded.facts["access_keys"], upgraded.account
    for user in ("admin", "bob"):
        principal = upgraded.authenticate(upgraded.sign(keys[user], scheme))
        assert principal.arn == f"acs:ram::{account}:user/{user}"
    with expect_code("InvalidAccessKeyId.Inactive"):
        upgraded.authenticate(upgraded.sign(keys["bob_inactive"], scheme))
    wrong = {**keys["admin"], "AccessKeySecret": keys["bob"]["AccessKeySecret"]}
    with expect_code("SignatureDoesNotMatch"):
        upgraded.authenticate(upgraded.sign(wrong, scheme))


def test_passwords_still_verify(upgraded: Upgraded) -> None:
    svc, account, passwords = upgraded.ram.service, upgraded.account, upgraded.facts["passwords"]
    for user in ("admin", "alice", "carol"):
        assert svc.verify_login_password(account, user, passwords[user]).user_name == user
    assert svc.verify_login_password(account, None, passwords["root"]).user_name is None
    with pytest.raises(errors.LoginFailed):  # an earlier password is no longer hers
        svc.verify_login_password(account, "alice", upgraded.facts["alice_history"][0])


def test_the_password_history_still_refuses_earlier_passwords(upgraded: Upgraded) -> None:
    svc, account = upgraded.ram.service, upgraded.account
    current, (first, second) = upgraded.facts["passwords"]["alice"], upgraded.facts["alice_history"]
    for earlier in (first, second):
        with expect_code("InvalidParameter.PasswordPolicy"):
            svc.change_password(account, "alice", current, earlier)
    for earlier in (first, second, current):
        with expect_code("InvalidParameter.PasswordPolicy"):
            svc.update_login_profile(account, "alice", password=earlier)
    # The history is the user's now: a new login profile cannot start from an earlier password either.
    svc.delete_login_profile(account, "alice")
    for earlier in (first, second, current):
        with expect_code("InvalidParameter.PasswordPolicy"):
            svc.create_login_profile(account, "alice", earlier)
    svc.create_login_profile(account, "alice", "Al1ce!Fourth-2026")
    # Three passwords later the first is out of the window (PasswordReusePrevention 3): usable again.
    svc.change_password(account, "alice", "Al1ce!Fourth-2026", "Al1ce!Fifth-2026")
    svc.change_password(account, "alice", "Al1ce!Fifth-2026", first)


def test_sts_tokens_of_the_old_code_verify_unless_revoked(upgraded: Upgraded) -> None:
    tokens, account = upgraded.facts["sts"], upgraded.account
    with expect_code("InvalidSecurityToken.Revoked"):  # issued 09:10, before the revocation at 09:20
        upgraded.authenticate(upgraded.sign(tokens["revoked"]))
    principal = upgraded.authenticate(upgraded.sign(tokens["live"]))  # issued 09:30
    assert principal.kind == "assumed-role"
    assert principal.arn == f"acs:ram::{account}:assumed-role/Deployer/after-revocation"
    # The old revocation is kept as it was, at generation 0.
    svc = upgraded.ram.service
    revoked_at = datetime.fromisoformat(tokens["deployer_revoked_at"])
    assert svc.get_role(account, "Deployer").session_generation == 0
    with upgraded.ram.store.read() as repo:
        role_id = svc.get_role(account, "Deployer").role_id
        assert repo.get_role_revocation(role_id) == SessionRevocation(revoked_at, 0)


def test_revoking_the_roles_sessions_now_ends_the_old_token(upgraded: Upgraded) -> None:
    svc, account = upgraded.ram.service, upgraded.account
    live = upgraded.facts["sts"]["live"]
    upgraded.authenticate(upgraded.sign(live))
    svc.revoke_role_sessions(account, "Deployer")
    upgraded.clock.advance(1)
    with expect_code("InvalidSecurityToken.Revoked"):
        upgraded.authenticate(upgraded.sign(live))
    # A session issued by the current code after that carries the new generation and is not revoked.
    ram = upgraded.ram
    role = svc.get_role(account, "Deployer")
    assert role.session_generation == 1
    caller = ram.directory.principal_for_user(account, "admin")
    context = {"acs:CurrentTime": sts.format_timestamp(ram.tokens.now())}
    decision = svc.simulate(account, caller, "sts:AssumeRole", role.arn, context, trust=False)
    params = {"RoleArn": role.arn, "RoleSessionName": "after-upgrade"}
    issued = sts.assume_role(caller, decision, role, params, ram.tokens, context=context).to_api()
    principal = upgraded.authenticate(upgraded.sign(dict(issued["Credentials"])))
    assert principal.arn == f"acs:ram::{account}:assumed-role/Deployer/after-upgrade"


def test_mfa_codes_verify_for_the_bound_devices(upgraded: Upgraded) -> None:
    svc, account, mfa = upgraded.ram.service, upgraded.account, upgraded.facts["mfa"]
    step = time_step(upgraded.clock.now)
    assert svc.get_user_mfa_info(account, "carol").serial_number == mfa["carol"]["SerialNumber"]
    root_device = svc.get_root_mfa_info(account)
    assert root_device is not None and root_device.serial_number == mfa["root"]["SerialNumber"]
    assert svc.verify_mfa_code(account, "carol", code_at(mfa["carol"]["Seed"], step)).user_name == "carol"
    assert svc.verify_mfa_code(account, None, code_at(mfa["root"]["Seed"], step)).user_name is None
    with pytest.raises(errors.InvalidAuthenticationCode):  # another device's code
        svc.verify_mfa_code(account, "carol", code_at(mfa["root"]["Seed"], step + 1))


def test_the_console_session_cookie_still_signs_carol_in(upgraded: Upgraded) -> None:
    Console(upgraded.ram)  # installs the session scheme; its keys come from the master key, as before
    cookie = upgraded.facts["console"]["cookie"]
    facts = RequestFacts("GET", "/notes", "", (("host", HOST), ("cookie", f"ram_session={cookie}")))
    principal = upgraded.authenticate(facts)
    assert principal.arn == f"acs:ram::{upgraded.account}:user/carol"
    assert principal.auth_method == "session" and principal.mfa_present
    # Her password changed by the current code ends the session the old code issued.
    upgraded.ram.service.update_login_profile(upgraded.account, "carol", password="Car0l!Changed-2026")
    with pytest.raises(errors.AuthenticationError):
        upgraded.authenticate(facts)
