"""A live demo server (``python -m examples.company_x serve``) over Company X's organisation, and clients.

The organisation comes from ``examples/company_x/organisation.json`` applied to a temp SQLite store; the
server runs as its own process with the demo knobs the walkthrough uses (``--trusted-proxy 127.0.0.1`` so
``X-Forwarded-For`` sets the source IP, ``--clock-file`` for ``acs:CurrentTime``) and writes its audit log
to a file the tests read.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oss2
import pytest

from examples.company_x.processes import Servers, clean_environment, free_port
from ram_middleware.cli.local import LocalBackend
from ram_middleware.organisation import apply, load_organisation
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.live_server import Key, core_rpc

ROOT = Path(__file__).resolve().parents[2]
ORG_FILE = ROOT / "examples" / "company_x" / "organisation.json"
ECS, RDS, OSS = "2014-05-26", "2014-08-15", "2019-05-17"
OFFICE, HOME = "203.0.113.25", "198.51.100.7"
TUESDAY_10, TUESDAY_20 = "2024-06-04T10:00:00+08:00", "2024-06-04T20:00:00+08:00"


@dataclass
class Company:
    """The running demo: endpoint, the store's service, keys by user, the clock file and the audit log."""

    endpoint: str
    account_id: str
    service: RamService
    store_url: str
    keys: dict[str, Key]
    clock: Path
    audit: Path

    def at(self, iso_time: str) -> None:
        self.clock.write_text(iso_time, encoding="utf-8")

    def audit_events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines() if line.strip()]

    def event(self, request_id: str) -> dict[str, Any]:
        return next(e for e in self.audit_events() if e["request_id"] == request_id)

    def sts(self, as_user: str, policy: dict[str, Any] | None = None) -> Key:
        """Temporary credentials for role OSSReader, minted on the store as ``ram assume-role`` does."""
        params = {"RoleSessionName": "contractor", "DurationSeconds": "900"}
        if policy is not None:
            params["Policy"] = json.dumps(policy)
        backend = LocalBackend.open(self.store_url, None)
        try:
            answer = backend.assume_role(
                f"acs:ram::{self.account_id}:role/ossreader", params, as_user=as_user
            )
        finally:
            backend.close()
        creds = answer["Credentials"]
        return Key(creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"])

    def rpc(self, key: Key, version: str, action: str, ip: str = OFFICE, **params: str) -> dict[str, Any]:
        """aliyun-python-sdk-core CommonRequest (RPC signature v1); raises ServerException on an error."""
        return core_rpc(self.endpoint, key, version, action, params, headers={"X-Forwarded-For": ip})

    def bucket(self, key: Key, name: str = "rnd-bucket", *, v4: bool = False) -> oss2.Bucket:
        """An oss2 Bucket on the REST paths (OSS signature V1, or V4)."""
        auth: Any
        if key.security_token is not None:
            auth = oss2.StsAuth(key.access_key_id, key.secret, key.security_token)
        elif v4:
            provider = oss2.credentials.StaticCredentialsProvider(key.access_key_id, key.secret)
            return oss2.Bucket(
                oss2.ProviderAuthV4(provider), f"http://{self.endpoint}", name, region="cn-hangzhou"
            )
        else:
            auth = oss2.Auth(key.access_key_id, key.secret)
        return oss2.Bucket(auth, f"http://{self.endpoint}", name)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Company]:
    directory = tmp_path_factory.mktemp("company")
    url = f"sqlite:///{directory / 'ram.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith(("RAM_", "ALIBABA_CLOUD_", "ALIYUN_"))]:
            patch.delenv(name)
        for name in [k for k in os.environ if k.lower().endswith("_proxy")]:
            patch.delenv(name)
        service = RamService(open_store(url))
        account = service.create_account("company-x")
        applied = apply(service, account.account_id, load_organisation(ORG_FILE))
        app_key = applied.secrets["AccessKey of app"]
        keys = {"app": Key(app_key["AccessKeyId"], app_key["AccessKeySecret"])}
        for user in ("A", "B", "D", "E"):
            created = service.create_access_key(account.account_id, user)
            keys[user] = Key(created.key.access_key_id, created.secret)
        service.attach_policy(account.account_id, "user", "D", "System", "AliyunSTSAssumeRoleAccess")
        port = free_port()
        clock, audit = directory / "clock", directory / "audit.jsonl"
        with Servers(directory, clean_environment()) as servers:
            servers.start(
                "demo",
                [
                    sys.executable,
                    "-m",
                    "examples.company_x",
                    "serve",
                    "--store",
                    url,
                    "--port",
                    str(port),
                    "--trusted-proxy",
                    "127.0.0.1",
                    "--clock-file",
                    str(clock),
                    "--audit",
                    str(audit),
                ],
                port,
                "/health",
            )
            servers.wait()
            yield Company(servers.endpoint("demo"), account.account_id, service, url, keys, clock, audit)
        service.directory.close()
        service.store.close()
