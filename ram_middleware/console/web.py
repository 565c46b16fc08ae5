"""The console's framework-free HTTP model: what a page handler reads and what it returns.

Handlers take a :class:`ConsoleRequest` (the request's :class:`RequestFacts` plus its parsed form) and
return a :class:`Reply` (a template to render with its context, or a redirect, plus headers such as
``Set-Cookie``). The Starlette and Flask mountings translate both ways and render the templates through
their own Jinja2 integration.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from .. import errors
from ..credentials.password import MAX_PASSWORD_CHARS
from ..credentials.session import cookie_value
from ..facts import RequestFacts

__all__ = [
    "MAX_FORM_BYTES",
    "PAGE_HEADERS",
    "TEMPLATE_DIR",
    "TEMPLATE_NAMESPACE",
    "ConsoleRequest",
    "FormTooLarge",
    "Reply",
    "cookie_header",
    "parse_form",
    "private_cache_control",
]

MAX_FORM_BYTES = 16 * 1024  # every console form is a handful of short fields
TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAMESPACE = "ram_console/"  # so an app's own "base.html" never replaces ours
_MAX_FIELDS = 20
_FORM_TYPE = "application/x-www-form-urlencoded"


def _style_source() -> str:
    """The CSP source allowing the one inline ``<style>`` of the console's pages (base.html's) by its hash.

    Decision: no ``'unsafe-inline'``, so markup that ever slipped into a page could neither restyle it into
    a phishing form nor read its CSRF token through CSS selectors. Jinja renders the block unchanged (it
    holds no template code), so the hash of the file's block is the hash of every page's.
    """
    text = (TEMPLATE_DIR / TEMPLATE_NAMESPACE / "base.html").read_text(encoding="utf-8")
    found = re.search(r"<style>(.*?)</style>", text, re.DOTALL)
    style = found.group(1) if found else ""
    return "'sha256-" + base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii") + "'"


PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    # Pages carry CSRF tokens, one-time secrets (a new AccessKey) and MFA seeds: never cache or frame them.
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    (
        "content-security-policy",
        f"default-src 'none'; style-src {_style_source()}; img-src data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
)

SameSite = Literal["Lax", "Strict"]


class FormTooLarge(errors.RAMError):
    """A console form body over :data:`MAX_FORM_BYTES`."""

    default_code = "EntityTooLarge"
    default_status = 413
    default_message = "The form is larger than the console accepts."


def parse_form(body: bytes, content_type: str) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of a repeated name wins).

    Anything else (no body, another content type) is an empty form; malformed bytes are replaced, so a
    broken form fails the CSRF or field checks rather than raising.
    """
    if len(body) > MAX_FORM_BYTES:
        raise FormTooLarge()
    if not body or content_type.split(";")[0].strip().lower() != _FORM_TYPE:
        return {}
    text = body.decode("utf-8", "replace")
    form: dict[str, str] = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        return {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


@dataclass(frozen=True)
class ConsoleRequest:
    """One request to a console page."""

    facts: RequestFacts
    form: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Form values are passwords and MFA codes; the facts' own repr hides the cookies.
        return f"ConsoleRequest(facts={self.facts!r}, form_fields={sorted(self.form)!r})"

    @property
    def method(self) -> str:
        return "GET" if self.facts.method == "HEAD" else self.facts.method

    def query(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None (undecodable queries give None)."""
        try:
            pairs = self.facts.query_pairs
        except errors.RAMError:
            return None
        return next((value for key, value in pairs if key == name), None)

    def field(self, name: str, limit: int = 1024) -> str:
        """A form field ('' when absent), cut to ``limit`` characters."""
        return self.form.get(name, "")[:limit]

    def password(self, name: str) -> str:
        """A password field, cut one character past the longest password there can be: never to a length a
        stored password may have, so a longer one stays wrong (and, as a new password, too long)."""
        return self.field(name, MAX_PASSWORD_CHARS + 1)

    def cookie(self, name: str) -> str | None:
        return cookie_value(self.facts, name)


@dataclass
class Reply:
    """What a handler answers: a rendered page (``template``) or a redirect (``location``)."""

    status: int = 200
    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    location: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=lambda: list(PAGE_HEADERS))

    def __repr__(self) -> str:
        # The context may hold an MFA seed (the binding page), and Set-Cookie headers session and logon
        # cookies: a repr names them without their values.
        return (
            f"Reply(status={self.status!r}, template={self.template!r}, location={self.location!r}, "
            f"context_keys={sorted(self.context)!r}, header_names={[name for name, _ in self.headers]!r})"
        )

    @classmethod
    def redirect(cls, location: str, status: int = 303) -> Reply:
        return cls(status=status, location=location)

    def set_cookie(self, header: str) -> Reply:
        self.headers.append(("set-cookie", header))
        return self


def private_cache_control(cache_control: str | None) -> str | None:
    """The ``Cache-Control`` a response of the app needs before it may carry a session cookie, or None
    when it must not carry one.

    A shared cache (a CDN, a caching proxy) may store a response with its ``Set-Cookie`` and hand it to the
    next visitor, who would then be signed in as this user. A response that keeps shared caches out
    (``no-store``, or ``private`` naming no fields) is returned unchanged; one the app meant for shared
    caches (``public``, ``s-maxage``) gets no cookie (None: the session is renewed on another response);
    any other — no ``Cache-Control`` at all, or ``no-cache`` as static files have it — gets ``private``.
    """
    names: set[str] = set()
    for directive in (cache_control or "").split(","):
        name, has_value, _ = directive.strip().lower().partition("=")
        names.add(name.strip() + ("=" if has_value else ""))
    if "no-store" in names or "private" in names:
        return cache_control
    if names & {"public", "s-maxage="}:
        return None
    return f"private, {cache_control}" if cache_control and cache_control.strip() else "private"


def cookie_header(
    name: str,
    value: str,
    *,
    path: str = "/",
    secure: bool = False,
    max_age: int | None = None,
    same_site: SameSite = "Lax",
) -> str:
    """A ``Set-Cookie`` value; always HttpOnly (no console script ever reads a cookie)."""
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
