"""The logon flow: password → (TOTP | bind a device) → (new password) → session.

Who signs in: the account (alias or AccountId), a RAM user name, and the password. An **empty user name
means the account root** (decision: "root" is a legal RAM user name, so it cannot stand for the root);
the page discourages it, and the root always signs in with MFA: its code once a device is bound, else it
binds one right after its password (the root is the identity that must never rest on a password alone).

Unknown account, unknown user, no login profile and a wrong password give the same page, status and
message after the same hashing work (:meth:`RamService.verify_login_password`).

What counts towards the account's ``MaxLoginAttemps`` (per hour, per account and user name, whether or not
the user exists): wrong passwords, as RAM documents, and (decided here) wrong MFA codes at logon, since
whoever has the password guesses codes next. Right answers do not count: each attempt is counted before it
is checked (so parallel guesses are all counted) and taken back once it proves right
(:meth:`LogonThrottle.checked`, the one rule for every password or code checked on a user's behalf: here,
ChangePassword's old password in the API and the console, and the password re-entered before binding an MFA
device or creating an AccessKey), so a right password followed by a wrong code counts once, and N wrong
codes lock as N wrong passwords do. Knowing the password does not clear the earlier failures (that would
give fresh code guesses with every logon, and a stolen session a way to wipe the record of guesses); a
completed logon does, as does a password an administrator sets. A locked user is refused everywhere, the
right password included (ChangePassword too: locked means locked). Whatever ``MaxLoginAttemps`` says, codes
also lock after five wrong within 15 minutes (:meth:`Kit.check_code`). A locked user learns nothing new from
further guesses.

Steps after the password, decided once: ``mfa`` when a device is bound; else ``bind`` when the login
profile says ``MFABindRequired``, the security preference enforces MFA for the user, or it is the root;
then ``password`` when ``PasswordResetRequired`` is set or the password is past ``MaxPasswordAge`` (with
``HardExpiry`` the logon is refused instead); the new password must differ from the current one.
``LoginNetworkMasks`` is checked once the password is right.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .. import errors
from ..credentials.password import PasswordPolicy, is_expired
from ..credentials.preference import SecurityPreference
from ..credentials.session import BrowserSession, password_moment, password_time
from ..store.records import LoginProfile, MFADevice
from .account import CHANGE_PASSWORD
from .base import BINDING_REFUSED, Kit, device_binding
from .binding import Enrolment, Enrolments
from .pending import LogonExpired, PendingLogon, Step
from .safety import MAX_NEXT_CHARS
from .web import ConsoleRequest, Reply

__all__ = ["LogonPages"]

_STEP_PAGES: dict[Step, str] = {"mfa": "logon_mfa", "bind": "logon_bind", "password": "logon_password"}
_NOTICES = {
    "expired": "Your sign-in took too long or was interrupted. Please start again.",
    "signed_out": "You have signed out.",
}


class NetworkRefused(errors.AuthenticationError):
    default_code = "Forbidden.LoginNetwork"
    default_status = 403
    default_message = "Signing in to this account is not allowed from your network."


class LogonPages:
    """The pages of the logon flow; each takes a :class:`ConsoleRequest` and returns a :class:`Reply`."""

    def __init__(self, kit: Kit, enrolments: Enrolments) -> None:
        self.kit = kit
        self.enrolments = enrolments

    def handlers(self) -> dict[str, Callable[[ConsoleRequest], Reply]]:
        return {
            "logon": self.logon,
            "logon_mfa": self.logon_mfa,
            "logon_bind": self.logon_bind,
            "logon_password": self.logon_password,
        }

    # --- password ---------------------------------------------------------------------------------------

    def logon(self, request: ConsoleRequest) -> Reply:
        if request.method == "GET":
            return self._logon_form(request, next_url=request.query("next") or "")
        self.kit.check_csrf(request)
        account_text = request.field("account", 64).strip()
        user_name = request.field("user_name", 64).strip() or None
        next_url = self.kit.next_url(request, request.field("next", MAX_NEXT_CHARS))
        account = self.kit.account_or_none(account_text)
        account_key = account.account_id if account is not None else account_text.lower()
        throttle = self.kit.throttle(account.account_id if account is not None else None)
        password = request.password("password")
        try:
            # A right password takes back only its own count: the earlier failures stay until the whole
            # logon succeeds (clearing them here would give whoever knows the password fresh MFA guesses).
            profile = throttle.checked(
                account_key, user_name or "", lambda: self._verify(account_key, user_name, password)
            )
        except errors.AuthenticationError as exc:
            return self._refused(request, next_url, account_text, exc)
        user_name = profile.user_name  # as stored, whatever case was typed
        device = self.kit.bound_device(account_key, user_name)
        try:
            steps = self._steps(request, account_key, user_name, profile, device)
        except errors.AuthenticationError as exc:
            return self._refused(request, next_url, account_text, exc)
        pending = self.kit.pending.start(
            account_key, user_name, steps, next_url, password_changed=profile.password_changed_date,
            mfa_binding=device_binding(device), fallback_next=self.kit.url(request, "home"),
        )  # fmt: skip
        return self._continue(request, pending)

    def _refused(
        self, request: ConsoleRequest, next_url: str, account: str, error: errors.AuthenticationError
    ) -> Reply:
        self.kit.audit(request, "Rejected", error.status, code=error.code, reason="Console logon refused")
        return self._logon_form(request, next_url=next_url, account=account, error=error)

    def _verify(self, account_key: str, user_name: str | None, password: str) -> LoginProfile:
        # An empty or unknown account still pays for one hash inside verify_login_password.
        return self.kit.service.verify_login_password(account_key or "-", user_name, password)

    def _steps(
        self, request: ConsoleRequest, account_id: str, user_name: str | None, profile: LoginProfile,
        device: MFADevice | None,
    ) -> list[Step]:  # fmt: skip
        preference = self.kit.service.get_security_preference(account_id)
        if not preference.login_allowed_from(self.kit.source_ip(request)):
            raise NetworkRefused()
        steps: list[Step] = []
        if device is not None:
            steps.append("mfa")
        elif profile.mfa_bind_required or _enforced(preference, user_name):
            steps.append("bind")
        policy = self.kit.service.get_password_policy(account_id)
        changed = profile.password_changed_date
        expired = changed is not None and is_expired(changed, policy, self.kit.now(), root=user_name is None)
        if expired and policy.hard_expiry:
            raise errors.PasswordExpired()
        if profile.password_reset_required or expired:
            steps.append("password")
        return steps

    def _logon_form(
        self,
        request: ConsoleRequest,
        *,
        next_url: str,
        account: str = "",
        error: errors.RAMError | None = None,
    ) -> Reply:
        status = 200 if error is None else error.status
        notice = next((text for key, text in _NOTICES.items() if request.query(key)), None)
        return self.kit.page(
            request, "logon.html", status=status, account=account,
            next=self.kit.next_url(request, next_url, ""), error=None if error is None else error.message,
            message=notice,
        )  # fmt: skip

    # --- the steps after the password -------------------------------------------------------------------

    def _pending(self, request: ConsoleRequest, step: Step) -> PendingLogon:
        pending = self.kit.pending.loads(request.cookie(self.kit.logon_cookie_name(request)))
        if pending.step != step:
            raise LogonExpired()  # e.g. the Back button after a step was done: start again
        return pending

    def logon_mfa(self, request: ConsoleRequest) -> Reply:
        pending = self._pending(request, "mfa")
        if request.method == "GET":
            return self._totp_form(request)
        self.kit.check_csrf(request)
        account_id, user_name = pending.account_id, pending.user_name
        try:
            device = self.kit.check_code(
                request, account_id, user_name, request.field("code", 16), action="console:Logon",
                logon=self.kit.throttle(account_id),  # a wrong code counts towards MaxLoginAttemps too
            )  # fmt: skip
        except (errors.InvalidAuthenticationCode, errors.LoginLocked) as exc:
            return self._totp_form(request, error=exc)
        done = self.kit.pending.advance(pending, mfa_time=self.kit.now(), mfa_binding=device_binding(device))
        return self._continue(request, done)

    def _totp_form(self, request: ConsoleRequest, error: errors.RAMError | None = None) -> Reply:
        return self.kit.page(
            request, "totp.html", status=200 if error is None else error.status, purpose="logon",
            action=self.kit.url(request, "logon_mfa"), error=None if error is None else error.message,
        )  # fmt: skip

    def logon_bind(self, request: ConsoleRequest) -> Reply:
        pending = self._pending(request, "bind")
        account_id, user_name = pending.account_id, pending.user_name
        if request.method == "GET":
            return self._bind_form(request, self.enrolments.start(account_id, user_name))
        self.kit.check_csrf(request)
        enrolment = self.enrolments.resume(account_id, user_name, request.field("binding", 4096))
        if enrolment is None:
            fresh = self.enrolments.start(account_id, user_name)
            return self._bind_form(request, fresh, "The setup was interrupted; scan this new code.", 409)
        principal, action = self.kit.identity(account_id, user_name), "ram:BindMFADevice"
        try:
            device = self.enrolments.bind(
                account_id, user_name, enrolment, request.field("code1", 16), request.field("code2", 16)
            )
        except errors.InvalidAuthenticationCode as exc:
            self.kit.audit(request, "Rejected", exc.status, principal=principal, code=exc.code,
                           reason=BINDING_REFUSED, action=action)  # fmt: skip
            return self._bind_form(request, enrolment, exc.message, exc.status)
        self.kit.audit(request, "Allow", 200, principal=principal, reason="Console MFA device bound at logon",
                       action=action)  # fmt: skip
        # Unlike binding from a session (devices.py), this needs no password again: this logon proved it
        # moments before (the pending cookie: one use per step, minutes old, void if the password changes).
        # Decision: the logon counts as made with MFA, as the device the administrator required is bound and
        # proved by two codes within it; asking for a third code from it would add a wait, not assurance.
        binding = device_binding(device)
        done = self.kit.pending.advance(pending, mfa_time=self.kit.now(), mfa_binding=binding)
        return self._continue(request, done)

    def _bind_form(
        self, request: ConsoleRequest, enrolment: Enrolment, error: str | None = None, status: int = 200
    ) -> Reply:
        return self.kit.page(
            request, "bind.html", status=status, action=self.kit.url(request, "logon_bind"), purpose="logon",
            error=error, **enrolment.context(),
        )  # fmt: skip

    def logon_password(self, request: ConsoleRequest) -> Reply:
        pending = self._pending(request, "password")
        policy = self.kit.service.get_password_policy(pending.account_id)
        if request.method == "GET":
            return self._password_form(request, policy)
        self.kit.check_csrf(request)
        new = request.password("new_password")
        confirm = request.password("confirm")
        if new != confirm:
            return self._password_form(request, policy, "The two new passwords differ.")
        proved = None if pending.password_time is None else password_moment(pending.password_time)
        # Audited as the password page audits a change (account.py), under the identity this logon proved.
        principal = self.kit.identity(pending.account_id, pending.user_name)
        try:
            profile = self.kit.service.renew_password(
                pending.account_id, pending.user_name, new, replacing=proved
            )
        except errors.InvalidParameter as exc:
            if exc.code == "InvalidParameter.OldPassword":
                # Changed since this logon proved it (e.g. an administrator's reset): never overwrite that.
                raise LogonExpired() from None
            self.kit.audit(
                request, "Rejected", exc.status, principal=principal, code=exc.code,
                reason="Console password change at logon refused", action=CHANGE_PASSWORD,
            )  # fmt: skip
            return self._password_form(request, policy, exc.message)
        self.kit.audit(
            request, "Allow", 303, principal=principal, reason="Console password change at logon",
            action=CHANGE_PASSWORD,
        )  # fmt: skip
        changed = profile.password_changed_date
        return self._continue(request, self.kit.pending.advance(pending, password_changed=changed))

    def _password_form(
        self, request: ConsoleRequest, policy: PasswordPolicy, error: str | None = None
    ) -> Reply:
        return self.kit.page(
            request, "new_password.html", status=200 if error is None else 400, policy=policy,
            ask_old=False, action=self.kit.url(request, "logon_password"), error=error,
        )  # fmt: skip

    # --- finishing ----------------------------------------------------------------------------------------

    def _audit_success(self, request: ConsoleRequest, session: BrowserSession) -> None:
        principal = self.kit.session_auth.principal(session)
        self.kit.audit(request, "Allow", 303, principal=principal, reason=_success_reason(session))

    def _continue(self, request: ConsoleRequest, pending: PendingLogon) -> Reply:
        """Go to the next step (with its cookie), or sign in when none is left."""
        if pending.step is None:
            return self._sign_in(request, pending)
        reply = Reply.redirect(self.kit.url(request, _STEP_PAGES[pending.step]))
        return reply.set_cookie(self.kit.logon_cookie(request, self.kit.pending.dumps(pending)))

    def _refused_late(self, request: ConsoleRequest, pending: PendingLogon) -> LogonExpired:
        """The refusal of a logon whose every step was done, for a password, MFA device or login profile
        changed meanwhile: audited (it proved credentials), naming the identity when it still exists."""
        error = LogonExpired()
        principal = self.kit.identity(pending.account_id, pending.user_name)
        reason = "Console logon refused: the password, MFA device or login profile changed during it"
        # 303: the caller is sent back to the logon page (Console.handle), not shown the error's 401.
        self.kit.audit(request, "Rejected", 303, principal=principal, code=error.code, reason=reason)
        return error

    def _sign_in(self, request: ConsoleRequest, pending: PendingLogon) -> Reply:
        """The session: a new id (an earlier session of this browser is revoked), then back to ``next``.

        The logon must have proved the *current* password and seen or proved the *current* MFA binding
        (:class:`LogonExpired` if either changed meanwhile or the login profile is gone); the session names
        both, so the next change of either ends it.
        """
        kit = self.kit
        kit.pending.finish(pending)
        try:
            profile = kit.service.get_login_profile(pending.account_id, pending.user_name)
        except errors.EntityNotExist:
            raise self._refused_late(request, pending) from None
        changed = profile.password_changed_date
        if pending.password_time is None or password_time(changed) != pending.password_time:
            raise self._refused_late(request, pending)
        # E.g. an MFA code proved with a device unbound since: the session must not carry that proof. (None:
        # a logon cookie from before logons named the binding.)
        if (
            pending.mfa_binding is None
            or kit.binding(pending.account_id, pending.user_name) != pending.mfa_binding
        ):
            raise self._refused_late(request, pending)
        kit.throttle(pending.account_id).succeeded(pending.account_id, pending.user_name or "")
        earlier = kit.signed_in(request)
        if earlier is not None:
            kit.sessions.revoke(earlier.session)
        preference = kit.service.get_security_preference(pending.account_id)
        mfa = None if pending.mfa_time is None else datetime.fromtimestamp(pending.mfa_time, UTC)
        account_id, user_name = pending.account_id, pending.user_name
        lifetime = preference.login_session_seconds
        session, value = kit.sessions.issue(
            account_id, user_name, lifetime=lifetime, mfa_time=mfa, password_changed=changed,
            mfa_binding=pending.mfa_binding,
        )  # fmt: skip
        kit.service.record_logon(pending.account_id, pending.user_name)
        self._audit_success(request, session)
        reply = Reply.redirect(kit.next_url(request, pending.next_url))
        reply.set_cookie(kit.session_cookie(request.facts, value))
        return reply.set_cookie(kit.clear_logon_cookie(request))


def _success_reason(session: BrowserSession) -> str:
    method = "password and MFA" if session.mfa_present else "password"
    if session.user_name is None:
        # DESIGN "the account rests": root use stands out in the audit log.
        return f"Console logon of the account root ({method}); the root should rest, use RAM users"
    return f"Console logon ({method})"


def _enforced(preference: SecurityPreference, user_name: str | None) -> bool:
    # The account root (None) always needs MFA: a root without a device binds one at its next logon.
    return user_name is None or preference.mfa_required_for(user_name)
