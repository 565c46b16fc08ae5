"""RAM_MFA_ISSUER: the name authenticator apps show for a virtual MFA device."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from ram_middleware import errors
from ram_middleware.audit import MemorySink
from ram_middleware.config import RamConfig, build


def _issuer_of(env: dict[str, str]) -> str:
    ram = build(RamConfig.from_env(env, store_url="memory://", audit=MemorySink()))
    try:
        account = ram.service.create_account().account_id
        uri = ram.service.create_virtual_mfa_device(account, "alice").provisioning_uri
    finally:
        ram.close()
    return parse_qs(urlsplit(uri).query)["issuer"][0]


def test_the_issuer_is_configurable_and_defaults_to_the_project_name() -> None:
    assert _issuer_of({}) == "ram-middleware"
    assert _issuer_of({"RAM_MFA_ISSUER": " Company X "}) == "Company X"


@pytest.mark.parametrize("bad", ["Company:X", " ", "x" * 65])
def test_an_issuer_authenticator_apps_would_misread_stops_the_start(bad: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="RAM_MFA_ISSUER"):
        build(RamConfig(store_url="memory://", audit=MemorySink(), mfa_issuer=bad))
