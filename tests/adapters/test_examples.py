"""The two example apps work as their README snippets say: public index, reader may read, not delete."""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
import webtest

import ram_middleware
from ram_middleware.client import RequestSigner
from ram_middleware.config import RamConfig, build
from tests.live_server import sdk_environment, serve_asgi, serve_wsgi
from tests.readme import ROOT, readme_blocks, readme_imports, run_shell, shell_env

from .harness import client_class


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RAM_STORE_URL", "memory://")
    monkeypatch.setenv("RAM_AUDIT", "memory:")
    yield
    for name in [
        name for name in sys.modules if name.startswith(("examples.flask_app", "examples.starlette_app"))
    ]:
        del sys.modules[name]


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


def _headers(signer: RequestSigner, method: str, url: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in signer.sign(method, url, [], b"").headers.items() if k != "host"]


def test_starlette_example(fresh: None, capsys: pytest.CaptureFixture[str]) -> None:
    module = _load("examples.starlette_app.app")
    seed = _load("examples.starlette_app.seed").seed
    account, key_id, secret = seed(module.ram.service)
    assert secret not in capsys.readouterr().err
    signer = RequestSigner(key_id, secret)
    client = client_class()(module.app)
    assert client.get("/").json()["service"] == "notes"
    reply = client.get("/notes/n1", headers=_headers(signer, "GET", "http://testserver/notes/n1"))
    assert reply.json() == {"id": "n1", "text": "buy milk", "reader": f"acs:ram::{account}:user/reader"}
    denied = client.delete("/notes/n1", headers=_headers(signer, "DELETE", "http://testserver/notes/n1"))
    assert (denied.status_code, denied.json()["Code"]) == (403, "NoPermission")
    assert client.get("/notes/n1").status_code == 401
    module.ram.close()


def test_flask_example(fresh: None) -> None:
    module = _load("examples.flask_app.app")
    seed = _load("examples.starlette_app.seed").seed
    runtime = module.ram.runtime(module.app)
    account, key_id, secret = seed(runtime.service)
    signer = RequestSigner(key_id, secret)
    client = webtest.TestApp(module.app)
    assert client.get("/").json["service"] == "notes"
    reply = client.get("/notes/n2", headers=_headers(signer, "GET", "http://localhost:80/notes/n2"))
    assert reply.json["reader"] == f"acs:ram::{account}:user/reader"
    denied = client.delete(
        "/notes/n2", headers=_headers(signer, "DELETE", "http://localhost:80/notes/n2"), expect_errors=True
    )
    assert (denied.status_int, denied.json["Code"]) == (403, "NoPermission")
    runtime.close()


def _readme_snippets() -> list[str]:
    return readme_blocks("Protect an existing app", "python")


def test_the_readme_snippets_run_as_printed_and_protect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    starlette_code, flask_code = _readme_snippets()[:2]  # the two "protect an app" snippets come first
    assert all(len(code.strip().splitlines()) < 15 for code in (starlette_code, flask_code))
    monkeypatch.setenv("RAM_STORE_URL", f"sqlite:///{tmp_path}/ram.db")
    monkeypatch.setenv("RAM_AUDIT", "memory:")
    starlette_app: Any = {"__name__": "readme_starlette"}
    exec(compile(starlette_code, "README.md", "exec"), starlette_app)
    flask_app: Any = {"__name__": "readme_flask"}
    exec(compile(flask_code, "README.md", "exec"), flask_app)
    service = build().service  # the same store the snippets' runtimes read (RAM_STORE_URL)
    account, key_id, secret = _load("examples.starlette_app.seed").seed(service)
    signer = RequestSigner(key_id, secret)
    client = client_class()(starlette_app["app"])
    assert client.get("/notes/n1").status_code == 401
    reply = client.get("/notes/n1", headers=_headers(signer, "GET", "http://testserver/notes/n1"))
    assert reply.json() == {"reader": f"acs:ram::{account}:user/reader"}
    web = webtest.TestApp(flask_app["app"])
    assert web.get("/notes/n1", expect_errors=True).status_int == 401
    signed = web.get("/notes/n1", headers=_headers(signer, "GET", "http://localhost:80/notes/n1"))
    assert signed.json == {"reader": f"acs:ram::{account}:user/reader"}


@pytest.mark.parametrize("framework", ["starlette", "flask"])
def test_the_readme_try_it_steps_give_a_caller_one_note(
    framework: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's "to try a snippet" steps, as a new user runs them: the shell block in the app's directory
    # (default store ./ram.db), the snippet served on a real server, the printed call against it.
    (steps,) = readme_blocks("Protect an existing app", "")
    starlette_code, flask_code, call_code = _readme_snippets()[:3]
    printed = run_shell(steps, tmp_path)
    key_id = re.findall(r"AccessKeyId:\s+(\S+)", printed)[-1]  # ram init prints the admin's key first
    secret = re.findall(r"AccessKeySecret:\s+(\S+)", printed)[-1]
    for name in [name for name in os.environ if name.startswith("RAM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RAM_AUDIT", "memory:")
    monkeypatch.chdir(tmp_path)
    snippet: Any = {"__name__": f"readme_{framework}"}
    exec(compile(starlette_code if framework == "starlette" else flask_code, "README.md", "exec"), snippet)
    serve = serve_asgi if framework == "starlette" else serve_wsgi
    with sdk_environment(), serve(snippet["app"]) as address:
        call = call_code.replace("<AccessKeyId>", key_id).replace("<AccessKeySecret>", secret)
        assert "http://127.0.0.1:8000/" in call
        exec(compile(call.replace("127.0.0.1:8000", address), "README.md", "exec"), {})
    account = re.search(r"Account (\d+) created", printed)
    assert account is not None, printed
    lines = capsys.readouterr().out.splitlines()
    assert lines == [str({"reader": f"acs:ram::{account[1]}:user/reader"}), "NoPermission"]
    if framework == "flask":
        snippet["RAM"].runtime(snippet["app"]).close()


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("RAM_LIMITS=users_per_acount=5", "InvalidParameter.RAM_LIMITS: RAM_LIMITS names an unknown quota"),
        ("RAM_MAX_BODY=10MB", "InvalidParameter.RAM_MAX_BODY: RAM_MAX_BODY must be a whole number of bytes"),
    ],
)
def test_a_bad_setting_stops_the_readme_snippet_from_starting_under_uvicorn(
    setting: str, said: str, tmp_path: Path
) -> None:
    # uvicorn takes an exception in the lifespan for an app without one: served as the README says, the
    # Starlette snippet once started anyway ("lifespan protocol appears unsupported") and answered every
    # request 500 with a traceback. The setting's error now stops the start, as for `ram serve`.
    (tmp_path / "app.py").write_text(_readme_snippets()[0])
    name, value = setting.split("=", 1)
    env = {**shell_env(), name: value, "RAM_AUDIT": "memory:"}
    command = [sys.executable, "-m", "uvicorn", "app:app", "--no-proxy-headers", "--port", "0"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=20)
    assert done.returncode != 0 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "ram.db").exists()


def test_a_bad_setting_refuses_requests_with_a_503_where_the_server_runs_no_lifespan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snippet: Any = {"__name__": "readme_starlette"}
    exec(compile(_readme_snippets()[0], "README.md", "exec"), snippet)
    monkeypatch.setenv("RAM_STORE_URL", "memory://")
    monkeypatch.setenv("RAM_LIMITS", "users_per_account=0")
    with serve_asgi(snippet["app"], lifespan="off") as address:
        reply = requests.get(f"http://{address}/notes/n1", timeout=10)
    assert (reply.status_code, reply.json()["Code"]) == (503, "ServiceUnavailable")
    assert "RAM_LIMITS" not in reply.text  # the server's own configuration is for its log, not for callers


@pytest.mark.parametrize("package", ["examples.starlette_app", "examples.flask_app"])
def test_the_example_commands_read_their_options_before_serving(package: str, tmp_path: Path) -> None:
    # `--help` once started the server (on port 8000 or 5000) and `--sed` served without seeding, silently.
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", package, *args]
        env = shell_env()
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=20)

    helped = run("--help")
    assert helped.returncode == 0 and "--seed" in helped.stdout, helped.stderr
    mistyped = run("--sed")
    assert mistyped.returncode == 2 and "unrecognized arguments: --sed" in mistyped.stderr
    assert not (tmp_path / "ram.db").exists()  # nothing was served, nothing was created


def test_every_name_the_readme_calls_says_where_to_import_it_from() -> None:
    # `RAMWSGIMiddleware(app, rules=…)`, `RpcApi(service="ecs", …)` and `replay_signatures=True` (a RamConfig
    # field, not an argument of build()) once left a reader to search the package for them.
    imports = readme_imports()
    for name, module in imports.items():
        assert hasattr(importlib.import_module(module), name), f"the README imports {name} from {module}"
    readme = (ROOT / "README.md").read_text()
    exported = {
        name
        for info in pkgutil.walk_packages(ram_middleware.__path__, "ram_middleware.")
        if not info.name.startswith(("ram_middleware.cli", "ram_middleware.console.", "ram_middleware.api"))
        for name in getattr(importlib.import_module(info.name), "__all__", ())
    }
    called = set(re.findall(r"(?<![\w.])([A-Za-z_]\w*)\(", readme)) & exported
    assert called - set(imports) == set()
    # Settings shown as `name=…` are RamConfig's fields: the README says where RamConfig comes from.
    assert imports["RamConfig"] == "ram_middleware.config"
    shown = set(re.findall(r"`(\w+)=", readme)) & {field.name for field in dataclasses.fields(RamConfig)}
    assert {"replay_signatures", "mfa_issuer", "undeclared", "limits"} <= shown
