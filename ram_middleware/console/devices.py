"""Self-service credentials: one's own virtual MFA device and AccessKeys.

Each page is open only when the account's security preference allows it (``AllowUserToManageMFADevices``,
``AllowUserToManageAccessKeys``); an explicit Deny of the action (``ram:CreateAccessKey``,
``ram:UpdateAccessKey``, ``ram:CreateVirtualMFADevice``, ``ram:BindMFADevice``, ``ram:UnbindMFADevice``) on
the user in the user's own policies still refuses it (403, audited), as a Deny of ``ram:ChangePassword``
refuses the password page: the preference grants, an explicit Deny wins, as everywhere in RAM.
Binding an MFA device asks for the password again (a session cookie alone
must not choose the user's MFA) and gives the session no MFA; unbinding asks for a current code from the
device being removed.
Creating an AccessKey asks for the password again too: the key outlives the session, its logout and the next
password change, so a copied session cookie alone must not mint one. Its secret is shown once, on a page
that is never cached, and never again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from .. import errors
from .account import allows, own_decision
from .base import BINDING_REFUSED, Kit, SignedIn
from .binding import Enrolment, Enrolments
from .web import ConsoleRequest, Reply

__all__ = ["DevicePages"]

_KEY_ACTIONS = {"disable": "Inactive", "enable": "Active"}
_INTERRUPTED = "The setup was interrupted; scan this new code."
_WRONG_PASSWORD = "The password is incorrect."
_KEY_REFUSED = "Console AccessKey creation refused"


class DevicePages:
    """The MFA device and AccessKey pages."""

    def __init__(self, kit: Kit, enrolments: Enrolments) -> None:
        self.kit = kit
        self.enrolments = enrolments

    def handlers(self) -> dict[str, Callable[[ConsoleRequest], Reply]]:
        return {"mfa_device": self.mfa_device, "access_keys": self.access_keys}

    def _allowed(self, signed_in: SignedIn, what: str) -> bool:
        preference = self.kit.service.get_security_preference(signed_in.account_id)
        return allows(preference, signed_in, what)

    def _denied(self, request: ConsoleRequest, signed_in: SignedIn, action: str) -> Reply | None:
        """A 403 page (audited) when the user's own policies explicitly Deny ``action`` on the user; None
        otherwise (the root has no policies)."""
        if signed_in.user_name is None:
            return None
        decision = own_decision(self.kit, request, signed_in, action)
        if decision.effect != "ExplicitDeny":
            return None
        self.kit.audit(
            request, "ExplicitDeny", 403, principal=signed_in.principal, code="NoPermission",
            reason=decision.reason, action=action,
        )  # fmt: skip
        text = f"A policy of yours denies {action}; ask your administrator."
        return self.kit.message(request, text, status=403, signed_in=signed_in)

    # --- MFA device --------------------------------------------------------------------------------------

    def mfa_device(self, request: ConsoleRequest) -> Reply:
        signed_in = self.kit.require_session(request)
        if not self._allowed(signed_in, "mfa"):
            text = "Your administrator does not let users manage their own MFA devices."
            return self.kit.message(request, text, status=403, signed_in=signed_in)
        device = self.kit.bound_device(signed_in.account_id, signed_in.user_name)
        if request.method == "GET":
            return self._device_page(request, signed_in)
        self.kit.check_csrf(request, signed_in)
        action = request.field("action", 16)
        if action == "start" and device is None:
            refused = self._denied(request, signed_in, "ram:CreateVirtualMFADevice")
            return refused or self._bind_form(request, signed_in, self.enrolments.start(*_who(signed_in)))
        if action == "bind" and device is None:
            return self._denied(request, signed_in, "ram:BindMFADevice") or self._bind(request, signed_in)
        if action == "unbind" and device is not None:
            refused = self._denied(request, signed_in, "ram:UnbindMFADevice")
            return refused or self._unbind(request, signed_in, device.serial_number)
        return Reply.redirect(self.kit.url(request, "mfa_device"))

    def _device_page(
        self, request: ConsoleRequest, signed_in: SignedIn, error: str | None = None, status: int = 200
    ) -> Reply:
        device = self.kit.bound_device(signed_in.account_id, signed_in.user_name)
        return self.kit.page(
            request, "mfa_device.html", status=status, signed_in=signed_in, device=device, error=error
        )

    def _bind_form(
        self, request: ConsoleRequest, signed_in: SignedIn, enrolment: Enrolment, error: str | None = None,
        status: int = 200,
    ) -> Reply:  # fmt: skip
        return self.kit.page(
            request, "bind.html", status=status, signed_in=signed_in, purpose="self",
            action=self.kit.url(request, "mfa_device"), error=error, **enrolment.context(),
        )  # fmt: skip

    def _bind(self, request: ConsoleRequest, signed_in: SignedIn) -> Reply:
        account_id, user_name = _who(signed_in)
        enrolment = self.enrolments.resume(account_id, user_name, request.field("binding", 4096))
        if enrolment is None:
            fresh = self.enrolments.start(account_id, user_name)
            return self._bind_form(request, signed_in, fresh, _INTERRUPTED)
        action, principal = "ram:BindMFADevice", signed_in.principal
        # A session cookie alone must not bind a device: whoever stole it would make their own phone the
        # user's MFA.
        refused = self._password_refusal(request, signed_in, action, BINDING_REFUSED)
        if refused is not None:
            return self._bind_form(request, signed_in, enrolment, *refused)
        try:
            device = self.enrolments.bind(
                account_id, user_name, enrolment, request.field("code1", 16), request.field("code2", 16)
            )
        except errors.InvalidAuthenticationCode as exc:
            self.kit.audit(request, "Rejected", exc.status, principal=principal, code=exc.code,
                           reason=BINDING_REFUSED, action=action)  # fmt: skip
            return self._bind_form(request, signed_in, enrolment, exc.message, exc.status)
        self.kit.audit(
            request, "Allow", 200, principal=principal, reason="Console MFA device bound", action=action
        )
        # The binding ends the identity's other sessions (credentials/session.py); this one goes on, for the
        # new binding and without MFA: binding enrols the device, the next logon or a step-up uses it.
        rotated, value = self.kit.sessions.rebind(signed_in.session, device.bound_since)
        reply = self.kit.message(
            request, "Your MFA device is bound. Sign-ins now ask for a code.",
            signed_in=SignedIn(rotated, signed_in.principal),
        )  # fmt: skip
        return reply.set_cookie(self.kit.session_cookie(request.facts, value))

    def _password_refusal(
        self, request: ConsoleRequest, signed_in: SignedIn, action: str, reason: str
    ) -> tuple[str, int] | None:
        """None when the form's ``password`` is the user's; else the refusal's message and status, audited.
        Each try is a logon attempt (MaxLoginAttemps, :meth:`LogonThrottle.checked`), so a stolen session
        cannot guess freely, nor wipe earlier failed logons by entering the right password."""
        account_id, user_name = _who(signed_in)
        password = request.password("password")
        try:
            self.kit.throttle(account_id).checked(
                account_id,
                user_name or "",
                lambda: self.kit.service.verify_login_password(account_id, user_name, password),
            )
        except (errors.LoginFailed, errors.LoginLocked) as exc:
            self.kit.audit(request, "Rejected", exc.status, principal=signed_in.principal, code=exc.code,
                           reason=reason, action=action)  # fmt: skip
            return (_WRONG_PASSWORD if isinstance(exc, errors.LoginFailed) else exc.message), exc.status
        return None

    def _unbind(self, request: ConsoleRequest, signed_in: SignedIn, serial: str) -> Reply:
        account_id, user_name = _who(signed_in)
        action, principal = "ram:UnbindMFADevice", signed_in.principal
        try:
            self.kit.check_code(
                request, account_id, user_name, request.field("code", 16), action=action, principal=principal
            )
        except (errors.InvalidAuthenticationCode, errors.LoginLocked) as exc:
            return self._device_page(request, signed_in, exc.message, exc.status)
        if user_name is None:
            self.kit.service.unbind_root_mfa_device(account_id)
        else:
            self.kit.service.unbind_mfa_device(account_id, user_name)
        with contextlib.suppress(errors.EntityNotExist, errors.DeleteConflict):
            self.kit.service.delete_virtual_mfa_device(account_id, serial)
        self.kit.audit(
            request, "Allow", 200, principal=principal, reason="Console MFA device removed", action=action
        )
        # The unbinding ends the identity's other sessions (credentials/session.py); this one goes on, without
        # the MFA proved with the device just removed.
        rotated, value = self.kit.sessions.rebind(signed_in.session, None)
        reply = self.kit.message(
            request, "Your MFA device was removed.", signed_in=SignedIn(rotated, signed_in.principal)
        )
        return reply.set_cookie(self.kit.session_cookie(request.facts, value))

    # --- AccessKeys ---------------------------------------------------------------------------------------

    def access_keys(self, request: ConsoleRequest) -> Reply:
        signed_in = self.kit.require_session(request)
        if not self._allowed(signed_in, "access_keys"):
            text = (
                "The account root does not use AccessKeys; use a RAM user."
                if signed_in.user_name is None
                else "Your administrator does not let users manage their own AccessKeys."
            )
            return self.kit.message(request, text, status=403, signed_in=signed_in)
        if request.method == "GET":
            return self._keys_page(request, signed_in)
        self.kit.check_csrf(request, signed_in)
        account_id, user_name = _who(signed_in)
        action = request.field("action", 16)
        try:
            if action in ("create", *_KEY_ACTIONS):
                denied = self._denied(
                    request, signed_in, "ram:CreateAccessKey" if action == "create" else "ram:UpdateAccessKey"
                )
                if denied is not None:
                    return denied
            if action == "create":
                refused = self._password_refusal(request, signed_in, "ram:CreateAccessKey", _KEY_REFUSED)
                if refused is not None:
                    return self._keys_page(request, signed_in, error=refused[0], status=refused[1])
                created = self.kit.service.create_access_key(account_id, user_name)
                self._audit_key(
                    request, signed_in, "ram:CreateAccessKey", created.key.access_key_id, issued=True
                )
                return self._keys_page(request, signed_in, new_key=created.key, new_secret=created.secret)
            if action in _KEY_ACTIONS:
                key_id = request.field("access_key_id", 64)
                self.kit.service.update_access_key(
                    account_id, key_id, _KEY_ACTIONS[action], user_name=user_name
                )
                self._audit_key(request, signed_in, "ram:UpdateAccessKey", key_id)
        except (errors.LimitExceeded, errors.EntityNotExist) as exc:
            return self._keys_page(request, signed_in, error=exc.message, status=exc.status)
        return Reply.redirect(self.kit.url(request, "access_keys"))

    def _audit_key(
        self, request: ConsoleRequest, signed_in: SignedIn, action: str, key_id: str, *, issued: bool = False
    ) -> None:
        reason = f"Console {action.partition(':')[2]} of {key_id}"  # an AccessKeyId is no secret
        self.kit.audit(
            request, "Allow", 200, principal=signed_in.principal, reason=reason, action=action, issued=issued
        )

    def _keys_page(
        self, request: ConsoleRequest, signed_in: SignedIn, *, status: int = 200, **context: object
    ) -> Reply:
        keys = self.kit.service.list_access_keys(signed_in.account_id, signed_in.user_name)
        return self.kit.page(
            request, "access_keys.html", status=status, signed_in=signed_in, keys=keys, **context
        )


def _who(signed_in: SignedIn) -> tuple[str, str | None]:
    return signed_in.account_id, signed_in.user_name
