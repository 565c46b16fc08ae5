"""The request an authorization decision is about: action, resource and condition context."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from ram_middleware.arn import normalize_resource
from ram_middleware.facts import TextMemo
from ram_middleware.policy.values import number_text

__all__ = ["Request", "context_value", "make_request"]

ContextValue = str | tuple[str, ...]


def _scalar_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return number_text(value)  # spec decision 11: decimal text, never exponent form
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise TypeError("context date-times must carry a time zone")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    raise TypeError(f"unsupported condition context value of type {type(value).__name__}")


def context_value(value: object) -> ContextValue | None:
    """A context value as text: bools → ``true``/``false``, numbers → decimal text, lists → tuples.

    None means "absent" (the key is left out).
    """
    if value is None:
        return None
    if isinstance(value, set | frozenset):
        return tuple(sorted(_scalar_text(item) for item in value))
    if isinstance(value, list | tuple):
        return tuple(_scalar_text(item) for item in value)
    return _scalar_text(value)


@dataclass(frozen=True, slots=True, init=False)
class Request:
    """What is asked: ``action`` on ``resource`` with condition ``context``.

    Context keys are lower-cased and values turned into text on construction (prefer :func:`make_request`).
    The remaining fields are derived once, so that every statement tested against the request reuses them.
    """

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]]
    action_key: str = field(init=False, repr=False, compare=False)  # lower-cased action
    service: str = field(init=False, repr=False, compare=False)  # lower-cased service code of the action
    resource_key: str = field(init=False, repr=False, compare=False)  # resource in matching form
    resource_is_ram: bool = field(init=False, repr=False, compare=False)

    # Written out rather than generated: one is built per decision, and the generated __init__ of a frozen
    # dataclass plus a __post_init__ set each field through a lookup of its own.
    def __init__(self, action: str, resource: str, context: Mapping[str, str | Sequence[str]]) -> None:
        normalized: dict[str, str | Sequence[str]] = {}
        lower = _lower_key
        for key, value in context.items():
            if value.__class__ is str:  # the usual case: already text
                normalized[lower(key)] = value
                continue
            text = context_value(value)
            if text is not None:
                normalized[lower(key)] = text
        action_key, service = _action_keys(action)
        resource_key, is_ram = _normalized_resource(resource)
        setter = object.__setattr__
        setter(self, "action", action)
        setter(self, "resource", resource)
        setter(self, "context", normalized)
        setter(self, "action_key", action_key)
        setter(self, "service", service)
        setter(self, "resource_key", resource_key)
        setter(self, "resource_is_ram", is_ram)


def _action_key(action: str) -> tuple[str, str]:
    lowered = action.lower()
    return lowered, lowered.partition(":")[0]


# Context keys, actions and resources recur from request to request (the same keys, the same routes). A
# resource holds path parameters, so a long one (a client's choice) is normalised but never kept.
_lower_key = TextMemo(str.lower).read
_action_keys = TextMemo(_action_key).read
_normalized_resource = TextMemo(normalize_resource, size=4096, max_length=512).read


def make_request(action: str, resource: str, context: Mapping[str, object] | None = None) -> Request:
    """Build a :class:`Request`; context keys are lower-cased, bools and numbers become text."""
    # Request.__init__ turns the values into text, so any supported object may come in here.
    return Request(action, resource, context or {})  # type: ignore[arg-type]
