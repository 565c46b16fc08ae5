"""Request facts → the condition context a policy's ``Condition`` block is evaluated against.

Global keys set here (policy-language.md, "Global condition keys"):

* ``acs:SourceIp`` — the TCP peer; ``X-Forwarded-For`` (or RFC 7239 ``Forwarded``, whichever the proxy is
  configured to write) is believed only when the peer is a configured trusted proxy. The chain is walked
  right to left, skipping trusted hops; the first untrusted address is the client, and an unreadable hop
  there (``unknown``, garbage, a ``Forwarded`` element without ``for``) makes it ``""``, which no
  ``IpAddress`` matches; so does a request from a trusted proxy without the header. A forwarding header
  sent by an untrusted peer is ignored, so a client cannot choose its own source IP.
* ``acs:CurrentTime`` — the injectable clock, UTC, ``YYYY-MM-DDThh:mm:ssZ``.
* ``acs:SecureTransport`` — the request's scheme, or ``X-Forwarded-Proto`` (``proto=`` for ``Forwarded``)
  from trusted proxies, every report saying TLS.
* ``acs:MFAPresent`` — only when the principal carries an MFA state (console/STS sessions); absent for
  AccessKey calls, as the spec decides.
* ``acs:MFAAge`` — whole seconds since the session's last MFA proof (logon or step-up), for console
  sessions that used MFA; absent otherwise (AccessKey calls, STS sessions, sessions without MFA), so a
  condition on it admits only sessions that have it: write ``Allow`` + ``NumericLessThan`` (a ``Deny`` +
  ``NumericGreaterThan`` would not fire where the key is absent; add ``acs:MFAPresent`` for that).
* ``acs:AccessId``, ``acs:PrincipalARN``, ``acs:PrincipalType`` — from the principal. For a role session
  ``acs:PrincipalARN`` is the role's ARN as GetRole reports it (``acs:ram::<account>:role/<name in lower
  case>``), not the session's ``assumed-role/…`` ARN: a condition names the role, whatever the session is
  called (spec: "roles → role ARN").
* IPv4-mapped IPv6 peers (``::ffff:203.0.113.7``, as a dual-stack socket reports IPv4 clients) are given
  as IPv4, so string operators and the audit log see the same address ``IpAddress`` matches. A peer that is
  no address (a Unix socket: waitress says ``localhost``, uvicorn nothing) is ``""``.

Applications add their own keys through a :data:`ContextHook`; it may not override the keys above.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from . import errors
from .facts import RequestFacts, TextMemo
from .identity import Principal, ram_arn
from .policy.values import unmapped_network

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
        "acs:mfaage",
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
    global _last_formatted
    last = _last_formatted
    if moment is not last[0]:  # a request formats its one clock reading twice (context, audit event)
        second = int(moment.timestamp() // 1)
        # Within one second the text is the same, so the text is built once a second. The tuple is replaced
        # whole, so a reader on another thread sees an old or a new one, never a mix.
        text = last[2] if second == last[1] else _second_text(second)
        _last_formatted = last = (moment, second, text)
    return last[2] + _MILLISECONDS[moment.microsecond // 1000] if milliseconds else last[2] + "Z"


# The moment most recently formatted, its epoch second and that second's text. Holding the moment keeps its
# identity from passing to another object while it is remembered.
_last_formatted: tuple[datetime | None, int, str] = (None, -1, "")
# ".000Z" … ".999Z": a table lookup is half the cost of formatting the number on every request.
_MILLISECONDS = tuple(f".{millisecond:03d}Z" for millisecond in range(1000))


def _second_text(epoch_second: int) -> str:
    # Not strftime: its %Y drops the leading zeros of a year below 1000 on glibc ("999-06-01"), which no
    # Date condition reads.
    return datetime.fromtimestamp(epoch_second, UTC).replace(tzinfo=None).isoformat(timespec="seconds")


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
        if clock().utcoffset() is None:  # a naive time would be read in the server's zone, shifting policies
            raise errors.InvalidParameter(
                "Clock", "The clock must return aware datetimes: datetime.now(UTC)."
            )
        self._proxies = tuple(parse_network(text) for text in trusted_proxies)
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
            source, secure = _peer(facts), facts.scheme == "https"
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
            if principal.mfa_time is not None:  # per request: the age grows while the principal is cached
                moment = now if now is not None else self._clock()
                context["acs:MFAAge"] = str(max(0, int((moment - principal.mfa_time).total_seconds())))
        if self._hook is not None:
            for key, value in self._hook(facts, principal).items():
                if key.lower() not in _PROTECTED_KEYS:
                    context[key] = value
        return context

    def source_ip(self, facts: RequestFacts) -> str:
        """The client address after trusted-proxy processing (``""`` when the server gave no peer address, or
        when the hop naming the client is unreadable: ``unknown``, obfuscated, missing or garbage)."""
        return self._client(facts)[0]

    def secure_transport(self, facts: RequestFacts) -> bool:
        """Whether the client reached us over TLS (via the trusted proxies' reports when behind them).

        Behind proxies every report must say TLS: with ``Forwarded``, the client's element must carry
        ``proto=https`` (or ``wss``) and no element nearer to us another protocol; ``X-Forwarded-Proto``
        values must all be ``https``/``wss`` (a value a client adds can only deny that client). A trusted
        proxy's report decides even when it reached us over TLS (a load balancer that re-encrypts to the
        app says what the client used); without any report the request's own scheme does.
        """
        secure = facts.scheme == "https"
        if not self._proxies or not self._trusted(facts.peer or ""):
            return secure
        reported = self._reported_tls(facts)
        return secure if reported is None else reported

    def _reported_tls(self, facts: RequestFacts) -> bool | None:
        """Whether the trusted proxies report TLS all the way from the client; None: they report nothing."""
        if self._forwarded_header == "forwarded":
            # From the client's element on (index -1 only when there is none); elements a client wrote
            # further left are no report.
            index = self._client(facts)[1]
            protos = [element.get("proto") for element in _forwarded_elements(facts)][index:]
            if all(proto is None for proto in protos):
                return None
            return protos[0] is not None and all(p is None or _is_tls(p) for p in protos)
        values = [p.strip() for line in facts.header_values("x-forwarded-proto") for p in line.split(",")]
        return all(_is_tls(value) for value in values) if values else None

    def _client(self, facts: RequestFacts) -> tuple[str, int]:
        """The client address and the index of the forwarding hop that names it (-1: the TCP peer)."""
        peer = _peer(facts)
        if not self._proxies or not self._trusted(peer):
            return peer, -1
        hops = self._forwarded_for(facts)
        if not hops:
            # A trusted proxy that names no client: its own address would pass for the client's, and an
            # allow-list of internal networks would admit every outside caller (servers such as waitress
            # strip X-Forwarded-For unless told to keep it). Unknown, so no IpAddress matches.
            return "", -1
        client, index = peer, -1
        for index in range(len(hops) - 1, -1, -1):
            address = _parse_address(hops[index])
            if address is None:
                # The hop that should name the client does not: fail closed rather than take a trusted
                # proxy's address (which an allow-list of internal networks would admit).
                return "", index
            client = str(address)
            if not self._trusted(client):
                break
        return client, index  # every hop trusted: the leftmost is the client

    # --- forwarding headers ------------------------------------------------------------------------------

    def _forwarded_for(self, facts: RequestFacts) -> list[str]:
        if self._forwarded_header == "forwarded":
            # One entry per element: an element without "for" is an unreadable hop, not one to skip.
            return [element.get("for", "") for element in _forwarded_elements(facts)]
        return [hop.strip() for line in facts.header_values("x-forwarded-for") for hop in line.split(",")]

    def _is_trusted_uncached(self, text: str) -> bool:
        address = _parse_address(text)
        return address is not None and any(address in network for network in self._proxies)


def _add_principal_keys(context: dict[str, object], principal: Principal) -> None:
    if principal.kind == "assumed-role":
        context["acs:PrincipalARN"] = ram_arn(principal.account_id, f"role/{principal.name.lower()}")
    else:
        context["acs:PrincipalARN"] = principal.arn
    context["acs:PrincipalType"] = principal.principal_type
    if principal.access_key_id:
        context["acs:AccessId"] = principal.access_key_id
    if principal.mfa_present is not None:
        context["acs:MFAPresent"] = "true" if principal.mfa_present else "false"


def _peer(facts: RequestFacts) -> str:
    """The TCP peer's address, an IPv4-mapped IPv6 one as IPv4; ``""`` for a peer that is no address."""
    return _peer_address(facts.peer or "")


def _address_of_peer(text: str) -> str:
    # Servers on a Unix socket name the peer as they please (uvicorn: none, waitress: "localhost",
    # Werkzeug: "<local>"): none is an address, and the same deployment must give the same acs:SourceIp.
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return text


# Peers recur from request to request: one dict lookup each.
_peer_address = TextMemo(_address_of_peer).read


def _is_tls(proto: str) -> bool:
    return proto.lower() in ("https", "wss")


def parse_network(text: str) -> _Network:
    """A trusted proxy network; IPv4-mapped IPv6 (``::ffff:10.0.0.5``) becomes IPv4, as in requests."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        message = f"Not an IP address or CIDR: {text[:64]!r}."
        raise errors.InvalidParameter("TrustedProxies", message) from None
    return unmapped_network(network)


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
