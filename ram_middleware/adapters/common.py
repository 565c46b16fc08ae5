"""What every adapter shares: the runtime protocol, the body limits, whether a credential covers the body,
building a runtime from env."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Protocol

from .. import errors
from ..authorizer import Authorizer
from ..facts import media_type_is

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "Runtime",
    "body_is_signed",
    "declared_length",
    "max_body_from_env",
    "runtime_from_env",
]

DEFAULT_MAX_BODY = 10 * 1024 * 1024
"""Largest body buffered for signature verification (bytes); larger bodies get 413."""


def max_body_from_env(env: Mapping[str, str] | None = None) -> int:
    """``RAM_MAX_BODY`` (bytes, digits only) when set, else :data:`DEFAULT_MAX_BODY`."""
    text = (os.environ if env is None else env).get("RAM_MAX_BODY", "").strip()
    if not text:
        return DEFAULT_MAX_BODY
    if not (text.isascii() and text.isdigit()):
        raise errors.InvalidParameter("RAM_MAX_BODY", "RAM_MAX_BODY must be a whole number of bytes.")
    return int(text)


def declared_length(text: str) -> int | None:
    """A declared ``Content-Length`` as a number; None when it is not one (read as if no length were given).

    Digits only: int() would take "-1" (read to the end, past the cap) or "+5". Over 18 significant digits
    it is past any cap, and int() refuses text of thousands of digits (a ValueError, the server's 500).
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else sys.maxsize


DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds the ASGI middleware waits for the next part of a body it buffers; longer gets 408."""

_FORM = "application/x-www-form-urlencoded"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def body_is_signed(
    *,
    authorization: str | None,
    content_type: str,
    content_md5: bool,
    oss_payload: str | None,
    query: str,
    amz_payload: str | None = None,
) -> bool:
    """Whether checking a request that carries a body needs that body (so the adapter must buffer it).

    Yes for a form body (RPC v1 signs its parameters; the SDKs POST everything in it), a ``Content-MD5``
    (every scheme that signs it also checks it against the body), ACS3 (``x-acs-content-sha256``), OSS V4
    and AWS SigV4 with a signed payload, and a query with RPC v1's marker or any escape (such a request is
    refused unless its body is a form, so the check must see that it has one). No for a credential the
    body is not part of (OSS V1, OSS V4 or AWS SigV4 ``UNSIGNED-PAYLOAD``, ROA without Content-MD5) or one
    no scheme reads: buffering those would only let an unverified caller hold the server's memory and
    time.
    """
    if content_md5 or media_type_is(content_type, _FORM):
        return True
    if authorization is not None:
        scheme = authorization.lstrip().partition(" ")[0]
        if scheme == "OSS4-HMAC-SHA256":
            return oss_payload is not None and oss_payload.strip() != _UNSIGNED_PAYLOAD
        if scheme == "AWS4-HMAC-SHA256":  # the body's hash is signed unless the client says UNSIGNED-PAYLOAD
            return amz_payload is None or amz_payload.strip() != _UNSIGNED_PAYLOAD
        return scheme.startswith("ACS3-")
    return "SignatureVersion=" in query or "%" in query


class Runtime(Protocol):
    """What adapters need from :class:`ram_middleware.config.Ram`."""

    @property
    def authorizer(self) -> Authorizer: ...

    @property
    def blocking(self) -> bool: ...


def runtime_from_env() -> Runtime:
    """A runtime built from the ``RAM_*`` environment variables (used when no ``ram=`` is given)."""
    from ..config import RamConfig, build  # config sits above the adapters' own imports

    return build(RamConfig.from_env())
