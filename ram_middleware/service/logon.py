"""Login profiles (console passwords) of RAM users and of the account root.

Passwords are hashed with argon2id (:mod:`ram_middleware.credentials.password`) *before* the write
transaction opens, so the slow hash never holds the database's write lock (a hash made with older, weaker
parameters is made again from the password at its next successful logon); a caller that opens one
transaction around several operations (``ram apply``) hashes ahead with :meth:`LogonOps.prepare_password`.
Earlier hashes are kept (newest first, at most 24) for ``PasswordReusePrevention``, and a new password is
checked against them (an argon2 verification each) before the write transaction opens too.

The history belongs to the user (or root), not to the login profile (decided here; RAM users would expect
no way around the policy): DeleteLoginProfile moves the current hash into it and keeps it, and
CreateLoginProfile, like UpdateLoginProfile and ChangePassword, refuses a password among the last
``PasswordReusePrevention`` with ``InvalidParameter.PasswordPolicy``, so deleting and re-creating the
profile cannot cycle back to an old password. It is deleted with the user; a new user of the same name
(a new UserId) starts with none. Lock-out after failed attempts (``MaxLoginAttemps``; what counts:
:mod:`ram_middleware.console.logon`) is the logon flow's job (``LogonThrottle`` over the guard), not the
store's, except for ChangePassword's old password, checked here for the API and the console alike under
the same rule (:meth:`LogonThrottle.checked`); a password an administrator sets ends a lock-out (the
guesses were at the old password), here, so that every way of setting one (API, ``ram users
enable-console``/``set-password``, code) does.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from .. import errors
from ..credentials.encoding import same
from ..credentials.password import (
    LogonThrottle,
    PasswordPolicy,
    PreparedPassword,
    check_reuse,
    hash_password,
    is_expired,
    needs_rehash,
    verify_password,
    verify_password_or_dummy,
)
from ..identity import User
from ..store.base import Repository
from ..store.records import ROOT, LoginProfile, LoginProfileRecord
from .accounts import AccountOps

__all__ = ["LogonOps"]

log = logging.getLogger(__name__)

_HISTORY = 24  # the largest PasswordReusePrevention the API accepts
_SAME_PASSWORD = "The new password must differ from the old one."


def _keep(new: bool | None, old: bool) -> bool:
    return old if new is None else bool(new)


def _retired(record: LoginProfileRecord) -> tuple[str, ...]:
    """The password history once ``record``'s current password is no longer current."""
    return (record.password_hash, *record.history)[:_HISTORY]


class LogonOps(AccountOps):
    """CreateLoginProfile … ChangePassword, plus password checks for the logon flow."""

    def _logon_subject(
        self, repo: Repository, account_id: str, user_name: str | None
    ) -> tuple[str, User | None]:
        """(subject, user) of a user, or (ROOT, None) for the root when ``user_name`` is None."""
        user = self._user_or_root(repo, account_id, user_name)
        return (ROOT, None) if user is None else (user.user_id, user)

    def _profile(self, repo: Repository, account_id: str, user_name: str | None) -> LoginProfileRecord:
        subject, _ = self._logon_subject(repo, account_id, user_name)
        record = repo.get_login_profile(account_id, subject)
        if record is None:
            raise errors.EntityNotExist(
                "User.LoginProfile", f"There is no login profile for {user_name or 'root'}."
            )
        return record

    def _checked(self, account_id: str, user_name: str | None, password: str) -> PasswordPolicy:
        """The account's password policy, once ``password`` is known to meet it (checked before hashing)."""
        policy = self.get_password_policy(account_id)
        if not isinstance(password, str):
            raise errors.InvalidParameter("Password", "The password must be text.")
        policy.check(password, user_name or "")
        return policy

    def _hash_new(
        self, account_id: str, user_name: str | None, password: str | PreparedPassword
    ) -> tuple[str, PasswordPolicy]:
        if isinstance(password, PreparedPassword):
            # Checked again: the policy may have changed since it was prepared (a check costs no hash).
            return password.password_hash, self._checked(account_id, user_name, password.password)
        policy = self._checked(account_id, user_name, password)
        return hash_password(password), policy

    def prepare_password(self, account_id: str, user_name: str, password: str) -> PreparedPassword:
        """``password`` checked against the account's password policy and hashed, for a later
        :meth:`create_login_profile` inside a transaction of the caller's (which then only stores it)."""
        self._checked(account_id, user_name, password)
        return PreparedPassword(password, hash_password(password))

    def create_login_profile(
        self,
        account_id: str,
        user_name: str,
        password: str | PreparedPassword,
        *,
        password_reset_required: bool = False,
        mfa_bind_required: bool = False,
    ) -> LoginProfile:
        """Give a user a console password (checked against the account's password policy); a
        :class:`PreparedPassword` from :meth:`prepare_password` is stored without hashing again."""
        return self._create_profile(
            account_id, user_name, password, password_reset_required, mfa_bind_required
        )

    def set_root_password(
        self, account_id: str, password: str, *, mfa_bind_required: bool = False
    ) -> LoginProfile:
        """Create or replace the account root's console password."""
        with self.store.read() as repo:
            exists = repo.get_login_profile(account_id, ROOT) is not None
        if exists:
            return self.update_login_profile(
                account_id, None, password=password, mfa_bind_required=mfa_bind_required
            )
        return self._create_profile(account_id, None, password, False, mfa_bind_required)

    def _create_profile(
        self,
        account_id: str,
        user_name: str | None,
        password: str | PreparedPassword,
        reset: bool,
        mfa_bind: bool,
    ) -> LoginProfile:
        password_hash, policy = self._hash_new(account_id, user_name, password)
        plain = password.password if isinstance(password, PreparedPassword) else password
        with self.store.read() as repo:
            subject, _ = self._no_profile(repo, account_id, user_name)
            checked = repo.get_password_history(account_id, subject)
        check_reuse(plain, checked, policy)  # before the write: up to 24 argon2 verifications
        with self.store.write() as repo:
            subject, user = self._no_profile(repo, account_id, user_name)
            history = repo.get_password_history(account_id, subject)
            if history != checked:  # changed since the check (rare): check again, in the write
                check_reuse(plain, history, policy)
            now = self._now()
            name, user_id = (None, None) if user is None else (user.user_name, user.user_id)
            profile = LoginProfile(account_id, name, bool(reset), bool(mfa_bind), now, now, now)
            repo.insert_login_profile(LoginProfileRecord(profile, subject, user_id, password_hash, history))
            self._end_lock_out(account_id, user_name)
        return profile

    def _no_profile(
        self, repo: Repository, account_id: str, user_name: str | None
    ) -> tuple[str, User | None]:
        """:meth:`_logon_subject`, once the subject is known to have no login profile yet."""
        subject, user = self._logon_subject(repo, account_id, user_name)
        if repo.get_login_profile(account_id, subject) is not None:
            raise errors.EntityAlreadyExists("User.LoginProfile", "The login profile already exists.")
        return subject, user

    def get_login_profile(self, account_id: str, user_name: str | None) -> LoginProfile:
        """The user's (None: the root's) login profile; ``EntityNotExist.User.LoginProfile`` if none."""
        with self.store.read() as repo:
            return self._profile(repo, account_id, user_name).profile

    def update_login_profile(
        self,
        account_id: str,
        user_name: str | None,
        *,
        password: str | None = None,
        password_reset_required: bool | None = None,
        mfa_bind_required: bool | None = None,
    ) -> LoginProfile:
        """Change the password and/or flags (None leaves a field as it is)."""
        prepared = None
        if password is not None:
            new_hash, policy = self._hash_new(account_id, user_name, password)
            with self.store.read() as repo:
                checked = self._unused(self._profile(repo, account_id, user_name), password, policy)
            prepared = (password, new_hash, policy, checked)
        with self.store.write() as repo:
            record = self._profile(repo, account_id, user_name)
            if prepared is not None:
                record = self._with_password(record, *prepared)
            profile = replace(
                record.profile,
                password_reset_required=_keep(
                    password_reset_required, record.profile.password_reset_required
                ),
                mfa_bind_required=_keep(mfa_bind_required, record.profile.mfa_bind_required),
                update_date=self._now(),
            )
            repo.update_login_profile(replace(record, profile=profile))
            if password is not None:
                self._end_lock_out(account_id, user_name)
        return profile

    def _end_lock_out(self, account_id: str, user_name: str | None) -> None:
        """Once the new password is committed, clear the ``MaxLoginAttemps`` count: after the outermost
        transaction when a caller's holds this write (``ram apply``), as a SQLite guard shares the store's
        file and so its write lock. Best effort: a guard that cannot be reached leaves the user locked until
        the window ends (the safe side), so it is logged, not raised."""
        guard = self.guard
        if guard is None:
            return

        def clear() -> None:
            try:
                LogonThrottle(guard, 0).succeeded(account_id, user_name or "")
            except errors.RAMError:
                log.warning("could not clear the logon lock-out after a password reset", exc_info=True)

        self.store.after_commit(clear)

    @staticmethod
    def _unused(record: LoginProfileRecord, password: str, policy: PasswordPolicy) -> str:
        """Check ``password`` against ``record``'s recent passwords (``PasswordReusePrevention``); returns
        the current hash it was checked with. Called before the write: each check is an argon2 verification,
        up to 24 of them, which must not hold the store's write lock."""
        check_reuse(password, (record.password_hash, *record.history), policy)
        return record.password_hash

    def _with_password(
        self, record: LoginProfileRecord, password: str, new_hash: str, policy: PasswordPolicy, checked: str
    ) -> LoginProfileRecord:
        if record.password_hash != checked:  # changed since the check (rare): check again, in the write
            self._unused(record, password, policy)
        history = _retired(record)
        # Console sessions name their password by this date (to the microsecond), so every change must
        # give a new one, even from a clock that stands still or ticks coarsely.
        previous = record.profile.password_changed_date
        changed = self._now() if previous is None else max(self._now(), previous + timedelta(microseconds=1))
        profile = replace(record.profile, password_changed_date=changed)
        return replace(record, profile=profile, password_hash=new_hash, history=history)

    def delete_login_profile(self, account_id: str, user_name: str | None) -> None:
        """Remove console access (keys are unaffected). The password joins the history, which stays."""
        with self.store.write() as repo:
            record = self._profile(repo, account_id, user_name)
            repo.put_password_history(account_id, record.subject, record.user_id, _retired(record))
            repo.delete_login_profile(account_id, record.subject)

    def change_password(
        self, account_id: str, user_name: str | None, old_password: str, new_password: str
    ) -> LoginProfile:
        """The caller's own password change: the old password must match; clears PasswordResetRequired.

        The new password must differ from the old one whatever ``PasswordReusePrevention`` says (decided
        here): otherwise a forced reset could be completed by typing the same password twice. With a guard,
        the old password is checked as a logon's is (:meth:`_prove_old_password`). A password past
        ``MaxPasswordAge`` under ``HardExpiry`` is ``PasswordExpired``, told (as at logon) only to whoever
        proved it: only an administrator may set a new one.

        Returns the new profile: its PasswordChangedDate ends the identity's older console sessions.
        """
        with self.store.read() as repo:
            current = self._profile(repo, account_id, user_name)
        self._prove_old_password(account_id, user_name, current, old_password)
        policy, changed = self.get_password_policy(account_id), current.profile.password_changed_date
        expired = changed is not None and is_expired(changed, policy, self._now(), root=user_name is None)
        if policy.hard_expiry and expired:
            raise errors.PasswordExpired()
        if same(old_password, new_password):
            raise errors.InvalidParameter("NewPassword", _SAME_PASSWORD)
        return self._replace_password(account_id, user_name, current, new_password)

    def _prove_old_password(
        self, account_id: str, user_name: str | None, current: LoginProfileRecord, old_password: str
    ) -> None:
        """``InvalidParameter.OldPassword`` unless ``old_password`` is ``current``'s. With a guard it is one
        ``MaxLoginAttemps`` attempt (:meth:`LogonThrottle.checked`): a wrong one counts, a right one takes
        back only its own count, and a locked-out user gets ``LoginLocked`` even with the right one (locked
        means locked: whoever holds a session or an AccessKey must not guess on here). Without a guard (a
        service built for offline tools) there is no lock-out to keep."""

        def check() -> None:
            if not verify_password(current.password_hash, old_password):
                raise errors.InvalidParameter("OldPassword", "The old password is incorrect.")

        if self.guard is None:
            check()
            return
        limit = self.get_password_policy(account_id).max_login_attempts
        LogonThrottle(self.guard, limit).checked(account_id, user_name or "", check)

    def renew_password(
        self, account_id: str, user_name: str | None, new_password: str, *, replacing: datetime | None = None
    ) -> LoginProfile:
        """The logon-time change of a password that must be changed (``PasswordResetRequired``, or past
        ``MaxPasswordAge``); the logon proved the current password just before. Clears PasswordResetRequired.

        Like :meth:`change_password`, the new password must differ from the current one whatever
        ``PasswordReusePrevention`` says: otherwise a forced reset or an expired password could be "changed"
        to itself. ``replacing`` is the PasswordChangedDate of the password the logon proved: if another was
        set since (an administrator's reset during the logon), ``InvalidParameter.OldPassword`` — the logon
        must not overwrite it.
        """
        with self.store.read() as repo:
            current = self._profile(repo, account_id, user_name)
        if replacing is not None and current.profile.password_changed_date != replacing:
            raise errors.InvalidParameter("OldPassword", "The password was changed meanwhile; try again.")
        if verify_password(current.password_hash, new_password):
            raise errors.InvalidParameter("NewPassword", _SAME_PASSWORD)
        return self._replace_password(account_id, user_name, current, new_password)

    def _replace_password(
        self, account_id: str, user_name: str | None, current: LoginProfileRecord, new_password: str
    ) -> LoginProfile:
        """Set ``new_password`` (policy and reuse checked) if ``current``'s password is still the one."""
        new_hash, policy = self._hash_new(account_id, user_name, new_password)
        checked = self._unused(current, new_password, policy)
        with self.store.write() as repo:
            record = self._profile(repo, account_id, user_name)
            if record.password_hash != current.password_hash:
                raise errors.InvalidParameter("OldPassword", "The password was changed meanwhile; try again.")
            record = self._with_password(record, new_password, new_hash, policy, checked)
            profile = replace(record.profile, password_reset_required=False, update_date=self._now())
            repo.update_login_profile(replace(record, profile=profile))
        return profile

    # --- the logon flow -----------------------------------------------------------------------------

    def verify_login_password(self, account_id: str, user_name: str | None, password: str) -> LoginProfile:
        """The login profile if ``password`` is right; ``LoginFailed`` otherwise.

        Unknown account, unknown user, no login profile and a wrong password all raise the same error
        after the same amount of hashing work, so a caller cannot tell them apart.
        """
        try:
            with self.store.read() as repo:
                record: LoginProfileRecord | None = self._profile(repo, account_id, user_name)
        except errors.EntityNotExist:
            record = None
        stored_hash = None if record is None else record.password_hash
        if not verify_password_or_dummy(stored_hash, password) or record is None:
            raise errors.LoginFailed()
        if needs_rehash(record.password_hash):
            self._rehash(record, password)
        return record.profile

    def _rehash(self, proved: LoginProfileRecord, password: str) -> None:
        """Store ``password``'s hash made with today's argon2id parameters in place of ``proved``'s older
        one: only a logon holds the password to do so. The same password, so its PasswordChangedDate (which
        names it to the sessions), its history and the profile's dates stay as they were."""
        new_hash = hash_password(password)  # before the write: the slow hash never holds the write lock
        p = proved.profile
        try:
            with self.store.write(announce=False, request_path=True) as repo:
                record = repo.get_login_profile(p.account_id, proved.subject)
                if record is not None and record.password_hash == proved.password_hash:  # else changed since
                    repo.update_login_profile(replace(record, password_hash=new_hash))
        except errors.RAMError:  # a busy store: the password was proved, so the logon goes on; next time
            log.warning("could not store a password's stronger hash; kept the old one", exc_info=True)

    def record_logon(self, account_id: str, user_name: str | None, when: datetime | None = None) -> None:
        """Note a successful console logon (LastLoginDate). Bookkeeping: drops no cached snapshot."""
        when = self._now() if when is None else when
        with self.store.write(announce=False, request_path=True) as repo:
            record = self._profile(repo, account_id, user_name)
            repo.update_login_profile(replace(record, profile=replace(record.profile, last_logon_date=when)))
            if record.user_id is not None:
                repo.set_user_last_login(record.user_id, when)
