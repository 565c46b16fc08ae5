"""The request an authorization decision is about: action, resource and condition context."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import cast

from ram_middleware.arn import normalize_resource
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


@dataclass(frozen=True, slots=True)
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

    def __post_init__(self) -> None:
        normalized: dict[str, str | Sequence[str]] = {}
        for key, value in self.context.items():
            if value.__class__ is str:  # the usual case: already text
                normalized[key.lower()] = value
                continue
            text = context_value(value)
            if text is not None:
                normalized[key.lower()] = text
        action_key = self.action.lower()
        resource_key, is_ram = _normalized_resource(self.resource)
        setter = object.__setattr__
        setter(self, "context", normalized)
        setter(self, "action_key", action_key)
        setter(self, "service", action_key.partition(":")[0])
        setter(self, "resource_key", resource_key)
        setter(self, "resource_is_ram", is_ram)


# Resources recur (the same object, the same route); normalising one is a few string operations.
_normalized_resource = lru_cache(maxsize=4096)(normalize_resource)


def make_request(action: str, resource: str, context: Mapping[str, object] | None = None) -> Request:
    """Build a :class:`Request`; context keys are lower-cased, bools and numbers become text."""
    # Request.__post_init__ turns the values into text, so any supported object may come in here.
    return Request(action, resource, cast("Mapping[str, str | Sequence[str]]", context or {}))
