"""A principal's first decision after an admin change reads the store in a fixed number of statements,
whatever its groups and policies: each Directory lookup is one joined statement that returns the change
counter too (the key with its owner and groups; a user's or role's attachments with the default versions
of their custom policies; a role with its revocation; a user's password and MFA binding times).
Statements are recorded through the repository's connection on SQLite and PostgreSQL, for a small and a
large principal; the policies found are those the store's per-entity reads give. On PostgreSQL the round
trips are counted too (libpq's protocol trace): a lookup's transaction is one."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ram_middleware.config import DirectoryKeyResolver
from ram_middleware.credentials.sts import StsTokens
from ram_middleware.identity import MFA_BOUND, PASSWORD_CHANGED, Principal, SigningKey
from ram_middleware.policy import PolicySet
from ram_middleware.service import RamService
from ram_middleware.store import Store
from ram_middleware.store.cache import Directory
from ram_middleware.store.sql import SqlRepository

from ..service.mfa_helpers import bind_new_device
from .backends import FakeClock, open_backend
from .statements import Recording, recorded, round_trips, traced

DOC = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:Get*", "Resource": "*"}]}'
DOC_V2 = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}'
STS_KEY = b"k" * 32
SIZES = ((1, 1), (5, 3))  # (groups of the user, custom policies per group and on the user and role)
LOOKUP = 1  # statements per Directory lookup: one joined read, which returns the change counter too
# PostgreSQL round trips per lookup: the pool's check of the idle connection, then the lookup's transaction
# (begin, the statement, commit) in one pipeline.
TRIPS = 2
_changes = itertools.count()


@dataclasses.dataclass
class World:
    """A user with an AccessKey in ``groups`` groups and a role, each holding custom and System policies."""

    svc: RamService
    store: Store
    account: str
    access_key_id: str
    role_id: str
    directory: Directory


def build(store: Store, groups: int, policies: int) -> World:
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "alice")
    trust = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [f"acs:ram::{account}:root"]}}]}
    )  # fmt: skip
    role = svc.create_role(account, "Reader", trust)
    for j in range(policies):
        svc.create_policy(account, f"own{j}", DOC)
        svc.attach_policy(account, "user", "alice", "Custom", f"own{j}")
        svc.attach_policy(account, "role", "Reader", "Custom", f"own{j}")
    # A default version other than v1, and a policy the user holds twice (directly and through a group).
    svc.create_policy_version(account, "own0", DOC_V2, set_as_default=True)
    svc.attach_policy(account, "role", "Reader", "System", "AliyunOSSReadOnlyAccess")
    for i in range(groups):
        svc.create_group(account, f"g{i}")
        svc.add_user_to_group(account, f"g{i}", "alice")
        svc.attach_policy(account, "group", f"g{i}", "System", "AliyunECSReadOnlyAccess")
        svc.attach_policy(account, "group", f"g{i}", "Custom", "own0")
        for j in range(1, policies):
            svc.create_policy(account, f"p{i}x{j}", DOC)
            svc.attach_policy(account, "group", f"g{i}", "Custom", f"p{i}x{j}")
    svc.create_group(account, "elsewhere")  # a group (with a policy) the user is not in
    svc.attach_policy(account, "group", "elsewhere", "Custom", "own0")
    key = svc.create_access_key(account, "alice").key.access_key_id
    # No periodic counter check within a test: only the change below drops the snapshot.
    directory = Directory(store, refresh_interval=3600)
    return World(svc, store, account, key, role.role_id, directory)


def change(world: World) -> None:
    """An admin change: it drops the Directory's snapshot."""
    world.svc.create_user(world.account, f"newcomer{next(_changes)}")
    assert world.directory.cached_entries == 0


def first(world: World, decide: Callable[[], object]) -> tuple[Recording, object]:
    """What ``decide`` read right after an admin change, and got."""
    change(world)
    with recorded(world.store) as seen:
        found = decide()
    return seen, found


def user_decision(world: World) -> PolicySet:
    """As a request signed with the user's AccessKey is decided: the key, then the policies (and the key)."""
    key = world.directory.signing_key(world.access_key_id)
    assert key is not None
    principal = dataclasses.replace(key.principal, auth_method="acs3", access_key_id=world.access_key_id)
    return world.directory.policy_set(principal)


def role_decision(world: World) -> PolicySet:
    """As a request signed with a role session's STS token is decided."""
    tokens = StsTokens([STS_KEY])
    creds = tokens.issue(
        account_id=world.account, role_name="Reader", role_id=world.role_id, session_name="job",
        duration_seconds=3600, generation=0,
    )  # fmt: skip
    resolver = DirectoryKeyResolver(world.directory, tokens)
    principal = resolver.verify_security_token(creds.access_key_id, creds.security_token).principal
    return world.directory.policy_set(principal)


def shape(policies: PolicySet) -> list[tuple[str, str, str, str, str, tuple[str, ...]]]:
    return [
        (p.name, p.policy_type, p.version, p.attached_to, p.attached_name,
         tuple(a.pattern for s in p.policy.statements for a in s.actions))
        for p in policies.policies
    ]  # fmt: skip


def expected(world: World, kind: str) -> list[tuple[str, str, str, str, str]]:
    """The policies of the user or role, in order, from the store's per-entity reads."""
    with world.store.read() as repo:
        if kind == "user":
            user = repo.get_user(world.account, "alice")
            assert user is not None
            attachments = repo.attachments_for_target("user", user.user_id)
            for joined in repo.groups_for_user(user.user_id):
                attachments += repo.attachments_for_target("group", joined.group.group_id)
        else:
            attachments = repo.attachments_for_target("role", world.role_id)
        found: list[tuple[str, str, str, str, str]] = []
        for a in attachments:
            version = "v1"
            if a.policy_type == "Custom":
                default = repo.get_default_version(a.account_id, a.policy_name)
                assert default is not None
                version = default.version_id
            found.append((a.policy_name, a.policy_type, version, a.target_type, a.target_name))
    return found


@pytest.fixture(params=("sqlite", "postgres"))
def worlds(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[int, int], World]]:
    """Builds a World on a fresh store of the backend for each size."""
    opened: list[tuple[Iterator[Store], World]] = []

    def fresh(groups: int, policies: int) -> World:
        backend = open_backend(request.param, tmp_path / str(len(opened)))
        world = build(next(backend), groups, policies)
        opened.append((backend, world))
        return world

    yield fresh
    for backend, world in opened:
        world.directory.close()
        world.svc.directory.close()
        for _ in backend:  # runs the backend's cleanup
            pass


@pytest.mark.parametrize(("kind", "decide"), [("user", user_decision), ("role", role_decision)])
def test_a_first_decision_reads_a_fixed_number_of_statements(
    worlds: Callable[[int, int], World], kind: str, decide: Callable[[World], PolicySet]
) -> None:
    for groups, policies in SIZES:
        world = worlds(groups, policies)
        seen, found = first(world, functools.partial(decide, world))
        assert isinstance(found, PolicySet)
        # The key (or the role with its revocation), then the policy set: two lookups, whatever the size.
        assert len(seen.statements) == 2 * LOOKUP, seen.statements
        assert [s[:5] for s in shape(found)] == expected(world, kind)
        assert ("own0", "Custom", "v2") in [s[:3] for s in shape(found)]
        assert ("ecs:Describe*",) in [s[5] for s in shape(found) if s[0] == "own0"]
        if kind == "user":
            assert len(found.policies) == policies + groups * (policies + 1)


def test_an_access_key_lookup_is_one_read(worlds: Callable[[int, int], World]) -> None:
    for groups, policies in SIZES:
        world = worlds(groups, policies)
        seen, key = first(world, functools.partial(world.directory.signing_key, world.access_key_id))
        assert len(seen.statements) == LOOKUP
        assert isinstance(key, SigningKey) and key.status == "Active"
        assert key.principal.name == "alice" and key.principal.groups == tuple(f"g{i}" for i in range(groups))
        lookup = functools.partial(world.directory.principal_for_user, world.account, "ALICE")
        seen, user = first(world, lookup)
        assert len(seen.statements) == LOOKUP
        assert user == key.principal


def test_a_root_key_and_a_user_in_no_group(worlds: Callable[[int, int], World]) -> None:
    world = worlds(1, 1)
    root_key = world.svc.create_access_key(world.account, None).key.access_key_id
    world.svc.create_user(world.account, "loner")
    loner_key = world.svc.create_access_key(world.account, "loner").key.access_key_id
    seen, root = first(world, functools.partial(world.directory.signing_key, root_key))
    assert len(seen.statements) == LOOKUP
    assert isinstance(root, SigningKey) and root.principal.kind == "root"
    assert root.principal.principal_id == world.account
    loner = world.directory.signing_key(loner_key)
    assert loner is not None and loner.principal.groups == () and loner.principal.name == "loner"
    assert world.directory.policy_set(loner.principal).policies == ()


def test_a_role_session_of_a_role_created_again_gets_no_policies(worlds: Callable[[int, int], World]) -> None:
    world = worlds(1, 1)
    session = Principal(
        kind="assumed-role", account_id=world.account, name="reader", principal_id=f"{world.role_id}:s",
        arn="", extra={"role_id": "not-" + world.role_id},
    )  # fmt: skip
    seen, found = first(world, lambda: world.directory.policy_set(session))
    assert len(seen.statements) == LOOKUP
    assert isinstance(found, PolicySet) and found.policies == ()
    anonymous = dataclasses.replace(session, extra={})  # no RoleId to hold it to: the role's policies
    assert len(world.directory.policy_set(anonymous).policies) == 2


def cold_reads(store: Store, custom: bool) -> list[str]:
    """The statements of a first policy-set lookup for a user in three groups, each holding one policy."""
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "alice")
    for i in range(3):
        svc.create_group(account, f"g{i}")
        svc.add_user_to_group(account, f"g{i}", "alice")
        if custom:
            svc.create_policy(account, f"p{i}", DOC)
            svc.attach_policy_to_group(account, "Custom", f"p{i}", f"g{i}")
        else:
            svc.attach_policy_to_group(account, "System", "AliyunOSSReadOnlyAccess", f"g{i}")
    for n in range(20):  # other holders of the same policies
        svc.create_user(account, f"other{n}")
        if custom:
            svc.attach_policy_to_user(account, "Custom", f"p{n % 3}", f"other{n}")
    directory = Directory(store)
    principal = directory.principal_for_user(account, "alice")
    with traced(store) as statements:
        directory.policy_set(principal)
    directory.close()
    svc.directory.close()
    return statements


def test_custom_policies_cost_no_more_reads_than_system_ones(tmp_path: Path) -> None:
    # Not GetPolicy's attachment count (it grows with every holder of the policy), nor its other versions.
    reads = {}
    for custom in (False, True):
        for store in open_backend("sqlite", tmp_path / str(custom)):
            reads[custom] = cold_reads(store, custom)
    assert len(reads[True]) == len(reads[False]) == LOOKUP
    assert not [s for s in reads[True] if "COUNT(" in s.upper()]


def test_a_first_decision_looks_rows_up_by_index_on_sqlite(tmp_path: Path) -> None:
    # SQLite plans without statistics (the store never runs ANALYZE): no statement of a first decision may
    # read a whole table, nor every group's attachments, before it knows the user's groups.
    for store in open_backend("sqlite", tmp_path):
        world = build(store, 3, 2)
        svc = with_console(world)
        first(world, lambda: None)  # a change: the snapshot is dropped
        with traced(store) as statements:
            user_decision(world)
            role_decision(world)
            world.directory.principal_for_user(world.account, "alice")
            world.directory.password_changed(world.account, "alice")
            world.directory.password_changed(world.account, None)
        # The key, a user's policies, a role, its policies, the user, its login times, the root's.
        assert len(statements) == 7 * LOOKUP
        with store.read() as repo:
            assert isinstance(repo, SqlRepository)
            plans = [row[3] for s in statements for row in repo._all(f"EXPLAIN QUERY PLAN {s}")]
        assert not [p for p in plans if (p.startswith("SCAN ") and p != "SCAN x") or "MATERIALIZE" in p]
        assert not [p for p in plans if p.endswith("(target_type=?)")]
        world.directory.close()
        world.svc.directory.close()
        svc.directory.close()


def console_decision(world: World) -> PolicySet:
    """As a request with the user's console session is decided (see credentials.session): the user, its
    password and MFA binding times, then the policies (and the times again, in their snapshot)."""
    directory = world.directory
    user = directory.principal_for_user(world.account, "alice")
    changed = directory.password_changed(world.account, "alice")
    bound = directory.mfa_bound_since(world.account, "alice")
    assert changed is not None and bound is not None
    extra = {**user.extra, PASSWORD_CHANGED: changed.isoformat(), MFA_BOUND: bound.isoformat()}
    return directory.policy_set(dataclasses.replace(user, auth_method="session", extra=extra))


def with_console(world: World) -> RamService:
    """Console access with an MFA device for alice and for the root (on a service whose clock the device
    codes follow); returns that service."""
    clock = FakeClock(datetime.now(UTC))
    svc = RamService(world.store, clock=clock)
    svc.create_login_profile(world.account, "alice", "Passw0rd!Passw0rd")
    svc.set_root_password(world.account, "Passw0rd!Passw0rd")
    bind_new_device(svc, world.account, "alice", clock)
    bind_new_device(svc, world.account, None, clock)
    return svc


def test_a_console_session_decision_reads_a_fixed_number_of_statements(
    worlds: Callable[[int, int], World],
) -> None:
    for groups, policies in SIZES:
        world = worlds(groups, policies)
        svc = with_console(world)
        seen, found = first(world, functools.partial(console_decision, world))
        # The user, its login times (password and MFA binding share one lookup), its policies.
        assert len(seen.statements) == 3 * LOOKUP, seen.statements
        assert isinstance(found, PolicySet)
        assert [s[:5] for s in shape(found)] == expected(world, "user")
        svc.directory.close()


def test_login_times_are_what_the_profile_and_device_say(worlds: Callable[[int, int], World]) -> None:
    world = worlds(1, 1)
    directory = world.directory
    # No login profile, no device; no such user.
    seen, changed = first(world, lambda: directory.password_changed(world.account, "alice"))
    assert changed is None and directory.mfa_bound_since(world.account, "alice") is None
    assert len(seen.statements) == LOOKUP
    assert directory.password_changed(world.account, "nobody") is None
    assert directory.mfa_bound_since(world.account, "nobody") is None
    svc = with_console(world)
    devices = {d.user_name: d for d in svc.list_virtual_mfa_devices(world.account)}
    for user_name in ("ALICE", None):
        seen, changed = first(world, functools.partial(directory.password_changed, world.account, user_name))
        assert len(seen.statements) == LOOKUP
        profile = svc.get_login_profile(world.account, user_name)
        assert changed == profile.password_changed_date
        bound = directory.mfa_bound_since(world.account, user_name)  # the same lookup: no statement
        assert bound is not None and bound == devices["alice" if user_name else None].activate_date
    svc.unbind_mfa_device(world.account, "alice")
    svc.delete_login_profile(world.account, "alice")
    assert directory.mfa_bound_since(world.account, "alice") is None
    assert directory.password_changed(world.account, "alice") is None
    assert directory.mfa_bound_since(world.account, None) is not None
    svc.directory.close()


@pytest.mark.parametrize(
    ("lookups", "decide"), [(2, user_decision), (2, role_decision), (3, console_decision)]
)
def test_a_first_decision_costs_a_fixed_number_of_round_trips_on_postgresql(
    tmp_path: Path, lookups: int, decide: Callable[[World], PolicySet]
) -> None:
    for groups, policies in SIZES:
        for store in open_backend("postgres", tmp_path):
            world = build(store, groups, policies)
            svc = with_console(world)
            expected = shape(decide(world))  # and the pool's connection is open
            change(world)
            with round_trips(store) as sent:
                found = decide(world)
            assert len(sent) == lookups * TRIPS, sent
            assert shape(found) == expected
            with round_trips(store) as sent:
                decide(world)
            assert sent == []  # from the snapshot
            world.directory.close()
            world.svc.directory.close()
            svc.directory.close()
