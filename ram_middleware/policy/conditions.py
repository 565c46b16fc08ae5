"""Condition operators: one small builder per family, the operator table, and compiled conditions.

A condition block ``{Operator: {Key: Value | [Value, ...]}}`` compiles into a tuple of :class:`Condition`
(one per operator/key pair, all ANDed). Policy values are converted and validated once, here; a decision only
reads the request's values (through the caches in :mod:`.values`) and runs a prebuilt ``holds`` closure.

Key names are ``<service>:<key>`` (``acs:SourceIp``, ``oss:Prefix``) and ``Bool`` takes one value, as RAM's
policy check requires.
Semantics (spec section 2 and decisions 4-8): operator names and key names are case-insensitive; values of
one key are ORed; a negated operator (``...Not...``, ``NotIpAddress``) means "matches none of the values".
Absent key: positive operator false, negated true, ``...IfExists`` true, ``ForAllValues:`` true,
``ForAnyValue:`` false. Without a set prefix a multi-valued request key holds for a positive operator when any
request value matches any policy value, and for a negated one when no request value does. ``ForAnyValue:``
/ ``ForAllValues:`` ask that some / every request value satisfies the base operator. A request value that
cannot be read as the operator's type matches no policy value. ``Null`` is not supported (malformed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ram_middleware.arn import compile_wildcard
from ram_middleware.errors import MalformedPolicyDocument
from ram_middleware.policy.extensions import Context, Derive, extension_key
from ram_middleware.policy.values import (
    JsonNumber,
    json_text,
    read_bool,
    read_date,
    read_decimal,
    read_ip,
    read_network,
    read_stored_date,
)

__all__ = ["OPERATORS", "Condition", "Context", "canonical_operator", "compile_conditions"]

Match = Callable[[Any], bool]
Reader = Callable[[str], Any]
Holds = Callable[[Context], bool]

# Observed values of these keys are not written into decision reasons (they may act as shared secrets).
_REDACTED_KEYS = frozenset({"sts:externalid"})
_MAX_SHOWN = 120


# --- policy value conversion, per family --------------------------------------------------------------------


def _string_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"  # spec decision 5: compared as their JSON text
    if isinstance(value, JsonNumber):
        return value.string_text
    return None


def _folded_text(value: object) -> str | None:
    text = _string_text(value)
    return None if text is None else text.casefold()


def _number_value(value: object) -> Decimal | None:
    if isinstance(value, JsonNumber):
        return value.value
    if isinstance(value, str):
        return read_decimal(value)
    return None


def _date_value(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    return read_stored_date(value) if STORED.get() else read_date(value)


def _bool_value(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    return read_bool(value) if isinstance(value, str) else None


def _ip_value(value: object) -> tuple[int, int, int] | None:
    return read_network(value, stored=STORED.get()) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    convert: Callable[[object], Any]  # policy JSON value -> typed value, None if invalid
    read: Reader | None  # request text -> typed value (None result: unreadable); None = the text itself
    expected: str  # for error messages: "'abc' is not <expected>"


_STRING = _Family("String", _string_text, None, "a string")
_STRING_FOLDED = _Family("String", _folded_text, str.casefold, "a string")
_NUMERIC = _Family("Numeric", _number_value, read_decimal, "a number")
_DATE = _Family("Date", _date_value, read_date, "an ISO 8601 date-time with a time zone")
_BOOL = _Family("Bool", _bool_value, read_bool, 'a boolean ("true" or "false")')
_IP = _Family("IP", _ip_value, read_ip, "an IP address or CIDR")


# --- match builders: policy values -> "does a request value match any of them" ------------------------------


def _member(values: tuple[Any, ...]) -> Match:
    return frozenset(values).__contains__


def _like(values: tuple[Any, ...]) -> Match:
    matchers = tuple(compile_wildcard(v) for v in values)
    if len(matchers) == 1:
        return matchers[0]
    return lambda v: any(m(v) for m in matchers)


# Ordered comparisons against several values are ORed, so only the loosest bound matters.
def _less(values: tuple[Any, ...]) -> Match:
    bound = max(values)
    return lambda v: bool(v < bound)


def _less_equal(values: tuple[Any, ...]) -> Match:
    bound = max(values)
    return lambda v: bool(v <= bound)


def _greater(values: tuple[Any, ...]) -> Match:
    bound = min(values)
    return lambda v: bool(v > bound)


def _greater_equal(values: tuple[Any, ...]) -> Match:
    bound = min(values)
    return lambda v: bool(v >= bound)


def _in_network(values: tuple[Any, ...]) -> Match:
    networks: tuple[tuple[int, int, int], ...] = values

    def match(address: tuple[int, int]) -> bool:
        version, number = address
        for network_version, network, mask in networks:  # a loop: no generator per decision
            if network_version == version and number & mask == network:
                return True
        return False

    return match


@dataclass(frozen=True, slots=True)
class _Operator:
    name: str
    family: _Family
    negated: bool
    build: Callable[[tuple[Any, ...]], Match]


def _table(*ops: _Operator) -> dict[str, _Operator]:
    return {op.name.lower(): op for op in ops}


OPERATORS: Mapping[str, _Operator] = _table(
    _Operator("StringEquals", _STRING, False, _member),
    _Operator("StringNotEquals", _STRING, True, _member),
    _Operator("StringEqualsIgnoreCase", _STRING_FOLDED, False, _member),
    _Operator("StringNotEqualsIgnoreCase", _STRING_FOLDED, True, _member),
    _Operator("StringLike", _STRING, False, _like),
    _Operator("StringNotLike", _STRING, True, _like),
    _Operator("NumericEquals", _NUMERIC, False, _member),
    _Operator("NumericNotEquals", _NUMERIC, True, _member),
    _Operator("NumericLessThan", _NUMERIC, False, _less),
    _Operator("NumericLessThanEquals", _NUMERIC, False, _less_equal),
    _Operator("NumericGreaterThan", _NUMERIC, False, _greater),
    _Operator("NumericGreaterThanEquals", _NUMERIC, False, _greater_equal),
    _Operator("DateEquals", _DATE, False, _member),
    _Operator("DateNotEquals", _DATE, True, _member),
    _Operator("DateLessThan", _DATE, False, _less),
    _Operator("DateLessThanEquals", _DATE, False, _less_equal),
    _Operator("DateGreaterThan", _DATE, False, _greater),
    _Operator("DateGreaterThanEquals", _DATE, False, _greater_equal),
    _Operator("Bool", _BOOL, False, _member),
    _Operator("IpAddress", _IP, False, _in_network),
    _Operator("NotIpAddress", _IP, True, _in_network),
)
"""Base operators by lower-cased name (the prefixes and the IfExists suffix are parsed around them)."""

_QUANTIFIERS = {"foranyvalue:": "ForAnyValue", "forallvalues:": "ForAllValues"}
_IF_EXISTS = "ifexists"


def _split_operator(name: str) -> tuple[str | None, _Operator, bool] | None:
    lowered = name.lower()
    quantifier = None
    for prefix, spelled in _QUANTIFIERS.items():
        if lowered.startswith(prefix):
            quantifier, lowered = spelled, lowered[len(prefix) :]
            break
    op = OPERATORS.get(lowered)
    if op is not None:
        return quantifier, op, False
    if lowered.endswith(_IF_EXISTS):
        op = OPERATORS.get(lowered[: -len(_IF_EXISTS)])
        if op is not None:
            return quantifier, op, True
    return None


def _spell(parts: tuple[str | None, _Operator, bool]) -> str:
    quantifier, op, if_exists = parts
    return f"{quantifier + ':' if quantifier else ''}{op.name}{'IfExists' if if_exists else ''}"


def canonical_operator(name: str) -> str | None:
    """The table spelling of an operator name given in any case, or None if it is not an operator."""
    parts = _split_operator(name)
    return None if parts is None else _spell(parts)


# --- compiled conditions ------------------------------------------------------------------------------------


def key_in_path(key: str) -> str:
    """A key as it appears in a JSON path; an empty key is written ``""`` so the path still names it."""
    return key or '""'


def _printable(text: str) -> str:
    shown = text if text.isprintable() else repr(text)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


@dataclass(frozen=True, slots=True)
class Condition:
    """One operator applied to one key. ``holds(context)`` evaluates it against a request context."""

    operator: str  # canonical spelling, e.g. "ForAnyValue:StringLikeIfExists"
    key: str  # lower-cased: how the request context is indexed
    key_name: str  # as written in the policy
    values: tuple[str, ...]  # the policy values as text
    holds: Holds = field(repr=False, compare=False)
    derive: Derive | None = field(default=None, repr=False, compare=False)

    def explain(self, context: Context) -> str:
        """Why this condition was evaluated as it was, e.g. ``IpAddress acs:SourceIp observed 10.0.0.1``."""
        raw = self.derive(context) if self.derive is not None else context.get(self.key)
        if raw is None or (not isinstance(raw, str) and not raw):
            return f"{self.operator} {self.key_name} absent"
        if self.key in _REDACTED_KEYS:
            return f"{self.operator} {self.key_name} observed (redacted)"
        text = raw if isinstance(raw, str) else ", ".join(raw)
        return f"{self.operator} {self.key_name} observed {_printable(text)}"


def _make_holds(
    key: str, derive: Derive | None, op: _Operator, match: Match, quantifier: str | None, if_exists: bool
) -> Holds:
    read, negated = op.family.read, op.negated
    absent = if_exists or quantifier == "ForAllValues" or (quantifier is None and negated)

    def holds(context: Context) -> bool:
        raw = derive(context) if derive is not None else context.get(key)
        if raw is None:
            return absent
        if isinstance(raw, str):  # one value: every quantifier reads the same
            value = raw if read is None else read(raw)
            return (value is not None and match(value)) != negated
        if not raw:
            return absent
        values = raw if read is None else [read(r) for r in raw]
        hits = [value is not None and match(value) for value in values]
        if quantifier is None:
            return any(hits) != negated
        satisfied = [hit != negated for hit in hits]
        return any(satisfied) if quantifier == "ForAnyValue" else all(satisfied)

    return holds


def _show(value: object) -> str:
    if isinstance(value, str):
        return _printable(repr(value))
    try:
        return _printable(json_text(value))
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__


# Alibaba keys the spec leaves unimplemented (policy-language.md). Accepted, a Deny on one would never fire.
# (acs:MFAAge is implemented: seconds since the session's MFA proof, see ram_middleware.context.)
_UNSUPPORTED_KEYS = frozenset({"acs:principalaccount", "acs:requestedregion"})
STORED: ContextVar[bool] = ContextVar("ram_policy_stored", default=False)
"""True while a document stored before a check was added is compiled (see ``parse_policy(stored=)``)."""


def _compile_one(
    parts: tuple[str | None, _Operator, bool], key_name: str, raw: object, path: str
) -> Condition:
    quantifier, op, if_exists = parts
    if key_name.lower() in _UNSUPPORTED_KEYS and not STORED.get():
        raise MalformedPolicyDocument(
            path,
            f"{key_name!r} is not supported: no request carries it, so the condition cannot work as written",
        )
    derive = extension_key(key_name, path, STORED.get())
    if derive is not None and op.family is not _NUMERIC:
        raise MalformedPolicyDocument(path, f"{key_name!r} is a Numeric key; use a Numeric operator")
    items: Sequence[object] = raw if isinstance(raw, list) else [raw]
    if not items:
        raise MalformedPolicyDocument(path, "a condition key needs at least one value")
    if op.family is _BOOL and len(items) > 1 and not STORED.get():
        # RAM refuses it ("Multiple Boolean values for a condition"); ["true", "false"] would hold always
        raise MalformedPolicyDocument(path, "Bool takes one boolean value, not a list of several")
    converted = []
    for i, item in enumerate(items):
        typed = op.family.convert(item)
        if typed is None:
            where = f"{path}[{i}]" if isinstance(raw, list) else path
            raise MalformedPolicyDocument(where, f"{_show(item)} is not {op.family.expected}")
        converted.append(typed)
    values = tuple(_string_text(item) or "" for item in items)
    holds = _make_holds(key_name.lower(), derive, op, op.build(tuple(converted)), quantifier, if_exists)
    return Condition(_spell(parts), key_name.lower(), key_name, values, holds, derive)


def compile_conditions(block: object, path: str) -> tuple[Condition, ...]:
    """Validate and compile a ``Condition`` block found at JSON ``path``; ``{}`` means no condition."""
    if not isinstance(block, dict):
        raise MalformedPolicyDocument(path, "Condition must be an object of operators")
    compiled: list[Condition] = []
    for op_name, keys in block.items():
        op_path = f"{path}.{key_in_path(op_name)}"
        parts = _split_operator(op_name)
        if parts is None:
            base = op_name.lower().rsplit(":", 1)[-1].removesuffix(_IF_EXISTS)
            problem = "the Null operator is not supported" if base == "null" else "unknown condition operator"
            raise MalformedPolicyDocument(op_path, f"{problem}: {_show(op_name)}")
        if not isinstance(keys, dict):
            raise MalformedPolicyDocument(op_path, "an operator must map condition keys to values")
        if not keys:
            raise MalformedPolicyDocument(op_path, "an operator needs at least one condition key")
        for key_name, raw in keys.items():
            key_path = f"{op_path}.{key_in_path(key_name)}"
            if not key_name.strip():
                raise MalformedPolicyDocument(key_path, "a condition key name may not be empty")
            if key_name != key_name.strip():
                raise MalformedPolicyDocument(
                    key_path, "a condition key name may not start or end with spaces"
                )
            service, colon, name = key_name.partition(":")
            if not (service and colon and name) and not STORED.get():
                # RAM refuses these too; accepted, a key written without its service (SourceIp) would
                # never be present, so a Deny on it could never fire.
                raise MalformedPolicyDocument(
                    key_path, f"{_show(key_name)} is not <service>:<key> (acs:SourceIp, oss:Prefix, …)"
                )
            compiled.append(_compile_one(parts, key_name, raw, key_path))
    return tuple(compiled)
