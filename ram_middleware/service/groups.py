"""RAM groups and memberships."""

from __future__ import annotations

from dataclasses import replace

from .. import errors
from ..identity import Group
from ..store.base import Repository
from ..store.records import JoinedGroup, JoinedUser, Page
from . import ids
from .base import ServiceBase, page_of
from .rules import (
    MAX_GROUPS_ITEMS,
    MAX_ITEMS,
    TEXT_LENGTH,
    check_max_items,
    check_name,
    check_text,
    decode_marker,
)

__all__ = ["GroupOps"]


class GroupOps(ServiceBase):
    """Group lifecycle and who belongs to which group."""

    def create_group(self, account_id: str, group_name: str, *, comments: str = "") -> Group:
        """A new group (names unique per account, case-insensitively; at most ``groups_per_account``)."""
        check_name("GroupName", group_name)
        check_text("Comments", comments, TEXT_LENGTH)
        with self.store.write() as repo:
            self._account(repo, account_id)
            if repo.get_group(account_id, group_name) is not None:
                raise errors.EntityAlreadyExists("Group", f"The group already exists: {group_name}")
            if repo.count_groups(account_id) >= self.limits.groups_per_account:
                raise errors.LimitExceeded("Group", "The account has reached its number of groups.")
            now = self._now()
            group = Group(account_id, ids.numeric_id("1"), group_name, comments, now, now)
            repo.insert_group(group)
        return group

    def get_group(self, account_id: str, group_name: str) -> Group:
        """The group; ``EntityNotExist.Group`` when unknown."""
        with self.store.read() as repo:
            return self._group(repo, account_id, group_name)

    def update_group(
        self,
        account_id: str,
        group_name: str,
        *,
        new_group_name: str | None = None,
        new_comments: str | None = None,
    ) -> Group:
        """Rename and/or change comments (None leaves a field as it is)."""
        if new_group_name is not None:
            check_name("NewGroupName", new_group_name)
        if new_comments is not None:
            check_text("NewComments", new_comments, TEXT_LENGTH)
        with self.store.write() as repo:
            group = self._group(repo, account_id, group_name)
            renamed = new_group_name is not None and new_group_name.lower() != group.group_name.lower()
            if renamed and repo.get_group(account_id, new_group_name or "") is not None:
                raise errors.EntityAlreadyExists("Group", f"The group already exists: {new_group_name}")
            updated = replace(
                group,
                group_name=group.group_name if new_group_name is None else new_group_name,
                comments=group.comments if new_comments is None else new_comments,
                update_date=self._now(),
            )
            repo.update_group(updated)
        return updated

    def delete_group(self, account_id: str, group_name: str, *, force: bool = False) -> None:
        """Delete a group; members or attached policies block it (``DeleteConflict.Group.*``)
        unless ``force``."""
        with self.store.write() as repo:
            group = self._group(repo, account_id, group_name)
            if force:
                for joined in repo.users_for_group(group.group_id, "", 2**31):
                    repo.remove_member(group.group_id, joined.user.user_id)
                repo.detach_all("group", group.group_id)
            else:
                self._check_group_deletable(repo, group)
            repo.delete_group(group.group_id)

    @staticmethod
    def _check_group_deletable(repo: Repository, group: Group) -> None:
        if repo.count_members(group.group_id):
            raise errors.DeleteConflict("Group.User", f"The group still has members: {group.group_name}")
        if repo.attachments_for_target("group", group.group_id):
            raise errors.DeleteConflict("Group.Policy", f"The group still has policies: {group.group_name}")

    def list_groups(self, account_id: str, *, marker: str | None = None, max_items: int = 100) -> Page[Group]:
        """One page of groups in name order (MaxItems 1–100)."""
        return self._account_page(
            account_id,
            marker,
            max_items,
            MAX_GROUPS_ITEMS,
            lambda repo: repo.list_groups,
            lambda g: g.group_name.lower(),
            "GroupName",
        )

    # --- memberships --------------------------------------------------------------------------------

    def add_user_to_group(self, account_id: str, group_name: str, user_name: str) -> None:
        """Add a member (``EntityAlreadyExists.User.Group``; at most ``groups_per_user`` groups)."""
        with self.store.write() as repo:
            group = self._group(repo, account_id, group_name)
            user = self._user(repo, account_id, user_name)
            current = repo.groups_for_user(user.user_id)
            if any(j.group.group_id == group.group_id for j in current):
                raise errors.EntityAlreadyExists(
                    "User.Group", f"{user.user_name} is already in {group.group_name}."
                )
            if len(current) >= self.limits.groups_per_user:
                raise errors.LimitExceeded(
                    "User.Group", f"{user.user_name} is in the maximum number of groups."
                )
            repo.add_member(group.group_id, user.user_id, self._now())

    def remove_user_from_group(self, account_id: str, group_name: str, user_name: str) -> None:
        """Remove a member (``EntityNotExist.User.Group`` when not one)."""
        with self.store.write() as repo:
            group = self._group(repo, account_id, group_name)
            user = self._user(repo, account_id, user_name)
            if not repo.remove_member(group.group_id, user.user_id):
                raise errors.EntityNotExist("User.Group", f"{user.user_name} is not in {group.group_name}.")

    def list_groups_for_user(self, account_id: str, user_name: str) -> list[JoinedGroup]:
        """The user's groups with join dates, in name order."""
        with self.store.read() as repo:
            user = self._user(repo, account_id, user_name)
            return repo.groups_for_user(user.user_id)

    def list_users_for_group(
        self, account_id: str, group_name: str, *, marker: str | None = None, max_items: int = 100
    ) -> Page[JoinedUser]:
        """One page of the group's members with join dates, in name order."""
        check_max_items(max_items, MAX_ITEMS)
        start = decode_marker(marker, names="UserName")
        with self.store.read() as repo:
            group = self._group(repo, account_id, group_name)
            rows = repo.users_for_group(group.group_id, start, max_items + 1)
        return page_of(rows, max_items, lambda j: j.user.user_name.lower())
