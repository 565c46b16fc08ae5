"""``ram roles delete`` and the STS sessions ``ram assume-role`` issued for the role."""

from __future__ import annotations

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
