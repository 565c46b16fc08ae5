"""SQL for credentials: AccessKeys, login profiles and virtual MFA devices.

Secrets arrive here already protected: AccessKey secrets and TOTP seeds as SecretBox ciphertext,
passwords as argon2id hashes. Nothing in this module sees a clear secret.

A login profile's earlier password hashes live in ``ram_password_history``, a row per user (or root) that
outlives the profile: :meth:`SecretRows.delete_login_profile` leaves it, the user's deletion removes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from ..identity import AccessKey, KeyStatus
from .records import (
    ROOT,
    Counted,
    KeyOwner,
    KeyRecord,
    LoginProfile,
    LoginProfileRecord,
    LoginTimes,
    MFADevice,
    MFARecord,
)
from .sql_base import COUNTER_ROW, SqlBase, from_ts, opt_ts, to_ts
from .sql_entities import GROUP_NAMES, USER_COLS, user_groups

__all__ = ["SecretRows"]

_KEY_COLS = (
    "k.account_id, k.access_key_id, u.user_name, k.status, k.create_date, k.last_used_date, "
    "k.user_id, k.secret_ct"
)
_PROFILE_COLS = (
    "l.account_id, u.user_name, l.reset_required, l.mfa_bind_required, l.create_date, l.update_date, "
    "l.password_changed_date, l.last_logon_date, l.subject, l.user_id, l.password_hash, h.password_history"
)
_PROFILE_SELECT = (
    f"SELECT {_PROFILE_COLS} FROM ram_login_profiles l LEFT JOIN ram_users u ON u.user_id = l.user_id "
    "LEFT JOIN ram_password_history h ON h.account_id = l.account_id AND h.subject = l.subject"
)
_MFA_COLS = (
    "d.account_id, d.serial_number, d.device_name, u.user_name, d.bound_user_id, u.display_name, "
    "d.bound_subject, "
    "d.activate_date, d.create_date, d.seed_ct, d.last_used_step"
)


def _key(row: Any) -> KeyRecord:
    key = AccessKey(
        account_id=row[0], access_key_id=row[1], user_name=row[2], status=cast(KeyStatus, row[3]),
        create_date=from_ts(row[4]), last_used_date=from_ts(row[5]),
    )  # fmt: skip
    return KeyRecord(key, row[6], row[7])


def _profile(row: Any) -> LoginProfileRecord:
    profile = LoginProfile(
        account_id=row[0], user_name=row[1], password_reset_required=bool(row[2]),
        mfa_bind_required=bool(row[3]),
        create_date=from_ts(row[4]), update_date=from_ts(row[5]), password_changed_date=from_ts(row[6]),
        last_logon_date=from_ts(row[7]),
    )  # fmt: skip
    return LoginProfileRecord(profile, row[8], row[9], row[10], _hashes(row[11]))


def _hashes(text: str | None) -> tuple[str, ...]:
    """A stored password history (JSON list, newest first); no row means no earlier password."""
    return () if text is None else tuple(json.loads(text))


def _mfa(row: Any) -> MFARecord:
    device = MFADevice(
        account_id=row[0], serial_number=row[1], device_name=row[2], user_name=row[3], user_id=row[4],
        display_name=row[5] or "", bound_to_root=row[6] == ROOT, activate_date=from_ts(row[7]),
        create_date=from_ts(row[8]),
    )  # fmt: skip
    return MFARecord(device, row[9], None if row[10] is None else int(row[10]))


class SecretRows(SqlBase):
    """Credential rows; every secret column holds ciphertext or a one-way hash."""

    # --- access keys ------------------------------------------------------------------------------

    def insert_access_key(self, record: KeyRecord) -> None:
        k = record.key
        self._exec(
            "INSERT INTO ram_access_keys (access_key_id, account_id, user_id, status, secret_ct, "
            "create_date, last_used_date) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (k.access_key_id, k.account_id, record.user_id, k.status, record.secret_ciphertext,
             opt_ts(k.create_date), opt_ts(k.last_used_date)),
        )  # fmt: skip

    def get_access_key(self, access_key_id: str) -> KeyRecord | None:
        row = self._one(
            f"SELECT {_KEY_COLS} FROM ram_access_keys k LEFT JOIN ram_users u ON u.user_id = k.user_id "
            "WHERE k.access_key_id = ?",
            (access_key_id,),
        )
        return None if row is None else _key(row)

    def access_key_owner(self, access_key_id: str) -> Counted[KeyOwner | None]:
        """The key with its owner and the owner's groups (what a signed request needs), and the change
        counter, in one statement."""
        counter, rows = self._counted(
            f"SELECT {USER_COLS}, g.group_name, {_KEY_COLS}, c.counter FROM {COUNTER_ROW} "
            "LEFT JOIN ram_access_keys k ON k.access_key_id = ? "
            f"LEFT JOIN ram_users u ON u.user_id = k.user_id {GROUP_NAMES} "
            "WHERE c.id = 1 ORDER BY g.name_key",
            (access_key_id,),
        )
        if rows[0][12] is None:  # no such key
            return Counted(counter, None)
        # The user's columns come first (as user_groups reads them); NULL for a root key's row.
        return Counted(
            counter, KeyOwner(_key(rows[0][11:]), user_groups(rows) if rows[0][1] is not None else None)
        )

    def list_access_keys(self, account_id: str, user_id: str | None) -> list[KeyRecord]:
        """Keys of one user, or of the account root when ``user_id`` is None, oldest first."""
        owner = "k.user_id IS NULL" if user_id is None else "k.user_id = ?"
        params = (account_id,) if user_id is None else (account_id, user_id)
        rows = self._all(
            f"SELECT {_KEY_COLS} FROM ram_access_keys k LEFT JOIN ram_users u ON u.user_id = k.user_id "
            f"WHERE k.account_id = ? AND {owner} ORDER BY k.create_date, k.access_key_id",
            params,
        )
        return [_key(r) for r in rows]

    def account_access_keys(self, account_id: str) -> list[KeyRecord]:
        """Every key of the account (its users' and its root's), oldest first."""
        rows = self._all(
            f"SELECT {_KEY_COLS} FROM ram_access_keys k LEFT JOIN ram_users u ON u.user_id = k.user_id "
            "WHERE k.account_id = ? ORDER BY k.create_date, k.access_key_id",
            (account_id,),
        )
        return [_key(r) for r in rows]

    def all_access_keys(self) -> list[KeyRecord]:
        """Every key of every account (master-key rotation)."""
        rows = self._all(
            f"SELECT {_KEY_COLS} FROM ram_access_keys k LEFT JOIN ram_users u ON u.user_id = k.user_id"
        )
        return [_key(r) for r in rows]

    def secret_key_ids(self) -> set[str]:
        """The ids of the master keys the stored AccessKey secrets and MFA seeds are encrypted with (a
        ciphertext is ``rmb1.<8-digit key id>.…``, see :mod:`ram_middleware.crypto`)."""
        rows = self._all(
            "SELECT DISTINCT substr(secret_ct, 6, 8) FROM ram_access_keys "
            "UNION SELECT DISTINCT substr(seed_ct, 6, 8) FROM ram_mfa_devices"
        )
        return {row[0] for row in rows}

    def set_access_key_status(self, access_key_id: str, status: KeyStatus) -> None:
        self._exec("UPDATE ram_access_keys SET status = ? WHERE access_key_id = ?", (status, access_key_id))

    def set_access_key_secret(self, access_key_id: str, secret_ciphertext: str) -> None:
        self._exec(
            "UPDATE ram_access_keys SET secret_ct = ? WHERE access_key_id = ?",
            (secret_ciphertext, access_key_id),
        )

    def delete_access_key(self, access_key_id: str) -> None:
        self._exec("DELETE FROM ram_access_keys WHERE access_key_id = ?", (access_key_id,))

    def set_keys_last_used(self, last_used: Mapping[str, datetime]) -> None:
        """Record last-used dates; a date never moves backwards."""
        for access_key_id, when in last_used.items():
            stamp = to_ts(when)
            self._exec(
                "UPDATE ram_access_keys SET last_used_date = ? WHERE access_key_id = ? "
                "AND (last_used_date IS NULL OR last_used_date < ?)",
                (stamp, access_key_id, stamp),
            )

    # --- login profiles ---------------------------------------------------------------------------

    def insert_login_profile(self, record: LoginProfileRecord) -> None:
        """Store a new profile and (replacing what is stored) its subject's password history."""
        p = record.profile
        self._exec(
            "INSERT INTO ram_login_profiles (account_id, subject, user_id, password_hash, "
            "reset_required, mfa_bind_required, create_date, update_date, password_changed_date, "
            "last_logon_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.account_id, record.subject, record.user_id, record.password_hash,
             int(p.password_reset_required), int(p.mfa_bind_required), opt_ts(p.create_date),
             opt_ts(p.update_date), opt_ts(p.password_changed_date), opt_ts(p.last_logon_date)),
        )  # fmt: skip
        self.put_password_history(p.account_id, record.subject, record.user_id, record.history)

    def get_login_profile(self, account_id: str, subject: str) -> LoginProfileRecord | None:
        row = self._one(
            f"{_PROFILE_SELECT} WHERE l.account_id = ? AND l.subject = ?",
            (account_id, subject),
        )
        return None if row is None else _profile(row)

    def login_times(self, account_id: str, user_name: str | None) -> Counted[LoginTimes | None]:
        """The user's (None: the root's) :class:`LoginTimes` as :meth:`get_login_profile` and
        :meth:`mfa_device_for` find them, and the change counter, in one statement; None when there is no
        such user."""
        params: tuple[str, ...]
        if user_name is None:
            who, owner, subject, params = "?", "", "?", (ROOT, account_id, ROOT, account_id, ROOT)
        else:
            who, subject = "u.user_id", "u.user_id"
            owner = "LEFT JOIN ram_users u ON u.account_id = ? AND u.name_key = ? "
            params = (account_id, user_name.lower(), account_id, account_id)
        counter, rows = self._counted(
            f"SELECT {who}, l.password_changed_date, l.create_date, d.serial_number, d.activate_date, "
            f"d.create_date, c.counter FROM {COUNTER_ROW} {owner}"
            f"LEFT JOIN ram_login_profiles l ON l.account_id = ? AND l.subject = {subject} "
            f"LEFT JOIN ram_mfa_devices d ON d.account_id = ? AND d.bound_subject = {subject} WHERE c.id = 1",
            params,
        )
        row = rows[0]
        if row[0] is None:
            return Counted(counter, None)
        # Both dates are NOT NULL, as ActivateDate is once bound: the fallbacks only make the types total.
        changed = None if row[2] is None else from_ts(row[1]) or from_ts(row[2])
        bound = None if row[3] is None else from_ts(row[4]) or from_ts(row[5])
        return Counted(counter, LoginTimes(changed, bound))

    def account_login_profiles(self, account_id: str) -> list[LoginProfileRecord]:
        """Every login profile of the account (its users' and its root's)."""
        rows = self._all(
            f"{_PROFILE_SELECT} WHERE l.account_id = ?",
            (account_id,),
        )
        return [_profile(r) for r in rows]

    def update_login_profile(self, record: LoginProfileRecord) -> None:
        """Store the profile and its subject's password history."""
        p = record.profile
        self._exec(
            "UPDATE ram_login_profiles SET password_hash = ?, reset_required = ?, "
            "mfa_bind_required = ?, update_date = ?, password_changed_date = ?, last_logon_date = ? "
            "WHERE account_id = ? AND subject = ?",
            (record.password_hash, int(p.password_reset_required),
             int(p.mfa_bind_required), opt_ts(p.update_date), opt_ts(p.password_changed_date),
             opt_ts(p.last_logon_date), p.account_id, record.subject),
        )  # fmt: skip
        self.put_password_history(p.account_id, record.subject, record.user_id, record.history)

    def delete_login_profile(self, account_id: str, subject: str) -> None:
        """Delete the profile; the subject's password history stays (see the module docstring)."""
        self._exec(
            "DELETE FROM ram_login_profiles WHERE account_id = ? AND subject = ?", (account_id, subject)
        )

    def get_password_history(self, account_id: str, subject: str) -> tuple[str, ...]:
        """Hashes of the subject's earlier passwords, newest first (with or without a login profile)."""
        text = self._scalar(
            "SELECT password_history FROM ram_password_history WHERE account_id = ? AND subject = ?",
            (account_id, subject),
        )
        return _hashes(text)

    def put_password_history(
        self, account_id: str, subject: str, user_id: str | None, hashes: Sequence[str]
    ) -> None:
        """Replace the subject's password history (argon2id hashes, newest first)."""
        sql = self._dialect.upsert(
            "ram_password_history",
            ("account_id", "subject", "user_id", "password_history"),
            ("account_id", "subject"),
            ("password_history",),
        )
        self._exec(sql, (account_id, subject, user_id, json.dumps(list(hashes))))

    # --- virtual MFA devices ----------------------------------------------------------------------

    def insert_mfa_device(self, record: MFARecord) -> None:
        d = record.device
        self._exec(
            "INSERT INTO ram_mfa_devices (serial_number, account_id, device_name, name_key, seed_ct, "
            "bound_subject, bound_user_id, activate_date, last_used_step, create_date) "
            "VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)",
            (d.serial_number, d.account_id, d.device_name, d.device_name.lower(), record.seed_ciphertext,
             opt_ts(d.create_date)),
        )  # fmt: skip

    def _mfa_where(self, where: str, params: tuple[Any, ...]) -> list[MFARecord]:
        rows = self._all(
            f"SELECT {_MFA_COLS} FROM ram_mfa_devices d LEFT JOIN ram_users u ON u.user_id = d.bound_user_id "
            f"WHERE {where} ORDER BY d.name_key",
            params,
        )
        return [_mfa(r) for r in rows]

    def get_mfa_device(self, account_id: str, serial_number: str) -> MFARecord | None:
        """The device whose serial number (an ARN) matches case-insensitively, as names and ARNs do.

        Stored serials are ASCII (the name rules), so SQL ``lower()`` agrees with ``str.lower`` on every
        engine; a non-ASCII serial matches nothing (``str.lower`` would fold e.g. KELVIN SIGN into "k").
        The writes below take the stored serial, ``record.device.serial_number``, from this lookup.
        """
        if not serial_number.isascii():
            return None
        found = self._mfa_where(
            "d.account_id = ? AND lower(d.serial_number) = ?", (account_id, serial_number.lower())
        )
        return found[0] if found else None

    def find_mfa_device_by_name(self, account_id: str, device_name: str) -> MFARecord | None:
        found = self._mfa_where("d.account_id = ? AND d.name_key = ?", (account_id, device_name.lower()))
        return found[0] if found else None

    def mfa_device_for(self, account_id: str, subject: str) -> MFARecord | None:
        """The device bound to ``subject`` (a UserId, or ROOT)."""
        found = self._mfa_where("d.account_id = ? AND d.bound_subject = ?", (account_id, subject))
        return found[0] if found else None

    def list_mfa_devices(self, account_id: str | None = None) -> list[MFARecord]:
        """Devices of one account (None: every account, for master-key rotation)."""
        if account_id is None:
            return self._mfa_where("1 = 1", ())
        return self._mfa_where("d.account_id = ?", (account_id,))

    def bind_mfa_device(
        self, serial_number: str, subject: str, user_id: str | None, when: datetime, step: int
    ) -> None:
        self._exec(
            "UPDATE ram_mfa_devices SET bound_subject = ?, bound_user_id = ?, activate_date = ?, "
            "last_used_step = ? WHERE serial_number = ?",
            (subject, user_id, to_ts(when), step, serial_number),
        )

    def unbind_mfa_device(self, serial_number: str) -> None:
        """Unbind; the last used step stays, so a re-bind needs two codes never used before."""
        self._exec(
            "UPDATE ram_mfa_devices SET bound_subject = NULL, bound_user_id = NULL, activate_date = NULL "
            "WHERE serial_number = ?",
            (serial_number,),
        )

    def set_mfa_last_step(self, serial_number: str, step: int) -> None:
        self._exec(
            "UPDATE ram_mfa_devices SET last_used_step = ? WHERE serial_number = ?", (step, serial_number)
        )

    def set_mfa_seed(self, serial_number: str, seed_ciphertext: str) -> None:
        self._exec(
            "UPDATE ram_mfa_devices SET seed_ct = ? WHERE serial_number = ?", (seed_ciphertext, serial_number)
        )

    def delete_mfa_device(self, serial_number: str) -> None:
        self._exec("DELETE FROM ram_mfa_devices WHERE serial_number = ?", (serial_number,))
