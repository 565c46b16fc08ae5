"""What a verified request's signature covers, so that only that decides the route's action and resource.

Schemes without a nonce (ROA from aliyun-python-sdk-core, OSS, AWS SigV4, presigned URLs) can be replayed
within their time window, and some leave parts of the request unsigned. Anyone replaying such a request
could change those parts; the authorizer therefore resolves rules from :func:`signed_view`, which drops
them (a template that needs one then fails closed with ``MissingParameter``). The app still receives the
request as sent: what it reads from an unsigned part is its own business, as with any OSS upload body.

* a form body the signature does not cover: ROA and OSS without ``Content-MD5``, OSS V4 and SigV4 with
  ``UNSIGNED-PAYLOAD`` (RPC v1 and ACS3 always cover it; Tea's ROA v2 sends form bodies without MD5);
* OSS V1: every query parameter but the signed sub-resources;
* OSS V1 and V4: the ``x-acs-action``/``x-acs-version`` headers (only ``x-oss-*`` headers are signed).

A console session is a bearer credential, not a signature: its requests are taken whole.
"""

from __future__ import annotations

import dataclasses

from .. import errors
from ..facts import RequestFacts, decode_component
from .oss import SCHEME_V1, SCHEME_V1_QUERY, SCHEME_V4, SCHEME_V4_QUERY, SUBRESOURCES, UNSIGNED_PAYLOAD

__all__ = ["body_covered", "signed_view"]

_FULLY_COVERED = frozenset({"rpc-v1", "acs3", "session"})
_OSS = frozenset({SCHEME_V1, SCHEME_V1_QUERY, SCHEME_V4, SCHEME_V4_QUERY})
_OSS_V1 = frozenset({SCHEME_V1, SCHEME_V1_QUERY})
_RPC_HEADERS = frozenset({"x-acs-action", "x-acs-version"})


def body_covered(facts: RequestFacts, scheme: str) -> bool:
    """Whether the signature of ``scheme`` covers this request's body."""
    if scheme in _FULLY_COVERED:
        return True
    if scheme == "aws-v4":
        return (facts.header("x-amz-content-sha256") or "").strip() != UNSIGNED_PAYLOAD
    if scheme in (SCHEME_V4, SCHEME_V4_QUERY):
        payload = (facts.header("x-oss-content-sha256") or UNSIGNED_PAYLOAD).strip()
        if payload != UNSIGNED_PAYLOAD:
            return True
    return bool(facts.header("content-md5"))  # ROA, OSS V1, OSS V4 unsigned, anything else


def signed_view(facts: RequestFacts, scheme: str) -> RequestFacts:
    """``facts`` without what the signature of ``scheme`` leaves open (see the module docs); ``facts``
    itself, at no cost, for the schemes that cover everything the rules read."""
    if scheme in _FULLY_COVERED:
        return facts
    changes: dict[str, object] = {}
    if facts.body and not body_covered(facts, scheme):
        changes["body"] = b""
    if scheme in _OSS:
        changes["headers"] = tuple((n, v) for n, v in facts.headers if n.lower() not in _RPC_HEADERS)
    if scheme in _OSS_V1:
        kept = [piece for piece in facts.query.split("&") if piece and _piece_name(piece) in SUBRESOURCES]
        changes["query"] = "&".join(kept)
    return dataclasses.replace(facts, **changes) if changes else facts  # type: ignore[arg-type]


def _piece_name(piece: str) -> str:
    try:
        return decode_component(piece.partition("=")[0])
    except errors.RAMError:
        return ""
