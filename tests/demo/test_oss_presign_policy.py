"""V1 and V4 presigned URLs through the full middleware (the Company X demo server): policies still decide."""

from __future__ import annotations

import oss2
import pytest

from .conftest import TUESDAY_10, Company

READ_PUBLIC_ONLY = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:rnd-bucket/*"},
        {"Effect": "Deny", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:rnd-bucket/report.txt"},
    ],
}


def fetch(bucket: oss2.Bucket, key: str, method: str = "GET") -> oss2.models.GetObjectResult:
    return bucket.get_object_with_url(bucket.sign_url(method, key, 300))


def test_presigned_urls_are_authorized_like_signed_requests(company: Company) -> None:
    company.at(TUESDAY_10)
    session = company.bucket(company.sts("D", READ_PUBLIC_ONLY))
    assert fetch(session, "public/readme.txt").read().startswith(b"Welcome")
    with pytest.raises(oss2.exceptions.ServerError) as denied:
        fetch(session, "report.txt")  # the session policy's explicit Deny
    assert (denied.value.status, denied.value.code) == (403, "NoPermission")
    event = company.event(denied.value.request_id)
    assert event["auth_method"] == "oss-v1-query" and event["action"] == "oss:GetObject"
    app = company.bucket(company.keys["app"])  # AliyunOSSReadOnlyAccess: reads, never writes
    assert fetch(app, "report.txt").read().startswith(b"Q2")
    url = app.sign_url("PUT", "x.txt", 300)
    with pytest.raises(oss2.exceptions.ServerError) as write:
        app.put_object_with_url(url, b"x")
    assert write.value.code == "NoPermission"


def test_v4_presigned_urls_are_authorized_like_signed_requests(company: Company) -> None:
    company.at(TUESDAY_10)
    key = company.sts("D", READ_PUBLIC_ONLY)
    provider = oss2.credentials.StaticCredentialsProvider(key.access_key_id, key.secret, key.security_token)
    session = oss2.Bucket(
        oss2.ProviderAuthV4(provider), f"http://{company.endpoint}", "rnd-bucket", region="cn-hangzhou"
    )
    assert "x-oss-credential=" in session.sign_url("GET", "public/readme.txt", 300)
    assert fetch(session, "public/readme.txt").read().startswith(b"Welcome")
    with pytest.raises(oss2.exceptions.ServerError) as denied:
        fetch(session, "report.txt")  # the session policy's explicit Deny
    assert (denied.value.status, denied.value.code) == (403, "NoPermission")
    event = company.event(denied.value.request_id)
    assert event["auth_method"] == "oss-v4-query" and event["action"] == "oss:GetObject"
