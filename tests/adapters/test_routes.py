"""Route declarations: resource templates, the RPC resolver, the route table, endpoint decorators."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Route

from ram_middleware import errors
from ram_middleware.facts import RequestFacts
from ram_middleware.routes import (
    PUBLIC,
    InvalidAction,
    InvalidVersion,
    OpaqueValue,
    ResourceTemplate,
    RouteRule,
    RouteTable,
    RpcApi,
    declared_rule,
    path_texts,
    public,
    route_rule,
)

ACCOUNT = "1234567890123456"
FALLBACK = RouteRule("ecs:DeleteInstance", "*")


def facts(query: str = "", *headers: tuple[str, str], body: bytes = b"", form: bool = False) -> RequestFacts:
    all_headers = (*headers, ("content-type", "application/x-www-form-urlencoded")) if form else headers
    return RequestFacts("POST", "/", query, tuple(all_headers), body, "127.0.0.1")


def test_template_fills_from_path_then_params_then_account() -> None:
    template = ResourceTemplate("acs:ecs:{RegionId}:{account}:instance/{InstanceId}")
    assert template.names == ("RegionId", "account", "InstanceId")
    request = facts("RegionId=cn-hangzhou&InstanceId=from-query")
    filled = template.fill(request, {"InstanceId": "from-path"}, ACCOUNT)
    assert filled == f"acs:ecs:cn-hangzhou:{ACCOUNT}:instance/from-path"


def test_template_reads_form_bodies_and_decodes() -> None:
    request = facts("", body=b"Key=a%20b%2Fc.txt", form=True)
    assert ResourceTemplate("acs:oss:*:{account}:bkt/{Key}").fill(request, {}, ACCOUNT) == (
        f"acs:oss:*:{ACCOUNT}:bkt/a b/c.txt"
    )


def test_missing_or_empty_parameter_is_400() -> None:
    template = ResourceTemplate("acs:ecs:*:{account}:instance/{InstanceId}")
    for request in (facts(""), facts("InstanceId=")):
        with pytest.raises(errors.MissingParameter) as caught:
            template.fill(request, {}, ACCOUNT)
        assert (caught.value.code, caught.value.status) == ("MissingParameter.InstanceId", 400)


def test_a_value_cannot_reach_into_another_part_of_the_arn() -> None:
    # eve may delete i-dev-* only; "RegionId=cn:1:instance/i-dev-x" would make the resource
    # acs:ecs:cn:1:instance/i-dev-x:<account>:instance/i-prod, which "acs:ecs:*:*:instance/i-dev-*" matches.
    template = ResourceTemplate("acs:ecs:{RegionId}:{account}:instance/{InstanceId}")
    for request, path in ((facts("RegionId=cn:1:instance/i-dev-x"), {}), (facts(""), {"RegionId": "cn:1"})):
        with pytest.raises(errors.InvalidParameter) as caught:
            template.fill(request, {"InstanceId": "i-prod", **path}, ACCOUNT)
        assert (caught.value.code, caught.value.status) == ("InvalidParameter.RegionId", 400)
    # The last placeholder takes anything, and a region may hold "/" (it shifts no field).
    assert template.fill(facts("RegionId=cn/x&InstanceId=a:b/c"), {}, ACCOUNT) == (
        f"acs:ecs:cn/x:{ACCOUNT}:instance/a:b/c"
    )


@pytest.mark.parametrize("region", ["*", "cn-*", "cn-?"])
def test_a_service_region_or_account_field_holds_no_wildcard(region: str) -> None:
    # An app that reads RegionId=* as "every region" would act in cn-prod, while the check (matching the
    # literal "*") never met a Deny on acs:ecs:cn-prod:*:*. No region, service or account holds one.
    template = ResourceTemplate("acs:ecs:{RegionId}:{account}:instance/{InstanceId}")
    for request, path in (
        (facts(f"RegionId={region}&InstanceId=i-1"), {}),
        (facts("InstanceId=i-1"), {"RegionId": region}),
    ):
        with pytest.raises(errors.InvalidParameter) as caught:
            template.fill(request, path, ACCOUNT)
        assert (caught.value.code, caught.value.status) == ("InvalidParameter.RegionId", 400)
        assert "wildcard" in caught.value.message


_ANY_TEXT = st.text(st.sampled_from(":/*?%.\x00\n\u212a\uff1a\u2215aZ9-"), max_size=12) | st.text(max_size=12)


@settings(max_examples=300, deadline=None)
@given(region=_ANY_TEXT, instance=_ANY_TEXT, from_path=st.booleans())
@example(region="cn:1:instance/i-dev-x", instance="i-prod", from_path=False)
@example(region="cn", instance="i-*?/../x:y", from_path=False)
@example(region="cn\uff1a1", instance="a" * 10_000, from_path=True)
def test_a_filled_arn_names_each_value_in_its_own_field(region: str, instance: str, from_path: bool) -> None:
    # Whatever a caller sends, the resource either is refused or parses back into the fields the values
    # were given for: the caller's account, the region as sent, the instance as sent. Wildcards and
    # look-alike characters stay literal text (the matcher reads only a policy's "*" and "?" as wildcards).
    from urllib.parse import urlencode

    from ram_middleware.arn import parse_arn

    template = ResourceTemplate("acs:ecs:{RegionId}:{account}:instance/{InstanceId}")
    path = {"RegionId": region} if from_path else {}
    request = facts(urlencode({"InstanceId": instance, **({} if from_path else {"RegionId": region})}))
    try:
        filled = template.fill(request, path, ACCOUNT)
    except (errors.InvalidParameter, errors.MissingParameter):
        assert any(c in region for c in ":*?") or not region or not instance
        return
    arn = parse_arn(filled)
    assert (arn.region, arn.account_id, arn.relative_id) == (region, ACCOUNT, f"instance/{instance}")


@pytest.mark.parametrize("head", ["ACS", "Acs"])
def test_an_arn_written_in_upper_case_guards_its_fields_too(head: str) -> None:
    # Policies match "ACS:ecs:..." as the ARN "acs:ecs:...": a region from the path must not shift it.
    template = ResourceTemplate(head + ":ecs:{RegionId}:{account}:instance/{InstanceId}")
    with pytest.raises(errors.InvalidParameter) as caught:
        template.fill(facts(), {"RegionId": "cn:1", "InstanceId": "i-prod"}, ACCOUNT)
    assert caught.value.code == "InvalidParameter.RegionId"


def test_a_parameter_before_another_placeholder_holds_no_separator() -> None:
    template = ResourceTemplate("acs:oss:*:{account}:{bucket}/{key}")
    for bucket in ("public/x", "public:x"):
        with pytest.raises(errors.InvalidParameter) as caught:
            template.fill(facts(f"bucket={bucket}&key=k"), {}, ACCOUNT)
        assert caught.value.code == "InvalidParameter.bucket"
    # From the path, the route decides what a segment may hold ({key:path} spans "/").
    assert template.fill(facts("key=a/b"), {"bucket": "b:1"}, ACCOUNT) == f"acs:oss:*:{ACCOUNT}:b:1/a/b"


def test_rpc_resource_templates_ignore_the_actions_case() -> None:
    api = RpcApi("ecs", resources={"StopInstance": "acs:ecs:*:{account}:instance/{InstanceId}"})
    request = facts("Action=STOPINSTANCE&InstanceId=i-1")
    assert api.resolve(request, {}, ACCOUNT) == ("ecs:STOPINSTANCE", f"acs:ecs:*:{ACCOUNT}:instance/i-1")
    with pytest.raises(errors.InvalidParameter):
        RpcApi("ecs", resources={"StopInstance": "*", "stopinstance": "*"})


@pytest.mark.parametrize(
    ("pattern", "path", "params"),
    [
        ("/items/{id:int}", "/items/007", {"id": "7"}),  # what the endpoint receives: int("007")
        ("/price/{v:float}", "/price/1.50", {"v": "1.5"}),
        (
            "/u/{id:uuid}",
            "/u/0F1E2D3C4B5A69788695A4B3C2D1E0F9",
            {"id": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"},
        ),
        ("/files/{rest:path}", "/files/", {"rest": ""}),
        ("/files/{rest:path}", "/files/a/b", {"rest": "a/b"}),
        ("/s/{name:str}", "/s/a", {"name": "a"}),
    ],
)
def test_route_table_converters_match_and_convert_as_starlettes(
    pattern: str, path: str, params: dict[str, str]
) -> None:
    assert RouteTable([("GET", pattern, PUBLIC)]).match("GET", path) == (PUBLIC, params)


def test_route_table_refuses_unknown_converters_and_non_matching_text() -> None:
    with pytest.raises(errors.InvalidParameter):
        RouteTable([("GET", "/items/{id:slug}", PUBLIC)])
    assert RouteTable([("GET", "/items/{id:int}", PUBLIC)]).match("GET", "/items/x1") is None
    # More digits than int() converts (4,300) matches no route rather than raising (a 500 before the check).
    table = RouteTable([("GET", "/items/{id:int}", PUBLIC), ("GET", "/items/{rest:path}", FALLBACK)])
    assert table.match("GET", "/items/" + "9" * 5000) == (FALLBACK, {"rest": "9" * 5000})


@settings(max_examples=300, deadline=None)
@given(
    digits=st.text(st.characters(categories=["Nd"]), min_size=1, max_size=6),
    tail=st.sampled_from(["", ".5", ".٥"]),
)
def test_a_table_never_takes_a_number_werkzeug_reads_for_another_route(digits: str, tail: str) -> None:
    # Werkzeug's int and float converters read any Unicode digit ("٣" is 3), a table's (as Starlette's) 0-9
    # only: such a number either matches as the same number or is refused, never reaches the next route.
    number = RouteRule("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{n}")
    table = RouteTable([("GET", "/items/{n:int}", number), ("GET", "/prices/{n:float}", number)])
    table.add("GET", "/{kind}/{name}", FALLBACK)
    path = f"/prices/{digits}{tail}" if tail else f"/items/{digits}"
    try:
        found = table.match("GET", path)
    except errors.InvalidParameter as refused:
        assert refused.code == "InvalidParameter.Path"
        assert not (digits + tail).isascii()
    else:
        text = str(float(digits + tail) if tail else int(digits))
        assert found == (number, {"n": text})


_STARLETTE_PATTERNS = [
    "/items/{n:int}", "/prices/{p:float}", "/u/{id:uuid}", "/health", "/files/{rest:path}", "/{kind}/{name}",
    "/{kind}", "/{all:path}",
]  # fmt: skip
_path_pieces = st.sampled_from(
    ["/", "items", "prices", "u", "health", "files", "7", "1.5", "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
     "\n", "\r", " ", "x", ".", "%", "٣"]
)  # fmt: skip


def _starlette_route(routes: list[Route], path: str) -> tuple[int, dict[str, str]] | None:
    """The index and path parameters (as text) of the route Starlette's router takes for ``path``."""
    scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
    for index, route in enumerate(routes):
        match, child = route.matches(scope)
        if match == Match.FULL:
            return index, {name: str(value) for name, value in child["path_params"].items()}
    return None


@settings(max_examples=300, deadline=None)
@given(st.lists(_path_pieces, min_size=1, max_size=6).map(lambda pieces: "/" + "".join(pieces)))
@example("/health\n")
@example("/items/7\n")
@example("//health")  # Starlette's catch-all takes it, as "/health"
def test_a_table_takes_every_path_to_the_route_starlette_takes_it_to_or_refuses_it(path: str) -> None:
    # A table decides the rule of the endpoint Starlette's router calls: any other rule (a later catch-all,
    # or none) would check what the endpoint does not do. Where Starlette finds no route the app answers 404.
    rules = [RouteRule(f"app:Route{index}", "*") for index in range(len(_STARLETTE_PATTERNS))]
    table = RouteTable([("GET", pattern, rules[index]) for index, pattern in enumerate(_STARLETTE_PATTERNS)])
    routes = [Route(pattern, PlainTextResponse) for pattern in _STARLETTE_PATTERNS]
    expected = _starlette_route(routes, path)
    try:
        found = table.match("GET", path)
    except errors.InvalidParameter as refused:
        assert refused.code == "InvalidParameter.Path"
        return
    if expected is not None:
        index, params = expected
        assert found == (rules[index], params)


def test_a_path_ending_in_a_newline_is_refused_where_starlette_would_route_it_without_one() -> None:
    admin = RouteRule("app:Administer", "*")
    table = RouteTable([("GET", "/admin", admin), ("GET", "/{page}", PUBLIC)])
    for path in ("/admin\n", "//admin\n"):
        with pytest.raises(errors.InvalidParameter) as refused:
            table.match("GET", path)
        assert refused.value.code == "InvalidParameter.Path"
    assert table.match("GET", "/about\n") == (PUBLIC, {"page": "about\n"})  # Starlette's reading too
    assert table.match("GET", "/admin") == (admin, {})


def test_account_comes_from_the_caller_only() -> None:
    assert ResourceTemplate("{account}").fill(facts(), {"account": ACCOUNT}, ACCOUNT) == ACCOUNT
    assert ResourceTemplate("{account}").fill(facts(f"account={ACCOUNT}"), {}, ACCOUNT) == ACCOUNT
    # A route capturing another account, or a query or form parameter naming one (a FastAPI endpoint's
    # ``account: str``), would hand it to the endpoint, which the check never looked at.
    for request, path in (
        (facts(), {"account": "777"}),
        (facts("account=666"), {}),
        (facts("", body=b"account=666", form=True), {}),
        (facts(f"account={ACCOUNT}&account=666"), {}),
    ):
        with pytest.raises(errors.InvalidParameter) as refused:
            ResourceTemplate("acs:ecs:*:{account}:instance/i-1").fill(request, path, ACCOUNT)
        assert (refused.value.code, refused.value.status) == ("InvalidParameter.account", 400)
    # A template without {account} leaves the parameter to the app.
    assert ResourceTemplate("acs:ecs:*:*:instance/i-1").fill(facts("account=666"), {}, ACCOUNT)


def test_route_rule_requires_service_colon_action() -> None:
    with pytest.raises(errors.InvalidParameter):
        RouteRule("DescribeInstances")
    assert RouteRule(public=True).public and PUBLIC.public


def test_rpc_api_action_version_and_resources() -> None:
    api = RpcApi(
        "ecs",
        resources={"StopInstance": "acs:ecs:{RegionId}:{account}:instance/{InstanceId}"},
        version="2014-05-26",
    )
    stop = facts("Action=StopInstance&Version=2014-05-26&RegionId=cn-beijing&InstanceId=i-1")
    assert api.resolve(stop, {}, ACCOUNT) == (
        "ecs:StopInstance",
        f"acs:ecs:cn-beijing:{ACCOUNT}:instance/i-1",
    )
    other = facts("Action=DescribeRegions&Version=2014-05-26")
    assert api.resolve(other, {}, ACCOUNT) == ("ecs:DescribeRegions", "*")
    with pytest.raises(InvalidVersion) as wrong_version:
        api.resolve(facts("Action=DescribeRegions&Version=2099-01-01"), {}, ACCOUNT)
    assert wrong_version.value.code == "InvalidVersion"


def test_rpc_api_reads_v3_headers_and_refuses_disagreement() -> None:
    api = RpcApi("ram")
    header = facts("", ("x-acs-action", "CreateUser"), ("x-acs-version", "2015-05-01"))
    assert api.resolve(header, {}, ACCOUNT) == ("ram:CreateUser", "*")
    both = facts("Action=ListUsers", ("x-acs-action", "CreateUser"))
    with pytest.raises(errors.InvalidParameter) as caught:
        api.resolve(both, {}, ACCOUNT)
    assert caught.value.code == "InvalidParameter.Action"


@pytest.mark.parametrize("action", ["Describe*", "ecs:Stop", "a b", "Ümlaut", "X" * 200])
def test_rpc_api_refuses_malformed_action_names(action: str) -> None:
    from urllib.parse import quote

    with pytest.raises(InvalidAction) as caught:
        RpcApi("ecs").resolve(facts(f"Action={quote(action)}"), {}, ACCOUNT)
    assert (caught.value.code, caught.value.status) == ("InvalidAction.NotFound", 404)


def test_rpc_api_action_allow_list() -> None:
    api = RpcApi("ecs", actions=["DescribeInstances"])
    assert api.resolve(facts("Action=DescribeInstances"), {}, ACCOUNT)[0] == "ecs:DescribeInstances"
    with pytest.raises(InvalidAction):
        api.resolve(facts("Action=DeleteInstance"), {}, ACCOUNT)
    with pytest.raises(errors.InvalidParameter):
        RpcApi("not a service")


def test_route_table_patterns_and_methods() -> None:
    read, write, anything = RouteRule("oss:GetObject"), RouteRule("oss:PutObject"), RouteRule("oss:Any")
    table = RouteTable(
        [
            ("GET", "/buckets/{bucket}/objects/{key:path}", read),
            (("PUT", "POST"), "/buckets/{bucket}/objects/{key:path}", write),
            ("*", "/anything/{id}", anything),
        ]
    )
    assert table.match("GET", "/buckets/b1/objects/dir/a.txt") == (read, {"bucket": "b1", "key": "dir/a.txt"})
    assert table.match("HEAD", "/buckets/b1/objects/k") == (read, {"bucket": "b1", "key": "k"})
    assert table.match("post", "/buckets/b1/objects/k") == (write, {"bucket": "b1", "key": "k"})
    assert table.match("DELETE", "/buckets/b1/objects/k") is None
    assert table.match("PATCH", "/anything/7") == (anything, {"id": "7"})
    assert table.match("GET", "/anything/7/more") is None
    assert table.match("GET", "/buckets.x/b1/objects/k") is None  # literal parts are escaped
    assert len(table) == 3
    with pytest.raises(errors.InvalidParameter):
        table.add("GET", "no-slash", read)


def test_decorators_declare_without_wrapping() -> None:
    def view() -> None: ...

    assert route_rule("ecs:DescribeInstances")(view) is view
    assert declared_rule(view) == RouteRule("ecs:DescribeInstances")
    assert declared_rule(public(lambda: None)) is PUBLIC
    assert declared_rule(object()) is None

    class Endpoint:
        @route_rule("ecs:DeleteInstance")
        def delete(self) -> None: ...

    assert declared_rule(Endpoint, "DELETE") == RouteRule("ecs:DeleteInstance")
    assert declared_rule(Endpoint, "GET") is None

    class Reader:
        @route_rule("ecs:DescribeInstances")
        def get(self) -> None: ...

    class OwnHead(Reader):
        @route_rule("ecs:DescribeInstanceStatus")
        def head(self) -> None: ...

    assert declared_rule(Reader, "HEAD") == RouteRule("ecs:DescribeInstances")  # HEAD is served by get()
    assert declared_rule(OwnHead, "HEAD") == RouteRule("ecs:DescribeInstanceStatus")


class _Name(str):
    """A framework's own str subclass (as a converter may return)."""


def test_path_texts_are_what_the_endpoint_holds_as_plain_text() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    values = {"key": "a/b.txt", "n": 7, "x": 1.5, "id": ident, "name": _Name("bob"), "parts": ["a"]}
    texts = path_texts(values)
    assert texts == {"key": "a/b.txt", "n": "7", "x": "1.5", "id": str(ident), "name": "bob", "parts": "list"}
    assert type(texts["name"]) is str  # a subclass could carry behaviour the template would then trust
    assert isinstance(texts["parts"], OpaqueValue)  # a template naming it refuses the request
    assert path_texts(None) == {} and path_texts({}) == {}
