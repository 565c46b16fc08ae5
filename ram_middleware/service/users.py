"""RAM users: CreateUser, GetUser, UpdateUser, DeleteUser, ListUsers."""

from __future__ import annotations

from dataclasses import replace

from .. import errors
from ..identity import User
from ..store.base import Repository
from ..store.records import Page
from . import ids
from .base import ServiceBase
from .rules import MAX_ITEMS, TEXT_LENGTH, check_email, check_mobile_phone, check_name, check_text

__all__ = ["UserOps"]


class UserOps(ServiceBase):
    """User lifecycle. Deleting a user with dependents needs ``force=True``."""

    def create_user(
        self,
        account_id: str,
        user_name: str,
        *,
        display_name: str = "",
        mobile_phone: str = "",
        email: str = "",
        comments: str = "",
    ) -> User:
        """A new user (names unique per account, case-insensitively; at most ``users_per_account``)."""
        check_name("UserName", user_name)
        check_text("DisplayName", display_name, TEXT_LENGTH)
        check_text("Comments", comments, TEXT_LENGTH)
        check_mobile_phone(mobile_phone)
        check_email(email)
        with self.store.write() as repo:
            self._account(repo, account_id)
            if repo.get_user(account_id, user_name) is not None:
                raise errors.EntityAlreadyExists("User", f"The user already exists: {user_name}")
            if repo.count_users(account_id) >= self.limits.users_per_account:
                raise errors.LimitExceeded("User", "The account has reached its number of users.")
            now = self._now()
            user = User(
                account_id, ids.numeric_id("2"), user_name, display_name, email, mobile_phone, comments,
                create_date=now, update_date=now,
            )  # fmt: skip
            repo.insert_user(user)
        return user

    def get_user(self, account_id: str, user_name: str) -> User:
        """The user; ``EntityNotExist.User`` when unknown."""
        with self.store.read() as repo:
            return self._user(repo, account_id, user_name)

    def update_user(
        self,
        account_id: str,
        user_name: str,
        *,
        new_user_name: str | None = None,
        new_display_name: str | None = None,
        new_mobile_phone: str | None = None,
        new_email: str | None = None,
        new_comments: str | None = None,
    ) -> User:
        """Change the given fields (None leaves a field as it is); returns the updated user."""
        if new_user_name is not None:
            check_name("NewUserName", new_user_name)
        if new_display_name is not None:
            check_text("NewDisplayName", new_display_name, TEXT_LENGTH)
        if new_comments is not None:
            check_text("NewComments", new_comments, TEXT_LENGTH)
        if new_mobile_phone is not None:
            check_mobile_phone(new_mobile_phone, "NewMobilePhone")
        if new_email is not None:
            check_email(new_email, "NewEmail")
        with self.store.write() as repo:
            user = self._user(repo, account_id, user_name)
            renamed = new_user_name is not None and new_user_name.lower() != user.user_name.lower()
            if renamed and repo.get_user(account_id, new_user_name or "") is not None:
                raise errors.EntityAlreadyExists("User", f"The user already exists: {new_user_name}")
            updated = replace(
                user,
                user_name=user.user_name if new_user_name is None else new_user_name,
                display_name=user.display_name if new_display_name is None else new_display_name,
                mobile_phone=user.mobile_phone if new_mobile_phone is None else new_mobile_phone,
                email=user.email if new_email is None else new_email,
                comments=user.comments if new_comments is None else new_comments,
                update_date=self._now(),
            )
            repo.update_user(updated)
        return updated

    def delete_user(self, account_id: str, user_name: str, *, force: bool = False) -> None:
        """Delete a user. Without ``force`` any key, group, policy, login profile or MFA device blocks it
        (``DeleteConflict.User.*``); with ``force`` they are removed in the same transaction."""
        with self.store.write() as repo:
            user = self._user(repo, account_id, user_name)
            if force:
                self._remove_user_dependents(repo, user)
            else:
                self._check_user_deletable(repo, user)
            repo.delete_user(user.user_id)

    @staticmethod
    def _check_user_deletable(repo: Repository, user: User) -> None:
        checks = (
            ("AccessKey", "access keys", lambda: repo.list_access_keys(user.account_id, user.user_id)),
            ("Group", "group memberships", lambda: repo.groups_for_user(user.user_id)),
            ("Policy", "attached policies", lambda: repo.attachments_for_target("user", user.user_id)),
            (
                "LoginProfile",
                "a login profile",
                lambda: repo.get_login_profile(user.account_id, user.user_id),
            ),
            ("MFADevice", "an MFA device", lambda: repo.mfa_device_for(user.account_id, user.user_id)),
        )
        for suffix, what, found in checks:
            if found():
                raise errors.DeleteConflict(f"User.{suffix}", f"The user still has {what}: {user.user_name}")

    @staticmethod
    def _remove_user_dependents(repo: Repository, user: User) -> None:
        for record in repo.list_access_keys(user.account_id, user.user_id):
            repo.delete_access_key(record.key.access_key_id)
        for joined in repo.groups_for_user(user.user_id):
            repo.remove_member(joined.group.group_id, user.user_id)
        repo.detach_all("user", user.user_id)
        repo.delete_login_profile(user.account_id, user.user_id)
        device = repo.mfa_device_for(user.account_id, user.user_id)
        if device is not None:
            # The device itself stays, unbound, as after UnbindMFADevice.
            repo.unbind_mfa_device(device.device.serial_number)

    def list_users(self, account_id: str, *, marker: str | None = None, max_items: int = 100) -> Page[User]:
        """One page of users in name order (MaxItems 1–1000)."""
        return self._account_page(
            account_id,
            marker,
            max_items,
            MAX_ITEMS,
            lambda repo: repo.list_users,
            lambda u: u.user_name.lower(),
            "UserName",
        )
