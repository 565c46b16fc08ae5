"""Parse and validate RAM policy documents into immutable compiled policies.

Grammar (spec §1 and its edge-case decisions)::

    {"Version": "1", "Statement": Statement | [Statement, ...]}
    Statement = {"Effect": "Allow" | "Deny",
                 "Action" | "NotAction": String | [String, ...],
                 "Resource" | "NotResource": String | [String, ...],   # required, except in trust policies
                 "Condition"?: {...}, "Sid"?: String,
                 "Principal"?: {"RAM" | "Service" | "Federated": String | [String, ...]}}   # trust only

Every violation raises :class:`~ram_middleware.errors.MalformedPolicyDocument` naming the JSON path, e.g.
``Statement[1].Condition.IpAddress.acs:SourceIp[0]: 'abc' is not an IP address or CIDR``. Rules this module
adds where the spec is silent: element names are case-sensitive and unknown ones are rejected; duplicate keys
in a JSON object are rejected (``{"Effect": "Allow", "Effect": "Deny"}`` must not depend on the parser); an
action is ``*`` or ``<service>:<name>`` without whitespace; a resource is an ARN (``acs:…``) or starts with
``*``; trust-policy actions must cover sts:AssumeRole(WithSAML|WithOIDC) and principals are literal ARNs or
service names (no wildcards); a JSON number keeps its exact value and its text (never a binary float, see
:class:`~ram_middleware.policy.values.JsonNumber`), and one in exponent form beyond 1e±350 is out of range.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ram_middleware.arn import ActionPattern, ResourcePattern, compile_action, compile_resource, has_wildcards
from ram_middleware.errors import InvalidParameter, MalformedPolicyDocument
from ram_middleware.policy.conditions import STORED, Condition, Context, compile_conditions, key_in_path
from ram_middleware.policy.request import Request
from ram_middleware.policy.values import JsonNumber, json_text

__all__ = ["CompiledPolicy", "PolicyKind", "PrincipalSpec", "Statement", "StatementEffect", "parse_policy"]

PolicyKind = Literal["identity", "trust", "session"]
StatementEffect = Literal["Allow", "Deny"]

_TOP_KEYS = frozenset({"Version", "Statement"})
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"}
)
_PRINCIPAL_KEYS = ("RAM", "Service", "Federated")
TRUST_ACTIONS = ("sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithoidc")
_MAX_SHOWN = 80
# A number in exponent form is written out in plain decimal for String operators, so its exponent is bounded
# (1e999999999 would be a gigabyte). The bound is wider than a float's, which older versions read numbers
# through, so every document stored by them still loads; 1e400 stays out of range, as it was.
_MAX_EXPONENT = 350


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """The ``Principal`` of a trust-policy statement; entries are lower-cased (matched case-insensitively)."""

    ram: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement. ``index`` is its position in the document's statement list."""

    index: int
    effect: StatementEffect
    sid: str | None
    actions: tuple[ActionPattern, ...]
    not_action: bool
    resources: tuple[ResourcePattern, ...]  # empty only in trust policies without Resource
    not_resource: bool
    conditions: tuple[Condition, ...]
    principal: PrincipalSpec | None = None

    @property
    def any_resource(self) -> bool:
        """True when the resource part matches every resource."""
        if not self.resources:
            return True
        return not self.not_resource and any(p.is_any for p in self.resources)

    def matches_action(self, action_key: str) -> bool:
        """``action_key`` is the lower-cased action."""
        return any(p.match(action_key) for p in self.actions) != self.not_action

    def matches_resource(self, resource_key: str, is_ram: bool) -> bool:
        """Arguments as produced by :func:`ram_middleware.arn.normalize_resource`."""
        # A plain loop over the matchers: a generator and a method call per pattern cost more than the
        # match itself, and this runs for every candidate statement of every decision.
        for pattern in self.resources:
            if (pattern.match_ci if is_ram else pattern.match_cs)(resource_key):
                return not self.not_resource
        return not self.resources or self.not_resource

    def failed_condition(self, context: Context) -> Condition | None:
        """The first condition that does not hold, or None when the whole block holds."""
        for condition in self.conditions:
            if not condition.holds(context):
                return condition
        return None

    def matches(self, request: Request) -> bool:
        """Action, resource and every condition match."""
        return (
            self.matches_action(request.action_key)
            and self.matches_resource(request.resource_key, request.resource_is_ram)
            and self.failed_condition(request.context) is None
        )


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A validated policy. ``source`` is the canonical compact JSON text of the document (no whitespace
    between tokens, keys in document order, numbers as written)."""

    statements: tuple[Statement, ...]
    source: str
    kind: PolicyKind = "identity"


# --- loading ------------------------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_keys(
    pairs: list[tuple[str, Any]], duplicate: Callable[[str], Exception] = _DuplicateKey
) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook`` that raises ``duplicate(key)`` for a key given twice in one
    object (by default the last would silently win)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise duplicate(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class _OutOfRange(Exception):
    pass


def _number(text: str) -> JsonNumber:
    """Decoder hook for every JSON number: its exact value, never a float, and the text as written."""
    try:
        value = Decimal(text)  # the decoder has checked the JSON number grammar
    except InvalidOperation:  # an exponent beyond what Decimal holds
        raise _OutOfRange from None
    if ("e" in text or "E" in text) and abs(value.adjusted()) > _MAX_EXPONENT:
        raise _OutOfRange
    return JsonNumber(text, value)


def _show(value: object) -> str:
    try:
        text = repr(value) if isinstance(value, str) else json_text(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _too_long(length: int, max_length: int) -> InvalidParameter:
    return InvalidParameter(
        "PolicyDocument.Length",
        f"The policy document has {length} characters; at most {max_length} are allowed.",
    )


def _load(document: str | Mapping[str, Any], max_length: int | None) -> tuple[Any, str]:
    """The decoded document and its canonical compact text (see :class:`CompiledPolicy`)."""
    if isinstance(document, Mapping):
        try:
            text = json.dumps(dict(document), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise MalformedPolicyDocument("", f"the policy document is not JSON data ({exc})") from None
    elif isinstance(document, str):
        text = document
    else:
        raise MalformedPolicyDocument("", "the policy document must be JSON text or an object")
    if max_length is not None and isinstance(document, str) and len(text) > max_length:
        raise _too_long(len(text), max_length)
    if not text.strip():
        raise MalformedPolicyDocument("", "the policy document is empty")
    numbers: list[JsonNumber] = []

    def number(written: str) -> JsonNumber:
        numbers.append(found := _number(written))
        return found

    try:
        data = json.loads(
            text,
            object_pairs_hook=unique_keys,
            parse_constant=_reject_constant,
            parse_float=number,
            parse_int=number,
        )
        # json_text writes numbers as read; without numbers the C encoder writes the same text, faster
        source = json_text(data) if numbers else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        # "\ud800" decodes to a lone surrogate: no UTF-8 text holds one, and storing it would fail later.
        source.encode("utf-8")
        return data, source
    except _OutOfRange:
        raise MalformedPolicyDocument("", "the policy document holds a number out of range") from None
    except UnicodeEncodeError:
        raise MalformedPolicyDocument(
            "", "the policy document holds a lone surrogate (not UTF-8 text)"
        ) from None
    except _DuplicateKey as exc:
        raise MalformedPolicyDocument("", f"duplicate key {_show(exc.key)} in a JSON object") from None
    except json.JSONDecodeError as exc:
        raise MalformedPolicyDocument(
            "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise MalformedPolicyDocument("", f"not valid JSON: {exc}") from None


# --- validation ---------------------------------------------------------------------------------------------


def _strings(value: object, path: str, element: str) -> list[tuple[str, str]]:
    """A string or non-empty list of strings, with the JSON path of each item."""
    if isinstance(value, str):
        items = [(value, path)]
    elif isinstance(value, list):
        if not value:
            raise MalformedPolicyDocument(path, f"{element} may not be an empty list")
        items = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise MalformedPolicyDocument(f"{path}[{i}]", f"{_show(item)} is not a string")
            items.append((item, f"{path}[{i}]"))
    else:
        raise MalformedPolicyDocument(path, f"{element} must be a string or a list of strings")
    for item, where in items:
        if not item:
            raise MalformedPolicyDocument(where, f"{element} may not be empty")
    return items


def _action(text: str, path: str, kind: PolicyKind) -> ActionPattern:
    if any(ch.isspace() for ch in text):
        raise MalformedPolicyDocument(path, f"{_show(text)} contains whitespace")
    service, sep, name = text.partition(":")
    if text.strip("*") and not (sep and service and name):
        raise MalformedPolicyDocument(path, f"{_show(text)} is not an action (<service>:<action> or *)")
    pattern = compile_action(text)
    if kind == "trust" and not any(pattern.match(a) for a in TRUST_ACTIONS):
        raise MalformedPolicyDocument(
            path, f"{_show(text)} is not sts:AssumeRole (trust policies grant only that)"
        )
    return pattern


def _resource(text: str, path: str) -> ResourcePattern:
    if not (text.startswith("*") or text[:4].lower() == "acs:"):
        raise MalformedPolicyDocument(path, f"{_show(text)} is not a resource ARN (acs:<service>:…) or *")
    return compile_resource(text)


def _principal(value: object, path: str) -> PrincipalSpec:
    if not isinstance(value, dict) or not value:
        raise MalformedPolicyDocument(path, "Principal must be an object with RAM, Service or Federated")
    found: dict[str, tuple[str, ...]] = {}
    for key, entries in value.items():
        where = f"{path}.{key_in_path(key)}"
        if key not in _PRINCIPAL_KEYS:
            raise MalformedPolicyDocument(where, "unknown principal type (use RAM, Service or Federated)")
        names = _strings(entries, where, key)
        for name, item_path in names:
            if has_wildcards(name) or any(ch.isspace() for ch in name):
                raise MalformedPolicyDocument(item_path, f"{_show(name)}: principals are literal names")
            if key != "Service" and not name.lower().startswith("acs:ram::"):
                raise MalformedPolicyDocument(
                    item_path, f"{_show(name)} is not a RAM ARN (acs:ram::<account>:…)"
                )
        found[key] = tuple(name.lower() for name, _ in names)
    return PrincipalSpec(found.get("RAM", ()), found.get("Service", ()), found.get("Federated", ()))


def _pick(
    body: dict[str, Any], path: str, positive: str, negative: str, required: bool
) -> tuple[Any, str, bool]:
    if positive in body and negative in body:
        raise MalformedPolicyDocument(path, f"a statement has either {positive} or {negative}, not both")
    if positive in body:
        return body[positive], f"{path}.{positive}", False
    if negative in body:
        return body[negative], f"{path}.{negative}", True
    if required:
        raise MalformedPolicyDocument(path, f"{positive} (or {negative}) is required")
    return None, path, False


def _statement(body: object, path: str, index: int, kind: PolicyKind) -> Statement:
    if not isinstance(body, dict):
        raise MalformedPolicyDocument(path, "a statement must be an object")
    for key in body:
        if key not in _STATEMENT_KEYS:
            raise MalformedPolicyDocument(f"{path}.{key_in_path(key)}", "unknown element in a statement")
    if "Effect" not in body:
        raise MalformedPolicyDocument(path, "Effect is required (Allow or Deny)")
    effect = body["Effect"]
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyDocument(f"{path}.Effect", f"{_show(effect)} is not Allow or Deny")
    sid = body.get("Sid")
    if "Sid" in body and not isinstance(sid, str) and not (sid is None and STORED.get()):  # null included
        raise MalformedPolicyDocument(f"{path}.Sid", "Sid must be a string")
    action_value, action_path, not_action = _pick(body, path, "Action", "NotAction", True)
    if kind == "trust" and not_action:
        raise MalformedPolicyDocument(
            action_path, "a trust policy grants Action sts:AssumeRole; NotAction is not allowed"
        )
    actions = tuple(
        _action(t, p, kind) for t, p in _strings(action_value, action_path, action_path.rsplit(".", 1)[-1])
    )
    resource_value, resource_path, not_resource = _pick(
        body, path, "Resource", "NotResource", kind != "trust"
    )
    resources: tuple[ResourcePattern, ...] = ()
    if resource_value is not None:
        resources = tuple(
            _resource(t, p)
            for t, p in _strings(resource_value, resource_path, resource_path.rsplit(".", 1)[-1])
        )
    principal = None
    if kind == "trust":
        if "Principal" not in body:
            raise MalformedPolicyDocument(path, "Principal is required in a trust policy")
        principal = _principal(body["Principal"], f"{path}.Principal")
    elif "Principal" in body:
        raise MalformedPolicyDocument(f"{path}.Principal", "Principal is only allowed in role trust policies")
    conditions = compile_conditions(body["Condition"], f"{path}.Condition") if "Condition" in body else ()
    return Statement(index, effect, sid, actions, not_action, resources, not_resource, conditions, principal)


def _statements(data: object, kind: PolicyKind) -> tuple[Statement, ...]:
    if not isinstance(data, dict):
        raise MalformedPolicyDocument("", "a policy document must be a JSON object")
    for key in data:
        if key not in _TOP_KEYS:
            raise MalformedPolicyDocument(
                key_in_path(key), "unknown element (a policy has Version and Statement)"
            )
    if "Version" not in data:
        raise MalformedPolicyDocument("Version", 'is required and must be "1"')
    if data["Version"] != "1" or not isinstance(data["Version"], str):
        raise MalformedPolicyDocument(
            "Version", f'{_show(data["Version"])} is not a supported version (use "1")'
        )
    if "Statement" not in data:
        raise MalformedPolicyDocument("Statement", "is required")
    body = data["Statement"]
    if isinstance(body, dict):
        return (_statement(body, "Statement", 0, kind),)
    if not isinstance(body, list):
        raise MalformedPolicyDocument("Statement", "must be an object or a list of objects")
    if not body:
        raise MalformedPolicyDocument("Statement", "may not be empty")
    return tuple(_statement(item, f"Statement[{i}]", i, kind) for i, item in enumerate(body))


def parse_policy(
    document: str | Mapping[str, Any], *, kind: PolicyKind = "identity", max_length: int | None = None,
    stored: bool = False,
) -> CompiledPolicy:  # fmt: skip
    """Validate a policy document (JSON text or an already-decoded object) and compile it.

    ``kind`` selects the grammar: ``identity`` and ``session`` need Resource and forbid Principal; ``trust``
    needs Principal and sts:AssumeRole actions. ``max_length`` caps the characters of the text form
    (``InvalidParameter.PolicyDocument.Length`` when exceeded). ``stored=True`` compiles a document that was
    accepted earlier (a stored version, a role's trust policy, a token's session policy): checks added
    since (``"Sid": null``, condition keys without a ``<service>:`` part, several values under Bool, the
    unimplemented acs:PrincipalAccount/RequestedRegion keys, mw: zone names that are no IANA zone, netmask
    notation after ``/`` in an IP condition, zone offsets with minutes above 59 in a Date condition) do not
    turn it into an error on every request it decides; new documents are refused for them.
    """
    if kind not in ("identity", "trust", "session"):
        raise ValueError(f"unknown policy kind {kind!r}")
    token = STORED.set(stored)
    try:
        return _parse(document, kind, max_length)
    finally:
        STORED.reset(token)


def _parse(document: str | Mapping[str, Any], kind: PolicyKind, max_length: int | None) -> CompiledPolicy:
    data, source = _load(document, max_length)
    if max_length is not None and not isinstance(document, str) and len(source) > max_length:
        raise _too_long(len(source), max_length)
    return CompiledPolicy(_statements(data, kind), source, kind)
