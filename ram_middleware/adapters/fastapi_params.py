"""FastAPI's typed parameters: the check must read a resource's value as the endpoint will receive it.

FastAPI converts path, query and form parameters to the types the endpoint declares (``iid: int``,
``UUID``, an ``Enum``, a stripped string, ``Json[list[int]]``) after the middleware has filled the resource
template from their text. ``/instances/01`` would then be checked as ``instance/01`` while the endpoint
deletes instance ``1``, past a Deny on ``instance/1``. For every placeholder that names such a parameter
the middleware reads the request as FastAPI will (FastAPI's own extraction and validation) and refuses it
(400 ``InvalidParameter.<Name>``) unless the value, written back as text (an ``Enum`` by its value; each
item of a list, set or tuple), is exactly the text the resource was filled with: ``1``, never ``01``,
``+1``, ``1_0`` or ``[1]``.
A parameter is matched by every name FastAPI may read it under: its alias, a ``validation_alias`` (each of
``AliasChoices``), its own name when its model validates by name too, and the fields of a query or form
model (``Annotated[Filters, Query()]``); read under another name than the placeholder's, it must still hold
the checked value. Form fields are held once the body is read (the rule is wrapped in :class:`Held`), path
and query parameters before that, from the scope. A multipart body, which the check never parses, is
refused on a route whose form field fills a placeholder (400 ``InvalidParameter.<Name>``).
A value FastAPI cannot read at all is left to FastAPI, which answers 422 without running the endpoint.
A placeholder that the endpoint reads only from a JSON body (``Body()``, a field of a body model), a
``Header()`` or a ``Cookie()`` is a :class:`~ram_middleware.routes.RouteConfigurationError`: the check,
which reads path, query and form parameters, would take it from a query the endpoint never reads.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator, Mapping
from enum import Enum
from typing import Any

from starlette.datastructures import FormData, QueryParams

from .. import errors
from ..facts import RequestFacts
from ..routes import PathParams, RouteConfigurationError, Rule

__all__ = ["Held", "Misread", "hold", "misread", "names", "template_fields"]


def names(rule: Rule) -> set[str]:
    """The placeholders of ``rule``'s resources that a request fills (all but ``account``)."""
    templates = getattr(rule, "templates", None) or (getattr(rule, "template", None),)  # RpcApi: several
    return {name for template in templates for name in getattr(template, "names", ())} - {"account"}


_Part = tuple[str | None, tuple[str, ...], frozenset[str]]


class _Param:
    """A FastAPI parameter (``ModelField``) that fills a placeholder: ``parts`` are the values the endpoint
    reads from it, each (attribute of a model's value or None, placeholders it may fill, every request
    name it may be read under)."""

    __slots__ = ("field", "kind", "parts")

    def __init__(
        self, field: Any, kind: str, parts: tuple[tuple[str | None, tuple[str, ...], frozenset[str]], ...]
    ):
        self.field, self.kind, self.parts = field, kind, parts


def template_fields(rule: Rule, dependant: Any) -> tuple[_Param, ...]:
    """The FastAPI path, query and form parameters that fill a placeholder of ``rule``'s resource: every
    one, as the endpoint and each dependency read a parameter with their own type (``iid: str`` in the
    one, ``iid: int`` in the other)."""
    found: list[_Param] = []
    if wanted := names(rule):
        elsewhere: set[str] = set()
        _collect(dependant, wanted, found, elsewhere)
        filled = {name for param in found for _, placeholders, _ in param.parts for name in placeholders}
        if unread := sorted(elsewhere - filled):
            # The check would fill it from the query, which the endpoint never reads: a caller could name
            # one resource there and another in the part of the request the endpoint acts on.
            raise RouteConfigurationError(
                f"the RAM resource {rule!r} names {', '.join(unread)}, which the endpoint reads from a JSON "
                "body, a header or a cookie only, and the check reads path, query and form parameters: "
                "declare it as one of those"
            )
    return tuple(found)


def _collect(dependant: Any, wanted: set[str], found: list[_Param], elsewhere: set[str]) -> None:
    """Adds to ``found`` the path, query and form parameters filling a placeholder of ``wanted``, and to
    ``elsewhere`` those of ``wanted`` that a JSON body parameter (or a field of its model), a header or a
    cookie is read under."""
    from fastapi import params  # only FastAPI's dependants come here

    for field in (
        *getattr(dependant, "path_params", ()),
        *getattr(dependant, "query_params", ()),
        *getattr(dependant, "body_params", ()),
        *getattr(dependant, "header_params", ()),
        *getattr(dependant, "cookie_params", ()),
    ):
        info = field.field_info
        kind = (
            "path" if isinstance(info, params.Path) else "form" if isinstance(info, params.Form) else "query"
        )
        model = _model(field)
        own = (None, _names(field.name, info, getattr(field, "config", None) or {}, field.alias))
        if model is None:
            parts = [own]
        else:
            parts = [
                (name, _names(name, sub, model.model_config)) for name, sub in model.model_fields.items()
            ]
        if kind == "query" and not isinstance(info, params.Query):  # a JSON body, a header, a cookie
            for _, keys in (own, *parts):  # under its own name (embedded), or a model's fields at the top
                elsewhere.update(keys & wanted)
            continue
        held = tuple((attr, tuple(sorted(keys & wanted)), keys) for attr, keys in parts if keys & wanted)
        if held:
            found.append(_Param(field, kind, held))
    for dependency in getattr(dependant, "dependencies", ()):
        _collect(dependency, wanted, found, elsewhere)


def _model(field: Any) -> Any:
    """The model of a query or form model parameter (``Annotated[Filters, Query()]``), else None."""
    from pydantic import BaseModel, Json

    if any(type(item) is Json for item in field.field_info.metadata):
        return None  # a JSON text, read as one value
    annotation = field.field_info.annotation
    choices = getattr(annotation, "__args__", None) if not isinstance(annotation, type) else None
    for choice in (annotation, *(choices or ())):  # Filters | None
        if isinstance(choice, type) and issubclass(choice, BaseModel):
            return choice
    return None


def _names(name: str, info: Any, config: Mapping[str, Any], alias: str | None = None) -> frozenset[str]:
    """Every request name FastAPI (through pydantic) may read a field under."""
    from pydantic import AliasChoices

    found = {alias or info.alias or name}
    given = info.validation_alias
    if isinstance(given, str):
        found = {given}
    elif isinstance(given, AliasChoices):
        found = {choice for choice in given.choices if isinstance(choice, str)}
    if config.get("populate_by_name") or config.get("validate_by_name"):
        found.add(name)
    return frozenset(found)


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


class Held:
    """``rule``, holding form fields to the values the endpoint reads once the body is read. It is
    ``rule`` for the rest (``RequirePermission`` compares :attr:`rule`)."""

    def __init__(self, rule: Rule, fields: tuple[_Param, ...]) -> None:
        self.rule, self.fields = rule, fields

    def __getattr__(self, name: str) -> Any:  # public, get_changes_state, ...
        return getattr(self.rule, name)

    def __repr__(self) -> str:
        return repr(self.rule)

    @property
    def public(self) -> bool:
        return self.rule.public

    def resolve(self, facts: RequestFacts, path_params: PathParams, account_id: str) -> Any:
        if facts.is_multipart:  # which the check never parses: the endpoint could read any value from it
            name = self.fields[0].parts[0][1][0]
            raise errors.InvalidParameter(
                name, f"The {name} parameter cannot come from a multipart/form-data body: send the body "
                "url-encoded.",
            )  # fmt: skip
        form = FormData(list(facts.form_pairs))
        for param in self.fields:
            value = _read_form(param.field, form)
            wrong = _misread(param, value, form, lambda name: path_params.get(name) or facts.params.get(name))
            if wrong is not None:
                wrong.resolve(facts, path_params, account_id)
        return self.rule.resolve(facts, path_params, account_id)


def hold(rule: Rule, fields: tuple[_Param, ...]) -> tuple[Rule, tuple[_Param, ...]]:
    """``rule`` wrapped to hold its form fields (see :class:`Held`), and the fields held before that."""
    form = tuple(param for param in fields if param.kind == "form")
    if not form:
        return rule, fields
    return Held(rule, form), tuple(param for param in fields if param.kind != "form")


def misread(
    fields: tuple[_Param, ...], path_params: Mapping[str, str], scope: Mapping[str, Any]
) -> Misread | None:
    """A :class:`Misread` for the first path or query field FastAPI would turn into another value."""
    from fastapi.dependencies.utils import request_params_to_args

    parsed: list[QueryParams] = []  # parsed once, and only when needed (path parameters seldom need it)

    def query() -> QueryParams:
        if not parsed:
            parsed.append(QueryParams(scope.get("query_string", b"")))
        return parsed[0]

    def checked(name: str) -> str | None:  # the text the template is filled with
        return path_params.get(name) or query().get(name)

    for param in fields:
        source: Mapping[str, Any] = path_params if param.kind == "path" else query()
        values, problems = request_params_to_args([param.field], source)
        if not problems and (wrong := _misread(param, values.get(param.field.name), source, checked)):
            return wrong
    return None


def _misread(param: _Param, value: Any, source: Mapping[str, Any], checked: Any) -> Misread | None:
    """A :class:`Misread` when a value the endpoint reads from ``param`` is not the text checked."""
    if value is None:
        return None  # FastAPI answers 422, or the parameter is absent
    for attr, placeholders, keys in param.parts:
        if not any(key in source for key in keys):
            continue  # not read from the request: a default
        read = value if attr is None else getattr(value, attr, None)
        for name in placeholders:
            text = checked(name)
            if text is None:
                continue  # the template refuses the request: MissingParameter
            for item in _items(read):
                written = str(item.value if isinstance(item, Enum) else item)
                if written != text:
                    return Misread(name, written)
    return None


def _items(value: Any) -> Iterator[Any]:
    if isinstance(value, (list, set, tuple, frozenset)):
        yield from value
    else:
        yield value


def _read_form(field: Any, form: FormData) -> Any:
    """The value FastAPI gives the endpoint for form ``field`` (None when it could not read it)."""
    from fastapi.dependencies.utils import _should_embed_body_fields, request_body_to_args

    reading = request_body_to_args([field], form, _should_embed_body_fields([field]))
    values, problems = _run(reading)
    return None if problems else values.get(field.name)


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that does not wait: FastAPI's body reading awaits only an uploaded file,
    which a url-encoded form never holds."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    return {}, [{"type": "waits"}]  # read as unreadable: FastAPI decides
