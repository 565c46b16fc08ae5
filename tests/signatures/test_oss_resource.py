"""What an OSS signature binds: bucket operations (``/bucket/``) as oss2 signs them in path and
virtual-hosted style, requests whose V1 string to sign would read as another request's, and repeated
headers. The capture helpers and the virtual-host settings come from the virtual-host tests."""

from __future__ import annotations

from collections.abc import Callable

import oss2
import pytest

from ram_middleware.credentials.oss import signed_resource_path, v1_canonicalized_resource
from ram_middleware.facts import RequestFacts

from .test_oss_presign import BUCKET
from .test_oss_virtual_host import DOMAIN, KEY, VHOST, authenticator, refused, sent_by_oss2, with_host

PATH_STYLE = "http://127.0.0.1:18765"
ENDPOINTS = {"path-style": PATH_STYLE, "virtual-hosted": f"http://{DOMAIN}"}

BUCKET_CALLS: dict[str, Callable[[oss2.Bucket], object]] = {
    "get-bucket-info": lambda b: b.get_bucket_info(),
    "list-objects": lambda b: b.list_objects(prefix="dir/", delimiter="/"),
    "put-bucket-acl": lambda b: b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE),
}


def moved(facts: RequestFacts, path: str, query: str | None = None) -> RequestFacts:
    """``facts`` re-sent to ``path`` (and ``query``), everything else as signed."""
    return RequestFacts(
        facts.method, path, facts.query if query is None else query, facts.headers, facts.body, facts.peer
    )


@pytest.mark.parametrize("style", ENDPOINTS)
@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("call", BUCKET_CALLS)
def test_a_bucket_operation_verifies_and_reaches_no_object_or_other_bucket(
    call: str, version: str, style: str
) -> None:
    facts = sent_by_oss2(BUCKET_CALLS[call], version=version, endpoint=ENDPOINTS[style])
    assert facts.path == ("/" if style == "virtual-hosted" else f"/{BUCKET}/")  # oss2 signs /bucket/
    assert authenticator(at=None).authenticate(facts) is not None
    # The same bucket addressed path style, with or without the trailing slash: the same operation.
    for path in (f"/{BUCKET}/", f"/{BUCKET}"):
        assert authenticator(at=None).authenticate(with_host(moved(facts, path), "127.0.0.1")) is not None
    # Not an object of it, not another bucket, not the service.
    for path in (f"/{BUCKET}/x", f"/{BUCKET}//", "/otherbucket/", "/", f"//{BUCKET}/", f"/{BUCKET}/%3F"):
        refused(with_host(moved(facts, path), "127.0.0.1"), "SignatureDoesNotMatch", at=None)
    for host, path in ((f"otherbucket.{DOMAIN}", "/"), (VHOST, "/x"), (VHOST, f"/{BUCKET}/"), (DOMAIN, "/")):
        refused(with_host(moved(facts, path), host), "SignatureDoesNotMatch", at=None)


# A V1 string to sign ends with the decoded resource and the signed sub-resources after "?", joined with
# "&": a "?" in the key, or an "&" in a sub-resource value, followed by a sub-resource name, reads as
# another request (another key, another operation) under the same signature. The reading that holds such
# text is refused, so an ordinary request (PutBucketAcl, GetObjectAcl) cannot be re-sent as an object
# operation on key "?acl" or "a?acl"; the ordinary reading of a string a client signed for the other one
# verifies, as it must (V1 cannot tell them apart; the refusal tells that client to use V4).
AMBIGUOUS: dict[str, tuple[Callable[[oss2.Bucket], object], str, str, bool]] = {
    # signed by oss2 -> re-sent as (path, query) with the same V1 string to sign; whether the signed request
    # is the one that holds the ambiguous text (else the re-sent one does)
    "key-with-?acl": (lambda b: b.get_object("a?acl"), f"/{BUCKET}/a", "acl", True),
    "get-object-acl": (lambda b: b.get_object_acl("a"), f"/{BUCKET}/a%3Facl", "", False),
    "put-bucket-acl": (lambda b: b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE), f"/{BUCKET}/%3Facl", "", False),
    "key-with-two-?": (lambda b: b.get_object("a?b?tagging"), f"/{BUCKET}/a%3Fb", "tagging", True),
    "value-with-&": (
        lambda b: b.get_object("k", params={"response-content-disposition": "x&tagging"}),
        f"/{BUCKET}/k",
        "response-content-disposition=x&tagging",
        True,
    ),
}


def _v1_resource(facts: RequestFacts) -> str:
    return v1_canonicalized_resource(signed_resource_path(facts), facts.query_pairs)


@pytest.mark.parametrize("case", AMBIGUOUS)
def test_a_v1_string_to_sign_that_reads_as_another_request_is_refused(case: str) -> None:
    call, path, query, signed_holds_it = AMBIGUOUS[case]
    facts = sent_by_oss2(call, endpoint=PATH_STYLE)
    other = moved(facts, path, query)
    assert _v1_resource(facts) == _v1_resource(other)  # the ambiguity itself
    ambiguous, plain = (facts, other) if signed_holds_it else (other, facts)
    error = refused(ambiguous, "IncompleteSignature", at=None)
    assert "OSS4-HMAC-SHA256" in error.message
    assert authenticator(at=None).authenticate(plain) is not None  # its unambiguous reading still verifies


@pytest.mark.parametrize(
    "key", ["what?.txt", "page.html?id=3", "a?b=c&d", "a&acl", "?", "a?", "x?ACL", "q?aclx"]
)
def test_v1_keys_with_a_question_mark_but_no_sub_resource_after_it_verify(key: str) -> None:
    facts = sent_by_oss2(lambda b: b.get_object(key), endpoint=PATH_STYLE)
    assert authenticator(at=None).authenticate(facts) is not None
    with_value = sent_by_oss2(lambda b: b.get_object(key, params={"versionId": "v&1"}), endpoint=PATH_STYLE)
    assert authenticator(at=None).authenticate(with_value) is not None


@pytest.mark.parametrize("key", ["a?acl", "?acl", "a?b?tagging"])
def test_v4_signs_such_keys_unambiguously(key: str) -> None:
    facts = sent_by_oss2(lambda b: b.get_object(key), version="v4", endpoint=PATH_STYLE)
    assert authenticator(at=None).authenticate(facts) is not None
    base, _, rest = key.rpartition("?")
    refused(moved(facts, f"/{BUCKET}/{base}", rest), "SignatureDoesNotMatch", at=None)


# --- repeated headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("name", ["x-oss-meta-a", "x-oss-object-acl", "Content-Type"])
def test_a_signed_header_sent_twice_is_refused(version: str, name: str) -> None:
    # The string to sign joins repeated values with ",", so a signed "1,2" re-sent as "1" and "2" would
    # verify while the app, which reads a header's first value, sees "1".
    facts = sent_by_oss2(lambda b: b.get_object(KEY, headers={name: "1,2"}), version=version)
    assert authenticator(at=None).authenticate(facts) is not None
    kept = tuple((n, v) for n, v in facts.headers if n.lower() != name.lower())
    split = RequestFacts(facts.method, facts.path, facts.query, (*kept, (name, "1"), (name, "2")), facts.body)
    error = refused(split, "IncompleteSignature", at=None)
    assert name.lower() in error.message and "more than once" in error.message
