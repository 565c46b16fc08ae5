"""The two example apps work as their README snippets say: public index, reader may read, not delete."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
import webtest

from ram_middleware.client import RequestSigner

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
