"""oss2 against the demo's REST paths ``/<bucket>/<key>``: OSS signatures, OSS-style answers and errors."""

from __future__ import annotations

import oss2
import pytest

from tests.live_server import Key

from .conftest import HOME, OFFICE, TUESDAY_10, Company

FROM_OFFICE = {"X-Forwarded-For": OFFICE}


def test_rnd_reads_and_writes_its_bucket_with_oss2(company: Company) -> None:
    company.at(TUESDAY_10)
    for v4 in (False, True):
        bucket = company.bucket(company.keys["B"], v4=v4)
        key = f"oss2/{'v4' if v4 else 'v1'}.txt"
        put = bucket.put_object(key, b"written by oss2", headers=FROM_OFFICE)
        assert put.status == 200 and put.etag
        assert bucket.get_object(key, headers=FROM_OFFICE).read() == b"written by oss2"
        assert bucket.head_object(key, headers=FROM_OFFICE).content_length == len(b"written by oss2")
    listed = company.bucket(company.keys["B"]).list_objects(prefix="oss2/", headers=FROM_OFFICE)
    assert [o.key for o in listed.object_list] == ["oss2/v1.txt", "oss2/v4.txt"]
    event = company.audit_events()[-1]
    assert (event["action"], event["resource"]) == (
        "oss:ListObjects",
        f"acs:oss:*:{company.account_id}:rnd-bucket",
    )
    assert event["auth_method"] == "oss-v1"


def test_refusals_arrive_as_oss_errors(company: Company) -> None:
    company.at(TUESDAY_10)
    with pytest.raises(oss2.exceptions.ServerError) as home:
        company.bucket(company.keys["B"]).get_object("report.txt", headers={"X-Forwarded-For": HOME})
    assert (home.value.status, home.value.code) == (403, "NoPermission") and home.value.request_id
    assert "observed 198.51.100.7" in company.event(home.value.request_id)["reason"]
    app = company.bucket(company.keys["app"])
    assert app.get_object("report.txt").read().startswith(b"Q2")
    with pytest.raises(oss2.exceptions.ServerError) as write:
        app.put_object("x.txt", b"x")
    assert write.value.code == "NoPermission"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        app.get_object("missing.txt")
    with pytest.raises(oss2.exceptions.ServerError) as bad:
        company.bucket(Key(company.keys["app"].access_key_id, "wrong-secret")).get_object("report.txt")
    assert bad.value.code == "SignatureDoesNotMatch"


def test_a_refused_head_names_its_request_id(company: Company) -> None:
    # A HEAD answer has no body to read the id from: it was sent as an empty x-oss-request-id before.
    company.at(TUESDAY_10)
    bucket = company.bucket(company.keys["B"])
    with pytest.raises(oss2.exceptions.ServerError) as home:
        bucket.head_object("report.txt", headers={"X-Forwarded-For": HOME})
    assert home.value.status == 403 and home.value.request_id
    event = company.event(home.value.request_id)
    assert (event["decision"], event["method"]) == ("ImplicitDeny", "HEAD")
    assert "observed 198.51.100.7" in event["reason"]


def test_sts_credentials_with_oss2(company: Company) -> None:
    narrowed = company.sts(
        "D",
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:rnd-bucket/public/*"}
            ],
        },
    )
    bucket = company.bucket(narrowed)
    assert bucket.get_object("public/readme.txt").read().startswith(b"Welcome")
    with pytest.raises(oss2.exceptions.ServerError) as other:
        bucket.get_object("report.txt")
    assert other.value.code == "NoPermission"
    assert company.event(other.value.request_id)["auth_method"] == "oss-v1"
