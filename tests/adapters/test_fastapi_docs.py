"""FastAPI's own documentation routes: denied like any undeclared route, public through a route table."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from ram_middleware.adapters.starlette import RAMMiddleware
from ram_middleware.routes import PUBLIC, RouteTable

from .harness import client_class
from .world import World


def _app(world: World, **options: object) -> Any:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    app.add_middleware(RAMMiddleware, ram=world.ram, **options)
    return client_class()(app)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_are_undeclared_and_denied_by_default(world: World, path: str) -> None:
    assert _app(world).get(path).status_code == 401


def test_the_readme_route_table_makes_the_docs_public_and_nothing_else(world: World) -> None:
    client = _app(world, rules=RouteTable([("GET", "/docs", PUBLIC), ("GET", "/openapi.json", PUBLIC)]))
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/items/{item_id}"]
    assert client.get("/items/1").status_code == 401  # the app's own undeclared route stays closed
