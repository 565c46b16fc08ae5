"""What a verified request's signature covers, so that only that decides the route's action and resource.

Schemes without a nonce (ROA from aliyun-python-sdk-core, OSS, AWS SigV4, presigned URLs) can be replayed
within their time window, and some leave parts of the request unsigned. Anyone replaying such a request
could change those parts; the authorizer therefore resolves rules from :func:`signed_view`, which drops
them (a template that needs one then fails closed with ``MissingParameter``). The app still receives the
request as sent: what it reads from an unsigned part is its own business, as with any OSS upload body.

* a form body the signature does not cover: ROA and OSS without ``Content-MD5``, OSS V4 and SigV4 with
  ``UNSIGNED-PAYLOAD`` (RPC v1 and ACS3 always cover it; Tea's ROA v2 sends form bodies without MD5). A
  parameter the rule reads that such a form also names is refused (``InvalidParameter``): the app, which
  reads the form, would see another value than the one checked;
* OSS V1: every query parameter but the signed sub-resources (and ``account``, which only a route's
  ``{account}`` reads, to refuse one naming another account);
* OSS V1 and V4: the ``x-acs-action``/``x-acs-version`` headers (only ``x-oss-*`` headers are signed);
* RPC v1 (which signs parameters only): those headers unless the signed ``Action``/``Version`` is there
  too. The SDKs send both, and the rules refuse the two when they disagree; alone, a header would choose
  the action of a signed request that named none.

The Host is covered by OSS, ACS3 and SigV4 signatures only (:func:`host_covered`): only for those does a
bucket named by the Host fill a route's ``{bucket}``, or a value a route read from the Host
(:class:`~ram_middleware.routes.HostValue`) fill a resource.

A console session is a bearer credential, not a signature: its requests are taken whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from .. import errors
from ..facts import RequestFacts, decode_component
from .oss import SCHEME_V1, SCHEME_V1_QUERY, SCHEME_V4, SCHEME_V4_QUERY, SUBRESOURCES, UNSIGNED_PAYLOAD

__all__ = ["body_covered", "host_covered", "signed_view"]

_FULLY_COVERED = frozenset({"rpc-v1", "acs3", "session"})  # the body, that is (see _v1_view for rpc-v1)
_OSS = frozenset({SCHEME_V1, SCHEME_V1_QUERY, SCHEME_V4, SCHEME_V4_QUERY})
_OSS_V1 = frozenset({SCHEME_V1, SCHEME_V1_QUERY})
_RPC_HEADERS = frozenset({"x-acs-action", "x-acs-version"})
_RPC_PARAMETERS = (("x-acs-action", "Action"), ("x-acs-version", "Version"))
_HOST_SIGNED = frozenset({"acs3", "aws-v4", "session"}) | _OSS
_V1_KEPT = SUBRESOURCES | {"account"}


def host_covered(scheme: str) -> bool:
    """Whether the signature of ``scheme`` covers the Host header (ROA and RPC v1 do not sign it)."""
    return scheme in _HOST_SIGNED


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
        if scheme == "rpc-v1":
            index = facts.header_map
            if "x-acs-action" in index or "x-acs-version" in index:
                return _v1_view(facts)
        return facts
    changes: dict[str, object] = {}
    open_form: frozenset[str] = frozenset()
    if facts.body and not body_covered(facts, scheme):
        changes["body"] = b""
        open_form = frozenset(name for name, _ in facts.form_pairs)
    if scheme in _OSS:
        changes["headers"] = tuple((n, v) for n, v in facts.headers if n.lower() not in _RPC_HEADERS)
    if scheme in _OSS_V1:
        # ``account`` too, unsigned as it is: a template's {account} reads it only to refuse one naming
        # another account than the caller's, which the app would otherwise read unseen.
        kept = [piece for piece in facts.query.split("&") if piece and _piece_name(piece) in _V1_KEPT]
        changes["query"] = "&".join(kept)
    if not changes:
        return facts
    view = dataclasses.replace(facts, **changes)  # type: ignore[arg-type]
    if open_form:  # RequestFacts computes params once and keeps them in the instance dict: set them first
        view.__dict__["params"] = _SignedParams(view.params, open_form)
    return view


def _v1_view(facts: RequestFacts) -> RequestFacts:
    """An RPC v1 request without the x-acs-action/x-acs-version headers whose parameter is absent or empty
    (the rules read ``Action or x-acs-action``); ``facts`` itself when there are none."""
    params = facts.params
    if params.get("Action") and params.get("Version"):  # what the SDKs send: the headers only repeat them
        return facts
    index = facts.header_map
    unsigned = [header for header, param in _RPC_PARAMETERS if header in index and not params.get(param)]
    if not unsigned:
        return facts
    headers = tuple((name, value) for name, value in facts.headers if name.lower() not in unsigned)
    return dataclasses.replace(facts, headers=headers)


class _SignedParams(Mapping[str, str]):
    """The signed parameters; reading one that the uncovered form body also names is refused."""

    def __init__(self, signed: Mapping[str, str], open_form: frozenset[str]) -> None:
        self._signed = signed
        self._open = open_form

    def _check(self, name: str) -> None:
        if name in self._open:
            raise errors.InvalidParameter(
                name, f"The {name[:64]} parameter comes in a form body the signature does not cover."
            )

    def __getitem__(self, name: str) -> str:
        self._check(name)
        return self._signed[name]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self._check(name)
        return self._signed.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._signed)

    def __len__(self) -> int:
        return len(self._signed)


def _piece_name(piece: str) -> str:
    try:
        return decode_component(piece.partition("=")[0])
    except errors.RAMError:
        return ""
