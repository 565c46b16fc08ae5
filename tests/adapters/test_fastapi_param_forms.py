"""FastAPI parameters read from a form body, from a query model, or under a validation alias: the check
holds them to the value the endpoint receives, as it does path and query parameters (a Deny on
``instance/1`` cannot be passed as ``01``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Query
from pydantic import AliasChoices, BaseModel, Json

from ram_middleware.adapters.starlette import RAMMiddleware, RequirePermission, ram_route
from ram_middleware.identity import Principal
from ram_middleware.routes import RouteRule, RouteTable, RpcApi

from .harness import client_class
from .world import World

RESOURCE = "acs:ecs:*:{account}:instance/{InstanceId}"
FORM = "application/x-www-form-urlencoded"


class Filters(BaseModel):
    InstanceId: int


class FormFilters(BaseModel):
    InstanceId: int


async def form_instance(iid: Annotated[int, Form(alias="InstanceId")]) -> int:
    """A dependency reading the form field (module level: annotations are text)."""
    return iid


STOP = RequirePermission("ecs:StopInstance", RESOURCE)


def _app(world: World) -> FastAPI:
    deny = {"Effect": "Deny", "Action": "ecs:*", "Resource": "acs:ecs:*:*:instance/1"}
    world.ram.service.create_policy(
        world.account_id, "DenyOne", json.dumps({"Version": "1", "Statement": [deny]})
    )
    world.ram.service.attach_policy_to_user(world.account_id, "Custom", "DenyOne", "alice")
    app = FastAPI()

    @app.post("/form")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def form(InstanceId: Annotated[int, Form()]) -> dict[str, Any]:
        return {"deleted": InstanceId}

    @app.post("/form-alias")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def form_alias(iid: Annotated[int, Form(alias="InstanceId")]) -> dict[str, Any]:
        return {"deleted": iid}

    @app.post("/model")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def model(filters: Annotated[Filters, Query()]) -> dict[str, Any]:
        return {"deleted": filters.InstanceId}

    @app.post("/validation-alias")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def validation_alias(iid: int = Query(validation_alias="InstanceId")) -> dict[str, Any]:
        return {"deleted": iid}

    @app.post("/choices")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def choices(
        iid: int = Query(validation_alias=AliasChoices("Id", "InstanceId")),
    ) -> dict[str, Any]:
        return {"deleted": iid}

    @app.post("/json")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def json_ids(ids: Annotated[Json[list[int]], Query(alias="InstanceId")]) -> dict[str, Any]:
        return {"deleted": ids}

    @app.post("/form-model")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def form_model(filters: Annotated[FormFilters, Form()]) -> dict[str, Any]:
        return {"deleted": filters.InstanceId}

    @app.post("/instances/{InstanceId}")
    @ram_route("ecs:DeleteInstance", RESOURCE)
    async def by_path(InstanceId: str, found: Annotated[int, Depends(form_instance)]) -> dict[str, Any]:
        return {"deleted": found}

    @app.post("/stop")
    async def stop(
        InstanceId: Annotated[int, Form()], principal: Annotated[Principal, Depends(STOP)]
    ) -> dict[str, Any]:
        return {"stopped": InstanceId, "by": principal.arn}

    @app.post("/untyped")
    async def untyped(InstanceId: Annotated[int, Form()]) -> dict[str, Any]:
        return {"deleted": InstanceId}

    app.add_middleware(RAMMiddleware, ram=world.ram)
    return app


def _call(app: FastAPI, world: World, target: str, form: str = "") -> Any:
    headers = [("content-type", FORM)] if form else []
    signed = world.signer("alice").sign("POST", f"http://testserver{target}", headers, form.encode())
    sent = {**dict(headers), **{k: v for k, v in signed.headers.items() if k != "host"}}
    client = client_class()(app, raise_server_exceptions=False)
    return client.request("POST", signed.url, headers=sent, content=form.encode())


def _refused(reply: Any) -> tuple[int, str]:
    return reply.status_code, reply.json().get("Code", "")


def test_a_form_field_is_held_to_the_form_the_endpoint_reads(world: World) -> None:
    app = _app(world)
    for target in ("/form", "/form-alias"):
        assert _call(app, world, target, "InstanceId=1").status_code == 403, target
        for spelling in ("01", "+1", "1_0"):
            reply = _call(app, world, target, f"InstanceId={spelling.replace('+', '%2B')}")
            assert _refused(reply) == (400, "InvalidParameter.InstanceId"), (target, spelling)
        assert _call(app, world, target, "InstanceId=2").json() == {"deleted": 2}, target


def test_a_query_models_field_is_held_to_the_form_the_endpoint_reads(world: World) -> None:
    app = _app(world)
    assert _call(app, world, "/model?InstanceId=1").status_code == 403
    assert _refused(_call(app, world, "/model?InstanceId=01")) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/model?InstanceId=2").json() == {"deleted": 2}


def test_a_field_read_under_a_validation_alias_is_held_to_the_form_the_endpoint_reads(world: World) -> None:
    app = _app(world)
    assert _call(app, world, "/validation-alias?InstanceId=1").status_code == 403
    reply = _call(app, world, "/validation-alias?InstanceId=01")
    assert _refused(reply) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/validation-alias?InstanceId=2").json() == {"deleted": 2}


def test_a_field_read_under_another_name_than_the_checked_one_is_refused(world: World) -> None:
    # The endpoint reads Id first: checked as instance/2, it would delete instance 1.
    app = _app(world)
    assert _refused(_call(app, world, "/choices?Id=1&InstanceId=2")) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/choices?InstanceId=1").status_code == 403
    assert _call(app, world, "/choices?InstanceId=2").json() == {"deleted": 2}


def test_a_json_list_is_held_to_the_form_the_endpoint_reads(world: World) -> None:
    # "[1]" is the text the check fills the resource with; the endpoint receives instance 1.
    app = _app(world)
    assert _refused(_call(app, world, "/json?InstanceId=%5B1%5D")) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/json?InstanceId=1").status_code == 403


def test_a_form_models_field_is_held_to_the_form_the_endpoint_reads(world: World) -> None:
    app = _app(world)
    assert _call(app, world, "/form-model", "InstanceId=1").status_code == 403
    assert _refused(_call(app, world, "/form-model", "InstanceId=01")) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/form-model", "InstanceId=2").json() == {"deleted": 2}


def test_a_form_field_is_held_to_the_path_value_the_resource_was_filled_with(world: World) -> None:
    # Checked as instance/2 (the path), the dependency reads instance 1 from the form.
    app = _app(world)
    reply = _call(app, world, "/instances/2", "InstanceId=1")
    assert _refused(reply) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/instances/2", "InstanceId=2").json() == {"deleted": 2}


def test_a_require_permission_route_with_a_held_form_field_runs(world: World) -> None:
    # The dependency confirms that its own rule was enforced: holding the form field keeps it that rule.
    app = _app(world)
    assert _refused(_call(app, world, "/stop", "InstanceId=01")) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/stop", "InstanceId=2").json() == {"stopped": 2, "by": world.arn("alice")}


def test_a_route_tables_form_placeholders_are_held_to_the_form_the_endpoint_reads(world: World) -> None:
    app = _app(world)
    table = RouteTable([("POST", "/untyped", RouteRule("ecs:DeleteInstance", RESOURCE))])
    app.user_middleware.clear()
    app.add_middleware(RAMMiddleware, ram=world.ram, rules=table)
    assert _call(app, world, "/untyped", "InstanceId=1").status_code == 403
    assert _refused(_call(app, world, "/untyped", "InstanceId=01")) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "/untyped", "InstanceId=2").json() == {"deleted": 2}


def test_a_multipart_body_cannot_give_a_held_form_field(world: World) -> None:
    # The check never parses a multipart body: the dependency would read instance 1 from it, checked as 2.
    app = _app(world)
    body = b'--b\r\nContent-Disposition: form-data; name="InstanceId"\r\n\r\n1\r\n--b--\r\n'
    headers = [("content-type", "multipart/form-data; boundary=b")]
    signed = world.signer("alice").sign("POST", "http://testserver/instances/2", headers, body)
    sent = {**dict(headers), **{k: v for k, v in signed.headers.items() if k != "host"}}
    reply = client_class()(app, raise_server_exceptions=False).post(signed.url, headers=sent, content=body)
    assert _refused(reply) == (400, "InvalidParameter.InstanceId")


def test_an_rpc_apis_form_field_is_held_as_the_sdks_send_it(world: World) -> None:
    # RPC v1 clients POST every parameter in a url-encoded body.
    app = FastAPI()

    @app.post("/rpc")
    @ram_route(RpcApi("ecs", resources={"StopInstance": RESOURCE}))
    async def rpc(Action: Annotated[str, Form()], InstanceId: Annotated[int, Form()]) -> dict[str, Any]:
        return {"action": Action, "stopped": InstanceId}

    deny = {"Effect": "Deny", "Action": "ecs:*", "Resource": "acs:ecs:*:*:instance/1"}
    world.ram.service.create_policy(
        world.account_id, "DenyOne", json.dumps({"Version": "1", "Statement": [deny]})
    )
    world.ram.service.attach_policy_to_user(world.account_id, "Custom", "DenyOne", "alice")
    app.add_middleware(RAMMiddleware, ram=world.ram)
    client = client_class()(app, raise_server_exceptions=False)

    def call(form: str) -> Any:
        headers = [("content-type", FORM)]
        signed = world.signer("alice", "v1").sign("POST", "http://testserver/rpc", headers, form.encode())
        return client.post(signed.url, headers=dict(headers), content=form.encode())

    assert call("Action=StopInstance&InstanceId=1").status_code == 403
    assert _refused(call("Action=StopInstance&InstanceId=01")) == (400, "InvalidParameter.InstanceId")
    assert call("Action=StopInstance&InstanceId=2").json() == {"action": "StopInstance", "stopped": 2}
