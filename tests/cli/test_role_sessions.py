"""``ram roles delete`` and the STS sessions ``ram assume-role`` issued for the role."""

from __future__ import annotations

import json

import pytest

from ram_middleware import errors
from ram_middleware.config import DirectoryKeyResolver, RamConfig, build
from ram_middleware.store.cache import Directory

from .conftest import Ram


def test_deleting_a_role_ends_its_sessions_as_its_help_says(ram: Ram) -> None:
    ram.ok("users", "create", "ci")
    ram.ok("policies", "attach", "AliyunSTSAssumeRoleAccess", "--user", "ci")
    ram.ok("roles", "create", "Deployer", "--trusted", f"acs:ram::{ram.account_id}:user/ci")
    ram.ok("policies", "attach", "AliyunECSReadOnlyAccess", "--role", "Deployer")
    credentials = ram.json("assume-role", "Deployer", "--session-name", "job-1", "--as-user", "ci")[
        "Credentials"
    ]
    runtime = build(RamConfig(store_url=ram.url))  # what a protected app on this store checks tokens with
    try:
        # The CLI writes through a store object of its own: read the change counter on every check.
        resolver = DirectoryKeyResolver(Directory(runtime.store, refresh_interval=0), runtime.tokens)
        session = (credentials["AccessKeyId"], credentials["SecurityToken"])
        assert resolver.verify_security_token(*session).principal.name == "Deployer"
        ram.ok("roles", "delete", "Deployer", "--force")
        with pytest.raises(errors.InvalidSecurityToken) as ended:
            resolver.verify_security_token(*session)
        assert ended.value.code == "InvalidSecurityToken.Revoked"
    finally:
        runtime.close()
    # Its help must not tell an administrator that the sessions live on until they expire.
    help_text = " ".join(ram.ok("roles", "delete", "--help").stdout.split())
    assert "expire on their own" not in help_text
    assert "its STS sessions end at once" in help_text


def test_assume_role_reaches_a_role_of_another_account_in_the_store(ram: Ram) -> None:
    """As AssumeRole on the API (and ``ram simulate``): the RoleArn's account is the role's, whose trust
    policy decides; a missing role is named by its ARN."""
    ram.ok("users", "create", "ci")
    ram.ok("policies", "attach", "AliyunSTSAssumeRoleAccess", "--user", "ci")
    other = ram.service.create_account("partner").account_id
    for name, trusted in (("Shared", ram.account_id), ("Private", other)):
        statement = {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": [f"acs:ram::{trusted}:root"]},
        }
        ram.service.create_role(other, name, json.dumps({"Version": "1", "Statement": [statement]}))
    own = ("--account", ram.account_id, "assume-role")
    as_ci = ("--session-name", "job-1", "--as-user", "ci")
    answer = ram.json(*own, f"acs:ram::{other}:role/shared", *as_ci)
    assert answer["AssumedRoleUser"]["Arn"] == f"acs:ram::{other}:assumed-role/Shared/job-1"
    ram.fails(*own, f"acs:ram::{other}:role/private", *as_ci, code="NoPermission")
    missing = ram.fails(*own, f"acs:ram::{other}:role/nosuchrole", *as_ci, code="EntityNotExist.Role")
    assert f"acs:ram::{other}:role/nosuchrole" in missing.stderr
    # The ARN's prefix in another case is still an ARN (AssumeRole on the API takes it so), not a role name.
    upper = ram.json(*own, f"ACS:RAM::{other}:role/shared", *as_ci)
    assert upper["AssumedRoleUser"]["Arn"] == f"acs:ram::{other}:assumed-role/Shared/job-1"


def test_revoking_a_roles_sessions_ends_them_and_leaves_later_ones(ram: Ram) -> None:
    """The way out when a user who assumed the role leaves: their sessions outlive their RAM user."""
    ram.ok("users", "create", "ci")
    ram.ok("policies", "attach", "AliyunSTSAssumeRoleAccess", "--user", "ci")
    ram.ok("roles", "create", "Deployer", "--trusted", f"acs:ram::{ram.account_id}:user/ci")

    def assume(name: str) -> tuple[str, str]:
        issued = ram.json("assume-role", "Deployer", "--session-name", name, "--as-user", "ci")["Credentials"]
        return issued["AccessKeyId"], issued["SecurityToken"]

    runtime = build(RamConfig(store_url=ram.url))
    try:
        resolver = DirectoryKeyResolver(Directory(runtime.store, refresh_interval=0), runtime.tokens)
        before = assume("job-1")
        assert resolver.verify_security_token(*before).principal.name == "Deployer"
        done = ram.json("roles", "revoke-sessions", "Deployer")
        assert done["Role"]["RoleName"] == "Deployer" and done["RevokedBefore"]
        with pytest.raises(errors.InvalidSecurityToken) as ended:
            resolver.verify_security_token(*before)
        assert ended.value.code == "InvalidSecurityToken.Revoked"
        after = assume("job-2")  # the role itself lives on
        assert resolver.verify_security_token(*after).principal.name == "Deployer"
    finally:
        runtime.close()
    ram.fails("roles", "revoke-sessions", "NoSuchRole", code="EntityNotExist.Role")
