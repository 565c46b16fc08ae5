"""Fuzzing the live control plane: whatever the parameters, the answer is JSON with a RequestId, never 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ram_middleware.api.plane import APIS

from .conftest import start_live
from .live import Live
from .test_protocol import signed


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A plane of its own: the fuzzer creates and deletes whatever its inputs name."""
    yield from start_live(str(tmp_path_factory.mktemp("fuzz")))


@pytest.fixture(scope="module")
def http(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{live.endpoint}", timeout=10, trust_env=False) as client:
        yield client


ACTIONS = sorted((api.version, name) for api in APIS.values() for name in api.actions)
PARAM_NAMES = [
    "UserName", "GroupName", "RoleName", "PolicyName", "PolicyType", "PolicyDocument", "VersionId",
    "MaxItems", "Marker", "UserAccessKeyId", "Status", "SerialNumber", "VirtualMFADeviceName",
    "AssumeRolePolicyDocument", "MaxSessionDuration", "RoleArn", "RoleSessionName", "DurationSeconds",
    "Policy", "Password", "NewUserName", "MinimumPasswordLength", "LoginNetworkMasks", "AccountAlias",
    "EncodedDiagnosticMessage", "Tag.1.Key", "AuthenticationCode1", "SetAsDefault", "CascadingDelete",
    "RotateStrategy", "Format",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        ["", "x", "admin", "System", "Custom", "v1", "-1", "0", "99999999999", "true", "{}", "[", "*"]
    ),
    st.text(max_size=80),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.sampled_from(ACTIONS), params=st.dictionaries(st.sampled_from(PARAM_NAMES), VALUES, max_size=6)
)
def test_garbage_parameters_get_4xx_json(
    live: Live, http: httpx.Client, action: tuple[str, str], params: dict[str, str]
) -> None:
    version, name = action
    response = signed(http, live.admin, params={**params, "Action": name, "Version": version})
    assert response.status_code < 500, response.text
    if params.get("Format", "").upper() == "XML":
        return
    body = response.json()
    assert body["RequestId"] == response.headers["x-acs-request-id"]
    if response.status_code >= 400:
        assert body["Code"] and isinstance(body["Message"], str)
