"""FastAPI routers: declarations on ``APIRouter`` routes are found through ``include_router`` (FastAPI 0.165
keeps an included router as one opaque ``_IncludedRouter`` entry), and a route declaring two different
rules is refused as a configuration error instead of half-enforced."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Receive, Scope, Send

from ram_middleware.adapters.starlette import (
    RAMMiddleware,
    RequirePermission,
    current_principal,
    public,
    ram_route,
)
from ram_middleware.identity import Principal
from ram_middleware.routes import RouteRule, RouteTable

from .harness import client_class
from .world import World, make_world

INSTANCE = "acs:ecs:*:{account}:instance/{iid}"


@pytest.fixture
def authenticate_world() -> Iterator[World]:
    made = make_world(undeclared="authenticate")
    yield made
    made.ram.close()


def _signed(world: World, who: str, path: str, method: str = "GET") -> dict[str, str]:
    signed = world.signer(who).sign(method, f"http://testserver{path}", [], b"")
    return {k: v for k, v in signed.headers.items() if k != "host"}


def _call(app: Any, world: World, path: str, who: str | None = "alice", method: str = "GET") -> Any:
    headers = _signed(world, who, path, method) if who is not None else {}
    return client_class()(app, raise_server_exceptions=False).request(method, path, headers=headers)


def _instances_router() -> APIRouter:
    router = APIRouter(prefix="/r")

    @router.get("/i/{iid}")
    @ram_route("ecs:DescribeInstance", INSTANCE)
    async def describe(iid: str, request: HTTPConnection) -> dict[str, Any]:
        principal = current_principal(request)
        return {"iid": iid, "who": principal.arn if principal else None}

    @router.delete("/i/{iid}")
    @ram_route("ecs:DeleteInstance", INSTANCE)
    async def delete(iid: str) -> dict[str, str]:
        return {"deleted": iid}

    @router.get("/health")
    @public
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return router


def _app(world: World, router: APIRouter, **include: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(router, **include)
    app.add_middleware(RAMMiddleware, ram=world.ram)
    return app


def test_ram_route_on_a_router_route_is_decided_by_policy(world: World) -> None:
    app = _app(world, _instances_router(), prefix="/v1")
    reply = _call(app, world, "/v1/r/i/i-1", who="bob")  # R&D: ECS read-only
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"iid": "i-1", "who": world.arn("bob")}
    event = world.audit.events[-1]
    assert (event.decision, event.action) == ("Allow", "ecs:DescribeInstance")
    assert event.resource == f"acs:ecs:*:{world.account_id}:instance/i-1"

    denied = _call(app, world, "/v1/r/i/i-1", who="bob", method="DELETE")
    assert denied.status_code == 403
    assert denied.json()["AccessDeniedDetail"]["AuthAction"] == "ecs:DeleteInstance"
    assert _call(app, world, "/v1/r/i/i-1", who="alice", method="DELETE").json() == {"deleted": "i-1"}


def test_require_permission_on_router_routes_hands_over_the_principal(world: World) -> None:
    router = APIRouter(prefix="/r")

    @router.get("/i/{iid}")
    async def describe(
        iid: str, who: Annotated[Principal, Depends(RequirePermission("ecs:DescribeInstance", INSTANCE))]
    ) -> dict[str, str]:
        return {"iid": iid, "who": who.arn}

    @router.get("/objects")
    async def objects(request: HTTPConnection) -> dict[str, str | None]:
        principal = current_principal(request)
        return {"who": principal.arn if principal else None}

    # The second include carries the requirement at router level: FastAPI adds it to every route it includes.
    app = _app(world, router)
    app.include_router(
        router, prefix="/guarded", dependencies=[Depends(RequirePermission("ecs:DeleteInstance", "*"))]
    )

    assert _call(app, world, "/r/i/i-2", who="bob").json() == {"iid": "i-2", "who": world.arn("bob")}
    assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-2"
    assert _call(app, world, "/r/i/i-2", who="eve").status_code == 403
    assert _call(app, world, "/r/objects", who="alice").status_code == 403  # undeclared here: denied
    assert _call(app, world, "/guarded/r/objects", who="bob").status_code == 403
    assert world.audit.events[-1].action == "ecs:DeleteInstance"
    assert _call(app, world, "/guarded/r/objects", who="alice").json() == {"who": world.arn("alice")}


def test_public_router_route_is_open_to_anonymous_callers(world: World) -> None:
    app = _app(world, _instances_router())
    reply = _call(app, world, "/r/health", who=None)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"ok": True}
    assert _call(app, world, "/r/i/i-1", who=None).status_code == 401


def test_nested_routers_fill_the_resource_from_a_prefix_parameter(world: World) -> None:
    inner = APIRouter(prefix="/instances")

    @inner.get("/{iid}")
    @ram_route("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{tenant}/{iid}")
    async def describe(tenant: str, iid: int) -> dict[str, Any]:
        return {"tenant": tenant, "iid": iid}

    outer = APIRouter(prefix="/tenants/{tenant}")
    outer.include_router(inner)
    api = FastAPI()
    api.include_router(outer, prefix="/v2")
    # Also behind a Starlette Mount, which the middleware walks into as the router does.
    app = Starlette(routes=[Mount("/api", app=api)])
    app.add_middleware(RAMMiddleware, ram=world.ram)

    reply = _call(app, world, "/api/v2/tenants/acme/instances/42", who="bob")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"tenant": "acme", "iid": 42}
    event = world.audit.events[-1]
    assert (event.decision, event.action) == ("Allow", "ecs:DescribeInstance")
    assert event.resource == f"acs:ecs:*:{world.account_id}:instance/acme/42"
    assert _call(app, world, "/api/v2/tenants/acme/instances/42", who="eve").status_code == 403


def test_undeclared_authenticate_does_not_open_a_declared_router_route(authenticate_world: World) -> None:
    world = authenticate_world
    app = _app(world, _instances_router())
    reply = _call(app, world, "/r/i/i-protected", who="eve", method="DELETE")
    assert reply.status_code == 403
    event = world.audit.events[-1]
    assert (event.decision, event.action) == ("ImplicitDeny", "ecs:DeleteInstance")


def test_an_opaque_route_is_a_configuration_error_not_an_undeclared_one(authenticate_world: World) -> None:
    class Opaque(BaseRoute):
        """A route kind the middleware cannot look into: it matches, but shows no endpoint."""

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            return Match.FULL, {}

        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            raise AssertionError("never reached")  # pragma: no cover

    world = authenticate_world
    app = FastAPI()
    app.router.routes.append(Opaque())
    app.add_middleware(RAMMiddleware, ram=world.ram)
    with pytest.raises(RuntimeError, match="Opaque"):
        client_class()(app).get("/anything", headers=_signed(world, "eve", "/anything"))
    assert _call(app, world, "/anything", who="eve").status_code == 500


def test_an_opaque_route_declared_in_a_table_is_decided_by_the_table(world: World) -> None:
    class Opaque(BaseRoute):
        """A route kind the middleware cannot look into, which the table declares."""

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            return Match.FULL, {}

        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            await PlainTextResponse("opaque")(scope, receive, send)

    app = FastAPI()
    app.router.routes.append(Opaque())
    rule = RouteRule("ecs:DescribeInstances", "acs:ecs:*:{account}:instance/{name}")
    app.add_middleware(RAMMiddleware, ram=world.ram, rules=RouteTable([("GET", "/things/{name}", rule)]))
    assert _call(app, world, "/things/i-1").text == "opaque"
    assert _call(app, world, "/things/i-1", who="eve").status_code == 403


def test_two_different_requirements_on_one_route_are_refused(world: World) -> None:
    from ram_middleware.adapters.starlette import RouteConfigurationError

    reached: list[str] = []
    app = FastAPI()

    @app.delete("/i/{iid}", dependencies=[Depends(RequirePermission("ecs:DescribeInstances", INSTANCE))])
    async def delete(
        iid: str, who: Annotated[Principal, Depends(RequirePermission("ecs:DeleteInstance", INSTANCE))]
    ) -> dict[str, str]:
        reached.append(iid)  # pragma: no cover - never reached
        return {"deleted": iid}  # pragma: no cover

    app.add_middleware(RAMMiddleware, ram=world.ram)
    with pytest.raises(RouteConfigurationError, match=r"DELETE /i/\{iid\}") as caught:
        client_class()(app).delete("/i/i-1", headers=_signed(world, "alice", "/i/i-1", "DELETE"))
    assert "ecs:DeleteInstance" in str(caught.value)
    reply = _call(app, world, "/i/i-1", who="alice", method="DELETE")
    assert reply.status_code == 500
    assert "ecs:" not in reply.text and "instance/" not in reply.text
    assert reached == []
    assert world.audit.events == []  # refused before any check: neither rule was half-enforced


def test_the_same_requirement_written_twice_is_one_rule(world: World) -> None:
    app = FastAPI()

    @app.get("/i/{iid}", dependencies=[Depends(RequirePermission("ecs:DescribeInstance", INSTANCE))])
    async def describe(
        iid: str, who: Annotated[Principal, Depends(RequirePermission("ecs:DescribeInstance", INSTANCE))]
    ) -> dict[str, str]:
        return {"iid": iid, "who": who.arn}

    app.add_middleware(RAMMiddleware, ram=world.ram)
    assert _call(app, world, "/i/i-5", who="bob").json() == {"iid": "i-5", "who": world.arn("bob")}


def test_unenforced_requirement_keeps_its_rule_out_of_the_response(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()  # no middleware

    @app.get("/i/{iid}")
    async def describe(
        iid: str, who: Annotated[Principal, Depends(RequirePermission("ecs:DescribeInstance", INSTANCE))]
    ) -> str:
        return who.arn  # pragma: no cover - never reached

    with caplog.at_level(logging.ERROR, logger="ram_middleware.adapters.starlette"):
        reply = client_class()(app).get("/i/i-1")
    assert reply.status_code == 500
    assert "ecs:" not in reply.text and "instance/" not in reply.text
    assert "ecs:DescribeInstance" in caplog.text
