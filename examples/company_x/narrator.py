"""How the walkthrough tells its story: steps, and one entry per request — who, what, decision, and why.

The *why* comes from the servers' own audit logs (JSON lines): each request's event names the deciding
policy and statement, or the condition that failed, or why the credential was refused. Each request also
says what the story expects; a decision that differs is flagged and counted, so the walkthrough doubles as
an end-to-end check (exit status 1 when anything was unexpected).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from .callers import Answer

__all__ = ["AuditLog", "Narrator"]

Expect = Literal["Allow", "Deny"]
_WIDTH = 100


class AuditLog:
    """Reads the events a server appended to its JSON-lines audit file since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def skip(self) -> None:
        """Forget everything written so far."""
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def new_events(self) -> list[dict[str, Any]]:
        """Events written since the last call (the sink flushes each event before the answer is sent)."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as stream:
            stream.seek(self._offset)
            data = stream.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


@dataclass
class Narrator:
    """Prints the story; counts requests and surprises."""

    out: TextIO = sys.stdout
    color: bool = field(default_factory=lambda: sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    requests: int = 0
    surprises: list[str] = field(default_factory=list)
    last_events: list[dict[str, Any]] = field(default_factory=list)
    _last_reason: str = ""

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def step(self, number: int, title: str, blurb: str) -> None:
        heading = f"== Step {number}: {title} "
        self.out.write(f"\n{self._paint(heading + '=' * max(4, _WIDTH - len(heading)), '1')}\n")
        for line in _wrap(blurb):
            self.out.write(f"{line}\n")
        self.out.flush()

    def raw(self, text: str) -> None:
        """One indented line, not wrapped (machine text such as an audit event)."""
        self.out.write(f"  {text}\n")
        self.out.flush()

    def say(self, text: str) -> None:
        for line in _wrap(text, indent="  "):
            self.out.write(f"{line}\n")
        self.out.flush()

    def request(
        self,
        who: str,
        what: str,
        where: str,
        answer: Answer,
        events: list[dict[str, Any]],
        expect: Expect,
        *,
        compact: bool = False,
    ) -> Answer:
        """One request: who asked for what (from where/when), the decision and its reason.

        ``compact``: one line, with the reason only when it differs from the previous compact entry's
        (a run of administrative calls allowed by the same statement reads as a list).
        """
        self.requests += 1
        verdict, reason = _explain(answer, events)
        allowed = verdict == "ALLOW"
        painted = self._paint(verdict, ("32" if allowed else "31") + ";1")
        if compact:
            self.out.write(f"  {who:<16} {what:<58} {painted}\n")
            if reason != self._last_reason:
                self.out.write(f"  {'':<16} {self._paint('because: ' + reason, '2')}\n")
        else:
            context = f"  [{where}]" if where else ""
            self.out.write(f"  {who:<16} {what}{context}\n")
            self.out.write(f"  {'':<16} {painted}  {reason}\n")
        self._last_reason = reason if compact else ""
        if allowed != (expect == "Allow"):
            note = f"{who} {what}: expected {expect.upper()}, got {verdict}"
            self.surprises.append(note)
            self.out.write(f"  {'':<16} {self._paint('!! UNEXPECTED: ' + note, '33;1')}\n")
        self.out.flush()
        return answer

    def traced(
        self,
        audit: AuditLog,
        who: str,
        what: str,
        where: str,
        call: Callable[[], Answer],
        expect: Expect,
        *,
        compact: bool = False,
    ) -> Answer:
        """Make the call, then report it with the audit events it produced."""
        audit.skip()
        answer = call()
        self.last_events = audit.new_events()
        return self.request(who, what, where, answer, self.last_events, expect, compact=compact)


def _explain(answer: Answer, events: list[dict[str, Any]]) -> tuple[str, str]:
    event = events[-1] if events else None
    if answer.ok:
        reason = str(event.get("reason", "")) if event else "allowed"
        return "ALLOW", reason
    if event is None or event.get("decision") == "Allow":
        # Policies allowed it but the service said no (e.g. dependents still exist): its own error.
        return "FAILED", f"({answer.code}) {answer.message}"
    label = "REFUSED" if event.get("decision") == "Rejected" else "DENY"
    reason = str(event.get("reason") or answer.message)
    return label, f"({event.get('code') or answer.code}) {reason}"


def _wrap(text: str, indent: str = "") -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words, line = paragraph.split(), indent
        for word in words:
            if len(line) + len(word) + 1 > _WIDTH and line.strip():
                lines.append(line.rstrip())
                line = indent
            line += word + " "
        lines.append(line.rstrip())
    return lines
