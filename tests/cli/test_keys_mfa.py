"""``ram keys`` and ``ram mfa``; ``mfa enable`` is driven through a real pipe, answering with pyotp codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pyotp

from .conftest import CLEAN_ENV, ROOT, Ram


def test_key_secret_is_shown_once(ram: Ram) -> None:
    ram.ok("users", "create", "app")
    created = ram.ok("keys", "create", "app").stdout
    key_id = re.search(r"AccessKeyId:\s+(\S+)", created)
    secret = re.search(r"AccessKeySecret:\s+(\S+)", created)
    assert key_id and secret and "not shown again" in created
    listing = ram.ok("keys", "list", "app").stdout + str(ram.json("keys", "list", "app"))
    assert key_id.group(1) in listing and secret.group(1) not in listing
    ram.ok("keys", "disable", "app", key_id.group(1))
    assert ram.json("keys", "list", "app")["AccessKeys"][0]["Status"] == "Inactive"
    # users show: objects for scripts, a short line for people
    shown = ram.json("users", "show", "app")["User"]["AccessKeys"]
    assert shown == [{"AccessKeyId": key_id.group(1), "Status": "Inactive"}]
    assert f"{key_id.group(1)} (Inactive)" in ram.ok("users", "show", "app").stdout
    ram.ok("keys", "enable", "app", key_id.group(1))
    assert ram.json("keys", "last-used", "app", key_id.group(1)) == {
        "AccessKeyLastUsed": {"LastUsedDate": None}
    }
    second = ram.json("keys", "create", "app")["AccessKey"]
    assert second["AccessKeySecret"] and second["Status"] == "Active"
    ram.fails("keys", "create", "app", code="LimitExceeded.User.AccessKey")
    ram.fails("keys", "delete", "app", "LTAInotakey", code="EntityNotExist.AccessKey")
    ram.ok("keys", "delete", "app", key_id.group(1))
    assert [k["AccessKeyId"] for k in ram.json("keys", "list", "app")["AccessKeys"]] == [
        second["AccessKeyId"]
    ]


def _enable_interactively(ram: Ram, *args: str, wrong: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``ram mfa enable`` in a child process: read the key it prints, answer its prompts."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    command = [
        sys.executable,
        "-c",
        "from ram_middleware.cli import main; main()",
        "--store",
        ram.url,
        "mfa",
        "enable",
        *args,
    ]
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    seed = None
    shown = []
    while seed is None:
        line = child.stdout.readline()
        assert line, "the command ended before printing the key"
        shown.append(line)
        found = re.search(r"Or enter this key by hand: ([A-Z2-7]+)", line)
        seed = found.group(1) if found else None
    totp = pyotp.TOTP(seed)
    now = time.time()
    answers = ["000000\n000000\n"] * 3 if wrong else [f"{totp.at(now - 30)}\n{totp.at(now)}\n"]
    out, err = child.communicate("".join(answers), timeout=30)
    qr = "".join(shown)
    assert "▀" in qr or "█" in qr, "no QR code drawn"
    return subprocess.CompletedProcess(command, child.returncode, qr + out, err)


def test_mfa_enable_binds_with_two_consecutive_codes(ram: Ram) -> None:
    ram.ok("users", "create", "ops")
    done = _enable_interactively(ram, "ops")
    assert done.returncode == 0, done.stderr
    assert f"MFA enabled for ops (acs:ram::{ram.account_id}:mfa/ops)." in done.stdout
    assert ram.json("mfa", "show", "ops")["MFADevice"]["SerialNumber"].endswith(":mfa/ops")
    assert "ops" in ram.ok("mfa", "list").stdout
    ram.fails("users", "delete", "ops", code="DeleteConflict.User.MFADevice")
    ram.ok("mfa", "disable", "ops")
    assert ram.json("mfa", "list") == {"VirtualMFADevices": []}


def test_mfa_enable_for_the_root_and_wrong_codes(ram: Ram) -> None:
    done = _enable_interactively(ram, "--root")
    assert done.returncode == 0, done.stderr
    assert ram.service.get_root_mfa_info(ram.account_id) is not None
    assert "RootMFADevice" in ram.ok("account", "show").stdout
    assert "no MFA device" not in ram("account", "show").stderr
    ram.ok("users", "create", "dev")
    failed = _enable_interactively(ram, "dev", wrong=True)
    assert failed.returncode == 1
    assert "Error: InvalidAuthenticationCode:" in failed.stderr
    assert failed.stderr.count("Those codes did not match") == 2
    # The half-made device is cleaned up.
    assert [d["SerialNumber"] for d in ram.json("mfa", "list")["VirtualMFADevices"]] == [
        f"acs:ram::{ram.account_id}:mfa/root"
    ]


def test_an_abandoned_mfa_enable_leaves_no_device_behind(ram: Ram) -> None:
    ram.ok("users", "create", "quitter")
    abandoned = ram("mfa", "enable", "quitter", input="")  # the end of input at the first prompt
    assert abandoned.exit_code != 0
    assert ram.json("mfa", "list") == {"VirtualMFADevices": []}
    assert _enable_interactively(ram, "quitter").returncode == 0  # trying again is not blocked


def test_scripted_mfa_enrolment(ram: Ram) -> None:
    ram.ok("users", "create", "bot")
    device = ram.json("mfa", "create-device", "bot-device")["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"])
    now = time.time()
    ram.fails(
        "mfa",
        "bind",
        device["SerialNumber"],
        "123456",
        "654321",
        "--user",
        "bot",
        code="InvalidAuthenticationCode",
    )
    ram.ok("mfa", "bind", device["SerialNumber"], totp.at(now - 30), totp.at(now), "--user", "bot")
    assert ram.json("mfa", "show", "bot")["MFADevice"]["SerialNumber"] == device["SerialNumber"]
    assert ram("mfa", "bind", "x", "1", "2").exit_code == 2  # neither --user nor --root


def _bind(ram: Ram, device_name: str, *subject: str) -> str:
    device = ram.json("mfa", "create-device", device_name)["VirtualMFADevice"]
    totp, now = pyotp.TOTP(device["Base32StringSeed"]), time.time()
    ram.ok("mfa", "bind", device["SerialNumber"], totp.at(now - 30), totp.at(now), *subject)
    return str(device["SerialNumber"])


def test_mfa_enable_refuses_before_showing_a_qr_code_when_a_device_is_bound(ram: Ram) -> None:
    """No QR code to scan and no codes asked for when the bind is bound to fail."""
    ram.ok("users", "create", "ops")
    bound = {_bind(ram, "ops-phone", "--user", "ops"), _bind(ram, "root-phone", "--root")}
    for args in (("ops", "--device-name", "ops-tablet"), ("--root", "--device-name", "root-tablet")):
        refused = ram.fails("mfa", "enable", *args, input="", code="EntityAlreadyExists.User.MFADevice")
        assert "already has an MFA device" in refused.stderr and "ram mfa disable" in refused.stderr
        assert refused.stdout == ""  # no QR code, no key, no prompt
    assert {d["SerialNumber"] for d in ram.json("mfa", "list")["VirtualMFADevices"]} == bound
