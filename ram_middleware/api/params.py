"""Reading RPC request parameters: required and optional text, booleans, integers.

Values arrive as decoded query/form text (``"true"``, ``"3600"``); a missing required one is
``MissingParameter.<Name>``, a malformed one ``InvalidParameter.<Name>`` — always 400, never an exception
the server would turn into 5xx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from .. import errors
from ..credentials.password import parse_api_bool, parse_api_int

__all__ = ["Paging", "Params"]

# RPC v1 clients send tags as ``Tag.N.Key``; the tea SDK sends one JSON parameter, bare ``Tag``.
_TAG_NAMES = ("Tag", "Tags")
_TAG_PREFIXES = ("Tag.", "Tags.")


class Paging(TypedDict):
    """Where a listing continues, and how many items it may return."""

    marker: str | None
    max_items: int


class Params:
    """The decoded parameters of one call (first occurrence of a name wins)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def __repr__(self) -> str:
        # Parameters may hold passwords and MFA codes: never show values.
        return f"Params({sorted(self._values)!r})"

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def raw(self) -> Mapping[str, str]:
        """Every parameter as received."""
        return self._values

    def optional(self, name: str) -> str | None:
        """The value, or None when absent or empty."""
        value = self._values.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        """The value; ``MissingParameter.<name>`` when absent or empty."""
        value = self._values.get(name)
        if not value:
            raise errors.MissingParameter(
                name,
                f"The input parameter {name} that is mandatory for processing this request is not supplied.",
            )
        return value

    def given(self, name: str) -> str | None:
        """The value when the parameter is present at all (even empty: ``NewComments=`` clears), else None."""
        return self._values.get(name)

    def text(self, name: str, default: str = "") -> str:
        """An optional free-text value ("" when absent)."""
        return self._values.get(name, default)

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        """``true``/``false`` (any case), or ``default`` when absent or empty."""
        value = self._values.get(name)
        if not value:
            return default
        return parse_api_bool(name, value)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A decimal integer in ``low..high``, or ``default`` when absent or empty."""
        found = self.optional_integer(name, low, high)
        return default if found is None else found

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        """A decimal integer in ``low..high``, or None when absent or empty."""
        value = self._values.get(name)
        if not value:
            return None
        return parse_api_int(name, value, low, high)

    def paging(self, high: int) -> Paging:
        """``Marker`` and ``MaxItems`` (default 100, at most ``high``: the list's own bound, so a refusal
        names it) as a list operation's keywords."""
        return {"marker": self.optional("Marker"), "max_items": self.integer("MaxItems", 100, 1, high)}

    def reject_tags(self) -> None:
        """Refuse tags, as ``Tag.N.*`` or as one JSON ``Tag``: this server does not store tags, and dropping
        them (or ignoring a tag filter) silently would be worse than saying so."""
        if any(name in _TAG_NAMES or name.startswith(_TAG_PREFIXES) for name in self._values):
            raise errors.InvalidParameter(
                "Tag", "Tags are not supported by this server; omit the Tag parameters."
            )
