"""RequestFacts: raw wire values in, decoded views out, built from ASGI and WSGI."""

from __future__ import annotations

import dataclasses

import pytest

from ram_middleware import errors
from ram_middleware.adapters.common import body_is_signed
from ram_middleware.facts import RequestFacts, decode_component, parse_pairs

FORM = ("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")


def test_headers_are_case_insensitive_and_keep_every_value() -> None:
    facts = RequestFacts("GET", "/", headers=(("X-Acs-Date", "d"), ("x-oss-meta", "1"), ("X-OSS-META", "2")))
    assert facts.header("x-acs-date") == facts.header("X-ACS-DATE") == "d"
    assert facts.header_values("x-oss-meta") == ("1", "2")
    assert facts.header("absent") is None and facts.header_values("absent") == ()


def test_params_decode_query_and_form_body() -> None:
    facts = RequestFacts(
        "POST",
        "/",
        "Action=CreateUser&Comments=a%2Ab~c+d%2Be&Empty=&Flag",
        (FORM,),
        b"DisplayName=Bob+%E4%B8%AD%E6%96%87&Action=Shadowed",
    )
    assert facts.params == {
        "Action": "CreateUser",  # the first occurrence wins
        "Comments": "a*b~c d+e",
        "Empty": "",
        "Flag": "",
        "DisplayName": "Bob 中文",
    }
    assert facts.param_pairs[-1] == ("Action", "Shadowed")  # the raw pairs keep duplicates
    with pytest.raises(TypeError):
        facts.params["Action"] = "x"  # type: ignore[index]


def test_a_body_that_is_not_a_form_is_not_parsed() -> None:
    facts = RequestFacts("POST", "/", "a=1", (("Content-Type", "application/json"),), b"b=2")
    assert facts.params == {"a": "1"} and facts.form_pairs == ()


@pytest.mark.parametrize("raw", ["a=%FF", "%C3=1", "a=%E4%B8"])
def test_bytes_that_are_not_utf8_are_a_400(raw: str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        _ = RequestFacts("GET", "/", raw).params
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("query", "body"),
    [("a=r\xc3\xa9sum\xc3\xa9", b""), ("a=\u00e9", b""), ("", "a=résumé".encode())],
)
def test_characters_that_are_not_percent_encoded_are_a_400(query: str, body: bytes) -> None:
    # Frameworks decode raw bytes differently (Werkzeug UTF-8, Starlette Latin-1): refuse, never guess.
    form = (("Content-Type", "application/x-www-form-urlencoded"),)
    with pytest.raises(errors.InvalidParameter) as caught:
        _ = RequestFacts("POST", "/", query, form, body).params
    assert (caught.value.code, caught.value.status) == ("InvalidParameter.Encoding", 400)
    assert RequestFacts("POST", "/", "a=r%C3%A9sum%C3%A9").params == {"a": "résumé"}


def test_path_is_kept_raw_and_decoded_on_demand() -> None:
    facts = RequestFacts("GET", "/bucket/dir%2Fhello%20world+x.txt")
    assert facts.path == "/bucket/dir%2Fhello%20world+x.txt"
    assert facts.decoded_path == "/bucket/dir/hello world+x.txt"
    with pytest.raises(errors.InvalidParameter):
        _ = RequestFacts("GET", "/%FF").decoded_path


def test_decoding_matches_the_standard_library_on_valid_input() -> None:
    from urllib.parse import unquote_plus

    for raw in ["a%20b", "%e4%b8%ad+%7E", "100%", "%zz", "%41%4", "x%2B%2b+"]:
        assert decode_component(raw) == unquote_plus(raw, errors="strict")
        assert decode_component(raw.encode()) == unquote_plus(raw, errors="strict")
    assert parse_pairs("a=1&&b&=c&d=e=f") == (("a", "1"), ("b", ""), ("", "c"), ("d", "e=f"))


def test_facts_are_immutable() -> None:
    facts = RequestFacts("GET", "/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.method = "POST"  # type: ignore[misc]


def test_from_asgi_scope() -> None:
    scope = {
        "type": "http",
        "method": "put",
        "path": "/b/dir/hello world.txt",
        "raw_path": b"/b/dir%2Fhello%20world.txt",
        "query_string": b"acl=&x=%20",
        "headers": [(b"host", b"127.0.0.1:9"), (b"x-oss-meta-a", b"\xe4")],
        "client": ("10.0.0.7", 5555),
        "scheme": "https",
    }
    facts = RequestFacts.from_asgi(scope, b"hello")
    assert (facts.method, facts.path, facts.query) == ("PUT", "/b/dir%2Fhello%20world.txt", "acl=&x=%20")
    assert facts.headers == (("host", "127.0.0.1:9"), ("x-oss-meta-a", "\xe4"))
    assert (facts.body, facts.peer, facts.scheme) == (b"hello", "10.0.0.7", "https")
    no_raw = RequestFacts.from_asgi({"type": "http", "method": "GET", "path": "/a b/ü"})
    assert no_raw.path == "/a%20b/%C3%BC" and no_raw.peer is None and no_raw.scheme == "http"


def test_from_wsgi_environ() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/a b/\xc3\xbc",  # PEP 3333: the decoded bytes as latin-1 text
        "QUERY_STRING": "Action=GetUser&UserName=al%20ice",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": "3",
        "HTTP_HOST": "127.0.0.1:9",
        "HTTP_X_ACS_DATE": "2024-01-02T03:04:05Z",
        "REMOTE_ADDR": "192.0.2.1",
        "wsgi.url_scheme": "http",
    }
    facts = RequestFacts.from_wsgi(environ, b"a=1")
    assert facts.path == "/a%20b/%C3%BC" and facts.decoded_path == "/a b/ü"
    assert facts.header("x-acs-date") == "2024-01-02T03:04:05Z"
    assert facts.header("content-type") == "application/x-www-form-urlencoded"
    assert facts.params == {"Action": "GetUser", "UserName": "al ice", "a": "1"}
    assert facts.peer == "192.0.2.1"
    raw = RequestFacts.from_wsgi({**environ, "RAW_URI": "/x%2Fy?z=1"})
    assert raw.path == "/x%2Fy"


def test_wsgirefs_invented_content_type_is_not_a_header() -> None:
    # wsgiref reports text/plain for a request that sent no Content-Type; other servers report only what came.
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_SOFTWARE": "WSGIServer/0.2 CPython/3.11"}
    assert RequestFacts.from_wsgi({**base, "CONTENT_TYPE": "text/plain"}).header("content-type") is None
    with_body = {**base, "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "5"}
    assert RequestFacts.from_wsgi(with_body, b"hello").header("content-type") == "text/plain"
    # With a body, it is taken as invented when a SignedHeaders list (ACS3, SigV4) leaves it out.
    sigv4 = "AWS4-HMAC-SHA256 Credential=AK/20240102/us-east-1/s3/aws4_request, SignedHeaders={}, Signature=0"
    unsigned = {**with_body, "HTTP_AUTHORIZATION": sigv4.format("host;x-amz-date")}
    assert RequestFacts.from_wsgi(unsigned, b"hello").header("content-type") is None
    signed = {**with_body, "HTTP_AUTHORIZATION": sigv4.format("content-type;host;x-amz-date")}
    assert RequestFacts.from_wsgi(signed, b"hello").header("content-type") == "text/plain"
    other = {**base, "SERVER_SOFTWARE": "waitress", "CONTENT_TYPE": "text/plain"}
    assert RequestFacts.from_wsgi(other).header("content-type") == "text/plain"
    form = {**base, "CONTENT_TYPE": "application/json"}
    assert RequestFacts.from_wsgi(form).header("content-type") == "application/json"


@pytest.mark.parametrize("space", ["", " ", "\t", "\xa0", "\x85", "\x0b", "\x1c", "\u3000"])
def test_a_form_or_multipart_body_is_seen_as_liberally_as_any_framework_reads_it(space: str) -> None:
    # python-multipart (Starlette, FastAPI) strips Unicode whitespace around the media type: a body the
    # check did not take for a form while the app parses it as one would carry parameters never checked.
    for value, form, multipart in (
        (f"{space}application/x-www-form-urlencoded{space}", True, False),
        (f"{space}Application/X-WWW-Form-URLEncoded{space}; charset=utf-8", True, False),
        (f"{space}multipart/form-data{space}; boundary=x", False, True),
        (f"{space}text/plain", False, False),
    ):
        facts = RequestFacts("POST", "/", "", (("content-type", value),), b"a=1")
        assert (facts.is_form, facts.is_multipart) == (form, multipart), repr(value)
        signed = body_is_signed(authorization=None, content_type=value, content_md5=False, oss_payload=None,
                                query="")  # fmt: skip
        assert signed is form, repr(value)


def test_the_mount_point_from_root_path_or_script_name() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/my app/x",
        "raw_path": b"/my%20app/x",
        "root_path": "/my app/",
    }
    facts = RequestFacts.from_asgi(scope)
    assert facts.root_path == "/my%20app" and facts.full_path == "/my%20app/x"
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/app", "PATH_INFO": "/x", "RAW_URI": "/x"}
    assert RequestFacts.from_wsgi(environ).full_path == "/app/x"  # a proxy stripped the mount
    assert RequestFacts.from_wsgi({**environ, "RAW_URI": "/app/x"}).full_path == "/app/x"
    assert RequestFacts.from_wsgi({**environ, "SCRIPT_NAME": ""}).root_path == ""
    # PEP 3333: SCRIPT_NAME is the latin-1 text of the bytes, here UTF-8 "café".
    assert RequestFacts.from_wsgi({**environ, "SCRIPT_NAME": "/caf\xc3\xa9"}).root_path == "/caf%C3%A9"
