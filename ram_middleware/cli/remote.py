"""The remote backend: ``ram`` acting through the RAM (2015-05-01) and STS (2015-04-01) APIs.

Requests are RPC calls (``POST /``, Action and Version in the query, the parameters in a form body)
signed with ACS3-HMAC-SHA256 by our own :class:`~ram_middleware.client.RamAuth`, so every command is
authorized by the caller's RAM policies on the server, exactly as an official SDK call would be. Error
answers become the matching :class:`~ram_middleware.errors.RAMError` subclass, so callers handle them as
they would locally.

Answers have the local backend's shapes, so ``--json`` prints the same either way. The exception is what the
RAM API cannot tell: ``ram account show`` has no ``RootAccessKeys`` remotely (no RAM call lists the root's
AccessKeys), and no ``RootMFADevice`` when the caller may not list MFA devices.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from .. import errors
from ..client import RamAuth
from ..credentials import sts
from ..credentials.preference import SecurityPreference
from ..identity import AttachTarget, Principal, Role, ram_arn
from ..organisation.target import Api, NewPassword, plain_password
from ..policy import AttachedPolicy, Decision, PolicySet, decide_with_session, make_request, parse_policy
from ..service.self_service import with_preference_grant
from .backend import NotSupportedHere, Simulation, Subject, simulated_session

__all__ = ["RAM_VERSION", "STS_VERSION", "RemoteBackend", "error_from_answer"]

RAM_VERSION = "2015-05-01"
STS_VERSION = "2015-04-01"
_TARGET = {"user": ("User", "UserName"), "group": ("Group", "GroupName"), "role": ("Role", "RoleName")}
_SUFFIXED: dict[str, type[errors.RAMError]] = {
    "EntityNotExist": errors.EntityNotExist,
    "EntityAlreadyExists": errors.EntityAlreadyExists,
    "DeleteConflict": errors.DeleteConflict,
    "LimitExceeded": errors.LimitExceeded,
    "InvalidParameter": errors.InvalidParameter,
    "MissingParameter": errors.MissingParameter,
}


def error_from_answer(status: int, body: object) -> errors.RAMError:
    """The RAMError an error answer stands for (``EntityNotExist.User`` → :class:`errors.EntityNotExist`)."""
    fields = body if isinstance(body, dict) else {}
    code = str(fields.get("Code") or f"HTTP{status}")
    message = str(fields.get("Message") or "The server gave no message.")
    prefix, _, suffix = code.partition(".")
    found = _SUFFIXED.get(prefix)
    if found is not None:
        return found(suffix, message, status=status)  # type: ignore[call-arg]
    if code == "NoPermission" or status == 403:
        return errors.AuthorizationError(message, code=code, status=status)
    return errors.RAMError(message, code=code, status=status)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _items(body: Api, outer: str, inner: str) -> list[Api]:
    wrapped = body.get(outer) or {}
    found = wrapped.get(inner, []) if isinstance(wrapped, dict) else []
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


class RemoteBackend:
    """:class:`~.backend.Backend` over the RAM/STS API at ``endpoint`` (e.g. ``http://127.0.0.1:8080``)."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        *,
        security_token: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        try:
            url = httpx.URL(endpoint)
        except httpx.InvalidURL:
            url = None
        # No user:password@ either: the AccessKey signs the requests, and the endpoint is printed (plans,
        # errors), where a password must not be.
        if not endpoint.startswith(("http://", "https://")) or url is None or not url.host or url.userinfo:
            raise errors.InvalidParameter("Endpoint", "The endpoint is a URL such as http://127.0.0.1:8080.")
        self.endpoint = endpoint.rstrip("/") + "/"
        self._timeout = timeout
        # trust_env=False: an HTTP(S)_PROXY from the environment must not see (or break) signed requests.
        self._client = httpx.Client(
            auth=RamAuth(access_key_id, access_key_secret, security_token=security_token),
            timeout=timeout,
            trust_env=False,
        )
        try:
            self.identity = self.caller_identity()
        except BaseException:
            self._client.close()
            raise
        self.account_id: str = str(self.identity.get("AccountId", ""))

    def describe(self) -> str:
        return f"RAM API {self.endpoint} as {self.identity.get('Arn', '?')}"

    def close(self) -> None:
        self._client.close()

    def all_or_nothing(self) -> contextlib.AbstractContextManager[bool]:
        # Each RAM API call commits on the server by itself and the API has no transactions: nothing done
        # through it can be undone, so an apply reports exactly which changes were made before a failure.
        return contextlib.nullcontext(False)

    def read_ahead(self) -> contextlib.AbstractContextManager[None]:
        # The RAM API has no account-wide read: each read stays one call.
        return contextlib.nullcontext()

    def call(
        self, action: str, params: Mapping[str, object] | None = None, *, version: str = RAM_VERSION
    ) -> Api:
        """One signed RPC call; the answer's JSON, or the matching RAMError."""
        query = {"Action": action, "Version": version, "Format": "JSON"}
        # The parameters go in the signed form body, not the URL: they include passwords and MFA codes,
        # and URLs end up in logs (httpx logs each request's at INFO).
        form = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        headers = {"x-acs-action": action, "x-acs-version": version, "accept": "application/json"}
        status, content = self._post(query, form, headers)
        try:
            body = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if status >= 400 or not isinstance(body, dict):
            raise error_from_answer(status, body)
        return body

    def _post(
        self, query: Mapping[str, str], form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """The answer's status and body, within ``timeout`` seconds overall: httpx's timeout bounds each
        read, so a server sending its answer a byte at a time would otherwise be waited for without end."""
        deadline = time.monotonic() + self._timeout
        try:
            with self._client.stream(
                "POST", self.endpoint, params=query, data=form, headers=headers
            ) as answer:
                content = bytearray()
                for chunk in answer.iter_bytes():
                    content += chunk
                    if time.monotonic() > deadline:
                        raise errors.ServiceUnavailable(
                            f"The RAM API at {self.endpoint} did not answer within {self._timeout:g} s."
                        )
                return answer.status_code, bytes(content)
        except httpx.HTTPError as exc:
            raise errors.ServiceUnavailable(
                f"Cannot reach the RAM API at {self.endpoint} ({type(exc).__name__})."
            ) from None

    def _list(
        self, action: str, outer: str, inner: str, params: Mapping[str, object] | None = None
    ) -> list[Api]:
        items: list[Api] = []
        marker: str | None = None
        while True:
            body = self.call(action, {**(params or {}), "Marker": marker})
            items += _items(body, outer, inner)
            marker = body.get("Marker")
            if not body.get("IsTruncated") or not marker:
                return items

    # --- account ------------------------------------------------------------------------------------------

    def caller_identity(self) -> Api:
        body = self.call("GetCallerIdentity", version=STS_VERSION)
        body.pop("RequestId", None)
        return body

    def account_summary(self) -> Api:
        """The account as the local backend shows it, except ``RootAccessKeys``: the RAM API has no call
        listing the root's AccessKeys. ``RootMFADevice`` needs ram:ListVirtualMFADevices; without that
        permission it is left out (unknown, not None)."""
        summary: Api = {
            "AccountId": self.account_id,
            "AccountAlias": self.get_account_alias(),
            "Caller": self.identity.get("Arn"),
        }
        with contextlib.suppress(errors.AuthorizationError):
            bound = [d["SerialNumber"] for d in self.list_virtual_mfa_devices() if d.get("BoundToRoot")]
            summary["RootMFADevice"] = bound[0] if bound else None
        return summary

    def get_account_alias(self) -> str | None:
        alias = self.call("GetAccountAlias").get("AccountAlias")
        return str(alias) if alias else None

    def set_account_alias(self, alias: str) -> None:
        self.call("SetAccountAlias", {"AccountAlias": alias})

    # --- users and groups -------------------------------------------------------------------------------

    def list_users(self) -> list[Api]:
        return self._list("ListUsers", "Users", "User")

    def get_user(self, user_name: str) -> Api:
        return dict(self.call("GetUser", {"UserName": user_name})["User"])

    def create_user(self, user_name: str, **fields: str) -> Api:
        names = {
            "display_name": "DisplayName",
            "email": "Email",
            "mobile_phone": "MobilePhone",
            "comments": "Comments",
        }
        params = {names[k]: v for k, v in fields.items() if v}
        return dict(self.call("CreateUser", {"UserName": user_name, **params})["User"])

    def update_user(self, user_name: str, **changes: str) -> Api:
        params = {"".join(part.capitalize() for part in k.split("_")): v for k, v in changes.items()}
        return dict(self.call("UpdateUser", {"UserName": user_name, **params}).get("User") or {})

    def delete_user(self, user_name: str, *, force: bool = False) -> None:
        if force:
            self._remove_user_dependents(user_name)
        self.call("DeleteUser", {"UserName": user_name})

    def _remove_user_dependents(self, user_name: str) -> None:
        for key in self.list_access_keys(user_name):
            self.delete_access_key(user_name, key["AccessKeyId"])
        for group in self.list_groups_for_user(user_name):
            self.remove_user_from_group(group["GroupName"], user_name)
        self._detach_all("user", user_name)
        for dependent in (self.delete_login_profile, self.unbind_mfa_device):
            with contextlib.suppress(errors.EntityNotExist):
                dependent(user_name)

    def list_groups(self) -> list[Api]:
        return self._list("ListGroups", "Groups", "Group")

    def get_group(self, group_name: str) -> Api:
        return dict(self.call("GetGroup", {"GroupName": group_name})["Group"])

    def create_group(self, group_name: str, *, comments: str = "") -> Api:
        return dict(
            self.call("CreateGroup", {"GroupName": group_name, "Comments": comments or None})["Group"]
        )

    def update_group(
        self, group_name: str, *, new_group_name: str | None = None, new_comments: str | None = None
    ) -> Api:
        params = {"GroupName": group_name, "NewGroupName": new_group_name, "NewComments": new_comments}
        return dict(self.call("UpdateGroup", params).get("Group") or {})

    def delete_group(self, group_name: str, *, force: bool = False) -> None:
        if force:
            for member in self.list_users_for_group(group_name):
                self.remove_user_from_group(group_name, member["UserName"])
            self._detach_all("group", group_name)
        self.call("DeleteGroup", {"GroupName": group_name})

    def list_users_for_group(self, group_name: str) -> list[Api]:
        return self._list("ListUsersForGroup", "Users", "User", {"GroupName": group_name})

    def list_groups_for_user(self, user_name: str) -> list[Api]:
        return _items(self.call("ListGroupsForUser", {"UserName": user_name}), "Groups", "Group")

    def add_user_to_group(self, group_name: str, user_name: str) -> None:
        self.call("AddUserToGroup", {"GroupName": group_name, "UserName": user_name})

    def remove_user_from_group(self, group_name: str, user_name: str) -> None:
        self.call("RemoveUserFromGroup", {"GroupName": group_name, "UserName": user_name})

    # --- policies -----------------------------------------------------------------------------------------

    def list_policies(self, policy_type: str | None = None) -> list[Api]:
        return self._list("ListPolicies", "Policies", "Policy", {"PolicyType": policy_type})

    def get_policy(self, policy_name: str, policy_type: str) -> Api:
        body = self.call("GetPolicy", {"PolicyName": policy_name, "PolicyType": policy_type})
        return {"Policy": body["Policy"], "DefaultPolicyVersion": body["DefaultPolicyVersion"]}

    def create_policy(self, policy_name: str, document: str, *, description: str = "") -> Api:
        params = {"PolicyName": policy_name, "PolicyDocument": document, "Description": description or None}
        return dict(self.call("CreatePolicy", params)["Policy"])

    def create_policy_version(
        self, policy_name: str, document: str, *, set_as_default: bool = False, rotate_strategy: str = "None"
    ) -> Api:
        params = {
            "PolicyName": policy_name,
            "PolicyDocument": document,
            "SetAsDefault": set_as_default,
            "RotateStrategy": rotate_strategy,
        }
        return dict(self.call("CreatePolicyVersion", params)["PolicyVersion"])

    def update_policy_description(self, policy_name: str, description: str) -> Api:
        params = {"PolicyName": policy_name, "NewDescription": description}
        return dict(self.call("UpdatePolicyDescription", params).get("Policy") or {})

    def delete_policy(self, policy_name: str, *, cascade: bool = False) -> None:
        self.call("DeletePolicy", {"PolicyName": policy_name, "CascadingDelete": cascade or None})

    def list_policy_versions(self, policy_name: str, policy_type: str) -> list[Api]:
        body = self.call("ListPolicyVersions", {"PolicyName": policy_name, "PolicyType": policy_type})
        return _items(body, "PolicyVersions", "PolicyVersion")

    def get_policy_version(self, policy_name: str, policy_type: str, version_id: str) -> Api:
        params = {"PolicyName": policy_name, "PolicyType": policy_type, "VersionId": version_id}
        return dict(self.call("GetPolicyVersion", params)["PolicyVersion"])

    def delete_policy_version(self, policy_name: str, version_id: str) -> None:
        self.call("DeletePolicyVersion", {"PolicyName": policy_name, "VersionId": version_id})

    def set_default_policy_version(self, policy_name: str, version_id: str) -> None:
        self.call("SetDefaultPolicyVersion", {"PolicyName": policy_name, "VersionId": version_id})

    def list_entities_for_policy(self, policy_name: str, policy_type: str) -> Api:
        body = self.call("ListEntitiesForPolicy", {"PolicyName": policy_name, "PolicyType": policy_type})
        return {
            outer: _items(body, outer, inner)
            for outer, inner in (("Users", "User"), ("Groups", "Group"), ("Roles", "Role"))
        }

    def list_policies_for(self, target_type: AttachTarget, name: str) -> list[Api]:
        kind, param = _TARGET[target_type]
        return _items(self.call(f"ListPoliciesFor{kind}", {param: name}), "Policies", "Policy")

    def attach_policy(self, target_type: AttachTarget, name: str, policy_type: str, policy_name: str) -> None:
        kind, param = _TARGET[target_type]
        self.call(
            f"AttachPolicyTo{kind}", {"PolicyType": policy_type, "PolicyName": policy_name, param: name}
        )

    def detach_policy(self, target_type: AttachTarget, name: str, policy_type: str, policy_name: str) -> None:
        kind, param = _TARGET[target_type]
        self.call(
            f"DetachPolicyFrom{kind}", {"PolicyType": policy_type, "PolicyName": policy_name, param: name}
        )

    def _detach_all(self, target_type: AttachTarget, name: str) -> None:
        # RAM has no "detach everything": a forced delete detaches one policy at a time.
        for policy in self.list_policies_for(target_type, name):
            self.detach_policy(target_type, name, policy["PolicyType"], policy["PolicyName"])

    # --- keys, login profiles, MFA -----------------------------------------------------------------------

    def list_access_keys(self, user_name: str | None) -> list[Api]:
        return _items(self.call("ListAccessKeys", {"UserName": user_name}), "AccessKeys", "AccessKey")

    def create_access_key(self, user_name: str | None) -> Api:
        return dict(self.call("CreateAccessKey", {"UserName": user_name})["AccessKey"])

    def update_access_key(self, user_name: str | None, access_key_id: str, status: str) -> None:
        self.call(
            "UpdateAccessKey", {"UserName": user_name, "UserAccessKeyId": access_key_id, "Status": status}
        )

    def delete_access_key(self, user_name: str | None, access_key_id: str) -> None:
        self.call("DeleteAccessKey", {"UserName": user_name, "UserAccessKeyId": access_key_id})

    def access_key_last_used(self, user_name: str | None, access_key_id: str) -> str | None:
        body = self.call("GetAccessKeyLastUsed", {"UserName": user_name, "UserAccessKeyId": access_key_id})
        used = (body.get("AccessKeyLastUsed") or {}).get("LastUsedDate")
        return str(used) if used else None

    def get_login_profile(self, user_name: str) -> Api:
        return dict(self.call("GetLoginProfile", {"UserName": user_name})["LoginProfile"])

    def prepare_password(self, user_name: str, password: str) -> NewPassword:
        return password  # the server checks and hashes it

    def create_login_profile(
        self,
        user_name: str,
        password: NewPassword,
        *,
        password_reset_required: bool = False,
        mfa_bind_required: bool = False,
    ) -> Api:
        params = {
            "UserName": user_name,
            "Password": plain_password(password),
            "PasswordResetRequired": password_reset_required,
            "MFABindRequired": mfa_bind_required,
        }
        return dict(self.call("CreateLoginProfile", params)["LoginProfile"])

    def update_login_profile(
        self,
        user_name: str,
        *,
        password: str | None = None,
        password_reset_required: bool | None = None,
        mfa_bind_required: bool | None = None,
    ) -> Api:
        params = {
            "UserName": user_name,
            "Password": password,
            "PasswordResetRequired": password_reset_required,
            "MFABindRequired": mfa_bind_required,
        }  # None is not sent: the server leaves that field as it is
        body = self.call("UpdateLoginProfile", params)
        return dict(body.get("LoginProfile") or {})

    def delete_login_profile(self, user_name: str) -> None:
        self.call("DeleteLoginProfile", {"UserName": user_name})

    def create_virtual_mfa_device(self, device_name: str) -> Api:
        device = self.call("CreateVirtualMFADevice", {"VirtualMFADeviceName": device_name})[
            "VirtualMFADevice"
        ]
        return {"SerialNumber": device["SerialNumber"], "Base32StringSeed": device["Base32StringSeed"]}

    def bind_mfa_device(self, serial_number: str, user_name: str | None, code1: str, code2: str) -> None:
        if user_name is None:
            raise NotSupportedHere(
                "The account root binds its MFA device on the local store (ram mfa enable --root)."
            )
        params = {
            "SerialNumber": serial_number,
            "UserName": user_name,
            "AuthenticationCode1": code1,
            "AuthenticationCode2": code2,
        }
        self.call("BindMFADevice", params)

    def unbind_mfa_device(self, user_name: str | None) -> Api:
        if user_name is None:
            raise NotSupportedHere("The account root's MFA device is managed on the local store.")
        return dict(self.call("UnbindMFADevice", {"UserName": user_name}).get("MFADevice") or {})

    def get_user_mfa_info(self, user_name: str) -> Api:
        return dict(self.call("GetUserMFAInfo", {"UserName": user_name})["MFADevice"])

    def root_mfa_device(self) -> str | None:
        raise NotSupportedHere("The account root's MFA device is managed on the local store (--store).")

    def root_mfa_advice(self) -> str:
        """The RAM API cannot bind the root's device (the root has no AccessKey to call it with): the
        server's store can, and so can the console, which has a root with a password bind one at logon."""
        return (
            "the RAM API cannot bind one: run `ram mfa enable --root --store <the server's store URL>` "
            f"(a root with a console password also binds one when it next signs in at "
            f"{self.endpoint}console/logon)."
        )

    def list_virtual_mfa_devices(self) -> list[Api]:
        """ListVirtualMFADevices, with ``BoundToRoot`` as the local backend adds it: a device is activated
        only when bound, so an activated device bound to no user is the account root's."""
        devices = _items(self.call("ListVirtualMFADevices"), "VirtualMFADevices", "VirtualMFADevice")
        return [
            {**d, "BoundToRoot": True} if d.get("ActivateDate") and not d.get("User") else d for d in devices
        ]

    def delete_virtual_mfa_device(self, serial_number: str) -> None:
        self.call("DeleteVirtualMFADevice", {"SerialNumber": serial_number})

    # --- roles, STS, simulation -------------------------------------------------------------------------

    def list_roles(self) -> list[Api]:
        return self._list("ListRoles", "Roles", "Role")

    def get_role(self, role_name: str) -> Api:
        return dict(self.call("GetRole", {"RoleName": role_name})["Role"])

    def create_role(
        self, role_name: str, trust_policy: str, *, description: str = "", max_session_duration: int = 3600
    ) -> Api:
        params = {
            "RoleName": role_name,
            "AssumeRolePolicyDocument": trust_policy,
            "Description": description or None,
            "MaxSessionDuration": max_session_duration,
        }
        return dict(self.call("CreateRole", params)["Role"])

    def update_role(
        self,
        role_name: str,
        *,
        new_trust_policy: str | None = None,
        new_description: str | None = None,
        new_max_session_duration: int | None = None,
    ) -> Api:
        params = {
            "RoleName": role_name,
            "NewAssumeRolePolicyDocument": new_trust_policy,
            "NewDescription": new_description,
            "NewMaxSessionDuration": new_max_session_duration,
        }
        return dict(self.call("UpdateRole", params).get("Role") or {})

    def delete_role(self, role_name: str, *, force: bool = False) -> None:
        if force:
            self._detach_all("role", role_name)
        self.call("DeleteRole", {"RoleName": role_name})

    def revoke_role_sessions(self, role_name: str) -> str:
        raise NotSupportedHere(
            "A role's sessions are revoked on the local store (--store): the RAM API has no such call."
        )

    def assume_role(self, role_arn: str, params: Mapping[str, str], *, as_user: str | None) -> Api:
        if as_user:
            raise NotSupportedHere(
                "--as-user applies to the local store; remotely the caller assumes the role."
            )
        body = self.call("AssumeRole", {**params, "RoleArn": role_arn}, version=STS_VERSION)
        body.pop("RequestId", None)
        return body

    def simulate(
        self, subject: Subject, action: str, resource: str, context: Mapping[str, object]
    ) -> Simulation:
        """The decision computed here from the policies the API reports (same evaluator as the server),
        with the security preference's grant of ``ram:ChangePassword`` as the server adds it for a user,
        and for ``sts:AssumeRole`` on one role of this account the role's trust policy (from GetRole)."""
        identity = PolicySet(self._attached_policies(subject))
        if subject.kind == "user" and action.lower() == "ram:changepassword":
            # Asked for only here, so other simulations need no ram:GetSecurityPreference.
            user = self.get_user(subject.name)["UserName"]
            answer = self.call("GetSecurityPreference").get("SecurityPreference") or {}
            preference = SecurityPreference.from_api(answer)
            identity = with_preference_grant(
                identity, ram_arn(self.account_id, f"user/{user}"), user, preference
            )
        session = None
        if subject.kind == "role" and subject.session_policy:
            compiled = parse_policy(subject.session_policy, kind="session")
            session = PolicySet(
                [AttachedPolicy("SessionPolicy", "Session", "", "session", "simulation", compiled)]
            )
        decision = decide_with_session(identity, session, make_request(action, resource, context))
        trust = self._trust(subject, action, resource, context)
        return Simulation(decision if trust is None else sts.assume_role_decision(decision, trust), trust)

    def _trust(
        self, subject: Subject, action: str, resource: str, context: Mapping[str, object]
    ) -> Decision | None:
        """The role's trust decision, as :meth:`RamService.simulate_trust` takes it on the server."""
        target = sts.assume_role_target(action, resource)
        if target is None:
            return None
        owner, name = target
        if owner != self.account_id:
            raise NotSupportedHere(
                "The RAM API shows only this account's roles, so AssumeRole of another account's role is "
                "simulated on the local store (--store)."
            )
        try:
            found = self.get_role(name)
        except errors.EntityNotExist:
            raise sts.role_not_found(owner, name) from None
        role = Role(self.account_id, found["RoleId"], found["RoleName"], found["AssumeRolePolicyDocument"])
        caller: Principal
        if subject.kind == "role":
            own = self.get_role(subject.name)
            policy = subject.session_policy
            caller = simulated_session(self.account_id, own["RoleName"], own["RoleId"], policy)
        else:
            user = self.get_user(subject.name)
            user_name = user["UserName"]
            caller = Principal(
                kind="user",
                account_id=self.account_id,
                name=user_name,
                principal_id=user["UserId"],
                arn=ram_arn(self.account_id, f"user/{user_name}"),
            )
        return sts.trust_decision(caller, role, context)

    def _attached_policies(self, subject: Subject) -> list[AttachedPolicy]:
        targets: list[tuple[AttachTarget, str]]
        if subject.kind == "user":
            user = self.get_user(subject.name)["UserName"]
            targets = [("user", user), *(("group", g["GroupName"]) for g in self.list_groups_for_user(user))]
        else:
            targets = [("role", self.get_role(subject.name)["RoleName"])]
        documents: dict[tuple[str, str], Any] = {}
        attached: list[AttachedPolicy] = []
        for target_type, name in targets:
            for listed in self.list_policies_for(target_type, name):
                key = (listed["PolicyType"], listed["PolicyName"])
                if key not in documents:
                    version = self.get_policy(key[1], key[0])["DefaultPolicyVersion"]
                    # a stored version: read as the server reads it (checks added since spare it)
                    compiled = parse_policy(version["PolicyDocument"], stored=True)
                    documents[key] = (version["VersionId"], compiled)
                version_id, compiled = documents[key]
                attached.append(AttachedPolicy(key[1], key[0], version_id, target_type, name, compiled))
        return attached
