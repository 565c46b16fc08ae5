"""Connection URLs made safe to show: no password in a repr, a log line, an error message or CLI output.

A store or guard URL may carry a password in its user-info (``postgresql://ram:pw@db/ram``,
``redis://:pw@cache:6379/0``), in its query (libpq and redis-py both read ``?password=``), or, for libpq,
in a ``key=value`` connection string (``host=db password=pw``). :func:`redacted_url` hides all three, and
leaves everything else as it was so that the text still tells an operator which server is meant, except
what follows a password in the query: an unescaped ``&`` or ``#`` may belong to the password itself
(``?password=pw&rest`` is read by the clients as the password ``pw`` and a parameter ``rest``, but it may
be the tail of a password written unescaped), so the rest of the query and any fragment are hidden with it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["HIDDEN", "redacted_url"]

HIDDEN = "***"
"""What a hidden password is shown as."""

# libpq's key=value form: the value is a single-quoted string (backslash escapes) or runs to whitespace.
_DSN_PASSWORD = re.compile(r"(password\s*=\s*)('(?:\\.|[^'\\])*'?|\S*)", re.IGNORECASE)


# RFC 3986's scheme: what a URL starts with. A libpq string (``host=db password=…``) never does, even when
# its password holds a "://".
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def redacted_url(url: str) -> str:
    """``url`` with every password replaced by ``***`` (the user-info's, and the value of any query or
    ``key=value`` parameter whose name contains "password", such as libpq's ``sslpassword``)."""
    if not _SCHEME.match(url):  # not a URL: a libpq key=value connection string, or nothing holding one
        return _DSN_PASSWORD.sub(rf"\g<1>{HIDDEN}", url)
    scheme, _, rest = url.partition("://")
    start = rest.find("?")
    if start >= 0:
        rest = rest[: start + 1] + _redacted_query(rest[start + 1 :])
    if not rest.startswith("/"):  # a path (sqlite:///…, unix:///…) has no user-info
        # The last "@" ends the user-info: a password holding an unescaped "@", "/", "?" or "#" is hidden
        # whole (with more than it, at worst) rather than shown in part as the host or the query.
        userinfo, at, host = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if at and colon:
            rest = f"{user}:{HIDDEN}@{host}"
    return f"{scheme}://{rest}"


def _redacted_query(text: str) -> str:
    """The query (with any fragment): the first parameter whose name contains "password" shows ``***``, and
    nothing after it is shown (see the module docstring)."""
    pairs = text.split("&")
    for index, pair in enumerate(pairs):
        name, equals, _ = pair.partition("=")
        if equals and "password" in unquote(name).lower():
            return "&".join([*pairs[:index], f"{name}={HIDDEN}"])
    return text
