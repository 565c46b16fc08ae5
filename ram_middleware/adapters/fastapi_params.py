"""FastAPI's typed parameters: the check must read a resource's value as the endpoint will receive it.

FastAPI converts path and query parameters to the types the endpoint declares (``iid: int``, ``UUID``,
an ``Enum``, a stripped string) after the middleware has filled the resource template from their text.
``/instances/01`` would then be checked as ``instance/01`` while the endpoint deletes instance ``1``, past
a Deny on ``instance/1``. For every placeholder that names such a parameter the middleware validates the
text as FastAPI will and refuses the request (400 ``InvalidParameter.<Name>``) unless the value, written
back as text (an ``Enum`` by its value; each item of a list, set or tuple), is exactly what was sent:
``1``, never ``01``, ``+1`` or ``1_0``.
A value FastAPI cannot read at all is left to FastAPI, which answers 422 without running the endpoint.
Parameters FastAPI reads under another name (``validation_alias``, query models) are not matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from starlette.datastructures import QueryParams

from .. import errors
from ..facts import RequestFacts
from ..routes import PathParams, Rule

__all__ = ["Misread", "misread", "names", "template_fields"]


def names(rule: Rule) -> set[str]:
    """The placeholders of ``rule``'s resources that a request fills (all but ``account``)."""
    templates = getattr(rule, "templates", None) or (getattr(rule, "template", None),)  # RpcApi: several
    return {name for template in templates for name in getattr(template, "names", ())} - {"account"}


def template_fields(rule: Rule, dependant: Any) -> tuple[Any, ...]:
    """The FastAPI path/query parameters (``ModelField``) that fill a placeholder of ``rule``'s resource:
    every one, as the endpoint and each dependency read a parameter with their own type (``iid: str`` in
    the one, ``iid: int`` in the other)."""
    found: list[Any] = []
    if wanted := names(rule):
        _collect(dependant, wanted, found)
    return tuple(found)


def _collect(dependant: Any, names: set[str], found: list[Any]) -> None:
    for field in (*getattr(dependant, "path_params", ()), *getattr(dependant, "query_params", ())):
        if field.alias in names:
            found.append(field)
    for dependency in getattr(dependant, "dependencies", ()):
        _collect(dependency, names, found)


class Misread:
    """The rule of a request whose parameter FastAPI would read as another value: refused once the caller
    is authenticated, as a missing parameter is."""

    public = False

    def __init__(self, name: str, canonical: str) -> None:
        self.name, self.canonical = name, canonical

    def resolve(self, facts: RequestFacts, path_params: PathParams, account_id: str) -> tuple[str, str]:
        raise errors.InvalidParameter(
            self.name, f"The {self.name} value reaches the endpoint as {self.canonical[:64]!r}: send it so."
        )


def misread(
    fields: tuple[Any, ...], path_params: Mapping[str, str], scope: Mapping[str, Any]
) -> Misread | None:
    """A :class:`Misread` for the first field whose text FastAPI would turn into another value."""
    query: QueryParams | None = None
    for field in fields:
        raw = path_params.get(field.alias)
        if raw is None:
            query = query if query is not None else QueryParams(scope.get("query_string", b""))
            raw = query.get(field.alias)
            if raw is None:
                continue
        # A list, set or tuple parameter FastAPI validates from all the values given (the check takes one,
        # refusing others that differ): validated as the bare text it fails, and would pass unchecked.
        many = _is_sequence(field)
        value, problems = field.validate([raw] if many else raw, {}, loc=("query", field.alias))
        if problems:
            continue  # FastAPI answers 422: the endpoint never runs
        for item in value if many else (value,):
            text = str(item.value if isinstance(item, Enum) else item)
            if text != raw:
                return Misread(field.alias, text)
    return None


def _is_sequence(field: Any) -> bool:
    """Whether FastAPI reads ``field`` from every value of its name (``list[int]``), as its own test says."""
    from fastapi._compat import field_annotation_is_sequence  # only FastAPI's fields come here

    return bool(field_annotation_is_sequence(field.field_info.annotation))
