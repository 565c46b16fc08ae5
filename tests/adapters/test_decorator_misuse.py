"""Route decorators used wrongly fail where they are written, as the module is imported, with a TypeError
that says what to write: never an endpoint silently replaced, a rule silently dropped, or a confusing
failure at the first request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.views import MethodView
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from ram_middleware import errors
from ram_middleware.adapters.flask import RAM, require
from ram_middleware.adapters.flask import public as flask_public
from ram_middleware.adapters.starlette import RequirePermission, public, ram_route
from ram_middleware.routes import PUBLIC, RouteRule, RpcApi, declared_rule

# Every spelling a user may write the rule decorator and the public marker with.
DECLARE = {"ram_route": ram_route, "require": require, "RAM.route_rule": RAM.route_rule}
PUBLIC_MARKERS = {"public": public, "flask public": flask_public, "RAM.public": RAM.public}
declarers = pytest.mark.parametrize("declare", list(DECLARE.values()), ids=list(DECLARE))
markers = pytest.mark.parametrize("mark", list(PUBLIC_MARKERS.values()), ids=list(PUBLIC_MARKERS))


def new_view() -> Callable[[Request], Any]:
    """A view of its own for each declaration (one view cannot take two rules)."""

    async def view(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return view


@declarers
def test_a_decorator_written_without_its_arguments_is_refused(declare: Callable[..., Any]) -> None:
    # @ram_route on its own line used to hand back an inner function in place of the endpoint.
    with pytest.raises(TypeError, match=r"action and resource"):

        @declare
        async def endpoint(request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")


@declarers
@pytest.mark.parametrize("action", [5, None, b"ecs:DescribeInstances"])
def test_an_action_that_is_neither_text_nor_a_rule_is_refused(
    declare: Callable[..., Any], action: object
) -> None:
    with pytest.raises(TypeError, match=r"action"):
        declare(action)


@declarers
def test_a_resource_that_is_not_text_is_refused(declare: Callable[..., Any]) -> None:
    with pytest.raises(TypeError, match=r"resource"):
        declare("ecs:DescribeInstances", 5)


@declarers
@pytest.mark.parametrize("rule", [RouteRule("ecs:DescribeInstances"), RpcApi("ecs")], ids=repr)
def test_a_resource_beside_a_rule_is_refused_not_ignored(declare: Callable[..., Any], rule: Any) -> None:
    with pytest.raises(TypeError, match=r"resource"):
        declare(rule, "acs:ecs:*:{account}:instance/{id}")
    assert declared_rule(declare(rule)(new_view())) is rule  # alone, it is what the endpoint declares


@declarers
def test_action_and_resource_in_the_wrong_order_are_refused(declare: Callable[..., Any]) -> None:
    with pytest.raises(errors.InvalidParameter, match=r"\(action, resource\)"):
        declare("acs:notes:*:{account}:note/{note_id}", "notes:GetNote")


@declarers
@pytest.mark.parametrize("target", [42, "get_note", None], ids=repr)
def test_decorating_what_is_not_an_endpoint_is_refused(declare: Callable[..., Any], target: object) -> None:
    with pytest.raises(TypeError, match=r"function or class"):
        declare("notes:GetNote")(target)


@markers
@pytest.mark.parametrize("target", [42, "notes:GetNote"], ids=repr)
def test_public_on_what_is_not_an_endpoint_is_refused(mark: Callable[..., Any], target: object) -> None:
    # @public("notes:GetNote") reads as a declaration but used to fail with an AttributeError.
    with pytest.raises(TypeError, match=r"function or class"):
        mark(target)


@declarers
def test_a_bound_method_is_refused_with_what_to_decorate_instead(declare: Callable[..., Any]) -> None:
    class Notes:
        async def get(self, request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

    with pytest.raises(TypeError, match=r"decorate the function"):
        declare("notes:GetNote")(Notes().get)


@declarers
def test_two_different_rules_on_one_endpoint_are_refused(declare: Callable[..., Any]) -> None:
    # The outer one used to win silently; a view reused for a second route would take that route's rule.
    endpoint = new_view()
    declare("notes:GetNote", "acs:notes:*:{account}:note/{id}")(endpoint)
    with pytest.raises(TypeError, match=r"already declares"):
        declare("notes:DeleteNote", "acs:notes:*:{account}:note/{id}")(endpoint)
    with pytest.raises(TypeError, match=r"already declares"):
        public(endpoint)
    assert declared_rule(endpoint) == RouteRule("notes:GetNote", "acs:notes:*:{account}:note/{id}")


@declarers
def test_public_then_a_rule_is_refused(declare: Callable[..., Any]) -> None:
    endpoint = new_view()
    public(endpoint)
    with pytest.raises(TypeError, match=r"already declares"):
        declare("notes:GetNote")(endpoint)
    assert declared_rule(endpoint) is PUBLIC


@declarers
def test_the_same_rule_written_twice_is_one_rule(declare: Callable[..., Any]) -> None:
    endpoint = new_view()
    assert declare("notes:GetNote")(declare("notes:GetNote")(endpoint)) is endpoint
    view = new_view()
    assert public(public(view)) is view


def test_a_subclass_may_declare_another_rule_than_its_base() -> None:
    @ram_route("notes:ListNotes")
    class Notes(HTTPEndpoint):
        async def get(self, request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

    @ram_route("notes:ListArchivedNotes")
    class Archived(Notes):
        pass

    @require("notes:ListNotes")
    class FlaskNotes(MethodView):
        def get(self) -> str:
            return "ok"

    @flask_public
    class FlaskIndex(FlaskNotes):
        pass

    assert declared_rule(Notes, "GET") == RouteRule("notes:ListNotes")
    assert declared_rule(Archived, "GET") == RouteRule("notes:ListArchivedNotes")
    assert declared_rule(FlaskIndex, "GET") is PUBLIC


def test_require_permission_is_given_what_the_decorators_are() -> None:
    # A FastAPI dependency is built as the module is imported too: the same mistakes, the same errors.
    with pytest.raises(TypeError, match=r"action and resource"):
        RequirePermission(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"resource"):
        RequirePermission(RouteRule("notes:GetNote"), "acs:notes:*:{account}:note/{note_id}")
    with pytest.raises(errors.InvalidParameter, match=r"\(action, resource\)"):
        RequirePermission("acs:notes:*:{account}:note/{note_id}", "notes:GetNote")
