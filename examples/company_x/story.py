"""The six steps of Company X (DESIGN.md), each told with real requests against the live servers."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

import pyotp
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from alibabacloud_sts20150401 import models as sts_models  # type: ignore[import-untyped]

from ram_middleware import errors

from .callers import Answer, Identity, demo_rpc, oss_get, ram_client, sdk_call, sts_client
from .narrator import Expect

if TYPE_CHECKING:
    from .walkthrough import Demo

__all__ = ["tell"]

OFFICE_IP, HOME_IP = "203.0.113.25", "198.51.100.7"
WORKING_HOURS = ("2024-06-04T10:00:00+08:00", "Tue 10:00 Shanghai")
EVENING = ("2024-06-04T20:00:00+08:00", "Tue 20:00 Shanghai")
VERSIONS = {"ECS": "2014-05-26", "RDS": "2014-08-15", "OSS": "2019-05-17"}
LABELS = {"A": "A (HR)", "B": "B (R&D)", "C": "C (R&D)", "D": "D (R&D, O&M)", "E": "E (O&M)", "app": "app"}
# The demo server is another process: it notices a store change within its 0.5 s refresh interval.
CHANGE_FELT = 0.6
CONTRACTOR_POLICY = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:rnd-bucket/public/*"}
    ],
}


def tell(demo: Demo) -> None:
    """All six steps, in order."""
    for step in (root_mfa, users_and_groups, least_privilege, transfers, temporary_users, resting):
        step(demo)


# --- how requests are made and reported --------------------------------------------------------------------


def _api(
    demo: Demo,
    who: Identity,
    what: str,
    method: str,
    request: Any,
    expect: Expect = "Allow",
    compact: bool = True,
) -> Answer:
    """``client.<method>(request)`` with the official RAM SDK, reported with ram serve's audit event."""
    client = ram_client(demo.ram_endpoint, who)
    return demo.narrator.traced(
        demo.api_audit,
        who.label,
        what,
        "",
        lambda: sdk_call(lambda: getattr(client, method)(request)),
        expect,
        compact=compact,
    )


def _place(ip: str) -> str:
    return f"office {ip}" if ip == OFFICE_IP else f"home {ip}"


def _rpc(
    demo: Demo, who: Identity, product: str, action: str, expect: Expect, ip: str = OFFICE_IP, **params: str
) -> Answer:
    """A demo-API call with aliyun-python-sdk-core, reported with the demo server's audit event."""
    target = params.get("InstanceId") or params.get("DBInstanceId") or ""
    if "BucketName" in params:
        target = "/".join(filter(None, (params["BucketName"], params.get("ObjectName"))))
    where = f"{_place(ip)}, {demo.when}"
    return demo.narrator.traced(
        demo.demo_audit,
        who.label,
        f"{product} {action} {target}".rstrip(),
        where,
        lambda: demo_rpc(demo.demo_endpoint, who, VERSIONS[product], action, ip, **params),
        expect,
    )


def _oss(demo: Demo, who: Identity, bucket: str, key: str, expect: Expect, ip: str = OFFICE_IP) -> Answer:
    """``GET /<bucket>/<key>`` with oss2 on the REST path."""
    where = f"{_place(ip)}, {demo.when}"
    return demo.narrator.traced(
        demo.demo_audit,
        who.label,
        f"oss2 GET /{bucket}/{key}",
        where,
        lambda: oss_get(demo.demo_endpoint, who, bucket, key, ip),
        expect,
    )


def _key(answer: Answer, label: str) -> Identity:
    key = (answer.body or {}).get("AccessKey") or {}
    return Identity(label, str(key.get("AccessKeyId", "")), str(key.get("AccessKeySecret", "")))


# --- step 1 -------------------------------------------------------------------------------------------------


def root_mfa(demo: Demo) -> None:
    n, owner, account = demo.narrator, demo.owner, demo.account_id
    n.step(
        1,
        "The account owner protects the root identity",
        "Until now everybody at Company X shared the owner's login. First the owner secures the root "
        "identity: an MFA device for console logons, and no AccessKey at all.",
    )
    n.say(
        f"`ram init` created account {account} (alias company-x) and a bootstrap RAM user 'admin' with "
        "AdministratorAccess and one AccessKey; the root identity got no AccessKey."
    )
    created = owner.create_virtual_mfa_device(account, "root")
    totp, now = pyotp.TOTP(created.base32_seed), time.time()
    first, second = totp.at(now - 30), totp.at(now)
    owner.bind_root_mfa_device(account, created.device.serial_number, first, second)
    n.say(
        f"Virtual MFA device {created.device.serial_number} bound to the root with two consecutive codes "
        f"({first}, {second}), computed by pyotp from the seed as an authenticator app would."
    )
    try:
        owner.verify_mfa_code(account, None, second)
        replay = "accepted (!)"
        n.surprises.append("a replayed MFA code was accepted")
    except errors.InvalidAuthenticationCode:
        replay = "refused with InvalidAuthenticationCode (a code works once)"
    n.say(f"Root console logons now need a code. Replaying {second}: {replay}.")
    keys = owner.list_access_keys(account, None)
    n.say(f"AccessKeys of the root identity: {len(keys) if keys else 'none'}.")
    if keys:
        n.surprises.append("the root has an AccessKey after ram init")


# --- step 2 -------------------------------------------------------------------------------------------------


def users_and_groups(demo: Demo) -> None:
    n, admin = demo.narrator, demo.admin
    n.step(
        2,
        "Users and groups, through the RAM API",
        "The bootstrap admin creates the departments as groups and a RAM user per person, with the official "
        "alibabacloud-ram20150501 SDK against `ram serve`. Each call is itself authorized by RAM policies "
        "(ram:<Action> on the entity's ARN). Console staff get a password (to change at first logon); the "
        "application gets an AccessKey only; O&M logons must bind MFA.",
    )
    for group in demo.org["Groups"]:
        request = ram_models.CreateGroupRequest(group_name=group["GroupName"], comments=group.get("Comments"))
        _api(demo, admin, f"CreateGroup {group['GroupName']}", "create_group", request)
    for user in demo.org["Users"]:
        _create_user(demo, user)
    app = _api(demo, admin, "CreateAccessKey for app", "create_access_key", _key_request("app"))
    demo.people["app"] = _key(app, "app")
    n.say(
        "So that this script can act for A, B, D and E (who would really use the console), they get "
        "AccessKeys too."
    )
    for name in ("A", "B", "D", "E"):
        answer = _api(demo, admin, f"CreateAccessKey for {name}", "create_access_key", _key_request(name))
        demo.people[name] = _key(answer, LABELS[name])


def _key_request(user_name: str) -> Any:
    return ram_models.CreateAccessKeyRequest(user_name=user_name)


def _create_user(demo: Demo, user: dict[str, Any]) -> None:
    admin, name = demo.admin, user["UserName"]
    request = ram_models.CreateUserRequest(user_name=name, display_name=user.get("DisplayName"))
    _api(demo, admin, f"CreateUser {name}", "create_user", request)
    for group in user.get("Groups", []):
        member = ram_models.AddUserToGroupRequest(group_name=group, user_name=name)
        _api(demo, admin, f"AddUserToGroup {name} -> {group}", "add_user_to_group", member)
    if user.get("Console"):
        profile = ram_models.CreateLoginProfileRequest(
            user_name=name,
            password="Aa1!" + secrets.token_urlsafe(15),
            password_reset_required=True,
            mfabind_required=bool(user.get("MFABindRequired")),
        )
        mfa = ", MFA required" if user.get("MFABindRequired") else ""
        _api(demo, admin, f"CreateLoginProfile {name} (console{mfa})", "create_login_profile", profile)


# --- step 3 -------------------------------------------------------------------------------------------------


def least_privilege(demo: Demo) -> None:
    n, admin, people = demo.narrator, demo.admin, demo.people
    n.step(
        3,
        "Least privilege",
        "System policies per department (O&M: ECS and RDS full; R&D: ECS and RDS read-only; HR: RAM "
        "administration), read-only ECS and OSS for the application, and one custom policy: R&D may use "
        "its OSS bucket only from the company network (203.0.113.0/24) during working hours (09:00-18:00, "
        "Monday-Friday, Asia/Shanghai).",
    )
    for policy in demo.org["Policies"]:
        document = json.dumps(policy["PolicyDocument"]).replace("${AccountId}", demo.account_id)
        request = ram_models.CreatePolicyRequest(
            policy_name=policy["PolicyName"], policy_document=document, description=policy.get("Description")
        )
        _api(demo, admin, f"CreatePolicy {policy['PolicyName']}", "create_policy", request)
    for group in demo.org["Groups"]:
        for ref in group.get("Policies", []):
            _attach(demo, "Group", group["GroupName"], ref["PolicyType"], ref["PolicyName"])
    for user in demo.org["Users"]:
        for ref in user.get("Policies", []):
            _attach(demo, "User", user["UserName"], ref["PolicyType"], ref["PolicyName"])
    demo.set_clock(*WORKING_HOURS)
    n.say(
        "Now the people call the demo APIs (aliyun-python-sdk-core, signature v1). The demo clock says "
        "Tuesday 10:00 in Shanghai; requests come from the office unless marked otherwise."
    )
    b, e, app = people["B"], people["E"], people["app"]
    _rpc(demo, e, "ECS", "StopInstance", "Allow", InstanceId="i-web-2")
    _rpc(demo, b, "ECS", "StopInstance", "Deny", InstanceId="i-web-2")
    _rpc(demo, b, "ECS", "DescribeInstances", "Allow")
    db = {"DBInstanceId": "rm-orders", "DBName": "experiments", "CharacterSetName": "utf8"}
    _rpc(demo, b, "RDS", "CreateDatabase", "Deny", **db)
    _rpc(demo, e, "RDS", "CreateDatabase", "Allow", **db)
    _rpc(demo, app, "ECS", "DescribeInstances", "Allow")
    _rpc(demo, app, "ECS", "DeleteInstance", "Deny", InstanceId="i-batch-1")
    n.say(
        "R&D and its bucket: allowed in the office during working hours, refused from home or in the evening."
    )
    note = {"BucketName": "rnd-bucket", "ObjectName": "notes.txt", "Content": "lab notes"}
    _rpc(demo, b, "OSS", "PutObject", "Allow", **note)
    _rpc(demo, b, "OSS", "GetObject", "Deny", ip=HOME_IP, BucketName="rnd-bucket", ObjectName="report.txt")
    demo.set_clock(*EVENING)
    _rpc(demo, b, "OSS", "GetObject", "Deny", BucketName="rnd-bucket", ObjectName="report.txt")
    demo.set_clock(*WORKING_HOURS)
    _oss(demo, b, "rnd-bucket", "report.txt", "Allow")
    n.say("HR administers RAM users through the RAM API; R&D cannot.")
    joiner = ram_models.CreateUserRequest(user_name="F", display_name="Employee F (R&D)")
    _api(demo, people["A"], "CreateUser F (a joiner)", "create_user", joiner, compact=False)
    other = ram_models.CreateUserRequest(user_name="G")
    _api(demo, b, "CreateUser G", "create_user", other, "Deny", compact=False)


def _attach(
    demo: Demo, kind: str, name: str, policy_type: str, policy_name: str, who: Identity | None = None
) -> Answer:
    fields = {"policy_type": policy_type, "policy_name": policy_name, f"{kind.lower()}_name": name}
    request = getattr(ram_models, f"AttachPolicyTo{kind}Request")(**fields)
    what = f"AttachPolicyTo{kind} {policy_name} -> {name}"
    return _api(demo, who or demo.admin, what, f"attach_policy_to_{kind.lower()}", request)


# --- step 4 -------------------------------------------------------------------------------------------------


def transfers(demo: Demo) -> None:
    n, people = demo.narrator, demo.people
    a, b, e = people["A"], people["B"], people["E"]
    n.step(
        4,
        "A transfer, a joiner and a leaver",
        "HR moves B from R&D to O&M, puts the new employee F into R&D, and offboards E. Permissions follow "
        "group membership, so B's next request is decided differently, and E's key stops working.",
    )
    _api(demo, a, "RemoveUserFromGroup B <- RnD", "remove_user_from_group", _member("RnD", "B"))
    _api(demo, a, "AddUserToGroup B -> OandM", "add_user_to_group", _member("OandM", "B"))
    _api(demo, a, "AddUserToGroup F -> RnD", "add_user_to_group", _member("RnD", "F"))
    n.say(
        "A change is felt at once by the process that made it (here `ram serve`) and within milliseconds "
        "by PostgreSQL instances; the demo server, another process on the same SQLite file, feels a change "
        "within 0.5 s, so the next requests wait that long."
    )
    time.sleep(CHANGE_FELT)
    b = people["B"] = dataclasses.replace(b, label="B (now O&M)")
    _rpc(demo, b, "ECS", "StopInstance", "Allow", InstanceId="i-web-1")
    _rpc(demo, b, "OSS", "GetObject", "Deny", BucketName="rnd-bucket", ObjectName="report.txt")
    n.say("E leaves. A user who still has keys, groups or a console password cannot just vanish:")
    leave = ram_models.DeleteUserRequest(user_name="E")
    _api(demo, a, "DeleteUser E", "delete_user", leave, "Deny", compact=False)
    key = ram_models.DeleteAccessKeyRequest(user_access_key_id=e.access_key_id, user_name="E")
    _api(demo, a, "DeleteAccessKey of E", "delete_access_key", key)
    _api(demo, a, "RemoveUserFromGroup E <- OandM", "remove_user_from_group", _member("OandM", "E"))
    profile = ram_models.DeleteLoginProfileRequest(user_name="E")
    _api(demo, a, "DeleteLoginProfile E", "delete_login_profile", profile)
    _api(demo, a, "DeleteUser E", "delete_user", leave)
    time.sleep(CHANGE_FELT)
    _rpc(demo, e, "ECS", "DescribeInstances", "Deny")


def _member(group: str, user: str) -> Any:
    # Add and Remove take the same two fields.
    return ram_models.AddUserToGroupRequest(group_name=group, user_name=user)


# --- step 5 -------------------------------------------------------------------------------------------------


def temporary_users(demo: Demo) -> None:
    n, people, admin = demo.narrator, demo.people, demo.admin
    n.step(
        5,
        "Temporary users with STS",
        "A contractor needs to read R&D's public documents for a quarter of an hour. The admin creates the "
        "role OSSReader (OSS read-only, assumable within the account); HR lets D issue STS tokens; D assumes "
        "the role for 900 s with a session policy that narrows it to rnd-bucket/public/*, and hands the "
        "temporary credentials over. Nobody creates a user or a permanent key.",
    )
    role = demo.org["Roles"][0]
    trust = json.dumps(role["AssumeRolePolicyDocument"]).replace("${AccountId}", demo.account_id)
    create = ram_models.CreateRoleRequest(
        role_name=role["RoleName"],
        assume_role_policy_document=trust,
        description=role.get("Description"),
        max_session_duration=role.get("MaxSessionDuration", 3600),
    )
    _api(demo, admin, f"CreateRole {role['RoleName']}", "create_role", create)
    for ref in role.get("Policies", []):
        _attach(demo, "Role", role["RoleName"], ref["PolicyType"], ref["PolicyName"])
    _attach(demo, "User", "D", "System", "AliyunSTSAssumeRoleAccess", who=people["A"])
    role_arn = demo.arn(f"role/{role['RoleName'].lower()}")
    assumed = _assume(demo, people["D"], role_arn, "Allow")
    body = assumed.body or {}
    credentials = body.get("Credentials") or {}
    contractor = Identity(
        "contractor (STS)",
        str(credentials.get("AccessKeyId", "")),
        str(credentials.get("AccessKeySecret", "")),
        str(credentials.get("SecurityToken", "")),
    )
    n.say(
        f"Temporary AccessKeyId {contractor.access_key_id[:12]}..., expires {credentials.get('Expiration')}, "
        f"acting as {(body.get('AssumedRoleUser') or {}).get('Arn')}."
    )
    readme = {"BucketName": "rnd-bucket", "ObjectName": "public/readme.txt"}
    _rpc(demo, contractor, "OSS", "GetObject", "Allow", **readme)
    _oss(demo, contractor, "rnd-bucket", "public/readme.txt", "Allow")
    n.say("The role alone may read the whole bucket; the session policy narrows this session:")
    _rpc(demo, contractor, "OSS", "GetObject", "Deny", BucketName="rnd-bucket", ObjectName="report.txt")
    upload = {"BucketName": "rnd-bucket", "ObjectName": "public/x.txt", "Content": "x"}
    _rpc(demo, contractor, "OSS", "PutObject", "Deny", **upload)
    _rpc(demo, contractor, "ECS", "DescribeInstances", "Deny")
    n.say("B was not given the right to issue tokens:")
    _assume(demo, people["B"], role_arn, "Deny")


def _assume(demo: Demo, who: Identity, role_arn: str, expect: Expect) -> Answer:
    request = sts_models.AssumeRoleRequest(
        role_arn=role_arn,
        role_session_name="contractor-li",
        duration_seconds=900,
        policy=json.dumps(CONTRACTOR_POLICY),
    )
    client = sts_client(demo.ram_endpoint, who)
    return demo.narrator.traced(
        demo.api_audit,
        who.label,
        "STS AssumeRole OSSReader (900 s, session policy)",
        "",
        lambda: sdk_call(lambda: client.assume_role(request)),
        expect,
    )


# --- step 6 -------------------------------------------------------------------------------------------------


def resting(demo: Demo) -> None:
    n, owner, account = demo.narrator, demo.owner, demo.account_id
    n.step(
        6,
        "The account rests",
        "Day to day, nobody uses the root identity: it has MFA for the rare console logon and no AccessKey. "
        "Even if someone created a root AccessKey, API calls signed with it are refused and flagged in the "
        "audit log.",
    )
    device = owner.get_root_mfa_info(account)
    keys = owner.list_access_keys(account, None)
    n.say(
        f"Root MFA: {device.serial_number if device else 'MISSING'}; root AccessKeys: {len(keys) or 'none'}."
    )
    created = owner.create_access_key(account, None)
    root = Identity("root", created.key.access_key_id, created.secret)
    n.say(f"Someone creates a root AccessKey ({root.access_key_id}) and tries it:")
    # Today, not the demo's Tuesday: the audit event quoted below is stamped with the conditions' clock.
    demo.set_clock("", "now")
    time.sleep(CHANGE_FELT)
    _rpc(demo, root, "ECS", "DescribeInstances", "Deny")
    for event in n.last_events:
        n.raw("audit log: " + json.dumps(event, separators=(",", ":")))
    owner.delete_access_key(account, root.access_key_id)
    n.say("The owner deletes it again. The root rests; RAM users and roles do the work.")
