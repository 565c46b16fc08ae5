"""Rendering control-plane responses: JSON (or XML on ``Format=XML``), RequestId, dates.

Every body is a JSON object (the official SDKs fail on an empty or non-JSON body, even for 200) with
``RequestId``; errors add ``Code`` and ``Message`` (and ``HostId`` when configured). Lists are wrapped twice
(``{"Users": {"User": [...]}}``) by the handlers; this module only serialises. Fields whose value is None are
left out, so a missing optional date never reaches an SDK model as ``null``.

XML 1.0 cannot carry every character (C0 controls other than tab/newline/CR, surrogates, U+FFFE, U+FFFF),
not even as character references. The text rules keep them out of stored fields, but a policy document may
still hold one: XML shows each as U+FFFD, so the body always parses; JSON (the default) stays exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from .. import errors
from ..service.shapes import api_date as iso

__all__ = [
    "JSON_TYPE",
    "XML_TYPE",
    "Response",
    "error_response",
    "iso",
    "success_response",
    "wants_xml",
]

JSON_TYPE = "application/json;charset=utf-8"
XML_TYPE = "text/xml;charset=utf-8"  # the one spelling tea-openapi parses as XML

_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response, framework-free."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def wants_xml(params: Mapping[str, str]) -> bool:
    """Whether the caller asked for ``Format=XML`` (any case)."""
    return params.get("Format", "").upper() == "XML"


def success_response(action: str, body: Mapping[str, Any], request_id: str, *, xml: bool = False) -> Response:
    """200 with ``RequestId`` first, then the action's fields."""
    payload: dict[str, Any] = {"RequestId": request_id, **body}
    return _render(200, f"{action}Response", payload, request_id, xml)


def error_response(
    error: errors.RAMError, request_id: str, *, xml: bool = False, host_id: str | None = None
) -> Response:
    """The Alibaba-style error body (``RequestId``, ``HostId``, ``Code``, ``Message``) at the error's status.

    Only the code, the (secret-free) message and a denial's ``AccessDeniedDetail`` are sent; the rest of
    ``detail`` stays server-side.
    """
    payload: dict[str, Any] = {"RequestId": request_id}
    if host_id:
        payload["HostId"] = host_id
    payload.update(Code=error.code, Message=error.message)
    payload["AccessDeniedDetail"] = errors.access_denied_detail(error)  # None (left out) unless a denial
    return _render(error.status, "Error", payload, request_id, xml)


def _render(status: int, root: str, payload: Mapping[str, Any], request_id: str, xml: bool) -> Response:
    cleaned = _drop_none(payload)
    if xml:
        data = ('<?xml version="1.0" encoding="UTF-8"?>' + _element(root, cleaned)).encode("utf-8")
        content_type = XML_TYPE
    else:
        data = json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        content_type = JSON_TYPE
    headers = (
        ("content-type", content_type),
        ("content-length", str(len(data))),
        ("x-acs-request-id", request_id),
    )
    return Response(status, headers, data)


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(item) for item in value if item is not None]
    return value


def _element(name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        inner = "".join(_child(str(key), item) for key, item in value.items())
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = escape(_NOT_XML.sub("\ufffd", str(value)))
    return f"<{name}>{inner}</{name}>"


def _child(name: str, value: Any) -> str:
    # A list repeats its element name: {"User": [a, b]} -> <User>a</User><User>b</User>.
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return "".join(_element(name, item) for item in value)
    return _element(name, value)
