"""Revoking a role's sessions across instances whose clocks disagree: two runtimes on one store (a SQLite
file, a PostgreSQL schema), each issuing and verifying STS tokens with its own clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from ram_middleware.config import DirectoryKeyResolver
from ram_middleware.credentials.sts import IssuedCredentials, StsTokens, assume_role
from ram_middleware.crypto import generate_key
from ram_middleware.identity import Principal
from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from ram_middleware.store.cache import Directory
from tests.scaleout.servers import pg_schema_url, require_shared_postgres

from ..store.backends import FakeClock, expect_code

STS_KEY = b"k" * 32
SKEW = timedelta(seconds=30)


@dataclass
class Instance:
    """One runtime: its service, its clock, its token codec and the resolver requests go through."""

    svc: RamService
    clock: FakeClock
    tokens: StsTokens
    resolver: DirectoryKeyResolver

    def assume(self, acct: str, caller: Principal | str, role_name: str) -> IssuedCredentials:
        """AssumeRole as ``caller`` (a user name, or a role session), as the STS API does it."""
        role = self.svc.get_role(acct, role_name)
        principal = self.svc.directory.principal_for_user(acct, caller) if isinstance(caller, str) else caller
        decision = self.svc.simulate(acct, principal, "sts:AssumeRole", role.arn, {})
        params = {"RoleArn": role.arn, "RoleSessionName": "job"}
        return assume_role(principal, decision, role, params, self.tokens).credentials

    def session(self, creds: IssuedCredentials) -> Principal:
        """The role session ``creds`` stand for, as a request signed with them is authenticated here."""
        return self.resolver.verify_security_token(creds.access_key_id, creds.security_token).principal

    def refused(self, creds: IssuedCredentials) -> None:
        with expect_code("InvalidSecurityToken.Revoked"):
            self.session(creds)


@contextmanager
def _two_stores(kind: str, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two Store objects on one database, as two instances have."""
    with ExitStack() as stack:
        if kind == "sqlite":
            url, keys = f"sqlite:///{tmp_path}/ram.db", None
        else:
            require_shared_postgres()
            url, keys = stack.enter_context(pg_schema_url()), [generate_key()]
        first = stack.enter_context(closing(open_store(url, master_keys=keys, env={})))
        second = stack.enter_context(closing(open_store(url, master_keys=keys, env={})))
        yield first, second


@pytest.fixture(params=["sqlite", "postgres"])
def instances(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    """``ahead`` (its clock SKEW fast) and ``right`` (the revoker's), on one store, each seeing the other's
    writes at once (``refresh_interval=0``)."""
    with _two_stores(request.param, tmp_path) as stores:
        pair = []
        for store, offset in zip(stores, (SKEW, timedelta()), strict=True):
            clock = FakeClock()
            clock.now += offset
            svc = RamService(store, clock=clock, directory=Directory(store, refresh_interval=0))
            tokens = StsTokens([STS_KEY], clock=clock)
            pair.append(Instance(svc, clock, tokens, DirectoryKeyResolver(svc.directory, tokens)))
        yield pair[0], pair[1]


def _trust(principal: str) -> str:
    return json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [principal]}}]}
    )  # fmt: skip


def _setup(svc: RamService) -> str:
    acct = svc.create_account().account_id
    svc.create_user(acct, "alice")
    svc.attach_policy_to_user(acct, "System", "AliyunSTSAssumeRoleAccess", "alice")
    svc.create_role(acct, "Outer", _trust(f"acs:ram::{acct}:root"))
    svc.attach_policy_to_role(acct, "System", "AliyunSTSAssumeRoleAccess", "Outer")
    svc.create_role(acct, "Inner", _trust(f"acs:ram::{acct}:role/outer"))
    return acct


def test_a_session_issued_by_an_instance_whose_clock_runs_ahead_is_revoked(
    instances: tuple[Instance, Instance],
) -> None:
    """Issued just before the revocation, but stamped SKEW after it by its issuer's clock: revoked all the
    same. A session issued after the revocation, by an instance whose clock lags SKEW, is not."""
    ahead, right = instances
    acct = _setup(right.svc)
    before = ahead.assume(acct, "alice", "Outer")
    assert ahead.session(before).name == right.session(before).name == "Outer"
    right.clock.advance(1)
    revoked_at = right.svc.revoke_role_sessions(acct, "Outer")
    assert before.claims.issued_at > revoked_at  # the issue time alone would keep it alive
    right.refused(before)
    ahead.refused(before)
    ahead.clock.now = revoked_at - SKEW  # now a clock behind the revoker's
    after = ahead.assume(acct, "alice", "Outer")
    assert after.claims.issued_at < revoked_at  # the issue time alone would revoke it
    assert right.session(after).name == ahead.session(after).name == "Outer"


def test_a_chained_session_ends_with_any_role_above_it(instances: tuple[Instance, Instance]) -> None:
    ahead, right = instances
    acct = _setup(right.svc)
    outer = ahead.assume(acct, "alice", "Outer")
    inner = ahead.assume(acct, ahead.session(outer), "Inner")
    assert right.session(inner).name == "Inner"
    right.svc.revoke_role_sessions(acct, "Outer")
    right.refused(inner)
    ahead.refused(inner)
    # A session of Outer issued after the revocation chains again; Inner revoked in turn ends the chain.
    inner = ahead.assume(acct, ahead.session(ahead.assume(acct, "alice", "Outer")), "Inner")
    assert right.session(inner).name == "Inner"
    right.svc.revoke_role_sessions(acct, "Inner")
    right.refused(inner)


def test_a_token_without_a_generation_keeps_the_time_rule(instances: tuple[Instance, Instance]) -> None:
    """Tokens sealed before generations existed (or by an instance not yet upgraded) carry none: their
    issuer's clock against the revocation time decides, as before."""
    ahead, right = instances
    acct = _setup(right.svc)
    role = right.svc.get_role(acct, "Outer")

    def issue() -> IssuedCredentials:
        return right.tokens.issue(
            account_id=acct,
            role_name="Outer",
            role_id=role.role_id,
            session_name="old",
            duration_seconds=3600,
        )

    early = issue()
    right.clock.advance(1)
    revoked_at = right.svc.revoke_role_sessions(acct, "Outer")
    right.clock.advance(1)
    late = issue()
    assert early.claims.generation is None and late.claims.issued_at > revoked_at
    right.refused(early)
    assert right.session(late).name == ahead.session(late).name == "Outer"
