"""One exception hierarchy for the whole project.

Every error knows the Alibaba-style error ``Code`` and the HTTP status it maps to, so the adapters and the
control plane turn any :class:`RAMError` into the JSON error body the official SDKs expect
(``RequestId``, ``Code``, ``Message``) without a lookup table of their own.

Codes marked UNSURE in the spec live here and only here, so they can be corrected in one place.

Messages never contain secrets: callers pass names and ids, never AccessKey secrets, passwords or tokens.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RAMError(Exception):
    """Root of every error ram-middleware raises on purpose.

    ``code`` is the machine-readable Alibaba error Code, ``status`` the HTTP status, ``message`` a
    human-readable sentence safe to show to the caller. ``detail`` carries structured context for the
    audit log (never sent to the caller unless a subclass says so).
    """

    default_code: ClassVar[str] = "InternalError"
    default_status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.code = code if code is not None else self.default_code
        self.status = status if status is not None else self.default_status
        self.detail: dict[str, Any] = detail or {}
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_body(self, request_id: str) -> dict[str, Any]:
        """The JSON error body sent to the caller."""
        return {"RequestId": request_id, "Code": self.code, "Message": self.message}


class _Suffixed(RAMError):
    """An error whose Code is ``<prefix>.<suffix>`` (``EntityNotExist.User``)."""

    def __init__(self, suffix: str, message: str, **kwargs: Any) -> None:
        code = f"{self.default_code}.{suffix}" if suffix else self.default_code
        super().__init__(message, code=code, **kwargs)


# --- validation ---------------------------------------------------------------------------------------


class InvalidParameter(_Suffixed):
    """A request parameter is missing its rules (``InvalidParameter.UserName.InvalidChars``)."""

    default_code = "InvalidParameter"
    default_status = 400


class MissingParameter(_Suffixed):
    """A required parameter is absent (``MissingParameter`` / ``MissingParameter.UserName``)."""

    default_code = "MissingParameter"
    default_status = 400


class MalformedPolicyDocument(RAMError):
    """A policy document is not valid JSON or breaks the grammar; ``path`` names the JSON location."""

    default_code = "MalformedPolicyDocument"
    default_status = 400

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        message = f"{path}: {problem}" if path else problem
        super().__init__(message, detail={"path": path})


# --- entities -------------------------------------------------------------------------------------------


class EntityNotExist(_Suffixed):
    """``EntityNotExist.User`` and friends."""

    default_code = "EntityNotExist"
    default_status = 404


class EntityAlreadyExists(_Suffixed):
    """``EntityAlreadyExists.User`` and friends."""

    default_code = "EntityAlreadyExists"
    default_status = 409


class DeleteConflict(_Suffixed):
    """``DeleteConflict.User.AccessKey`` and friends: dependents still exist."""

    default_code = "DeleteConflict"
    default_status = 409


class LimitExceeded(_Suffixed):
    """``LimitExceeded.User.AccessKey`` and friends: a quota would be exceeded."""

    default_code = "LimitExceeded"
    default_status = 409


# --- installation -----------------------------------------------------------------------------------------


class MissingDependency(RAMError):
    """The configuration asks for a backend whose optional extra is not installed (a setup mistake, seen
    when the runtime is built, never by a caller)."""

    default_code = "MissingDependency"
    default_status = 500


def missing_extra(exc: ModuleNotFoundError, what: str, extra: str) -> Exception:
    """What to raise for ``exc`` met while loading ``what`` (``"A redis:// guard"``): a
    :class:`MissingDependency` naming the extra to install, or ``exc`` itself when the missing module is
    one of ram-middleware's own (a broken installation, not a missing extra)."""
    if exc.name is None or exc.name.partition(".")[0] == "ram_middleware":
        return exc
    return MissingDependency(
        f"{what} needs the Python package {exc.name!r}, which is not installed: install ram-middleware's "
        f"{extra!r} extra (from a checkout: pip install './ram-middleware[{extra}]')."
    )


# --- availability -----------------------------------------------------------------------------------------


class ServiceUnavailable(RAMError):
    """The store or guard cannot be reached. Requests fail closed with this error."""

    default_code = "ServiceUnavailable"
    default_status = 503
    default_message = "The authorization service is temporarily unavailable; the request was denied."


class StoreTimeout(ServiceUnavailable):
    """A store write transaction outlasted its time bound (``detail["seconds"]``) and was cut.
    ``detail["committed"]``: False when it was rolled back, None when the cut came during its commit."""

    default_code = "ServiceUnavailable.StoreTimeout"


class StoreBusy(RAMError):
    """The store stayed locked by another writer beyond the retry budget."""

    default_code = "ServiceUnavailable.StoreBusy"
    default_status = 503
    default_message = "The identity store is busy; try again."


# --- authentication ----------------------------------------------------------------------------------------


class AuthenticationError(RAMError):
    """The request did not prove who sent it. Never falls through to anonymous access."""

    default_code = "InvalidAuthentication"
    default_status = 400
    default_message = "The request could not be authenticated."


class IncompleteSignature(AuthenticationError):
    default_code = "IncompleteSignature"
    default_message = "The request signature does not conform to Aliyun standards."


class UnknownAccessKey(AuthenticationError):
    default_code = "InvalidAccessKeyId.NotFound"
    default_status = 404
    default_message = "Specified access key is not found."


class InactiveAccessKey(AuthenticationError):
    default_code = "InvalidAccessKeyId.Inactive"
    default_status = 400
    default_message = "Specified access key is disabled."


class SignatureMismatch(AuthenticationError):
    """Bad signature. The Message always contains ``:`` (aliyun-python-sdk-core splits on it)."""

    default_code = "SignatureDoesNotMatch"
    default_status = 400
    default_message = "Specified signature is not matched with our calculation. server string to sign is:"


class RequestExpired(AuthenticationError):
    default_code = "InvalidTimeStamp.Expired"
    default_message = "Specified time stamp or date value is expired."


class BadTimestamp(AuthenticationError):
    default_code = "InvalidTimeStamp.Format"
    default_message = "Specified time stamp or date value is not well formatted."


class NonceReused(AuthenticationError):
    default_code = "SignatureNonceUsed"
    default_message = "Specified signature nonce was used already."


class UnsupportedSignatureMethod(AuthenticationError):
    default_code = "InvalidSignatureMethod"
    default_message = "Specified signature method is not supported."


class UnsupportedSignatureVersion(AuthenticationError):
    default_code = "InvalidSignatureVersion"
    default_message = "Specified signature version is not supported."


class InvalidSecurityToken(AuthenticationError):
    """``InvalidSecurityToken.Malformed`` / ``.Expired`` / ``.MismatchWithAccessKey`` / ``.Revoked``."""

    default_code = "InvalidSecurityToken"
    default_status = 400

    def __init__(self, suffix: str, message: str) -> None:
        super().__init__(message, code=f"InvalidSecurityToken.{suffix}")


class MissingSecurityToken(AuthenticationError):
    default_code = "MissingSecurityToken"
    default_message = "A temporary AccessKeyId needs its SecurityToken."


class RootAccessKeyRefused(AuthenticationError):
    default_code = "Forbidden.RootAccessKey"
    default_status = 403
    default_message = "The account's root identity may not be used for API calls; use a RAM user."


class LoginFailed(AuthenticationError):
    """Wrong user name or password. One message for both, so users cannot be enumerated."""

    default_code = "InvalidLogin"
    default_status = 401
    default_message = "The user name or password is incorrect."


class LoginLocked(AuthenticationError):
    default_code = "LoginLocked"
    default_status = 429
    default_message = "Too many failed logon attempts; try again later."


class PasswordExpired(AuthenticationError):
    """The password is past MaxPasswordAge and the policy's HardExpiry needs an administrator."""

    default_code = "PasswordExpired"
    default_status = 403
    default_message = "Your password has expired. Ask an administrator to reset it."


class InvalidAuthenticationCode(AuthenticationError):
    default_code = "InvalidAuthenticationCode"
    default_message = "The MFA authentication code is incorrect or was used already."


class InvalidSession(AuthenticationError):
    """The console session cookie is forged, tampered with, malformed, or belongs to a user who no longer
    exists."""

    default_code = "InvalidSession"
    default_status = 401
    default_message = "The logon session is not valid; sign in again."


class SessionExpired(InvalidSession):
    default_code = "InvalidSession.Expired"
    default_message = "The logon session has expired; sign in again."


class SessionRevoked(InvalidSession):
    default_code = "InvalidSession.Revoked"
    default_message = "The logon session has ended; sign in again."


class MFARequired(AuthenticationError):
    default_code = "Forbidden.MFARequired"
    default_status = 403
    default_message = "This operation requires a recent MFA authentication."


# --- authorization ----------------------------------------------------------------------------------------


class AuthorizationError(RAMError):
    """The caller is known but not allowed. ``detail`` holds the explained decision for the audit log."""

    default_code = "NoPermission"
    default_status = 403
    default_message = "You are not authorized to do this action. You should be authorized by RAM."


class CrossSiteRequest(AuthorizationError):
    """A console session cookie on a request the browser says another site's page sent. A refusal, not an
    invalid session: the session stays valid and its cookie is left alone, or any page on the web could sign
    the user out."""

    default_message = "A console session may do this only from this site's own pages."


ACCESS_DENIED_FIELDS = (
    "PolicyType",
    "AuthPrincipalOwnerId",
    "AuthPrincipalType",
    "AuthPrincipalDisplayName",
    "NoPermissionType",
    "AuthAction",
    "EncodedDiagnosticMessage",
)
"""The fields of ``AccessDeniedDetail`` (as the product SDK models name them), in the order they are sent."""


def access_denied_detail(error: RAMError) -> dict[str, Any] | None:
    """The ``AccessDeniedDetail`` a refusal sends: for a policy's denial (one whose detail names the
    ``AuthAction``), exactly :data:`ACCESS_DENIED_FIELDS`; never the rest of ``detail`` (the reason, the
    policy), which is for the audit log only. None for any other error."""
    if not isinstance(error, AuthorizationError | MFARequired) or not error.detail.get("AuthAction"):
        return None
    return {name: error.detail[name] for name in ACCESS_DENIED_FIELDS if name in error.detail}
