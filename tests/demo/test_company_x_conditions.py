"""Company X's remaining policy rules on the live demo server, through aliyun-python-sdk-core.

The walkthrough shows acs:SourceIp and working hours; here the other conditions the case study names
(acs:SecureTransport, acs:MFAPresent) and "an explicit Deny beats any Allow", each as custom policies the
owner adds to the organisation. The store is changed from this process; the server (another process) sees
it within its 0.5 s refresh interval.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from tests.live_server import Key, core_rpc

from .conftest import ECS, OFFICE, OSS, TUESDAY_10, Company

REFRESH = 0.6  # the server re-reads the store's change counter every 0.5 s


def _policy(company: Company, name: str, statement: dict[str, Any], group: str) -> None:
    document = json.dumps({"Version": "1", "Statement": [statement]})
    company.service.create_policy(company.account_id, name, document)
    company.service.attach_policy(company.account_id, "group", group, "Custom", name)
    time.sleep(REFRESH)


def _refused(company: Company, key: Key, version: str, action: str, **params: str) -> dict[str, Any]:
    """The audit event of a call that must be refused with 403 NoPermission."""
    with pytest.raises(ServerException) as caught:
        company.rpc(key, version, action, **params)
    assert (caught.value.get_http_status(), caught.value.get_error_code()) == (403, "NoPermission")
    return company.event(caught.value.get_request_id())


def test_an_explicit_deny_beats_the_system_policys_allow(company: Company) -> None:
    e, d = company.keys["E"], company.keys["D"]
    deleted = company.rpc(e, ECS, "DeleteInstance", InstanceId="i-web-2")
    assert company.event(deleted["RequestId"])["policy"] == "system policy AliyunECSFullAccess (group OandM)"
    _policy(
        company,
        "NoInstanceDeletion",
        {"Effect": "Deny", "Action": "ecs:DeleteInstance", "Resource": "*"},
        "OandM",
    )
    for who in (e, d):  # D is in O&M too: the Deny reaches every member, whatever else allows
        event = _refused(company, who, ECS, "DeleteInstance", InstanceId="i-web-1")
        assert event["decision"] == "ExplicitDeny"
        assert event["policy"] == "custom policy NoInstanceDeletion (group OandM)"
    # Everything the Deny does not name is still allowed by AliyunECSFullAccess.
    company.rpc(e, ECS, "StopInstance", InstanceId="i-web-1")


def test_rnd_oss_needs_secure_transport(company: Company) -> None:
    company.at(TUESDAY_10)
    b = company.keys["B"]
    note = {"BucketName": "rnd-bucket", "ObjectName": "secure.txt"}
    company.rpc(b, OSS, "PutObject", Content="before", **note)
    _policy(
        company,
        "RnDOSSOnlyOverTLS",
        {
            "Effect": "Deny",
            "Action": "oss:*",
            "Resource": "*",
            "Condition": {"Bool": {"acs:SecureTransport": "false"}},
        },
        "RnD",
    )
    # Plain HTTP from the office in working hours: the custom Allow matches, the Deny wins.
    event = _refused(company, b, OSS, "GetObject", **note)
    assert event["decision"] == "ExplicitDeny"
    assert event["policy"] == "custom policy RnDOSSOnlyOverTLS (group RnD)"
    # The same request that reached the trusted proxy over TLS is allowed by the R&D policy.
    headers = {"X-Forwarded-For": OFFICE, "X-Forwarded-Proto": "https"}
    read = core_rpc(company.endpoint, b, OSS, "GetObject", note, headers=headers)
    assert read["Content"] == "before"
    allowed_by = company.event(read["RequestId"])["policy"]
    assert allowed_by == "custom policy RnDOSSOfficeNetworkWorkingHours (group RnD)"


def test_a_sensitive_action_allowed_only_with_mfa_is_refused_to_an_accesskey(company: Company) -> None:
    c_key = company.service.create_access_key(company.account_id, "C")
    c = Key(c_key.key.access_key_id, c_key.secret)
    _policy(
        company,
        "RnDStopWithMFA",
        {
            "Effect": "Allow",
            "Action": "ecs:StopInstance",
            "Resource": "*",
            "Condition": {"Bool": {"acs:MFAPresent": "true"}},
        },
        "RnD",
    )
    # An AccessKey call carries no MFA (acs:MFAPresent is absent), so the condition fails: fail closed.
    event = _refused(company, c, ECS, "StopInstance", InstanceId="i-web-1")
    assert event["decision"] == "ImplicitDeny"
    assert "RnDStopWithMFA" in event["reason"] and "acs:MFAPresent" in event["reason"]
    assert company.rpc(c, ECS, "DescribeInstances")["Instances"]["Instance"]
