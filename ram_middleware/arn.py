"""ARNs and the wildcard patterns of the policy language.

An ARN is ``acs:<service>:<region>:<account-id>:<relative-id>``; the relative id may itself contain ``:``.

Wildcards (spec decision 2): ``*`` matches any run of characters (including none, ``:`` and ``/``), ``?``
exactly one character; every other character is literal. Patterns compile once into a plain callable
``str -> bool``; the common shapes (exact text, ``*`` alone, ``prefix*``, ``*suffix``, ``prefix*suffix``) are
answered with string methods, the rest by one regular expression whose middle segments sit in atomic groups,
so matching is linear in the input and a hostile pattern cannot make it backtrack exponentially.

Case rules (spec decision 13): actions are matched case-insensitively as a whole. For resources the ``acs``
prefix and the service segment are case-insensitive; when the resource's service is ``ram`` the whole ARN is
case-insensitive, otherwise region, account and relative id are case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from ram_middleware.errors import InvalidParameter

Matcher = Callable[[str], bool]

__all__ = [
    "ActionPattern",
    "Arn",
    "Matcher",
    "ResourcePattern",
    "action_matches",
    "action_service",
    "compile_action",
    "compile_resource",
    "compile_wildcard",
    "format_arn",
    "has_wildcards",
    "literal_prefix",
    "normalize_resource",
    "parse_arn",
    "resource_matches",
]


# --- ARN parse / format -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arn:
    """A parsed ARN; ``service`` is lower-cased (service codes are case-insensitive)."""

    service: str
    region: str
    account_id: str
    relative_id: str

    def __str__(self) -> str:
        return format_arn(self.service, self.region, self.account_id, self.relative_id)


def format_arn(service: str, region: str, account_id: str, relative_id: str) -> str:
    """``acs:<service>:<region>:<account-id>:<relative-id>``."""
    return f"acs:{service}:{region}:{account_id}:{relative_id}"


def parse_arn(text: str, *, param: str = "Arn") -> Arn:
    """Split an ARN into its parts; a malformed one raises ``InvalidParameter.<param>``."""
    parts = text.split(":", 4)
    if len(parts) != 5 or parts[0].lower() != "acs" or not parts[1] or not parts[4]:
        raise InvalidParameter(
            param, f"{_clip(text)!r} is not an ARN (acs:<service>:<region>:<account>:<id>)"
        )
    _, service, region, account_id, relative_id = parts
    return Arn(service.lower(), region, account_id, relative_id)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- wildcard matchers --------------------------------------------------------------------------------------


def has_wildcards(pattern: str) -> bool:
    """True when ``pattern`` contains ``*`` or ``?``."""
    return "*" in pattern or "?" in pattern


def literal_prefix(pattern: str) -> str:
    """The text before the first wildcard: every string the pattern matches starts with it."""
    ends = [i for i in (pattern.find("*"), pattern.find("?")) if i >= 0]
    return pattern[: min(ends)] if ends else pattern


def _always(_: str) -> bool:
    return True


def _segment_regex(segment: str) -> str:
    return "".join("." if ch == "?" else re.escape(ch) for ch in segment)


def _regex_matcher(segments: list[str]) -> Matcher:
    # segments are the pieces between '*'s. The first is anchored at the start and the last at the end;
    # each middle one is matched at its leftmost position and committed to (atomic group), which is always
    # optimal for fixed-length pieces and keeps the engine from backtracking across '*'s.
    if len(segments) == 1:
        body = _segment_regex(segments[0])
    else:
        middle = "".join(f"(?>.*?{_segment_regex(s)})" for s in segments[1:-1])
        body = _segment_regex(segments[0]) + middle + ".*" + _segment_regex(segments[-1])
    rx = re.compile(body, re.DOTALL)

    def match(text: str) -> bool:
        return rx.fullmatch(text) is not None

    return match


@lru_cache(maxsize=16384)
def compile_wildcard(pattern: str) -> Matcher:
    """A case-sensitive matcher for ``pattern`` (callers lower-case both sides for case-insensitivity).

    Identical patterns share one compiled matcher.
    """
    if not has_wildcards(pattern):
        return pattern.__eq__
    segments = re.sub(r"\*+", "*", pattern).split("*")
    if "?" not in pattern:
        if all(not s for s in segments):
            return _always
        if len(segments) == 2:
            head, tail = segments
            if not tail:
                return lambda text: text.startswith(head)
            if not head:
                return lambda text: text.endswith(tail)
            need = len(head) + len(tail)
            return lambda text: len(text) >= need and text.startswith(head) and text.endswith(tail)
    return _regex_matcher(segments)


# --- actions ------------------------------------------------------------------------------------------------


def action_service(action: str) -> str:
    """Lower-cased service code of an action (``ECS:Describe*`` → ``ecs``); the whole text if no ``:``."""
    return action.split(":", 1)[0].lower()


@dataclass(frozen=True, slots=True)
class ActionPattern:
    """A compiled ``Action`` entry. ``service`` is None when the service part holds wildcards."""

    pattern: str
    service: str | None
    match: Matcher = field(repr=False, compare=False)  # takes a lower-cased action


def compile_action(pattern: str) -> ActionPattern:
    """Compile an action pattern (matched case-insensitively)."""
    lowered = pattern.lower()
    service_part = lowered.split(":", 1)[0]
    service = None if has_wildcards(service_part) else service_part
    return ActionPattern(pattern, service, compile_wildcard(lowered))


def action_matches(pattern: str, action: str) -> bool:
    """One-off check of ``action`` against ``pattern`` (compiled patterns are cached)."""
    return compile_wildcard(pattern.lower())(action.lower())


# --- resources ----------------------------------------------------------------------------------------------


def _lower_head(text: str) -> tuple[str, str | None]:
    """Lower-case the ``acs:<service>:`` head; returns the text and the service (None when not an ARN)."""
    if text[:4].lower() != "acs:":
        return text, None
    end = text.find(":", 4)
    if end < 0:
        return text.lower(), text[4:].lower()
    return text[: end + 1].lower() + text[end + 1 :], text[4:end].lower()


def normalize_resource(resource: str) -> tuple[str, bool]:
    """The form a resource is matched in, and whether it is a RAM resource (then fully lower-cased)."""
    head_lowered, service = _lower_head(resource)
    if service == "ram":
        return resource.lower(), True
    return head_lowered, False


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    """A compiled ``Resource`` entry with a matcher per case rule."""

    pattern: str
    match_cs: Matcher = field(repr=False, compare=False)  # for non-RAM resources (head lower-cased)
    match_ci: Matcher = field(repr=False, compare=False)  # for RAM resources (fully lower-cased)
    is_any: bool  # the pattern matches every resource
    prefix_cs: str = field(repr=False, compare=False)  # literal start of the pattern, as match_cs sees it
    prefix_ci: str = field(repr=False, compare=False)  # the same for match_ci

    def matches(self, normalized: str, is_ram: bool) -> bool:
        """Match a resource already passed through :func:`normalize_resource`."""
        return self.match_ci(normalized) if is_ram else self.match_cs(normalized)


def _lower_pattern_head(pattern: str) -> str:
    """A pattern with its ``acs:<service>:`` head lower-cased, as requests are. With a ``:`` after the
    service field, that field is the service whatever wildcards it holds (``acs:O?S:`` is ``acs:o?s:``).
    Without one, a wildcard may reach past the service into the case-sensitive fields, so only ``acs:`` and
    the literal text before the first wildcard are lowered (``acs:*Secret*`` keeps its ``Secret``)."""
    if pattern[:4].lower() != "acs:":
        return pattern
    end = pattern.find(":", 4)
    if end >= 0:
        return pattern[: end + 1].lower() + pattern[end + 1 :]
    stop = 4
    while stop < len(pattern) and pattern[stop] not in "*?":
        stop += 1
    return pattern[:stop].lower() + pattern[stop:]


def compile_resource(pattern: str) -> ResourcePattern:
    """Compile a resource pattern under the case rules of spec decision 13."""
    head_lowered = _lower_pattern_head(pattern)
    lowered = pattern.lower()
    match_cs = compile_wildcard(head_lowered)
    return ResourcePattern(
        pattern,
        match_cs,
        compile_wildcard(lowered),
        match_cs is _always,
        literal_prefix(head_lowered),
        literal_prefix(lowered),
    )


def resource_matches(pattern: str, resource: str) -> bool:
    """One-off check of ``resource`` against ``pattern``."""
    return compile_resource(pattern).matches(*normalize_resource(resource))
