"""``RAM_LIMITS``: the ``ram`` command on a local store keeps to the quotas the deployment sets, as
``ram serve`` and the middleware do (see ram_middleware.service.limits)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from ram_middleware.cli import main
from ram_middleware.service import Limits

from .conftest import CLEAN_ENV, Ram, write_json

_DEFAULT_GROUPS = Limits().groups_per_account


def _long_policy(path: Path) -> str:
    """A valid identity policy longer than the default PolicyDocument quota."""
    resources = [f"acs:oss:*:*:bucket-{n:04}/*" for n in range(300)]
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": resources}],
    }
    assert len(json.dumps(document)) > Limits().policy_document_length
    return write_json(path, document)


def test_groups_create_keeps_to_the_account_quota_ram_limits_sets(ram: Ram) -> None:
    for n in range(_DEFAULT_GROUPS):
        ram.service.create_group(ram.account_id, f"g{n}")
    ram.fails("groups", "create", "one-more", code="LimitExceeded.Group")
    ram.env["RAM_LIMITS"] = f"groups_per_account={_DEFAULT_GROUPS + 1}"
    ram.ok("groups", "create", "one-more")
    ram.fails("groups", "create", "two-more", code="LimitExceeded.Group")
    ram.env["RAM_LIMITS"] = "groups_per_acount=60"  # a typo is refused, not silently the default
    failed = ram.fails("groups", "create", "two-more", code="InvalidParameter.RAM_LIMITS")
    assert "unknown quota 'groups_per_acount'" in failed.stderr


def test_apply_refuses_an_organisation_over_a_lowered_user_quota(ram: Ram, tmp_path: Path) -> None:
    org = write_json(tmp_path / "o.json", {"Users": [{"UserName": f"u{n}"} for n in range(4)]})
    ram.env["RAM_LIMITS"] = "users_per_account=3"
    failed = ram("apply", org, "--yes")
    assert failed.exit_code == 1, failed.output
    assert "Error: LimitExceeded.User: " in failed.stderr
    assert "Stopped at: create user u3. Nothing was applied" in failed.stderr
    assert ram.service.list_users(ram.account_id).items == ()
    ram.env["RAM_LIMITS"] = "users_per_account=4"
    assert len(ram.json("apply", org, "--yes")["Applied"]) == 4


def test_a_raised_policy_document_quota_lets_a_longer_document_in(ram: Ram, tmp_path: Path) -> None:
    long = _long_policy(tmp_path / "long.json")
    ram.fails("policies", "validate", long, code="InvalidParameter.PolicyDocument.Length")
    ram.fails("policies", "create", "Long", "--document", long, code="InvalidParameter.PolicyDocument.Length")
    ram.env["RAM_LIMITS"] = "policy_document_length=20000"
    ram.ok("policies", "validate", long)
    ram.ok("policies", "create", "Long", "--document", long)
    stored = ram.service.get_policy(ram.account_id, "Long", "Custom").default_version
    assert json.loads(stored.document) == json.loads(Path(long).read_text())


def test_init_refuses_a_bad_ram_limits_before_making_the_store(tmp_path: Path) -> None:
    store = tmp_path / "ram.db"
    result = CliRunner().invoke(
        main,
        ["--store", f"sqlite:///{store}", "init"],
        env={**CLEAN_ENV, "RAM_LIMITS": "users_per_account=0"},
    )
    assert result.exit_code == 1
    assert "Error: InvalidParameter.RAM_LIMITS: RAM_LIMITS: users_per_account must be a whole number" in (
        result.stderr
    )
    assert not store.exists()
