"""``ram users`` and ``ram groups`` against a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ram_middleware import errors
from ram_middleware.cli import main

from .conftest import CLEAN_ENV, ORG_FILE, Ram, lock_out, store_guard


def test_user_lifecycle_in_tables_and_json(ram: Ram) -> None:
    created = ram.json(
        "users", "create", "alice", "--display-name", "Alice A", "--email", "alice@example.com"
    )
    assert created["User"]["UserName"] == "alice"
    assert created["User"]["UserId"].isdigit()
    listed = ram.ok("users", "list").stdout.splitlines()
    assert listed[0].split() == ["UserName", "DisplayName", "Email", "CreateDate"]
    assert listed[2].startswith("alice") and "alice@example.com" in listed[2]
    users = ram.json("users", "list")["Users"]
    assert [u["UserName"] for u in users] == ["alice"]
    ram.ok("users", "update", "alice", "--new-name", "alice2", "--comments", "renamed")
    shown = ram.json("users", "show", "alice2")["User"]
    assert shown["Comments"] == "renamed" and shown["Groups"] == [] and shown["AccessKeys"] == []
    assert ram.service.get_user(ram.account_id, "alice2").email == "alice@example.com"
    ram.ok("users", "delete", "alice2")
    assert ram.json("users", "list") == {"Users": []}


def test_user_errors_are_code_and_message_with_exit_1(ram: Ram) -> None:
    ram.ok("users", "create", "bob")
    ram.fails("users", "create", "bob", code="EntityAlreadyExists.User")
    ram.fails("users", "create", "bad name!", code="InvalidParameter.UserName.InvalidChars")
    ram.fails("users", "show", "nobody", code="EntityNotExist.User")
    result = ram("users", "show", "nobody", json_output=True)
    assert result.exit_code == 1
    assert '"Code": "EntityNotExist.User"' in result.stderr and result.stdout == ""
    usage = ram("users", "update", "bob")
    assert usage.exit_code == 2 and "Nothing to change" in usage.output


def test_delete_with_dependents_needs_force(ram: Ram) -> None:
    ram.ok("users", "create", "carol")
    ram.ok("groups", "create", "devs")
    ram.ok("groups", "add-user", "devs", "carol")
    ram.ok("keys", "create", "carol")
    ram.fails("users", "delete", "carol", code="DeleteConflict.User.AccessKey")
    ram.ok("users", "delete", "carol", "--force")
    assert ram.service.list_users(ram.account_id).items == ()
    assert ram.json("groups", "members", "devs") == {"Users": []}


def test_groups_memberships_and_transfer(ram: Ram) -> None:
    for name in ("HR", "RnD"):
        ram.ok("groups", "create", name, "--comments", f"the {name} department")
    ram.ok("users", "create", "dave")
    assert ram.ok("groups", "add-user", "RnD", "dave").stdout.strip() == "Added dave to RnD."
    ram.fails("groups", "add-user", "RnD", "dave", code="EntityAlreadyExists.User.Group")
    assert [g["GroupName"] for g in ram.json("users", "groups", "dave")["Groups"]] == ["RnD"]
    ram.ok("users", "transfer", "dave", "--from", "RnD", "--to", "HR")
    assert [g["GroupName"] for g in ram.json("users", "groups", "dave")["Groups"]] == ["HR"]
    shown = ram.json("groups", "show", "HR")["Group"]
    assert shown["Members"] == ["dave"] and shown["Comments"] == "the HR department"
    ram.fails("groups", "delete", "HR", code="DeleteConflict.Group.User")
    ram.ok("groups", "remove-user", "HR", "dave")
    ram.ok("groups", "update", "HR", "--new-name", "People")
    ram.ok("groups", "delete", "People")
    assert [g["GroupName"] for g in ram.json("groups", "list")["Groups"]] == ["RnD"]


def test_account_selection(ram: Ram) -> None:
    second = ram.service.create_account("second-co")
    ram.fails("users", "list", code="MissingParameter.Account")
    ram.ok("users", "create", "eve", "--account", "second-co")
    assert [u.user_name for u in ram.service.list_users(second.account_id).items] == ["eve"]
    assert ram.service.list_users(ram.account_id).items == ()
    ram.ok("users", "create", "frank", "--account", ram.account_id)
    ram.fails("users", "list", "--account", "no-such-alias", code="EntityNotExist.Account")


def test_account_show_warns_about_root(ram: Ram) -> None:
    result = ram("account", "show")
    assert result.exit_code == 0
    assert "RootMFADevice" in result.stdout
    assert "the account root has no MFA device" in result.stderr
    ram.service.create_access_key(ram.account_id, None)
    assert "the account root has AccessKeys" in ram("account", "show").stderr
    assert ram.json("account", "show")["Account"]["AccountId"] == ram.account_id
    ram.ok("account", "set-alias", "company-y")
    assert ram.service.get_account(ram.account_id).alias == "company-y"
    who = ram.json("whoami")
    assert who["IdentityType"] == "Account" and who["Arn"] == f"acs:ram::{ram.account_id}:root"


def test_console_logon_is_prompted_and_checked(ram: Ram) -> None:
    ram.ok("users", "create", "grace")
    weak = ram("users", "enable-console", "grace", input="short\nshort\n")
    assert weak.exit_code == 1 and "Error: InvalidParameter." in weak.stderr and "short" not in weak.stderr
    strong = ram(
        "users", "enable-console", "grace", "--mfa-bind-required", input="Str0ng!Passw0rd\nStr0ng!Passw0rd\n"
    )
    assert strong.exit_code == 0, strong.output
    assert "Str0ng!Passw0rd" not in strong.stdout
    profile = ram.service.get_login_profile(ram.account_id, "grace")
    assert profile.mfa_bind_required and not profile.password_reset_required
    ram.service.verify_login_password(ram.account_id, "grace", "Str0ng!Passw0rd")
    ram.ok("users", "disable-console", "grace")
    ram.fails("users", "disable-console", "grace", code="EntityNotExist.User.LoginProfile")


def test_set_password_resets_a_console_password_and_ends_the_lock_out(ram: Ram) -> None:
    old, new = "Str0ng!Passw0rd", "N3w-Str0ng!Pass"
    ram.ok("users", "create", "grace")
    ram.fails("users", "set-password", "grace", "--password", new, code="EntityNotExist.User.LoginProfile")
    ram.fails("users", "set-password", "nobody", "--password", new, code="EntityNotExist.User")
    # Asked for on stderr: with --json, stdout is the result alone.
    created = ram.json("users", "enable-console", "grace", "--mfa-bind-required", input=f"{old}\n{old}\n")
    assert created["LoginProfile"]["MFABindRequired"] is True
    with store_guard(ram.url) as guard:
        throttle = lock_out(guard, ram.account_id, "grace")  # e.g. the password forgotten
        weak = ram("users", "set-password", "grace", input="short\nshort\n")  # asked for twice, unechoed
        assert weak.exit_code == 1 and "Error: InvalidParameter.PasswordPolicy: " in weak.stderr
        assert "short" not in weak.output
        with pytest.raises(errors.LoginLocked):  # a refused password ends nothing
            throttle.attempt(ram.account_id, "grace")
        result = ram("users", "set-password", "grace", "--password-reset-required", input=f"{new}\n{new}\n")
        assert result.exit_code == 0, result.output
        assert "Set a new console password for grace." in result.stdout and new not in result.stdout
        assert throttle.attempt(ram.account_id, "grace") == 1  # the lock-out ended with the new password
    with pytest.raises(errors.LoginFailed):
        ram.service.verify_login_password(ram.account_id, "grace", old)
    profile = ram.service.verify_login_password(ram.account_id, "grace", new)
    assert profile.password_reset_required and profile.mfa_bind_required  # the other setting stays
    shown = ram.json(
        "users", "set-password", "grace", "--no-password-reset-required", input=f"{old}\n{old}\n"
    )
    assert shown["LoginProfile"]["UserName"] == "grace"
    assert shown["LoginProfile"]["PasswordResetRequired"] is False
    assert shown["LoginProfile"]["MFABindRequired"] is True
    ram.service.verify_login_password(ram.account_id, "grace", old)


def test_a_transfer_that_fails_changes_no_membership(ram: Ram) -> None:
    """Not in --from, --to missing, already in --to: refused, and the user's groups are as they were."""
    for name in ("HR", "RnD", "OandM"):
        ram.ok("groups", "create", name)
    ram.ok("users", "create", "dave")
    ram.ok("groups", "add-user", "RnD", "dave")
    ram.ok("groups", "add-user", "OandM", "dave")

    def groups() -> list[str]:
        return sorted(g["GroupName"] for g in ram.json("users", "groups", "dave")["Groups"])

    ram.fails("users", "transfer", "dave", "--from", "HR", "--to", "RnD", code="EntityNotExist.User.Group")
    ram.fails("users", "transfer", "dave", "--from", "RnD", "--to", "Nope", code="EntityNotExist.Group")
    ram.fails(
        "users", "transfer", "dave", "--from", "RnD", "--to", "OandM", code="EntityAlreadyExists.User.Group"
    )
    ram.fails("users", "transfer", "dave", "--from", "HR", "--to", "HR", code="EntityNotExist.User.Group")
    assert groups() == ["OandM", "RnD"]


def test_a_missing_store_is_named_and_not_created(tmp_path: Path) -> None:
    """Outside `ram init`, a store that is not there is an error naming the path; no file appears."""
    missing = tmp_path / "typo" / "ram.db"
    for args in (["users", "list"], ["apply", "--dry-run", str(ORG_FILE)], ["--json", "account", "show"]):
        result = CliRunner().invoke(main, ["--store", f"sqlite:///{missing}", *args], env=CLEAN_ENV)
        assert result.exit_code == 1, result.output
        assert f"No store at {missing}: run `ram init` first" in result.stderr
        assert result.stdout == ""
    assert not (tmp_path / "typo").exists()
