"""The local backend: ``ram`` acting on the store directly, through :class:`RamService`.

Whoever can open the store is the account owner, so local commands are not authorized by policies (as the
owner's console is not). The runtime comes from :func:`ram_middleware.config.build` with the same ``RAM_*``
settings ``ram serve`` reads, so STS tokens minted here verify on a server sharing the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .. import errors
from ..config import Ram, RamConfig, build
from ..credentials import sts
from ..identity import Principal, ram_arn
from ..organisation.target import (
    Api,
    ServiceTarget,
    all_pages,
    api_date,
    group_api,
    present,
    user_api,
    version_api,
)
from ..service.shapes import group_member_shape, policy_entities_shape
from ..store import sqlite_path
from ..store.cache import root_principal
from ..store.records import MFADevice
from .backend import Simulation, Subject, simulated_session

__all__ = ["LocalBackend", "choose_account", "mfa_device_api", "require_existing"]


def choose_account(ram: Ram, account: str | None) -> str:
    """The AccountId named by ``account`` (id or alias), or the store's only account."""
    if account:
        return ram.service.find_account(account).account_id
    accounts = ram.service.list_accounts()
    if not accounts:
        raise errors.EntityNotExist("Account", "The store has no account yet; run `ram init` first.")
    if len(accounts) > 1:
        names = ", ".join(a.alias or a.account_id for a in accounts[:5])
        message = f"The store holds {len(accounts)} accounts ({names}); pick one with --account."
        raise errors.MissingParameter("Account", message)
    return accounts[0].account_id


def require_existing(store_url: str) -> None:
    """Refuse a SQLite store that does not exist rather than create it: only `ram init` makes one, so a
    mistyped --store or the wrong directory leaves no empty database and key file behind (and `ram serve`
    does not serve one, where every signed call would be refused)."""
    if store_url.startswith(("postgresql://", "postgres://")):
        return
    path = sqlite_path(store_url)
    if path is not None and not Path(path).is_file():
        raise errors.EntityNotExist(
            "Store",
            f"No store at {path}: run `ram init` first, or name yours with --store or $RAM_STORE_URL.",
        )


def mfa_device_api(device: MFADevice) -> Api:
    """A virtual MFA device as ListVirtualMFADevices shows it (plus ``BoundToRoot`` for the root's)."""
    entry: Api = {"SerialNumber": device.serial_number}
    if device.activate_date is not None:
        entry["ActivateDate"] = api_date(device.activate_date)
    if device.user_name is not None:
        entry["User"] = {
            "UserName": device.user_name,
            "UserId": device.user_id,
            "DisplayName": device.display_name,
        }
    if device.bound_to_root:
        entry["BoundToRoot"] = True
    return entry


class LocalBackend(ServiceTarget):
    """:class:`~.backend.Backend` over the local store, for one account."""

    def __init__(self, ram: Ram, account_id: str) -> None:
        super().__init__(ram.service, account_id)
        self.ram = ram

    @classmethod
    def open(cls, store_url: str, account: str | None) -> LocalBackend:
        """Open the store at ``store_url`` and pick the account."""
        require_existing(store_url)
        ram = build(RamConfig.from_env(store_url=store_url, audit="memory:"))
        try:
            return cls(ram, choose_account(ram, account))
        except BaseException:
            ram.close()
            raise

    def describe(self) -> str:
        return f"local store {self.ram.store.url}, account {self.account_id}"

    def close(self) -> None:
        self.ram.close()

    def account_summary(self) -> Api:
        s, a = self.service, self.account_id
        return {
            "AccountId": a,
            "AccountAlias": s.get_account_alias(a),
            "Caller": ram_arn(a, "root"),
            "RootMFADevice": self.root_mfa_device(),
            "RootAccessKeys": [k.access_key_id for k in s.list_access_keys(a, None)],
        }

    def caller_identity(self) -> Api:
        # Whoever holds the store acts as the account owner: GetCallerIdentity's answer for the root.
        return dict(sts.caller_identity(root_principal(self.account_id)))

    # --- users, groups --------------------------------------------------------------------------------------

    def get_user(self, user_name: str) -> Api:
        return user_api(self.service.get_user(self.account_id, user_name))

    def delete_user(self, user_name: str, *, force: bool = False) -> None:
        self.service.delete_user(self.account_id, user_name, force=force)

    def get_group(self, group_name: str) -> Api:
        return group_api(self.service.get_group(self.account_id, group_name))

    def delete_group(self, group_name: str, *, force: bool = False) -> None:
        self.service.delete_group(self.account_id, group_name, force=force)

    def list_users_for_group(self, group_name: str) -> list[Api]:
        s, a = self.service, self.account_id
        joined = all_pages(lambda m: s.list_users_for_group(a, group_name, marker=m))
        return [present(group_member_shape(j)) for j in joined]

    # --- policies -------------------------------------------------------------------------------------------

    def delete_policy(self, policy_name: str, *, cascade: bool = False) -> None:
        self.service.delete_policy(self.account_id, policy_name, cascading_delete=cascade)

    def list_policy_versions(self, policy_name: str, policy_type: str) -> list[Api]:
        return [
            version_api(v)
            for v in self.service.list_policy_versions(self.account_id, policy_name, policy_type)
        ]

    def get_policy_version(self, policy_name: str, policy_type: str, version_id: str) -> Api:
        return version_api(
            self.service.get_policy_version(self.account_id, policy_name, policy_type, version_id)
        )

    def delete_policy_version(self, policy_name: str, version_id: str) -> None:
        self.service.delete_policy_version(self.account_id, policy_name, version_id)

    def set_default_policy_version(self, policy_name: str, version_id: str) -> None:
        self.service.set_default_policy_version(self.account_id, policy_name, version_id)

    def list_entities_for_policy(self, policy_name: str, policy_type: str) -> Api:
        found = self.service.list_entities_for_policy(self.account_id, policy_type, policy_name)
        return {
            kind: [present(entry) for entry in entries]
            for kind, entries in policy_entities_shape(found).items()
        }

    # --- keys, login profiles, MFA ------------------------------------------------------------------------

    def update_access_key(self, user_name: str | None, access_key_id: str, status: str) -> None:
        self.service.update_access_key(self.account_id, access_key_id, status, user_name=user_name)

    def delete_access_key(self, user_name: str | None, access_key_id: str) -> None:
        self.service.delete_access_key(self.account_id, access_key_id, user_name=user_name)

    def access_key_last_used(self, user_name: str | None, access_key_id: str) -> str | None:
        when = self.service.get_access_key_last_used(self.account_id, access_key_id, user_name=user_name)
        return api_date(when)

    def delete_login_profile(self, user_name: str) -> None:
        self.service.delete_login_profile(self.account_id, user_name)

    def create_virtual_mfa_device(self, device_name: str) -> Api:
        created = self.service.create_virtual_mfa_device(self.account_id, device_name)
        return {"SerialNumber": created.device.serial_number, "Base32StringSeed": created.base32_seed}

    def bind_mfa_device(self, serial_number: str, user_name: str | None, code1: str, code2: str) -> None:
        if user_name is None:
            self.service.bind_root_mfa_device(self.account_id, serial_number, code1, code2)
        else:
            self.service.bind_mfa_device(self.account_id, serial_number, user_name, code1, code2)

    def unbind_mfa_device(self, user_name: str | None) -> Api:
        if user_name is None:
            device = self.service.unbind_root_mfa_device(self.account_id)
        else:
            device = self.service.unbind_mfa_device(self.account_id, user_name)
        return {"SerialNumber": device.serial_number}

    def get_user_mfa_info(self, user_name: str) -> Api:
        device = self.service.get_user_mfa_info(self.account_id, user_name)
        return {"SerialNumber": device.serial_number, "Type": "VMFA"}

    def root_mfa_device(self) -> str | None:
        device = self.service.get_root_mfa_info(self.account_id)
        return None if device is None else device.serial_number

    def root_mfa_advice(self) -> str:
        return "bind one with `ram mfa enable --root`."

    def list_virtual_mfa_devices(self) -> list[Api]:
        return [mfa_device_api(d) for d in self.service.list_virtual_mfa_devices(self.account_id)]

    def delete_virtual_mfa_device(self, serial_number: str) -> None:
        self.service.delete_virtual_mfa_device(self.account_id, serial_number)

    # --- roles, STS, simulation -----------------------------------------------------------------------------

    def delete_role(self, role_name: str, *, force: bool = False) -> None:
        self.service.delete_role(self.account_id, role_name, force=force)

    def revoke_role_sessions(self, role_name: str) -> str:
        return sts.format_timestamp(self.service.revoke_role_sessions(self.account_id, role_name))

    def assume_role(self, role_arn: str, params: Mapping[str, str], *, as_user: str | None) -> Api:
        """AssumeRole on behalf of RAM user ``as_user`` (the root may not assume roles)."""
        if not as_user:
            raise errors.MissingParameter(
                "AsUser", "On the local store, name the RAM user who assumes the role with --as-user."
            )
        owner, name = sts.parse_role_arn(role_arn)
        try:
            # Any account's role in this store, whose trust policy then decides, as AssumeRole on the API.
            role = self.service.get_role(owner, name)
        except errors.EntityNotExist:
            raise sts.role_not_found(owner, name) from None
        caller = self.ram.directory.principal_for_user(self.account_id, as_user)
        context = {"acs:CurrentTime": sts.format_timestamp(self.ram.tokens.now())}
        # The caller's own decision: assume_role asks the trust policy itself, with the request's ExternalId.
        decision = self.service.simulate(
            self.account_id, caller, "sts:AssumeRole", role.arn, context, trust=False
        )
        result = sts.assume_role(
            caller, decision, role, {**params, "RoleArn": role_arn}, self.ram.tokens, context=context
        )
        return result.to_api()

    def simulate(
        self, subject: Subject, action: str, resource: str, context: Mapping[str, object]
    ) -> Simulation:
        caller: Principal | str = subject.name
        if subject.kind == "role":
            role = self.service.get_role(self.account_id, subject.name)
            caller = simulated_session(self.account_id, role.role_name, role.role_id, subject.session_policy)
        decision = self.service.simulate(self.account_id, caller, action, resource, context)
        trust = self.service.simulate_trust(self.account_id, caller, action, resource, context)
        return Simulation(decision, trust)
