"""How ``ram`` commands print: tables and ``Key: value`` blocks for people, JSON for scripts.

Every command hands its result (RAM API shapes) to an :class:`Output`; with ``--json`` the result is printed
as one JSON document on stdout, otherwise as a table (lists) or aligned ``Key: value`` lines (one entity).
Errors go to stderr as ``Error: <Code>: <Message>`` (or a JSON object with ``--json``) and exit with status 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from .. import errors

__all__ = ["EXIT_ERROR", "Output", "format_table", "pretty_document"]

EXIT_ERROR = 1
_MAX_CELL = 60


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ")
    # Tables are for reading; --json gives every byte.
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table: a header, a rule, one line per row (``(none)`` when empty)."""
    if not rows:
        return "(none)"
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    return "\n".join(lines)


def pretty_document(text: str) -> str:
    """A stored policy document, indented for reading; as stored when Python's JSON cannot read it (an
    integer of thousands of digits, which the policy language accepts)."""
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def _format_block(entity: Mapping[str, Any]) -> str:
    width = max((len(key) for key in entity), default=0)
    lines = []
    for key, value in entity.items():
        if isinstance(value, Mapping | list):
            rendered = json.dumps(value, ensure_ascii=False)
        else:
            rendered = _cell(value) if not isinstance(value, str) else value
        lines.append(f"{key.rjust(width)}: {rendered}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Output:
    """Prints results and errors in the chosen style (``json_output``)."""

    json_output: bool = False

    def data(self, value: Any) -> None:
        """Print a JSON document (``--json``), else nothing: callers print their human form separately."""
        if self.json_output:
            click.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))

    def table(
        self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, key: str | None = None
    ) -> None:
        """A list: JSON ``{key: rows}`` (or the bare list) with ``--json``, else a table of ``columns``."""
        if self.json_output:
            self.data({key: list(rows)} if key else list(rows))
        else:
            click.echo(format_table(rows, columns))

    def entity(self, value: Mapping[str, Any], *, key: str | None = None) -> None:
        """One entity: JSON (``{key: value}`` when ``key``) or ``Key: value`` lines."""
        if self.json_output:
            self.data({key: dict(value)} if key else dict(value))
        else:
            click.echo(_format_block(value))

    def done(self, message: str, value: Mapping[str, Any] | None = None) -> None:
        """A change was made: a sentence for people, the API answer (or ``{}``) for scripts."""
        if self.json_output:
            self.data(dict(value or {}))
        else:
            click.echo(message)

    def say(self, message: str = "", *, err: bool = False) -> None:
        """Human-only text (suppressed with ``--json`` unless it goes to stderr)."""
        if err or not self.json_output:
            click.echo(message, err=err)

    def warn(self, message: str) -> None:
        """A warning on stderr (scripts parsing stdout are unaffected)."""
        click.echo(f"Warning: {message}", err=True)

    def fail(self, error: errors.RAMError) -> NoReturn:
        """Report an error and exit with status 1."""
        if self.json_output:
            body = {"Code": error.code, "Message": error.message}
            click.echo(json.dumps(body, ensure_ascii=False), err=True)
        else:
            click.echo(f"Error: {error.code}: {error.message}", err=True)
        raise SystemExit(EXIT_ERROR)

    def lines(self, items: Iterable[str]) -> None:
        """Human-only lines."""
        for item in items:
            self.say(item)
