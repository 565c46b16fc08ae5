"""ARNs and the wildcard patterns of the policy language.

An ARN is ``acs:<service>:<region>:<account-id>:<relative-id>``; the relative id may itself contain ``:``.

Wildcards (spec decision 2): ``*`` matches any run of characters (including none, ``:`` and ``/``), ``?``
exactly one character; every other character is literal. Patterns compile once into a plain callable
``str -> bool``; the common shapes (exact text, ``*`` alone, ``prefix*``, ``*suffix``, ``prefix*suffix``) are
answered with string methods. Otherwise one regular expression answers while len(text) x the longest piece
between ``*``s stays small (ordinary patterns and values: one C call). Beyond that the pieces, all of fixed
length, are found left to right, each at its leftmost place after the one before (always optimal for
fixed-length pieces): a literal piece with ``str.find`` (linear in the text), a piece holding ``?`` with the
regex engine while it has at most 64 characters, else with a bit-parallel scan (one step per character of
the text). A 6,000-character piece against a 64,000-character value thus takes under a millisecond when
literal and some tens of milliseconds when it holds ``?``, not len(text) x len(piece) regex steps (~0.5 s).

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


# (text, start, end) -> the leftmost index where the piece lies wholly within text[start:end], or -1
Finder = Callable[[str, int, int], int]

# The regex engine may try a piece at every position of the text, so it answers only while len(text) x the
# longest piece stays within this many steps (a few µs); beyond, the pieces are found one by one. Ordinary
# patterns and texts stay far below it and keep the single C call.
_REGEX_STEPS = 4096
# Up to this length a piece holding '?' is searched by the regex engine even in a long text: trying it at
# every position costs about what the bit-parallel scan spends per character anyway.
_SHORT_PIECE = 64


def _segment_regex(segment: str) -> str:
    return "".join("." if ch == "?" else re.escape(ch) for ch in segment)


def _bit_parallel_finder(piece: str) -> Finder:
    """Shift-And: bit j of ``state`` says piece[:j+1] ends at the current character. Linear in the text."""
    any_char = sum(1 << j for j, ch in enumerate(piece) if ch == "?")
    masks: dict[str, int] = {}
    for j, ch in enumerate(piece):
        if ch != "?":
            masks[ch] = masks.get(ch, any_char) | 1 << j
    size, top = len(piece), 1 << (len(piece) - 1)

    def find(text: str, start: int, end: int) -> int:
        state, get = 0, masks.get
        for i, ch in enumerate(text[start:end], start):
            state = (state << 1 | 1) & get(ch, any_char)
            if state >= top:  # the masks keep state below 2 * top
                return i - size + 1
        return -1

    return find


def _piece_finder(piece: str, short_piece: int) -> Finder | None:
    """None for a literal piece (the caller uses str.find, linear); else a finder for a piece with '?'."""
    if "?" not in piece:
        return None
    if len(piece) > short_piece:
        return _bit_parallel_finder(piece)
    rx = re.compile(_segment_regex(piece), re.DOTALL)

    def find(text: str, start: int, end: int) -> int:
        found = rx.search(text, start, end)
        return -1 if found is None else found.start()

    return find


def _pieces_scan(segments: list[str], short_piece: int = _SHORT_PIECE) -> Matcher:
    """The first segment anchored at the start, the last at the end, each middle one found at its leftmost
    place after the one before. ``short_piece`` is the longest piece with '?' left to the regex engine."""
    head, *middle, tail = segments
    need = sum(map(len, segments))
    head_size, tail_size = len(head), len(tail)
    head_rx = re.compile(_segment_regex(head), re.DOTALL) if "?" in head else None
    tail_rx = re.compile(_segment_regex(tail), re.DOTALL) if "?" in tail else None
    pieces = [(piece, len(piece), _piece_finder(piece, short_piece)) for piece in middle]

    def scan(text: str) -> bool:
        end = len(text) - tail_size
        if len(text) < need:
            return False
        if not (text.startswith(head) if head_rx is None else head_rx.match(text) is not None):
            return False
        if not (text.endswith(tail) if tail_rx is None else tail_rx.match(text, end) is not None):
            return False
        start = head_size
        for piece, size, find in pieces:
            found = text.find(piece, start, end) if find is None else find(text, start, end)
            if found < 0:
                return False
            start = found + size
        return True

    return scan


def _pieces_matcher(segments: list[str]) -> Matcher:
    """Segments are the pieces between '*'s (at least two)."""
    # One regex: each middle piece at its leftmost position, committed to (atomic group), so the engine
    # never backtracks across '*'s; it still tries a piece at every position, hence the length limit.
    middle = "".join(f"(?>.*?{_segment_regex(s)})" for s in segments[1:-1])
    rx = re.compile(_segment_regex(segments[0]) + middle + ".*" + _segment_regex(segments[-1]), re.DOTALL)
    short = _REGEX_STEPS // max(map(len, segments))
    fullmatch, scan = rx.fullmatch, _pieces_scan(segments)

    def match(text: str) -> bool:
        if len(text) <= short:
            return fullmatch(text) is not None
        return scan(text)

    return match


# Patterns up to this length are compiled once per process and shared. A longer one may compile to a large
# matcher (one piece finder per '*'), and patterns come from callers too (AssumeRole's session policy is
# parsed before the caller is authorised): its matcher lives only as long as the policy holding it.
_SHARED_PATTERN = 256


def compile_wildcard(pattern: str) -> Matcher:
    """A case-sensitive matcher for ``pattern`` (callers lower-case both sides for case-insensitivity).

    Identical patterns of ordinary length share one compiled matcher.
    """
    return _shared_matcher(pattern) if len(pattern) <= _SHARED_PATTERN else _compile_wildcard(pattern)


def _compile_wildcard(pattern: str) -> Matcher:
    if not has_wildcards(pattern):
        return pattern.__eq__
    segments = re.sub(r"\*+", "*", pattern).split("*")
    if len(segments) == 1:  # '?' but no '*': one fixed-length piece, compared in one pass
        rx = re.compile(_segment_regex(pattern), re.DOTALL)
        return lambda text: rx.fullmatch(text) is not None
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
    return _pieces_matcher(segments)


_shared_matcher = lru_cache(maxsize=16384)(_compile_wildcard)


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
