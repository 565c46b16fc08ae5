"""The official SDKs (and our requests/httpx auth) against a real uvicorn server running the Authenticator."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from ram_middleware.credentials.authenticate import detect_scheme
from ram_middleware.credentials.oss import SUBRESOURCES

from .conftest import LiveServer
from .identities import AK, ALICE, OPS_SESSION, SECRET, STS_AK, STS_SECRET, STS_TOKEN
from .sdk_clients import SDKS, Creds, Sdk, error_code

LONG_TERM = Creds(AK, SECRET)
TEMPORARY = Creds(STS_AK, STS_SECRET, STS_TOKEN)
IDS = [sdk.name for sdk in SDKS]


def failing_code(sdk: Sdk, server: LiveServer, creds: Creds) -> str:
    with pytest.raises(Exception) as caught:
        sdk.call(server, creds)
    return error_code(caught.value)


@pytest.mark.parametrize("sdk", SDKS, ids=IDS)
def test_long_term_key(sdk: Sdk, server: LiveServer) -> None:
    assert sdk.call(server, LONG_TERM) == ALICE.arn
    assert detect_scheme(server.app.recorded[-1]) == sdk.scheme


@pytest.mark.parametrize("sdk", SDKS, ids=IDS)
def test_sts_credentials(sdk: Sdk, server: LiveServer) -> None:
    assert sdk.call(server, TEMPORARY) == OPS_SESSION.arn


@pytest.mark.parametrize("sdk", SDKS, ids=IDS)
def test_wrong_secret(sdk: Sdk, server: LiveServer) -> None:
    assert failing_code(sdk, server, Creds(AK, SECRET[:-1] + "x")) == "SignatureDoesNotMatch"
    assert failing_code(sdk, server, Creds(STS_AK, "wrong", STS_TOKEN)) == "SignatureDoesNotMatch"


@pytest.mark.parametrize("sdk", SDKS, ids=IDS)
def test_unknown_key_and_bad_token(sdk: Sdk, server: LiveServer) -> None:
    assert (
        failing_code(sdk, server, Creds("LTAI5tNOSUCHKEY00000001", SECRET)) == "InvalidAccessKeyId.NotFound"
    )
    bad_token = failing_code(sdk, server, Creds(STS_AK, STS_SECRET, "CAIS-forged"))
    assert bad_token == "InvalidSecurityToken.Malformed"


@pytest.mark.parametrize("sdk", SDKS, ids=IDS)
@pytest.mark.parametrize("offset", [timedelta(minutes=20), -timedelta(minutes=20)], ids=["stale", "future"])
def test_time_outside_the_window(sdk: Sdk, server: LiveServer, offset: timedelta) -> None:
    # Moving the server's clock makes the SDK's fresh timestamp stale (clock ahead) or future (behind).
    server.app.clock_offset = offset
    assert failing_code(sdk, server, LONG_TERM) == "InvalidTimeStamp.Expired"
    server.app.clock_offset = timedelta(minutes=14)
    assert sdk.call(server, LONG_TERM) == ALICE.arn


@pytest.mark.parametrize("sdk", [sdk for sdk in SDKS if sdk.sends_body], ids=lambda sdk: sdk.name)
def test_body_changed_after_signing(sdk: Sdk, server: LiveServer) -> None:
    server.app.tamper = True
    assert failing_code(sdk, server, LONG_TERM) == sdk.body_error
    assert server.app.recorded[-1].body  # there was a body to change


def replay(server: LiveServer) -> httpx.Response:
    """Send the last request the server received again, byte for byte (path, query, headers, body)."""
    facts = server.app.recorded[-1]
    target = facts.path + (f"?{facts.query}" if facts.query else "")
    url = httpx.URL(server.url, raw_path=target.encode("latin-1"))
    headers = [(name, value) for name, value in facts.headers if name.lower() != "content-length"]
    with httpx.Client(timeout=10) as client:
        return client.request(facts.method, url, headers=headers, content=facts.body)


@pytest.mark.parametrize("sdk", [sdk for sdk in SDKS if sdk.has_nonce], ids=lambda sdk: sdk.name)
@pytest.mark.parametrize("creds", [LONG_TERM, TEMPORARY], ids=["long-term", "sts"])
def test_replayed_request_is_refused(sdk: Sdk, server: LiveServer, creds: Creds) -> None:
    sdk.call(server, creds)
    response = replay(server)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["Code"] == "SignatureNonceUsed" and body["RequestId"] and body["Message"]


@pytest.mark.parametrize("sdk", [sdk for sdk in SDKS if not sdk.has_nonce], ids=lambda sdk: sdk.name)
def test_requests_without_nonce_replay_within_the_window(sdk: Sdk, server: LiveServer) -> None:
    # Known limitation: OSS and aliyun-python-sdk-core ROA send no nonce; by default only the time window
    # bounds them (replay_signatures closes it: test_replay_signatures.py).
    sdk.call(server, LONG_TERM)
    assert replay(server).status_code == 200
    server.app.clock_offset = timedelta(minutes=16)
    late = replay(server)
    assert late.status_code == 400 and "InvalidTimeStamp.Expired" in late.text  # XML for OSS, else JSON


def test_error_body_shape(server: LiveServer) -> None:
    with httpx.Client(timeout=10) as client:
        response = client.get(f"{server.url}/?Action=GetUser&AccessKeyId={AK}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"RequestId", "Code", "Message"}
    assert response.json()["Code"] == "MissingParameter"
    assert response.headers["x-acs-request-id"] == response.json()["RequestId"]


def test_oss_subresources_are_oss2s() -> None:
    import oss2

    assert oss2.auth.ProviderAuth._subresource_key_set == SUBRESOURCES


def test_anonymous_request_reaches_the_app(server: LiveServer) -> None:
    with httpx.Client(timeout=10) as client:
        response = client.get(f"{server.url}/?Action=GetUser")
    assert response.status_code == 200 and response.json()["Principal"] is None
