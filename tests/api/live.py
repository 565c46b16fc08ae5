"""A live control plane (the app `ram serve` runs) on 127.0.0.1, and the official SDK clients for it."""

from __future__ import annotations

import datetime as dt
import ipaddress
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]
from alibabacloud_sts20150401.client import Client as StsClient  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import utils_models as open_api_models
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.api import create_app
from ram_middleware.audit import MemorySink
from ram_middleware.bootstrap import Bootstrap
from ram_middleware.config import Ram
from tests.live_server import Key, core_rpc, serve_asgi

__all__ = ["Key", "Live", "core_call", "fails", "ram_client", "self_signed", "serving", "sts_client"]

RAM_VERSION = "2015-05-01"
STS_VERSION = "2015-04-01"


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


def fails(code: str, status: int, call: Any, *args: Any) -> None:
    """``call(*args)`` through an SDK client must fail with that Code and HTTP status."""
    with pytest.raises(TeaException) as failed:
        call(*args)
    assert (failed.value.code, failed.value.statusCode) == (code, status)


def core_call(target: Live | str, key: Key, version: str, action: str, **params: str) -> dict[str, Any]:
    """aliyun-python-sdk-core CommonRequest (RPC v1 HMAC-SHA1), no retries."""
    return core_rpc(_endpoint(target), key, version, action, params)


# --- servers ------------------------------------------------------------------------------------------


def serving(
    runtime: Ram, *, certfile: Path | None = None, keyfile: Path | None = None
) -> AbstractContextManager[str]:
    """Serve the control plane on a random 127.0.0.1 port in a thread; yields ``127.0.0.1:<port>``."""
    return serve_asgi(create_app(runtime), lifespan="on", certfile=certfile, keyfile=keyfile)


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
