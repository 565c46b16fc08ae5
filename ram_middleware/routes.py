"""Route declarations: which RAM action and resource a request asks for.

Three ways to declare them, all producing a :class:`Rule`:

* :class:`RouteRule` — one action and a resource template per route, e.g.
  ``RouteRule("ecs:DescribeInstance", "acs:ecs:{RegionId}:{account}:instance/{InstanceId}")``. Placeholders
  are filled from the route's path parameters first, then the decoded query/form parameters; ``{account}``
  is always the caller's account and cannot be supplied by the request (a route that captures an
  ``account`` path parameter, or a request with a query or form parameter ``account``, must name the
  caller's own, 400 ``InvalidParameter.account`` otherwise: its endpoint would act in the account it
  names). When the Host names a bucket (``oss_domains``/``oss_cnames``, see
  :mod:`ram_middleware.credentials.oss`), ``{bucket}`` is that
  bucket, ahead of the query, and a route capturing another one is refused; an OSS-signed request whose
  Host names none takes ``{bucket}`` from the route only. A missing value is a 400
  ``MissingParameter.<Name>``; a parameter given twice with different values, taken from the query of a
  multipart request, or holding a separator that would shift the resource (see
  :class:`ResourceTemplate`) is a 400 ``InvalidParameter.<Name>``.
* :class:`RpcApi` — RPC-style APIs (one endpoint, ``Action``/``Version`` parameters or the V3 headers
  ``x-acs-action``/``x-acs-version``): the action is ``<service>:<Action>``, the resource a per-action
  template or a default one.
* :class:`RouteTable` — method + path pattern → rule, for apps whose code you cannot decorate.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from . import errors
from .facts import RequestFacts

__all__ = [
    "PUBLIC",
    "AuthenticateOnly",
    "HostValue",
    "InvalidAction",
    "InvalidVersion",
    "OpaqueValue",
    "PathParams",
    "ResourceTemplate",
    "RouteConfigurationError",
    "RouteMatch",
    "RouteRule",
    "RouteTable",
    "RpcApi",
    "Rule",
    "UnsignedValue",
    "declared_rule",
    "path_texts",
    "public",
    "route_rule",
    "rule_from",
]

RULE_ATTRIBUTE = "__ram_rule__"
_F = TypeVar("_F", bound=Callable[..., Any])

PathParams = Mapping[str, str]
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}")


class RouteConfigurationError(RuntimeError):
    """The app's routes cannot be protected as declared (an adapter found a route it cannot read, or one
    declaring two rules); a 500 for the caller, the details in the exception only."""


class OpaqueValue(str):
    """A path parameter an adapter cannot render as text (a custom converter's list): present, so that no
    query or form parameter stands in for it, and a :class:`RouteConfigurationError` for any template that
    names it. Its text is the type of the value."""

    __slots__ = ()


class HostValue(str):
    """A path parameter the route read from the Host (a Starlette ``Host`` route, a Flask ``host`` or
    ``subdomain`` rule): it binds the resource only under a signature that covers the Host; under ROA and
    RPC v1 the authorizer turns it into an :class:`UnsignedValue`, as it does an OSS bucket the Host names."""

    __slots__ = ()


class UnsignedValue(str):
    """A placeholder's value taken from a part of the request its signature does not cover (the Host, for
    ROA and RPC v1): present, so that no query or form parameter stands in for it, and refused with
    ``InvalidParameter`` by any template that names it."""

    __slots__ = ()


def path_texts(values: Mapping[str, object] | None) -> dict[str, str]:
    """A framework's converted path parameters as the text a resource template takes: text, numbers and
    UUIDs as ``str()`` gives them (what the endpoint holds); anything else (a custom converter's list) has
    no single text a resource could name, and checked as its repr it would match no Deny written for the
    resource, so it becomes an :class:`OpaqueValue` that a template naming it refuses."""
    texts: dict[str, str] = {}
    if not values:
        return texts
    for name, value in values.items():  # a loop, and text kept as is: this runs on every routed request
        if value.__class__ is str:
            texts[name] = value
        else:
            texts[name] = str(value) if isinstance(value, _TEXT_TYPES) else OpaqueValue(type(value).__name__)
    return texts


_TEXT_TYPES = (str, int, float, uuid.UUID)  # a tuple built once: ``str | int …`` is built at each use


class InvalidAction(errors.RAMError):
    """The RPC ``Action`` is malformed or not one the API declares (Alibaba: ``InvalidAction.NotFound``)."""

    default_code = "InvalidAction.NotFound"
    default_status = 404
    default_message = "Specified api is not found, please check your url and method."


class InvalidVersion(errors.RAMError):
    """The RPC ``Version`` is not one the API serves (Alibaba's gateway: ``InvalidVersion``, 400)."""

    default_code = "InvalidVersion"
    default_status = 400
    default_message = "Specified parameter Version is not valid."


@dataclass(frozen=True, slots=True)
class AuthenticateOnly:
    """What :meth:`Rule.resolve` answers for a request that needs only a valid credential but has a name,
    for its audit event (``sts:GetCallerIdentity``): no policy is evaluated. Not a tuple on purpose, so
    code that knows only (action, resource) targets cannot mistake it for one it authorized."""

    action: str
    resource: str | None = None


@runtime_checkable
class Rule(Protocol):
    """What a route asks for. ``public`` routes skip authentication and authorization entirely."""

    @property
    def public(self) -> bool: ...

    def resolve(
        self, facts: RequestFacts, path_params: PathParams, account_id: str
    ) -> tuple[str, str] | AuthenticateOnly | None:
        """(action, resource) for this request, the caller belonging to ``account_id``; None (or an
        :class:`AuthenticateOnly` naming it) when what the request turned out to be needs only a valid
        credential (no policy is evaluated)."""
        ...


_LITERAL, _HEAD, _MIDDLE, _LAST = range(4)  # ResourceTemplate part kinds


class ResourceTemplate:
    """A resource ARN with ``{Name}`` placeholders, parsed once.

    A value cannot move text into another part of the resource, where a policy's ``*`` (which spans ``:``
    and ``/``) would match what the app never acts on: a placeholder in an ARN's service, region or
    account field refuses ``:`` (and ``*`` and ``?``, which an app might read as "all"), and a placeholder
    followed by another one refuses ``:`` and ``/`` from query or form parameters (a path parameter holds
    ``/`` only when its route says ``{name:path}``). The last placeholder takes any value: object keys
    hold both. Refused: 400 ``InvalidParameter.<Name>``.
    """

    __slots__ = ("_parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[tuple[int, str]] = []  # (kind, literal text or name)
        position = 0
        arn = text[:4].lower() == "acs:"  # as the policy matcher reads it
        for match in _PLACEHOLDER.finditer(text):
            parts.append((_LITERAL, text[position : match.start()]))
            head = arn and text.count(":", 0, match.start()) < 4
            parts.append((_HEAD if head else _MIDDLE, match.group(1)))
            position = match.end()
        parts.append((_LITERAL, text[position:]))
        names = [index for index, (kind, _) in enumerate(parts) if kind == _MIDDLE]
        if names:
            parts[names[-1]] = (_LAST, parts[names[-1]][1])
        self._parts = tuple(part for part in parts if part[0] != _LITERAL or part[1])

    def __repr__(self) -> str:
        return f"ResourceTemplate({self.text!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(text for kind, text in self._parts if kind != _LITERAL)

    def fill(self, facts: RequestFacts, path_params: Mapping[str, str], account_id: str) -> str:
        """The resource for one request; raises ``MissingParameter.<Name>`` for an absent value and
        ``InvalidParameter.<Name>`` for one that would reach into another part of the resource."""
        if len(self._parts) == 1 and self._parts[0][0] == _LITERAL:
            return self.text
        pieces = []
        for kind, text in self._parts:
            if kind == _LITERAL:
                pieces.append(text)
            elif text == "account":  # the caller's, never the request's: it could name any account
                pieces.append(_callers_account(facts, path_params, account_id))
            else:
                pieces.append(_lookup(kind, text, facts, path_params))
        return "".join(pieces)


def _callers_account(facts: RequestFacts, path_params: Mapping[str, str], account_id: str) -> str:
    """``account_id``, which a route capturing ``{account}``, or a query or form parameter ``account``,
    must name too: the endpoint receives that account (a FastAPI ``account: str`` is either) and would act
    in it, while the check, in the caller's own account, never looked at it."""
    named = path_params.get("account")
    if named is None:
        named = _single_param(facts, "account")
    if named is not None and named != account_id:
        raise errors.InvalidParameter(
            "account", "The account the request names is not the caller's; a resource is checked in the "
            "caller's own account.",
        )  # fmt: skip
    return account_id


def _lookup(kind: int, name: str, facts: RequestFacts, path_params: Mapping[str, str]) -> str:
    value = path_params.get(name)
    if type(value) is OpaqueValue:
        raise RouteConfigurationError(
            f"route variable {name!r} converts to a {value}; resources take text, numbers and UUIDs"
        )
    if type(value) is UnsignedValue:
        raise errors.InvalidParameter(
            name, f"The {name} is named by the Host, which this signature does not cover: sign with ACS3, "
            "OSS or SigV4, or address it in the path.",
        )  # fmt: skip
    from_request = value is None
    if from_request:
        value = _single_param(facts, name)
    if not value:
        raise errors.MissingParameter(
            name, f"The input parameter {name} that is mandatory for processing this request is not supplied."
        )
    if kind == _HEAD:
        if "*" in value or "?" in value:
            # Checked literally, but an app may read "*" as "every region": it would then act where a Deny
            # on one region never met the request. No service, region or account holds one.
            raise errors.InvalidParameter(
                name, f"The {name} parameter holds a wildcard, which no service, region or account names."
            )
        reach = ":" in value
    else:
        reach = kind == _MIDDLE and from_request and (":" in value or "/" in value)
    if reach:
        raise errors.InvalidParameter(
            name, f"The {name} parameter holds a ':' or '/' that would name another part of the resource."
        )
    return value


@dataclass(frozen=True, slots=True)
class RouteRule:
    """One action on a resource template; ``RouteRule(public=True)`` (:data:`PUBLIC`) marks an open route."""

    action: str = ""
    resource: str = "*"
    public: bool = False
    template: ResourceTemplate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.public and ":" not in self.action:
            raise errors.InvalidParameter(
                "Action", f"A route action is written service:Action, got {self.action[:64]!r}."
            )
        if not self.public and self.action.startswith("acs:"):  # no service is named "acs": a resource
            raise errors.InvalidParameter(
                "Action", f"A route action is written service:Action, got the resource {self.action[:64]!r}: "
                "the arguments are (action, resource).",
            )  # fmt: skip
        object.__setattr__(self, "template", ResourceTemplate(self.resource))

    def resolve(self, facts: RequestFacts, path_params: PathParams, account_id: str) -> tuple[str, str]:
        return self.action, self.template.fill(facts, path_params, account_id)


PUBLIC = RouteRule(public=True)
"""The rule of a route anybody may call without a credential."""


class RpcApi:
    """An RPC-style API: ``Action`` (query/form) or ``x-acs-action`` (header) → action ``<service>:<Action>``.

    ``resources`` maps an Action name (in any case, as policies match actions) to its resource template;
    others use ``resource``. With ``actions`` given, any other Action is refused with
    ``InvalidAction.NotFound`` before authorization; with ``version`` given, a different ``Version`` is
    refused with ``InvalidVersion``.

    ``get_changes_state``: an RPC call made by GET may change state, so a console session (a cookie the
    browser also sends on a cross-site navigation) may make one only from this site's own pages; see
    :meth:`~ram_middleware.authorizer.Authorizer.check`.
    """

    public = False
    get_changes_state = True

    def __init__(
        self,
        service: str,
        *,
        resource: str = "*",
        resources: Mapping[str, str] | None = None,
        actions: Iterable[str] | None = None,
        version: str | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9-]+", service):
            raise errors.InvalidParameter("Service", f"Not a service code: {service[:64]!r}.")
        self.service = service
        self.version = version
        self._default = ResourceTemplate(resource)
        # Keyed by lower case: policies match actions regardless of case, and so must the template choice
        # (else "deleteInstance" would be checked against the default resource).
        self._templates = {name.lower(): ResourceTemplate(text) for name, text in (resources or {}).items()}
        if len(self._templates) != len(resources or {}):
            raise errors.InvalidParameter(
                "Resources", "Two resources entries name one Action in different case."
            )
        self._actions = frozenset(actions) if actions is not None else None

    def __repr__(self) -> str:
        return f"RpcApi({self.service!r})"

    @property
    def templates(self) -> tuple[ResourceTemplate, ...]:
        """Its resource templates: the default one, then one per Action that has its own."""
        return (self._default, *self._templates.values())

    def action_name(self, facts: RequestFacts) -> str:
        """The requested Action, validated."""
        name = _parameter_or_header(facts, "Action", "x-acs-action")
        if _ACTION_NAME.fullmatch(name) is None or (self._actions is not None and name not in self._actions):
            raise InvalidAction()
        version = self.version
        if version is not None and _parameter_or_header(facts, "Version", "x-acs-version") != version:
            raise InvalidVersion()
        return name

    def resolve(self, facts: RequestFacts, path_params: PathParams, account_id: str) -> tuple[str, str]:
        name = self.action_name(facts)
        template = self._templates.get(name.lower(), self._default)
        return f"{self.service}:{name}", template.fill(facts, path_params, account_id)


def _single_param(facts: RequestFacts, name: str) -> str | None:
    """The request parameter ``name`` (query, then form); InvalidParameter when it is repeated with another
    value, as the app could then read a different one from the one the check used. On a multipart body,
    which frameworks merge into their form values (Flask's ``request.values``) but the check does not
    read, a parameter is refused outright: the body could name it again."""
    value = facts.params.get(name)
    if value is None:
        return None
    repeated = len(facts.params) != len(facts.param_pairs)  # some name is repeated
    if repeated and any(other == name and given != value for other, given in facts.param_pairs):
        raise errors.InvalidParameter(name, f"The {name} parameter is given twice with different values.")
    if facts.is_multipart:
        raise errors.InvalidParameter(
            name, f"The {name} parameter cannot come from the query of a multipart/form-data request, whose "
            "body could give it again: send it in the path or a url-encoded body.",
        )  # fmt: skip
    return value


def _parameter_or_header(facts: RequestFacts, param: str, header: str) -> str:
    from_param = _single_param(facts, param)
    given = facts.header_values(header)
    from_header = given[0] if given else None
    # Two different values would let the app dispatch on one while we authorize the other.
    if any(value != from_header for value in given):
        raise errors.InvalidParameter(param, f"The {header} header is given twice with different values.")
    if from_param and from_header and from_param != from_header:
        raise errors.InvalidParameter(param, f"The {param} parameter and the {header} header disagree.")
    value = from_param or from_header
    if not value:
        raise errors.MissingParameter(
            param,
            f"The input parameter {param} that is mandatory for processing this request is not supplied.",
        )
    return value


RouteMatch = tuple[Rule, dict[str, str]]


@dataclass(frozen=True, slots=True)
class _Entry:
    methods: frozenset[str] | None  # None: any method
    pattern: re.Pattern[str]
    rule: Rule
    converted: tuple[tuple[str, Callable[[str], object]], ...]  # parameters whose text the app sees converted
    # The pattern with its numbers in any Unicode digits, as Werkzeug's converters take them (None: no number)
    any_digits: re.Pattern[str] | None
    # The pattern with its ``path`` and ``uuid`` captures as Werkzeug's converters read them (None: the same)
    werkzeug: re.Pattern[str] | None


class RouteTable:
    """Method + path pattern → rule, first match wins.

    Patterns use Starlette's syntax: ``/buckets/{bucket}/objects/{key:path}`` — ``{name}`` is one path
    segment, ``{name:path}`` the rest of the path; ``int``, ``float`` and ``uuid`` match and convert as
    Starlette's do, and the resource sees the converted value as text (``/items/007`` fills ``7``, the
    item the app receives). Patterns are matched against the decoded path, extra leading slashes dropped
    (Werkzeug routes ``//items/7`` to the view of ``/items/7``; matched literally, such a path would fall to
    a catch-all or undeclared rule), unless a pattern also matches the path as sent (Starlette takes
    ``//items/7`` to ``/{rest:path}``): such a path is refused (400 ``InvalidParameter.Path``), as no
    reading suits both; a rule for ``GET`` also covers ``HEAD``; method ``*`` matches any
    method. Another converter is refused (``InvalidParameter``). A path whose number is written in other
    digits than 0-9 (``/items/٣``), which Werkzeug's ``int`` and ``float`` converters take (as item 3) and
    Starlette's do not, is refused (400 ``InvalidParameter.Path``): no table order suits both. So is a path
    ending in a newline (``%0A``) that a route matches only without it: Starlette's router (``$``) takes
    ``/admin%0A`` to the ``/admin`` endpoint and ``/items/7%0A`` to item 7, Werkzeug's does not. A
    ``{name:path}`` capture that is empty or starts with ``/`` (``/static/``, ``/static//x``), which
    Werkzeug's ``path`` converter does not take, or that starts with a newline, which it alone takes, is
    refused when another route would then take the path (400 ``InvalidParameter.Path``): Werkzeug runs a
    catch-all's endpoint for ``/static//x``, Starlette the ``/static/{name:path}`` one. So is a UUID
    without its hyphens that another route would then take: Werkzeug's ``uuid`` converter wants them.
    """

    def __init__(self, routes: Iterable[tuple[str | Iterable[str], str, Rule]] = ()) -> None:
        self._entries: list[_Entry] = []
        self._werkzeug_differs = False  # a path or uuid capture, which Werkzeug reads otherwise
        for methods, pattern, rule in routes:
            self.add(methods, pattern, rule)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, methods: str | Iterable[str], pattern: str, rule: Rule) -> None:
        """Append a route; earlier routes win."""
        names = [methods] if isinstance(methods, str) else list(methods)
        upper = frozenset(name.upper() for name in names)
        if "GET" in upper:
            upper |= {"HEAD"}
        regex, converted = _compile(pattern)
        wide = _compile(pattern, _ANY_DIGITS)[0]
        any_digits = None if wide.pattern == regex.pattern else wide
        as_werkzeug = _compile(pattern, _WERKZEUG)[0]
        werkzeug = None if as_werkzeug.pattern == regex.pattern else as_werkzeug
        self._werkzeug_differs = self._werkzeug_differs or werkzeug is not None
        self._entries.append(
            _Entry(None if "*" in upper else upper, regex, rule, converted, any_digits, werkzeug)
        )

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The rule and path parameters for a request, or None when no route matches."""
        if not path.startswith("//"):
            return self._read_by_both(method, path)
        found = self._read_by_both(method, "/" + path.lstrip("/"))
        # Starlette does not drop the extra slashes: its router takes //health to a catch-all
        # ({rest:path}) if there is one, which a rule of /health would not check.
        literal = self._first(method, path)
        if literal is not None and literal != found:
            raise errors.InvalidParameter(
                "Path", "The path begins with '//', which frameworks route differently: send a single '/'."
            )
        return found

    def _read_by_both(self, method: str, path: str) -> RouteMatch | None:
        """The first match, unless Werkzeug's converters would take the path to another route."""
        found = self._first(method, path)
        # Werkzeug's path converter ([^/].*?) takes no empty capture, none that starts with '/', and one
        # that starts with a newline, where Starlette's (.*) does the opposite: /static//x runs a catch-all
        # there, not the /static/{name:path} endpoint. Its uuid converter wants the hyphens.
        if self._werkzeug_differs:
            other = self._first(method, path, werkzeug=True)
            if found is None:
                return other  # only Werkzeug routes it (Starlette answers 404)
            if other is not None and other != found:
                raise errors.InvalidParameter(
                    "Path", "The path has an empty segment, a newline or a UUID without hyphens, which "
                    "frameworks route differently: remove the extra '/' or newline, write the hyphens.",
                )  # fmt: skip
        return found

    def _first(self, method: str, path: str, werkzeug: bool = False) -> RouteMatch | None:
        for entry in self._entries:
            if entry.methods is not None and method.upper() not in entry.methods:
                continue
            pattern = entry.werkzeug if werkzeug and entry.werkzeug is not None else entry.pattern
            found = pattern.fullmatch(path)
            if found is None and path[-1:] == "\n" and entry.pattern.fullmatch(path[:-1]) is not None:
                # Starlette's route regexes end in "$", which also matches before a final newline: its
                # router sends this path to the endpoint of this route, while later rules (a catch-all, an
                # undeclared route) would decide it here. Werkzeug's does not: refused, as for the digits.
                raise errors.InvalidParameter(
                    "Path", "The path ends in a newline (%0A) that frameworks route differently: remove it."
                )
            wide = entry.any_digits
            if found is None and wide is not None and not path.isascii() and wide.fullmatch(path) is not None:
                raise errors.InvalidParameter(
                    "Path", "The path writes a number in other digits than 0-9, which frameworks read "
                    "differently: write it in 0-9.",
                )  # fmt: skip
            if found is not None:
                params = found.groupdict()
                try:
                    for name, convert in entry.converted:
                        params[name] = str(convert(params[name]))
                except ValueError:  # int() of more than 4,300 digits: no value this route can take
                    continue
                return entry.rule, params
        return None


# Starlette's convertors (starlette.convertors): the regex each matches and what the endpoint receives.
_CONVERTERS: dict[str, tuple[str, Callable[[str], object] | None]] = {
    "str": ("[^/]+", None),
    "path": (".*", None),
    "int": ("[0-9]+", int),
    "float": (r"[0-9]+(?:\.[0-9]+)?", float),
    "uuid": ("[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}", uuid.UUID),
}


# Werkzeug's int and float converters match \d: any Unicode decimal digit, which int() and float() read.
_ANY_DIGITS = {**_CONVERTERS, "int": (r"\d+", int), "float": (r"\d+(?:\.\d+)?", float)}
# Werkzeug's path converter: not empty, not starting with '/', its first character may be a newline; its
# uuid converter: with the hyphens.
_WERKZEUG = {
    **_CONVERTERS,
    "path": ("[^/].*", None),
    "uuid": ("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", uuid.UUID),
}


def _compile(
    pattern: str, converters: Mapping[str, tuple[str, Callable[[str], object] | None]] = _CONVERTERS
) -> tuple[re.Pattern[str], tuple[tuple[str, Callable[[str], object]], ...]]:
    if not pattern.startswith("/"):
        raise errors.InvalidParameter("RoutePattern", f"A route pattern starts with '/': {pattern[:64]!r}.")
    regex = ""
    converted: list[tuple[str, Callable[[str], object]]] = []
    position = 0
    for match in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}", pattern):
        name, kind = match.group(1), match.group(2) or "str"
        if kind not in converters:
            raise errors.InvalidParameter(
                "RoutePattern",
                f"Unknown converter {kind[:32]!r} in {pattern[:64]!r} (str, path, int, float, uuid).",
            )
        expression, convert = converters[kind]
        regex += re.escape(pattern[position : match.start()]) + f"(?P<{name}>{expression})"
        if convert is not None:
            converted.append((name, convert))
        position = match.end()
    regex += re.escape(pattern[position:])
    return re.compile(regex), tuple(converted)


# --- declaring rules on endpoints ---------------------------------------------------------------------------


def rule_from(action: str | Rule, resource: str = "*") -> Rule:
    """The rule a route declaration names: a :class:`RouteRule` of ``action`` and ``resource``, or the
    rule given whole. What is neither is a ``TypeError``, raised where the declaration is written."""
    if isinstance(action, str):
        if not isinstance(resource, str):
            raise TypeError(f"A route's resource is text, got {type(resource).__name__}.")
        return RouteRule(action, resource)
    if isinstance(action, Rule):
        if resource != "*":
            raise TypeError(f"{action!r} is a whole rule: it takes no resource beside it.")
        return action
    raise TypeError(
        f"A route's rule is given as its action and resource, got {type(action).__name__}: write "
        '@ram_route("service:Action", "acs:…") (Flask: @require), with the parentheses.'
    )


def route_rule(action: str | Rule, resource: str = "*") -> Callable[[_F], _F]:
    """Decorator: declare the RAM action and resource template of an endpoint (the function is returned
    unchanged, so framework introspection of its signature is unaffected).

    Misuse fails here, as the module is imported (``TypeError``): the decorator written without its
    arguments, an action that is neither text nor a :class:`Rule`, a resource beside a rule, an object that
    is no endpoint, or a second, different rule on one endpoint (a view reused for two routes would
    otherwise take the last one's rule on both)."""
    rule = rule_from(action, resource)

    def declare(endpoint: _F) -> _F:
        return _declare(endpoint, rule)

    return declare


def public(endpoint: _F) -> _F:
    """Decorator: anybody may call this endpoint, without a credential."""
    return _declare(endpoint, PUBLIC)


def _declare(endpoint: _F, rule: Rule) -> _F:
    if not callable(endpoint):
        raise TypeError(
            f"A route decorator goes on an endpoint function or class, got {type(endpoint).__name__}."
        )
    # Its own attribute only: a subclass may declare another rule than its base class.
    own = getattr(endpoint, "__dict__", {}).get(RULE_ATTRIBUTE)
    if own is not None and own != rule:
        raise TypeError(
            f"{getattr(endpoint, '__qualname__', endpoint)!r} already declares {own!r}; an endpoint has "
            f"one rule, so {rule!r} cannot be added: remove one decorator (or give each route its own view)."
        )
    try:
        setattr(endpoint, RULE_ATTRIBUTE, rule)
    except AttributeError:  # a bound method, a builtin: no attribute of its own to carry the rule
        raise TypeError(
            f"{endpoint!r} cannot carry a route rule: decorate the function or class itself."
        ) from None
    return endpoint


def declared_rule(endpoint: object, method: str | None = None) -> Rule | None:
    """The rule declared on ``endpoint``; for a class-based endpoint, its ``get``/``post``/… handler's rule
    for ``method`` wins over one on the class (``HEAD`` reads ``get``'s when the class has no ``head``)."""
    if method is not None and isinstance(endpoint, type):
        name = method.lower()
        if name == "head" and not hasattr(endpoint, "head"):
            name = "get"  # Starlette's HTTPEndpoint answers HEAD with get() when there is no head()
        handler = getattr(endpoint, name, None)
        found = getattr(handler, RULE_ATTRIBUTE, None)
        if found is not None:
            return found if isinstance(found, Rule) else None
    found = getattr(endpoint, RULE_ATTRIBUTE, None)
    return found if isinstance(found, Rule) else None
