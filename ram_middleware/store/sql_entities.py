"""SQL for accounts, account settings, users, groups, memberships and roles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..identity import Account, Group, Role, SessionRevocation, User
from .records import Counted, JoinedGroup, JoinedUser, RoleRecord, UserGroups
from .sql_base import COUNTER_ROW, SqlBase, from_ts, must_ts, opt_ts, to_ts

__all__ = [
    "GROUP_COLS",
    "GROUP_NAMES",
    "ROLE_COLS",
    "USER_COLS",
    "EntityRows",
    "group_row",
    "role_row",
    "user_groups",
    "user_row",
]

USER_COLS = (
    "u.account_id, u.user_id, u.user_name, u.display_name, u.email, u.mobile_phone, u.comments, "
    "u.create_date, u.update_date, u.last_login_date"
)
GROUP_COLS = "g.account_id, g.group_id, g.group_name, g.comments, g.create_date, g.update_date"
ROLE_COLS = (
    "r.account_id, r.role_id, r.role_name, r.trust_policy, r.description, r.max_session_duration, "
    "r.create_date, r.update_date, r.session_generation"
)

GROUP_NAMES = (
    "LEFT JOIN ram_memberships m ON m.user_id = u.user_id LEFT JOIN ram_groups g ON g.group_id = m.group_id"
)
"""Joins user ``u`` to each of its groups ``g`` (one row with NULL group columns for a user in none): a
user's Principal in one statement, ordered ``BY g.name_key``; see :func:`user_groups`. Two plain joins: a
nested ``(m JOIN g)`` is read whole by SQLite before the user is known."""


def user_row(row: Any) -> User:
    return User(
        account_id=row[0], user_id=row[1], user_name=row[2], display_name=row[3], email=row[4],
        mobile_phone=row[5], comments=row[6], create_date=from_ts(row[7]), update_date=from_ts(row[8]),
        last_login_date=from_ts(row[9]),
    )  # fmt: skip


def group_row(row: Any) -> Group:
    return Group(
        account_id=row[0], group_id=row[1], group_name=row[2], comments=row[3],
        create_date=from_ts(row[4]), update_date=from_ts(row[5]),
    )  # fmt: skip


def role_row(row: Any) -> Role:
    return Role(
        account_id=row[0], role_id=row[1], role_name=row[2], trust_policy=row[3], description=row[4],
        max_session_duration=int(row[5]), create_date=from_ts(row[6]), update_date=from_ts(row[7]),
        session_generation=int(row[8]),
    )  # fmt: skip


def user_groups(rows: list[Any]) -> UserGroups:
    """The user of rows of ``USER_COLS, g.group_name`` joined through :data:`GROUP_NAMES` (in that order),
    with its groups' names."""
    return UserGroups(user_row(rows[0]), tuple(r[10] for r in rows if r[10] is not None))


def _required(when: datetime | None) -> str:
    if when is None:
        raise ValueError("create/update dates are required")
    return to_ts(when)


class EntityRows(SqlBase):
    """Rows of the account directory: who exists and how they are grouped."""

    # --- accounts and per-account settings ---------------------------------------------------------

    def insert_account(self, account: Account) -> None:
        self._exec(
            "INSERT INTO ram_accounts (account_id, alias, create_date) VALUES (?, ?, ?)",
            (account.account_id, account.alias, to_ts(account.create_date)),
        )

    def get_account(self, account_id: str) -> Account | None:
        row = self._one(
            "SELECT account_id, alias, create_date FROM ram_accounts WHERE account_id = ?", (account_id,)
        )
        return None if row is None else Account(row[0], row[1], must_ts(row[2]))

    def find_account_by_alias(self, alias: str) -> Account | None:
        row = self._one("SELECT account_id, alias, create_date FROM ram_accounts WHERE alias = ?", (alias,))
        return None if row is None else Account(row[0], row[1], must_ts(row[2]))

    def list_accounts(self) -> list[Account]:
        rows = self._all("SELECT account_id, alias, create_date FROM ram_accounts ORDER BY account_id")
        return [Account(r[0], r[1], must_ts(r[2])) for r in rows]

    def set_account_alias(self, account_id: str, alias: str | None) -> None:
        self._exec("UPDATE ram_accounts SET alias = ? WHERE account_id = ?", (alias, account_id))

    def get_setting(self, account_id: str, name: str) -> str | None:
        value = self._scalar(
            "SELECT value FROM ram_account_settings WHERE account_id = ? AND name = ?", (account_id, name)
        )
        return None if value is None else str(value)

    def put_setting(self, account_id: str, name: str, value: str) -> None:
        sql = self._dialect.upsert(
            "ram_account_settings", ("account_id", "name", "value"), ("account_id", "name"), ("value",)
        )
        self._exec(sql, (account_id, name, value))

    # --- users ------------------------------------------------------------------------------------

    def insert_user(self, user: User) -> None:
        self._exec(
            "INSERT INTO ram_users (user_id, account_id, user_name, name_key, display_name, email, "
            "mobile_phone, comments, create_date, update_date, last_login_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (user.user_id, user.account_id, user.user_name, user.user_name.lower(), user.display_name,
             user.email, user.mobile_phone, user.comments, _required(user.create_date),
             _required(user.update_date), opt_ts(user.last_login_date)),
        )  # fmt: skip

    def get_user(self, account_id: str, user_name: str) -> User | None:
        row = self._one(
            f"SELECT {USER_COLS} FROM ram_users u WHERE u.account_id = ? AND u.name_key = ?",
            (account_id, user_name.lower()),
        )
        return None if row is None else user_row(row)

    def user_with_groups(self, account_id: str, user_name: str) -> Counted[UserGroups | None]:
        """The user with the names of its groups in name order, and the change counter, in one statement."""
        counter, rows = self._counted(
            f"SELECT {USER_COLS}, g.group_name, c.counter FROM {COUNTER_ROW} "
            f"LEFT JOIN ram_users u ON u.account_id = ? AND u.name_key = ? {GROUP_NAMES} "
            "WHERE c.id = 1 ORDER BY g.name_key",
            (account_id, user_name.lower()),
        )
        return Counted(counter, user_groups(rows) if rows[0][1] is not None else None)

    def get_user_by_id(self, user_id: str) -> User | None:
        row = self._one(f"SELECT {USER_COLS} FROM ram_users u WHERE u.user_id = ?", (user_id,))
        return None if row is None else user_row(row)

    def update_user(self, user: User) -> None:
        self._exec(
            "UPDATE ram_users SET user_name = ?, name_key = ?, display_name = ?, email = ?, "
            "mobile_phone = ?, comments = ?, update_date = ?, last_login_date = ? WHERE user_id = ?",
            (user.user_name, user.user_name.lower(), user.display_name, user.email, user.mobile_phone,
             user.comments, _required(user.update_date), opt_ts(user.last_login_date), user.user_id),
        )  # fmt: skip

    def delete_user(self, user_id: str) -> None:
        """Delete the user with its password history: the history is the user's own and, unlike keys or a
        login profile, never blocks the deletion (nor should it outlive the user)."""
        self._exec("DELETE FROM ram_password_history WHERE user_id = ?", (user_id,))
        self._exec("DELETE FROM ram_users WHERE user_id = ?", (user_id,))

    def list_users(self, account_id: str, start: str, limit: int) -> list[User]:
        """Users whose lower-cased name is >= ``start``, in name order."""
        rows = self._all(
            f"SELECT {USER_COLS} FROM ram_users u WHERE u.account_id = ? AND u.name_key >= ? "
            "ORDER BY u.name_key LIMIT ?",
            (account_id, start, limit),
        )
        return [user_row(r) for r in rows]

    def count_users(self, account_id: str) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM ram_users WHERE account_id = ?", (account_id,)))

    def set_user_last_login(self, user_id: str, when: datetime) -> None:
        self._exec("UPDATE ram_users SET last_login_date = ? WHERE user_id = ?", (to_ts(when), user_id))

    # --- groups and memberships -------------------------------------------------------------------

    def insert_group(self, group: Group) -> None:
        self._exec(
            "INSERT INTO ram_groups (group_id, account_id, group_name, name_key, comments, create_date, "
            "update_date) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (group.group_id, group.account_id, group.group_name, group.group_name.lower(), group.comments,
             _required(group.create_date), _required(group.update_date)),
        )  # fmt: skip

    def get_group(self, account_id: str, group_name: str) -> Group | None:
        row = self._one(
            f"SELECT {GROUP_COLS} FROM ram_groups g WHERE g.account_id = ? AND g.name_key = ?",
            (account_id, group_name.lower()),
        )
        return None if row is None else group_row(row)

    def update_group(self, group: Group) -> None:
        self._exec(
            "UPDATE ram_groups SET group_name = ?, name_key = ?, comments = ?, update_date = ? "
            "WHERE group_id = ?",
            (group.group_name, group.group_name.lower(), group.comments, _required(group.update_date),
             group.group_id),
        )  # fmt: skip

    def delete_group(self, group_id: str) -> None:
        self._exec("DELETE FROM ram_groups WHERE group_id = ?", (group_id,))

    def list_groups(self, account_id: str, start: str, limit: int) -> list[Group]:
        rows = self._all(
            f"SELECT {GROUP_COLS} FROM ram_groups g WHERE g.account_id = ? AND g.name_key >= ? "
            "ORDER BY g.name_key LIMIT ?",
            (account_id, start, limit),
        )
        return [group_row(r) for r in rows]

    def count_groups(self, account_id: str) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM ram_groups WHERE account_id = ?", (account_id,)))

    def add_member(self, group_id: str, user_id: str, join_date: datetime) -> None:
        self._exec(
            "INSERT INTO ram_memberships (group_id, user_id, join_date) VALUES (?, ?, ?)",
            (group_id, user_id, to_ts(join_date)),
        )

    def remove_member(self, group_id: str, user_id: str) -> bool:
        cur = self._exec(
            "DELETE FROM ram_memberships WHERE group_id = ? AND user_id = ?", (group_id, user_id)
        )
        return cur.rowcount > 0

    def groups_for_user(self, user_id: str) -> list[JoinedGroup]:
        rows = self._all(
            f"SELECT {GROUP_COLS}, m.join_date FROM ram_memberships m "
            "JOIN ram_groups g ON g.group_id = m.group_id WHERE m.user_id = ? ORDER BY g.name_key",
            (user_id,),
        )
        return [JoinedGroup(group_row(r), must_ts(r[6])) for r in rows]

    def account_memberships(self, account_id: str) -> list[tuple[str, JoinedGroup]]:
        """Every membership in the account as (UserId, group joined); each user's groups in name order."""
        rows = self._all(
            f"SELECT {GROUP_COLS}, m.join_date, m.user_id FROM ram_memberships m "
            "JOIN ram_groups g ON g.group_id = m.group_id WHERE g.account_id = ? "
            "ORDER BY m.user_id, g.name_key",
            (account_id,),
        )
        return [(r[7], JoinedGroup(group_row(r), must_ts(r[6]))) for r in rows]

    def users_for_group(self, group_id: str, start: str, limit: int) -> list[JoinedUser]:
        rows = self._all(
            f"SELECT {USER_COLS}, m.join_date FROM ram_memberships m "
            "JOIN ram_users u ON u.user_id = m.user_id WHERE m.group_id = ? AND u.name_key >= ? "
            "ORDER BY u.name_key LIMIT ?",
            (group_id, start, limit),
        )
        return [JoinedUser(user_row(r), must_ts(r[10])) for r in rows]

    def count_members(self, group_id: str) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM ram_memberships WHERE group_id = ?", (group_id,)))

    # --- roles ------------------------------------------------------------------------------------

    def insert_role(self, role: Role) -> None:
        self._exec(
            "INSERT INTO ram_roles (role_id, account_id, role_name, name_key, description, trust_policy, "
            "max_session_duration, revoked_before, create_date, update_date, session_generation) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            (role.role_id, role.account_id, role.role_name, role.role_name.lower(), role.description,
             role.trust_policy, role.max_session_duration, _required(role.create_date),
             _required(role.update_date), role.session_generation),
        )  # fmt: skip

    def get_role(self, account_id: str, role_name: str) -> Role | None:
        row = self._one(
            f"SELECT {ROLE_COLS} FROM ram_roles r WHERE r.account_id = ? AND r.name_key = ?",
            (account_id, role_name.lower()),
        )
        return None if row is None else role_row(row)

    def role_with_revocation(self, account_id: str, role_name: str) -> Counted[RoleRecord | None]:
        """The role with its :meth:`get_role_revocation`, and the change counter, in one statement."""
        counter, rows = self._counted(
            f"SELECT {ROLE_COLS}, r.revoked_before, c.counter FROM {COUNTER_ROW} "
            "LEFT JOIN ram_roles r ON r.account_id = ? AND r.name_key = ? WHERE c.id = 1",
            (account_id, role_name.lower()),
        )
        row = rows[0]
        if row[1] is None:
            return Counted(counter, None)
        role = role_row(row)
        return Counted(counter, RoleRecord(role, SessionRevocation(from_ts(row[9]), role.session_generation)))

    def update_role(self, role: Role) -> None:
        self._exec(
            "UPDATE ram_roles SET description = ?, trust_policy = ?, max_session_duration = ?, "
            "update_date = ? WHERE role_id = ?",
            (role.description, role.trust_policy, role.max_session_duration, _required(role.update_date),
             role.role_id),
        )  # fmt: skip

    def delete_role(self, role_id: str) -> None:
        self._exec("DELETE FROM ram_roles WHERE role_id = ?", (role_id,))

    def list_roles(self, account_id: str, start: str, limit: int) -> list[Role]:
        rows = self._all(
            f"SELECT {ROLE_COLS} FROM ram_roles r WHERE r.account_id = ? AND r.name_key >= ? "
            "ORDER BY r.name_key LIMIT ?",
            (account_id, start, limit),
        )
        return [role_row(r) for r in rows]

    def count_roles(self, account_id: str) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM ram_roles WHERE account_id = ?", (account_id,)))

    def get_role_revocation(self, role_id: str) -> SessionRevocation | None:
        row = self._one(
            "SELECT revoked_before, session_generation FROM ram_roles WHERE role_id = ?", (role_id,)
        )
        return None if row is None else SessionRevocation(from_ts(row[0]), int(row[1]))

    def revoke_role_sessions(self, role_id: str, before: datetime) -> None:
        # Counted up in the store, so that the sessions it ends are told apart by the order of the store's
        # transactions rather than by any clock.
        self._exec(
            "UPDATE ram_roles SET revoked_before = ?, session_generation = session_generation + 1 "
            "WHERE role_id = ?",
            (to_ts(before), role_id),
        )
