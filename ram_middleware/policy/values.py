"""Typed readings of condition values: numbers, dates, booleans and IP addresses/networks.

Policy values are read once, when the document is parsed (a bad one rejects the document). Request values
are read per decision through small memos of short texts, because the same source IPs, times and flags recur.
Every ``read_*`` function returns None for text it cannot read (spec decision 6: such a value matches no
policy value).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from ram_middleware.facts import TextMemo

__all__ = [
    "EPOCH",
    "IPNetwork",
    "IpNet",
    "JsonNumber",
    "json_text",
    "read_bool",
    "read_date",
    "read_decimal",
    "read_ip",
    "read_network",
    "read_stored_date",
    "unmapped_network",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]*", re.ASCII)

IpNet = tuple[int, int, int]  # (version, network as int, mask as int)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class JsonNumber:
    """A number in a policy document: ``text`` as written in the JSON, ``value`` exactly (never a float).

    Documents are decoded into these, so ``9007199254740993.5`` and ``0.30000000000000001`` keep their value
    under Numeric operators and the stored source keeps ``2.50`` and ``1e2`` as written.
    """

    text: str
    value: Decimal

    @property
    def string_text(self) -> str:
        """The text String operators compare (spec decision 5, "as their JSON text"): the text as written
        (``2.50``, ``-0``), except that exponent form is written out in plain decimal from the exact value
        (``1e2`` → ``100``, ``1.5E-7`` → ``0.00000015``), as request numbers are (decision 11)."""
        if "e" in self.text or "E" in self.text:
            return format(self.value, "f")
        return self.text


def json_text(value: object) -> str:
    """Compact JSON text of decoded policy data, keys in document order; a :class:`JsonNumber` is written
    as it was read. Raises TypeError for anything JSON cannot hold."""
    if isinstance(value, JsonNumber):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json_text(k)}:{json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join([json_text(item) for item in value]) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def number_text(value: int | float | Decimal) -> str:
    """A request number as the text String operators compare: decimal, never exponent form (``1e+20`` is
    ``100000000000000000000``), as :attr:`JsonNumber.string_text` writes policy numbers."""
    if isinstance(value, int):
        return str(value)
    text = repr(value) if isinstance(value, float) else str(value)
    if "e" in text.lower() and text.lower() not in ("inf", "-inf", "nan"):
        text = format(Decimal(text), "f")
    return text


def _decimal(text: str) -> Decimal | None:
    if _NUMBER.fullmatch(text) is None:
        return None
    return Decimal(text)


# Request values recur (the same source IPs, times and limits), so their readings are remembered. They come
# from clients, so a value longer than any real number, date or address is read but never kept (TextMemo).
_REMEMBERED = 4096

read_decimal = TextMemo(_decimal, size=_REMEMBERED).read
"""``12``, ``-3.5``, ``0930`` → Decimal; exponents, ``NaN`` and blanks are not numbers here."""


def _date_us(text: str, stored: bool = False) -> int | None:
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
    if off_m is not None and int(off_m) > 59 and not stored:
        return None  # "+05:99" is no zone offset; read as +06:39 it would move a Date bound silently
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        offset = timedelta(0) if zulu else timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, timezone(offset)
        )
    except ValueError:
        return None
    return (moment - EPOCH) // _ONE_US


read_date = TextMemo(_date_us, size=_REMEMBERED).read
"""ISO 8601 date-time with a zone → microseconds since the Unix epoch (spec decision 12).

The zone offset is ``±hh:mm`` or ``±hhmm`` with hours below 24 and minutes 00-59."""


def read_stored_date(text: str) -> int | None:
    """:func:`read_date` as it read policy values before offset minutes were checked: ``+05:99`` is
    +06:39. Only for documents stored then (``parse_policy(stored=True)``)."""
    return _date_us(text, stored=True)


def read_bool(text: str) -> bool | None:
    """``true`` / ``false`` in any case."""
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def _address(text: str) -> tuple[int, int] | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if address.ipv4_mapped is not None:
            return 4, int(address.ipv4_mapped)
    return address.version, int(address)


read_ip = TextMemo(_address, size=_REMEMBERED).read
"""An address → (version, integer); IPv4-mapped IPv6 becomes IPv4 (spec decision 10)."""


def read_network(text: str, *, stored: bool = False) -> IpNet | None:
    """An address or CIDR → (version, network, mask), host bits dropped (spec decisions 9 and 10).

    After ``/`` only a prefix length counts, in decimal without leading zeros (``/0``, ``/8``, ``/128``).
    ``ipaddress`` also reads a netmask (``/255.0.0.0``), a host mask (``/0.0.0.255``; ``/0.0.0.0`` would be
    ``/0``, every address) and ``/08``, which are no CIDR, so a policy holding them is refused. ``stored``
    reads them as before, for documents stored before this check (``parse_policy(stored=True)``).
    """
    if "%" in text:  # zone-scoped IPv6 literals name an interface, not a network
        return None
    _, slash, prefix = text.partition("/")
    if slash and not stored and _PREFIX_LENGTH.fullmatch(prefix) is None:
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    network = unmapped_network(network)
    return network.version, int(network.network_address), int(network.netmask)


def unmapped_network(network: IPNetwork) -> IPNetwork:
    """An IPv6 network within ``::ffff:0:0/96`` as the IPv4 network it maps (spec decision 10): addresses
    are read that way, so a network left IPv6 would hold none of them."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    return network
