"""The ``ram`` command through the RAM API: ``--endpoint`` + AccessKey against a live ``ram serve`` process.

Every remote command is signed with our ``client.py`` (ACS3) and authorized by the caller's policies on the
server: the bootstrap admin may do everything, HR's AliyunRAMFullAccess lets A manage users, R&D may not.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ram_middleware import errors
from ram_middleware.cli import main
from ram_middleware.service import RamService
from ram_middleware.store import open_store

from .conftest import (
    ASSUME_ROLE_CASES,
    CLEAN_ENV,
    ORG_FILE,
    ROOT,
    Commands,
    assume_role_cases,
    lock_out,
    make_ram,
    simulate_args,
    store_guard,
    write_allow,
)


@dataclass
class Remote(Commands):
    """``ram`` pointed at a live server with one identity's key; ``local`` runs against the same store."""

    endpoint: str
    store_url: str
    key_id: str
    secret: str

    def as_(self, key_id: str, secret: str) -> Remote:
        return Remote(self.endpoint, self.store_url, key_id, secret)

    def __call__(self, *args: str, input: str | None = None, json_output: bool = False) -> Result:
        env = {
            **CLEAN_ENV,
            "RAM_ENDPOINT": self.endpoint,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.secret,
        }
        prefix = ["--json"] if json_output else []
        return CliRunner().invoke(main, [*prefix, *args], env=env, input=input, catch_exceptions=False)

    def local(self, *args: str, json_output: bool = False) -> Result:
        prefix = ["--store", self.store_url, *(["--json"] if json_output else [])]
        return CliRunner().invoke(main, [*prefix, *args], env=CLEAN_ENV, catch_exceptions=False)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    directory = tmp_path_factory.mktemp("remote")
    url = f"sqlite:///{directory / 'ram.db'}"
    created = CliRunner().invoke(
        main, ["--store", url, "--json", "init", "--alias", "company-x"], env=CLEAN_ENV
    )
    assert created.exit_code == 0, created.output
    boot = json.loads(created.stdout)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV and not k.lower().endswith("_proxy")}
    env["RAM_AUDIT"] = str(directory / "audit.jsonl")
    with (directory / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ram_middleware.cli",
                "--store",
                url,
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait(endpoint, server, directory / "serve.log")
        yield Remote(endpoint, url, boot["AccessKeyId"], boot["AccessKeySecret"])
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait(endpoint: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"ram serve did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)


def test_whoami_and_apply_through_the_api(remote: Remote) -> None:
    who = remote.json("whoami")
    assert who["IdentityType"] == "RAMUser" and who["Arn"].endswith(":user/admin")
    assert who["Via"].startswith(f"RAM API {remote.endpoint}/")
    applied = remote.json("apply", str(ORG_FILE), "--yes")
    # ram init already set the alias; everything else is new.
    assert len(applied["Applied"]) == 32 and "AccessKey of app" in applied["Secrets"]
    assert not any("alias" in step for step in applied["Applied"])
    assert remote.json("apply", str(ORG_FILE), "--yes") == {"Plan": [], "Applied": []}
    # The same account seen through the API and on the store directly exports identically.
    through_api = remote.ok("export").stdout
    assert through_api == remote.local("export").stdout
    assert json.loads(through_api)["Account"] == {"Alias": "company-x"}


def test_export_from_the_api_applies_to_a_fresh_store(remote: Remote, tmp_path: Path) -> None:
    remote.ok("apply", str(ORG_FILE), "--yes")
    exported = tmp_path / "org.yaml"
    remote.ok("export", "--format", "yaml", "--output", str(exported))
    fresh = make_ram(tmp_path)
    fresh.ok("apply", str(exported), "--yes")
    assert fresh.ok("export", "--format", "yaml").stdout == exported.read_text()


def test_remote_simulate_matches_the_local_simulator(remote: Remote) -> None:
    remote.ok("apply", str(ORG_FILE), "--yes")
    cases = [
        (
            "B",
            "oss:GetObject",
            "acs:oss:*:${AccountId}:rnd-bucket/r.txt",
            "203.0.113.9",
            "2024-06-04T10:00:00+08:00",
        ),
        (
            "B",
            "oss:GetObject",
            "acs:oss:*:${AccountId}:rnd-bucket/r.txt",
            "198.51.100.7",
            "2024-06-04T10:00:00+08:00",
        ),
        ("D", "ecs:StopInstance", "acs:ecs:cn-hangzhou:${AccountId}:instance/i-1", "203.0.113.9", None),
        ("A", "ram:CreateUser", "acs:ram::${AccountId}:user/x", "203.0.113.9", None),
        ("app", "oss:PutObject", "acs:oss:*:${AccountId}:b/k", "203.0.113.9", None),
        # The security preference's grant, as the control plane applies it (only to the user's own ARN).
        ("C", "ram:ChangePassword", "acs:ram::${AccountId}:user/C", "203.0.113.9", None),
        ("C", "ram:ChangePassword", "acs:ram::${AccountId}:user/D", "203.0.113.9", None),
    ]
    for user, action, resource, ip, when in cases:
        args = simulate_args(user, action, resource, ip=ip, when=when or "2024-06-05T12:00:00Z")
        through_api = remote.json(*args)
        local = json.loads(remote.local(*args, json_output=True).stdout)
        assert through_api == local, (user, action)
    args = simulate_args(
        "B", "oss:GetObject", "acs:oss:*:${AccountId}:rnd-bucket/r.txt", ip="203.0.113.9",
        when="2024-06-04T10:00:00+08:00",
    )  # fmt: skip
    assert remote.json(*args)["Effect"] == "Allow"
    own_password = remote.json(*simulate_args("C", "ram:ChangePassword", "acs:ram::${AccountId}:user/C"))
    assert own_password["Effect"] == "Allow"
    assert own_password["Policy"]["PolicyName"] == "AllowUserToChangePassword"


def test_entities_keys_policies_and_roles_through_the_api(remote: Remote, tmp_path: Path) -> None:
    remote.ok("users", "create", "remote-user", "--display-name", "Made remotely")
    remote.ok("groups", "create", "remote-group")
    remote.ok("groups", "add-user", "remote-group", "remote-user")
    key = remote.json("keys", "create", "remote-user")["AccessKey"]
    assert key["AccessKeySecret"] and key["Status"] == "Active"
    remote.ok("keys", "disable", "remote-user", key["AccessKeyId"])
    assert remote.json("keys", "list", "remote-user")["AccessKeys"][0]["Status"] == "Inactive"
    document = write_allow(tmp_path / "p.json", "oss:GetObject", "acs:oss:*:*:remote/*")
    remote.ok("policies", "create", "RemoteRead", "--document", document)
    remote.ok("policies", "new-version", "RemoteRead", "--document", document, "--set-default")
    assert [v["VersionId"] for v in remote.json("policies", "versions", "RemoteRead")["PolicyVersions"]] == [
        "v1",
        "v2",
    ]
    remote.ok("policies", "attach", "RemoteRead", "--user", "remote-user")
    remote.fails("users", "delete", "remote-user", code="DeleteConflict.User.AccessKey")
    remote.ok("users", "delete", "remote-user", "--force")
    remote.fails("users", "show", "remote-user", code="EntityNotExist.User")
    remote.ok("policies", "delete", "RemoteRead", "--cascade")
    remote.ok("groups", "delete", "remote-group")
    remote.ok("roles", "create", "RemoteRole", "--description", "made remotely")
    shown = remote.json("roles", "show", "RemoteRole")["Role"]
    assert shown["Arn"].endswith(":role/remoterole")
    # The local store prints the same fields as the API.
    local = json.loads(remote.local("roles", "show", "RemoteRole", json_output=True).stdout)["Role"]
    assert sorted(local) == sorted(shown)
    remote.ok("roles", "delete", "RemoteRole")


def test_remote_mfa_and_what_only_the_store_can_do(remote: Remote) -> None:
    import pyotp

    remote.ok("users", "create", "mfa-user")
    device = remote.json("mfa", "create-device", "mfa-user")["VirtualMFADevice"]
    totp, now = pyotp.TOTP(device["Base32StringSeed"]), time.time()
    remote.ok("mfa", "bind", device["SerialNumber"], totp.at(now - 30), totp.at(now), "--user", "mfa-user")
    assert remote.json("mfa", "show", "mfa-user")["MFADevice"]["SerialNumber"] == device["SerialNumber"]
    remote.ok("mfa", "disable", "mfa-user")
    remote.fails("mfa", "bind", "x", "1", "2", "--root", code="OperationNotSupported")
    # Refused before a device is made and its QR code shown, not after the codes are typed.
    devices = remote.json("mfa", "list")
    refused = remote.fails("mfa", "enable", "--root", input="", code="OperationNotSupported")
    assert refused.stdout == "" and "local store" in refused.stderr
    assert remote.json("mfa", "list") == devices
    remote.fails(
        "assume-role", "OSSReader", "--session-name", "s1", "--as-user", "D", code="OperationNotSupported"
    )
    remote.ok("users", "delete", "mfa-user")


def test_assume_role_through_sts(remote: Remote, tmp_path: Path) -> None:
    remote.ok("apply", str(ORG_FILE), "--yes")
    session = write_allow(tmp_path / "s.json", "oss:GetObject", "acs:oss:*:*:rnd-bucket/public/*")
    answer = remote.json(
        "assume-role", "OSSReader", "--session-name", "contractor", "--duration", "900", "--policy", session
    )
    assert answer["Credentials"]["AccessKeyId"].startswith("STS.")
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/OSSReader/contractor")
    creds = answer["Credentials"]
    # The temporary identity can call the API too (GetCallerIdentity needs no permission).
    env = {
        **CLEAN_ENV,
        "RAM_ENDPOINT": remote.endpoint,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": creds["AccessKeyId"],
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds["AccessKeySecret"],
    }
    # Without its SecurityToken the temporary key is refused.
    result = CliRunner().invoke(main, ["whoami"], env=env)
    assert result.exit_code == 1 and "Error: MissingSecurityToken" in result.stderr


def test_the_credentials_assume_role_exports_work_with_the_command_itself(remote: Remote) -> None:
    """``ram assume-role --env`` prints the variables the SDKs read; ``ram --endpoint`` itself reads them
    too (the SecurityToken from $ALIBABA_CLOUD_SECURITY_TOKEN or --security-token), so a contractor given
    temporary credentials administers what the role may, as the role session."""
    remote.ok("apply", str(ORG_FILE), "--yes")
    exports = remote.ok("assume-role", "OSSReader", "--session-name", "exported", "--env").stdout
    env: dict[str, str | None] = {**CLEAN_ENV, "RAM_ENDPOINT": remote.endpoint}
    for line in exports.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    assert env["ALIBABA_CLOUD_SECURITY_TOKEN"]
    who = CliRunner().invoke(main, ["--json", "whoami"], env=env)
    assert who.exit_code == 0, who.output
    answer = json.loads(who.stdout)
    assert answer["IdentityType"] == "AssumedRoleUser"
    assert answer["Arn"].endswith(":assumed-role/OSSReader/exported")
    token = env.pop("ALIBABA_CLOUD_SECURITY_TOKEN") or ""
    typed = CliRunner().invoke(main, ["whoami", "--security-token", token], env=env)
    assert typed.exit_code == 0 and ":assumed-role/OSSReader/exported" in typed.stdout, typed.output
    before = CliRunner().invoke(main, ["--security-token", token, "whoami"], env=env)
    assert before.exit_code == 0 and ":assumed-role/OSSReader/exported" in before.stdout, before.output
    # The session may not do what its role may not (OSSReader holds no RAM permission).
    refused = CliRunner().invoke(main, ["--security-token", token, "users", "list"], env=env)
    assert refused.exit_code == 1 and "Error: NoPermission" in refused.stderr, refused.output


def test_hr_may_manage_users_rnd_may_not_and_a_deleted_key_fails_at_once(remote: Remote) -> None:
    remote.ok("apply", str(ORG_FILE), "--yes")
    a_key = remote.json("keys", "create", "A")["AccessKey"]
    b_key = remote.json("keys", "create", "B")["AccessKey"]
    hr, rnd = (
        remote.as_(a_key["AccessKeyId"], a_key["AccessKeySecret"]),
        remote.as_(b_key["AccessKeyId"], b_key["AccessKeySecret"]),
    )
    hr.ok("users", "create", "joiner")
    result = rnd.fails("users", "create", "intruder", code="NoPermission")
    assert "You are not authorized" in result.stderr
    rnd.fails("policies", "attach", "AdministratorAccess", "--user", "B", code="NoPermission")
    hr.ok("users", "delete", "joiner")
    remote.ok("keys", "delete", "B", b_key["AccessKeyId"])
    gone = rnd("users", "list")
    assert gone.exit_code == 1 and "InvalidAccessKeyId.NotFound" in gone.stderr
    wrong = remote.as_(a_key["AccessKeyId"], "not-the-secret")("users", "list")
    assert wrong.exit_code == 1 and (
        "SignatureDoesNotMatch" in wrong.stderr or "InvalidAccessKeySecret" in wrong.stderr
    )
    remote.ok("keys", "delete", "A", a_key["AccessKeyId"])


def test_an_apply_that_fails_through_the_api_names_what_it_made(remote: Remote, tmp_path: Path) -> None:
    # The RAM API cannot undo: the server's quota refuses rf-over's 6th group halfway, after rf-key and its
    # AccessKey were made; the answer lists exactly those changes and keeps the secret.
    groups = [f"RF{i}" for i in range(1, 7)]
    org = {
        "Groups": [{"GroupName": name} for name in groups],
        "Users": [{"UserName": "rf-key", "AccessKey": True}, {"UserName": "rf-over", "Groups": groups}],
    }
    path = str(tmp_path / "o.json")
    Path(path).write_text(json.dumps(org), encoding="utf-8")
    try:
        failed = remote("apply", path, "--yes")
        assert failed.exit_code == 1 and "Error: LimitExceeded.User.Group: " in failed.stderr
        # 6 groups, 2 users, the key, 5 memberships
        assert (
            "Stopped at: add user rf-over to group RF6. The 14 changes before it stay made" in failed.stderr
        )
        listed = json.loads(remote.local("keys", "list", "rf-key", json_output=True).stdout)
        (key_id,) = [k["AccessKeyId"] for k in listed["AccessKeys"]]
        assert f"AccessKey of rf-key: AccessKeyId={key_id}, AccessKeySecret=" in failed.stdout
        again = remote("apply", path, "--yes", json_output=True)
        assert again.exit_code == 1
        report = json.loads(again.stdout)
        assert report["Plan"] == ["add user rf-over to group RF6"] and report["Applied"] == []
        assert report["Failed"] == {
            "Step": "add user rf-over to group RF6",
            "Code": "LimitExceeded.User.Group",
        }
        assert report["RolledBack"] is False and report["Secrets"] == {}
    finally:
        for user in ("rf-key", "rf-over"):
            remote.local("users", "delete", user, "--force")
        for group in groups:
            remote.local("groups", "delete", group, "--force")


def test_a_description_the_server_would_refuse_fails_the_file_before_the_first_call(
    remote: Remote, tmp_path: Path
) -> None:
    # The RAM API cannot undo: P-ok used to be created, then P-bad's multi-line Description refused.
    allow = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}
    org = {
        "Policies": [
            {"PolicyName": "P-ok", "PolicyDocument": allow},
            {"PolicyName": "P-bad", "Description": "line one\nline two", "PolicyDocument": allow},
        ]
    }
    path = tmp_path / "o.json"
    path.write_text(json.dumps(org), encoding="utf-8")
    try:
        failed = remote.fails("apply", str(path), "--yes", code="InvalidParameter.OrganisationFile")
        assert "Policies[1].Description: Description must not contain control characters" in failed.stderr
        listed = json.loads(remote.local("policies", "list", "--type", "Custom", json_output=True).stdout)
        assert "P-ok" not in [p["PolicyName"] for p in listed["Policies"]]
    finally:
        remote.local("policies", "delete", "P-ok")  # made only if the file was not checked first


def test_unreachable_endpoint_and_missing_key(remote: Remote) -> None:
    nowhere = Remote(f"http://127.0.0.1:{_free_port()}", remote.store_url, remote.key_id, remote.secret)
    nowhere.fails("users", "list", code="ServiceUnavailable")
    missing = Remote(remote.endpoint, remote.store_url, "", "")
    missing.fails("users", "list", code="MissingParameter.AccessKey")


def test_options_before_the_subcommand(remote: Remote) -> None:
    # `ram --endpoint URL --access-key-id … users list` as well as after the subcommand; typed beats env.
    nowhere = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    env = {**CLEAN_ENV, "RAM_ENDPOINT": nowhere}
    args = ["--json", "--endpoint", remote.endpoint, "--access-key-id", remote.key_id]
    result = CliRunner().invoke(
        main, [*args, "--access-key-secret", remote.secret, "users", "list"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert any(user["UserName"] == "admin" for user in json.loads(result.stdout)["Users"])
    after = CliRunner().invoke(main, [*args, "--access-key-secret", remote.secret, "users", "list",
                                      "--endpoint", nowhere], env=env)  # fmt: skip
    assert after.exit_code == 1 and "ServiceUnavailable" in after.output  # typed after the subcommand wins


def test_local_and_remote_print_the_same_json(remote: Remote) -> None:
    import pyotp

    remote.ok("apply", str(ORG_FILE), "--yes")
    # A device bound to the account root (only the store can bind it) and one bound to nobody.
    device = json.loads(remote.local("mfa", "create-device", "root", json_output=True).stdout)
    totp, now = pyotp.TOTP(device["VirtualMFADevice"]["Base32StringSeed"]), time.time()
    serial = device["VirtualMFADevice"]["SerialNumber"]
    assert remote.local("mfa", "bind", serial, totp.at(now - 30), totp.at(now), "--root").exit_code == 0
    spare = remote.json("mfa", "create-device", "spare")["VirtualMFADevice"]["SerialNumber"]
    try:
        for command in (
            ("users", "groups", "D"),
            ("groups", "members", "RnD"),
            ("policies", "attached", "--user", "app"),
            ("policies", "attached", "--group", "RnD"),
            ("policies", "attached", "--role", "OSSReader"),
            ("policies", "entities", "AliyunECSReadOnlyAccess"),
            ("policies", "entities", "AliyunOSSReadOnlyAccess"),
            ("policies", "entities", "RnDOSSOfficeNetworkWorkingHours"),
            ("roles", "list"),
            ("mfa", "list"),
        ):
            local = json.loads(remote.local(*command, json_output=True).stdout)
            assert remote.json(*command) == local, command
        # Who acts differs (the store's owner, the API's admin user), not which fields describe them.
        local_who = json.loads(remote.local("whoami", json_output=True).stdout)
        assert sorted(remote.json("whoami")) == sorted(local_who)
        assert local_who["PrincipalId"] == local_who["UserId"] == local_who["AccountId"]
        # The root's AccessKeys are the one thing the RAM API cannot tell (see `ram account show --help`).
        local_account = json.loads(remote.local("account", "show", json_output=True).stdout)["Account"]
        through_api = remote.json("account", "show")["Account"]
        assert sorted(through_api) == sorted(set(local_account) - {"RootAccessKeys"})
        assert through_api["RootMFADevice"] == local_account["RootMFADevice"] == serial
        assert local_account["Caller"] == local_who["Arn"] and through_api["Caller"].endswith(":user/admin")
    finally:
        assert remote.local("mfa", "disable", "--root").exit_code == 0
        remote.ok("mfa", "delete-device", spare)


def test_passwords_and_mfa_codes_stay_out_of_request_urls(
    remote: Remote, caplog: pytest.LogCaptureFixture
) -> None:
    # httpx logs every request's URL at INFO: secrets must travel in the signed body, not the query.
    import pyotp

    password = "Url-Secret-9x!"
    with caplog.at_level(logging.INFO, logger="httpx"):
        remote.ok("users", "create", "url-user")
        remote.ok("users", "enable-console", "url-user", "--password", password)
        device = remote.json("mfa", "create-device", "url-user")["VirtualMFADevice"]
        totp, now = pyotp.TOTP(device["Base32StringSeed"]), time.time()
        codes = (totp.at(now - 30), totp.at(now))
        remote.ok("mfa", "bind", device["SerialNumber"], *codes, "--user", "url-user")
    logged = caplog.text
    assert "CreateLoginProfile" in logged and "BindMFADevice" in logged  # the URLs were logged
    assert "Url-Secret" not in logged and not any(f"={code}" in logged for code in codes)
    remote.ok("mfa", "disable", "url-user")
    remote.ok("users", "disable-console", "url-user")
    remote.ok("users", "delete", "url-user")


def test_set_password_through_the_api_resets_it_and_ends_the_lock_out(remote: Remote) -> None:
    old, new = "Str0ng!Passw0rd", "N3w-Str0ng!Pass"
    account_id = remote.json("whoami")["AccountId"]
    remote.ok("users", "create", "pw-user")
    remote.fails(
        "users", "set-password", "pw-user", "--password", new, code="EntityNotExist.User.LoginProfile"
    )
    remote.ok("users", "enable-console", "pw-user", "--mfa-bind-required", "--password", old)
    service = RamService(open_store(remote.store_url))
    try:
        with store_guard(remote.store_url) as guard:  # the server's guard: its store's own file
            throttle = lock_out(guard, account_id, "pw-user")
            remote.fails(
                "users",
                "set-password",
                "pw-user",
                input="short\nshort\n",
                code="InvalidParameter.PasswordPolicy",
            )
            with pytest.raises(errors.LoginLocked):
                throttle.attempt(account_id, "pw-user")
            shown = remote.json(
                "users", "set-password", "pw-user", "--password-reset-required", input=f"{new}\n{new}\n"
            )
            assert shown["LoginProfile"]["PasswordResetRequired"] is True
            assert shown["LoginProfile"]["MFABindRequired"] is True  # not sent, so kept
            assert throttle.attempt(account_id, "pw-user") == 1  # the server ended the lock-out
        with pytest.raises(errors.LoginFailed):
            service.verify_login_password(account_id, "pw-user", old)
        assert service.verify_login_password(account_id, "pw-user", new).password_reset_required
    finally:
        service.store.close()
    remote.ok("users", "delete", "pw-user", "--force")


def test_a_transfer_that_fails_through_the_api_changes_no_membership(remote: Remote) -> None:
    """Each RAM API call commits by itself: a transfer whose join fails puts the user back in --from."""
    for name in ("XferA", "XferB", "XferC"):
        remote.ok("groups", "create", name)
    remote.ok("users", "create", "xfer")
    remote.ok("groups", "add-user", "XferA", "xfer")
    remote.ok("groups", "add-user", "XferB", "xfer")

    def groups() -> list[str]:
        return sorted(g["GroupName"] for g in remote.json("users", "groups", "xfer")["Groups"])

    remote.fails(
        "users", "transfer", "xfer", "--from", "XferC", "--to", "XferA", code="EntityNotExist.User.Group"
    )
    remote.fails("users", "transfer", "xfer", "--from", "XferA", "--to", "Nope", code="EntityNotExist.Group")
    remote.fails(
        "users", "transfer", "xfer", "--from", "XferA", "--to", "XferB", code="EntityAlreadyExists.User.Group"
    )
    assert groups() == ["XferA", "XferB"]
    remote.ok("users", "transfer", "xfer", "--from", "XferA", "--to", "XferC")
    assert groups() == ["XferB", "XferC"]


def _on_a_terminal(args: list[str], env: dict[str, str], typed: str) -> str:
    """Run ``ram args`` with a pseudo-terminal as its controlling terminal; type ``typed`` at the first
    prompt; everything the terminal showed."""
    import fcntl
    import os
    import pty
    import select
    import termios

    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(
        [sys.executable, "-m", "ram_middleware.cli", *args],
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_terminal,  # the terminal getpass opens (/dev/tty)
    )
    os.close(slave)
    shown, answered = b"", False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        if not answered and b": " in shown:
            os.write(master, typed.encode() + b"\n")
            answered = True
        if child.poll() is not None and not ready:
            break
    child.wait(timeout=10)
    os.close(master)
    assert child.returncode == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


def test_a_missing_secret_is_asked_for_on_a_terminal_and_not_echoed(remote: Remote) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV and not k.lower().endswith("_proxy")}
    env.update(RAM_ENDPOINT=remote.endpoint, ALIBABA_CLOUD_ACCESS_KEY_ID=remote.key_id)
    shown = _on_a_terminal(["users", "list"], env, remote.secret)
    assert f"AccessKeySecret of {remote.key_id}: " in shown
    assert "admin" in shown and remote.secret not in shown


def test_account_show_advises_binding_root_mfa_in_a_way_that_works_through_the_api(remote: Remote) -> None:
    """`ram mfa enable --root` is refused through the API: the warning must point where the root can bind
    its device (the command on the server's store, or the root's console logon)."""
    assert remote.json("account", "show")["Account"]["RootMFADevice"] is None
    warning = remote.ok("account", "show").stderr
    assert "the account root has no MFA device; the RAM API cannot bind one" in warning
    assert "`ram mfa enable --root --store <the server's store URL>`" in warning
    assert f"{remote.endpoint}/console/logon" in warning
    # What the advice names as a command indeed fails here, as it says.
    refused = remote("mfa", "enable", "--root")
    assert refused.exit_code == 1 and "OperationNotSupported" in refused.stderr
    # On the store itself the command is the advice.
    local = remote.local("account", "show").stderr
    assert "bind one with `ram mfa enable --root`" in local and "console" not in local


def test_simulate_agrees_with_assume_role_through_sts(remote: Remote, tmp_path: Path) -> None:
    """``ram simulate`` (through the API and on the store) allows sts:AssumeRole exactly when the STS API,
    called with each user's own AccessKey, issues credentials; and both name the trust policy's refusal."""
    account_id = remote.json("whoami")["AccountId"]
    role = assume_role_cases(remote, account_id, tmp_path)
    callers = {}
    for user in {user for user, _ in ASSUME_ROLE_CASES}:
        key = remote.json("keys", "create", user)["AccessKey"]
        callers[user] = remote.as_(key["AccessKeyId"], key["AccessKeySecret"])
    for user, external_id in ASSUME_ROLE_CASES:
        args = simulate_args(user, "sts:AssumeRole", role, ip="203.0.113.9", when="2024-06-05T12:00:00Z")
        assumed = ["assume-role", "Shared", "--session-name", "s1"]
        if external_id is not None:
            args += ["--context", f"sts:ExternalId={external_id}"]
            assumed += ["--external-id", external_id]
        simulated = remote.json(*args)
        assert simulated == json.loads(remote.local(*args, json_output=True).stdout), user
        assert "TrustPolicy" in simulated
        result = callers[user](*assumed)
        assert (simulated["Effect"] == "Allow") == (result.exit_code == 0), (user, external_id, result.output)
        if result.exit_code != 0:
            assert "Error: NoPermission: " in result.stderr, result.stderr
    outsider = remote.json(*simulate_args("outsider", "sts:AssumeRole", role))
    assert outsider["TrustPolicy"]["Effect"] == "ImplicitDeny" and outsider["Effect"] == "ImplicitDeny"
    # A role that is not there: simulate and AssumeRole both say so.
    missing = f"acs:ram::{account_id}:role/nosuchrole"
    remote.fails(*simulate_args("trusted", "sts:AssumeRole", missing), code="EntityNotExist.Role")
    callers["trusted"].fails("assume-role", "NoSuchRole", "--session-name", "s1", code="EntityNotExist.Role")
    # Another account's role cannot be read through the API, so it is not guessed at.
    foreign = "acs:ram::1234567890123456:role/shared"
    remote.fails(*simulate_args("trusted", "sts:AssumeRole", foreign), code="OperationNotSupported")
