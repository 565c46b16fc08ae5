"""The demo's RPC APIs through aliyun-python-sdk-core, with user keys and STS credentials."""

from __future__ import annotations

import time

import httpx
import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from ram_middleware.client import RamAuth

from .conftest import ECS, HOME, OFFICE, OSS, RDS, TUESDAY_10, TUESDAY_20, Company


def _refused(call: object, *args: object, **params: str) -> ServerException:
    with pytest.raises(ServerException) as caught:
        call(*args, **params)  # type: ignore[operator]
    return caught.value


def test_ecs_shapes_and_idempotent_changes(company: Company) -> None:
    app, e = company.keys["app"], company.keys["E"]
    listed = company.rpc(app, ECS, "DescribeInstances")
    ids = [i["InstanceId"] for i in listed["Instances"]["Instance"]]
    assert {"i-web-1", "i-web-2", "i-batch-1"} <= set(ids) and listed["RequestId"]
    for _ in range(2):  # stopping a stopped instance succeeds
        assert set(company.rpc(e, ECS, "StopInstance", InstanceId="i-web-1")) == {"RequestId"}
    status = {
        i["InstanceId"]: i["Status"]
        for i in company.rpc(e, ECS, "DescribeInstances")["Instances"]["Instance"]
    }
    assert status["i-web-1"] == "Stopped"
    for _ in range(2):
        company.rpc(e, ECS, "StartInstance", InstanceId="i-web-1")
    for _ in range(2):
        company.rpc(e, ECS, "DeleteInstance", InstanceId="i-batch-1")
    assert "i-batch-1" not in [
        i["InstanceId"] for i in company.rpc(app, ECS, "DescribeInstances")["Instances"]["Instance"]
    ]
    gone = _refused(company.rpc, e, ECS, "StartInstance", InstanceId="i-batch-1")
    assert (gone.get_http_status(), gone.get_error_code()) == (404, "InvalidInstanceId.NotFound")
    unknown = _refused(company.rpc, e, ECS, "StopInstance", InstanceId="i-nope")
    assert unknown.get_error_code() == "InvalidInstanceId.NotFound"


def test_ecs_decisions_follow_the_policies(company: Company) -> None:
    b, app = company.keys["B"], company.keys["app"]
    denied = _refused(company.rpc, b, ECS, "StopInstance", InstanceId="i-web-2")
    assert (denied.get_http_status(), denied.get_error_code()) == (403, "NoPermission")
    event = company.event(denied.get_request_id())
    assert event["action"] == "ecs:StopInstance"
    assert event["resource"] == f"acs:ecs:cn-hangzhou:{company.account_id}:instance/i-web-2"
    assert event["principal_arn"].endswith(":user/B") and event["decision"] == "ImplicitDeny"
    allowed = company.rpc(b, ECS, "DescribeInstances")
    assert (
        company.event(allowed["RequestId"])["policy"] == "system policy AliyunECSReadOnlyAccess (group RnD)"
    )
    assert (
        _refused(company.rpc, app, ECS, "DeleteInstance", InstanceId="i-web-2").get_error_code()
        == "NoPermission"
    )


def test_rds(company: Company) -> None:
    b, e = company.keys["B"], company.keys["E"]
    listed = company.rpc(b, RDS, "DescribeDBInstances")
    assert [d["DBInstanceId"] for d in listed["Items"]["DBInstance"]] == ["rm-orders"]
    database = {"DBInstanceId": "rm-orders", "DBName": "analytics", "CharacterSetName": "utf8"}
    assert _refused(company.rpc, b, RDS, "CreateDatabase", **database).get_error_code() == "NoPermission"
    for _ in range(2):  # creating an existing database succeeds
        company.rpc(e, RDS, "CreateDatabase", **database)
    missing = _refused(company.rpc, e, RDS, "CreateDatabase", DBInstanceId="rm-nope", DBName="x")
    assert missing.get_error_code() == "InvalidDBInstanceId.NotFound"
    assert (
        _refused(company.rpc, company.keys["app"], RDS, "DescribeDBInstances").get_error_code()
        == "NoPermission"
    )


def test_rnd_oss_only_from_the_office_in_working_hours(company: Company) -> None:
    b, app = company.keys["B"], company.keys["app"]
    obj = {"BucketName": "rnd-bucket", "ObjectName": "notes/today.txt"}
    company.at(TUESDAY_10)
    written = company.rpc(b, OSS, "PutObject", Content="hello", **obj)
    assert company.event(written["RequestId"])["policy"].startswith(
        "custom policy RnDOSSOfficeNetworkWorkingHours"
    )
    assert company.rpc(b, OSS, "GetObject", **obj)["Content"] == "hello"
    listed = company.rpc(b, OSS, "ListObjects", BucketName="rnd-bucket", Prefix="notes/")
    assert [o["Key"] for o in listed["Objects"]["Object"]] == ["notes/today.txt"]
    from_home = _refused(company.rpc, b, OSS, "GetObject", ip=HOME, **obj)
    assert from_home.get_error_code() == "NoPermission"
    reason = company.event(from_home.get_request_id())["reason"]
    assert "IpAddress acs:SourceIp observed 198.51.100.7" in reason
    company.at(TUESDAY_20)
    evening = _refused(company.rpc, b, OSS, "GetObject", **obj)
    assert "LocalTimeOfDay" in company.event(evening.get_request_id())["reason"]
    # app reads any bucket at any time (AliyunOSSReadOnlyAccess), but cannot write.
    assert company.rpc(app, OSS, "GetObject", ip=HOME, **obj)["Content"] == "hello"
    assert _refused(company.rpc, app, OSS, "PutObject", Content="x", **obj).get_error_code() == "NoPermission"
    company.at(TUESDAY_10)


def test_sts_credentials_are_narrowed_by_the_session_policy(company: Company) -> None:
    company.at(TUESDAY_10)
    public_only = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:rnd-bucket/public/*"}
        ],
    }
    narrowed = company.sts("D", public_only)
    readme = company.rpc(narrowed, OSS, "GetObject", BucketName="rnd-bucket", ObjectName="public/readme.txt")
    assert readme["Content"].startswith("Welcome")
    assert company.event(readme["RequestId"])["principal_arn"].endswith(":assumed-role/OSSReader/contractor")
    report = {"BucketName": "rnd-bucket", "ObjectName": "report.txt"}
    assert _refused(company.rpc, narrowed, OSS, "GetObject", **report).get_error_code() == "NoPermission"
    assert _refused(company.rpc, narrowed, ECS, "DescribeInstances").get_error_code() == "NoPermission"
    whole_role = company.sts("D")
    assert company.rpc(whole_role, OSS, "GetObject", **report)["Content"].startswith("Q2")
    assert (
        _refused(company.rpc, whole_role, OSS, "PutObject", Content="x", **report).get_error_code()
        == "NoPermission"
    )


def test_protocol_errors(company: Company) -> None:
    app = company.keys["app"]
    assert _refused(company.rpc, app, "2099-01-01", "DescribeInstances").get_error_code() == "InvalidVersion"
    assert _refused(company.rpc, app, ECS, "RebootInstance", InstanceId="i-web-1").get_error_code() == (
        "InvalidAction.NotFound"
    )
    assert (
        _refused(company.rpc, company.keys["E"], ECS, "StopInstance").get_error_code()
        == "MissingParameter.InstanceId"
    )


def test_a_deleted_users_key_fails_at_once(company: Company) -> None:
    account = company.account_id
    company.service.create_user(account, "temp")
    company.service.attach_policy(account, "user", "temp", "System", "AliyunECSReadOnlyAccess")
    created = company.service.create_access_key(account, "temp")
    from tests.live_server import Key

    key = Key(created.key.access_key_id, created.secret)
    company.rpc(key, ECS, "DescribeInstances")
    company.service.delete_user(account, "temp", force=True)
    time.sleep(0.6)  # another process: the server re-reads the store's change counter every 0.5 s
    gone = _refused(company.rpc, key, ECS, "DescribeInstances")
    assert gone.get_error_code() == "InvalidAccessKeyId.NotFound"


def test_a_form_body_with_a_capitalised_content_type_is_served(company: Company) -> None:
    # Media types are case-insensitive: the middleware authorizes the form's Action and parameters, so
    # the app must read the same form (it answered 500, finding no Version or Action, before).
    e = company.keys["E"]
    form = "Action=StopInstance&Version=2014-05-26&RegionId=cn-hangzhou&InstanceId=i-web-1"
    answer = httpx.post(
        f"http://{company.endpoint}/",
        content=form.encode(),
        headers={"Content-Type": "Application/X-WWW-Form-Urlencoded", "X-Forwarded-For": OFFICE},
        auth=RamAuth(e.access_key_id, e.secret, scheme="v1"),
    )
    assert answer.status_code == 200, answer.text
    assert company.event(answer.json()["RequestId"])["action"] == "ecs:StopInstance"
    status = {
        i["InstanceId"]: i["Status"]
        for i in company.rpc(e, ECS, "DescribeInstances")["Instances"]["Instance"]
    }
    assert status["i-web-1"] == "Stopped"
    company.rpc(e, ECS, "StartInstance", InstanceId="i-web-1")
