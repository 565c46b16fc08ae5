"""RAMMiddleware among the layers and routing features of the Starlette/FastAPI ecosystem: the rule checked
is the one of the endpoint the request then reaches, wherever the middleware sits."""

from __future__ import annotations

import warnings

import pytest
from fastapi import FastAPI

from ram_middleware.adapters.starlette import RAMMiddleware
from ram_middleware.routes import PUBLIC, RouteRule, RouteTable

from . import apps
from .harness import client_class
from .world import make_world


@pytest.mark.parametrize("undeclared", ["authenticate", "deny"])
@pytest.mark.parametrize("prefix", ["", "/api"])
def test_a_route_table_reads_the_path_as_fastapis_own_root_path_routes_it(
    undeclared: str, prefix: str
) -> None:
    # FastAPI(root_path="/api") sets root_path when called, below a middleware wrapping it, and its router
    # takes /api/instances/x to /instances/{instance_id}. The route table was matched against the whole path,
    # so the request fell to the undeclared rule: under "authenticate" alice deleted i-protected past her
    # Deny; under "deny" allowed calls and the public /api/health were refused.
    world = make_world(undeclared=undeclared)
    with warnings.catch_warnings():  # deprecated in recent FastAPI (set the server's instead), still honoured
        warnings.simplefilter("ignore")
        inner = FastAPI(root_path="/api")

    @inner.delete("/instances/{instance_id}")
    def delete(instance_id: str) -> dict[str, str]:
        return {"deleted": instance_id}

    @inner.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    table = RouteTable(
        [
            ("DELETE", "/instances/{instance_id}", RouteRule("ecs:DeleteInstance", apps.INSTANCE)),
            ("GET", "/health", PUBLIC),
        ]
    )
    client = client_class()(RAMMiddleware(inner, ram=world.ram, rules=table))

    def delete_as_alice(instance: str) -> tuple[int, dict[str, str]]:
        path = f"{prefix}/instances/{instance}"
        signed = world.signer("alice").sign("DELETE", f"http://testserver{path}", [], b"")
        reply = client.delete(path, headers={k: v for k, v in signed.headers.items() if k != "host"})
        return reply.status_code, reply.json()

    try:
        status, body = delete_as_alice("i-protected")
        assert (status, body["Code"]) == (403, "NoPermission")
        assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-protected"
        assert delete_as_alice("i-7") == (200, {"deleted": "i-7"})
        assert client.get(f"{prefix}/health").json() == {"ok": True}
    finally:
        world.ram.close()
