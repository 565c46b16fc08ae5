"""Flask extension contract: init_app / factories, config keys, app.extensions, g, class-based views."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
import webtest
from flask import Blueprint, Flask, g, request
from flask.views import MethodView
from werkzeug.routing import BaseConverter

from ram_middleware import errors
from ram_middleware.adapters import flask as flask_adapter
from ram_middleware.adapters.flask import RAM, public, require
from ram_middleware.service import Limits

from .world import World

OFFICE_IP = "203.0.113.7"


def _signed_get(
    app: Flask, world: World, path: str, who: str | None, method: str = "GET"
) -> webtest.TestResponse:
    headers: list[tuple[str, str]] = []
    url = f"http://localhost:80{path}"
    if who is not None:
        signed = world.signer(who).sign(method, url, [], b"")
        headers = [(k, v) for k, v in signed.headers.items() if k != "host"]
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": OFFICE_IP})
    return client.request(url, method=method, headers=headers, expect_errors=True)


def _factory(extension: RAM, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    extension.init_app(app)

    @app.get("/me")
    @require("ecs:DescribeInstances")
    def me() -> dict[str, Any]:
        return {"arn": g.principal.arn}

    return app


def test_one_extension_serves_two_apps_without_keeping_either(world: World) -> None:
    extension = RAM(ram=world.ram)
    first, second = _factory(extension), _factory(extension, RAM_UNDECLARED="authenticate")
    assert first.extensions["ram"].extension is extension
    assert second.extensions["ram"].ram is world.ram
    assert not any(isinstance(value, Flask) for value in vars(extension).values())
    assert _signed_get(first, world, "/me", "alice").json == {"arn": world.arn("alice")}
    assert _signed_get(second, world, "/me", "bob").json == {"arn": world.arn("bob")}


@pytest.mark.parametrize("given", ["ping, health", ["ping", "health"]])
def test_public_endpoints_from_text_or_a_list(world: World, given: object) -> None:
    app = _factory(RAM(ram=world.ram), RAM_PUBLIC_ENDPOINTS=given)

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    @app.get("/a")
    def a() -> str:  # undeclared; its endpoint name is one letter of "ping, health"
        return "open?"

    assert _signed_get(app, world, "/ping", None).text == "pong"
    assert _signed_get(app, world, "/a", None).status_int == 401


def test_a_method_a_public_endpoint_does_not_take_is_405_as_on_a_public_view(world: World) -> None:
    # Werkzeug answers 405 before any view runs, and the path's view then decides: an endpoint made public
    # by RAM_PUBLIC_ENDPOINTS (e.g. "static") was undeclared there, so anybody got 401 instead of the 405
    # a @public view gives.
    app = _factory(RAM(ram=world.ram), RAM_PUBLIC_ENDPOINTS=["ping"])
    app.add_url_rule("/ping", "ping", lambda: "pong")
    assert _signed_get(app, world, "/ping", None, "POST").status_int == 405
    assert _signed_get(app, world, "/static/x.css", None, "POST").status_int == 401  # "static" not listed
    assert world.audit.events[-1].code == "MissingAuthentication"


def test_config_keys_are_defaulted_with_setdefault(world: World) -> None:
    app = _factory(RAM(ram=world.ram), RAM_MAX_BODY=1234)
    assert app.config["RAM_MAX_BODY"] == 1234
    assert app.config["RAM_UNDECLARED"] == "deny"
    assert app.config["RAM_STORE_URL"] == "sqlite:///ram.db"
    assert app.config["RAM_PUBLIC_ENDPOINTS"] == []
    assert app.extensions["ram"].max_body == 1234


def test_runtime_built_from_the_app_config(tmp_path: Any) -> None:
    app = _factory(RAM(), RAM_STORE_URL=f"sqlite:///{tmp_path}/ram.db", RAM_AUDIT="memory:")
    runtime = RAM.runtime(app)
    try:
        assert runtime.store.url == f"sqlite:///{tmp_path}/ram.db"
        assert (tmp_path / "ram.db").exists()
        account = runtime.service.create_account().account_id
        runtime.service.create_user(account, "zoe")
        runtime.service.attach_policy_to_user(account, "System", "AliyunECSReadOnlyAccess", "zoe")
        key = runtime.service.create_access_key(account, "zoe")
        from ram_middleware.client import RequestSigner

        signed = RequestSigner(key.key.access_key_id, key.secret).sign(
            "GET", "http://localhost:80/me", [], b""
        )
        reply = webtest.TestApp(app).get(
            "/me", headers=[(k, v) for k, v in signed.headers.items() if k != "host"], expect_errors=True
        )
        assert reply.json == {"arn": f"acs:ram::{account}:user/zoe"}
    finally:
        runtime.close()


def test_method_view_rules_per_method_and_public_endpoints(world: World) -> None:
    app = Flask(__name__, static_folder=None)
    app.config["RAM_PUBLIC_ENDPOINTS"] = ["ping"]
    RAM(app, ram=world.ram)

    class Instances(MethodView):
        @require("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{iid}")
        def get(self, iid: str) -> dict[str, Any]:
            return {"iid": iid, "arn": g.principal.arn}

        @require("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{iid}")
        def delete(self, iid: str) -> dict[str, Any]:
            return {"deleted": iid}

    app.add_url_rule("/instances/<iid>", view_func=Instances.as_view("instances"))
    app.add_url_rule("/ping", "ping", lambda: {"principal": g.principal})

    @app.get("/open")
    @public
    def open_view() -> dict[str, Any]:
        return {"principal": g.principal}

    assert _signed_get(app, world, "/instances/i-5", "bob").json == {"iid": "i-5", "arn": world.arn("bob")}
    assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-5"
    assert _signed_get(app, world, "/instances/i-5", "bob", method="DELETE").status_int == 403
    assert _signed_get(app, world, "/instances/i-5", "alice", method="DELETE").json == {"deleted": "i-5"}
    assert _signed_get(app, world, "/ping", None).json == {"principal": None}
    assert _signed_get(app, world, "/open", None).json == {"principal": None}


def test_outcome_is_kept_on_g_for_the_view(world: World) -> None:
    app = Flask(__name__)
    RAM(app, ram=world.ram)

    @app.get("/rid")
    @require("ecs:DescribeInstances")
    def rid() -> dict[str, Any]:
        return {"request_id": g._ram.request_id}

    reply = _signed_get(app, world, "/rid", "alice")
    assert reply.json["request_id"] == world.audit.events[-1].request_id


def test_a_request_sees_no_outcome_of_an_earlier_one_in_the_same_app_context(world: World) -> None:
    # Requests made inside one app context (a test's `with app.app_context():`) share g: a public view saw
    # the previous request's Outcome (its request id, principal, decision) as if it were its own.
    app = _factory(RAM(ram=world.ram))

    @app.get("/open")
    @public
    def open_view() -> dict[str, Any]:
        return {"principal": g.principal, "outcome": g.get("_ram") is not None}

    signed = world.signer("alice").sign("GET", "http://localhost/me", [], b"")
    with app.app_context():
        client = app.test_client()
        headers = {k: v for k, v in signed.headers.items() if k != "host"}
        assert client.get("/me", headers=headers).json == {"arn": world.arn("alice")}
        assert client.get("/open").json == {"principal": None, "outcome": False}


def test_automatic_options_is_answered_without_a_credential(world: World) -> None:
    app = _factory(RAM(ram=world.ram))
    reply = webtest.TestApp(app).options("/me")
    assert reply.status_int == 200 and "GET" in reply.headers["Allow"]
    assert world.audit.events == []


def test_an_options_the_view_answers_is_checked_with_its_rule(world: World) -> None:
    app = Flask(__name__)
    RAM(app, ram=world.ram)

    @app.route("/instances/<iid>", methods=["GET", "OPTIONS"])  # no automatic answer: the view runs
    @require("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{iid}")
    def describe(iid: str) -> dict[str, Any]:
        return {"method": request.method, "iid": iid}

    @app.get("/undeclared")
    def undeclared() -> str:
        return "never without a rule"

    assert _signed_get(app, world, "/instances/i-1", None, "OPTIONS").status_int == 401
    assert _signed_get(app, world, "/instances/i-1", "eve", "OPTIONS").status_int == 403
    assert _signed_get(app, world, "/instances/i-1", "bob", "OPTIONS").json == {
        "method": "OPTIONS",
        "iid": "i-1",
    }
    assert world.audit.events[-1].action == "ecs:DescribeInstance"
    events = len(world.audit.events)
    reply = webtest.TestApp(app).options("/undeclared")  # Flask's own answer: no view runs, none is declared
    assert reply.status_int == 200 and reply.body == b"" and len(world.audit.events) == events
    without = _factory(RAM(ram=world.ram), PROVIDE_AUTOMATIC_OPTIONS=False)  # no automatic answer at all
    assert _signed_get(without, world, "/me", None, "OPTIONS").status_int == 401


def test_head_on_a_method_view_is_decided_by_get_s_rule(world: World) -> None:
    # Flask's MethodView answers HEAD with get() when it has no head(), as Starlette's HTTPEndpoint does.
    app = Flask(__name__)
    RAM(app, ram=world.ram)

    class Instance(MethodView):
        @require("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{iid}")
        def get(self, iid: str) -> dict[str, Any]:
            return {"iid": iid}

        @require("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{iid}")
        def delete(self, iid: str) -> dict[str, Any]:
            return {"deleted": iid}

    app.add_url_rule("/instances/<iid>", view_func=Instance.as_view("instance"))
    assert _signed_get(app, world, "/instances/i-1", "bob", "HEAD").status_int == 200  # read-only may read
    assert world.audit.events[-1].action == "ecs:DescribeInstance"
    assert _signed_get(app, world, "/instances/i-1", "eve", "HEAD").status_int == 403
    assert _signed_get(app, world, "/instances/i-1", None, "HEAD").status_int == 401


def _root_key_reply(app: Flask) -> webtest.TestResponse:
    """The answer to the account's root AccessKey calling ``/me`` on ``app`` (a runtime of its own)."""
    from ram_middleware.client import RequestSigner

    service = RAM.runtime(app).service
    account = service.create_account().account_id
    key = service.create_access_key(account, None)
    signed = RequestSigner(key.key.access_key_id, key.secret).sign("GET", "http://localhost:80/me", [], b"")
    headers = [(k, v) for k, v in signed.headers.items() if k != "host"]
    return webtest.TestApp(app).get("/me", headers=headers, expect_errors=True)


@pytest.mark.parametrize(
    ("text", "allowed"),
    [("false", False), ("False", False), ("0", False), ("on", True)],
)
def test_a_flag_given_as_text_in_the_app_config_means_what_it_says(text: str, allowed: bool) -> None:
    # A config file or os.environ.get() gives "false" as text: taken as is it was truthy, and root
    # AccessKeys the operator meant to keep out were let in.
    app = _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_ALLOW_ROOT_KEYS=text)
    try:
        reply = _root_key_reply(app)
    finally:
        RAM.runtime(app).close()
    if allowed:
        assert reply.status_int == 200
    else:
        assert (reply.status_int, reply.json["Code"]) == (403, "Forbidden.RootAccessKey")
    with pytest.raises(errors.InvalidParameter, match="RAM_REPLAY_SIGNATURES must be true or false"):
        _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_REPLAY_SIGNATURES="maybe")


def test_production_mode_from_the_app_config(
    tmp_path: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RAM_PRODUCTION is a RAM_* setting like the others: set in the app's config it was silently ignored.
    monkeypatch.delenv("RAM_PRODUCTION", raising=False)
    monkeypatch.delenv("RAM_MASTER_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="ram_middleware.crypto"):
        app = _factory(
            RAM(), RAM_STORE_URL=f"sqlite:///{tmp_path}/ram.db", RAM_AUDIT="memory:", RAM_PRODUCTION=True
        )
    RAM.runtime(app).close()
    assert "set RAM_MASTER_KEY in production" in caplog.text


def test_audit_flush_interval_from_the_app_config(tmp_path: Any) -> None:
    audit = tmp_path / "audit.jsonl"
    app = _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT=str(audit), RAM_AUDIT_FLUSH_INTERVAL="0")
    runtime = RAM.runtime(app)
    try:
        assert runtime.config.audit_flush_interval == 0.0
        webtest.TestApp(app).get("/me", expect_errors=True)
        assert '"code":"MissingAuthentication"' in audit.read_text()  # written before the answer
    finally:
        runtime.close()
    with pytest.raises(errors.InvalidParameter):
        _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_MAX_SKEW="soon")


def test_replay_signatures_from_the_environment_or_the_app_config(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAM_REPLAY_SIGNATURES", raising=False)
    assert _factory(RAM(ram=world.ram)).config["RAM_REPLAY_SIGNATURES"] is False
    monkeypatch.setenv("RAM_REPLAY_SIGNATURES", "true")
    from_env = _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:")
    given = _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_REPLAY_SIGNATURES=False)
    try:
        assert from_env.config["RAM_REPLAY_SIGNATURES"] is True
        assert RAM.runtime(from_env).config.replay_signatures is True
        assert RAM.runtime(given).config.replay_signatures is False
    finally:
        RAM.runtime(from_env).close()
        RAM.runtime(given).close()


def test_oss_domains_from_the_app_config() -> None:
    app = _factory(
        RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_OSS_DOMAINS="OSS.Example.com, oss.test"
    )
    runtime = RAM.runtime(app)
    try:
        assert runtime.config.oss_domains == ("OSS.Example.com", "oss.test")
        assert runtime.authenticator.oss_domains == ("oss.example.com", "oss.test")
    finally:
        runtime.close()
    with pytest.raises(errors.InvalidParameter):
        _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_OSS_DOMAINS=["*.oss.test"])


@pytest.mark.parametrize("given", [{"Files.Example.com": "rnd-bucket"}, " files.example.com = rnd-bucket "])
def test_oss_cnames_from_the_app_config(given: object) -> None:
    app = _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_OSS_CNAMES=given)
    runtime = RAM.runtime(app)
    try:
        assert runtime.authenticator.oss_cnames == {"files.example.com": "rnd-bucket"}
    finally:
        runtime.close()
    with pytest.raises(errors.InvalidParameter):
        _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_OSS_CNAMES="files.example.com")
    with pytest.raises(errors.InvalidParameter, match="host=bucket"):
        _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_OSS_CNAMES=["files.example.com"])


# --- the check reads what the view receives ----------------------------------------------------------------


def test_a_value_a_url_value_preprocessor_pops_is_still_the_route_s_not_the_query_s(world: World) -> None:
    # Flask's documented pattern: a blueprint prefix value moved to g before any before_request hook runs.
    app = Flask(__name__)
    RAM(app, ram=world.ram)
    tenant = Blueprint("tenant", __name__, url_prefix="/i/<instance_id>")

    @tenant.url_value_preprocessor
    def pull(endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.instance_id = (values or {}).pop("instance_id")

    @tenant.delete("/")
    @require("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{instance_id}")
    def delete() -> dict[str, str]:
        return {"deleted": g.instance_id}

    app.register_blueprint(tenant)
    assert _signed_get(app, world, "/i/i-other/", "alice", "DELETE").json == {"deleted": "i-other"}
    refused = _signed_get(app, world, "/i/i-protected/?instance_id=i-other", "alice", "DELETE")
    assert refused.status_int == 403  # alice's explicit Deny on i-protected; the query names another
    assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-protected"


class _ListConverter(BaseConverter):
    """Werkzeug's documented custom converter: ``a,b`` -> ``["a", "b"]``."""

    def to_python(self, value: str) -> list[str]:
        return value.split(",")

    def to_url(self, value: list[str]) -> str:
        return ",".join(value)


def test_a_converter_value_that_is_not_text_or_a_number_is_a_configuration_error(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    app.url_map.converters["list"] = _ListConverter
    RAM(app, ram=world.ram)

    @app.delete("/instances/<list:ids>")
    @require("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{ids}")
    def delete(ids: list[str]) -> dict[str, list[str]]:
        return {"deleted": ids}

    @app.get("/batches/<list:ids>")
    @require("ecs:DescribeInstances", "*")
    def describe(ids: list[str]) -> dict[str, list[str]]:
        return {"described": ids}

    # Checked as "['i-protected']" it would pass the Deny on instance/i-protected: refused (fail closed).
    with caplog.at_level(logging.ERROR):
        refused = _signed_get(app, world, "/instances/i-protected", "alice", "DELETE")
    assert (refused.status_int, refused.json["Code"]) == (503, "ServiceUnavailable")
    assert "'ids' converts to a list" in caplog.text
    # A route whose resource does not name the value is unaffected.
    assert _signed_get(app, world, "/batches/a,b", "alice").json == {"described": ["a", "b"]}


def _signed_put(app: Flask, world: World, body: bytes, **environ: Any) -> webtest.TestResponse:
    url = "http://localhost:80/upload"
    headers = [("content-type", "application/octet-stream")]
    signed = world.signer("alice").sign("PUT", url, headers, body)
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": OFFICE_IP, **environ})
    sent = [*headers, *((k, v) for k, v in signed.headers.items() if k != "host")]
    return client.request(url, method="PUT", headers=sent, body=body, expect_errors=True)


def _upload_app(world: World, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    RAM(app, ram=world.ram)

    @app.put("/upload")
    @require("ecs:DescribeInstances")
    def upload() -> dict[str, str]:
        reader = request.environ["ram.test.reader"]
        body = request.get_data() if reader == "data" else getattr(request, reader).read()
        return {"body": body.decode()}

    return app


@pytest.mark.parametrize("reader", ["stream", "input_stream", "data"])
def test_the_view_reads_the_body_the_check_read_however_it_reads(world: World, reader: str) -> None:
    reply = _signed_put(_upload_app(world), world, b"hello world", **{"ram.test.reader": reader})
    assert reply.json == {"body": "hello world"}


def test_a_chunked_body_over_ram_max_body_is_413_not_cut_short(world: World) -> None:
    app = _upload_app(world, RAM_MAX_BODY=8)
    body = b"0123456789abcdef"
    chunked = {"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
    url = "http://localhost:80/upload"
    signed = world.signer("alice").sign("PUT", url, [("content-type", "application/octet-stream")], body)
    environ = {
        "REQUEST_METHOD": "PUT", "PATH_INFO": "/upload", "QUERY_STRING": "", "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": OFFICE_IP,
        "CONTENT_TYPE": "application/octet-stream", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(), **chunked,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in signed.headers.items()},
    }  # fmt: skip
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)

    reply = b"".join(app(environ, start_response))
    assert statuses[0].startswith("413") and b'"Code":"EntityTooLarge"' in reply


def test_init_app_twice_on_one_app_is_refused(world: World) -> None:
    app = Flask(__name__)
    extension = RAM(app, ram=world.ram)
    with pytest.raises(RuntimeError, match="already initialised"):
        extension.init_app(app)


def test_a_body_an_earlier_hook_read_is_checked_without_reading_the_input_again(world: World) -> None:
    # A request logger registered before RAM(app) reads the body; the raw input is then spent: read again
    # it gives nothing here (a failed signature) and, on a real server, blocks on the socket.
    app = Flask(__name__)

    @app.before_request
    def log_body() -> None:
        request.get_data()

    RAM(app, ram=world.ram)

    @app.put("/upload")
    @require("ecs:DescribeInstances")
    def upload() -> dict[str, str]:
        return {"body": request.get_data().decode()}

    body = b"hello world"
    url = "http://localhost:80/upload"
    signed = world.signer("alice").sign("PUT", url, [("content-type", "application/octet-stream")], body)
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": OFFICE_IP})
    sent = [
        ("content-type", "application/octet-stream"),
        *((k, v) for k, v in signed.headers.items() if k != "host"),
    ]
    reply = client.request(url, method="PUT", headers=sent, body=body, expect_errors=True)
    assert reply.status_int == 200 and reply.json == {"body": "hello world"}


def test_a_form_an_earlier_hook_parsed_fails_closed_and_says_why_in_the_log(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parsing request.form spends the raw body without keeping it: the signature cannot be checked.
    monkeypatch.setattr(flask_adapter, "_warned_body_spent", False)  # said once per process
    app = Flask(__name__)

    @app.before_request
    def read_form() -> None:
        request.form.get("csrf")

    RAM(app, ram=world.ram)

    @app.post("/notes")
    @require("ecs:DescribeInstances")
    def notes() -> dict[str, str]:
        return {"ok": "yes"}

    body = b"title=hello"
    url = "http://localhost:80/notes"
    form = ("content-type", "application/x-www-form-urlencoded")
    signed = world.signer("alice").sign("POST", url, [form], body)
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": OFFICE_IP})
    sent = [form, *((k, v) for k, v in signed.headers.items() if k != "host")]
    with caplog.at_level(logging.WARNING, logger="ram_middleware.adapters.flask"):
        reply = client.request(url, method="POST", headers=sent, body=body, expect_errors=True)
    assert reply.status_int == 400 and reply.json["Code"] == "SignatureDoesNotMatch"
    assert "call RAM(app) before that extension" in caplog.text


def test_limits_from_the_app_config_as_text_or_a_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAM_LIMITS", "users_per_account=7")
    from_env = _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:")
    as_dict = _factory(
        RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_LIMITS={"groups_per_user": 9}
    )
    try:
        assert RAM.runtime(from_env).service.limits.users_per_account == 7
        limits = RAM.runtime(as_dict).service.limits
        assert (limits.groups_per_user, limits.users_per_account) == (9, Limits().users_per_account)
    finally:
        RAM.runtime(from_env).close()
        RAM.runtime(as_dict).close()
    with pytest.raises(errors.InvalidParameter, match="RAM_LIMITS: groups_per_user must be a whole number"):
        _factory(RAM(), RAM_STORE_URL="memory://", RAM_AUDIT="memory:", RAM_LIMITS="groups_per_user=0")


def test_werkzeug_proxy_fix_is_warned_about_once(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ProxyFix trusts its hops without asking who sent them: the check would take the client's word for
    # acs:SourceIp. RAM_TRUSTED_PROXIES is the way; the operator is told, once.
    from werkzeug.middleware.proxy_fix import ProxyFix

    from ram_middleware.adapters import wsgi

    monkeypatch.setattr(wsgi, "_proxy_fix_seen", False)
    app = Flask(__name__)
    RAM(app, ram=world.ram)

    @app.get("/me")
    @require("ecs:DescribeInstances")
    def me() -> dict[str, Any]:
        return {"arn": g.principal.arn}

    assert _signed_get(app, world, "/me", "alice").status_code == 200
    assert not [r for r in caplog.records if "ProxyFix" in r.getMessage()]
    app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
    for _ in range(2):
        assert _signed_get(app, world, "/me", "alice").status_code == 200
    warned = [r for r in caplog.records if "ProxyFix" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert "RAM_TRUSTED_PROXIES" in warned[0].getMessage()


def test_current_principal_is_g_principal_typed(world: World) -> None:
    app = Flask(__name__)
    RAM(app, ram=world.ram)

    @app.get("/me")
    @require("ecs:DescribeInstances")
    def me() -> dict[str, Any]:
        principal = flask_adapter.current_principal()
        assert principal is g.principal
        return {"arn": principal.arn if principal else None}

    @app.get("/open")
    @public
    def open_view() -> dict[str, Any]:
        return {"principal": flask_adapter.current_principal()}

    assert _signed_get(app, world, "/me", "alice").json == {"arn": world.arn("alice")}
    assert _signed_get(app, world, "/open", None).json == {"principal": None}
