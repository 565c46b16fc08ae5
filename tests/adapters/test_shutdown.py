"""Stopping a server that runs a protected app: what was answered is on record once the process is gone."""

from __future__ import annotations

import json
import signal
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from ram_middleware.client import RamAuth
from ram_middleware.service import RamService
from ram_middleware.store import open_store

from .stopping import running, seeded


def _serve_one_request_and_stop(
    tmp_path: Path, app: list[str], stop: signal.Signals
) -> tuple[str, str, list[dict[str, object]], str]:
    """Serve the example app ``app`` (argv after the port) in a server process of its own, answer one signed
    request, stop the server with ``stop``: (account, AccessKeyId, audit events, the server's stderr)."""
    store = seeded(tmp_path)
    with running(["-m", *app], store.env, "/") as (server, port):
        answered = httpx.get(
            f"http://127.0.0.1:{port}/notes/n1", auth=RamAuth(store.key_id, store.secret), timeout=5,
            trust_env=False,
        )  # fmt: skip
        assert answered.status_code == 200
        server.send_signal(stop)
        server.wait(timeout=20)
    assert server.stderr is not None
    events = [json.loads(line) for line in store.audit.read_text().splitlines()]
    return store.account, store.key_id, events, server.stderr.read()


def _last_used(tmp_path: Path, account: str) -> datetime | None:
    store = open_store(f"sqlite:///{tmp_path}/ram.db")
    try:
        (key,) = RamService(store).list_access_keys(account, "reader")
        return key.last_used_date
    finally:
        store.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_uvicorn_stopped_by_a_signal_writes_the_audit_events_and_last_used_dates_of_answered_requests(
    tmp_path: Path, stop: signal.Signals
) -> None:
    uvicorn = ["uvicorn", "examples.starlette_app.app:app", "--port", "{port}"]
    account, key_id, events, log = _serve_one_request_and_stop(tmp_path, uvicorn, stop)
    assert "Application shutdown complete." in log
    recorded = [(event["access_key_id"], event["decision"], event["path"]) for event in events]
    assert recorded == [(key_id, "Allow", "/notes/n1")]
    assert _last_used(tmp_path, account) is not None


def test_an_app_without_lifespan_support_still_writes_what_was_answered_when_uvicorn_stops(
    tmp_path: Path,
) -> None:
    # uvicorn carries on without the lifespan when the app raises on it (Django's ASGI handler does): the
    # middleware's own lifespan is then the last moment to write what is pending.
    uvicorn = ["uvicorn", "tests.adapters.lifespanless_app:app", "--port", "{port}"]
    account, key_id, events, _ = _serve_one_request_and_stop(tmp_path, uvicorn, signal.SIGTERM)
    assert [(event["access_key_id"], event["decision"]) for event in events] == [(key_id, "Allow")]
    assert _last_used(tmp_path, account) is not None


def test_a_wsgi_server_that_exits_on_a_signal_writes_the_last_used_dates_of_answered_requests(
    tmp_path: Path,
) -> None:
    # waitress leaves on SIGINT through the interpreter's exit, as a gunicorn worker does on SIGTERM: nothing
    # closes the runtime of a WSGI app, so the exit is the last moment to write what is pending.
    waitress = ["waitress", "--listen=127.0.0.1:{port}", "examples.flask_app.app:app"]
    account, key_id, events, _ = _serve_one_request_and_stop(tmp_path, waitress, signal.SIGINT)
    assert [(event["access_key_id"], event["decision"]) for event in events] == [(key_id, "Allow")]
    assert _last_used(tmp_path, account) is not None
