"""The protected demo APIs: ECS-, RDS- and OSS-like RPC on ``/``, and OSS REST paths ``/<bucket>/<key>``.

RPC calls are routed by ``Version`` (ECS 2014-05-26, RDS 2014-08-15, OSS 2019-05-17) and ``Action``; the RAM
action is ``<service>:<Action>`` and the resource is built from the parameters, e.g.
``acs:ecs:<RegionId>:<account>:instance/<InstanceId>`` or ``acs:oss:*:<account>:<BucketName>/<ObjectName>``.
The REST paths answer as OSS does (XML listings and errors) and are verified with OSS signatures, so ``oss2``
clients work. Every request passes :class:`~ram_middleware.adapters.starlette.RAMMiddleware` first: the
handlers below only ever run for an allowed caller.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ram_middleware.adapters.asgi import ASGIApp
from ram_middleware.adapters.starlette import RAMMiddleware, public, ram_route
from ram_middleware.config import Ram
from ram_middleware.facts import RequestFacts, media_type_is
from ram_middleware.routes import InvalidVersion, PathParams, RpcApi

from .world import REGION, DemoError, Estate, StoredObject, World

__all__ = ["APIS", "OssXmlErrors", "VersionedRpc", "create_app"]

Handler = Callable[[Estate, Mapping[str, str]], dict[str, Any]]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
INSTANCE = "acs:ecs:{RegionId}:{account}:instance/{InstanceId}"
DB_INSTANCE = "acs:rds:{RegionId}:{account}:dbinstance/{DBInstanceId}"
OBJECT = "acs:oss:*:{account}:{BucketName}/{ObjectName}"
REST_OBJECT = "acs:oss:*:{account}:{bucket}/{key}"
REST_BUCKET = "acs:oss:*:{account}:{bucket}"


def _param(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise DemoError(400, f"MissingParameter.{name}", f"The input parameter {name} is mandatory.")
    return value


def _date(stored: StoredObject) -> str:
    return stored.modified.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- ECS 2014-05-26 -----------------------------------------------------------------------------------------


def describe_instances(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
    region = params.get("RegionId", REGION)
    rows = [
        {"InstanceId": i.instance_id, "InstanceName": i.name, "Status": i.status, "RegionId": i.region}
        for i in estate.instances.values()
        if not i.deleted and i.region == region
    ]
    return {"Instances": {"Instance": rows}, "TotalCount": len(rows), "PageNumber": 1, "PageSize": 10}


def _set_status(status: str) -> Handler:
    def handler(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
        # Idempotent: starting a running instance (or stopping a stopped one) succeeds.
        estate.live_instance(_param(params, "InstanceId")).status = status
        return {}

    return handler


def delete_instance(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
    estate.instance(_param(params, "InstanceId")).deleted = True
    return {}


# --- RDS 2014-08-15 -----------------------------------------------------------------------------------------


def describe_db_instances(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
    region = params.get("RegionId", REGION)
    rows = [
        {
            "DBInstanceId": d.db_instance_id,
            "DBInstanceDescription": d.description,
            "Engine": d.engine,
            "DBInstanceStatus": "Running",
            "RegionId": d.region,
        }
        for d in estate.db_instances.values()
        if d.region == region
    ]
    return {
        "Items": {"DBInstance": rows},
        "TotalRecordCount": len(rows),
        "PageNumber": 1,
        "PageRecordCount": len(rows),
    }


def create_database(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
    estate.db_instance(_param(params, "DBInstanceId")).databases.add(_param(params, "DBName"))
    return {}


# --- OSS-like RPC 2019-05-17 --------------------------------------------------------------------------------


def get_object(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
    bucket, key = _param(params, "BucketName"), _param(params, "ObjectName")
    stored = estate.object(bucket, key)
    return {
        "BucketName": bucket,
        "ObjectName": key,
        "Content": stored.body.decode("utf-8", "replace"),
        "Size": len(stored.body),
        "ETag": stored.etag,
        "LastModified": _date(stored),
    }


def put_object(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
    bucket, key = _param(params, "BucketName"), _param(params, "ObjectName")
    stored = estate.put_object(bucket, key, params.get("Content", "").encode("utf-8"))
    return {"BucketName": bucket, "ObjectName": key, "ETag": stored.etag}


def list_objects(estate: Estate, params: Mapping[str, str]) -> dict[str, Any]:
    bucket = _param(params, "BucketName")
    prefix = params.get("Prefix", "")
    rows = [
        {"Key": o.key, "Size": len(o.body), "ETag": o.etag, "LastModified": _date(o)}
        for o in sorted(estate.bucket(bucket).objects.values(), key=lambda o: o.key)
        if o.key.startswith(prefix)
    ]
    return {"BucketName": bucket, "Prefix": prefix, "Objects": {"Object": rows}}


APIS: dict[str, tuple[str, dict[str, tuple[str, Handler]]]] = {
    "2014-05-26": (
        "ecs",
        {
            "DescribeInstances": ("acs:ecs:{RegionId}:{account}:instance/*", describe_instances),
            "StartInstance": (INSTANCE, _set_status("Running")),
            "StopInstance": (INSTANCE, _set_status("Stopped")),
            "DeleteInstance": (INSTANCE, delete_instance),
        },
    ),
    "2014-08-15": (
        "rds",
        {
            "DescribeDBInstances": ("acs:rds:{RegionId}:{account}:dbinstance/*", describe_db_instances),
            "CreateDatabase": (DB_INSTANCE, create_database),
        },
    ),
    "2019-05-17": (
        "oss",
        {
            "GetObject": (OBJECT, get_object),
            "PutObject": (OBJECT, put_object),
            "ListObjects": ("acs:oss:*:{account}:{BucketName}", list_objects),
        },
    ),
}
"""Version → (service code, Action → (resource template, handler))."""


class VersionedRpc:
    """One RPC endpoint serving several products: ``Version`` picks the product's :class:`RpcApi`."""

    public = False

    def __init__(self, apis: Mapping[str, tuple[str, Mapping[str, tuple[str, Handler]]]]) -> None:
        self._apis = {
            version: RpcApi(
                service, resources={a: t for a, (t, _) in actions.items()}, actions=actions, version=version
            )
            for version, (service, actions) in apis.items()
        }

    def resolve(self, facts: RequestFacts, path_params: PathParams, account_id: str) -> tuple[str, str]:
        version = facts.params.get("Version") or facts.header("x-acs-version") or ""
        api = self._apis.get(version)
        if api is None:
            raise InvalidVersion()
        return api.resolve(facts, path_params, account_id)


# --- the app ------------------------------------------------------------------------------------------------


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "ram_request_id", "") or "")


def _json(request: Request, body: dict[str, Any], status: int = 200) -> JSONResponse:
    request_id = _request_id(request)
    return JSONResponse({"RequestId": request_id, **body}, status, headers={"x-acs-request-id": request_id})


def _error_xml(error: DemoError, request_id: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(error.code)}</Code>'
        f"<Message>{escape(error.message)}</Message><RequestId>{escape(request_id)}</RequestId>"
        "<HostId>company-x.demo</HostId></Error>"
    )


def _xml_error(request: Request, error: DemoError) -> Response:
    request_id = _request_id(request)
    body = _error_xml(error, request_id)
    return Response(
        body, error.status, media_type="application/xml", headers={"x-oss-request-id": request_id}
    )


def create_app(ram: Ram, world: World | None = None) -> Starlette:
    """The demo app, protected by the middleware over ``ram`` (its store, policies and audit sink)."""
    state = world if world is not None else World()

    async def rpc(request: Request) -> Response:
        params = dict(request.query_params)
        # Read the form exactly when the middleware did (media types are case-insensitive): it authorized
        # the Action and resource named there.
        if media_type_is(request.headers.get("content-type", ""), "application/x-www-form-urlencoded"):
            params.update(
                parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
            )
        version = params.get("Version") or request.headers.get("x-acs-version", "")
        action = params.get("Action") or request.headers.get("x-acs-action", "")
        _, handler = APIS[version][1][action]  # the middleware already refused unknown ones
        try:
            with state.lock:
                body = handler(state.estate(request.state.principal.account_id), params)
        except DemoError as exc:
            return _json(request, {"Code": exc.code, "Message": exc.message}, exc.status)
        return _json(request, body)

    class ObjectEndpoint(HTTPEndpoint):
        """``/<bucket>/<key>``: GetObject (GET, HEAD) and PutObject (PUT), answered as OSS does."""

        @ram_route("oss:GetObject", REST_OBJECT)
        async def get(self, request: Request) -> Response:
            return self._read(request, head=False)

        @ram_route("oss:GetObject", REST_OBJECT)
        async def head(self, request: Request) -> Response:
            return self._read(request, head=True)

        @ram_route("oss:PutObject", REST_OBJECT)
        async def put(self, request: Request) -> Response:
            body = await request.body()
            try:
                with state.lock:
                    stored = _estate(request).put_object(
                        request.path_params["bucket"], request.path_params["key"], body
                    )
            except DemoError as exc:
                return _xml_error(request, exc)
            return Response(
                b"", 200, headers={"ETag": f'"{stored.etag}"', "x-oss-request-id": _request_id(request)}
            )

        def _read(self, request: Request, *, head: bool) -> Response:
            try:
                with state.lock:
                    stored = _estate(request).object(
                        request.path_params["bucket"], request.path_params["key"]
                    )
            except DemoError as exc:
                return _xml_error(request, exc)
            headers = {
                "ETag": f'"{stored.etag}"',
                "Last-Modified": stored.modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                "x-oss-request-id": _request_id(request),
                "x-oss-object-type": "Normal",
            }
            if head:
                headers["Content-Length"] = str(len(stored.body))
            return Response(
                b"" if head else stored.body, 200, media_type="application/octet-stream", headers=headers
            )

    @ram_route("oss:ListObjects", REST_BUCKET)
    async def list_bucket(request: Request) -> Response:
        prefix = request.query_params.get("prefix", "")
        encode = request.query_params.get("encoding-type") == "url"
        try:
            with state.lock:
                objects = sorted(
                    _estate(request).bucket(request.path_params["bucket"]).objects.values(),
                    key=lambda o: o.key,
                )
        except DemoError as exc:
            return _xml_error(request, exc)
        return Response(
            _listing(
                request.path_params["bucket"],
                prefix,
                [o for o in objects if o.key.startswith(prefix)],
                encode,
            ),
            media_type="application/xml",
            headers={"x-oss-request-id": _request_id(request)},
        )

    def _estate(request: Request) -> Estate:
        return state.estate(request.state.principal.account_id)

    @public
    async def health(request: Request) -> Response:
        return JSONResponse({"Status": "ok"})

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/", ram_route(VersionedRpc(APIS))(rpc), methods=["GET", "POST"]),
            Route("/{bucket}/", list_bucket, methods=["GET"]),
            Route("/{bucket}", list_bucket, methods=["GET"]),
            Route("/{bucket}/{key:path}", ObjectEndpoint),
        ]
    )
    app.add_middleware(RAMMiddleware, ram=ram)
    # Outermost: on the OSS paths, the middleware's refusals still in JSON (a request without an OSS
    # signature; OSS-signed ones it answers in OSS's XML itself) are re-worded as OSS's XML errors.
    app.add_middleware(OssXmlErrors)
    return app


class OssXmlErrors:
    """On the REST paths, turn a JSON error (``{"RequestId", "Code", "Message"}``) into OSS's XML error,
    with the request id in ``x-oss-request-id`` where oss2 looks for it. An XML error (the middleware's
    answer to an OSS-signed request) passes as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "/") in ("/", "/health"):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held.append(message)
                return
            if held and message["type"] == "http.response.body":
                await _send_xml(send, held[0], message.get("body", b""))
                return
            await send(message)

        await self.app(scope, receive, rewrite)


async def _send_xml(send: Send, start: Message, body: bytes) -> None:
    headers = dict(start.get("headers", []))
    if not headers.get(b"content-type", b"").startswith(b"application/json"):
        await send(start)
        await send({"type": "http.response.body", "body": body})
        return
    try:
        fields = json.loads(body)
    except ValueError:
        fields = {}
    error = DemoError(start["status"], str(fields.get("Code", "Error")), str(fields.get("Message", "")))
    # A HEAD answer has no body: its id is then in the middleware's header.
    request_id = str(fields.get("RequestId") or headers.get(b"x-acs-request-id", b"").decode("latin-1"))
    xml = _error_xml(error, request_id).encode()
    kept = [(k, v) for k, v in start.get("headers", []) if k not in (b"content-type", b"content-length")]
    kept += [
        (b"content-type", b"application/xml"),
        (b"content-length", str(len(xml)).encode()),
        (b"x-oss-request-id", request_id.encode("latin-1", "replace")),
    ]
    await send({**start, "headers": kept})
    await send({"type": "http.response.body", "body": xml})


def _listing(bucket: str, prefix: str, objects: list[StoredObject], encode: bool) -> str:
    def text(value: str) -> str:
        return quote(value, safe="") if encode else escape(value)

    contents = "".join(
        f'<Contents><Key>{text(o.key)}</Key><LastModified>{_date(o)}</LastModified><ETag>"{o.etag}"</ETag>'
        f"<Type>Normal</Type><Size>{len(o.body)}</Size><StorageClass>Standard</StorageClass></Contents>"
        for o in objects
    )
    encoding = "<EncodingType>url</EncodingType>" if encode else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>{escape(bucket)}</Name>'
        f"<Prefix>{text(prefix)}</Prefix><Marker></Marker><MaxKeys>100</MaxKeys><Delimiter></Delimiter>"
        f"{encoding}<IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
    )
