"""A live control plane (the app `ram serve` runs) on 127.0.0.1, and the official SDK clients for it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]
from alibabacloud_sts20150401.client import Client as StsClient  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import utils_models as open_api_models
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ram_middleware.api import create_app
from ram_middleware.audit import MemorySink
from ram_middleware.bootstrap import Bootstrap
from ram_middleware.config import Ram

RAM_VERSION = "2015-05-01"
STS_VERSION = "2015-04-01"


@dataclass(frozen=True)
class Key:
    """Credentials a test signs with (long-term or STS)."""

    access_key_id: str
    secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass
class Live:
    """A running control plane: its endpoint, runtime, audit log and bootstrap admin."""

    endpoint: str
    ram: Ram
    audit: MemorySink
    boot: Bootstrap

    @property
    def account_id(self) -> str:
        return self.boot.account_id

    @property
    def admin(self) -> Key:
        return Key(self.boot.access_key_id, self.boot.access_key_secret)

    def arn(self, relative: str) -> str:
        return f"acs:ram::{self.account_id}:{relative}"


def _config(key: Key, endpoint: str, protocol: str = "http") -> open_api_models.Config:
    return open_api_models.Config(
        access_key_id=key.access_key_id,
        access_key_secret=key.secret,
        security_token=key.security_token,
        endpoint=endpoint,
        protocol=protocol,
        region_id="cn-hangzhou",
        read_timeout=10000,
        connect_timeout=5000,
    )


def _endpoint(target: Live | str) -> str:
    return target if isinstance(target, str) else target.endpoint


def ram_client(target: Live | str, key: Key, *, signature: str | None = None) -> RamClient:
    """alibabacloud-ram20150501 (ACS3 by default; ``signature="v2"`` switches it to RPC v1)."""
    config = _config(key, _endpoint(target))
    if signature is not None:
        config.signature_algorithm = signature
    return RamClient(config)


def sts_client(target: Live | str, key: Key) -> StsClient:
    """alibabacloud-sts20150401 (ACS3)."""
    return StsClient(_config(key, _endpoint(target)))


def core_call(target: Live | str, key: Key, version: str, action: str, **params: str) -> dict[str, Any]:
    """aliyun-python-sdk-core CommonRequest (RPC v1 HMAC-SHA1), no retries."""
    if key.security_token is not None:
        from aliyunsdkcore.auth.credentials import StsTokenCredential

        client = AcsClient(
            region_id="cn-hangzhou",
            credential=StsTokenCredential(key.access_key_id, key.secret, key.security_token),
            auto_retry=False,
            max_retry_time=0,
            timeout=10,
        )
    else:
        client = AcsClient(
            key.access_key_id, key.secret, "cn-hangzhou", auto_retry=False, max_retry_time=0, timeout=10
        )
    request = CommonRequest(domain=_endpoint(target), version=version, action_name=action)
    request.set_protocol_type("http")
    request.set_method("POST")
    for name, value in params.items():
        request.add_query_param(name, value)
    return dict(json.loads(client.do_action_with_exception(request)))


# --- servers ------------------------------------------------------------------------------------------


@contextmanager
def serving(runtime: Ram, *, certfile: Path | None = None, keyfile: Path | None = None) -> Iterator[str]:
    """Serve the control plane on a random 127.0.0.1 port in a thread; yields ``127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(runtime),
        log_level="warning",
        lifespan="on",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=1,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1 (it is its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
