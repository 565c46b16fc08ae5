"""Pages for a signed-in person: home, step-up MFA, change own password, logout.

Step-up (``/mfa?next=…``): a session without MFA, or with MFA older than a route's ``max_age``, proves a
fresh TOTP code here; the session then gets a new id and MFA time and the browser returns to ``next``
(same-origin paths only). Changing the password rotates the session id too and re-issues this session for
the new password (authentication time: now), so it survives the change while the identity's other
sessions end (:mod:`ram_middleware.credentials.session`). Logout revokes the session id server-side, so
the cookie is refused even if it was copied before, and clears the browser's cache of this origin
(``Clear-Site-Data: "cache"``), so Back shows none of the session's pages.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import errors
from ..credentials.password import PasswordPolicy
from ..credentials.preference import SecurityPreference
from ..policy import Decision, make_request
from .base import Kit, SignedIn
from .safety import MAX_NEXT_CHARS
from .web import ConsoleRequest, Reply

__all__ = ["AccountPages", "allows", "own_decision"]

CHANGE_PASSWORD = "ram:ChangePassword"
STEP_UP = "console:MFAStepUp"


def allows(preference: SecurityPreference, signed_in: SignedIn, what: str) -> bool:
    """Whether the security preference lets this identity manage ``what`` (``mfa``, ``access_keys``) itself
    (the password is decided as a policy: :meth:`AccountPages._may_change_password`). The preference governs
    RAM users; the root manages its own MFA but never gets AccessKeys from the console (the account should
    rest)."""
    if signed_in.user_name is None:
        return what != "access_keys"
    return {
        "mfa": preference.allow_user_to_manage_mfa_devices,
        "access_keys": preference.allow_user_to_manage_access_keys,
    }[what]


def own_decision(kit: Kit, request: ConsoleRequest, signed_in: SignedIn, action: str) -> Decision:
    """``action`` on the RAM user's own ARN as the RAM API decides it for the user: its identity policies
    plus the security preference's grant (:mod:`ram_middleware.service.self_service`)."""
    principal = signed_in.principal
    context = kit.ram.authorizer.contexts.build(request.facts, principal)
    return kit.service.self_service.policy_set(principal).decide(make_request(action, principal.arn, context))


class AccountPages:
    """Home, step-up, password and logout pages."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    def handlers(self) -> dict[str, Callable[[ConsoleRequest], Reply]]:
        return {"home": self.home, "stepup": self.stepup, "password": self.password, "logout": self.logout}

    def home(self, request: ConsoleRequest) -> Reply:
        signed_in = self.kit.require_session(request)
        preference = self.kit.service.get_security_preference(signed_in.account_id)
        device = self.kit.bound_device(signed_in.account_id, signed_in.user_name)
        return self.kit.page(
            request, "home.html", signed_in=signed_in, arn=signed_in.principal.arn,
            is_root=signed_in.user_name is None, has_device=device is not None,
            mfa_present=signed_in.session.mfa_present,
            can={
                "password": self._may_change_password(request, signed_in),
                **{what: allows(preference, signed_in, what) for what in ("mfa", "access_keys")},
            },
        )  # fmt: skip

    # --- step-up ----------------------------------------------------------------------------------------

    def stepup(self, request: ConsoleRequest) -> Reply:
        signed_in = self.kit.require_session(request)
        raw_next = request.field("next", MAX_NEXT_CHARS) or request.query("next") or ""
        next_url = self.kit.next_url(request, raw_next)
        if self.kit.bound_device(signed_in.account_id, signed_in.user_name) is None:
            text = "This page needs MFA, but no MFA device is bound to you. Bind one first."
            link = self.kit.url(request, "mfa_device")
            return self.kit.message(
                request, text, status=403, signed_in=signed_in, link=link, link_text="Set up MFA"
            )
        if request.method == "GET":
            return self._stepup_form(request, signed_in, next_url)
        self.kit.check_csrf(request, signed_in)
        try:
            self.kit.check_code(
                request, signed_in.account_id, signed_in.user_name, request.field("code", 16),
                action=STEP_UP, principal=signed_in.principal,
            )  # fmt: skip
        except (errors.InvalidAuthenticationCode, errors.LoginLocked) as exc:
            return self._stepup_form(request, signed_in, next_url, exc)
        # Recorded before the session gets its MFA: a step-up the sink cannot record is refused (503).
        self.kit.audit(request, "Allow", 303, principal=signed_in.principal, reason="Console MFA step-up",
                       action=STEP_UP)  # fmt: skip
        _, value = self.kit.sessions.rotate(signed_in.session, mfa_time=self.kit.now())
        return Reply.redirect(next_url).set_cookie(self.kit.session_cookie(request.facts, value))

    def _stepup_form(
        self, request: ConsoleRequest, signed_in: SignedIn, next_url: str,
        error: errors.RAMError | None = None,
    ) -> Reply:  # fmt: skip
        return self.kit.page(
            request, "totp.html", status=200 if error is None else error.status, signed_in=signed_in,
            purpose="stepup", action=self.kit.url(request, "stepup"), next=next_url,
            error=None if error is None else error.message,
        )  # fmt: skip

    # --- own password -----------------------------------------------------------------------------------

    def password(self, request: ConsoleRequest) -> Reply:
        signed_in = self.kit.require_session(request)
        account_id, user_name = signed_in.account_id, signed_in.user_name
        if not self._may_change_password(request, signed_in):
            text = "Your administrator does not let you change your own password."
            return self.kit.message(request, text, status=403, signed_in=signed_in)
        policy = self.kit.service.get_password_policy(account_id)
        if request.method == "GET":
            return self._password_form(request, signed_in, policy)
        self.kit.check_csrf(request, signed_in)
        old = request.password("old_password")
        new = request.password("new_password")
        if new != request.password("confirm"):
            return self._password_form(request, signed_in, policy, "The two new passwords differ.")
        # The service counts the old password towards MaxLoginAttemps: a stolen session must not guess it.
        principal, action = signed_in.principal, CHANGE_PASSWORD
        try:
            profile = self.kit.service.change_password(account_id, user_name, old, new)
        except (errors.InvalidParameter, errors.LoginLocked, errors.PasswordExpired) as exc:
            self.kit.audit(request, "Rejected", exc.status, principal=principal, code=exc.code,
                           reason="Console password change refused", action=action)  # fmt: skip
            return self._password_form(request, signed_in, policy, exc.message, exc.status)
        self.kit.audit(
            request, "Allow", 200, principal=principal, reason="Console password change", action=action
        )
        # The change ends every session that names the old password; this browser just proved the old one
        # and set the new one, so its re-issued session names the new password and stays signed in.
        changed = profile.password_changed_date
        rotated, value = self.kit.sessions.rotate(signed_in.session, password_changed=changed)
        reply = self.kit.message(
            request, "Your password was changed.", signed_in=SignedIn(rotated, signed_in.principal)
        )
        return reply.set_cookie(self.kit.session_cookie(request.facts, value))

    def _may_change_password(self, request: ConsoleRequest, signed_in: SignedIn) -> bool:
        """``ram:ChangePassword`` on the user's own ARN, decided as the RAM API decides it: the identity's
        policies plus the security preference's grant (service.self_service), so an explicit Deny holds here
        too and a policy allowing it works with the preference off. The root always may."""
        if signed_in.user_name is None:
            return True
        return own_decision(self.kit, request, signed_in, CHANGE_PASSWORD).allowed

    def _password_form(
        self, request: ConsoleRequest, signed_in: SignedIn, policy: PasswordPolicy, error: str | None = None,
        status: int = 400,
    ) -> Reply:  # fmt: skip
        return self.kit.page(
            request, "new_password.html", status=200 if error is None else status, signed_in=signed_in,
            policy=policy, ask_old=True, action=self.kit.url(request, "password"), error=error,
        )  # fmt: skip

    # --- logout -------------------------------------------------------------------------------------------

    def logout(self, request: ConsoleRequest) -> Reply:
        signed_in = self.kit.signed_in(request)
        if request.method == "GET":
            if signed_in is None:
                return Reply.redirect(self.kit.url(request, "logon"))
            return self.kit.page(request, "logout.html", signed_in=signed_in)
        if signed_in is not None:
            self.kit.check_csrf(request, signed_in)
            self.kit.sessions.revoke(signed_in.session)
            reason = "Console logout"
            self.kit.audit(
                request, "Allow", 303, principal=signed_in.principal, reason=reason, action="console:Logout"
            )
        # Without a valid session there is nothing to end; clearing the cookie is harmless either way.
        reply = Reply.redirect(self.kit.url(request, "logon", signed_out="1"))
        # The browser keeps the pages this session saw (the app's own, cached as it allows): the next person
        # at a shared computer pressing Back would see them. It drops them, so Back asks the server again.
        reply.headers.append(("clear-site-data", '"cache"'))
        return reply.set_cookie(self.kit.clear_session_cookie(request.facts))
