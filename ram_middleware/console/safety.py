"""Browser-facing safety checks: same-origin return URLs, CSRF tokens, and "is this a browser?".

CSRF (signed double-submit, bound to the session): every browser gets a random nonce in an HttpOnly
cookie; a form carries ``HMAC(key, nonce | session id)`` under the newest key. A POST is accepted only when
the token recomputed from its own cookie (and current session) under one of the configured keys equals the
submitted one, compared with :func:`hmac.compare_digest`. Another site can neither read the cookie nor
compute the HMAC, and a token stops working when the session id rotates (logon, step-up, logout).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from .. import errors
from ..credentials.authenticate import detect_scheme
from ..facts import RequestFacts

__all__ = ["CsrfRejected", "CsrfTokens", "is_browser", "return_target", "safe_next"]

MAX_NEXT_CHARS = 2048
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class CsrfRejected(errors.RAMError):
    """A console form arrived without a valid CSRF token."""

    default_code = "Forbidden.CSRF"
    default_status = 403
    default_message = "The form has expired or was not sent from this site. Reload the page and try again."


def safe_next(value: str | None, default: str, under: str = "") -> str:
    """``value`` if it is a same-origin path (``/…``) at or below ``under`` (the app's mount point, as
    :attr:`RequestFacts.root_path` spells it), else ``default``.

    Refused: absolute URLs (``https://evil``), scheme-relative ``//evil``, any backslash (browsers read
    ``/\\evil`` as ``//evil``), whitespace or control characters (browsers strip tabs and newlines, which
    can turn ``/\\t/evil`` into ``//evil``), anything that does not parse to a bare path, dot segments
    (``%2e`` too: the browser resolves ``/..//evil`` to the path ``//evil``, which an app redirecting to its
    own path would send off-site; the paths browsers ask for never have them), and paths outside the mount
    (another app on the host: ``/app2`` is not below ``/app``).
    """
    if not value or len(value) > MAX_NEXT_CHARS:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value or _CONTROL.search(value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or _has_dot_segment(parts.path):
        return default
    if under and parts.path != under and not parts.path.startswith(under + "/"):
        return default
    return value


def _has_dot_segment(path: str) -> bool:
    """Whether a browser would resolve a ``.`` or ``..`` segment (``%2e`` spelt either case) in ``path``."""
    segments = path.lower().replace("%2e", ".").split("/")
    return any(segment in (".", "..") for segment in segments)


def return_target(facts: RequestFacts) -> str:
    """Where a browser sent to a console page was going, as a ``next`` value: its path and query under
    the mount, for a GET or HEAD (a form's POST cannot be replayed); ``""`` when there is none."""
    if facts.method not in ("GET", "HEAD"):
        return ""
    target = facts.full_path + (f"?{facts.query}" if facts.query else "")
    return safe_next(target, "", facts.root_path)


def is_browser(facts: RequestFacts) -> bool:
    """A browser navigation rather than an API call: it asks for HTML and carries no AccessKey signature."""
    accept = (facts.header("accept") or "").lower()
    if "text/html" not in accept:
        return False
    try:
        return detect_scheme(facts) is None
    except errors.RAMError:
        return False


class CsrfTokens:
    """Issues and checks CSRF tokens with ``keys`` (one key, or several newest first), each a secret of at
    least 32 bytes. The newest signs; a token any of them signed is accepted, so a form shown before a key
    rotation can still be sent after it while its key stays listed (like the session and logon cookies)."""

    def __init__(self, keys: bytes | Sequence[bytes]) -> None:
        listed = [keys] if isinstance(keys, bytes) else [bytes(key) for key in keys]
        if not listed or any(len(key) < 32 for key in listed):
            raise errors.InvalidParameter("CsrfKey", "The CSRF key must be at least 32 bytes long.")
        self._keys = listed

    def __repr__(self) -> str:
        return "CsrfTokens()"

    @staticmethod
    def new_nonce() -> str:
        """A fresh nonce for the CSRF cookie (43 URL-safe characters)."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def valid_nonce(nonce: str | None) -> bool:
        return nonce is not None and _NONCE.fullmatch(nonce) is not None

    def token(self, nonce: str, session_id: str = "") -> str:
        """The token forms carry for this browser (``nonce``) and session, signed with the newest key."""
        return _token(self._keys[0], nonce, session_id)

    def check(self, nonce: str | None, submitted: str, session_id: str = "") -> None:
        """Raise :class:`CsrfRejected` unless ``submitted`` is the token of any key for ``nonce`` and
        ``session_id``."""
        if nonce is None or not self.valid_nonce(nonce):
            raise CsrfRejected()  # no cookie (or not one we issue): nothing to match
        given = submitted.encode("ascii", "replace")
        # Every key is tried, whichever matches, so the time taken tells nothing about which key did.
        matched = [
            hmac.compare_digest(_token(key, nonce, session_id).encode("ascii"), given) for key in self._keys
        ]
        if not any(matched):
            raise CsrfRejected()


def _token(key: bytes, nonce: str, session_id: str) -> str:
    mac = hmac.new(key, f"{nonce}\0{session_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")
