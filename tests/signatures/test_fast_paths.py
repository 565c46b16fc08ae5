"""The authentication hot path's shortcuts agree with the general code they stand in for.

Each shortcut (remembered parsings and encodings, the SDK spelling of the ACS3 Authorization header,
the precomputed SignedHeaders checks, ordering RPC parameters by name alone) must give exactly what the
general computation gives, errors included, for any input.
"""

from __future__ import annotations

import gc
import hashlib
import uuid

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials import acs3
from ram_middleware.credentials.encoding import (
    PairMemo,
    check_signed_set,
    encode_pairs,
    parse_iso8601,
    pct,
    sha256_hex,
)
from ram_middleware.credentials.signature_v1 import parse_rpc
from ram_middleware.facts import RequestFacts, TextMemo, decode_component, parse_pairs

any_text = st.text(st.characters(codec="utf-8"), max_size=12)
# Query text built from the characters that matter to parsing: separators, escapes, "+", non-ASCII.
query_text = st.lists(
    st.sampled_from([*"ab=&+%", "%2", "%41", "%3D", "%26", "%E4%B8%AD", "%FF", "中"]), max_size=12
).map("".join)


def reference_pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """The general parse: split on "&" and the first "=", decode both sides."""
    return tuple(
        (decode_component(name), decode_component(value))
        for name, _, value in (piece.partition("=") for piece in raw.split("&") if piece)
    )


def outcome(func: object, *args: object) -> object:
    """The function's result, or the type and message of the error it raised."""
    try:
        return func(*args)  # type: ignore[operator]
    except errors.RAMError as exc:
        return type(exc), str(exc)


# --- TextMemo ------------------------------------------------------------------------------------------


def test_text_memo_remembers_short_texts_and_stays_bounded() -> None:
    calls: list[str] = []

    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    memo = TextMemo(upper, size=3, max_length=5)
    assert memo["ab"] == "AB" and memo["ab"] == "AB"
    assert calls == ["ab"]  # the second read was remembered
    assert memo["long text"] == "LONG TEXT" and memo["long text"] == "LONG TEXT"
    assert calls.count("long text") == 2 and "long text" not in memo  # too long to keep
    for text in ("c", "d", "e", "f"):
        assert memo[text] == text.upper()
    assert len(memo) <= 3


def test_text_memo_keeps_only_what_keep_allows() -> None:
    memo = TextMemo(str.upper, keep=lambda value: not value.startswith("PASSWORD"))
    assert memo["password=x"] == "PASSWORD=X" and memo["name=x"] == "NAME=X"
    assert list(memo) == ["name=x"]
    assert parse_pairs("Password=p%21&NewPassword=q&UserName=bob") == (
        ("Password", "p!"),
        ("NewPassword", "q"),
        ("UserName", "bob"),
    )
    assert encode_pairs([("OldPassword", "r s")]) == "OldPassword=r%20s"


def test_text_memo_remembers_nothing_when_the_function_raises() -> None:
    def refuse(text: str) -> str:
        raise errors.BadTimestamp()

    memo = TextMemo(refuse)
    for _ in range(2):
        with pytest.raises(errors.BadTimestamp):
            memo["x"]
    assert len(memo) == 0


def test_text_memo_read_is_the_subscript() -> None:
    """``read`` (what the hot paths call) remembers, bounds and refuses exactly as ``memo[text]`` does."""
    calls: list[str] = []

    def upper(text: str) -> str:
        calls.append(text)
        if text == "bad":
            raise errors.BadTimestamp()
        return text.upper()

    memo = TextMemo(upper, size=2, max_length=5, keep=lambda value: value != "SKIP")
    assert memo.read("ab") == memo["ab"] == "AB" and calls == ["ab"]
    assert memo.read("long text") == "LONG TEXT" and "long text" not in memo
    assert memo.read("skip") == "SKIP" and "skip" not in memo
    assert list(map(memo.read, ["c", "d"])) == ["C", "D"] and len(memo) <= 2
    with pytest.raises(errors.BadTimestamp):
        memo.read("bad")
    assert "bad" not in memo


def test_signatures_and_nonces_are_not_remembered() -> None:
    """They never recur: a memo that kept them would only push out the pieces and encodings that do."""
    nonce, signature = uuid.uuid4().hex, "c2lnbmF0dXJl%2Bx%3D"
    assert parse_pairs(f"SignatureNonce={nonce}&Signature={signature}&Version=2015-05-01") == (
        ("SignatureNonce", nonce),
        ("Signature", "c2lnbmF0dXJl+x="),
        ("Version", "2015-05-01"),
    )
    assert encode_pairs([("SignatureNonce", nonce), ("Version", "2015-05-01")]) == (
        f"SignatureNonce={nonce}&Version=2015-05-01"
    )
    memos = [thing for thing in gc.get_objects() if isinstance(thing, (TextMemo, PairMemo))]
    kept = [str(key) for memo in memos for key in memo]
    assert "Version=2015-05-01" in kept and str(("Version", "2015-05-01")) in kept
    assert not [key for key in kept if nonce in key or "c2lnbmF0dXJl" in key]


def test_a_bad_timestamp_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(errors.BadTimestamp):
            parse_iso8601("2024-02-30T00:00:00Z")
    assert parse_iso8601("2024-01-02T03:04:05Z") == parse_iso8601("2024-01-02T03:04:05Z") == 1704164645.0


# --- query parsing and encoding ------------------------------------------------------------------------


@given(query_text)
@example("a=%FF&b=1")  # not UTF-8: a 400 whether or not the piece was seen before
@example("=&&a&a=b=c&+=%2B")
def test_parse_pairs_agrees_with_the_general_parse(raw: str) -> None:
    expected = outcome(reference_pairs, raw)
    assert outcome(parse_pairs, raw) == expected
    assert outcome(parse_pairs, raw) == expected  # again, now from memory


@given(st.lists(st.tuples(any_text, any_text), max_size=6))
@example([("a\x00b", "c\x01d"), ("", ""), ("中", "~ +/=&%")])
def test_encode_pairs_is_pct_of_every_name_and_value(pairs: list[tuple[str, str]]) -> None:
    expected = "&".join(f"{pct(name)}={pct(value)}" for name, value in pairs)
    assert encode_pairs(pairs) == expected
    assert encode_pairs(pairs) == expected


def test_sha256_of_an_empty_body() -> None:
    assert sha256_hex(b"") == sha256_hex("") == hashlib.sha256(b"").hexdigest()
    assert sha256_hex(b"x") == hashlib.sha256(b"x").hexdigest()


# --- RPC v1: ordering by name alone when names are unique ----------------------------------------------

V1_CONTROL = (
    ("AccessKeyId", "AK"), ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"),
    ("SignatureNonce", "n"), ("Timestamp", "2024-01-02T03:04:05Z"), ("Signature", "sig"),
)  # fmt: skip
v1_names = st.sampled_from(["A", "B", "a", "Action", "中", "A B", "AccessKeyId", "Timestamp", "Signature"])


def v1_canonical(pairs: list[tuple[str, str]]) -> str:
    """The general computation: every pair but Signature (which must not repeat), sorted, encoded."""
    if [name for name, _ in pairs].count("Signature") > 1:
        raise errors.IncompleteSignature('The parameter "Signature" appears more than once.')
    return "&".join(f"{pct(n)}={pct(v)}" for n, v in sorted(p for p in pairs if p[0] != "Signature"))


@given(st.lists(st.tuples(v1_names, any_text), max_size=6))
@example([("B", "2"), ("B", "1"), ("A", "x")])  # a repeated name: its values in value order
@example([("Signature", "sig")])  # Signature twice, even with the same value: refused
@example([("A", "1"), ("A", "1")])  # a repeated name, one Signature: accepted
def test_v1_canonical_query_is_every_signed_pair_sorted(extra: list[tuple[str, str]]) -> None:
    pairs = [*V1_CONTROL, *extra]
    query = "&".join(f"{pct(name)}={pct(value)}" for name, value in pairs)
    expected = outcome(v1_canonical, pairs)
    got = outcome(lambda: parse_rpc(RequestFacts("GET", "/", query)).parts["canonicalized_query_string"])
    assert got == expected


# --- ACS3: the SDK spelling of Authorization, and the SignedHeaders checks -----------------------------

sdk_like = st.builds(
    lambda algorithm, credential, signed, signature, sep: (
        f"{algorithm} Credential={credential}{sep}SignedHeaders={signed}{sep}Signature={signature}"
    ),
    st.sampled_from(["ACS3-HMAC-SHA256", "ACS3-HMAC-SM3", "ACS3-HMAC-SHA256 "]),
    st.text(st.sampled_from([*"AK=,; \t", "中"]), max_size=6),
    st.sampled_from(["host;x-acs-date", "host", "", "a=b", " host"]),
    st.text(st.sampled_from([*"0af=,+ "]), max_size=6),
    st.sampled_from([",", ", ", " ,", ",,"]),
)


@given(st.one_of(sdk_like, st.text(max_size=40)))
@example("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab")
@example("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab,Signature=cd")
@example(" ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=a=b ")
@example("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=x,SignedHeaders=host,Signature=ab")  # smuggled
@example("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab\t")
def test_authorization_shortcut_agrees_with_the_field_parser(value: str) -> None:
    assert outcome(acs3.parse_authorization, value) == outcome(acs3._parse_fields, value)


header_names = st.sampled_from([*acs3.ALWAYS_SIGNED, *acs3.SIGNED_WHEN_PRESENT, "accept", "Host", ""])


@given(st.lists(header_names, max_size=10), st.sets(header_names, max_size=10), st.booleans())
def test_signed_header_checks_agree_with_the_documented_order(
    listed: list[str], present: set[str], typed: bool
) -> None:
    signed_headers = ";".join(listed)
    names = signed_headers.split(";")
    index = {name: ("v",) for name in present}
    values = [index.get(name, ()) for name in names]
    # A content-type that types no body need not be signed.
    when_present = [name for name in acs3.SIGNED_WHEN_PRESENT if typed or name != "content-type"]
    expected = outcome(check_signed_set, index, names, acs3.ALWAYS_SIGNED, when_present)
    for _ in range(2):  # the second time from memory
        got = outcome(acs3._signed_values, index, signed_headers, typed)
        # No problem: the names and values the canonical headers are built from; else the same error.
        assert got == ((tuple(names), values) if expected is None else expected)


_PIECES = [*"aZ09+/=% -._~", "%2B", "%2F", "%3D", "%2b", "%25", "%41", "%C3%A9", "%FF"]
_ESCAPY = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@given(_ESCAPY)
@example("HCUbKbZjT%2F1rVq8Oq%2F4aPPPVX6%2Boqw%3D")
@example("%252B")
@example("%%2B")
def test_decode_component_base64_shortcut_agrees_with_the_bytes_decoder(raw: str) -> None:
    """The three-replace shortcut for base64 escapes gives what percent-decoding the bytes gives."""
    from urllib.parse import unquote_to_bytes

    try:
        expected = unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(errors.InvalidParameter):
            decode_component(raw)
        return
    assert decode_component(raw) == expected
