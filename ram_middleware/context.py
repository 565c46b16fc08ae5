"""Request facts → the condition context a policy's ``Condition`` block is evaluated against.

Global keys set here (policy-language.md, "Global condition keys"):

* ``acs:SourceIp`` — the TCP peer; ``X-Forwarded-For`` (or RFC 7239 ``Forwarded``, whichever the proxy is
  configured to write) is believed only when the peer is a configured trusted proxy. The chain is walked
  right to left, skipping trusted hops; the first untrusted address is the client. A forwarding header
  sent by an untrusted peer is ignored, so a client cannot choose its own source IP.
* ``acs:CurrentTime`` — the injectable clock, UTC, ``YYYY-MM-DDThh:mm:ssZ``.
* ``acs:SecureTransport`` — the request's scheme, or ``X-Forwarded-Proto`` (``proto=`` for ``Forwarded``)
  from a trusted proxy.
* ``acs:MFAPresent`` — only when the principal carries an MFA state (console/STS sessions); absent for
  AccessKey calls, as the spec decides.
* ``acs:AccessId``, ``acs:PrincipalARN``, ``acs:PrincipalType`` — from the principal.

Applications add their own keys through a :data:`ContextHook`; it may not override the keys above.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from . import errors
from .facts import RequestFacts
from .identity import Principal

__all__ = ["Clock", "ContextBuilder", "ContextHook", "ForwardedHeader", "format_time", "utc_now"]

Clock = Callable[[], datetime]
ContextHook = Callable[[RequestFacts, "Principal | None"], Mapping[str, object]]
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_PROTECTED_KEYS = frozenset(
    {
        "acs:sourceip",
        "acs:currenttime",
        "acs:securetransport",
        "acs:mfapresent",
        "acs:accessid",
        "acs:principalarn",
        "acs:principaltype",
    }
)


def utc_now() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(UTC)


def format_time(moment: datetime, *, milliseconds: bool = False) -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` in UTC (the format the SDKs and the policy language use), optionally with
    ``.mmm`` before the ``Z``."""
    second = int(moment.timestamp() // 1)
    last = _last_second
    text = last[1] if last[0] == second else _second_text(second)
    return text + _MILLISECONDS[moment.microsecond // 1000] if milliseconds else text + "Z"


_last_second: tuple[int, str] = (-1, "")  # the second most recently formatted, and its text
# ".000Z" … ".999Z": a table lookup is half the cost of formatting the number on every request.
_MILLISECONDS = tuple(f".{millisecond:03d}Z" for millisecond in range(1000))


def _second_text(epoch_second: int) -> str:
    # Every request formats "now"; within one second the text is the same, so strftime runs once a second
    # (the tuple is replaced whole, so a reader on another thread sees an old or a new pair, never a mix).
    global _last_second
    text = datetime.fromtimestamp(epoch_second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    _last_second = (epoch_second, text)
    return text


_PRINCIPAL_CACHE_SIZE = 4096


class ContextBuilder:
    """Builds condition contexts; configuration is validated here so bad CIDRs fail at start-up."""

    def __init__(
        self,
        *,
        trusted_proxies: Iterable[str] = (),
        forwarded_header: ForwardedHeader = "x-forwarded-for",
        clock: Clock = utc_now,
        hook: ContextHook | None = None,
    ) -> None:
        if forwarded_header not in ("x-forwarded-for", "forwarded"):
            raise errors.InvalidParameter("ForwardedHeader", "Use 'x-forwarded-for' or 'forwarded'.")
        self._proxies = tuple(_parse_network(text) for text in trusted_proxies)
        self._forwarded_header = forwarded_header
        self._clock = clock
        self._hook = hook
        self._trusted = lru_cache(maxsize=1024)(self._is_trusted_uncached)
        # id(principal) -> (principal, its context keys): authenticated principals are cached objects, so
        # the keys they contribute are computed once (holding the principal keeps its id from being reused).
        self._principal_keys: dict[int, tuple[Principal, dict[str, object]]] = {}

    @property
    def clock(self) -> Clock:
        return self._clock

    def now(self) -> datetime:
        """The clock's current time (also what ``acs:CurrentTime`` reports)."""
        return self._clock()

    def build(
        self, facts: RequestFacts, principal: Principal | None, now: datetime | None = None
    ) -> dict[str, object]:
        """The full context for one request; ``now`` lets the caller share one clock reading."""
        if self._proxies:
            source, secure = self.source_ip(facts), self.secure_transport(facts)
        else:  # no trusted proxy: the peer and the scheme speak for themselves
            source, secure = facts.peer or "", facts.scheme == "https"
        context: dict[str, object] = {
            "acs:SourceIp": source,
            "acs:CurrentTime": format_time(now if now is not None else self._clock()),
            "acs:SecureTransport": "true" if secure else "false",
        }
        if principal is not None:
            found = self._principal_keys.get(id(principal))
            if found is None or found[0] is not principal:
                keys: dict[str, object] = {}
                _add_principal_keys(keys, principal)
                if len(self._principal_keys) >= _PRINCIPAL_CACHE_SIZE:
                    self._principal_keys.clear()
                found = self._principal_keys[id(principal)] = (principal, keys)
            context.update(found[1])
        if self._hook is not None:
            for key, value in self._hook(facts, principal).items():
                if key.lower() not in _PROTECTED_KEYS:
                    context[key] = value
        return context

    def source_ip(self, facts: RequestFacts) -> str:
        """The client address after trusted-proxy processing (``""`` when the server gave no peer)."""
        peer = facts.peer or ""
        if not self._proxies or not self._trusted(peer):
            return peer
        client = peer
        for hop in reversed(self._forwarded_for(facts)):
            address = _parse_address(hop)
            if address is None:
                break  # garbage written before the trusted part of the chain: stop at the last good hop
            client = str(address)
            if not self._trusted(client):
                break
        return client

    def secure_transport(self, facts: RequestFacts) -> bool:
        """Whether the client reached us over TLS (via a trusted proxy's report when behind one)."""
        if facts.scheme == "https":
            return True
        if not self._proxies or not self._trusted(facts.peer or ""):
            return False
        proto = self._forwarded_proto(facts)
        return proto is not None and proto.lower() in ("https", "wss")

    # --- forwarding headers ------------------------------------------------------------------------------

    def _forwarded_for(self, facts: RequestFacts) -> list[str]:
        if self._forwarded_header == "forwarded":
            return [value for element in _forwarded_elements(facts) if (value := element.get("for"))]
        return [hop.strip() for line in facts.header_values("x-forwarded-for") for hop in line.split(",")]

    def _forwarded_proto(self, facts: RequestFacts) -> str | None:
        # Only the nearest (rightmost) hop's report counts: it is the one the trusted proxy wrote.
        if self._forwarded_header == "forwarded":
            elements = _forwarded_elements(facts)
            return elements[-1].get("proto") if elements else None
        values = [p.strip() for line in facts.header_values("x-forwarded-proto") for p in line.split(",")]
        return values[-1] if values else None

    def _is_trusted_uncached(self, text: str) -> bool:
        address = _parse_address(text)
        return address is not None and any(address in network for network in self._proxies)


def _add_principal_keys(context: dict[str, object], principal: Principal) -> None:
    context["acs:PrincipalARN"] = principal.arn
    context["acs:PrincipalType"] = principal.principal_type
    if principal.access_key_id:
        context["acs:AccessId"] = principal.access_key_id
    if principal.mfa_present is not None:
        context["acs:MFAPresent"] = "true" if principal.mfa_present else "false"


def _parse_network(text: str) -> _Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        message = f"Not an IP address or CIDR: {text[:64]!r}."
        raise errors.InvalidParameter("TrustedProxies", message) from None


def _parse_address(text: str) -> _Address | None:
    """An IP from a forwarding hop: bare, ``[v6]:port``, ``v4:port``; IPv4-mapped IPv6 becomes IPv4."""
    candidate = text.strip().strip('"')
    if candidate.startswith("["):
        candidate = candidate[1 : candidate.find("]")] if "]" in candidate else ""
    elif candidate.count(":") == 1:
        candidate = candidate.partition(":")[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_elements(facts: RequestFacts) -> list[dict[str, str]]:
    """RFC 7239 elements (``for=…;proto=…``), in order, across every ``Forwarded`` header line."""
    elements: list[dict[str, str]] = []
    for line in facts.header_values("forwarded"):
        for element in line.split(","):
            pairs: dict[str, str] = {}
            for pair in element.split(";"):
                name, _, value = pair.partition("=")
                if name.strip():
                    pairs[name.strip().lower()] = value.strip().strip('"')
            elements.append(pairs)
    return elements
