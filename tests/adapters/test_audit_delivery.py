"""Audit events reach their sink through real apps, or the request is refused (fail closed)."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from alibabacloud_sts20150401 import models as sts_models  # type: ignore[import-untyped]

from ram_middleware.api import create_app
from ram_middleware.api.app import MAX_BODY
from ram_middleware.audit import LoggingSink, MemorySink
from ram_middleware.bootstrap import initialise
from ram_middleware.client import RamAuth
from ram_middleware.config import RamConfig, build
from tests.api.live import fails, ram_client, serving, sts_client
from tests.live_server import Key, core_rpc, sdk_environment
from tests.signatures.signing import roa_facts

from .apps import starlette_app
from .harness import client_class
from .stopping import running, seeded
from .world import World, make_world


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _quiet_parent(parent: logging.Logger, child: logging.Logger) -> None:
    """What ``logging.config.dictConfig`` does to a child of a logger it configures at WARNING (an app
    quieting a library's logs): the child is reset to NOTSET and loses its handlers."""
    parent.setLevel(logging.WARNING)
    child.setLevel(logging.NOTSET)
    child.handlers = []


def _disable(parent: logging.Logger, child: logging.Logger) -> None:
    """What ``dictConfig`` does to a logger it does not name (``disable_existing_loggers``, on by default)."""
    child.disabled = True


def _quiet_handlers(parent: logging.Logger, child: logging.Logger) -> None:
    """Handlers set to WARNING (a dictConfig's ``"level"`` on a handler): the logger passes INFO on, and
    no handler takes it."""
    for handler in parent.handlers:
        handler.setLevel(logging.WARNING)


@pytest.fixture
def logged_world() -> Iterator[tuple[World, logging.Logger, logging.Logger, _Records]]:
    parent = logging.getLogger(f"rev_app{os.getpid()}")
    child = logging.getLogger(f"{parent.name}.audit")
    records = _Records()
    parent.addHandler(records)
    world = make_world(audit=LoggingSink(child))
    yield world, parent, child, records
    world.ram.close()
    parent.propagate = True
    for logger in (parent, child):
        logger.handlers, logger.disabled = [], False
        logger.setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    "configure",
    [_quiet_parent, _disable, _quiet_handlers],
    ids=["parent-quieted", "disabled", "handlers-quieted"],
)
def test_a_logging_sink_configured_away_refuses_requests_instead_of_dropping_their_events(
    logged_world: tuple[World, logging.Logger, logging.Logger, _Records],
    configure: Callable[[logging.Logger, logging.Logger], None],
) -> None:
    world, parent, child, records = logged_world
    # Only ``records`` sees the events. Set here, not in the fixture: pytest attaches its own capturing
    # handlers to the loggers that do not propagate when the test starts.
    parent.propagate = False
    client = client_class()(starlette_app(world.ram))
    key = world.keys["alice"]
    auth = RamAuth(key.access_key_id, key.secret, clock=world.clock)
    assert client.get("/instances/i-1", auth=auth).status_code == 200
    (line,) = [json.loads(text) for text in records.lines]
    assert line["decision"] == "Allow"
    records.lines.clear()
    configure(parent, child)  # the app configures logging after building the middleware
    refused = client.get("/instances/i-1", auth=auth)
    # Before: 200, and the event silently dropped, so an allowed call left no trace.
    assert refused.status_code == 503 and refused.json()["Code"] == "ServiceUnavailable"
    assert records.lines == []


# The control plane as an app embedding it serves it (runtime kept open), and as ``ram serve`` does (closed).
_SERVE_CONTROL_PLANE = """
import sys, uvicorn
from ram_middleware.api import create_app
from ram_middleware.config import RamConfig, build
app = create_app(build(RamConfig.from_env()), close_on_shutdown=sys.argv[2] == "close")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


@pytest.mark.parametrize("runtime", ["open", "close"])
def test_a_control_plane_stopped_by_sigterm_writes_the_events_of_the_calls_it_answered(
    tmp_path: Path, runtime: str
) -> None:
    store = seeded(tmp_path)
    with running(["-c", _SERVE_CONTROL_PLANE, "{port}", runtime], store.env, "/healthz") as (server, port):
        key = Key(store.key_id, store.secret)
        identity = core_rpc(f"127.0.0.1:{port}", key, "2015-04-01", "GetCallerIdentity", {})
        request_id = identity["RequestId"]
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert server.stderr is not None
    log = server.stderr.read()
    assert "Application shutdown complete." in log and "Traceback" not in log
    # Before: the lifespan's end wrote nothing, uvicorn then died of the signal, and the event was lost.
    events = [json.loads(line) for line in store.audit.read_text().splitlines()]
    assert [(e["request_id"], e["action"], e["decision"]) for e in events] == [
        (request_id, "sts:GetCallerIdentity", "Allow")
    ]


def _assume_role(endpoint: str, admin: Key, account_id: str) -> object:
    request = sts_models.AssumeRoleRequest(
        role_arn=f"acs:ram::{account_id}:role/deployer", role_session_name="ci-job"
    )
    return sts_client(endpoint, admin).assume_role(request)


def _create_access_key(endpoint: str, admin: Key, account_id: str) -> object:
    return ram_client(endpoint, admin).create_access_key(ram_models.CreateAccessKeyRequest(user_name="dev"))


def _create_mfa_device(endpoint: str, admin: Key, account_id: str) -> object:
    request = ram_models.CreateVirtualMFADeviceRequest(virtual_mfadevice_name="dev-phone")
    return ram_client(endpoint, admin).create_virtual_mfadevice(request)


@pytest.mark.parametrize(
    "hand_out",
    [_assume_role, _create_access_key, _create_mfa_device],
    ids=["AssumeRole", "CreateAccessKey", "CreateVirtualMFADevice"],
)
def test_no_secret_is_handed_out_whose_issue_a_full_disk_kept_off_the_record(
    tmp_path: Path, hand_out: Callable[[str, Key, str], object]
) -> None:
    # The default write-behind file sink; /dev/full refuses every write as a full disk does.
    runtime = build(
        RamConfig(store_url=f"sqlite:///{tmp_path}/ram.db", audit="/dev/full", audit_flush_interval=30)
    )
    boot = initialise(runtime.service, alias="company-x")
    root = f"acs:ram::{boot.account_id}:root"
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [root]}}
    trust = {"Version": "1", "Statement": [statement]}
    runtime.service.create_role(boot.account_id, "Deployer", json.dumps(trust))
    runtime.service.create_user(boot.account_id, "dev")
    admin = Key(boot.access_key_id, boot.access_key_secret)
    try:
        with sdk_environment(), serving(runtime) as endpoint:
            # Before: 200 with the secret (credentials, AccessKeySecret, MFA seed), and the record of its
            # issue lost with the batch the disk refused.
            fails("ServiceUnavailable", 503, hand_out, endpoint, admin, boot.account_id)
    finally:
        runtime.close()


def test_a_control_plane_call_refused_for_its_body_after_the_check_gets_its_second_event(
    tmp_path: Path,
) -> None:
    audit = MemorySink()
    runtime = build(RamConfig(store_url=f"sqlite:///{tmp_path}/ram.db", audit=audit))
    boot = initialise(runtime.service, alias="company-x")
    # ROA without Content-MD5 leaves the body unsigned: the middleware decides without reading it, and the
    # control plane finds it over its limit only afterwards.
    signed = roa_facts(
        method="POST", path="/", query="Action=GetCallerIdentity", access_key_id=boot.access_key_id,
        secret=boot.access_key_secret, when=runtime.authorizer.contexts.now(),
        extra={"x-acs-version": "2015-04-01"},
    )  # fmt: skip
    headers = {name: value for name, value in signed.headers if name != "host"}
    headers["content-type"] = "application/octet-stream"
    try:
        client = client_class()(create_app(runtime))
        reply = client.post("/?Action=GetCallerIdentity", headers=headers, content=b"x" * (MAX_BODY + 1))
    finally:
        runtime.close()
    assert reply.status_code == 413 and reply.json()["Code"] == "EntityTooLarge"
    # Before: only the middleware's Allow (200) was recorded for a call the caller saw refused.
    assert [(e.request_id, e.decision, e.status) for e in audit.events] == [
        (reply.json()["RequestId"], "Allow", 200),
        (reply.json()["RequestId"], "Rejected", 413),
    ]
    assert audit.events[1].principal_arn == audit.events[0].principal_arn
