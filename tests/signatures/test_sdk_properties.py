"""Properties: whatever an official SDK signs verifies, over arbitrary parameter names and values.

Each SDK builds and signs the request as it would send it (its own encoding, its own clock); the request it
would put on the wire is captured before any connection and handed to the Authenticator. Names and values
are drawn from all of Unicode (surrogates aside), reserved characters, empty values and the sub-resource
names OSS signs. Cases an SDK cannot send (it raises) or that the server refuses by design are left out,
each with its reason at the strategy.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit

import oss2
import requests
from alibabacloud_tea_openapi import utils_models as tea_models
from alibabacloud_tea_openapi.client import Client as TeaClient
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from darabonba.core import DaraCore  # type: ignore[import-untyped]
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.authenticate import Authenticator
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard
from ram_middleware.identity import Principal

from .identities import AK, SECRET, STS_AK, STS_SECRET, STS_TOKEN, MemoryResolver

HOST = "127.0.0.1:18765"
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
BUCKET = "examplebucket"

# The parameters the SDKs set themselves: a caller's own value for one of them would be overwritten.
_SDK_PARAMETERS = {
    "Signature", "AccessKeyId", "SecurityToken", "BearerToken", "SignatureType", "SignatureMethod",
    "SignatureVersion", "SignatureNonce", "Timestamp", "Action", "Version", "Format", "RegionId",
}  # fmt: skip
_text = st.text(st.characters(codec="utf-8"), max_size=10)
_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).filter(
    lambda name: name not in _SDK_PARAMETERS
)
_params = st.lists(st.tuples(_names, _text), max_size=4, unique_by=lambda pair: pair[0])


def _verify(facts: RequestFacts, now: datetime | None = None) -> Principal:
    """The Principal the request authenticates as; a refusal fails the property with its Code."""
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    authenticator = Authenticator(MemoryResolver(), MemoryGuard(), clock=clock)
    try:
        principal = authenticator.authenticate(facts)
    except errors.RAMError as refused:
        raise AssertionError(f"{refused.code}: {facts!r}") from None
    assert principal is not None
    return principal


def _facts(method: str, url: str, headers: list[tuple[str, str]], body: bytes | str | None) -> RequestFacts:
    split = urlsplit(url)
    data = body.encode() if isinstance(body, str) else body or b""
    return RequestFacts(method, split.path or "/", split.query, tuple(headers), data, "127.0.0.1")


# --- oss2: V1 and V4 Authorization headers ------------------------------------------------------------------


class _Captured(Exception):
    """Raised by the session stand-in once oss2 has signed its request."""


class _CaptureSession:
    """An oss2 session that keeps the signed request instead of sending it."""

    request: Any = None

    def do_request(self, req: Any, timeout: object) -> None:
        self.request = req
        raise _Captured


def _oss2_facts(
    version: str, sts: bool, method: str, key: str, params: dict[str, str], headers: dict[str, str]
) -> RequestFacts:
    if sts:
        auth: Any = oss2.StsAuth(STS_AK, STS_SECRET, STS_TOKEN, auth_version=version)
    else:
        auth = oss2.Auth(AK, SECRET) if version == "v1" else oss2.AuthV4(AK, SECRET)
    session = _CaptureSession()
    bucket = oss2.Bucket(auth, f"http://{HOST}", BUCKET, region="cn-hangzhou", session=session)
    naive_utc = NOW.replace(tzinfo=None)
    with (  # oss2 reads its clock here and there: pin both readings to NOW
        mock.patch.object(oss2.auth, "datetime", SimpleNamespace(utcnow=lambda: naive_utc)),
        mock.patch.object(oss2.utils, "http_date", lambda *_: "Tue, 02 Jan 2024 03:04:05 GMT"),
        contextlib.suppress(_Captured),
    ):
        bucket._Bucket__do_object(method, key, params=params, headers=headers, data=b"")
    req = session.request
    # requests, as oss2's own session, encodes the query and merges the default headers.
    prepared = requests.Session().prepare_request(
        requests.Request(req.method, req.url, params=req.params, headers=req.headers, data=req.data)
    )
    sent = [("Host", HOST), *((name, str(value)) for name, value in prepared.headers.items())]
    return _facts(method, prepared.url or "", sent, prepared.body)


# requests drops the dot segments of the path oss2 signed (key "a/../b" is sent as "b"): oss2 cannot send
# such a key to any server.
_keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), min_size=1, max_size=10).filter(
    lambda key: not {".", ".."} & set(key.split("/"))
)
_oss_names = st.one_of(
    st.sampled_from(["acl", "versionId", "uploadId", "partNumber", "response-content-type", "x-oss-process"]),
    st.text(min_size=1, max_size=6),
)
# requests refuses header values with leading or trailing whitespace, and oss2 sends only Latin-1 ones.
_meta_values = st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=8).map(
    str.strip
)
_meta = st.dictionaries(st.from_regex(r"x-oss-meta-[a-z]{1,5}", fullmatch=True), _meta_values, max_size=2)


@settings(max_examples=120, deadline=None)
@given(
    version=st.sampled_from(["v1", "v4"]),
    sts=st.booleans(),
    method=st.sampled_from(["GET", "PUT", "DELETE", "HEAD"]),
    key=_keys,
    params=st.dictionaries(_oss_names, _text, max_size=3),
    meta=_meta,
)
def test_any_request_oss2_signs_verifies(
    version: str, sts: bool, method: str, key: str, params: dict[str, str], meta: dict[str, str]
) -> None:
    # V1 signs the key and the sub-resources unescaped: a key with '?' or a value with '&' followed by a
    # sub-resource name reads as another request, and is refused by design (see credentials.oss).
    v1_ambiguous = "?" in key or any("&" in value for value in params.values())
    assume(version == "v4" or not v1_ambiguous)
    principal = _verify(_oss2_facts(version, sts, method, key, params, meta), NOW)
    assert principal.access_key_id == (STS_AK if sts else AK)


# --- aliyun-python-sdk-core: RPC v1 and ROA -----------------------------------------------------------------


def _core_facts(
    style: str, method: str, query: list[tuple[str, str]], form: list[tuple[str, str]], path_value: str
) -> RequestFacts | None:
    """The request aliyun-python-sdk-core signs, or None when the SDK itself cannot build it."""
    if style == "rpc":
        request = CommonRequest(domain=HOST, version="2015-05-01", action_name="GetUser")
    else:
        request = CommonRequest(domain=HOST, version="2015-12-15", uri_pattern="/clusters/[ClusterId]/nodes")
        request.add_path_param("ClusterId", path_value)
    request.set_protocol_type("http")
    request.set_method(method)
    for name, value in query:
        request.add_query_param(name, value)
    for name, value in form:
        request.add_body_params(name, value)
    client = AcsClient(AK, SECRET, region_id="cn-hangzhou")
    try:
        built = client._make_http_response(HOST, request, 10, 10)
    except Exception:  # the SDK's own refusal of what it cannot encode: nothing would be sent
        return None
    # requests percent-encodes what the SDK leaves raw in the URL (non-ASCII in a ROA path).
    url = requests.Request(method, f"http://{HOST}{built.get_url()}").prepare().url or ""
    headers = [("Host", HOST), *((name, str(value)) for name, value in built.get_headers().items())]
    return _facts(method, url, headers, built.get_body())


_segment = st.text(st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=6)


def _roa_readable(pairs: list[tuple[str, str]]) -> bool:
    """ROA signs names and values unescaped: '&' or '=' in a name, '&' in a value, is refused by design."""
    return not any("&" in name or "=" in name or "&" in value for name, value in pairs)


@settings(max_examples=120, deadline=None)
@given(
    style=st.sampled_from(["rpc", "roa"]),
    method=st.sampled_from(["GET", "POST", "PUT"]),
    query=_params,
    form=_params,
    # The SDK puts the path parameter into the path unescaped: "/", "?", "#", "%" and dot segments (which
    # requests drops) are paths it cannot send.
    path_value=_segment.filter(lambda value: "%" not in value and value not in (".", "..")),
)
def test_any_request_aliyun_python_sdk_core_signs_verifies(
    style: str, method: str, query: list[tuple[str, str]], form: list[tuple[str, str]], path_value: str
) -> None:
    # The SDK signs one name given both in the query and in the form once; the server reads both.
    form = [] if method == "GET" else [pair for pair in form if pair[0] not in dict(query)]
    assume(style == "rpc" or _roa_readable(query))
    facts = _core_facts(style, method, query, form, path_value)
    assume(facts is not None)
    assert facts is not None
    assert _verify(facts).access_key_id == AK


# --- alibabacloud-tea-openapi: ACS3 and v1 ("v2" in its configuration), RPC and ROA -------------------------


class _TeaCapture:
    """Stands in for DaraCore.do_action: keeps the prepared request the SDK would send, sends nothing."""

    prepared: requests.PreparedRequest | None = None

    def __call__(self, request: Any, runtime: object = None) -> None:
        prepared = requests.PreparedRequest()
        body = request.body.encode() if isinstance(request.body, str) else request.body
        prepared.prepare(
            method=request.method.upper(),
            url=DaraCore.compose_url(request),
            data=body,
            headers=request.headers,
        )
        self.prepared = prepared
        raise _Captured


def _tea_facts(
    algorithm: str | None, style: str, method: str, query: list[tuple[str, str]], form: list[tuple[str, str]],
    pathname: str,
) -> RequestFacts | None:  # fmt: skip
    """The request the Tea SDK signs, or None when the SDK itself cannot build it."""
    config = tea_models.Config(
        access_key_id=AK,
        access_key_secret=SECRET,
        endpoint=HOST,
        protocol="http",
        signature_algorithm=algorithm,
    )
    params = tea_models.Params(
        action="CreateUser", version="2015-05-01", protocol="HTTP", pathname=pathname, method=method,
        auth_type="AK", style=style, req_body_type="formData", body_type="json",
    )  # fmt: skip
    request = tea_models.OpenApiRequest(query=dict(query), body=dict(form) if form else None)
    capture = _TeaCapture()
    # The SDK wraps the capture's exception (and its own refusals) in its own: the capture tells.
    with mock.patch.object(DaraCore, "do_action", capture), contextlib.suppress(Exception):
        TeaClient(config).call_api(params, request, RuntimeOptions(autoretry=False, max_attempts=0))
    prepared = capture.prepared
    if prepared is None:  # the SDK refused before signing
        return None
    return _facts(method, prepared.url or "", list(prepared.headers.items()), prepared.body)


_segments = st.lists(_segment.filter(lambda segment: segment not in (".", "..")), min_size=1, max_size=3)
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


@settings(max_examples=120, deadline=None)
@given(
    algorithm=st.sampled_from([None, "v2"]),
    style=st.sampled_from(["RPC", "ROA"]),
    method=st.sampled_from(["GET", "POST", "PUT"]),
    query=_params,
    form=_params,
    segments=_segments,
)
def test_any_request_the_tea_sdk_signs_verifies(
    algorithm: str | None,
    style: str,
    method: str,
    query: list[tuple[str, str]],
    form: list[tuple[str, str]],
    segments: list[str],
) -> None:
    form = [] if method == "GET" else [pair for pair in form if pair[0] not in dict(query)]
    # Tea's ACS3 canonical query leaves names unescaped where the specification (and the server) escapes
    # them: a name that needs escaping does not verify, as at Alibaba Cloud. SDK parameter names never do.
    assume(algorithm is not None or all(_UNRESERVED(name) for name, _ in query))
    assume(algorithm is None or style == "RPC" or _roa_readable(query))
    pathname = "/" + "/".join(quote(segment, safe="") for segment in segments) if style == "ROA" else "/"
    facts = _tea_facts(algorithm, style, method, query, form, pathname)
    assume(facts is not None)
    assert facts is not None
    assert _verify(facts).access_key_id == AK
