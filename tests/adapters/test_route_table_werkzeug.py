"""A route table in front of a bare Werkzeug app: every path reaches the endpoint whose rule was checked."""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect
from werkzeug.routing import Rule as WerkzeugRule
from werkzeug.wrappers import Request, Response

from ram_middleware import errors
from ram_middleware.adapters.wsgi import RAMWSGIMiddleware
from ram_middleware.routes import PUBLIC, RouteRule, RouteTable

from .world import World


def _werkzeug_app(urls: Map) -> Any:
    """A bare WSGI app routed by Werkzeug's ``Map``: answers with the endpoint it ran."""

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        try:
            endpoint, values = urls.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            return exc  # type: ignore[return-value]
        return Response(f"{endpoint} {values}")

    return app


@pytest.mark.parametrize(
    "path",
    [
        "/static//secret",  # Werkzeug's path converter takes no capture that starts with '/'
        "/static/",  # nor an empty one
        "/admin/%0Ausers",  # but one that starts with a newline, where Starlette's (and a table's) takes none
    ],
)
def test_a_path_capture_werkzeug_reads_otherwise_never_gets_another_routes_rule(
    world: World, path: str
) -> None:
    # /static//secret and /static/ ran the protected dispatcher (static//secret, static/) under the static
    # files' public rule; /admin/<newline>users ran the admin endpoint under the public pages' rule.
    call = RouteRule("app:Call", "acs:app:*:{account}:call")
    admin = RouteRule("app:Administer", "acs:app:*:{account}:admin")
    table = RouteTable(
        [
            ("GET", "/static/{name:path}", PUBLIC),
            ("GET", "/admin/{rest:path}", admin),
            ("GET", "/{section}/{page}", PUBLIC),
            ("*", "/{rest:path}", call),
        ]
    )
    urls = Map(
        [
            WerkzeugRule("/static/<path:name>", endpoint="static"),
            WerkzeugRule("/admin/<path:rest>", endpoint="admin"),
            WerkzeugRule("/<section>/<page>", endpoint="page"),
            WerkzeugRule("/<path:rest>", endpoint="dispatch"),
        ]
    )
    client = webtest.TestApp(RAMWSGIMiddleware(_werkzeug_app(urls), ram=world.ram, rules=table))
    assert client.get("/static/app.css").text == "static {'name': 'app.css'}"
    assert client.get("/about/team").text == "page {'section': 'about', 'page': 'team'}"
    assert client.get("/admin/users", expect_errors=True).status_int == 401
    reply = client.get(path, expect_errors=True)
    assert (reply.status_int, reply.json["Code"]) == (400, "InvalidParameter.Path"), reply.text


def test_a_uuid_werkzeug_does_not_read_as_one_never_gets_the_uuid_routes_rule(world: World) -> None:
    # Werkzeug's uuid converter wants the hyphens, Starlette's (and a table's) does not: a blob named by its
    # MD5 (32 hex digits) ran the protected named-blob endpoint under the public share links' rule.
    named = RouteRule("app:GetBlob", "acs:app:*:{account}:blob/{name}")
    table = RouteTable([("GET", "/blobs/{id:uuid}", PUBLIC), ("GET", "/blobs/{name}", named)])
    urls = Map(
        [WerkzeugRule("/blobs/<uuid:id>", endpoint="shared"), WerkzeugRule("/blobs/<name>", endpoint="named")]
    )
    client = webtest.TestApp(RAMWSGIMiddleware(_werkzeug_app(urls), ram=world.ram, rules=table))
    link = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"
    assert client.get(f"/blobs/{link}").text == f"shared {{'id': UUID('{link}')}}"
    assert client.get("/blobs/report.pdf", expect_errors=True).status_int == 401
    reply = client.get("/blobs/" + link.replace("-", ""), expect_errors=True)
    assert (reply.status_int, reply.json["Code"]) == (400, "InvalidParameter.Path"), reply.text


# Declared in the order Werkzeug's router tries them (static segments first), as a table for it must be.
_PATTERNS = [
    ("/health", "/health"),
    ("/items/{n:int}", "/items/<int:n>"),
    ("/u/{id:uuid}", "/u/<uuid:id>"),
    ("/files/{rest:path}", "/files/<path:rest>"),
    ("/files/{rest:path}/edit", "/files/<path:rest>/edit"),
    ("/{kind}/{name}", "/<kind>/<name>"),
    ("/{kind}", "/<kind>"),
    ("/{all:path}", "/<path:all>"),
]
_pieces = st.sampled_from(
    ["/", "//", "health", "items", "files", "edit", "u", "7", "x", "\n", ".", " ",
     "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9", "0f1e2d3c4b5a69788695a4b3c2d1e0f9"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, min_size=1, max_size=6).map(lambda pieces: "/" + "".join(pieces)))
@example("/files//x")
@example("/files/")
@example("/files/\nx")
@example("/files//edit")
@example("/u/0f1e2d3c4b5a69788695a4b3c2d1e0f9")
def test_a_table_takes_every_path_to_the_route_werkzeug_takes_it_to_or_refuses_it(path: str) -> None:
    rules = [RouteRule(f"app:Route{index}", "*") for index in range(len(_PATTERNS))]
    table = RouteTable([("GET", pattern, rules[index]) for index, (pattern, _) in enumerate(_PATTERNS)])
    urls = Map([WerkzeugRule(rule, endpoint=index) for index, (_, rule) in enumerate(_PATTERNS)]).bind("x")
    try:
        index, values = urls.match(path, "GET")
    except (RequestRedirect, HTTPException):
        return  # a redirect carries no data, and the request that follows it is checked
    try:
        found = table.match("GET", path)
    except errors.InvalidParameter as refused:
        assert refused.code == "InvalidParameter.Path"
        return
    assert found == (rules[index], {name: str(value) for name, value in values.items()})
