"""Browser vs API: how a refusal on a protected app route is answered, and the ``require_mfa`` check.

Installed as the authorizer's ``refusals`` renderer. A browser navigation (``Accept: text/html``, no
AccessKey signature) is sent to a page instead of receiving Alibaba-style JSON:

* no credential, or a session cookie that is forged, expired or revoked → 303 to the logon page with a
  same-origin ``next`` (the path it asked for; GET/HEAD only) and the bad cookie cleared;
* ``Forbidden.MFARequired`` (a policy on ``acs:MFAPresent`` that MFA would satisfy, or ``require_mfa``)
  → 303 to the step-up page, which returns to ``next``;
* a policy denial → a small HTML 403 page (no policy details: those stay in the audit log);
* a request another site sent (:class:`~ram_middleware.errors.CrossSiteRequest`) → the same page, saying
  so; the session is valid and its cookie is left alone (clearing it would let any site sign users out).

API callers keep the JSON errors, with ``Forbidden.MFARequired`` (403) where MFA is what is missing.
"""

from __future__ import annotations

import html
from datetime import datetime

from .. import errors
from ..authorizer import ErrorResponse
from ..credentials.session import InvalidSession
from ..facts import RequestFacts
from ..identity import Principal
from .base import Kit
from .safety import is_browser, return_target
from .web import PAGE_HEADERS, ConsoleRequest

__all__ = ["BrowserRefusals", "mfa_fresh"]

_CLOCK_SLACK = 60.0  # seconds an MFA time may lie ahead of this instance's clock


def mfa_fresh(principal: Principal | None, max_age: float | None, now: datetime) -> bool:
    """Whether ``principal`` proved MFA (within ``max_age`` seconds, when given)."""
    if principal is None or not principal.mfa_present or principal.mfa_time is None:
        return False
    if max_age is None:
        return True
    age = (now - principal.mfa_time).total_seconds()
    return -_CLOCK_SLACK <= age <= max_age


class BrowserRefusals:
    """The authorizer's refusal renderer for browsers (see the module docstring)."""

    def __init__(self, kit: Kit) -> None:
        self._kit = kit

    def __call__(self, facts: RequestFacts, error: errors.RAMError, request_id: str) -> ErrorResponse | None:
        if not is_browser(facts):
            return None
        request = ConsoleRequest(facts)
        here = return_target(facts)
        query = {"next": here} if here else {}
        if isinstance(error, errors.MFARequired):
            return self._redirect(self._kit.url(request, "stepup", **query), error, request_id)
        if error.status == 401 or isinstance(error, InvalidSession):
            reply = self._redirect(self._kit.url(request, "logon", **query), error, request_id)
            return self._clearing_session(reply, facts) if isinstance(error, InvalidSession) else reply
        if isinstance(error, errors.AuthorizationError):
            return self._denied(request, error, request_id, query)
        return None

    @staticmethod
    def _redirect(location: str, error: errors.RAMError, request_id: str) -> ErrorResponse:
        body = f'<!doctype html><title>Redirect</title><a href="{html.escape(location)}">Continue</a>'
        headers = (
            ("location", location),
            ("x-acs-request-id", request_id),
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
        )
        return ErrorResponse(303, headers, body.encode(), error.code)

    def _clearing_session(self, response: ErrorResponse, facts: RequestFacts) -> ErrorResponse:
        cleared = self._kit.clear_session_cookie(facts)
        return ErrorResponse(
            response.status, (*response.headers, ("set-cookie", cleared)), response.body, response.code
        )

    def _denied(
        self, request: ConsoleRequest, error: errors.RAMError, request_id: str, query: dict[str, str]
    ) -> ErrorResponse:
        switch = self._kit.url(request, "logon", **query)
        why = "You are signed in, but not allowed to open this page."
        if isinstance(error, errors.CrossSiteRequest):
            why = error.message  # the person may go on from this site's own pages: say so
        page = (
            '<!doctype html><html lang="en"><meta charset="utf-8"><title>Access denied</title>'
            f'<main><h1>Access denied</h1><p role="alert">{html.escape(why)}</p>'
            f'<p><a href="{html.escape(switch)}">Sign in as someone else</a> · '
            f'<a href="{html.escape(self._kit.url(request, "home"))}">Your account</a></p>'
            f"<p><small>Request id: {html.escape(request_id)}</small></p></main></html>"
        )
        headers = (
            ("x-acs-request-id", request_id),
            ("content-type", "text/html; charset=utf-8"),
            *PAGE_HEADERS,
        )
        return ErrorResponse(403, headers, page.encode(), error.code)
