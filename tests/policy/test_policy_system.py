"""Built-in system policies (spec section 5)."""

from __future__ import annotations

import json

import pytest

from ram_middleware.errors import EntityNotExist
from ram_middleware.policy import SYSTEM_POLICIES, AttachedPolicy, PolicySet, make_request, system_policy

# Published texts: those the spec marks as established, copied from the spec, and ECS's two, as ECS's
# "System policies for ECS" page publishes them (the spec had only reconstructed them).
VPC_READS = {"Action": ["vpc:DescribeVpcs", "vpc:DescribeVSwitches"], "Resource": "*", "Effect": "Allow"}
VERBATIM = {
    "AliyunOSSReadOnlyAccess": {
        "Version": "1",
        "Statement": [{"Action": ["oss:Get*", "oss:List*"], "Effect": "Allow", "Resource": "*"}],
    },
    "AliyunSTSAssumeRoleAccess": {
        "Version": "1",
        "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": "*"}],
    },
    "AliyunRAMReadOnlyAccess": {
        "Version": "1",
        "Statement": [
            {
                "Action": ["ram:Get*", "ram:List*", "ram:GenerateCredentialReport"],
                "Resource": "*",
                "Effect": "Allow",
            },
            {"Effect": "Allow", "Action": ["accessanalyzer:Get*", "accessanalyzer:List*"], "Resource": "*"},
        ],
    },
    "AliyunRDSReadOnlyAccess": {
        "Version": "1",
        "Statement": [
            {"Action": "rds:Describe*", "Effect": "Allow", "Resource": "*"},
            {
                "Action": ["hdm:Get*", "hdm:Describe*", "hdm:Query*", "hdm:Support*"],
                "Effect": "Allow",
                "Resource": "acs:rds:*:*:*",
            },
            {
                "Action": ["dbs:Get*", "dbs:Describe*", "dbs:Query*", "dbs:Support*"],
                "Resource": "acs:rds:*:*:*",
                "Effect": "Allow",
            },
        ],
    },
    "AliyunECSFullAccess": {
        "Version": "1",
        "Statement": [{"Action": "ecs:*", "Resource": "*", "Effect": "Allow"}, VPC_READS],
    },
    "AliyunECSReadOnlyAccess": {
        "Version": "1",
        "Statement": [
            {"Action": "ecs:Describe*", "Resource": "*", "Effect": "Allow"},
            {"Action": "ecs:List*", "Resource": "*", "Effect": "Allow"},
            VPC_READS,
        ],
    },
    "AdministratorAccess": {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    "ReadOnlyAccess": {
        "Version": "1",
        "Statement": [
            {
                "Action": ["*:Describe*", "*:List*", "*:Get*", "*:BatchGet*", "*:Query*", "*:BatchQuery*"],
                "Effect": "Allow",
                "Resource": "*",
            }
        ],
    },
}
SERVICE_POLICIES = {
    "AliyunOSSFullAccess": "oss:*",
    "AliyunRAMFullAccess": "ram:*",
    "AliyunRDSFullAccess": "rds:*",
}


def test_catalogue() -> None:
    assert set(SYSTEM_POLICIES) == set(VERBATIM) | set(SERVICE_POLICIES) | {"PowerUserAccess"}
    for name, entry in SYSTEM_POLICIES.items():
        assert entry.name == name and 1 <= len(entry.description) <= 1024
        assert json.loads(entry.document)["Version"] == "1"
    with pytest.raises(TypeError):
        SYSTEM_POLICIES["Mine"] = SYSTEM_POLICIES["AdministratorAccess"]  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(VERBATIM))
def test_documents_as_published(name: str) -> None:
    assert json.loads(SYSTEM_POLICIES[name].document) == VERBATIM[name]
    assert json.loads(system_policy(name).source) == VERBATIM[name]


@pytest.mark.parametrize(("name", "action"), sorted(SERVICE_POLICIES.items()))
def test_service_full_access(name: str, action: str) -> None:
    assert json.loads(SYSTEM_POLICIES[name].document) == {
        "Version": "1",
        "Statement": [{"Action": action, "Effect": "Allow", "Resource": "*"}],
    }


def test_compiled_once_and_looked_up_case_sensitively() -> None:
    assert system_policy("AdministratorAccess") is system_policy("AdministratorAccess")
    with pytest.raises(EntityNotExist) as info:
        system_policy("administratoraccess")
    assert info.value.code == "EntityNotExist.Policy" and info.value.status == 404


def _allowed(name: str, action: str, resource: str = "*") -> bool:
    policies = PolicySet([AttachedPolicy(name, "System", "v1", "user", "u", system_policy(name))])
    return policies.decide(make_request(action, resource)).allowed


@pytest.mark.parametrize(
    ("name", "action", "resource", "expected"),
    [
        ("ReadOnlyAccess", "ecs:DescribeInstances", "*", True),
        ("ReadOnlyAccess", "oss:GetObject", "acs:oss:r:1:b/k", True),
        ("ReadOnlyAccess", "ecs:StopInstance", "*", False),
        ("PowerUserAccess", "ecs:StopInstance", "*", True),
        ("PowerUserAccess", "ram:CreateUser", "acs:ram::1:user/x", False),
        ("PowerUserAccess", "ram:GetRole", "acs:ram::1:role/x", True),
        ("PowerUserAccess", "resourcemanager:CreateFolder", "*", False),
        ("AliyunRDSReadOnlyAccess", "hdm:GetStatus", "acs:rds:cn-beijing:1:dbinstance/rm-1", True),
        ("AliyunRDSReadOnlyAccess", "hdm:GetStatus", "acs:ecs:cn-beijing:1:instance/i-1", False),
        ("AliyunRDSReadOnlyAccess", "rds:DeleteDBInstance", "*", False),
        ("AliyunECSReadOnlyAccess", "ecs:ListTagResources", "*", True),
        ("AliyunECSReadOnlyAccess", "ecs:StopInstance", "*", False),
        # ECS's consoles list the networks an instance may join: both ECS policies read VPCs, no more.
        ("AliyunECSReadOnlyAccess", "vpc:DescribeVSwitches", "*", True),
        ("AliyunECSFullAccess", "vpc:DescribeVpcs", "*", True),
        ("AliyunECSFullAccess", "vpc:CreateVpc", "*", False),
        ("AliyunSTSAssumeRoleAccess", "sts:AssumeRole", "acs:ram::1:role/ops", True),
        ("AliyunRAMReadOnlyAccess", "ram:CreateUser", "*", False),
        ("AdministratorAccess", "anything:AtAll", "acs:x:y:z:w", True),
    ],
)
def test_system_policy_semantics(name: str, action: str, resource: str, expected: bool) -> None:
    assert _allowed(name, action, resource) is expected
