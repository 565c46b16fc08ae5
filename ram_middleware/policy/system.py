"""The built-in system policies (spec §5): PolicyType ``System``, immutable, default version ``v1``.

Documents are the published texts where the spec marks them established (AliyunOSSReadOnlyAccess,
AliyunSTSAssumeRoleAccess, AliyunRAMReadOnlyAccess, AliyunRDSReadOnlyAccess) and for AliyunECSFullAccess and
AliyunECSReadOnlyAccess (as ECS's "System policies for ECS" page publishes them, with their VPC reads); the
others are the spec's reconstructions (their core statements are certain, the real current versions add a few
statements).
PowerUserAccess is likewise reconstructed: everything except RAM/IMS/resource-management administration, plus
the RAM reads and service-linked-role actions services need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from ram_middleware.errors import EntityNotExist
from ram_middleware.policy.document import CompiledPolicy, parse_policy

__all__ = ["SYSTEM_POLICIES", "SystemPolicy", "system_policy"]


@dataclass(frozen=True, slots=True)
class SystemPolicy:
    """A system policy's name, description and document text."""

    name: str
    description: str
    document: str


_POWER_USER = (
    '{"Version":"1","Statement":['
    '{"Effect":"Allow","NotAction":["ram:*","ims:*","resourcemanager:*","resourcedirectorymaster:*"],'
    '"Resource":"*"},'
    '{"Effect":"Allow","Action":["ram:GetRole","ram:ListRoles","ram:GetPolicy","ram:ListPolicies",'
    '"ram:CreateServiceLinkedRole","ram:DeleteServiceLinkedRole"],"Resource":"*"}]}'
)

# ECS's consoles list the networks an instance may join, so both ECS policies also read VPCs.
_VPC_READS = '{"Action":["vpc:DescribeVpcs","vpc:DescribeVSwitches"],"Resource":"*","Effect":"Allow"}'

_POLICIES = (
    SystemPolicy(
        "AdministratorAccess",
        "Provides full access to Alibaba Cloud services and resources.",
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    ),
    SystemPolicy(
        "ReadOnlyAccess",
        "Provides read-only access to all Alibaba Cloud services and resources.",
        '{"Version":"1","Statement":[{"Action":["*:Describe*","*:List*","*:Get*","*:BatchGet*","*:Query*",'
        '"*:BatchQuery*"],"Effect":"Allow","Resource":"*"}]}',
    ),
    SystemPolicy(
        "PowerUserAccess",
        "Provides full access to Alibaba Cloud services and resources, except identity and resource "
        "management.",
        _POWER_USER,
    ),
    SystemPolicy(
        "AliyunOSSReadOnlyAccess",
        "Provides read-only access to Object Storage Service (OSS).",
        '{"Version":"1","Statement":[{"Action":["oss:Get*","oss:List*"],"Effect":"Allow","Resource":"*"}]}',
    ),
    SystemPolicy(
        "AliyunOSSFullAccess",
        "Provides full access to Object Storage Service (OSS).",
        '{"Version":"1","Statement":[{"Action":"oss:*","Effect":"Allow","Resource":"*"}]}',
    ),
    SystemPolicy(
        "AliyunSTSAssumeRoleAccess",
        "Provides access to call the AssumeRole operation of Security Token Service (STS).",
        '{"Version":"1","Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Resource":"*"}]}',
    ),
    SystemPolicy(
        "AliyunRAMReadOnlyAccess",
        "Provides read-only access to Resource Access Management (RAM).",
        '{"Version":"1","Statement":[{"Action":["ram:Get*","ram:List*","ram:GenerateCredentialReport"],'
        '"Resource":"*","Effect":"Allow"},'
        '{"Effect":"Allow","Action":["accessanalyzer:Get*","accessanalyzer:List*"],"Resource":"*"}]}',
    ),
    SystemPolicy(
        "AliyunRAMFullAccess",
        "Provides full access to Resource Access Management (RAM): users, groups, roles and policies.",
        '{"Version":"1","Statement":[{"Action":"ram:*","Effect":"Allow","Resource":"*"}]}',
    ),
    SystemPolicy(
        "AliyunRDSReadOnlyAccess",
        "Provides read-only access to ApsaraDB RDS.",
        '{"Version":"1","Statement":[{"Action":"rds:Describe*","Effect":"Allow","Resource":"*"},'
        '{"Action":["hdm:Get*","hdm:Describe*","hdm:Query*","hdm:Support*"],"Effect":"Allow",'
        '"Resource":"acs:rds:*:*:*"},'
        '{"Action":["dbs:Get*","dbs:Describe*","dbs:Query*","dbs:Support*"],"Resource":"acs:rds:*:*:*",'
        '"Effect":"Allow"}]}',
    ),
    SystemPolicy(
        "AliyunRDSFullAccess",
        "Provides full access to ApsaraDB RDS.",
        '{"Version":"1","Statement":[{"Action":"rds:*","Effect":"Allow","Resource":"*"}]}',
    ),
    SystemPolicy(
        "AliyunECSFullAccess",
        "Provides full access to Elastic Compute Service (ECS).",
        '{"Version":"1","Statement":[{"Action":"ecs:*","Resource":"*","Effect":"Allow"},' + _VPC_READS + "]}",
    ),
    SystemPolicy(
        "AliyunECSReadOnlyAccess",
        "Provides read-only access to Elastic Compute Service (ECS).",
        '{"Version":"1","Statement":[{"Action":"ecs:Describe*","Resource":"*","Effect":"Allow"},'
        '{"Action":"ecs:List*","Resource":"*","Effect":"Allow"},' + _VPC_READS + "]}",
    ),
)

SYSTEM_POLICIES: Mapping[str, SystemPolicy] = MappingProxyType({p.name: p for p in _POLICIES})
"""System policies by name (looked up case-sensitively, as RAM does)."""


@cache
def system_policy(name: str) -> CompiledPolicy:
    """The compiled system policy ``name`` (compiled once); unknown → ``EntityNotExist.Policy``."""
    found = SYSTEM_POLICIES.get(name)
    if found is None:
        raise EntityNotExist("Policy", f"The system policy does not exist: {name[:128]!r}")
    return parse_policy(found.document)
