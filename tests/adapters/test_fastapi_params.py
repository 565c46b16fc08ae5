"""FastAPI converts typed parameters after the check: the check refuses any text the endpoint would
receive as another value (``/instances/01`` is instance ``1``), so a Deny on the one cannot be passed by
spelling it differently."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from fastapi import Body, Cookie, Depends, FastAPI, Header, Query
from pydantic import BaseModel

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.routes import RouteRule, RouteTable, RpcApi

from .harness import client_class
from .world import World

INSTANCE = "acs:ecs:*:{account}:instance/{iid}"
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


class Colour(Enum):
    RED = "red"


async def instance(iid: int) -> int:
    """A dependency reading the path parameter with its own type (module level: annotations are text)."""
    return iid


def _app(world: World) -> FastAPI:
    deny = {"Effect": "Deny", "Action": "ecs:*", "Resource": [f"acs:ecs:*:*:instance/{v}" for v in ("1", ID)]}
    world.ram.service.create_policy(
        world.account_id, "DenyOne", json.dumps({"Version": "1", "Statement": [deny]})
    )
    world.ram.service.attach_policy_to_user(world.account_id, "Custom", "DenyOne", "alice")
    app = FastAPI()

    @app.delete("/instances/{iid}")
    @ram_route("ecs:DeleteInstance", INSTANCE)
    async def delete(iid: int) -> dict[str, Any]:
        return {"deleted": iid}

    @app.delete("/vms/{iid}")
    @ram_route("ecs:DeleteInstance", INSTANCE)
    async def delete_vm(iid: UUID) -> dict[str, Any]:
        return {"deleted": str(iid)}

    @app.post("/stop")
    @ram_route("ecs:StopInstance", "acs:ecs:*:{account}:instance/{InstanceId}")
    async def stop(instance_id: int = Query(alias="InstanceId")) -> dict[str, Any]:
        return {"stopped": instance_id}

    @app.delete("/disks/{iid}")
    @ram_route("ecs:DeleteInstance", INSTANCE)
    async def delete_disk(iid: str, found: Annotated[int, Depends(instance)]) -> dict[str, Any]:
        return {"asked": iid, "deleted": found}

    @app.post("/stop-many")
    @ram_route("ecs:StopInstance", "acs:ecs:*:{account}:instance/{InstanceId}")
    async def stop_many(ids: Annotated[list[int], Query(alias="InstanceId")]) -> dict[str, Any]:
        return {"stopped": ids}

    @app.post("/rpc")
    @ram_route(RpcApi("ecs", resources={"StopInstance": "acs:ecs:*:{account}:instance/{iid}"}))
    async def rpc(Action: str, iid: int) -> dict[str, Any]:
        return {"action": Action, "stopped": iid}

    @app.get("/colours/{iid}")
    @ram_route("ecs:DescribeInstance", INSTANCE)
    async def colour(iid: Colour) -> dict[str, Any]:
        return {"colour": iid.value}

    @app.get("/names/{iid}")
    @ram_route("ecs:DescribeInstance", INSTANCE)
    async def name(iid: str) -> dict[str, Any]:
        return {"name": iid}

    app.add_middleware(RAMMiddleware, ram=world.ram)
    return app


def _call(
    app: FastAPI,
    world: World,
    method: str,
    target: str,
    json_body: bytes = b"",
    extra: dict[str, str] | None = None,
) -> Any:
    given = [("content-type", "application/json")] if json_body else []
    signed = world.signer("alice").sign(method, f"http://testserver{target}", given, json_body)
    headers = {**dict(given), **(extra or {}), **{k: v for k, v in signed.headers.items() if k != "host"}}
    client = client_class()(app, raise_server_exceptions=False)
    return client.request(method, signed.url, headers=headers, content=json_body)


def test_another_spelling_of_a_denied_integer_is_refused(world: World) -> None:
    app = _app(world)
    assert _call(app, world, "DELETE", "/instances/1").status_code == 403
    for spelling in ("01", "+1", "1_0", "%201"):
        reply = _call(app, world, "DELETE", f"/instances/{spelling}")
        assert (reply.status_code, reply.json()["Code"]) == (400, "InvalidParameter.iid"), spelling
    assert _call(app, world, "DELETE", "/instances/2").json() == {"deleted": 2}
    assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/2"


def test_query_parameters_and_uuids_are_held_to_the_form_the_endpoint_reads(world: World) -> None:
    app = _app(world)
    assert _call(app, world, "POST", "/stop?InstanceId=1").status_code == 403
    refused = _call(app, world, "POST", "/stop?InstanceId=001")
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.InstanceId")
    assert _call(app, world, "POST", "/stop?InstanceId=3").json() == {"stopped": 3}
    assert _call(app, world, "DELETE", f"/vms/{ID}").status_code == 403
    shouty = _call(app, world, "DELETE", f"/vms/{ID.upper().replace('-', '')}")
    assert (shouty.status_code, shouty.json()["Code"]) == (400, "InvalidParameter.iid")


def test_a_list_parameter_is_held_to_the_form_the_endpoint_reads(world: World) -> None:
    # FastAPI reads a list parameter from every value of its name; the check fills the resource from one.
    app = _app(world)
    assert _call(app, world, "POST", "/stop-many?InstanceId=1").status_code == 403
    for spelling in ("01", "+1"):
        refused = _call(app, world, "POST", f"/stop-many?InstanceId={spelling}")
        assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.InstanceId"), spelling
    assert _call(app, world, "POST", "/stop-many?InstanceId=3&InstanceId=3").json() == {"stopped": [3, 3]}


def test_a_dependency_reading_the_parameter_as_another_type_holds_it_to_that_form(world: World) -> None:
    # The endpoint takes iid as text, its dependency as a number: "01" reaches the dependency as instance 1.
    app = _app(world)
    assert _call(app, world, "DELETE", "/disks/1").status_code == 403
    refused = _call(app, world, "DELETE", "/disks/01")
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.iid")
    assert _call(app, world, "DELETE", "/disks/2").json() == {"asked": "2", "deleted": 2}


def test_a_parameter_an_rpc_apis_resource_names_is_held_to_the_form_the_endpoint_reads(world: World) -> None:
    app = _app(world)
    assert _call(app, world, "POST", "/rpc?Action=StopInstance&iid=1").status_code == 403
    refused = _call(app, world, "POST", "/rpc?Action=StopInstance&iid=01")
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.iid")
    assert _call(app, world, "POST", "/rpc?Action=StopInstance&iid=2").json()["stopped"] == 2


def test_a_route_tables_placeholders_are_held_to_the_form_the_endpoint_reads(world: World) -> None:
    # An app declared in a table (its code cannot be edited): its endpoints still convert what they read.
    app = _app(world)
    stop = RouteRule("ecs:StopInstance", "acs:ecs:*:{account}:instance/{InstanceId}")
    delete = RouteRule("ecs:DeleteInstance", INSTANCE)
    table = RouteTable([("POST", "/stop", stop), ("DELETE", "/instances/{iid}", delete)])
    app.user_middleware.clear()
    app.add_middleware(RAMMiddleware, ram=world.ram, rules=table)
    assert _call(app, world, "POST", "/stop?InstanceId=1").status_code == 403
    refused = _call(app, world, "POST", "/stop?InstanceId=01")
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.InstanceId")
    refused = _call(app, world, "DELETE", "/instances/01")  # text in the table, a number for the endpoint
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.iid")
    assert _call(app, world, "DELETE", "/instances/2").json() == {"deleted": 2}


def test_values_the_endpoint_receives_as_sent_pass(world: World) -> None:
    app = _app(world)
    assert _call(app, world, "GET", "/colours/red").json() == {"colour": "red"}  # an Enum by its value
    assert _call(app, world, "GET", "/names/01").json() == {"name": "01"}  # str: nothing converts it
    assert _call(app, world, "GET", "/colours/blue").status_code == 422  # FastAPI's own answer


class _StopRequest(BaseModel):
    InstanceId: str


def test_a_placeholder_the_endpoint_reads_from_a_json_body_is_a_configuration_error(world: World) -> None:
    # The check fills {InstanceId} from the query, which such an endpoint never reads: alice, denied
    # instance 1, would stop it by sending ?InstanceId=2 with {"InstanceId": "1"}.
    app = _app(world)
    template = "acs:ecs:*:{account}:instance/{InstanceId}"

    @app.post("/stop-json")
    @ram_route("ecs:StopInstance", template)
    async def stop_json(InstanceId: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        return {"stopped": InstanceId}

    @app.post("/stop-model")
    @ram_route("ecs:StopInstance", template)
    async def stop_model(request: _StopRequest) -> dict[str, Any]:
        return {"stopped": request.InstanceId}

    @app.post("/stop-header")
    @ram_route("ecs:StopInstance", template)
    async def stop_header(InstanceId: Annotated[str, Header()]) -> dict[str, Any]:
        return {"stopped": InstanceId}

    @app.post("/stop-cookie")
    @ram_route("ecs:StopInstance", template)
    async def stop_cookie(InstanceId: Annotated[str, Cookie()]) -> dict[str, Any]:
        return {"stopped": InstanceId}

    @app.put("/instances/{InstanceId}")  # the path fills it: a body repeating the id is the endpoint's
    @ram_route("ecs:ModifyInstance", template)
    async def modify(InstanceId: str, request: _StopRequest) -> dict[str, Any]:
        return {"modified": InstanceId}

    body = json.dumps({"InstanceId": "1"}).encode()
    for path in ("/stop-json?InstanceId=2", "/stop-model?InstanceId=2"):
        reply = _call(app, world, "POST", path, body)
        assert reply.status_code == 500 and "stopped" not in reply.text, (path, reply.text)
    # Nor from a header or a cookie, which the check does not read either.
    for path, sent in (("/stop-header", {"InstanceId": "1"}), ("/stop-cookie", {"cookie": "InstanceId=1"})):
        reply = _call(app, world, "POST", path + "?InstanceId=2", extra=sent)
        assert reply.status_code == 500 and "stopped" not in reply.text, (path, reply.text)
    assert _call(app, world, "PUT", "/instances/1", body).status_code == 403
    assert _call(app, world, "PUT", "/instances/2", body).json() == {"modified": "2"}
