"""The PostgreSQL store URL: libpq reads what the user wrote, with only the ``ram_*`` store options taken out.

libpq itself (``psycopg.conninfo.conninfo_to_dict``, no server needed) is the reference: whatever the URL
says to libpq, the conninfo handed on must say the same.
"""

from __future__ import annotations

from urllib.parse import quote

import psycopg
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ram_middleware.store.postgres import split_store_options

# libpq options a URL query may carry, and values with what percent-encoding touches: spaces, "+", "=",
# "&", "%", "/", non-ASCII.
_LIBPQ_NAMES = st.sampled_from(["options", "application_name", "host", "sslmode", "target_session_attrs"])
_VALUES = st.text(st.sampled_from([*"ab09 +=&%/-_.~:", "é", "中"]), min_size=1, max_size=12)
_SAFE = st.sampled_from(["", "/", "+", "/:=+"])  # how much of the value the writer left unescaped
_LIBPQ_PIECE = st.builds(lambda n, v, safe: f"{n}={quote(v, safe=safe)}", _LIBPQ_NAMES, _VALUES, _SAFE)
_RAM_PIECES: dict[str, dict[str, object]] = {
    "ram_pool_size=3": {"pool_size": 3},
    "ram_max_staleness=2.5": {"max_staleness": 2.5},
    "ram_listen=no": {"listen": False},
}
_AUTHORITIES = st.sampled_from(["u@h:5432", "", "u:p%40ss@h", "h1:5432,h2:5433", "u@[::1]:5432"])


def _libpq(conninfo: str) -> dict[str, str | int | None] | str:
    """What libpq reads from ``conninfo``, or its complaint (a raw ``=`` in a value, say)."""
    try:
        return dict(psycopg.conninfo.conninfo_to_dict(conninfo))
    except psycopg.ProgrammingError as refused:
        return str(refused)


@settings(max_examples=150, deadline=None)
@given(
    _AUTHORITIES,
    st.sampled_from(["postgresql", "postgres"]),
    st.lists(st.one_of(_LIBPQ_PIECE, st.sampled_from(sorted(_RAM_PIECES))), max_size=5),
)
@example("", "postgresql", ["host=%2Fvar%2Frun%2Fpostgresql"])  # a Unix socket: postgresql:///db?host=/dir
@example("u@h", "postgresql", ["options=-c%20search_path%3Dapp", "ram_pool_size=3"])  # "%20" is no "+"
def test_libpq_reads_the_url_as_written_but_for_the_store_options(
    authority: str, scheme: str, pieces: list[str]
) -> None:
    ours = [piece for piece in pieces if piece in _RAM_PIECES]
    theirs = [piece for piece in pieces if piece not in _RAM_PIECES]
    written = f"{scheme}://{authority}/db" + (f"?{'&'.join(pieces)}" if pieces else "")
    without_ours = f"{scheme}://{authority}/db" + (f"?{'&'.join(theirs)}" if theirs else "")

    conninfo, options = split_store_options(written)

    assert _libpq(conninfo) == _libpq(without_ours)
    expected: dict[str, object] = {}
    for piece in ours:
        expected.update(_RAM_PIECES[piece])
    assert options == expected
