"""`ram init` and `ram serve` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from click.testing import CliRunner

from ram_middleware.cli import main
from ram_middleware.cli.serve import EXIT_ALREADY_INITIALISED
from ram_middleware.service import RamService
from ram_middleware.store import open_store

from .live import STS_VERSION, Key, core_call, ram_client


def _init(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--store", url, "init", *args])
    return result.exit_code, result.stdout, result.stderr


def test_init_creates_an_admin_and_never_clobbers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    code, out, _ = _init(url, "--json", "--alias", "company-x")
    assert code == 0
    created = json.loads(out)
    assert created["UserName"] == "admin" and created["AccountAlias"] == "company-x"
    assert created["AccessKeyId"].startswith("LTAI") and len(created["AccessKeySecret"]) == 30
    code, out, err = _init(url, "--json")
    assert code == EXIT_ALREADY_INITIALISED == 3
    assert json.loads(out)["Accounts"] == [{"AccountId": created["AccountId"], "AccountAlias": "company-x"}]
    assert "already initialised" in err and created["AccessKeySecret"] not in out + err
    store = open_store(url)
    try:
        service = RamService(store)
        account = created["AccountId"]
        assert service.list_access_keys(account, None) == []  # the root gets no AccessKey
        assert [k.access_key_id for k in service.list_access_keys(account, "admin")] == [
            created["AccessKeyId"]
        ]
        attached = service.list_policies_for_user(account, "admin")
        assert [(a.entity.policy_type, a.entity.policy_name) for a in attached] == [
            ("System", "AdministratorAccess")
        ]
        assert len(service.list_accounts()) == 1
    finally:
        store.close()
    code, out, _ = _init(url, "--new-account", "--admin", "ops")
    assert code == 0 and "Bootstrap admin: ops" in out and "AccessKeySecret: " in out


def test_init_rejects_bad_input_without_creating_anything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    code, _, err = _init(url, "--alias", "Bad Alias")
    assert code == 1 and "AccountAlias" in err
    code, _, err = _init(url, "--admin", "no spaces please")
    assert code == 1 and "UserName" in err
    assert _init(url, "--json")[0] == 0  # nothing half-made blocked a clean init


@pytest.fixture
def served(tmp_path: Path) -> tuple[str, Key, subprocess.Popen[str]]:
    url = f"sqlite:///{tmp_path}/ram.db"
    code, out, _ = _init(url, "--json")
    assert code == 0
    created = json.loads(out)
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ram_middleware.cli import main; main()",
            "serve",
            "--store",
            url,
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert found, line
    return f"127.0.0.1:{found.group(1)}", Key(created["AccessKeyId"], created["AccessKeySecret"]), process


def _wait_until_up(endpoint: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"http://{endpoint}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, "ram serve did not come up"
        time.sleep(0.05)


def test_ram_serve_runs_the_control_plane(served: tuple[str, Key, subprocess.Popen[str]]) -> None:
    endpoint, admin, process = served
    try:
        _wait_until_up(endpoint, process)
        identity = core_call(endpoint, admin, STS_VERSION, "GetCallerIdentity")
        assert identity["Arn"].endswith(":user/admin") and identity["IdentityType"] == "RAMUser"
        body = (
            ram_client(endpoint, admin).create_user(ram_models.CreateUserRequest(user_name="first-hire")).body
        )
        assert body.user.user_name == "first-hire"
        # A local client's X-Forwarded-For is not the server's to believe (no trusted proxy is named).
        spoofed = {"X-Forwarded-For": "203.0.113.9"}
        httpx.get(f"http://{endpoint}/?Action=GetCallerIdentity", headers=spoofed, timeout=5, trust_env=False)
    finally:
        process.terminate()
        process.wait(timeout=15)
    # uvicorn shuts down gracefully on SIGTERM, then raises it again: ram serve exits 0 all the same.
    assert process.stderr is not None
    log = process.stderr.read()
    assert "Application shutdown complete." in log and admin.secret not in log
    assert process.stdout is not None
    # No access log: its request lines would carry signatures, tokens and passwords from query strings.
    printed = log + process.stdout.read()
    assert "?Action=" not in printed and "Signature=" not in printed
    sources = {event["source_ip"] for event in map(json.loads, re.findall(r"^\{.*\}$", log, re.M))}
    assert sources == {"127.0.0.1"}


@pytest.mark.parametrize("json_output", [False, True])
def test_init_errors_are_code_and_message_in_the_chosen_style(tmp_path: Path, json_output: bool) -> None:
    """`ram init --json` fails as every command does with --json: one JSON object on stderr, exit 1."""
    failures = [
        (f"sqlite:///{tmp_path}/ram.db", ["--alias", "Not An Alias"], "InvalidParameter.AccountAlias"),
        ("mysql://db/ram", [], "InvalidParameter.StoreUrl"),
    ]
    style = ["--json"] if json_output else []
    for store, args, code in failures:
        result = CliRunner().invoke(main, ["--store", store, "init", *style, *args])
        assert result.exit_code == 1 and result.stdout == "", result.output
        if json_output:
            body = json.loads(result.stderr)
            assert body["Code"].startswith(code) and set(body) == {"Code", "Message"}
        else:
            assert result.stderr.startswith(f"Error: {code}") and result.stderr.count("\n") == 1
    assert "mysql://db/ram" in result.stderr  # the store that could not be opened is named


def test_ram_serve_stopped_with_ctrl_c_shuts_down_cleanly(
    served: tuple[str, Key, subprocess.Popen[str]],
) -> None:
    endpoint, _, process = served
    try:
        _wait_until_up(endpoint, process)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    log = process.stderr.read()
    assert "Application shutdown complete." in log
    # A stop asked for is no failure: exit status 0 and no "Aborted!", as uvicorn's own command does.
    assert (process.returncode, "Aborted!" in log) == (0, False)
