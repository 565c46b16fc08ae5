"""The README's snippets and the examples as an app developer writes them under ``mypy --strict``.

Checked by the project's bare ``mypy`` run (never imported or run: the behaviour is tested elsewhere).
Each ``assert_type`` fails when a decorator loses the type of what it decorates, and each
``# type: ignore[...]`` (unused ignores are errors here, see pyproject) fails when it loses its parameters.
"""

from __future__ import annotations

from typing import Annotated, Any, assert_type

import httpx
import requests
from fastapi import Depends, FastAPI
from flask import Flask, g
from flask import Response as FlaskResponse
from flask.views import MethodView
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ram_middleware import Decision, RamConfig, RamService, build, open_store
from ram_middleware.adapters.flask import RAM, require
from ram_middleware.adapters.flask import current_principal as flask_principal
from ram_middleware.adapters.flask import public as flask_public
from ram_middleware.adapters.starlette import (
    PUBLIC,
    RAMMiddleware,
    RamUser,
    RequirePermission,
    RouteConfigurationError,
    current_principal,
    public,
    ram_route,
)
from ram_middleware.adapters.wsgi import RAMWSGIMiddleware
from ram_middleware.client import RamAuth
from ram_middleware.console import flask as console_flask
from ram_middleware.console import starlette as console_starlette
from ram_middleware.errors import RAMError
from ram_middleware.identity import Principal
from ram_middleware.routes import RouteRule, RouteTable, RpcApi
from ram_middleware.service import Limits

request: Request = Request({"type": "http"})

# --- Starlette (README "Protect an existing app") ---------------------------------------------------------


@ram_route("notes:GetNote", "acs:notes:*:{account}:note/{note_id}")
async def get_note(request: Request) -> JSONResponse:
    return JSONResponse({"reader": request.user.identity})


@ram_route("notes:ListNotes")
def list_notes(request: Request) -> JSONResponse:  # sync endpoints too
    return JSONResponse([])


@public
async def index(request: Request) -> JSONResponse:
    return JSONResponse({})


async def call_starlette_endpoints() -> None:
    assert_type(await get_note(request), JSONResponse)
    assert_type(list_notes(request), JSONResponse)
    assert_type(await index(request), JSONResponse)
    await get_note("n1")  # type: ignore[arg-type]
    list_notes()  # type: ignore[call-arg]


@public
class Health(HTTPEndpoint):
    async def get(self, request: Request) -> JSONResponse:
        return JSONResponse({})


class Notes(HTTPEndpoint):
    @ram_route("notes:DeleteNote", "acs:notes:*:{account}:note/{note_id}")
    async def delete(self, request: Request) -> JSONResponse:
        return JSONResponse({})

    @console_starlette.require_mfa(max_age=300)
    @ram_route("notes:PutNote", "acs:notes:*:{account}:note/{note_id}")
    def put(self, request: Request) -> JSONResponse:
        return JSONResponse({})


async def call_endpoint_methods(notes: Notes) -> None:
    assert_type(await notes.delete(request), JSONResponse)
    assert_type(await notes.put(request), JSONResponse | Response)  # sync, made a coroutine function
    await notes.put()  # type: ignore[call-arg]


@console_starlette.require_mfa(max_age=300)
@ram_route("billing:Pay")
async def pay(request: Request) -> JSONResponse:
    return JSONResponse({})


async def call_guarded() -> None:
    assert_type(await pay(request), JSONResponse | Response)  # the endpoint's reply, or the refusal
    await pay("request")  # type: ignore[arg-type]


app = Starlette(routes=[Route("/notes/{note_id}", get_note), Route("/health", Health)])
app.add_middleware(RAMMiddleware)
app.add_middleware(
    RAMMiddleware,
    ram=build(RamConfig.from_env()),
    rules=RouteTable([("GET", "/docs", PUBLIC), ("POST", "/rpc", RpcApi("ecs", version="2014-05-26"))]),
)
wrapped = RAMMiddleware(app, ram=build())
stacked = Starlette(middleware=[Middleware(RAMMiddleware, ram=build())])

# The principal where each framework's users look, and its typed spellings.
assert_type(current_principal(request), Principal | None)
if isinstance(request.user, RamUser):
    assert_type(request.user.principal, Principal)
if isinstance(request.auth, AuthCredentials):
    assert_type(request.auth.scopes, list[str])

# --- FastAPI ----------------------------------------------------------------------------------------------

api = FastAPI()


@api.get("/notes/{note_id}")
async def fastapi_note(
    note_id: int, who: Annotated[Principal, Depends(RequirePermission("notes:GetNote", "…/{note_id}"))]
) -> dict[str, str]:
    return {"reader": who.arn}


@api.get("/drafts/{note_id}")
@console_starlette.require_mfa(max_age=300)
@ram_route("notes:GetDraft", "acs:notes:*:{account}:draft/{note_id}")
def fastapi_draft(note_id: int) -> dict[str, int]:
    return {"id": note_id}


async def call_fastapi_endpoints(who: Principal) -> None:
    assert_type(await fastapi_note(1, who), dict[str, str])
    assert_type(await fastapi_draft(1), dict[str, int] | Response)
    await fastapi_draft("1")  # type: ignore[arg-type]


# --- Flask ------------------------------------------------------------------------------------------------

flask_app = Flask(__name__)
ram = RAM(flask_app)


@flask_app.get("/notes/<note_id>")
@require("notes:GetNote", "acs:notes:*:{account}:note/{note_id}")
def flask_note(note_id: str) -> dict[str, Any]:
    assert_type(flask_principal(), Principal | None)  # g.principal, typed
    return {"reader": g.principal.arn}


@flask_app.get("/")
@flask_public
def flask_index() -> str:
    return "notes"


@flask_app.route("/danger", methods=["POST"])
@console_flask.require_mfa(max_age=300)
@ram.route_rule("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{instance_id}")
def flask_danger(instance_id: str) -> str:
    return instance_id


assert_type(flask_note("n1"), dict[str, Any])
assert_type(flask_index(), str)
assert_type(flask_danger("i-1"), str | FlaskResponse)
flask_note(1)  # type: ignore[arg-type]
flask_danger()  # type: ignore[call-arg]


@RAM.public
class Status(MethodView):
    def get(self) -> str:
        return "up"

    @RAM.route_rule("ecs:StopInstance")
    def post(self) -> str:
        return "stopped"


assert_type(Status().post(), str)
flask_app.add_url_rule("/status", view_func=Status.as_view("status"))
protected = RAMWSGIMiddleware(
    flask_app, rules=RouteTable([("GET", "/instances/{id}", RouteRule("ecs:DescribeInstance", "…/{id}"))])
)

# --- RamAuth, the service and the errors users catch ------------------------------------------------------

auth = RamAuth("<AccessKeyId>", "<AccessKeySecret>", scheme="v1")
assert_type(requests.get("http://127.0.0.1:8000/notes/n1", auth=auth).json(), Any)
assert_type(httpx.Client(auth=auth).get("/notes/n1"), httpx.Response)
httpx.AsyncClient(auth=RamAuth("<AccessKeyId>", "<AccessKeySecret>", security_token="<token>"))

service = RamService(open_store("sqlite:///ram.db"))
assert_type(service.simulate("1", "B", "oss:GetObject", "acs:oss:*:1:rnd-bucket/a.txt", {}), Decision)
limits = Limits(users_per_account=5000)
try:
    RouteTable([("GET", "/x/{y:hex}", PUBLIC)])
except RAMError as refused:
    assert_type(refused.code, str)
except RouteConfigurationError:
    pass
