"""SQL for custom policies, their versions, and policy attachments.

System policies are code (:mod:`ram_middleware.policy.system`), not rows; attachments name them by their
exact name with ``policy_type = 'System'``. Custom policies are attached under their stored spelling.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Literal, cast

from ..identity import Group, Policy, PolicyType, PolicyVersion, Role, User
from .records import AppliedPolicy, Attached, Attachment, AttachTarget, Counted
from .sql_base import COUNTER_ROW, SqlBase, from_ts, must_ts, to_ts
from .sql_entities import GROUP_COLS, ROLE_COLS, USER_COLS, group_row, role_row, user_row

__all__ = ["PolicyRows"]

# Fixed table per target type; never built from caller input.
_TARGETS: dict[str, tuple[str, str, str]] = {
    "user": ("ram_users", "user_id", "user_name"),
    "group": ("ram_groups", "group_id", "group_name"),
    "role": ("ram_roles", "role_id", "role_name"),
}
_POLICY_COLS = (
    "p.policy_name, p.description, p.default_version, p.create_date, p.update_date, "
    "(SELECT COUNT(*) FROM ram_attachments a WHERE a.account_id = p.account_id "
    "AND a.policy_type = 'Custom' AND a.policy_name = p.policy_name)"
)

_DEFAULT_COLS = (
    "p.name_key, v.version_id, v.document, v.create_date FROM ram_policies p "
    "JOIN ram_policy_versions v ON v.policy_id = p.policy_id AND v.version_id = p.default_version"
)
_ATTACHMENT_FROM = (
    "SELECT a.account_id, a.target_type, a.target_id, t.{name_col}, a.policy_type, a.policy_name, "
    "a.attach_date FROM ram_attachments a JOIN {table} t ON t.{id_col} = a.target_id "
    "WHERE a.target_type = '{target}' AND a.account_id = ?"
)

# The change counter, as a first row of the attachments below (sorted first, joined to no policy): the
# statement returns it whatever it finds, read in the same snapshot as the attachments.
_APPLIED_COUNTER = (
    "SELECT -1 AS sect, '' AS sort_key, NULL AS account_id, NULL AS target_type, NULL AS target_id, "
    "NULL AS target_name, NULL AS policy_type, NULL AS policy_name, NULL AS attach_date, c.counter "
    f"FROM {COUNTER_ROW} WHERE c.id = 1"
)
# One holder's attachments (``t``: the user or role, matched by ``{where}``), with a sort section and key.
_APPLIED_OWN = (
    "SELECT 0, '', a.account_id, a.target_type, a.target_id, "
    "t.{name_col}, a.policy_type, a.policy_name, a.attach_date, NULL FROM {table} t "
    "JOIN ram_attachments a ON a.target_type = '{target}' AND a.target_id = t.{id_col} WHERE {where}"
)
# The attachments of the groups of the user ``t`` (matched by ``{where}``), after its own, by group name. The
# memberships are an IN list so that SQLite (no statistics: the store never runs ANALYZE) looks attachments
# up by each group's id; as a plain join it scans every group attachment of the database instead.
_APPLIED_GROUPS = (
    "SELECT 1, g.name_key, a.account_id, a.target_type, a.target_id, g.group_name, a.policy_type, "
    "a.policy_name, a.attach_date, NULL FROM ram_users t JOIN ram_groups g "
    "ON g.group_id IN (SELECT m.group_id FROM ram_memberships m WHERE m.user_id = t.user_id) "
    "JOIN ram_attachments a ON a.target_type = 'group' AND a.target_id = g.group_id WHERE {where}"
)
# Those attachments with each custom policy's default version (as get_default_version finds it).
_APPLIED = (
    "SELECT x.account_id, x.target_type, x.target_id, x.target_name, x.policy_type, x.policy_name, "
    "x.attach_date, v.version_id, v.document, v.create_date, x.counter FROM ({attached}) x "
    "LEFT JOIN ram_policies p ON x.policy_type = 'Custom' AND p.account_id = x.account_id "
    "AND p.name_key = lower(x.policy_name) "
    "LEFT JOIN ram_policy_versions v ON v.policy_id = p.policy_id AND v.version_id = p.default_version "
    "ORDER BY x.sect, x.sort_key, x.target_id, x.attach_date, x.policy_name"
)


def _policy(row: Any) -> Policy:
    return Policy(
        policy_name=row[0], policy_type="Custom", description=row[1], default_version=row[2],
        attachment_count=int(row[5]), create_date=from_ts(row[3]), update_date=from_ts(row[4]),
    )  # fmt: skip


def _attachment(row: Any) -> Attachment:
    return Attachment(
        account_id=row[0], target_type=cast(AttachTarget, row[1]), target_id=row[2], target_name=row[3],
        policy_type=cast(PolicyType, row[4]), policy_name=row[5], attach_date=must_ts(row[6]),
    )  # fmt: skip


class PolicyRows(SqlBase):
    """Custom policy documents with their versions, and who has which policy attached."""

    # --- custom policies --------------------------------------------------------------------------

    def insert_policy(self, account_id: str, policy: Policy, first: PolicyVersion) -> None:
        """Insert a custom policy with its first version (which is the default)."""
        created = to_ts(first.create_date) if first.create_date else None
        policy_id = self._scalar(
            "INSERT INTO ram_policies (account_id, policy_name, name_key, description, default_version, "
            "next_version, create_date, update_date) VALUES (?, ?, ?, ?, ?, 2, ?, ?) RETURNING policy_id",
            (account_id, policy.policy_name, policy.policy_name.lower(), policy.description,
             first.version_id, created, created),
        )  # fmt: skip
        self._insert_version(int(policy_id), first, 1)

    def _policy_id(self, account_id: str, policy_name: str) -> int | None:
        value = self._scalar(
            "SELECT policy_id FROM ram_policies WHERE account_id = ? AND name_key = ?",
            (account_id, policy_name.lower()),
        )
        return None if value is None else int(value)

    def get_policy(self, account_id: str, policy_name: str) -> Policy | None:
        row = self._one(
            f"SELECT {_POLICY_COLS} FROM ram_policies p WHERE p.account_id = ? AND p.name_key = ?",
            (account_id, policy_name.lower()),
        )
        return None if row is None else _policy(row)

    def list_policies(self, account_id: str, start: str, limit: int) -> list[Policy]:
        """Custom policies whose lower-cased name is >= ``start``, in name order (at most ``limit``)."""
        rows = self._all(
            f"SELECT {_POLICY_COLS} FROM ram_policies p WHERE p.account_id = ? AND p.name_key >= ? "
            "ORDER BY p.name_key LIMIT ?",
            (account_id, start, limit),
        )
        return [_policy(r) for r in rows]

    def policies_named(self, account_id: str, names: Collection[str]) -> dict[str, Policy]:
        """The custom policies of ``names`` that exist, by lower-cased name, in one statement."""
        keys = sorted({n.lower() for n in names})
        if not keys:
            return {}
        rows = self._all(
            f"SELECT {_POLICY_COLS} FROM ram_policies p "
            f"WHERE p.account_id = ? AND p.name_key IN ({_marks(keys)})",
            (account_id, *keys),
        )
        return {r[0].lower(): _policy(r) for r in rows}

    def count_policies(self, account_id: str) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM ram_policies WHERE account_id = ?", (account_id,)))

    def update_policy(self, account_id: str, policy: Policy) -> None:
        """Write description, default version and update date of an existing custom policy."""
        updated = to_ts(policy.update_date) if policy.update_date else None
        self._exec(
            "UPDATE ram_policies SET description = ?, default_version = ?, update_date = ? "
            "WHERE account_id = ? AND name_key = ?",
            (policy.description, policy.default_version, updated, account_id, policy.policy_name.lower()),
        )

    def delete_policy(self, account_id: str, policy_name: str) -> None:
        """Delete a custom policy and all its versions."""
        policy_id = self._policy_id(account_id, policy_name)
        if policy_id is not None:
            self._exec("DELETE FROM ram_policy_versions WHERE policy_id = ?", (policy_id,))
            self._exec("DELETE FROM ram_policies WHERE policy_id = ?", (policy_id,))

    # --- versions ---------------------------------------------------------------------------------

    def add_version(
        self, account_id: str, policy_name: str, document: str, create_date: datetime
    ) -> PolicyVersion:
        """Store a new non-default version with the next unused number (numbers are never reused)."""
        row = self._one(
            "SELECT policy_id, next_version FROM ram_policies WHERE account_id = ? AND name_key = ?",
            (account_id, policy_name.lower()),
        )
        if row is None:
            raise LookupError(policy_name)
        policy_id, number = int(row[0]), int(row[1])
        self._exec("UPDATE ram_policies SET next_version = ? WHERE policy_id = ?", (number + 1, policy_id))
        version = PolicyVersion(f"v{number}", document, False, create_date)
        self._insert_version(policy_id, version, number)
        return version

    def _insert_version(self, policy_id: int, version: PolicyVersion, number: int) -> None:
        created = to_ts(version.create_date) if version.create_date else None
        self._exec(
            "INSERT INTO ram_policy_versions (policy_id, version_id, version_num, document, create_date) "
            "VALUES (?, ?, ?, ?, ?)",
            (policy_id, version.version_id, number, version.document, created),
        )

    def list_versions(self, account_id: str, policy_name: str) -> list[PolicyVersion]:
        """All versions, oldest first, with ``is_default`` set on the default one."""
        rows = self._all(
            "SELECT v.version_id, v.document, v.version_id = p.default_version, v.create_date "
            "FROM ram_policy_versions v JOIN ram_policies p ON p.policy_id = v.policy_id "
            "WHERE p.account_id = ? AND p.name_key = ? ORDER BY v.version_num",
            (account_id, policy_name.lower()),
        )
        return [PolicyVersion(r[0], r[1], bool(r[2]), from_ts(r[3])) for r in rows]

    def get_version(self, account_id: str, policy_name: str, version_id: str) -> PolicyVersion | None:
        for version in self.list_versions(account_id, policy_name):
            if version.version_id == version_id:
                return version
        return None

    def get_default_version(self, account_id: str, policy_name: str) -> PolicyVersion | None:
        """The custom policy's default version (one indexed read: no attachment count, no other version)."""
        row = self._one(
            f"SELECT {_DEFAULT_COLS} WHERE p.account_id = ? AND p.name_key = ?",
            (account_id, policy_name.lower()),
        )
        return None if row is None else PolicyVersion(row[1], row[2], True, from_ts(row[3]))

    def default_versions(self, account_id: str) -> dict[str, PolicyVersion]:
        """Every custom policy's default version, by lower-cased policy name."""
        rows = self._all(f"SELECT {_DEFAULT_COLS} WHERE p.account_id = ?", (account_id,))
        return {r[0]: PolicyVersion(r[1], r[2], True, from_ts(r[3])) for r in rows}

    def delete_version(self, account_id: str, policy_name: str, version_id: str) -> None:
        policy_id = self._policy_id(account_id, policy_name)
        self._exec(
            "DELETE FROM ram_policy_versions WHERE policy_id = ? AND version_id = ?", (policy_id, version_id)
        )

    # --- attachments ------------------------------------------------------------------------------

    def attach(self, attachment: Attachment) -> None:
        a = attachment
        self._exec(
            "INSERT INTO ram_attachments (account_id, target_type, target_id, policy_type, policy_name, "
            "attach_date) VALUES (?, ?, ?, ?, ?, ?)",
            (a.account_id, a.target_type, a.target_id, a.policy_type, a.policy_name, to_ts(a.attach_date)),
        )

    def detach(
        self, target_type: AttachTarget, target_id: str, policy_type: PolicyType, policy_name: str
    ) -> bool:
        cur = self._exec(
            "DELETE FROM ram_attachments WHERE target_type = ? AND target_id = ? AND policy_type = ? "
            "AND policy_name = ?",
            (target_type, target_id, policy_type, policy_name),
        )
        return cur.rowcount > 0

    def detach_all(self, target_type: AttachTarget, target_id: str) -> None:
        self._exec(
            "DELETE FROM ram_attachments WHERE target_type = ? AND target_id = ?", (target_type, target_id)
        )

    def attachments_for_target(self, target_type: AttachTarget, target_id: str) -> list[Attachment]:
        table, id_col, name_col = _TARGETS[target_type]
        rows = self._all(
            f"SELECT a.account_id, a.target_type, a.target_id, t.{name_col}, a.policy_type, a.policy_name, "
            f"a.attach_date FROM ram_attachments a JOIN {table} t ON t.{id_col} = a.target_id "
            "WHERE a.target_type = ? AND a.target_id = ? ORDER BY a.attach_date, a.policy_name",
            (target_type, target_id),
        )
        return [_attachment(r) for r in rows]

    def applied_policies(
        self, target_type: Literal["user", "role"], account_id: str, name: str, target_id: str | None
    ) -> Counted[list[AppliedPolicy]]:
        """The policies that apply to the user or role ``name`` with their default versions, and the change
        counter, in one statement: the target's own attachments, then (a user's) each group's in group name
        order, each target's in :meth:`attachments_for_target`'s order. Empty when there is no such user or
        role, or its id is not ``target_id`` (when given)."""
        table, id_col, name_col = _TARGETS[target_type]
        where = "t.account_id = ? AND t.name_key = ?" + ("" if target_id is None else f" AND t.{id_col} = ?")
        params = (account_id, name.lower()) + (() if target_id is None else (target_id,))
        attached = (
            _APPLIED_COUNTER
            + " UNION ALL "
            + _APPLIED_OWN.format(
                target=target_type, table=table, id_col=id_col, name_col=name_col, where=where
            )
        )
        if target_type == "user":
            attached += " UNION ALL " + _APPLIED_GROUPS.format(where=where)
            params *= 2
        counter, rows = self._counted(_APPLIED.format(attached=attached), params)
        applied = [
            AppliedPolicy(
                _attachment(r), None if r[7] is None else PolicyVersion(r[7], r[8], True, from_ts(r[9]))
            )
            for r in rows[1:]  # past the counter's row
        ]
        return Counted(counter, applied)

    def attachments_for_policy(
        self, account_id: str, policy_type: PolicyType, policy_name: str
    ) -> list[Attachment]:
        rows = self._all(
            _every_target(" AND a.policy_type = ? AND a.policy_name = ?") + " ORDER BY 2, 4",
            (account_id, policy_type, policy_name) * 3,
        )
        return [_attachment(r) for r in rows]

    def account_attachments(self, account_id: str) -> list[Attachment]:
        """Every attachment in the account; each target's in :meth:`attachments_for_target`'s order."""
        rows = self._all(_every_target("") + " ORDER BY 2, 3, 7, 6", (account_id,) * 3)
        return [_attachment(r) for r in rows]

    def attachment_counts(
        self, account_id: str, policy_type: PolicyType, names: Collection[str] | None = None
    ) -> dict[str, int]:
        """Number of attachments per policy name of one type in the account (of ``names`` only, if given:
        a page of policies counts its own attachments, not the account's)."""
        if names is not None and not names:
            return {}
        only = "" if names is None else f" AND policy_name IN ({_marks(names)})"
        rows = self._all(
            "SELECT policy_name, COUNT(*) FROM ram_attachments WHERE account_id = ? AND policy_type = ?"
            f"{only} GROUP BY policy_name",
            (account_id, policy_type, *(names or ())),
        )
        return {r[0]: int(r[1]) for r in rows}

    def users_for_policy(
        self, account_id: str, policy_type: PolicyType, policy_name: str
    ) -> list[Attached[User]]:
        """The users holding a policy with its attach dates, by stored name, in one statement."""
        rows = self._holders("user", USER_COLS, account_id, policy_type, policy_name)
        return [Attached(user_row(r), must_ts(r[-1])) for r in rows]

    def groups_for_policy(
        self, account_id: str, policy_type: PolicyType, policy_name: str
    ) -> list[Attached[Group]]:
        """The groups holding a policy with its attach dates, by stored name, in one statement."""
        rows = self._holders("group", GROUP_COLS, account_id, policy_type, policy_name)
        return [Attached(group_row(r), must_ts(r[-1])) for r in rows]

    def roles_for_policy(
        self, account_id: str, policy_type: PolicyType, policy_name: str
    ) -> list[Attached[Role]]:
        """The roles holding a policy with its attach dates, by stored name, in one statement."""
        rows = self._holders("role", ROLE_COLS, account_id, policy_type, policy_name)
        return [Attached(role_row(r), must_ts(r[-1])) for r in rows]

    def _holders(
        self, target: AttachTarget, columns: str, account_id: str, policy_type: PolicyType, policy_name: str
    ) -> list[Any]:
        """Rows of ``columns`` (aliased u, g or r) of one target type holding a policy, plus the attach date
        last; ordered by the stored name as :meth:`attachments_for_policy` orders them."""
        table, id_col, name_col = _TARGETS[target]
        alias = target[0]
        return self._all(
            f"SELECT {columns}, a.attach_date FROM ram_attachments a "
            f"JOIN {table} {alias} ON {alias}.{id_col} = a.target_id "
            "WHERE a.account_id = ? AND a.target_type = ? AND a.policy_type = ? AND a.policy_name = ? "
            f"ORDER BY {alias}.{name_col}",
            (account_id, target, policy_type, policy_name),
        )


def _marks(values: Collection[object]) -> str:
    """``?, ?, …``: one placeholder per value of an ``IN`` list."""
    return ", ".join("?" for _ in values)


def _every_target(condition: str) -> str:
    """Attachments to users, groups and roles (with the target's name) in one statement: the account's,
    filtered by ``condition``; its parameters are the account id then the condition's, once per target."""
    return " UNION ALL ".join(
        _ATTACHMENT_FROM.format(target=target, table=table, id_col=id_col, name_col=name_col) + condition
        for target, (table, id_col, name_col) in _TARGETS.items()
    )
