"""What an OSS signature binds of the resource: bucket operations (``/bucket/``) as oss2 signs them in path
and virtual-hosted style. The capture helpers and the virtual-host settings come from the virtual-host
tests."""

from __future__ import annotations

from collections.abc import Callable

import oss2
import pytest

from ram_middleware.facts import RequestFacts

from .test_oss_presign import BUCKET
from .test_oss_virtual_host import DOMAIN, VHOST, authenticator, refused, sent_by_oss2, with_host

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
