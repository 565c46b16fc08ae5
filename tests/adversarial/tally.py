"""Counts every fuzz case the adversarial suite sends, for the session-finish summary line."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Fuzz cases by target and by status class; ``server_errors`` are the 5xx (should stay 0)."""

    cases: int = 0
    server_errors: int = 0
    by_target: Counter[str] = field(default_factory=Counter)
    by_class: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)

    def record(self, target: str, status: int, code: str | None = None) -> None:
        self.cases += 1
        if code:
            self.codes[code] += 1
        self.by_target[target] += 1
        self.by_class[f"{status // 100}xx"] += 1
        if status >= 500:
            self.server_errors += 1

    def summary(self) -> str:
        return f"adversarial: {self.cases} fuzz cases, {self.server_errors} 5xx"

    def details(self) -> str:
        targets = ", ".join(f"{name} {count}" for name, count in sorted(self.by_target.items()))
        classes = ", ".join(f"{name} {count}" for name, count in sorted(self.by_class.items()))
        distinct = len(self.codes)
        return f"adversarial: by target: {targets}; by status: {classes}; distinct error codes: {distinct}"

    def code_lines(self) -> str:
        return "adversarial: error codes seen: " + ", ".join(
            f"{code} {count}" for code, count in self.codes.most_common()
        )


TALLY = Tally()
